package openflow

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strconv"

	"vswitch/flowtable"
)

// String prints the flow in add-flow syntax that ParseFlow reads back to an
// equal flow: "table=0,priority=0,actions=NORMAL". Like ovs-ofctl it
// leaves out a zero cookie, zero timeouts and the default priority; the
// table is always given. Ports are printed by number.
func (f *Flow) String() string {
	b := make([]byte, 0, 96)
	if f.Cookie != 0 {
		b = append(b, "cookie=0x"...)
		b = strconv.AppendUint(b, f.Cookie, 16)
		b = append(b, ',')
	}
	b = append(b, "table="...)
	b = strconv.AppendUint(b, uint64(f.Table), 10)
	b = append(b, ',')
	if f.IdleTimeout != 0 {
		b = append(b, "idle_timeout="...)
		b = strconv.AppendUint(b, uint64(f.IdleTimeout), 10)
		b = append(b, ',')
	}
	if f.HardTimeout != 0 {
		b = append(b, "hard_timeout="...)
		b = strconv.AppendUint(b, uint64(f.HardTimeout), 10)
		b = append(b, ',')
	}
	if f.Importance != 0 {
		b = append(b, "importance="...)
		b = strconv.AppendUint(b, uint64(f.Importance), 10)
		b = append(b, ',')
	}
	if f.SendFlowRem {
		b = append(b, "send_flow_rem,"...)
	}
	n := len(b)
	b = appendMatch(b, &f.Match, int(f.Priority), nil)
	if len(b) > n {
		b = append(b, ',')
	}
	b = append(b, "actions="...)
	return string(appendActions(b, f.Actions, nil))
}

// MatchString prints the match part of the flow as ovs-ofctl dump-flows
// does: the priority unless it is the default, then the fields in OVS's
// canonical order and spelling ("priority=0", "in_port=1,dl_vlan=10",
// "priority=10,tcp,nw_dst=10.0.0.0/24,tp_dst=80"). Ports are printed by
// name when ports (may be nil) knows them.
func (f *Flow) MatchString(ports PortNamer) string {
	return string(appendMatch(nil, &f.Match, int(f.Priority), ports))
}

// String prints the match fields alone (no priority), in canonical form.
func (m Match) String() string {
	return string(appendMatch(nil, &m, DefaultPriority, nil))
}

// Format prints the match fields alone, naming ports through ports.
func (m *Match) Format(ports PortNamer) string {
	return string(appendMatch(nil, m, DefaultPriority, ports))
}

