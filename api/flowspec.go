package api

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"vswitch/flowtable"
	"vswitch/openflow"
	pb "vswitch/proto/vswitch/v1"
)

// Structured OpenFlow rules. A FlowSpec is converted to an openflow.Flow,
// printed in canonical flow syntax and handed to the same bridge calls the
// text RPCs use, so both paths share one parser, one validator and one
// store format. The printed text is parsed back and compared with the
// converted flow: a spec the syntax cannot express exactly is refused
// rather than silently altered.

// ofFields maps between openflow.Field and the proto enum by name
// (OF_FIELD_ + the canonical field name), so neither numbering has to
// follow the other.
var ofFields, ofFieldsBack = func() (map[openflow.Field]pb.OfField, map[pb.OfField]openflow.Field) {
	to := map[openflow.Field]pb.OfField{}
	back := map[pb.OfField]openflow.Field{}
	for _, f := range openflow.Fields() {
		v, ok := pb.OfField_value["OF_FIELD_"+strings.ToUpper(f.String())]
		if !ok {
			continue // caught by TestOfFieldEnumComplete
		}
		to[f], back[pb.OfField(v)] = pb.OfField(v), f
	}
	return to, back
}()

var ipFrags = []struct {
	e         pb.IpFrag
	val, mask uint8
}{
	{pb.IpFrag_IP_FRAG_NO, 0, flowtable.FragAny | flowtable.FragLater},
	{pb.IpFrag_IP_FRAG_YES, flowtable.FragAny, flowtable.FragAny},
	{pb.IpFrag_IP_FRAG_FIRST, flowtable.FragAny, flowtable.FragAny | flowtable.FragLater},
	{pb.IpFrag_IP_FRAG_LATER, flowtable.FragAny | flowtable.FragLater, flowtable.FragAny | flowtable.FragLater},
	{pb.IpFrag_IP_FRAG_NOT_LATER, 0, flowtable.FragLater},
}

// ---- openflow.Flow -> FlowSpec ----

// flowToSpec converts a rule to its FlowSpec. It fails only for a rule
// the flow syntax could not have produced.
func flowToSpec(f *openflow.Flow) (*pb.FlowSpec, error) {
	m, err := matchToPB(&f.Match)
	if err != nil {
		return nil, err
	}
	table, prio := uint32(f.Table), uint32(f.Priority)
	s := &pb.FlowSpec{
		Table: &table, Priority: &prio, Cookie: f.Cookie,
		IdleTimeout: uint32(f.IdleTimeout), HardTimeout: uint32(f.HardTimeout),
		Importance: uint32(f.Importance), SendFlowRem: f.SendFlowRem,
		Match: m,
	}
	for i := range f.Actions {
		a, err := actionToPB(&f.Actions[i])
		if err != nil {
			return nil, fmt.Errorf("action %d: %w", i, err)
		}
		s.Actions = append(s.Actions, a)
	}
	return s, nil
}

func u32p(v uint32) *uint32 { return &v }
func u64p(v uint64) *uint64 { return &v }

func macString(a [6]byte) string { return net.HardwareAddr(a[:]).String() }

var allOnes6 = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// macToPB sets a MAC match value and its mask (empty when exact).
func macToPB(v, mask [6]byte, val, msk *string) {
	if mask == [6]byte{} {
		return
	}
	*val = macString(v)
	if mask != allOnes6 {
		*msk = macString(mask)
	}
}

