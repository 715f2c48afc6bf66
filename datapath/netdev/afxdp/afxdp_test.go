package afxdp_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vswitch/datapath"
	"vswitch/datapath/netdev"
	"vswitch/datapath/netdev/afxdp"
	"vswitch/datapath/netdev/internal/nettest"
)

const etherType = 0x88b5 // IEEE local experimental: nothing else sends it

var (
	macNS   = [6]byte{0x02, 0, 0, 0, 0xaa, 0x01}
	macHost = [6]byte{0x02, 0, 0, 0, 0xaa, 0x02}
)

// newPool is a real datapath pool over a 16 MiB arena.
func newPool(t testing.TB) *datapath.Pool {
	t.Helper()
	a, err := datapath.NewArena(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return datapath.NewPool(a)
}

// offloadsOff turns off tx checksum offload, TSO and GSO on a device in
// ns, so it never hands the XDP side a frame larger than a UMEM chunk.
func offloadsOff(t testing.TB, ns *nettest.NS, dev string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns.Name, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off").CombinedOutput()
	if err != nil {
		t.Fatalf("ethtool -K %s: %v: %s", dev, err, out)
	}
}

// fixture is a veth pair: host end here, peer end in a new namespace with
// offloads off.
type fixture struct {
	host, peer string
	ns         *nettest.NS
}

func newFixture(t testing.TB, queues int) *fixture {
	t.Helper()
	nettest.RequireRoot(t)
	sfx := nettest.Suffix()
	f := &fixture{host: "xdh" + sfx, peer: "xdp" + sfx, ns: nettest.NewNS(t, "afxdp")}
	if queues > 1 {
		q := fmt.Sprint(queues)
		nettest.IP(t, "link", "add", f.host, "numrxqueues", q, "numtxqueues", q, "type", "veth",
			"peer", "name", f.peer, "numrxqueues", q, "numtxqueues", q, "netns", f.ns.Name)
		t.Cleanup(func() { _ = exec.Command("ip", "link", "del", f.host).Run() })
		nettest.IP(t, "link", "set", f.host, "addrgenmode", "none")
		nettest.IP(t, "link", "set", f.host, "up")
		nettest.IP(t, "-n", f.ns.Name, "link", "set", f.peer, "addrgenmode", "none")
		nettest.IP(t, "-n", f.ns.Name, "link", "set", f.peer, "up")
	} else {
		nettest.Veth(t, f.host, f.peer, f.ns)
	}
	offloadsOff(t, f.ns, f.peer)
	// Room for the largest frame a UMEM chunk holds.
	nettest.IP(t, "-n", f.ns.Name, "link", "set", f.peer, "mtu", fmt.Sprint(datapath.MaxData-14))
	nettest.IP(t, "link", "set", f.host, "mtu", fmt.Sprint(datapath.MaxData-14))
	return f
}

func openPort(t testing.TB, pool *datapath.Pool, dev string, mode afxdp.Mode, queues int) *afxdp.Port {
	t.Helper()
	p, err := afxdp.Open(afxdp.Config{Name: dev, Pool: pool, Mode: mode, Queues: queues})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testFrame is an Ethernet frame of n bytes carrying seq.
func testFrame(dst, src [6]byte, seq uint32, n int) []byte {
	f := make([]byte, n)
	copy(f, dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], etherType)
	binary.BigEndian.PutUint32(f[14:], seq)
	for i := 18; i < n; i++ {
		f[i] = byte(i*7 + int(seq))
	}
	return f
}

func isSeq(seq uint32) func([]byte) bool {
	return func(b []byte) bool {
		return len(b) >= 18 && binary.BigEndian.Uint16(b[12:]) == etherType && binary.BigEndian.Uint32(b[14:]) == seq
	}
}

// xdpAttached reports the device's XDP attachment as netlink reports it.
func xdpAttached(t testing.TB, dev string) (bool, uint32) {
	t.Helper()
	l, err := netlink.LinkByName(dev)
	if err != nil {
		t.Fatalf("link %s: %v", dev, err)
	}
	x := l.Attrs().Xdp
	if x == nil {
		return false, 0
	}
	return x.Attached, x.AttachMode
}

// poolFull asserts that every frame is back in the pool's free ring.
func poolFull(t testing.TB, pool *datapath.Pool) {
	t.Helper()
	if got := pool.Available(); got != pool.Size() {
		t.Errorf("pool has %d of %d frames free after close: %d leaked", got, pool.Size(), pool.Size()-got)
	}
}

func TestRxTx(t *testing.T) {
	for _, mode := range []afxdp.Mode{afxdp.Generic, afxdp.Native, afxdp.BestEffort} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t, 1)
			pool := newPool(t)
			p := openPort(t, pool, f.host, mode, 1)
			attached, xmode := xdpAttached(t, f.host)
			t.Logf("mode in effect %s, netlink attach mode %d, locks %d MiB", p.Mode(), xmode, p.LockedBytes()>>20)
			if !attached {
				t.Fatal("no XDP program attached after Open")
			}
			if mode == afxdp.Generic && xmode != nl_XDP_ATTACHED_SKB {
				t.Errorf("netlink attach mode %d, want generic (%d)", xmode, nl_XDP_ATTACHED_SKB)
			}
			c := pool.NewCache()
			fd := nettest.RawSocket(t, f.ns, f.peer)

			// Rx: frames from the namespace arrive byte-exact with the
			// datapath headroom in front.
			for i, n := range []int{60, 64, 128, 777, 1500, 1700, 1760, 1776, 1780, 1790, datapath.MaxData} {
				seq := uint32(100 + i)
				want := testFrame(macHost, macNS, seq, n)
				if _, err := unix.Write(fd, want); err != nil {
					t.Errorf("size %d: %v stats %+v", n, err, p.Stats())
					continue
				}
				got := rxMatchHeadroom(t, p, c, isSeq(seq))
				if got == nil {
					t.Fatalf("%d-byte frame not received; stats %+v", n, p.Stats())
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%d-byte frame differs:\n got %x\nwant %x", n, got, want)
				}
			}

			// Tx: an arena packet, one with data moved into its headroom,
			// and one from a foreign pool (copied in).
			other := newPool(t)
			for i, kind := range []string{"arena", "pushed", "foreign"} {
				seq := uint32(200 + i)
				want := testFrame(macNS, macHost, seq, 60+i*300)
				var pk *datapath.Packet
				switch kind {
				case "arena":
					pk = c.Get()
					if err := pk.CopyFrom(want); err != nil {
						t.Fatal(err)
					}
				case "pushed":
					pk = c.Get()
					if err := pk.CopyFrom(want[20:]); err != nil {
						t.Fatal(err)
					}
					h, err := pk.Push(20)
					if err != nil {
						t.Fatal(err)
					}
					copy(h, want[:20])
				case "foreign":
					pk = other.Get()
					if err := pk.CopyFrom(want); err != nil {
						t.Fatal(err)
					}
				}
				var b datapath.Batch
				b.Add(pk)
				p.Tx(0, &b, c)
				if b.N != 0 {
					t.Fatal("Tx left packets in the batch")
				}
				got := nettest.Recv(fd, 2*time.Second, isSeq(seq))
				if !bytes.Equal(got, want) {
					t.Fatalf("%s tx: got %x\nwant %x", kind, got, want)
				}
			}
			st := p.Stats()
			t.Logf("stats %+v", st)
			if st.RxPackets < 11 || st.TxPackets != 3 {
				t.Errorf("counters: rx %d (want >= 11), tx %d (want 3)", st.RxPackets, st.TxPackets)
			}
			c.Flush()
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if a, _ := xdpAttached(t, f.host); a {
				t.Error("XDP program still attached after Close")
			}
			poolFull(t, pool)
		})
	}
}

