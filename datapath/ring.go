package datapath

import (
	"runtime"
	"sync/atomic"
)

// Ring is a bounded lock-free multi-producer multi-consumer queue of uint32
// (a Vyukov queue): the shared free list behind the per-PMD caches.
type Ring struct {
	_     [64]byte
	head  atomic.Uint64
	_     [56]byte
	tail  atomic.Uint64
	_     [56]byte
	mask  uint64
	cells []ringCell
}

type ringCell struct {
	seq atomic.Uint64
	val uint32
}

// NewRing returns a ring holding up to size values (rounded up to a power of two).
func NewRing(size int) *Ring {
	n := 1
	for n < size {
		n <<= 1
	}
	r := &Ring{mask: uint64(n - 1), cells: make([]ringCell, n)}
	for i := range r.cells {
		r.cells[i].seq.Store(uint64(i))
	}
	return r
}

// Put enqueues v; it returns false when the ring is full.
func (r *Ring) Put(v uint32) bool {
	for {
		pos := r.tail.Load()
		c := &r.cells[pos&r.mask]
		// Differences, not comparisons: correct across wrap-around.
		switch dif := int64(c.seq.Load() - pos); {
		case dif == 0:
			if r.tail.CompareAndSwap(pos, pos+1) {
				c.val = v
				c.seq.Store(pos + 1)
				return true
			}
		case dif < 0:
			return false
		default:
			runtime.Gosched()
		}
	}
}

// Get dequeues a value; ok is false when the ring is empty.
func (r *Ring) Get() (v uint32, ok bool) {
	for {
		pos := r.head.Load()
		c := &r.cells[pos&r.mask]
		switch dif := int64(c.seq.Load() - (pos + 1)); {
		case dif == 0:
			if r.head.CompareAndSwap(pos, pos+1) {
				v = c.val
				c.seq.Store(pos + r.mask + 1)
				return v, true
			}
		case dif < 0:
			// Not filled yet. When tail has moved past it, a Put owns the
			// slot and is about to fill it (perhaps preempted): values
			// are queued behind it, so wait rather than report empty.
			if int64(r.tail.Load()-pos) <= 0 {
				return 0, false
			}
			runtime.Gosched()
		default:
			runtime.Gosched()
		}
	}
}

// Len returns an approximate count of queued values.
func (r *Ring) Len() int {
	t, h := r.tail.Load(), r.head.Load()
	if t < h {
		return 0
	}
	return int(t - h)
}
