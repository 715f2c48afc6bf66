package openflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"vswitch/flowtable"
)

// shorthands are the protocol keywords that stand for dl_type (and
// nw_proto) values.
var shorthands = map[string]struct {
	dlType uint16
	proto  int // -1: none
}{
	"ip":    {flowtable.EthTypeIPv4, -1},
	"ipv6":  {flowtable.EthTypeIPv6, -1},
	"arp":   {flowtable.EthTypeARP, -1},
	"rarp":  {flowtable.EthTypeRARP, -1},
	"icmp":  {flowtable.EthTypeIPv4, flowtable.IPProtoICMP},
	"tcp":   {flowtable.EthTypeIPv4, flowtable.IPProtoTCP},
	"udp":   {flowtable.EthTypeIPv4, flowtable.IPProtoUDP},
	"sctp":  {flowtable.EthTypeIPv4, flowtable.IPProtoSCTP},
	"icmp6": {flowtable.EthTypeIPv6, flowtable.IPProtoICMP6},
	"tcp6":  {flowtable.EthTypeIPv6, flowtable.IPProtoTCP},
	"udp6":  {flowtable.EthTypeIPv6, flowtable.IPProtoUDP},
	"sctp6": {flowtable.EthTypeIPv6, flowtable.IPProtoSCTP},
}

// prereq is what a field needs matched before it may be matched itself.
type prereq uint8

const (
	preNone     prereq = iota
	preIPv4            // ip_src: dl_type=0x0800
	preIPv4ARP         // nw_src: IPv4, or ARP/RARP (then it is arp_spa)
	preIPAnyARP        // nw_proto: IPv4/IPv6, or ARP/RARP (then it is arp_op)
	preIPAny           // nw_tos, nw_ttl: IPv4 or IPv6
	preIPv6            // ipv6_src
	preARP             // arp_*: ARP or RARP
	preL4              // tp_*: TCP, UDP or SCTP over IPv4/IPv6
	preTCP
	preUDP
	preSCTP
	preICMPAny // icmp_type: ICMP or ICMPv6
	preICMP6   // icmpv6_type
	preICMP4   // set_field to icmp_type: ICMP over IPv4
	preND      // nd_target: ICMPv6 neighbour solicitation or advertisement
	preNDSol   // nd_sll: ICMPv6 neighbour solicitation
	preNDAdv   // nd_tll: ICMPv6 neighbour advertisement
)

