// Package openflow is the OpenFlow rule model of the slow path and our own
// parser and printer for the flow syntax of ovs-ofctl(8).
//
// A rule matches packets as a masked flowtable.Key: a packet key k matches
// when k & Mask == Key, word by word. Keys are kept normalised (no bit set
// in Key outside Mask) so that the comparison is exact. In rule keys InPort
// holds the OpenFlow port number, not the datapath one: the bridge layer
// translates before it matches.
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
}

// Matches reports whether the packet key k satisfies the match. It does
// not allocate and touches only the key words.
func (m *Match) Matches(k *flowtable.Key) bool {
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
	return m.Key == o.Key && m.Mask == o.Mask
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
	return true
}

// IsCatchAll reports whether the match wildcards every field.
func (m *Match) IsCatchAll() bool {
	return m.Mask == flowtable.Key{}
}

// normalize clears key bits outside the mask.
func (m *Match) normalize() {
	kw, mw := m.Key.Words(), m.Mask.Words()
	for i := range kw {
		kw[i] &= mw[i]
	}
}

// ActionType says what an Action does.
type ActionType uint8

// Action types. New ones are appended; the zero value is invalid so that a
// forgotten Type is caught.
const (
	ActInvalid    ActionType = iota
	ActOutput                // output to OpenFlow port Port (an ordinary port, below PortMax)
	ActNormal                // L2 learning switch (NORMAL)
	ActFlood                 // all ports but the input port and those with flooding disabled
	ActAll                   // all ports but the input port
	ActLocal                 // the bridge's LOCAL port
	ActInPort                // back out of the input port (IN_PORT)
	ActController            // to the controller; Value is max_len
	ActDrop                  // explicit drop; never produced by the parser (an empty list drops)
	ActModVlanVid            // set VLAN ID Value, pushing a tag if there is none
	ActModVlanPcp            // set VLAN priority Value, pushing a tag if there is none
	ActStripVlan             // pop the outer VLAN tag; Alt: written as pop_vlan
	ActPushVlan              // push a VLAN tag with TPID Value
	ActModDlSrc              // set the Ethernet source to MAC
	ActModDlDst              // set the Ethernet destination to MAC
	ActResubmit              // look up again in Table (TableCurrent: this table) as if from Port (PortInPort: unchanged)
	ActGotoTable             // continue in Table; always the last action
)

var actionTypeNames = [...]string{
	ActInvalid:    "invalid",
	ActOutput:     "output",
	ActNormal:     "NORMAL",
	ActFlood:      "FLOOD",
	ActAll:        "ALL",
	ActLocal:      "LOCAL",
	ActInPort:     "IN_PORT",
	ActController: "controller",
	ActDrop:       "drop",
	ActModVlanVid: "mod_vlan_vid",
	ActModVlanPcp: "mod_vlan_pcp",
	ActStripVlan:  "strip_vlan",
	ActPushVlan:   "push_vlan",
	ActModDlSrc:   "mod_dl_src",
	ActModDlDst:   "mod_dl_dst",
	ActResubmit:   "resubmit",
	ActGotoTable:  "goto_table",
}

// String returns the action's keyword.
func (t ActionType) String() string {
	if int(t) < len(actionTypeNames) {
		return actionTypeNames[t]
	}
	return "action" + itoa(uint64(t))
}

// Action is one OpenFlow action. It is a pointer-free value so action lists
// are plain slices the translation loop walks without indirection. Which
// fields are meaningful depends on Type (see the constants); the rest are
// zero, so two equal actions compare equal with ==.
type Action struct {
	Type  ActionType
	Table uint8  // ActResubmit (TableCurrent when not given), ActGotoTable
	Alt   bool   // the alternative spelling was used (pop_vlan for strip_vlan); printed back the same way
	Port  uint32 // ActOutput; ActResubmit (PortInPort when not given)
	Value uint64 // ActModVlanVid VID, ActModVlanPcp PCP, ActPushVlan TPID, ActController max_len
	MAC   [6]byte
}

// Flow is one OpenFlow rule.
type Flow struct {
	Table       uint8
	Priority    uint16 // DefaultPriority unless given
	Cookie      uint64
	IdleTimeout uint16 // seconds, 0 = none
	HardTimeout uint16 // seconds, 0 = none
	Match       Match
	Actions     []Action // empty: drop
}

// Equal reports whether two flows are identical in every attribute.
func (f *Flow) Equal(o *Flow) bool {
	if f.Table != o.Table || f.Priority != o.Priority || f.Cookie != o.Cookie ||
		f.IdleTimeout != o.IdleTimeout || f.HardTimeout != o.HardTimeout ||
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
