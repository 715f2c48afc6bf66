package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"vswitch/store"
)

// A port whose external_ids:netns file is gone is dropped from the store;
// ports with a live namespace and ports without the key are kept.
func TestCollectOrphans(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live-ns")
	if err := os.WriteFile(live, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "conf.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	port := func(name, ns string) store.Port {
		p := store.Port{Name: name}
		if ns != "" {
			p.Interface.ExternalIDs = map[string]string{netnsKey: ns, "cni.ifname": "eth0"}
		}
		return p
	}
	err = st.Update(func(c *store.Config) error {
		c.Bridges = append(c.Bridges, store.Bridge{Name: "br0", Ports: []store.Port{
			port("keep", live), port("gone", filepath.Join(dir, "deleted-ns")), port("plain", ""),
		}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := collectOrphans(st); err != nil {
		t.Fatal(err)
	}
	c, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range c.Bridges[0].Ports {
		names = append(names, p.Name)
	}
	if len(names) != 2 || names[0] != "keep" || names[1] != "plain" {
		t.Fatalf("ports after GC: %v, want [keep plain]", names)
	}
	// Nothing to remove: the store is left alone.
	if err := collectOrphans(st); err != nil {
		t.Fatal(err)
	}
}
