package bridge

import (
	"sort"
	"sync"
	"time"
)

const (
	defaultMACAging    = 300 * time.Second
	defaultMACTableMax = 8192
)

type macKey struct {
	vlan uint16
	mac  [6]byte
}

type macEntry struct {
	ofport int
	seen   time.Time
	ref    uint32 // megaflows learned from this MAC refresh its age through it
}

// refOwner hands out refs (the datapath); nil in unit tests.
type refOwner interface {
	NewRef() (uint32, error)
	FreeRef(id uint32)
	RefStats(id uint32) (used time.Time, packets, bytes uint64)
}

// macTable is a bridge's learning table, per VLAN, with aging and a size
// limit. It outlives configuration snapshots; upcalls write it.
type macTable struct {
	mu      sync.Mutex
	entries map[macKey]*macEntry
	aging   time.Duration
	max     int
	refs    refOwner
	// notify, when set, gets a token (without blocking) whenever an
	// entry appears, moves or goes: ports that track the bridge's MACs
	// (SR-IOV VFs) resync off the forwarding path.
	notify chan struct{}
}

// changed signals notify; it never blocks nor allocates.
func (t *macTable) changed() {
	if t.notify != nil {
		select {
		case t.notify <- struct{}{}:
		default:
		}
	}
}

func newMACTable(refs refOwner) *macTable {
	return &macTable{entries: map[macKey]*macEntry{}, aging: defaultMACAging, max: defaultMACTableMax, refs: refs}
}

// learn records mac on vlan at ofport. It returns the entry's ref and
// whether forwarding decisions change (a new entry or a move), so the
// caller invalidates flows.
func (t *macTable) learn(vlan uint16, mac [6]byte, ofport int, now time.Time) (ref uint32, changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := macKey{vlan, mac}
	if e, ok := t.entries[k]; ok {
		e.seen = now
		if e.ofport == ofport {
			return e.ref, false
		}
		e.ofport = ofport
		t.changed()
		return e.ref, true
	}
	if len(t.entries) >= t.max {
		t.evictOldest()
	}
	e := &macEntry{ofport: ofport, seen: now}
	if t.refs != nil {
		e.ref, _ = t.refs.NewRef()
	}
	t.entries[k] = e
	t.changed()
	return e.ref, true
}

// lastSeen is when the MAC last sent: learned by an upcall, or used by a
// megaflow that learned it.
func (t *macTable) lastSeen(e *macEntry) time.Time {
	if t.refs != nil && e.ref != 0 {
		if used, _, _ := t.refs.RefStats(e.ref); used.After(e.seen) {
			e.seen = used
		}
	}
	return e.seen
}

func (t *macTable) remove(k macKey, e *macEntry) {
	if t.refs != nil {
		t.refs.FreeRef(e.ref)
	}
	delete(t.entries, k)
	t.changed()
}

func (t *macTable) evictOldest() {
	var oldest macKey
	var victim *macEntry
	var when time.Time
	for k, e := range t.entries {
		if seen := t.lastSeen(e); victim == nil || seen.Before(when) {
			oldest, victim, when = k, e, seen
		}
	}
	if victim != nil {
		t.remove(oldest, victim)
	}
}

// lookup returns the port of mac on vlan, or 0.
func (t *macTable) lookup(vlan uint16, mac [6]byte, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[macKey{vlan, mac}]
	if !ok || now.Sub(t.lastSeen(e)) > t.aging {
		return 0
	}
	return e.ofport
}

// expire removes entries older than the aging time and reports whether any went.
func (t *macTable) expire(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	gone := false
	for k, e := range t.entries {
		if now.Sub(t.lastSeen(e)) > t.aging {
			t.remove(k, e)
			gone = true
		}
	}
	return gone
}

// flushPort forgets every MAC on ofport (0: all).
func (t *macTable) flushPort(ofport int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	gone := false
	for k, e := range t.entries {
		if ofport == 0 || e.ofport == ofport {
			t.remove(k, e)
			gone = true
		}
	}
	return gone
}

func (t *macTable) configure(aging time.Duration, max int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.aging, t.max = aging, max
	for len(t.entries) > t.max {
		t.evictOldest()
	}
}

type macRow struct {
	ofport int
	vlan   int
	mac    [6]byte
	age    time.Duration
}

func (t *macTable) dump(now time.Time) []macRow {
	t.mu.Lock()
	rows := make([]macRow, 0, len(t.entries))
	for k, e := range t.entries {
		rows = append(rows, macRow{e.ofport, int(k.vlan), k.mac, max(now.Sub(t.lastSeen(e)), 0)})
	}
	t.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].ofport != rows[j].ofport {
			return rows[i].ofport < rows[j].ofport
		}
		if rows[i].vlan != rows[j].vlan {
			return rows[i].vlan < rows[j].vlan
		}
		return string(rows[i].mac[:]) < string(rows[j].mac[:])
	})
	return rows
}
