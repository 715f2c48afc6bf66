package bridge

// Watch: configuration and port-state changes as a stream of events.

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"
)

// Watch event kinds.
const (
	EventExisting       = "existing" // part of the initial state
	EventSynced         = "synced"   // the initial state is complete
	EventBridgeAdded    = "bridge_added"
	EventBridgeDeleted  = "bridge_deleted"
	EventBridgeModified = "bridge_modified"
	EventPortAdded      = "port_added"
	EventPortDeleted    = "port_deleted"
	EventPortModified   = "port_modified"
	EventPortUp         = "port_up"
	EventPortDown       = "port_down"
)

// WatchEvent is one change (or, kind EventExisting, one item of the state
// a watcher starts from). Port is "" for bridge events.
type WatchEvent struct {
	Kind   string
	Bridge string
	Port   string
	Ofport int
	Type   string
	Up     bool
	Status string
}

// watchScan is how often port state is polled; configuration changes are
// seen at once (every change rebuilds, and a rebuild kicks the scanner).
const watchScan = 200 * time.Millisecond

type portState struct {
	bridge string
	ofport int
	typ    string
	up     bool
	status string
	cfg    string // the port's configuration, to notice changes
}

type watchState struct {
	bridges map[string]string // name -> configuration
	ports   map[string]portState
}

// watchHub is the scanner's state and the subscribers.
type watchHub struct {
	kick chan struct{}
	mu   sync.Mutex // orders scans and subscriptions
	last watchState
	subs map[*Watcher]struct{}
}

// Watcher is one subscription; read Events until it is closed.
type Watcher struct {
	hub    *watchHub
	bridge string
	ch     chan WatchEvent
	lost   bool
}

// Events delivers the events; it is closed by Close, or when the watcher
// fell too far behind (Lost then reports true).
func (w *Watcher) Events() <-chan WatchEvent { return w.ch }

// Lost reports whether events were lost because the reader was too slow.
func (w *Watcher) Lost() bool {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	return w.lost
}

// Close ends the subscription.
func (w *Watcher) Close() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	if _, ok := w.hub.subs[w]; ok {
		delete(w.hub.subs, w)
		close(w.ch)
	}
}

func newWatchHub() *watchHub {
	return &watchHub{kick: make(chan struct{}, 1), subs: map[*Watcher]struct{}{},
		last: watchState{bridges: map[string]string{}, ports: map[string]portState{}}}
}

// kickWatch makes the scanner look now. Never blocks.
func (s *Switch) kickWatch() {
	select {
	case s.watch.kick <- struct{}{}:
	default:
	}
}

// Watch subscribes to changes of one bridge ("" for all): the current
// state first (EventExisting items, then EventSynced), then changes.
func (s *Switch) Watch(brName string) (*Watcher, error) {
	if brName != "" {
		s.mu.Lock()
		_, err := s.bridge(brName)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	h := s.watch
	h.mu.Lock()
	defer h.mu.Unlock()
	s.scanLocked()
	w := &Watcher{hub: h, bridge: brName, ch: make(chan WatchEvent, 1024+2*(len(h.last.ports)+len(h.last.bridges)))}
	for _, name := range slices.Sorted(maps.Keys(h.last.bridges)) {
		if brName == "" || name == brName {
			w.ch <- WatchEvent{Kind: EventExisting, Bridge: name}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(h.last.ports)) {
		if p := h.last.ports[name]; brName == "" || p.bridge == brName {
			w.ch <- portEvent(EventExisting, name, p)
		}
	}
	w.ch <- WatchEvent{Kind: EventSynced, Bridge: brName}
	h.subs[w] = struct{}{}
	return w, nil
}

func portEvent(kind, name string, p portState) WatchEvent {
	return WatchEvent{Kind: kind, Bridge: p.bridge, Port: name, Ofport: p.ofport, Type: p.typ, Up: p.up, Status: p.status}
}

// watchState scans for changes on every kick and every watchScan.
func (s *Switch) watchStates(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(watchScan)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.watch.mu.Lock()
			for w := range s.watch.subs {
				delete(s.watch.subs, w)
				close(w.ch)
			}
			s.watch.mu.Unlock()
			return
		case <-t.C:
		case <-s.watch.kick:
		}
		s.watch.mu.Lock()
		s.scanLocked()
		s.watch.mu.Unlock()
	}
}

