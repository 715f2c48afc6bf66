package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func intp(i int) *int { return &i }

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "dir", "conf.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// sample is deliberately given with bridges out of order to check Load sorts.
func sample() *Config {
	return &Config{
		Settings: map[string]string{"pmd-cores": "1", "mem": "64M"},
		Bridges: []Bridge{
			{
				Name: "br1", FailMode: "secure",
				Ports: []Port{
					{Name: "br1", Interface: Interface{Type: "internal", Ofport: 65534}},
					{Name: "patch-a", Interface: Interface{Type: "patch", Options: map[string]string{"peer": "patch-b"}, Ofport: 1}},
				},
			},
			{
				Name:        "br0",
				OtherConfig: map[string]string{"mac-aging-time": "60"},
				Ports: []Port{
					{Name: "br0", Interface: Interface{Type: "internal", Ofport: 65534}},
					{Name: "veth1", Tag: intp(10), VlanMode: "access", Interface: Interface{Ofport: 3, OfportRequest: 3, MTURequest: 9000}},
					{Name: "veth0", Tag: intp(0), Interface: Interface{Ofport: 1, ExternalIDs: map[string]string{"iface-id": "x"}}},
					{Name: "trunk", Trunks: []int{10, 20}, OtherConfig: map[string]string{"k": "v"},
						Interface: Interface{Type: "tap", Ofport: 2, Options: map[string]string{"a": "1", "b": "2"}}},
				},
				Flows: []string{"priority=10,in_port=1,actions=output:2", "priority=0,actions=NORMAL", "priority=5,actions=drop"},
			},
		},
	}
}

