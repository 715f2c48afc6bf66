// Package datapath holds packet buffers, the mempool, batches, the PMD loops
// and action execution. It never imports the control plane.
package datapath

import "errors"

const (
	// FrameSize is the size of one arena frame: a power of two so the arena
	// can be registered as an AF_XDP UMEM with this chunk size.
	FrameSize = 2048
	// Headroom is reserved in front of received data for encapsulation
	// (VXLAN needs 50 bytes, a vnet header 12, VLAN tags 4 each).
	Headroom = 256
	// MaxData is the largest packet a single frame holds.
	MaxData = FrameSize - Headroom
)

// ErrNoRoom is returned when a packet has no headroom or tailroom left.
var ErrNoRoom = errors.New("packet buffer has no room")

// External is implemented by owners of memory the datapath did not allocate
// (a DPDK mbuf, an AF_XDP frame owned by a socket). Release hands the packet's
// memory back to its owner; it is called instead of returning the packet to
// its pool.
type External interface {
	Release(p *Packet)
}

// Packet is one frame's metadata. Packets live in preallocated arrays owned
// by a Pool; the data they point at is arena memory or external memory.
type Packet struct {
	frame []byte // the whole frame, headroom included
	off   int32  // start of packet data within frame
	n     int32  // length of packet data

	// InPort is the datapath port number the packet arrived on.
	InPort uint32
	// Ext, when set, owns the frame memory; see External.
	Ext External
	// ExtData is free for the External owner (e.g. an mbuf address).
	ExtData uint64
	// Tun is set on packets a tunnel decapsulated.
	Tun TunnelMeta
	// hash is the flow hash the PMD computed (tunnel source ports use it).
	hash uint32

	pool  *Pool
	index uint32 // position in pool.pkts
}

// Data returns the packet's bytes.
func (p *Packet) Data() []byte { return p.frame[p.off : p.off+p.n] }

// Len returns the packet length.
func (p *Packet) Len() int { return int(p.n) }

// Headroom returns the free bytes in front of the data.
func (p *Packet) Headroom() int { return int(p.off) }

// Tailroom returns the free bytes after the data.
func (p *Packet) Tailroom() int { return len(p.frame) - int(p.off) - int(p.n) }

// Frame returns the whole frame, headroom included.
func (p *Packet) Frame() []byte { return p.frame }

// Reset empties the packet, leaving the default headroom.
func (p *Packet) Reset() {
	p.off = Headroom
	if int(p.off) > len(p.frame) {
		p.off = 0
	}
	p.n = 0
	p.InPort = 0
	p.Tun.Valid = false
}

// SetData places the packet data at [off, off+n) of the frame.
func (p *Packet) SetData(off, n int) {
	if off < 0 || n < 0 || off+n > len(p.frame) {
		panic("datapath: SetData out of frame bounds")
	}
	p.off, p.n = int32(off), int32(n)
}

// SetLen sets the data length, keeping its start. It fails if the frame is
// too small.
func (p *Packet) SetLen(n int) error {
	if n < 0 || int(p.off)+n > len(p.frame) {
		return ErrNoRoom
	}
	p.n = int32(n)
	return nil
}

// Push grows the packet at the front by n bytes and returns them.
func (p *Packet) Push(n int) ([]byte, error) {
	if n > int(p.off) {
		return nil, ErrNoRoom
	}
	p.off -= int32(n)
	p.n += int32(n)
	return p.frame[p.off : p.off+int32(n)], nil
}

// Pull removes n bytes from the front of the packet.
func (p *Packet) Pull(n int) error {
	if n > int(p.n) {
		return ErrNoRoom
	}
	p.off += int32(n)
	p.n -= int32(n)
	return nil
}

// SetFrame makes the packet describe external memory (for an External
// owner): frame is the whole buffer, data starts at off and is n long.
func (p *Packet) SetFrame(frame []byte, off, n int) {
	p.frame = frame
	p.SetData(off, n)
}

// CopyFrom replaces the packet's data with b, keeping the default headroom.
// It fails if b does not fit.
func (p *Packet) CopyFrom(b []byte) error {
	p.Reset()
	if len(b) > p.Tailroom() {
		return ErrNoRoom
	}
	p.n = int32(copy(p.frame[p.off:], b))
	return nil
}
