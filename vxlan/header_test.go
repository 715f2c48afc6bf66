package vxlan

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rfc1071 is a deliberately naive Internet checksum, independent of the
// vnethdr code the package uses, to cross-check it.
func rfc1071(parts ...[]byte) uint16 {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var s uint32
	for i := 0; i < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testInner is a 60-byte inner Ethernet frame: 0a:00:00:00:00:01 ->
// 0a:00:00:00:00:02, IPv4 EtherType, payload bytes 0..45.
func testInner() []byte {
	b := []byte{0x0a, 0, 0, 0, 0, 2, 0x0a, 0, 0, 0, 0, 1, 0x08, 0x00}
	for i := range 46 {
		b = append(b, byte(i))
	}
	return b
}

var (
	macA = [6]byte{2, 0, 0, 0, 0, 1}
	macB = [6]byte{2, 0, 0, 0, 0, 2}
)

func v4Config() TemplateConfig {
	return TemplateConfig{
		SrcMAC: macA, DstMAC: macB,
		SrcIP: netip.MustParseAddr("192.168.77.1"), DstIP: netip.MustParseAddr("192.168.77.2"),
		DF: true, VNI: 100, Csum: true,
	}
}

func v6Config() TemplateConfig {
	return TemplateConfig{
		SrcMAC: macA, DstMAC: macB, HasVLAN: true, VLANTCI: 100,
		SrcIP: netip.MustParseAddr("fd00::1"), DstIP: netip.MustParseAddr("fd00::2"),
		TOSInherit: true, VNI: 100,
	}
}

// encapInto lays the inner frame behind headroom as the datapath would and
// encapsulates it, returning the whole packet.
func encapInto(t testing.TB, tmpl *Template, inner []byte, m Meta) []byte {
	t.Helper()
	buf := make([]byte, 256+len(inner))
	copy(buf[256:], inner)
	frame := buf[256-tmpl.Len():]
	if err := Encap(frame, tmpl, m); err != nil {
		t.Fatal(err)
	}
	return frame
}

func TestSourcePort(t *testing.T) {
	// 0x12345678 * 0x9e3779b1 mod 2^32 = 0xf6d680f8; * 28232 >> 32 = 27221.
	if got := SourcePort(0x12345678); got != 59989 {
		t.Fatalf("SourcePort(0x12345678) = %d, want 59989", got)
	}
	lo, hi := uint16(65535), uint16(0)
	seen := map[uint16]bool{}
	for h := uint32(0); h < 1<<20; h += 7 {
		p := SourcePort(h * 2654435761)
		lo, hi = min(lo, p), max(hi, p)
		seen[p] = true
	}
	if lo < SrcPortMin || hi >= SrcPortMax {
		t.Fatalf("ports span [%d, %d], want within [%d, %d)", lo, hi, SrcPortMin, SrcPortMax)
	}
	if len(seen) < 20000 {
		t.Fatalf("only %d distinct ports from 150k hashes", len(seen))
	}
	// Consecutive small hashes (a weak hash) still spread.
	if SourcePort(1) == SourcePort(2) {
		t.Fatal("hashes 1 and 2 map to the same port")
	}
}

// The golden frames were computed independently (Python struct packing
// with its own checksum) and read field by field.
func TestEncapGoldenIPv4(t *testing.T) {
	tmpl, err := BuildTemplate(v4Config())
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Len() != OverheadIPv4 || tmpl.IPv6() || tmpl.VNI() != 100 {
		t.Fatalf("template len %d ipv6 %v vni %d", tmpl.Len(), tmpl.IPv6(), tmpl.VNI())
	}
	got := encapInto(t, &tmpl, testInner(), Meta{Hash: 0x12345678, IPID: 0x1234, TTL: 9})
	want := unhex(t, `
		020000000002 020000000001 0800
		45 00 0060 1234 4000 40 11 0d05 c0a84d01 c0a84d02
		ea55 12b5 004c 62e0
		08 000000 000064 00
		0a0000000002 0a0000000001 0800 000102030405060708090a0b0c0d0e0f
		101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d`)
	if !bytes.Equal(got, want) {
		t.Fatalf("encap:\n got %x\nwant %x", got, want)
	}
	ip := got[EthLen : EthLen+IPv4Len]
	if c := rfc1071(ip); c != 0 {
		t.Fatalf("IPv4 header does not verify: %#x", c)
	}
	udp := got[EthLen+IPv4Len:]
	pseudo := append(append([]byte{}, ip[12:20]...), 0, 17, udp[4], udp[5])
	if c := rfc1071(pseudo, udp); c != 0 {
		t.Fatalf("UDP checksum does not verify: %#x", c)
	}
}

func TestEncapGoldenIPv6VLAN(t *testing.T) {
	tmpl, err := BuildTemplate(v6Config())
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Len() != OverheadIPv6+VLANLen || !tmpl.IPv6() {
		t.Fatalf("template len %d ipv6 %v", tmpl.Len(), tmpl.IPv6())
	}
	// Inner TOS 0xb9: DSCP 46 inherited, ECT(1) copied.
	got := encapInto(t, &tmpl, testInner(), Meta{Hash: 0x12345678, TOS: 0xb9})
	want := unhex(t, `
		020000000002 020000000001 8100 0064 86dd
		6b945678 004c 11 40 fd000000000000000000000000000001 fd000000000000000000000000000002
		ea55 12b5 004c 8430
		08 000000 000064 00
		0a0000000002 0a0000000001 0800 000102030405060708090a0b0c0d0e0f
		101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d`)
	if !bytes.Equal(got, want) {
		t.Fatalf("encap:\n got %x\nwant %x", got, want)
	}
	ip := got[18 : 18+IPv6Len]
	udp := got[18+IPv6Len:]
	pseudo := append(append([]byte{}, ip[8:40]...), 0, 0, udp[4], udp[5], 0, 0, 0, 17)
	if c := rfc1071(pseudo, udp); c != 0 {
		t.Fatalf("UDP checksum does not verify: %#x", c)
	}
}

func TestEncapFields(t *testing.T) {
	c := v4Config()
	c.Csum, c.DF, c.TOS, c.TTL = false, false, 0x20, 33
	tmpl, err := BuildTemplate(c)
	if err != nil {
		t.Fatal(err)
	}
	// CE inside becomes ECT(0) outside; the configured DSCP stays.
	f := encapInto(t, &tmpl, testInner(), Meta{Hash: 1, IPID: 7, TOS: 0xff, TTL: 5})
	ip := f[EthLen:]
	if ip[1] != 0x22 || ip[8] != 33 || binary.BigEndian.Uint16(ip[6:]) != 0 || binary.BigEndian.Uint16(ip[4:]) != 7 {
		t.Fatalf("tos %#x ttl %d frag %#x id %d", ip[1], ip[8], binary.BigEndian.Uint16(ip[6:]), binary.BigEndian.Uint16(ip[4:]))
	}
	if rfc1071(ip[:IPv4Len]) != 0 {
		t.Fatal("IPv4 header checksum wrong")
	}
	if cs := binary.BigEndian.Uint16(f[EthLen+IPv4Len+6:]); cs != 0 {
		t.Fatalf("UDP checksum %#x with csum=false, want 0", cs)
	}

	c.TOSInherit, c.TTLInherit = true, true
	tmpl, _ = BuildTemplate(c)
	f = encapInto(t, &tmpl, testInner(), Meta{TOS: 0x49, TTL: 5})
	if ip := f[EthLen:]; ip[1] != 0x49 || ip[8] != 5 || rfc1071(ip[:IPv4Len]) != 0 {
		t.Fatalf("inherit: tos %#x ttl %d", ip[1], ip[8])
	}
	// A non-IP inner (TTL 0) falls back to the configured TTL.
	f = encapInto(t, &tmpl, testInner(), Meta{})
	if ip := f[EthLen:]; ip[8] != 33 || rfc1071(ip[:IPv4Len]) != 0 {
		t.Fatalf("inherit from non-IP: ttl %d", ip[8])
	}
}

func TestEncapErrors(t *testing.T) {
	tmpl, _ := BuildTemplate(v4Config())
	if err := Encap(make([]byte, tmpl.Len()+MinInner-1), &tmpl, Meta{}); err == nil {
		t.Fatal("frame without room for an inner Ethernet header accepted")
	}
	var zero Template
	if err := Encap(make([]byte, 200), &zero, Meta{}); err == nil {
		t.Fatal("zero template accepted")
	}
	if err := Encap(make([]byte, 70000), &tmpl, Meta{}); err == nil {
		t.Fatal("frame over 64k accepted")
	}
}

func TestBuildTemplateErrors(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*TemplateConfig)
		want string
	}{
		{func(c *TemplateConfig) { c.SrcIP = netip.Addr{} }, "required"},
		{func(c *TemplateConfig) { c.DstIP = netip.MustParseAddr("fd00::2") }, "different families"},
		{func(c *TemplateConfig) { c.VNI = MaxVNI + 1 }, "VNI 16777216"},
		{func(c *TemplateConfig) { c.TOS = 1 }, "ECN"},
		{func(c *TemplateConfig) { c.HasVLAN, c.VLANTCI = true, 0xfff }, "4095"},
	} {
		c := v4Config()
		tc.mod(&c)
		if _, err := BuildTemplate(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
	}
	// An IPv4-mapped address is plain IPv4.
	c := v4Config()
	c.DstIP = netip.MustParseAddr("::ffff:192.168.77.2")
	if tmpl, err := BuildTemplate(c); err != nil || tmpl.IPv6() {
		t.Fatalf("mapped address: %v, ipv6 %v", err, tmpl.IPv6())
	}
}

