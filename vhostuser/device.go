package vhostuser

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// MaxQueuePairs is the most queue pairs a port advertises (GET_QUEUE_NUM).
const MaxQueuePairs = 8

var errUnsupported = errors.New("unsupported request")

// Device is the backend side of one vhost-user connection's virtio-net
// device. The protocol goroutine (one per port) drives it with messages;
// PMDs call rx/tx. The two meet only through the stop/enter handshake:
// before changing anything a PMD may be using (memory, ring addresses,
// fds, features) the protocol goroutine clears running and waits until no
// PMD is inside any ring; a PMD enters a ring by bumping the ring's inUse
// and then checking running.
type Device struct {
	name  string
	log   *slog.Logger
	pairs int

	running atomic.Bool
	vqs     []vring
	cnts    []counters
	epfd    []int // per pair: an epoll set holding the guest TX kick fd

	// Read by PMDs under the guard: the enabled guest RX rings Tx spreads over.
	txMap [MaxQueuePairs]int
	nTx   int

	// Protocol goroutine state.
	mem       memTable
	prefault  *prefaulter // populating mem's page tables (prefault.go)
	features  uint64
	proto     uint64
	status    uint8
	mtu       uint16
	connected bool
	maxFrame  int

	infoMu sync.Mutex
	info   Info
}

// Info is a port's state for show commands.
type Info struct {
	Mode             string `json:"mode"` // "server" or "client"
	Path             string `json:"path"`
	State            string `json:"state"` // listening, connecting, connected
	Features         uint64 `json:"features"`
	ProtocolFeatures uint64 `json:"protocol_features"`
	// QueuePairs counts the pairs whose rings are set up and enabled.
	QueuePairs    int  `json:"queue_pairs"`
	MaxQueuePairs int  `json:"max_queue_pairs"`
	MTU           int  `json:"mtu,omitempty"` // from NET_SET_MTU
	Broken        bool `json:"broken,omitempty"`
}

// offered are the virtio features the device offers. HOST_TSO lets guests
// hand over 64 KiB super-frames, segmented here; CSUM lets them hand over
// partial checksums, completed here.
func (d *Device) offered() uint64 {
	f := uint64(fCsum | fHostTSO4 | fHostTSO6 | fHostECN | fMrgRxbuf | fIndirect |
		fEventIdx | fProtocolFeatures | fVersion1 | fInOrder | fMTU)
	if d.pairs > 1 {
		f |= fMQ
	}
	return f
}

const offeredProto = pMQ | pReplyAck | pNetMTU | pStatus

func newDevice(name string, pairs, maxFrame int, log *slog.Logger) (*Device, error) {
	if pairs < 1 || pairs > MaxQueuePairs {
		return nil, fmt.Errorf("%d queue pairs: must be 1 to %d", pairs, MaxQueuePairs)
	}
	d := &Device{name: name, log: log, pairs: pairs, maxFrame: maxFrame}
	d.vqs = make([]vring, 2*pairs)
	d.cnts = make([]counters, 2*pairs)
	for i := range d.vqs {
		vq := &d.vqs[i]
		vq.dev, vq.idx, vq.cnt, vq.mem = d, i, &d.cnts[i], &d.mem
		vq.cfg = vringConfig{kickFD: -1, callFD: -1, errFD: -1}
		vq.callFD, vq.kickFD = -1, -1
	}
	for i := 0; i < pairs; i++ {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			d.closeEpoll()
			return nil, fmt.Errorf("vhost-user %s: epoll_create: %w", name, err)
		}
		d.epfd = append(d.epfd, fd)
	}
	d.info.MaxQueuePairs = pairs
	return d, nil
}

func (d *Device) closeEpoll() {
	for _, fd := range d.epfd {
		unix.Close(fd)
	}
	d.epfd = nil
}

