package bridge

import (
	"encoding/binary"

	"vswitch/datapath"
	"vswitch/flowtable"
	"vswitch/openflow"
)

// Header fields an action may have written since the last commit.
const (
	dirtyEthSrc uint16 = 1 << iota
	dirtyEthDst
	dirtyNwSrc
	dirtyNwDst
	dirtyNwTos
	dirtyNwTTL
	dirtyTpSrc
	dirtyTpDst
)

// dirtyOf says which header field an action writes. A written field gets
// a set action even if its value did not change, so the decision never
// depends on the packet's original value (which the megaflow wildcards).
func dirtyOf(a *openflow.Action) uint16 {
	switch a.Type {
	case openflow.ActModDlSrc:
		return dirtyEthSrc
	case openflow.ActModDlDst:
		return dirtyEthDst
	case openflow.ActModNwSrc:
		return dirtyNwSrc
	case openflow.ActModNwDst:
		return dirtyNwDst
	case openflow.ActModNwTos, openflow.ActModNwEcn:
		return dirtyNwTos
	case openflow.ActModNwTTL, openflow.ActDecTTL:
		return dirtyNwTTL
	case openflow.ActModTpSrc:
		return dirtyTpSrc
	case openflow.ActModTpDst:
		return dirtyTpDst
	case openflow.ActSetField, openflow.ActLoad, openflow.ActMove:
		switch a.Field {
		case openflow.FieldEthSrc:
			return dirtyEthSrc
		case openflow.FieldEthDst:
			return dirtyEthDst
		case openflow.FieldIPSrc, openflow.FieldIPv6Src:
			return dirtyNwSrc
		case openflow.FieldIPDst, openflow.FieldIPv6Dst:
			return dirtyNwDst
		case openflow.FieldNwTos, openflow.FieldIPDSCP, openflow.FieldIPECN:
			return dirtyNwTos
		case openflow.FieldNwTTL:
			return dirtyNwTTL
		case openflow.FieldTpSrc, openflow.FieldTCPSrc, openflow.FieldUDPSrc, openflow.FieldSCTPSrc:
			return dirtyTpSrc
		case openflow.FieldTpDst, openflow.FieldTCPDst, openflow.FieldUDPDst, openflow.FieldSCTPDst:
			return dirtyTpDst
		}
	}
	return 0
}

// commitFields emits set actions for the header fields actions wrote since
// the last output. Each writes an absolute value, so the megaflow needs only
// what tells which headers the packet has.
func (x *xlate) commitFields() {
	d := x.dirty
	if d == 0 {
		return
	}
	x.dirty = 0
	k := &x.key
	if d&dirtyEthSrc != 0 {
		x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetEthSrc, Arg: datapath.MACArg(k.DlSrc)})
	}
	if d&dirtyEthDst != 0 {
		x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetEthDst, Arg: datapath.MACArg(k.DlDst)})
	}
	if d&^(dirtyEthSrc|dirtyEthDst) == 0 {
		return
	}
	x.wc.DlType = 0xffff
	switch k.DlType {
	case flowtable.EthTypeIPv4:
		if d&dirtyNwSrc != 0 {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv4Src, Arg: uint64(binary.BigEndian.Uint32(k.NwSrc[:4]))})
		}
		if d&dirtyNwDst != 0 {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv4Dst, Arg: uint64(binary.BigEndian.Uint32(k.NwDst[:4]))})
		}
		if d&dirtyNwTos != 0 {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv4Tos, Arg: uint64(k.NwTos)})
		}
		if d&dirtyNwTTL != 0 {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv4TTL, Arg: uint64(k.NwTTL)})
		}
	case flowtable.EthTypeIPv6:
		if d&dirtyNwSrc != 0 {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv6Src,
				Arg: binary.BigEndian.Uint64(k.NwSrc[:8]), Arg2: binary.BigEndian.Uint64(k.NwSrc[8:])})
		}
		if d&dirtyNwDst != 0 {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv6Dst,
				Arg: binary.BigEndian.Uint64(k.NwDst[:8]), Arg2: binary.BigEndian.Uint64(k.NwDst[8:])})
		}
		if d&dirtyNwTos != 0 {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv6TC, Arg: uint64(k.NwTos)})
		}
		if d&dirtyNwTTL != 0 {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv6HopLimit, Arg: uint64(k.NwTTL)})
		}
	default:
		return // no such header (prerequisites keep rules from asking)
	}
	if d&(dirtyTpSrc|dirtyTpDst) != 0 {
		x.wc.NwProto, x.wc.NwFrag = 0xff, 0xff
		if (k.NwProto == flowtable.IPProtoTCP || k.NwProto == flowtable.IPProtoUDP || k.NwProto == flowtable.IPProtoSCTP) && k.NwFrag&flowtable.FragLater == 0 {
			if d&dirtyTpSrc != 0 {
				x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetTPSrc, Arg: uint64(k.TpSrc)})
			}
			if d&dirtyTpDst != 0 {
				x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetTPDst, Arg: uint64(k.TpDst)})
			}
		}
	}
}

