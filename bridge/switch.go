package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"vswitch/datapath"
	"vswitch/datapath/netdev"
	"vswitch/openflow"
	"vswitch/store"
	"vswitch/vxlan"
)

// Switch is every bridge of one vswitchd over one datapath. The store is
// the source of truth: each change is validated, written in one store
// transaction, then applied to the datapath.
type Switch struct {
	opts    Options
	mu      sync.Mutex
	st      *store.Store
	dp      *datapath.Datapath
	bridges map[string]*bridge
	ports   map[string]*port // every port of every bridge, by name
	xs      atomic.Pointer[xsnap]
	punts   *puntTable // controller sessions and controller-action contexts
	tnl     *tunnels   // nil until the first tunnel port
	watch   *watchHub  // Watch subscribers
	fc      flowCommit // flow-mods staged for the next group commit
	// macNotify wakes macWatch when a MAC table changes (macwatch.go).
	macNotify chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type bridge struct {
	name     string
	failMode string
	dpType   string // datapath_type: stored and shown only
	other    map[string]string
	ports    []*port // in the order added
	rules    []*rule // in the order added
	macs     *macTable
	tstats   [256]tableStats
	// flowsRemoved counts flow-removed events (rules with send_flow_rem
	// that expired); the controller channel delivers them.
	flowsRemoved atomic.Uint64
}

type port struct {
	cfg    store.Port
	br     *bridge
	ofport int
	dpNo   uint32
	dev    datapath.Port
	err    string // why the port is not up
}

const (
	ofportLocal = openflow.PortLocal
	maxOfport   = 0xfeff
	maxNameLen  = 15
)

// Types lists the interface types add-port accepts.
func Types() []string {
	t := append(netdev.Types(), "patch", "vxlan")
	sort.Strings(t)
	return slices.Compact(t)
}

// Options are the daemon settings the bridge layer needs.
type Options struct {
	// RunDir holds per-instance files (vhost-user sockets by default).
	RunDir string
}

// New opens the switch on a store and a datapath (not yet started) and
// reconciles the datapath to the stored configuration.
func New(st *store.Store, dp *datapath.Datapath, opts Options) (*Switch, error) {
	s := &Switch{opts: opts, st: st, dp: dp, bridges: map[string]*bridge{}, ports: map[string]*port{}, macNotify: make(chan struct{}, 1)}
	s.punts, s.watch = newPuntTable(), newWatchHub()
	s.xs.Store(&xsnap{bridges: map[string]*xbridge{}, punts: s.punts})
	dp.SetUpcaller(s)
	dp.SetPunter(s)
	cfg, err := st.Load()
	if err != nil {
		return nil, fmt.Errorf("load configuration: %w", err)
	}
	s.mu.Lock()
	for _, bc := range cfg.Bridges {
		b := s.newBridge(bc)
		for _, pc := range bc.Ports {
			p := &port{cfg: pc, br: b, ofport: pc.Interface.Ofport}
			if pc.Name == b.name {
				p.ofport = ofportLocal
			}
			b.ports = append(b.ports, p)
			s.ports[pc.Name] = p
		}
		b.rules = make([]*rule, 0, len(bc.Flows))
		for i, text := range bc.Flows {
			f, err := openflow.ParseFlow(text, nil)
			if err != nil {
				slog.Error("stored flow does not parse; skipped", "bridge", b.name, "flow", text, "err", err)
				continue
			}
			r := s.newRule(f)
			r.id = bc.FlowIDs[i]
			b.rules = append(b.rules, r)
		}
		s.setNextID(b, bc.FlowIDs)
	}
	for _, p := range s.sortedPorts() {
		s.openPort(p)
	}
	s.rebuild()
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(3)
	go s.ager(ctx)
	go s.watchLinks(ctx)
	go s.watchStates(ctx)
	s.wg.Add(1)
	go s.macWatch(ctx)
	return s, nil
}

// Close stops background work and removes every port from the datapath.
func (s *Switch) Close() {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.ports {
		s.closePort(p)
	}
	s.closeTunnels()
}

func (s *Switch) newBridge(bc store.Bridge) *bridge {
	b := &bridge{name: bc.Name, failMode: bc.FailMode, dpType: bc.DatapathType, other: maps.Clone(bc.OtherConfig), macs: newMACTable(s.dp)}
	b.macs.notify = s.macNotify
	b.applyOther()
	s.bridges[b.name] = b
	return b
}

func (b *bridge) applyOther() {
	aging, max := defaultMACAging, defaultMACTableMax
	if v, err := strconv.Atoi(b.other["mac-aging-time"]); err == nil && v > 0 {
		aging = time.Duration(v) * time.Second
	}
	if v, err := strconv.Atoi(b.other["mac-table-size"]); err == nil && v > 0 {
		max = v
	}
	b.macs.configure(aging, max)
}

func (s *Switch) sortedPorts() []*port {
	ps := slices.Collect(maps.Values(s.ports))
	sort.Slice(ps, func(i, j int) bool { return ps[i].cfg.Name < ps[j].cfg.Name })
	return ps
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

func checkName(kind, name string, kernel bool) error {
	switch {
	case name == "":
		return errorf(ErrInvalid, "%s name is empty", kind)
	case kernel && len(name) > maxNameLen:
		return errorf(ErrInvalid, "%s name %q is too long (%d characters, at most %d)", kind, name, len(name), maxNameLen)
	case !nameRE.MatchString(name) || name == "." || name == "..":
		return errorf(ErrInvalid, "%s name %q has characters other than letters, digits, '_', '.', ':' and '-'", kind, name)
	}
	return nil
}

// AddBridge creates a bridge with its internal port (LOCAL) and, in
// standalone fail mode, the priority=0,actions=NORMAL flow.
func (s *Switch) AddBridge(name string, mayExist bool) error {
	if err := checkName("bridge", name, true); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.bridges[name]; ok {
		if mayExist {
			return nil
		}
		return errorf(ErrExists, "bridge %s already exists", name)
	}
	if p, ok := s.ports[name]; ok {
		return errorf(ErrExists, "cannot create bridge %s: a port named %s exists on bridge %s", name, name, p.br.name)
	}
	bc := store.Bridge{Name: name, Flows: []string{"priority=0,actions=NORMAL"}, FlowIDs: []uint64{1}}
	local := store.Port{Name: name, Interface: store.Interface{Type: "internal", Ofport: ofportLocal}}
	bc.Ports = []store.Port{local}
	err := s.st.Update(func(c *store.Config) error {
		c.Bridges = append(c.Bridges, bc)
		return nil
	})
	if err != nil {
		return err
	}
	b := s.newBridge(bc)
	f, _ := openflow.ParseFlow(bc.Flows[0], nil)
	b.rules = []*rule{s.newRule(f)}
	b.rules[0].id = bc.FlowIDs[0]
	s.setNextID(b, bc.FlowIDs)
	p := &port{cfg: local, br: b, ofport: ofportLocal}
	b.ports = []*port{p}
	s.ports[name] = p
	s.openPort(p)
	s.rebuild()
	slog.Info("bridge added", "bridge", name)
	return nil
}

// DelBridge deletes a bridge and all its ports.
func (s *Switch) DelBridge(name string, ifExists bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bridges[name]
	if !ok {
		if ifExists {
			return nil
		}
		return errorf(ErrNotFound, "no bridge named %s", name)
	}
	unlock := s.lockFlowWrites() // no flow batch of it lands after it went
	err := s.st.Update(func(c *store.Config) error {
		c.Bridges = slices.DeleteFunc(c.Bridges, func(bc store.Bridge) bool { return bc.Name == name })
		return nil
	})
	unlock()
	if err != nil {
		return err
	}
	for _, p := range b.ports {
		dev := p.dev
		s.closePort(p)
		releasePort(p.cfg.Name, dev)
		delete(s.ports, p.cfg.Name)
	}
	s.freeRules(b.rules)
	s.forgetBridge(b)
	b.macs.flushPort(0)
	delete(s.bridges, name)
	s.rebuild()
	slog.Info("bridge deleted", "bridge", name)
	return nil
}

// ListBridges returns bridge names, sorted.
func (s *Switch) ListBridges() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.bridges))
}

