package openflow

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// actionParsers maps a lower-case action keyword to its parser. arg is the
// text after "name:" or inside "name(...)"; paren says which form was used;
// hasArg is false for a bare keyword. New actions slot in here and in
// formatAction.
var actionParsers map[string]func(arg string, hasArg, paren bool, ports PortNamer) (Action, error)

func init() {
	noArg := func(a Action) func(string, bool, bool, PortNamer) (Action, error) {
		return func(_ string, hasArg, _ bool, _ PortNamer) (Action, error) {
			if hasArg {
				return Action{}, errors.New("takes no argument")
			}
			return a, nil
		}
	}
	num := func(t ActionType, max uint64, what string) func(string, bool, bool, PortNamer) (Action, error) {
		return func(arg string, hasArg, paren bool, _ PortNamer) (Action, error) {
			if !hasArg || paren {
				return Action{}, fmt.Errorf("needs %s, as in %s:N", what, t)
			}
			n, err := parseNum(arg, max)
			if err != nil {
				return Action{}, fmt.Errorf("%s %w", what, err)
			}
			return Action{Type: t, Value: n}, nil
		}
	}
	mac := func(t ActionType) func(string, bool, bool, PortNamer) (Action, error) {
		return func(arg string, hasArg, paren bool, _ PortNamer) (Action, error) {
			if !hasArg || paren {
				return Action{}, fmt.Errorf("needs an Ethernet address, as in %s:aa:bb:cc:dd:ee:ff", t)
			}
			a, err := parseMAC(arg)
			if err != nil {
				return Action{}, err
			}
			return Action{Type: t, MAC: a}, nil
		}
	}
	actionParsers = map[string]func(string, bool, bool, PortNamer) (Action, error){
		"normal":       noArg(Action{Type: ActNormal}),
		"flood":        noArg(Action{Type: ActFlood}),
		"all":          noArg(Action{Type: ActAll}),
		"local":        noArg(Action{Type: ActLocal}),
		"in_port":      noArg(Action{Type: ActInPort}),
		"strip_vlan":   noArg(Action{Type: ActStripVlan}),
		"pop_vlan":     noArg(Action{Type: ActStripVlan, Alt: true}),
		"mod_vlan_vid": num(ActModVlanVid, 0xfff, "a VLAN ID"),
		"mod_vlan_pcp": num(ActModVlanPcp, 7, "a VLAN priority"),
		"goto_table":   num(ActGotoTable, MaxTable, "a table"),
		"mod_dl_src":   mac(ActModDlSrc),
		"mod_dl_dst":   mac(ActModDlDst),
		"push_vlan": func(arg string, hasArg, paren bool, _ PortNamer) (Action, error) {
			if !hasArg || paren {
				return Action{}, errors.New("needs an EtherType, as in push_vlan:0x8100")
			}
			n, err := parseNum(arg, 0xffff)
			if err != nil || n != 0x8100 && n != 0x88a8 {
				return Action{}, errors.New("EtherType must be 0x8100 or 0x88a8")
			}
			return Action{Type: ActPushVlan, Value: n}, nil
		},
		"output": func(arg string, hasArg, paren bool, ports PortNamer) (Action, error) {
			if !hasArg || paren {
				return Action{}, errors.New("needs a port, as in output:1")
			}
			p, err := parsePort(arg, ports)
			if err != nil {
				return Action{}, err
			}
			return outputTo(p)
		},
		"controller": func(arg string, hasArg, paren bool, _ PortNamer) (Action, error) {
			a := Action{Type: ActController, Value: DefaultControllerMaxLen}
			if !hasArg {
				return a, nil
			}
			if paren {
				// controller(max_len=N) is the only key supported so far.
				k, v, ok := strings.Cut(arg, "=")
				if !ok || strings.TrimSpace(k) != "max_len" {
					return Action{}, fmt.Errorf("unsupported controller argument %q (only max_len=N)", arg)
				}
				arg = strings.TrimSpace(v)
			}
			n, err := parseNum(arg, 0xffff)
			if err != nil {
				return Action{}, fmt.Errorf("max_len %w", err)
			}
			a.Value = n
			return a, nil
		},
		"resubmit": func(arg string, hasArg, paren bool, ports PortNamer) (Action, error) {
			a := Action{Type: ActResubmit, Port: PortInPort, Table: TableCurrent}
			if !hasArg {
				return Action{}, errors.New("needs a port or table, as in resubmit:1 or resubmit(,1)")
			}
			ps, ts, hasTable := arg, "", false
			if paren {
				ps, ts, hasTable = cutUnquoted(arg, ',')
				ps, ts = strings.TrimSpace(ps), strings.TrimSpace(ts)
				if strings.Contains(ts, ",") {
					return Action{}, fmt.Errorf("unsupported resubmit argument %q", arg)
				}
			}
			if ps != "" {
				p, err := parsePort(ps, ports)
				if err != nil {
					return Action{}, err
				}
				a.Port = p
			}
			if hasTable && ts != "" {
				n, err := parseNum(ts, MaxTable)
				if err != nil {
					return Action{}, fmt.Errorf("table %w", err)
				}
				a.Table = uint8(n)
			}
			if a.Port == PortInPort && a.Table == TableCurrent {
				return Action{}, errors.New(`at least one of port and table must be given`)
			}
			return a, nil
		},
	}
}

