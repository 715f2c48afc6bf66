package datapath

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Port capture: a bounded tap on one port's received and sent frames, for
// what tcpdump cannot see (vhost-user, AF_XDP). The PMD pays one atomic
// load per batch while no capture runs; while one runs it copies each
// frame into a preallocated buffer, and drops (counting) rather than wait
// when the reader is behind or the rate budget is spent.

// Capture directions.
const (
	CaptureRx uint8 = 1 << iota
	CaptureTx
)

// CapturedFrame is one frame a Capture took; Data aliases a buffer handed
// back with Release.
type CapturedFrame struct {
	Time    int64 // Unix nanoseconds
	Dir     uint8 // CaptureRx or CaptureTx
	OrigLen int
	Data    []byte
	buf     []byte
}

// Capture is one running capture.
type Capture struct {
	port    uint32
	dirs    uint8
	snaplen int
	// rate budget: at most budget frames per window of windowNs.
	budget, windowNs int64
	free             chan *CapturedFrame
	frames           chan *CapturedFrame
	dropped          atomic.Uint64
	// frames taken in the current window (window is its index).
	window, inWindow atomic.Int64
}

// CaptureConfig sets up a capture.
type CaptureConfig struct {
	Dirs    uint8 // CaptureRx|CaptureTx
	Snaplen int   // bytes kept per frame (default and cap: a whole frame)
	Buffers int   // frames in flight to the reader (default 1024)
	PerSec  int   // frames per second at most (default 200000)
}

// ErrCaptureBusy is returned when the port is already being captured.
var ErrCaptureBusy = errors.New("the port is already being captured")

// StartCapture taps datapath port no.
func (d *Datapath) StartCapture(no uint32, cfg CaptureConfig) (*Capture, error) {
	if cfg.Dirs == 0 {
		cfg.Dirs = CaptureRx | CaptureTx
	}
	if cfg.Snaplen <= 0 || cfg.Snaplen > MaxData {
		cfg.Snaplen = MaxData
	}
	if cfg.Buffers <= 0 {
		cfg.Buffers = 1024
	}
	if cfg.PerSec <= 0 {
		cfg.PerSec = 200000
	}
	// 1 ms windows keep bursts well under the buffers a reader polling
	// every millisecond or so frees; below 1000 frames/s a window holds one
	// frame, so low rates are not rounded down to nothing.
	budget, windowNs := int64(cfg.PerSec)/1000, int64(time.Millisecond)
	if budget == 0 {
		budget, windowNs = 1, int64(time.Second)/int64(cfg.PerSec)
	}
	c := &Capture{port: no, dirs: cfg.Dirs, snaplen: cfg.Snaplen, budget: budget, windowNs: windowNs,
		free: make(chan *CapturedFrame, cfg.Buffers), frames: make(chan *CapturedFrame, cfg.Buffers)}
	for range cfg.Buffers {
		c.free <- &CapturedFrame{buf: make([]byte, cfg.Snaplen)}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.ports[no]
	if !ok {
		return nil, fmt.Errorf("datapath: no port %d", no)
	}
	if !p.capture.CompareAndSwap(nil, c) {
		return nil, ErrCaptureBusy
	}
	return c, nil
}

// StopCapture ends c; frames already queued can still be read.
func (d *Datapath) StopCapture(c *Capture) {
	d.mu.Lock()
	if p, ok := d.ports[c.port]; ok {
		p.capture.CompareAndSwap(c, nil)
	}
	d.mu.Unlock()
}

// Frames delivers captured frames; hand each back with Release. A reader
// that polls it (drains, then sleeps a few milliseconds) rather than
// blocking on it spares the PMD waking a goroutine for every frame.
func (c *Capture) Frames() <-chan *CapturedFrame { return c.frames }

// Release returns a frame's buffer.
func (c *Capture) Release(f *CapturedFrame) { c.free <- f }

// Dropped counts frames not captured: reader behind or budget spent.
func (c *Capture) Dropped() uint64 { return c.dropped.Load() }

// tap copies the batch's frames going in direction dir. The budget is
// settled once per batch (two atomics, not two per frame) and the first
// empty free list ends the copying, so a spent budget or a slow reader
// costs the PMD little more than the clock read.
func (c *Capture) tap(b *Batch, dir uint8) {
	n := int64(b.N)
	if c.dirs&dir == 0 || n == 0 {
		return
	}
	now := time.Now().UnixNano()
	// Rx and tx PMDs may race on a window change: at worst a window's
	// count restarts once, which the budget tolerates.
	if w := now / c.windowNs; c.window.Load() != w {
		c.window.Store(w)
		c.inWindow.Store(0)
	}
	var take int64
	if before := c.inWindow.Load(); before < c.budget {
		before = c.inWindow.Add(n) - n
		take = min(max(c.budget-before, 0), n)
	}
	for i, pkt := range b.Packets()[:take] {
		var f *CapturedFrame
		select {
		case f = <-c.free:
		default:
			take = int64(i)
		}
		if f == nil {
			break
		}
		data := pkt.Data()
		f.Time, f.Dir, f.OrigLen = now, dir, len(data)
		f.Data = f.buf[:copy(f.buf, data)]
		c.frames <- f // never blocks: frames holds every buffer
	}
	if take < n {
		c.dropped.Add(uint64(n - take))
	}
}
