//go:build dpdk

package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"vswitch/datapath"
)

// Limits on the port options.
const (
	MaxQueues   = 64
	MinDesc     = 64
	MaxDesc     = 8192
	DefaultDesc = 1024
)

// Config is one dpdk port.
type Config struct {
	Name    string
	Devargs string // PCI address or vdev string, as rte_dev_probe takes it
	// RxQueues/TxQueues: 0 means 1 rx queue and one tx queue per CPU
	// (plus one for the control plane), bounded by the device.
	RxQueues, TxQueues int
	RxDesc, TxDesc     int // 0 means DefaultDesc
	MTU                int // 0 leaves the device's MTU
	Pool               *datapath.Pool
	// Buffers is BuffersMbuf or BuffersCopy; "" means DefaultBuffers.
	Buffers string
}

// DefaultBuffers is the strategy that measured faster (docs/dpdk.md).
const DefaultBuffers = BuffersMbuf

// rxq is one rx queue's state; only the PMD polling the queue touches it.
type rxq struct {
	// stash holds packets taken from the PMD's cache ahead of the burst,
	// so a burst can copy straight into them; empty polls cost no Get/Put.
	stash [datapath.BatchSize]*datapath.Packet
	ns    int
	dst   [datapath.BatchSize]uintptr
	lens  [datapath.BatchSize]uint32
	big   C.uint32_t
	mq    *mbufQ   // set in mbuf mode
	_     [64]byte // keep queues polled by different PMDs off one cache line
}

// txq is one tx queue; PMDs whose index maps to the same queue share it
// under its lock (uncontended when each PMD has its own queue).
type txq struct {
	mu     sync.Mutex
	ent    [datapath.BatchSize]C.struct_vs_txe
	nombuf C.uint32_t // in the struct: a local passed to C escapes
	_      [64]byte
}

// Port is an open dpdk port.
type Port struct {
	name, devargs, driver, devName string
	id                             C.uint16_t
	mp                             *C.struct_rte_mempool
	rxqs                           []rxq
	txqs                           []txq
	nrxd, ntxd                     int
	pool                           *datapath.Pool
	buffers                        string

	// Counted here: what the ethdev never saw (frames too large for a
	// datapath buffer, bursts that found no mbuf or a full tx queue).
	rxDropped, rxTruncated, txDropped atomic.Uint64
	closed                            atomic.Bool
}

var poolSeq atomic.Uint64

// Open probes cfg.Devargs, configures its queues and starts it. On any
// error nothing is left behind: the device is closed and detached.
func Open(cfg Config) (*Port, error) {
	if cfg.Pool == nil {
		return nil, fmt.Errorf("%s: no datapath pool", who(cfg.Name))
	}
	if cfg.Devargs == "" {
		return nil, fmt.Errorf("%s: options:dpdk-devargs is required (a PCI address such as 0000:01:00.0 or a vdev such as net_null0)", who(cfg.Name))
	}
	if err := checkBuffers(&cfg); err != nil {
		return nil, err
	}
	var p *Port
	var err error
	if e := onCtl(func() { p, err = open(cfg) }); e != nil {
		return nil, fmt.Errorf("%s: %w", who(cfg.Name), e)
	}
	return p, err
}

// inUse maps the ethdev port ids of open ports to their interface names;
// only the control thread touches it.
var inUse = map[C.uint16_t]string{}

// probe probes devargs and reads the device's limits. fresh is false when
// the device was probed already (by an open port).
func probe(name, devargs string) (id C.uint16_t, vi C.struct_vs_info, err error) {
	cs := C.CString(devargs)
	defer C.free(unsafe.Pointer(cs))
	r := C.vs_probe(cs)
	if r < 0 {
		return 0, vi, fmt.Errorf("%s: dpdk-devargs %q: cannot probe the device: %s", who(name), devargs, strerror(r))
	}
	id = C.uint16_t(r)
	if r := C.vs_info(id, &vi); r < 0 {
		if _, used := inUse[id]; !used {
			C.vs_close(id, 0)
		}
		return 0, vi, fmt.Errorf("%s: device info: %s", who(name), strerror(r))
	}
	return id, vi, nil
}

