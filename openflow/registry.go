package openflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"vswitch/flowtable"
)

// Field names one packet or pipeline field that set_field, load and move
// can read and write: a flowtable.Key field, a part of one (the DSCP bits
// of the ToS byte), the metadata or a register. Values are big integers of
// Bits() bits in network order: bit 0 is the least significant bit of the
// last byte (an Ethernet address 00:00:00:00:00:01 is the value 1).
type Field uint8

// Fields, in no particular order; the zero value is invalid.
const (
	FieldNone Field = iota
	FieldInPort
	FieldMetadata
	FieldReg0
	FieldReg1
	FieldReg2
	FieldReg3
	FieldReg4
	FieldReg5
	FieldReg6
	FieldReg7
	FieldReg8
	FieldReg9
	FieldReg10
	FieldReg11
	FieldReg12
	FieldReg13
	FieldReg14
	FieldReg15
	FieldTunID
	FieldTunSrc
	FieldTunDst
	FieldEthSrc
	FieldEthDst
	FieldEthType
	FieldVlanTCI
	FieldVlanVID // the 12-bit VLAN ID; writing it sets the tag-present bit
	FieldVlanPCP // the 3-bit priority; writing it sets the tag-present bit
	FieldIPSrc
	FieldIPDst
	FieldIPv6Src
	FieldIPv6Dst
	FieldIPv6Label
	FieldIPProto
	FieldNwTos // the ToS byte with its ECN bits masked off (nw_tos)
	FieldIPDSCP
	FieldIPECN
	FieldNwTTL
	FieldIPFrag
	FieldARPOp
	FieldARPSPA
	FieldARPTPA
	FieldARPSHA
	FieldARPTHA
	FieldTpSrc // TCP, UDP or SCTP source port
	FieldTpDst
	FieldTCPSrc
	FieldTCPDst
	FieldTCPFlags
	FieldUDPSrc
	FieldUDPDst
	FieldSCTPSrc
	FieldSCTPDst
	FieldICMPType // ICMPv4
	FieldICMPCode
	FieldICMPv6Type
	FieldICMPv6Code
	FieldNDTarget
	FieldNDSLL
	FieldNDTLL
	numFields
)

// valueKind is how a field's values are written in flow text.
type valueKind uint8

const (
	kindHex   valueKind = iota // 0x-prefixed hexadecimal (decimal accepted)
	kindDec                    // decimal (0x-prefixed hexadecimal accepted)
	kindMAC                    // xx:xx:xx:xx:xx:xx
	kindIPv4                   // a.b.c.d
	kindIPv6                   // IPv6 address
	kindPort                   // OpenFlow port number or name
	kindFrag                   // no, yes, first, later, not_later
	kindFlags                  // TCP flags
)

type fieldInfo struct {
	name string // OVS's canonical name
	nxm  string // the NXM/OXM name load and move print; "" for none
	bits int
	pre  prereq
	kind valueKind
	ro   bool // OVS does not let actions write it
}