func (p prereq) check(m *Match, name string) error {
	dl, proto := uint16(0), -1
	if m.Mask.DlType == 0xffff {
		dl = m.Key.DlType
	}
	if m.Mask.NwProto == 0xff {
		proto = int(m.Key.NwProto)
	}
	ip4 := dl == flowtable.EthTypeIPv4
	ip6 := dl == flowtable.EthTypeIPv6
	arp := dl == flowtable.EthTypeARP || dl == flowtable.EthTypeRARP
	var ok bool
	var need string
	switch p {
	case preNone:
		return nil
	case preIPv4:
		ok, need = ip4, "ip (dl_type=0x0800)"
	case preIPv4ARP:
		ok, need = ip4 || arp, "ip or arp (dl_type=0x0800/0x0806)"
	case preIPAnyARP:
		ok, need = ip4 || ip6 || arp, "ip, ipv6 or arp (dl_type=0x0800/0x86dd/0x0806)"
	case preIPAny:
		ok, need = ip4 || ip6, "ip or ipv6 (dl_type=0x0800/0x86dd)"
	case preIPv6:
		ok, need = ip6, "ipv6 (dl_type=0x86dd)"
	case preARP:
		ok, need = arp, "arp or rarp (dl_type=0x0806/0x8035)"
	case preL4:
		ok = (ip4 || ip6) && (proto == flowtable.IPProtoTCP || proto == flowtable.IPProtoUDP || proto == flowtable.IPProtoSCTP)
		need = "tcp, udp or sctp (nw_proto=6/17/132)"
	case preTCP:
		ok, need = (ip4 || ip6) && proto == flowtable.IPProtoTCP, "tcp or tcp6 (nw_proto=6)"
	case preUDP:
		ok, need = (ip4 || ip6) && proto == flowtable.IPProtoUDP, "udp or udp6 (nw_proto=17)"
	case preSCTP:
		ok, need = (ip4 || ip6) && proto == flowtable.IPProtoSCTP, "sctp or sctp6 (nw_proto=132)"
	case preICMPAny:
		ok = ip4 && proto == flowtable.IPProtoICMP || ip6 && proto == flowtable.IPProtoICMP6
		need = "icmp or icmp6 (nw_proto=1/58)"
	case preICMP6:
		ok, need = ip6 && proto == flowtable.IPProtoICMP6, "icmp6 (dl_type=0x86dd,nw_proto=58)"
	case preICMP4:
		ok, need = ip4 && proto == flowtable.IPProtoICMP, "icmp (dl_type=0x0800,nw_proto=1)"
	case preND, preNDSol, preNDAdv:
		// As in OVS: the ICMPv6 type must be matched exactly and the
		// code, if matched, must be zero.
		t := -1
		if m.Mask.TpSrc == 0xffff {
			t = int(m.Key.TpSrc)
		}
		ok = ip6 && proto == flowtable.IPProtoICMP6 && m.Key.TpDst&m.Mask.TpDst == 0
		switch p {
		case preND:
			ok = ok && (t == 135 || t == 136)
			need = "icmp6 with icmp_type=135 or icmp_type=136 (neighbor discovery)"
		case preNDSol:
			ok = ok && t == 135
			need = "icmp6 with icmp_type=135 (neighbor solicitation)"
		case preNDAdv:
			ok = ok && t == 136
			need = "icmp6 with icmp_type=136 (neighbor advertisement)"
		}
	}
	if ok {
		return nil
	}
	return fmt.Errorf("%s requires %s", name, need)
}

type fieldSpec struct {
	pre   prereq
	parse func(m *Match, v string, ports PortNamer) error
}

// fields maps every accepted match field name, OVS aliases included, to
// its parser. Filled in init because the parsers refer to helpers that
// would otherwise form an initialisation cycle with the map.
var fields map[string]fieldSpec

