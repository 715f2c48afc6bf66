package flowtable

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Frame builders. Each returns the wire bytes of one header (plus payload
// where the header carries a length), so a test frame reads as a
// concatenation of layers and every length field is computed, not typed.

var (
	macDst = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}
	macSrc = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}
	macX   = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	macY   = [6]byte{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}
	ip4A   = [4]byte{10, 0, 0, 1}
	ip4B   = [4]byte{192, 168, 7, 200}
	ip6A   = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x01}
	ip6B   = [16]byte{0xfe, 0x80, 8: 0x50, 9: 0x54, 10: 0x00, 11: 0xff, 12: 0xfe, 13: 0x12, 14: 0x34, 15: 0x56}
)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

type tag struct{ tpid, tci uint16 }

// eth builds an Ethernet header with optional VLAN tags, outermost first.
func eth(typ uint16, tags ...tag) []byte {
	b := cat(macDst[:], macSrc[:])
	for _, t := range tags {
		b = append(b, u16(t.tpid)...)
		b = append(b, u16(t.tci)...)
	}
	return append(b, u16(typ)...)
}

type ip4Hdr struct {
	proto, tos, ttl uint8
	fragOff         uint16 // flags and offset word, host order
	opts            []byte // multiple of 4 bytes
}

func ipv4(h ip4Hdr, payload []byte) []byte {
	hlen := 20 + len(h.opts)
	b := make([]byte, hlen, hlen+len(payload))
	b[0] = 0x40 | byte(hlen/4)
	b[1] = h.tos
	binary.BigEndian.PutUint16(b[2:], uint16(hlen+len(payload)))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	binary.BigEndian.PutUint16(b[6:], h.fragOff)
	b[8] = h.ttl
	b[9] = h.proto
	copy(b[12:], ip4A[:])
	copy(b[16:], ip4B[:])
	copy(b[20:], h.opts)
	var sum uint32
	for i := 0; i < hlen; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
	return append(b, payload...)
}

type ip6Hdr struct {
	next, tc, hlim uint8
	label          uint32
}

func ipv6(h ip6Hdr, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(h.tc)<<20|h.label)
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = h.next
	b[7] = h.hlim
	copy(b[8:], ip6A[:])
	copy(b[24:], ip6B[:])
	return append(b, payload...)
}

// ext6 builds a hop-by-hop, routing or destination-options header of
// (units+1)*8 bytes, padded with a PadN option so it is well formed.
func ext6(next uint8, units uint8) []byte {
	b := make([]byte, (int(units)+1)*8)
	b[0] = next
	b[1] = units
	b[2] = 1 // PadN
	b[3] = byte(len(b) - 4)
	return b
}

func ah6(next uint8, lenField uint8) []byte {
	b := make([]byte, (int(lenField)+2)*4)
	b[0] = next
	b[1] = lenField
	binary.BigEndian.PutUint32(b[4:], 0x100) // SPI
	return b
}

func frag6(next uint8, offset uint16, more bool) []byte {
	b := make([]byte, 8)
	b[0] = next
	offlg := offset << 3
	if more {
		offlg |= 1
	}
	binary.BigEndian.PutUint16(b[2:], offlg)
	binary.BigEndian.PutUint32(b[4:], 0xdeadbeef)
	return b
}

// tcp builds a TCP header; flags is the low 12 bits of the offset/flags word.
func tcp(sport, dport, flags uint16, opts []byte, payload []byte) []byte {
	hlen := 20 + len(opts)
	b := make([]byte, hlen)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 1000)
	binary.BigEndian.PutUint16(b[12:], uint16(hlen/4)<<12|flags&0x0fff)
	binary.BigEndian.PutUint16(b[14:], 65535)
	copy(b[20:], opts)
	return append(b, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func sctp(sport, dport uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 0xcafe)
	return b
}

// icmp builds an ICMPv4 or ICMPv6 message: type, code, checksum, then body.
func icmp(typ, code uint8, body []byte) []byte {
	return append([]byte{typ, code, 0, 0}, body...)
}

// nd builds a neighbour solicitation/advertisement with the given options.
func nd(typ uint8, target [16]byte, opts ...[]byte) []byte {
	flags := []byte{0, 0, 0, 0}
	if typ == icmp6NA {
		flags[0] = 0x60 // solicited, override
	}
	return icmp(typ, 0, cat(append([][]byte{flags, target[:]}, opts...)...))
}