// appendMatch follows the order and spelling of OVS's match_format: the
// protocol shorthand stands for dl_type (and nw_proto) when one applies,
// and the L3/L4 field names depend on the protocol (arp_spa vs nw_src,
// icmp_type vs tp_src).
func appendMatch(b []byte, m *Match, priority int, ports PortNamer) []byte {
	start := len(b)
	k, mk := &m.Key, &m.Mask
	if priority != DefaultPriority {
		b = append(b, "priority="...)
		b = strconv.AppendInt(b, int64(priority), 10)
		b = append(b, ',')
	}

	dl, proto := -1, -1
	if mk.DlType == 0xffff {
		dl = int(k.DlType)
	}
	if mk.NwProto == 0xff {
		proto = int(k.NwProto)
	}
	skipType, skipProto := false, false
	switch dl {
	case flowtable.EthTypeIPv4, flowtable.EthTypeIPv6:
		skipType = true
		v6 := dl == flowtable.EthTypeIPv6
		var name string
		switch {
		case !v6 && proto == flowtable.IPProtoICMP:
			name = "icmp"
		case v6 && proto == flowtable.IPProtoICMP6:
			name = "icmp6"
		case proto == flowtable.IPProtoTCP:
			name = "tcp"
		case proto == flowtable.IPProtoUDP:
			name = "udp"
		case proto == flowtable.IPProtoSCTP:
			name = "sctp"
		}
		if name != "" {
			skipProto = true
			b = append(b, name...)
			if v6 && name != "icmp6" {
				b = append(b, '6')
			}
		} else if v6 {
			b = append(b, "ipv6"...)
		} else {
			b = append(b, "ip"...)
		}
		b = append(b, ',')
	case flowtable.EthTypeARP:
		skipType = true
		b = append(b, "arp,"...)
	case flowtable.EthTypeRARP:
		skipType = true
		b = append(b, "rarp,"...)
	}
	isARP := dl == flowtable.EthTypeARP || dl == flowtable.EthTypeRARP

	for i, r := range m.MetaMask.Regs {
		if r != 0 {
			b = append(b, "reg"...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, '=')
			b = appendCHex(b, uint64(m.Meta.Regs[i]))
			if r != ^uint32(0) {
				b = append(b, '/')
				b = appendCHex(b, uint64(r))
			}
			b = append(b, ',')
		}
	}

	if mk.TunID != 0 {
		b = append(b, "tun_id="...)
		b = appendCHex(b, k.TunID)
		if mk.TunID != ^uint64(0) {
			b = append(b, '/')
			b = appendCHex(b, mk.TunID)
		}
		b = append(b, ',')
	}
	b = appendIPv4Masked(b, "tun_src", k.TunSrc, mk.TunSrc)
	b = appendIPv4Masked(b, "tun_dst", k.TunDst, mk.TunDst)

	if mm := m.MetaMask.Metadata; mm != 0 {
		b = append(b, "metadata="...)
		b = appendCHex(b, m.Meta.Metadata)
		if mm != ^uint64(0) {
			b = append(b, '/')
			b = appendCHex(b, mm)
		}
		b = append(b, ',')
	}

	if mk.InPort != 0 {
		b = append(b, "in_port="...)
		b = appendPort(b, k.InPort, ports)
		b = append(b, ',')
	}

	if tm := mk.VlanTCI; tm != 0 {
		tci := k.VlanTCI
		vidm, pcpm := tm&0x0fff, tm&0xe000
		if tm&flowtable.TCIPresent != 0 && tci&flowtable.TCIPresent != 0 &&
			(vidm == 0 || vidm == 0x0fff) && (pcpm == 0 || pcpm == 0xe000) && (vidm != 0 || pcpm != 0) {
			if vidm != 0 {
				b = append(b, "dl_vlan="...)
				b = strconv.AppendUint(b, uint64(tci&0x0fff), 10)
				b = append(b, ',')
			}
			if pcpm != 0 {
				b = append(b, "dl_vlan_pcp="...)
				b = strconv.AppendUint(b, uint64(tci>>13), 10)
				b = append(b, ',')
			}
		} else {
			b = append(b, "vlan_tci="...)
			b = appendHex16(b, tci)
			if tm != 0xffff {
				b = append(b, '/')
				b = appendHex16(b, tm)
			}
			b = append(b, ',')
		}
	}

	b = appendMACMasked(b, "dl_src", k.DlSrc, mk.DlSrc)
	b = appendMACMasked(b, "dl_dst", k.DlDst, mk.DlDst)

	if !skipType && mk.DlType != 0 {
		b = append(b, "dl_type="...)
		b = appendHex16(b, k.DlType)
		if mk.DlType != 0xffff {
			b = append(b, '/')
			b = appendHex16(b, mk.DlType)
		}
		b = append(b, ',')
	}

	switch {
	case dl == flowtable.EthTypeIPv6:
		b = appendIPv6Masked(b, "ipv6_src", k.NwSrc, mk.NwSrc)
		b = appendIPv6Masked(b, "ipv6_dst", k.NwDst, mk.NwDst)
		if mk.IPv6Label != 0 {
			b = append(b, "ipv6_label="...)
			b = appendHex20(b, k.IPv6Label)
			if mk.IPv6Label != 0xfffff {
				b = append(b, '/')
				b = appendHex20(b, mk.IPv6Label)
			}
			b = append(b, ',')
		}
	case isARP:
		b = appendIPv4Masked(b, "arp_spa", [4]byte(k.NwSrc[:4]), [4]byte(mk.NwSrc[:4]))
		b = appendIPv4Masked(b, "arp_tpa", [4]byte(k.NwDst[:4]), [4]byte(mk.NwDst[:4]))
	default:
		b = appendIPv4Masked(b, "nw_src", [4]byte(k.NwSrc[:4]), [4]byte(mk.NwSrc[:4]))
		b = appendIPv4Masked(b, "nw_dst", [4]byte(k.NwDst[:4]), [4]byte(mk.NwDst[:4]))
	}

	if !skipProto && mk.NwProto != 0 {
		if isARP {
			b = append(b, "arp_op="...)
		} else {
			b = append(b, "nw_proto="...)
		}
		b = strconv.AppendUint(b, uint64(k.NwProto), 10)
		b = append(b, ',')
	}
	if isARP {
		b = appendMACMasked(b, "arp_sha", k.ArpSha, mk.ArpSha)
		b = appendMACMasked(b, "arp_tha", k.ArpTha, mk.ArpTha)
	}
	if mk.NwTos&0xfc != 0 {
		b = append(b, "nw_tos="...)
		b = strconv.AppendUint(b, uint64(k.NwTos&0xfc), 10)
		b = append(b, ',')
	}
	if mk.NwTos&3 != 0 {
		b = append(b, "nw_ecn="...)
		b = strconv.AppendUint(b, uint64(k.NwTos&3), 10)
		b = append(b, ',')
	}
	if mk.NwTTL != 0 {
		b = append(b, "nw_ttl="...)
		b = strconv.AppendUint(b, uint64(k.NwTTL), 10)
		b = append(b, ',')
	}
	if mk.NwFrag&3 != 0 {
		b = append(b, "nw_frag="...)
		b = append(b, fragName(k.NwFrag, mk.NwFrag)...)
		b = append(b, ',')
	}

	switch {
	case dl == flowtable.EthTypeIPv4 && k.NwProto == flowtable.IPProtoICMP:
		b = appendBE16Masked(b, "icmp_type", k.TpSrc, mk.TpSrc)
		b = appendBE16Masked(b, "icmp_code", k.TpDst, mk.TpDst)
	case dl == flowtable.EthTypeIPv6 && k.NwProto == flowtable.IPProtoICMP6:
		b = appendBE16Masked(b, "icmp_type", k.TpSrc, mk.TpSrc)
		b = appendBE16Masked(b, "icmp_code", k.TpDst, mk.TpDst)
		b = appendIPv6Masked(b, "nd_target", k.NDTarget, mk.NDTarget)
		b = appendMACMasked(b, "nd_sll", k.ArpSha, mk.ArpSha)
		b = appendMACMasked(b, "nd_tll", k.ArpTha, mk.ArpTha)
	default:
		b = appendBE16Masked(b, "tp_src", k.TpSrc, mk.TpSrc)
		b = appendBE16Masked(b, "tp_dst", k.TpDst, mk.TpDst)
	}
	if (dl == flowtable.EthTypeIPv4 || dl == flowtable.EthTypeIPv6) && proto == flowtable.IPProtoTCP && mk.TCPFlags&tcpFlagsMask != 0 {
		b = append(b, "tcp_flags="...)
		b = appendTCPFlags(b, k.TCPFlags, mk.TCPFlags)
		b = append(b, ',')
	}

	if len(b) > start && b[len(b)-1] == ',' {
		b = b[:len(b)-1]
	}
	return b
}