// netlink's IFLA_XDP_ATTACHED values.
const (
	nl_XDP_ATTACHED_DRV = 1
	nl_XDP_ATTACHED_SKB = 2
)

// rxMatchHeadroom polls queue 0 until match accepts a packet and returns
// a copy; it also checks that packet starts at the datapath headroom (the
// UMEM headroom math). Every packet is freed through c.
func rxMatchHeadroom(t testing.TB, p datapath.Port, c *datapath.Cache, match func([]byte) bool) []byte {
	t.Helper()
	return rxQueues(t, p, c, 2*time.Second, match)
}

func rxQueues(t testing.TB, p datapath.Port, c *datapath.Cache, timeout time.Duration, match func([]byte) bool) []byte {
	t.Helper()
	var b datapath.Batch
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pfd := make([]unix.PollFd, p.RxQueues())
		for q := range pfd {
			pfd[q] = unix.PollFd{Fd: int32(p.PollFD(q)), Events: unix.POLLIN}
		}
		_, _ = unix.Poll(pfd, 20)
		var found []byte
		for q := 0; q < p.RxQueues(); q++ {
			p.Rx(q, &b, c)
			for _, pk := range b.Packets() {
				if found == nil && match(pk.Data()) {
					if pk.Headroom() != datapath.Headroom {
						t.Errorf("received packet starts at %d, want headroom %d", pk.Headroom(), datapath.Headroom)
					}
					found = append([]byte(nil), pk.Data()...)
				}
			}
			c.PutBatch(&b)
		}
		if found != nil {
			return found
		}
	}
	return nil
}

