// Package afxdp is the AF_XDP port backend: one AF_XDP socket per rx queue
// of an existing kernel network device, fed by an XDP program that
// redirects every frame of that queue into the socket.
//
// # Zero copy through the datapath arena
//
// The UMEM is the datapath's packet arena itself (datapath.Pool.Arena),
// registered in aligned mode with chunk size datapath.FrameSize, so UMEM
// address a means arena frame a/FrameSize, i.e. Pool.Packet(a/FrameSize).
// Frames posted on the fill ring are packets taken from the PMD's cache;
// a received descriptor becomes that same packet with its data set to the
// descriptor's offset and length. The UMEM headroom is 0: the kernel puts
// the data XDP_PACKET_HEADROOM (256) bytes into the chunk, which is exactly
// datapath.Headroom, so received packets have the usual headroom for
// encapsulation and the largest frame received is FrameSize-256 =
// datapath.MaxData bytes. Packets from any port live in the same arena,
// so Tx puts their arena addresses straight on the tx ring and returns
// them to the pool when the completion ring reports them sent. Packets not
// in the arena (external memory) are copied into a fresh frame first.
//
// # Locked memory
//
// Registering the UMEM pins the whole arena: every afxdp port registers it
// once (its queues share that UMEM with XDP_SHARED_UMEM), so each port pins
// Arena().Size() bytes, charged against RLIMIT_MEMLOCK unless the process
// has CAP_IPC_LOCK (root has it). The pages are the same for every port,
// but the rlimit accounting counts each registration. Rings add about
// 4*ringSize*16 bytes of kernel memory per queue.
//
// # Lifetime of the XDP program
//
// The program is attached through a bpf_link, which lives as long as its
// file descriptor: if the daemon is killed the kernel detaches it, and the
// device goes back to delivering frames to its own stack.
package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"vswitch/datapath"
	nlink "vswitch/datapath/netdev/internal/link"
)

// ErrNoDevice is wrapped by Open when the device does not exist.
var ErrNoDevice = nlink.ErrNoDevice

const (
	// ringSize is the entry count of each of the four rings of a socket
	// (OVS uses the same 2048).
	ringSize = 2048
	// frameShift turns a UMEM address into a frame index.
	frameShift = 11
	// refillBatch: the fill ring is topped up once this many frames are
	// missing, so refilling costs one shared-index store per batch.
	refillBatch = datapath.BatchSize
	// MaxQueues bounds n_rxq.
	MaxQueues = 64
	// closeDrain is how long Close waits for frames in flight on tx to
	// come back through the completion ring.
	closeDrain = 200 * time.Millisecond
	// bindBusyWait bounds the wait for a queue a closed socket still holds.
	bindBusyWait = time.Second
)

func init() {
	if 1<<frameShift != datapath.FrameSize {
		panic("afxdp: frameShift does not match datapath.FrameSize")
	}
	if datapath.Headroom != unix.XDP_PACKET_HEADROOM {
		// The UMEM headroom below is Headroom-XDP_PACKET_HEADROOM; it
		// is 0 today, which this package assumes for rx offsets.
		panic("afxdp: datapath.Headroom must equal XDP_PACKET_HEADROOM")
	}
}

// Config says what to open.
type Config struct {
	// Name is the kernel device.
	Name string
	// Pool is the datapath pool whose arena becomes the UMEM.
	Pool *datapath.Pool
	// Queues is the number of rx queues (0 means 1); queue i is the
	// device's rx queue i.
	Queues int
	// Mode is the XDP attach mode ("" means BestEffort).
	Mode Mode
}

// queue is one AF_XDP socket: its rings and the frames it holds.
type queue struct {
	fd int
	id int

	// rx side, used only by the PMD polling this queue
	rx, fill ring
	rxOwned  bitmap // frames posted on fill and not yet received
	inKernel int    // number of bits set in rxOwned

	_ [64]byte // keep the PMDs' tx fields off the rx cache lines

	// tx side, under txMu (several PMDs may transmit on one queue)
	txMu          sync.Mutex
	tx, comp      ring
	txOwned       bitmap // frames on the tx ring or in flight
	txOutstanding atomic.Int32
}