var fieldInfos = [numFields]fieldInfo{
	FieldInPort:     {"in_port", "NXM_OF_IN_PORT", 16, preNone, kindPort, false},
	FieldMetadata:   {"metadata", "OXM_OF_METADATA", 64, preNone, kindHex, false},
	FieldTunID:      {"tun_id", "NXM_NX_TUN_ID", 64, preNone, kindHex, false},
	FieldTunSrc:     {"tun_src", "NXM_NX_TUN_IPV4_SRC", 32, preNone, kindIPv4, false},
	FieldTunDst:     {"tun_dst", "NXM_NX_TUN_IPV4_DST", 32, preNone, kindIPv4, false},
	FieldEthSrc:     {"eth_src", "NXM_OF_ETH_SRC", 48, preNone, kindMAC, false},
	FieldEthDst:     {"eth_dst", "NXM_OF_ETH_DST", 48, preNone, kindMAC, false},
	FieldEthType:    {"eth_type", "NXM_OF_ETH_TYPE", 16, preNone, kindHex, true},
	FieldVlanTCI:    {"vlan_tci", "NXM_OF_VLAN_TCI", 16, preNone, kindHex, false},
	FieldVlanVID:    {"vlan_vid", "OXM_OF_VLAN_VID", 12, preNone, kindDec, false},
	FieldVlanPCP:    {"vlan_pcp", "OXM_OF_VLAN_PCP", 3, preNone, kindDec, false},
	FieldIPSrc:      {"ip_src", "NXM_OF_IP_SRC", 32, preIPv4, kindIPv4, false},
	FieldIPDst:      {"ip_dst", "NXM_OF_IP_DST", 32, preIPv4, kindIPv4, false},
	FieldIPv6Src:    {"ipv6_src", "NXM_NX_IPV6_SRC", 128, preIPv6, kindIPv6, false},
	FieldIPv6Dst:    {"ipv6_dst", "NXM_NX_IPV6_DST", 128, preIPv6, kindIPv6, false},
	FieldIPv6Label:  {"ipv6_label", "NXM_NX_IPV6_LABEL", 20, preIPv6, kindHex, false},
	FieldIPProto:    {"nw_proto", "NXM_OF_IP_PROTO", 8, preIPAny, kindDec, true},
	FieldNwTos:      {"nw_tos", "NXM_OF_IP_TOS", 8, preIPAny, kindDec, false},
	FieldIPDSCP:     {"ip_dscp", "OXM_OF_IP_DSCP", 6, preIPAny, kindDec, false},
	FieldIPECN:      {"ip_ecn", "NXM_NX_IP_ECN", 2, preIPAny, kindDec, false},
	FieldNwTTL:      {"nw_ttl", "NXM_NX_IP_TTL", 8, preIPAny, kindDec, false},
	FieldIPFrag:     {"ip_frag", "NXM_NX_IP_FRAG", 2, preIPAny, kindFrag, true},
	FieldARPOp:      {"arp_op", "NXM_OF_ARP_OP", 16, preARP, kindDec, false},
	FieldARPSPA:     {"arp_spa", "NXM_OF_ARP_SPA", 32, preARP, kindIPv4, false},
	FieldARPTPA:     {"arp_tpa", "NXM_OF_ARP_TPA", 32, preARP, kindIPv4, false},
	FieldARPSHA:     {"arp_sha", "NXM_NX_ARP_SHA", 48, preARP, kindMAC, false},
	FieldARPTHA:     {"arp_tha", "NXM_NX_ARP_THA", 48, preARP, kindMAC, false},
	FieldTpSrc:      {"tp_src", "", 16, preL4, kindDec, false},
	FieldTpDst:      {"tp_dst", "", 16, preL4, kindDec, false},
	FieldTCPSrc:     {"tcp_src", "NXM_OF_TCP_SRC", 16, preTCP, kindDec, false},
	FieldTCPDst:     {"tcp_dst", "NXM_OF_TCP_DST", 16, preTCP, kindDec, false},
	FieldTCPFlags:   {"tcp_flags", "NXM_NX_TCP_FLAGS", 12, preTCP, kindFlags, true},
	FieldUDPSrc:     {"udp_src", "NXM_OF_UDP_SRC", 16, preUDP, kindDec, false},
	FieldUDPDst:     {"udp_dst", "NXM_OF_UDP_DST", 16, preUDP, kindDec, false},
	FieldSCTPSrc:    {"sctp_src", "OXM_OF_SCTP_SRC", 16, preSCTP, kindDec, false},
	FieldSCTPDst:    {"sctp_dst", "OXM_OF_SCTP_DST", 16, preSCTP, kindDec, false},
	FieldICMPType:   {"icmp_type", "NXM_OF_ICMP_TYPE", 8, preICMP4, kindDec, false},
	FieldICMPCode:   {"icmp_code", "NXM_OF_ICMP_CODE", 8, preICMP4, kindDec, false},
	FieldICMPv6Type: {"icmpv6_type", "NXM_NX_ICMPV6_TYPE", 8, preICMP6, kindDec, false},
	FieldICMPv6Code: {"icmpv6_code", "NXM_NX_ICMPV6_CODE", 8, preICMP6, kindDec, false},
	FieldNDTarget:   {"nd_target", "NXM_NX_ND_TARGET", 128, preND, kindIPv6, false},
	FieldNDSLL:      {"nd_sll", "NXM_NX_ND_SLL", 48, preNDSol, kindMAC, false},
	FieldNDTLL:      {"nd_tll", "NXM_NX_ND_TLL", 48, preNDAdv, kindMAC, false},
}

