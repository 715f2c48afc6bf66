package bridge

// The controller channel: packet-ins from controller actions, packet-outs,
// flow-removed and port-status events, and fail-open.

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"vswitch/datapath"
	"vswitch/flowtable"
	"vswitch/openflow"
)

const (
	// DefaultPacketInQueue is a controller's packet-in queue depth unless
	// it asks for another; MaxPacketInQueue caps what it may ask for.
	DefaultPacketInQueue = 256
	MaxPacketInQueue     = 4096
	// eventQueue bounds a controller's flow-removed and port-status queue.
	eventQueue = 1024
	// failOpenAfter is how long a standalone bridge waits for its
	// controller to come back before forwarding with NORMAL.
	failOpenAfter = 2 * time.Second
	// packetInMax is the most of a frame a packet-in carries.
	packetInMax = datapath.MaxData
)

// PacketIn is one packet sent to a controller. Data points into a buffer
// the controller hands back with Release.
type PacketIn struct {
	Reason       openflow.ControllerReason
	Table        int
	Cookie       uint64
	InPort       int // OpenFlow in_port in the controller's bridge
	TotalLen     int
	Data         []byte
	ControllerID int
	Dropped      uint64 // packet-ins this controller lost so far
	buf          []byte
}

// FlowRemovedEvent reports a rule with send_flow_rem that went away.
type FlowRemovedEvent struct {
	Reason                   string // "idle_timeout", "hard_timeout" or "delete"
	Table, Priority          int
	Cookie                   uint64
	Match                    string
	Duration                 time.Duration
	Packets, Bytes           uint64
	IdleTimeout, HardTimeout int
}

// PortStatusEvent reports a port added, deleted or changed (up/down).
type PortStatusEvent struct {
	Reason string // "add", "delete" or "modify"
	Port   string
	Ofport int
	Type   string
	Up     bool
	Status string
}

// ControllerEvent is a flow-removed or a port-status event.
type ControllerEvent struct {
	FlowRemoved *FlowRemovedEvent
	PortStatus  *PortStatusEvent
}

// ControllerReady is what a controller learns when it connects.
type ControllerReady struct {
	Bridge   string
	FailMode string
	Ports    []PortStatusEvent
}

// ControllerInfo is one connected controller as ControllerStatus shows it.
type ControllerInfo struct {
	Bridge, Name     string
	ConnectedFor     time.Duration
	PacketInsSent    uint64
	PacketInsDropped uint64
	PacketOuts       uint64
	EventsDropped    uint64
	QueueLen         int
}

// puntCtx is what a controller action needs at delivery: a megaflow's
// userspace action carries its index in the punt table.
type puntCtx struct {
	bridge string
	table  uint8
	reason openflow.ControllerReason
	maxLen uint32
	id     uint32
	cookie uint64
	inPort uint32
}

type puntEntry struct {
	ctx puntCtx
	hub *ctlHub
}

// puntTable interns contexts (they are few: one per rule, in_port and
// reason) and holds one hub per bridge name. Lookups from PMDs are one
// atomic load; additions copy the list.
type puntTable struct {
	mu   sync.Mutex
	idx  map[puntCtx]uint64
	list atomic.Pointer[[]puntEntry]
	hubs map[string]*ctlHub
}

func newPuntTable() *puntTable {
	t := &puntTable{idx: map[puntCtx]uint64{}, hubs: map[string]*ctlHub{}}
	t.list.Store(&[]puntEntry{})
	return t
}

func (t *puntTable) hub(bridge string) *ctlHub {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hubLocked(bridge)
}

func (t *puntTable) hubLocked(bridge string) *ctlHub {
	h := t.hubs[bridge]
	if h == nil {
		h = &ctlHub{bridge: bridge}
		h.sessions.Store(&[]*ctlSession{})
		t.hubs[bridge] = h
	}
	return h
}

func (t *puntTable) intern(c puntCtx) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.idx[c]; ok {
		return i
	}
	old := *t.list.Load()
	i := uint64(len(old))
	next := append(slices.Clip(old), puntEntry{ctx: c, hub: t.hubLocked(c.bridge)})
	t.list.Store(&next)
	t.idx[c] = i
	return i
}