// TestLoop100k reflects 100k frames off the port (Rx → swap MACs → Tx of
// the same arena packet) and checks every one comes back intact.
func TestLoop100k(t *testing.T) {
	const total = 100_000
	const window = 256
	f := newFixture(t, 1)
	pool := newPool(t)
	p := openPort(t, pool, f.host, afxdp.Generic, 1)
	fd := nettest.RawSocket(t, f.ns, f.peer)
	// Room for a window of frames plus their outgoing copies.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := pool.NewCache()
		defer c.Flush()
		var b datapath.Batch
		pfd := []unix.PollFd{{Fd: int32(p.PollFD(0)), Events: unix.POLLIN}}
		for {
			select {
			case <-stop:
				return
			default:
			}
			if p.Rx(0, &b, c) == 0 {
				_, _ = unix.Poll(pfd, 10)
				continue
			}
			for _, pk := range b.Packets() {
				d := pk.Data()
				var tmp [6]byte
				copy(tmp[:], d[:6])
				copy(d[:6], d[6:12])
				copy(d[6:12], tmp[:])
			}
			p.Tx(0, &b, c)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	seen := make([]bool, total)
	buf := make([]byte, 2048)
	recvd, sent := 0, 0
	deadline := time.Now().Add(60 * time.Second)
	for recvd < total {
		if time.Now().After(deadline) {
			t.Fatalf("timeout: sent %d received %d; stats %+v", sent, recvd, p.Stats())
		}
		for sent < total && sent-recvd < window {
			nettest.Send(t, fd, testFrame(macHost, macNS, uint32(sent), 60+sent%200))
			sent++
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(pfd, 200); n == 0 {
			// A frame lost somewhere (should not happen at this
			// window): resend nothing, just report it at the end.
			if sent == total {
				break
			}
			continue
		}
		for {
			n, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				break
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			fr := buf[:n]
			if n < 18 || binary.BigEndian.Uint16(fr[12:]) != etherType || !bytes.Equal(fr[:6], macNS[:]) {
				continue
			}
			seq := binary.BigEndian.Uint32(fr[14:])
			if seq >= total || seen[seq] {
				t.Fatalf("unexpected or duplicate seq %d", seq)
			}
			if want := testFrame(macNS, macHost, seq, 60+int(seq)%200); !bytes.Equal(fr, want) {
				t.Fatalf("seq %d differs:\n got %x\nwant %x", seq, fr, want)
			}
			seen[seq] = true
			recvd++
		}
	}
	st := p.Stats()
	t.Logf("reflected %d/%d frames; stats %+v", recvd, total, st)
	if recvd != total {
		t.Fatalf("lost %d frames", total-recvd)
	}
}

// TestReopen closes a port and opens a new one on the same device; frames
// flow through the second, and the pool gets every frame back each time.
func TestReopen(t *testing.T) {
	f := newFixture(t, 1)
	pool := newPool(t)
	fd := nettest.RawSocket(t, f.ns, f.peer)
	for round := 0; round < 3; round++ {
		p, err := afxdp.Open(afxdp.Config{Name: f.host, Pool: pool})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		c := pool.NewCache()
		seq := uint32(1000 + round)
		want := testFrame(macHost, macNS, seq, 100)
		nettest.Send(t, fd, want)
		if got := rxMatchHeadroom(t, p, c, isSeq(seq)); !bytes.Equal(got, want) {
			p.Close()
			t.Fatalf("round %d: got %x", round, got)
		}
		// Leave a frame unpolled in the rx ring and one in flight on tx:
		// Close must collect both.
		nettest.Send(t, fd, testFrame(macHost, macNS, seq+100, 100))
		time.Sleep(50 * time.Millisecond)
		var b datapath.Batch
		pk := c.Get()
		_ = pk.CopyFrom(testFrame(macNS, macHost, seq, 80))
		b.Add(pk)
		p.Tx(0, &b, c)
		c.Flush()
		if err := p.Close(); err != nil {
			t.Fatalf("round %d close: %v", round, err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("round %d second close: %v", round, err)
		}
		poolFull(t, pool)
	}
}

// TestMultiQueue opens two sockets on a two-queue veth and sees frames on
// either queue.
func TestMultiQueue(t *testing.T) {
	f := newFixture(t, 2)
	pool := newPool(t)
	p := openPort(t, pool, f.host, afxdp.Generic, 2)
	if p.RxQueues() != 2 || p.PollFD(0) == p.PollFD(1) {
		t.Fatalf("RxQueues %d, fds %d %d", p.RxQueues(), p.PollFD(0), p.PollFD(1))
	}
	fd := nettest.RawSocket(t, f.ns, f.peer)
	c := pool.NewCache()
	for seq := uint32(0); seq < 20; seq++ {
		want := testFrame(macHost, macNS, seq, 64)
		nettest.Send(t, fd, want)
		if got := rxQueues(t, p, c, 2*time.Second, isSeq(seq)); !bytes.Equal(got, want) {
			t.Fatalf("seq %d: got %x", seq, got)
		}
	}
	// Tx on both sockets.
	for q := 0; q < 2; q++ {
		seq := uint32(500 + q)
		var b datapath.Batch
		pk := c.Get()
		want := testFrame(macNS, macHost, seq, 64)
		_ = pk.CopyFrom(want)
		b.Add(pk)
		p.Tx(q, &b, c)
		if got := nettest.Recv(fd, 2*time.Second, isSeq(seq)); !bytes.Equal(got, want) {
			t.Fatalf("tx queue %d: got %x", q, got)
		}
	}
	c.Flush()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	poolFull(t, pool)
}

func TestOpenErrors(t *testing.T) {
	nettest.RequireRoot(t)
	pool := newPool(t)
	_, err := afxdp.Open(afxdp.Config{Name: "nodev" + nettest.Suffix(), Pool: pool})
	if !errors.Is(err, afxdp.ErrNoDevice) {
		t.Errorf("missing device: %v, want ErrNoDevice", err)
	}
	f := newFixture(t, 1)
	_, err = afxdp.Open(afxdp.Config{Name: f.host, Pool: pool, Queues: 4, Mode: afxdp.Generic})
	if err == nil || !strings.Contains(err.Error(), "rx queues") {
		t.Errorf("4 queues on a 1-queue veth: %v", err)
	} else {
		t.Log(err)
	}
	if a, _ := xdpAttached(t, f.host); a {
		t.Error("XDP program left attached after a failed Open")
	}
	_, err = afxdp.Open(afxdp.Config{Name: f.host, Pool: pool, Mode: "turbo"})
	if err == nil || !strings.Contains(err.Error(), "xdp-mode") {
		t.Errorf("bad mode: %v", err)
	}
	// A second port on the same device cannot attach a second program.
	p := openPort(t, pool, f.host, afxdp.Generic, 1)
	_, err = afxdp.Open(afxdp.Config{Name: f.host, Pool: pool, Mode: afxdp.Generic})
	if err == nil {
		t.Error("second afxdp port on one device opened")
	} else {
		t.Log(err)
	}
	p.Close()
	poolFull(t, pool)
}

// TestNetdevRegistry opens the port through netdev.Open as the bridge does.
func TestNetdevRegistry(t *testing.T) {
	f := newFixture(t, 1)
	pool := newPool(t)
	if !netdev.Handles("afxdp") {
		t.Fatal("afxdp type not registered")
	}
	if _, err := netdev.Open(netdev.Config{Name: f.host, Type: "afxdp", Pool: pool, Options: map[string]string{"n_rxq": "x"}}); err == nil {
		t.Error("n_rxq=x accepted")
	}
	if _, err := netdev.Open(netdev.Config{Name: f.host, Type: "afxdp", Pool: pool, Options: map[string]string{"bogus": "1"}}); err == nil {
		t.Error("unknown option accepted")
	}
	port, err := netdev.Open(netdev.Config{Name: f.host, Type: "afxdp", Pool: pool, MTU: 1500,
		Options: map[string]string{"n_rxq": "1", "xdp-mode": "generic"}})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	fd := nettest.RawSocket(t, f.ns, f.peer)
	c := pool.NewCache()
	want := testFrame(macHost, macNS, 7, 99)
	nettest.Send(t, fd, want)
	if got := rxMatchHeadroom(t, port, c, isSeq(7)); !bytes.Equal(got, want) {
		t.Fatalf("got %x", got)
	}
}

// TestKilledDaemonDetaches starts a helper process that opens a port and
// is then SIGKILLed: the bpf_link dies with it, so the device is left
// without an XDP program.
func TestKilledDaemonDetaches(t *testing.T) {
	f := newFixture(t, 1)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOpenAndWait$", "-test.v")
	cmd.Env = append(os.Environ(), "AFXDP_HELPER_DEV="+f.host)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "READY") || strings.HasPrefix(l, "FAIL") {
				ready <- l
			}
		}
		close(ready)
	}()
	select {
	case l := <-ready:
		if !strings.HasPrefix(l, "READY") {
			t.Fatalf("helper: %s", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("helper did not open the port")
	}
	if a, _ := xdpAttached(t, f.host); !a {
		t.Fatal("helper's XDP program not attached")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, _ := xdpAttached(t, f.host)
		if !a {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("XDP program still attached 5s after the daemon was SIGKILLed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out2, _ := exec.Command("ip", "link", "show", "dev", f.host).CombinedOutput()
	if xdpInIPLink.Match(out2) {
		t.Fatalf("ip link still shows xdp: %s", out2)
	}
	t.Logf("after SIGKILL: %s", strings.TrimSpace(string(out2)))
	// And the device is usable by a new port at once.
	pool := newPool(t)
	p := openPort(t, pool, f.host, afxdp.Generic, 1)
	p.Close()
}

// xdpInIPLink matches how ip link shows an attached program ("xdp",
// "xdpgeneric", "xdpdrv", "xdpmulti" before the program id).
var xdpInIPLink = regexp.MustCompile(`\sxdp(generic|drv|offload|multi)?[ /]`)

// TestHelperOpenAndWait is the helper process of TestKilledDaemonDetaches.
func TestHelperOpenAndWait(t *testing.T) {
	dev := os.Getenv("AFXDP_HELPER_DEV")
	if dev == "" {
		t.Skip("helper process only")
	}
	a, err := datapath.NewArena(4 << 20)
	if err != nil {
		fmt.Println("FAIL", err)
		return
	}
	if _, err := afxdp.Open(afxdp.Config{Name: dev, Pool: datapath.NewPool(a), Mode: afxdp.Generic}); err != nil {
		fmt.Println("FAIL", err)
		return
	}
	fmt.Println("READY")
	select {} // until SIGKILL
}

// TestGenericDropsOversize: in generic mode a frame larger than a UMEM
// chunk's data area (MaxData) is dropped by the kernel and counted.
func TestGenericDropsOversize(t *testing.T) {
	f := newFixture(t, 1)
	nettest.IP(t, "-n", f.ns.Name, "link", "set", f.peer, "mtu", "1900")
	nettest.IP(t, "link", "set", f.host, "mtu", "1900")
	pool := newPool(t)
	p := openPort(t, pool, f.host, afxdp.Generic, 1)
	fd := nettest.RawSocket(t, f.ns, f.peer)
	c := pool.NewCache()
	_, _ = unix.Write(fd, testFrame(macHost, macNS, 1, datapath.MaxData+1))
	want := testFrame(macHost, macNS, 2, 100)
	nettest.Send(t, fd, want)
	var big bool
	got := rxQueues(t, p, c, 2*time.Second, func(b []byte) bool {
		big = big || isSeq(1)(b)
		return isSeq(2)(b)
	})
	if !bytes.Equal(got, want) || big {
		t.Fatalf("small frame %x, oversize frame received %v", got, big)
	}
	if st := p.Stats(); st.RxDropped < 1 {
		t.Errorf("oversize frame not counted as dropped: %+v", st)
	} else {
		t.Logf("stats %+v", st)
	}
}

// Ports that would leave the pool without frames are refused with a clear
// error (before, they opened and then received nothing); the ports already
// open keep working.
func TestOpenRefusedWhenPoolExhausted(t *testing.T) {
	pool := newPool(t) // 16 MiB: 8192 frames, 1024 posted per queue
	var ok int
	var err error
	for i := 0; i < 12 && err == nil; i++ {
		f := newFixture(t, 1)
		var p *afxdp.Port
		p, err = afxdp.Open(afxdp.Config{Name: f.host, Pool: pool, Mode: afxdp.Generic, Queues: 1})
		if err == nil {
			t.Cleanup(func() { p.Close() })
			ok++
		}
	}
	if err == nil || !strings.Contains(err.Error(), "packet memory exhausted") || !strings.Contains(err.Error(), "--mem") {
		t.Fatalf("after %d ports: error %v, want packet memory exhausted ... --mem", ok, err)
	}
	if ok != 7 {
		t.Fatalf("%d ports opened before the refusal, want 7 (8192 frames, 1024 each, 1024 kept back)", ok)
	}
	t.Logf("refused port %d: %v", ok+1, err)
}
