// Package vxlan holds VXLAN (RFC 7348) encapsulation and decapsulation on
// packet bytes in place, tunnel port options, and the underlay route and
// neighbour tables the slow path builds outer headers from.
//
// The per-packet functions (Encap, Decap) allocate nothing and keep no
// state: the slow path compiles a port's options plus route and neighbour
// lookups into a pointer-free Template, and the datapath copies it in front
// of the inner frame and patches the few per-packet fields.
//
// Encap path: ParseOptions → Table.Lookup(remote) → Resolver.Resolve(route
// ifindex, route.NextHop) (on a miss, ShouldProbe then ARPRequest or
// NeighborSolicitation out of the underlay port) → Options.TemplateConfig
// plus the MACs → BuildTemplate, kept in a table the encap action indexes;
// rebuild when Table.Generation or a Resolver.Learn result says so. Per
// packet: finish a partial inner checksum, check Template.Fits (else
// FragNeeded), Push(t.Len()), Encap.
//
// Decap path: Decap on the underlay frame, Table.IsLocal(info.DstAddr()),
// map info.VNI to the tunnel port, Pull(InnerOff), SetLen(InnerLen), and
// recirculate with the tunnel metadata; count drops by DropReason.
package vxlan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"vswitch/datapath/netdev/vnethdr"
)

// Header sizes and protocol numbers.
const (
	DefaultPort = 4789 // IANA-assigned VXLAN UDP port
	MaxVNI      = 1<<24 - 1

	EthLen   = 14
	VLANLen  = 4
	IPv4Len  = 20
	IPv6Len  = 40
	UDPLen   = 8
	HdrLen   = 8 // the VXLAN header itself
	MinInner = EthLen

	// OverheadIPv4 and OverheadIPv6 are the bytes encapsulation adds to an
	// inner Ethernet frame without an outer VLAN tag (add VLANLen with one).
	OverheadIPv4 = EthLen + IPv4Len + UDPLen + HdrLen // 50
	OverheadIPv6 = EthLen + IPv6Len + UDPLen + HdrLen // 70

	// MaxHeaderLen is the longest outer header a Template holds.
	MaxHeaderLen = EthLen + VLANLen + IPv6Len + UDPLen + HdrLen // 74

	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeARP  = 0x0806
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8

	protoUDP    = 17
	protoICMPv6 = 58

	flagI   = 0x08 // VXLAN "VNI valid" flag
	ipv4DF  = 0x4000
	ecnMask = 0x03
	ecnCE   = 0x03
	ecnECT0 = 0x02

	// DefaultTTL is the outer TTL when none is configured (Linux's
	// default ip_default_ttl and hop limit).
	DefaultTTL = 64
)

// Source port range: Linux's vxlan picks from the local port range
// (net.ipv4.ip_local_port_range, 32768–60999 by default) when no srcport
// range is configured, and so does OVS's userspace datapath. Using the same
// range keeps ECMP behaviour alike for a mixed kernel/vswitch overlay;
// RFC 7348's suggestion (49152–65535) is equally valid to receivers, who
// never look at the source port.
const (
	SrcPortMin = 32768
	SrcPortMax = 61000 // exclusive, like the kernel's (max - min) scaling
)

// SourcePort maps an inner-flow hash onto the source port range so that
// underlay routers spreading flows by 5-tuple (ECMP, RSS) see entropy
// (RFC 7348 §5). A Fibonacci multiply first spreads weak hashes (small
// consecutive values) over the high bits the range scaling keeps.
func SourcePort(hash uint32) uint16 {
	return SourcePortRange(hash, SrcPortMin, SrcPortMax)
}

// SourcePortRange is SourcePort for the range [lo, hi).
func SourcePortRange(hash uint32, lo, hi uint16) uint16 {
	hash *= 0x9e3779b1
	return uint16(uint64(hash)*uint64(hi-lo)>>32) + lo
}

