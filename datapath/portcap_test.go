package datapath

import (
	"testing"
	"time"
)

// BenchmarkCapture is the EMC pipeline (one PMD forwarding batches of 32
// 64-byte frames from src to dst) with no capture (the PMD's only cost is
// one atomic load per batch: 0 allocs/op), with a capture of the receiving
// port taking every frame, and with the default 200000 frames/s budget.
// A reader on another goroutine drains the capture as the API does.
func BenchmarkCapture(b *testing.B) {
	for _, bc := range []struct {
		name   string
		perSec int // 0: no capture
	}{{"off", 0}, {"all", 1 << 30}, {"rate=200k", 200000}} {
		b.Run(bc.name, func(b *testing.B) { benchCapture(b, bc.perSec) })
	}
}

func benchCapture(b *testing.B, perSec int) {
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
	var c *Capture
	var taken int
	if perSec > 0 {
		if c, err = d.StartCapture(up.a, CaptureConfig{Dirs: CaptureRx, PerSec: perSec}); err != nil {
			b.Fatal(err)
		}
		stop, done := make(chan struct{}), make(chan struct{})
		go func() { // polls as the API's reader does
			defer close(done)
			for {
				for len(c.Frames()) > 0 {
					f := <-c.Frames()
					taken++
					c.Release(f)
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		defer func() { close(stop); <-done }()
	}
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
	if dst.txPackets.Load() < uint64(pkts) {
		b.Fatalf("forwarded %d of %.0f frames", dst.txPackets.Load(), pkts)
	}
	if c != nil {
		b.ReportMetric(float64(c.Dropped())/pkts*100, "%dropped")
		b.ReportMetric(float64(taken)/b.Elapsed().Seconds()/1e3, "kframes/s")
	}
}

// newCaptureDP is a one-PMD datapath cross-connecting ports a and b.
func newCaptureDP(t *testing.T) (*Datapath, *pmd, *memPort, *memPort, *crossConnect) {
	t.Helper()
	x := &crossConnect{}
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 4 << 20}, x)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	a, bp := &memPort{name: "a"}, &memPort{name: "b"}
	x.a, _ = d.AddPort(a)
	x.b, _ = d.AddPort(bp)
	p := d.pmds[0]
	p.reload()
	return d, p, a, bp, x
}

// A capture sees rx frames, stops when stopped, and refuses a second one.
func TestCaptureTap(t *testing.T) {
	d, p, a, _, x := newCaptureDP(t)
	c, err := d.StartCapture(x.a, CaptureConfig{Snaplen: 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.StartCapture(x.a, CaptureConfig{}); err != ErrCaptureBusy {
		t.Fatalf("second capture: %v", err)
	}
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

// The receiving port's capture sees forwarded frames as tx, whole, and a
// direction filter keeps the other direction out.
func TestCaptureTxAndDirection(t *testing.T) {
	d, p, a, bp, x := newCaptureDP(t)
	tx, err := d.StartCapture(x.b, CaptureConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rxOnly, err := d.StartCapture(x.a, CaptureConfig{Dirs: CaptureRx})
	if err != nil {
		t.Fatal(err)
	}
	ab := udpFrame(macA, macB, 1, 2, 3, 4, 300)
	ba := udpFrame(macB, macA, 2, 1, 4, 3, 90)
	a.send(ab)
	bp.send(ba)
	for range 3 {
		p.iterate()
	}
	got := map[uint8][]byte{}
	for len(tx.Frames()) > 0 {
		f := <-tx.Frames()
		got[f.Dir] = append([]byte(nil), f.Data...)
		tx.Release(f)
	}
	if string(got[CaptureTx]) != string(ab) || string(got[CaptureRx]) != string(ba) {
		t.Fatalf("port b captured tx %d bytes, rx %d bytes; want %d and %d", len(got[CaptureTx]), len(got[CaptureRx]), len(ab), len(ba))
	}
	// Port a sent ba (tx) and received ab (rx): an rx-only capture has ab alone.
	if n := len(rxOnly.Frames()); n != 1 {
		t.Fatalf("rx-only capture holds %d frames, want 1", n)
	}
	if f := <-rxOnly.Frames(); f.Dir != CaptureRx || string(f.Data) != string(ab) {
		t.Fatalf("rx-only capture: dir %d, %d bytes", f.Dir, len(f.Data))
	}
}

// A reader that does not read and a spent rate budget both make the PMD
// drop (and count) rather than wait, and forwarding goes on.
func TestCaptureBounded(t *testing.T) {
	t.Run("buffers", func(t *testing.T) {
		d, p, a, bp, x := newCaptureDP(t)
		c, err := d.StartCapture(x.a, CaptureConfig{Dirs: CaptureRx, Buffers: 4, PerSec: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		frames := make([][]byte, 3*BatchSize)
		for i := range frames {
			frames[i] = udpFrame(macA, macB, 1, 2, 3, uint16(i), 64)
		}
		a.send(frames...)
		start := time.Now()
		for range 10 {
			p.iterate()
		}
		if n, dr := len(c.Frames()), c.Dropped(); n != 4 || dr != uint64(len(frames)-4) {
			t.Fatalf("%d frames queued, %d dropped; want 4 and %d", n, dr, len(frames)-4)
		}
		if got := bp.txPackets.Load(); got != uint64(len(frames)) {
			t.Fatalf("forwarded %d of %d frames", got, len(frames))
		}
		t.Logf("4 buffers, %d frames: 4 captured, %d dropped, all forwarded in %v", len(frames), c.Dropped(), time.Since(start))
	})
	t.Run("rate", func(t *testing.T) {
		for _, perSec := range []int{16000, 10} {
			d, p, a, _, x := newCaptureDP(t)
			c, err := d.StartCapture(x.a, CaptureConfig{Dirs: CaptureRx, PerSec: perSec})
			if err != nil {
				t.Fatal(err)
			}
			frames := make([][]byte, BatchSize)
			for i := range frames {
				frames[i] = udpFrame(macA, macB, 1, 2, 3, uint16(i), 64)
			}
			a.send(frames...)
			p.iterate()
			// One 1 ms window holds perSec/1000 frames, and at least one.
			want := max(perSec/1000, 1)
			if n, dr := len(c.Frames()), c.Dropped(); n != want || dr != uint64(BatchSize-want) {
				t.Fatalf("%d frames/s: %d captured, %d dropped; want %d and %d", perSec, n, dr, want, BatchSize-want)
			}
			d.StopCapture(c)
		}
	})
}
