package vnethdr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// refSum is the textbook RFC 1071 sum, 16 bits at a time, to check Sum.
func refSum(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return s
}

func refL4Checksum(src, dst []byte, proto byte, l4 []byte) uint16 {
	ph := make([]byte, 0, 40+len(l4))
	ph = append(ph, src...)
	ph = append(ph, dst...)
	ph = append(ph, 0, proto)
	ph = binary.BigEndian.AppendUint16(ph, uint16(len(l4)))
	// IPv6 pseudo-header uses a 32-bit length; with lengths < 64 KiB the
	// extra zero bytes do not change the sum.
	ph = append(ph, l4...)
	return ^uint16(refSum(ph))
}

func TestSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 70000)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 31, 32, 33, 63, 100, 1499, 1500, 65535, 70000} {
		for _, off := range []int{0, 1, 3} {
			b := buf[off : off+n-min(n, off)]
			if got, want := Fold(Sum(b, 0)), uint16(refSum(b)); got != want {
				t.Fatalf("len %d off %d: Sum=%#04x, reference %#04x", len(b), off, got, want)
			}
		}
	}
	// All-ones data stresses the carries.
	ones := bytes.Repeat([]byte{0xff}, 4099)
	if got, want := Fold(Sum(ones, 0)), uint16(refSum(ones)); got != want {
		t.Fatalf("all ones: Sum=%#04x, reference %#04x", got, want)
	}
}

type frameSpec struct {
	v6      bool
	vlan    bool
	udp     bool
	tcpOpts bool
	seq     uint32
	flags   byte
	ipID    uint16
	payload []byte
}

var (
	mac     = []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2}
	src4    = []byte{192, 0, 2, 1}
	dst4    = []byte{192, 0, 2, 2}
	src6    = []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	dst6    = []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
	tcpOpts = []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2} // NOP NOP timestamps
)

// build makes a frame the way a sender's stack would. With partial set the
// L4 checksum field holds only the pseudo-header sum (CHECKSUM_PARTIAL, as
// Linux hands GSO and offloaded frames to AF_PACKET); otherwise every
// checksum is complete.
func build(s frameSpec, partial bool) (frame []byte, l4off int) {
	f := append([]byte{}, mac...)
	if s.vlan {
		f = append(f, 0x81, 0x00, 0x20, 0x07) // PCP 1, VID 7
	}
	var l4 []byte
	proto := byte(6)
	if s.udp {
		proto = 17
		l4 = make([]byte, 8)
		binary.BigEndian.PutUint16(l4[0:], 5000)
		binary.BigEndian.PutUint16(l4[2:], 6000)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+len(s.payload)))
	} else {
		hl := 20
		if s.tcpOpts {
			hl += len(tcpOpts)
		}
		l4 = make([]byte, hl)
		binary.BigEndian.PutUint16(l4[0:], 40000)
		binary.BigEndian.PutUint16(l4[2:], 5201)
		binary.BigEndian.PutUint32(l4[4:], s.seq)
		binary.BigEndian.PutUint32(l4[8:], 0x11223344)
		l4[12] = byte(hl/4) << 4
		l4[13] = s.flags
		binary.BigEndian.PutUint16(l4[14:], 512)
		if s.tcpOpts {
			copy(l4[20:], tcpOpts)
		}
	}
	l4 = append(l4, s.payload...)
	csumOff := 16
	if s.udp {
		csumOff = 6
	}
	var src, dst []byte
	if !s.v6 {
		f = append(f, 0x08, 0x00)
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		binary.BigEndian.PutUint16(ip[4:], s.ipID)
		ip[6] = 0x40 // DF
		ip[8] = 64
		ip[9] = proto
		copy(ip[12:], src4)
		copy(ip[16:], dst4)
		binary.BigEndian.PutUint16(ip[10:], ^uint16(refSum(ip)))
		src, dst = src4, dst4
		f = append(f, ip...)
	} else {
		f = append(f, 0x86, 0xdd)
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = proto
		ip[7] = 64
		copy(ip[8:], src6)
		copy(ip[24:], dst6)
		src, dst = src6, dst6
		f = append(f, ip...)
	}
	if partial {
		ph := append(append(append([]byte{}, src...), dst...), 0, proto, byte(len(l4)>>8), byte(len(l4)))
		binary.BigEndian.PutUint16(l4[csumOff:], uint16(refSum(ph)))
	} else {
		c := refL4Checksum(src, dst, proto, l4)
		if c == 0 && s.udp {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4[csumOff:], c)
	}
	l4off = len(f)
	return append(f, l4...), l4off
}