// Template flags.
const (
	tmplIPv6 = 1 << iota
	tmplCsum
	tmplTOSInherit
	tmplTTLInherit
)

// Template is a precomputed outer header (Ethernet, optional 802.1Q tag,
// IPv4 or IPv6, UDP, VXLAN) with the checksum partial sums of its constant
// fields. It holds no pointers, so tables of templates cost the garbage
// collector nothing; copy it freely. The zero Template is invalid.
type Template struct {
	hdr   [MaxHeaderLen]byte
	n     uint8 // header length
	l3    uint8 // offset of the IP header
	l4    uint8 // offset of the UDP header
	flags uint8
	tos   uint8 // configured outer TOS (DSCP; ECN always comes from the inner packet)
	ttl   uint8 // configured outer TTL, also the fallback for inherit
	_     [2]byte
	// ipSum is the folded sum of the IPv4 header with TOS, TTL, total
	// length, ID and checksum zero; Encap adds the per-packet values.
	ipSum uint32
	// udpSum is the folded sum of the pseudo-header addresses and protocol,
	// the destination port and the VXLAN header: the constant part of the
	// UDP checksum.
	udpSum uint32
}

// TemplateConfig is what a Template is built from: the tunnel options and
// the slow path's route and neighbour lookups.
type TemplateConfig struct {
	SrcMAC, DstMAC [6]byte
	// HasVLAN adds one 802.1Q tag with VLANTCI (for a VLAN underlay).
	HasVLAN bool
	VLANTCI uint16
	// SrcIP and DstIP are the tunnel endpoints, both IPv4 or both IPv6.
	SrcIP, DstIP netip.Addr
	// TOS is the outer DSCP (its ECN bits must be zero; ECN is always
	// inherited from the inner packet). TOSInherit copies the inner DSCP.
	TOS        uint8
	TOSInherit bool
	// TTL is the outer TTL or hop limit, DefaultTTL when zero. TTLInherit
	// copies the inner packet's, using TTL when the inner is not IP.
	TTL        uint8
	TTLInherit bool
	// DF sets IPv4's Don't Fragment bit (ignored for IPv6).
	DF bool
	// DstPort is the UDP destination port, DefaultPort when zero.
	DstPort uint16
	VNI     uint32
	// Csum computes the outer UDP checksum over IPv4; over IPv6 it is
	// always computed (Linux drops zero-checksum IPv6 tunnel packets).
	Csum bool
}

