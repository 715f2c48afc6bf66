//go:build dpdk

package dpdk

import (
	"testing"

	"vswitch/datapath"
)

// The two buffer strategies, measured on the I/O alone (net_null rx ->
// net_null tx, 64-byte frames, one burst per iteration, no switching):
//   copy: Port.Rx copies each frame into a datapath packet and frees the
//         mbufs in bulk; Port.Tx allocates mbufs in bulk and copies back.
//   mbuf: the rx mbufs go straight to tx (vs_fwd_mbuf), the floor of an
//         mbuf-end-to-end datapath before any cost of wrapping mbufs as
//         datapath packets (a Packet per mbuf, Release per packet).
// ns/op is per burst of 32; b.ReportMetric gives ns per packet.

func benchPorts(b *testing.B) (*Port, *Port, *datapath.Cache) {
	a, err := datapath.NewArena(16 << 20)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	pool := datapath.NewPool(a)
	rx, err := Open(Config{Name: "brx", Devargs: "net_null" + uniq(), RxQueues: 1, TxQueues: 1, Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rx.Close() })
	tx, err := Open(Config{Name: "btx", Devargs: "net_null" + uniq() + ",no-rx=1", RxQueues: 1, TxQueues: 1, Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tx.Close() })
	return rx, tx, pool.NewCache()
}

func BenchmarkBurstCopy(b *testing.B) {
	rx, tx, c := benchPorts(b)
	var batch datapath.Batch
	pkts := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkts += rx.Rx(0, &batch, c)
		tx.Tx(0, &batch, c)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(pkts, 1)), "ns/pkt")
}

func BenchmarkBurstMbuf(b *testing.B) {
	rx, tx, _ := benchPorts(b)
	pkts := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkts += int(fwdMbuf(rx, tx))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(pkts, 1)), "ns/pkt")
}
