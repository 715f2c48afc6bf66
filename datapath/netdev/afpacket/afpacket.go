// Package afpacket is the AF_PACKET port backend: a raw packet socket bound
// to an existing kernel network device, receiving through a memory-mapped
// TPACKET_V2 ring and sending with sendmmsg.
//
// The socket asks for virtio-net headers (PACKET_VNET_HDR) so that frames a
// veth hands over with a partial checksum or as a GSO super-frame are
// completed and segmented here (see package vnethdr) instead of arriving
// unusable or truncated, and it re-inserts the VLAN tag the kernel strips
// into the packet metadata, because the switch does VLANs in software.
package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/datapath"
	"vswitch/datapath/netdev/internal/link"
	"vswitch/datapath/netdev/vnethdr"
)

// ErrNoDevice is wrapped by Open when the device does not exist; it is the
// same value as netdev.ErrNoDevice.
var ErrNoDevice = link.ErrNoDevice

// Ring geometry. A frame must hold the TPACKET_V2 header, the sockaddr_ll,
// the virtio-net header and a whole 64 KiB GSO super-frame (the kernel's
// default gso_max_size), or the kernel truncates it. Blocks are a power of
// two in size because the kernel allocates them by page order.
const (
	frameSize      = 64<<10 + 512
	blockSize      = 1 << 20
	framesPerBlock = blockSize / frameSize
	blockNr        = 8
	frameNr        = framesPerBlock * blockNr
	ringSize       = blockSize * blockNr

	vlanLen = 4
	ethLen  = 14

	// txSlots bounds the per-queue tx scratch areas; queues beyond it share
	// a slot under its lock.
	txSlots = 8
	// errCheckEvery: every this many empty polls, Rx reads SO_ERROR. The
	// kernel sets a socket error (and so EPOLLERR, which epoll reports even
	// when not asked for) when the device goes down; left pending it would
	// wake a parked PMD over and over.
	errCheckEvery = 256
)

const ethPAll = unix.ETH_P_ALL<<8&0xff00 | unix.ETH_P_ALL>>8 // htons(ETH_P_ALL)

// zeroVnetHdr goes in front of every transmitted packet: no offload asked.
var zeroVnetHdr [vnethdr.Len]byte

// GSOStats count the offloaded frames the port completed in software.
type GSOStats struct {
	// GSOFrames is the number of GSO super-frames received and segmented.
	GSOFrames uint64
	// GSOSegments is the number of packets those frames were cut into.
	GSOSegments uint64
	// CsumCompleted is the number of non-GSO frames whose partial checksum
	// was completed.
	CsumCompleted uint64
}

type txSlot struct {
	mu   sync.Mutex
	msgs [datapath.BatchSize]mmsghdr
	iov  [datapath.BatchSize][2]unix.Iovec
}

// mmsghdr is struct mmsghdr (x/sys has the type only on some platforms).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// Port is an AF_PACKET port. Rx must be called by one goroutine at a time;
// Tx may be called concurrently for different queues.
type Port struct {
	name    string
	ifindex int
	fd      int
	ring    []byte

	// rx state, owned by the polling PMD
	head       int
	seg        vnethdr.Segmenter
	emptyPolls uint32

	cnt                      datapath.Counters
	gsoFrames, gsoSegs, csum atomic.Uint64

	statsMu     sync.Mutex
	kernelDrops uint64 // accumulated PACKET_STATISTICS tp_drops

	tx [txSlots]txSlot

	closeOnce sync.Once
	closeErr  error
}

// Open binds a new AF_PACKET socket to the named device (in the caller's
// network namespace). A missing device yields an error wrapping ErrNoDevice.
func Open(name string) (*Port, error) {
	ifindex, err := link.Index(name)
	if err != nil {
		return nil, fmt.Errorf("afpacket %s: %w", name, err)
	}
	// Protocol 0: receive nothing until bind, so no frame reaches the socket
	// before the ring is set up.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("afpacket %s: socket: %w", name, err)
	}
	p := &Port{name: name, ifindex: ifindex, fd: fd}
	if err := p.setup(); err != nil {
		if p.ring != nil {
			_ = unix.Munmap(p.ring)
		}
		unix.Close(fd)
		return nil, fmt.Errorf("afpacket %s: %w", name, err)
	}
	p.initTx()
	return p, nil
}