// BuildTemplate validates c and precomputes the outer header.
func BuildTemplate(c TemplateConfig) (Template, error) {
	var t Template
	src, dst := c.SrcIP.Unmap(), c.DstIP.Unmap()
	switch {
	case !src.IsValid() || !dst.IsValid():
		return t, errors.New("vxlan template: source and destination IP are required")
	case src.Is4() != dst.Is4():
		return t, fmt.Errorf("vxlan template: source %s and destination %s are of different families", src, dst)
	case c.VNI > MaxVNI:
		return t, fmt.Errorf("vxlan template: VNI %d is over %d", c.VNI, MaxVNI)
	case c.TOS&ecnMask != 0:
		return t, fmt.Errorf("vxlan template: TOS %#x has ECN bits set (ECN is inherited)", c.TOS)
	case c.HasVLAN && c.VLANTCI&0x0fff == 0x0fff:
		return t, errors.New("vxlan template: VLAN ID 4095 is reserved")
	}
	port := c.DstPort
	if port == 0 {
		port = DefaultPort
	}
	t.tos = c.TOS
	t.ttl = c.TTL
	if t.ttl == 0 {
		t.ttl = DefaultTTL
	}
	if c.TOSInherit {
		t.flags |= tmplTOSInherit
	}
	if c.TTLInherit {
		t.flags |= tmplTTLInherit
	}

	h := t.hdr[:]
	copy(h[0:6], c.DstMAC[:])
	copy(h[6:12], c.SrcMAC[:])
	off := 12
	if c.HasVLAN {
		binary.BigEndian.PutUint16(h[12:], etherTypeVLAN)
		binary.BigEndian.PutUint16(h[14:], c.VLANTCI)
		off = 16
	}
	t.l3 = uint8(off + 2)
	var pseudo uint64
	if src.Is4() {
		binary.BigEndian.PutUint16(h[off:], etherTypeIPv4)
		ip := h[t.l3 : t.l3+IPv4Len]
		ip[0] = 0x45
		if c.DF {
			binary.BigEndian.PutUint16(ip[6:], ipv4DF)
		}
		ip[9] = protoUDP
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		// TOS, length, ID, TTL and checksum are still zero here.
		t.ipSum = uint32(vnethdr.Fold(vnethdr.Sum(ip, 0)))
		pseudo = vnethdr.Sum(ip[12:20], protoUDP)
		t.l4 = t.l3 + IPv4Len
		if c.Csum {
			t.flags |= tmplCsum
		}
	} else {
		binary.BigEndian.PutUint16(h[off:], etherTypeIPv6)
		ip := h[t.l3 : t.l3+IPv6Len]
		ip[0] = 0x60
		ip[6] = protoUDP
		s16, d16 := src.As16(), dst.As16()
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
		pseudo = vnethdr.Sum(ip[8:40], protoUDP)
		t.l4 = t.l3 + IPv6Len
		t.flags |= tmplIPv6 | tmplCsum
	}
	udp := h[t.l4 : t.l4+UDPLen]
	binary.BigEndian.PutUint16(udp[2:], port)
	vx := h[t.l4+UDPLen : t.l4+UDPLen+HdrLen]
	vx[0] = flagI
	binary.BigEndian.PutUint32(vx[4:], c.VNI<<8)
	t.n = t.l4 + UDPLen + HdrLen
	t.udpSum = uint32(vnethdr.Fold(vnethdr.Sum(vx, vnethdr.Sum(udp, pseudo))))
	return t, nil
}

// Len is the number of bytes Encap puts in front of the inner frame: push
// this much headroom. It is also the MTU overhead of the tunnel.
func (t *Template) Len() int { return int(t.n) }

// IPv6 reports whether the outer header is IPv6.
func (t *Template) IPv6() bool { return t.flags&tmplIPv6 != 0 }

// SrcIP is the outer source address (the local tunnel endpoint).
func (t *Template) SrcIP() netip.Addr {
	l3 := int(t.l3)
	if t.IPv6() {
		return netip.AddrFrom16([16]byte(t.hdr[l3+8 : l3+24]))
	}
	return netip.AddrFrom4([4]byte(t.hdr[l3+12 : l3+16]))
}

// Bytes returns the header as built (per-packet fields zero); for display
// and tests.
func (t *Template) Bytes() []byte { return t.hdr[:t.n] }

// VNI returns the template's VNI.
func (t *Template) VNI() uint32 {
	return binary.BigEndian.Uint32(t.hdr[t.l4+UDPLen+4:]) >> 8
}

// Meta is the per-packet input to Encap, taken from the inner flow.
type Meta struct {
	// Hash is the inner flow's hash: it picks the UDP source port (and
	// the IPv6 flow label).
	Hash uint32
	// IPID is the outer IPv4 identification. With DF set any value will
	// do (RFC 6864); without DF it must vary per packet, e.g. a per-PMD
	// counter.
	IPID uint16
	// TOS and TTL are the inner packet's TOS (traffic class) and TTL (hop
	// limit), zero when it is not IP. ECN bits are always inherited
	// (a CE mark becomes ECT(0) outside, as Linux does, RFC 6040 §4.1).
	TOS, TTL uint8
}

// ErrFrameSize is returned by Encap when the frame cannot carry the
// template plus an Ethernet frame, or is too long for IP.
var ErrFrameSize = errors.New("vxlan: frame too short or too long to encapsulate")

