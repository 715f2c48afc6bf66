package datapath

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A Ref is a slot the control plane hands out for something megaflow hits
// must refresh or count: an OpenFlow rule (idle timer, packet and byte
// counters) or a learned MAC (its age). Translations return the refs they
// consulted; PMDs push each megaflow's use and counters into them once a
// second, so traffic served only by megaflows keeps MACs and rules alive.
// A ref id carries a tag so a slot reused by a new owner is never touched
// on behalf of the old one.
type Ref struct {
	tag     atomic.Uint32
	used    atomic.Int64 // datapath clock, ns
	packets atomic.Uint64
	bytes   atomic.Uint64
}

const (
	refSlots   = 1 << 18
	refSlotMsk = refSlots - 1
	refTagSh   = 18
)

type refTable struct {
	mu    sync.Mutex
	slots []Ref
	free  []uint32
	next  uint32
	epoch time.Time
}

func newRefTable() *refTable {
	return &refTable{slots: make([]Ref, refSlots), next: 1, epoch: time.Now()}
}

// NewRef allocates a ref; 0 is never returned.
func (d *Datapath) NewRef() (uint32, error) {
	t := d.refs
	t.mu.Lock()
	defer t.mu.Unlock()
	var slot uint32
	if n := len(t.free); n > 0 {
		slot = t.free[n-1]
		t.free = t.free[:n-1]
	} else if t.next < refSlots {
		slot = t.next
		t.next++
	} else {
		return 0, fmt.Errorf("datapath: all %d refs in use", refSlots-1)
	}
	r := &t.slots[slot]
	tag := (r.tag.Load() + 1) & (1<<(32-refTagSh) - 1)
	if tag == 0 {
		tag = 1
	}
	r.used.Store(0)
	r.packets.Store(0)
	r.bytes.Store(0)
	r.tag.Store(tag)
	return tag<<refTagSh | slot, nil
}

// FreeRef releases a ref; later pushes to it are ignored.
func (d *Datapath) FreeRef(id uint32) {
	if id == 0 {
		return
	}
	t := d.refs
	slot := id & refSlotMsk
	r := &t.slots[slot]
	if r.tag.Load() != id>>refTagSh {
		return
	}
	r.tag.Store(0)
	t.mu.Lock()
	t.free = append(t.free, slot)
	t.mu.Unlock()
}

// RefStats returns when a ref was last used by a megaflow (zero time if
// never) and the packets and bytes megaflows counted for it.
func (d *Datapath) RefStats(id uint32) (used time.Time, packets, bytes uint64) {
	r := d.ref(id)
	if r == nil {
		return time.Time{}, 0, 0
	}
	if u := r.used.Load(); u > 0 {
		used = d.refs.epoch.Add(time.Duration(u))
	}
	return used, r.packets.Load(), r.bytes.Load()
}

func (d *Datapath) ref(id uint32) *Ref {
	if id == 0 {
		return nil
	}
	r := &d.refs.slots[id&refSlotMsk]
	if r.tag.Load() != id>>refTagSh {
		return nil
	}
	return r
}

// now is the datapath clock in ns.
func (d *Datapath) now() int64 { return int64(time.Since(d.refs.epoch)) }

// push records a megaflow's use and new counts on a ref.
func (d *Datapath) push(id uint32, used int64, packets, bytes uint64) {
	r := d.ref(id)
	if r == nil {
		return
	}
	if used > r.used.Load() {
		r.used.Store(used)
	}
	if packets > 0 {
		r.packets.Add(packets)
		r.bytes.Add(bytes)
	}
}
