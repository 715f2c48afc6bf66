package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "vswitch/proto/vswitch/v1"
)

func u32(v uint32) *uint32 { return &v }

func outputTo(port int) *pb.FlowAction {
	return &pb.FlowAction{Action: &pb.FlowAction_Output{Output: &pb.OutputAction{Port: uint32(port)}}}
}

// A controller drives a bridge with structured flows only: it steers two
// namespaces' traffic port to port, drops their pings by ICMP type, reads
// the rules back as FlowSpecs with moving counters, and deletes strictly;
// vsctl dump-flows shows the same rules in text.
func TestFlowSpecStructuredFlows(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	br := d.AddBridge("brfs")
	net := subnet()
	h1, h2 := newHost(t, net+".1/24"), newHost(t, net+".2/24")
	attach(d, br, h1)
	attach(d, br, h2)
	p1, p2 := d.Ofport(h1.Port), d.Ofport(h2.Port)
	// Static neighbours: every echo request leaves its namespace even
	// while ARP is blocked, so the counters below count pings only.
	h1.MustExec("ip", "neigh", "replace", h2.IP, "lladdr", h2.MAC, "dev", "eth0", "nud", "permanent")
	h2.MustExec("ip", "neigh", "replace", h1.IP, "lladdr", h1.MAC, "dev", "eth0", "nud", "permanent")
	c := dialCtl(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mod := func(cmd pb.FlowModCommand, flows ...*pb.FlowSpec) {
		t.Helper()
		if _, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: cmd, Flows: flows}); err != nil {
			t.Fatalf("FlowMod %v: %v", cmd, err)
		}
	}
	dump := func() []*pb.FlowSpecStats {
		t.Helper()
		r, err := c.DumpFlowSpecs(ctx, &pb.DumpFlowSpecsRequest{Bridge: br})
		if err != nil {
			t.Fatalf("DumpFlowSpecs: %v", err)
		}
		return r.Flows
	}

	// An empty selection deletes every rule, the default NORMAL one too:
	// nothing is forwarded any more.
	mod(pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE, &pb.FlowSpec{})
	if fs := dump(); len(fs) != 0 {
		t.Fatalf("after DELETE of everything %d rules remain: %v", len(fs), fs)
	}
	pingFails(t, h1, h2.IP)

	fwd1 := &pb.FlowSpec{Table: u32(0), Priority: u32(10), Cookie: 0x1,
		Match: &pb.FlowMatch{InPort: u32(uint32(p1))}, Actions: []*pb.FlowAction{outputTo(p2)}}
	fwd2 := &pb.FlowSpec{Table: u32(0), Priority: u32(10), Cookie: 0x2,
		Match: &pb.FlowMatch{InPort: u32(uint32(p2))}, Actions: []*pb.FlowAction{outputTo(p1)}}
	// Echo requests from h1 to h2 (ICMP type 8 is tp_src): no actions, drop.
	// Timeouts, importance and send_flow_rem come back in the dump too.
	block := &pb.FlowSpec{Table: u32(0), Priority: u32(200), Cookie: 0xc0ffee, IdleTimeout: 600, Importance: 7, SendFlowRem: true,
		Match: &pb.FlowMatch{InPort: u32(uint32(p1)), DlType: u32(0x0800), NwProto: u32(1), NwDst: h2.IP, TpSrc: u32(8)}}
	mod(pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, fwd1, fwd2, block)

	// The structured dump gives back exactly what was installed.
	fs := dump()
	if len(fs) != 3 {
		t.Fatalf("DumpFlowSpecs lists %d rules, want 3: %v", len(fs), fs)
	}
	for _, want := range []*pb.FlowSpec{fwd1, fwd2, block} {
		found := false
		for _, f := range fs {
			found = found || proto.Equal(f.Spec, want)
		}
		if !found {
			t.Errorf("installed %v, not in the dump:\n%v", want, fs)
		}
	}
	// vsctl shows the same rules as text.
	text, out := d.OFFlows(br)
	t.Logf("dump-flows:\n%s", out)
	if len(text) != 3 {
		t.Fatalf("dump-flows lists %d rules, want 3:\n%s", len(text), out)
	}
	blk := findFlow(text, 0, "icmp,in_port="+h1.Port+",nw_dst="+h2.IP+",icmp_type=8")
	if blk == nil {
		blk = findFlow(text, 0, "icmp,in_port="+strconv.Itoa(p1)+",nw_dst="+h2.IP+",icmp_type=8")
	}
	if blk == nil || blk.Priority != 200 || blk.Actions != "drop" || !strings.Contains(blk.Line, "cookie=0xc0ffee") {
		t.Fatalf("dump-flows has no priority=200 ICMP drop rule with cookie 0xc0ffee:\n%s", out)
	}

	// Echo requests die at the block rule; its counter moves, the
	// forwarding rule for h1 stays below it.
	pingFails(t, h1, h2.IP)
	blocked := func() bool {
		for _, f := range dump() {
			if f.Spec.GetCookie() == 0xc0ffee {
				return f.NPackets >= 3
			}
		}
		return false
	}
	if !waitFor(5*time.Second, blocked) {
		t.Errorf("block rule did not count the 3 dropped pings: %v", dump())
	}

	// A strict delete with another priority, or another cookie, selects
	// nothing.
	sel := proto.Clone(block).(*pb.FlowSpec)
	sel.CookieMask = ^uint64(0)
	sel.IdleTimeout, sel.Importance, sel.SendFlowRem = 0, 0, false // ADD-only fields
	miss := proto.Clone(sel).(*pb.FlowSpec)
	miss.Priority = u32(199)
	mod(pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE_STRICT, miss)
	miss = proto.Clone(sel).(*pb.FlowSpec)
	miss.Cookie = 0xc0ffef
	mod(pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE_STRICT, miss)
	if n := len(dump()); n != 3 {
		t.Fatalf("DELETE_STRICT with another priority or cookie left %d rules, want 3", n)
	}
	// The exact one removes the block, and pings flow through the two
	// forwarding rules.
	mod(pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE_STRICT, sel)
	fs = dump()
	if len(fs) != 2 {
		t.Fatalf("after DELETE_STRICT %d rules remain, want 2: %v", len(fs), fs)
	}
	pingOK(t, h1, h2.IP)
	// Rule counters follow the datapath's cached flows, which report in
	// the background: give them a moment.
	counted := func() bool {
		for _, f := range dump() {
			if f.NPackets < 6 {
				return false
			}
		}
		return true
	}
	if !waitFor(5*time.Second, counted) {
		t.Errorf("forwarding rules did not count 6 packets each after 6 answered pings: %v", dump())
	}
	for _, f := range dump() {
		t.Logf("%s n_packets=%d n_bytes=%d", f.Text, f.NPackets, f.NBytes)
	}

	// MODIFY_STRICT turns h2 -> h1 into a drop: replies are lost.
	drop2 := proto.Clone(fwd2).(*pb.FlowSpec)
	drop2.Cookie, drop2.Actions = 0, []*pb.FlowAction{{Action: &pb.FlowAction_Drop{Drop: &pb.NoArgs{}}}}
	mod(pb.FlowModCommand_FLOW_MOD_COMMAND_MODIFY_STRICT, drop2)
	pingFails(t, h1, h2.IP)
	for _, f := range dump() {
		if f.Spec.GetMatch().GetInPort() == uint32(p2) && (len(f.Spec.Actions) != 0 || !strings.HasSuffix(f.Text, "actions=drop")) {
			t.Errorf("after MODIFY_STRICT the h2 rule is %s, want actions=drop", f.Text)
		}
	}

	// Bad input changes nothing: an unknown enum value and a bad MAC.
	before := dump()
	for _, bad := range []*pb.FlowModRequest{
		{Bridge: br, Command: pb.FlowModCommand(42), Flows: []*pb.FlowSpec{fwd1}},
		{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: []*pb.FlowSpec{fwd1,
			{Match: &pb.FlowMatch{DlSrc: "not-a-mac"}}}},
	} {
		_, err := c.FlowMod(ctx, bad)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("FlowMod %v: got %v, want InvalidArgument", bad, err)
		}
	}
	if after := dump(); len(after) != len(before) {
		t.Errorf("refused FlowMods changed the rules: %d -> %d", len(before), len(after))
	}
}