// Port is an AF_XDP port. Rx(q) must be called by one goroutine at a time
// per q; Tx may be called concurrently.
type Port struct {
	name    string
	ifindex int
	mode    Mode // the mode in effect: NativeZeroCopy, Native or Generic
	pool    *datapath.Pool
	mem     []byte // the arena = the UMEM
	nframes uint32

	fillTarget int

	queues []queue
	xsks   *ebpf.Map
	prog   *ebpf.Program
	link   link.Link

	cnt datapath.Counters

	closeOnce sync.Once
	closeErr  error
}

// Open attaches an AF_XDP port to the named device in the caller's network
// namespace. A missing device yields an error wrapping ErrNoDevice.
func Open(cfg Config) (*Port, error) {
	p, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("afxdp %s: %w", cfg.Name, err)
	}
	return p, nil
}

func open(cfg Config) (*Port, error) {
	if cfg.Pool == nil {
		return nil, errors.New("no datapath pool to use as UMEM")
	}
	nq := cfg.Queues
	if nq == 0 {
		nq = 1
	}
	if nq < 1 || nq > MaxQueues {
		return nil, fmt.Errorf("n_rxq %d out of range 1..%d", nq, MaxQueues)
	}
	mode, err := ParseMode(string(cfg.Mode))
	if err != nil {
		return nil, err
	}
	ifindex, err := nlink.Index(cfg.Name)
	if err != nil {
		return nil, err
	}
	mem := cfg.Pool.Arena().Mem()
	if len(mem) == 0 {
		return nil, errors.New("datapath arena is closed")
	}
	p := &Port{
		name: cfg.Name, ifindex: ifindex, pool: cfg.Pool, mem: mem,
		nframes: uint32(len(mem) / datapath.FrameSize),
		queues:  make([]queue, nq),
	}
	// Frames each queue keeps posted for the kernel: an eighth of the
	// pool, at most a ring (2048 frames, 4 MiB); they are out of the pool
	// while posted. Refuse the port when the pool cannot spare them and
	// keep an eighth for everything else: a port that opened without fill
	// frames would look up but receive nothing.
	p.fillTarget = min(max(cfg.Pool.Size()/8, 2*refillBatch), ringSize)
	if need, free := p.fillTarget*nq, cfg.Pool.Available()-cfg.Pool.Size()/8; need > free {
		return nil, fmt.Errorf("packet memory exhausted: %d free frames, %d needed for %d queue(s); raise vswitchd --mem (other_config:mem)", max(free, 0), need, nq)
	}
	for i := range p.queues {
		p.queues[i].fd = -1
	}
	if err := p.setup(mode); err != nil {
		p.teardown()
		return nil, err
	}
	slog.Debug("afxdp port open", "interface", p.name, "mode", p.mode, "queues", nq,
		"umem_bytes", len(mem), "fill_frames_per_queue", p.fillTarget)
	return p, nil
}

func (p *Port) setup(mode Mode) error {
	for i := range p.queues {
		if err := p.newSocket(i); err != nil {
			return fmt.Errorf("queue %d: %w", i, err)
		}
	}
	var err error
	if p.xsks, err = newXSKMap(len(p.queues)); err != nil {
		return fmt.Errorf("create XSKMAP: %w", err)
	}
	if p.prog, err = redirectProgram(p.xsks); err != nil {
		return fmt.Errorf("load XDP program: %w", err)
	}
	// Attach first, then bind: binding in zero-copy mode needs the driver
	// in XDP mode, and until the map holds a socket the program passes
	// frames to the stack (its XDP_PASS default).
	tries := []Mode{mode}
	if mode == BestEffort {
		tries = []Mode{NativeZeroCopy, Native, Generic}
	}
	var errs []error
	for _, m := range tries {
		if err := p.attachAndBind(m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
			continue
		}
		p.mode = m
		break
	}
	if p.mode == "" {
		return errors.Join(errs...)
	}
	for i := range p.queues {
		q := &p.queues[i]
		if err := p.xsks.Put(uint32(q.id), uint32(q.fd)); err != nil {
			return fmt.Errorf("queue %d: insert socket in XSKMAP: %w", i, err)
		}
	}
	// Post the first fill frames so the kernel can receive at once.
	c := p.pool.NewCache()
	for i := range p.queues {
		p.refill(&p.queues[i], c)
	}
	c.Flush()
	return nil
}