// Punt delivers a controller-action packet (datapath.Punter). It runs on a
// PMD: no locks, no allocation, never blocks.
func (s *Switch) Punt(cookie uint64, _ uint32, frame []byte) {
	l := *s.punts.list.Load()
	if cookie >= uint64(len(l)) {
		return
	}
	e := &l[cookie]
	e.hub.deliver(&e.ctx, frame)
}

// ctlHub is one bridge's controller sessions.
type ctlHub struct {
	bridge       string
	sessions     atomic.Pointer[[]*ctlSession]
	noController atomic.Uint64 // packet-ins with no controller connected

	// Under puntTable.mu (and Switch.mu for failOpen changes):
	everConnected bool
	failOpen      bool
	failTimer     *time.Timer
}

func (h *ctlHub) deliver(c *puntCtx, frame []byte) {
	ss := *h.sessions.Load()
	if len(ss) == 0 {
		h.noController.Add(1)
		return
	}
	for _, cs := range ss {
		cs.deliver(c, frame)
	}
}

// ctlSession is one connected controller: a fixed set of packet-in
// buffers circulating between free and queue, so delivery never blocks.
type ctlSession struct {
	name   string
	since  time.Time
	qlen   int
	free   chan *PacketIn
	queue  chan *PacketIn
	events chan ControllerEvent

	sent, dropped, outs, eventsDropped atomic.Uint64
}

func (cs *ctlSession) deliver(c *puntCtx, frame []byte) {
	var pi *PacketIn
	select {
	case pi = <-cs.free:
	default:
		cs.dropped.Add(1)
		return
	}
	n := min(len(frame), int(c.maxLen), cap(pi.buf))
	pi.Data = pi.buf[:n]
	copy(pi.Data, frame)
	pi.Reason, pi.Table, pi.Cookie = c.reason, int(c.table), c.cookie
	pi.InPort, pi.TotalLen, pi.ControllerID = int(c.inPort), len(frame), int(c.id)
	pi.Dropped = cs.dropped.Load()
	cs.queue <- pi // never blocks: the queue holds every buffer
}

func (cs *ctlSession) event(e ControllerEvent) {
	select {
	case cs.events <- e:
	default:
		cs.eventsDropped.Add(1)
	}
}

// controller emits the userspace action of a controller action: the
// packet as the pipeline made it so far, with this rule's context.
func (x *xlate) controller(br *xbridge, a *openflow.Action) {
	x.commitVLAN()
	x.commitFields()
	c := puntCtx{bridge: br.name, table: uint8(x.tbl), reason: a.Reason, maxLen: uint32(a.Value),
		id: uint32(a.Value2), inPort: x.key.InPort}
	if x.rule != nil {
		c.cookie = x.rule.flow.Cookie
	}
	if c.maxLen == 0 {
		c.maxLen = openflow.DefaultControllerMaxLen
	}
	// The packet-in reports in_port: the megaflow must be per in_port,
	// which it is (the datapath matches in_port exactly).
	x.note("controller: packet-in (reason %s, max_len %d)", c.reason, c.maxLen)
	if x.snap.punts == nil {
		return
	}
	x.acts = append(x.acts, datapath.Action{Kind: datapath.ActUserspace, Arg: x.snap.punts.intern(c)})
}

// Controller is a controller's session with one bridge.
type Controller struct {
	s      *Switch
	hub    *ctlHub
	cs     *ctlSession
	closed atomic.Bool
}

