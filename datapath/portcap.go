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
	perSec  int64
	free    chan *CapturedFrame
	frames  chan *CapturedFrame
	dropped atomic.Uint64
	// rate budget: frames taken in the current 10 ms window.
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
	c := &Capture{port: no, dirs: cfg.Dirs, snaplen: cfg.Snaplen, perSec: int64(cfg.PerSec),
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

// Frames delivers captured frames; hand each back with Release.
func (c *Capture) Frames() <-chan *CapturedFrame { return c.frames }

// Release returns a frame's buffer.
func (c *Capture) Release(f *CapturedFrame) { c.free <- f }

// Dropped counts frames not captured: reader behind or budget spent.
func (c *Capture) Dropped() uint64 { return c.dropped.Load() }

// tap copies the batch's frames going in direction dir.
func (c *Capture) tap(b *Batch, dir uint8) {
	if c.dirs&dir == 0 || b.N == 0 {
		return
	}
	now := time.Now().UnixNano()
	w := now / int64(10*time.Millisecond)
	if c.window.Load() != w {
		c.window.Store(w)
		c.inWindow.Store(0)
	}
	budget := c.perSec / 100
	for _, pkt := range b.Packets() {
		if c.inWindow.Add(1) > budget {
			c.dropped.Add(1)
			continue
		}
		var f *CapturedFrame
		select {
		case f = <-c.free:
		default:
			c.dropped.Add(1)
			continue
		}
		data := pkt.Data()
		f.Time, f.Dir, f.OrigLen = now, dir, len(data)
		f.Data = f.buf[:copy(f.buf, data)]
		c.frames <- f // never blocks: frames holds every buffer
	}
}
