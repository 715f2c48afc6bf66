package datapath

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"vswitch/flowtable"
)

// MaxPorts bounds datapath port numbers (shared by all bridges).
const MaxPorts = 1 << 16

// Upcall is what a PMD hands the slow path on a megaflow miss, or to
// revalidate a megaflow (then Packet is nil and Key is its masked key). The
// slow path appends the datapath actions for Key to Actions, sets in Mask
// every key bit it consulted (the megaflow's mask) and appends to Refs the
// refs its decision depends on (rules, learned MACs). It must not keep any
// of these pointers after returning.
type Upcall struct {
	PMD     int
	Key     *flowtable.Key
	Packet  *Packet
	Actions []Action
	Mask    flowtable.Key
	Refs    []uint32
}

// Upcaller translates a missed packet through the OpenFlow pipeline.
type Upcaller interface {
	Upcall(u *Upcall) error
}

// Punter receives the packets flows send to the control plane (controller
// actions). Punt runs on a PMD: it must copy what it keeps and must never
// block, so a slow consumer costs drops, not forwarding.
type Punter interface {
	Punt(cookie uint64, inPort uint32, frame []byte)
}

// Config sets up a datapath.
type Config struct {
	// PMDCores lists the CPU each PMD is pinned to; -1 leaves one unpinned.
	PMDCores []int
	// MemBytes is the packet arena size.
	MemBytes int
	// PollAlways disables idle parking (OVS's behaviour: burn the core).
	PollAlways bool
	// UpcallBudget caps upcalls per PMD iteration (default 64); packets
	// over it are dropped and counted as lost upcalls.
	UpcallBudget int
	// FlowLimit caps megaflows per PMD (default 200000, as OVS).
	FlowLimit int
	// FlowIdle is how long an unused megaflow stays (default 10 s).
	FlowIdle time.Duration
	// RxqAssign is how rx queues are spread over PMDs.
	RxqAssign RxqAssign
	// EMCInsertInvProb: a megaflow hit is put in the EMC with probability
	// 1/EMCInsertInvProb (default 100; 1 always; set EMCDisabled to never).
	EMCInsertInvProb int
}

// EMCDisabled as Config.EMCInsertInvProb turns the EMC off.
const EMCDisabled = -1

// Datapath is the one datapath of a vswitchd: the ports of every bridge,
// numbered datapath-wide, and the PMDs that poll them.
type Datapath struct {
	cfg   Config
	arena *Arena
	pool  *Pool
	up    Upcaller
	// punter takes controller-action packets; set before Start.
	punter Punter
	// injectMu serialises control-plane transmissions, which share one
	// tx queue per port (queue len(pmds)).
	injectMu sync.Mutex
	tunnels  tunnelTable

	mu    sync.Mutex // serialises control-plane changes
	ports map[uint32]*dpPort
	snap  atomic.Pointer[snapshot]
	// nPMD is len(pmds) for readers without mu (Inject's tx queue).
	nPMD atomic.Int32
	// pollAlways is cfg.PollAlways, changeable while the PMDs run.
	pollAlways atomic.Bool
	gen        atomic.Uint64
	pmds       []*pmd
	refs       *refTable

	emcInv atomic.Uint32 // EMC insertion inverse probability; 0 disables

	started    bool
	stopLoad   chan struct{} // stops the rx queue load sampler
	lastSample time.Time
}

// dpPort is a port as the datapath holds it.
type dpPort struct {
	no   uint32
	port Port
	// rxErrors counts frames the datapath refused (too short to classify,
	// invalid source MAC): the backend delivered them, we dropped them.
	rxErrors atomic.Uint64
	// capture, when set, copies the port's frames (portcap.go).
	capture atomic.Pointer[Capture]
	// load is the per-rx-queue busy time (rxq.go).
	load rxLoad
}

// snapshot is the immutable view PMDs run on; replaced, never mutated.
type snapshot struct {
	ports []*dpPort // indexed by port number; nil gaps
	rxqs  [][]rxq   // per PMD
}

type rxq struct {
	port *dpPort
	q    int
	slow bool // a SlowPoller: polled at most every slowPollGap while empty
}