// Encap writes t's outer header into frame[:t.Len()] and patches the
// per-packet fields: lengths, TOS/TTL, IPv4 ID and header checksum
// (incrementally), UDP source port and, if enabled, the UDP checksum over
// the whole payload. frame is the packet data after pushing t.Len() bytes
// of headroom; frame[t.Len():] is the inner Ethernet frame, whose own
// checksums must already be complete.
func Encap(frame []byte, t *Template, m Meta) error {
	n := int(t.n)
	if n == 0 || len(frame) < n+MinInner || len(frame)-int(t.l3) > 0xffff {
		return ErrFrameSize
	}
	copy(frame[:n], t.hdr[:n])
	tos := t.tos
	if t.flags&tmplTOSInherit != 0 {
		tos = m.TOS &^ ecnMask
	}
	if ecn := m.TOS & ecnMask; ecn == ecnCE {
		tos |= ecnECT0
	} else {
		tos |= ecn
	}
	ttl := t.ttl
	if t.flags&tmplTTLInherit != 0 && m.TTL != 0 {
		ttl = m.TTL
	}
	l3, l4 := int(t.l3), int(t.l4)
	udpLen := len(frame) - l4
	srcPort := SourcePort(m.Hash)
	if t.flags&tmplIPv6 == 0 {
		ip := frame[l3 : l3+IPv4Len]
		tot := len(frame) - l3
		ip[1] = tos
		binary.BigEndian.PutUint16(ip[2:], uint16(tot))
		binary.BigEndian.PutUint16(ip[4:], m.IPID)
		ip[8] = ttl
		sum := uint64(t.ipSum) + uint64(tos) + uint64(tot) + uint64(m.IPID) + uint64(ttl)<<8
		binary.BigEndian.PutUint16(ip[10:], ^vnethdr.Fold(sum))
	} else {
		ip := frame[l3 : l3+IPv6Len]
		// Version, traffic class and a flow label from the inner hash, as
		// Linux's auto flow labels do (RFC 6438).
		binary.BigEndian.PutUint32(ip[0:], 6<<28|uint32(tos)<<20|m.Hash&0xfffff)
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[7] = ttl
	}
	udp := frame[l4 : l4+UDPLen]
	binary.BigEndian.PutUint16(udp[0:], srcPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	if t.flags&tmplCsum != 0 {
		// Pseudo-header length and UDP length field are the same value.
		acc := uint64(t.udpSum) + uint64(srcPort) + 2*uint64(udpLen)
		c := ^vnethdr.Fold(vnethdr.Sum(frame[n:], acc))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:], c)
	}
	return nil
}

// DropReason says why Decap refused a packet; callers keep a counter per
// reason (an array indexed by DropReason, NumDropReasons long).
type DropReason uint8

// Drop reasons. DropNone means the packet is a valid VXLAN packet.
const (
	DropNone            DropReason = iota
	DropTruncated                  // shorter than its headers claim
	DropNotIP                      // EtherType (after at most one tag) is not IPv4/IPv6
	DropBadIPHeader                // wrong IP version or IPv4 header length
	DropBadIPLength                // IP total/payload length inconsistent
	DropBadIPChecksum              // IPv4 header checksum wrong
	DropFragment                   // IP fragment (tunnel packets are never reassembled)
	DropNotUDP                     // not UDP, or an unsupported IPv6 extension header
	DropWrongPort                  // UDP destination port is not the tunnel's
	DropBadUDPLength               // UDP length field inconsistent
	DropBadUDPChecksum             // nonzero UDP checksum that does not verify
	DropZeroUDPChecksum            // IPv6 with a zero UDP checksum (RFC 8200 §8.1)
	DropBadFlags                   // VXLAN I flag clear
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropNone:            "none",
	DropTruncated:       "truncated",
	DropNotIP:           "not_ip",
	DropBadIPHeader:     "bad_ip_header",
	DropBadIPLength:     "bad_ip_length",
	DropBadIPChecksum:   "bad_ip_checksum",
	DropFragment:        "fragment",
	DropNotUDP:          "not_udp",
	DropWrongPort:       "wrong_port",
	DropBadUDPLength:    "bad_udp_length",
	DropBadUDPChecksum:  "bad_udp_checksum",
	DropZeroUDPChecksum: "zero_udp_checksum",
	DropBadFlags:        "bad_flags",
}