// stop makes sure no PMD is inside the device, and none enters, until the
// next activate. A PMD leaves a ring within one burst, so this waits
// microseconds; it never gives up, since unmapping under a PMD would fault.
func (d *Device) stop() {
	d.running.Store(false)
	begin := time.Now()
	warned := false
	for i := range d.vqs {
		for spins := 0; d.vqs[i].inUse.Load() != 0; spins++ {
			if spins < 64 {
				runtime.Gosched()
				continue
			}
			time.Sleep(20 * time.Microsecond)
			if !warned && time.Since(begin) > time.Second {
				warned = true
				d.log.Warn("vhost-user: a PMD has been inside the device for over a second", "port", d.name, "vring", i)
			}
		}
	}
}

// activate recomputes which rings the PMDs poll from the configuration and
// lets them in again. Called with the device stopped.
func (d *Device) activate() {
	hdrLen := 10
	if d.features&(fVersion1|fMrgRxbuf) != 0 {
		hdrLen = 12
	}
	d.nTx = 0
	any := false
	broken := false
	for i := range d.vqs {
		vq := &d.vqs[i]
		was := vq.ready
		vq.ready = d.ringReady(vq)
		broken = broken || vq.broken
		if !vq.ready {
			if vq.segActive {
				vq.seg.Abort()
				vq.segActive = false
			}
			continue
		}
		vq.eventIdx = d.features&fEventIdx != 0
		vq.indirect = d.features&fIndirect != 0
		vq.mrg = d.features&fMrgRxbuf != 0
		vq.hdrLen = hdrLen
		vq.callFD, vq.kickFD = vq.cfg.callFD, vq.cfg.kickFD
		vq.maxFrame = d.maxFrame
		if i%2 == 1 && d.features&(fHostTSO4|fHostTSO6) != 0 && vq.scratch == nil {
			vq.scratch = make([]byte, maxGSOFrame)
		}
		if !was {
			// Adopt the used index in memory if it disagrees with the base
			// (a front end that lost our GET_VRING_BASE reply resumes from
			// it, as DPDK's vhost library does).
			if mem := uint16(binary.LittleEndian.Uint32(vq.used) >> 16); mem != vq.usedIdx {
				d.log.Info("vhost-user: used index in memory differs from the ring base; resuming from memory",
					"port", d.name, "vring", i, "base", vq.usedIdx, "used", mem)
				vq.usedIdx, vq.lastAvail = mem, mem
			}
			vq.badRun = 0
			if i%2 == 0 {
				// Guest RX: we never wait for buffers, so never want kicks.
				vq.usedFlags = usedFNoNotify
				vq.publish()
			} else {
				vq.usedFlags = 0
				vq.arm()
			}
		}
		any = true
		if i%2 == 0 {
			d.txMap[d.nTx] = i
			d.nTx++
		}
	}
	d.infoMu.Lock()
	d.info.Features, d.info.ProtocolFeatures = d.features, d.proto
	d.info.QueuePairs, d.info.MTU, d.info.Broken = d.nTx, int(d.mtu), broken
	d.infoMu.Unlock()
	if any && d.connected {
		d.running.Store(true)
	}
}

// ringReady translates a ring's addresses and reports whether PMDs may poll
// it.
func (d *Device) ringReady(vq *vring) bool {
	c := &vq.cfg
	enabled := c.enabled || d.features&fProtocolFeatures == 0
	if !d.connected || d.mem.n == 0 || c.num == 0 || !c.addrSet || !c.started || !enabled || vq.broken {
		return false
	}
	n := uint64(c.num)
	desc := d.mem.uva(c.addr.desc, 16*n)
	avail := d.mem.uva(c.addr.avail, 4+2*n+2)
	used := d.mem.uva(c.addr.used, 4+8*n+2)
	if desc == nil || avail == nil || used == nil {
		d.log.Error("vhost-user: ring address outside the memory table; ring stays stopped",
			"port", d.name, "vring", vq.idx, "desc", c.addr.desc, "avail", c.addr.avail, "used", c.addr.used)
		return false
	}
	if c.addr.desc%16 != 0 || c.addr.avail%4 != 0 || c.addr.used%4 != 0 {
		d.log.Error("vhost-user: misaligned ring; ring stays stopped", "port", d.name, "vring", vq.idx)
		return false
	}
	vq.desc, vq.avail, vq.used = desc, avail, used
	vq.size, vq.mask = uint16(c.num), uint16(c.num-1)
	return true
}