// fieldNames maps every accepted name, aliases and NXM/OXM names included,
// to its field.
var fieldNames = func() map[string]Field {
	m := make(map[string]Field)
	for i := FieldReg0; i <= FieldReg15; i++ {
		n := int(i - FieldReg0)
		fieldInfos[i] = fieldInfo{"reg" + strconv.Itoa(n), "NXM_NX_REG" + strconv.Itoa(n), 32, preNone, kindHex, false}
	}
	for f := FieldInPort; f < numFields; f++ {
		m[fieldInfos[f].name] = f
		if fieldInfos[f].nxm != "" {
			m[fieldInfos[f].nxm] = f
		}
	}
	for alias, f := range map[string]Field{
		"dl_src": FieldEthSrc, "dl_dst": FieldEthDst, "dl_type": FieldEthType,
		"dl_vlan": FieldVlanVID, "dl_vlan_pcp": FieldVlanPCP,
		"nw_src": FieldIPSrc, "nw_dst": FieldIPDst, "ip_proto": FieldIPProto,
		"nw_ecn": FieldIPECN, "nw_frag": FieldIPFrag, "tunnel_id": FieldTunID,
		"tun_ipv4_src": FieldTunSrc, "tun_ipv4_dst": FieldTunDst,
		"icmpv4_type": FieldICMPType, "icmpv4_code": FieldICMPCode,
		"OXM_OF_ETH_SRC": FieldEthSrc, "OXM_OF_ETH_DST": FieldEthDst, "OXM_OF_ETH_TYPE": FieldEthType,
		"OXM_OF_IPV4_SRC": FieldIPSrc, "OXM_OF_IPV4_DST": FieldIPDst,
		"OXM_OF_IPV6_SRC": FieldIPv6Src, "OXM_OF_IPV6_DST": FieldIPv6Dst, "OXM_OF_IPV6_FLABEL": FieldIPv6Label,
		"OXM_OF_IP_PROTO": FieldIPProto, "OXM_OF_IP_ECN": FieldIPECN,
		"OXM_OF_TCP_SRC": FieldTCPSrc, "OXM_OF_TCP_DST": FieldTCPDst,
		"OXM_OF_UDP_SRC": FieldUDPSrc, "OXM_OF_UDP_DST": FieldUDPDst,
		"OXM_OF_ARP_OP": FieldARPOp, "OXM_OF_ARP_SPA": FieldARPSPA, "OXM_OF_ARP_TPA": FieldARPTPA,
		"OXM_OF_ARP_SHA": FieldARPSHA, "OXM_OF_ARP_THA": FieldARPTHA,
		"OXM_OF_ICMPV4_TYPE": FieldICMPType, "OXM_OF_ICMPV4_CODE": FieldICMPCode,
		"OXM_OF_ICMPV6_TYPE": FieldICMPv6Type, "OXM_OF_ICMPV6_CODE": FieldICMPv6Code,
		"OXM_OF_IPV6_ND_TARGET": FieldNDTarget, "OXM_OF_IPV6_ND_SLL": FieldNDSLL, "OXM_OF_IPV6_ND_TLL": FieldNDTLL,
		"OXM_OF_TUNNEL_ID": FieldTunID,
	} {
		m[alias] = f
	}
	return m
}()

// FieldByName returns the field an OVS field name stands for: canonical
// names (eth_src, ip_src, reg3), their aliases (dl_src, nw_src, tp_dst,
// tunnel_id) and the NXM/OXM names of load and move (NXM_OF_ETH_SRC,
// NXM_NX_REG0, OXM_OF_METADATA), without any "[...]" bit range.
func FieldByName(name string) (Field, bool) {
	f, ok := fieldNames[name]
	return f, ok
}

// Fields returns every field, in declaration order.
func Fields() []Field {
	fs := make([]Field, 0, numFields-1)
	for f := FieldInPort; f < numFields; f++ {
		fs = append(fs, f)
	}
	return fs
}

// Valid reports whether f is one of the defined fields.
func (f Field) Valid() bool { return f > FieldNone && f < numFields }

// String returns the field's canonical OVS name ("eth_src", "reg0").
func (f Field) String() string {
	if f.Valid() {
		return fieldInfos[f].name
	}
	return "field" + itoa(uint64(f))
}

// NXMName returns the name load and move print for the field:
// its NXM or OXM name (NXM_OF_ETH_SRC, NXM_NX_REG0), or its canonical
// name when it has none.
func (f Field) NXMName() string {
	if f.Valid() && fieldInfos[f].nxm != "" {
		return fieldInfos[f].nxm
	}
	return f.String()
}

