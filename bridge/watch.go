package bridge

import (
	"context"
	"log/slog"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vswitch/datapath/netdev"
)

// watchLinks brings up ports whose device appears after they were added,
// and takes down ports whose device vanishes, as OVS does. A periodic
// retry covers missed netlink events.
func (s *Switch) watchLinks(ctx context.Context) {
	defer s.wg.Done()
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			if ctx.Err() == nil {
				slog.Warn("netlink link watch", "err", err)
			}
		},
	})
	if err != nil {
		slog.Warn("cannot watch links; retrying missing devices every 2s only", "err", err)
		updates = nil
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			s.linkChanged(u.Attrs().Name, u.Header.Type == unix.RTM_DELLINK)
		case <-tick.C:
			s.retryMissing()
		}
	}
}

// kernelPort reports whether the port attaches to a device it did not create.
func kernelPort(p *port) bool {
	k, ok := netdev.Lookup(p.cfg.Interface.Type)
	return ok && k.Existing
}

func (s *Switch) linkChanged(name string, deleted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.ports[name]
	if !ok || !kernelPort(p) {
		return
	}
	switch {
	case deleted && p.dev != nil && !netdev.LinkExists(name):
		slog.Info("port device vanished", "port", name)
		s.closePort(p)
		p.err = deviceError(name, netdev.ErrNoDevice)
		p.br.macs.flushPort(p.ofport)
		s.rebuild()
	case !deleted && p.dev == nil:
		s.openPort(p)
		if p.dev != nil {
			slog.Info("port device appeared", "port", name, "ofport", p.ofport)
			s.rebuild()
		}
	}
}

func (s *Switch) retryMissing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, p := range s.ports {
		if p.dev == nil && kernelPort(p) && netdev.LinkExists(p.cfg.Name) {
			s.openPort(p)
			changed = changed || p.dev != nil
		}
	}
	if changed {
		s.rebuild()
	}
}
