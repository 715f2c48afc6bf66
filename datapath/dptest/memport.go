// Package dptest has an in-memory datapath port for benchmarks and
// differential tests: frames go in through Send or a generator and come out
// in Sent, with no kernel on the path.
package dptest

import (
	"sync"
	"sync/atomic"

	"vswitch/datapath"
)

// MemPort is an in-memory port. Rx delivers queued frames (Send), then up
// to Burst frames cycled from Templates; Tx counts and, when Keep is set,
// records every frame.
type MemPort struct {
	PortName  string
	Templates [][]byte
	Burst     int
	Keep      bool

	next    int
	mu      sync.Mutex
	pending [][]byte
	queued  atomic.Int64
	sent    [][]byte

	TxPackets atomic.Uint64
	TxBytes   atomic.Uint64
	RxPackets atomic.Uint64
	Closed    atomic.Bool
}

// Name implements datapath.Port.
func (m *MemPort) Name() string { return m.PortName }

// RxQueues implements datapath.Port.
func (m *MemPort) RxQueues() int { return 1 }

// PollFD implements datapath.Port: a MemPort cannot wake a parked PMD.
func (m *MemPort) PollFD(int) int { return -1 }

// Close implements datapath.Port.
func (m *MemPort) Close() error { m.Closed.Store(true); return nil }

// Stats implements datapath.Port.
func (m *MemPort) Stats() datapath.PortStats {
	return datapath.PortStats{RxPackets: m.RxPackets.Load(), TxPackets: m.TxPackets.Load(), TxBytes: m.TxBytes.Load()}
}

// Send queues frames for the next Rx calls.
func (m *MemPort) Send(frames ...[]byte) {
	m.mu.Lock()
	m.pending = append(m.pending, frames...)
	m.queued.Store(int64(len(m.pending)))
	m.mu.Unlock()
}

// Sent returns and forgets the frames transmitted so far (Keep must be set).
func (m *MemPort) Sent() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sent
	m.sent = nil
	return s
}

// Rx implements datapath.Port.
func (m *MemPort) Rx(q int, b *datapath.Batch, c *datapath.Cache) int {
	n := 0
	if m.queued.Load() > 0 {
		m.mu.Lock()
		for len(m.pending) > 0 && !b.Full() {
			pk := c.Get()
			if pk == nil {
				break
			}
			if pk.CopyFrom(m.pending[0]) != nil {
				c.Put(pk)
				m.pending = m.pending[1:]
				continue
			}
			m.pending = m.pending[1:]
			b.Add(pk)
			n++
		}
		m.queued.Store(int64(len(m.pending)))
		m.mu.Unlock()
	}
	for i := 0; i < m.Burst && !b.Full(); i++ {
		pk := c.Get()
		if pk == nil {
			break
		}
		pk.CopyFrom(m.Templates[m.next])
		m.next++
		if m.next == len(m.Templates) {
			m.next = 0
		}
		b.Add(pk)
		n++
	}
	m.RxPackets.Add(uint64(n))
	return n
}

// Tx implements datapath.Port.
func (m *MemPort) Tx(q int, b *datapath.Batch, c *datapath.Cache) {
	var bytes uint64
	for _, p := range b.Packets() {
		bytes += uint64(p.Len())
	}
	if m.Keep {
		m.mu.Lock()
		for _, p := range b.Packets() {
			m.sent = append(m.sent, append([]byte(nil), p.Data()...))
		}
		m.mu.Unlock()
	}
	m.TxPackets.Add(uint64(b.N))
	m.TxBytes.Add(bytes)
	c.PutBatch(b)
}