func init() {
	u8 := func(get func(m *Match) (*uint8, *uint8), max uint64) func(*Match, string, PortNamer) error {
		return func(m *Match, v string, _ PortNamer) error {
			n, err := parseNum(v, max)
			if err != nil {
				return err
			}
			k, mk := get(m)
			*k, *mk = uint8(n), 0xff
			return nil
		}
	}
	masked16 := func(get func(m *Match) (*uint16, *uint16)) func(*Match, string, PortNamer) error {
		return func(m *Match, v string, _ PortNamer) error {
			n, mask, err := parseMaskedNum(v, 0xffff)
			if err != nil {
				return err
			}
			k, mk := get(m)
			*k, *mk = uint16(n), uint16(mask)
			return nil
		}
	}
	icmp := func(get func(m *Match) (*uint16, *uint16)) func(*Match, string, PortNamer) error {
		return func(m *Match, v string, _ PortNamer) error {
			n, err := parseNum(v, 0xff)
			if err != nil {
				return err
			}
			k, mk := get(m)
			*k, *mk = uint16(n), 0xffff
			return nil
		}
	}
	mac := func(get func(m *Match) (*[6]byte, *[6]byte)) func(*Match, string, PortNamer) error {
		return func(m *Match, v string, _ PortNamer) error {
			val, mask, err := parseMaskedMAC(v)
			if err != nil {
				return err
			}
			k, mk := get(m)
			*k, *mk = val, mask
			return nil
		}
	}
	ip4 := func(get func(m *Match) (*[16]byte, *[16]byte)) func(*Match, string, PortNamer) error {
		return func(m *Match, v string, _ PortNamer) error {
			val, mask, err := parseMaskedIPv4(v)
			if err != nil {
				return err
			}
			k, mk := get(m)
			*k, *mk = [16]byte{}, [16]byte{}
			copy(k[:4], val[:])
			copy(mk[:4], mask[:])
			return nil
		}
	}
	ip6 := func(get func(m *Match) (*[16]byte, *[16]byte)) func(*Match, string, PortNamer) error {
		return func(m *Match, v string, _ PortNamer) error {
			val, mask, err := parseMaskedIPv6(v)
			if err != nil {
				return err
			}
			k, mk := get(m)
			*k, *mk = val, mask
			return nil
		}
	}
	tun4 := func(get func(m *Match) (*[4]byte, *[4]byte)) func(*Match, string, PortNamer) error {
		return func(m *Match, v string, _ PortNamer) error {
			val, mask, err := parseMaskedIPv4(v)
			if err != nil {
				return err
			}
			k, mk := get(m)
			*k, *mk = val, mask
			return nil
		}
	}

	nwSrc := func(m *Match) (*[16]byte, *[16]byte) { return &m.Key.NwSrc, &m.Mask.NwSrc }
	nwDst := func(m *Match) (*[16]byte, *[16]byte) { return &m.Key.NwDst, &m.Mask.NwDst }
	proto := func(m *Match) (*uint8, *uint8) { return &m.Key.NwProto, &m.Mask.NwProto }
	ttl := func(m *Match) (*uint8, *uint8) { return &m.Key.NwTTL, &m.Mask.NwTTL }
	tpSrc := func(m *Match) (*uint16, *uint16) { return &m.Key.TpSrc, &m.Mask.TpSrc }
	tpDst := func(m *Match) (*uint16, *uint16) { return &m.Key.TpDst, &m.Mask.TpDst }
	dlSrc := func(m *Match) (*[6]byte, *[6]byte) { return &m.Key.DlSrc, &m.Mask.DlSrc }
	dlDst := func(m *Match) (*[6]byte, *[6]byte) { return &m.Key.DlDst, &m.Mask.DlDst }
	sha := func(m *Match) (*[6]byte, *[6]byte) { return &m.Key.ArpSha, &m.Mask.ArpSha }
	tha := func(m *Match) (*[6]byte, *[6]byte) { return &m.Key.ArpTha, &m.Mask.ArpTha }

	fields = map[string]fieldSpec{
		"in_port": {preNone, func(m *Match, v string, ports PortNamer) error {
			p, err := parsePort(v, ports)
			if err != nil {
				return err
			}
			m.Key.InPort, m.Mask.InPort = p, ^uint32(0)
			return nil
		}},
		"dl_src":   {preNone, mac(dlSrc)},
		"eth_src":  {preNone, mac(dlSrc)},
		"dl_dst":   {preNone, mac(dlDst)},
		"eth_dst":  {preNone, mac(dlDst)},
		"dl_type":  {preNone, parseDlType},
		"eth_type": {preNone, parseDlType},

		"dl_vlan":     {preNone, parseDlVlan(true)},
		"vlan_vid":    {preNone, parseDlVlan(false)},
		"dl_vlan_pcp": {preNone, parseVlanPcp},
		"vlan_pcp":    {preNone, parseVlanPcp},
		"vlan_tci":    {preNone, parseVlanTCI},

		"nw_src":  {preIPv4ARP, ip4(nwSrc)},
		"nw_dst":  {preIPv4ARP, ip4(nwDst)},
		"ip_src":  {preIPv4, ip4(nwSrc)},
		"ip_dst":  {preIPv4, ip4(nwDst)},
		"arp_spa": {preARP, ip4(nwSrc)},
		"arp_tpa": {preARP, ip4(nwDst)},

		"ipv6_src":   {preIPv6, ip6(nwSrc)},
		"ipv6_dst":   {preIPv6, ip6(nwDst)},
		"ipv6_label": {preIPv6, parseIPv6Label},

		"nw_proto": {preIPAnyARP, u8(proto, 0xff)},
		"ip_proto": {preIPAny, u8(proto, 0xff)},
		"arp_op":   {preARP, u8(proto, 0xff)},
		"nw_tos":   {preIPAny, parseNwTos},
		"ip_dscp":  {preIPAny, parseIPDscp},
		"nw_ecn":   {preIPAny, parseNwEcn},
		"ip_ecn":   {preIPAny, parseNwEcn},
		"nw_ttl":   {preIPAny, u8(ttl, 0xff)},

		"tp_src":   {preL4, masked16(tpSrc)},
		"tp_dst":   {preL4, masked16(tpDst)},
		"tcp_src":  {preTCP, masked16(tpSrc)},
		"tcp_dst":  {preTCP, masked16(tpDst)},
		"udp_src":  {preUDP, masked16(tpSrc)},
		"udp_dst":  {preUDP, masked16(tpDst)},
		"sctp_src": {preSCTP, masked16(tpSrc)},
		"sctp_dst": {preSCTP, masked16(tpDst)},

		"icmp_type":    {preICMPAny, icmp(tpSrc)},
		"icmp_code":    {preICMPAny, icmp(tpDst)},
		"icmpv4_type":  {preICMPAny, icmp(tpSrc)},
		"icmpv4_code":  {preICMPAny, icmp(tpDst)},
		"icmpv6_type":  {preICMP6, icmp(tpSrc)},
		"icmpv6_code":  {preICMP6, icmp(tpDst)},
		"arp_sha":      {preARP, mac(sha)},
		"arp_tha":      {preARP, mac(tha)},
		"tun_id":       {preNone, parseTunID},
		"tunnel_id":    {preNone, parseTunID},
		"tun_src":      {preNone, tun4(func(m *Match) (*[4]byte, *[4]byte) { return &m.Key.TunSrc, &m.Mask.TunSrc })},
		"tun_dst":      {preNone, tun4(func(m *Match) (*[4]byte, *[4]byte) { return &m.Key.TunDst, &m.Mask.TunDst })},
		"tun_ipv4_src": {preNone, tun4(func(m *Match) (*[4]byte, *[4]byte) { return &m.Key.TunSrc, &m.Mask.TunSrc })},
		"tun_ipv4_dst": {preNone, tun4(func(m *Match) (*[4]byte, *[4]byte) { return &m.Key.TunDst, &m.Mask.TunDst })},

		"ip_frag":   {preIPAny, parseFragMatch},
		"nw_frag":   {preIPAny, parseFragMatch},
		"tcp_flags": {preTCP, parseTCPFlagsMatch},
		"nd_target": {preND, ip6(func(m *Match) (*[16]byte, *[16]byte) { return &m.Key.NDTarget, &m.Mask.NDTarget })},
		"nd_sll":    {preNDSol, mac(sha)},
		"nd_tll":    {preNDAdv, mac(tha)},
		"metadata": {preNone, func(m *Match, v string, _ PortNamer) error {
			n, mask, err := parseMaskedNum(v, ^uint64(0))
			if err != nil {
				return err
			}
			m.Meta.Metadata, m.MetaMask.Metadata = n, mask
			return nil
		}},
	}
	for i := range 16 {
		fields["reg"+itoa(uint64(i))] = fieldSpec{preNone, func(m *Match, v string, _ PortNamer) error {
			n, mask, err := parseMaskedNum(v, 0xffffffff)
			if err != nil {
				return err
			}
			m.Meta.Regs[i], m.MetaMask.Regs[i] = uint32(n), uint32(mask)
			return nil
		}}
	}
}

