package bridge

import (
	"encoding/binary"

	"vswitch/datapath"
	"vswitch/flowtable"
)

// commitFields emits set actions for the header fields the pipeline changed
// since the last output. Each action writes an absolute value, so the
// megaflow needs only what tells which headers the packet has.
func (x *xlate) commitFields() {
	k, p := &x.key, &x.pkt
	if k.DlSrc != p.DlSrc {
		x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetEthSrc, Arg: datapath.MACArg(k.DlSrc)})
		p.DlSrc = k.DlSrc
	}
	if k.DlDst != p.DlDst {
		x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetEthDst, Arg: datapath.MACArg(k.DlDst)})
		p.DlDst = k.DlDst
	}
	if k.NwSrc == p.NwSrc && k.NwDst == p.NwDst && k.NwTos == p.NwTos && k.NwTTL == p.NwTTL &&
		k.TpSrc == p.TpSrc && k.TpDst == p.TpDst {
		return
	}
	x.wc.DlType = 0xffff
	switch p.DlType {
	case flowtable.EthTypeIPv4:
		if k.NwSrc != p.NwSrc {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv4Src, Arg: uint64(binary.BigEndian.Uint32(k.NwSrc[:4]))})
		}
		if k.NwDst != p.NwDst {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv4Dst, Arg: uint64(binary.BigEndian.Uint32(k.NwDst[:4]))})
		}
		if k.NwTos != p.NwTos {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv4Tos, Arg: uint64(k.NwTos)})
		}
		if k.NwTTL != p.NwTTL {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv4TTL, Arg: uint64(k.NwTTL)})
		}
	case flowtable.EthTypeIPv6:
		if k.NwSrc != p.NwSrc {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv6Src,
				Arg: binary.BigEndian.Uint64(k.NwSrc[:8]), Arg2: binary.BigEndian.Uint64(k.NwSrc[8:])})
		}
		if k.NwDst != p.NwDst {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv6Dst,
				Arg: binary.BigEndian.Uint64(k.NwDst[:8]), Arg2: binary.BigEndian.Uint64(k.NwDst[8:])})
		}
		if k.NwTos != p.NwTos {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv6TC, Arg: uint64(k.NwTos)})
		}
		if k.NwTTL != p.NwTTL {
			x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetIPv6HopLimit, Arg: uint64(k.NwTTL)})
		}
	default:
		// No such header: nothing to rewrite (flow prerequisites keep
		// rules from asking for it).
		*p = *k
		return
	}
	if k.TpSrc != p.TpSrc || k.TpDst != p.TpDst {
		x.wc.NwProto, x.wc.NwFrag = 0xff, 0xff
		if (p.NwProto == flowtable.IPProtoTCP || p.NwProto == flowtable.IPProtoUDP || p.NwProto == flowtable.IPProtoSCTP) && p.NwFrag&flowtable.FragLater == 0 {
			if k.TpSrc != p.TpSrc {
				x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetTPSrc, Arg: uint64(k.TpSrc)})
			}
			if k.TpDst != p.TpDst {
				x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetTPDst, Arg: uint64(k.TpDst)})
			}
		}
	}
	p.NwSrc, p.NwDst, p.NwTos, p.NwTTL, p.TpSrc, p.TpDst = k.NwSrc, k.NwDst, k.NwTos, k.NwTTL, k.TpSrc, k.TpDst
}
