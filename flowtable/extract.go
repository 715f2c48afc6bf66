package flowtable

import "encoding/binary"

// DlTypeNone is the DlType of an 802.3 frame whose length field is not
// followed by an LLC/SNAP header carrying an EtherType (OVS's
// FLOW_DL_TYPE_NONE): such frames match on "no EtherType" rather than on
// their length.
const DlTypeNone = 0x05ff

// Header sizes and protocol numbers the extractor walks through.
const (
	ethHeaderLen  = 14
	ethTypeMin    = 0x0600 // smaller values in the type field are 802.3 lengths
	llcSNAPLen    = 8      // DSAP, SSAP, control, OUI[3], EtherType
	arpEthIPv4Len = 28
	ipv4MinLen    = 20
	ipv6HeaderLen = 40
	tcpMinLen     = 20
	udpLen        = 8
	sctpMinLen    = 12
	icmpMinLen    = 8 // type, code, checksum and the 4-byte rest of header
	ndTargetLen   = 16
	ndOptUnit     = 8

	ipProtoHopOpts  = 0
	ipProtoRouting  = 43
	ipProtoFragment = 44
	ipProtoAH       = 51
	ipProtoDstOpts  = 60

	icmp6NS      = 135
	icmp6NA      = 136
	ndOptSrcLL   = 1
	ndOptTgtLL   = 2
	ipv6FragOff  = 0xfff8 // fragment offset bits of the fragment header's offlg
	ipv6FragMore = 0x0001
	ipv4FragOff  = 0x1fff
	ipv4FragMore = 0x2000
)

// Extract fills k from the frame's headers in one pass over them. It zeroes
// *k first, so the caller may reuse one Key per packet without clearing it;
// tunnel metadata (TunID, TunSrc, TunDst) therefore has to be set after
// Extract, by whoever decapsulated the frame.
//
// Extract never panics and never allocates. It returns false only when the
// frame is too short to hold an Ethernet header (fewer than 14 bytes); the
// datapath counts and drops those. Every other frame yields a key that
// classifies, however damaged: parsing stops at the first header that is
// malformed or cut short and the fields that header and those after it would
// have filled stay zero. An IPv4 header with IHL < 5, a version other than 4
// or a total length beyond the frame keeps the L2 fields and DlType and
// leaves every nw_* and tp_* field zero; a truncated TCP header keeps the
// nw_* fields and leaves tp_* zero. L4 parsing is bounded by the IP length
// fields, never by Ethernet padding.
//
// Semantics follow OVS's flow extraction:
//   - VlanTCI/InnerTCI carry the tag's PCP and VID with TCIPresent set in
//     place of the CFI/DEI bit, whose real value is not kept. The outer tag
//     may use TPID 0x8100 or 0x88a8 (recorded in VlanTPID), the inner one
//     0x8100; a tag cut short ends the parse with DlType set to its TPID.
//   - DlType is the EtherType after the tags, or the EtherType of an LLC/SNAP
//     header (OUI 00-00-00) on an 802.3 frame, or DlTypeNone.
//   - ARP/RARP (Ethernet/IPv4 only): NwProto is the opcode when it fits a
//     byte, NwSrc/NwDst hold SPA/TPA, ArpSha/ArpTha SHA/THA.
//   - IPv4 fragments set FragAny; non-first fragments also set FragLater and
//     carry no L4 fields.
//   - IPv6 skips hop-by-hop, routing, destination-options, AH and fragment
//     headers; NwProto is the first other next-header value. A non-first
//     fragment stops there with NwProto = 44 (fragment), as OVS reports it.
//     An extension header cut short leaves NwProto, NwFrag and L4 zero.
//   - TCP: ports and the 12 low bits of the offset/flags word in TCPFlags,
//     only when the whole header including options is present. UDP and SCTP
//     ports. ICMPv4 and ICMPv6 type/code in TpSrc/TpDst.
//   - ICMPv6 neighbour solicitation/advertisement (code 0): the target in
//     NDTarget, the source/target link-layer address options in ArpSha and
//     ArpTha. A malformed option list (zero length, overrun, a repeated
//     link-layer option) clears all three, leaving type/code.
func Extract(frame []byte, inPort uint32, k *Key) (ok bool) {
	*k = Key{}
	k.InPort = inPort
	if len(frame) < ethHeaderLen {
		return false
	}
	copy(k.DlDst[:], frame[0:6])
	copy(k.DlSrc[:], frame[6:12])

	// off points at the TPID/EtherType field being examined. A tag is taken
	// only when its TCI and the next type field are both present, so the
	// type read after it is always within the frame.
	off := 12
	typ := binary.BigEndian.Uint16(frame[off:])
	if (typ == EthTypeVLAN || typ == EthTypeQinQ) && len(frame) >= off+6 {
		k.VlanTPID = typ
		k.VlanTCI = binary.BigEndian.Uint16(frame[off+2:]) | TCIPresent
		off += 4
		typ = binary.BigEndian.Uint16(frame[off:])
		if typ == EthTypeVLAN && len(frame) >= off+6 {
			k.InnerTCI = binary.BigEndian.Uint16(frame[off+2:]) | TCIPresent
			off += 4
			typ = binary.BigEndian.Uint16(frame[off:])
		}
	}
	off += 2
	if typ < ethTypeMin {
		typ, off = parseLLCSNAP(frame, off)
	}
	k.DlType = typ

	l3 := frame[off:]
	switch typ {
	case EthTypeIPv4:
		extractIPv4(l3, k)
	case EthTypeIPv6:
		extractIPv6(l3, k)
	case EthTypeARP, EthTypeRARP:
		extractARP(l3, k)
	}
	return true
}