func ndOpt(typ uint8, mac [6]byte) []byte { return append([]byte{typ, 1}, mac[:]...) }

func arp(op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) []byte {
	return cat(u16(1), u16(EthTypeIPv4), []byte{6, 4}, u16(op), sha[:], spa[:], tha[:], tpa[:])
}

func pad(b []byte, n int) []byte {
	for len(b) < n {
		b = append(b, 0)
	}
	return b
}

// Expected-key helpers.

func a4(a [4]byte) (r [16]byte) { copy(r[:], a[:]); return r }

// l2 is the key of a frame whose L3 header did not parse.
func l2(inPort uint32, dlType uint16) Key {
	return Key{InPort: inPort, DlSrc: macSrc, DlDst: macDst, DlType: dlType}
}

func v4(base Key, proto, tos, ttl uint8) Key {
	base.NwSrc, base.NwDst = a4(ip4A), a4(ip4B)
	base.NwProto, base.NwTos, base.NwTTL = proto, tos, ttl
	return base
}

func v6(base Key, proto, tc, hlim uint8, label uint32) Key {
	base.NwSrc, base.NwDst = ip6A, ip6B
	base.NwProto, base.NwTos, base.NwTTL, base.IPv6Label = proto, tc, hlim, label
	return base
}

func ports(base Key, src, dst, flags uint16) Key {
	base.TpSrc, base.TpDst, base.TCPFlags = src, dst, flags
	return base
}

func tagged(base Key, tpid, tci, inner uint16) Key {
	base.VlanTPID, base.VlanTCI, base.InnerTCI = tpid, tci, inner
	return base
}

func frag(base Key, f uint8) Key { base.NwFrag = f; return base }

// keyDiff lists the fields that differ, for readable failures.
func keyDiff(got, want *Key) string {
	var sb strings.Builder
	g, w := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range g.NumField() {
		name := g.Type().Field(i).Name
		if name == "_" {
			if !g.Field(i).IsZero() {
				sb.WriteString(" padding not zeroed;")
			}
			continue
		}
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			fmt.Fprintf(&sb, " %s got %#v want %#v;", name, g.Field(i).Interface(), w.Field(i).Interface())
		}
	}
	return sb.String()
}

// dirty fills a key with garbage so tests prove Extract zeroes it.
func dirty(k *Key) {
	for i := range k.Words() {
		k.Words()[i] = 0xa5a5a5a5a5a5a5a5
	}
}

// extractExact runs Extract on a copy of frame whose capacity equals its
// length and whose key starts dirty, so reads past len or stale fields show.
func extractExact(frame []byte, inPort uint32) (Key, bool) {
	b := make([]byte, len(frame))
	copy(b, frame)
	var k Key
	dirty(&k)
	ok := Extract(b, inPort, &k)
	return k, ok
}

type extractCase struct {
	name  string
	frame []byte
	want  Key
}

