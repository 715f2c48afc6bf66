package datapath

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// RxqAssign is how rx queues are spread over PMDs (OVS's pmd-rxq-assign).
type RxqAssign int

const (
	// AssignCycles gives the busiest queues out first, each to the PMD
	// with the least measured load so far (OVS's default, "cycles").
	// Queues without a measurement count as idle, so a fresh switch
	// spreads them evenly.
	AssignCycles RxqAssign = iota
	// AssignRoundRobin deals queues out in port order.
	AssignRoundRobin
)

// ParseRxqAssign reads a pmd-rxq-assign value; "" is the default (cycles)
// and OVS's "group" is accepted as cycles.
func ParseRxqAssign(s string) (RxqAssign, error) {
	switch s {
	case "", "cycles", "group":
		return AssignCycles, nil
	case "roundrobin":
		return AssignRoundRobin, nil
	}
	return 0, fmt.Errorf("pmd-rxq-assign %q: use cycles or roundrobin", s)
}

func (a RxqAssign) String() string {
	if a == AssignRoundRobin {
		return "roundrobin"
	}
	return "cycles"
}

// loadInterval is how often each rx queue's share of its PMD is measured.
const loadInterval = 5 * time.Second

// rxLoad is one port's per-queue load accounting. busy is added to by the
// one PMD polling the queue; the rest belongs to the sampler (under d.mu).
type rxLoad struct {
	busy []atomic.Uint64 // ns of PMD busy time spent on the queue's packets
	prev []uint64
	rate []float64 // share of a core over the last interval; -1 unmeasured
}

func newRxLoad(n int) rxLoad {
	l := rxLoad{busy: make([]atomic.Uint64, n), prev: make([]uint64, n), rate: make([]float64, n)}
	for i := range l.rate {
		l.rate[i] = -1
	}
	return l
}

// SetRxqAssign changes the assignment mode and reassigns the queues.
func (d *Datapath) SetRxqAssign(a RxqAssign) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg.RxqAssign = a
	d.publish()
}

// RxqAssignMode returns the current assignment mode.
func (d *Datapath) RxqAssignMode() RxqAssign {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.RxqAssign
}

// Rebalance reassigns rx queues now, with the loads measured over the last
// interval (OVS's dpif-netdev/pmd-rxq-rebalance).
func (d *Datapath) Rebalance() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.publish()
}

// sampleLoads turns each queue's busy time since the last sample into its
// share of a core. Called every loadInterval while the datapath runs.
func (d *Datapath) sampleLoads(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dt := now.Sub(d.lastSample)
	d.lastSample = now
	if dt <= 0 {
		return
	}
	for _, p := range d.ports {
		l := &p.load
		for q := range l.busy {
			cur := l.busy[q].Load()
			l.rate[q] = float64(cur-l.prev[q]) / float64(dt)
			l.prev[q] = cur
		}
	}
}

func (d *Datapath) sampler(stop <-chan struct{}) {
	t := time.NewTicker(loadInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			d.sampleLoads(now)
		}
	}
}

// assign spreads every rx queue of ports over n PMDs.
func assign(ports map[uint32]*dpPort, maxNo uint32, n int, mode RxqAssign) [][]rxq {
	out := make([][]rxq, n)
	type cand struct {
		q    rxq
		load float64
	}
	var all []cand
	for no := uint32(0); no <= maxNo; no++ {
		p := ports[no]
		if p == nil {
			continue
		}
		sp, ok := p.port.(SlowPoller)
		for q := 0; q < p.port.RxQueues(); q++ {
			c := cand{q: rxq{port: p, q: q, slow: ok && sp.SlowPoll()}}
			if q < len(p.load.rate) {
				c.load = max(p.load.rate[q], 0)
			}
			all = append(all, c)
		}
	}
	if mode == AssignRoundRobin {
		for i, c := range all {
			out[i%n] = append(out[i%n], c.q)
		}
		return out
	}
	// Busiest first (port order among equals), each to the least loaded
	// PMD, then the one with fewest queues, then the lowest index.
	slices.SortStableFunc(all, func(a, b cand) int { return cmp.Compare(b.load, a.load) })
	load := make([]float64, n)
	for _, c := range all {
		best := 0
		for i := 1; i < n; i++ {
			if load[i] < load[best] || (load[i] == load[best] && len(out[i]) < len(out[best])) {
				best = i
			}
		}
		out[best] = append(out[best], c.q)
		load[best] += c.load
	}
	return out
}
