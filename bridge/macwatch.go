package bridge

import (
	"context"
	"log/slog"
	"time"

	"vswitch/datapath"
)

// MACWatcher is implemented by datapath ports that must know the MACs the
// bridge learned on its other ports: an SR-IOV VF receives unicast only
// for MACs programmed on it as filters. SetPeerMACs may do netlink
// requests: macWatch calls it from its own goroutine, never a PMD.
type MACWatcher interface {
	SetPeerMACs(macs [][6]byte)
}

// eswitchMember is implemented by ports behind a NIC's embedded switch
// (SR-IOV VFs: the group is the PF). MACs learned on a port of the same
// group are reachable through that switch already; programming them as
// filters on a sibling VF would make the NIC deliver them twice.
type eswitchMember interface {
	EswitchGroup() string
}

func eswitchGroup(dev datapath.Port) string {
	if m, ok := dev.(eswitchMember); ok {
		return m.EswitchGroup()
	}
	return ""
}

// Releaser is implemented by ports that changed something outside the
// switch they must undo when the port is deleted (not when the switch
// merely stops): an SR-IOV VF's settings.
type Releaser interface {
	Release() error
}

// releasePort runs a deleted port's Release hook, after Close.
func releasePort(name string, dev datapath.Port) {
	if r, ok := dev.(Releaser); ok {
		if err := r.Release(); err != nil {
			slog.Warn("release port", "port", name, "err", err)
		}
	}
}

// macWatch resyncs MACWatcher ports when a MAC table changes, and every
// few seconds (ports come and go without a table change).
func (s *Switch) macWatch(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.macNotify:
		case <-t.C:
		}
		s.syncPeerMACs(time.Now())
	}
}

// syncPeerMACs hands each MACWatcher port the MACs learned on the other
// ports of its bridge (live entries, every VLAN, once each), except those
// behind the same embedded switch.
func (s *Switch) syncPeerMACs(now time.Time) {
	type job struct {
		w    MACWatcher
		macs [][6]byte
	}
	var jobs []job
	s.mu.Lock()
	for _, b := range s.bridges {
		var rows []macRow
		var aging time.Duration
		for _, p := range b.ports {
			w, ok := p.dev.(MACWatcher)
			if !ok {
				continue
			}
			if rows == nil {
				b.macs.mu.Lock()
				aging = b.macs.aging
				b.macs.mu.Unlock()
				rows = b.macs.dump(now)
				if rows == nil {
					rows = []macRow{}
				}
			}
			group := eswitchGroup(p.dev)
			skip := map[int]bool{p.ofport: true}
			for _, q := range b.ports {
				if q != p && group != "" && eswitchGroup(q.dev) == group {
					skip[q.ofport] = true
				}
			}
			seen := map[[6]byte]bool{}
			var macs [][6]byte
			for _, r := range rows {
				if !skip[r.ofport] && r.age <= aging && !seen[r.mac] {
					seen[r.mac] = true
					macs = append(macs, r.mac)
				}
			}
			jobs = append(jobs, job{w, macs})
		}
	}
	s.mu.Unlock()
	for _, j := range jobs {
		j.w.SetPeerMACs(j.macs)
	}
}