func extractCases() []extractCase {
	const in = 7
	tcpOpts := []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2} // MSS, NOP, NOP, SACK-permitted
	ipOpts := []byte{0x94, 0x04, 0x00, 0x00}        // router alert
	snap := func(typ uint16) []byte { return cat([]byte{0xaa, 0xaa, 0x03, 0, 0, 0}, u16(typ)) }

	l4v4 := ip4Hdr{proto: IPProtoUDP, tos: 0xb8, ttl: 64}
	l4v6 := ip6Hdr{next: IPProtoTCP, tc: 0x2e, hlim: 255, label: 0xbeef5}
	udp4 := func(h ip4Hdr) []byte { return cat(eth(EthTypeIPv4), ipv4(h, udp(5353, 53, []byte("query")))) }

	return []extractCase{
		{"ipv4 tcp with ip and tcp options",
			cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoTCP, tos: 0x10, ttl: 63, opts: ipOpts, fragOff: 0x4000},
				tcp(49152, 443, 0x1d2, tcpOpts, []byte("hello")))),
			ports(v4(l2(in, EthTypeIPv4), IPProtoTCP, 0x10, 63), 49152, 443, 0x1d2)},
		{"ipv4 tcp all 12 flag bits",
			cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoTCP, ttl: 1}, tcp(1, 2, 0xfff, nil, nil))),
			ports(v4(l2(in, EthTypeIPv4), IPProtoTCP, 0, 1), 1, 2, 0xfff)},
		{"ipv4 udp padded to 60 bytes",
			pad(cat(eth(EthTypeIPv4), ipv4(l4v4, udp(68, 67, nil))), 60),
			ports(v4(l2(in, EthTypeIPv4), IPProtoUDP, 0xb8, 64), 68, 67, 0)},
		{"ipv4 udp cut by total length despite padding",
			// The IP packet holds only 4 bytes of UDP; the padding after it
			// must not be read as the rest of the header.
			pad(cat(eth(EthTypeIPv4), ipv4(l4v4, []byte{0x13, 0x88, 0x00, 0x35})), 60),
			v4(l2(in, EthTypeIPv4), IPProtoUDP, 0xb8, 64)},
		{"ipv4 sctp",
			cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoSCTP, ttl: 64}, sctp(2905, 2906))),
			ports(v4(l2(in, EthTypeIPv4), IPProtoSCTP, 0, 64), 2905, 2906, 0)},
		{"ipv4 icmp echo",
			cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoICMP, ttl: 64}, icmp(8, 0, []byte{0, 1, 0, 1, 'p'}))),
			ports(v4(l2(in, EthTypeIPv4), IPProtoICMP, 0, 64), 8, 0, 0)},
		{"ipv4 icmp port unreachable",
			cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoICMP, ttl: 64}, icmp(3, 3, make([]byte, 32)))),
			ports(v4(l2(in, EthTypeIPv4), IPProtoICMP, 0, 64), 3, 3, 0)},
		{"ipv4 icmp shorter than 8 bytes",
			cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoICMP, ttl: 64}, icmp(8, 0, nil))),
			v4(l2(in, EthTypeIPv4), IPProtoICMP, 0, 64)},
		{"ipv4 gre has no l4 fields",
			cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: 47, ttl: 64}, make([]byte, 24))),
			v4(l2(in, EthTypeIPv4), 47, 0, 64)},
		{"ipv4 icmpv6 number is not parsed as icmp",
			cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoICMP6, ttl: 64}, icmp(128, 0, make([]byte, 8)))),
			v4(l2(in, EthTypeIPv4), IPProtoICMP6, 0, 64)},
		{"ipv4 first fragment keeps ports",
			udp4(ip4Hdr{proto: IPProtoUDP, ttl: 9, fragOff: 0x2000}),
			frag(ports(v4(l2(in, EthTypeIPv4), IPProtoUDP, 0, 9), 5353, 53, 0), FragAny)},
		{"ipv4 later fragment has no ports",
			udp4(ip4Hdr{proto: IPProtoUDP, ttl: 9, fragOff: 185}),
			frag(v4(l2(in, EthTypeIPv4), IPProtoUDP, 0, 9), FragAny|FragLater)},
		{"ipv4 last fragment has no ports",
			udp4(ip4Hdr{proto: IPProtoUDP, ttl: 9, fragOff: 0x2000 | 1}),
			frag(v4(l2(in, EthTypeIPv4), IPProtoUDP, 0, 9), FragAny|FragLater)},
		{"ipv4 ihl below 5",
			func() []byte { f := udp4(l4v4); f[14] = 0x44; return f }(),
			l2(in, EthTypeIPv4)},
		{"ipv4 ihl beyond total length",
			func() []byte { f := udp4(l4v4); f[14] = 0x4f; return f }(),
			l2(in, EthTypeIPv4)},
		{"ipv4 total length beyond frame",
			func() []byte { f := udp4(l4v4); binary.BigEndian.PutUint16(f[16:], 200); return f }(),
			l2(in, EthTypeIPv4)},
		{"ipv4 total length below header",
			func() []byte { f := udp4(l4v4); binary.BigEndian.PutUint16(f[16:], 19); return f }(),
			l2(in, EthTypeIPv4)},
		{"ipv4 wrong version",
			func() []byte { f := udp4(l4v4); f[14] = 0x65; return f }(),
			l2(in, EthTypeIPv4)},
		{"ipv4 header cut short",
			cat(eth(EthTypeIPv4), ipv4(l4v4, nil)[:19]),
			l2(in, EthTypeIPv4)},
		{"tcp data offset below 5",
			func() []byte {
				f := cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoTCP, ttl: 64}, tcp(1, 2, 0x10, nil, make([]byte, 20))))
				f[14+20+12] = 0x40
				return f
			}(),
			v4(l2(in, EthTypeIPv4), IPProtoTCP, 0, 64)},
		{"tcp options beyond ip payload",
			func() []byte {
				f := cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoTCP, ttl: 64}, tcp(1, 2, 0x10, nil, nil)))
				f[14+20+12] = 0x60 // claims 24 bytes, 20 present
				return f
			}(),
			v4(l2(in, EthTypeIPv4), IPProtoTCP, 0, 64)},

		{"802.1q tag, pcp and vid kept",
			cat(eth(EthTypeIPv4, tag{EthTypeVLAN, 5<<13 | 100}), ipv4(l4v4, udp(1, 2, nil))),
			ports(v4(tagged(l2(in, EthTypeIPv4), EthTypeVLAN, 5<<13|100|TCIPresent, 0), IPProtoUDP, 0xb8, 64), 1, 2, 0)},
		{"802.1q tag with dei set reads the same",
			cat(eth(EthTypeIPv4, tag{EthTypeVLAN, 5<<13 | 0x1000 | 100}), ipv4(l4v4, udp(1, 2, nil))),
			ports(v4(tagged(l2(in, EthTypeIPv4), EthTypeVLAN, 5<<13|100|TCIPresent, 0), IPProtoUDP, 0xb8, 64), 1, 2, 0)},
		{"priority tag vid 0",
			cat(eth(EthTypeARP, tag{EthTypeVLAN, 3 << 13}), arp(1, macSrc, ip4A, [6]byte{}, ip4B)),
			func() Key {
				k := tagged(l2(in, EthTypeARP), EthTypeVLAN, 3<<13|TCIPresent, 0)
				k.NwProto, k.NwSrc, k.NwDst, k.ArpSha = 1, a4(ip4A), a4(ip4B), macSrc
				return k
			}()},
		{"qinq 88a8 over 8100 with ipv6 tcp",
			cat(eth(EthTypeIPv6, tag{EthTypeQinQ, 1<<13 | 10}, tag{EthTypeVLAN, 7<<13 | 4095}),
				ipv6(l4v6, tcp(22, 40000, 0x018, nil, []byte("ssh")))),
			ports(v6(tagged(l2(in, EthTypeIPv6), EthTypeQinQ, 1<<13|10|TCIPresent, 7<<13|4095|TCIPresent),
				IPProtoTCP, 0x2e, 255, 0xbeef5), 22, 40000, 0x018)},
		{"double 8100",
			cat(eth(EthTypeIPv4, tag{EthTypeVLAN, 20}, tag{EthTypeVLAN, 30}), ipv4(l4v4, udp(1, 2, nil))),
			ports(v4(tagged(l2(in, EthTypeIPv4), EthTypeVLAN, 20|TCIPresent, 30|TCIPresent), IPProtoUDP, 0xb8, 64), 1, 2, 0)},
		{"third tag stops the parse",
			cat(eth(EthTypeIPv4, tag{EthTypeQinQ, 20}, tag{EthTypeVLAN, 30}, tag{EthTypeVLAN, 40}), ipv4(l4v4, udp(1, 2, nil))),
			tagged(l2(in, EthTypeVLAN), EthTypeQinQ, 20|TCIPresent, 30|TCIPresent)},
		{"inner 88a8 is not a tag",
			cat(eth(EthTypeIPv4, tag{EthTypeVLAN, 20}, tag{EthTypeQinQ, 30}), ipv4(l4v4, nil)),
			tagged(l2(in, EthTypeQinQ), EthTypeVLAN, 20|TCIPresent, 0)},
		{"vlan tag cut short",
			cat(eth(EthTypeVLAN), []byte{0x00, 0x64, 0x08}),
			l2(in, EthTypeVLAN)},
		{"inner tag cut short",
			cat(eth(EthTypeVLAN, tag{EthTypeQinQ, 20}), []byte{0x00, 0x64}),
			tagged(l2(in, EthTypeVLAN), EthTypeQinQ, 20|TCIPresent, 0)},

		{"802.3 llc stp",
			pad(cat(eth(38), []byte{0x42, 0x42, 0x03, 0, 0, 0, 0}), 60),
			l2(in, DlTypeNone)},
		{"802.3 llc/snap ipv4",
			cat(eth(8+20+8), snap(EthTypeIPv4), ipv4(l4v4, udp(1, 2, nil))),
			ports(v4(l2(in, EthTypeIPv4), IPProtoUDP, 0xb8, 64), 1, 2, 0)},
		{"802.3 snap with a foreign oui",
			cat(eth(40), []byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00}, make([]byte, 32)),
			l2(in, DlTypeNone)},
		{"802.3 snap carrying a length",
			cat(eth(40), snap(0x0100), make([]byte, 32)),
			l2(in, DlTypeNone)},
		{"802.3 header cut before snap",
			cat(eth(40), []byte{0xaa, 0xaa, 0x03}),
			l2(in, DlTypeNone)},
		{"tagged 802.3",
			cat(eth(46, tag{EthTypeVLAN, 9}), make([]byte, 46)),
			tagged(l2(in, DlTypeNone), EthTypeVLAN, 9|TCIPresent, 0)},

		{"arp request",
			pad(cat(eth(EthTypeARP), arp(1, macX, ip4A, [6]byte{}, ip4B)), 60),
			func() Key {
				k := l2(in, EthTypeARP)
				k.NwProto, k.NwSrc, k.NwDst, k.ArpSha = 1, a4(ip4A), a4(ip4B), macX
				return k
			}()},
		{"arp reply",
			cat(eth(EthTypeARP), arp(2, macY, ip4B, macX, ip4A)),
			func() Key {
				k := l2(in, EthTypeARP)
				k.NwProto, k.NwSrc, k.NwDst, k.ArpSha, k.ArpTha = 2, a4(ip4B), a4(ip4A), macY, macX
				return k
			}()},
		{"rarp reply",
			cat(eth(EthTypeRARP), arp(4, macY, ip4B, macX, ip4A)),
			func() Key {
				k := l2(in, EthTypeRARP)
				k.NwProto, k.NwSrc, k.NwDst, k.ArpSha, k.ArpTha = 4, a4(ip4B), a4(ip4A), macY, macX
				return k
			}()},
		{"arp opcode above 255",
			cat(eth(EthTypeARP), arp(0x0101, macY, ip4B, macX, ip4A)),
			func() Key {
				k := l2(in, EthTypeARP)
				k.NwSrc, k.NwDst, k.ArpSha, k.ArpTha = a4(ip4B), a4(ip4A), macY, macX
				return k
			}()},
		{"arp with non-ethernet hardware",
			func() []byte { f := cat(eth(EthTypeARP), arp(1, macX, ip4A, macY, ip4B)); f[15] = 6; return f }(),
			l2(in, EthTypeARP)},
		{"arp with 8-byte hardware addresses",
			func() []byte { f := cat(eth(EthTypeARP), arp(1, macX, ip4A, macY, ip4B)); f[18] = 8; return f }(),
			l2(in, EthTypeARP)},
		{"arp cut short",
			cat(eth(EthTypeARP), arp(1, macX, ip4A, macY, ip4B)[:27]),
			l2(in, EthTypeARP)},

		{"ipv6 tcp",
			cat(eth(EthTypeIPv6), ipv6(l4v6, tcp(443, 50000, 0x011, tcpOpts, nil))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoTCP, 0x2e, 255, 0xbeef5), 443, 50000, 0x011)},
		{"ipv6 udp behind hop-by-hop, routing and destination options",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoHopOpts, hlim: 1},
				cat(ext6(ipProtoRouting, 0), ext6(ipProtoDstOpts, 2), ext6(IPProtoUDP, 1), udp(546, 547, []byte{1, 2, 3})))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoUDP, 0, 1, 0), 546, 547, 0)},
		{"ipv6 tcp behind ah",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoAH, hlim: 64}, cat(ah6(IPProtoTCP, 4), tcp(179, 33000, 0x002, nil, nil)))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoTCP, 0, 64, 0), 179, 33000, 0x002)},
		{"ipv6 first fragment keeps ports",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoFragment, hlim: 64}, cat(frag6(IPProtoUDP, 0, true), udp(4789, 4789, make([]byte, 40))))),
			frag(ports(v6(l2(in, EthTypeIPv6), IPProtoUDP, 0, 64, 0), 4789, 4789, 0), FragAny)},
		{"ipv6 later fragment reports protocol 44",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoHopOpts, hlim: 64}, cat(ext6(ipProtoFragment, 0), frag6(IPProtoUDP, 1000, false), udp(4789, 4789, nil)))),
			frag(v6(l2(in, EthTypeIPv6), ipProtoFragment, 0, 64, 0), FragAny|FragLater)},
		{"ipv6 atomic fragment is not a fragment",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoFragment, hlim: 64}, cat(frag6(IPProtoUDP, 0, false), udp(7, 9, nil)))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoUDP, 0, 64, 0), 7, 9, 0)},
		{"ipv6 extension header cut short",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoHopOpts, tc: 4, hlim: 64, label: 1}, ext6(IPProtoUDP, 1)[:12])),
			v6(l2(in, EthTypeIPv6), 0, 4, 64, 1)},
		{"ipv6 ah cut short",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoAH, hlim: 64}, ah6(IPProtoTCP, 1)[:6])),
			v6(l2(in, EthTypeIPv6), 0, 0, 64, 0)},
		{"ipv6 ah length overruns payload",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoAH, hlim: 64}, ah6(IPProtoTCP, 4)[:16])),
			v6(l2(in, EthTypeIPv6), 0, 0, 64, 0)},
		{"ipv6 fragment header cut short",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoFragment, hlim: 64}, frag6(IPProtoUDP, 0, true)[:7])),
			v6(l2(in, EthTypeIPv6), 0, 0, 64, 0)},
		{"ipv6 sctp cut short",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoSCTP, hlim: 64}, sctp(1, 2)[:11])),
			v6(l2(in, EthTypeIPv6), IPProtoSCTP, 0, 64, 0)},
		{"ipv6 sctp",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoSCTP, hlim: 64}, sctp(36412, 36412))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoSCTP, 0, 64, 0), 36412, 36412, 0)},
		{"ipv6 udp cut short",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoUDP, hlim: 64}, udp(1, 2, nil)[:7])),
			v6(l2(in, EthTypeIPv6), IPProtoUDP, 0, 64, 0)},
		{"ipv6 no next header",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: 59, hlim: 64}, nil)),
			v6(l2(in, EthTypeIPv6), 59, 0, 64, 0)},
		{"ipv6 payload length beyond frame",
			func() []byte {
				f := cat(eth(EthTypeIPv6), ipv6(l4v6, tcp(1, 2, 0, nil, nil)))
				binary.BigEndian.PutUint16(f[18:], 21)
				return f
			}(),
			l2(in, EthTypeIPv6)},
		{"ipv6 payload length bounds l4",
			func() []byte {
				f := cat(eth(EthTypeIPv6), ipv6(l4v6, tcp(1, 2, 0, nil, nil)))
				binary.BigEndian.PutUint16(f[18:], 19) // one byte short of the TCP header
				return f
			}(),
			v6(l2(in, EthTypeIPv6), IPProtoTCP, 0x2e, 255, 0xbeef5)},
		{"ipv6 wrong version",
			func() []byte { f := cat(eth(EthTypeIPv6), ipv6(l4v6, tcp(1, 2, 0, nil, nil))); f[14] = 0x46; return f }(),
			l2(in, EthTypeIPv6)},
		{"ipv6 icmpv4 number is not parsed as icmp",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP, hlim: 64}, icmp(8, 0, make([]byte, 8)))),
			v6(l2(in, EthTypeIPv6), IPProtoICMP, 0, 64, 0)},
		{"icmpv6 echo",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 64}, icmp(128, 0, []byte{0, 1, 0, 7}))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 64, 0), 128, 0, 0)},
		{"icmpv6 cut below 8 bytes",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 64}, icmp(128, 0, []byte{0, 1}))),
			v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 64, 0)},
		{"nd solicitation with source lla",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255}, nd(icmp6NS, ip6B, ndOpt(ndOptSrcLL, macX)))),
			func() Key {
				k := ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NS, 0, 0)
				k.NDTarget, k.ArpSha = ip6B, macX
				return k
			}()},
		{"nd advertisement with target lla",
			cat(eth(EthTypeIPv6, tag{EthTypeVLAN, 42}), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255}, nd(icmp6NA, ip6A, ndOpt(ndOptTgtLL, macY)))),
			func() Key {
				k := ports(v6(tagged(l2(in, EthTypeIPv6), EthTypeVLAN, 42|TCIPresent, 0), IPProtoICMP6, 0, 255, 0), icmp6NA, 0, 0)
				k.NDTarget, k.ArpTha = ip6A, macY
				return k
			}()},
		{"nd with nonce, both llas and trailing bytes",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255},
				nd(icmp6NS, ip6B, []byte{14, 1, 1, 2, 3, 4, 5, 6}, ndOpt(ndOptTgtLL, macY), ndOpt(ndOptSrcLL, macX), []byte{9, 9, 9}))),
			func() Key {
				k := ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NS, 0, 0)
				k.NDTarget, k.ArpSha, k.ArpTha = ip6B, macX, macY
				return k
			}()},
		{"nd without options",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255}, nd(icmp6NS, ip6B))),
			func() Key {
				k := ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NS, 0, 0)
				k.NDTarget = ip6B
				return k
			}()},
		{"nd lla option of 16 bytes is skipped",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255},
				nd(icmp6NS, ip6B, cat([]byte{ndOptSrcLL, 2}, macX[:], make([]byte, 8))))),
			func() Key {
				k := ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NS, 0, 0)
				k.NDTarget = ip6B
				return k
			}()},
		{"nd zero-length option invalidates",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255},
				nd(icmp6NS, ip6B, ndOpt(ndOptSrcLL, macX), []byte{14, 0, 0, 0, 0, 0, 0, 0}))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NS, 0, 0)},
		{"nd option overrunning the payload invalidates",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255},
				nd(icmp6NA, ip6B, []byte{ndOptTgtLL, 2, 0, 0, 0, 0, 0, 0}))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NA, 0, 0)},
		{"nd repeated source lla invalidates",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255},
				nd(icmp6NS, ip6B, ndOpt(ndOptSrcLL, macX), ndOpt(ndOptSrcLL, macY)))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NS, 0, 0)},
		{"nd repeated target lla invalidates",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255},
				nd(icmp6NA, ip6B, ndOpt(ndOptTgtLL, macX), ndOpt(ndOptTgtLL, macX)))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NA, 0, 0)},
		{"nd target cut short",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255}, nd(icmp6NS, ip6B)[:8+15])),
			ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NS, 0, 0)},
		{"nd with nonzero code is plain icmpv6",
			func() []byte {
				f := cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255}, nd(icmp6NS, ip6B, ndOpt(ndOptSrcLL, macX))))
				f[14+40+1] = 1
				return f
			}(),
			ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), icmp6NS, 1, 0)},
		{"router solicitation options are not parsed",
			cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: IPProtoICMP6, hlim: 255}, icmp(133, 0, cat(make([]byte, 4), ndOpt(ndOptSrcLL, macX))))),
			ports(v6(l2(in, EthTypeIPv6), IPProtoICMP6, 0, 255, 0), 133, 0, 0)},

		{"unknown ethertype", pad(eth(0x88cc), 60), l2(in, 0x88cc)},
		{"bare ethernet header", eth(EthTypeIPv4), l2(in, EthTypeIPv4)},
	}
}

