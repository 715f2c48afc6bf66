package bridge

import (
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"vswitch/openflow"
	"vswitch/store"
)

// portNamer resolves port names in flow text for one bridge.
type portNamer struct{ b *bridge }

func (n portNamer) PortNumber(name string) (uint32, bool) {
	for _, p := range n.b.ports {
		if p.cfg.Name == name {
			return uint32(p.ofport), true
		}
	}
	return 0, false
}

func (n portNamer) PortName(num uint32) (string, bool) {
	for _, p := range n.b.ports {
		if uint32(p.ofport) == num {
			return p.cfg.Name, true
		}
	}
	return "", false
}

// ruleKey is what makes two rules the same rule for add-flow: a rule with
// the same table, priority and match replaces the old one.
type ruleKey struct {
	table uint8
	prio  uint16
	match openflow.Match
}

func keyOf(f *openflow.Flow) ruleKey {
	return ruleKey{table: f.Table, prio: f.Priority, match: f.Match}
}

// flowCommit stages flow-mods so that concurrent ones share one store
// transaction and one snapshot rebuild (group commit): a flow-mod changes
// the bridge's rule set at once (later flow-mods build on it), queues its
// store delta in the pending batch and waits. One caller at a time is the
// leader: it writes the batch without holding s.mu (flow-mods arriving
// meanwhile form the next batch), publishes it with one rebuild, and
// hands the next batch to one of its waiters. Fields are guarded by s.mu.
type flowCommit struct {
	pend     flowBatch
	flushing bool // a leader is writing or publishing a batch
	// batches and mods count group commits and the flow-mods in them.
	batches, mods uint64
	writeMu       sync.Mutex                    // held by a store write of flows; DelBridge waits on it
	nextID        map[*bridge]uint64            // next store id per bridge
	tables        map[*bridge]ruleTables        // last per-table view built for rebuild
	delta         map[*bridge]*tableDelta       // changes since that view
	index         map[*bridge]map[ruleKey]*rule // built on first use
}

// flowBatch is the flow-mods of one group commit.
type flowBatch struct {
	changes []store.FlowChange
	owners  []*bridge           // changes[i] is owners[i]'s
	fresh   map[*bridge][]*rule // rules given a ref by the batch: freed if it fails
	gone    []*rule             // rules the batch displaced: freed once it is published
	prev    map[*bridge][]*rule // rule sets before the batch, to roll back to
	waiters []*flowWaiter
}

// ruleTables caches a bridge's rules split per table, highest priority
// first, for the rule set (slice header) it was built from. b.rules only
// ever gets a new slice or a longer one, never an in-place change, so an
// equal header means equal rules: a rebuild for a port or MAC change does
// not sort the rules again, and a flow-mod batch patches only the tables
// it touched (tableDelta) instead of sorting 10k rules.
type ruleTables struct {
	hdr    rulesHeader
	tables [][]*rule
}

type rulesHeader struct {
	first **rule
	n     int
}

func headerOf(rules []*rule) rulesHeader {
	if len(rules) == 0 {
		return rulesHeader{}
	}
	return rulesHeader{first: &rules[0], n: len(rules)}
}

// tableDelta is what stageRules changed in a bridge's rules since its
// tables were last built from the rule set base.
type tableDelta struct {
	base, want rulesHeader
	add, del   []*rule
	repl       map[*rule]*rule // old -> new rule that took its place in b.rules
}

// ruleTables returns b's rules per table for a snapshot; the slices are
// never changed afterwards (PMDs read them). Caller holds s.mu.
func (s *Switch) ruleTables(b *bridge) [][]*rule {
	if s.fc.tables == nil {
		s.fc.tables = map[*bridge]ruleTables{}
	}
	h := headerOf(b.rules)
	c, ok := s.fc.tables[b]
	if ok && c.hdr == h {
		return c.tables
	}
	var tables [][]*rule
	if d := s.fc.delta[b]; ok && d != nil && d.base == c.hdr && d.want == h {
		tables = patchTables(c.tables, d, len(b.rules))
	}
	delete(s.fc.delta, b)
	if tables == nil {
		tables = buildTables(b.rules)
	}
	s.fc.tables[b] = ruleTables{hdr: h, tables: tables}
	return tables
}

