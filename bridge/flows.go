package bridge

import (
	"slices"
	"sort"
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

func (s *Switch) saveFlows(b *bridge, rules []*rule) error {
	texts := make([]string, len(rules))
	for i, r := range rules {
		texts[i] = r.flow.String()
	}
	return s.st.Update(func(c *store.Config) error {
		bc := findBridge(c, b.name)
		if bc == nil {
			return errorf(ErrNotFound, "no bridge named %s", b.name)
		}
		bc.Flows = texts
		return nil
	})
}

// AddFlow adds an OpenFlow rule, replacing one with the same table,
// priority and match (as ovs-ofctl add-flow does).
func (s *Switch) AddFlow(brName, text string) error {
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
	next, gone := merge(b.rules, []*openflow.Flow{f})
	return s.commitRules(b, next, gone)
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
	var keep []*rule
	for _, r := range b.rules {
		if !slices.Contains(gone, r) {
			keep = append(keep, r)
		}
	}
	if len(keep) == len(b.rules) {
		return nil
	}
	if err := s.saveFlows(b, keep); err != nil {
		return err
	}
	b.rules = keep
	defer s.freeRules(gone) // after the revalidation: no megaflow counts for them
	s.rebuild()
	return nil
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