func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func TestSegment(t *testing.T) {
	cases := []struct {
		name   string
		spec   frameSpec
		gso    uint8
		mss    int
		paylen int
	}{
		{"tcp4", frameSpec{tcpOpts: true, seq: 0xfffff000, flags: 0x18 | 0x01 | 0x80, ipID: 0xfffe}, GSOTCPv4, 1448, 65000},
		{"tcp4-vlan", frameSpec{vlan: true, seq: 1000, flags: 0x18, ipID: 7}, GSOTCPv4, 1460, 20000},
		{"tcp4-exact-multiple", frameSpec{seq: 1, flags: 0x10}, GSOTCPv4, 1000, 5000},
		{"tcp4-single", frameSpec{seq: 1, flags: 0x18}, GSOTCPv4, 1448, 500},
		{"tcp6", frameSpec{v6: true, tcpOpts: true, seq: 42, flags: 0x18 | 0x01}, GSOTCPv6, 1428, 64000},
		{"tcp6-ecn", frameSpec{v6: true, seq: 42, flags: 0x18 | 0x80}, GSOTCPv6 | GSOECN, 1440, 3000},
		{"udp4", frameSpec{udp: true, ipID: 100}, GSOUDPL4, 1472, 30001},
		{"udp6-vlan", frameSpec{v6: true, vlan: true, udp: true}, GSOUDPL4, 1452, 14520},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.payload = payload(tc.paylen, uint64(i))
			frame, l4off := build(spec, true)
			csumOff := 16
			if spec.udp {
				csumOff = 6
			}
			h := Hdr{Flags: FlagNeedsCsum, GSOType: tc.gso, HdrLen: uint16(len(frame)), GSOSize: uint16(tc.mss),
				CsumStart: uint16(l4off), CsumOffset: uint16(csumOff)}
			var s Segmenter
			if err := s.Start(frame, h); err != nil {
				t.Fatalf("Start: %v", err)
			}
			want := (tc.paylen + tc.mss - 1) / tc.mss
			if s.Segments() != want {
				t.Fatalf("Segments() = %d, want %d", s.Segments(), want)
			}
			dst := make([]byte, 2048)
			for k := 0; k < want; k++ {
				if !s.Active() {
					t.Fatalf("inactive after %d segments", k)
				}
				n, err := s.Next(dst)
				if err != nil {
					t.Fatalf("segment %d: %v", k, err)
				}
				exp := spec
				lo, hi := k*tc.mss, min((k+1)*tc.mss, tc.paylen)
				exp.payload = spec.payload[lo:hi]
				exp.seq = spec.seq + uint32(lo)
				exp.ipID = spec.ipID + uint16(k)
				if k != want-1 {
					exp.flags &^= 0x01 | 0x08
				}
				if k != 0 {
					exp.flags &^= 0x80
				}
				wantSeg, _ := build(exp, false)
				if !bytes.Equal(dst[:n], wantSeg) {
					t.Fatalf("segment %d of %d differs:\n got %x\nwant %x", k, want, dst[:min(n, 120)], wantSeg[:min(len(wantSeg), 120)])
				}
				verifyChecksums(t, dst[:n], spec.v6, spec.udp, l4off)
			}
			if s.Active() {
				t.Fatal("still active after the last segment")
			}
		})
	}
}

// verifyChecksums checks the packet the way a receiver does: the sum over
// the header (IPv4) and over pseudo-header + L4 must fold to 0xffff.
func verifyChecksums(t *testing.T, p []byte, v6, udp bool, l4off int) {
	t.Helper()
	l3 := l4off - 20
	proto := byte(6)
	if udp {
		proto = 17
	}
	var src, dst []byte
	if v6 {
		l3 = l4off - 40
		src, dst = p[l3+8:l3+24], p[l3+24:l3+40]
	} else {
		if refSum(p[l3:l4off]) != 0xffff {
			t.Fatalf("IPv4 header checksum invalid")
		}
		src, dst = p[l3+12:l3+16], p[l3+16:l3+20]
	}
	if c := refL4Checksum(src, dst, proto, p[l4off:]); c != 0 {
		t.Fatalf("L4 checksum invalid (residue %#04x)", c)
	}
}