func isIP(t uint16) bool { return t == flowtable.EthTypeIPv4 || t == flowtable.EthTypeIPv6 }

// setField applies a header or metadata write to the translation's key.
// Writes to headers the packet lacks are skipped, as OVS does; the
// megaflow then matches what told them apart.
func (x *xlate) setField(a *openflow.Action) {
	k := &x.key
	switch a.Type {
	case openflow.ActModNwSrc, openflow.ActModNwDst:
		x.wc.DlType = 0xffff
		if k.DlType != flowtable.EthTypeIPv4 {
			return
		}
	case openflow.ActModNwTos, openflow.ActModNwEcn, openflow.ActModNwTTL:
		x.wc.DlType = 0xffff
		if !isIP(k.DlType) {
			return
		}
	case openflow.ActModTpSrc, openflow.ActModTpDst:
		x.wc.DlType, x.wc.NwProto, x.wc.NwFrag = 0xffff, 0xff, 0xff
		if !isIP(k.DlType) || k.NwFrag&flowtable.FragLater != 0 ||
			(k.NwProto != flowtable.IPProtoTCP && k.NwProto != flowtable.IPProtoUDP && k.NwProto != flowtable.IPProtoSCTP) {
			return
		}
	case openflow.ActSetField, openflow.ActLoad:
		if a.Field == openflow.FieldVlanVID || a.Field == openflow.FieldVlanPCP {
			x.wc.VlanTCI = 0xffff
			if k.VlanTCI&flowtable.TCIPresent == 0 {
				return // OVS leaves an untagged packet alone
			}
			x.vlanMod = true
		}
		if a.Field == openflow.FieldVlanTCI {
			x.vlanMod = true
		}
		if a.Type == openflow.ActSetField && !a.Field.IsMeta() {
			// A partial write keeps the packet's other bits: the result
			// depends on them.
			if hi, lo := a.Field.Mask(); a.Mask != lo || a.Mask2 != hi {
				x.unwildcard(a.Field)
			}
		}
		if a.Type == openflow.ActLoad && !a.Field.IsMeta() && int(a.NBits) != a.Field.Bits() {
			x.unwildcard(a.Field)
		}
	case openflow.ActMove:
		if !a.SrcField.IsMeta() {
			x.unwildcard(a.SrcField)
		}
		if !a.Field.IsMeta() && int(a.NBits) != a.Field.Bits() {
			x.unwildcard(a.Field)
		}
		if a.Field == openflow.FieldVlanVID || a.Field == openflow.FieldVlanPCP || a.Field == openflow.FieldVlanTCI {
			x.wc.VlanTCI = 0xffff
			x.vlanMod = true
		}
	}
	a.ApplyToKey(k, &x.meta)
	x.dirty |= dirtyOf(a)
}

// unwildcard makes the megaflow match every bit of a packet field.
func (x *xlate) unwildcard(f openflow.Field) {
	var m flowtable.Key
	var meta openflow.Meta
	hi, lo := f.Mask()
	f.Write(&m, &meta, hi, lo)
	x.wc.Or(&m)
}

// decTTL decrements the IP TTL / hop limit; false when it reached zero.
func (x *xlate) decTTL() bool {
	x.wc.DlType = 0xffff
	if !isIP(x.key.DlType) {
		return true
	}
	x.wc.NwTTL = 0xff
	if x.key.NwTTL <= 1 {
		return false
	}
	x.key.NwTTL--
	x.dirty |= dirtyNwTTL
	return true
}
