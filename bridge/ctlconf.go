package bridge

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"vswitch/store"
)

// Bridge columns a controller-driven program configures with ovs-vsctl
// (set-controller, `set bridge BR protocols=...`). Controllers reach this
// switch over gRPC, so the targets are kept and reported, not dialled: a
// program that sets them and reads them back works unchanged.

// protocolNames are the OpenFlow versions the protocols column accepts.
var protocolNames = []string{"OpenFlow10", "OpenFlow11", "OpenFlow12", "OpenFlow13", "OpenFlow14", "OpenFlow15"}

// ctlConf holds a bridge's controller and protocols columns while a Set
// edits them, so they are stored in the same transaction as the others.
type ctlConf struct {
	controllers, protocols []string
	changed                bool
}

// loadCtlConf reads the stored controller targets and protocols of bridge
// name (the store is their only home).
func (s *Switch) loadCtlConf(name string) (*ctlConf, error) {
	c, err := s.st.Load()
	if err != nil {
		return nil, err
	}
	bc := findBridge(c, name)
	if bc == nil {
		return nil, errorf(ErrNotFound, "no bridge named %s", name)
	}
	return &ctlConf{controllers: bc.Controllers, protocols: bc.Protocols}, nil
}

// isCtlColumn reports whether a Bridge column belongs to ctlConf.
func isCtlColumn(col string) bool { return col == "controller" || col == "protocols" }

// set applies one controller=... or protocols=... setting; a value is a
// set written as "a,b", "[a, b]" or empty to clear.
func (cc *ctlConf) set(bridge string, st Setting) error {
	vals := splitSet(st.Value)
	switch st.Column {
	case "controller":
		for _, v := range vals {
			if err := checkTarget(v); err != nil {
				return errorf(ErrInvalid, "bridge %s: controller %q: %v", bridge, v, err)
			}
		}
		cc.controllers = vals
	case "protocols":
		for _, v := range vals {
			if !slices.Contains(protocolNames, v) {
				return errorf(ErrInvalid, "bridge %s: protocols: %q is not an OpenFlow version (valid: %s)", bridge, v, joinComma(protocolNames))
			}
		}
		cc.protocols = vals
	}
	cc.changed = true
	return nil
}

// save writes the columns into the bridge's stored record.
func (cc *ctlConf) save(bc *store.Bridge) {
	if cc != nil && cc.changed {
		bc.Controllers, bc.Protocols = cc.controllers, cc.protocols
	}
}

// getCtlColumn prints a controller or protocols column as ovs-vsctl get does.
func (s *Switch) getCtlColumn(bridge, col string) (string, error) {
	cc, err := s.loadCtlConf(bridge)
	if err != nil {
		return "", err
	}
	vals := cc.protocols
	if col == "controller" {
		vals = cc.controllers
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = atom(v)
	}
	return "[" + strings.Join(out, ", ") + "]", nil
}

// splitSet splits an OVSDB set value ("[a, b]", "a,b", `"a"`) into its
// members, dropping duplicates but keeping the order given.
func splitSet(v string) []string {
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if u, err := strconv.Unquote(f); err == nil {
			f = u
		}
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// checkTarget checks an OVS controller target: tcp:IP[:PORT],
// ssl:IP[:PORT], unix:PATH, or the passive ptcp:[PORT][:IP],
// pssl:[PORT][:IP], punix:PATH.
func checkTarget(t string) error {
	kind, rest, ok := strings.Cut(t, ":")
	if !ok {
		return errorf(ErrInvalid, "not a target (use tcp:IP[:PORT], ssl:IP[:PORT], unix:PATH, ptcp:[PORT][:IP], pssl:[PORT][:IP] or punix:PATH)")
	}
	switch kind {
	case "unix", "punix":
		if rest == "" {
			return errorf(ErrInvalid, "%s: needs a socket path", kind)
		}
		return nil
	case "tcp", "ssl":
		host, port := rest, ""
		if strings.HasPrefix(rest, "[") { // [IPv6]:PORT
			end := strings.Index(rest, "]")
			if end < 0 {
				return errorf(ErrInvalid, "unterminated [IPv6 address]")
			}
			host, port = rest[1:end], strings.TrimPrefix(rest[end+1:], ":")
		} else if h, p, ok := strings.Cut(rest, ":"); ok {
			host, port = h, p
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return errorf(ErrInvalid, "%q is not an IP address", host)
		}
		return checkTCPPort(port)
	case "ptcp", "pssl":
		port, ip, _ := strings.Cut(rest, ":")
		if ip != "" {
			if _, err := netip.ParseAddr(strings.Trim(ip, "[]")); err != nil {
				return errorf(ErrInvalid, "%q is not an IP address", ip)
			}
		}
		return checkTCPPort(port)
	}
	return errorf(ErrInvalid, "unknown connection method %q (valid: tcp, ssl, unix, ptcp, pssl, punix)", kind)
}

func checkTCPPort(p string) error {
	if p == "" {
		return nil
	}
	if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		return errorf(ErrInvalid, "port %q is not a number from 0 to 65535", p)
	}
	return nil
}

// OpenFlow port configuration set by `ovs-ofctl mod-port` is kept in the
// Port's other_config, so it is stored, survives restarts and can also be
// set with `set Port P other_config:no-flood=true`.
const (
	// PortDownKey set to "true": the port neither receives nor sends
	// (OpenFlow's OFPPC_PORT_DOWN); the device stays open.
	PortDownKey = "port-down"
	// NoFloodKey set to "true": FLOOD and NORMAL's flooding skip the port
	// (OFPPC_NO_FLOOD); explicit output to it still works.
	NoFloodKey = "no-flood"
)

// checkPortConfig refuses a bad value for a mod-port key of other_config.
func checkPortConfig(key, value string) error {
	if key != PortDownKey && key != NoFloodKey {
		return nil
	}
	if value != "" && value != "true" && value != "false" {
		return errorf(ErrInvalid, "other_config:%s must be true or false, not %q", key, value)
	}
	return nil
}

// applyPortConfig applies a port's mod-port configuration to its view in a
// translation snapshot and reports whether the port belongs in the flood
// set. A down port is left out of the datapath mapping, so packets it
// receives find no port and are dropped and outputs to it do nothing.
func applyPortConfig(p *port, xp *xport) (floods bool) {
	if p.cfg.OtherConfig[PortDownKey] == "true" {
		xp.dp = 0
		return false
	}
	return p.cfg.OtherConfig[NoFloodKey] != "true"
}

// patchPeer is where a patch port's output goes: nowhere while either end
// is down, so a down patch port neither sends nor receives.
func patchPeer(p, peerPort *port, peer *xport) *xport {
	if p.cfg.OtherConfig[PortDownKey] == "true" || peerPort.cfg.OtherConfig[PortDownKey] == "true" {
		return nil
	}
	return peer
}