func parseFragMatch(m *Match, v string, _ PortNamer) error {
	val, mask, err := parseFrag(v)
	if err != nil {
		return err
	}
	m.Key.NwFrag, m.Mask.NwFrag = val, mask
	return nil
}

func parseTCPFlagsMatch(m *Match, v string, _ PortNamer) error {
	val, mask, err := parseTCPFlags(v)
	if err != nil {
		return err
	}
	m.Key.TCPFlags, m.Mask.TCPFlags = val, mask
	return nil
}

// parseFrag reads an ip_frag value: no (not a fragment), yes (a
// fragment), first (the first fragment), later (a later fragment) or
// not_later (not a fragment, or the first).
func parseFrag(s string) (val, mask uint8, err error) {
	const any, later = flowtable.FragAny, flowtable.FragLater
	switch s {
	case "no":
		return 0, any | later, nil
	case "yes":
		return any, any, nil
	case "first":
		return any, any | later, nil
	case "later":
		return any | later, any | later, nil
	case "not_later":
		return 0, later, nil
	}
	return 0, 0, errors.New("must be no, yes, first, later or not_later")
}

// fragName is parseFrag's inverse, as OVS prints nw_frag.
func fragName(val, mask uint8) string {
	const any, later = flowtable.FragAny, flowtable.FragLater
	switch mask & (any | later) {
	case any | later:
		switch val & (any | later) {
		case 0:
			return "no"
		case any:
			return "first"
		case any | later:
			return "later"
		}
		return "<error>"
	case any:
		if val&any != 0 {
			return "yes"
		}
		return "no"
	case later:
		if val&later != 0 {
			return "later"
		}
		return "not_later"
	}
	return ""
}