// New maps the packet arena and prepares (but does not start) the PMDs.
func New(cfg Config, up Upcaller) (*Datapath, error) {
	if len(cfg.PMDCores) == 0 {
		return nil, errors.New("datapath: at least one PMD core is required")
	}
	if cfg.UpcallBudget <= 0 {
		cfg.UpcallBudget = 64
	}
	if cfg.FlowLimit <= 0 {
		cfg.FlowLimit = 200000
	}
	if cfg.FlowIdle <= 0 {
		cfg.FlowIdle = 10 * time.Second
	}
	switch {
	case cfg.EMCInsertInvProb == 0:
		cfg.EMCInsertInvProb = 100
	case cfg.EMCInsertInvProb < 0:
		cfg.EMCInsertInvProb = 0
	}
	arena, err := NewArena(cfg.MemBytes)
	if err != nil {
		return nil, err
	}
	d := &Datapath{cfg: cfg, arena: arena, pool: NewPool(arena), up: up, ports: map[uint32]*dpPort{}, refs: newRefTable()}
	d.emcInv.Store(uint32(cfg.EMCInsertInvProb))
	d.snap.Store(&snapshot{rxqs: make([][]rxq, len(cfg.PMDCores))})
	for i, core := range cfg.PMDCores {
		p, err := newPMD(d, i, core)
		if err != nil {
			d.closePMDs()
			arena.Close()
			return nil, err
		}
		d.pmds = append(d.pmds, p)
	}
	d.nPMD.Store(int32(len(d.pmds)))
	d.pollAlways.Store(cfg.PollAlways)
	return d, nil
}

// SetUpcaller sets the slow path; call it before Start.
func (d *Datapath) SetUpcaller(u Upcaller) { d.up = u }

// SetPunter sets where controller-action packets go; call it before Start.
func (d *Datapath) SetPunter(p Punter) { d.punter = p }

// Arena returns the packet arena (to report hugepage use, register UMEMs).
func (d *Datapath) Arena() *Arena { return d.arena }

// Pool returns the packet pool.
func (d *Datapath) Pool() *Pool { return d.pool }

// Start launches the PMD goroutines. GOMAXPROCS is raised to PMDs+1 so the
// control plane always has a thread.
func (d *Datapath) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return
	}
	d.started = true
	if want := len(d.pmds) + 1; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
	for _, p := range d.pmds {
		go p.run()
	}
	d.lastSample = time.Now()
	d.stopLoad = make(chan struct{})
	go d.sampler(d.stopLoad)
}

// Stop stops the PMDs, closes every port and unmaps the arena.
func (d *Datapath) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopLoad != nil {
		close(d.stopLoad)
		d.stopLoad = nil
	}
	for _, p := range d.pmds {
		p.stop.Store(true)
		p.wake()
	}
	if d.started {
		for _, p := range d.pmds {
			<-p.done
		}
	}
	for no, p := range d.ports {
		p.port.Close()
		delete(d.ports, no)
	}
	d.closePMDs()
	d.arena.Close()
}

func (d *Datapath) closePMDs() {
	for _, p := range d.pmds {
		p.close()
	}
}

// AddPort gives p the lowest free datapath port number and starts polling it.
func (d *Datapath) AddPort(p Port) (uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for no := uint32(1); no < MaxPorts; no++ {
		if _, used := d.ports[no]; !used {
			d.ports[no] = &dpPort{no: no, port: p, load: newRxLoad(p.RxQueues())}
			d.publish()
			return no, nil
		}
	}
	return 0, fmt.Errorf("datapath: all %d port numbers in use", MaxPorts-1)
}

// RemovePort stops polling a port, waits until no PMD can touch it, then
// closes it.
func (d *Datapath) RemovePort(no uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.ports[no]
	if !ok {
		return fmt.Errorf("datapath: no port %d", no)
	}
	delete(d.ports, no)
	d.publish()
	d.synchronize()
	return p.port.Close()
}

// PortStats returns a port's backend counters plus the datapath's own.
func (d *Datapath) PortStats(no uint32) (PortStats, bool) {
	s := d.snap.Load()
	if int(no) >= len(s.ports) || s.ports[no] == nil {
		return PortStats{}, false
	}
	p := s.ports[no]
	st := p.port.Stats()
	st.RxErrors += p.rxErrors.Load()
	return st, true
}

// Invalidate marks every installed megaflow for revalidation before its next
// use. It does not wait, so PMDs call it (MAC learning in an upcall).
func (d *Datapath) Invalidate() { d.gen.Add(1) }

