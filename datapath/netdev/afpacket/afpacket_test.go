package afpacket

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vswitch/datapath"
	"vswitch/datapath/netdev/internal/nettest"
	"vswitch/datapath/netdev/vnethdr"
)

var (
	macA = [6]byte{0x02, 0xaa, 0, 0, 0, 1}
	macB = [6]byte{0x02, 0xbb, 0, 0, 0, 2}
	// An experimental ethertype: no stack on either side reacts to it.
	etherExp = []byte{0x88, 0xb5}
)

func marker(s string) []byte { return []byte("vswitch-afpacket-test:" + s) }

func hasMarker(m []byte) func([]byte) bool {
	return func(f []byte) bool { return bytes.Contains(f, m) }
}

// vethPort makes a veth pair with the peer in a fresh namespace and opens
// the host end.
func vethPort(t *testing.T) (*Port, *nettest.NS, string) {
	t.Helper()
	nettest.RequireRoot(t)
	ns := nettest.NewNS(t, "afp")
	sfx := nettest.Suffix()
	host, peer := "afph"+sfx, "afpp"+sfx
	nettest.Veth(t, host, peer, ns)
	p, err := Open(host)
	if err != nil {
		t.Fatalf("Open(%s): %v", host, err)
	}
	t.Cleanup(func() { p.Close() })
	return p, ns, peer
}

func TestOpenMissingDevice(t *testing.T) {
	nettest.RequireRoot(t)
	_, err := Open("nodev" + nettest.Suffix())
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("Open(missing) err = %v, want ErrNoDevice", err)
	}
	t.Logf("error: %v", err)
}

