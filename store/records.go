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
// and flow buckets agree with each other.
func readConfig(tx *bolt.Tx) (*Config, error) {
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
		fl, err := readFlows(flows, k)
		if err != nil {
			return err
		}
		br.Flows = fl
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

func readFlows(flows *bolt.Bucket, bridge []byte) ([]string, error) {
	fb := flows.Bucket(bridge)
	if fb == nil {
		return nil, nil
	}
	name := "flows/" + string(bridge)
	var out []string
	err := fb.ForEach(func(k, v []byte) error {
		if len(k) != 8 || v == nil {
			return corrupt(name, k, "not a flow (want an 8-byte sequence number and flow text)")
		}
		out = append(out, string(v))
		return nil
	})
	return out, err
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
// differ. It returns the number of puts and deletes, which tests use to
// check that an unchanged record is not rewritten.
func writeConfig(tx *bolt.Tx, c *Config) (int, error) {
	w := &writer{}
	settings := map[string][]byte{}
	for k, v := range c.Settings {
		settings[k] = []byte(v)
	}
	w.sync(tx.Bucket(bucketSettings), settings)

	bridges := map[string][]byte{}
	ports := map[string][]byte{}
	for _, br := range c.Bridges {
		r := bridgeRecord{Bridge: br}
		for _, p := range br.Ports {
			r.PortNames = append(r.PortNames, p.Name)
			ports[p.Name] = w.marshal(portRecord{Port: p, Bridge: br.Name})
		}
		bridges[br.Name] = w.marshal(r)
	}
	w.sync(tx.Bucket(bucketBridges), bridges)
	w.sync(tx.Bucket(bucketPorts), ports)

	flows := tx.Bucket(bucketFlows)
	for _, br := range c.Bridges {
		w.syncFlows(flows, br.Name, br.Flows)
	}
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
	return w.n, w.err
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

// syncFlows keeps keys 0..n-1 in order; the unchanged prefix is left alone,
// so adding a flow writes one key.
func (w *writer) syncFlows(flows *bolt.Bucket, bridge string, want []string) {
	fb := flows.Bucket([]byte(bridge))
	if len(want) == 0 {
		if fb != nil {
			w.do(flows.DeleteBucket([]byte(bridge)))
		}
		return
	}
	if fb == nil {
		var err error
		if fb, err = flows.CreateBucket([]byte(bridge)); err != nil {
			w.do(err)
			return
		}
	}
	var keys [][]byte
	same := 0
	_ = fb.ForEach(func(k, v []byte) error {
		i := len(keys)
		if same == i && i < len(want) && bytes.Equal(k, seqKey(i)) && string(v) == want[i] {
			same++
		}
		keys = append(keys, slices.Clone(k))
		return nil
	})
	for _, k := range keys[same:] {
		w.do(fb.Delete(k))
	}
	for i := same; i < len(want); i++ {
		w.do(fb.Put(seqKey(i), []byte(want[i])))
	}
}

func seqKey(i int) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(i))
}