// Typed configuration lands where vsctl reads it, and bad values change
// nothing.
func TestFlowSpecConfig(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	br := d.AddBridge("brcf")
	c := dialCtl(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	secure := pb.FailMode_FAIL_MODE_SECURE
	_, err := c.SetConfig(ctx, &pb.SetConfigRequest{
		Global: &pb.GlobalConfig{EmcInsertInvProb: u32(7), PmdCores: proto.String(lastCPU())},
		Bridge: br, BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32(120), FailMode: &secure},
	})
	if err != nil {
		t.Fatalf("SetConfig: %v", err)
	}
	for _, tc := range []struct{ args, want string }{
		{"get Open_vSwitch . other_config:emc-insert-inv-prob", "7"},
		{"get Open_vSwitch . other_config:pmd-cores", lastCPU()},
		{"get Bridge " + br + " other_config:mac-aging-time", "120"},
		{"get Bridge " + br + " fail_mode", "secure"},
	} {
		got := strings.Trim(strings.TrimSpace(d.Vsctl(strings.Fields(tc.args)...)), `"`)
		if got != tc.want {
			t.Errorf("vsctl %s = %q, want %q", tc.args, got, tc.want)
		}
	}
	r, err := c.GetConfig(ctx, &pb.GetConfigRequest{Bridge: br})
	if err != nil {
		t.Fatalf("GetConfig: %v", err)
	}
	if r.Global.GetEmcInsertInvProb() != 7 || r.Global.GetPmdCores() != lastCPU() ||
		r.BridgeConfig.GetMacAgingTime() != 120 || r.BridgeConfig.GetFailMode() != secure {
		t.Errorf("GetConfig = %v", r)
	}

	for _, tc := range []struct {
		req  *pb.SetConfigRequest
		code codes.Code
		want string
	}{
		{&pb.SetConfigRequest{Global: &pb.GlobalConfig{PmdCores: proto.String("999")}}, codes.InvalidArgument, "global.pmd_cores"},
		{&pb.SetConfigRequest{Global: &pb.GlobalConfig{PmdCores: proto.String("a-b")}}, codes.InvalidArgument, "global.pmd_cores"},
		{&pb.SetConfigRequest{Global: &pb.GlobalConfig{EmcInsertInvProb: u32(1<<30 + 1)}}, codes.InvalidArgument, "global.emc_insert_inv_prob"},
		{&pb.SetConfigRequest{Bridge: br, BridgeConfig: &pb.BridgeConfig{FailMode: pb.FailMode(9).Enum()}}, codes.InvalidArgument, "bridge_config.fail_mode: unknown value 9"},
		{&pb.SetConfigRequest{Bridge: br, BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32(1 << 31)}}, codes.InvalidArgument, "bridge_config.mac_aging_time"},
		{&pb.SetConfigRequest{BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32(5)}}, codes.InvalidArgument, "bridge"},
		{&pb.SetConfigRequest{}, codes.InvalidArgument, "nothing to set"},
		// The bridge is checked before the global half is written.
		{&pb.SetConfigRequest{Global: &pb.GlobalConfig{EmcInsertInvProb: u32(9)}, Bridge: "nosuchbr",
			BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32(5)}}, codes.NotFound, "nosuchbr"},
	} {
		_, err := c.SetConfig(ctx, tc.req)
		if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.want) {
			t.Errorf("SetConfig %v: got %v %q, want %v containing %q", tc.req, st.Code(), st.Message(), tc.code, tc.want)
		}
	}
	r2, err := c.GetConfig(ctx, &pb.GetConfigRequest{Bridge: br})
	if err != nil || !proto.Equal(r, r2) {
		t.Errorf("refused SetConfigs changed the configuration: %v -> %v (%v)", r, r2, err)
	}

	// Clearing: fail_mode UNSPECIFIED and mac_aging_time 0 remove them.
	unset := pb.FailMode_FAIL_MODE_UNSPECIFIED
	if _, err := c.SetConfig(ctx, &pb.SetConfigRequest{Bridge: br,
		BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32(0), FailMode: &unset}}); err != nil {
		t.Fatalf("SetConfig clear: %v", err)
	}
	if got := strings.TrimSpace(d.Vsctl("get", "Bridge", br, "fail_mode")); got != "[]" {
		t.Errorf("fail_mode after clearing = %q, want []", got)
	}
	r3, err := c.GetConfig(ctx, &pb.GetConfigRequest{Bridge: br})
	if err != nil || r3.BridgeConfig.FailMode != nil || r3.BridgeConfig.MacAgingTime != nil {
		t.Errorf("GetConfig after clearing = %v, %v", r3, err)
	}
	if _, err := c.GetConfig(ctx, &pb.GetConfigRequest{Bridge: "nosuchbr"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetConfig of a missing bridge: %v, want NotFound", err)
	}
}
