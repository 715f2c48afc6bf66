package openflow

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseFlow parses a flow in ovs-ofctl add-flow syntax, for example
// "table=0,priority=10,in_port=1,dl_vlan=10,actions=strip_vlan,output:2".
// Fields are separated by commas or white space; "actions=" comes last and
// takes the rest of the text. actions= is required; an empty action list or
// "drop" makes a flow that drops. Named ports are resolved through ports,
// which may be nil. The output of ovs-ofctl dump-flows is accepted too: its
// statistics (duration, n_packets, n_bytes, idle_age, hard_age) are ignored.
func ParseFlow(s string, ports PortNamer) (*Flow, error) {
	r, err := parse(s, ports, true)
	if err != nil {
		return nil, err
	}
	f := &Flow{Priority: DefaultPriority, Match: r.match, Cookie: r.cookie}
	if r.table >= 0 {
		f.Table = uint8(r.table)
	}
	if r.priority >= 0 {
		f.Priority = uint16(r.priority)
	}
	if r.idle >= 0 {
		f.IdleTimeout = uint16(r.idle)
	}
	if r.hard >= 0 {
		f.HardTimeout = uint16(r.hard)
	}
	if r.importance >= 0 {
		f.Importance = uint16(r.importance)
	}
	f.SendFlowRem = r.sendFlowRem
	f.Actions, err = parseActions(r.actions, ports, f.Table, &f.Match)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ParseMatch parses the flow selection of del-flows and dump-flows: match
// fields plus optional table, priority (for --strict) and cookie=V/M. table
// and priority are -1 when absent. A cookie without a mask selects that
// exact cookie (cookieMask all ones); without cookie= cookieMask is 0, which
// selects every cookie. Actions and timeouts are not allowed. It is
// ParseFilter without out_port (which it accepts and drops).
func ParseMatch(s string, ports PortNamer) (m Match, table int, priority int, cookie uint64, cookieMask uint64, err error) {
	f, err := ParseFilter(s, ports)
	if err != nil {
		return Match{}, -1, -1, 0, 0, err
	}
	return f.Match, f.Table, f.Priority, f.Cookie, f.CookieMask, nil
}

// Filter is the flow selection of del-flows, mod-flows and dump-flows.
type Filter struct {
	Match    Match
	Table    int // -1: every table
	Priority int // -1: not given (the default priority for --strict)
	// Cookie and CookieMask select flows whose cookie&CookieMask ==
	// Cookie; CookieMask 0 (no cookie=) selects every flow.
	Cookie, CookieMask uint64
	// OutPort selects flows with an output to that OpenFlow port (see
	// Flow.OutputsTo); PortNone, the default, selects every flow.
	OutPort uint32
}

// Selects reports whether flow f is selected: with strict, its match and
// priority must equal the filter's (the default priority if none was
// given); otherwise the filter's match must cover f's. Table, cookie and
// out_port apply either way.
func (s *Filter) Selects(f *Flow, strict bool) bool {
	if s.Table >= 0 && int(f.Table) != s.Table || f.Cookie&s.CookieMask != s.Cookie || !f.OutputsTo(s.OutPort) {
		return false
	}
	if strict {
		prio := s.Priority
		if prio < 0 {
			prio = DefaultPriority
		}
		return int(f.Priority) == prio && s.Match.Equal(f.Match)
	}
	return s.Match.Covers(f.Match)
}

// ParseFilter parses the flow selection of del-flows, mod-flows and
// dump-flows: match fields plus optional table, priority, cookie=V/M and
// out_port=PORT.
func ParseFilter(s string, ports PortNamer) (Filter, error) {
	r, err := parse(s, ports, false)
	if err != nil {
		return Filter{Table: -1, Priority: -1, OutPort: PortNone}, err
	}
	return Filter{Match: r.match, Table: r.table, Priority: r.priority,
		Cookie: r.cookie, CookieMask: r.cookieMask, OutPort: r.outPort}, nil
}

type parseResult struct {
	match              Match
	table, priority    int // -1: absent
	idle, hard         int // -1: absent
	importance         int // -1: absent
	sendFlowRem        bool
	outPort            uint32
	cookie, cookieMask uint64
	actions            string
}

// used records a match field the text named, for the prerequisite check
// that runs once all fields are known (OVS accepts "tp_dst=80,tcp").
type used struct {
	name string
	pre  prereq
}

func parse(s string, ports PortNamer, add bool) (*parseResult, error) {
	r := &parseResult{table: -1, priority: -1, idle: -1, hard: -1, importance: -1, outPort: PortNone}
	var uses []used
	haveActions := false
	sc := scanner{s: s}
	for {
		tok, start, err := sc.next()
		if err != nil {
			// The action list is scanned by parseActions, which names the
			// bad action; only the match part must scan cleanly here.
			rest := s[start:]
			if !strings.HasPrefix(rest, "actions=") && !strings.HasPrefix(rest, "action=") {
				return nil, err
			}
			tok = rest
		}
		if tok == "" {
			break
		}
		key, val, hasVal := strings.Cut(tok, "=")
		if key == "actions" || key == "action" {
			if !hasVal {
				return nil, fmt.Errorf("invalid field %q", tok)
			}
			if !add {
				return nil, fmt.Errorf("actions are not allowed here: %q", strings.TrimSpace(s[start:]))
			}
			r.actions = s[start+len(key)+1:]
			haveActions = true
			break
		}
		if sh, ok := shorthands[key]; ok {
			if hasVal {
				return nil, fmt.Errorf("%q takes no value in %q", key, tok)
			}
			r.match.Key.DlType, r.match.Mask.DlType = sh.dlType, 0xffff
			if sh.proto >= 0 {
				r.match.Key.NwProto, r.match.Mask.NwProto = uint8(sh.proto), 0xff
			}
			continue
		}
		if key == "send_flow_rem" {
			if hasVal {
				return nil, fmt.Errorf("%q takes no value in %q", key, tok)
			}
			if !add {
				return nil, fmt.Errorf("%s is not allowed here: %q", key, tok)
			}
			r.sendFlowRem = true
			continue
		}
		if !hasVal {
			if _, ok := fields[key]; ok || isFlowAttr(key) {
				return nil, fmt.Errorf("missing value for %q", key)
			}
			return nil, fmt.Errorf("invalid field %q", tok)
		}
		bad := func(err error) error {
			return fmt.Errorf("invalid value %q in %q: %w", val, tok, err)
		}
		switch key {
		case "table":
			v, err := parseNum(val, MaxTable)
			if err != nil {
				return nil, bad(err)
			}
			r.table = int(v)
		case "priority":
			v, err := parseNum(val, 0xffff)
			if err != nil {
				return nil, bad(err)
			}
			r.priority = int(v)
		case "importance":
			if !add {
				return nil, fmt.Errorf("%s is not allowed here: %q", key, tok)
			}
			v, err := parseNum(val, 0xffff)
			if err != nil {
				return nil, bad(err)
			}
			r.importance = int(v)
		case "out_port":
			if add {
				return nil, fmt.Errorf("out_port is only allowed when selecting flows (del-flows, dump-flows): %q", tok)
			}
			p, err := parsePort(val, ports)
			if err != nil {
				return nil, bad(err)
			}
			r.outPort = p
		case "idle_timeout", "hard_timeout":
			if !add {
				return nil, fmt.Errorf("%s is not allowed here: %q", key, tok)
			}
			v, err := parseNum(val, 0xffff)
			if err != nil {
				return nil, bad(err)
			}
			if key == "idle_timeout" {
				r.idle = int(v)
			} else {
				r.hard = int(v)
			}
		case "cookie":
			vs, ms, masked := strings.Cut(val, "/")
			if masked && add {
				return nil, fmt.Errorf("flow additions cannot use a cookie mask: %q", tok)
			}
			v, err := parseNum(vs, ^uint64(0))
			if err != nil {
				return nil, bad(err)
			}
			mask := ^uint64(0)
			if masked {
				if mask, err = parseNum(ms, ^uint64(0)); err != nil {
					return nil, bad(err)
				}
			}
			r.cookie, r.cookieMask = v&mask, mask
		case "duration", "n_packets", "n_bytes", "idle_age", "hard_age":
			// Statistics of dump-flows output, ignored (as ovs-ofctl does)
			// so that dumped flows can be fed back.
		default:
			fs, ok := fields[key]
			if !ok {
				return nil, fmt.Errorf("invalid field %q in %q", key, tok)
			}
			if err := fs.parse(&r.match, val, ports); err != nil {
				return nil, bad(err)
			}
			uses = append(uses, used{key, fs.pre})
		}
	}
	if add && !haveActions {
		return nil, errors.New("flow has no actions (end it with actions=..., or actions=drop to drop)")
	}
	for _, u := range uses {
		if err := u.pre.check(&r.match, u.name); err != nil {
			return nil, err
		}
	}
	r.match.normalize()
	return r, nil
}

func isFlowAttr(key string) bool {
	switch key {
	case "table", "priority", "cookie", "idle_timeout", "hard_timeout", "importance", "out_port":
		return true
	}
	return false
}

// scanner splits flow text into tokens at commas and white space, keeping
// double-quoted strings and parenthesised arguments whole.
type scanner struct {
	s   string
	pos int
}

func isSep(c byte) bool {
	return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// next returns the next token and where it starts, or "" at the end.
func (sc *scanner) next() (string, int, error) {
	s := sc.s
	for sc.pos < len(s) && isSep(s[sc.pos]) {
		sc.pos++
	}
	start := sc.pos
	depth := 0
	for sc.pos < len(s) {
		c := s[sc.pos]
		switch {
		case c == '"':
			end, err := skipQuoted(s, sc.pos)
			if err != nil {
				return "", start, err
			}
			sc.pos = end
			continue
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return "", start, fmt.Errorf("unbalanced parenthesis in %q", s[start:sc.pos+1])
			}
		case depth == 0 && isSep(c):
			return s[start:sc.pos], start, nil
		}
		sc.pos++
	}
	if depth != 0 {
		return "", start, fmt.Errorf("unbalanced parenthesis in %q", s[start:])
	}
	return s[start:], start, nil
}

// skipQuoted returns the index just past the quoted string starting at i.
func skipQuoted(s string, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated quoted string %s", s[i:])
}

// parseNum parses a decimal or 0x-prefixed hexadecimal number no larger
// than max.
func parseNum(s string, max uint64) (uint64, error) {
	t, base := s, 10
	if len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		t, base = t[2:], 16
	}
	if t == "" {
		return 0, errors.New("not a number")
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		ok := c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
		if !ok {
			return 0, errors.New("not a number")
		}
	}
	v, err := strconv.ParseUint(t, base, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("must be 0-%d", max)
	}
	return v, nil
}