// cutUnquoted is strings.Cut at the first sep outside double quotes.
func cutUnquoted(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			end, err := skipQuoted(s, i)
			if err != nil {
				return s, "", false
			}
			i = end - 1
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// outputTo turns an output to port p into its action: the reserved ports
// become their own action types so that "output:NORMAL" and "NORMAL" are
// the same rule, as they are in OVS.
func outputTo(p uint32) (Action, error) {
	switch {
	case p == 0:
		return Action{}, errors.New("port 0 is not a valid output port")
	case p < PortMax:
		return Action{Type: ActOutput, Port: p}, nil
	case p == PortInPort:
		return Action{Type: ActInPort}, nil
	case p == PortNormal:
		return Action{Type: ActNormal}, nil
	case p == PortFlood:
		return Action{Type: ActFlood}, nil
	case p == PortAll:
		return Action{Type: ActAll}, nil
	case p == PortLocal:
		return Action{Type: ActLocal}, nil
	case p == PortController:
		return Action{Type: ActController, Value: DefaultControllerMaxLen}, nil
	case p == PortTable:
		return Action{}, errors.New("output to TABLE is only valid in packet-out")
	case p == PortNone:
		return Action{}, errors.New("output to NONE is not valid")
	}
	return Action{}, fmt.Errorf("port %d is in the reserved range", p)
}

// parseActions parses the text after "actions=". table is the flow's
// table, which a goto_table must lie beyond.
func parseActions(s string, ports PortNamer, table uint8) ([]Action, error) {
	var acts []Action
	drop := false
	sc := scanner{s: s}
	for {
		tok, _, err := sc.next()
		if err != nil {
			return nil, err
		}
		if tok == "" {
			break
		}
		if len(acts) > 0 && acts[len(acts)-1].Type == ActGotoTable {
			return nil, fmt.Errorf("goto_table must be the last action, but %q follows it", tok)
		}
		if strings.EqualFold(tok, "drop") {
			drop = true
			continue
		}
		a, err := parseAction(tok, ports)
		if err != nil {
			return nil, err
		}
		if a.Type == ActGotoTable && a.Table <= table {
			return nil, fmt.Errorf("invalid action %q: goto_table must name a later table than %d", tok, table)
		}
		acts = append(acts, a)
	}
	if drop && len(acts) > 0 {
		return nil, errors.New(`"drop" must not be accompanied by any other action`)
	}
	return acts, nil
}

func parseAction(tok string, ports PortNamer) (Action, error) {
	name, arg, hasArg, paren := tok, "", false, false
	if !strings.HasPrefix(tok, `"`) {
		if i := strings.IndexAny(tok, ":("); i >= 0 {
			name, arg, hasArg = tok[:i], tok[i+1:], true
			if tok[i] == '(' {
				if !strings.HasSuffix(arg, ")") {
					return Action{}, fmt.Errorf("invalid action %q: text after the closing parenthesis", tok)
				}
				arg, paren = arg[:len(arg)-1], true
			}
		}
	}
	if p, ok := actionParsers[strings.ToLower(name)]; ok {
		a, err := p(arg, hasArg, paren, ports)
		if err != nil {
			return Action{}, fmt.Errorf("invalid action %q: %w", tok, err)
		}
		if a.Type == ActGotoTable {
			a.Table, a.Value = uint8(a.Value), 0
		}
		return a, nil
	}
	// A bare port (number, reserved name, or a known port name) means
	// output to it, as in ovs-ofctl.
	if !hasArg {
		p, err := parsePort(tok, ports)
		if err == nil {
			a, err := outputTo(p)
			if err != nil {
				return Action{}, fmt.Errorf("invalid action %q: %w", tok, err)
			}
			return a, nil
		}
		if isDigits(tok) || strings.HasPrefix(tok, `"`) {
			return Action{}, fmt.Errorf("invalid action %q: %w", tok, err)
		}
	}
	return Action{}, fmt.Errorf("unknown action %q", tok)
}

// needsQuote reports whether a port name must be double-quoted to read
// back as that name rather than as a number, a reserved port or several
// tokens.
func needsQuote(name string) bool {
	if name == "" || isDigits(name) {
		return true
	}
	if _, ok := reservedPort(name); ok {
		return true
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`,()=:"\/`, c) >= 0 {
			return true
		}
	}
	return false
}