// queues resolves the queue counts against the device's limits.
func queues(cfg Config, vi *C.struct_vs_info) (nrx, ntx int, err error) {
	nrx, ntx = cfg.RxQueues, cfg.TxQueues
	if nrx == 0 {
		nrx = 1
	}
	if ntx == 0 {
		ntx = min(int(vi.max_txq), numCPU()+1)
	}
	dev, drv := C.GoString(&vi.name[0]), C.GoString(&vi.driver[0])
	if nrx > int(vi.max_rxq) {
		return 0, 0, fmt.Errorf("%s: n_rxq %d: device %s (%s) has at most %d rx queues", who(cfg.Name), nrx, dev, drv, vi.max_rxq)
	}
	if ntx > int(vi.max_txq) {
		return 0, 0, fmt.Errorf("%s: n_txq %d: device %s (%s) has at most %d tx queues", who(cfg.Name), ntx, dev, drv, vi.max_txq)
	}
	return nrx, ntx, nil
}

// Check probes cfg.Devargs and checks the queue counts against the device,
// then detaches the device again (unless an open port uses it), so a bad
// interface is refused before the bridge stores it.
func Check(cfg Config) error {
	err := checkBuffers(&cfg)
	if err != nil {
		return err
	}
	if e := onCtl(func() {
		var id C.uint16_t
		var vi C.struct_vs_info
		if id, vi, err = probe(cfg.Name, cfg.Devargs); err != nil {
			return
		}
		_, _, err = queues(cfg, &vi)
		if _, used := inUse[id]; !used {
			C.vs_close(id, 0)
		}
	}); e != nil {
		return fmt.Errorf("%s: %w", who(cfg.Name), e)
	}
	return err
}

func open(cfg Config) (*Port, error) {
	id, vi, err := probe(cfg.Name, cfg.Devargs)
	if err != nil {
		return nil, err
	}
	if other, used := inUse[id]; used {
		return nil, fmt.Errorf("%s: dpdk-devargs %q: device %s is already used by interface %s", who(cfg.Name), cfg.Devargs, C.GoString(&vi.name[0]), other)
	}
	p := &Port{name: cfg.Name, devargs: cfg.Devargs, id: id, pool: cfg.Pool, buffers: cfg.Buffers,
		driver: C.GoString(&vi.driver[0]), devName: C.GoString(&vi.name[0])}
	fail := func(err error) (*Port, error) {
		C.vs_close(id, 0)
		if p.mp != nil {
			C.vs_pool_free(p.mp)
		}
		return nil, err
	}
	nrx, ntx, err := queues(cfg, &vi)
	if err != nil {
		return fail(err)
	}
	nrxd, ntxd := C.uint16_t(orDefault(cfg.RxDesc)), C.uint16_t(orDefault(cfg.TxDesc))
	// Enough mbufs for every descriptor, the per-lcore caches and bursts
	// in flight (in mbuf mode, every packet descriptor of the rx queues).
	n := nrx*int(nrxd) + ntx*int(ntxd) + 256*(numCPU()+2) + 4*datapath.BatchSize + nrx*rxDescs
	pname := C.CString(fmt.Sprintf("vs%d_%d", id, poolSeq.Add(1)))
	defer C.free(unsafe.Pointer(pname))
	p.mp = C.vs_pool(pname, C.uint(n), vi.socket)
	if p.mp == nil {
		return fail(fmt.Errorf("%s: cannot allocate %d mbufs: %s; %s", who(cfg.Name), n, strerror(C.vs_errno()), hugepageHint(ealArgs)))
	}
	var stage C.int
	r := C.vs_setup(id, C.uint16_t(nrx), C.uint16_t(ntx), &nrxd, &ntxd, C.uint16_t(cfg.MTU), p.mp, &stage)
	if r < 0 && stage == 1 && cfg.TxQueues == 0 && ntx != nrx {
		// Some drivers (net_tap) want as many tx as rx queues: the tx
		// queue count was ours to choose, so match.
		ntx = nrx
		r = C.vs_setup(id, C.uint16_t(nrx), C.uint16_t(ntx), &nrxd, &ntxd, C.uint16_t(cfg.MTU), p.mp, &stage)
	}
	if r < 0 {
		what := [...]string{"device info", "configure", "descriptor counts", "set mtu " + strconv.Itoa(cfg.MTU), "rx queue setup", "tx queue setup", "start"}[stage]
		return fail(fmt.Errorf("%s: %s: %s", who(cfg.Name), what, strerror(r)))
	}
	inUse[id] = cfg.Name
	p.rxqs = make([]rxq, nrx)
	if p.buffers == BuffersMbuf {
		for i := range p.rxqs {
			p.rxqs[i].mq = newMbufQ()
		}
	}
	p.txqs = make([]txq, ntx)
	p.nrxd, p.ntxd = int(nrxd), int(ntxd)
	return p, nil
}