func byPriority(x, y *rule) int { return int(y.flow.Priority) - int(x.flow.Priority) }

func buildTables(rules []*rule) [][]*rule {
	var count [256]int
	top := -1
	for _, r := range rules {
		count[r.flow.Table]++
		top = max(top, int(r.flow.Table))
	}
	tables := make([][]*rule, top+1)
	for t := range tables {
		if count[t] > 0 {
			tables[t] = make([]*rule, 0, count[t])
		}
	}
	for _, r := range rules {
		tables[r.flow.Table] = append(tables[r.flow.Table], r)
	}
	for _, tbl := range tables {
		slices.SortStableFunc(tbl, byPriority)
	}
	return tables
}

// patchTables applies d to old (left untouched) as buildTables would have
// built the new rule set: a rule replaced by one with the same key takes
// its place, other new rules go after the rules of equal priority. It
// returns nil if the result does not hold want rules (then build afresh).
func patchTables(old [][]*rule, d *tableDelta, want int) [][]*rule {
	del := make(map[*rule]bool, len(d.del))
	for _, r := range d.del {
		del[r] = true
	}
	// successor follows replacements (a rule replaced, its replacement
	// replaced in turn...) to the rule now in old's place, if any.
	successor := func(old *rule) *rule {
		for r := d.repl[old]; r != nil; r = d.repl[r] {
			if !del[r] {
				return r
			}
		}
		return nil
	}
	adds := map[uint8][]*rule{}
	for _, r := range d.add {
		if del[r] { // added and gone again, or replaced, in the same batch
			r = successor(r)
		}
		if r != nil {
			adds[r.flow.Table] = append(adds[r.flow.Table], r)
		}
	}
	touched := map[int]bool{}
	for _, r := range d.del {
		touched[int(r.flow.Table)] = true
	}
	for t := range adds {
		touched[int(t)] = true
	}
	tables := slices.Clone(old)
	placed := map[*rule]bool{}
	for t := range touched {
		for len(tables) <= t {
			tables = append(tables, nil)
		}
		var kept []*rule
		for _, r := range tables[t] {
			if !del[r] {
				kept = append(kept, r)
			} else if nr := successor(r); nr != nil && !placed[nr] {
				kept = append(kept, nr)
				placed[nr] = true
			}
		}
		// New rules in b.rules order: a replacement of a rule new in
		// this batch stands where that rule stood.
		var fresh []*rule
		for _, r := range adds[uint8(t)] {
			if !placed[r] {
				fresh = append(fresh, r)
				placed[r] = true
			}
		}
		slices.SortStableFunc(fresh, byPriority)
		merged := make([]*rule, 0, len(kept)+len(fresh))
		i := 0
		for _, r := range kept {
			for i < len(fresh) && fresh[i].flow.Priority > r.flow.Priority {
				merged = append(merged, fresh[i])
				i++
			}
			merged = append(merged, r)
		}
		tables[t] = append(merged, fresh[i:]...)
	}
	for len(tables) > 0 && len(tables[len(tables)-1]) == 0 {
		tables = tables[:len(tables)-1]
	}
	n := 0
	for _, tbl := range tables {
		n += len(tbl)
	}
	if n != want {
		return nil
	}
	return tables
}

type flowWaiter struct {
	wake  chan struct{} // closed when done, or when made the leader
	woken bool
	lead  bool
	err   error
}

func (w *flowWaiter) finish(err error) {
	w.err = err
	if !w.woken {
		w.woken = true
		close(w.wake)
	}
}