// appendCHex prints like C's "%#x": "0" for zero, else 0x-prefixed hex.
func appendCHex(b []byte, v uint64) []byte {
	if v == 0 {
		return append(b, '0')
	}
	b = append(b, "0x"...)
	return strconv.AppendUint(b, v, 16)
}

// appendHex20 prints "0x%05x", as OVS prints IPv6 flow labels.
func appendHex20(b []byte, v uint32) []byte {
	const hex = "0123456789abcdef"
	return append(b, '0', 'x', hex[v>>16&15], hex[v>>12&15], hex[v>>8&15], hex[v>>4&15], hex[v&15])
}

// appendHex16 prints "0x%04x".
func appendHex16(b []byte, v uint16) []byte {
	const hex = "0123456789abcdef"
	return append(b, '0', 'x', hex[v>>12], hex[v>>8&15], hex[v>>4&15], hex[v&15])
}

func appendBE16Masked(b []byte, name string, v, mask uint16) []byte {
	if mask == 0 {
		return b
	}
	b = append(b, name...)
	b = append(b, '=')
	if mask == 0xffff {
		b = strconv.AppendUint(b, uint64(v), 10)
	} else {
		b = appendHex16(b, v)
		b = append(b, '/')
		b = appendHex16(b, mask)
	}
	return append(b, ',')
}

func appendMAC(b []byte, a [6]byte) []byte {
	const hex = "0123456789abcdef"
	for i, c := range a {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[c>>4], hex[c&15])
	}
	return b
}

func appendMACMasked(b []byte, name string, v, mask [6]byte) []byte {
	if mask == ([6]byte{}) {
		return b
	}
	b = append(b, name...)
	b = append(b, '=')
	b = appendMAC(b, v)
	if mask != [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} {
		b = append(b, '/')
		b = appendMAC(b, mask)
	}
	return append(b, ',')
}

// cidrLen returns the prefix length of a contiguous mask, or -1.
func cidrLen(mask []byte) int {
	n := 0
	for i, c := range mask {
		if c == 0xff {
			n += 8
			continue
		}
		ones := bits.LeadingZeros8(^c)
		if c != byte(0xff<<(8-ones)) {
			return -1
		}
		n += ones
		for _, r := range mask[i+1:] {
			if r != 0 {
				return -1
			}
		}
		break
	}
	return n
}

func appendIPv4Masked(b []byte, name string, v, mask [4]byte) []byte {
	if mask == ([4]byte{}) {
		return b
	}
	b = append(b, name...)
	b = append(b, '=')
	b = appendIPv4Value(b, v, mask)
	return append(b, ',')
}

// appendIPv4Value prints a.b.c.d, with /N or /m.m.m.m unless the mask is
// all ones.
func appendIPv4Value(b []byte, v, mask [4]byte) []byte {
	b = netip.AddrFrom4(v).AppendTo(b)
	if binary.BigEndian.Uint32(mask[:]) != ^uint32(0) {
		b = append(b, '/')
		if n := cidrLen(mask[:]); n >= 0 {
			b = strconv.AppendInt(b, int64(n), 10)
		} else {
			b = netip.AddrFrom4(mask).AppendTo(b)
		}
	}
	return b
}

func appendIPv6Masked(b []byte, name string, v, mask [16]byte) []byte {
	if mask == ([16]byte{}) {
		return b
	}
	b = append(b, name...)
	b = append(b, '=')
	b = appendIPv6Value(b, v, mask)
	return append(b, ',')
}

func appendIPv6Value(b []byte, v, mask [16]byte) []byte {
	b = netip.AddrFrom16(v).AppendTo(b)
	if n := cidrLen(mask[:]); n != 128 {
		b = append(b, '/')
		if n >= 0 {
			b = strconv.AppendInt(b, int64(n), 10)
		} else {
			b = netip.AddrFrom16(mask).AppendTo(b)
		}
	}
	return b
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
