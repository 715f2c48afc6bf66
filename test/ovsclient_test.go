package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-openvswitch/ovs"
)

// goOVSClient is an ovs.Client whose ovs-vsctl, ovs-ofctl and ovs-appctl
// (run directly or with stdin, as AddFlowBundle does) are vsctl: a program
// written for Open vSwitch, unchanged but for that mapping.
func goOVSClient(t *testing.T, d *Daemon, opts ...ovs.OptionFunc) *ovs.Client {
	t.Helper()
	call := func(stdin, cmd string, args ...string) ([]byte, error) {
		switch cmd {
		case "ovs-vsctl", "ovs-ofctl", "ovs-appctl":
		default:
			return nil, fmt.Errorf("unexpected command %s", cmd)
		}
		r := d.VsctlIn(stdin, args...)
		t.Logf("%s %s -> exit %d", cmd, strings.Join(args, " "), r.Code)
		if r.Code != 0 {
			return []byte(r.Stdout), fmt.Errorf("%s %s: exit %d: %s", cmd, strings.Join(args, " "), r.Code, strings.TrimSpace(r.Stderr))
		}
		return []byte(r.Stdout), nil
	}
	opts = append(opts,
		ovs.Exec(func(cmd string, args ...string) ([]byte, error) { return call("", cmd, args...) }),
		ovs.Pipe(func(stdin io.Reader, cmd string, args ...string) ([]byte, error) {
			in, err := io.ReadAll(stdin)
			if err != nil {
				return nil, err
			}
			return call(string(in), cmd, args...)
		}))
	return ovs.New(opts...)
}

// Programs written against go-openvswitch's ovs.Client drive vswitch when
// its ovs-vsctl / ovs-ofctl / ovs-appctl calls are pointed at vsctl: the
// library builds the command lines and parses the output, so this checks
// both directions of compatibility, and that OpenFlow rules steer traffic.
func TestGoOpenvswitchClient(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	c := goOVSClient(t, d)

	br := uniq("bro", 6)
	d.trackLink(br)
	if err := c.VSwitch.AddBridge(br); err != nil {
		t.Fatal(err)
	}
	if brs, err := c.VSwitch.ListBridges(); err != nil || !slices.Contains(brs, br) {
		t.Fatalf("ListBridges = %v, %v; want %s in it", brs, err, br)
	}
	net := subnet()
	h1 := newHost(t, net+".1/24")
	h2 := newHost(t, net+".2/24")
	for _, h := range []*Host{h1, h2} {
		if err := c.VSwitch.AddPort(br, h.Port); err != nil {
			t.Fatal(err)
		}
		d.WaitPortUp(h.Port)
	}
	ports, err := c.VSwitch.ListPorts(br)
	if err != nil || len(ports) != 2 || !slices.Contains(ports, h1.Port) || !slices.Contains(ports, h2.Port) {
		t.Fatalf("ListPorts = %v, %v; want %s and %s", ports, err, h1.Port, h2.Port)
	}
	if got, err := c.VSwitch.PortToBridge(h2.Port); err != nil || got != br {
		t.Fatalf("PortToBridge(%s) = %q, %v; want %s", h2.Port, got, err, br)
	}

	flows, err := c.OpenFlow.DumpFlows(br)
	if err != nil {
		t.Fatalf("DumpFlows: %v", err)
	}
	if !hasFlow(flows, 0, "normal") {
		t.Fatalf("DumpFlows lacks priority=0 actions=NORMAL: %s", flowTexts(flows))
	}
	pingOK(t, h1, h2.IP)

	// A higher-priority drop for ICMP from h1 cuts ping and counts packets.
	in1 := d.Ofport(h1.Port)
	drop := &ovs.Flow{Priority: 200, Protocol: ovs.ProtocolICMPv4, InPort: in1, Actions: []ovs.Action{ovs.Drop()}}
	if err := c.OpenFlow.AddFlow(br, drop); err != nil {
		t.Fatalf("AddFlow: %v", err)
	}
	pingFails(t, h1, h2.IP)
	flows, err = c.OpenFlow.DumpFlows(br)
	if err != nil {
		t.Fatalf("DumpFlows: %v", err)
	}
	var hits uint64
	for _, f := range flows {
		if f.Priority == 200 {
			hits = f.Stats.PacketCount
		}
	}
	if hits == 0 {
		t.Fatalf("drop flow not hit (n_packets 0) after pings: %s", flowTexts(flows))
	}
	t.Logf("drop flow n_packets=%d", hits)

	if err := c.OpenFlow.DelFlows(br, &ovs.MatchFlow{Protocol: ovs.ProtocolICMPv4, InPort: in1}); err != nil {
		t.Fatalf("DelFlows: %v", err)
	}
	pingOK(t, h1, h2.IP)

	if err := c.VSwitch.DeletePort(br, h2.Port); err != nil {
		t.Fatal(err)
	}
	if ports, _ := c.VSwitch.ListPorts(br); slices.Contains(ports, h2.Port) {
		t.Fatalf("ListPorts after DeletePort = %v", ports)
	}
	pingFails(t, h1, h2.IP)
	if err := c.VSwitch.DeleteBridge(br); err != nil {
		t.Fatal(err)
	}
	if brs, _ := c.VSwitch.ListBridges(); slices.Contains(brs, br) {
		t.Fatalf("ListBridges after DeleteBridge = %v", brs)
	}
}

