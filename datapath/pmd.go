package datapath

import (
	"fmt"
	"log/slog"
	"math/bits"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/flowtable"
	"vswitch/vxlan"
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
	// An empty SlowPoller queue is left alone for a gap that doubles from
	// slowPollMin to slowPollMax while it stays empty: a syscall costs
	// about a microsecond here, so an idle tap costs a busy PMD about 1%,
	// and a queue that turns busy waits at most slowPollMax.
	slowPollMin = int64(10 * time.Microsecond)
	slowPollMax = int64(100 * time.Microsecond)
	// sweepInterval is how often a PMD pushes megaflow use into refs,
	// expires idle megaflows and re-ranks its subtables.
	sweepInterval = int64(time.Second)
)

// PMDStats are one PMD's counters, published at the end of each iteration.
type PMDStats struct {
	ID, Core     int
	Packets      uint64 // packets received
	EMCHits      uint64 // exact-match cache hits
	MegaflowHits uint64 // classifier hits
	Upcalls      uint64 // misses translated by the slow path
	UpcallsLost  uint64 // misses dropped over the upcall budget or failed
	// FlowLimitHits are misses translated and forwarded but not installed:
	// the PMD held FlowLimit megaflows (OVS forwards these too).
	FlowLimitHits uint64
	Revalidations uint64 // megaflows re-translated after a change
	Malformed     uint64 // frames refused before lookup
	TxDropped     uint64 // outputs to ports that are gone, or copies without buffers
	Iterations    uint64
	Parks         uint64
	BusyNanos     uint64 // time spent in iterations that found packets
	IdleNanos     uint64 // time spent polling without finding packets
	ParkedNanos   uint64 // time spent parked on epoll
	Megaflows     uint64 // megaflows installed now
	Expired       uint64 // megaflows removed idle
	// Tunnels: encapsulations, decapsulations, encapsulated packets too
	// big for the underlay, and decapsulation drops by reason (the last
	// slot: valid but not handled, e.g. nested too deep).
	TunnelPushes, TunnelPops, TunnelMTUDrops uint64
	TunnelDrops                              [vxlan.NumDropReasons + 1]uint64
	// TunnelFragNeeded counts ICMP "fragmentation needed" sent back for
	// DF packets too big for their tunnel.
	TunnelFragNeeded uint64
}

// pmd is one poll-mode thread: it owns its megaflows, packet cache and tx
// batches, and runs each received batch to completion.
type pmd struct {
	dp   *Datapath
	id   int
	core int

	cache *Cache
	ft    flowTable
	snap  *snapshot
	gen   uint64
	now   int64 // datapath clock at the start of the iteration
	rng   uint64

	rx      Batch
	keys    [BatchSize]flowtable.Key
	hashes  [BatchSize]uint32
	handles [BatchSize]flowtable.Handle
	flowOf  [BatchSize]uint32
	tx      []Batch  // per datapath port number
	dirty   []uint32 // ports with queued packets
	upcall  Upcall
	upActs  []Action
	upRefs  []uint32
	budget  int

	recirc      Batch // decapsulated packets to classify again
	recircDepth int
	ipid        uint16 // outer IPv4 ID of encapsulations
	icmpLimit   vxlan.Limiter
	icmpInit    bool

	lastSweep int64

	// Adaptive EMC: lookups and hits since the last sweep; when under 1 in
	// 64 lookups hit (far more flows than EMC entries), only every 16th
	// batch probes the EMC, sparing the rest two cache misses per packet.
	emcLookups, emcHits uint64
	emcSparse           bool
	emcTick             uint32

	// rxNext, rxGap: per rx queue of this PMD (snapshot order), the
	// earliest time an empty slow queue is polled again, and its gap.
	rxNext, rxGap []int64
	// rxGot: packets each rx queue gave this iteration, to share the
	// iteration's busy time among them (pmd-rxq-show, cycles assignment).
	rxGot []int

	fdMu         sync.RWMutex // close against wake from the control plane
	fdClosed     bool
	epfd, wakefd int
	events       [16]unix.EpollEvent
	polled       []int // fds registered in epfd
	noFD         bool  // some rxq has no poll fd

	local   PMDStats // counted here, published once per iteration
	statsMu sync.Mutex
	stats   PMDStats
	cmds    chan func(*pmd)

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
		upActs: make([]Action, 0, upcallScratch),
		upRefs: make([]uint32, 0, 64),
		rng:    uint64(id)*0x9e3779b97f4a7c15 + 1,
		cmds:   make(chan func(*pmd), 16),
		epfd:   epfd, wakefd: wakefd,
		done: make(chan struct{}),
	}, nil
}

