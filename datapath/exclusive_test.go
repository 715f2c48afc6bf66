package datapath

import (
	"sync/atomic"
	"testing"
	"time"
)

// exclusivePort is a busy memPort that notices two PMDs in its Rx at once.
type exclusivePort struct {
	memPort
	inRx, overlaps, polls atomic.Int64
}

func (e *exclusivePort) Rx(q int, b *Batch, c *Cache) int {
	if e.inRx.Add(1) > 1 {
		e.overlaps.Add(1)
	}
	// Widen the window a queue handover could leave open.
	for t := time.Now(); time.Since(t) < 20*time.Microsecond; {
	}
	n := e.memPort.Rx(q, b, c)
	e.polls.Add(1)
	e.inRx.Add(-1)
	return n
}

// A queue that moves to another PMD (rebalance, a port added, the mode
// changed) is never polled by its old and new PMD at once: port backends
// keep per-queue state (vrings, mbuf descriptors) without locks.
func TestQueueHandoverIsExclusive(t *testing.T) {
	d, err := New(Config{PMDCores: []int{-1, -1}, MemBytes: 8 << 20}, &crossConnect{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	frame := udpFrame([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}, 0x0a000001, 0x0a000002, 1, 2, 64)
	d.SetRxqAssign(AssignRoundRobin)
	// Port number 1 stays free for the shifting port below.
	hold, err := d.AddPort(&memPort{name: "hold"})
	if err != nil {
		t.Fatal(err)
	}
	var ports []*exclusivePort
	for _, n := range []string{"q1", "q2", "q3"} {
		p := &exclusivePort{memPort: memPort{name: n, templates: [][]byte{frame}, burst: 4}}
		if _, err := d.AddPort(p); err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	if err := d.RemovePort(hold); err != nil {
		t.Fatal(err)
	}
	d.Start()
	moves := 0
	for i := 0; i < 300; i++ {
		before := d.Rxqs()
		// An extra port at the front of the order (number 1) shifts every
		// queue to the other PMD under round-robin; removing it shifts
		// them back.
		no, err := d.AddPort(&memPort{name: "shift"})
		if err != nil {
			t.Fatal(err)
		}
		after := d.Rxqs()
		if err := d.RemovePort(no); err != nil {
			t.Fatal(err)
		}
		pmdOf := map[uint32]int{}
		for _, q := range before {
			pmdOf[q.Port] = q.PMD
		}
		for _, q := range after {
			if old, ok := pmdOf[q.Port]; ok && old != q.PMD {
				moves++
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	var polls, overlaps int64
	for _, p := range ports {
		polls += p.polls.Load()
		overlaps += p.overlaps.Load()
	}
	t.Logf("%d polls, %d queue moves seen, %d overlapping polls", polls, moves, overlaps)
	if moves == 0 {
		t.Fatal("no queue changed PMD: the test exercised nothing")
	}
	if polls < 1000 {
		t.Fatalf("only %d polls: the PMDs did not run", polls)
	}
	if overlaps != 0 {
		t.Fatalf("%d polls of a queue overlapped with another PMD's poll of it", overlaps)
	}
}