// addrString prints a masked address as "A", "A/N" when the mask is a
// prefix, or "A/MASK".
func addrString(v, mask []byte) string {
	var a, m netip.Addr
	if len(v) == 4 {
		a, m = netip.AddrFrom4([4]byte(v)), netip.AddrFrom4([4]byte(mask))
	} else {
		a, m = netip.AddrFrom16([16]byte(v)), netip.AddrFrom16([16]byte(mask))
	}
	ones := 0
	for _, b := range mask {
		ones += bits.OnesCount8(b)
	}
	if ones == len(mask)*8 {
		return a.String()
	}
	if p, err := m.Prefix(ones); err == nil && p.Addr() == m {
		return a.String() + "/" + strconv.Itoa(ones)
	}
	return a.String() + "/" + m.String()
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func matchToPB(m *openflow.Match) (*pb.FlowMatch, error) {
	k, mk := &m.Key, &m.Mask
	p := &pb.FlowMatch{}
	if mk.InnerTCI != 0 || mk.VlanTPID != 0 {
		return nil, fmt.Errorf("match on the inner VLAN tag or the TPID has no FlowMatch field")
	}
	if mk.InPort != 0 {
		p.InPort = u32p(k.InPort)
	}
	macToPB(k.DlSrc, mk.DlSrc, &p.DlSrc, &p.DlSrcMask)
	macToPB(k.DlDst, mk.DlDst, &p.DlDst, &p.DlDstMask)
	if mk.DlType != 0 {
		p.DlType = u32p(uint32(k.DlType))
	}
	if mk.VlanTCI != 0 {
		p.VlanTci = u32p(uint32(k.VlanTCI))
		if mk.VlanTCI != 0xffff {
			p.VlanTciMask = u32p(uint32(mk.VlanTCI))
		}
	}
	if mk.NwProto != 0 {
		p.NwProto = u32p(uint32(k.NwProto))
	}
	// The address words hold IPv6 addresses for IPv6 and IPv4 (or ARP)
	// addresses in their first four bytes otherwise.
	if mk.DlType == 0xffff && k.DlType == flowtable.EthTypeIPv6 {
		if !isZero(mk.NwSrc[:]) {
			p.Ipv6Src = addrString(k.NwSrc[:], mk.NwSrc[:])
		}
		if !isZero(mk.NwDst[:]) {
			p.Ipv6Dst = addrString(k.NwDst[:], mk.NwDst[:])
		}
	} else {
		if !isZero(mk.NwSrc[4:]) || !isZero(mk.NwDst[4:]) {
			return nil, fmt.Errorf("IPv6 address match without dl_type 0x86dd")
		}
		if !isZero(mk.NwSrc[:4]) {
			p.NwSrc = addrString(k.NwSrc[:4], mk.NwSrc[:4])
		}
		if !isZero(mk.NwDst[:4]) {
			p.NwDst = addrString(k.NwDst[:4], mk.NwDst[:4])
		}
	}
	if mk.IPv6Label != 0 {
		p.Ipv6Label = u32p(k.IPv6Label)
		if mk.IPv6Label != 0xfffff {
			p.Ipv6LabelMask = u32p(mk.IPv6Label)
		}
	}
	switch mk.NwTos &^ 3 {
	case 0:
	case 0xfc:
		p.IpDscp = u32p(uint32(k.NwTos >> 2))
	default:
		return nil, fmt.Errorf("partial DSCP mask %#x", mk.NwTos)
	}
	switch mk.NwTos & 3 {
	case 0:
	case 3:
		p.IpEcn = u32p(uint32(k.NwTos & 3))
	default:
		return nil, fmt.Errorf("partial ECN mask %#x", mk.NwTos)
	}
	if mk.NwTTL != 0 {
		p.NwTtl = u32p(uint32(k.NwTTL))
	}
	if mk.NwFrag != 0 {
		for _, fr := range ipFrags {
			if fr.val == k.NwFrag && fr.mask == mk.NwFrag {
				p.IpFrag = fr.e
			}
		}
		if p.IpFrag == pb.IpFrag_IP_FRAG_UNSPECIFIED {
			return nil, fmt.Errorf("ip_frag %#x/%#x has no name", k.NwFrag, mk.NwFrag)
		}
	}
	masked16 := func(v, mask uint16, full uint16, val, msk **uint32) {
		if mask == 0 {
			return
		}
		*val = u32p(uint32(v))
		if mask != full {
			*msk = u32p(uint32(mask))
		}
	}
	masked16(k.TpSrc, mk.TpSrc, 0xffff, &p.TpSrc, &p.TpSrcMask)
	masked16(k.TpDst, mk.TpDst, 0xffff, &p.TpDst, &p.TpDstMask)
	masked16(k.TCPFlags, mk.TCPFlags, 0x0fff, &p.TcpFlags, &p.TcpFlagsMask)
	macToPB(k.ArpSha, mk.ArpSha, &p.ArpSha, &p.ArpShaMask)
	macToPB(k.ArpTha, mk.ArpTha, &p.ArpTha, &p.ArpThaMask)
	if !isZero(mk.NDTarget[:]) {
		p.NdTarget = addrString(k.NDTarget[:], mk.NDTarget[:])
	}
	if mk.TunID != 0 {
		p.TunId = u64p(k.TunID)
		if mk.TunID != ^uint64(0) {
			p.TunIdMask = u64p(mk.TunID)
		}
	}
	if !isZero(mk.TunSrc[:]) {
		p.TunSrc = addrString(k.TunSrc[:], mk.TunSrc[:])
	}
	if !isZero(mk.TunDst[:]) {
		p.TunDst = addrString(k.TunDst[:], mk.TunDst[:])
	}
	if m.MetaMask.Metadata != 0 {
		p.Metadata = u64p(m.Meta.Metadata)
		if m.MetaMask.Metadata != ^uint64(0) {
			p.MetadataMask = u64p(m.MetaMask.Metadata)
		}
	}
	for i, mask := range m.MetaMask.Regs {
		if mask == 0 {
			continue
		}
		r := &pb.RegMatch{Index: uint32(i), Value: m.Meta.Regs[i]}
		if mask != ^uint32(0) {
			r.Mask = u32p(mask)
		}
		p.Regs = append(p.Regs, r)
	}
	return p, nil
}

func noArgs() *pb.NoArgs { return &pb.NoArgs{} }

func ipv4String(v uint64) string {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// fieldBytes is the big-endian form of a field value of nbits bits.
func fieldBytes(hi, lo uint64, nbits int) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return b[16-(nbits+7)/8:]
}

func actionToPB(a *openflow.Action) (*pb.FlowAction, error) {
	out := &pb.FlowAction{}
	switch a.Type {
	case openflow.ActOutput:
		out.Action = &pb.FlowAction_Output{Output: &pb.OutputAction{Port: a.Port}}
	case openflow.ActNormal:
		out.Action = &pb.FlowAction_Normal{Normal: noArgs()}
	case openflow.ActFlood:
		out.Action = &pb.FlowAction_Flood{Flood: noArgs()}
	case openflow.ActAll:
		out.Action = &pb.FlowAction_All{All: noArgs()}
	case openflow.ActLocal:
		out.Action = &pb.FlowAction_Local{Local: noArgs()}
	case openflow.ActInPort:
		out.Action = &pb.FlowAction_InPort{InPort: noArgs()}
	case openflow.ActController:
		c := &pb.ControllerAction{Reason: packetInReasons[a.Reason], Id: uint32(a.Value2)}
		if a.Value != openflow.DefaultControllerMaxLen {
			c.MaxLen = u32p(uint32(a.Value))
		}
		out.Action = &pb.FlowAction_Controller{Controller: c}
	case openflow.ActDrop:
		out.Action = &pb.FlowAction_Drop{Drop: noArgs()}
	case openflow.ActModVlanVid:
		out.Action = &pb.FlowAction_ModVlanVid{ModVlanVid: &pb.VlanVidAction{Vid: uint32(a.Value)}}
	case openflow.ActModVlanPcp:
		out.Action = &pb.FlowAction_ModVlanPcp{ModVlanPcp: &pb.VlanPcpAction{Pcp: uint32(a.Value)}}
	case openflow.ActStripVlan:
		if a.Alt {
			out.Action = &pb.FlowAction_PopVlan{PopVlan: noArgs()}
		} else {
			out.Action = &pb.FlowAction_StripVlan{StripVlan: noArgs()}
		}
	case openflow.ActPushVlan:
		out.Action = &pb.FlowAction_PushVlan{PushVlan: &pb.PushVlanAction{Ethertype: uint32(a.Value)}}
	case openflow.ActModDlSrc:
		out.Action = &pb.FlowAction_ModDlSrc{ModDlSrc: &pb.MacAction{Mac: macString(a.MAC)}}
	case openflow.ActModDlDst:
		out.Action = &pb.FlowAction_ModDlDst{ModDlDst: &pb.MacAction{Mac: macString(a.MAC)}}
	case openflow.ActResubmit:
		r := &pb.ResubmitAction{}
		if a.Port != openflow.PortInPort {
			r.Port = u32p(a.Port)
		}
		if a.Table != openflow.TableCurrent {
			r.Table = u32p(uint32(a.Table))
		}
		out.Action = &pb.FlowAction_Resubmit{Resubmit: r}
	case openflow.ActGotoTable:
		out.Action = &pb.FlowAction_GotoTable{GotoTable: &pb.TableAction{Table: uint32(a.Table)}}
	case openflow.ActModNwSrc:
		out.Action = &pb.FlowAction_ModNwSrc{ModNwSrc: &pb.Ipv4Action{Addr: ipv4String(a.Value)}}
	case openflow.ActModNwDst:
		out.Action = &pb.FlowAction_ModNwDst{ModNwDst: &pb.Ipv4Action{Addr: ipv4String(a.Value)}}
	case openflow.ActModNwTos:
		out.Action = &pb.FlowAction_ModNwTos{ModNwTos: &pb.ValueAction{Value: a.Value}}
	case openflow.ActModNwEcn:
		out.Action = &pb.FlowAction_ModNwEcn{ModNwEcn: &pb.ValueAction{Value: a.Value}}
	case openflow.ActModNwTTL:
		out.Action = &pb.FlowAction_ModNwTtl{ModNwTtl: &pb.ValueAction{Value: a.Value}}
	case openflow.ActModTpSrc:
		out.Action = &pb.FlowAction_ModTpSrc{ModTpSrc: &pb.ValueAction{Value: a.Value}}
	case openflow.ActModTpDst:
		out.Action = &pb.FlowAction_ModTpDst{ModTpDst: &pb.ValueAction{Value: a.Value}}
	case openflow.ActDecTTL:
		out.Action = &pb.FlowAction_DecTtl{DecTtl: noArgs()}
	case openflow.ActSetField:
		sf := &pb.SetFieldAction{Field: ofFields[a.Field], Value: fieldBytes(a.Value2, a.Value, a.Field.Bits())}
		if mh, ml := a.Field.Mask(); a.Mask2 != mh || a.Mask != ml {
			sf.Mask = fieldBytes(a.Mask2, a.Mask, a.Field.Bits())
		}
		out.Action = &pb.FlowAction_SetField{SetField: sf}
	case openflow.ActLoad:
		out.Action = &pb.FlowAction_Load{Load: &pb.LoadAction{Field: ofFields[a.Field], Ofs: uint32(a.Ofs),
			NBits: uint32(a.NBits), Value: fieldBytes(a.Value2, a.Value, int(a.NBits))}}
	case openflow.ActMove:
		out.Action = &pb.FlowAction_Move{Move: &pb.MoveAction{Src: ofFields[a.SrcField], SrcOfs: uint32(a.SrcOfs),
			Dst: ofFields[a.Field], DstOfs: uint32(a.Ofs), NBits: uint32(a.NBits)}}
	case openflow.ActWriteMetadata:
		w := &pb.WriteMetadataAction{Value: a.Value}
		if a.Mask != ^uint64(0) {
			w.Mask = u64p(a.Mask)
		}
		out.Action = &pb.FlowAction_WriteMetadata{WriteMetadata: w}
	case openflow.ActSetTunnel:
		if a.Alt {
			out.Action = &pb.FlowAction_SetTunnel64{SetTunnel64: &pb.ValueAction{Value: a.Value}}
		} else {
			out.Action = &pb.FlowAction_SetTunnel{SetTunnel: &pb.ValueAction{Value: a.Value}}
		}
	default:
		return nil, fmt.Errorf("action %s has no FlowAction", a.Type)
	}
	return out, nil
}

// ---- FlowSpec -> openflow.Flow ----

// specError is an InvalidArgument naming the offending field by its path
// in the request ("flows[2].match.dl_src").
func specError(path, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", path, fmt.Sprintf(format, args...))
}

// flowUse says which FlowSpec fields a command takes.
type flowUse int

const (
	useAdd    flowUse = iota // everything but cookie_mask; table defaults to 0
	useModify                // match, table, priority, cookie (exact), actions
	useSelect                // match, table, priority, cookie/cookie_mask (DELETE, dumps)
)

// specToFlow converts a FlowSpec to a rule. For useModify and useSelect
// hasTable reports whether the spec named a table (absent: every table).
func specToFlow(s *pb.FlowSpec, path string, use flowUse) (f *openflow.Flow, hasTable bool, err error) {
	if s == nil {
		return nil, false, specError(path, "is required")
	}
	f = &openflow.Flow{Priority: openflow.DefaultPriority, Cookie: s.GetCookie()}
	if s.Table != nil {
		if s.GetTable() > openflow.MaxTable {
			return nil, false, specError(path+".table", "%d is out of range 0..%d", s.GetTable(), openflow.MaxTable)
		}
		f.Table, hasTable = uint8(s.GetTable()), true
	}
	if s.Priority != nil {
		if s.GetPriority() > 0xffff {
			return nil, false, specError(path+".priority", "%d is out of range 0..65535", s.GetPriority())
		}
		f.Priority = uint16(s.GetPriority())
	}
	for _, v := range []struct {
		name string
		v    uint32
		dst  *uint16
	}{
		{"idle_timeout", s.GetIdleTimeout(), &f.IdleTimeout},
		{"hard_timeout", s.GetHardTimeout(), &f.HardTimeout},
		{"importance", s.GetImportance(), &f.Importance},
	} {
		if v.v > 0xffff {
			return nil, false, specError(path+"."+v.name, "%d is out of range 0..65535", v.v)
		}
		if v.v != 0 && use != useAdd {
			return nil, false, specError(path+"."+v.name, "is only allowed when adding flows")
		}
		*v.dst = uint16(v.v)
	}
	if s.GetSendFlowRem() && use != useAdd {
		return nil, false, specError(path+".send_flow_rem", "is only allowed when adding flows")
	}
	f.SendFlowRem = s.GetSendFlowRem()
	switch cm := s.GetCookieMask(); {
	case use == useAdd && cm != 0:
		return nil, false, specError(path+".cookie_mask", "is not allowed when adding flows")
	case use == useModify && cm != 0 && cm != ^uint64(0):
		return nil, false, specError(path+".cookie_mask", "must be 0 or all ones when modifying flows")
	case use != useAdd && cm == 0 && s.GetCookie() != 0:
		// A cookie that selects nothing would be ignored: say so.
		return nil, false, specError(path+".cookie_mask", "is 0, which selects every cookie; set it (all ones for exactly cookie %#x) or leave cookie 0", s.GetCookie())
	}
	if f.Match, err = matchFromPB(s.GetMatch(), path+".match"); err != nil {
		return nil, false, err
	}
	if use == useSelect && len(s.GetActions()) > 0 {
		return nil, false, specError(path+".actions", "are not allowed when selecting flows")
	}
	for i, pa := range s.GetActions() {
		ap := fmt.Sprintf("%s.actions[%d]", path, i)
		a, err := actionFromPB(pa, ap)
		if err != nil {
			return nil, false, err
		}
		if a.Type == openflow.ActDrop {
			if len(s.GetActions()) != 1 {
				return nil, false, specError(ap+".drop", "must be the only action")
			}
			continue // an empty list drops
		}
		f.Actions = append(f.Actions, a)
	}
	return f, hasTable, nil
}

func checkMax(path string, v uint64, maxV uint64) error {
	if v > maxV {
		return specError(path, "%d is out of range 0..%d", v, maxV)
	}
	return nil
}

func parseMACField(path, s string) ([6]byte, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return [6]byte{}, specError(path, "%q is not an Ethernet address (aa:bb:cc:dd:ee:ff)", s)
	}
	return [6]byte(hw), nil
}