// portState is whether a port forwards and, if not, why.
func (s *Switch) portState(p *port) portState {
	st := portState{bridge: p.br.name, ofport: p.ofport, typ: typeName(p.cfg.Interface.Type)}
	switch {
	case p.err != "":
		st.status = p.err
	case p.dev == nil && p.cfg.Interface.Type != "patch":
		st.status = "not in the datapath"
	default:
		st.up = true
		if sr, ok := p.dev.(interface{ Status() map[string]string }); ok {
			if state := sr.Status()["state"]; state != "" && state != "connected" {
				st.up, st.status = false, state
			}
		}
	}
	return st
}

// scanLocked diffs the current state against the last one and publishes
// the differences. Caller holds s.watch.mu.
func (s *Switch) scanLocked() {
	cur := watchState{bridges: map[string]string{}, ports: map[string]portState{}}
	s.mu.Lock()
	for _, b := range s.bridges {
		cfg, _ := json.Marshal(struct {
			F string
			O map[string]string
		}{b.failMode, b.other})
		cur.bridges[b.name] = string(cfg)
		for _, p := range b.ports {
			st := s.portState(p)
			c, _ := json.Marshal(p.cfg)
			st.cfg = string(c)
			cur.ports[p.cfg.Name] = st
		}
	}
	s.mu.Unlock()

	h := s.watch
	var evs []WatchEvent
	for _, name := range slices.Sorted(maps.Keys(cur.bridges)) {
		old, ok := h.last.bridges[name]
		switch {
		case !ok:
			evs = append(evs, WatchEvent{Kind: EventBridgeAdded, Bridge: name})
		case old != cur.bridges[name]:
			evs = append(evs, WatchEvent{Kind: EventBridgeModified, Bridge: name})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(h.last.ports)) {
		if _, ok := cur.ports[name]; !ok {
			p := h.last.ports[name]
			evs = append(evs, portEvent(EventPortDeleted, name, p))
			s.portStatus(p.bridge, PortStatusEvent{Reason: "delete", Port: name, Ofport: p.ofport, Type: p.typ, Status: "deleted"})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cur.ports)) {
		p := cur.ports[name]
		old, ok := h.last.ports[name]
		if ok && old.bridge != p.bridge {
			evs = append(evs, portEvent(EventPortDeleted, name, old))
			ok = false
		}
		ps := PortStatusEvent{Reason: "modify", Port: name, Ofport: p.ofport, Type: p.typ, Up: p.up, Status: p.status}
		switch {
		case !ok:
			evs = append(evs, portEvent(EventPortAdded, name, p))
			ps.Reason = "add"
			s.portStatus(p.bridge, ps)
		case old.up != p.up:
			kind := EventPortDown
			if p.up {
				kind = EventPortUp
			}
			evs = append(evs, portEvent(kind, name, p))
			s.portStatus(p.bridge, ps)
		case old.cfg != p.cfg || old.status != p.status || old.ofport != p.ofport:
			evs = append(evs, portEvent(EventPortModified, name, p))
			s.portStatus(p.bridge, ps)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(h.last.bridges)) {
		if _, ok := cur.bridges[name]; !ok {
			evs = append(evs, WatchEvent{Kind: EventBridgeDeleted, Bridge: name})
		}
	}
	h.last = cur
	for w := range h.subs {
		for _, e := range evs {
			if w.bridge != "" && e.Bridge != w.bridge {
				continue
			}
			select {
			case w.ch <- e:
			default:
				// Too slow: end the stream rather than let it silently miss a change.
				w.lost = true
				delete(h.subs, w)
				close(w.ch)
			}
			if w.lost {
				break
			}
		}
	}
}