// Reserved port names ovs-ofctl understands, case-insensitively.
var reservedPorts = []struct {
	name string
	num  uint32
}{
	{"IN_PORT", PortInPort},
	{"TABLE", PortTable},
	{"NORMAL", PortNormal},
	{"FLOOD", PortFlood},
	{"ALL", PortAll},
	{"CONTROLLER", PortController},
	{"LOCAL", PortLocal},
	{"NONE", PortNone},
	{"ANY", PortNone},
}

func reservedPort(name string) (uint32, bool) {
	for _, r := range reservedPorts {
		if strings.EqualFold(name, r.name) {
			return r.num, true
		}
	}
	return 0, false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parsePort reads a port as ovs-ofctl does: a decimal number (OpenFlow 1.0
// numbering; the OpenFlow 1.1+ reserved range 0xffffff00 and up is folded
// onto it), a reserved name, or a port name, which may be double-quoted.
func parsePort(s string, ports PortNamer) (uint32, error) {
	if strings.HasPrefix(s, `"`) {
		name, err := strconv.Unquote(s)
		if err != nil {
			return 0, fmt.Errorf("bad quoted port name %s", s)
		}
		return lookupPort(name, ports)
	}
	if isDigits(s) {
		v, err := strconv.ParseUint(s, 10, 32)
		switch {
		case err != nil:
			return 0, errors.New("port number out of range")
		case v <= 0xffff:
			return uint32(v), nil
		case v >= 0xffffff00:
			return uint32(v - 0xffff0000), nil
		default:
			return 0, fmt.Errorf("port %d is outside the supported range 0-65535", v)
		}
	}
	if p, ok := reservedPort(s); ok {
		return p, nil
	}
	return lookupPort(s, ports)
}

func lookupPort(name string, ports PortNamer) (uint32, error) {
	if ports != nil {
		if p, ok := ports.PortNumber(name); ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no port named %q", name)
}
