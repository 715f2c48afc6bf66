package vhostuser

import (
	"bytes"
	"encoding/binary"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"

	"vswitch/datapath"
	"vswitch/datapath/netdev/vnethdr"
)

const allFeatures = fVersion1 | fMrgRxbuf | fIndirect | fEventIdx | fProtocolFeatures | fHostTSO4 | fHostTSO6 | fCsum

// putTxPacket writes hdr+frame into buffer k and returns its guest address
// and length.
func (g *guest) putTxPacket(k int, hdr vnethdr.Hdr, f []byte) (uint64, uint32) {
	a, b := g.buf(k)
	clear(b[:12])
	hdr.Encode(b)
	copy(b[12:], f)
	return a, uint32(12 + len(f))
}

func TestRxGoodPackets(t *testing.T) {
	debug.SetPanicOnFault(true)
	g := newGuest(t, 256, allFeatures)
	_, c := newPool(t)
	f := frame(100)
	// 1: header and frame in one descriptor.
	a, n := g.putTxPacket(0, vnethdr.Hdr{}, f)
	g.desc(1, 0, a, n, 0, 0)
	g.offer(1, 0)
	// 2: header in its own descriptor, frame split over two more.
	a1, b1 := g.buf(1)
	clear(b1[:12])
	a2, b2 := g.buf(2)
	copy(b2, f[:40])
	a3, b3 := g.buf(3)
	copy(b3, f[40:])
	g.desc(1, 1, a1, 12, descFNext, 2)
	g.desc(1, 2, a2, 40, descFNext, 3)
	g.desc(1, 3, a3, 60, 0, 0)
	g.offer(1, 1)
	// 3: through an indirect table.
	tbl := bufArea + 2048*10
	a4, n4 := g.putTxPacket(4, vnethdr.Hdr{}, f)
	g.rawDesc(tbl, a4, 20, descFNext, 1)
	g.rawDesc(tbl+16, a4+20, n4-20, 0, 0)
	g.desc(1, 4, guestGPA+uint64(tbl), 32, descFIndirect, 0)
	g.offer(1, 4)

	var b datapath.Batch
	got := g.dev.vqs[1].rxBurst(&b, c)
	if got != 3 {
		t.Fatalf("got %d packets, want 3 (stats %+v)", got, g.port.Stats())
	}
	for i := 0; i < 3; i++ {
		if !bytes.Equal(b.Pkts[i].Data(), f) {
			t.Errorf("packet %d differs", i)
		}
	}
	if u := g.usedIdx(1); u != 3 {
		t.Errorf("used idx %d, want 3", u)
	}
	c.PutBatch(&b)
	if s := g.port.Stats(); s.RxPackets != 3 || s.RxErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestRxChecksumAndGSO(t *testing.T) {
	debug.SetPanicOnFault(true)
	g := newGuest(t, 256, allFeatures)
	_, c := newPool(t)
	// Partial UDP checksum: the field holds the pseudo-header sum.
	f := frame(200)
	ps := vnethdr.PseudoSum(f[26:30], f[30:34], 17, 200-34)
	binary.BigEndian.PutUint16(f[40:], vnethdr.Fold(ps))
	a, n := g.putTxPacket(0, vnethdr.Hdr{Flags: vnethdr.FlagNeedsCsum, CsumStart: 34, CsumOffset: 6}, f)
	g.desc(1, 0, a, n, 0, 0)
	g.offer(1, 0)
	// A TCPv4 super-frame of 3000 payload bytes, MSS 1000.
	big := make([]byte, 54+3000)
	copy(big, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0})
	ip := big[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(len(big)-14))
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	ip[20+12] = 5 << 4
	tb := bufArea + 2048*8
	copy(g.mem[tb+12:], big)
	clear(g.mem[tb : tb+12])
	vnethdr.Hdr{GSOType: vnethdr.GSOTCPv4, GSOSize: 1000, HdrLen: 54, Flags: vnethdr.FlagNeedsCsum, CsumStart: 34, CsumOffset: 16}.Encode(g.mem[tb:])
	g.desc(1, 1, guestGPA+uint64(tb), uint32(12+len(big)), 0, 0)
	g.offer(1, 1)

	var b datapath.Batch
	got := g.dev.vqs[1].rxBurst(&b, c)
	if got != 4 {
		t.Fatalf("got %d packets, want 1 + 3 segments (stats %+v)", got, g.port.Stats())
	}
	d := b.Pkts[0].Data()
	if s := vnethdr.Fold(vnethdr.Sum(d[34:], vnethdr.PseudoSum(d[26:30], d[30:34], 17, len(d)-34))); s != 0xffff {
		t.Errorf("UDP checksum not completed: fold %#x", s)
	}
	for i := 1; i < 4; i++ {
		if l := b.Pkts[i].Len(); l != 54+1000 {
			t.Errorf("segment %d is %d bytes", i, l)
		}
	}
	c.PutBatch(&b)
}