// Bits returns the field's width in bits (at most 128).
func (f Field) Bits() int {
	if f.Valid() {
		return fieldInfos[f].bits
	}
	return 0
}

// Writable reports whether actions may write the field. As in OVS,
// eth_type, nw_proto, ip_frag and tcp_flags are read-only; in_port is
// writable.
func (f Field) Writable() bool { return f.Valid() && !fieldInfos[f].ro }

// IsMeta reports whether the field is pipeline metadata (metadata, a
// register) rather than part of the packet.
func (f Field) IsMeta() bool { return f >= FieldMetadata && f <= FieldReg15 }

// CheckPrereq returns nil when match m satisfies the field's
// prerequisites (ip_src needs ip, tcp_dst needs tcp, nd_target needs an
// ICMPv6 neighbour discovery type), else a one-line error naming them.
func (f Field) CheckPrereq(m *Match) error {
	if !f.Valid() {
		return fmt.Errorf("unknown field %d", f)
	}
	return fieldInfos[f].pre.check(m, f.String())
}

// Mask returns the field's all-ones value.
func (f Field) Mask() (hi, lo uint64) { return widthMask(f.Bits()) }

// Read returns the field's value in key k and metadata m (either may be
// nil when the field does not live there).
func (f Field) Read(k *flowtable.Key, m *Meta) (hi, lo uint64) {
	switch {
	case f == FieldMetadata:
		return 0, m.Metadata
	case f >= FieldReg0 && f <= FieldReg15:
		return 0, uint64(m.Regs[f-FieldReg0])
	}
	switch f {
	case FieldInPort:
		return 0, uint64(k.InPort & 0xffff)
	case FieldTunID:
		return 0, k.TunID
	case FieldTunSrc:
		return 0, uint64(binary.BigEndian.Uint32(k.TunSrc[:]))
	case FieldTunDst:
		return 0, uint64(binary.BigEndian.Uint32(k.TunDst[:]))
	case FieldEthSrc:
		return 0, mac64(k.DlSrc)
	case FieldEthDst:
		return 0, mac64(k.DlDst)
	case FieldEthType:
		return 0, uint64(k.DlType)
	case FieldVlanTCI:
		return 0, uint64(k.VlanTCI)
	case FieldVlanVID:
		return 0, uint64(k.VlanTCI & 0x0fff)
	case FieldVlanPCP:
		return 0, uint64(k.VlanTCI >> 13)
	case FieldIPSrc, FieldARPSPA:
		return 0, uint64(binary.BigEndian.Uint32(k.NwSrc[:4]))
	case FieldIPDst, FieldARPTPA:
		return 0, uint64(binary.BigEndian.Uint32(k.NwDst[:4]))
	case FieldIPv6Src:
		return be128(&k.NwSrc)
	case FieldIPv6Dst:
		return be128(&k.NwDst)
	case FieldNDTarget:
		return be128(&k.NDTarget)
	case FieldIPv6Label:
		return 0, uint64(k.IPv6Label & 0xfffff)
	case FieldIPProto, FieldARPOp:
		return 0, uint64(k.NwProto)
	case FieldNwTos:
		return 0, uint64(k.NwTos & 0xfc)
	case FieldIPDSCP:
		return 0, uint64(k.NwTos >> 2)
	case FieldIPECN:
		return 0, uint64(k.NwTos & 3)
	case FieldNwTTL:
		return 0, uint64(k.NwTTL)
	case FieldIPFrag:
		return 0, uint64(k.NwFrag & 3)
	case FieldARPSHA, FieldNDSLL:
		return 0, mac64(k.ArpSha)
	case FieldARPTHA, FieldNDTLL:
		return 0, mac64(k.ArpTha)
	case FieldTpSrc, FieldTCPSrc, FieldUDPSrc, FieldSCTPSrc, FieldICMPType, FieldICMPv6Type:
		return 0, uint64(k.TpSrc)
	case FieldTpDst, FieldTCPDst, FieldUDPDst, FieldSCTPDst, FieldICMPCode, FieldICMPv6Code:
		return 0, uint64(k.TpDst)
	case FieldTCPFlags:
		return 0, uint64(k.TCPFlags & 0x0fff)
	}
	return 0, 0
}