// maskedMAC reads a MAC value and its optional mask into key and mask.
func maskedMAC(path, v, m string, key, mask *[6]byte) error {
	if v == "" {
		if m != "" {
			return specError(path+"_mask", "is set without %s", path)
		}
		return nil
	}
	a, err := parseMACField(path, v)
	if err != nil {
		return err
	}
	ma := allOnes6
	if m != "" {
		if ma, err = parseMACField(path+"_mask", m); err != nil {
			return err
		}
	}
	*key, *mask = a, ma
	return nil
}

// maskedAddr reads "A", "A/N" or "A/MASK" for an address of n bytes (4 or
// 16) into v and m.
func maskedAddr(path, s string, n int, v, m []byte) error {
	if s == "" {
		return nil
	}
	kind := "an IPv4"
	if n == 16 {
		kind = "an IPv6"
	}
	as, ms, hasMask := strings.Cut(s, "/")
	a, err := netip.ParseAddr(as)
	if err != nil || a.Zone() != "" || (n == 4) != a.Is4() {
		return specError(path, "%q is not %s address", s, kind)
	}
	copy(v, a.AsSlice())
	for i := range n {
		m[i] = 0xff
	}
	if hasMask {
		if ma, err := netip.ParseAddr(ms); err == nil {
			if ma.Zone() != "" || (n == 4) != ma.Is4() {
				return specError(path, "mask %q is not %s address", ms, kind)
			}
			copy(m, ma.AsSlice())
		} else {
			plen, err := strconv.Atoi(ms)
			if err != nil || plen < 0 || plen > n*8 {
				return specError(path, "prefix length %q is not 0..%d", ms, n*8)
			}
			for i := range n {
				switch {
				case plen >= 8:
					m[i], plen = 0xff, plen-8
				default:
					m[i], plen = byte(0xff<<(8-plen)), 0
				}
			}
		}
	}
	for i := range n {
		v[i] &= m[i]
	}
	return nil
}