func (p *Port) attachAndBind(m Mode) error {
	l, err := attach(p.prog, p.ifindex, m != Generic)
	if err != nil {
		return fmt.Errorf("attach XDP program: %w", err)
	}
	flags := uint16(unix.XDP_USE_NEED_WAKEUP)
	if m == NativeZeroCopy {
		flags |= unix.XDP_ZEROCOPY
	} else {
		flags |= unix.XDP_COPY
	}
	for i := range p.queues {
		q := &p.queues[i]
		sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(p.ifindex), QueueID: uint32(q.id)}
		if i > 0 {
			// A socket sharing the UMEM takes its mode from the first
			// one; the kernel rejects mode flags next to SHARED_UMEM.
			sa.Flags = unix.XDP_SHARED_UMEM
			sa.SharedUmemFD = uint32(p.queues[0].fd)
		}
		if err := bind(q.fd, sa); err != nil {
			l.Close()
			if errors.Is(err, unix.EINVAL) && q.id > 0 {
				return fmt.Errorf("bind queue %d: %w (does the device have %d rx queues?)", q.id, err, len(p.queues))
			}
			if errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("bind queue %d: %w", q.id, ErrNoDevice)
			}
			if errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("bind queue %d: %w (another AF_XDP socket is bound to it)", q.id, err)
			}
			return fmt.Errorf("bind queue %d: %w", q.id, err)
		}
	}
	p.link = l
	return nil
}

// bind binds an AF_XDP socket, retrying while the queue is busy: the
// kernel releases a closed socket's hold on its queue from a workqueue, so
// a port closed and reopened (or a daemon restarted) can find the queue
// still taken for a few milliseconds.
func bind(fd int, sa *unix.SockaddrXDP) error {
	deadline := time.Now().Add(bindBusyWait)
	for {
		err := unix.Bind(fd, sa)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newSocket creates queue i's socket and maps its rings. Queue 0 registers
// the arena as UMEM; the others share it (each with its own fill and
// completion ring, as the kernel requires for another queue).
func (p *Port) newSocket(i int) error {
	q := &p.queues[i]
	q.id = i
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	q.fd = fd
	if i == 0 {
		reg := unix.XDPUmemReg{
			Addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p.mem)))),
			Len:      uint64(len(p.mem)),
			Size:     datapath.FrameSize,
			Headroom: datapath.Headroom - unix.XDP_PACKET_HEADROOM,
		}
		if err := setsockoptPtr(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			if errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EPERM) {
				return fmt.Errorf("register the %d MiB arena as UMEM: %w (each afxdp port locks the whole arena: raise RLIMIT_MEMLOCK (ulimit -l) or run with CAP_IPC_LOCK)", len(p.mem)>>20, err)
			}
			return fmt.Errorf("register UMEM: %w", err)
		}
	}
	for _, o := range []struct {
		opt  int
		name string
	}{
		{unix.XDP_UMEM_FILL_RING, "fill"}, {unix.XDP_UMEM_COMPLETION_RING, "completion"},
		{unix.XDP_RX_RING, "rx"}, {unix.XDP_TX_RING, "tx"},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o.opt, ringSize); err != nil {
			return fmt.Errorf("set %s ring size %d: %w", o.name, ringSize, err)
		}
	}
	var off unix.XDPMmapOffsets
	if err := getsockoptPtr(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return fmt.Errorf("get ring offsets: %w", err)
	}
	const descSize = unsafe.Sizeof(unix.XDPDesc{})
	if q.fill, err = mapRing(fd, &off.Fr, ringSize, 8, unix.XDP_UMEM_PGOFF_FILL_RING, false); err != nil {
		return fmt.Errorf("mmap fill ring: %w", err)
	}
	if q.comp, err = mapRing(fd, &off.Cr, ringSize, 8, unix.XDP_UMEM_PGOFF_COMPLETION_RING, true); err != nil {
		return fmt.Errorf("mmap completion ring: %w", err)
	}
	if q.rx, err = mapRing(fd, &off.Rx, ringSize, descSize, unix.XDP_PGOFF_RX_RING, true); err != nil {
		return fmt.Errorf("mmap rx ring: %w", err)
	}
	if q.tx, err = mapRing(fd, &off.Tx, ringSize, descSize, unix.XDP_PGOFF_TX_RING, false); err != nil {
		return fmt.Errorf("mmap tx ring: %w", err)
	}
	q.rxOwned = newBitmap(int(p.nframes))
	q.txOwned = newBitmap(int(p.nframes))
	return nil
}