func TestRoundTrip(t *testing.T) {
	inner := testInner()
	long := make([]byte, 1500)
	copy(long, inner)
	for i := 14; i < len(long); i++ {
		long[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name string
		cfg  TemplateConfig
	}{
		{"ipv4-csum", v4Config()},
		{"ipv4-nocsum", func() TemplateConfig { c := v4Config(); c.Csum = false; return c }()},
		{"ipv4-vlan", func() TemplateConfig { c := v4Config(); c.HasVLAN, c.VLANTCI = true, 0x2007; return c }()},
		{"ipv6-vlan", v6Config()},
		{"ipv6", func() TemplateConfig { c := v6Config(); c.HasVLAN = false; c.DstPort = 8472; return c }()},
	} {
		for _, in := range [][]byte{inner, long, inner[:14]} {
			tmpl, err := BuildTemplate(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			f := encapInto(t, &tmpl, in, Meta{Hash: uint32(len(in)), IPID: 3, TOS: 0x10, TTL: 17})
			port := tc.cfg.DstPort
			if port == 0 {
				port = DefaultPort
			}
			info, r := Decap(f, port, 0)
			if r != DropNone {
				t.Fatalf("%s/%d: decap dropped: %v", tc.name, len(in), r)
			}
			if got := f[info.InnerOff : info.InnerOff+info.InnerLen]; !bytes.Equal(got, in) {
				t.Fatalf("%s/%d: inner frame changed", tc.name, len(in))
			}
			if info.VNI != tc.cfg.VNI || info.SrcAddr() != tc.cfg.SrcIP || info.DstAddr() != tc.cfg.DstIP ||
				info.IPv6 != tc.cfg.SrcIP.Is6() || info.HasVLAN != tc.cfg.HasVLAN || info.HasVLAN && info.VLANTCI != tc.cfg.VLANTCI ||
				info.SrcPort != SourcePort(uint32(len(in))) || info.Csum != (tc.cfg.Csum || info.IPv6) ||
				info.DF != (tc.cfg.DF && !info.IPv6) || info.TTL != DefaultTTL {
				t.Fatalf("%s/%d: info %+v", tc.name, len(in), info)
			}
			if _, r := Decap(f, port+1, 0); r != DropWrongPort {
				t.Fatalf("%s: other port gave %v", tc.name, r)
			}
		}
	}
}

// mutate returns a copy of a valid encapsulated IPv4 frame after fn.
func mutate(t *testing.T, cfg TemplateConfig, fn func(f []byte) []byte) []byte {
	tmpl, err := BuildTemplate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fn(encapInto(t, &tmpl, testInner(), Meta{Hash: 5}))
}

// fixIPv4 recomputes the IPv4 header checksum after a mutation.
func fixIPv4(f []byte, l3 int) {
	ihl := int(f[l3]&0xf) * 4
	f[l3+10], f[l3+11] = 0, 0
	binary.BigEndian.PutUint16(f[l3+10:], rfc1071(f[l3:l3+ihl]))
}

func TestDecapDrops(t *testing.T) {
	const l3, l4 = EthLen, EthLen + IPv4Len
	v4 := v4Config()
	noCsum := v4Config()
	noCsum.Csum = false
	v6 := v6Config()
	v6.HasVLAN = false
	for _, tc := range []struct {
		name  string
		frame []byte
		flags DecapFlags
		want  DropReason
	}{
		{"empty", nil, 0, DropTruncated},
		{"eth only", mutate(t, v4, func(f []byte) []byte { return f[:14] }), 0, DropTruncated},
		{"short ip", mutate(t, v4, func(f []byte) []byte { return f[:30] }), 0, DropTruncated},
		{"cut payload", mutate(t, v4, func(f []byte) []byte { return f[:len(f)-1] }), 0, DropTruncated},
		{"arp", mutate(t, v4, func(f []byte) []byte { f[12], f[13] = 0x08, 0x06; return f }), 0, DropNotIP},
		{"two tags", mutate(t, v4, func(f []byte) []byte {
			return append(append(append([]byte{}, f[:12]...), 0x81, 0, 0, 5, 0x81, 0, 0, 6), f[12:]...)
		}), 0, DropNotIP},
		{"ip version", mutate(t, v4, func(f []byte) []byte { f[l3] = 0x55; fixIPv4(f, l3); return f }), 0, DropBadIPHeader},
		{"ihl 4", mutate(t, v4, func(f []byte) []byte { f[l3] = 0x44; return f }), 0, DropBadIPHeader},
		{"ip len short", mutate(t, v4, func(f []byte) []byte { f[l3+2], f[l3+3] = 0, 19; fixIPv4(f, l3); return f }), 0, DropBadIPLength},
		{"ip len long", mutate(t, v4, func(f []byte) []byte { f[l3+2]++; fixIPv4(f, l3); return f }), 0, DropTruncated},
		{"ip csum", mutate(t, v4, func(f []byte) []byte { f[l3+10]++; return f }), 0, DropBadIPChecksum},
		{"more frags", mutate(t, v4, func(f []byte) []byte { f[l3+6] |= 0x20; fixIPv4(f, l3); return f }), 0, DropFragment},
		{"frag offset", mutate(t, v4, func(f []byte) []byte { f[l3+7] = 1; fixIPv4(f, l3); return f }), 0, DropFragment},
		{"tcp", mutate(t, v4, func(f []byte) []byte { f[l3+9] = 6; fixIPv4(f, l3); return f }), 0, DropNotUDP},
		{"port", mutate(t, v4, func(f []byte) []byte { f[l4+3]++; return f }), 0, DropWrongPort},
		{"udp len 7", mutate(t, noCsum, func(f []byte) []byte { f[l4+4], f[l4+5] = 0, 7; return f }), 0, DropBadUDPLength},
		{"udp len long", mutate(t, noCsum, func(f []byte) []byte { f[l4+5]++; return f }), 0, DropBadUDPLength},
		{"udp len no inner", mutate(t, noCsum, func(f []byte) []byte { f[l4+4], f[l4+5] = 0, 29; return f }), 0, DropTruncated},
		{"udp csum", mutate(t, v4, func(f []byte) []byte { f[len(f)-1]++; return f }), 0, DropBadUDPChecksum},
		{"udp csum trusted", mutate(t, v4, func(f []byte) []byte { f[len(f)-1]++; return f }), CsumVerified, DropNone},
		{"zero csum v4", mutate(t, noCsum, func(f []byte) []byte { return f }), 0, DropNone},
		{"zero csum v6", mutate(t, v6, func(f []byte) []byte { f[EthLen+IPv6Len+6], f[EthLen+IPv6Len+7] = 0, 0; return f }), 0, DropZeroUDPChecksum},
		{"zero csum v6 allowed", mutate(t, v6, func(f []byte) []byte { f[EthLen+IPv6Len+6], f[EthLen+IPv6Len+7] = 0, 0; return f }), AllowZeroCsum6, DropNone},
		{"v6 payload 0", mutate(t, v6, func(f []byte) []byte { f[l3+4], f[l3+5] = 0, 0; return f }), 0, DropBadIPLength},
		{"v6 version", mutate(t, v6, func(f []byte) []byte { f[l3] = 0x40; return f }), 0, DropBadIPHeader},
		{"v6 fragment", mutate(t, v6, func(f []byte) []byte { f[l3+6] = 44; return f }), 0, DropFragment},
		{"v6 routing hdr", mutate(t, v6, func(f []byte) []byte { f[l3+6] = 43; return f }), 0, DropNotUDP},
		{"no I flag", mutate(t, noCsum, func(f []byte) []byte { f[l4+8] = 0; return f }), 0, DropBadFlags},
		{"no I flag csum", mutate(t, v4, func(f []byte) []byte { f[l4+8] = 0x80; f[l4+7]++; return f }), 0, DropBadUDPChecksum},
		// RFC 7348: reserved bits are ignored on receipt.
		{"reserved bits", mutate(t, noCsum, func(f []byte) []byte { f[l4+8] = 0xff; f[l4+9] = 0xff; f[l4+15] = 0xff; return f }), 0, DropNone},
		{"trailing pad", mutate(t, v4, func(f []byte) []byte { return append(f, 0, 0, 0, 0) }), 0, DropNone},
	} {
		if _, r := Decap(tc.frame, DefaultPort, tc.flags); r != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, r, tc.want)
		}
	}
}

