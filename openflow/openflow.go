// Package openflow is the OpenFlow rule model of the slow path and our own
// parser and printer for the flow syntax of ovs-ofctl(8).
//
// A rule matches packets as a masked flowtable.Key: a packet key k matches
// when k & Mask == Key, word by word. Keys are kept normalised (no bit set
// in Key outside Mask) so that the comparison is exact. In rule keys InPort
// holds the OpenFlow port number, not the datapath one: the bridge layer
// translates before it matches.
//
// Pipeline metadata (metadata, reg0-reg15) is not part of a packet and so
// not of flowtable.Key: a Match carries it beside the key (Meta, MetaMask)
// and MatchesMeta compares it. Field is the registry of every field
// set_field, load and move can touch, with pure Read/Write helpers over a
// key and a Meta.
//
// Text goes both ways: ParseFlow reads add-flow syntax, ParseMatch the
// del-flows/dump-flows syntax, and the printers produce the canonical form
// ovs-ofctl dump-flows shows, which the parser reads back to an equal rule.
package openflow

import "vswitch/flowtable"

// Reserved OpenFlow port numbers, in their OpenFlow 1.0 16-bit form, which
// is how ovs-ofctl prints and accepts them. Untyped so they compare against
// any integer port type.
const (
	PortMax        = 0xff00 // first number past the ordinary ports
	PortInPort     = 0xfff8
	PortTable      = 0xfff9
	PortNormal     = 0xfffa
	PortFlood      = 0xfffb
	PortAll        = 0xfffc
	PortController = 0xfffd
	PortLocal      = 0xfffe
	PortNone       = 0xffff
)

// Flow defaults as OpenFlow defines them.
const (
	DefaultPriority = 32768
	// TableCurrent in Action.Table of a Resubmit means "the table the
	// resubmitting rule is in" (OVS's 255).
	TableCurrent = 255
	// MaxTable is the highest table a rule may live in.
	MaxTable = 254
	// DefaultControllerMaxLen is the byte count sent to the controller by
	// a bare "controller" action: the whole packet.
	DefaultControllerMaxLen = 65535
)

// Match is a masked flow key: Key holds the values, Mask the bits that are
// compared. Key never has bits outside Mask. The printed form is derived
// from the two alone (as OVS derives it from its match), so Match needs no
// other state and stays a pointer-free value.
type Match struct {
	Key, Mask flowtable.Key
	// Meta and MetaMask match the pipeline metadata (metadata=, reg0..15=),
	// which lives beside the packet key rather than in it; Meta never has
	// bits outside MetaMask.
	Meta, MetaMask Meta
}

// Meta is the per-packet pipeline state OpenFlow rules can match and
// write but that is not part of the packet: the 64-bit metadata field
// (write_metadata, goto_table) and the sixteen 32-bit registers reg0-reg15
// (load, move, set_field). A packet enters table 0 with all of it zero.
type Meta struct {
	Metadata uint64
	Regs     [16]uint32
}

// Matches reports whether the packet key k satisfies the match, taking the
// pipeline metadata as zero (a packet at the start of the pipeline). It
// does not allocate and touches only the key words.
func (m *Match) Matches(k *flowtable.Key) bool {
	// Meta is normalised under MetaMask, so zero metadata matches exactly
	// when the match wants zero in every bit it looks at.
	if m.Meta != (Meta{}) {
		return false
	}
	return m.matchesKey(k)
}

// MatchesMeta reports whether a packet with key k and pipeline metadata
// meta satisfies the match. It does not allocate.
func (m *Match) MatchesMeta(k *flowtable.Key, meta *Meta) bool {
	if meta.Metadata&m.MetaMask.Metadata != m.Meta.Metadata {
		return false
	}
	for i := range meta.Regs {
		if meta.Regs[i]&m.MetaMask.Regs[i] != m.Meta.Regs[i] {
			return false
		}
	}
	return m.matchesKey(k)
}

func (m *Match) matchesKey(k *flowtable.Key) bool {
	kw, mk, mm := k.Words(), m.Key.Words(), m.Mask.Words()
	for i := range kw {
		if kw[i]&mm[i] != mk[i] {
			return false
		}
	}
	return true
}

// Equal reports whether two matches match exactly the same packets on the
// same fields (OpenFlow's "strict" identity).
func (m Match) Equal(o Match) bool {
	return m.Key == o.Key && m.Mask == o.Mask && m.Meta == o.Meta && m.MetaMask == o.MetaMask
}

// Covers reports whether every packet o matches is also matched by m: o is
// at least as specific as m on every field m matches and agrees with m's
// values there. It is the non-strict selection of del-flows and mod-flows.
func (m Match) Covers(o Match) bool {
	mk, mm := m.Key.Words(), m.Mask.Words()
	ok, om := o.Key.Words(), o.Mask.Words()
	for i := range mk {
		if mm[i]&^om[i] != 0 || ok[i]&mm[i] != mk[i] {
			return false
		}
	}
	if m.MetaMask.Metadata&^o.MetaMask.Metadata != 0 || o.Meta.Metadata&m.MetaMask.Metadata != m.Meta.Metadata {
		return false
	}
	for i := range m.Meta.Regs {
		if m.MetaMask.Regs[i]&^o.MetaMask.Regs[i] != 0 || o.Meta.Regs[i]&m.MetaMask.Regs[i] != m.Meta.Regs[i] {
			return false
		}
	}
	return true
}