func put(t *testing.T, s *Store, c *Config) {
	t.Helper()
	if err := s.Update(func(cur *Config) error { *cur = *c; return nil }); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, s *Store) *Config {
	t.Helper()
	c, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantSorted() *Config {
	c := sample()
	c.Bridges[0], c.Bridges[1] = c.Bridges[1], c.Bridges[0]
	c.Bridges[0].FlowIDs = []uint64{1, 2, 3} // a new bridge's flows take ids from 1
	return c
}

// dump is every key of every bucket, nested ones as "a/b", with its value.
func dump(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string, b *bolt.Bucket)
	walk = func(prefix string, b *bolt.Bucket) {
		_ = b.ForEach(func(k, v []byte) error {
			if v == nil {
				out[prefix+string(k)+"/"] = ""
				walk(prefix+string(k)+"/", b.Bucket(k))
				return nil
			}
			out[prefix+string(k)] = string(v)
			return nil
		})
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			out[string(name)+"/"] = ""
			walk(string(name)+"/", b)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTripAndReopen(t *testing.T) {
	s, path := openTemp(t)
	if s.Path() != path {
		t.Fatalf("Path() = %q, want %q", s.Path(), path)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("store dir mode: %v %v", fi.Mode(), err)
	}
	empty := load(t, s)
	if empty.Settings == nil || len(empty.Settings) != 0 || len(empty.Bridges) != 0 {
		t.Fatalf("new store: %+v", empty)
	}

	put(t, s, sample())
	if got := load(t, s); !reflect.DeepEqual(got, wantSorted()) {
		t.Fatalf("Load after Update:\n got %+v\nwant %+v", got, wantSorted())
	}
	d := dump(t, s)
	if d["meta/schema_version"] != fmt.Sprint(SchemaVersion) {
		t.Fatalf("schema_version = %q", d["meta/schema_version"])
	}
	if !strings.Contains(d["ports/veth1"], `"bridge":"br0"`) || !strings.Contains(d["bridges/br0"], `"ports":["br0","veth1","veth0","trunk"]`) {
		t.Fatalf("records: %q %q", d["ports/veth1"], d["bridges/br0"])
	}
	if d["flows/br0/\x00\x00\x00\x00\x00\x00\x00\x02"] != "priority=0,actions=NORMAL" {
		t.Fatalf("flow 2 of br0: %q", d["flows/br0/\x00\x00\x00\x00\x00\x00\x00\x02"])
	}

	// Load returns a copy: mutating it must not leak into the store.
	c := load(t, s)
	c.Bridges[0].Ports[1].Interface.Options = map[string]string{"x": "y"}
	*c.Bridges[0].Ports[1].Tag = 99
	c.Settings["mem"] = "1G"
	if got := load(t, s); !reflect.DeepEqual(got, wantSorted()) {
		t.Fatal("mutating a loaded Config changed the store")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := load(t, s2); !reflect.DeepEqual(got, wantSorted()) {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, wantSorted())
	}
}

func TestUpdateErrorChangesNothing(t *testing.T) {
	s, _ := openTemp(t)
	put(t, s, sample())
	before, beforeDump := load(t, s), dump(t, s)

	sentinel := errors.New("bridge br9 does not exist")
	wrapped := fmt.Errorf("add-port: %w", sentinel)
	err := s.Update(func(c *Config) error {
		c.Bridges = c.Bridges[:1]
		c.Settings["mem"] = "1G"
		c.Bridges[0].Flows = append(c.Bridges[0].Flows, "actions=drop")
		return wrapped
	})
	if err != wrapped || !errors.Is(err, sentinel) {
		t.Fatalf("Update returned %v, want fn's error unchanged", err)
	}

	invalid := []struct {
		name string
		fn   func(c *Config)
		want string
	}{
		{"duplicate port across bridges", func(c *Config) {
			c.Bridges[1].Ports = append(c.Bridges[1].Ports, Port{Name: "veth0"})
		}, `duplicate port "veth0"`},
		{"duplicate port on one bridge", func(c *Config) {
			c.Bridges[0].Ports = append(c.Bridges[0].Ports, c.Bridges[0].Ports[1])
		}, `duplicate port "veth1"`},
		{"duplicate bridge", func(c *Config) {
			c.Bridges = append(c.Bridges, Bridge{Name: "br0"})
		}, `duplicate bridge "br0"`},
		{"empty bridge name", func(c *Config) {
			c.Bridges = append(c.Bridges, Bridge{})
		}, "empty name"},
		{"empty port name", func(c *Config) {
			c.Bridges[0].Ports = append(c.Bridges[0].Ports, Port{})
		}, "empty name"},
		{"empty setting name", func(c *Config) { c.Settings[""] = "x" }, "empty setting"},
		{"flows of a stored bridge", func(c *Config) {
			c.Bridges[0].Flows = []string{"actions=drop"}
		}, "only through UpdateFlows"},
	}
	for _, tc := range invalid {
		err := s.Update(func(c *Config) error {
			c.Settings["mem"] = "1G" // a valid change that must not land either
			tc.fn(c)
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: Update error %v, want one line containing %q", tc.name, err, tc.want)
		}
	}

	if got := load(t, s); !reflect.DeepEqual(got, before) {
		t.Fatalf("failed Updates changed the config:\n got %+v\nwant %+v", got, before)
	}
	if got := dump(t, s); !reflect.DeepEqual(got, beforeDump) {
		t.Fatalf("failed Updates changed the buckets:\n got %q\nwant %q", got, beforeDump)
	}
}

func TestDeleteBridgeRemovesPortsAndFlows(t *testing.T) {
	s, _ := openTemp(t)
	put(t, s, sample())
	err := s.Update(func(c *Config) error {
		c.Bridges = c.Bridges[1:] // br0 sorted first
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k := range dump(t, s) {
		if k == "bridges/br0" || strings.HasPrefix(k, "flows/br0/") ||
			k == "ports/br0" || k == "ports/veth0" || k == "ports/veth1" || k == "ports/trunk" {
			t.Errorf("record %q survived deleting br0", k)
		}
	}
	got := load(t, s)
	if len(got.Bridges) != 1 || got.Bridges[0].Name != "br1" || len(got.Bridges[0].Ports) != 2 {
		t.Fatalf("after deleting br0: %+v", got)
	}
}

func TestOnlyChangesAreWritten(t *testing.T) {
	s, _ := openTemp(t)
	put(t, s, sample())
	writes := func(fn func(c *Config)) int {
		t.Helper()
		var n int
		err := s.db.Update(func(tx *bolt.Tx) error {
			c, err := readConfig(tx, false)
			if err != nil {
				return err
			}
			fn(c)
			n, err = writeConfig(tx, c)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cases := []struct {
		name string
		fn   func(c *Config)
		want int
	}{
		{"nothing", func(c *Config) {}, 0},
		{"set a port tag", func(c *Config) { c.Bridges[0].Ports[2].Tag = intp(30) }, 1},
		{"change a setting", func(c *Config) { c.Settings["mem"] = "128M" }, 1},
		{"add a port", func(c *Config) { c.Bridges[1].Ports = append(c.Bridges[1].Ports, Port{Name: "p9"}) }, 2}, // port + bridge's port list
	}
	for _, tc := range cases {
		if n := writes(tc.fn); n != tc.want {
			t.Errorf("%s: %d writes, want %d", tc.name, n, tc.want)
		}
	}
	c := load(t, s)
	if len(c.Bridges[0].Flows) != 3 || *c.Bridges[0].Ports[2].Tag != 30 || c.Settings["mem"] != "128M" || c.Bridges[1].Ports[2].Name != "p9" {
		t.Fatalf("after edits: %+v", c)
	}
}

// A flow delta writes only the flow records it names.
func TestUpdateFlowsTouchesOnlyItsFlows(t *testing.T) {
	s, _ := openTemp(t)
	put(t, s, &Config{Bridges: []Bridge{{Name: "br0"}, {Name: "br1"}}})
	var puts []Flow
	for i := range 1000 {
		puts = append(puts, Flow{ID: uint64(i + 1), Text: fmt.Sprintf("priority=%d,actions=drop", i)})
	}
	if err := s.UpdateFlows([]FlowChange{{Bridge: "br0", Put: puts}}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	err := s.UpdateFlows([]FlowChange{
		{Bridge: "br0", Delete: []uint64{5, 999999}, Put: []Flow{{ID: 1001, Text: "actions=NORMAL"}, {ID: 7, Text: "priority=6,actions=NORMAL"}}},
		{Bridge: "br1", Put: []Flow{{ID: 1, Text: "actions=drop"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	after := dump(t, s)
	var changed []string
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	want := []string{"flows/br0/" + string(seqKey(1001)), "flows/br0/" + string(seqKey(5)), "flows/br0/" + string(seqKey(7)), "flows/br1/", "flows/br1/" + string(seqKey(1))}
	slices.Sort(want)
	if !reflect.DeepEqual(changed, want) {
		t.Fatalf("changed records %q, want %q", changed, want)
	}
	c := load(t, s)
	if n := len(c.Bridges[0].Flows); n != 1000 || c.Bridges[0].FlowIDs[999] != 1001 || c.Bridges[0].Flows[5] != "priority=6,actions=NORMAL" {
		t.Fatalf("br0 has %d flows, last id %d", n, c.Bridges[0].FlowIDs[n-1])
	}

	// Bad deltas change nothing.
	for _, bad := range [][]FlowChange{
		{{Bridge: "br0", Delete: []uint64{1}}, {Bridge: "nope", Put: []Flow{{ID: 1, Text: "actions=drop"}}}},
		{{Bridge: "br0", Delete: []uint64{2}, Put: []Flow{{ID: 3}}}},
	} {
		if err := s.UpdateFlows(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("UpdateFlows(%+v) = %v, want a one-line error", bad, err)
		}
	}
	if !reflect.DeepEqual(dump(t, s), after) {
		t.Fatal("a failed UpdateFlows changed the store")
	}

	// Deleting a bridge takes its flows; Update never touches other flows.
	if err := s.Update(func(c *Config) error { c.Bridges = c.Bridges[:1]; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := dump(t, s)["flows/br1/"]; ok {
		t.Fatal("flows of deleted br1 kept")
	}
	if n := len(load(t, s).Bridges[0].Flows); n != 1000 {
		t.Fatalf("br0 has %d flows after deleting br1", n)
	}
}

func TestFlowOrderAcrossEdits(t *testing.T) {
	s, _ := openTemp(t)
	put(t, s, &Config{Bridges: []Bridge{{Name: "br0"}}})
	var want []string
	for i := range 300 { // past 255 so byte order vs. numeric order would show
		f := fmt.Sprintf("priority=%d,actions=drop", 1000-i)
		want = append(want, f)
		if err := s.UpdateFlows([]FlowChange{{Bridge: "br0", Put: []Flow{{ID: uint64(i + 1), Text: f}}}}); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want[:7], want[100:]...)
	var del []uint64
	for i := 8; i <= 100; i++ {
		del = append(del, uint64(i))
	}
	if err := s.UpdateFlows([]FlowChange{{Bridge: "br0", Delete: del}}); err != nil {
		t.Fatal(err)
	}
	if got := load(t, s).Bridges[0].Flows; !reflect.DeepEqual(got, want) {
		t.Fatalf("flows out of order: %d flows, first %q", len(got), got[:3])
	}
}

func TestConcurrentUpdates(t *testing.T) {
	s, _ := openTemp(t)
	put(t, s, &Config{Bridges: []Bridge{{Name: "br0"}}})
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				err := s.Update(func(c *Config) error {
					c.Bridges[0].Ports = append(c.Bridges[0].Ports, Port{Name: fmt.Sprintf("p%d-%d", w, i)})
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Load(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(load(t, s).Bridges[0].Ports); n != workers*each {
		t.Fatalf("%d ports after concurrent updates, want %d", n, workers*each)
	}
}

// setRaw writes one raw key into an existing store file (closed first).
func setRaw(t *testing.T, path string, bucket []string, key, value string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket[0]))
		for _, n := range bucket[1:] {
			b = b.Bucket([]byte(n))
		}
		return b.Put([]byte(key), []byte(value))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	s, path := openTemp(t)
	s.Close()
	setRaw(t, path, []string{"meta"}, "schema_version", fmt.Sprint(SchemaVersion+1))
	_, err := Open(path, time.Second)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d is newer", SchemaVersion+1)) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a newer store: %v", err)
	}
	t.Log(err)

	setRaw(t, path, []string{"meta"}, "schema_version", "banana")
	if _, err := Open(path, time.Second); err == nil || !strings.Contains(err.Error(), `bucket "meta" key "schema_version"`) {
		t.Fatalf("Open with a garbage version: %v", err)
	}
}

func TestNotAStoreRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("users")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(path, time.Second); err == nil || !strings.Contains(err.Error(), "not a vswitch store") {
		t.Fatalf("Open of a foreign bbolt file: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not bbolt ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(garbage, time.Second); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Fatalf("Open of a garbage file: %v", err)
	}
}

func TestMigrationTable(t *testing.T) {
	s, _ := openTemp(t)
	var ran []int
	step := func(v int) func(*bolt.Tx) error {
		return func(*bolt.Tx) error { ran = append(ran, v); return nil }
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return migrate(tx, 1, 3, map[int]func(*bolt.Tx) error{1: step(1), 2: step(2)})
	})
	if err != nil || !reflect.DeepEqual(ran, []int{1, 2}) || dump(t, s)["meta/schema_version"] != "3" {
		t.Fatalf("migrate 1->3: err %v ran %v version %q", err, ran, dump(t, s)["meta/schema_version"])
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return migrate(tx, 3, 5, map[int]func(*bolt.Tx) error{3: step(3)})
	})
	if err == nil || !strings.Contains(err.Error(), "no migration from schema version 4") {
		t.Fatalf("missing step: %v", err)
	}
	if dump(t, s)["meta/schema_version"] != "3" {
		t.Fatal("a failed migration changed the version")
	}
}

func TestCorruptRecords(t *testing.T) {
	cases := []struct {
		bucket     []string
		key, value string
		want       string
	}{
		{[]string{"ports"}, "veth0", "{not json", `bucket "ports" key "veth0"`},
		{[]string{"ports"}, "veth0", `{"name":"veth0","bridge":"br0","colour":"red"}`, `bucket "ports" key "veth0": json: unknown field "colour"`},
		{[]string{"ports"}, "veth0", `{"name":"veth0","bridge":"br1"}`, `bucket "ports" key "veth0"`},
		{[]string{"ports"}, "stray", `{"name":"stray","bridge":"br0"}`, `bucket "ports" key "stray": not listed by any bridge`},
		{[]string{"bridges"}, "br0", `{"name":"br0","ports":["nope"]}`, `bucket "ports" key "nope": missing`},
		{[]string{"bridges"}, "br0", `{"name":"brX"}`, `bucket "bridges" key "br0"`},
		{[]string{"flows", "br0"}, "short", "actions=drop", `bucket "flows/br0" key "short"`},
		{[]string{"flows"}, "br0", "x", "value where a per-bridge bucket"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.bucket, "/")+"/"+tc.key, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "conf.db")
			s, err := Open(path, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			put(t, s, sample())
			s.Close()
			if tc.bucket[0] == "flows" && len(tc.bucket) == 1 {
				// Replace br0's flow bucket by a plain value.
				db, _ := bolt.Open(path, 0o600, nil)
				_ = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("flows")).DeleteBucket([]byte("br0")) })
				db.Close()
			}
			setRaw(t, path, tc.bucket, tc.key, tc.value)
			s, err = Open(path, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Load()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want it to contain %q", err, tc.want)
			}
			if len(tc.bucket) == 2 {
				return // Update reads no flow records, so only Load sees a bad one
			}
			uerr := s.Update(func(c *Config) error { t.Fatal("fn called on a corrupt store"); return nil })
			if uerr == nil || !strings.Contains(uerr.Error(), tc.want) {
				t.Fatalf("Update: %v", uerr)
			}
		})
	}
}

// TestHelperProcess holds a store open for TestLockedByAnotherProcess: it
// prints "ready" and waits for its stdin to close.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("VSWITCH_STORE_HELPER_DB")
	if path == "" {
		t.Skip("helper for TestLockedByAnotherProcess")
	}
	s, err := Open(path, time.Second)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	s.Close()
	os.Exit(0)
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "VSWITCH_STORE_HELPER_DB="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q (%v)", line, err)
	}

	const timeout = 300 * time.Millisecond
	start := time.Now()
	s, err := Open(path, timeout)
	took := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("second Open of a locked store succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("error %v does not wrap ErrLocked", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, path) || !strings.Contains(msg, "--db") {
		t.Fatalf("message %q: want one line naming the file and --db", msg)
	}
	if took > timeout+time.Second {
		t.Fatalf("Open took %v with a %v lock timeout", took, timeout)
	}
	t.Logf("after %v: %s", took.Round(time.Millisecond), msg)

	if _, err := Open(path, 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open with no timeout: %v", err)
	}

	// Once the holder exits the file opens and has its schema.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	s, err = Open(path, timeout)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// A version 1 file (written before Controllers/Protocols existed) opens
// under version 2 with everything intact and is stamped 2.
func TestMigrateFromVersion1(t *testing.T) {
	s, path := openTemp(t)
	put(t, s, sample())
	s.Close()
	setRaw(t, path, []string{"meta"}, "schema_version", "1")
	s2, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := load(t, s2); !reflect.DeepEqual(got, wantSorted()) {
		t.Fatalf("after migration:\n got %+v\nwant %+v", got, wantSorted())
	}
	if v := dump(t, s2)["meta/schema_version"]; v != fmt.Sprint(SchemaVersion) {
		t.Fatalf("schema_version after migration = %q", v)
	}
}

// A version 2 file kept flows under positional keys 0..n-1: they become
// ids 1..n in the same order, and the bucket sequence is set so new ids
// start above.
func TestMigrateFlowIDsFromVersion2(t *testing.T) {
	s, path := openTemp(t)
	put(t, s, &Config{Bridges: []Bridge{{Name: "br0"}}})
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		fb, err := tx.Bucket(bucketFlows).CreateBucket([]byte("br0"))
		if err != nil {
			return err
		}
		for i, f := range []string{"priority=10,actions=drop", "priority=0,actions=NORMAL", "priority=5,actions=drop"} {
			if err := fb.Put(seqKey(uint64(i)), []byte(f)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("2"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	br := load(t, s2).Bridges[0]
	if !reflect.DeepEqual(br.FlowIDs, []uint64{1, 2, 3}) || br.Flows[1] != "priority=0,actions=NORMAL" {
		t.Fatalf("after migration: ids %v flows %q", br.FlowIDs, br.Flows)
	}
	var seq uint64
	_ = s2.db.View(func(tx *bolt.Tx) error { seq = tx.Bucket(bucketFlows).Bucket([]byte("br0")).Sequence(); return nil })
	if seq != 3 {
		t.Fatalf("flows/br0 sequence %d after migration, want 3", seq)
	}
	if v := dump(t, s2)["meta/schema_version"]; v != "3" {
		t.Fatalf("schema_version after migration = %q", v)
	}
}