func (p *pmd) close() {
	p.fdMu.Lock()
	defer p.fdMu.Unlock()
	if p.fdClosed {
		return
	}
	p.fdClosed = true
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}

// wake makes a parked PMD return from epoll. A closed PMD's descriptor
// numbers may belong to another file by now: never write to them.
func (p *pmd) wake() {
	p.fdMu.RLock()
	defer p.fdMu.RUnlock()
	if p.fdClosed {
		return
	}
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
	// A guest that shrinks its shared memory under a vhost-user port
	// raises SIGBUS in this goroutine: as a panic the port recovers from
	// (and breaks that device), instead of a crash of the switch.
	debug.SetPanicOnFault(true)
	defer close(p.done)
	defer p.exited.Store(true)
	defer p.cache.Flush()
	defer runPMDExitHooks()
	defer p.retire()
	slog.Info("pmd started", "pmd", p.id, "core", p.core)

	// One clock read per iteration: the end of one is the start of the next.
	var idleSince int64
	empty := 0
	t := p.dp.now()
	for !p.stop.Load() {
		p.reload()
		start := t
		p.now = start
		if p.now-p.lastSweep > sweepInterval {
			p.sweep()
		}
		n := p.iterate()
		for len(p.cmds) > 0 {
			(<-p.cmds)(p)
		}
		p.local.Iterations++
		t = p.dp.now()
		if n > 0 {
			busy := uint64(t - start)
			p.local.BusyNanos += busy
			p.chargeRxqs(busy, n)
			empty = 0
		} else {
			p.local.IdleNanos += uint64(t - start)
			empty++
		}
		// Busy iterations publish their counters one in 16 (a lock and a
		// copy each); idle ones always, so readers see a settled count.
		if n == 0 || p.local.Iterations&15 == 0 {
			p.publishStats()
		}
		p.seq.Add(1)
		if n > 0 || p.dp.pollAlways.Load() {
			continue
		}
		if empty == 1 {
			idleSince = start
		} else if empty&63 == 0 && t-idleSince > int64(parkAfter) {
			p.park()
			empty = 0
			t = p.dp.now()
		}
	}
}

// retire runs as the PMD exits: its megaflows' last counts reach their
// rules and MACs, and its counters are published a last time.
func (p *pmd) retire() {
	for id := range p.ft.flows {
		if f := &p.ft.flows[id]; !f.dead {
			p.pushStats(f)
		}
	}
	p.publishStats()
}

// pmdExitHooks run on a PMD's own thread as it exits (a port backend
// giving back per-thread state, such as DPDK's lcore id).
var (
	pmdExitMu    sync.Mutex
	pmdExitHooks []func()
)

// OnPMDExit registers f to run on each PMD thread as it exits.
func OnPMDExit(f func()) {
	pmdExitMu.Lock()
	pmdExitHooks = append(pmdExitHooks, f)
	pmdExitMu.Unlock()
}

func runPMDExitHooks() {
	pmdExitMu.Lock()
	hooks := pmdExitHooks
	pmdExitMu.Unlock()
	for _, f := range hooks {
		f()
	}
}

// chargeRxqs shares an iteration's busy time among the rx queues that gave
// it packets, in proportion to their packets.
func (p *pmd) chargeRxqs(busy uint64, total int) {
	for i, q := range p.snap.rxqs[p.id] {
		if got := p.rxGot[i]; got > 0 && q.q < len(q.port.load.busy) {
			q.port.load.busy[q.q].Add(busy * uint64(got) / uint64(total))
		}
	}
}

