package main

import (
	"strings"
	"testing"
	"time"
)

// The command line os-vif's vsctl driver issues to plug a vhost-user VIF
// parses into add-br, set Bridge and one merged add-port that remembers
// the set it absorbed (for --oneline's line per command).
func TestOSVIFLineParses(t *testing.T) {
	g, cmds := mustParse(t, "--timeout=120", "--oneline", "--format=json", "--db=unix:/run/x.sock",
		"--", "--may-exist", "add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev",
		"--", "--may-exist", "add-port", "br-int", "vhu1", "--", "set", "Interface", "vhu1",
		"external_ids:iface-id=abc", "external_ids:vm-uuid=u", "type=dpdkvhostuserclient",
		"options:vhost-server-path=/tmp/s", "mtu_request=1450")
	if !g.oneline || g.format != "json" || g.timeout != 120*time.Second {
		t.Fatalf("globals %+v", g)
	}
	if len(cmds) != 3 || cmds[2].name != "add-port" || cmds[2].absorbed != 1 {
		t.Fatalf("commands %+v", cmds)
	}
	s := cmds[2].spec
	if s.Type != "dpdkvhostuserclient" || s.ExternalIds["iface-id"] != "abc" || s.Options["vhost-server-path"] != "/tmp/s" || s.MtuRequest != 1450 {
		t.Fatalf("spec %v", s)
	}
}

// clear/add/remove/destroy/create are checked before anything is sent.
func TestRecordCommandsChecked(t *testing.T) {
	_, cmds := mustParse(t, "clear", "Interface", "p1", "external_ids", "mtu_request")
	if c := cmds[0]; len(c.sets) != 2 || !c.sets[0].isMap || c.sets[1].column != "mtu_request" {
		t.Fatalf("clear: %+v", c.sets)
	}
	_, cmds = mustParse(t, "add", "Port", "p1", "trunks", "10", "20")
	if c := cmds[0]; len(c.sets) != 2 || c.sets[1].value != "20" {
		t.Fatalf("add trunks: %+v", c.sets)
	}
	for _, c := range []struct {
		line []string
		msg  string
	}{
		{[]string{"add", "Interface", "p1", "external_ids", "novalue"}, "a map takes KEY=VALUE"},
		{[]string{"add", "Interface", "p1", "type", "x"}, "is not a set or map column"},
		{[]string{"--id=@x", "create", "Manager", "target=ptcp:6640"}, "unknown table"},
		{[]string{"--id=@p", "create", "Port", "name=p1"}, "add-br or add-port"},
		{[]string{"--id=x", "create", "Port", "name=p1"}, "must be @NAME"},
		{[]string{"--id=@x", "clear", "Port", "p1", "tag"}, "--id applies to create only"},
		{[]string{"destroy", "Open_vSwitch", "."}, "cannot be destroyed"},
	} {
		_, _, err := parseArgs(c.line)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: got %v, want %q", c.line, err, c.msg)
		}
	}
}

// --db is --server: unix:PATH and tcp:HOST:PORT.
func TestDBOption(t *testing.T) {
	for _, c := range []struct{ arg, want string }{
		{"--db=unix:/run/v.sock", "/run/v.sock"},
		{"--db=tcp:127.0.0.1:6640", "tcp:127.0.0.1:6640"},
	} {
		f, rest, err := takeDialFlags([]string{c.arg, "list-br"}, func(string) string { return "" })
		if err != nil || f.server != c.want || len(rest) != 1 {
			t.Errorf("%s: server %q rest %q err %v", c.arg, f.server, rest, err)
		}
	}
}
