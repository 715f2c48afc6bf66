package vxlan

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

func TestARPRequestGolden(t *testing.T) {
	buf := make([]byte, 100)
	n, err := ARPRequest(buf, macA, netip.MustParseAddr("192.168.77.1"), netip.MustParseAddr("192.168.77.254"))
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
		ffffffffffff 020000000001 0806
		0001 0800 06 04 0001 020000000001 c0a84d01 000000000000 c0a84dfe
		000000000000000000000000000000000000`)
	if n != ARPRequestLen || !bytes.Equal(buf[:n], want) {
		t.Fatalf("ARP request:\n got %x\nwant %x", buf[:n], want)
	}
	if _, err := ARPRequest(buf, macA, netip.MustParseAddr("fd00::1"), netip.MustParseAddr("192.168.77.254")); err == nil {
		t.Fatal("IPv6 source accepted")
	}
	if _, err := ARPRequest(buf[:59], macA, netip.MustParseAddr("192.168.77.1"), netip.MustParseAddr("192.168.77.254")); err != ErrShortBuffer {
		t.Fatalf("short buffer: %v", err)
	}
}

func TestNeighborSolicitationGolden(t *testing.T) {
	buf := make([]byte, 100)
	n, err := NeighborSolicitation(buf, macA, netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::12:3456"))
	if err != nil {
		t.Fatal(err)
	}
	// Solicited-node group ff02::1:ff12:3456, its MAC 33:33:ff:12:34:56,
	// hop limit 255, ICMPv6 135 with a source link-layer address option.
	want := unhex(t, `
		3333ff123456 020000000001 86dd
		60000000 0020 3a ff fd000000000000000000000000000001 ff0200000000000000000001ff123456
		87 00 0000 00000000 fd000000000000000000000000123456 01 01 020000000001`)
	cs := rfc1071(want[22:54], []byte{0, 0, 0, 32, 0, 0, 0, 58}, want[54:])
	binary.BigEndian.PutUint16(want[56:], cs)
	if n != NSLen || !bytes.Equal(buf[:n], want) {
		t.Fatalf("NS:\n got %x\nwant %x", buf[:n], want)
	}
	if c := rfc1071(buf[22:54], []byte{0, 0, 0, 32, 0, 0, 0, 58}, buf[54:n]); c != 0 {
		t.Fatalf("ICMPv6 checksum does not verify: %#x", c)
	}
	if _, err := NeighborSolicitation(buf, macA, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::2")); err == nil {
		t.Fatal("IPv4 source accepted")
	}
}

// arpReply builds an ARP reply from sha/spa to macA/192.168.77.1.
func arpReply(sha [6]byte, spa string) []byte {
	b := make([]byte, 60)
	copy(b[0:6], macA[:])
	copy(b[6:12], sha[:])
	b[12], b[13] = 0x08, 0x06
	copy(b[14:], []byte{0, 1, 8, 0, 6, 4, 0, 2})
	copy(b[22:28], sha[:])
	a := netip.MustParseAddr(spa).As4()
	copy(b[28:32], a[:])
	copy(b[32:38], macA[:])
	copy(b[38:42], []byte{192, 168, 77, 1})
	return b
}

// neighAdvert builds a solicited NA for target at mac with a target
// link-layer address option and a correct checksum.
func neighAdvert(target string, mac [6]byte) []byte {
	b := make([]byte, NSLen)
	copy(b[0:6], macA[:])
	copy(b[6:12], mac[:])
	b[12], b[13] = 0x86, 0xdd
	ip := b[14:54]
	ip[0], ip[5], ip[6], ip[7] = 0x60, 32, 58, 255
	tg := netip.MustParseAddr(target).As16()
	copy(ip[8:24], tg[:])
	d := netip.MustParseAddr("fd00::1").As16()
	copy(ip[24:40], d[:])
	icmp := b[54:]
	icmp[0] = 136
	icmp[4] = 0x60 // solicited, override
	copy(icmp[8:24], tg[:])
	icmp[24], icmp[25] = 2, 1
	copy(icmp[26:32], mac[:])
	binary.BigEndian.PutUint16(icmp[2:], rfc1071(ip[8:40], []byte{0, 0, 0, 32, 0, 0, 0, 58}, icmp))
	return b
}

func TestParseNeighbour(t *testing.T) {
	ip, mac, ok := ParseNeighbour(arpReply(macB, "192.168.77.254"))
	if !ok || ip != netip.MustParseAddr("192.168.77.254") || mac != macB {
		t.Fatalf("ARP reply: %v %x %v", ip, mac, ok)
	}
	// With a VLAN tag.
	r := arpReply(macB, "192.168.77.254")
	tagged := append(append(append([]byte{}, r[:12]...), 0x81, 0, 0, 5), r[12:]...)
	if ip2, _, ok := ParseNeighbour(tagged); !ok || ip2 != ip {
		t.Fatal("tagged ARP reply not parsed")
	}
	ip, mac, ok = ParseNeighbour(neighAdvert("fd00::2", macB))
	if !ok || ip != netip.MustParseAddr("fd00::2") || mac != macB {
		t.Fatalf("NA: %v %x %v", ip, mac, ok)
	}
	for name, f := range map[string][]byte{
		"short":         arpReply(macB, "192.168.77.254")[:40],
		"probe":         arpReply(macB, "0.0.0.0"),
		"multicast mac": arpReply([6]byte{1, 0, 0x5e, 0, 0, 1}, "192.168.77.254"),
		"bad opcode":    func() []byte { b := arpReply(macB, "192.168.77.254"); b[21] = 3; return b }(),
		"NA bad csum":   func() []byte { b := neighAdvert("fd00::2", macB); b[len(b)-1]++; return b }(),
		"NA hop limit":  func() []byte { b := neighAdvert("fd00::2", macB); b[21] = 64; return b }(),
		"NA multicast":  neighAdvert("ff02::1", macB),
		"NA no option": func() []byte {
			b := neighAdvert("fd00::2", macB)[:NSLen-8]
			b[19] = 24
			icmp := b[54:]
			icmp[2], icmp[3] = 0, 0
			binary.BigEndian.PutUint16(icmp[2:], rfc1071(b[22:54], []byte{0, 0, 0, 24, 0, 0, 0, 58}, icmp))
			return b
		}(),
		"NA zero-length option": func() []byte {
			b := neighAdvert("fd00::2", macB)
			b[54+25] = 0
			return b
		}(),
		"ipv4": testInner(),
	} {
		if _, _, ok := ParseNeighbour(f); ok {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestResolver(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewResolver(nil, time.Minute)
	r.now = func() time.Time { return now }
	gw := netip.MustParseAddr("192.168.77.254")
	if _, ok := r.Resolve(3, gw); ok {
		t.Fatal("resolved before learning")
	}
	if !r.ShouldProbe(3, gw) || r.ShouldProbe(3, gw) {
		t.Fatal("probe rate limit: want one probe per interval")
	}
	if !r.Learn(gw, macB, 3) || r.Learn(gw, macB, 3) {
		t.Fatal("Learn: want changed then unchanged")
	}
	if mac, ok := r.Resolve(3, gw); !ok || mac != macB {
		t.Fatalf("Resolve: %x %v", mac, ok)
	}
	if _, ok := r.Resolve(4, gw); ok {
		t.Fatal("resolved on another interface")
	}
	if !r.Learn(gw, macA, 3) {
		t.Fatal("moved MAC not reported as a change")
	}
	if ns := r.Neighbours(); len(ns) != 1 || !ns[0].Learned || ns[0].MAC != macA {
		t.Fatalf("Neighbours: %+v", ns)
	}
	now = now.Add(61 * time.Second)
	if _, ok := r.Resolve(3, gw); ok {
		t.Fatal("stale binding resolved")
	}
	r.Learn(gw, macA, 3)
	now = now.Add(2 * time.Minute)
	if n := r.Expire(); n != 1 {
		t.Fatalf("Expire removed %d", n)
	}
	if r.Learn(gw, [6]byte{}, 3) || r.Learn(netip.IPv4Unspecified(), macA, 3) {
		t.Fatal("unusable binding learned")
	}
	// The table is bounded.
	r.max = 4
	for i := range 6 {
		r.Learn(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), macB, 3)
	}
	if len(r.learned) != 4 {
		t.Fatalf("%d learned bindings, want the bound 4", len(r.learned))
	}
	r.Flush()
	if len(r.Neighbours()) != 0 {
		t.Fatal("Flush left bindings")
	}
}
