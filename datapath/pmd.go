package datapath

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/flowtable"
)

const (
	// parkAfter is how long a PMD polls without finding a packet before it
	// parks on epoll.
	parkAfter = 2 * time.Millisecond
	// parkTimeout bounds a park so housekeeping still runs; ports without a
	// poll fd force a 1 ms bound instead.
	parkTimeout   = 200
	parkTimeoutNF = 1
	upcallScratch = 4096
)

// PMDStats are one PMD's counters, published at the end of each iteration.
type PMDStats struct {
	ID, Core    int
	Packets     uint64 // packets received
	CacheHits   uint64 // flow-cache hits
	Upcalls     uint64 // misses translated by the slow path
	UpcallsLost uint64 // misses dropped over the upcall budget or failed
	Malformed   uint64 // frames refused before lookup
	TxDropped   uint64 // outputs to ports that are gone
	Iterations  uint64
	Parks       uint64
	BusyNanos   uint64 // time spent in iterations that found packets
}

type pmdCounters struct {
	packets, hits, upcalls, lost, malformed, txDropped, iters, parks, busy atomic.Uint64
}

func (c *pmdCounters) load() PMDStats {
	return PMDStats{
		Packets: c.packets.Load(), CacheHits: c.hits.Load(), Upcalls: c.upcalls.Load(),
		UpcallsLost: c.lost.Load(), Malformed: c.malformed.Load(), TxDropped: c.txDropped.Load(),
		Iterations: c.iters.Load(), Parks: c.parks.Load(), BusyNanos: c.busy.Load(),
	}
}

// pmd is one poll-mode thread: it owns its flow cache, packet cache and tx
// batches, and runs each received batch to completion.
type pmd struct {
	dp   *Datapath
	id   int
	core int

	cache *Cache
	fc    *flowCache
	snap  *snapshot
	gen   uint64

	rx     Batch
	key    flowtable.Key
	tx     []Batch  // per datapath port number
	dirty  []uint32 // ports with queued packets
	upcall Upcall
	upActs []Action
	budget int

	epfd, wakefd int
	events       [16]unix.EpollEvent
	polled       []int // fds registered in epfd
	noFD         bool  // some rxq has no poll fd

	local PMDStats // counted here, published once per iteration
	stats pmdCounters

	seq    atomic.Uint64
	parked atomic.Bool
	stop   atomic.Bool
	exited atomic.Bool
	done   chan struct{}
}

func newPMD(d *Datapath, id, core int) (*pmd, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("pmd %d: epoll: %w", id, err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("pmd %d: eventfd: %w", id, err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("pmd %d: epoll add eventfd: %w", id, err)
	}
	return &pmd{
		dp: d, id: id, core: core,
		cache:  d.pool.NewCache(),
		fc:     newFlowCache(),
		upActs: make([]Action, 0, upcallScratch),
		epfd:   epfd, wakefd: wakefd,
		done: make(chan struct{}),
	}, nil
}

func (p *pmd) close() {
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}

// wake makes a parked PMD return from epoll.
func (p *pmd) wake() {
	one := [8]byte{1}
	unix.Write(p.wakefd, one[:])
}

// pin locks the goroutine to its OS thread, pins that thread to the PMD's
// core and names it, so operators (and tests) can find it in /proc.
func (p *pmd) pin() {
	runtime.LockOSThread()
	if p.core >= 0 {
		var set unix.CPUSet
		set.Set(p.core)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			slog.Warn("pmd: cannot pin to core", "pmd", p.id, "core", p.core, "err", err)
		}
	}
	name := []byte(fmt.Sprintf("pmd-c%02d\x00", p.core))
	if p.core < 0 {
		name = []byte(fmt.Sprintf("pmd-u%02d\x00", p.id))
	}
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0)
}

func (p *pmd) run() {
	// The thread stays locked until the goroutine exits, so the runtime
	// discards it rather than reusing a thread with our affinity.
	p.pin()
	defer close(p.done)
	defer p.exited.Store(true)
	defer p.cache.Flush()
	slog.Info("pmd started", "pmd", p.id, "core", p.core)

	var idleSince time.Time
	empty := 0
	for !p.stop.Load() {
		p.reload()
		start := time.Now()
		n := p.iterate()
		p.local.Iterations++
		if n > 0 {
			p.local.BusyNanos += uint64(time.Since(start))
			empty = 0
		} else {
			empty++
		}
		p.publishStats()
		p.seq.Add(1)
		if n > 0 || p.dp.cfg.PollAlways {
			continue
		}
		if empty == 1 {
			idleSince = start
		} else if empty&63 == 0 && time.Since(idleSince) > parkAfter {
			p.park()
			empty = 0
		}
	}
}

