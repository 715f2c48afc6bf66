package datapath

import (
	"testing"
)

// BenchmarkCapture is the EMC pipeline with a capture of the receiving
// port running (a reader draining it), to compare with
// BenchmarkPipelineEMC/flows=2 (no capture: one atomic load per batch).
func BenchmarkCapture(b *testing.B) {
	up := &maskUpcaller{nmasks: 1}
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 8 << 20, EMCInsertInvProb: 1, UpcallBudget: 1 << 20}, up)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Stop)
	src := &memPort{name: "src", burst: BatchSize, templates: [][]byte{udpFrame(macA, macB, 0x0a000001, 0x0a000002, 1000, 2000, 64)}}
	dst := &memPort{name: "dst"}
	up.a, _ = d.AddPort(src)
	up.b, _ = d.AddPort(dst)
	c, err := d.StartCapture(up.a, CaptureConfig{Dirs: CaptureRx, PerSec: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case f := <-c.Frames():
				c.Release(f)
			case <-stop:
				return
			}
		}
	}()
	defer close(stop)
	p := d.pmds[0]
	spreadBuffers(p)
	p.reload()
	for range 100 {
		p.iterate()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.iterate()
	}
	b.StopTimer()
	pkts := float64(b.N) * BatchSize
	b.ReportMetric(pkts/b.Elapsed().Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(c.Dropped())/pkts*100, "%dropped")
}

// A capture sees rx frames, stops when stopped, and refuses a second one.
func TestCaptureTap(t *testing.T) {
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 4 << 20}, &crossConnect{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	a, bp := &memPort{name: "a"}, &memPort{name: "b"}
	x := d.up.(*crossConnect)
	x.a, _ = d.AddPort(a)
	x.b, _ = d.AddPort(bp)
	c, err := d.StartCapture(x.a, CaptureConfig{Snaplen: 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.StartCapture(x.a, CaptureConfig{}); err != ErrCaptureBusy {
		t.Fatalf("second capture: %v", err)
	}
	p := d.pmds[0]
	p.reload()
	frame := udpFrame(macA, macB, 1, 2, 3, 4, 80)
	a.send(frame, frame)
	p.iterate()
	for i := 0; i < 2; i++ {
		f := <-c.Frames()
		if f.Dir != CaptureRx || f.OrigLen != 80 || len(f.Data) != 20 || string(f.Data) != string(frame[:20]) {
			t.Fatalf("frame %d: dir %d len %d/%d", i, f.Dir, len(f.Data), f.OrigLen)
		}
		c.Release(f)
	}
	d.StopCapture(c)
	a.send(frame)
	p.iterate()
	select {
	case <-c.Frames():
		t.Fatal("frame captured after stop")
	default:
	}
}
