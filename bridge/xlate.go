package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"vswitch/datapath"
	"vswitch/flowtable"
	"vswitch/openflow"
	"vswitch/vxlan"
)

// Translation limits, as OVS: nesting depth of resubmits and patch-port
// hops, and resubmits in all.
const (
	maxDepth     = 64
	maxResubmits = 4096
)

// xsnap is an immutable view of the configuration that upcalls translate
// through; the control plane replaces it whole on every change, so PMDs
// never wait for a control-plane lock.
type xsnap struct {
	byDP    []*xport // datapath port number -> port
	bridges map[string]*xbridge
	punts   *puntTable // controller-action contexts (outlives snapshots)
	tnl     *xtunnels  // nil until the first tunnel port
}

type xbridge struct {
	tstats  *[256]tableStats // outlives snapshots
	name    string
	macs    *macTable
	ports   map[int]*xport // by OpenFlow port number
	flood   []*xport       // every port, in OpenFlow port order
	tables  [][]*rule      // per table, highest priority first
	changed func()         // invalidates the datapath's flows
	// failOpen: standalone bridge whose controller is gone; it forwards
	// everything with NORMAL, ignoring its tables, as OVS's fail-open does.
	failOpen bool
	// The LOCAL port's kernel device, for tunnels routed through it.
	mac     [6]byte
	mtu     int
	ifindex int
}

type xport struct {
	name   string
	ofport int
	dp     uint32 // 0: not in the datapath (patch, or device missing)
	br     *xbridge
	vlan   portVLAN
	peer   *xport // patch peer
	tun    *vxlan.Options
}

// rule is an installed OpenFlow rule. Its ref collects the use and counts
// of the megaflows it decided.
type rule struct {
	flow  *openflow.Flow
	added time.Time
	ref   uint32
	// id is the rule's key in the store; transient rules (add-flow
	// --transient) are not stored and have none.
	id        uint64
	transient bool
}

var errNoPort = errors.New("packet from a port the switch does not know")

// xlate is one translation's state.
type xlate struct {
	snap      *xsnap
	key       flowtable.Key // OpenFlow view: InPort is the OpenFlow port number
	meta      openflow.Meta // metadata and registers
	halted    bool          // dec_ttl hit zero: nothing more happens
	dirty     uint16        // header fields written since the last output
	trace     *TraceView    // set by Trace: record steps, change nothing
	wc        *flowtable.Key
	emit      uint16 // outer TCI the packet has after the emitted actions
	vlanMod   bool   // an action changed the VLAN: the result depends on the packet's tag
	acts      []datapath.Action
	refs      []uint32
	depth     int
	resubmits int
	tbl       int   // table being run
	rule      *rule // rule whose actions are running
	now       time.Time
	aborted   bool
}

// Upcall translates a missed packet (datapath.Upcaller).
func (s *Switch) Upcall(u *datapath.Upcall) error {
	snap := s.xs.Load()
	in := upcallPort(snap, u.Key, &u.Mask)
	if in == nil {
		if _, tunnel := snap.tnl.vportOf(u.Key.InPort); tunnel {
			// A tunnel packet no port claims (unknown VNI or remote):
			// dropped by a megaflow on its tunnel metadata.
			u.Mask.InPort = ^uint32(0)
			u.Actions, u.Refs = u.Actions[:0], u.Refs[:0]
			return nil
		}
		return errNoPort
	}
	u.Actions, u.Refs = translate(snap, in, u.Key, &u.Mask, u.Actions, u.Refs, nil)
	return nil
}

// upcallPort is the port a missed packet came in on: a datapath port, or
// for a decapsulated packet the tunnel port its metadata names.
func upcallPort(snap *xsnap, k, wc *flowtable.Key) *xport {
	if int(k.InPort) < len(snap.byDP) && snap.byDP[k.InPort] != nil {
		return snap.byDP[k.InPort]
	}
	p, _ := snap.tunnelIngress(k, wc)
	return p
}

