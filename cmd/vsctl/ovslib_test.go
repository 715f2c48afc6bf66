package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/digitalocean/go-openvswitch/ovs"

	pb "vswitch/proto/vswitch/v1"
)

// libraryLines runs fn against an ovs.Client (with the flags a real
// program passes) and returns every command line it issued, stdin
// included for piped ones.
func libraryLines(t *testing.T, fn func(c *ovs.Client)) [][]string {
	t.Helper()
	var lines [][]string
	rec := func(cmd string, args []string) {
		lines = append(lines, append([]string{cmd}, args...))
	}
	c := ovs.New(ovs.Timeout(5),
		ovs.Protocols([]string{ovs.ProtocolOpenFlow10, ovs.ProtocolOpenFlow13}),
		ovs.FlowFormat(ovs.FlowFormatNXMTableID),
		ovs.Exec(func(cmd string, args ...string) ([]byte, error) {
			rec(cmd, args)
			return nil, errors.New("recorded")
		}),
		ovs.Pipe(func(stdin io.Reader, cmd string, args ...string) ([]byte, error) {
			rec(cmd, args)
			return nil, errors.New("recorded")
		}))
	fn(c)
	return lines
}

// Every command line go-openvswitch's Client can issue to ovs-vsctl,
// ovs-ofctl and ovs-appctl parses, as the command it means.
func TestParsesEveryLibraryCommandLine(t *testing.T) {
	flow := &ovs.Flow{Priority: 100, Protocol: ovs.ProtocolTCPv4, InPort: 1,
		Matches: []ovs.Match{ovs.DataLinkVLAN(10), ovs.NetworkDestination("10.0.0.1"), ovs.TransportDestinationPort(80)},
		Actions: []ovs.Action{ovs.ModNetworkDestination(net.ParseIP("10.0.0.2")), ovs.ModVLANVID(20), ovs.Resubmit(0, 1), ovs.Output(2)}}
	match := &ovs.MatchFlow{Protocol: ovs.ProtocolTCPv4, InPort: 1, Matches: []ovs.Match{ovs.TransportDestinationPort(80)}}
	cases := []struct {
		call func(c *ovs.Client)
		want string // command name, then its arguments
	}{
		{func(c *ovs.Client) { c.VSwitch.AddBridge("br0") }, "add-br br0"},
		{func(c *ovs.Client) { c.VSwitch.AddPort("br0", "p1") }, "add-port br0 p1"},
		{func(c *ovs.Client) { c.VSwitch.DeleteBridge("br0") }, "del-br br0"},
		{func(c *ovs.Client) { c.VSwitch.DeletePort("br0", "p1") }, "del-port br0 p1"},
		{func(c *ovs.Client) { c.VSwitch.ListPorts("br0") }, "list-ports br0"},
		{func(c *ovs.Client) { c.VSwitch.ListBridges() }, "list-br"},
		{func(c *ovs.Client) { c.VSwitch.PortToBridge("p1") }, "port-to-br p1"},
		{func(c *ovs.Client) { c.VSwitch.GetFailMode("br0") }, "get-fail-mode br0"},
		{func(c *ovs.Client) { c.VSwitch.SetFailMode("br0", ovs.FailModeSecure) }, "set-fail-mode br0 secure"},
		{func(c *ovs.Client) { c.VSwitch.SetController("br0", "tcp:127.0.0.1:6653") }, "set-controller br0 tcp:127.0.0.1:6653"},
		{func(c *ovs.Client) { c.VSwitch.GetController("br0") }, "get-controller br0"},
		{func(c *ovs.Client) { c.VSwitch.Get.Bridge("br0") }, "get bridge br0 protocols"},
		{func(c *ovs.Client) {
			c.VSwitch.Set.Bridge("br0", ovs.BridgeOptions{Protocols: []string{ovs.ProtocolOpenFlow10, ovs.ProtocolOpenFlow13}})
		}, "set bridge br0 protocols=OpenFlow10,OpenFlow13"},
		{func(c *ovs.Client) {
			c.VSwitch.Set.Interface("p1", ovs.InterfaceOptions{Type: ovs.InterfaceTypePatch, Peer: "p2", MTURequest: 1400,
				IngressRatePolicing: ovs.DefaultIngressRatePolicing, IngressBurstPolicing: ovs.DefaultIngressBurstPolicing,
				RemoteIP: "192.0.2.1", Key: "flow"})
		}, "set interface p1 type=patch options:peer=p2 mtu_request=1400 ingress_policing_rate=0 ingress_policing_burst=0 options:remote_ip=192.0.2.1 options:key=flow"},
		{func(c *ovs.Client) { c.OpenFlow.AddFlow("br0", flow) }, "add-flow br0 priority=100,tcp,in_port=1,dl_vlan=10,nw_dst=10.0.0.1,tp_dst=80,table=0,idle_timeout=0,actions=mod_nw_dst:10.0.0.2,mod_vlan_vid:20,resubmit(,1),output:2"},
		{func(c *ovs.Client) {
			c.OpenFlow.AddFlowBundle("br0", func(tx *ovs.FlowTransaction) error { tx.Add(flow); tx.Delete(match); return tx.Commit() })
		}, "add-flow br0 -"},
		{func(c *ovs.Client) { c.OpenFlow.DelFlows("br0", match) }, "del-flows br0 tcp,in_port=1,tp_dst=80,table=0"},
		{func(c *ovs.Client) { c.OpenFlow.DelFlows("br0", nil) }, "del-flows br0"},
		{func(c *ovs.Client) { c.OpenFlow.ModPort("br0", "p1", ovs.PortActionNoFlood) }, "mod-port br0 p1 no-flood"},
		{func(c *ovs.Client) { c.OpenFlow.DumpPort("br0", "p1") }, "dump-ports br0 p1"},
		{func(c *ovs.Client) { c.OpenFlow.DumpPorts("br0") }, "dump-ports br0"},
		{func(c *ovs.Client) { c.OpenFlow.DumpTables("br0") }, "dump-tables br0"},
		{func(c *ovs.Client) { c.OpenFlow.DumpFlows("br0") }, "dump-flows br0"},
		{func(c *ovs.Client) { c.OpenFlow.DumpFlowsWithFlowArgs("br0", match) }, "dump-flows br0 tcp,in_port=1,tp_dst=80,table=0"},
		{func(c *ovs.Client) { c.OpenFlow.DumpAggregate("br0", match) }, "dump-aggregate br0 tcp,in_port=1,tp_dst=80,table=0"},
		{func(c *ovs.Client) {
			c.App.ProtoTrace("br0", ovs.ProtocolICMPv4, []ovs.Match{ovs.InPortMatch(1), ovs.NetworkDestination("10.0.0.1")})
		}, "ofproto/trace br0 icmp,in_port=1,nw_dst=10.0.0.1"},
	}
	for _, tc := range cases {
		lines := libraryLines(t, tc.call)
		if len(lines) != 1 {
			t.Errorf("%s: library issued %d command lines", tc.want, len(lines))
			continue
		}
		line := lines[0]
		g, cmds, err := parseArgs(line[1:])
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if len(cmds) != 1 {
			t.Errorf("%q: %d commands", line, len(cmds))
			continue
		}
		got := strings.Join(append([]string{cmds[0].name}, cmds[0].args...), " ")
		if got != tc.want {
			t.Errorf("%q parsed as %q, want %q", line, got, tc.want)
		}
		if g.timeout.Seconds() != 5 {
			t.Errorf("%q: --timeout=5 read as %v", line, g.timeout)
		}
		if strings.HasPrefix(tc.want, "get bridge") && g.format != "json" {
			t.Errorf("%q: --format=json read as %q", line, g.format)
		}
		if strings.HasPrefix(line[2], "--bundle") || strings.Contains(strings.Join(line, " "), "--bundle") {
			if !cmds[0].bundle {
				t.Errorf("%q: --bundle lost", line)
			}
		}
	}
}

