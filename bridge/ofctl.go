package bridge

// The ovs-ofctl surface beyond add/del/dump-flows.

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"vswitch/flowtable"
	"vswitch/openflow"
)

// TableView is one OpenFlow table as dump-tables prints it.
type TableView struct {
	Table   int
	Active  int    // rules installed
	Lookups uint64 // translations that looked in the table
	Matched uint64 // of which found a rule
}

// TraceStep is one table visit of a trace.
type TraceStep struct {
	Depth   int    // resubmit/patch nesting
	Bridge  string // bridge the table belongs to
	Table   int
	Rule    string // the matching rule in flow syntax (priority, match), "" on a miss
	Actions string // its actions
	Note    string // e.g. "no match: drop", "NORMAL: learned 02:.. on port 1, output to 2"
}

// TraceView is what ofproto/trace prints.
type TraceView struct {
	Flow            string // the flow traced, normalized
	Steps           []TraceStep
	DatapathActions string
	Megaflow        string // the megaflow match the translation would install
}

// RxqView is one rx queue's assignment (pmd-rxq-show).
type RxqView struct {
	PMD, Core int
	Port      string
	Queue     int
	Usage     float64 // percent of the PMD over the last interval; -1 unmeasured
}

// parseFlows parses flow lines for b, naming the bad one (1-based).
func parseFlows(b *bridge, flows []string) ([]*openflow.Flow, error) {
	out := make([]*openflow.Flow, 0, len(flows))
	for i, text := range flows {
		f, err := openflow.ParseFlow(text, portNamer{b})
		if err == nil {
			err = checkFlow(b, f)
		}
		if err != nil {
			return nil, errorf(ErrInvalid, "flow %d: %v", i+1, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// checkFlow refuses outputs to ports the bridge does not have (a typo would
// otherwise silently drop traffic).
func checkFlow(b *bridge, f *openflow.Flow) error {
	for _, a := range f.Actions {
		if a.Type != openflow.ActOutput {
			continue
		}
		if !slices.ContainsFunc(b.ports, func(p *port) bool { return uint32(p.ofport) == a.Port }) {
			return fmt.Errorf("output to port %d: bridge %s has no such port", a.Port, b.name)
		}
	}
	return nil
}

// expireRules removes rules past their idle or hard timeout. A rule's idle
// time runs from its last use by any megaflow (pushed once a second).
func (s *Switch) expireRules(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bridges {
		var gone []*rule
		var why []string
		for _, r := range b.rules {
			f := r.flow
			if f.IdleTimeout == 0 && f.HardTimeout == 0 {
				continue
			}
			used, _, _ := s.dp.RefStats(r.ref)
			if used.Before(r.added) {
				used = r.added
			}
			switch {
			case f.HardTimeout > 0 && now.Sub(r.added) >= time.Duration(f.HardTimeout)*time.Second:
				gone, why = append(gone, r), append(why, "hard_timeout")
			case f.IdleTimeout > 0 && now.Sub(used) >= time.Duration(f.IdleTimeout)*time.Second:
				gone, why = append(gone, r), append(why, "idle_timeout")
			}
		}
		if len(gone) == 0 {
			continue
		}
		drop := make(map[*rule]bool, len(gone))
		for _, r := range gone {
			drop[r] = true
		}
		next := slices.DeleteFunc(slices.Clone(b.rules), func(r *rule) bool { return drop[r] })
		evs := s.flowRemovedEvents(gone, why) // before the commit frees their counters
		if err := s.commitDelta(b, next, nil, gone); err != nil {
			slog.Warn("expiring flows", "bridge", b.name, "err", err)
			continue
		}
		s.sendFlowRemoved(b, evs)
	}
}

// merge adds fs to b's rules with add-flow semantics (a rule with the same
// table, priority and match is replaced), returning the new set, the rules
// to store and the rules displaced. The key index keeps it linear in
// len(fs), so a bulk add to a large table is not quadratic.
func (s *Switch) merge(b *bridge, fs []*openflow.Flow, transient bool) (next, put, gone []*rule) {
	idx := s.ruleIndex(b)
	// Adding only new keys appends in place (b.rules is never changed in
	// place, so older slice headers stay valid): no O(rules) copy per
	// flow-mod. A replacement changes an element, so it copies.
	next = b.rules
	for _, f := range fs {
		if idx[keyOf(f)] != nil {
			next = slices.Clone(b.rules)
			break
		}
	}
	type at struct{ next, put int }
	added := make(map[ruleKey]at, len(fs)) // repeats within fs: the last one wins
	var pos map[*rule]int                  // built on the first replacement
	holes := false                         // a rule moved to the end left a nil
	now := time.Now()
	for _, f := range fs {
		nr := &rule{flow: f, added: now, transient: transient}
		k := keyOf(f)
		if a, ok := added[k]; ok {
			nr.id = next[a.next].id
			next[a.next], put[a.put] = nr, nr
			continue
		}
		a := at{next: len(next), put: len(put)}
		if old := idx[k]; old != nil {
			if pos == nil {
				pos = make(map[*rule]int, len(next))
				for i, r := range next {
					pos[r] = i
				}
			}
			gone = append(gone, old)
			if old.transient == transient {
				// In place; a stored rule rewrites the same record, so
				// it keeps its place after a restart too.
				a.next = pos[old]
				next[a.next] = nr
				nr.id = old.id
			} else {
				// Stored over transient or back: a new record, so the
				// rule goes last, where a restart will put it.
				next[pos[old]] = nil
				holes = true
				next = append(next, nr)
			}
		} else {
			next = append(next, nr)
		}
		added[k] = a
		put = append(put, nr)
	}
	if holes {
		next = slices.DeleteFunc(next, func(r *rule) bool { return r == nil })
	}
	return next, put, gone
}

// AddFlows adds several rules in one transaction (add-flows): if any line
// is bad, none is added.
func (s *Switch) AddFlows(brName string, flows []string) error {
	return s.AddFlowsTransient(brName, flows, false)
}

// AddFlowsTransient is AddFlows; transient rules are not stored.
func (s *Switch) AddFlowsTransient(brName string, flows []string, transient bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return err
	}
	fs, err := parseFlows(b, flows)
	if err != nil {
		return err
	}
	return s.addRules(b, fs, transient)
}

// ModFlows replaces the actions of the rules flow's match selects
// (mod-flows), strictly (same priority and match) or not.
func (s *Switch) ModFlows(brName, flow string, strict bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return err
	}
	f, err := openflow.ParseFlow(flow, portNamer{b})
	if err == nil {
		err = checkFlow(b, f)
	}
	if err != nil {
		return errorf(ErrInvalid, "%v", err)
	}
	match, _, _ := strings.Cut(flow, "actions=")
	sel, err := s.selectRules(b, strings.TrimRight(strings.TrimSpace(match), ","), strict)
	if err != nil {
		return err
	}
	if len(sel) == 0 {
		return nil
	}
	// The new actions must make sense in every selected rule's table.
	for _, r := range sel {
		for _, a := range f.Actions {
			if a.Type == openflow.ActGotoTable && a.Table <= r.flow.Table {
				return errorf(ErrInvalid, "goto_table:%d in a rule of table %d: goto_table must go to a later table", a.Table, r.flow.Table)
			}
		}
	}
	chosen := make(map[*rule]bool, len(sel))
	for _, r := range sel {
		chosen[r] = true
	}
	next := slices.Clone(b.rules)
	var put []*rule
	for i, r := range next {
		if chosen[r] {
			nf := r.flow.Clone()
			nf.Actions = slices.Clone(f.Actions)
			// The rule keeps its counters, age and store record: same ref,
			// added and id.
			next[i] = &rule{flow: nf, added: r.added, ref: r.ref, id: r.id, transient: r.transient}
			put = append(put, next[i])
		}
	}
	return s.commitDelta(b, next, put, nil)
}

// ReplaceFlows makes flows the bridge's whole rule set, in one transaction.
// Rules already present unchanged keep their counters (and store records).
func (s *Switch) ReplaceFlows(brName string, flows []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return err
	}
	fs, err := parseFlows(b, flows)
	if err != nil {
		return err
	}
	var news, next, put, gone []*rule
	at := make(map[ruleKey]int, len(fs))
	now := time.Now()
	for _, f := range fs {
		nr := &rule{flow: f, added: now}
		if i, ok := at[keyOf(f)]; ok {
			news[i] = nr
			continue
		}
		at[keyOf(f)] = len(news)
		news = append(news, nr)
	}
	// Kept rules first, in their order, then the new ones: the order of
	// their store ids, so a restart brings back the same order.
	for _, old := range b.rules {
		i, ok := at[keyOf(old.flow)]
		if ok && news[i] != nil && !old.transient && news[i].flow.Equal(old.flow) {
			news[i] = nil
			next = append(next, old)
		} else {
			gone = append(gone, old)
		}
	}
	for _, r := range news {
		if r != nil {
			next = append(next, r)
			put = append(put, r)
		}
	}
	return s.commitDelta(b, next, put, gone)
}

// DumpPorts returns the counters of a bridge's ports, or of one port.
func (s *Switch) DumpPorts(brName, portName string) ([]PortView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return nil, err
	}
	var out []PortView
	for _, p := range b.ports {
		if portName != "" && p.cfg.Name != portName && fmt.Sprint(p.ofport) != portName &&
			!(p.ofport == ofportLocal && strings.EqualFold(portName, "LOCAL")) {
			continue
		}
		out = append(out, s.portView(p))
	}
	if portName != "" && len(out) == 0 {
		return nil, errorf(ErrNotFound, "bridge %s has no port %s", brName, portName)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ofport < out[j].Ofport })
	return out, nil
}