func TestRxByteExact(t *testing.T) {
	p, ns, peer := vethPort(t)
	c := nettest.NewPool(t).NewCache()
	raw := nettest.RawSocket(t, ns, peer)

	big := make([]byte, 1500-2-len(marker("max")))
	for i := range big {
		big[i] = byte(i * 7)
	}
	frames := []struct {
		name  string
		frame []byte
	}{
		{"untagged", nettest.Frame(macA, macB, etherExp, marker("untagged"))},
		{"vlan", nettest.Frame(macA, macB, []byte{0x81, 0x00, 0xa0, 0x64}, etherExp, marker("vlan"))}, // PCP 5 VID 100
		{"prio-tag", nettest.Frame(macA, macB, []byte{0x81, 0x00, 0x00, 0x00}, etherExp, marker("prio-tag"))},
		{"qinq", nettest.Frame(macA, macB, []byte{0x88, 0xa8, 0x00, 0x0a}, []byte{0x81, 0x00, 0x00, 0x14}, etherExp, marker("qinq"))},
		{"max", nettest.Frame(macA, macB, etherExp, marker("max"), big)},
		{"bcast", nettest.Frame([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macB, etherExp, marker("bcast"))},
	}
	for _, tc := range frames {
		t.Run(tc.name, func(t *testing.T) {
			nettest.Send(t, raw, tc.frame)
			got := nettest.RxMatch(p, c, 2*time.Second, hasMarker(marker(tc.name)))
			if got == nil {
				t.Fatalf("frame %s (%d bytes) not received", tc.name, len(tc.frame))
			}
			if !bytes.Equal(got, tc.frame) {
				t.Fatalf("frame %s differs:\n got %x\nwant %x", tc.name, got[:min(len(got), 64)], tc.frame[:min(len(tc.frame), 64)])
			}
		})
	}
	st := p.Stats()
	t.Logf("stats: %+v", st)
	if st.RxPackets < uint64(len(frames)) || st.RxErrors != 0 || st.RxTruncated != 0 {
		t.Fatalf("unexpected stats %+v", st)
	}
}

func TestTxArrives(t *testing.T) {
	p, ns, peer := vethPort(t)
	pool := nettest.NewPool(t)
	c := pool.NewCache()
	raw := nettest.RawSocket(t, ns, peer)

	// The peer end is also opened as an afpacket port (inside the
	// namespace) so a tagged frame can be checked byte-exact: a plain raw
	// socket would see it with the tag stripped.
	var q *Port
	if err := ns.Do(func() (err error) { q, err = Open(peer); return err }); err != nil {
		t.Fatalf("open %s in %s: %v", peer, ns.Name, err)
	}
	t.Cleanup(func() { q.Close() })

	frames := [][]byte{
		nettest.Frame(macB, macA, etherExp, marker("tx-1")),
		nettest.Frame(macB, macA, []byte{0x81, 0x00, 0x00, 0x07}, etherExp, marker("tx-vlan")),
	}
	var b datapath.Batch
	for _, f := range frames {
		pk := c.Get()
		if err := pk.CopyFrom(f); err != nil {
			t.Fatal(err)
		}
		b.Add(pk)
	}
	p.Tx(0, &b, c)
	if b.N != 0 {
		t.Fatalf("Tx left %d packets in the batch", b.N)
	}
	got := nettest.Recv(raw, 2*time.Second, hasMarker(marker("tx-1")))
	if !bytes.Equal(got, frames[0]) {
		t.Fatalf("raw socket in netns got %x, want %x", got, frames[0])
	}
	got = nettest.RxMatch(q, c, 2*time.Second, hasMarker(marker("tx-vlan")))
	if !bytes.Equal(got, frames[1]) {
		t.Fatalf("tagged frame: peer port got %x, want %x", got, frames[1])
	}
	st := p.Stats()
	if st.TxPackets != 2 || st.TxBytes != uint64(len(frames[0])+len(frames[1])) || st.TxDropped != 0 || st.TxErrors != 0 {
		t.Fatalf("tx stats %+v", st)
	}
	c.Flush()
	if pool.Available() != pool.Size() {
		t.Fatalf("packets leaked: %d of %d free", pool.Available(), pool.Size())
	}

	// Too big for the device MTU: an error, counted, and the packet freed.
	pk := c.Get()
	_ = pk.SetLen(1600)
	b.Add(pk)
	p.Tx(0, &b, c)
	if st := p.Stats(); st.TxErrors != 1 {
		t.Fatalf("oversized tx: stats %+v, want TxErrors 1", st)
	}
	// Device down: dropped.
	nettest.IP(t, "link", "set", p.Name(), "down")
	pk = c.Get()
	_ = pk.CopyFrom(frames[0])
	b.Add(pk)
	p.Tx(0, &b, c)
	if st := p.Stats(); st.TxDropped != 1 {
		t.Fatalf("tx on a down device: stats %+v, want TxDropped 1", st)
	}
	c.Flush()
	if pool.Available() != pool.Size() {
		t.Fatalf("packets leaked: %d of %d free", pool.Available(), pool.Size())
	}
}

func TestRxPoolExhaustedLeavesFrame(t *testing.T) {
	p, ns, peer := vethPort(t)
	pool := nettest.NewPool(t)
	c := pool.NewCache()
	raw := nettest.RawSocket(t, ns, peer)
	f := nettest.Frame(macA, macB, etherExp, marker("dry"))
	nettest.Send(t, raw, f)

	var held []*datapath.Packet
	for pk := pool.Get(); pk != nil; pk = pool.Get() {
		held = append(held, pk)
	}
	for pk := c.Get(); pk != nil; pk = c.Get() {
		held = append(held, pk)
	}
	pfd := []unix.PollFd{{Fd: int32(p.PollFD(0)), Events: unix.POLLIN}}
	if n, _ := unix.Poll(pfd, 2000); n != 1 {
		t.Fatal("socket never became readable")
	}
	var b datapath.Batch
	if n := p.Rx(0, &b, c); n != 0 {
		t.Fatalf("Rx with a dry pool returned %d", n)
	}
	for _, pk := range held {
		pool.Put(pk)
	}
	if got := nettest.RxMatch(p, c, time.Second, hasMarker(marker("dry"))); !bytes.Equal(got, f) {
		t.Fatalf("frame left in the ring not received afterwards: %x", got)
	}
	if st := p.Stats(); st.RxDropped != 0 {
		t.Fatalf("stats %+v, want no drops", st)
	}
}

// TestTCPGSOSegmented joins two namespaces with a wire made of two afpacket
// ports and moves data over TCP with the veths' default offloads on. The
// sender's stack hands 64 KiB super-frames to the veth; the wire must cut
// them into MTU-sized packets with valid checksums or the receiver's stack
// drops them and the transfer fails.
func TestTCPGSOSegmented(t *testing.T) {
	nettest.RequireRoot(t)
	ns1, ns2 := nettest.NewNS(t, "gso1"), nettest.NewNS(t, "gso2")
	sfx := nettest.Suffix()
	h1, h2 := "gsoa"+sfx, "gsob"+sfx
	nettest.Veth(t, h1, "eth0", ns1)
	nettest.Veth(t, h2, "eth0", ns2)
	nettest.IP(t, "-n", ns1.Name, "addr", "add", "10.250.0.1/24", "dev", "eth0")
	nettest.IP(t, "-n", ns2.Name, "addr", "add", "10.250.0.2/24", "dev", "eth0")
	nettest.IP(t, "-n", ns1.Name, "addr", "add", "fd00:250::1/64", "dev", "eth0", "nodad")
	nettest.IP(t, "-n", ns2.Name, "addr", "add", "fd00:250::2/64", "dev", "eth0", "nodad")
	p1, err := Open(h1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p1.Close() })
	p2, err := Open(h2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p2.Close() })
	pool := nettest.NewPool(t)

	var stop atomic.Bool
	var bad, oversize, segments atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := pool.NewCache()
		var b datapath.Batch
		pfd := []unix.PollFd{{Fd: int32(p1.PollFD(0)), Events: unix.POLLIN}, {Fd: int32(p2.PollFD(0)), Events: unix.POLLIN}}
		for !stop.Load() {
			_, _ = unix.Poll(pfd, 10)
			for p1.Rx(0, &b, c) > 0 {
				for _, pk := range b.Packets() {
					segments.Add(1)
					if pk.Len() > 1514 {
						oversize.Add(1)
					}
					if !checksumsValid(pk.Data()) {
						bad.Add(1)
					}
				}
				p2.Tx(0, &b, c)
			}
			for p2.Rx(0, &b, c) > 0 {
				p1.Tx(0, &b, c)
			}
		}
		c.Flush()
	}()
	t.Cleanup(func() { stop.Store(true); wg.Wait() })

	for _, tc := range []struct{ name, listen, dial string }{
		{"ipv4", "10.250.0.2:5201", "10.250.0.2:5201"},
		{"ipv6", "[fd00:250::2]:5202", "[fd00:250::2]:5202"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := p1.GSOStats()
			sent, got := transfer(t, ns1, ns2, tc.listen, tc.dial, 16<<20)
			if sent != got {
				t.Fatalf("receiver's digest %x differs from sender's %x", got, sent)
			}
			after := p1.GSOStats()
			t.Logf("%s: 16 MiB: %d GSO frames -> %d segments; %d checksums completed",
				tc.name, after.GSOFrames-before.GSOFrames, after.GSOSegments-before.GSOSegments, after.CsumCompleted-before.CsumCompleted)
			if after.GSOFrames == before.GSOFrames {
				t.Fatal("no GSO frame seen: offloads off on the veth?")
			}
		})
	}
	if bad.Load() != 0 || oversize.Load() != 0 {
		t.Fatalf("%d packets with bad checksums, %d larger than the MTU (of %d)", bad.Load(), oversize.Load(), segments.Load())
	}
	st := p1.Stats()
	t.Logf("wire port %s stats: %+v", h1, st)
	if st.RxErrors != 0 || st.RxTruncated != 0 {
		t.Fatalf("rx errors on the wire: %+v", st)
	}
}