func TestExtract(t *testing.T) {
	for _, tc := range extractCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := extractExact(tc.frame, tc.want.InPort)
			if !ok {
				t.Fatalf("Extract returned false for a %d-byte frame", len(tc.frame))
			}
			if got != tc.want {
				t.Errorf("key mismatch:%s", keyDiff(&got, &tc.want))
			}
		})
	}
}

func TestExtractShortFrame(t *testing.T) {
	full := cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoUDP}, udp(1, 2, nil)))
	for n := range 14 {
		got, ok := extractExact(full[:n], 3)
		if ok {
			t.Errorf("%d bytes: Extract returned true", n)
		}
		if want := (Key{InPort: 3}); got != want {
			t.Errorf("%d bytes: key not cleared:%s", n, keyDiff(&got, &want))
		}
	}
	if _, ok := extractExact(nil, 3); ok {
		t.Error("nil frame: Extract returned true")
	}
}

// A truncation case cuts a frame at every length. With patch nil, the cut
// leaves the IP length fields claiming more than is there; with patch set,
// it rewrites them to match the cut, so each header in turn is the first
// one damaged. stages lists, by the frame length at which each becomes
// whole, the key expected from then on.
type truncCase struct {
	name   string
	frame  []byte
	patch  func(b []byte)
	stages []truncStage
}