// OpenController connects a controller to a bridge. queueLen bounds its
// packet-in queue (0: DefaultPacketInQueue).
func (s *Switch) OpenController(brName, name string, queueLen int) (*Controller, ControllerReady, error) {
	if queueLen == 0 {
		queueLen = DefaultPacketInQueue
	}
	if queueLen < 0 || queueLen > MaxPacketInQueue {
		return nil, ControllerReady{}, errorf(ErrInvalid, "queue_len %d out of range (1 to %d)", queueLen, MaxPacketInQueue)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return nil, ControllerReady{}, err
	}
	cs := &ctlSession{name: name, since: time.Now(), qlen: queueLen,
		free: make(chan *PacketIn, queueLen), queue: make(chan *PacketIn, queueLen),
		events: make(chan ControllerEvent, eventQueue)}
	for range queueLen {
		cs.free <- &PacketIn{buf: make([]byte, packetInMax)}
	}
	ready := ControllerReady{Bridge: b.name, FailMode: b.effectiveFailMode()}
	for _, p := range b.ports {
		st := s.portState(p)
		ready.Ports = append(ready.Ports, PortStatusEvent{Reason: "add", Port: p.cfg.Name, Ofport: p.ofport,
			Type: typeName(p.cfg.Interface.Type), Up: st.up, Status: st.status})
	}

	t := s.punts
	t.mu.Lock()
	h := t.hubLocked(b.name)
	// Names label metrics and logs: keep them unique per bridge.
	for i := 2; slices.ContainsFunc(*h.sessions.Load(), func(o *ctlSession) bool { return o.name == cs.name }); i++ {
		cs.name = fmt.Sprintf("%s-%d", name, i)
	}
	next := append(slices.Clone(*h.sessions.Load()), cs)
	h.sessions.Store(&next)
	h.everConnected = true
	if h.failTimer != nil {
		h.failTimer.Stop()
		h.failTimer = nil
	}
	wasOpen := h.failOpen
	h.failOpen = false
	t.mu.Unlock()
	if wasOpen {
		slog.Info("controller back: fail-open ends", "bridge", b.name, "controller", name)
		s.rebuild()
	}
	slog.Info("controller connected", "bridge", b.name, "controller", cs.name, "queue_len", queueLen)
	return &Controller{s: s, hub: h, cs: cs}, ready, nil
}

func (b *bridge) effectiveFailMode() string {
	if b.failMode == "" {
		return "standalone"
	}
	return b.failMode
}

// PacketIns delivers packet-ins; hand each back with Release once sent.
func (c *Controller) PacketIns() <-chan *PacketIn { return c.cs.queue }

// Release returns a packet-in's buffer once it has been sent.
func (c *Controller) Release(pi *PacketIn) {
	c.cs.sent.Add(1)
	c.cs.free <- pi
}

// Events delivers flow-removed and port-status events.
func (c *Controller) Events() <-chan ControllerEvent { return c.cs.events }

// Bridge is the bridge the controller is attached to.
func (c *Controller) Bridge() string { return c.hub.bridge }

// PortName names an OpenFlow port of the controller's bridge ("" if none).
func (c *Controller) PortName(ofport int) string {
	if xb := c.s.xs.Load().bridges[c.hub.bridge]; xb != nil {
		if p := xb.ports[ofport]; p != nil {
			return p.name
		}
	}
	switch uint32(ofport) {
	case openflow.PortController:
		return "CONTROLLER"
	case openflow.PortLocal:
		return "LOCAL"
	}
	return ""
}

// Close disconnects the controller. A standalone bridge left without
// controllers fails open after failOpenAfter.
func (c *Controller) Close() {
	if c.closed.Swap(true) {
		return
	}
	s, h := c.s, c.hub
	t := s.punts
	t.mu.Lock()
	next := slices.DeleteFunc(slices.Clone(*h.sessions.Load()), func(x *ctlSession) bool { return x == c.cs })
	h.sessions.Store(&next)
	if len(next) == 0 && h.failTimer == nil {
		h.failTimer = time.AfterFunc(failOpenAfter, func() { s.failOpen(h) })
	}
	t.mu.Unlock()
	slog.Info("controller disconnected", "bridge", h.bridge, "controller", c.cs.name,
		"packet_ins_sent", c.cs.sent.Load(), "packet_ins_dropped", c.cs.dropped.Load())
}

// failOpen switches a standalone bridge whose controllers stayed away to
// NORMAL forwarding; a secure bridge keeps its flows.
func (s *Switch) failOpen(h *ctlHub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.punts
	t.mu.Lock()
	h.failTimer = nil
	open := len(*h.sessions.Load()) == 0 && !h.failOpen
	b := s.bridges[h.bridge]
	if b == nil || b.effectiveFailMode() == "secure" {
		open = false
	}
	if open {
		h.failOpen = true
	}
	t.mu.Unlock()
	if open {
		slog.Warn("controller gone: bridge fails open (NORMAL forwarding) until it returns", "bridge", h.bridge)
		s.rebuild()
	}
}