// IsCatchAll reports whether the match wildcards every field.
func (m *Match) IsCatchAll() bool {
	return m.Mask == flowtable.Key{} && m.MetaMask == Meta{}
}

// normalize clears key bits outside the mask.
func (m *Match) normalize() {
	kw, mw := m.Key.Words(), m.Mask.Words()
	for i := range kw {
		kw[i] &= mw[i]
	}
	m.Meta.Metadata &= m.MetaMask.Metadata
	for i := range m.Meta.Regs {
		m.Meta.Regs[i] &= m.MetaMask.Regs[i]
	}
}

// ActionType says what an Action does.
type ActionType uint8

// Action types. New ones are appended; the zero value is invalid so that a
// forgotten Type is caught. The comment of each says which Action fields
// it uses; all others are zero.
const (
	ActInvalid       ActionType = iota
	ActOutput                   // output to OpenFlow port Port (an ordinary port, below PortMax)
	ActNormal                   // L2 learning switch (NORMAL)
	ActFlood                    // all ports but the input port and those with flooding disabled
	ActAll                      // all ports but the input port
	ActLocal                    // the bridge's LOCAL port
	ActInPort                   // back out of the input port (IN_PORT)
	ActController               // to the controller; Value max_len, Reason, Value2 controller id
	ActDrop                     // explicit drop; never produced by the parser (an empty list drops)
	ActModVlanVid               // set VLAN ID Value, pushing a tag if there is none
	ActModVlanPcp               // set VLAN priority Value, pushing a tag if there is none
	ActStripVlan                // pop the outer VLAN tag; Alt: written as pop_vlan
	ActPushVlan                 // push a VLAN tag with TPID Value
	ActModDlSrc                 // set the Ethernet source to MAC
	ActModDlDst                 // set the Ethernet destination to MAC
	ActResubmit                 // look up again in Table (TableCurrent: this table) as if from Port (PortInPort: unchanged)
	ActGotoTable                // continue in Table; always the last action
	ActModNwSrc                 // set the IPv4 source to Value (the address as a big-endian number)
	ActModNwDst                 // set the IPv4 destination to Value
	ActModNwTos                 // set the DSCP bits of the ToS byte to Value (low two bits zero)
	ActModNwEcn                 // set the ECN bits of the ToS byte to Value (0-3)
	ActModNwTTL                 // set the IP TTL / hop limit to Value
	ActModTpSrc                 // set the TCP/UDP/SCTP source port to Value
	ActModTpDst                 // set the TCP/UDP/SCTP destination port to Value
	ActDecTTL                   // decrement the IP TTL; the packet is dropped (sent to controllers asking for invalid_ttl) at 0
	ActSetField                 // Field = (Value2:Value) under the mask (Mask2:Mask) (all ones for a plain set_field)
	ActLoad                     // bits [Ofs, Ofs+NBits) of Field = (Value2:Value)
	ActMove                     // bits [Ofs, Ofs+NBits) of Field = bits [SrcOfs, SrcOfs+NBits) of SrcField
	ActWriteMetadata            // metadata = metadata&^Mask | Value&Mask
	ActSetTunnel                // tun_id = Value; Alt: written as set_tunnel64
)

var actionTypeNames = [...]string{
	ActInvalid:       "invalid",
	ActOutput:        "output",
	ActNormal:        "NORMAL",
	ActFlood:         "FLOOD",
	ActAll:           "ALL",
	ActLocal:         "LOCAL",
	ActInPort:        "IN_PORT",
	ActController:    "controller",
	ActDrop:          "drop",
	ActModVlanVid:    "mod_vlan_vid",
	ActModVlanPcp:    "mod_vlan_pcp",
	ActStripVlan:     "strip_vlan",
	ActPushVlan:      "push_vlan",
	ActModDlSrc:      "mod_dl_src",
	ActModDlDst:      "mod_dl_dst",
	ActResubmit:      "resubmit",
	ActGotoTable:     "goto_table",
	ActModNwSrc:      "mod_nw_src",
	ActModNwDst:      "mod_nw_dst",
	ActModNwTos:      "mod_nw_tos",
	ActModNwEcn:      "mod_nw_ecn",
	ActModNwTTL:      "mod_nw_ttl",
	ActModTpSrc:      "mod_tp_src",
	ActModTpDst:      "mod_tp_dst",
	ActDecTTL:        "dec_ttl",
	ActSetField:      "set_field",
	ActLoad:          "load",
	ActMove:          "move",
	ActWriteMetadata: "write_metadata",
	ActSetTunnel:     "set_tunnel",
}

// String returns the action's keyword.
func (t ActionType) String() string {
	if int(t) < len(actionTypeNames) {
		return actionTypeNames[t]
	}
	return "action" + itoa(uint64(t))
}

// ControllerReason is the packet-in reason a controller action reports.
// The zero value is "action", the default.
type ControllerReason uint8

