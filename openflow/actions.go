package openflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
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
	ipv4 := func(t ActionType) func(string, bool, bool, PortNamer) (Action, error) {
		return func(arg string, hasArg, paren bool, _ PortNamer) (Action, error) {
			if !hasArg || paren || strings.Contains(arg, "/") {
				return Action{}, fmt.Errorf("needs an IPv4 address, as in %s:10.0.0.1", t)
			}
			v, _, err := parseMaskedIPv4(arg)
			if err != nil {
				return Action{}, err
			}
			return Action{Type: t, Value: uint64(binary.BigEndian.Uint32(v[:]))}, nil
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
		"controller": parseController,
		"dec_ttl":    noArg(Action{Type: ActDecTTL}),
		"mod_nw_src": ipv4(ActModNwSrc),
		"mod_nw_dst": ipv4(ActModNwDst),
		"mod_nw_tos": num(ActModNwTos, 0xff, "a ToS value"),
		"mod_nw_ecn": num(ActModNwEcn, 3, "an ECN value"),
		"mod_nw_ttl": num(ActModNwTTL, 0xff, "a TTL"),
		"mod_tp_src": num(ActModTpSrc, 0xffff, "a port"),
		"mod_tp_dst": num(ActModTpDst, 0xffff, "a port"),
		"set_tunnel": num(ActSetTunnel, ^uint64(0), "a tunnel ID"),
		"set_tunnel64": func(arg string, hasArg, paren bool, ports PortNamer) (Action, error) {
			a, err := num(ActSetTunnel, ^uint64(0), "a tunnel ID")(arg, hasArg, paren, ports)
			a.Alt = true
			return a, err
		},
		"write_metadata": func(arg string, hasArg, paren bool, _ PortNamer) (Action, error) {
			if !hasArg || paren {
				return Action{}, errors.New("needs a value, as in write_metadata:0x1/0xff")
			}
			v, m, err := parseMaskedNum(arg, ^uint64(0))
			if err != nil {
				return Action{}, err
			}
			return Action{Type: ActWriteMetadata, Value: v, Mask: m}, nil
		},
		"set_field": parseSetField,
		"load":      parseLoad,
		"move":      parseMove,
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

// parseController reads controller, controller:MAX_LEN and
// controller(key=value,...) with the keys reason, max_len and id.
func parseController(arg string, hasArg, paren bool, _ PortNamer) (Action, error) {
	a := Action{Type: ActController, Value: DefaultControllerMaxLen}
	if !hasArg {
		return a, nil
	}
	if !paren {
		n, err := parseNum(arg, 0xffff)
		if err != nil {
			return Action{}, fmt.Errorf("max_len %w", err)
		}
		a.Value = n
		return a, nil
	}
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(arg, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if seen[k] {
			return Action{}, fmt.Errorf("controller argument %q given twice", k)
		}
		seen[k] = true
		switch k {
		case "max_len":
			n, err := parseNum(v, 0xffff)
			if err != nil {
				return Action{}, fmt.Errorf("max_len %w", err)
			}
			a.Value = n
		case "id":
			n, err := parseNum(v, 0xffff)
			if err != nil {
				return Action{}, fmt.Errorf("id %w", err)
			}
			a.Value2 = n
		case "reason":
			r := -1
			for i, n := range reasonNames {
				if n == v {
					r = i
				}
			}
			if r < 0 {
				return Action{}, fmt.Errorf("unknown controller reason %q (no_match, action, invalid_ttl, action_set, group, packet_out)", v)
			}
			a.Reason = ControllerReason(r)
		default:
			return Action{}, fmt.Errorf("unsupported controller argument %q (reason, max_len, id)", strings.TrimSpace(kv))
		}
	}
	return a, nil
}

// cutArrow splits "A->B" at its last "->".
func cutArrow(s string) (string, string, bool) {
	i := strings.LastIndex(s, "->")
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+2:], true
}

// parseSetField reads set_field:VALUE[/MASK]->FIELD.
func parseSetField(arg string, hasArg, paren bool, ports PortNamer) (Action, error) {
	vs, fs, ok := cutArrow(arg)
	if !hasArg || paren || !ok {
		return Action{}, errors.New("needs a value and a field, as in set_field:10.0.0.1->ip_dst")
	}
	f, known := FieldByName(fs)
	if !known {
		return Action{}, fmt.Errorf("unknown field %q", fs)
	}
	if !f.Writable() {
		return Action{}, fmt.Errorf("%s is read-only", f)
	}
	vh, vl, mh, ml, err := parseFieldValue(f, vs, ports)
	if err != nil {
		return Action{}, fmt.Errorf("%s value %q: %w", f, vs, err)
	}
	return Action{Type: ActSetField, Field: f, Value: vl, Value2: vh, Mask: ml, Mask2: mh}, nil
}

// parseLoad reads load:VALUE->DST[start..end].
func parseLoad(arg string, hasArg, paren bool, _ PortNamer) (Action, error) {
	vs, ds, ok := cutArrow(arg)
	if !hasArg || paren || !ok {
		return Action{}, errors.New("needs a value and a destination, as in load:0x1->NXM_NX_REG0[0..15]")
	}
	f, ofs, n, err := parseSubfield(ds)
	if err != nil {
		return Action{}, err
	}
	if !f.Writable() {
		return Action{}, fmt.Errorf("%s is read-only", f)
	}
	vh, vl, err := parseNum128(vs)
	if err != nil {
		return Action{}, fmt.Errorf("value %q: %w", vs, err)
	}
	if h, l := widthMask(n); vh&^h != 0 || vl&^l != 0 {
		return Action{}, fmt.Errorf("value %s does not fit in %d bits", vs, n)
	}
	return Action{Type: ActLoad, Field: f, Ofs: uint8(ofs), NBits: uint8(n), Value: vl, Value2: vh}, nil
}

// parseMove reads move:SRC[start..end]->DST[start..end].
func parseMove(arg string, hasArg, paren bool, _ PortNamer) (Action, error) {
	ss, ds, ok := cutArrow(arg)
	if !hasArg || paren || !ok {
		return Action{}, errors.New("needs a source and a destination, as in move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]")
	}
	sf, sofs, sn, err := parseSubfield(ss)
	if err != nil {
		return Action{}, err
	}
	df, dofs, dn, err := parseSubfield(ds)
	if err != nil {
		return Action{}, err
	}
	if !df.Writable() {
		return Action{}, fmt.Errorf("%s is read-only", df)
	}
	if sn != dn {
		return Action{}, fmt.Errorf("source is %d bits wide but destination is %d bits", sn, dn)
	}
	return Action{Type: ActMove, SrcField: sf, SrcOfs: uint8(sofs), Field: df, Ofs: uint8(dofs), NBits: uint8(dn)}, nil
}

// parseNum128 reads a decimal number of up to 64 bits or a 0x-prefixed
// hexadecimal one of up to 128.
func parseNum128(s string) (hi, lo uint64, err error) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		h := strings.TrimLeft(s[2:], "0")
		if len(h) > 32 {
			return 0, 0, errors.New("wider than 128 bits")
		}
		if len(h) > 16 {
			if hi, err = parseNum("0x"+h[:len(h)-16], ^uint64(0)); err != nil {
				return 0, 0, err
			}
			h = h[len(h)-16:]
		}
		if h == "" {
			h = "0"
		}
		lo, err = parseNum("0x"+h, ^uint64(0))
		return hi, lo, err
	}
	lo, err = parseNum(s, ^uint64(0))
	return 0, lo, err
}