// Write sets the field in key k or metadata m to the value, truncated to
// the field's width. Writing vlan_vid or vlan_pcp also sets the
// tag-present bit, as OVS does; whether an untagged packet should be
// tagged at all is the caller's decision. The ARP opcode keeps its low
// byte only (flowtable.Key stores no more).
func (f Field) Write(k *flowtable.Key, m *Meta, hi, lo uint64) {
	mh, ml := f.Mask()
	hi, lo = hi&mh, lo&ml
	switch {
	case f == FieldMetadata:
		m.Metadata = lo
		return
	case f >= FieldReg0 && f <= FieldReg15:
		m.Regs[f-FieldReg0] = uint32(lo)
		return
	}
	switch f {
	case FieldInPort:
		k.InPort = uint32(lo)
	case FieldTunID:
		k.TunID = lo
	case FieldTunSrc:
		binary.BigEndian.PutUint32(k.TunSrc[:], uint32(lo))
	case FieldTunDst:
		binary.BigEndian.PutUint32(k.TunDst[:], uint32(lo))
	case FieldEthSrc:
		k.DlSrc = macFrom64(lo)
	case FieldEthDst:
		k.DlDst = macFrom64(lo)
	case FieldEthType:
		k.DlType = uint16(lo)
	case FieldVlanTCI:
		k.VlanTCI = uint16(lo)
	case FieldVlanVID:
		k.VlanTCI = k.VlanTCI&^0x0fff | uint16(lo) | flowtable.TCIPresent
	case FieldVlanPCP:
		k.VlanTCI = k.VlanTCI&^0xe000 | uint16(lo)<<13 | flowtable.TCIPresent
	case FieldIPSrc, FieldARPSPA:
		binary.BigEndian.PutUint32(k.NwSrc[:4], uint32(lo))
	case FieldIPDst, FieldARPTPA:
		binary.BigEndian.PutUint32(k.NwDst[:4], uint32(lo))
	case FieldIPv6Src:
		put128(&k.NwSrc, hi, lo)
	case FieldIPv6Dst:
		put128(&k.NwDst, hi, lo)
	case FieldNDTarget:
		put128(&k.NDTarget, hi, lo)
	case FieldIPv6Label:
		k.IPv6Label = uint32(lo)
	case FieldIPProto, FieldARPOp:
		k.NwProto = uint8(lo)
	case FieldNwTos:
		k.NwTos = k.NwTos&3 | uint8(lo)&0xfc
	case FieldIPDSCP:
		k.NwTos = k.NwTos&3 | uint8(lo)<<2
	case FieldIPECN:
		k.NwTos = k.NwTos&0xfc | uint8(lo)
	case FieldNwTTL:
		k.NwTTL = uint8(lo)
	case FieldIPFrag:
		k.NwFrag = k.NwFrag&^3 | uint8(lo)
	case FieldARPSHA, FieldNDSLL:
		k.ArpSha = macFrom64(lo)
	case FieldARPTHA, FieldNDTLL:
		k.ArpTha = macFrom64(lo)
	case FieldTpSrc, FieldTCPSrc, FieldUDPSrc, FieldSCTPSrc, FieldICMPType, FieldICMPv6Type:
		k.TpSrc = uint16(lo)
	case FieldTpDst, FieldTCPDst, FieldUDPDst, FieldSCTPDst, FieldICMPCode, FieldICMPv6Code:
		k.TpDst = uint16(lo)
	case FieldTCPFlags:
		k.TCPFlags = k.TCPFlags&^0x0fff | uint16(lo)
	}
}

// WriteMasked sets only the bits of the field that the mask has.
func (f Field) WriteMasked(k *flowtable.Key, m *Meta, hi, lo, maskHi, maskLo uint64) {
	ch, cl := f.Read(k, m)
	f.Write(k, m, ch&^maskHi|hi&maskHi, cl&^maskLo|lo&maskLo)
}