// handle applies one message and returns the reply payload for requests
// that have one.
func (d *Device) handle(m *msg) ([]byte, error) {
	switch m.req {
	case reqGetFeatures:
		return le64(d.offered()), nil
	case reqGetProtocolFeatures:
		return le64(offeredProto), nil
	case reqGetQueueNum:
		return le64(uint64(d.pairs)), nil
	case reqGetStatus:
		return le64(uint64(d.status)), nil
	}
	d.stop()
	defer d.activate()
	switch m.req {
	case reqSetFeatures:
		v, err := m.u64()
		if err != nil {
			return nil, err
		}
		if extra := v &^ d.offered(); extra != 0 {
			return nil, fmt.Errorf("features %#x were not offered", extra)
		}
		d.features = v
		return nil, nil
	case reqSetProtocolFeatures:
		v, err := m.u64()
		if err != nil {
			return nil, err
		}
		d.proto = v & offeredProto
		return nil, nil
	case reqSetOwner:
		return nil, nil
	case reqResetOwner:
		d.reset()
		return nil, nil
	case reqSetMemTable:
		rs, err := m.memTable()
		if err != nil {
			return nil, err
		}
		fds := make([]int, 0, maxFDs)
		for i := 0; i < m.nfds; i++ {
			if m.fds[i] >= 0 {
				fds = append(fds, m.fds[i])
			}
		}
		mt, err := mapRegions(rs, fds)
		if err != nil {
			return nil, err
		}
		d.prefault.wait()
		d.mem.unmap()
		d.mem = mt
		d.prefault = startPrefault(&d.mem)
		d.log.Info("vhost-user: memory table", "port", d.name, "regions", len(rs), "gpa0", rs[0].gpa, "size0", rs[0].size)
		return nil, nil
	case reqSetVringNum:
		s, vq, err := d.vringState(m)
		if err != nil {
			return nil, err
		}
		if s.num == 0 || s.num > maxQueueSize || s.num&(s.num-1) != 0 {
			return nil, fmt.Errorf("vring %d: size %d is not a power of two up to %d", s.index, s.num, maxQueueSize)
		}
		vq.cfg.num = s.num
		vq.broken = false
		return nil, nil
	case reqSetVringAddr:
		a, err := m.addr()
		if err != nil {
			return nil, err
		}
		vq, err := d.vring(a.index)
		if err != nil {
			return nil, err
		}
		vq.cfg.addr, vq.cfg.addrSet = a, true
		vq.broken = false
		vq.ready = false // re-run the used-index check on the new ring
		return nil, nil
	case reqSetVringBase:
		s, vq, err := d.vringState(m)
		if err != nil {
			return nil, err
		}
		vq.cfg.base = uint16(s.num)
		vq.lastAvail, vq.usedIdx = uint16(s.num), uint16(s.num)
		vq.broken = false
		vq.ready = false
		return nil, nil
	case reqGetVringBase:
		s, vq, err := d.vringState(m)
		if err != nil {
			// Still reply, or the front end waits forever.
			return le32pair(s.index, 0), err
		}
		vq.cfg.started = false
		d.setKick(vq, -1)
		return le32pair(s.index, uint32(vq.lastAvail)), nil
	case reqSetVringKick, reqSetVringCall, reqSetVringErr:
		v, err := m.u64()
		if err != nil {
			return nil, err
		}
		vq, err := d.vring(uint32(v & vringIdxMask))
		if err != nil {
			return nil, err
		}
		fd := -1
		if v&vringNoFD == 0 {
			if fd = m.takeFD(); fd < 0 {
				return nil, fmt.Errorf("%s vring %d: no fd attached", reqName(m.req), vq.idx)
			}
		}
		switch m.req {
		case reqSetVringKick:
			d.setKick(vq, fd)
			vq.cfg.started = true
		case reqSetVringCall:
			closeFD(vq.cfg.callFD)
			vq.cfg.callFD = fd
		default:
			// Nobody is told about ring errors here; keep the fd only so
			// the front end's view stays consistent until replaced.
			closeFD(vq.cfg.errFD)
			vq.cfg.errFD = fd
		}
		return nil, nil
	case reqSetVringEnable:
		s, vq, err := d.vringState(m)
		if err != nil {
			return nil, err
		}
		vq.cfg.enabled = s.num != 0
		return nil, nil
	case reqSendRARP:
		return nil, nil
	case reqNetSetMTU:
		v, err := m.u64()
		if err != nil {
			return nil, err
		}
		if v < 68 || v > 65535 {
			return nil, fmt.Errorf("mtu %d out of range", v)
		}
		d.mtu = uint16(v)
		return nil, nil
	case reqSetStatus:
		v, err := m.u64()
		if err != nil {
			return nil, err
		}
		if v == 0 && d.status != 0 {
			// Device reset (QEMU at guest power-off): stop every ring but
			// keep its index for the GET_VRING_BASE that follows (QEMU 7.2)
			// or has come before (QEMU 10).
			for i := range d.vqs {
				d.vqs[i].cfg.started = false
			}
		}
		d.status = uint8(v)
		return nil, nil
	}
	return nil, fmt.Errorf("%w %s", errUnsupported, reqName(m.req))
}