// translate runs key, received on in, through in's bridge: the datapath
// actions, the refs decided on, and in wc every key bit consulted.
func translate(snap *xsnap, in *xport, key, wc *flowtable.Key, acts []datapath.Action, refs []uint32, trace *TraceView) ([]datapath.Action, []uint32) {
	wc.InPort = ^uint32(0)
	tci := key.VlanTCI
	if tci&flowtable.TCIPresent == 0 {
		tci = 0
	}
	x := xlate{snap: snap, key: *key, wc: wc, emit: tci, acts: acts, refs: refs, trace: trace}
	x.key.InPort = uint32(in.ofport)
	x.snoopARP(in.br)
	x.table(in.br, 0)
	if x.aborted {
		x.acts = x.acts[:0]
	}
	return x.acts, x.refs
}

var loopLog = newRateLog(time.Minute)

// abort drops the packet: the pipeline loops or recurses too deep.
func (x *xlate) abort(br *xbridge, why string) {
	if !x.aborted {
		x.aborted = true
		loopLog.warn("translation aborted; packet dropped", "bridge", br.name, "reason", why,
			"in_port", x.key.InPort, "dl_src", macString(x.key.DlSrc), "dl_dst", macString(x.key.DlDst))
	}
}

// table runs the key through one OpenFlow table of br.
func (x *xlate) table(br *xbridge, id int) {
	if x.aborted || x.halted || id >= len(br.tables) {
		return
	}
	if x.depth >= maxDepth {
		x.abort(br, "resubmit or patch depth over 64 (a loop?)")
		return
	}
	if br.failOpen {
		if id == 0 && x.depth < maxDepth {
			x.note("fail-open: controller gone, NORMAL")
			x.normal(br, br.ports[int(x.key.InPort)])
		}
		return
	}
	saved, savedRule := x.tbl, x.rule
	defer func() { x.tbl, x.rule = saved, savedRule }()
	x.tbl = id
	st := &br.tstats[id]
	if x.trace == nil {
		st.lookups.Add(1)
	}
	for _, r := range br.tables[id] {
		// Every field a rule looks at decides whether it matches, whether
		// it does or not: the megaflow must match on all of them.
		x.wc.Or(&r.flow.Match.Mask)
		if !r.flow.Match.MatchesMeta(&x.key, &x.meta) {
			continue
		}
		if x.trace == nil {
			st.matched.Add(1)
		}
		if r.ref != 0 {
			x.refs = append(x.refs, r.ref)
		}
		x.step(br, id, r)
		x.rule = r
		x.actions(br, r.flow.Actions)
		return
	}
	// A miss in any table drops, as in OVS.
	x.step(br, id, nil)
}