// optMasked reads an optional value with an optional mask (absent: all
// ones up to maxV).
func optMasked(path string, v, m *uint64, maxV uint64) (val, mask uint64, err error) {
	if v == nil {
		if m != nil {
			return 0, 0, specError(path+"_mask", "is set without %s", path)
		}
		return 0, 0, nil
	}
	if err := checkMax(path, *v, maxV); err != nil {
		return 0, 0, err
	}
	mask = maxV
	if m != nil {
		if err := checkMax(path+"_mask", *m, maxV); err != nil {
			return 0, 0, err
		}
		mask = *m
	}
	return *v & mask, mask, nil
}

func opt64(p *uint32) *uint64 {
	if p == nil {
		return nil
	}
	v := uint64(*p)
	return &v
}

func matchFromPB(p *pb.FlowMatch, path string) (openflow.Match, error) {
	var m openflow.Match
	if p == nil {
		return m, nil
	}
	k, mk := &m.Key, &m.Mask
	var err error
	field := func(name string) string { return path + "." + name }
	if p.InPort != nil {
		if err := checkMax(field("in_port"), uint64(p.GetInPort()), openflow.PortNone); err != nil {
			return m, err
		}
		k.InPort, mk.InPort = p.GetInPort(), ^uint32(0)
	}
	if err := maskedMAC(field("dl_src"), p.GetDlSrc(), p.GetDlSrcMask(), &k.DlSrc, &mk.DlSrc); err != nil {
		return m, err
	}
	if err := maskedMAC(field("dl_dst"), p.GetDlDst(), p.GetDlDstMask(), &k.DlDst, &mk.DlDst); err != nil {
		return m, err
	}
	var v, mask uint64
	if v, mask, err = optMasked(field("dl_type"), opt64(p.DlType), nil, 0xffff); err != nil {
		return m, err
	}
	k.DlType, mk.DlType = uint16(v), uint16(mask)
	if v, mask, err = optMasked(field("vlan_tci"), opt64(p.VlanTci), opt64(p.VlanTciMask), 0xffff); err != nil {
		return m, err
	}
	k.VlanTCI, mk.VlanTCI = uint16(v), uint16(mask)
	if v, mask, err = optMasked(field("nw_proto"), opt64(p.NwProto), nil, 0xff); err != nil {
		return m, err
	}
	k.NwProto, mk.NwProto = uint8(v), uint8(mask)
	if p.GetNwSrc() != "" && p.GetIpv6Src() != "" {
		return m, specError(field("ipv6_src"), "and nw_src cannot both be set")
	}
	if p.GetNwDst() != "" && p.GetIpv6Dst() != "" {
		return m, specError(field("ipv6_dst"), "and nw_dst cannot both be set")
	}
	if err := maskedAddr(field("nw_src"), p.GetNwSrc(), 4, k.NwSrc[:4], mk.NwSrc[:4]); err != nil {
		return m, err
	}
	if err := maskedAddr(field("nw_dst"), p.GetNwDst(), 4, k.NwDst[:4], mk.NwDst[:4]); err != nil {
		return m, err
	}
	if err := maskedAddr(field("ipv6_src"), p.GetIpv6Src(), 16, k.NwSrc[:], mk.NwSrc[:]); err != nil {
		return m, err
	}
	if err := maskedAddr(field("ipv6_dst"), p.GetIpv6Dst(), 16, k.NwDst[:], mk.NwDst[:]); err != nil {
		return m, err
	}
	if v, mask, err = optMasked(field("ipv6_label"), opt64(p.Ipv6Label), opt64(p.Ipv6LabelMask), 0xfffff); err != nil {
		return m, err
	}
	k.IPv6Label, mk.IPv6Label = uint32(v), uint32(mask)
	if p.IpDscp != nil {
		if err := checkMax(field("ip_dscp"), uint64(p.GetIpDscp()), 63); err != nil {
			return m, err
		}
		k.NwTos, mk.NwTos = uint8(p.GetIpDscp())<<2, 0xfc
	}
	if p.IpEcn != nil {
		if err := checkMax(field("ip_ecn"), uint64(p.GetIpEcn()), 3); err != nil {
			return m, err
		}
		k.NwTos, mk.NwTos = k.NwTos|uint8(p.GetIpEcn()), mk.NwTos|3
	}
	if v, mask, err = optMasked(field("nw_ttl"), opt64(p.NwTtl), nil, 0xff); err != nil {
		return m, err
	}
	k.NwTTL, mk.NwTTL = uint8(v), uint8(mask)
	if fr := p.GetIpFrag(); fr != pb.IpFrag_IP_FRAG_UNSPECIFIED {
		found := false
		for _, e := range ipFrags {
			if e.e == fr {
				k.NwFrag, mk.NwFrag, found = e.val, e.mask, true
			}
		}
		if !found {
			return m, specError(field("ip_frag"), "unknown value %d", int32(fr))
		}
	}
	if v, mask, err = optMasked(field("tp_src"), opt64(p.TpSrc), opt64(p.TpSrcMask), 0xffff); err != nil {
		return m, err
	}
	k.TpSrc, mk.TpSrc = uint16(v), uint16(mask)
	if v, mask, err = optMasked(field("tp_dst"), opt64(p.TpDst), opt64(p.TpDstMask), 0xffff); err != nil {
		return m, err
	}
	k.TpDst, mk.TpDst = uint16(v), uint16(mask)
	if v, mask, err = optMasked(field("tcp_flags"), opt64(p.TcpFlags), opt64(p.TcpFlagsMask), 0x0fff); err != nil {
		return m, err
	}
	k.TCPFlags, mk.TCPFlags = uint16(v), uint16(mask)
	if err := maskedMAC(field("arp_sha"), p.GetArpSha(), p.GetArpShaMask(), &k.ArpSha, &mk.ArpSha); err != nil {
		return m, err
	}
	if err := maskedMAC(field("arp_tha"), p.GetArpTha(), p.GetArpThaMask(), &k.ArpTha, &mk.ArpTha); err != nil {
		return m, err
	}
	if err := maskedAddr(field("nd_target"), p.GetNdTarget(), 16, k.NDTarget[:], mk.NDTarget[:]); err != nil {
		return m, err
	}
	if k.TunID, mk.TunID, err = optMasked(field("tun_id"), p.TunId, p.TunIdMask, ^uint64(0)); err != nil {
		return m, err
	}
	if err := maskedAddr(field("tun_src"), p.GetTunSrc(), 4, k.TunSrc[:], mk.TunSrc[:]); err != nil {
		return m, err
	}
	if err := maskedAddr(field("tun_dst"), p.GetTunDst(), 4, k.TunDst[:], mk.TunDst[:]); err != nil {
		return m, err
	}
	if m.Meta.Metadata, m.MetaMask.Metadata, err = optMasked(field("metadata"), p.Metadata, p.MetadataMask, ^uint64(0)); err != nil {
		return m, err
	}
	for i, r := range p.GetRegs() {
		rp := fmt.Sprintf("%s.regs[%d]", path, i)
		if r.GetIndex() > 15 {
			return m, specError(rp+".index", "%d is out of range 0..15", r.GetIndex())
		}
		if m.MetaMask.Regs[r.GetIndex()] != 0 {
			return m, specError(rp+".index", "reg%d is matched twice", r.GetIndex())
		}
		mask := ^uint32(0)
		if r.Mask != nil {
			mask = r.GetMask()
		}
		if mask == 0 {
			continue // matches anything, as reg0=0/0 does
		}
		m.Meta.Regs[r.GetIndex()], m.MetaMask.Regs[r.GetIndex()] = r.GetValue()&mask, mask
	}
	return m, nil
}