// transfer sends n pseudo-random bytes over TCP from ns1 to ns2 and returns
// the SHA-256 of what was sent and of what arrived.
func transfer(t *testing.T, ns1, ns2 *nettest.NS, listen, dial string, n int64) (sent, got [32]byte) {
	t.Helper()
	var ln net.Listener
	if err := ns2.Do(func() (err error) { ln, err = net.Listen("tcp", listen); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	recvd := make(chan [32]byte, 1)
	go func() {
		var sum [32]byte
		defer func() { recvd <- sum }()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		if _, err := io.Copy(h, conn); err == nil {
			copy(sum[:], h.Sum(nil))
		}
	}()
	var conn net.Conn
	if err := ns1.Do(func() (err error) { conn, err = net.DialTimeout("tcp", dial, 5*time.Second); return err }); err != nil {
		t.Fatalf("dial %s: %v", dial, err)
	}
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), n), h)
	if _, err := io.Copy(conn, src); err != nil {
		conn.Close()
		t.Fatalf("send: %v", err)
	}
	conn.Close()
	copy(sent[:], h.Sum(nil))
	select {
	case got = <-recvd:
	case <-time.After(70 * time.Second):
		t.Fatal("receiver did not finish")
	}
	return sent, got
}

// checksumsValid verifies the IPv4 header checksum and the TCP/UDP
// checksum of an (optionally tagged) IPv4/IPv6 frame; other frames pass.
func checksumsValid(f []byte) bool {
	off := 12
	et := binary.BigEndian.Uint16(f[off:])
	for et == 0x8100 || et == 0x88a8 {
		off += 4
		et = binary.BigEndian.Uint16(f[off:])
	}
	l3 := off + 2
	var l4 int
	var proto byte
	var pseudo uint64
	switch et {
	case 0x0800:
		ihl := int(f[l3]&0xf) * 4
		if vnethdr.Checksum(f[l3:l3+ihl]) != 0 {
			return false
		}
		l4, proto = l3+ihl, f[l3+9]
		end := l3 + int(binary.BigEndian.Uint16(f[l3+2:]))
		if end > len(f) {
			return false
		}
		f = f[:end]
		pseudo = vnethdr.PseudoSum(f[l3+12:l3+16], f[l3+16:l3+20], proto, end-l4)
	case 0x86dd:
		l4, proto = l3+40, f[l3+6]
		end := l4 + int(binary.BigEndian.Uint16(f[l3+4:]))
		if end > len(f) {
			return false
		}
		f = f[:end]
		pseudo = vnethdr.PseudoSum(f[l3+8:l3+24], f[l3+24:l3+40], proto, end-l4)
	default:
		return true
	}
	if proto != 6 && proto != 17 {
		return true
	}
	return ^vnethdr.Fold(vnethdr.Sum(f[l4:], pseudo)) == 0
}

