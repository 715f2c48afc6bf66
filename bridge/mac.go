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
}

// macTable is a bridge's learning table, per VLAN, with aging and a size
// limit. It outlives configuration snapshots; upcalls write it.
type macTable struct {
	mu      sync.Mutex
	entries map[macKey]*macEntry
	aging   time.Duration
	max     int
}

func newMACTable() *macTable {
	return &macTable{entries: map[macKey]*macEntry{}, aging: defaultMACAging, max: defaultMACTableMax}
}

// learn records mac on vlan at ofport. It reports whether forwarding
// decisions change (a new entry or a move), so the caller invalidates flows.
func (t *macTable) learn(vlan uint16, mac [6]byte, ofport int, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := macKey{vlan, mac}
	if e, ok := t.entries[k]; ok {
		e.seen = now
		if e.ofport == ofport {
			return false
		}
		e.ofport = ofport
		return true
	}
	if len(t.entries) >= t.max {
		t.evictOldest()
	}
	t.entries[k] = &macEntry{ofport: ofport, seen: now}
	return true
}

func (t *macTable) evictOldest() {
	var oldest macKey
	var when time.Time
	first := true
	for k, e := range t.entries {
		if first || e.seen.Before(when) {
			oldest, when, first = k, e.seen, false
		}
	}
	delete(t.entries, oldest)
}

// lookup returns the port of mac on vlan, or 0.
func (t *macTable) lookup(vlan uint16, mac [6]byte, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[macKey{vlan, mac}]
	if !ok || now.Sub(e.seen) > t.aging {
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
		if now.Sub(e.seen) > t.aging {
			delete(t.entries, k)
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
			delete(t.entries, k)
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
		rows = append(rows, macRow{e.ofport, int(k.vlan), k.mac, now.Sub(e.seen)})
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
