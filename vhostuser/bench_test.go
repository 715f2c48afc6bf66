package vhostuser

import (
	"encoding/binary"
	"testing"

	"vswitch/datapath"
	"vswitch/datapath/netdev/vnethdr"
)

// BenchmarkRxTx moves 32-packet bursts of 64-byte frames out of a synthetic
// guest TX ring and into a synthetic guest RX ring (mergeable buffers,
// event index), through Port.Rx and Port.Tx as a PMD calls them. The guest
// side just re-offers the same descriptors. Reported per packet.
func BenchmarkRxTx(b *testing.B) {
	g := newGuest(b, 256, allFeatures)
	_, c := newPool(b)
	f := frame(64)
	for i := 0; i < 256; i++ {
		off := bufArea + 128*i // 76-byte packets, packed
		clear(g.mem[off : off+12])
		vnethdr.Hdr{}.Encode(g.mem[off:])
		copy(g.mem[off+12:], f)
		g.desc(1, uint16(i), guestGPA+uint64(off), 76, 0, 0)
		ra, _ := g.buf(32 + i)
		g.desc(0, uint16(i), ra, 2048, descFWrite, 0)
	}
	for r := 0; r < 2; r++ {
		av := g.mem[g.ringBase(r)+16*256:]
		for i := 0; i < 256; i++ {
			binary.LittleEndian.PutUint16(av[4+2*i:], uint16(i))
		}
	}
	var batch datapath.Batch
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += datapath.BatchSize {
		g.next[0] += datapath.BatchSize
		g.next[1] += datapath.BatchSize
		g.setAvailIdx(0, g.next[0])
		g.setAvailIdx(1, g.next[1])
		if n := g.port.Rx(0, &batch, c); n != datapath.BatchSize {
			b.Fatalf("rx %d", n)
		}
		g.port.Tx(0, &batch, c)
	}
	b.StopTimer()
	if s := g.port.Stats(); s.RxErrors+s.TxErrors+s.TxDropped != 0 {
		b.Fatalf("stats %+v", s)
	}
}