func (s *Switch) bridge(name string) (*bridge, error) {
	b, ok := s.bridges[name]
	if !ok {
		return nil, errorf(ErrNotFound, "no bridge named %s", name)
	}
	return b, nil
}

// AddPort adds a port (and its interface) to a bridge in one transaction.
func (s *Switch) AddPort(brName string, spec PortSpec, mayExist bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return err
	}
	if p, ok := s.ports[spec.Name]; ok {
		if mayExist && p.br == b {
			return nil
		}
		return errorf(ErrExists, "cannot create a port named %s because a port named %s already exists on bridge %s", spec.Name, spec.Name, p.br.name)
	}
	if _, ok := s.bridges[spec.Name]; ok {
		return errorf(ErrExists, "cannot create a port named %s because a bridge named %s exists", spec.Name, spec.Name)
	}
	pc := store.Port{
		Name: spec.Name, Tag: spec.Tag, Trunks: spec.Trunks, VlanMode: spec.VlanMode,
		Interface: store.Interface{Type: spec.Type, Options: spec.Options, MTURequest: spec.MTURequest,
			OfportRequest: spec.OfportRequest, ExternalIDs: spec.ExternalIDs},
	}
	if err := validatePort(&pc); err != nil {
		return err
	}
	of, err := b.assignOfport(pc.Interface.OfportRequest, nil)
	if err != nil {
		return err
	}
	pc.Interface.Ofport = of
	err = s.st.Update(func(c *store.Config) error {
		bc := findBridge(c, brName)
		if bc == nil {
			return errorf(ErrNotFound, "no bridge named %s", brName)
		}
		bc.Ports = append(bc.Ports, pc)
		return nil
	})
	if err != nil {
		return err
	}
	p := &port{cfg: pc, br: b, ofport: of}
	b.ports = append(b.ports, p)
	s.ports[pc.Name] = p
	s.openPort(p)
	s.rebuild()
	slog.Info("port added", "bridge", brName, "port", pc.Name, "type", typeName(pc.Interface.Type), "ofport", of, "error", p.err)
	return nil
}

