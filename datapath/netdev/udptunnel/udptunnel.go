// Package udptunnel is the kernel-underlay fallback for VXLAN
// (options:underlay=kernel): encapsulated packets leave and arrive through
// a kernel UDP socket, in batches (sendmmsg/recvmmsg), and the kernel does
// the routing, neighbour resolution and outer headers. It suits hosts
// where the switch owns no underlay port; it costs a syscall per batch and
// a fixed UDP source port (no ECMP entropy).
package udptunnel

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/datapath"
)

const hdrLen = 8 // the VXLAN header

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// Port is one UDP port's socket; it is the datapath port decapsulated
// packets arrive on and encapsulated ones leave by.
type Port struct {
	name    string
	fd      int
	dstPort uint16

	// rx state, used by the one PMD polling the queue.
	rmsgs  [datapath.BatchSize]mmsghdr
	riovs  [datapath.BatchSize]unix.Iovec
	raddrs [datapath.BatchSize]unix.RawSockaddrInet4
	rpkts  [datapath.BatchSize]*datapath.Packet

	// tx state: several PMDs may send, so one at a time.
	txMu   sync.Mutex
	tmsgs  [datapath.BatchSize]mmsghdr
	tiovs  [datapath.BatchSize]unix.Iovec
	taddrs [datapath.BatchSize]unix.RawSockaddrInet4

	rxPackets, rxBytes, rxErrors, txPackets, txBytes, txErrors atomic.Uint64
}

// Open binds a UDP socket to dstPort on every local address.
func Open(name string, dstPort uint16) (*Port, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("udptunnel: socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(dstPort)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("udptunnel: bind UDP port %d: %w (a kernel vxlan device may own it)", dstPort, err)
	}
	p := &Port{name: name, fd: fd, dstPort: dstPort}
	for i := range p.rmsgs {
		p.rmsgs[i].hdr.Name = (*byte)(unsafe.Pointer(&p.raddrs[i]))
		p.rmsgs[i].hdr.Iov = &p.riovs[i]
		p.rmsgs[i].hdr.Iovlen = 1
		p.tmsgs[i].hdr.Name = (*byte)(unsafe.Pointer(&p.taddrs[i]))
		p.tmsgs[i].hdr.Namelen = unix.SizeofSockaddrInet4
		p.tmsgs[i].hdr.Iov = &p.tiovs[i]
		p.tmsgs[i].hdr.Iovlen = 1
	}
	return p, nil
}

func (p *Port) Name() string   { return p.name }
func (p *Port) RxQueues() int  { return 1 }
func (p *Port) PollFD(int) int { return p.fd }
func (p *Port) Close() error   { return unix.Close(p.fd) }

func (p *Port) Stats() datapath.PortStats {
	return datapath.PortStats{RxPackets: p.rxPackets.Load(), RxBytes: p.rxBytes.Load(), RxErrors: p.rxErrors.Load(),
		TxPackets: p.txPackets.Load(), TxBytes: p.txBytes.Load(), TxErrors: p.txErrors.Load()}
}

// Rx receives a batch of datagrams straight into packet buffers, the VXLAN
// header landing just in front of the headroom boundary, and hands on the
// inner frames with their tunnel metadata.
func (p *Port) Rx(_ int, b *datapath.Batch, c *datapath.Cache) int {
	want := datapath.BatchSize - b.N
	n := 0
	for ; n < want; n++ {
		pkt := c.Get()
		if pkt == nil {
			break
		}
		f := pkt.Frame()
		start := datapath.Headroom - hdrLen
		p.rpkts[n] = pkt
		p.riovs[n].Base = &f[start]
		p.riovs[n].SetLen(len(f) - start)
		p.rmsgs[n].hdr.Namelen = unix.SizeofSockaddrInet4
	}
	if n == 0 {
		return 0
	}
	got, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&p.rmsgs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		got = 0
	}
	added := 0
	for i := 0; i < n; i++ {
		pkt := p.rpkts[i]
		p.rpkts[i] = nil
		if i >= int(got) {
			c.Put(pkt)
			continue
		}
		l := int(p.rmsgs[i].n)
		f := pkt.Frame()
		h := f[datapath.Headroom-hdrLen : datapath.Headroom]
		if l < hdrLen+14 || h[0]&0x08 == 0 {
			p.rxErrors.Add(1)
			c.Put(pkt)
			continue
		}
		pkt.SetData(datapath.Headroom, l-hdrLen)
		pkt.Tun = datapath.TunnelMeta{Valid: true, ID: uint64(binary.BigEndian.Uint32(h[4:]) >> 8), Src: p.raddrs[i].Addr}
		b.Add(pkt)
		added++
		p.rxBytes.Add(uint64(l - hdrLen))
	}
	p.rxPackets.Add(uint64(added))
	return added
}

// Tx pushes a VXLAN header (VNI from the packet's tunnel metadata) onto
// each packet and sends the batch to each one's remote endpoint.
func (p *Port) Tx(_ int, b *datapath.Batch, c *datapath.Cache) {
	p.txMu.Lock()
	n := 0
	var bytes uint64
	for _, pkt := range b.Packets() {
		if !pkt.Tun.Valid {
			p.txErrors.Add(1)
			continue
		}
		h, err := pkt.Push(hdrLen)
		if err != nil {
			p.txErrors.Add(1)
			continue
		}
		binary.BigEndian.PutUint32(h[0:], 0x08000000)
		binary.BigEndian.PutUint32(h[4:], uint32(pkt.Tun.ID)<<8)
		d := pkt.Data()
		p.tiovs[n].Base = &d[0]
		p.tiovs[n].SetLen(len(d))
		p.taddrs[n] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: pkt.Tun.Dst}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&p.taddrs[n].Port))[:], p.dstPort)
		bytes += uint64(len(d))
		n++
	}
	sent := 0
	for sent < n {
		k, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&p.tmsgs[sent])), uintptr(n-sent), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 || k == 0 {
			p.txErrors.Add(uint64(n - sent))
			break
		}
		sent += int(k)
	}
	p.txMu.Unlock()
	p.txPackets.Add(uint64(sent))
	p.txBytes.Add(bytes)
	c.PutBatch(b)
}

// SlowPoll: every rx poll is a recvmmsg(2) on the UDP socket.
func (p *Port) SlowPoll() bool { return true }