// reload picks up a new snapshot (re-registering poll fds) and drops cached
// flows when the control plane invalidated them.
func (p *pmd) reload() {
	p.gen = p.dp.gen.Load()
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
	p.rxNext = make([]int64, len(s.rxqs[p.id]))
	p.rxGap = make([]int64, len(s.rxqs[p.id]))
	p.rxGot = make([]int, len(s.rxqs[p.id]))
	for _, q := range s.rxqs[p.id] {
		fd := q.port.port.PollFD(q.q)
		if fd < 0 {
			p.noFD = true
			continue
		}
		// Edge-triggered: a port's fd may stay readable after the PMD has
		// polled its queue dry (a vhost-user kick nobody reads, say); only
		// new activity should end a park. The PMD polls every queue empty
		// before it parks, so no edge is missed.
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}
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
	start := time.Now()
	n, _ := unix.EpollWait(p.epfd, p.events[:], timeout)
	p.local.ParkedNanos += uint64(time.Since(start))
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
	for i, q := range p.snap.rxqs[p.id] {
		if q.slow && p.now < p.rxNext[i] {
			p.rxGot[i] = 0
			continue
		}
		n := q.port.port.Rx(q.q, &p.rx, p.cache)
		p.rxGot[i] = n
		if n == 0 {
			if q.slow {
				p.rxGap[i] = min(max(2*p.rxGap[i], slowPollMin), slowPollMax)
				p.rxNext[i] = p.now + p.rxGap[i]
			}
			continue
		}
		p.rxGap[i] = 0
		total += n
		p.process(q.port)
	}
	p.flush()
	return total
}

// process runs the rx batch to completion: extract every key, look the
// batch up in the EMC, then in the in_port's classifier subtable by
// subtable, upcall what is left, then execute.
func (p *pmd) process(in *dpPort) {
	b := &p.rx
	n := b.N
	if c := in.capture.Load(); c != nil {
		c.tap(b, CaptureRx)
	}
	p.local.Packets += uint64(n)
	var pending uint64
	useEMC := p.dp.emcInv.Load() != 0
	if useEMC && p.emcSparse {
		p.emcTick++
		useEMC = p.emcTick&15 == 0
	}
	if useEMC {
		p.emcLookups += uint64(n)
	}
	for i := 0; i < n; i++ {
		pkt := b.Pkts[i]
		pkt.InPort = in.no
		k := &p.keys[i]
		if !flowtable.Extract(pkt.Data(), in.no, k) || !validSource(&k.DlSrc) {
			in.rxErrors.Add(1)
			p.local.Malformed++
			p.cache.Put(pkt)
			b.Pkts[i] = nil
			continue
		}
		if pkt.Tun.Valid {
			k.TunID, k.TunSrc, k.TunDst = pkt.Tun.ID, pkt.Tun.Src, pkt.Tun.Dst
		}
		h := k.Hash()
		p.hashes[i] = h
		pkt.hash = h
		if useEMC {
			if v := p.ft.emc.Lookup(k, h); v != 0 && p.usable(v-1) {
				p.flowOf[i] = v - 1
				p.local.EMCHits++
				p.emcHits++
				continue
			}
		}
		pending |= 1 << i
	}
	if pending != 0 {
		if c := p.ft.classifier(in.no); c != nil {
			miss := c.LookupBatch(p.keys[:n], pending, p.handles[:])
			for m := pending &^ miss; m != 0; m &= m - 1 {
				i := bits.TrailingZeros64(m)
				id := c.Value(p.handles[i])
				if !p.usable(id) {
					miss |= 1 << i
					continue
				}
				p.flowOf[i] = id
				p.local.MegaflowHits++
				p.maybeEMC(i, id)
			}
			pending = miss
		}
		for m := pending; m != 0; m &= m - 1 {
			i := bits.TrailingZeros64(m)
			if !p.resolve(i) {
				p.cache.Put(b.Pkts[i])
				b.Pkts[i] = nil
			}
		}
	}
	for i := 0; i < n; i++ {
		pkt := b.Pkts[i]
		if pkt == nil {
			continue
		}
		b.Pkts[i] = nil
		f := &p.ft.flows[p.flowOf[i]]
		f.packets++
		f.bytes += uint64(pkt.Len())
		f.used = p.now
		p.execute(pkt, p.ft.acts.get(f.acts))
	}
	b.N = 0
	if p.recirc.N > 0 {
		p.recirculate()
	}
}