// ApplyToKey performs a field-writing action on key k and metadata m:
// set_field, load, move, write_metadata, set_tunnel and the mod_dl_*,
// mod_nw_* and mod_tp_* actions. It reports false, changing nothing, for
// any other action (outputs, VLAN pushes and pops, dec_ttl), which the
// caller translates itself.
func (a *Action) ApplyToKey(k *flowtable.Key, m *Meta) bool {
	switch a.Type {
	case ActSetField:
		a.Field.WriteMasked(k, m, a.Value2, a.Value, a.Mask2, a.Mask)
	case ActLoad:
		mh, ml := rangeMask(int(a.Ofs), int(a.NBits))
		vh, vl := shl128(a.Value2, a.Value, int(a.Ofs))
		a.Field.WriteMasked(k, m, vh, vl, mh, ml)
	case ActMove:
		sh, sl := a.SrcField.Read(k, m)
		sh, sl = shr128(sh, sl, int(a.SrcOfs))
		wh, wl := widthMask(int(a.NBits))
		vh, vl := shl128(sh&wh, sl&wl, int(a.Ofs))
		mh, ml := rangeMask(int(a.Ofs), int(a.NBits))
		a.Field.WriteMasked(k, m, vh, vl, mh, ml)
	case ActWriteMetadata:
		m.Metadata = m.Metadata&^a.Mask | a.Value&a.Mask
	case ActSetTunnel:
		k.TunID = a.Value
	case ActModDlSrc:
		k.DlSrc = a.MAC
	case ActModDlDst:
		k.DlDst = a.MAC
	case ActModNwSrc:
		binary.BigEndian.PutUint32(k.NwSrc[:4], uint32(a.Value))
	case ActModNwDst:
		binary.BigEndian.PutUint32(k.NwDst[:4], uint32(a.Value))
	case ActModNwTos:
		k.NwTos = k.NwTos&3 | uint8(a.Value)&0xfc
	case ActModNwEcn:
		k.NwTos = k.NwTos&0xfc | uint8(a.Value)&3
	case ActModNwTTL:
		k.NwTTL = uint8(a.Value)
	case ActModTpSrc:
		k.TpSrc = uint16(a.Value)
	case ActModTpDst:
		k.TpDst = uint16(a.Value)
	default:
		return false
	}
	return true
}

func mac64(a [6]byte) uint64 {
	return uint64(a[0])<<40 | uint64(a[1])<<32 | uint64(a[2])<<24 | uint64(a[3])<<16 | uint64(a[4])<<8 | uint64(a[5])
}