// parseLLCSNAP decodes the header after an 802.3 length field at off. It
// returns the encapsulated EtherType and the offset past the SNAP header, or
// DlTypeNone and off unchanged when there is no Ethernet-OUI SNAP header.
func parseLLCSNAP(frame []byte, off int) (uint16, int) {
	if len(frame)-off < llcSNAPLen {
		return DlTypeNone, off
	}
	h := frame[off : off+llcSNAPLen]
	if h[0] != 0xaa || h[1] != 0xaa || h[2] != 0x03 || h[3] != 0 || h[4] != 0 || h[5] != 0 {
		return DlTypeNone, off
	}
	typ := binary.BigEndian.Uint16(h[6:])
	if typ < ethTypeMin {
		return DlTypeNone, off
	}
	return typ, off + llcSNAPLen
}

func extractARP(p []byte, k *Key) {
	if len(p) < arpEthIPv4Len {
		return
	}
	p = p[:arpEthIPv4Len]
	// Only Ethernet hardware and IPv4 protocol addresses have a place in the
	// key; anything else is classified on L2 alone.
	if binary.BigEndian.Uint16(p[0:]) != 1 || binary.BigEndian.Uint16(p[2:]) != EthTypeIPv4 ||
		p[4] != 6 || p[5] != 4 {
		return
	}
	if op := binary.BigEndian.Uint16(p[6:]); op <= 0xff {
		k.NwProto = uint8(op)
	}
	copy(k.ArpSha[:], p[8:14])
	copy(k.NwSrc[:4], p[14:18])
	copy(k.ArpTha[:], p[18:24])
	copy(k.NwDst[:4], p[24:28])
}