// String returns a short name fit for a counter label.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("drop_%d", uint8(r))
}

// DecapFlags adjust Decap's checks to what the receiving port knows.
type DecapFlags uint8

const (
	// CsumVerified skips the UDP checksum: the port already verified it
	// (virtio DATA_VALID), or the packet carries a partial checksum from
	// the local stack (NEEDS_CSUM) whose field holds only the
	// pseudo-header sum and would fail verification.
	CsumVerified DecapFlags = 1 << iota
	// AllowZeroCsum6 accepts IPv6 packets with a zero UDP checksum
	// (RFC 6935; Linux's udp6zerocsumrx).
	AllowZeroCsum6
)

// Info is what Decap learned about a valid VXLAN packet.
type Info struct {
	VNI uint32
	// Src and Dst are the outer IP addresses, IPv4 in the first 4 bytes
	// (flowtable.Key's convention).
	Src, Dst [16]byte
	IPv6     bool
	// TOS is the outer TOS or traffic class, TTL the TTL or hop limit.
	TOS, TTL uint8
	// DF is IPv4's Don't Fragment bit; Csum says the UDP checksum was
	// nonzero (and verified unless CsumVerified was passed).
	DF, Csum bool
	// HasVLAN and VLANTCI describe an outer 802.1Q/802.1ad tag.
	HasVLAN bool
	VLANTCI uint16
	SrcPort uint16
	// InnerOff and InnerLen locate the inner Ethernet frame in data:
	// Pull(InnerOff), then SetLen(InnerLen) to drop any trailing padding.
	InnerOff, InnerLen int
}

// SrcAddr returns the outer source address.
func (in *Info) SrcAddr() netip.Addr { return in.addr(&in.Src) }

// DstAddr returns the outer destination address.
func (in *Info) DstAddr() netip.Addr { return in.addr(&in.Dst) }

func (in *Info) addr(a *[16]byte) netip.Addr {
	if in.IPv6 {
		return netip.AddrFrom16(*a)
	}
	return netip.AddrFrom4([4]byte(a[:4]))
}