// The settings of the library's set commands parse to what the daemon
// stores: sets of protocols and controller targets as "a,b".
func TestBridgeSetColumns(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"protocols=OpenFlow10,OpenFlow13", "OpenFlow10,OpenFlow13"},
		{"protocols=[OpenFlow10, OpenFlow13]", "OpenFlow10,OpenFlow13"},
		{`controller="tcp:1.2.3.4:6653"`, "tcp:1.2.3.4:6653"},
		{"protocols=[]", ""},
	} {
		s, err := parseSetting("Bridge", tc.arg)
		if err != nil || s.value != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.arg, s.value, err, tc.want)
		}
	}
}

// Options, values and exit codes of the commands added for the library.
func TestNewCommandsAndExitCodes(t *testing.T) {
	for _, tc := range []struct {
		line   []string
		syntax bool // exit 2
	}{
		{[]string{"mod-port", "br0", "p1", "no-receive"}, false},
		{[]string{"mod-port", "br0", "p1"}, true},
		{[]string{"--format=yaml", "list-br"}, false},
		{[]string{"list", "Controller"}, false},
		{[]string{"find", "Interface", "type"}, false},
		{[]string{"set-controller", "br0"}, true},
		{[]string{"frob"}, true},
		{[]string{"--frob", "list-br"}, true},
		{[]string{"--timeout"}, true},
	} {
		_, _, err := parseArgs(tc.line)
		var ue *usageError
		if !errors.As(err, &ue) || ue.syntax != tc.syntax {
			t.Errorf("%q: got %v (syntax %v), want a usage error with syntax=%v", tc.line, err, ue != nil && ue.syntax, tc.syntax)
		}
	}
	_, cmds := mustParse(t, "--format=json", "--columns=name,ofport", "find", "Interface", "type=internal")
	if cmds[0].table != "Interface" || len(cmds[0].sets) != 1 || cmds[0].sets[0].value != "internal" {
		t.Errorf("find %+v", cmds[0])
	}
	g, _ := mustParse(t, "--columns=name,ofport", "--bare", "list", "int")
	if len(g.columns) != 2 || !g.bare {
		t.Errorf("g %+v", g)
	}
	_, cmds = mustParse(t, "set-controller", "br0", "tcp:1.2.3.4:6653", "unix:/x")
	if len(cmds[0].args) != 3 {
		t.Errorf("set-controller %+v", cmds[0])
	}
	// Exit codes of run without a daemon: 2 for a wrong line, 1 for a bad
	// value, 0 for help.
	var out, errb bytes.Buffer
	env := func(string) string { return "/nonexistent.sock" }
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"frob"}, 2},
		{[]string{"add-br"}, 2},
		{[]string{"set-fail-mode", "br0", "sideways"}, 1},
		{[]string{"list-br"}, 1}, // no daemon
		{[]string{"--help"}, 0},
		{[]string{"add-br", "--help"}, 0},
		{[]string{"help", "dump-flows"}, 0},
		{[]string{"completion", "bash"}, 0},
	} {
		out.Reset()
		errb.Reset()
		if code := run("vsctl", tc.args, strings.NewReader(""), &out, &errb, env, false); code != tc.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errb.String())
		}
		if tc.code != 0 && (strings.Count(errb.String(), "\n") != 1 || !strings.HasPrefix(errb.String(), "vsctl: ")) {
			t.Errorf("%q: stderr %q is not one line", tc.args, errb.String())
		}
	}
	out.Reset()
	run("vsctl", []string{"add-br", "--help"}, nil, &out, &errb, env, false)
	if !strings.Contains(out.String(), "Create a bridge") || !strings.Contains(out.String(), "vsctl --may-exist add-br br0") {
		t.Errorf("add-br --help:\n%s", out.String())
	}
}

