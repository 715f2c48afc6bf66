package datapath

import (
	"fmt"
	"testing"

	"vswitch/flowtable"
)

// maskUpcaller forwards port a -> b and gives each flow one of nmasks
// megaflow masks (by TpDst), so benchmarks can set the subtable count.
type maskUpcaller struct {
	a, b   uint32
	nmasks int
}

func (m *maskUpcaller) Upcall(u *Upcall) error {
	u.Mask.InPort = ^uint32(0)
	u.Mask.DlType = 0xffff
	u.Mask.TpDst = 0xffff
	u.Mask.NwDst = [16]byte{0xff, 0xff, 0xff, 0xff}
	// Different masks: some prefix of the source address bits.
	if m.nmasks > 1 {
		bits := 32 - int(u.Key.TpDst)%m.nmasks
		var nw [4]byte
		v := ^uint32(0) << (32 - bits)
		nw[0], nw[1], nw[2], nw[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		copy(u.Mask.NwSrc[:4], nw[:])
	}
	u.Actions = append(u.Actions, Output(m.b))
	return nil
}

// benchPipeline runs PMD iterations over nflows distinct flows in nmasks
// subtables, with the EMC inserting with 1/emcInv (EMCDisabled: never).
func benchPipeline(b *testing.B, nflows, nmasks, emcInv int) {
	up := &maskUpcaller{nmasks: nmasks}
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 8 << 20, EMCInsertInvProb: emcInv, UpcallBudget: 1 << 20}, up)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Stop)
	src := &memPort{name: "src", burst: BatchSize}
	for i := 0; i < nflows; i++ {
		src.templates = append(src.templates, udpFrame(macA, macB, 0x0a000001+uint32(i/nmasks)<<8, 0x0a000002, 1000, uint16(2000+i), 64))
	}
	dst := &memPort{name: "dst"}
	up.a, _ = d.AddPort(src)
	up.b, _ = d.AddPort(dst)
	p := d.pmds[0]
	spreadBuffers(p)
	p.reload()
	for i := 0; i < 4*nflows/BatchSize+200; i++ { // install every megaflow, warm the EMC
		p.iterate()
	}
	if got := p.ft.cls[up.a].Subtables(); got != nmasks {
		b.Fatalf("%d subtables, want %d", got, nmasks)
	}
	before := p.local
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.iterate()
	}
	b.StopTimer()
	pkts := float64(b.N) * BatchSize
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/pkts, "ns/pkt")
	b.ReportMetric(pkts/b.Elapsed().Seconds()/1e6, "Mpps")
	if p.local.Upcalls != before.Upcalls {
		b.Fatalf("%d upcalls during the measurement", p.local.Upcalls-before.Upcalls)
	}
	b.ReportMetric(float64(p.local.EMCHits-before.EMCHits)/pkts*100, "%emc")
}

func BenchmarkPipelineEMC(b *testing.B) {
	for _, n := range []int{2, 1024} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) { benchPipeline(b, n, 1, 1) })
	}
}

func BenchmarkPipelineMegaflow(b *testing.B) {
	for _, m := range []int{1, 8} {
		b.Run(fmt.Sprintf("subtables=%d", m), func(b *testing.B) { benchPipeline(b, 1024, m, EMCDisabled) })
	}
}

// BenchmarkFlowSetup measures upcall-path flow setups: every packet is a
// new flow, translated, installed and forwarded.
func BenchmarkFlowSetup(b *testing.B) {
	up := &maskUpcaller{nmasks: 1}
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 8 << 20, UpcallBudget: 1 << 20, FlowLimit: 1 << 20}, up)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Stop)
	src := &memPort{name: "src"}
	dst := &memPort{name: "dst"}
	up.a, _ = d.AddPort(src)
	up.b, _ = d.AddPort(dst)
	p := d.pmds[0]
	p.reload()
	const distinct = 1 << 16
	frames := make([][]byte, distinct)
	for i := range frames {
		frames[i] = udpFrame(macA, macB, 0x0a000001, 0x0a000000+uint32(i>>16), 1000, uint16(i), 64)
	}
	src.templates = frames
	src.burst = BatchSize
	b.ReportAllocs()
	b.ResetTimer()
	setups := uint64(0)
	for i := 0; i < b.N; i++ {
		if (i*BatchSize)%distinct == 0 && i > 0 {
			b.StopTimer()
			setups += p.local.Upcalls
			p.local.Upcalls = 0
			p.ft.clear()
			b.StartTimer()
		}
		p.iterate()
	}
	b.StopTimer()
	setups += p.local.Upcalls
	b.ReportMetric(float64(setups)/b.Elapsed().Seconds(), "setups/s")
	var k flowtable.Key
	_ = k
}
