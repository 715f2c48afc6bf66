package datapath

import (
	"encoding/binary"
	"testing"
)

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func sum16(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

// ipv4L4 builds Ethernet/VLAN/IPv4/(TCP|UDP) with correct checksums.
func ipv4L4(proto uint8, vlan bool) []byte {
	f := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	if vlan {
		f = append(f, 0x81, 0, 0, 10)
	}
	f = append(f, 0x08, 0)
	l4len := 8 + 11
	if proto == 6 {
		l4len = 20 + 11
	}
	ip := make([]byte, 20+l4len)
	ip[0], ip[1], ip[8], ip[9] = 0x45, 0x10, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	l4 := ip[20:]
	binary.BigEndian.PutUint16(l4[0:], 1234)
	binary.BigEndian.PutUint16(l4[2:], 80)
	for i := len(l4) - 11; i < len(l4); i++ {
		l4[i] = byte(i * 7)
	}
	if proto == 6 {
		l4[12] = 5 << 4
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	}
	fixChecksums(ip)
	return append(f, ip...)
}

func fixChecksums(ip []byte) {
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint16(ip[10:], fold(sum16(ip[:20])))
	l4 := ip[20:]
	c := 16
	if ip[9] == 17 {
		c = 6
	}
	binary.BigEndian.PutUint16(l4[c:], 0)
	pseudo := sum16(ip[12:20]) + uint32(ip[9]) + uint32(len(l4))
	binary.BigEndian.PutUint16(l4[c:], fold(pseudo+sum16(l4)))
}

func TestRewriteChecksums(t *testing.T) {
	acts := []Action{
		{Kind: ActSetIPv4Src, Arg: 0xc0a80101},
		{Kind: ActSetIPv4Dst, Arg: 0x08080808},
		{Kind: ActSetIPv4Tos, Arg: 0xb8},
		{Kind: ActSetIPv4TTL, Arg: 3},
		{Kind: ActSetTPSrc, Arg: 4321},
		{Kind: ActSetTPDst, Arg: 443},
	}
	for _, proto := range []uint8{6, 17} {
		for _, vlan := range []bool{false, true} {
			for _, a := range acts {
				f := ipv4L4(proto, vlan)
				p := &Packet{frame: f, n: int32(len(f))}
				if !apply(&a, p) {
					t.Fatalf("proto %d vlan %v: action %d refused", proto, vlan, a.Kind)
				}
				off := 14
				if vlan {
					off = 18
				}
				want := append([]byte(nil), f...)
				fixChecksums(want[off:])
				if string(want) != string(f) {
					t.Fatalf("proto %d vlan %v action %d: incremental checksums differ from recomputed ones\n got % x\nwant % x", proto, vlan, a.Kind, f[off:], want[off:])
				}
			}
		}
	}
	// Refused on a packet that is not IPv4.
	arp := make([]byte, 60)
	arp[12], arp[13] = 0x08, 0x06
	p := &Packet{frame: arp, n: 60}
	if apply(&acts[0], p) {
		t.Fatal("IPv4 rewrite applied to ARP")
	}
}