// Revalidate is Invalidate for the control plane: when it returns, every PMD
// has started a new iteration, so no packet is forwarded by a megaflow
// computed before the change without being revalidated first.
func (d *Datapath) Revalidate() {
	d.gen.Add(1)
	d.mu.Lock()
	d.synchronize()
	d.mu.Unlock()
}

// SetPollAlways switches idle parking off (true: an idle PMD keeps polling,
// as OVS's do) or on, at once: parked PMDs are woken to start polling.
func (d *Datapath) SetPollAlways(on bool) {
	d.pollAlways.Store(on)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.pmds {
		p.wake()
	}
}

// SetEMCInsertInvProb changes the EMC insertion probability (1/n; 0 disables).
func (d *Datapath) SetEMCInsertInvProb(n int) { d.emcInv.Store(uint32(max(n, 0))) }

// Inject sends a packet (taken from Pool().Get) out of a port from the
// control plane; the port's tx queue len(PMDs) is reserved for that.
func (d *Datapath) Inject(no uint32, pkt *Packet) error {
	s := d.snap.Load()
	if int(no) >= len(s.ports) || s.ports[no] == nil {
		d.pool.Put(pkt)
		return fmt.Errorf("datapath: no port %d", no)
	}
	c := d.pool.NewCache()
	var b Batch
	b.Add(pkt)
	d.injectMu.Lock()
	if cp := s.ports[no].capture.Load(); cp != nil {
		cp.tap(&b, CaptureTx)
	}
	s.ports[no].port.Tx(int(d.nPMD.Load()), &b, c)
	d.injectMu.Unlock()
	c.Flush()
	return nil
}

// publish builds a new snapshot from d.ports, assigning rx queues to PMDs
// (rxq.go), and wakes parked PMDs to pick it up.
func (d *Datapath) publish() {
	max := uint32(0)
	for no := range d.ports {
		max = maxU32(max, no)
	}
	s := &snapshot{ports: make([]*dpPort, max+1)}
	for no, p := range d.ports {
		s.ports[no] = p
	}
	s.rxqs = assign(d.ports, max, len(d.pmds), d.cfg.RxqAssign)
	if mid := withoutMoved(d.snap.Load(), s); mid != nil && d.started {
		// A queue changing PMD must never be polled by both (backends keep
		// per-queue state without locks): first nobody polls it, and once
		// every PMD has finished the iteration it was in, its new PMD does.
		d.snap.Store(mid)
		d.synchronize()
	}
	d.snap.Store(s)
	d.Invalidate()
	for _, p := range d.pmds {
		p.wake()
	}
}

// withoutMoved returns next with the queues that old and next assign to
// different PMDs left out, or nil when no queue moves.
func withoutMoved(old, next *snapshot) *snapshot {
	type qid struct {
		port *dpPort
		q    int
	}
	was := map[qid]int{}
	for pmd, qs := range old.rxqs {
		for _, q := range qs {
			was[qid{q.port, q.q}] = pmd
		}
	}
	moved := false
	mid := &snapshot{ports: next.ports, rxqs: make([][]rxq, len(next.rxqs))}
	for pmd, qs := range next.rxqs {
		for _, q := range qs {
			if prev, ok := was[qid{q.port, q.q}]; ok && prev != pmd {
				moved = true
				continue
			}
			mid.rxqs[pmd] = append(mid.rxqs[pmd], q)
		}
	}
	if !moved {
		return nil
	}
	return mid
}

// synchronize returns once every PMD has finished an iteration begun after
// the last publish, or is parked (a parked PMD reloads before touching ports).
func (d *Datapath) synchronize() {
	if !d.started {
		return
	}
	seqs := make([]uint64, len(d.pmds))
	for i, p := range d.pmds {
		seqs[i] = p.seq.Load()
	}
	for i, p := range d.pmds {
		for p.seq.Load() < seqs[i]+2 && !p.parked.Load() && !p.exited.Load() {
			p.wake()
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// PMDStats returns each PMD's counters.
func (d *Datapath) PMDStats() []PMDStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]PMDStats, len(d.pmds))
	for i, p := range d.pmds {
		p.statsMu.Lock()
		out[i] = p.stats
		p.statsMu.Unlock()
		out[i].ID = i
		out[i].Core = p.core
	}
	return out
}

func maxU32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}