func (p *Port) setup() error {
	fd := p.fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return fmt.Errorf("set TPACKET_V2: %w", err)
	}
	// The vnet header must be enabled before the ring exists.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fmt.Errorf("set PACKET_VNET_HDR: %w", err)
	}
	// Without this the socket sees every frame the switch (or the host)
	// sends on the device and the switch would loop them back in.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fmt.Errorf("set PACKET_IGNORE_OUTGOING: %w", err)
	}
	req := unix.TpacketReq{Block_size: blockSize, Block_nr: blockNr, Frame_size: frameSize, Frame_nr: frameNr}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("set PACKET_RX_RING (%d frames of %d bytes): %w", frameNr, frameSize, err)
	}
	ring, err := unix.Mmap(fd, 0, ringSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap rx ring: %w", err)
	}
	p.ring = ring
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAll, Ifindex: p.ifindex}); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("bind: %w", ErrNoDevice)
		}
		return fmt.Errorf("bind: %w", err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(p.ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fmt.Errorf("enable promiscuous mode: %w", err)
	}
	// Binding to a device that is down leaves ENETDOWN pending; clear it so
	// the first epoll_wait does not report a stale error.
	_, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	return nil
}

func (p *Port) initTx() {
	for s := range p.tx {
		sl := &p.tx[s]
		for i := range sl.msgs {
			sl.iov[i][0].Base = &zeroVnetHdr[0]
			sl.iov[i][0].SetLen(vnethdr.Len)
			sl.msgs[i].hdr.Iov = &sl.iov[i][0]
			sl.msgs[i].hdr.SetIovlen(2)
		}
	}
}

// Name returns the device name.
func (p *Port) Name() string { return p.name }

// Ifindex returns the device's ifindex at open time.
func (p *Port) Ifindex() int { return p.ifindex }

// RxQueues is 1: an AF_PACKET socket is one queue.
func (p *Port) RxQueues() int { return 1 }

// PollFD returns the socket; it is readable while the ring holds frames.
func (p *Port) PollFD(int) int { return p.fd }

// frame returns ring frame i's header and bytes.
func (p *Port) frame(i int) (*unix.Tpacket2Hdr, []byte) {
	off := (i/framesPerBlock)*blockSize + (i%framesPerBlock)*frameSize
	fr := p.ring[off : off+frameSize : off+frameSize]
	return (*unix.Tpacket2Hdr)(unsafe.Pointer(&fr[0])), fr
}

// release hands the head frame back to the kernel and moves on.
func (p *Port) release(h *unix.Tpacket2Hdr) {
	atomic.StoreUint32(&h.Status, unix.TP_STATUS_KERNEL)
	p.head++
	if p.head == frameNr {
		p.head = 0
	}
}

// Rx copies frames from the ring into packets from c and appends them to b.
// A GSO frame is segmented; if b fills up first, the rest of its segments
// come in the next call. When c runs dry the frame stays in the ring.
func (p *Port) Rx(_ int, b *datapath.Batch, c *datapath.Cache) int {
	start := b.N
	var bytes, dropped, truncated, errs, gsoFrames, gsoSegs, csums uint64
	for b.N < datapath.BatchSize {
		h, fr := p.frame(p.head)
		if p.seg.Active() {
			pkt := c.Get()
			if pkt == nil {
				break
			}
			n, err := p.seg.Next(pkt.Frame()[datapath.Headroom:])
			if err != nil {
				// A segment larger than a pool buffer (MTU above what
				// the datapath carries): the whole frame is lost.
				c.Put(pkt)
				p.seg.Abort()
				p.release(h)
				dropped++
				errs++
				continue
			}
			pkt.SetData(datapath.Headroom, n)
			b.Pkts[b.N] = pkt
			b.N++
			bytes += uint64(n)
			gsoSegs++
			if !p.seg.Active() {
				p.release(h)
			}
			continue
		}
		status := atomic.LoadUint32(&h.Status)
		if status&unix.TP_STATUS_USER == 0 {
			break
		}
		mac, snap := int(h.Mac), int(h.Snaplen)
		if snap < int(h.Len) {
			p.release(h)
			truncated++
			dropped++
			continue
		}
		if mac < vnethdr.Len+vlanLen || mac+snap > frameSize || snap < ethLen {
			p.release(h)
			errs++
			dropped++
			continue
		}
		vh := vnethdr.Decode(fr[mac-vnethdr.Len : mac])
		gso := vh.IsGSO()
		var pkt *datapath.Packet
		if !gso {
			// Take the buffer before touching the frame, so a dry pool
			// leaves the frame exactly as the kernel wrote it.
			if pkt = c.Get(); pkt == nil {
				break
			}
		}
		data := fr[mac : mac+snap]
		if status&unix.TP_STATUS_VLAN_VALID != 0 || h.Vlan_tci != 0 {
			// The tag goes back between the MAC addresses and the
			// ethertype; the 4 bytes in front of the frame belong to the
			// (already decoded) vnet header, so shifting the addresses
			// there is safe.
			tpid := uint16(0x8100)
			if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && h.Vlan_tpid != 0 {
				tpid = h.Vlan_tpid
			}
			data = fr[mac-vlanLen : mac+snap]
			copy(data[0:12], data[vlanLen:vlanLen+12])
			binary.BigEndian.PutUint16(data[12:], tpid)
			binary.BigEndian.PutUint16(data[14:], h.Vlan_tci)
			vh.CsumStart += vlanLen
		}
		if gso {
			if err := p.seg.Start(data, vh); err != nil {
				p.release(h)
				errs++
				dropped++
				continue
			}
			gsoFrames++
			continue // segments are taken at the top of the loop
		}
		if vh.NeedsCsum() {
			if err := vnethdr.Complete(data, vh); err != nil {
				c.Put(pkt)
				p.release(h)
				errs++
				dropped++
				continue
			}
			csums++
		}
		if err := pkt.CopyFrom(data); err != nil {
			// Larger than a pool buffer.
			c.Put(pkt)
			p.release(h)
			errs++
			dropped++
			continue
		}
		p.release(h)
		b.Pkts[b.N] = pkt
		b.N++
		bytes += uint64(len(data))
	}
	got := b.N - start
	if got > 0 {
		p.emptyPolls = 0
		p.cnt.RxPackets.Add(uint64(got))
		p.cnt.RxBytes.Add(bytes)
	} else if p.emptyPolls++; p.emptyPolls%errCheckEvery == 0 {
		_, _ = unix.GetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	}
	if dropped|gsoFrames|csums != 0 {
		p.cnt.RxDropped.Add(dropped)
		p.cnt.RxTruncated.Add(truncated)
		p.cnt.RxErrors.Add(errs)
		p.gsoFrames.Add(gsoFrames)
		p.gsoSegs.Add(gsoSegs)
		p.csum.Add(csums)
	} else if gsoSegs != 0 {
		p.gsoSegs.Add(gsoSegs)
	}
	return got
}

