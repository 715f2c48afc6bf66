package openflow

import (
	"errors"
	"strconv"
	"strings"
)

// ParsePacketOutActions parses a packet-out's actions: the flow action
// syntax plus output:TABLE, which runs the packet through table 0 (the
// only place OpenFlow allows it). There is no match to check set_field
// prerequisites against; translation skips what the packet lacks.
func ParsePacketOutActions(s string, ports PortNamer) ([]Action, error) {
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
		switch t := strings.ToUpper(tok); t {
		case "DROP":
			drop = true
			continue
		case "TABLE", "OUTPUT:TABLE", "OUTPUT:" + strconv.Itoa(PortTable), "OUTPUT(PORT=TABLE)":
			acts = append(acts, Action{Type: ActOutput, Port: PortTable})
			continue
		}
		a, err := parseAction(tok, ports)
		if err != nil {
			return nil, err
		}
		if a.Type == ActGotoTable {
			return nil, errors.New("goto_table is not valid in a packet-out (use output:TABLE)")
		}
		acts = append(acts, a)
	}
	if drop && len(acts) > 0 {
		return nil, errors.New(`"drop" must not be accompanied by any other action`)
	}
	return acts, nil
}