func TestDecapOptionsAndExtensions(t *testing.T) {
	inner := testInner()
	// IPv4 with 8 bytes of options (two NOPs and an end-of-list padded).
	tmpl, _ := BuildTemplate(v4Config())
	f := encapInto(t, &tmpl, inner, Meta{Hash: 9})
	withOpts := append(append(append([]byte{}, f[:EthLen+IPv4Len]...), 1, 1, 0, 0, 0, 0, 0, 0), f[EthLen+IPv4Len:]...)
	withOpts[EthLen] = 0x47
	binary.BigEndian.PutUint16(withOpts[EthLen+2:], uint16(len(withOpts)-EthLen))
	fixIPv4(withOpts, EthLen)
	info, r := Decap(withOpts, DefaultPort, 0)
	if r != DropNone || !bytes.Equal(withOpts[info.InnerOff:info.InnerOff+info.InnerLen], inner) {
		t.Fatalf("IPv4 options: %v", r)
	}

	// IPv6 with a hop-by-hop header (8 bytes: next header UDP, padding).
	c := v6Config()
	c.HasVLAN = false
	tmpl, _ = BuildTemplate(c)
	f = encapInto(t, &tmpl, inner, Meta{Hash: 9})
	const l3 = EthLen
	hbh := []byte{17, 0, 1, 4, 0, 0, 0, 0}
	ext := append(append(append([]byte{}, f[:l3+IPv6Len]...), hbh...), f[l3+IPv6Len:]...)
	ext[l3+6] = 0
	binary.BigEndian.PutUint16(ext[l3+4:], binary.BigEndian.Uint16(ext[l3+4:])+8)
	info, r = Decap(ext, DefaultPort, 0)
	if r != DropNone || !bytes.Equal(ext[info.InnerOff:info.InnerOff+info.InnerLen], inner) {
		t.Fatalf("IPv6 hop-by-hop: %v", r)
	}
	ext[l3+IPv6Len+1] = 200 // header longer than the packet
	if _, r = Decap(ext, DefaultPort, 0); r != DropTruncated {
		t.Fatalf("IPv6 oversized extension header: %v", r)
	}
}

func TestDropReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := DropNone; r < NumDropReasons; r++ {
		s := r.String()
		if s == "" || seen[s] {
			t.Fatalf("reason %d has name %q", r, s)
		}
		seen[s] = true
	}
	if NumDropReasons.String() != "drop_13" {
		t.Fatalf("out of range name %q", NumDropReasons.String())
	}
}

// FuzzDecap feeds arbitrary frames to Decap: it must never panic, a valid
// result must lie inside the frame, and any frame used as an inner frame
// must come back unchanged through Encap and Decap.
func FuzzDecap(f *testing.F) {
	for _, cfg := range []TemplateConfig{v4Config(), v6Config()} {
		tmpl, _ := BuildTemplate(cfg)
		f.Add(encapInto(f, &tmpl, testInner(), Meta{Hash: 1}))
	}
	tmpl4, _ := BuildTemplate(v4Config())
	tmpl6, _ := BuildTemplate(v6Config())
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, flags := range []DecapFlags{0, CsumVerified | AllowZeroCsum6} {
			info, r := Decap(data, DefaultPort, flags)
			if r >= NumDropReasons {
				t.Fatalf("reason %d out of range", r)
			}
			if r == DropNone && (info.InnerOff < 0 || info.InnerLen < MinInner || info.InnerOff+info.InnerLen > len(data)) {
				t.Fatalf("inner [%d,+%d) outside a %d-byte frame", info.InnerOff, info.InnerLen, len(data))
			}
		}
		if len(data) < MinInner || len(data) > 9000 {
			return
		}
		for _, tmpl := range []*Template{&tmpl4, &tmpl6} {
			buf := make([]byte, tmpl.Len()+len(data))
			copy(buf[tmpl.Len():], data)
			if err := Encap(buf, tmpl, Meta{Hash: uint32(len(data))}); err != nil {
				t.Fatal(err)
			}
			info, r := Decap(buf, DefaultPort, 0)
			if r != DropNone || !bytes.Equal(buf[info.InnerOff:info.InnerOff+info.InnerLen], data) {
				t.Fatalf("round trip of a %d-byte inner frame: %v", len(data), r)
			}
		}
	})
}