// BenchmarkTxRx sends 32-packet batches from a port inside a namespace and
// receives them on the host end: one op is one batch through Tx and Rx.
func BenchmarkTxRx(b *testing.B) {
	nettest.RequireRoot(b)
	ns := nettest.NewNS(b, "afpb")
	sfx := nettest.Suffix()
	host, peer := "afbh"+sfx, "afbp"+sfx
	nettest.Veth(b, host, peer, ns)
	rx, err := Open(host)
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	var tx *Port
	if err := ns.Do(func() (err error) { tx, err = Open(peer); return err }); err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	pool := nettest.NewPool(b)
	c := pool.NewCache()
	f := nettest.Frame(macA, macB, etherExp, make([]byte, 46))
	var tb, rb datapath.Batch
	b.ReportAllocs()
	b.SetBytes(int64(len(f) * datapath.BatchSize))
	lost := 0
	for b.Loop() {
		for i := 0; i < datapath.BatchSize; i++ {
			pk := c.Get()
			_ = pk.CopyFrom(f)
			tb.Pkts[i] = pk
		}
		tb.N = datapath.BatchSize
		tx.Tx(0, &tb, c)
		got := 0
		for tries := 0; got < datapath.BatchSize && tries < 1000; tries++ {
			got += rx.Rx(0, &rb, c)
			c.PutBatch(&rb)
		}
		lost += datapath.BatchSize - got
	}
	if lost > 0 {
		b.Logf("%d packets not received", lost)
	}
}

// buildL4 makes an Ethernet/[VLAN]/IPv4-or-IPv6/TCP-or-UDP frame whose L4
// checksum field holds only the pseudo-header sum, as a sender with
// checksum offload leaves it.
func buildL4(vlan, v6, udp bool, seq uint32, payload []byte) (frame []byte, l4off, csumOff int) {
	f := nettest.Frame(macA, macB)
	if vlan {
		f = append(f, 0x81, 0x00, 0x00, 0x2a) // VID 42
	}
	proto := byte(6)
	l4 := make([]byte, 20)
	csumOff = 16
	if udp {
		proto, csumOff = 17, 6
		l4 = make([]byte, 8)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+len(payload)))
	} else {
		binary.BigEndian.PutUint32(l4[4:], seq)
		l4[12] = 5 << 4
		l4[13] = 0x18 // PSH ACK
		binary.BigEndian.PutUint16(l4[14:], 1000)
	}
	binary.BigEndian.PutUint16(l4[0:], 40000)
	binary.BigEndian.PutUint16(l4[2:], 5201)
	l4 = append(l4, payload...)
	var pseudo uint64
	if !v6 {
		ip := make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 64, proto
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		copy(ip[12:], []byte{10, 251, 0, 1, 10, 251, 0, 2})
		binary.BigEndian.PutUint16(ip[10:], vnethdr.Checksum(ip))
		pseudo = vnethdr.PseudoSum(ip[12:16], ip[16:20], proto, len(l4))
		f = append(append(f, 0x08, 0x00), ip...)
	} else {
		ip := make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, proto, 64
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[8], ip[23], ip[24], ip[39] = 0xfd, 1, 0xfd, 2
		pseudo = vnethdr.PseudoSum(ip[8:24], ip[24:40], proto, len(l4))
		f = append(append(f, 0x86, 0xdd), ip...)
	}
	binary.BigEndian.PutUint16(l4[csumOff:], vnethdr.Fold(pseudo))
	return append(f, l4...), len(f), csumOff
}