// Name returns the device name.
func (p *Port) Name() string { return p.name }

// Ifindex returns the device's ifindex at open time.
func (p *Port) Ifindex() int { return p.ifindex }

// Mode returns the attach mode in effect (never BestEffort).
func (p *Port) Mode() Mode { return p.mode }

// RxQueues returns the number of AF_XDP sockets (n_rxq).
func (p *Port) RxQueues() int { return len(p.queues) }

// PollFD returns queue q's socket: it polls readable while its rx ring
// holds descriptors.
func (p *Port) PollFD(q int) int { return p.queues[q].fd }

// LockedBytes returns the memory the port's UMEM registration pins (and
// charges to RLIMIT_MEMLOCK without CAP_IPC_LOCK): the whole arena.
func (p *Port) LockedBytes() int { return len(p.mem) }

// index returns the arena frame index of pk, or false when pk's data is
// not a frame of this port's pool (external memory, another pool).
func (p *Port) index(pk *datapath.Packet) (uint32, bool) {
	if pk.Ext != nil {
		return 0, false
	}
	f := pk.Frame()
	if len(f) != datapath.FrameSize {
		return 0, false
	}
	// Pointer difference only; the uintptrs never become pointers again.
	off := uintptr(unsafe.Pointer(unsafe.SliceData(f))) - uintptr(unsafe.Pointer(unsafe.SliceData(p.mem)))
	idx := off >> frameShift
	if off&(datapath.FrameSize-1) != 0 || idx >= uintptr(p.nframes) || p.pool.Packet(uint32(idx)) != pk {
		return 0, false
	}
	return uint32(idx), true
}

// refill tops queue q's fill ring up to fillTarget frames with packets
// from c, once at least refillBatch are missing.
func (p *Port) refill(q *queue, c *datapath.Cache) {
	need := p.fillTarget - q.inKernel
	if need < refillBatch {
		return
	}
	n := q.fill.free(uint32(need))
	var i uint32
	for ; i < n; i++ {
		pk := c.Get()
		if pk == nil {
			break
		}
		idx, ok := p.index(pk)
		if !ok {
			// c is a cache over another pool: nothing from it can be
			// posted.
			c.Put(pk)
			break
		}
		q.fill.addrs[(q.fill.local+i)&q.fill.mask] = uint64(idx) << frameShift
		q.rxOwned.set(idx)
	}
	if i == 0 {
		return
	}
	q.fill.submit(i)
	q.inKernel += int(i)
	if q.fill.needWakeup() {
		p.kickRx(q)
	}
}