var packetInReasonsBack = func() map[pb.PacketInReason]openflow.ControllerReason {
	back := map[pb.PacketInReason]openflow.ControllerReason{pb.PacketInReason_PACKET_IN_REASON_UNSPECIFIED: openflow.ReasonAction}
	for r, e := range packetInReasons {
		back[e] = r
	}
	return back
}()

// fieldFromPB resolves a field enum, refusing UNSPECIFIED and unknown values.
func fieldFromPB(path string, e pb.OfField) (openflow.Field, error) {
	f, ok := ofFieldsBack[e]
	if !ok {
		if e == pb.OfField_OF_FIELD_UNSPECIFIED {
			return 0, specError(path, "is required")
		}
		return 0, specError(path, "unknown value %d", int32(e))
	}
	return f, nil
}

// bytesValue reads a big-endian value of at most 16 bytes that must fit in
// nbits bits.
func bytesValue(path string, b []byte, nbits int) (hi, lo uint64, err error) {
	if len(b) > 16 {
		return 0, 0, specError(path, "is %d bytes long; the most is 16", len(b))
	}
	var buf [16]byte
	copy(buf[16-len(b):], b)
	hi, lo = binary.BigEndian.Uint64(buf[:8]), binary.BigEndian.Uint64(buf[8:])
	var mh, ml uint64
	switch {
	case nbits >= 128:
		mh, ml = ^uint64(0), ^uint64(0)
	case nbits > 64:
		mh, ml = 1<<(nbits-64)-1, ^uint64(0)
	case nbits == 64:
		ml = ^uint64(0)
	default:
		ml = 1<<nbits - 1
	}
	if hi&^mh != 0 || lo&^ml != 0 {
		return 0, 0, specError(path, "does not fit in %d bits", nbits)
	}
	return hi, lo, nil
}