func extractIPv4(p []byte, k *Key) {
	if len(p) < ipv4MinLen || p[0]>>4 != 4 {
		return
	}
	hlen := int(p[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(p[2:]))
	if hlen < ipv4MinLen || tot < hlen || tot > len(p) {
		return
	}
	copy(k.NwSrc[:4], p[12:16])
	copy(k.NwDst[:4], p[16:20])
	k.NwTos = p[1]
	k.NwTTL = p[8]
	proto := p[9]
	k.NwProto = proto
	if fo := binary.BigEndian.Uint16(p[6:]); fo&(ipv4FragMore|ipv4FragOff) != 0 {
		k.NwFrag = FragAny
		if fo&ipv4FragOff != 0 {
			k.NwFrag |= FragLater
			return
		}
	}
	// Slicing to tot drops Ethernet padding from the L4 view.
	l4 := p[hlen:tot]
	switch proto {
	case IPProtoICMP:
		if len(l4) >= icmpMinLen {
			k.TpSrc = uint16(l4[0])
			k.TpDst = uint16(l4[1])
		}
	default:
		extractPorts(l4, proto, k)
	}
}

func extractIPv6(p []byte, k *Key) {
	if len(p) < ipv6HeaderLen || p[0]>>4 != 6 {
		return
	}
	// A payload length of 0 with a jumbo option is not supported: the
	// payload is then seen as empty, as in OVS.
	end := ipv6HeaderLen + int(binary.BigEndian.Uint16(p[4:]))
	if end > len(p) {
		return
	}
	vtcfl := binary.BigEndian.Uint32(p[0:])
	k.NwTos = uint8(vtcfl >> 20)
	k.IPv6Label = vtcfl & 0x000fffff
	k.NwTTL = p[7]
	copy(k.NwSrc[:], p[8:24])
	copy(k.NwDst[:], p[24:40])

	next := p[6]
	pl := p[ipv6HeaderLen:end]
	var frag uint8
	// Each extension header consumes at least 8 bytes, so the loop is bounded
	// by the payload length.
ext:
	for {
		switch next {
		case ipProtoHopOpts, ipProtoRouting, ipProtoDstOpts:
			if len(pl) < 8 {
				return
			}
			n := (int(pl[1]) + 1) * 8
			if n > len(pl) {
				return
			}
			next = pl[0]
			pl = pl[n:]
		case ipProtoAH:
			// AH counts its length in 4-byte units, minus 2.
			if len(pl) < 8 {
				return
			}
			n := (int(pl[1]) + 2) * 4
			if n > len(pl) {
				return
			}
			next = pl[0]
			pl = pl[n:]
		case ipProtoFragment:
			if len(pl) < 8 {
				return
			}
			offlg := binary.BigEndian.Uint16(pl[2:])
			next = pl[0]
			pl = pl[8:]
			if offlg&(ipv6FragOff|ipv6FragMore) != 0 {
				frag = FragAny
				if offlg&ipv6FragOff != 0 {
					k.NwFrag = FragAny | FragLater
					k.NwProto = ipProtoFragment
					return
				}
			}
		default:
			break ext
		}
	}
	k.NwProto = next
	k.NwFrag = frag

	if next != IPProtoICMP6 {
		extractPorts(pl, next, k)
		return
	}
	if len(pl) < icmpMinLen {
		return
	}
	k.TpSrc = uint16(pl[0])
	k.TpDst = uint16(pl[1])
	if pl[1] == 0 && (pl[0] == icmp6NS || pl[0] == icmp6NA) {
		extractND(pl[icmpMinLen:], k)
	}
}

// extractND parses the body of a neighbour solicitation or advertisement
// after its 8-byte ICMPv6 header: the target address, then options.
func extractND(p []byte, k *Key) {
	if len(p) < ndTargetLen {
		return
	}
	target := p[:ndTargetLen]
	p = p[ndTargetLen:]
	var sll, tll []byte
	// Trailing bytes shorter than an option are ignored, as OVS does.
	for len(p) >= ndOptUnit {
		n := int(p[1]) * ndOptUnit
		if n == 0 || n > len(p) {
			return
		}
		if n == ndOptUnit {
			switch p[0] {
			case ndOptSrcLL:
				if sll != nil {
					return
				}
				sll = p[2:8]
			case ndOptTgtLL:
				if tll != nil {
					return
				}
				tll = p[2:8]
			}
		}
		p = p[n:]
	}
	copy(k.NDTarget[:], target)
	copy(k.ArpSha[:], sll)
	copy(k.ArpTha[:], tll)
}

// extractPorts fills the L4 fields of TCP, UDP and SCTP from l4, which is
// bounded by the IP payload length.
func extractPorts(l4 []byte, proto uint8, k *Key) {
	switch proto {
	case IPProtoTCP:
		if len(l4) < tcpMinLen {
			return
		}
		doff := int(l4[12]>>4) * 4
		if doff < tcpMinLen || doff > len(l4) {
			return
		}
		k.TpSrc = binary.BigEndian.Uint16(l4[0:])
		k.TpDst = binary.BigEndian.Uint16(l4[2:])
		k.TCPFlags = binary.BigEndian.Uint16(l4[12:]) & 0x0fff
	case IPProtoUDP:
		if len(l4) < udpLen {
			return
		}
		k.TpSrc = binary.BigEndian.Uint16(l4[0:])
		k.TpDst = binary.BigEndian.Uint16(l4[2:])
	case IPProtoSCTP:
		if len(l4) < sctpMinLen {
			return
		}
		k.TpSrc = binary.BigEndian.Uint16(l4[0:])
		k.TpDst = binary.BigEndian.Uint16(l4[2:])
	}
}