// kickRx wakes a driver that stopped reading the fill ring (zero-copy
// mode with need_wakeup).
func (p *Port) kickRx(q *queue) {
	_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, uintptr(q.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
}

// Rx takes up to BatchSize-b.N received frames from queue qi's rx ring and
// appends them to b as the arena packets they already are; it tops the
// fill ring up from c.
func (p *Port) Rx(qi int, b *datapath.Batch, c *datapath.Cache) int {
	q := &p.queues[qi]
	p.refill(q, c)
	// Completions pile up when no PMD transmits on this queue for a
	// while; take them back here when no transmitter holds the lock.
	if q.txOutstanding.Load() > 0 && q.txMu.TryLock() {
		p.reap(q, c)
		if q.tx.pending() {
			p.kickTx(q, c)
		}
		q.txMu.Unlock()
	}
	n := q.rx.avail(uint32(datapath.BatchSize - b.N))
	if n == 0 {
		if q.fill.needWakeup() {
			p.kickRx(q)
		}
		return 0
	}
	var bytes uint64
	var bad uint32
	for i := uint32(0); i < n; i++ {
		d := &q.rx.descs[(q.rx.local+i)&q.rx.mask]
		idx := uint32(d.Addr >> frameShift)
		off := int(d.Addr & (datapath.FrameSize - 1))
		if idx >= p.nframes || off+int(d.Len) > datapath.FrameSize {
			bad++ // the kernel never does this; do not trust it blindly
			continue
		}
		q.rxOwned.clear(idx)
		pk := p.pool.Packet(idx)
		pk.SetData(off, int(d.Len))
		b.Pkts[b.N] = pk
		b.N++
		bytes += uint64(d.Len)
	}
	q.rx.release(n)
	q.inKernel -= int(n - bad)
	got := int(n - bad)
	p.cnt.RxPackets.Add(uint64(got))
	p.cnt.RxBytes.Add(bytes)
	if bad != 0 {
		p.cnt.RxErrors.Add(uint64(bad))
	}
	return got
}

// reap returns the frames the completion ring reports sent to c.
func (p *Port) reap(q *queue, c *datapath.Cache) {
	n := q.comp.avail(ringSize)
	if n == 0 {
		return
	}
	for i := uint32(0); i < n; i++ {
		idx := uint32(q.comp.addrs[(q.comp.local+i)&q.comp.mask] >> frameShift)
		if idx >= p.nframes {
			continue
		}
		q.txOwned.clear(idx)
		c.Put(p.pool.Packet(idx))
	}
	q.comp.release(n)
	q.txOutstanding.Add(-int32(n))
}

// kickTx asks the kernel to send what the tx ring holds, when it says it
// needs asking. In copy mode one sendto sends at most a kernel budget of
// descriptors (32 by default) and answers EAGAIN if more are left or the
// completion ring is full, hence the bounded retry with completions
// reaped in between. Called under q.txMu.
func (p *Port) kickTx(q *queue, c *datapath.Cache) {
	for try := 0; try < 8; try++ {
		if !q.tx.pending() || !q.tx.needWakeup() {
			return
		}
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(q.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			return
		case unix.EAGAIN, unix.EBUSY, unix.EINTR:
			p.reap(q, c)
		default:
			// ENOBUFS (device queue full), ENETDOWN/ENXIO (device
			// down): the descriptors stay on the ring for the next kick.
			return
		}
	}
}

// Tx puts every packet of b on the tx ring of socket q mod n_rxq (arena
// packets as they are, others copied into a frame of the pool) and kicks
// the kernel. Packets return to the pool through c when the completion
// ring reports them; those that find no room are dropped and freed now.
func (p *Port) Tx(qi int, b *datapath.Batch, c *datapath.Cache) {
	if b.N == 0 {
		return
	}
	q := &p.queues[uint(qi)%uint(len(p.queues))]
	q.txMu.Lock()
	p.reap(q, c)
	room := q.tx.free(uint32(b.N))
	var sent uint32
	var bytes, dropped uint64
	for i := 0; i < b.N; i++ {
		pk := b.Pkts[i]
		b.Pkts[i] = nil
		if sent == room || pk.Len() == 0 {
			dropped++
			c.Put(pk)
			continue
		}
		idx, ok := p.index(pk)
		if !ok {
			var cp *datapath.Packet
			if cp, idx, ok = p.copyIn(pk, c); !ok {
				dropped++
				c.Put(pk)
				continue
			}
			c.Put(pk)
			pk = cp
		}
		d := &q.tx.descs[(q.tx.local+sent)&q.tx.mask]
		d.Addr = uint64(idx)<<frameShift | uint64(pk.Headroom())
		d.Len = uint32(pk.Len())
		d.Options = 0
		q.txOwned.set(idx)
		sent++
		bytes += uint64(pk.Len())
	}
	b.N = 0
	if sent != 0 {
		q.tx.submit(sent)
		q.txOutstanding.Add(int32(sent))
		p.kickTx(q, c)
	}
	q.txMu.Unlock()
	if sent != 0 {
		p.cnt.TxPackets.Add(uint64(sent))
		p.cnt.TxBytes.Add(bytes)
	}
	if dropped != 0 {
		p.cnt.TxDropped.Add(dropped)
	}
}

// copyIn copies a packet that is not an arena frame into a fresh one.
func (p *Port) copyIn(pk *datapath.Packet, c *datapath.Cache) (*datapath.Packet, uint32, bool) {
	var cp *datapath.Packet
	if c.Pool() == p.pool {
		cp = c.Get()
	} else {
		cp = p.pool.Get()
	}
	if cp == nil {
		return nil, 0, false
	}
	idx, ok := p.index(cp)
	if !ok || cp.CopyFrom(pk.Data()) != nil {
		c.Put(cp)
		return nil, 0, false
	}
	return cp, idx, true
}

// Stats returns the port counters plus the kernel's per-socket drops:
// frames dropped for want of a fill frame or for being larger than a
// chunk (rx_dropped), for a full rx ring, and invalid descriptors.
func (p *Port) Stats() datapath.PortStats {
	s := p.cnt.Snapshot()
	for i := range p.queues {
		fd := p.queues[i].fd
		if fd < 0 {
			continue
		}
		var st unix.XDPStatistics
		if err := getsockoptPtr(fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
			continue
		}
		s.RxDropped += st.Rx_dropped + st.Rx_ring_full
		s.RxErrors += st.Rx_invalid_descs
		s.TxErrors += st.Tx_invalid_descs
	}
	return s
}

// Close detaches the XDP program, waits briefly for frames in flight on
// tx, closes the sockets and returns every frame the kernel still held
// (fill ring, rx ring, tx ring, completion ring) to the pool.
func (p *Port) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.teardown() })
	return p.closeErr
}

