//go:build dpdk

package dpdk

import (
	"testing"

	"vswitch/datapath"
)

// The two buffer strategies, measured on the I/O alone (net_null rx ->
// net_null tx, 64-byte frames, one burst per iteration, no switching):
//   Copy:  Port.Rx copies each frame into a datapath packet and frees the
//          mbufs in bulk; Port.Tx allocates mbufs in bulk and copies back.
//   Mbuf:  Port.Rx wraps each mbuf as a datapath packet; Port.Tx hands the
//          same mbufs to the driver.
//   Floor: the rx mbufs go straight to tx in C (vs_fwd_mbuf), nothing
//          wraps them: the least any mbuf datapath can cost.
// ns/op is per burst of 32; b.ReportMetric gives ns per packet.

func benchPorts(b *testing.B, buffers string) (*Port, *Port, *datapath.Cache) {
	a, err := datapath.NewArena(16 << 20)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	pool := datapath.NewPool(a)
	rx, err := Open(Config{Name: "brx", Devargs: "net_null" + uniq(), RxQueues: 1, TxQueues: 1, Pool: pool, Buffers: buffers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rx.Close() })
	tx, err := Open(Config{Name: "btx", Devargs: "net_null" + uniq() + ",no-rx=1", RxQueues: 1, TxQueues: 1, Pool: pool, Buffers: buffers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tx.Close() })
	return rx, tx, pool.NewCache()
}

func BenchmarkBurstCopy(b *testing.B) { benchBurst(b, BuffersCopy) }

func BenchmarkBurstMbuf(b *testing.B) { benchBurst(b, BuffersMbuf) }

func benchBurst(b *testing.B, buffers string) {
	rx, tx, c := benchPorts(b, buffers)
	var batch datapath.Batch
	pkts := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkts += rx.Rx(0, &batch, c)
		tx.Tx(0, &batch, c)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(pkts, 1)), "ns/pkt")
}

func BenchmarkBurstFloor(b *testing.B) {
	rx, tx, _ := benchPorts(b, BuffersMbuf)
	pkts := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkts += int(fwdMbuf(rx, tx))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(pkts, 1)), "ns/pkt")
}