// Every command has a one-line description and an example in --help.
func TestEveryCommandDocumented(t *testing.T) {
	for name := range commands {
		d, ok := docs[name]
		if !ok {
			d, ok = docs[aliasOf[name]]
		}
		if !ok || d.short == "" || !strings.HasPrefix(d.example, "vsctl ") {
			t.Errorf("%s: no --help text: add docs[%q] = cmdDoc{short, \"vsctl ...\"} (cli.go, or an init in the command's file)", name, name)
		}
	}
}

// dump-tables, dump-ports and dump-aggregate output parses with the library.
func TestStatsParseWithGoOpenvswitch(t *testing.T) {
	var b bytes.Buffer
	formatTables(&b, []*pb.TableStats{{Table: 0, Active: 3, Lookups: 10, Matched: 9}, {Table: 1}, {Table: 12, Active: 1, Lookups: 4, Matched: 2}})
	c := ovs.New(ovs.Exec(func(string, ...string) ([]byte, error) { return b.Bytes(), nil }))
	ts, err := c.OpenFlow.DumpTables("br0")
	if err != nil || len(ts) != 2 || ts[0].ID != 0 || ts[0].Active != 3 || ts[0].Lookup != 10 || ts[0].Matched != 9 ||
		ts[1].ID != 12 || ts[1].Active != 1 || ts[1].Lookup != 4 || ts[1].Matched != 2 {
		t.Fatalf("DumpTables = %+v, %v from:\n%s", ts, err, b.String())
	}
	b.Reset()
	formatPorts(&b, []*pb.Port{
		{Name: "p1", Ofport: 1, Stats: &pb.PortStats{RxPackets: 5, RxBytes: 500, TxPackets: 6, TxBytes: 600, RxDropped: 1}},
		{Name: "br0", Ofport: ofportLocal, Stats: &pb.PortStats{TxPackets: 2}},
		{Name: "p12", Ofport: 12, Stats: &pb.PortStats{RxErrors: 3}},
	}, false)
	ps, err := c.OpenFlow.DumpPorts("br0")
	if err != nil || len(ps) != 3 || ps[0].PortID != 1 || ps[0].Received.Packets != 5 || ps[0].Transmitted.Bytes != 600 ||
		ps[0].Received.Dropped != 1 || ps[1].PortID != ovs.PortLOCAL || ps[2].PortID != 12 || ps[2].Received.Errors != 3 {
		t.Fatalf("DumpPorts = %+v, %v from:\n%s", ps, err, b.String())
	}
	b.Reset()
	b.WriteString("NXST_AGGREGATE reply (xid=0x4): packet_count=7 byte_count=700 flow_count=2\n")
	agg, err := c.OpenFlow.DumpAggregate("br0", &ovs.MatchFlow{})
	if err != nil || agg.PacketCount != 7 || agg.ByteCount != 700 {
		t.Fatalf("DumpAggregate = %+v, %v", agg, err)
	}
}

func TestOVSDBJSONValues(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[a, b]", `["set",["a","b"]]`},
		{"{k=v}", `["map",[["k","v"]]]`},
		{"5", `5`},
		{`"1.2.3.4"`, `"1.2.3.4"`},
		{"[]", `["set",[]]`},
	} {
		b, _ := json.Marshal(ovsdbJSON(tc.in))
		if string(b) != tc.want {
			t.Errorf("%s -> %s, want %s", tc.in, b, tc.want)
		}
	}
}