type truncStage struct {
	from int
	want Key
}

func TestExtractTruncation(t *testing.T) {
	const in = 11
	// Ethernet / IPv4 with options (24 bytes) / TCP with options (28 bytes) / 6 bytes.
	tcp4 := cat(eth(EthTypeIPv4), ipv4(ip4Hdr{proto: IPProtoTCP, tos: 0x28, ttl: 64, opts: []byte{1, 1, 1, 0}},
		tcp(40000, 80, 0x018, []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}, []byte("GET / "))))
	tcp4L2 := l2(in, EthTypeIPv4)
	tcp4Nw := v4(tcp4L2, IPProtoTCP, 0x28, 64)
	tcp4Full := ports(tcp4Nw, 40000, 80, 0x018)
	fixIPv4 := func(off int) func([]byte) {
		return func(b []byte) {
			if len(b) >= off+4 {
				binary.BigEndian.PutUint16(b[off+2:], uint16(min(len(b)-off, 0xffff)))
			}
		}
	}

	// Ethernet / 802.1Q / IPv6 / UDP / 10 bytes.
	udp6 := cat(eth(EthTypeIPv6, tag{EthTypeVLAN, 4<<13 | 300}), ipv6(ip6Hdr{next: IPProtoUDP, tc: 0xb8, hlim: 7, label: 0x12345},
		udp(4500, 4500, []byte("0123456789"))))
	udp6L2 := tagged(l2(in, EthTypeIPv6), EthTypeVLAN, 4<<13|300|TCIPresent, 0)
	udp6Nw := v6(udp6L2, IPProtoUDP, 0xb8, 7, 0x12345)
	udp6Full := ports(udp6Nw, 4500, 4500, 0)
	fixIPv6 := func(off int) func([]byte) {
		return func(b []byte) {
			if len(b) >= off+40 {
				binary.BigEndian.PutUint16(b[off+4:], uint16(len(b)-off-40))
			}
		}
	}

	// Ethernet / 802.1ad / 802.1Q / IPv6 / hop-by-hop (16) / fragment (8, first) / TCP (20).
	ext6f := cat(eth(EthTypeIPv6, tag{EthTypeQinQ, 100}, tag{EthTypeVLAN, 200}),
		ipv6(ip6Hdr{next: ipProtoHopOpts, hlim: 64},
			cat(ext6(ipProtoFragment, 1), frag6(IPProtoTCP, 0, true), tcp(1, 2, 0x004, nil, nil))))
	ext6L2 := tagged(l2(in, EthTypeIPv6), EthTypeQinQ, 100|TCIPresent, 200|TCIPresent)
	ext6Hdr := v6(ext6L2, 0, 0, 64, 0)
	ext6Frag := frag(v6(ext6L2, IPProtoTCP, 0, 64, 0), FragAny)

	cases := []truncCase{
		{"tcp4 raw cut", tcp4, nil, []truncStage{{14, tcp4L2}, {len(tcp4), tcp4Full}}},
		{"tcp4 lengths follow cut", tcp4, fixIPv4(14), []truncStage{
			{14, tcp4L2}, {14 + 24, tcp4Nw}, {14 + 24 + 28, tcp4Full}}},
		{"vlan udp6 raw cut", udp6, nil, []truncStage{
			{14, l2(in, EthTypeVLAN)}, {18, udp6L2}, {len(udp6), udp6Full}}},
		{"vlan udp6 lengths follow cut", udp6, fixIPv6(18), []truncStage{
			{14, l2(in, EthTypeVLAN)}, {18, udp6L2}, {18 + 40, udp6Nw}, {18 + 40 + 8, udp6Full}}},
		{"qinq ext6 lengths follow cut", ext6f, fixIPv6(22), []truncStage{
			{14, l2(in, EthTypeQinQ)},
			{18, tagged(l2(in, EthTypeVLAN), EthTypeQinQ, 100|TCIPresent, 0)},
			{22, ext6L2},
			// Until the fragment header is whole the chain is abandoned, so
			// the whole hop-by-hop header alone changes nothing.
			{22 + 40, ext6Hdr},
			{22 + 40 + 16 + 8, ext6Frag},
			{22 + 40 + 16 + 8 + 20, ports(ext6Frag, 1, 2, 0x004)}}},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for cut := 0; cut <= len(tc.frame); cut++ {
				b := make([]byte, cut)
				copy(b, tc.frame)
				if tc.patch != nil {
					tc.patch(b)
				}
				var got Key
				dirty(&got)
				ok := Extract(b, in, &got)
				want := Key{InPort: in}
				for _, s := range tc.stages {
					if cut >= s.from {
						want = s.want
					}
				}
				if ok != (cut >= 14) {
					t.Errorf("cut %d: ok=%v", cut, ok)
				}
				if got != want {
					t.Errorf("cut %d:%s", cut, keyDiff(&got, &want))
				}
			}
		})
	}
}

func TestExtractNoAllocs(t *testing.T) {
	frames := [][]byte{}
	for _, tc := range extractCases() {
		frames = append(frames, tc.frame)
	}
	var k Key
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			Extract(f, 1, &k)
		}
	})
	if allocs != 0 {
		t.Fatalf("Extract allocated %.1f times per run of %d frames", allocs, len(frames))
	}
}
