package datapath

import (
	"time"

	"vswitch/flowtable"
)

// MegaflowInfo describes one installed megaflow, for dpif/dump-flows.
type MegaflowInfo struct {
	PMD       int
	Key, Mask flowtable.Key
	Actions   []Action
	Packets   uint64
	Bytes     uint64
	Used      time.Duration // since the last hit
	Age       time.Duration // since it was installed
}

// Megaflows returns every PMD's installed megaflows. Each PMD copies its
// own table at the end of an iteration, so nothing is read while written.
func (d *Datapath) Megaflows() []MegaflowInfo {
	var out []MegaflowInfo
	d.onEachPMD(func(p *pmd) {
		now := d.now()
		for id := range p.ft.flows {
			f := &p.ft.flows[id]
			if f.dead {
				continue
			}
			c := p.ft.cls[f.inPort]
			k := c.Key(f.h)
			k.InPort = f.inPort
			out = append(out, MegaflowInfo{
				PMD: p.id, Key: k, Mask: c.Mask(f.h),
				Actions: append([]Action(nil), p.ft.acts.get(f.acts)...),
				Packets: f.packets, Bytes: f.bytes,
				Used: time.Duration(now - f.used), Age: time.Duration(now - f.created),
			})
		}
	})
	return out
}

// FlushMegaflows removes every PMD's megaflows (their counts go to refs first).
func (d *Datapath) FlushMegaflows() {
	d.onEachPMD(func(p *pmd) {
		for id := range p.ft.flows {
			if f := &p.ft.flows[id]; !f.dead {
				p.pushStats(f)
			}
		}
		p.ft.clear()
	})
}

// onEachPMD runs fn on each PMD's own goroutine between iterations (or
// directly when the PMDs are not running) and waits for all of them.
func (d *Datapath) onEachPMD(fn func(p *pmd)) {
	d.mu.Lock()
	started := d.started
	pmds := d.pmds
	d.mu.Unlock()
	for _, p := range pmds {
		if !started || p.exited.Load() {
			fn(p)
			continue
		}
		done := make(chan struct{})
		p.cmds <- func(p *pmd) { fn(p); close(done) }
		p.wake()
		select {
		case <-done:
		case <-p.done: // stopped meanwhile: its tables are ours now
			select {
			case <-done: // it ran fn before stopping
			default:
				fn(p)
			}
		}
	}
}

// ClearPMDStats zeroes every PMD's counters (pmd-stats-clear).
func (d *Datapath) ClearPMDStats() {
	d.onEachPMD(func(p *pmd) {
		p.local = PMDStats{}
		p.publishStats()
	})
}

// Poll runs one iteration of every PMD on the caller's goroutine: for tests
// and benchmarks that drive the datapath step by step. Only valid while the
// datapath is not started.
func (d *Datapath) Poll() int {
	n := 0
	for _, p := range d.pmds {
		p.reload()
		p.now = d.now()
		if p.now-p.lastSweep > sweepInterval {
			p.sweep()
		}
		n += p.iterate()
		p.publishStats()
	}
	return n
}

// RxqInfo is one rx queue's PMD assignment.
type RxqInfo struct {
	PMD, Core int
	Port      uint32
	Queue     int
	// Usage is the queue's share of its PMD's core over the last
	// measurement interval, in percent; -1 before the first interval.
	Usage float64
}

// Rxqs returns the current rx queue assignment.
func (d *Datapath) Rxqs() []RxqInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.snap.Load()
	var out []RxqInfo
	for i, qs := range s.rxqs {
		for _, q := range qs {
			u := -1.0
			if r := q.port.load.rate; q.q < len(r) && r[q.q] >= 0 {
				u = r[q.q] * 100
			}
			out = append(out, RxqInfo{PMD: i, Core: d.pmds[i].core, Port: q.port.no, Queue: q.q, Usage: u})
		}
	}
	return out
}