func macFrom64(v uint64) [6]byte {
	return [6]byte{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func be128(b *[16]byte) (hi, lo uint64) {
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func put128(b *[16]byte, hi, lo uint64) {
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
}

// widthMask returns n low one bits (n <= 128).
func widthMask(n int) (hi, lo uint64) {
	switch {
	case n <= 0:
		return 0, 0
	case n < 64:
		return 0, 1<<n - 1
	case n == 64:
		return 0, ^uint64(0)
	case n < 128:
		return 1<<(n-64) - 1, ^uint64(0)
	}
	return ^uint64(0), ^uint64(0)
}

// rangeMask returns ones in bits [ofs, ofs+n).
func rangeMask(ofs, n int) (hi, lo uint64) {
	h, l := widthMask(n)
	return shl128(h, l, ofs)
}

func shl128(hi, lo uint64, n int) (uint64, uint64) {
	switch {
	case n <= 0:
		return hi, lo
	case n >= 128:
		return 0, 0
	case n >= 64:
		return lo << (n - 64), 0
	}
	return hi<<n | lo>>(64-n), lo << n
}

func shr128(hi, lo uint64, n int) (uint64, uint64) {
	switch {
	case n <= 0:
		return hi, lo
	case n >= 128:
		return 0, 0
	case n >= 64:
		return 0, hi >> (n - 64)
	}
	return hi >> n, lo>>n | hi<<(64-n)
}

// parseSubfield reads NAME, NAME[], NAME[N] or NAME[A..B] as load and move
// write them; the bare name and NAME[] are the whole field.
func parseSubfield(s string) (f Field, ofs, nbits int, err error) {
	name, rng, hasRange := strings.Cut(s, "[")
	f, ok := FieldByName(name)
	if !ok {
		return 0, 0, 0, fmt.Errorf("unknown field %q", name)
	}
	width := f.Bits()
	if !hasRange || rng == "]" {
		return f, 0, width, nil
	}
	if !strings.HasSuffix(rng, "]") {
		return 0, 0, 0, fmt.Errorf("bad bit range in %q", s)
	}
	rng = rng[:len(rng)-1]
	as, bs, two := strings.Cut(rng, "..")
	a, err1 := parseNum(as, 127)
	b := a
	var err2 error
	if two {
		b, err2 = parseNum(bs, 127)
	}
	if err1 != nil || err2 != nil || b < a {
		return 0, 0, 0, fmt.Errorf("bad bit range in %q (want [start..end])", s)
	}
	if int(b) >= width {
		return 0, 0, 0, fmt.Errorf("bit %d is beyond the %d bits of %s in %q", b, width, f, s)
	}
	return f, int(a), int(b-a) + 1, nil
}

func appendSubfield(b []byte, f Field, ofs, nbits int) []byte {
	b = append(b, f.NXMName()...)
	switch {
	case ofs == 0 && nbits == f.Bits():
		return append(b, "[]"...)
	case nbits == 1:
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(ofs), 10)
		return append(b, ']')
	}
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(ofs), 10)
	b = append(b, ".."...)
	b = strconv.AppendInt(b, int64(ofs+nbits-1), 10)
	return append(b, ']')
}

// parseFieldValue reads a set_field value (with an optional /MASK) in the
// field's own notation. A missing mask is all ones over the field.
func parseFieldValue(f Field, s string, ports PortNamer) (vh, vl, mh, ml uint64, err error) {
	fh, fl := f.Mask()
	switch fieldInfos[f].kind {
	case kindHex, kindDec:
		vs, ms, masked := strings.Cut(s, "/")
		if vl, err = parseNum(vs, fl); err != nil {
			return
		}
		ml = fl
		if masked {
			if ml, err = parseNum(ms, fl); err != nil {
				err = fmt.Errorf("mask %w", err)
				return
			}
		}
	case kindMAC:
		var v, m [6]byte
		if v, m, err = parseMaskedMAC(s); err != nil {
			return
		}
		vl, ml = mac64(v), mac64(m)
	case kindIPv4:
		var v, m [4]byte
		if v, m, err = parseMaskedIPv4(s); err != nil {
			return
		}
		vl, ml = uint64(binary.BigEndian.Uint32(v[:])), uint64(binary.BigEndian.Uint32(m[:]))
	case kindIPv6:
		var v, m [16]byte
		if v, m, err = parseMaskedIPv6(s); err != nil {
			return
		}
		vh, vl = be128(&v)
		mh, ml = be128(&m)
	case kindPort:
		var p uint32
		if p, err = parsePort(s, ports); err != nil {
			return
		}
		vl, ml = uint64(p), fl
	case kindFrag:
		var v, m uint8
		if v, m, err = parseFrag(s); err != nil {
			return
		}
		vl, ml = uint64(v), uint64(m)
	case kindFlags:
		var v, m uint16
		if v, m, err = parseTCPFlags(s); err != nil {
			return
		}
		vl, ml = uint64(v), uint64(m)
	}
	if f == FieldNwTos && vl&3 != 0 {
		return 0, 0, 0, 0, errors.New("the two low (ECN) bits of nw_tos must be zero")
	}
	mh, ml = mh&fh, ml&fl
	return vh & mh, vl & ml, mh, ml, nil
}

// appendFieldValue prints a set_field value (and its mask unless it is all
// ones) the way OVS does for the field.
func appendFieldValue(b []byte, f Field, vh, vl, mh, ml uint64, ports PortNamer) []byte {
	fh, fl := f.Mask()
	full := mh == fh && ml == fl
	switch fieldInfos[f].kind {
	case kindMAC:
		b = appendMAC(b, macFrom64(vl))
		if !full {
			b = append(b, '/')
			b = appendMAC(b, macFrom64(ml))
		}
		return b
	case kindIPv4:
		var v, m [4]byte
		binary.BigEndian.PutUint32(v[:], uint32(vl))
		binary.BigEndian.PutUint32(m[:], uint32(ml))
		return appendIPv4Value(b, v, m)
	case kindIPv6:
		var v, m [16]byte
		put128(&v, vh, vl)
		put128(&m, mh, ml)
		return appendIPv6Value(b, v, m)
	case kindPort:
		return appendPort(b, uint32(vl), ports)
	case kindFrag:
		return append(b, fragName(uint8(vl), uint8(ml))...)
	case kindFlags:
		return appendTCPFlags(b, uint16(vl), uint16(ml))
	case kindDec:
		if full {
			return strconv.AppendUint(b, vl, 10)
		}
	}
	b = appendCHex(b, vl)
	if !full {
		b = append(b, '/')
		b = appendCHex(b, ml)
	}
	return b
}