// Tx sends every packet of b with one sendmmsg where it can, then frees
// them through c.
func (p *Port) Tx(q int, b *datapath.Batch, c *datapath.Cache) {
	n := b.N
	if n == 0 {
		return
	}
	s := &p.tx[uint(q)%txSlots]
	s.mu.Lock()
	for i := 0; i < n; i++ {
		d := b.Pkts[i].Data()
		iov := &s.iov[i][1]
		if len(d) == 0 {
			iov.Base = &zeroVnetHdr[0] // zero-length: the kernel rejects it below
		} else {
			iov.Base = &d[0]
		}
		iov.SetLen(len(d))
	}
	var sent, bytes, dropped, errs uint64
	for i := 0; i < n; {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.fd),
			uintptr(unsafe.Pointer(&s.msgs[i])), uintptr(n-i), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			// The message at i failed; those before it went out in an
			// earlier call.
			switch e {
			case unix.EAGAIN, unix.ENOBUFS, unix.ENETDOWN, unix.ENXIO, unix.ENODEV:
				dropped++
			default:
				errs++
			}
			i++
		case r == 0:
			dropped++
			i++
		default:
			for k := i; k < i+int(r); k++ {
				bytes += uint64(b.Pkts[k].Len())
			}
			sent += uint64(r)
			i += int(r)
		}
	}
	for i := 0; i < n; i++ {
		s.iov[i][1].Base = nil // do not keep packet memory reachable
	}
	s.mu.Unlock()
	if sent != 0 {
		p.cnt.TxPackets.Add(sent)
		p.cnt.TxBytes.Add(bytes)
	}
	if dropped != 0 {
		p.cnt.TxDropped.Add(dropped)
	}
	if errs != 0 {
		p.cnt.TxErrors.Add(errs)
	}
	c.PutBatch(b)
}

// Stats returns the port counters; RxDropped includes frames the kernel
// dropped because the ring was full.
func (p *Port) Stats() datapath.PortStats {
	s := p.cnt.Snapshot()
	p.statsMu.Lock()
	// PACKET_STATISTICS resets on read, so it is accumulated here.
	if st, err := unix.GetsockoptTpacketStats(p.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		p.kernelDrops += uint64(st.Drops)
	}
	s.RxDropped += p.kernelDrops
	p.statsMu.Unlock()
	return s
}

// GSOStats returns how many offloaded frames the port completed in software.
func (p *Port) GSOStats() GSOStats {
	return GSOStats{GSOFrames: p.gsoFrames.Load(), GSOSegments: p.gsoSegs.Load(), CsumCompleted: p.csum.Load()}
}

// Close unmaps the ring and closes the socket.
func (p *Port) Close() error {
	p.closeOnce.Do(func() {
		var errs []error
		if p.ring != nil {
			if err := unix.Munmap(p.ring); err != nil {
				errs = append(errs, fmt.Errorf("afpacket %s: munmap ring: %w", p.name, err))
			}
			p.ring = nil
		}
		if err := unix.Close(p.fd); err != nil {
			errs = append(errs, fmt.Errorf("afpacket %s: close: %w", p.name, err))
		}
		p.fd = -1
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

var _ datapath.Port = (*Port)(nil)
