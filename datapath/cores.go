package datapath

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// ParseCPUList reads a PMD core list, "1", "0,2" or "2-5"; empty means the
// last CPU. Duplicates count once.
func ParseCPUList(s string) ([]int, error) {
	n := runtime.NumCPU()
	if strings.TrimSpace(s) == "" {
		return []int{n - 1}, nil
	}
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a > b || a < 0 {
			return nil, errors.New("want a CPU list like 1 or 0,2 or 2-5")
		}
		if b >= n {
			return nil, fmt.Errorf("CPU %d does not exist (this machine has %d)", b, n)
		}
		for c := a; c <= b; c++ {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// ParseSize reads a memory size: "256M", "1G", "64MiB" or a byte count;
// at least 1M.
func ParseSize(s string) (int, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "IB"), "B")
	mult := 1
	switch {
	case strings.HasSuffix(t, "K"):
		mult = 1 << 10
	case strings.HasSuffix(t, "M"):
		mult = 1 << 20
	case strings.HasSuffix(t, "G"):
		mult = 1 << 30
	}
	if mult > 1 {
		t = t[:len(t)-1]
	}
	v, err := strconv.Atoi(t)
	if err != nil || v <= 0 {
		return 0, errors.New("want a size like 256M or 1G")
	}
	if v*mult < 1<<20 {
		return 0, errors.New("at least 1M is needed")
	}
	return v * mult, nil
}

// ParsePMDPoll reads a pmd-poll setting: "auto" (an idle PMD parks) or
// "always" (it keeps polling); it reports whether the PMDs always poll.
func ParsePMDPoll(s string) (always bool, err error) {
	switch s {
	case "auto":
		return false, nil
	case "always":
		return true, nil
	}
	return false, errors.New("use auto or always")
}

// PMDCores returns the cores the PMDs run on, in PMD order.
func (d *Datapath) PMDCores() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.cfg.PMDCores)
}

// SetPMDCores replaces the PMD threads with one per core, while the
// datapath runs: the old PMDs finish the iteration they are in and exit,
// the new ones start with empty megaflow caches and counters, and every
// rx queue is assigned again. Ports need nothing: a PMD's tx queue index
// is taken modulo each port's queues.
func (d *Datapath) SetPMDCores(cores []int) error {
	if len(cores) == 0 {
		return errors.New("datapath: at least one PMD core is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if slices.Equal(cores, d.cfg.PMDCores) {
		return nil
	}
	var fresh []*pmd
	for i, core := range cores {
		p, err := newPMD(d, i, core)
		if err != nil {
			for _, q := range fresh {
				q.close()
			}
			return err
		}
		fresh = append(fresh, p)
	}
	// No queue for anyone, then the old PMDs stop: none touches a port
	// after this, and their packets go back to the pool as they exit. The
	// snapshot has a (empty) queue list for every old and new PMD.
	d.snap.Store(&snapshot{ports: d.snap.Load().ports, rxqs: make([][]rxq, max(len(d.pmds), len(cores)))})
	for _, p := range d.pmds {
		p.stop.Store(true)
		p.wake()
	}
	for _, p := range d.pmds {
		if d.started {
			<-p.done
		} else {
			p.retire()
			p.cache.Flush()
		}
		p.close()
	}
	d.pmds = fresh
	d.nPMD.Store(int32(len(fresh)))
	d.cfg.PMDCores = slices.Clone(cores)
	// The new PMDs run before the queues are dealt out, so publish's wait
	// for PMDs (should a queue count as moved) always has PMDs to wait on.
	if d.started {
		if want := len(fresh) + 1; runtime.GOMAXPROCS(0) < want {
			runtime.GOMAXPROCS(want)
		}
		for _, p := range fresh {
			go p.run()
		}
	}
	d.publish()
	return nil
}