// tcpFlagNames are the 12 TCP flag bits, least significant first, named
// as OVS names them (the three reserved bits by their value).
var tcpFlagNames = [12]string{"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]"}

const tcpFlagsMask = 0x0fff

// parseTCPFlags reads a tcp_flags value in any of OVS's forms: a number
// with an optional mask (0x012/0x0fff), flags to be set and cleared
// (+syn-ack: syn set, ack clear, the rest ignored), or a list of flags
// that must be exactly the ones set (syn|ack).
func parseTCPFlags(s string) (val, mask uint16, err error) {
	if s == "" {
		return 0, 0, errors.New("empty TCP flags")
	}
	if s[0] >= '0' && s[0] <= '9' {
		v, m, err := parseMaskedNum(s, tcpFlagsMask)
		return uint16(v), uint16(m), err
	}
	flag := func(name string) (uint16, error) {
		for i, n := range tcpFlagNames {
			if n == name {
				return 1 << i, nil
			}
		}
		return 0, fmt.Errorf("unknown TCP flag %q", name)
	}
	if s[0] == '+' || s[0] == '-' {
		for len(s) > 0 {
			set := s[0] == '+'
			if !set && s[0] != '-' {
				return 0, 0, fmt.Errorf("expected + or - before %q", s)
			}
			s = s[1:]
			end := strings.IndexAny(s, "+-")
			if end < 0 {
				end = len(s)
			}
			bit, err := flag(s[:end])
			if err != nil {
				return 0, 0, err
			}
			if mask&bit != 0 {
				return 0, 0, fmt.Errorf("TCP flag %q given twice", s[:end])
			}
			mask |= bit
			if set {
				val |= bit
			}
			s = s[end:]
		}
		return val, mask, nil
	}
	for name := range strings.SplitSeq(s, "|") {
		bit, err := flag(name)
		if err != nil {
			return 0, 0, err
		}
		val |= bit
	}
	return val, tcpFlagsMask, nil
}

// appendTCPFlags prints TCP flags as OVS does: "syn|ack" (or "0") under
// the full mask, else the matched bits as +flag/-flag, lowest first.
func appendTCPFlags(b []byte, val, mask uint16) []byte {
	mask &= tcpFlagsMask
	if mask == tcpFlagsMask {
		if val&mask == 0 {
			return append(b, '0')
		}
		first := true
		for i, n := range tcpFlagNames {
			if val&(1<<i) != 0 {
				if !first {
					b = append(b, '|')
				}
				b = append(b, n...)
				first = false
			}
		}
		return b
	}
	if mask == 0 {
		return append(b, "0/0"...)
	}
	for i, n := range tcpFlagNames {
		if mask&(1<<i) == 0 {
			continue
		}
		if val&(1<<i) != 0 {
			b = append(b, '+')
		} else {
			b = append(b, '-')
		}
		b = append(b, n...)
	}
	return b
}