// reload picks up a new snapshot (re-registering poll fds) and drops cached
// flows when the control plane invalidated them.
func (p *pmd) reload() {
	if g := p.dp.gen.Load(); g != p.gen {
		p.gen = g
		p.fc.flush()
	}
	s := p.dp.snap.Load()
	if s == p.snap {
		return
	}
	p.snap = s
	if len(p.tx) < len(s.ports) {
		p.tx = make([]Batch, len(s.ports))
		p.dirty = make([]uint32, 0, len(s.ports))
	}
	for _, fd := range p.polled {
		unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	p.polled = p.polled[:0]
	p.noFD = false
	for _, q := range s.rxqs[p.id] {
		fd := q.port.port.PollFD(q.q)
		if fd < 0 {
			p.noFD = true
			continue
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err == nil {
			p.polled = append(p.polled, fd)
		}
	}
}

// park sleeps on epoll until a port or the control plane has work.
func (p *pmd) park() {
	timeout := parkTimeout
	if p.noFD {
		timeout = parkTimeoutNF
	}
	p.parked.Store(true)
	p.local.Parks++
	n, _ := unix.EpollWait(p.epfd, p.events[:], timeout)
	for i := 0; i < n; i++ {
		if int(p.events[i].Fd) == p.wakefd {
			var b [8]byte
			unix.Read(p.wakefd, b[:])
		}
	}
	p.parked.Store(false)
}

// iterate polls every rx queue of this PMD once and flushes tx batches.
func (p *pmd) iterate() int {
	total := 0
	p.budget = p.dp.cfg.UpcallBudget
	for _, q := range p.snap.rxqs[p.id] {
		n := q.port.port.Rx(q.q, &p.rx, p.cache)
		if n == 0 {
			continue
		}
		total += n
		p.process(q.port)
	}
	p.flush()
	return total
}

// process runs the rx batch to completion: extract, look up, upcall on a
// miss, execute.
func (p *pmd) process(in *dpPort) {
	b := &p.rx
	p.local.Packets += uint64(b.N)
	k := &p.key
	for i := 0; i < b.N; i++ {
		pkt := b.Pkts[i]
		b.Pkts[i] = nil
		pkt.InPort = in.no
		if !flowtable.Extract(pkt.Data(), in.no, k) || !validSource(&k.DlSrc) {
			in.rxErrors.Add(1)
			p.local.Malformed++
			p.cache.Put(pkt)
			continue
		}
		h := k.Hash()
		acts, ok := p.fc.lookup(k, h)
		if ok {
			p.local.CacheHits++
		} else if acts, ok = p.miss(k, h, pkt); !ok {
			p.cache.Put(pkt)
			continue
		}
		p.execute(pkt, acts)
	}
	b.N = 0
}

// miss translates k through the slow path within this iteration's budget
// and installs the result.
func (p *pmd) miss(k *flowtable.Key, h uint32, pkt *Packet) ([]Action, bool) {
	if p.budget == 0 || p.dp.up == nil {
		p.local.UpcallsLost++
		return nil, false
	}
	p.budget--
	p.upcall = Upcall{PMD: p.id, Key: k, Packet: pkt, Actions: p.upActs[:0]}
	err := p.dp.up.Upcall(&p.upcall)
	acts := p.upcall.Actions
	p.upcall = Upcall{}
	if err != nil {
		p.local.UpcallsLost++
		return nil, false
	}
	p.local.Upcalls++
	p.fc.insert(k, h, acts)
	if cap(acts) > cap(p.upActs) {
		p.upActs = acts[:0] // keep the grown scratch
	}
	return acts, true
}

// execute applies acts to pkt; outputs before the last action get a copy.
func (p *pmd) execute(pkt *Packet, acts []Action) {
	for i := range acts {
		a := &acts[i]
		if a.Kind != ActOutput {
			if !apply(a, pkt) {
				break
			}
			continue
		}
		if i == len(acts)-1 {
			p.queue(a.Port, pkt)
			return
		}
		if c := p.clone(pkt); c != nil {
			p.queue(a.Port, c)
		}
	}
	p.cache.Put(pkt)
}

func (p *pmd) clone(pkt *Packet) *Packet {
	c := p.cache.Get()
	if c == nil {
		return nil
	}
	if c.CopyFrom(pkt.Data()) != nil {
		p.cache.Put(c)
		return nil
	}
	c.InPort = pkt.InPort
	return c
}

// queue adds pkt to the tx batch of port no, sending it when full.
func (p *pmd) queue(no uint32, pkt *Packet) {
	if int(no) >= len(p.snap.ports) || p.snap.ports[no] == nil {
		p.local.TxDropped++
		p.cache.Put(pkt)
		return
	}
	b := &p.tx[no]
	if b.N == 0 {
		p.dirty = append(p.dirty, no)
	}
	b.Add(pkt)
	if b.Full() {
		p.snap.ports[no].port.Tx(p.id, b, p.cache)
	}
}

// flush sends every non-empty tx batch: one Tx call per port per iteration.
func (p *pmd) flush() {
	for _, no := range p.dirty {
		if b := &p.tx[no]; b.N > 0 {
			p.snap.ports[no].port.Tx(p.id, b, p.cache)
		}
	}
	p.dirty = p.dirty[:0]
}

func (p *pmd) publishStats() {
	l := &p.local
	s := &p.stats
	s.packets.Store(l.Packets)
	s.hits.Store(l.CacheHits)
	s.upcalls.Store(l.Upcalls)
	s.lost.Store(l.UpcallsLost)
	s.malformed.Store(l.Malformed)
	s.txDropped.Store(l.TxDropped)
	s.iters.Store(l.Iterations)
	s.parks.Store(l.Parks)
	s.busy.Store(l.BusyNanos)
}

// validSource refuses multicast and all-zero source MACs, as the Linux bridge
// does: no station sends from them, and learning them would poison the FDB.
func validSource(mac *[6]byte) bool {
	if mac[0]&1 != 0 {
		return false
	}
	return mac[0]|mac[1]|mac[2]|mac[3]|mac[4]|mac[5] != 0
}
