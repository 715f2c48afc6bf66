package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"

	"vswitch/store"
)

// netnsKey is the Interface external_ids key a port plugin (the CNI plugin)
// sets to the network namespace its port serves. The daemon knows nothing
// else about plugins: at start it drops a port whose namespace file is gone,
// since the pod it served died while the daemon was down and no DEL will
// ever come for it.
const netnsKey = "netns"

// collectOrphans removes from the store every port whose external_ids:netns
// path no longer exists, before the datapath is built, and logs each one.
func collectOrphans(st *store.Store) error {
	removed := 0
	err := st.Update(func(c *store.Config) error {
		for bi := range c.Bridges {
			b := &c.Bridges[bi]
			kept := b.Ports[:0]
			for _, p := range b.Ports {
				ns := p.Interface.ExternalIDs[netnsKey]
				if ns != "" {
					if _, err := os.Stat(ns); errors.Is(err, fs.ErrNotExist) {
						slog.Info("port removed: its network namespace is gone", "bridge", b.Name, "port", p.Name, "netns", ns, "external_ids", p.Interface.ExternalIDs)
						removed++
						continue
					}
				}
				kept = append(kept, p)
			}
			b.Ports = kept
		}
		if removed == 0 {
			return errUnchanged // nothing to write
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

var errUnchanged = errors.New("unchanged")