func parseDlType(m *Match, v string, _ PortNamer) error {
	n, err := parseNum(v, 0xffff)
	if err != nil {
		return err
	}
	m.Key.DlType, m.Mask.DlType = uint16(n), 0xffff
	return nil
}

// parseDlVlan sets the VLAN ID with the tag-present bit, as OVS does:
// dl_vlan=N matches TCI N|0x1000 under mask 0x1fff; dl_vlan=0xffff
// (OpenFlow 1.0's "no VLAN") matches an untagged packet, TCI 0 under mask
// 0xffff. vlan_vid has no such special value.
func parseDlVlan(allowNone bool) func(m *Match, v string, _ PortNamer) error {
	return func(m *Match, v string, _ PortNamer) error {
		n, err := parseNum(v, 0xffff)
		if allowNone && err == nil && n == 0xffff {
			m.Key.VlanTCI, m.Mask.VlanTCI = 0, 0xffff
			return nil
		}
		if err != nil || n > 0xfff {
			if allowNone {
				return errors.New("must be 0-4095, or 0xffff for no VLAN tag")
			}
			return errors.New("must be 0-4095")
		}
		m.Key.VlanTCI = m.Key.VlanTCI&^0x1fff | uint16(n) | flowtable.TCIPresent
		m.Mask.VlanTCI |= 0x1fff
		return nil
	}
}

func parseVlanPcp(m *Match, v string, _ PortNamer) error {
	n, err := parseNum(v, 7)
	if err != nil {
		return err
	}
	m.Key.VlanTCI = m.Key.VlanTCI&^0xe000 | uint16(n)<<13 | flowtable.TCIPresent
	m.Mask.VlanTCI |= 0xf000
	return nil
}

func parseVlanTCI(m *Match, v string, _ PortNamer) error {
	n, mask, err := parseMaskedNum(v, 0xffff)
	if err != nil {
		return err
	}
	m.Key.VlanTCI, m.Mask.VlanTCI = uint16(n), uint16(mask)
	return nil
}

// nw_tos is the DSCP part of the ToS byte, written in place (low two bits
// zero); ip_dscp is the same field written as the 6-bit DSCP value.
func parseNwTos(m *Match, v string, _ PortNamer) error {
	n, err := parseNum(v, 0xff)
	if err != nil {
		return err
	}
	if n&3 != 0 {
		return errors.New("the two low (ECN) bits must be zero; match them with nw_ecn")
	}
	m.Key.NwTos = m.Key.NwTos&3 | uint8(n)
	m.Mask.NwTos |= 0xfc
	return nil
}

func parseIPDscp(m *Match, v string, _ PortNamer) error {
	n, err := parseNum(v, 63)
	if err != nil {
		return err
	}
	m.Key.NwTos = m.Key.NwTos&3 | uint8(n)<<2
	m.Mask.NwTos |= 0xfc
	return nil
}

func parseNwEcn(m *Match, v string, _ PortNamer) error {
	n, err := parseNum(v, 3)
	if err != nil {
		return err
	}
	m.Key.NwTos = m.Key.NwTos&0xfc | uint8(n)
	m.Mask.NwTos |= 3
	return nil
}

func parseIPv6Label(m *Match, v string, _ PortNamer) error {
	n, mask, err := parseMaskedNum(v, 0xfffff)
	if err != nil {
		return err
	}
	m.Key.IPv6Label, m.Mask.IPv6Label = uint32(n), uint32(mask)
	return nil
}

func parseTunID(m *Match, v string, _ PortNamer) error {
	n, mask, err := parseMaskedNum(v, ^uint64(0))
	if err != nil {
		return err
	}
	m.Key.TunID, m.Mask.TunID = n, mask
	return nil
}

