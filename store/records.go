package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// bridgeRecord is a bridges-bucket value: the bridge's own fields (Ports and
// Flows are json:"-") and the names of its ports in order.
type bridgeRecord struct {
	Bridge
	PortNames []string `json:"ports,omitempty"`
}

// portRecord is a ports-bucket value: the port with its interface and the
// bridge that owns it.
type portRecord struct {
	Port
	Bridge string `json:"bridge"`
}

// corrupt names the bucket and key of a record that does not decode.
func corrupt(bucket string, key []byte, format string, args ...any) error {
	return fmt.Errorf("bucket %q key %q: %s", bucket, key, fmt.Sprintf(format, args...))
}

// decodeStrict refuses fields this version does not know: silently dropping
// them would lose them on the next rewrite of the record.
func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

func topBucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("bucket %q missing", name)
	}
	return b, nil
}

// readConfig decodes the whole configuration and checks that bridges, ports
// and flow buckets agree with each other; withFlows false leaves every
// bridge's flows unread (Update has no use for them).
func readConfig(tx *bolt.Tx, withFlows bool) (*Config, error) {
	var bkt [5]*bolt.Bucket
	for i, name := range topBuckets {
		b, err := topBucket(tx, name)
		if err != nil {
			return nil, err
		}
		bkt[i] = b
	}
	settings, bridges, ports, flows := bkt[1], bkt[2], bkt[3], bkt[4]

	c := &Config{Settings: map[string]string{}}
	err := settings.ForEach(func(k, v []byte) error {
		if v == nil {
			return corrupt("settings", k, "nested bucket where a value belongs")
		}
		c.Settings[string(k)] = string(v)
		return nil
	})
	if err != nil {
		return nil, err
	}

	owner := map[string]string{} // port name -> bridge listing it
	err = bridges.ForEach(func(k, v []byte) error {
		if v == nil {
			return corrupt("bridges", k, "nested bucket where a value belongs")
		}
		var r bridgeRecord
		if err := decodeStrict(v, &r); err != nil {
			return corrupt("bridges", k, "%v", err)
		}
		if r.Name != string(k) {
			return corrupt("bridges", k, "record names bridge %q", r.Name)
		}
		br := r.Bridge
		for _, pn := range r.PortNames {
			if prev, dup := owner[pn]; dup {
				return corrupt("bridges", k, "port %q is also listed by bridge %q", pn, prev)
			}
			owner[pn] = br.Name
			raw := ports.Get([]byte(pn))
			if raw == nil {
				return corrupt("ports", []byte(pn), "missing (listed by bridge %q)", br.Name)
			}
			var pr portRecord
			if err := decodeStrict(raw, &pr); err != nil {
				return corrupt("ports", []byte(pn), "%v", err)
			}
			if pr.Name != pn || pr.Bridge != br.Name {
				return corrupt("ports", []byte(pn), "record names port %q on bridge %q, listed by bridge %q", pr.Name, pr.Bridge, br.Name)
			}
			br.Ports = append(br.Ports, pr.Port)
		}
		if withFlows {
			ids, fl, err := readFlows(flows, k)
			if err != nil {
				return err
			}
			br.Flows, br.FlowIDs = fl, ids
		}
		c.Bridges = append(c.Bridges, br)
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Records nobody points at mean a half-applied or hand-edited file.
	err = ports.ForEach(func(k, _ []byte) error {
		if _, ok := owner[string(k)]; !ok {
			return corrupt("ports", k, "not listed by any bridge")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = flows.ForEach(func(k, v []byte) error {
		if v != nil {
			return corrupt("flows", k, "value where a per-bridge bucket belongs")
		}
		if bridges.Get(k) == nil {
			return corrupt("flows", k, "flows for a bridge that does not exist")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func readFlows(flows *bolt.Bucket, bridge []byte) ([]uint64, []string, error) {
	fb := flows.Bucket(bridge)
	if fb == nil {
		return nil, nil, nil
	}
	name := "flows/" + string(bridge)
	var ids []uint64
	var out []string
	err := fb.ForEach(func(k, v []byte) error {
		if len(k) != 8 || v == nil {
			return corrupt(name, k, "not a flow (want an 8-byte id and flow text)")
		}
		ids = append(ids, binary.BigEndian.Uint64(k))
		out = append(out, string(v))
		return nil
	})
	return ids, out, err
}

// validate is the store's last line of defence; the bridge layer checks the
// same things first and gives friendlier errors.
func validate(c *Config) error {
	for k := range c.Settings {
		if k == "" {
			return fmt.Errorf("empty setting name")
		}
	}
	bridges := map[string]bool{}
	ports := map[string]string{}
	for _, br := range c.Bridges {
		if br.Name == "" {
			return fmt.Errorf("bridge with an empty name")
		}
		if bridges[br.Name] {
			return fmt.Errorf("duplicate bridge %q", br.Name)
		}
		bridges[br.Name] = true
		for _, p := range br.Ports {
			if p.Name == "" {
				return fmt.Errorf("port with an empty name on bridge %q", br.Name)
			}
			if prev, dup := ports[p.Name]; dup {
				return fmt.Errorf("duplicate port %q (on bridges %q and %q)", p.Name, prev, br.Name)
			}
			ports[p.Name] = br.Name
		}
	}
	return nil
}

// writeConfig makes the buckets match c, touching only records whose bytes
// differ. Flows are written only for bridges c adds (their initial flows)
// and deleted with the bridges c drops. It returns the number of puts and
// deletes, which tests use to check that an unchanged record is not
// rewritten.
func writeConfig(tx *bolt.Tx, c *Config) (int, error) {
	w := &writer{}
	settings := map[string][]byte{}
	for k, v := range c.Settings {
		settings[k] = []byte(v)
	}
	w.sync(tx.Bucket(bucketSettings), settings)

	old := tx.Bucket(bucketBridges)
	bridges := map[string][]byte{}
	ports := map[string][]byte{}
	var added []Bridge
	for _, br := range c.Bridges {
		if old.Get([]byte(br.Name)) == nil {
			added = append(added, br)
		} else if br.Flows != nil || br.FlowIDs != nil {
			return 0, fmt.Errorf("bridge %q: flows of a stored bridge change only through UpdateFlows", br.Name)
		}
		r := bridgeRecord{Bridge: br}
		for _, p := range br.Ports {
			r.PortNames = append(r.PortNames, p.Name)
			ports[p.Name] = w.marshal(portRecord{Port: p, Bridge: br.Name})
		}
		bridges[br.Name] = w.marshal(r)
	}
	w.sync(old, bridges)
	w.sync(tx.Bucket(bucketPorts), ports)

	flows := tx.Bucket(bucketFlows)
	var gone [][]byte
	_ = flows.ForEach(func(k, v []byte) error {
		if _, ok := bridges[string(k)]; !ok {
			gone = append(gone, slices.Clone(k))
		}
		return nil
	})
	for _, k := range gone {
		w.do(flows.DeleteBucket(k))
	}
	for _, br := range added {
		if len(br.Flows) == 0 {
			continue
		}
		if flows.Bucket([]byte(br.Name)) != nil { // left by a bridge of that name deleted in this same transaction
			w.do(flows.DeleteBucket([]byte(br.Name)))
		}
		fb, err := flows.CreateBucket([]byte(br.Name))
		if err != nil {
			return w.n, fmt.Errorf("bridge %q: create flows bucket: %w", br.Name, err)
		}
		// The caller may pick the ids (it then knows them without a
		// Load); otherwise they come from the bucket's sequence.
		given := len(br.FlowIDs) == len(br.Flows)
		for i, text := range br.Flows {
			var id uint64
			if given {
				id = br.FlowIDs[i]
				if id > fb.Sequence() {
					w.do(fb.SetSequence(id))
				}
			} else if id, err = fb.NextSequence(); err != nil {
				return w.n, err
			}
			w.do(fb.Put(seqKey(id), []byte(text)))
		}
	}
	return w.n, w.err
}

// writeFlows applies flow deltas in order.
func writeFlows(tx *bolt.Tx, changes []FlowChange) error {
	bridges, flows := tx.Bucket(bucketBridges), tx.Bucket(bucketFlows)
	for _, ch := range changes {
		if bridges.Get([]byte(ch.Bridge)) == nil {
			return fmt.Errorf("flows for bridge %q, which is not stored", ch.Bridge)
		}
		fb := flows.Bucket([]byte(ch.Bridge))
		if fb == nil {
			if len(ch.Put) == 0 {
				continue
			}
			var err error
			if fb, err = flows.CreateBucket([]byte(ch.Bridge)); err != nil {
				return fmt.Errorf("bridge %q: create flows bucket: %w", ch.Bridge, err)
			}
		}
		for _, id := range ch.Delete {
			if err := fb.Delete(seqKey(id)); err != nil {
				return fmt.Errorf("bridge %q: delete flow %d: %w", ch.Bridge, id, err)
			}
		}
		seq := fb.Sequence()
		for _, f := range ch.Put {
			if f.Text == "" || f.ID == 0 {
				return fmt.Errorf("bridge %q: flow %d: want an id above 0 and flow text", ch.Bridge, f.ID)
			}
			if err := fb.Put(seqKey(f.ID), []byte(f.Text)); err != nil {
				return fmt.Errorf("bridge %q: put flow %d: %w", ch.Bridge, f.ID, err)
			}
			seq = max(seq, f.ID)
		}
		if seq != fb.Sequence() {
			if err := fb.SetSequence(seq); err != nil {
				return err
			}
		}
	}
	return nil
}

// writer accumulates the first error so the sync steps read straight.
type writer struct {
	n   int
	err error
}

func (w *writer) do(err error) {
	w.n++
	if w.err == nil && err != nil {
		w.err = err
	}
}

func (w *writer) marshal(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil && w.err == nil {
		w.err = err
	}
	return data
}

// sync puts changed or new keys of want into b and deletes keys not in it.
func (w *writer) sync(b *bolt.Bucket, want map[string][]byte) {
	var gone [][]byte
	_ = b.ForEach(func(k, _ []byte) error {
		if _, ok := want[string(k)]; !ok {
			gone = append(gone, slices.Clone(k)) // deleting under ForEach skips keys
		}
		return nil
	})
	for _, k := range gone {
		w.do(b.Delete(k))
	}
	for k, v := range want {
		if old := b.Get([]byte(k)); old == nil || !bytes.Equal(old, v) {
			w.do(b.Put([]byte(k), v))
		}
	}
}

func seqKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, id)
}
