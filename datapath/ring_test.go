package datapath

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Producers and consumers pass values back and forth through a ring no
// larger than the values in play, as the packet pool does: every value is
// seen exactly as often as it was put, none lost, none duplicated.
func TestRingConcurrentNoLossNoDup(t *testing.T) {
	const vals, workers, rounds = 256, 4, 20000
	r := NewRing(vals)
	for v := uint32(0); v < vals; v++ {
		if !r.Put(v) {
			t.Fatalf("Put %d into an empty ring of %d failed", v, vals)
		}
	}
	var seen [vals]atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				v, ok := r.Get()
				if !ok {
					runtime.Gosched()
					continue
				}
				seen[v].Add(1)
				for !r.Put(v) { // full only while a Get frees the slot
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	got := map[uint32]bool{}
	for {
		v, ok := r.Get()
		if !ok {
			break
		}
		if got[v] {
			t.Fatalf("value %d twice in the ring", v)
		}
		got[v] = true
	}
	if len(got) != vals {
		t.Fatalf("%d of %d values left in the ring", len(got), vals)
	}
	var total int64
	for i := range seen {
		total += seen[i].Load()
	}
	t.Logf("%d values moved through the ring", total)
}