// validatePort checks a port's columns.
func validatePort(pc *store.Port) error {
	typ := pc.Interface.Type
	if typ == "" {
		typ = "system"
	}
	if !slices.Contains(Types(), typ) {
		return errorf(ErrInvalid, "unknown interface type %q (valid types: %s)", typ, joinComma(Types()))
	}
	kind, _ := netdev.Lookup(typ)
	if err := checkName("port", pc.Name, typ != "patch" && typ != "vxlan" && kind.KernelName); err != nil {
		return err
	}
	if typ == "vxlan" {
		if _, err := vxlan.ParseOptions(pc.Interface.Options); err != nil {
			return errorf(ErrInvalid, "interface %s: %v", pc.Name, err)
		}
	} else if typ == "patch" {
		for k := range pc.Interface.Options {
			if k != "peer" {
				return errorf(ErrInvalid, "interface %s: unknown option %q for type patch (valid: peer)", pc.Name, k)
			}
		}
		if pc.Interface.Options["peer"] == "" {
			return errorf(ErrInvalid, "interface %s: type patch needs options:peer=PORT", pc.Name)
		}
		if pc.Interface.Options["peer"] == pc.Name {
			return errorf(ErrInvalid, "interface %s: a patch port cannot be its own peer", pc.Name)
		}
	} else if err := netdev.ValidatePort(pc.Name, typ, pc.Interface.Options); err != nil {
		return errorf(ErrInvalid, "interface %s: %v", pc.Name, err)
	}
	if pc.Tag != nil && (*pc.Tag < 0 || *pc.Tag > 4095) {
		return errorf(ErrInvalid, "port %s: tag %d out of range (0 to 4095)", pc.Name, *pc.Tag)
	}
	for _, t := range pc.Trunks {
		if t < 0 || t > 4095 {
			return errorf(ErrInvalid, "port %s: trunk VLAN %d out of range (0 to 4095)", pc.Name, t)
		}
	}
	if pc.VlanMode != "" && !slices.Contains(vlanModes, pc.VlanMode) {
		return errorf(ErrInvalid, "port %s: unknown vlan_mode %q (valid: %s)", pc.Name, pc.VlanMode, joinComma(vlanModes))
	}
	if (pc.VlanMode == modeAccess || pc.VlanMode == modeNativeTagged || pc.VlanMode == modeNativeUntagged) && pc.Tag == nil {
		return errorf(ErrInvalid, "port %s: vlan_mode %s needs a tag", pc.Name, pc.VlanMode)
	}
	if m := pc.Interface.MTURequest; m != 0 && (m < 68 || m > 65535) {
		return errorf(ErrInvalid, "interface %s: mtu_request %d out of range (68 to 65535)", pc.Name, m)
	}
	if r := pc.Interface.OfportRequest; r != 0 && (r < 1 || r > maxOfport) {
		return errorf(ErrInvalid, "interface %s: ofport_request %d out of range (1 to %d)", pc.Name, r, maxOfport)
	}
	return nil
}