func TestSegmentResumesAndRejects(t *testing.T) {
	spec := frameSpec{seq: 9, flags: 0x18, payload: payload(10000, 3)}
	frame, l4off := build(spec, true)
	h := Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, GSOSize: 1448, CsumStart: uint16(l4off), CsumOffset: 16}
	var s Segmenter
	if err := s.Start(frame, h); err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 100)
	if _, err := s.Next(small); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("Next into 100 bytes: err=%v, want ErrNoRoom", err)
	}
	if !s.Active() || s.Segments() != 7 {
		t.Fatalf("after ErrNoRoom: active=%v segments=%d", s.Active(), s.Segments())
	}
	dst := make([]byte, 2048)
	for s.Active() {
		if _, err := s.Next(dst); err != nil {
			t.Fatal(err)
		}
	}
	// Mismatched GSO type, UFO, zero MSS, truncated headers.
	bad := []struct {
		name  string
		frame []byte
		h     Hdr
		want  error
	}{
		{"tcp6 type on v4", frame, Hdr{GSOType: GSOTCPv6, GSOSize: 1000}, ErrBadHeader},
		{"ufo", frame, Hdr{GSOType: GSOUDP, GSOSize: 1000}, ErrUnsupported},
		{"mss 0", frame, Hdr{GSOType: GSOTCPv4}, ErrBadHeader},
		{"short", frame[:40], Hdr{GSOType: GSOTCPv4, GSOSize: 1000}, ErrShort},
		{"arp", append(append([]byte{}, mac...), 0x08, 0x06, 0, 1), Hdr{GSOType: GSOTCPv4, GSOSize: 1000}, ErrUnsupported},
	}
	for _, b := range bad {
		if err := s.Start(b.frame, b.h); !errors.Is(err, b.want) {
			t.Errorf("%s: err=%v, want %v", b.name, err, b.want)
		}
	}
}

func TestCompleteChecksum(t *testing.T) {
	for _, spec := range []frameSpec{
		{udp: true, payload: payload(1001, 5)},
		{v6: true, udp: true, payload: payload(64, 6)},
		{tcpOpts: true, flags: 0x18, payload: payload(1448, 7)},
		{v6: true, vlan: true, flags: 0x10, payload: payload(3, 8)},
	} {
		partial, l4off := build(spec, true)
		full, _ := build(spec, false)
		off := 16
		if spec.udp {
			off = 6
		}
		h := Hdr{Flags: FlagNeedsCsum, CsumStart: uint16(l4off), CsumOffset: uint16(off)}
		if err := Complete(partial, h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(partial, full) {
			t.Fatalf("completed frame differs from reference (v6=%v udp=%v)", spec.v6, spec.udp)
		}
	}
	if err := CompleteChecksum(make([]byte, 20), 10, 9); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("out-of-range csum offset: err=%v", err)
	}
}

func TestHdrRoundTrip(t *testing.T) {
	h := Hdr{Flags: 1, GSOType: GSOTCPv6 | GSOECN, HdrLen: 66, GSOSize: 1428, CsumStart: 54, CsumOffset: 16}
	var b [Len]byte
	h.Encode(b[:])
	if want := []byte{1, 0x84, 66, 0, 0x94, 0x05, 54, 0, 16, 0}; !bytes.Equal(b[:], want) {
		t.Fatalf("Encode = %x, want %x", b, want)
	}
	if got := Decode(b[:]); got != h {
		t.Fatalf("Decode = %v, want %v", got, h)
	}
	if !h.IsGSO() || !h.NeedsCsum() || (Hdr{GSOType: GSOECN}).IsGSO() {
		t.Fatal("IsGSO/NeedsCsum wrong")
	}
}

func BenchmarkSegmentTCP4(b *testing.B) {
	spec := frameSpec{tcpOpts: true, flags: 0x18, payload: payload(65000, 9)}
	frame, l4off := build(spec, true)
	h := Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, GSOSize: 1448, CsumStart: uint16(l4off), CsumOffset: 16}
	dst := make([]byte, 2048)
	var s Segmenter
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Start(frame, h); err != nil {
			b.Fatal(err)
		}
		for s.Active() {
			if _, err := s.Next(dst); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	p := payload(1500, 1)
	b.SetBytes(1500)
	b.ReportAllocs()
	for b.Loop() {
		_ = Checksum(p)
	}
}