func actionFromPB(p *pb.FlowAction, path string) (openflow.Action, error) {
	var a openflow.Action
	if p == nil || p.GetAction() == nil {
		return a, specError(path, "no action is set")
	}
	value := func(name string, v uint64, maxV uint64, t openflow.ActionType) (openflow.Action, error) {
		if err := checkMax(path+"."+name, v, maxV); err != nil {
			return openflow.Action{}, err
		}
		return openflow.Action{Type: t, Value: v}, nil
	}
	switch x := p.GetAction().(type) {
	case *pb.FlowAction_Output:
		port := x.Output.GetPort()
		if port == 0 || port >= openflow.PortMax {
			return a, specError(path+".output.port", "%d is not an ordinary port (1..%d); reserved ports have their own actions", port, openflow.PortMax-1)
		}
		return openflow.Action{Type: openflow.ActOutput, Port: port}, nil
	case *pb.FlowAction_Normal:
		return openflow.Action{Type: openflow.ActNormal}, nil
	case *pb.FlowAction_Flood:
		return openflow.Action{Type: openflow.ActFlood}, nil
	case *pb.FlowAction_All:
		return openflow.Action{Type: openflow.ActAll}, nil
	case *pb.FlowAction_Local:
		return openflow.Action{Type: openflow.ActLocal}, nil
	case *pb.FlowAction_InPort:
		return openflow.Action{Type: openflow.ActInPort}, nil
	case *pb.FlowAction_Drop:
		return openflow.Action{Type: openflow.ActDrop}, nil
	case *pb.FlowAction_Controller:
		c := x.Controller
		a = openflow.Action{Type: openflow.ActController, Value: openflow.DefaultControllerMaxLen, Value2: uint64(c.GetId())}
		if c.MaxLen != nil {
			if err := checkMax(path+".controller.max_len", uint64(c.GetMaxLen()), 0xffff); err != nil {
				return a, err
			}
			a.Value = uint64(c.GetMaxLen())
		}
		if err := checkMax(path+".controller.id", uint64(c.GetId()), 0xffff); err != nil {
			return a, err
		}
		r, ok := packetInReasonsBack[c.GetReason()]
		if !ok {
			return a, specError(path+".controller.reason", "unknown value %d", int32(c.GetReason()))
		}
		a.Reason = r
		return a, nil
	case *pb.FlowAction_ModVlanVid:
		return value("mod_vlan_vid.vid", uint64(x.ModVlanVid.GetVid()), 0xfff, openflow.ActModVlanVid)
	case *pb.FlowAction_ModVlanPcp:
		return value("mod_vlan_pcp.pcp", uint64(x.ModVlanPcp.GetPcp()), 7, openflow.ActModVlanPcp)
	case *pb.FlowAction_StripVlan:
		return openflow.Action{Type: openflow.ActStripVlan}, nil
	case *pb.FlowAction_PopVlan:
		return openflow.Action{Type: openflow.ActStripVlan, Alt: true}, nil
	case *pb.FlowAction_PushVlan:
		t := x.PushVlan.GetEthertype()
		if t != 0x8100 && t != 0x88a8 {
			return a, specError(path+".push_vlan.ethertype", "%#x is not 0x8100 or 0x88a8", t)
		}
		return openflow.Action{Type: openflow.ActPushVlan, Value: uint64(t)}, nil
	case *pb.FlowAction_ModDlSrc:
		mac, err := parseMACField(path+".mod_dl_src.mac", x.ModDlSrc.GetMac())
		return openflow.Action{Type: openflow.ActModDlSrc, MAC: mac}, err
	case *pb.FlowAction_ModDlDst:
		mac, err := parseMACField(path+".mod_dl_dst.mac", x.ModDlDst.GetMac())
		return openflow.Action{Type: openflow.ActModDlDst, MAC: mac}, err
	case *pb.FlowAction_Resubmit:
		r := x.Resubmit
		a = openflow.Action{Type: openflow.ActResubmit, Port: openflow.PortInPort, Table: openflow.TableCurrent}
		if r.Port == nil && r.Table == nil {
			return a, specError(path+".resubmit", "at least one of port and table must be set")
		}
		if r.Port != nil {
			if err := checkMax(path+".resubmit.port", uint64(r.GetPort()), openflow.PortNone); err != nil {
				return a, err
			}
			a.Port = r.GetPort()
		}
		if r.Table != nil {
			if err := checkMax(path+".resubmit.table", uint64(r.GetTable()), openflow.MaxTable); err != nil {
				return a, err
			}
			a.Table = uint8(r.GetTable())
		}
		return a, nil
	case *pb.FlowAction_GotoTable:
		if err := checkMax(path+".goto_table.table", uint64(x.GotoTable.GetTable()), openflow.MaxTable); err != nil {
			return a, err
		}
		return openflow.Action{Type: openflow.ActGotoTable, Table: uint8(x.GotoTable.GetTable())}, nil
	case *pb.FlowAction_ModNwSrc, *pb.FlowAction_ModNwDst:
		t, name, s := openflow.ActModNwSrc, "mod_nw_src", ""
		if d, ok := x.(*pb.FlowAction_ModNwDst); ok {
			t, name, s = openflow.ActModNwDst, "mod_nw_dst", d.ModNwDst.GetAddr()
		} else {
			s = x.(*pb.FlowAction_ModNwSrc).ModNwSrc.GetAddr()
		}
		addr, err := netip.ParseAddr(s)
		if err != nil || !addr.Is4() {
			return a, specError(path+"."+name+".addr", "%q is not an IPv4 address", s)
		}
		return openflow.Action{Type: t, Value: uint64(binary.BigEndian.Uint32(addr.AsSlice()))}, nil
	case *pb.FlowAction_ModNwTos:
		v := x.ModNwTos.GetValue()
		if v <= 0xff && v&3 != 0 {
			return a, specError(path+".mod_nw_tos.value", "%d has the two low (ECN) bits set; use mod_nw_ecn for them", v)
		}
		return value("mod_nw_tos.value", v, 0xff, openflow.ActModNwTos)
	case *pb.FlowAction_ModNwEcn:
		return value("mod_nw_ecn.value", x.ModNwEcn.GetValue(), 3, openflow.ActModNwEcn)
	case *pb.FlowAction_ModNwTtl:
		return value("mod_nw_ttl.value", x.ModNwTtl.GetValue(), 0xff, openflow.ActModNwTTL)
	case *pb.FlowAction_ModTpSrc:
		return value("mod_tp_src.value", x.ModTpSrc.GetValue(), 0xffff, openflow.ActModTpSrc)
	case *pb.FlowAction_ModTpDst:
		return value("mod_tp_dst.value", x.ModTpDst.GetValue(), 0xffff, openflow.ActModTpDst)
	case *pb.FlowAction_DecTtl:
		return openflow.Action{Type: openflow.ActDecTTL}, nil
	case *pb.FlowAction_SetField:
		sp := path + ".set_field"
		f, err := fieldFromPB(sp+".field", x.SetField.GetField())
		if err != nil {
			return a, err
		}
		width := (f.Bits() + 7) / 8
		if len(x.SetField.GetValue()) != width {
			return a, specError(sp+".value", "is %d bytes long; %s takes %d", len(x.SetField.GetValue()), f, width)
		}
		vh, vl, err := bytesValue(sp+".value", x.SetField.GetValue(), f.Bits())
		if err != nil {
			return a, err
		}
		mh, ml := f.Mask()
		if m := x.SetField.GetMask(); len(m) > 0 {
			if len(m) != width {
				return a, specError(sp+".mask", "is %d bytes long; %s takes %d", len(m), f, width)
			}
			if mh, ml, err = bytesValue(sp+".mask", m, f.Bits()); err != nil {
				return a, err
			}
		}
		return openflow.Action{Type: openflow.ActSetField, Field: f, Value: vl & ml, Value2: vh & mh, Mask: ml, Mask2: mh}, nil
	case *pb.FlowAction_Load:
		lp := path + ".load"
		f, err := fieldFromPB(lp+".field", x.Load.GetField())
		if err != nil {
			return a, err
		}
		ofs, n := int(x.Load.GetOfs()), int(x.Load.GetNBits())
		if n == 0 {
			if ofs != 0 {
				return a, specError(lp+".n_bits", "is required when ofs is set")
			}
			n = f.Bits()
		}
		if ofs+n > f.Bits() || x.Load.GetOfs() > 128 || x.Load.GetNBits() > 128 {
			return a, specError(lp+".n_bits", "bits %d..%d are beyond the %d bits of %s", ofs, ofs+n-1, f.Bits(), f)
		}
		vh, vl, err := bytesValue(lp+".value", x.Load.GetValue(), n)
		if err != nil {
			return a, err
		}
		return openflow.Action{Type: openflow.ActLoad, Field: f, Ofs: uint8(ofs), NBits: uint8(n), Value: vl, Value2: vh}, nil
	case *pb.FlowAction_Move:
		mp := path + ".move"
		src, err := fieldFromPB(mp+".src", x.Move.GetSrc())
		if err != nil {
			return a, err
		}
		dst, err := fieldFromPB(mp+".dst", x.Move.GetDst())
		if err != nil {
			return a, err
		}
		so, do, n := int(x.Move.GetSrcOfs()), int(x.Move.GetDstOfs()), int(x.Move.GetNBits())
		if x.Move.GetSrcOfs() > 128 || x.Move.GetDstOfs() > 128 || x.Move.GetNBits() > 128 {
			return a, specError(mp, "offsets and n_bits must be at most 128")
		}
		if n == 0 {
			n = src.Bits() - so
		}
		if so+n > src.Bits() {
			return a, specError(mp+".n_bits", "source bits %d..%d are beyond the %d bits of %s", so, so+n-1, src.Bits(), src)
		}
		if do+n > dst.Bits() {
			return a, specError(mp+".n_bits", "destination bits %d..%d are beyond the %d bits of %s", do, do+n-1, dst.Bits(), dst)
		}
		return openflow.Action{Type: openflow.ActMove, SrcField: src, SrcOfs: uint8(so), Field: dst, Ofs: uint8(do), NBits: uint8(n)}, nil
	case *pb.FlowAction_WriteMetadata:
		mask := ^uint64(0)
		if x.WriteMetadata.Mask != nil {
			mask = x.WriteMetadata.GetMask()
		}
		return openflow.Action{Type: openflow.ActWriteMetadata, Value: x.WriteMetadata.GetValue() & mask, Mask: mask}, nil
	case *pb.FlowAction_SetTunnel:
		// A value beyond 32 bits is set_tunnel64, as the parser has it.
		v := x.SetTunnel.GetValue()
		return openflow.Action{Type: openflow.ActSetTunnel, Value: v, Alt: v > 0xffffffff}, nil
	case *pb.FlowAction_SetTunnel64:
		return openflow.Action{Type: openflow.ActSetTunnel, Value: x.SetTunnel64.GetValue(), Alt: true}, nil
	}
	return a, specError(path, "unsupported action %T", p.GetAction())
}