func hasFlow(flows []*ovs.Flow, prio int, action string) bool {
	for _, f := range flows {
		if f.Priority != prio || len(f.Actions) != 1 {
			continue
		}
		if a, err := f.Actions[0].MarshalText(); err == nil && strings.EqualFold(string(a), action) {
			return true
		}
	}
	return false
}

func flowTexts(flows []*ovs.Flow) string {
	var s []string
	for _, f := range flows {
		b, err := f.MarshalText()
		if err != nil {
			b = []byte(err.Error())
		}
		s = append(s, string(b))
	}
	return strings.Join(s, "\n")
}

// TestGoOpenvswitchSurface drives the rest of what ovs.Client can do, with
// the global and ovs-ofctl flags a real program passes (--timeout,
// --protocols, --flow-format): bridges and ports with may-exist/if-exists,
// fail mode, controller targets, protocols, `set interface`, flows of many
// match and action kinds read back by the library, bundles, dump-ports,
// dump-tables, dump-aggregate, mod-port, ofproto/trace, and traffic that
// only arrives if the flows steer it.
func TestGoOpenvswitchSurface(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	c := goOVSClient(t, d, ovs.Timeout(20),
		ovs.Protocols([]string{ovs.ProtocolOpenFlow10, ovs.ProtocolOpenFlow13}),
		ovs.FlowFormat(ovs.FlowFormatNXMTableID))

	// Bridges: --may-exist add-br twice, --if-exists del-br of nothing.
	br, br2 := uniq("brs", 6), uniq("brt", 6)
	d.trackLink(br)
	d.trackLink(br2)
	for _, b := range []string{br, br, br2} {
		if err := c.VSwitch.AddBridge(b); err != nil {
			t.Fatalf("AddBridge(%s): %v", b, err)
		}
	}
	if brs, err := c.VSwitch.ListBridges(); err != nil || !slices.Contains(brs, br) || !slices.Contains(brs, br2) || len(brs) != 2 {
		t.Fatalf("ListBridges = %v, %v; want %s and %s once each", brs, err, br, br2)
	}
	if err := c.VSwitch.DeleteBridge(uniq("nob", 6)); err != nil {
		t.Fatalf("DeleteBridge of a missing bridge (--if-exists): %v", err)
	}
	if r := d.VsctlErr("add-br", br); r.Code != 1 || !strings.Contains(r.Stderr, "exists") {
		t.Fatalf("add-br of an existing bridge without --may-exist: exit %d %q, want 1 and a message", r.Code, r.Stderr)
	}

	// Fail mode: unset, secure, back to unset.
	if m, err := c.VSwitch.GetFailMode(br2); err != nil || m != "" {
		t.Fatalf("GetFailMode(new bridge) = %q, %v; want empty", m, err)
	}
	if err := c.VSwitch.SetFailMode(br2, ovs.FailModeSecure); err != nil {
		t.Fatal(err)
	}
	if m, err := c.VSwitch.GetFailMode(br2); err != nil || m != ovs.FailModeSecure {
		t.Fatalf("GetFailMode after SetFailMode(secure) = %q, %v", m, err)
	}
	if fl, err := c.OpenFlow.DumpFlows(br2); err != nil || len(fl) != 0 {
		t.Fatalf("secure bridge flows = %s, %v; want none of the switch's own", flowTexts(fl), err)
	}
	d.Vsctl("del-fail-mode", br2)
	if m, err := c.VSwitch.GetFailMode(br2); err != nil || m != "" {
		t.Fatalf("GetFailMode after del-fail-mode = %q, %v; want empty", m, err)
	}
	if err := c.VSwitch.SetFailMode(br2, "sideways"); err == nil {
		t.Fatal("SetFailMode(sideways) succeeded")
	}

	// Controller targets and protocols are stored and read back.
	if err := c.VSwitch.SetController(br2, "tcp:127.0.0.1:6653"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.VSwitch.GetController(br2); err != nil || got != "tcp:127.0.0.1:6653" {
		t.Fatalf("GetController = %q, %v", got, err)
	}
	d.Vsctl("set-controller", br2, "tcp:192.0.2.1:6653", "unix:/run/ctl.sock")
	if got := d.Vsctl("get-controller", br2); got != "tcp:192.0.2.1:6653\nunix:/run/ctl.sock\n" {
		t.Fatalf("get-controller after two targets = %q", got)
	}
	if err := c.VSwitch.SetController(br2, "tcp:not-an-ip"); err == nil {
		t.Fatal("SetController(tcp:not-an-ip) succeeded")
	}
	d.Vsctl("del-controller", br2)
	if got, err := c.VSwitch.GetController(br2); err != nil || got != "" {
		t.Fatalf("GetController after del-controller = %q, %v", got, err)
	}
	protos := []string{ovs.ProtocolOpenFlow10, ovs.ProtocolOpenFlow13}
	if err := c.VSwitch.Set.Bridge(br, ovs.BridgeOptions{Protocols: protos}); err != nil {
		t.Fatal(err)
	}
	if o, err := c.VSwitch.Get.Bridge(br); err != nil || !slices.Equal(o.Protocols, protos) {
		t.Fatalf("Get.Bridge = %+v, %v; want protocols %v", o, err, protos)
	}
	d.Vsctl("set", "bridge", br2, "fail_mode=secure", "protocols=OpenFlow13")
	if m, _ := c.VSwitch.GetFailMode(br2); m != ovs.FailModeSecure {
		t.Fatalf("fail mode after set bridge fail_mode=secure: %q", m)
	}

	// Ports, twice with --may-exist; a patch pair configured by `set interface`.
	net1, net2 := subnet(), subnet()
	h1 := newHost(t, net1+".1/24")
	h2 := newHost(t, net1+".2/24")
	h3 := newHost(t, net1+".3/24")
	for _, h := range []*Host{h1, h2, h3, h1} {
		if err := c.VSwitch.AddPort(br, h.Port); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []*Host{h1, h2, h3} {
		d.WaitPortUp(h.Port)
	}
	if err := c.VSwitch.DeletePort(br, uniq("nop", 6)); err != nil {
		t.Fatalf("DeletePort of a missing port (--if-exists): %v", err)
	}
	pa, pb := uniq("pa", 6), uniq("pb", 6)
	for _, pp := range [][3]string{{br, pa, pb}, {br2, pb, pa}} {
		if err := c.VSwitch.AddPort(pp[0], pp[1]); err != nil {
			t.Fatal(err)
		}
		if err := c.VSwitch.Set.Interface(pp[1], ovs.InterfaceOptions{Type: ovs.InterfaceTypePatch, Peer: pp[2]}); err != nil {
			t.Fatal(err)
		}
	}
	if typ := strings.TrimSpace(d.Vsctl("get", "interface", pa, "type")); typ != "patch" {
		t.Fatalf("type of %s after Set.Interface: %q", pa, typ)
	}
	ports, err := c.VSwitch.ListPorts(br)
	if err != nil || len(ports) != 4 {
		t.Fatalf("ListPorts = %v, %v; want 4 ports", ports, err)
	}
	in1, in2, in3 := d.Ofport(h1.Port), d.Ofport(h2.Port), d.Ofport(h3.Port)
	pingOK(t, h1, h2.IP)

	// Flows of many kinds; the library reads back what it wrote.
	vip := net1 + ".100"
	flows := []*ovs.Flow{
		// TCP ports: block h1 -> h2:5001.
		{Priority: 310, Protocol: ovs.ProtocolTCPv4, InPort: in1, Matches: []ovs.Match{
			ovs.NetworkDestination(h2.IP), ovs.TransportDestinationPort(5001)}, Actions: []ovs.Action{ovs.Drop()}},
		// VLAN 100 from h3 goes untagged to h2; h2's frames to h3 go tagged.
		{Priority: 330, InPort: in3, Matches: []ovs.Match{ovs.DataLinkVLAN(100)},
			Actions: []ovs.Action{ovs.StripVLAN(), ovs.Output(in2)}},
		{Priority: 330, InPort: in2, Matches: []ovs.Match{ovs.DataLinkDestination(h3.MAC)},
			Actions: []ovs.Action{ovs.ModVLANVID(100), ovs.Output(in3)}},
		// A UDP match with a source port, and an ARP match, both inert here.
		{Priority: 50, Protocol: ovs.ProtocolUDPv4, Matches: []ovs.Match{ovs.TransportSourcePort(9), ovs.NetworkSource(net2 + ".0/24")},
			Actions: []ovs.Action{ovs.ModTransportDestinationPort(10), ovs.Normal()}},
		{Priority: 40, Protocol: ovs.ProtocolARP, Matches: []ovs.Match{ovs.ARPTargetProtocolAddress(net2 + ".99")},
			Actions: []ovs.Action{ovs.Drop()}},
		// Table 1: what resubmit(,1) reaches.
		{Table: 1, Priority: 100, Protocol: ovs.ProtocolIPv4, Matches: []ovs.Match{ovs.NetworkDestination(h2.IP)},
			Actions: []ovs.Action{ovs.Output(in2)}},
	}
	for _, f := range flows {
		if err := c.OpenFlow.AddFlow(br, f); err != nil {
			t.Fatalf("AddFlow: %v", err)
		}
	}
	got, err := c.OpenFlow.DumpFlows(br)
	if err != nil {
		t.Fatalf("DumpFlows: %v", err)
	}
	for _, want := range flows {
		if findOVSFlow(got, want) == nil {
			t.Errorf("DumpFlows lacks %s:\n%s", mustText(want), flowTexts(got))
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The TCP block: port 5001 gets no answer, 5002 carries data intact.
	tcpConnectTimesOut(t, h1, h2, "5001", 3e9)
	transferPort(t, h1, h2, "5002", 1<<20)
	pingOK(t, h1, h2.IP)

	// VLAN steering: a VLAN 100 host on h3's link (nettool vlanhost,
	// answering ARP and ping only for tagged frames) is reachable from h2
	// only through the two VLAN flows: tag on the way in, strip on the way
	// out. h2 knows its MAC statically, as flooding does not tag.
	startVLANHost(t, h3, "100="+net2+".3")
	h2.MustExec("ip", "addr", "add", net2+".2/24", "dev", "eth0")
	h2.MustExec("ip", "neigh", "replace", net2+".3", "lladdr", h3.MAC, "dev", "eth0")
	pingOK(t, h2, net2+".3")
	// Rule counters reach the control plane within a second or so.
	var vlanFlows []*ovs.Flow
	waitFor(5*time.Second, func() bool {
		vlanFlows, err = c.OpenFlow.DumpFlowsWithFlowArgs(br, &ovs.MatchFlow{InPort: in3, Matches: []ovs.Match{ovs.DataLinkVLAN(100)}})
		return err == nil && len(vlanFlows) == 1 && vlanFlows[0].Stats.PacketCount > 0
	})
	if err != nil || len(vlanFlows) != 1 || vlanFlows[0].Stats.PacketCount == 0 {
		t.Fatalf("DumpFlows(in_port=%d,dl_vlan=100) = %s, %v; want one flow with packets", in3, flowTexts(vlanFlows), err)
	}
	if err := c.OpenFlow.DelFlows(br, &ovs.MatchFlow{InPort: in3, Matches: []ovs.Match{ovs.DataLinkVLAN(100)}}); err != nil {
		t.Fatal(err)
	}
	pingFails(t, h2, net2+".3")

	// Address rewriting: h1 pings a VIP that no host owns; mod_nw_dst,
	// resubmit(,1) and output take it to h2, whose replies get the VIP
	// back as source. With the rewrite in place h1's pings to h2 itself
	// come back from the VIP.
	h1.MustExec("ip", "neigh", "replace", vip, "lladdr", h2.MAC, "dev", "eth0")
	bundle := []*ovs.Flow{
		{Priority: 320, Protocol: ovs.ProtocolICMPv4, InPort: in1, Matches: []ovs.Match{ovs.NetworkDestination(vip)},
			Actions: []ovs.Action{ovs.ModNetworkDestination(net.ParseIP(h2.IP)), ovs.Resubmit(0, 1)}},
		{Priority: 320, Protocol: ovs.ProtocolICMPv4, InPort: in2, Matches: []ovs.Match{ovs.NetworkSource(h2.IP), ovs.NetworkDestination(h1.IP)},
			Actions: []ovs.Action{ovs.ModNetworkSource(net.ParseIP(vip)), ovs.Output(in1)}},
	}
	err = c.OpenFlow.AddFlowBundle(br, func(tx *ovs.FlowTransaction) error {
		tx.Add(bundle...)
		tx.Delete(&ovs.MatchFlow{Protocol: ovs.ProtocolARP, Matches: []ovs.Match{ovs.ARPTargetProtocolAddress(net2 + ".99")}})
		return tx.Commit()
	})
	if err != nil {
		t.Fatalf("AddFlowBundle: %v", err)
	}
	pingOK(t, h1, vip)
	if out, _ := h1.Exec("ping", "-n", "-c", "2", "-W", "1", h2.IP); !strings.Contains(out, "from "+vip+":") || strings.Contains(out, "from "+h2.IP+":") {
		t.Fatalf("ping %s with the reply rewrite in place: want replies from %s only:\n%s", h2.IP, vip, out)
	}
	waitFor(5*time.Second, func() bool {
		got, err = c.OpenFlow.DumpFlows(br)
		f := findOVSFlow(got, bundle[1])
		return err == nil && f != nil && f.Stats.PacketCount > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range bundle {
		if f := findOVSFlow(got, want); f == nil || f.Stats.PacketCount == 0 {
			t.Fatalf("bundle flow %s missing or unused:\n%s", mustText(want), flowTexts(got))
		}
	}
	if f := findOVSFlow(got, flows[4]); f != nil {
		t.Fatalf("bundle delete left %s", mustText(flows[4]))
	}
	if tf := findOVSFlow(got, flows[5]); tf == nil || tf.Stats.PacketCount == 0 {
		t.Fatalf("table 1 flow not reached by resubmit(,1):\n%s", flowTexts(got))
	}

	// ofproto/trace through the library: the VIP rewrite and the output.
	pt, err := c.App.ProtoTrace(br, ovs.ProtocolICMPv4, []ovs.Match{ovs.InPortMatch(in1), ovs.NetworkDestination(vip)})
	if err != nil {
		t.Fatalf("ProtoTrace: %v", err)
	}
	t.Logf("ProtoTrace output %q, flow actions %q", pt.RawOutput, pt.FlowActions)
	if !slices.Contains(pt.FlowActions, "mod_nw_dst:"+h2.IP) || !slices.Contains(pt.FlowActions, fmt.Sprintf("output:%d", in2)) ||
		pt.InputFlow == nil || pt.InputFlow.Protocol != ovs.ProtocolICMPv4 || pt.DataPathActions == nil {
		t.Fatalf("ProtoTrace parsed to %+v; want mod_nw_dst:%s and output:%d", pt, h2.IP, in2)
	}
	if err := c.OpenFlow.DelFlows(br, &ovs.MatchFlow{Protocol: ovs.ProtocolICMPv4, InPort: in2}); err != nil {
		t.Fatal(err)
	}
	pingOK(t, h1, h2.IP)

	// DumpAggregate, DumpPorts, DumpPort, DumpTables follow the traffic.
	agg, err := c.OpenFlow.DumpAggregate(br, &ovs.MatchFlow{Protocol: ovs.ProtocolICMPv4, InPort: in1})
	if err != nil || agg.PacketCount == 0 {
		t.Fatalf("DumpAggregate = %+v, %v; want packets", agg, err)
	}
	ps, err := c.OpenFlow.DumpPorts(br)
	if err != nil {
		t.Fatalf("DumpPorts: %v", err)
	}
	seen := map[int]*ovs.PortStats{}
	for _, p := range ps {
		seen[p.PortID] = p
	}
	for _, in := range []int{in1, in2, in3} {
		if p := seen[in]; p == nil || p.Received.Packets == 0 || p.Transmitted.Packets == 0 {
			t.Fatalf("DumpPorts port %d = %+v; want rx and tx packets (all: %d ports)", in, p, len(ps))
		}
	}
	p1, err := c.OpenFlow.DumpPort(br, h1.Port)
	if err != nil || p1.PortID != in1 || p1.Received.Packets < seen[in1].Received.Packets {
		t.Fatalf("DumpPort(%s) = %+v, %v", h1.Port, p1, err)
	}
	tables, err := c.OpenFlow.DumpTables(br)
	if err != nil {
		t.Fatalf("DumpTables: %v", err)
	}
	if len(tables) != 2 || tables[0].ID != 0 || tables[1].ID != 1 || tables[0].Lookup == 0 || tables[1].Matched == 0 ||
		tables[1].Active != 1 || tables[0].Active < 5 {
		t.Fatalf("DumpTables = %+v; want tables 0 and 1 with lookups, matches and rules", tables)
	}

	// mod-port: down cuts h2 off, up restores it; no-flood keeps broadcast
	// (ARP for an unknown neighbour) off the port.
	if err := c.OpenFlow.ModPort(br, h2.Port, ovs.PortActionDown); err != nil {
		t.Fatal(err)
	}
	pingFails(t, h1, h2.IP)
	if err := c.OpenFlow.ModPort(br, h2.Port, ovs.PortActionUp); err != nil {
		t.Fatal(err)
	}
	pingOK(t, h1, h2.IP)
	if err := c.OpenFlow.ModPort(br, h2.Port, ovs.PortActionNoFlood); err != nil {
		t.Fatal(err)
	}
	h1.MustExec("ip", "neigh", "flush", "dev", "eth0")
	d.Vsctl("fdb/flush", br)
	pingFails(t, h1, h2.IP)
	if out := d.Vsctl("dump-ports-desc", br, h2.Port); !strings.Contains(out, "NO_FLOOD") {
		t.Fatalf("dump-ports-desc after no-flood:\n%s", out)
	}
	if err := c.OpenFlow.ModPort(br, h2.Port, ovs.PortActionFlood); err != nil {
		t.Fatal(err)
	}
	pingOK(t, h1, h2.IP)
	if err := c.OpenFlow.ModPort(br, h2.Port, ovs.PortActionNoReceive); err == nil {
		t.Fatal("ModPort(no-receive) succeeded; vswitch does not implement it and must say so")
	}

	// list and find, with --columns, --bare and --format=json, as scripts use them.
	if out := d.Vsctl("--columns=name,ofport", "--bare", "find", "interface", "name="+h1.Port); out != fmt.Sprintf("%s\n%d\n", h1.Port, in1) {
		t.Fatalf("find interface name=%s: %q", h1.Port, out)
	}
	var tbl struct {
		Headings []string `json:"headings"`
		Data     [][]any  `json:"data"`
	}
	out := d.Vsctl("--format=json", "--columns=name,protocols", "list", "bridge", br)
	if err := json.Unmarshal([]byte(out), &tbl); err != nil || len(tbl.Data) != 1 || tbl.Data[0][0] != br ||
		fmt.Sprint(tbl.Data[0][1]) != "[set [OpenFlow10 OpenFlow13]]" {
		t.Fatalf("list bridge --format=json: %v %+v from %s", err, tbl, out)
	}
	var names []string
	if err := json.Unmarshal([]byte(d.Vsctl("list-br", "--format", "json")), &names); err != nil || !slices.Contains(names, br2) {
		t.Fatalf("list-br --format json: %v %v", names, err)
	}

	// Shell completion asks the daemon for bridge and port names.
	comp := exec.Command(vsctlBin, "__complete", "del-port", br, "")
	comp.Env = append(os.Environ(), "VSWITCH_SERVER="+d.Sock)
	if out, err := comp.Output(); err != nil || !strings.Contains(string(out), h1.Port+"\n") || !strings.Contains(string(out), h3.Port+"\n") {
		t.Fatalf("completion of del-port %s: %v\n%s", br, err, out)
	}

	// DelFlows of everything, then tear down with --if-exists twice.
	if err := c.OpenFlow.DelFlows(br, nil); err != nil {
		t.Fatal(err)
	}
	if fl, err := c.OpenFlow.DumpFlows(br); err != nil || len(fl) != 0 {
		t.Fatalf("DumpFlows after DelFlows(nil) = %s, %v", flowTexts(fl), err)
	}
	pingFails(t, h1, h2.IP)
	for _, b := range []string{br, br2, br} {
		if err := c.VSwitch.DeleteBridge(b); err != nil {
			t.Fatalf("DeleteBridge(%s): %v", b, err)
		}
	}
	if brs, err := c.VSwitch.ListBridges(); err != nil || len(brs) != 0 {
		t.Fatalf("ListBridges after deleting both = %v, %v", brs, err)
	}
}

// findOVSFlow finds the dumped flow with want's table, priority, protocol,
// in_port, matches (in any order) and actions (in order), compared as the
// library prints them.
func findOVSFlow(flows []*ovs.Flow, want *ovs.Flow) *ovs.Flow {
	wm, wa := flowParts(want)
	for _, f := range flows {
		if f.Table != want.Table || f.Priority != want.Priority || f.Protocol != want.Protocol || f.InPort != want.InPort {
			continue
		}
		m, a := flowParts(f)
		if slices.Equal(m, wm) && slices.Equal(a, wa) {
			return f
		}
	}
	return nil
}

func flowParts(f *ovs.Flow) (matches, actions []string) {
	for _, m := range f.Matches {
		b, _ := m.MarshalText()
		matches = append(matches, string(b))
	}
	slices.Sort(matches)
	for _, a := range f.Actions {
		b, _ := a.MarshalText()
		actions = append(actions, string(b))
	}
	return matches, actions
}

func mustText(f *ovs.Flow) string {
	b, err := f.MarshalText()
	if err != nil {
		return err.Error()
	}
	return string(b)
}