// maybeEMC inserts a classifier hit into the EMC with the configured
// probability (1 in EMCInsertInvProb; 0 disables).
func (p *pmd) maybeEMC(i int, id uint32) {
	inv := p.dp.emcInv.Load()
	if inv == 0 {
		return
	}
	if inv > 1 {
		p.rng ^= p.rng << 13
		p.rng ^= p.rng >> 7
		p.rng ^= p.rng << 17
		if p.rng%uint64(inv) != 0 {
			return
		}
	}
	p.ft.emc.Insert(&p.keys[i], p.hashes[i], id+1)
}

// usable reports whether megaflow id may forward now, revalidating it first
// if the control plane changed anything since it was computed.
func (p *pmd) usable(id uint32) bool {
	f := &p.ft.flows[id]
	if f.dead {
		return false
	}
	if f.gen == p.gen {
		return true
	}
	return p.revalidate(id)
}

// revalidate re-translates a megaflow's masked key. The flow survives if the
// new translation consults no field the megaflow wildcards (then it covers
// only packets that translate alike); its actions are replaced.
func (p *pmd) revalidate(id uint32) bool {
	f := &p.ft.flows[id]
	c := p.ft.cls[f.inPort]
	key := c.Key(f.h)
	key.InPort = f.inPort
	mask := c.Mask(f.h)
	p.local.Revalidations++
	acts, refs, wc, gen, err := p.translate(&key, nil)
	f = &p.ft.flows[id]
	if err != nil || !flowtable.Subset(&wc, &mask) {
		p.pushStats(f)
		p.ft.kill(id)
		return false
	}
	p.ft.setActions(id, acts, refs)
	f.gen = gen
	return true
}

// resolve finds or makes the megaflow for packet i after an EMC and
// classifier miss: an upcall earlier in this batch may already cover it.
func (p *pmd) resolve(i int) bool {
	k := &p.keys[i]
	if c := p.ft.classifier(k.InPort); c != nil {
		if h, ok := c.Lookup(k); ok {
			if id := c.Value(h); p.usable(id) {
				p.flowOf[i] = id
				p.local.MegaflowHits++
				return true
			}
		}
	}
	if p.budget == 0 || p.dp.up == nil {
		p.local.UpcallsLost++
		return false
	}
	p.budget--
	acts, refs, wc, gen, err := p.translate(k, p.rx.Pkts[i])
	if err != nil {
		p.local.UpcallsLost++
		return false
	}
	p.local.Upcalls++
	if p.ft.live >= p.dp.cfg.FlowLimit {
		// Full: forward this packet by its translation, install nothing
		// (the batch's execute loop skips the emptied slot).
		p.local.FlowLimitHits++
		pkt := p.rx.Pkts[i]
		p.rx.Pkts[i] = nil
		p.execute(pkt, acts)
		return true
	}
	wc.InPort = ^uint32(0)
	masked := *k
	flowtable.ApplyMask(&masked, &wc)
	id := p.ft.install(&masked, &wc, acts, refs, gen, p.now)
	p.flowOf[i] = id
	p.maybeEMC(i, id)
	return true
}