// ---- text forms handed to the bridge ----

// addText is the add-flow text of a spec: the rule's canonical form,
// checked to read back as the same rule so nothing is lost on the way.
func addText(s *pb.FlowSpec, path string) (string, error) {
	f, _, err := specToFlow(s, path, useAdd)
	if err != nil {
		return "", err
	}
	text := f.String()
	back, err := openflow.ParseFlow(text, nil)
	if err != nil {
		return "", specError(path, "%v", err)
	}
	if !back.Equal(f) {
		return "", specError(path, "cannot be expressed exactly in flow syntax (reads back as %s)", back)
	}
	return text, nil
}

// selectText is the del-flows/dump-flows selection of a spec: table when
// given, priority when given, cookie/mask when the mask is set, and the
// match.
func selectText(s *pb.FlowSpec, path string) (string, error) {
	f, hasTable, err := specToFlow(s, path, useSelect)
	if err != nil {
		return "", err
	}
	return filterText(f, s, hasTable, path, s.GetCookieMask())
}

func filterText(f *openflow.Flow, s *pb.FlowSpec, hasTable bool, path string, cookieMask uint64) (string, error) {
	var parts []string
	if hasTable {
		parts = append(parts, "table="+strconv.Itoa(int(f.Table)))
	}
	if s.Priority != nil {
		parts = append(parts, "priority="+strconv.Itoa(int(f.Priority)))
	}
	if cookieMask != 0 {
		parts = append(parts, fmt.Sprintf("cookie=%#x/%#x", f.Cookie&cookieMask, cookieMask))
	}
	if ms := f.Match.String(); ms != "" {
		parts = append(parts, ms)
	}
	text := strings.Join(parts, ",")
	back, err := openflow.ParseFilter(text, nil)
	if err != nil {
		return "", specError(path+".match", "%v", err)
	}
	if !back.Match.Equal(f.Match) {
		return "", specError(path+".match", "cannot be expressed exactly in flow syntax (reads back as %s)", back.Match)
	}
	return text, nil
}