// TestInjectedOffloads writes offloaded frames into a tap with a vnet
// header, so the kernel receives them on the tap exactly as the sender
// built them (GSO frames stay whole on receive), and checks what an
// afpacket port on that tap makes of them: tagged and untagged GSO frames
// of each type, a partial checksum, and a frame too large for the ring.
func TestInjectedOffloads(t *testing.T) {
	nettest.RequireRoot(t)
	name := "afpt" + nettest.Suffix()
	tapfd := nettest.VnetTap(t, name)
	p, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	pool := nettest.NewPool(t)
	c := pool.NewCache()

	cases := []struct {
		name          string
		vlan, v6, udp bool
		gso           uint8
		mss, paylen   int
	}{
		{"tcp4-vlan", true, false, false, vnethdr.GSOTCPv4, 1448, 20000},
		{"tcp4", false, false, false, vnethdr.GSOTCPv4, 1448, 63000},
		{"tcp6-vlan", true, true, false, vnethdr.GSOTCPv6, 1428, 30000},
		{"udp4-vlan", true, false, true, vnethdr.GSOUDPL4, 1400, 14000},
		{"udp6", false, true, true, vnethdr.GSOUDPL4, 1400, 5000},
		{"csum-only-vlan", true, false, true, vnethdr.GSONone, 0, 1000},
		{"tcp-csum-only-vlan", true, true, false, vnethdr.GSONone, 0, 1200},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pay := make([]byte, tc.paylen)
			r := rand.New(rand.NewPCG(uint64(i), 9))
			for k := range pay {
				pay[k] = byte(r.Uint32())
			}
			frame, l4off, csumOff := buildL4(tc.vlan, tc.v6, tc.udp, 1000, pay)
			h := vnethdr.Hdr{Flags: vnethdr.FlagNeedsCsum, GSOType: tc.gso, GSOSize: uint16(tc.mss),
				HdrLen: uint16(l4off + 20), CsumStart: uint16(l4off), CsumOffset: uint16(csumOff)}
			var hb [vnethdr.Len]byte
			h.Encode(hb[:])
			before := p.GSOStats()
			if _, err := unix.Write(tapfd, append(hb[:], frame...)); err != nil {
				t.Fatalf("write to tap: %v", err)
			}
			nseg := 1
			if tc.gso != vnethdr.GSONone {
				nseg = (tc.paylen + tc.mss - 1) / tc.mss
			}
			var got [][]byte
			deadline := time.Now().Add(2 * time.Second)
			var b datapath.Batch
			for len(got) < nseg && time.Now().Before(deadline) {
				pfd := []unix.PollFd{{Fd: int32(p.PollFD(0)), Events: unix.POLLIN}}
				_, _ = unix.Poll(pfd, 20)
				p.Rx(0, &b, c)
				for _, pk := range b.Packets() {
					if bytes.Equal(pk.Data()[:12], frame[:12]) {
						got = append(got, append([]byte(nil), pk.Data()...))
					}
				}
				c.PutBatch(&b)
			}
			if len(got) != nseg {
				t.Fatalf("got %d packets, want %d", len(got), nseg)
			}
			var joined []byte
			for k, seg := range got {
				if !checksumsValid(seg) {
					t.Fatalf("segment %d: invalid checksum", k)
				}
				if !bytes.Equal(seg[:l4off], frame[:l4off]) && tc.gso == vnethdr.GSONone {
					t.Fatalf("headers changed")
				}
				if tc.vlan && !bytes.Equal(seg[12:16], frame[12:16]) {
					t.Fatalf("segment %d: VLAN tag %x, want %x", k, seg[12:16], frame[12:16])
				}
				hl := l4off + 20
				if tc.udp {
					hl = l4off + 8
				}
				if !tc.udp {
					if seq := binary.BigEndian.Uint32(seg[l4off+4:]); seq != 1000+uint32(len(joined)) {
						t.Fatalf("segment %d: seq %d, want %d", k, seq, 1000+len(joined))
					}
				}
				if tc.gso != vnethdr.GSONone && k < nseg-1 && len(seg)-hl != tc.mss {
					t.Fatalf("segment %d carries %d bytes, want %d", k, len(seg)-hl, tc.mss)
				}
				joined = append(joined, seg[hl:]...)
			}
			if !bytes.Equal(joined, pay) {
				t.Fatalf("reassembled payload differs (%d vs %d bytes)", len(joined), len(pay))
			}
			after := p.GSOStats()
			if tc.gso != vnethdr.GSONone && after.GSOFrames != before.GSOFrames+1 {
				t.Fatalf("GSOFrames %d -> %d: frame was not segmented by the port", before.GSOFrames, after.GSOFrames)
			}
			if tc.gso == vnethdr.GSONone && after.CsumCompleted != before.CsumCompleted+1 {
				t.Fatalf("CsumCompleted %d -> %d", before.CsumCompleted, after.CsumCompleted)
			}
		})
	}

	t.Run("truncated", func(t *testing.T) {
		// Bigger than a ring frame: the kernel cuts it, the port drops
		// and counts it.
		frame, _, _ := buildL4(false, false, true, 0, make([]byte, 66000))
		var hb [vnethdr.Len]byte
		before := p.Stats()
		if _, err := unix.Write(tapfd, append(hb[:], frame...)); err != nil {
			t.Skipf("tap does not take a %d-byte frame: %v", len(frame), err)
		}
		nettest.RxMatch(p, c, 300*time.Millisecond, func([]byte) bool { return false })
		after := p.Stats()
		if after.RxTruncated != before.RxTruncated+1 || after.RxDropped != before.RxDropped+1 {
			t.Fatalf("stats before %+v after %+v: want one more truncated and dropped", before, after)
		}
	})
	c.Flush()
	if pool.Available() != pool.Size() {
		t.Fatalf("packets leaked: %d of %d free", pool.Available(), pool.Size())
	}
}