// translate runs the slow path for key. It returns the generation read
// before translating: a flow stamped with it is revalidated if anything
// changed while it was being computed.
func (p *pmd) translate(key *flowtable.Key, pkt *Packet) ([]Action, []uint32, flowtable.Key, uint64, error) {
	p.upcall = Upcall{PMD: p.id, Key: key, Packet: pkt, Actions: p.upActs[:0], Refs: p.upRefs[:0]}
	gen := p.dp.gen.Load()
	err := p.dp.up.Upcall(&p.upcall)
	u := &p.upcall
	acts, refs, wc := u.Actions, u.Refs, u.Mask
	if cap(acts) > cap(p.upActs) {
		p.upActs = acts[:0]
	}
	if cap(refs) > cap(p.upRefs) {
		p.upRefs = refs[:0]
	}
	*u = Upcall{}
	// A change made meanwhile (perhaps by this very upcall learning a MAC)
	// applies to every later hit in this iteration.
	p.gen = p.dp.gen.Load()
	return acts, refs, wc, gen, err
}

// execute applies acts to pkt; outputs before the last action get a copy.
func (p *pmd) execute(pkt *Packet, acts []Action) {
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case ActUserspace:
			if pu := p.dp.punter; pu != nil {
				pu.Punt(a.Arg, pkt.InPort, pkt.Data())
			}
			continue
		case ActTunnelPush:
			if i == len(acts)-1 {
				p.tunnelPush(a, pkt)
				return
			}
			if c := p.clone(pkt); c != nil {
				c.hash = pkt.hash
				p.tunnelPush(a, c)
			} else {
				p.local.TxDropped++
			}
			continue
		case ActTunnelPop:
			p.tunnelPop(a, pkt)
			return
		}
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
	c.InPort, c.Tun = pkt.InPort, pkt.Tun
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
		p.txOut(no, b)
	}
}

// flush sends every non-empty tx batch: one Tx call per port per iteration.
func (p *pmd) flush() {
	for _, no := range p.dirty {
		if b := &p.tx[no]; b.N > 0 {
			p.txOut(no, b)
		}
	}
	p.dirty = p.dirty[:0]
}

// publishStats makes the PMD's counters visible to the control plane.
func (p *pmd) publishStats() {
	p.local.Megaflows = uint64(p.ft.live)
	p.statsMu.Lock()
	p.stats = p.local
	p.statsMu.Unlock()
}

// validSource refuses multicast and all-zero source MACs, as the Linux bridge
// does: no station sends from them, and learning them would poison the FDB.
func validSource(mac *[6]byte) bool {
	if mac[0]&1 != 0 {
		return false
	}
	return mac[0]|mac[1]|mac[2]|mac[3]|mac[4]|mac[5] != 0
}

// sweep pushes each megaflow's use and new counts to its refs (so MACs and
// rules stay alive and counted), removes megaflows idle longer than the
// idle timeout, purges the EMC of dead flows and re-ranks subtables.
func (p *pmd) sweep() {
	idle := int64(p.dp.cfg.FlowIdle)
	for id := range p.ft.flows {
		f := &p.ft.flows[id]
		if f.dead {
			continue
		}
		p.pushStats(f)
		if p.now-f.used > idle {
			p.ft.kill(uint32(id))
			p.local.Expired++
		}
	}
	p.ft.sweepEMC()
	p.emcSparse = p.emcLookups >= 10000 && p.emcHits*64 < p.emcLookups
	p.emcLookups, p.emcHits = 0, 0
	for _, c := range p.ft.cls {
		if c != nil {
			c.Rank()
		}
	}
	p.lastSweep = p.now
}

// pushStats hands a megaflow's use and counts since the last push to its refs.
func (p *pmd) pushStats(f *megaflow) {
	dp, db := f.packets-f.pushedP, f.bytes-f.pushedB
	if dp == 0 && f.used <= p.lastSweep {
		return
	}
	for _, r := range p.ft.refs.get(f.refs) {
		p.dp.push(r, f.used, dp, db)
	}
	f.pushedP, f.pushedB = f.packets, f.bytes
}

// txOut sends a tx batch, through the port's capture if one runs.
func (p *pmd) txOut(no uint32, b *Batch) {
	dp := p.snap.ports[no]
	if c := dp.capture.Load(); c != nil {
		c.tap(b, CaptureTx)
	}
	dp.port.Tx(p.id, b, p.cache)
}