func (d *Device) vring(idx uint32) (*vring, error) {
	if idx >= uint32(len(d.vqs)) {
		return nil, fmt.Errorf("vring index %d out of range (%d queue pairs)", idx, d.pairs)
	}
	return &d.vqs[idx], nil
}

func (d *Device) vringState(m *msg) (vringState, *vring, error) {
	s, err := m.state()
	if err != nil {
		return s, nil, err
	}
	vq, err := d.vring(s.index)
	return s, vq, err
}

// setKick replaces a ring's kick fd, keeping the pair's epoll set (the
// PMD's stable PollFD) in step. Odd rings are the guest's TX rings, the
// ones a parked PMD waits on.
func (d *Device) setKick(vq *vring, fd int) {
	old := vq.cfg.kickFD
	if old >= 0 {
		if vq.idx%2 == 1 {
			unix.EpollCtl(d.epfd[vq.idx/2], unix.EPOLL_CTL_DEL, old, nil)
		}
		unix.Close(old)
	}
	vq.cfg.kickFD = fd
	if fd >= 0 {
		// Non-blocking so arm can drain it; only writes come from the other side.
		unix.SetNonblock(fd, true)
		if vq.idx%2 == 1 {
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
			if err := unix.EpollCtl(d.epfd[vq.idx/2], unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
				d.log.Warn("vhost-user: cannot watch kick fd; parked PMDs wake by timeout", "port", d.name, "vring", vq.idx, "err", err)
			}
		}
	}
}

// reset forgets everything the front end set up (disconnect, RESET_OWNER).
// Called with the device stopped.
func (d *Device) reset() {
	for i := range d.vqs {
		vq := &d.vqs[i]
		d.setKick(vq, -1)
		closeFD(vq.cfg.callFD)
		closeFD(vq.cfg.errFD)
		vq.cfg = vringConfig{kickFD: -1, callFD: -1, errFD: -1}
		vq.ready, vq.broken = false, false
		vq.callFD, vq.kickFD = -1, -1
		vq.lastAvail, vq.usedIdx = 0, 0
		vq.desc, vq.avail, vq.used = nil, nil, nil
		if vq.segActive {
			vq.seg.Abort()
			vq.segActive = false
		}
	}
	d.prefault.wait()
	d.prefault = nil
	d.mem.unmap()
	d.features, d.proto, d.status, d.mtu = 0, 0, 0, 0
}

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func le32pair(a, b uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, a), b)
}
