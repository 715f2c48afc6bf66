package datapath

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// memPort is an in-memory port for tests and benchmarks: Rx builds packets
// from templates into pool buffers, Tx counts and frees.
type memPort struct {
	name      string
	templates [][]byte
	next      int
	burst     int // packets per Rx; 0 = none

	mu      sync.Mutex
	pending [][]byte // one-shot frames delivered before templates
	queued  atomic.Int64

	txPackets atomic.Uint64
	txBytes   atomic.Uint64
	keep      bool // keep copies of transmitted frames
	sent      [][]byte
	closed    atomic.Bool
}

func (m *memPort) Name() string  { return m.name }
func (m *memPort) RxQueues() int { return 1 }
func (m *memPort) PollFD(int) int {
	return -1
}
func (m *memPort) Close() error { m.closed.Store(true); return nil }
func (m *memPort) Stats() PortStats {
	return PortStats{TxPackets: m.txPackets.Load(), TxBytes: m.txBytes.Load()}
}

func (m *memPort) send(frames ...[]byte) {
	m.mu.Lock()
	m.pending = append(m.pending, frames...)
	m.queued.Store(int64(len(m.pending)))
	m.mu.Unlock()
}

func (m *memPort) Rx(q int, b *Batch, c *Cache) int {
	n := 0
	if m.queued.Load() > 0 {
		m.mu.Lock()
		for len(m.pending) > 0 && !b.Full() {
			pk := c.Get()
			if pk == nil {
				break
			}
			pk.CopyFrom(m.pending[0])
			m.pending = m.pending[1:]
			b.Add(pk)
			n++
		}
		m.queued.Store(int64(len(m.pending)))
		m.mu.Unlock()
	}
	for i := 0; i < m.burst && !b.Full(); i++ {
		pk := c.Get()
		if pk == nil {
			break
		}
		pk.CopyFrom(m.templates[m.next])
		m.next = (m.next + 1) % len(m.templates)
		b.Add(pk)
		n++
	}
	return n
}

func (m *memPort) Tx(q int, b *Batch, c *Cache) {
	var bytes uint64
	for _, p := range b.Packets() {
		bytes += uint64(p.Len())
		if m.keep {
			m.mu.Lock()
			m.sent = append(m.sent, append([]byte(nil), p.Data()...))
			m.mu.Unlock()
		}
	}
	m.txPackets.Add(uint64(b.N))
	m.txBytes.Add(bytes)
	c.PutBatch(b)
}

// udpFrame builds an Ethernet/IPv4/UDP frame of size bytes.
func udpFrame(src, dst [6]byte, sip, dip uint32, sport, dport uint16, size int) []byte {
	f := make([]byte, size)
	copy(f[0:], dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	ip[8] = 64
	ip[9] = 17
	binary.BigEndian.PutUint32(ip[12:], sip)
	binary.BigEndian.PutUint32(ip[16:], dip)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(size-34))
	return f
}

// crossConnect is a slow path for tests: port a <-> port b, counting upcalls.
type crossConnect struct {
	a, b  uint32
	calls atomic.Uint64
}

func (x *crossConnect) Upcall(u *Upcall) error {
	x.calls.Add(1)
	switch u.Key.InPort {
	case x.a:
		u.Actions = append(u.Actions, Output(x.b))
	case x.b:
		u.Actions = append(u.Actions, Output(x.a))
	}
	return nil
}