// Packet-in reasons. The numbering is ours (zero is the default), not
// OpenFlow's.
const (
	ReasonAction     ControllerReason = iota // the default
	ReasonNoMatch                            // no_match
	ReasonInvalidTTL                         // invalid_ttl
	ReasonActionSet                          // action_set
	ReasonGroup                              // group
	ReasonPacketOut                          // packet_out
)

var reasonNames = [...]string{
	ReasonAction:     "action",
	ReasonNoMatch:    "no_match",
	ReasonInvalidTTL: "invalid_ttl",
	ReasonActionSet:  "action_set",
	ReasonGroup:      "group",
	ReasonPacketOut:  "packet_out",
}

// String returns the reason's ovs-ofctl keyword.
func (r ControllerReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason" + itoa(uint64(r))
}

// Action is one OpenFlow action. It is a pointer-free value so action lists
// are plain slices the translation loop walks without indirection. Which
// fields are meaningful depends on Type (see the constants); the rest are
// zero, so two equal actions compare equal with ==.
type Action struct {
	Type   ActionType
	Table  uint8            // ActResubmit (TableCurrent when not given), ActGotoTable
	Alt    bool             // the alternative spelling was used (pop_vlan, set_tunnel64); printed back the same way
	Reason ControllerReason // ActController
	Field  Field            // ActSetField, ActLoad, ActMove: the destination
	Ofs    uint8            // ActLoad, ActMove: first destination bit (0 = least significant)
	NBits  uint8            // ActLoad, ActMove: number of bits; 0 in no other case (a 128-bit range is 128)
	// SrcField and SrcOfs are the source of ActMove.
	SrcField Field
	SrcOfs   uint8
	Port     uint32 // ActOutput; ActResubmit (PortInPort when not given)
	// Value is the action's argument: ActModVlanVid VID, ActModVlanPcp
	// PCP, ActPushVlan TPID, ActController max_len, ActModNw* and
	// ActModTp* the new value, ActSetField/ActLoad the low 64 bits of the
	// value, ActWriteMetadata and ActSetTunnel the value.
	Value uint64
	// Value2 holds the high 64 bits of a 128-bit ActSetField/ActLoad value
	// (IPv6 addresses), and the controller id of ActController.
	Value2 uint64
	// Mask and Mask2 are the low and high 64 bits of the ActSetField mask
	// (all ones over the field's width without "/MASK") and the
	// ActWriteMetadata mask (all ones without "/MASK").
	Mask, Mask2 uint64
	MAC         [6]byte // ActModDlSrc, ActModDlDst
}

// Flow is one OpenFlow rule.
type Flow struct {
	Table       uint8
	Priority    uint16 // DefaultPriority unless given
	Cookie      uint64
	IdleTimeout uint16 // seconds, 0 = none
	HardTimeout uint16 // seconds, 0 = none
	// Importance ranks the flow for eviction from a full table (0 = the
	// first to go).
	Importance uint16
	// SendFlowRem asks for a flow-removed message when the flow expires
	// or is deleted.
	SendFlowRem bool
	Match       Match
	Actions     []Action // empty: drop
}

// Equal reports whether two flows are identical in every attribute.
func (f *Flow) Equal(o *Flow) bool {
	if f.Table != o.Table || f.Priority != o.Priority || f.Cookie != o.Cookie ||
		f.IdleTimeout != o.IdleTimeout || f.HardTimeout != o.HardTimeout ||
		f.Importance != o.Importance || f.SendFlowRem != o.SendFlowRem ||
		!f.Match.Equal(o.Match) || len(f.Actions) != len(o.Actions) {
		return false
	}
	for i := range f.Actions {
		if f.Actions[i] != o.Actions[i] {
			return false
		}
	}
	return true
}

// OutputsTo reports whether the flow has an action that outputs to
// OpenFlow port p, reserved ports included (an ActNormal outputs to
// PortNormal, ActController to PortController, and so on). It is the
// out_port selection of del-flows and dump-flows; PortNone selects every
// flow.
func (f *Flow) OutputsTo(p uint32) bool {
	if p == PortNone {
		return true
	}
	for i := range f.Actions {
		a := &f.Actions[i]
		var q uint32
		switch a.Type {
		case ActOutput:
			q = a.Port
		case ActNormal:
			q = PortNormal
		case ActFlood:
			q = PortFlood
		case ActAll:
			q = PortAll
		case ActLocal:
			q = PortLocal
		case ActInPort:
			q = PortInPort
		case ActController:
			q = PortController
		default:
			continue
		}
		if q == p {
			return true
		}
	}
	return false
}

// Clone returns a deep copy of the flow.
func (f *Flow) Clone() *Flow {
	c := *f
	c.Actions = append([]Action(nil), f.Actions...)
	return &c
}

// PortNamer translates between OpenFlow port numbers and port names so that
// flows can name ports ("in_port=vm1", "output:vm1") and print them by
// name. Every function taking one accepts nil: then only numbers and the
// reserved names are understood.
type PortNamer interface {
	PortNumber(name string) (uint32, bool)
	PortName(num uint32) (string, bool)
}
