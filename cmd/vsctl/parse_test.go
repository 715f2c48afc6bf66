package main

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, line ...string) (globalOpts, []*command) {
	t.Helper()
	g, cmds, err := parseArgs(line)
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	return g, cmds
}

func TestAddPortMergesFollowingSets(t *testing.T) {
	_, cmds := mustParse(t, "--may-exist", "add-port", "br0", "vx1",
		"--", "set", "Interface", "vx1", "type=vxlan", "options:remote_ip=192.0.2.1", `options:key="5"`, "mtu_request=1450", "ofport_request=7",
		"--", "set", "port", "vx1", "tag=10", "external_ids:owner=me",
		"--", "add-br", "br1")
	if len(cmds) != 2 {
		t.Fatalf("got %d commands, want add-port (merged) and add-br", len(cmds))
	}
	c := cmds[0]
	if c.name != "add-port" || !c.mayExist || c.args[0] != "br0" {
		t.Fatalf("first command %+v", c)
	}
	s := c.spec
	if s.Name != "vx1" || s.Type != "vxlan" || s.MtuRequest != 1450 || s.OfportRequest != 7 {
		t.Errorf("spec %v", s)
	}
	if !maps.Equal(s.Options, map[string]string{"remote_ip": "192.0.2.1", "key": "5"}) {
		t.Errorf("options %v", s.Options)
	}
	if s.Tag == nil || *s.Tag != 10 {
		t.Errorf("tag %v", s.Tag)
	}
	if s.ExternalIds["owner"] != "me" {
		t.Errorf("external_ids %v", s.ExternalIds)
	}
	if cmds[1].name != "add-br" || cmds[1].args[0] != "br1" || cmds[1].mayExist {
		t.Errorf("second command %+v", cmds[1])
	}
}

func TestAddPortTailColumns(t *testing.T) {
	_, cmds := mustParse(t, "add-port", "br0", "p1", "tag=5", "trunks=[1,2]", "vlan_mode=native-untagged")
	s := cmds[0].spec
	if s.Tag == nil || *s.Tag != 5 || !slices.Equal(s.Trunks, []int32{1, 2}) || s.VlanMode != "native-untagged" {
		t.Errorf("spec %v", s)
	}
	if len(cmds[0].extra) != 0 {
		t.Errorf("extra %v", cmds[0].extra)
	}
	// A Port column PortSpec has no room for is set after the add.
	_, cmds = mustParse(t, "add-port", "br0", "p1", "other_config:priority-tags=true")
	if len(cmds[0].extra) != 1 || cmds[0].extra[0].key != "priority-tags" {
		t.Errorf("extra %v", cmds[0].extra)
	}
}

func TestAddPortDoesNotMergeOthers(t *testing.T) {
	_, cmds := mustParse(t, "add-port", "br0", "p1",
		"--", "set", "Interface", "p1", "ingress_policing_rate=0", // not a PortSpec column
		"--", "set", "Interface", "p2", "type=internal")
	if len(cmds) != 3 {
		t.Fatalf("got %d commands, want 3 (nothing merged)", len(cmds))
	}
	_, cmds = mustParse(t, "add-port", "br0", "p1", "--", "set", "Interface", "p2", "type=internal", "--", "set", "Interface", "p1", "type=tap")
	if len(cmds) != 3 || cmds[0].spec.Type != "" {
		t.Fatalf("a set of p1 after one of p2 must not merge: %d commands, type %q", len(cmds), cmds[0].spec.Type)
	}
}

func TestSetValueForms(t *testing.T) {
	for _, tc := range []struct {
		table, arg       string
		column, key, val string
		isMap            bool
		m                map[string]string
	}{
		{"Port", "trunks=10,20", "trunks", "", "10,20", false, nil},
		{"Port", "trunks=[10,20]", "trunks", "", "10,20", false, nil},
		{"Port", `trunks="[10, 20]"`, "trunks", "", "10,20", false, nil},
		{"Port", "trunks=[]", "trunks", "", "", false, nil},
		{"Port", "tag=4095", "tag", "", "4095", false, nil},
		{"Port", "tag=[]", "tag", "", "", false, nil},
		{"Port", "vlan_mode=trunk", "vlan_mode", "", "trunk", false, nil},
		{"Interface", "options:remote_ip=1.2.3.4", "options", "remote_ip", "1.2.3.4", false, nil},
		{"Interface", `options:remote_ip="1.2.3.4"`, "options", "remote_ip", "1.2.3.4", false, nil},
		{"Interface", "options:local_ip=fe80::1", "options", "local_ip", "fe80::1", false, nil},
		{"Interface", "options:peer=", "options", "peer", "", false, nil},
		{"Interface", `options={peer=p1, remote_ip="1.2.3.4"}`, "options", "", "", true, map[string]string{"peer": "p1", "remote_ip": "1.2.3.4"}},
		{"Interface", "options={}", "options", "", "", true, map[string]string{}},
		{"Interface", "type=dpdkvhostuserclient", "type", "", "dpdkvhostuserclient", false, nil},
		{"Interface", "mtu_request=9000", "mtu_request", "", "9000", false, nil},
		{"Bridge", "fail_mode=secure", "fail_mode", "", "secure", false, nil},
		{"Open_vSwitch", "other_config:pmd-cores=1,2", "other_config", "pmd-cores", "1,2", false, nil},
	} {
		s, err := parseSetting(tc.table, tc.arg)
		if err != nil {
			t.Errorf("%s %s: %v", tc.table, tc.arg, err)
			continue
		}
		if s.column != tc.column || s.key != tc.key || s.value != tc.val || s.isMap != tc.isMap || (tc.isMap && !maps.Equal(s.mapValue, tc.m)) {
			t.Errorf("%s %s: got %+v", tc.table, tc.arg, s)
		}
	}
}