func benchFrame(b *testing.B, cfg TemplateConfig, innerLen int) (*Template, []byte, []byte) {
	tmpl, err := BuildTemplate(cfg)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2048)
	inner := make([]byte, innerLen)
	copy(inner, testInner())
	copy(buf[256:], inner)
	return &tmpl, buf[256-tmpl.Len() : 256+innerLen], inner
}

func BenchmarkEncap(b *testing.B) {
	noCsum := v4Config()
	noCsum.Csum = false
	for _, bc := range []struct {
		name string
		cfg  TemplateConfig
		n    int
	}{
		{"ipv4/64", noCsum, 64},
		{"ipv4/1400", noCsum, 1400},
		{"ipv4-csum/64", v4Config(), 64},
		{"ipv4-csum/1400", v4Config(), 1400},
		{"ipv6/64", v6Config(), 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tmpl, frame, _ := benchFrame(b, bc.cfg, bc.n)
			b.ReportAllocs()
			b.SetBytes(int64(bc.n))
			var m Meta
			for i := 0; b.Loop(); i++ {
				m.Hash = uint32(i)
				if err := Encap(frame, tmpl, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecap(b *testing.B) {
	noCsum := v4Config()
	noCsum.Csum = false
	for _, bc := range []struct {
		name  string
		cfg   TemplateConfig
		n     int
		flags DecapFlags
	}{
		{"ipv4/64", noCsum, 64, 0},
		{"ipv4-csum/64", v4Config(), 64, 0},
		{"ipv4-csum/1400", v4Config(), 1400, 0},
		{"ipv4-csum-verified/1400", v4Config(), 1400, CsumVerified},
		{"ipv6/64", v6Config(), 64, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tmpl, frame, _ := benchFrame(b, bc.cfg, bc.n)
			if err := Encap(frame, tmpl, Meta{Hash: 1}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(bc.n))
			for b.Loop() {
				if _, r := Decap(frame, DefaultPort, bc.flags); r != DropNone {
					b.Fatal(r)
				}
			}
		})
	}
}

// TestDecapSeeds decodes the hand-written fuzz seeds (built independently in
// Python, including IPv4 options and IPv6 extension headers) and checks
// each gives the verdict its name promises.
func TestDecapSeeds(t *testing.T) {
	want := map[string]DropReason{
		"v4-csum": DropNone, "v4-nocsum": DropNone, "v4-vlan": DropNone, "v4-options": DropNone,
		"v4-fragment": DropFragment, "v4-bad-flags": DropBadFlags, "v4-reserved-bits": DropNone,
		"v4-tcp": DropNotUDP, "v4-port-8472": DropWrongPort, "v4-truncated": DropTruncated,
		"v6": DropNone, "v6-hbh": DropNone, "v6-dstopts-frag": DropFragment, "v6-truncated": DropTruncated,
		"eth-only": DropTruncated,
	}
	for name, reason := range want {
		raw, err := os.ReadFile("testdata/fuzz/FuzzDecap/seed-" + name)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte(")
		if !ok {
			t.Fatalf("%s: not a fuzz corpus file", name)
		}
		data, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		info, r := Decap([]byte(data), DefaultPort, 0)
		if r != reason {
			t.Errorf("%s: %v, want %v", name, r, reason)
		}
		if r == DropNone && (info.VNI != 100 || !bytes.Equal([]byte(data[info.InnerOff:info.InnerOff+info.InnerLen]), testInner())) {
			t.Errorf("%s: vni %d or inner frame wrong", name, info.VNI)
		}
	}
}