func (x *xlate) actions(br *xbridge, acts []openflow.Action) {
	in := br.ports[int(x.key.InPort)]
	for i := range acts {
		if x.halted || x.aborted {
			return
		}
		a := &acts[i]
		switch a.Type {
		case openflow.ActOutput:
			if int(a.Port) == int(x.key.InPort) {
				continue // OpenFlow: use IN_PORT to send back
			}
			x.outputOF(br, int(a.Port))
		case openflow.ActInPort:
			if in != nil {
				x.output(in)
			}
		case openflow.ActLocal:
			x.outputOF(br, openflow.PortLocal)
		case openflow.ActNormal:
			x.normal(br, in)
		case openflow.ActFlood, openflow.ActAll:
			for _, p := range br.flood {
				if p != in || a.Type == openflow.ActAll {
					x.output(p)
				}
			}
		case openflow.ActDrop:
			return
		case openflow.ActController:
			x.controller(br, a)
		case openflow.ActModVlanVid:
			pcp := x.key.VlanTCI & 0xe000
			x.key.VlanTCI = flowtable.TCIPresent | pcp | uint16(a.Value)&0x0fff
			x.vlanMod = true
		case openflow.ActModVlanPcp:
			x.key.VlanTCI = flowtable.TCIPresent | x.key.VlanTCI&0x0fff | uint16(a.Value&7)<<13
			x.vlanMod = true
		case openflow.ActStripVlan:
			x.key.VlanTCI = 0
			x.vlanMod = true
		case openflow.ActPushVlan:
			if x.key.VlanTCI&flowtable.TCIPresent == 0 {
				x.key.VlanTCI = flowtable.TCIPresent
			}
			x.vlanMod = true
		case openflow.ActModDlSrc, openflow.ActModDlDst, openflow.ActModNwSrc, openflow.ActModNwDst,
			openflow.ActModNwTos, openflow.ActModNwEcn, openflow.ActModNwTTL, openflow.ActModTpSrc,
			openflow.ActModTpDst, openflow.ActSetField, openflow.ActLoad, openflow.ActMove,
			openflow.ActWriteMetadata, openflow.ActSetTunnel:
			x.setField(a)
		case openflow.ActDecTTL:
			if !x.decTTL() {
				x.halted = true
				x.note("dec_ttl: TTL expired, packet dropped")
				return
			}
		case openflow.ActResubmit, openflow.ActGotoTable:
			if x.resubmits++; x.resubmits > maxResubmits {
				x.abort(br, "more than 4096 resubmits")
				return
			}
			saved := x.key.InPort
			if a.Type == openflow.ActResubmit && a.Port != openflow.PortInPort {
				x.key.InPort = a.Port
			}
			t := int(a.Table)
			if a.Type == openflow.ActResubmit && a.Table == openflow.TableCurrent {
				t = x.tbl
			}
			x.depth++
			x.table(br, t)
			x.depth--
			x.key.InPort = saved
			if a.Type == openflow.ActGotoTable {
				return
			}
		}
	}
}

func (x *xlate) outputOF(br *xbridge, ofport int) {
	if ofport == openflow.PortTable { // packet-out only: run the pipeline
		x.depth++
		x.table(br, 0)
		x.depth--
		return
	}
	if p := br.ports[ofport]; p != nil {
		x.output(p)
	}
}

// output emits the VLAN changes the key asks for, then sends to p (or, for
// a patch port, continues in the peer bridge).
func (x *xlate) output(p *xport) {
	if p.peer != nil {
		x.patch(p.peer)
		return
	}
	if p.tun != nil {
		x.encap(p)
		return
	}
	if p.ofport == ofportLocal && x.tunnelPop() {
		return
	}
	if p.dp == 0 {
		return
	}
	x.commitVLAN()
	x.commitFields()
	x.acts = append(x.acts, datapath.Output(p.dp))
	x.note("output to %s", p.name)
}

// patch continues translation in the peer's bridge as if the packet had
// arrived on the peer port.
func (x *xlate) patch(peer *xport) {
	if x.depth >= maxDepth {
		x.abort(peer.br, "patch port depth over 64")
		return
	}
	saved := x.key
	x.key.InPort = uint32(peer.ofport)
	x.depth++
	x.table(peer.br, 0)
	x.depth--
	x.key = saved
}

// commitVLAN makes the emitted packet's outer tag match x.key.VlanTCI.
func (x *xlate) commitVLAN() {
	want := x.key.VlanTCI
	if want&flowtable.TCIPresent == 0 {
		want = 0
	}
	if want != x.emit || x.vlanMod {
		// What is emitted (or that nothing is) depends on the packet's tag.
		x.wc.VlanTCI = 0xffff
	}
	switch {
	case want == x.emit:
	case want == 0:
		x.acts = append(x.acts, datapath.PopVLAN())
	case x.emit == 0:
		x.acts = append(x.acts, datapath.PushVLAN(flowtable.EthTypeVLAN, want&^flowtable.TCIPresent))
	default:
		x.acts = append(x.acts, datapath.SetVLAN(want&^flowtable.TCIPresent))
	}
	x.emit = want
}