// ruleIndex returns b's rules by key, building it if needed. Caller holds s.mu.
func (s *Switch) ruleIndex(b *bridge) map[ruleKey]*rule {
	if s.fc.index == nil {
		s.fc.index = map[*bridge]map[ruleKey]*rule{}
	}
	idx := s.fc.index[b]
	if idx == nil {
		idx = make(map[ruleKey]*rule, len(b.rules))
		for _, r := range b.rules {
			idx[keyOf(r.flow)] = r
		}
		s.fc.index[b] = idx
	}
	return idx
}

// setNextID makes new rules of b take ids above every id in ids.
func (s *Switch) setNextID(b *bridge, ids []uint64) {
	if s.fc.nextID == nil {
		s.fc.nextID = map[*bridge]uint64{}
	}
	next := uint64(1)
	for _, id := range ids {
		next = max(next, id+1)
	}
	s.fc.nextID[b] = next
}

// forgetBridge drops the commit state of a deleted bridge. Caller holds s.mu.
func (s *Switch) forgetBridge(b *bridge) {
	delete(s.fc.index, b)
	delete(s.fc.nextID, b)
	delete(s.fc.tables, b)
	delete(s.fc.delta, b)
}

// stageRules makes next b's rule set (unpublished) and queues the store
// delta: put are rules new or changed in next, gone rules that left it.
// Caller holds s.mu.
func (s *Switch) stageRules(b *bridge, next, put, gone []*rule) {
	pb := &s.fc.pend
	if pb.prev == nil {
		pb.prev, pb.fresh = map[*bridge][]*rule{}, map[*bridge][]*rule{}
	}
	if _, ok := pb.prev[b]; !ok {
		pb.prev[b] = b.rules
	}
	idx := s.ruleIndex(b)
	if s.fc.delta == nil {
		s.fc.delta = map[*bridge]*tableDelta{}
	}
	d := s.fc.delta[b]
	if d == nil {
		d = &tableDelta{base: headerOf(b.rules)}
		s.fc.delta[b] = d
	}
	d.want = headerOf(next)
	d.del = append(d.del, gone...)
	d.add = append(d.add, put...)
	for _, r := range put {
		// A rule whose key is in the index now took that rule's place in
		// next (add-flow over it, mod-flows); other new rules come last.
		if old := idx[keyOf(r.flow)]; old != nil && old != r && old.transient == r.transient {
			if d.repl == nil {
				d.repl = map[*rule]*rule{}
			}
			d.repl[old] = r
			d.del = append(d.del, old)
		}
	}
	ch := store.FlowChange{Bridge: b.name}
	for _, r := range gone {
		if !r.transient {
			ch.Delete = append(ch.Delete, r.id)
		}
		if k := keyOf(r.flow); idx[k] == r {
			delete(idx, k)
		}
	}
	if _, ok := s.fc.nextID[b]; !ok {
		s.setNextID(b, nil)
	}
	for _, r := range put {
		if r.ref == 0 {
			r.ref, _ = s.dp.NewRef()
			pb.fresh[b] = append(pb.fresh[b], r)
		}
		idx[keyOf(r.flow)] = r
		if r.transient {
			continue
		}
		if r.id == 0 {
			r.id = s.fc.nextID[b]
			s.fc.nextID[b]++
		}
		ch.Put = append(ch.Put, store.Flow{ID: r.id, Text: r.flow.String()})
	}
	b.rules = next
	pb.gone = append(pb.gone, gone...)
	if len(ch.Delete) > 0 || len(ch.Put) > 0 {
		pb.changes = append(pb.changes, ch)
		pb.owners = append(pb.owners, b)
	}
}

// commitRules makes next b's rule set: rules in it without a ref are new,
// gone left it. See commitDelta.
func (s *Switch) commitRules(b *bridge, next, gone []*rule) error {
	var put []*rule
	for _, r := range next {
		if r.ref == 0 {
			put = append(put, r)
		}
	}
	return s.commitDelta(b, next, put, gone)
}