func TestBadInputRejectedLocally(t *testing.T) {
	for _, tc := range []struct {
		line []string
		want string
	}{
		{[]string{"set", "Interface", "p1", "options:foo"}, `"options:foo": argument does not end in "="`},
		{[]string{"add-port", "br0", "p1", "--", "set", "Interface", "p1", "options:foo"}, `"options:foo"`},
		{[]string{"add-port", "br0", "p1", "--", "set", "Port", "p1", "tag=4096"}, "tag 4096 is out of range 0..4095"},
		{[]string{"add-port", "br0", "p1", "tag=5000"}, "tag 5000 is out of range 0..4095"},
		{[]string{"set", "Port", "p1", "tag=ten"}, `tag "ten" is not a number`},
		{[]string{"set", "Port", "p1", "trunks=1,5000"}, "VLAN 5000 is out of range"},
		{[]string{"set", "Port", "p1", "vlan_mode=weird"}, `vlan_mode "weird" is not one of`},
		{[]string{"set", "Interface", "p1", "options=1.2.3.4"}, "options is a map"},
		{[]string{"set", "Interface", "p1", "options:=x"}, "missing key"},
		{[]string{"set", "Interface", "p1", "mtu_request=big"}, `mtu_request "big" is not a number`},
		{[]string{"set", "Interface", "p1", "ofport_request=65280"}, "out of range 1..65279"},
		{[]string{"set", "Controller", "br0", "target=x"}, `unknown table "Controller"`},
		{[]string{"frobnicate", "br0"}, `unknown command "frobnicate"; valid commands: add, add-br,`},
		{[]string{"--frob", "list-br"}, `unrecognized option "--frob"`},
		{[]string{"add-br"}, "add-br: wrong number of arguments (usage: add-br BRIDGE)"},
		{[]string{"add-br", "br0", "br1", "10"}, "fake bridges"},
		{[]string{"--timeout=soon", "list-br"}, `--timeout "soon" is not a number`},
		{[]string{"--server=tcp:1.2.3.4:6640", "list-br"}, "only Unix sockets"},
		{[]string{"get", "Port", "p1", "tag=5"}, "get takes COLUMN[:KEY]"},
		{[]string{}, "missing command name"},
		{[]string{"--may-exist"}, "missing command name"},
		{[]string{"list-br", "--", "--", "list-br"}, "missing command name"},
	} {
		_, _, err := parseArgs(tc.line)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: got %v, want a usage error", tc.line, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %q, want one line containing %q", tc.line, err, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	g, cmds := mustParse(t, "--timeout=5", "--server", "unix:/tmp/x.sock", "--may-exist", "add-br", "br0")
	if g.timeout != 5*time.Second || g.server != "/tmp/x.sock" || !cmds[0].mayExist {
		t.Errorf("g %+v cmd %+v", g, cmds[0])
	}
	g, cmds = mustParse(t, "-t", "0", "--", "--if-exists", "del-port", "p1", "--", "--may-exist", "add-port", "br0", "p1")
	if g.timeout != 0 || len(cmds) != 2 || !cmds[0].ifExists || cmds[0].mayExist || !cmds[1].mayExist || cmds[1].ifExists {
		t.Errorf("per-command options: g %+v cmds %+v %+v", g, cmds[0], cmds[1])
	}
	g, cmds = mustParse(t, "--if-exists", "--", "del-br", "a", "--", "del-br", "b")
	if !cmds[0].ifExists || !cmds[1].ifExists || g.timeout != 10*time.Second {
		t.Errorf("leading options: %+v %+v", cmds[0], cmds[1])
	}
	// ovs-ofctl style: options after the command, as go-openvswitch passes them.
	g, cmds = mustParse(t, "dump-flows", "br0", "--no-stats", "-O", "OpenFlow13", "--flow-format=NXM+table_id")
	if !g.noStats || cmds[0].name != "dump-flows" || len(cmds[0].args) != 1 {
		t.Errorf("g %+v cmd %+v", g, cmds[0])
	}
	_, cmds = mustParse(t, "del-flows", "br0", "priority=5,ip", "--strict")
	if !cmds[0].strict || cmds[0].args[1] != "priority=5,ip" {
		t.Errorf("del-flows %+v", cmds[0])
	}
	g, _ = mustParse(t, "--format=json", "--no-names", "get", "bridge", "br0", "protocols")
	if g.format != "json" || g.names != 0 {
		t.Errorf("g %+v", g)
	}
	_, cmds = mustParse(t, "get", "int", "p1", "ofport", "options:remote_ip")
	if cmds[0].table != "Interface" || !slices.Equal(cmds[0].cols, []string{"ofport", "options:remote_ip"}) {
		t.Errorf("get %+v", cmds[0])
	}
}

func TestParseMap(t *testing.T) {
	m, err := parseMap(`{a=b, "c d"="e,f", g=""}`)
	if err != nil || !maps.Equal(m, map[string]string{"a": "b", "c d": "e,f", "g": ""}) {
		t.Errorf("got %v %v", m, err)
	}
	for _, bad := range []string{"{a}", "a=b", `{a="b}`, "{=b}"} {
		if _, err := parseMap(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestOVSDBToJSON(t *testing.T) {
	for in, want := range map[string]string{
		"[OpenFlow10, OpenFlow13]": `["OpenFlow10","OpenFlow13"]`,
		"[]":                       `[]`,
		`{a=b, c="1.2.3.4"}`:       `{"a":"b","c":"1.2.3.4"}`,
		"5":                        "5",
		`"x y"`:                    `"x y"`,
		"standalone":               `"standalone"`,
	} {
		if got := ovsdbToJSON(in); got != want {
			t.Errorf("%s: got %s want %s", in, got, want)
		}
	}
}