// Decap validates an Ethernet frame (at most one VLAN tag) carrying IPv4 or
// IPv6 / UDP to dstPort / VXLAN, and returns where the inner frame is.
// It does not check that the outer destination MAC and IP are local: the
// caller compares Info.Dst with its tunnel endpoints. RFC 7348 says
// reserved bits are ignored on receipt and only the I flag is checked;
// Linux is stricter (it drops any unknown flag), vswitch follows the RFC.
// IPv4 options are skipped; IPv6 hop-by-hop and destination options
// headers are skipped, other extension headers refused. Info is only
// meaningful with DropNone.
func Decap(data []byte, dstPort uint16, flags DecapFlags) (Info, DropReason) {
	var in Info
	if len(data) < EthLen {
		return in, DropTruncated
	}
	off := 12
	et := binary.BigEndian.Uint16(data[12:])
	if et == etherTypeVLAN || et == etherTypeQinQ {
		if len(data) < EthLen+VLANLen {
			return in, DropTruncated
		}
		in.HasVLAN = true
		in.VLANTCI = binary.BigEndian.Uint16(data[14:])
		et = binary.BigEndian.Uint16(data[16:])
		off = 16
	}
	l3 := off + 2
	var l4, end int
	var pseudo uint64
	switch et {
	case etherTypeIPv4:
		if len(data) < l3+IPv4Len {
			return in, DropTruncated
		}
		ip := data[l3:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[0]>>4 != 4 || ihl < IPv4Len {
			return in, DropBadIPHeader
		}
		if len(ip) < ihl {
			return in, DropTruncated
		}
		tot := int(binary.BigEndian.Uint16(ip[2:]))
		if tot < ihl {
			return in, DropBadIPLength
		}
		if tot > len(ip) {
			return in, DropTruncated
		}
		if vnethdr.Fold(vnethdr.Sum(ip[:ihl], 0)) != 0xffff {
			return in, DropBadIPChecksum
		}
		frag := binary.BigEndian.Uint16(ip[6:])
		if frag&0x3fff != 0 { // MF or a fragment offset
			return in, DropFragment
		}
		if ip[9] != protoUDP {
			return in, DropNotUDP
		}
		in.DF = frag&ipv4DF != 0
		in.TOS, in.TTL = ip[1], ip[8]
		copy(in.Src[:4], ip[12:16])
		copy(in.Dst[:4], ip[16:20])
		pseudo = vnethdr.Sum(ip[12:20], protoUDP)
		l4, end = l3+ihl, l3+tot
	case etherTypeIPv6:
		if len(data) < l3+IPv6Len {
			return in, DropTruncated
		}
		ip := data[l3:]
		if ip[0]>>4 != 6 {
			return in, DropBadIPHeader
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if plen == 0 { // a jumbogram, or nonsense
			return in, DropBadIPLength
		}
		if IPv6Len+plen > len(ip) {
			return in, DropTruncated
		}
		in.IPv6 = true
		in.TOS = uint8(binary.BigEndian.Uint16(ip[0:]) >> 4)
		in.TTL = ip[7]
		copy(in.Src[:], ip[8:24])
		copy(in.Dst[:], ip[24:40])
		pseudo = vnethdr.Sum(ip[8:40], protoUDP)
		l4, end = l3+IPv6Len, l3+IPv6Len+plen
		nh := ip[6]
		for i := 0; i < 4 && (nh == 0 && i == 0 || nh == 60); i++ {
			if end-l4 < 8 {
				return in, DropTruncated
			}
			hl := (int(data[l4+1]) + 1) * 8
			if end-l4 < hl {
				return in, DropTruncated
			}
			nh = data[l4]
			l4 += hl
		}
		switch nh {
		case protoUDP:
		case 44:
			return in, DropFragment
		default:
			return in, DropNotUDP
		}
	default:
		return in, DropNotIP
	}
	if end-l4 < UDPLen {
		return in, DropTruncated
	}
	udp := data[l4:end]
	if binary.BigEndian.Uint16(udp[2:]) != dstPort {
		return in, DropWrongPort
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < UDPLen || ulen > len(udp) {
		return in, DropBadUDPLength
	}
	if ulen < UDPLen+HdrLen+MinInner {
		return in, DropTruncated
	}
	switch csum := binary.BigEndian.Uint16(udp[6:]); {
	case csum == 0:
		if in.IPv6 && flags&AllowZeroCsum6 == 0 {
			return in, DropZeroUDPChecksum
		}
	case flags&CsumVerified == 0:
		if vnethdr.Fold(vnethdr.Sum(udp[:ulen], pseudo+uint64(ulen))) != 0xffff {
			return in, DropBadUDPChecksum
		}
		in.Csum = true
	default:
		in.Csum = true
	}
	vx := udp[UDPLen:]
	if vx[0]&flagI == 0 {
		return in, DropBadFlags
	}
	in.VNI = binary.BigEndian.Uint32(vx[4:]) >> 8
	in.SrcPort = binary.BigEndian.Uint16(udp[0:])
	in.InnerOff = l4 + UDPLen + HdrLen
	in.InnerLen = ulen - UDPLen - HdrLen
	return in, DropNone
}