// commitDelta stages a change of b's rules (put: new or changed rules in
// next; gone: rules that left it) and returns once it is stored and
// published, batched with whatever other flow-mods are pending. It
// releases s.mu while it waits or writes: callers must not rely on state
// read before it. Caller holds s.mu.
func (s *Switch) commitDelta(b *bridge, next, put, gone []*rule) error {
	s.stageRules(b, next, put, gone)
	w := &flowWaiter{wake: make(chan struct{})}
	s.fc.pend.waiters = append(s.fc.pend.waiters, w)
	if s.fc.flushing {
		s.mu.Unlock()
		<-w.wake
		s.mu.Lock()
		if !w.lead {
			return w.err
		}
	}
	s.fc.flushing = true
	s.flushBatch() // holds w
	if next := s.fc.pend.waiters; len(next) > 0 {
		next[0].lead, next[0].woken = true, true
		close(next[0].wake)
	} else {
		s.fc.flushing = false
	}
	return w.err
}

// flushBatch writes the pending batch in one store transaction, without
// s.mu so that the next batch gathers meanwhile, and publishes it with
// one rebuild. If the store refuses it, its bridges go back to their rules
// before it, and the flow-mods staged since (built on it) fail with it.
// Caller holds s.mu and is the leader.
func (s *Switch) flushBatch() {
	bt := s.fc.pend
	s.fc.pend = flowBatch{}
	s.fc.batches++
	s.fc.mods += uint64(len(bt.waiters))
	// A bridge deleted since its flow-mod took its flows with it (and a
	// new bridge of the same name is not it).
	var changes []store.FlowChange
	for i, ch := range bt.changes {
		if s.bridges[ch.Bridge] == bt.owners[i] {
			changes = append(changes, ch)
		}
	}
	var err error
	if len(changes) > 0 {
		s.fc.writeMu.Lock()
		s.mu.Unlock()
		err = s.st.UpdateFlows(changes)
		s.fc.writeMu.Unlock()
		s.mu.Lock()
	}
	if err == nil {
		s.rebuild()
		s.freeRules(bt.gone)
		for _, w := range bt.waiters {
			w.finish(nil)
		}
		return
	}
	later := s.fc.pend
	s.fc.pend = flowBatch{}
	restore := func(b *bridge, rules []*rule, set bool, fresh []*rule) {
		if s.bridges[b.name] != b {
			return // deleted meanwhile: its rules are freed already
		}
		if set {
			b.rules = rules
		}
		delete(s.fc.index, b)
		delete(s.fc.delta, b)
		delete(s.fc.tables, b) // its header may come back with other rules
		s.freeRules(fresh)
	}
	for b, rules := range bt.prev {
		restore(b, rules, true, bt.fresh[b])
	}
	for b, rules := range later.prev {
		_, inBt := bt.prev[b] // then back to before bt, not to bt's result
		restore(b, rules, !inBt, later.fresh[b])
	}
	s.rebuild() // another change may have published staged rules
	slog.Warn("flow-mods not stored; rolled back", "n", len(bt.waiters)+len(later.waiters), "err", err)
	for _, w := range append(bt.waiters, later.waiters...) {
		w.finish(err)
	}
}

// lockFlowWrites keeps flow batches from being written while a bridge is
// deleted or added, so no batch lands in the store after its bridge went.
// Caller holds s.mu.
func (s *Switch) lockFlowWrites() func() {
	s.fc.writeMu.Lock()
	return s.fc.writeMu.Unlock
}

// addRules merges fs into b's rules with add-flow semantics and commits.
func (s *Switch) addRules(b *bridge, fs []*openflow.Flow, transient bool) error {
	next, put, gone := s.merge(b, fs, transient)
	return s.commitDelta(b, next, put, gone)
}

// AddFlow adds an OpenFlow rule, replacing one with the same table,
// priority and match (as ovs-ofctl add-flow does).
func (s *Switch) AddFlow(brName, text string) error {
	return s.AddFlowTransient(brName, text, false)
}