// failOpenState reports whether bridge b forwards in fail-open mode.
// Caller holds s.mu.
func (s *Switch) failOpenState(b *bridge) bool {
	t := s.punts
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.hubs[b.name]
	return h != nil && h.failOpen && b.effectiveFailMode() != "secure"
}

// Info reports the session's counters.
func (c *Controller) Info() ControllerInfo {
	return c.cs.info(c.hub.bridge)
}

func (cs *ctlSession) info(bridge string) ControllerInfo {
	return ControllerInfo{Bridge: bridge, Name: cs.name, ConnectedFor: time.Since(cs.since),
		PacketInsSent: cs.sent.Load(), PacketInsDropped: cs.dropped.Load(), PacketOuts: cs.outs.Load(),
		EventsDropped: cs.eventsDropped.Load(), QueueLen: cs.qlen}
}

// ControllerStatus lists connected controllers (of one bridge, or all),
// and per bridge the packet-ins that found no controller.
func (s *Switch) ControllerStatus(brName string) ([]ControllerInfo, error) {
	if brName != "" {
		s.mu.Lock()
		_, err := s.bridge(brName)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	t := s.punts
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []ControllerInfo
	for name, h := range t.hubs {
		if brName != "" && name != brName {
			continue
		}
		for _, cs := range *h.sessions.Load() {
			out = append(out, cs.info(name))
		}
	}
	slices.SortFunc(out, func(a, b ControllerInfo) int {
		if a.Bridge != b.Bridge {
			if a.Bridge < b.Bridge {
				return -1
			}
			return 1
		}
		return int(b.ConnectedFor - a.ConnectedFor)
	})
	return out, nil
}

// PacketInsWithoutController counts a bridge's packet-ins that found no
// controller connected (they are dropped).
func (s *Switch) PacketInsWithoutController(brName string) uint64 {
	return s.punts.hub(brName).noController.Load()
}

// PacketOut sends frame as a controller's packet-out: actions in flow
// syntax ("output:2", "output:TABLE", "NORMAL", set_field..., ...), the
// packet deemed to come from OpenFlow port inPort (or inPortName; 0 and ""
// mean CONTROLLER).
func (c *Controller) PacketOut(inPort int, inPortName string, frame []byte, actions string) error {
	if c.closed.Load() {
		return errorf(ErrUnavailable, "controller session closed")
	}
	err := c.s.packetOut(c.hub.bridge, inPort, inPortName, frame, actions)
	if err == nil {
		c.cs.outs.Add(1)
	}
	return err
}

func (s *Switch) packetOut(brName string, inPort int, inPortName string, frame []byte, actions string) error {
	if len(frame) < 14 {
		return errorf(ErrInvalid, "frame: %d bytes is shorter than an Ethernet header", len(frame))
	}
	if len(frame) > datapath.MaxData {
		return errorf(ErrInvalid, "frame: %d bytes is longer than the largest frame (%d)", len(frame), datapath.MaxData)
	}
	s.mu.Lock()
	b, err := s.bridge(brName)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if inPortName != "" {
		n, ok := portNamer{b}.PortNumber(inPortName)
		if !ok {
			s.mu.Unlock()
			return errorf(ErrNotFound, "in_port_name: bridge %s has no port %s", brName, inPortName)
		}
		inPort = int(n)
	}
	if inPort == 0 {
		inPort = int(openflow.PortController)
	}
	acts, err := openflow.ParsePacketOutActions(actions, portNamer{b})
	s.mu.Unlock()
	if err != nil {
		return errorf(ErrInvalid, "actions: %v", err)
	}
	snap := s.xs.Load()
	xb := snap.bridges[brName]
	if xb == nil {
		return errorf(ErrNotFound, "no bridge named %s", brName)
	}
	for _, a := range acts {
		if a.Type == openflow.ActOutput && a.Port != openflow.PortTable && xb.ports[int(a.Port)] == nil {
			return errorf(ErrNotFound, "actions: output to port %d: bridge %s has no such port", a.Port, brName)
		}
	}
	var dpIn uint32
	if uint32(inPort) != openflow.PortController && uint32(inPort) != openflow.PortLocal {
		p := xb.ports[inPort]
		if p == nil {
			return errorf(ErrNotFound, "in_port: bridge %s has no port %d", brName, inPort)
		}
		dpIn = p.dp
	}
	var key, wc flowtable.Key
	flowtable.Extract(frame, dpIn, &key)
	tci := key.VlanTCI
	if tci&flowtable.TCIPresent == 0 {
		tci = 0
	}
	x := xlate{snap: snap, key: key, wc: &wc, emit: tci, now: time.Now()}
	x.key.InPort = uint32(inPort)
	x.actions(xb, acts)
	if x.aborted {
		return errorf(ErrInvalid, "actions: translation aborted (a resubmit loop?)")
	}
	if err := s.dp.Execute(frame, dpIn, x.acts); err != nil {
		if errors.Is(err, datapath.ErrNoBuffer) {
			return errorf(ErrUnavailable, "packet-out: %v", err)
		}
		return fmt.Errorf("packet-out: %w", err)
	}
	return nil
}

// flowRemovedEvents describes the rules of gone that asked, with
// send_flow_rem, to be reported when they go (why[i] says why gone[i] went).
func (s *Switch) flowRemovedEvents(gone []*rule, why []string) []*FlowRemovedEvent {
	var evs []*FlowRemovedEvent
	for i, r := range gone {
		f := r.flow
		if !f.SendFlowRem {
			continue
		}
		_, packets, bytes := s.dp.RefStats(r.ref)
		evs = append(evs, &FlowRemovedEvent{Reason: why[i], Table: int(f.Table), Priority: int(f.Priority),
			Cookie: f.Cookie, Match: f.Match.Format(nil), Duration: time.Since(r.added), Packets: packets,
			Bytes: bytes, IdleTimeout: int(f.IdleTimeout), HardTimeout: int(f.HardTimeout)})
	}
	return evs
}

// sendFlowRemoved counts flow-removed events and tells b's controllers.
func (s *Switch) sendFlowRemoved(b *bridge, evs []*FlowRemovedEvent) {
	b.flowsRemoved.Add(uint64(len(evs)))
	for _, cs := range *s.punts.hub(b.name).sessions.Load() {
		for _, e := range evs {
			cs.event(ControllerEvent{FlowRemoved: e})
		}
	}
}

// portStatus tells bridge's controllers about a port change.
func (s *Switch) portStatus(bridge string, e PortStatusEvent) {
	h := s.punts.hub(bridge)
	for _, cs := range *h.sessions.Load() {
		ev := e
		cs.event(ControllerEvent{PortStatus: &ev})
	}
}

// standaloneFlow is the flow a standalone bridge sets up by itself.
const standaloneFlow = "priority=0,actions=NORMAL"

// standaloneText is standaloneFlow in canonical form.
var standaloneText = func() string {
	f, err := openflow.ParseFlow(standaloneFlow, nil)
	if err != nil {
		panic(err)
	}
	return f.String()
}()

func isStandaloneFlow(f *openflow.Flow) bool { return f.String() == standaloneText }

// failModeFlows applies a fail-mode change to the switch's own flow: a
// secure bridge sets up no flows of its own, so the standalone NORMAL flow
// goes; a bridge turned standalone with an empty table 0 gets it back.
// Flows anyone added stay. Caller holds s.mu.
func (s *Switch) failModeFlows(b *bridge) error {
	var next, gone []*rule
	has0 := false
	for _, r := range b.rules {
		if b.effectiveFailMode() == "secure" && isStandaloneFlow(r.flow) {
			gone = append(gone, r)
			continue
		}
		has0 = has0 || r.flow.Table == 0
		next = append(next, r)
	}
	if b.effectiveFailMode() == "standalone" && !has0 {
		f, err := openflow.ParseFlow(standaloneFlow, nil)
		if err != nil {
			return err
		}
		next = append(next, &rule{flow: f, added: time.Now()})
	}
	if len(gone) == 0 && len(next) == len(b.rules) {
		return nil
	}
	return s.commitRules(b, next, gone)
}