// checkBuffers resolves cfg.Buffers, refusing an unknown strategy.
func checkBuffers(cfg *Config) error {
	switch cfg.Buffers {
	case "":
		cfg.Buffers = DefaultBuffers
	case BuffersMbuf, BuffersCopy:
	default:
		return fmt.Errorf("%s: dpdk-buffers %q: want %s or %s", who(cfg.Name), cfg.Buffers, BuffersMbuf, BuffersCopy)
	}
	return nil
}

// who names the port in errors ("dpdk NAME", or "dpdk" while checking).
func who(name string) string {
	if name == "" {
		return "dpdk"
	}
	return "dpdk " + name
}

func orDefault(n int) int {
	if n == 0 {
		return DefaultDesc
	}
	return n
}

// Name returns the interface name.
func (p *Port) Name() string { return p.name }

// RxQueues is n_rxq.
func (p *Port) RxQueues() int { return len(p.rxqs) }

// TxQueues is n_txq.
func (p *Port) TxQueues() int { return len(p.txqs) }

// PollFD is -1: DPDK vdevs and most PMDs raise no rx interrupt, so a PMD
// polling this port parks for at most a millisecond.
func (p *Port) PollFD(int) int { return -1 }

// Rx receives one burst on queue q: as mbuf-backed packets, or copied
// into packets from c.
func (p *Port) Rx(q int, b *datapath.Batch, c *datapath.Cache) int {
	rq := &p.rxqs[q]
	if rq.mq != nil {
		return p.rxMbuf(q, b)
	}
	want := datapath.BatchSize - b.N
	for rq.ns < want {
		pk := c.Get()
		if pk == nil {
			break
		}
		rq.stash[rq.ns] = pk
		rq.ns++
	}
	n := min(want, rq.ns)
	if n == 0 {
		return 0
	}
	// The stash is used from its top, so what is left stays contiguous.
	base := rq.ns - n
	for i := 0; i < n; i++ {
		rq.dst[i] = uintptr(unsafe.Pointer(&rq.stash[base+i].Frame()[datapath.Headroom]))
	}
	got := int(C.vs_rx(p.id, C.uint16_t(q), (*C.uintptr_t)(unsafe.Pointer(&rq.dst[0])), C.uint32_t(datapath.MaxData),
		(*C.uint32_t)(unsafe.Pointer(&rq.lens[0])), C.uint16_t(n), &rq.big))
	if rq.big > 0 {
		p.rxDropped.Add(uint64(rq.big))
		p.rxTruncated.Add(uint64(rq.big))
	}
	for i := 0; i < got; i++ {
		pk := rq.stash[base+i]
		pk.SetData(datapath.Headroom, int(rq.lens[i]))
		b.Pkts[b.N] = pk
		b.N++
	}
	// Unused stash entries above the delivered ones move down.
	copy(rq.stash[base:], rq.stash[base+got:rq.ns])
	rq.ns -= got
	return got
}

// Stats are the ethdev's counters (rte_eth_stats) plus what this port
// dropped before the device saw it.
func (p *Port) Stats() datapath.PortStats {
	var s C.struct_rte_eth_stats
	var r C.int
	if p.closed.Load() || onCtl(func() { r = C.vs_stats(p.id, &s) }) != nil || r < 0 {
		return datapath.PortStats{}
	}
	return datapath.PortStats{
		RxPackets:   uint64(s.ipackets),
		RxBytes:     uint64(s.ibytes),
		RxDropped:   uint64(s.imissed) + uint64(s.rx_nombuf) + p.rxDropped.Load(),
		RxErrors:    uint64(s.ierrors),
		RxTruncated: p.rxTruncated.Load(),
		TxPackets:   uint64(s.opackets),
		TxBytes:     uint64(s.obytes),
		TxDropped:   p.txDropped.Load(),
		TxErrors:    uint64(s.oerrors),
	}
}