// modText is the mod-flows text of a spec: its selection (an exact cookie
// at most, as mod-flows has it) and its actions.
func modText(s *pb.FlowSpec, path string) (string, error) {
	f, hasTable, err := specToFlow(s, path, useModify)
	if err != nil {
		return "", err
	}
	if s.GetCookieMask() == 0 {
		f.Cookie = 0
	}
	sel, err := filterText(f, s, hasTable, path, 0)
	if err != nil {
		return "", err
	}
	if f.Cookie != 0 {
		sel = strings.TrimSuffix(fmt.Sprintf("cookie=%#x,%s", f.Cookie, sel), ",")
	}
	text := strings.TrimPrefix(sel+",actions="+openflow.FormatActions(f.Actions, nil), ",")
	back, err := openflow.ParseFlow(text, nil)
	if err != nil {
		return "", specError(path, "%v", err)
	}
	if len(back.Actions) != len(f.Actions) {
		return "", specError(path+".actions", "cannot be expressed exactly in flow syntax (read back as %s)", openflow.FormatActions(back.Actions, nil))
	}
	for i := range f.Actions {
		if back.Actions[i] != f.Actions[i] {
			return "", specError(fmt.Sprintf("%s.actions[%d]", path, i), "cannot be expressed exactly in flow syntax (reads back as %s)", openflow.FormatActions(back.Actions[i:i+1], nil))
		}
	}
	return text, nil
}

// ---- handlers ----

var flowNumRe = regexp.MustCompile(`^flow (\d+): `)

// renumber turns the bridge's "flow N: " (1-based, for add-flows files)
// into the request's "flows[N-1]: ".
func renumber(err error) error {
	st := status.Convert(err)
	m := flowNumRe.FindStringSubmatch(st.Message())
	if m == nil {
		return err
	}
	n, _ := strconv.Atoi(m[1])
	return status.Errorf(st.Code(), "flows[%d]: %s", n-1, st.Message()[len(m[0]):])
}

func (s *service) FlowMod(_ context.Context, r *pb.FlowModRequest) (*pb.FlowModResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if len(r.GetFlows()) == 0 {
		return nil, invalid("flows: at least one flow is required")
	}
	// Every spec is converted before anything changes, so a bad one in the
	// middle of a MODIFY or DELETE list leaves the rules as they were.
	texts := make([]string, len(r.GetFlows()))
	for i, spec := range r.GetFlows() {
		path := fmt.Sprintf("flows[%d]", i)
		var err error
		switch r.GetCommand() {
		case pb.FlowModCommand_FLOW_MOD_COMMAND_ADD:
			texts[i], err = addText(spec, path)
		case pb.FlowModCommand_FLOW_MOD_COMMAND_MODIFY, pb.FlowModCommand_FLOW_MOD_COMMAND_MODIFY_STRICT:
			texts[i], err = modText(spec, path)
		case pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE, pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE_STRICT:
			texts[i], err = selectText(spec, path)
		case pb.FlowModCommand_FLOW_MOD_COMMAND_UNSPECIFIED:
			return nil, invalid("command is required (ADD, MODIFY, MODIFY_STRICT, DELETE, DELETE_STRICT)")
		default:
			return nil, invalid("command: unknown value %d", int32(r.GetCommand()))
		}
		if err != nil {
			return nil, err
		}
	}
	var err error
	switch r.GetCommand() {
	case pb.FlowModCommand_FLOW_MOD_COMMAND_ADD:
		if err = s.sw.AddFlows(r.GetBridge(), texts); err != nil {
			return nil, renumber(toStatus(err))
		}
	case pb.FlowModCommand_FLOW_MOD_COMMAND_MODIFY, pb.FlowModCommand_FLOW_MOD_COMMAND_MODIFY_STRICT:
		strict := r.GetCommand() == pb.FlowModCommand_FLOW_MOD_COMMAND_MODIFY_STRICT
		for i, t := range texts {
			if err = s.sw.ModFlows(r.GetBridge(), t, strict); err != nil {
				err = fmt.Errorf("flows[%d]: %w", i, err)
				break
			}
		}
	default:
		strict := r.GetCommand() == pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE_STRICT
		for i, t := range texts {
			if err = s.sw.DelFlows(r.GetBridge(), t, strict); err != nil {
				err = fmt.Errorf("flows[%d]: %w", i, err)
				break
			}
		}
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.FlowModResponse{}, nil
}

func (s *service) DumpFlowSpecs(_ context.Context, r *pb.DumpFlowSpecsRequest) (*pb.DumpFlowSpecsResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	sel := ""
	if r.GetFilter() != nil {
		var err error
		if sel, err = selectText(r.GetFilter(), "filter"); err != nil {
			return nil, err
		}
	}
	views, err := s.sw.DumpFlows(r.GetBridge(), sel, false)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.DumpFlowSpecsResponse{Flows: make([]*pb.FlowSpecStats, 0, len(views))}
	for _, v := range views {
		// The view's text has ports by number; table, priority and cookie
		// travel beside it.
		text := fmt.Sprintf("table=%d,priority=%d,cookie=%#x,%s", v.Table, v.Priority, v.Cookie, strings.TrimSpace(v.Text))
		f := v.Flow // the whole rule: timeouts, importance and flags too
		if f == nil {
			var err error
			if f, err = openflow.ParseFlow(text, nil); err != nil {
				return nil, status.Errorf(codes.Internal, "dumped rule %q does not parse: %v", text, err)
			}
		}
		spec, err := flowToSpec(f)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "dumped rule %q: %v", text, err)
		}
		resp.Flows = append(resp.Flows, &pb.FlowSpecStats{
			Spec: spec, Duration: durationpb.New(v.Duration),
			NPackets: v.Packets, NBytes: v.Bytes, Text: f.String(),
		})
	}
	return resp, nil
}