// checkAction validates an action against the rule's match: the fields
// set_field, load and move touch must have their prerequisites matched,
// as OVS requires.
func checkAction(a *Action, m *Match) error {
	switch a.Type {
	case ActSetField, ActLoad:
		return a.Field.CheckPrereq(m)
	case ActMove:
		if err := a.SrcField.CheckPrereq(m); err != nil {
			return err
		}
		return a.Field.CheckPrereq(m)
	case ActModNwTos:
		if a.Value&3 != 0 {
			return errors.New("the two low (ECN) bits must be zero; set them with mod_nw_ecn")
		}
	case ActSetTunnel:
		// set_tunnel with a value that needs more than 32 bits is
		// set_tunnel64, and prints so.
		if a.Value > 0xffffffff {
			a.Alt = true
		}
	}
	return nil
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
// table, which a goto_table must lie beyond; m is its match, against which
// the prerequisites of set_field, load and move are checked.
func parseActions(s string, ports PortNamer, table uint8, m *Match) ([]Action, error) {
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
		if err := checkAction(&a, m); err != nil {
			return nil, fmt.Errorf("invalid action %q: %w", tok, err)
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
		if a.Reason == ReasonAction && a.Value2 == 0 {
			b = append(b, "CONTROLLER:"...)
			return strconv.AppendUint(b, a.Value, 10)
		}
		b = append(b, "controller("...)
		if a.Reason != ReasonAction {
			b = append(b, "reason="...)
			b = append(b, a.Reason.String()...)
			b = append(b, ',')
		}
		if a.Value != DefaultControllerMaxLen {
			b = append(b, "max_len="...)
			b = strconv.AppendUint(b, a.Value, 10)
			b = append(b, ',')
		}
		if a.Value2 != 0 {
			b = append(b, "id="...)
			b = strconv.AppendUint(b, a.Value2, 10)
			b = append(b, ',')
		}
		b[len(b)-1] = ')'
		return b
	case ActModNwSrc, ActModNwDst:
		b = append(b, a.Type.String()...)
		b = append(b, ':')
		return netip.AddrFrom4([4]byte{byte(a.Value >> 24), byte(a.Value >> 16), byte(a.Value >> 8), byte(a.Value)}).AppendTo(b)
	case ActModNwTos, ActModNwEcn, ActModNwTTL, ActModTpSrc, ActModTpDst:
		b = append(b, a.Type.String()...)
		b = append(b, ':')
		return strconv.AppendUint(b, a.Value, 10)
	case ActDecTTL:
		return append(b, "dec_ttl"...)
	case ActSetTunnel:
		if a.Alt {
			b = append(b, "set_tunnel64:"...)
		} else {
			b = append(b, "set_tunnel:"...)
		}
		return appendCHex(b, a.Value)
	case ActWriteMetadata:
		b = append(b, "write_metadata:"...)
		b = appendCHex(b, a.Value)
		if a.Mask != ^uint64(0) {
			b = append(b, '/')
			b = appendCHex(b, a.Mask)
		}
		return b
	case ActSetField:
		b = append(b, "set_field:"...)
		b = appendFieldValue(b, a.Field, a.Value2, a.Value, a.Mask2, a.Mask, ports)
		b = append(b, "->"...)
		return append(b, a.Field.String()...)
	case ActLoad:
		b = append(b, "load:"...)
		b = appendHex128(b, a.Value2, a.Value)
		b = append(b, "->"...)
		return appendSubfield(b, a.Field, int(a.Ofs), int(a.NBits))
	case ActMove:
		b = append(b, "move:"...)
		b = appendSubfield(b, a.SrcField, int(a.SrcOfs), int(a.NBits))
		b = append(b, "->"...)
		return appendSubfield(b, a.Field, int(a.Ofs), int(a.NBits))
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

// appendHex128 prints a value of up to 128 bits like C's "%#x".
func appendHex128(b []byte, hi, lo uint64) []byte {
	if hi == 0 {
		return appendCHex(b, lo)
	}
	b = append(b, "0x"...)
	b = strconv.AppendUint(b, hi, 16)
	l := strconv.FormatUint(lo, 16)
	for i := len(l); i < 16; i++ {
		b = append(b, '0')
	}
	return append(b, l...)
}
