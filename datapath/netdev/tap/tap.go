// Package tap is the tap port backend, for the `internal` and `tap`
// interface types: a TAP device (IFF_TAP|IFF_NO_PI) the host sees as an
// ordinary Ethernet interface, with the switch at the other end of its
// /dev/net/tun file descriptor.
//
// The fd carries no virtio-net header, so the kernel segments and
// checksums everything it hands us, and every frame we write is a plain
// Ethernet frame.
package tap

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"vswitch/datapath"
	"vswitch/datapath/netdev/internal/link"
)

// Kind says how the device's life is tied to the port.
type Kind int

const (
	// Internal: the port owns the device. It is created (or an existing
	// tap of that name taken over) and removed when the port closes. The
	// bridge's own LOCAL port is one of these, named after the bridge.
	Internal Kind = iota
	// Named: attach to an existing (persistent) tap of that name, or create
	// one. A tap that existed before stays when the port closes; one the
	// port created goes away with it.
	Named
)

func (k Kind) String() string {
	if k == Internal {
		return "internal"
	}
	return "tap"
}

// Port is a tap port. Rx must be called by one goroutine at a time; Tx may
// be called concurrently (each write is one frame).
type Port struct {
	name    string
	kind    Kind
	fd      int
	created bool
	cnt     datapath.Counters

	closeOnce sync.Once
	closeErr  error
}

// Open creates or attaches the tap device name (in the caller's network
// namespace). New devices are administratively down, as OVS leaves
// internal ports: the operator brings them up (`ip link set NAME up`).
func Open(name string, kind Kind) (*Port, error) {
	if err := link.CheckName(name); err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	existed := link.Exists(name)
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s %s: open /dev/net/tun: %w", kind, name, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		switch {
		case existed && errors.Is(err, unix.EINVAL):
			return nil, fmt.Errorf("%s %s: a network device of that name exists and is not a tap: %w", kind, name, err)
		case errors.Is(err, unix.EBUSY):
			return nil, fmt.Errorf("%s %s: the tap is already open (another port or process holds it): %w", kind, name, err)
		}
		return nil, fmt.Errorf("%s %s: TUNSETIFF: %w", kind, name, err)
	}
	if kind == Internal && existed {
		// Taking over a persistent tap: make it go away with the port
		// like one the port created.
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 0); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("%s %s: clear persistence: %w", kind, name, err)
		}
	}
	return &Port{name: name, kind: kind, fd: fd, created: !existed}, nil
}

// Name returns the device name.
func (p *Port) Name() string { return p.name }

// Kind returns how the port was opened.
func (p *Port) Kind() Kind { return p.kind }

// Created reports whether the port created the device (rather than
// attaching to an existing one).
func (p *Port) Created() bool { return p.created }

// RxQueues is 1.
func (p *Port) RxQueues() int { return 1 }

// PollFD returns the tun fd; it is readable when the host sent a frame.
func (p *Port) PollFD(int) int { return p.fd }

// Rx reads frames straight into pool buffers until the tap is empty or b
// is full.
func (p *Port) Rx(_ int, b *datapath.Batch, c *datapath.Cache) int {
	start := b.N
	var bytes, dropped, truncated, errs uint64
	for b.N < datapath.BatchSize {
		pkt := c.Get()
		if pkt == nil {
			break
		}
		buf := pkt.Frame()[datapath.Headroom:]
		n, err := unix.Read(p.fd, buf)
		if err != nil {
			c.Put(pkt)
			if err == unix.EINTR {
				continue
			}
			if err != unix.EAGAIN {
				errs++
			}
			break
		}
		switch {
		case n > len(buf):
			// tun reports the frame's full length when the buffer was
			// too small (an MTU above what a pool buffer holds).
			c.Put(pkt)
			truncated++
			dropped++
			continue
		case n < 14:
			c.Put(pkt)
			errs++
			dropped++
			continue
		}
		pkt.SetData(datapath.Headroom, n)
		b.Pkts[b.N] = pkt
		b.N++
		bytes += uint64(n)
	}
	if got := b.N - start; got > 0 {
		p.cnt.RxPackets.Add(uint64(got))
		p.cnt.RxBytes.Add(bytes)
	}
	if dropped|errs != 0 {
		p.cnt.RxDropped.Add(dropped)
		p.cnt.RxTruncated.Add(truncated)
		p.cnt.RxErrors.Add(errs)
	}
	return b.N - start
}

// Tx writes each packet as one frame and frees them through c. Writes to a
// tap that is down fail with EIO; they are counted as dropped, quietly,
// since an internal port nobody brought up is normal.
func (p *Port) Tx(_ int, b *datapath.Batch, c *datapath.Cache) {
	var sent, bytes, dropped, errs uint64
	for i := 0; i < b.N; i++ {
		d := b.Pkts[i].Data()
		for {
			_, err := unix.Write(p.fd, d)
			switch err {
			case nil:
				sent++
				bytes += uint64(len(d))
			case unix.EINTR:
				continue
			case unix.EIO, unix.EAGAIN, unix.ENOBUFS, unix.ENOMEM:
				dropped++
			default:
				errs++
			}
			break
		}
	}
	if sent != 0 {
		p.cnt.TxPackets.Add(sent)
		p.cnt.TxBytes.Add(bytes)
	}
	if dropped != 0 {
		p.cnt.TxDropped.Add(dropped)
	}
	if errs != 0 {
		p.cnt.TxErrors.Add(errs)
	}
	c.PutBatch(b)
}

// Stats returns the port counters.
func (p *Port) Stats() datapath.PortStats { return p.cnt.Snapshot() }

// Close closes the tun fd; the kernel then removes the device unless it is
// a persistent tap the port attached to.
func (p *Port) Close() error {
	p.closeOnce.Do(func() {
		if err := unix.Close(p.fd); err != nil {
			p.closeErr = fmt.Errorf("%s %s: close: %w", p.kind, p.name, err)
		}
		p.fd = -1
	})
	return p.closeErr
}

var _ datapath.Port = (*Port)(nil)

// SlowPoll: every rx poll is a read(2) on the tun fd.
func (p *Port) SlowPoll() bool { return true }