// TestMaliciousGuest walks every kind of bad descriptor chain over memory
// fenced with guard pages: each must be dropped and counted, never fault.
func TestMaliciousGuest(t *testing.T) {
	debug.SetPanicOnFault(true)
	f := frame(64)
	cases := []struct {
		name     string
		features uint64
		setup    func(g *guest)
		broken   bool // the ring is marked broken
		dropped  bool // counted as a drop, not an error
	}{
		{name: "loop", setup: func(g *guest) {
			a, _ := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.desc(1, 0, a, 1, descFNext, 1)
			g.desc(1, 1, a+1, 1, descFNext, 0)
			g.offer(1, 0)
		}},
		{name: "self-loop", setup: func(g *guest) {
			a, _ := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.desc(1, 0, a, 1, descFNext, 0)
			g.offer(1, 0)
		}},
		{name: "next out of range", setup: func(g *guest) {
			a, n := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.desc(1, 0, a, n, descFNext, 999)
			g.offer(1, 0)
		}},
		{name: "head out of range", broken: true, setup: func(g *guest) { g.offer(1, 300) }},
		{name: "address outside memory", setup: func(g *guest) {
			g.desc(1, 0, guestGPA+guestSize, 76, 0, 0)
			g.offer(1, 0)
		}},
		{name: "address below memory", setup: func(g *guest) {
			g.desc(1, 0, guestGPA-16, 76, 0, 0)
			g.offer(1, 0)
		}},
		{name: "straddles the end", setup: func(g *guest) {
			g.desc(1, 0, guestGPA+guestSize-20, 76, 0, 0)
			g.offer(1, 0)
		}},
		{name: "overflowing address", setup: func(g *guest) {
			g.desc(1, 0, ^uint64(0)-8, 76, 0, 0)
			g.offer(1, 0)
		}},
		{name: "huge length", setup: func(g *guest) {
			a, _ := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.desc(1, 0, a, 0xffffffff, 0, 0)
			g.offer(1, 0)
		}},
		{name: "zero length", setup: func(g *guest) {
			a, _ := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.desc(1, 0, a, 0, 0, 0)
			g.offer(1, 0)
		}},
		{name: "shorter than header", setup: func(g *guest) {
			a, _ := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.desc(1, 0, a, 8, 0, 0)
			g.offer(1, 0)
		}},
		{name: "frame larger than a buffer", dropped: true, setup: func(g *guest) {
			a, _ := g.buf(0)
			g.desc(1, 0, a, 4000, 0, 0)
			g.offer(1, 0)
		}},
		{name: "write-only descriptor on TX", setup: func(g *guest) {
			a, n := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.desc(1, 0, a, n, descFWrite, 0)
			g.offer(1, 0)
		}},
		{name: "indirect not negotiated", features: allFeatures &^ fIndirect, setup: func(g *guest) {
			tbl := bufArea + 2048*10
			a, n := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.rawDesc(tbl, a, n, 0, 0)
			g.desc(1, 0, guestGPA+uint64(tbl), 16, descFIndirect, 0)
			g.offer(1, 0)
		}},
		{name: "nested indirect", setup: func(g *guest) {
			tbl := bufArea + 2048*10
			g.rawDesc(tbl, guestGPA+uint64(tbl), 16, descFIndirect, 0)
			g.desc(1, 0, guestGPA+uint64(tbl), 16, descFIndirect, 0)
			g.offer(1, 0)
		}},
		{name: "indirect length not a multiple of 16", setup: func(g *guest) {
			tbl := bufArea + 2048*10
			g.desc(1, 0, guestGPA+uint64(tbl), 20, descFIndirect, 0)
			g.offer(1, 0)
		}},
		{name: "indirect table too large", setup: func(g *guest) {
			g.desc(1, 0, guestGPA+bufArea, 16*(maxIndirect+1), descFIndirect, 0)
			g.offer(1, 0)
		}},
		{name: "indirect table outside memory", setup: func(g *guest) {
			g.desc(1, 0, guestGPA+guestSize-16, 32, descFIndirect, 0)
			g.offer(1, 0)
		}},
		{name: "indirect with next", setup: func(g *guest) {
			tbl := bufArea + 2048*10
			a, n := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.rawDesc(tbl, a, n, 0, 0)
			g.desc(1, 0, guestGPA+uint64(tbl), 16, descFIndirect|descFNext, 1)
			g.offer(1, 0)
		}},
		{name: "loop inside indirect table", setup: func(g *guest) {
			tbl := bufArea + 2048*10
			a, _ := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.rawDesc(tbl, a, 12, descFNext, 1)
			g.rawDesc(tbl+16, a+12, 4, descFNext, 0)
			g.desc(1, 0, guestGPA+uint64(tbl), 32, descFIndirect, 0)
			g.offer(1, 0)
		}},
		{name: "indirect next out of table", setup: func(g *guest) {
			tbl := bufArea + 2048*10
			a, n := g.putTxPacket(0, vnethdr.Hdr{}, f)
			g.rawDesc(tbl, a, n, descFNext, 5)
			g.desc(1, 0, guestGPA+uint64(tbl), 16, descFIndirect, 0)
			g.offer(1, 0)
		}},
		{name: "avail index jumps", broken: true, setup: func(g *guest) { g.setAvailIdx(1, 1000) }},
		{name: "bad GSO header", setup: func(g *guest) {
			a, n := g.putTxPacket(0, vnethdr.Hdr{GSOType: vnethdr.GSOTCPv4, GSOSize: 0}, f)
			g.desc(1, 0, a, n, 0, 0)
			g.offer(1, 0)
		}},
		{name: "bad csum offsets", setup: func(g *guest) {
			a, n := g.putTxPacket(0, vnethdr.Hdr{Flags: vnethdr.FlagNeedsCsum, CsumStart: 60, CsumOffset: 30}, f)
			g.desc(1, 0, a, n, 0, 0)
			g.offer(1, 0)
		}},
		{name: "persistent nonsense", broken: true, setup: func(g *guest) {
			for i := 0; i < brokenAfter; i++ {
				g.desc(1, uint16(i), guestGPA+guestSize, 76, 0, 0)
				g.offer(1, uint16(i))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			feat := tc.features
			if feat == 0 {
				feat = allFeatures
			}
			g := newGuest(t, 256, feat)
			pool, c := newPool(t)
			tc.setup(g)
			var b datapath.Batch
			for i := 0; i < 3; i++ {
				if n := g.dev.vqs[1].rxBurst(&b, c); n != 0 {
					t.Fatalf("bad chain produced %d packets", n)
				}
			}
			s := g.port.Stats()
			if tc.dropped {
				if s.RxDropped == 0 {
					t.Errorf("drop not counted: %+v", s)
				}
			} else if s.RxErrors == 0 {
				t.Errorf("error not counted: %+v", s)
			}
			if g.dev.vqs[1].broken != tc.broken {
				t.Errorf("broken = %v, want %v", g.dev.vqs[1].broken, tc.broken)
			}
			if !tc.broken && g.usedIdx(1) != g.next[1] {
				t.Errorf("bad chain not returned to the guest: used %d avail %d", g.usedIdx(1), g.next[1])
			}
			// The port survives: a good packet afterwards still flows
			// (unless the ring is broken, then nothing flows, safely).
			a, n := g.putTxPacket(50, vnethdr.Hdr{}, f)
			g.desc(1, 255, a, n, 0, 0)
			g.offer(1, 255)
			got := g.port.Rx(0, &b, c)
			if tc.broken != (got == 0) {
				t.Errorf("after the bad chain: rx %d packets (broken %v)", got, tc.broken)
			}
			c.PutBatch(&b)
			c.Flush()
			if pool.Available() != pool.Size() {
				t.Errorf("packets leaked: %d of %d free", pool.Available(), pool.Size())
			}
		})
	}
}

// guestRX posts k writable buffers of n bytes each on the guest RX ring.
func (g *guest) guestRX(k int, n uint32) {
	for i := 0; i < k; i++ {
		a, _ := g.buf(100 + i)
		g.desc(0, uint16(i), a, n, descFWrite, 0)
		g.offer(0, uint16(i))
	}
}

func fill(t testing.TB, c *datapath.Cache, b *datapath.Batch, frames ...[]byte) {
	for _, f := range frames {
		pk := c.Get()
		if err := pk.CopyFrom(f); err != nil {
			t.Fatal(err)
		}
		b.Add(pk)
	}
}

func TestTxMergeable(t *testing.T) {
	debug.SetPanicOnFault(true)
	g := newGuest(t, 256, allFeatures)
	pool, c := newPool(t)
	g.guestRX(8, 100)
	f := frame(250) // 12 + 250 bytes = 3 buffers of 100
	var b datapath.Batch
	fill(t, c, &b, f, frame(60))
	g.port.Tx(0, &b, c)
	if u := g.usedIdx(0); u != 4 {
		t.Fatalf("used idx %d, want 4 (3 buffers + 1)", u)
	}
	_, b0 := g.buf(100)
	if nb := binary.LittleEndian.Uint16(b0[10:]); nb != 3 {
		t.Errorf("num_buffers %d, want 3", nb)
	}
	var got []byte
	for i := uint16(0); i < 3; i++ {
		id, n := g.usedElem(0, i)
		_, bb := g.buf(100 + int(id))
		got = append(got, bb[:n]...)
	}
	if !bytes.Equal(got[12:], f) {
		t.Errorf("merged packet differs")
	}
	c.Flush()
	if pool.Available() != pool.Size() || b.N != 0 {
		t.Errorf("Tx did not free its batch")
	}
	// Ring runs dry mid-packet: dropped, nothing half-published.
	fill(t, c, &b, frame(500), frame(500))
	g.port.Tx(0, &b, c)
	if u := g.usedIdx(0); u != 4 {
		t.Errorf("used idx %d, want 4 (a 512-byte packet does not fit 4 buffers: nothing consumed)", u)
	}
	if s := g.port.Stats(); s.TxPackets != 2 || s.TxDropped != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestTxMalicious(t *testing.T) {
	debug.SetPanicOnFault(true)
	for _, mrg := range []bool{true, false} {
		feat := uint64(allFeatures)
		if !mrg {
			feat &^= fMrgRxbuf
		}
		g := newGuest(t, 256, feat)
		_, c := newPool(t)
		a, _ := g.buf(100)
		g.desc(0, 0, a, 2048, 0, 0) // read-only buffer on the RX ring
		g.offer(0, 0)
		g.desc(0, 1, guestGPA+guestSize-8, 2048, descFWrite, 0) // outside
		g.offer(0, 1)
		g.desc(0, 2, a, 0, descFWrite|descFNext, 2) // zero-length loop
		g.offer(0, 2)
		g.desc(0, 3, a, 30, descFWrite, 0) // too small without mrg
		g.offer(0, 3)
		var b datapath.Batch
		fill(t, c, &b, frame(100), frame(100), frame(100), frame(100))
		g.port.Tx(0, &b, c)
		s := g.port.Stats()
		if s.TxErrors < 3 || s.TxPackets != 0 {
			t.Errorf("mrg=%v: stats %+v", mrg, s)
		}
		for i := uint16(0); i < 3; i++ {
			if _, n := g.usedElem(0, i); n != 0 {
				t.Errorf("mrg=%v: bad buffer %d returned with length %d", mrg, i, n)
			}
		}
		if !mrg {
			// The 30-byte buffer is too small for any frame: dropped, and
			// left in the ring (it is not malformed).
			if s.TxDropped == 0 || g.usedIdx(0) != 3 {
				t.Errorf("mrg=false: small buffer: stats %+v used %d", s, g.usedIdx(0))
			}
			continue
		}
		g.offer(0, 300) // head out of range: broken
		fill(t, c, &b, frame(100), frame(100))
		g.port.Tx(0, &b, c)
		if !g.dev.vqs[0].broken {
			t.Errorf("mrg=%v: ring not broken by an out-of-range head", mrg)
		}
	}
}

// TestFaultBreaksDevice shrinks the memfd behind the guest's memory: the
// next access raises SIGBUS, which must break the ring, not the process.
func TestFaultBreaksDevice(t *testing.T) {
	debug.SetPanicOnFault(true)
	fd, err := unix.MemfdCreate("vhu-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, guestSize); err != nil {
		t.Fatal(err)
	}
	mt, err := mapRegions([]memRegion{{gpa: guestGPA, size: guestSize, uaddr: guestGPA}}, []int{fd})
	if err != nil {
		t.Fatal(err)
	}
	g := newGuest(t, 256, allFeatures)
	g.dev.stop()
	g.dev.mem = mt
	g.mem = mt.r[0].mem
	g.dev.vqs[0].ready, g.dev.vqs[1].ready = false, false
	g.dev.activate()
	defer g.dev.mem.unmap()
	_, c := newPool(t)
	a, n := g.putTxPacket(0, vnethdr.Hdr{}, frame(64))
	g.desc(1, 0, a, n, 0, 0)
	g.offer(1, 0)
	if err := unix.Ftruncate(fd, 0); err != nil {
		t.Fatal(err)
	}
	var b datapath.Batch
	if got := g.port.Rx(0, &b, c); got != 0 {
		t.Fatalf("rx %d from truncated memory", got)
	}
	if !g.dev.vqs[1].broken || g.port.Stats().RxErrors == 0 {
		t.Errorf("fault did not break the ring: %+v", g.port.Stats())
	}
	fill(t, c, &b, frame(64))
	g.port.Tx(0, &b, c)
	if !g.dev.vqs[0].broken {
		t.Errorf("fault did not break the RX ring")
	}
}