// AddFlowTransient is AddFlow; a transient rule lives in the datapath but
// not in the store, so a restart forgets it.
func (s *Switch) AddFlowTransient(brName, text string, transient bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return err
	}
	f, err := openflow.ParseFlow(text, portNamer{b})
	if err == nil {
		err = checkFlow(b, f)
	}
	if err != nil {
		return errorf(ErrInvalid, "%v", err)
	}
	if f.Table > 254 {
		return errorf(ErrInvalid, "table %d out of range (0 to 254)", f.Table)
	}
	return s.addRules(b, []*openflow.Flow{f}, transient)
}

// DelFlows deletes the rules matching match ("" deletes all); strict also
// requires equal priority and match.
func (s *Switch) DelFlows(brName, match string, strict bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return err
	}
	gone, err := s.selectRules(b, match, strict)
	if err != nil {
		return err
	}
	if len(gone) == 0 {
		return nil
	}
	return s.commitDelta(b, without(b.rules, gone), nil, gone)
}

// without returns a new slice of rules minus gone.
func without(rules, gone []*rule) []*rule {
	keep := make([]*rule, 0, len(rules)-len(gone))
	if len(gone) == 1 { // the usual strict delete: no set to build
		i := slices.Index(rules, gone[0])
		return append(append(keep, rules[:i]...), rules[i+1:]...)
	}
	drop := make(map[*rule]bool, len(gone))
	for _, r := range gone {
		drop[r] = true
	}
	for _, r := range rules {
		if !drop[r] {
			keep = append(keep, r)
		}
	}
	return keep
}

// DumpFlows returns a bridge's rules that match selects ("" for all; table=
// and cookie=VALUE/MASK narrow it) in table, priority order, naming ports by
// name when names is set (by number otherwise).
func (s *Switch) DumpFlows(brName, match string, names bool) ([]FlowView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bridge(brName)
	if err != nil {
		return nil, err
	}
	rules, err := s.selectRules(b, match, false)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(rules, func(i, j int) bool {
		if rules[i].flow.Table != rules[j].flow.Table {
			return rules[i].flow.Table < rules[j].flow.Table
		}
		return rules[i].flow.Priority > rules[j].flow.Priority
	})
	var namer openflow.PortNamer
	if names {
		namer = portNamer{b}
	}
	now := time.Now()
	out := make([]FlowView, 0, len(rules))
	for _, r := range rules {
		f := r.flow
		_, packets, bytes := s.dp.RefStats(r.ref)
		out = append(out, FlowView{
			Table: int(f.Table), Priority: int(f.Priority), Cookie: f.Cookie,
			Duration: now.Sub(r.added), Packets: packets, Bytes: bytes,
			Text: f.Match.Format(namer) + " actions=" + openflow.FormatActions(f.Actions, namer),
			Flow: f,
		})
	}
	return out, nil
}

// selectRules returns the rules of b that match selects, as del-flows and
// dump-flows read it: non-strict means every rule at least as specific as
// the match; strict means the same match and priority.
func (s *Switch) selectRules(b *bridge, match string, strict bool) ([]*rule, error) {
	m, table, prio, cookie, cookieMask, err := openflow.ParseMatch(match, portNamer{b})
	if err != nil {
		return nil, errorf(ErrInvalid, "%v", err)
	}
	if strict && prio < 0 {
		prio = openflow.DefaultPriority
	}
	var out []*rule
	if strict {
		// Strict selects at most one rule per table: look it up.
		idx := s.ruleIndex(b)
		for t := range 255 {
			if table >= 0 && t != table {
				continue
			}
			r := idx[ruleKey{table: uint8(t), prio: uint16(prio), match: m}]
			if r != nil && r.flow.Cookie&cookieMask == cookie&cookieMask {
				out = append(out, r)
			}
		}
		return out, nil
	}
	for _, r := range b.rules {
		f := r.flow
		hit := (table < 0 || int(f.Table) == table) && f.Cookie&cookieMask == cookie&cookieMask
		if strict {
			hit = hit && int(f.Priority) == prio && m.Equal(f.Match)
		} else {
			hit = hit && m.Covers(f.Match)
		}
		if hit {
			out = append(out, r)
		}
	}
	return out, nil
}