// Status implements datapath.StatusReporter: the device, its link and its
// non-zero extended statistics (rte_eth_xstats), as OVS shows them.
func (p *Port) Status() map[string]string {
	st := map[string]string{
		"dpdk_devargs": p.devargs, "driver": p.driver, "device": p.devName,
		"port_id": strconv.Itoa(int(p.id)),
		"n_rxq":   strconv.Itoa(len(p.rxqs)), "n_txq": strconv.Itoa(len(p.txqs)),
		"n_rxq_desc": strconv.Itoa(p.nrxd), "n_txq_desc": strconv.Itoa(p.ntxd),
		"dpdk_buffers": p.buffers,
	}
	if p.closed.Load() {
		return st
	}
	onCtl(func() {
		var l C.struct_vs_link
		if C.vs_link(p.id, &l) == 0 {
			st["link_state"] = map[bool]string{true: "up", false: "down"}[l.up != 0]
			if l.up != 0 {
				st["link_speed"] = fmt.Sprintf("%dMbps", uint32(l.speed))
				st["link_duplex"] = map[bool]string{true: "full", false: "half"}[l.duplex != 0]
			}
		}
		for k, v := range xstats(p.id) {
			if v != 0 {
				st["xstat_"+k] = strconv.FormatUint(v, 10)
			}
		}
	})
	return st
}

// XStats returns every extended statistic of the device.
func (p *Port) XStats() map[string]uint64 {
	var m map[string]uint64
	if !p.closed.Load() {
		onCtl(func() { m = xstats(p.id) })
	}
	return m
}

func xstats(id C.uint16_t) map[string]uint64 {
	n := int(C.vs_xstats_count(id))
	if n <= 0 {
		return nil
	}
	names := make([]C.struct_rte_eth_xstat_name, n)
	vals := make([]C.uint64_t, n)
	got := int(C.vs_xstats(id, &names[0], &vals[0], C.int(n)))
	m := make(map[string]uint64, max(got, 0))
	for i := 0; i < got; i++ {
		m[C.GoString(&names[i].name[0])] = uint64(vals[i])
	}
	return m
}

// Close stops, closes and detaches the device and frees its mbufs; the
// datapath calls it after every PMD stopped using the port.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	for i := range p.rxqs {
		rq := &p.rxqs[i]
		for j := 0; j < rq.ns; j++ {
			p.pool.Put(rq.stash[j])
			rq.stash[j] = nil
		}
		rq.ns = 0
		if m := rq.mq; m != nil && m.nrel > 0 {
			C.vs_free_bulk(&m.rel[0], C.uint(m.nrel))
			m.nrel = 0
		}
	}
	return onCtl(func() {
		delete(inUse, p.id)
		C.vs_close(p.id, 1)
		if p.buffers == BuffersCopy {
			// Its mbufs never left it, and closing took back the rings'.
			C.vs_pool_free(p.mp)
			return
		}
		// In mbuf mode its mbufs may sit on another dpdk port's tx ring
		// (freed whenever that driver cleans it): the pool outlives the
		// port until no dpdk port is left to hold one.
		draining = append(draining, p.mp)
		if len(inUse) > 0 {
			slog.Info("dpdk: mbuf pool kept until the last dpdk port closes", "port", p.name, "pools_kept", len(draining))
			return
		}
		for _, mp := range draining {
			C.vs_pool_free(mp)
		}
		draining = nil
	})
}

// draining holds the pools of closed mbuf-mode ports; only the control
// thread touches it.
var draining []*C.struct_rte_mempool

// The datapath runs this on a PMD thread as it exits (pmd-cores changed):
// the thread's cached mbufs go back to their pools and its lcore id is
// freed for the next PMD.
func init() { datapath.OnPMDExit(func() { C.vs_thread_exit() }) }

func numCPU() int { return runtime.NumCPU() }

var _ datapath.Port = (*Port)(nil)
var _ datapath.StatusReporter = (*Port)(nil)
