package datapath

import "testing"

// BenchmarkPipeline runs whole PMD iterations between two in-memory ports:
// rx burst of 32 into pool buffers, key extraction, flow-cache lookup,
// actions, per-port tx batching and flush. Two flows alternate and more than
// 1024 distinct buffers cycle through the mempool.
func BenchmarkPipeline(b *testing.B) {
	up := &crossConnect{}
	d := newTestDatapath(b, up)
	src := &memPort{name: "src", burst: BatchSize}
	for i := 0; i < 2; i++ {
		src.templates = append(src.templates, udpFrame(macA, macB, 0x0a000001, 0x0a000002, uint16(1000+i), 2000, 64))
	}
	dst := &memPort{name: "dst"}
	up.a, _ = d.AddPort(src)
	up.b, _ = d.AddPort(dst)
	p := d.pmds[0]
	spreadBuffers(p)
	p.reload()
	p.iterate()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.iterate()
	}
	b.StopTimer()
	pkts := float64(b.N) * BatchSize
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/pkts, "ns/pkt")
	b.ReportMetric(pkts/b.Elapsed().Seconds()/1e6, "Mpps")
	if got := dst.txPackets.Load(); got < uint64(b.N)*BatchSize {
		b.Fatalf("forwarded %d of %d packets", got, uint64(b.N)*BatchSize)
	}
}

// spreadBuffers takes 1100 buffers and gives them back, so the PMD's cache
// and the ring cycle through many distinct frames, not one hot pair.
func spreadBuffers(p *pmd) {
	var held []*Packet
	for i := 0; i < 1100; i++ {
		held = append(held, p.cache.Get())
	}
	for _, pk := range held {
		p.cache.Put(pk)
	}
}