// TestDeviceDownUp opens a port on a device that is down, brings it up and
// down and up again: frames flow once it is up, and the socket error the
// kernel leaves on link down is cleared by polling, so it cannot keep
// waking a parked PMD.
func TestDeviceDownUp(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNS(t, "afpd")
	sfx := nettest.Suffix()
	host, peer := "afdh"+sfx, "afdp"+sfx
	nettest.Veth(t, host, peer, ns)
	nettest.IP(t, "link", "set", host, "down")
	p, err := Open(host)
	if err != nil {
		t.Fatalf("Open on a down device: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	c := nettest.NewPool(t).NewCache()
	raw := nettest.RawSocket(t, ns, peer)
	for round, name := range []string{"first-up", "second-up"} {
		nettest.IP(t, "link", "set", host, "up")
		time.Sleep(50 * time.Millisecond) // veth carrier
		f := nettest.Frame(macA, macB, etherExp, marker(name))
		nettest.Send(t, raw, f)
		if got := nettest.RxMatch(p, c, 2*time.Second, hasMarker(marker(name))); !bytes.Equal(got, f) {
			t.Fatalf("%s: frame not received after the device came up", name)
		}
		if round == 0 {
			nettest.IP(t, "link", "set", host, "down")
		}
	}
	var b datapath.Batch
	for i := 0; i < 2*errCheckEvery; i++ {
		p.Rx(0, &b, c)
		c.PutBatch(&b)
	}
	pfd := []unix.PollFd{{Fd: int32(p.PollFD(0)), Events: unix.POLLIN}}
	if n, _ := unix.Poll(pfd, 0); n != 0 {
		t.Fatalf("idle socket still reports events %#x after polling", pfd[0].Revents)
	}
}