// assignOfport picks the OpenFlow number for a new port (or for self when
// its request changes): the request if free, else the lowest free from 1.
func (b *bridge) assignOfport(request int, self *port) (int, error) {
	used := map[int]bool{}
	for _, p := range b.ports {
		if p != self {
			used[p.ofport] = true
		}
	}
	if request != 0 {
		if !used[request] {
			return request, nil
		}
		slog.Warn("ofport_request is taken; assigning another number", "bridge", b.name, "request", request)
	}
	for n := 1; n <= maxOfport; n++ {
		if !used[n] {
			return n, nil
		}
	}
	return 0, errorf(ErrUnavailable, "bridge %s has no free OpenFlow port number", b.name)
}

func findBridge(c *store.Config, name string) *store.Bridge {
	for i := range c.Bridges {
		if c.Bridges[i].Name == name {
			return &c.Bridges[i]
		}
	}
	return nil
}

// DelPort deletes a port; brName may be "" to mean whichever bridge has it.
func (s *Switch) DelPort(brName, name string, ifExists bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if brName != "" {
		if _, err := s.bridge(brName); err != nil {
			return err
		}
	}
	p, ok := s.ports[name]
	if !ok || (brName != "" && p.br.name != brName) {
		if ifExists {
			return nil
		}
		if brName != "" {
			return errorf(ErrNotFound, "bridge %s does not have a port %s", brName, name)
		}
		return errorf(ErrNotFound, "no port named %s", name)
	}
	if p.ofport == ofportLocal {
		return errorf(ErrInvalid, "cannot delete port %s: it is bridge %s's own internal port (use del-br)", name, p.br.name)
	}
	err := s.st.Update(func(c *store.Config) error {
		bc := findBridge(c, p.br.name)
		if bc != nil {
			bc.Ports = slices.DeleteFunc(bc.Ports, func(sp store.Port) bool { return sp.Name == name })
		}
		return nil
	})
	if err != nil {
		return err
	}
	dev := p.dev
	s.closePort(p)
	releasePort(p.cfg.Name, dev)
	b := p.br
	b.ports = slices.DeleteFunc(b.ports, func(q *port) bool { return q == p })
	delete(s.ports, name)
	b.macs.flushPort(p.ofport)
	s.rebuild()
	slog.Info("port deleted", "bridge", b.name, "port", name)
	return nil
}