// appendPort prints a port the way ovs-ofctl does: reserved ports by name,
// others by name when ports knows one, else by number.
func appendPort(b []byte, p uint32, ports PortNamer) []byte {
	if p >= PortMax && p <= PortNone {
		for _, r := range reservedPorts {
			if r.num == p {
				return append(b, r.name...)
			}
		}
	}
	if ports != nil {
		if name, ok := ports.PortName(p); ok {
			if needsQuote(name) {
				return strconv.AppendQuote(b, name)
			}
			return append(b, name...)
		}
	}
	return strconv.AppendUint(b, uint64(p), 10)
}

// FormatActions prints an action list as ovs-ofctl dump-flows shows it:
// "NORMAL", "output:2", "mod_vlan_vid:10,output:3", and "drop" for an
// empty list. Ports are printed by name when ports (may be nil) knows them.
func FormatActions(acts []Action, ports PortNamer) string {
	return string(appendActions(nil, acts, ports))
}

func appendActions(b []byte, acts []Action, ports PortNamer) []byte {
	start := len(b)
	for i := range acts {
		if acts[i].Type == ActDrop {
			continue
		}
		if len(b) > start {
			b = append(b, ',')
		}
		b = appendAction(b, &acts[i], ports)
	}
	if len(b) == start {
		b = append(b, "drop"...)
	}
	return b
}

func appendAction(b []byte, a *Action, ports PortNamer) []byte {
	switch a.Type {
	case ActOutput:
		b = append(b, "output:"...)
		return appendPort(b, a.Port, ports)
	case ActNormal, ActFlood, ActAll, ActLocal, ActInPort:
		return append(b, a.Type.String()...)
	case ActController:
		b = append(b, "CONTROLLER:"...)
		return strconv.AppendUint(b, a.Value, 10)
	case ActModVlanVid, ActModVlanPcp:
		b = append(b, a.Type.String()...)
		b = append(b, ':')
		return strconv.AppendUint(b, a.Value, 10)
	case ActStripVlan:
		if a.Alt {
			return append(b, "pop_vlan"...)
		}
		return append(b, "strip_vlan"...)
	case ActPushVlan:
		b = append(b, "push_vlan:0x"...)
		return strconv.AppendUint(b, a.Value, 16)
	case ActModDlSrc, ActModDlDst:
		b = append(b, a.Type.String()...)
		b = append(b, ':')
		return appendMAC(b, a.MAC)
	case ActResubmit:
		if a.Port != PortInPort && a.Table == TableCurrent {
			b = append(b, "resubmit:"...)
			return appendPort(b, a.Port, ports)
		}
		b = append(b, "resubmit("...)
		if a.Port != PortInPort {
			b = appendPort(b, a.Port, ports)
		}
		b = append(b, ',')
		if a.Table != TableCurrent {
			b = strconv.AppendUint(b, uint64(a.Table), 10)
		}
		return append(b, ')')
	case ActGotoTable:
		b = append(b, "goto_table:"...)
		return strconv.AppendUint(b, uint64(a.Table), 10)
	}
	return append(b, a.Type.String()...)
}