// DumpTables returns the tables of a bridge that hold rules or were used.
func (s *Switch) DumpTables(brName string) ([]TableView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return nil, err
	}
	var active [256]int
	for _, r := range b.rules {
		active[r.flow.Table]++
	}
	var out []TableView
	for t := range b.tstats {
		st := &b.tstats[t]
		v := TableView{Table: t, Active: active[t], Lookups: st.lookups.Load(), Matched: st.matched.Load()}
		if v.Active > 0 || v.Lookups > 0 {
			out = append(out, v)
		}
	}
	return out, nil
}

// DumpAggregate sums the counters of the rules match selects.
func (s *Switch) DumpAggregate(brName, match string) (packets, bytes uint64, flows int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return 0, 0, 0, err
	}
	sel, err := s.selectRules(b, match, false)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, r := range sel {
		_, p, by := s.dp.RefStats(r.ref)
		packets += p
		bytes += by
	}
	return packets, bytes, len(sel), nil
}

// Trace translates a packet described in flow syntax ("in_port=1,tcp,
// tp_dst=80", fields not given are zero) through the bridge's pipeline
// without forwarding anything or learning.
func (s *Switch) Trace(brName, flow string) (*TraceView, error) {
	s.mu.Lock()
	b, err := s.bridge(brName)
	var m openflow.Match
	if err == nil {
		m, _, _, _, _, err = openflow.ParseMatch(flow, portNamer{b})
		if err != nil {
			err = errorf(ErrInvalid, "%v", err)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if m.Mask.InPort == 0 {
		return nil, errorf(ErrInvalid, "trace needs in_port= (the port the packet arrives on)")
	}
	snap := s.xs.Load()
	xb := snap.bridges[brName]
	in := xb.ports[int(m.Key.InPort)]
	if xb == nil || in == nil {
		return nil, errorf(ErrNotFound, "bridge %s has no port %d", brName, m.Key.InPort)
	}
	key := m.Key
	key.InPort = in.dp
	tv := &TraceView{Flow: m.Format(portNamer{b})}
	var wc flowtable.Key
	acts, _ := translate(snap, in, &key, &wc, nil, nil, tv)
	byDP := map[uint32]*port{}
	s.mu.Lock()
	for _, p := range s.ports {
		if p.dpNo != 0 {
			byDP[p.dpNo] = p
		}
	}
	s.mu.Unlock()
	tv.DatapathActions = formatDPActions(acts, byDP)
	mf := openflow.Match{Key: key, Mask: wc}
	mf.Key.InPort, mf.Mask.InPort = uint32(in.ofport), ^uint32(0)
	flowtable.ApplyMask(&mf.Key, &mf.Mask)
	tv.Megaflow = mf.Format(portNamer{b})
	return tv, nil
}

// PMDRxqs returns which PMD polls which rx queue.
func (s *Switch) PMDRxqs() []RxqView {
	s.mu.Lock()
	names := map[uint32]string{}
	for _, p := range s.ports {
		if p.dpNo != 0 {
			names[p.dpNo] = p.cfg.Name
		}
	}
	s.mu.Unlock()
	var out []RxqView
	for _, q := range s.dp.Rxqs() {
		out = append(out, RxqView{PMD: q.PMD, Core: q.Core, Port: names[q.Port], Queue: q.Queue, Usage: q.Usage})
	}
	return out
}

// RebalanceRxqs reassigns rx queues to PMDs by measured load and returns
// the new assignment.
func (s *Switch) RebalanceRxqs() []RxqView {
	s.dp.Rebalance()
	return s.PMDRxqs()
}

// RxqAssign returns the rx queue assignment mode (cycles or roundrobin).
func (s *Switch) RxqAssign() string { return s.dp.RxqAssignMode().String() }

// FlowCounts returns the number of OpenFlow rules per bridge.
func (s *Switch) FlowCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.bridges))
	for name, b := range s.bridges {
		out[name] = len(b.rules)
	}
	return out
}