// normal is the NORMAL action: a learning L2 switch with VLANs.
func (x *xlate) normal(br *xbridge, in *xport) {
	if x.now.IsZero() { // read the clock only for the pipelines that learn
		x.now = time.Now()
	}
	if in == nil {
		return
	}
	dst := x.key.DlDst
	// NORMAL decides on the ports, addresses and tag, never on L3/L4, so
	// megaflows between learned MACs stay wide.
	x.wc.DlDst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	x.wc.DlSrc = x.wc.DlDst
	x.wc.VlanTCI = 0xffff
	// 802.1D reserved addresses (STP, LACP, ...) are never forwarded.
	if dst[0] == 0x01 && dst[1] == 0x80 && dst[2] == 0xc2 && dst[3] == 0 && dst[4] == 0 && dst[5]&0xf0 == 0 {
		return
	}
	vlan, ok := in.vlan.input(x.key.VlanTCI)
	if !ok {
		return
	}
	if x.key.DlSrc[0]&1 == 0 && x.trace == nil {
		ref, changed := br.macs.learn(vlan, x.key.DlSrc, in.ofport, x.now)
		if changed {
			br.changed()
		}
		if ref != 0 {
			x.refs = append(x.refs, ref)
		}
	}
	pcp := (x.key.VlanTCI >> 13) & 7
	if x.key.VlanTCI&flowtable.TCIPresent == 0 {
		pcp = 0
	}
	saved := x.key.VlanTCI
	defer func() { x.key.VlanTCI = saved }()
	if dst[0]&1 == 0 {
		if of := br.macs.lookup(vlan, dst, x.now); of != 0 {
			out := br.ports[of]
			if out == nil || out == in || !out.vlan.carries(vlan) {
				return // no hairpin
			}
			x.note("NORMAL: %s is on port %s, VLAN %d", macString(dst), out.name, vlan)
			x.key.VlanTCI = out.vlan.output(vlan, pcp)
			x.output(out)
			return
		}
	}
	x.note("NORMAL: flooding VLAN %d", vlan)
	for _, out := range br.flood {
		if out == in || !out.vlan.carries(vlan) {
			continue
		}
		x.key.VlanTCI = out.vlan.output(vlan, pcp)
		x.output(out)
	}
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// rateLog logs at most once per interval, so a looping pipeline hit by
// every packet cannot flood the log.
type rateLog struct {
	mu    sync.Mutex
	every time.Duration
	last  time.Time
}

func newRateLog(every time.Duration) *rateLog { return &rateLog{every: every} }

func (r *rateLog) warn(msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	ok := now.Sub(r.last) >= r.every
	if ok {
		r.last = now
	}
	r.mu.Unlock()
	if ok {
		slog.Warn(msg, args...)
	}
}

// tableStats counts translations through one table (dump-tables).
type tableStats struct {
	lookups, matched atomic.Uint64
}

// step records a table visit in a trace.
func (x *xlate) step(br *xbridge, table int, r *rule) {
	if x.trace == nil {
		return
	}
	st := TraceStep{Depth: x.depth, Bridge: br.name, Table: table}
	if r == nil {
		st.Note = "no match: drop"
	} else {
		st.Rule = r.flow.MatchString(nil)
		st.Actions = openflow.FormatActions(r.flow.Actions, nil)
	}
	x.trace.Steps = append(x.trace.Steps, st)
}

// note adds a line under the current trace step.
func (x *xlate) note(format string, args ...any) {
	if x.trace == nil || len(x.trace.Steps) == 0 {
		return
	}
	st := &x.trace.Steps[len(x.trace.Steps)-1]
	if st.Note != "" {
		st.Note += "\n"
	}
	st.Note += fmt.Sprintf(format, args...)
}