// parseMaskedNum reads "V" or "V/M"; a missing mask is all ones (max).
func parseMaskedNum(s string, max uint64) (uint64, uint64, error) {
	vs, ms, masked := strings.Cut(s, "/")
	v, err := parseNum(vs, max)
	if err != nil {
		return 0, 0, err
	}
	mask := max
	if masked {
		if mask, err = parseNum(ms, max); err != nil {
			return 0, 0, fmt.Errorf("mask %w", err)
		}
	}
	return v & mask, mask, nil
}

// parseMAC reads xx:xx:xx:xx:xx:xx (one or two hex digits per byte).
func parseMAC(s string) ([6]byte, error) {
	var a [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return a, errors.New("not an Ethernet address (xx:xx:xx:xx:xx:xx)")
	}
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return a, errors.New("not an Ethernet address (xx:xx:xx:xx:xx:xx)")
		}
		n, err := parseNum("0x"+p, 0xff)
		if err != nil {
			return a, errors.New("not an Ethernet address (xx:xx:xx:xx:xx:xx)")
		}
		a[i] = byte(n)
	}
	return a, nil
}

func parseMaskedMAC(s string) (val, mask [6]byte, err error) {
	vs, ms, masked := strings.Cut(s, "/")
	if val, err = parseMAC(vs); err != nil {
		return
	}
	mask = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if masked {
		if mask, err = parseMAC(ms); err != nil {
			return
		}
	}
	for i := range val {
		val[i] &= mask[i]
	}
	return
}

// parseMaskedIPv4 reads a.b.c.d, a.b.c.d/N or a.b.c.d/m.m.m.m.
func parseMaskedIPv4(s string) (val, mask [4]byte, err error) {
	as, ms, masked := strings.Cut(s, "/")
	a, perr := netip.ParseAddr(as)
	if perr != nil || !a.Is4() {
		return val, mask, errors.New("not an IPv4 address")
	}
	val = a.As4()
	mask = [4]byte{0xff, 0xff, 0xff, 0xff}
	if masked {
		if strings.Contains(ms, ".") {
			ma, perr := netip.ParseAddr(ms)
			if perr != nil || !ma.Is4() {
				return val, mask, errors.New("bad IPv4 mask")
			}
			mask = ma.As4()
		} else {
			n, perr := parseNum(ms, 32)
			if perr != nil || strings.HasPrefix(ms, "0x") {
				return val, mask, errors.New("prefix length must be 0-32")
			}
			binary.BigEndian.PutUint32(mask[:], ^uint32(0)<<(32-n)&0xffffffff)
			if n == 0 {
				mask = [4]byte{}
			}
		}
	}
	for i := range val {
		val[i] &= mask[i]
	}
	return val, mask, nil
}

// parseMaskedIPv6 reads an IPv6 address with an optional /N prefix length
// or /mask address.
func parseMaskedIPv6(s string) (val, mask [16]byte, err error) {
	as, ms, masked := strings.Cut(s, "/")
	a, perr := netip.ParseAddr(as)
	if perr != nil || !a.Is6() || a.Zone() != "" {
		return val, mask, errors.New("not an IPv6 address")
	}
	val = a.As16()
	for i := range mask {
		mask[i] = 0xff
	}
	if masked {
		if strings.Contains(ms, ":") {
			ma, perr := netip.ParseAddr(ms)
			if perr != nil || !ma.Is6() || ma.Zone() != "" {
				return val, mask, errors.New("bad IPv6 mask")
			}
			mask = ma.As16()
		} else {
			n, perr := parseNum(ms, 128)
			if perr != nil || strings.HasPrefix(ms, "0x") {
				return val, mask, errors.New("prefix length must be 0-128")
			}
			mask = prefixMask16(int(n))
		}
	}
	for i := range val {
		val[i] &= mask[i]
	}
	return val, mask, nil
}

func prefixMask16(n int) [16]byte {
	var m [16]byte
	for i := 0; i < 16; i++ {
		switch {
		case n >= 8:
			m[i] = 0xff
			n -= 8
		case n > 0:
			m[i] = byte(0xff << (8 - n))
			n = 0
		}
	}
	return m
}
