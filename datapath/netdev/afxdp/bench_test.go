package afxdp_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vswitch/datapath"
	"vswitch/datapath/netdev/afpacket"
	"vswitch/datapath/netdev/afxdp"
)

// BenchmarkForward64 measures a port backend forwarding 64-byte frames
// (60 bytes plus FCS) between two namespaces: a generator in namespace A
// blasts frames into veth A; the test's forwarder (one goroutine, a
// datapath-style Rx on port A → Tx on port B loop) moves them to veth B;
// the figure is what namespace B's device actually received per second.
// Run with e.g. -bench Forward64 -benchtime 3000000x.
//
// On a 2-vCPU machine the generator's core also does port A's kernel rx
// work (veth xmit, the XDP program or the packet socket), so the offered
// load caps the delivered rate; fwd-core-Mpps is the forwarder's own
// capacity, measured from the time its busy iterations took.
func BenchmarkForward64(b *testing.B) {
	b.Run("afxdp-generic", func(b *testing.B) {
		benchForward(b, func(tb testing.TB, pool *datapath.Pool, dev string) datapath.Port {
			return openPort(tb, pool, dev, afxdp.Generic, 1)
		})
	})
	b.Run("afxdp-native", func(b *testing.B) {
		benchForward(b, func(tb testing.TB, pool *datapath.Pool, dev string) datapath.Port {
			return openPort(tb, pool, dev, afxdp.Native, 1)
		})
	})
	b.Run("afpacket", func(b *testing.B) {
		benchForward(b, func(tb testing.TB, pool *datapath.Pool, dev string) datapath.Port {
			p, err := afpacket.Open(dev)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { p.Close() })
			return p
		})
	})
}

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

func benchForward(b *testing.B, open func(testing.TB, *datapath.Pool, string) datapath.Port) {
	fa := newFixture(b, 1)
	fb := newFixture(b, 1)
	pool := newPool(b)
	pa := open(b, pool, fa.host)
	pb := open(b, pool, fb.host)

	// Generator socket in namespace A: send only (protocol 0), past the
	// qdisc.
	gen := -1
	if err := fa.ns.Do(func() error {
		l, err := netlink.LinkByName(fa.peer)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		gen = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index})
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(gen) })

	rxB := func() uint64 {
		var n uint64
		if err := fb.ns.Do(func() error {
			l, err := netlink.LinkByName(fb.peer)
			if err != nil {
				return err
			}
			n = l.Attrs().Statistics.RxPackets
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		return n
	}

	// Forwarder.
	var stop atomic.Bool
	var busy time.Duration // forwarder time in iterations that moved packets
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		c := pool.NewCache()
		defer c.Flush()
		var batch datapath.Batch
		for !stop.Load() {
			t0 := time.Now()
			if pa.Rx(0, &batch, c) == 0 {
				continue
			}
			pb.Tx(0, &batch, c)
			busy += time.Since(t0)
		}
	}()

	// 60-byte frames to a MAC nobody has: namespace B counts and drops
	// them.
	frame := testFrame([6]byte{0x02, 0, 0, 0, 0xbb, 0x01}, macNS, 1, 60)
	const burst = 64
	var msgs [burst]mmsghdr
	var iov [burst]unix.Iovec
	for i := range msgs {
		iov[i].Base = &frame[0]
		iov[i].SetLen(len(frame))
		msgs[i].hdr.Iov = &iov[i]
		msgs[i].hdr.SetIovlen(1)
	}
	before := rxB()
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for sent < b.N {
		n := min(burst, b.N-sent)
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(gen), uintptr(unsafe.Pointer(&msgs[0])), uintptr(n), 0, 0, 0)
		if e != 0 {
			if e == unix.ENOBUFS || e == unix.EAGAIN {
				sent++ // the frame was dropped at veth A: count it as offered
				continue
			}
			b.Fatalf("sendmmsg: %v", e)
		}
		sent += int(r)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	time.Sleep(200 * time.Millisecond) // let the forwarder drain
	stop.Store(true)
	wg.Wait()
	got := rxB() - before
	b.ReportMetric(float64(got)/elapsed.Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(sent)/elapsed.Seconds()/1e6, "offered-Mpps")
	// What one forwarder core could move if it never waited for input:
	// packets over the time spent in Rx+Tx calls that moved some (the
	// kernel's delivery into namespace B runs inside Tx and is included).
	b.ReportMetric(float64(pa.Stats().RxPackets)/busy.Seconds()/1e6, "fwd-core-Mpps")
	b.ReportMetric(100*float64(uint64(b.N)-min(got, uint64(b.N)))/float64(b.N), "loss%")
	sa, sb := pa.Stats(), pb.Stats()
	b.Logf("N=%d delivered=%d in %v; A rx=%d rxdrop=%d; B tx=%d txdrop=%d", b.N, got, elapsed, sa.RxPackets, sa.RxDropped, sb.TxPackets, sb.TxDropped)
}