func (p *Port) teardown() error {
	var errs []error
	if p.link != nil {
		if err := p.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("afxdp %s: detach XDP program: %w", p.name, err))
		}
		p.link = nil
	}
	c := p.pool.NewCache()
	deadline := time.Now().Add(closeDrain)
	for i := range p.queues {
		q := &p.queues[i]
		if q.fd < 0 || q.comp.mem == nil || q.tx.mem == nil {
			continue
		}
		q.txMu.Lock()
		for {
			p.reap(q, c)
			if q.txOutstanding.Load() <= 0 || time.Now().After(deadline) {
				break
			}
			p.kickTx(q, c)
			time.Sleep(time.Millisecond)
		}
		q.txMu.Unlock()
	}
	for i := range p.queues {
		q := &p.queues[i]
		if q.rx.mem != nil {
			// Frames already received but never polled.
			n := q.rx.avail(ringSize)
			for j := uint32(0); j < n; j++ {
				idx := uint32(q.rx.descs[(q.rx.local+j)&q.rx.mask].Addr >> frameShift)
				if idx < p.nframes {
					q.rxOwned.clear(idx)
					c.Put(p.pool.Packet(idx))
				}
			}
			q.rx.release(n)
		}
	}
	for i := range p.queues {
		q := &p.queues[i]
		for _, r := range []*ring{&q.rx, &q.tx, &q.fill, &q.comp} {
			if err := r.unmap(); err != nil {
				errs = append(errs, fmt.Errorf("afxdp %s: munmap ring: %w", p.name, err))
			}
		}
		if q.fd >= 0 {
			if err := unix.Close(q.fd); err != nil {
				errs = append(errs, fmt.Errorf("afxdp %s: close socket: %w", p.name, err))
			}
			q.fd = -1
		}
	}
	// With the sockets gone the kernel holds no frame any more: whatever
	// was on a fill, tx or completion ring (or in a driver) comes back.
	for i := range p.queues {
		q := &p.queues[i]
		put := func(idx uint32) { c.Put(p.pool.Packet(idx)) }
		q.rxOwned.each(put)
		q.txOwned.each(put)
		q.inKernel = 0
		q.txOutstanding.Store(0)
	}
	c.Flush()
	if p.prog != nil {
		p.prog.Close()
		p.prog = nil
	}
	if p.xsks != nil {
		p.xsks.Close()
		p.xsks = nil
	}
	return errors.Join(errs...)
}

var _ datapath.Port = (*Port)(nil)
