// Package store keeps vswitchd's configuration in a bbolt file.
//
// Layout (one bucket per record kind, so a change rewrites only the records
// it touches):
//
//	meta      schema_version -> decimal SchemaVersion
//	settings  key -> value
//	bridges   bridge name -> JSON bridgeRecord (Bridge without ports/flows, plus its ordered port names)
//	ports     port name -> JSON portRecord (Port with its Interface, plus its bridge name)
//	flows     one nested bucket per bridge: big-endian flow id -> flow text;
//	          ids start at 1; the bucket's sequence is the highest id used (schema 3)
//
// bbolt takes an exclusive flock on the file, so a second vswitchd on the
// same file fails in Open with ErrLocked instead of corrupting it.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultPath is where vswitchd keeps its store unless --db says otherwise.
const DefaultPath = "/var/lib/vswitch/conf.db"

// ErrLocked is wrapped by Open when another process holds the store file.
var ErrLocked = errors.New("store is locked by another process")

var (
	bucketMeta     = []byte("meta")
	bucketSettings = []byte("settings")
	bucketBridges  = []byte("bridges")
	bucketPorts    = []byte("ports")
	bucketFlows    = []byte("flows")
	keySchema      = []byte("schema_version")

	topBuckets = [][]byte{bucketMeta, bucketSettings, bucketBridges, bucketPorts, bucketFlows}
)

// migrations[v] upgrades a store at schema version v to v+1 inside the
// opening transaction.
var migrations = map[int]func(tx *bolt.Tx) error{
	// 2 adds Bridge.Controllers and Bridge.Protocols: optional fields that
	// version 1 records simply lack, so only the version stamp changes (a
	// version 1 binary would refuse the new fields, hence the bump).
	1: func(*bolt.Tx) error { return nil },
	// 3 makes flow keys stable ids instead of positions 0..n-1: they keep
	// their order and become 1..n (0 is left unused so it can mean "no
	// id"), and each bucket's sequence says where new ids start.
	2: migrateFlowIDs,
}

func migrateFlowIDs(tx *bolt.Tx) error {
	flows := tx.Bucket(bucketFlows)
	if flows == nil {
		return nil
	}
	var names [][]byte
	err := flows.ForEach(func(k, v []byte) error {
		if v != nil {
			return corrupt("flows", k, "value where a per-bridge bucket belongs")
		}
		names = append(names, slices.Clone(k))
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range names {
		var texts [][]byte
		err := flows.Bucket(name).ForEach(func(k, v []byte) error {
			texts = append(texts, slices.Clone(v))
			return nil
		})
		if err != nil {
			return err
		}
		if err := flows.DeleteBucket(name); err != nil {
			return err
		}
		fb, err := flows.CreateBucket(name)
		if err != nil {
			return err
		}
		for i, v := range texts {
			if err := fb.Put(seqKey(uint64(i+1)), v); err != nil {
				return err
			}
		}
		if err := fb.SetSequence(uint64(len(texts))); err != nil {
			return err
		}
	}
	return nil
}

// Store is an open configuration store. Its methods are safe for concurrent
// use: bbolt serialises write transactions and readers see snapshots.
type Store struct {
	db   *bolt.DB
	path string
}

// lockedError is Open's error when the file's flock is held elsewhere; its
// message is one line that tells the operator what to do.
type lockedError struct{ path string }

func (e *lockedError) Error() string {
	return fmt.Sprintf("store %s is locked by another vswitchd (stop it, or use --db to pick another file)", e.path)
}

func (e *lockedError) Unwrap() error { return ErrLocked }

// Open opens (creating if needed) the store at path, waiting at most
// lockTimeout for another process to release it; lockTimeout <= 0 means do
// not wait at all (bbolt's own zero would wait forever). Parent directories
// are created 0755 and the file 0600.
func Open(path string, lockTimeout time.Duration) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if lockTimeout <= 0 {
		lockTimeout = time.Nanosecond
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, &lockedError{path: path}
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: open: %w", path, err)
	}
	if err := db.Update(initSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// initSchema stamps a new file with SchemaVersion, migrates an older one and
// refuses a newer one or a bbolt file that is not a vswitch store.
func initSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty {
			return errors.New("not a vswitch store (no meta bucket)")
		}
		return createSchema(tx)
	}
	raw := meta.Get(keySchema)
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return fmt.Errorf("bucket %q key %q: bad schema version %q", bucketMeta, keySchema, raw)
	}
	if v > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this vswitchd supports (%d); run a newer vswitchd or use --db to pick another file", v, SchemaVersion)
	}
	if err := migrate(tx, v, SchemaVersion, migrations); err != nil {
		return err
	}
	return createSchema(tx) // buckets added by a migration-free schema bump
}

func createSchema(tx *bolt.Tx) error {
	for _, name := range topBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %q: %w", name, err)
		}
	}
	if string(tx.Bucket(bucketMeta).Get(keySchema)) != "" {
		return nil
	}
	return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
}

// migrate runs table[from], table[from+1], ... up to version to and records
// the new version, all in tx so a failed step leaves the file untouched.
func migrate(tx *bolt.Tx, from, to int, table map[int]func(*bolt.Tx) error) error {
	if from == to {
		return nil
	}
	for v := from; v < to; v++ {
		step, ok := table[v]
		if !ok {
			return fmt.Errorf("no migration from schema version %d to %d", v, v+1)
		}
		if err := step(tx); err != nil {
			return fmt.Errorf("migrate schema version %d to %d: %w", v, v+1, err)
		}
	}
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	return meta.Put(keySchema, []byte(strconv.Itoa(to)))
}

// Path is the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Close releases the file and its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store %s: close: %w", s.path, err)
	}
	return nil
}

// Load returns the whole configuration: Bridges sorted by name, Ports and
// Flows in stored order (FlowIDs beside them), Settings never nil. It is
// freshly decoded, so the caller owns it and may mutate it freely.
func (s *Store) Load() (*Config, error) {
	var c *Config
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		c, err = readConfig(tx, true)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.path, err)
	}
	return c, nil
}

// Update runs fn on the configuration without flows inside one write
// transaction and writes back only the records that changed. A bridge fn
// adds is stored with the Flows it carries; a bridge it removes loses its
// flows too; the flows of other bridges are neither read nor written (fn
// setting them is refused: use UpdateFlows). If fn returns an error it is
// returned unchanged and nothing is written; a configuration that fails
// validation (empty or duplicate bridge or port names, empty setting keys)
// is refused the same way.
func (s *Store) Update(fn func(c *Config) error) error {
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) error {
		c, err := readConfig(tx, false)
		if err != nil {
			return err
		}
		if fnErr = fn(c); fnErr != nil {
			return fnErr
		}
		if err := validate(c); err != nil {
			return err
		}
		_, err = writeConfig(tx, c)
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}

// UpdateFlows applies flow deltas, in order, in one write transaction: a
// flow-mod writes only the flows it touches. A change for a bridge that is
// not stored, or a Put with empty text, fails the whole call.
func (s *Store) UpdateFlows(changes []FlowChange) error {
	err := s.db.Update(func(tx *bolt.Tx) error { return writeFlows(tx, changes) })
	if err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}
