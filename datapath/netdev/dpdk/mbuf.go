//go:build dpdk

package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"vswitch/datapath"
)

// Buffer strategies (options:dpdk-buffers).
const (
	// BuffersMbuf keeps received frames in their mbufs end to end: a
	// packet describes the mbuf's buffer and a dpdk tx hands the same mbuf
	// to the driver. Other ports copy out of it, as from any packet.
	BuffersMbuf = "mbuf"
	// BuffersCopy copies each frame once into a datapath buffer on rx and
	// into a fresh mbuf on tx.
	BuffersCopy = "copy"
)

// rxDescs is how many packet descriptors an mbuf-mode rx queue owns: a
// burst in the PMD plus room for packets still waiting in output batches
// when the next burst arrives.
const rxDescs = 8 * datapath.BatchSize

// mbufQ is an rx queue's state in mbuf mode. Its packets live here, not
// in the datapath pool; their frames are mbuf buffers. Only the PMD polling
// the queue touches it: a packet runs to completion on that PMD, so every
// Release and detach of these packets happens there too.
type mbufQ struct {
	descs [rxDescs]datapath.Packet
	free  [rxDescs]*datapath.Packet
	nfree int
	// rel holds mbufs released since the last poll; the next poll frees
	// them in the same C call that receives.
	rel  [rxDescs]C.uintptr_t
	nrel int
	mb   [datapath.BatchSize]C.struct_vs_mb
}

func newMbufQ() *mbufQ {
	m := &mbufQ{}
	for i := range m.descs {
		m.descs[i].Ext = m
		m.free[i] = &m.descs[i]
	}
	m.nfree = rxDescs
	return m
}

// Release implements datapath.External: the packet was dropped or sent by
// a port that copied it; its mbuf is freed with the next poll.
func (m *mbufQ) Release(pk *datapath.Packet) {
	m.rel[m.nrel] = C.uintptr_t(pk.ExtData)
	m.nrel++
	m.detach(pk)
}

// detach takes the descriptor back without freeing its mbuf, which a tx
// burst now owns.
func (m *mbufQ) detach(pk *datapath.Packet) {
	pk.ExtData = 0
	m.free[m.nfree] = pk
	m.nfree++
}

// rxMbuf receives one burst on queue q as mbuf-backed packets.
func (p *Port) rxMbuf(q int, b *datapath.Batch) int {
	rq := &p.rxqs[q]
	m := rq.mq
	n := min(datapath.BatchSize-b.N, m.nfree)
	if n == 0 && m.nrel == 0 {
		return 0
	}
	got := int(C.vs_rx_mbuf(p.id, C.uint16_t(q), &m.rel[0], C.uint16_t(m.nrel), &m.mb[0], C.uint16_t(n), C.uint32_t(datapath.MaxData), &rq.big))
	m.nrel = 0
	if rq.big > 0 {
		p.rxDropped.Add(uint64(rq.big))
		p.rxTruncated.Add(uint64(rq.big))
	}
	for i := 0; i < got; i++ {
		d := &m.mb[i]
		m.nfree--
		pk := m.free[m.nfree]
		// d.buf is C memory held as an integer; read it as a pointer.
		buf := *(**byte)(unsafe.Pointer(&d.buf))
		pk.SetFrame(unsafe.Slice(buf, int(d.buf_len)), int(d.off), int(d.len))
		pk.ExtData = uint64(d.m)
		pk.InPort = 0
		pk.Tun.Valid = false
		b.Pkts[b.N] = pk
		b.N++
	}
	return got
}

// Tx sends b in one burst on the tx queue q maps to: mbuf-backed packets
// (from any dpdk port in mbuf mode) as they are, the rest copied into mbufs
// from the port's pool. Every packet is given back.
func (p *Port) Tx(q int, b *datapath.Batch, c *datapath.Cache) {
	n := b.N
	if n == 0 {
		return
	}
	qi := q % len(p.txqs)
	tq := &p.txqs[qi]
	// owner[i] is set when packet i's mbuf goes to the driver as it is.
	var owner [datapath.BatchSize]*mbufQ
	tq.mu.Lock()
	for i := 0; i < n; i++ {
		pk := b.Pkts[i]
		e := &tq.ent[i]
		e.len = C.uint16_t(pk.Len())
		if mq, ok := pk.Ext.(*mbufQ); ok {
			e.p, e.off, e.mbuf = C.uintptr_t(pk.ExtData), C.uint16_t(pk.Headroom()), 1
			owner[i] = mq
			continue
		}
		e.off, e.mbuf = 0, 0
		if pk.Len() == 0 {
			e.p = 0
			continue
		}
		e.p = C.uintptr_t(uintptr(unsafe.Pointer(&pk.Data()[0])))
	}
	sent := int(C.vs_tx_mix(p.id, C.uint16_t(qi), p.mp, &tq.ent[0], C.uint16_t(n), &tq.nombuf))
	tq.mu.Unlock()
	if sent < n {
		p.txDropped.Add(uint64(n - sent))
	}
	for i := 0; i < n; i++ {
		pk := b.Pkts[i]
		if owner[i] != nil {
			owner[i].detach(pk)
		} else {
			c.Put(pk)
		}
		b.Pkts[i] = nil
	}
	b.N = 0
}