// ListPorts returns the ports of a bridge (without its own internal port), sorted.
func (s *Switch) ListPorts(brName string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range b.ports {
		if p.ofport != ofportLocal {
			out = append(out, p.cfg.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// PortToBridge names the bridge that has port.
func (s *Switch) PortToBridge(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.ports[name]
	if !ok {
		return "", errorf(ErrNotFound, "no port named %s", name)
	}
	return p.br.name, nil
}

// Show returns every bridge with its ports and counters.
func (s *Switch) Show() []BridgeView {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []BridgeView
	for _, name := range slices.Sorted(maps.Keys(s.bridges)) {
		b := s.bridges[name]
		bv := BridgeView{Name: name, FailMode: b.failMode, DatapathType: b.dpType}
		ps := slices.Clone(b.ports)
		sort.Slice(ps, func(i, j int) bool { return ps[i].cfg.Name < ps[j].cfg.Name })
		for _, p := range ps {
			bv.Ports = append(bv.Ports, s.portView(p))
		}
		out = append(out, bv)
	}
	return out
}

func (s *Switch) portView(p *port) PortView {
	v := PortView{
		Name: p.cfg.Name, Ofport: p.ofport, DPPort: p.dpNo, Type: p.cfg.Interface.Type,
		Options: maps.Clone(p.cfg.Interface.Options), MTURequest: p.cfg.Interface.MTURequest,
		OfportRequest: p.cfg.Interface.OfportRequest, Tag: p.cfg.Tag, Trunks: slices.Clone(p.cfg.Trunks),
		VlanMode: p.cfg.VlanMode, Error: p.err, ExternalIDs: maps.Clone(p.cfg.Interface.ExternalIDs),
	}
	if p.err != "" && p.dpNo == 0 && p.cfg.Interface.Type != "patch" {
		v.Ofport = -1
	}
	if p.dpNo != 0 {
		v.Stats, _ = s.dp.PortStats(p.dpNo)
	}
	if sr, ok := p.dev.(datapath.StatusReporter); ok {
		v.Status = sr.Status()
	}
	return v
}

// FDB returns the MAC learning table of a bridge.
func (s *Switch) FDB(brName string) ([]FDBEntry, error) {
	s.mu.Lock()
	b, err := s.bridge(brName)
	names := map[int]string{}
	if err == nil {
		for _, p := range b.ports {
			names[p.ofport] = p.cfg.Name
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var out []FDBEntry
	for _, r := range b.macs.dump(time.Now()) {
		m := r.mac
		out = append(out, FDBEntry{
			Ofport: r.ofport, PortName: names[r.ofport], VLAN: r.vlan, Age: r.age,
			MAC: fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]),
		})
	}
	return out, nil
}

// FlushFDB empties the MAC table of a bridge, or of all bridges if brName is "".
func (s *Switch) FlushFDB(brName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if brName != "" {
		b, err := s.bridge(brName)
		if err != nil {
			return err
		}
		b.macs.flushPort(0)
	} else {
		for _, b := range s.bridges {
			b.macs.flushPort(0)
		}
	}
	s.dp.Revalidate()
	return nil
}

// openPort brings a configured port into the datapath, recording why not
// when it can't (a missing device comes up later via watchLinks).
func (s *Switch) openPort(p *port) {
	typ := p.cfg.Interface.Type
	if typ == "patch" || p.dev != nil {
		return
	}
	if typ == "vxlan" {
		s.openTunnel(p)
		return
	}
	dev, err := netdev.Open(netdev.Config{Name: p.cfg.Name, Type: typeName(typ), Options: p.cfg.Interface.Options,
		MTU: p.cfg.Interface.MTURequest, Pool: s.dp.Pool(), RunDir: s.opts.RunDir})
	if err != nil {
		p.err = deviceError(p.cfg.Name, err)
		return
	}
	no, err := s.dp.AddPort(dev)
	if err != nil {
		dev.Close()
		p.err = err.Error()
		return
	}
	p.dev, p.dpNo, p.err = dev, no, ""
}

func deviceError(name string, err error) string {
	if errors.Is(err, netdev.ErrNoDevice) {
		return fmt.Sprintf("could not open network device %s (No such device)", name)
	}
	return err.Error()
}

// closePort removes a port from the datapath (waiting for the PMDs).
func (s *Switch) closePort(p *port) {
	if p.cfg.Interface.Type == "vxlan" {
		s.closeTunnel(p)
		return
	}
	if p.dpNo != 0 {
		if err := s.dp.RemovePort(p.dpNo); err != nil {
			slog.Warn("remove port", "port", p.cfg.Name, "err", err)
		}
	}
	p.dev, p.dpNo = nil, 0
}

func typeName(t string) string {
	if t == "" {
		return "system"
	}
	return t
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

// rebuild publishes a new translation snapshot and revalidates megaflows:
// when it returns no PMD forwards by a decision made before. Caller holds s.mu.
func (s *Switch) rebuild() {
	xs := &xsnap{bridges: map[string]*xbridge{}, punts: s.punts}
	xports := map[string]*xport{}
	maxDP := uint32(0)
	for _, b := range s.bridges {
		xb := &xbridge{name: b.name, macs: b.macs, ports: map[int]*xport{}, changed: s.dp.Invalidate, tstats: &b.tstats,
			failOpen: s.failOpenState(b)}
		for _, p := range b.ports {
			xp := &xport{name: p.cfg.Name, ofport: p.ofport, dp: p.dpNo, br: xb,
				vlan: compileVLAN(p.cfg.Tag, p.cfg.Trunks, p.cfg.VlanMode)}
			xb.ports[p.ofport] = xp
			if applyPortConfig(p, xp) {
				xb.flood = append(xb.flood, xp)
			}
			xports[p.cfg.Name] = xp
			maxDP = max(maxDP, p.dpNo)
		}
		sort.Slice(xb.flood, func(i, j int) bool { return xb.flood[i].ofport < xb.flood[j].ofport })
		xb.tables = s.ruleTables(b)
		xs.bridges[b.name] = xb
	}
	xs.byDP = make([]*xport, maxDP+1)
	for name, xp := range xports {
		if xp.dp != 0 {
			xs.byDP[xp.dp] = xp
		}
		p := s.ports[name]
		if p.cfg.Interface.Type == "patch" {
			peer := xports[p.cfg.Interface.Options["peer"]]
			if peer != nil && s.ports[peer.name].cfg.Interface.Type == "patch" &&
				s.ports[peer.name].cfg.Interface.Options["peer"] == name {
				xp.peer = patchPeer(p, s.ports[peer.name], peer)
				p.err = ""
			} else {
				p.err = fmt.Sprintf("patch port %s: peer %s is not a patch port pointing back", name, p.cfg.Interface.Options["peer"])
			}
		}
	}
	s.buildTunnels(xs, xports)
	s.xs.Store(xs)
	s.dp.Revalidate()
	s.kickWatch()
}

// newRule wraps a parsed flow, with a ref for its counters and idle time.
func (s *Switch) newRule(f *openflow.Flow) *rule {
	r := &rule{flow: f, added: time.Now()}
	r.ref, _ = s.dp.NewRef()
	return r
}

func (s *Switch) freeRules(rules []*rule) {
	for _, r := range rules {
		s.dp.FreeRef(r.ref)
	}
}

// ager expires MAC entries once a second.
func (s *Switch) ager(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, xb := range s.xs.Load().bridges {
				if xb.macs.expire(now) {
					s.dp.Invalidate()
				}
			}
			s.expireRules(now)
		}
	}
}
