package api

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"vswitch/bridge"
	"vswitch/openflow"
	pb "vswitch/proto/vswitch/v1"
)

// corpusPorts names the ports the flow corpus uses.
type corpusPorts map[string]uint32

func (c corpusPorts) PortNumber(name string) (uint32, bool) { n, ok := c[name]; return n, ok }
func (c corpusPorts) PortName(num uint32) (string, bool) {
	for k, v := range c {
		if v == num {
			return k, true
		}
	}
	return "", false
}

func corpus(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("../openflow/testdata/flows.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOfFieldEnumComplete(t *testing.T) {
	for _, f := range openflow.Fields() {
		if _, ok := ofFields[f]; !ok {
			t.Errorf("openflow field %s has no OF_FIELD_%s in the proto", f, strings.ToUpper(f.String()))
		}
	}
	if got, want := len(pb.OfField_name)-1, len(openflow.Fields()); got != want {
		t.Errorf("proto OfField has %d fields, openflow has %d", got, want)
	}
}

// Every corpus flow survives text -> Flow -> FlowSpec -> wire -> FlowSpec
// -> Flow unchanged, and the text FlowMod hands the bridge is the flow's
// canonical form.
func TestFlowSpecRoundTrip(t *testing.T) {
	ports := corpusPorts{"vm1": 1, "vm2": 2, "uplink": 10}
	lines := corpus(t)
	if len(lines) < 70 {
		t.Fatalf("corpus has only %d flows", len(lines))
	}
	for _, line := range lines {
		f, err := openflow.ParseFlow(line, ports)
		if err != nil {
			t.Fatalf("ParseFlow(%q): %v", line, err)
		}
		spec, err := flowToSpec(f)
		if err != nil {
			t.Errorf("flowToSpec(%q): %v", line, err)
			continue
		}
		wire, err := proto.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		spec2 := &pb.FlowSpec{}
		if err := proto.Unmarshal(wire, spec2); err != nil {
			t.Fatal(err)
		}
		g, _, err := specToFlow(spec2, "flow", useAdd)
		if err != nil {
			t.Errorf("specToFlow(%q): %v", line, err)
			continue
		}
		if !g.Equal(f) {
			t.Errorf("%q round-trips to %q\nspec: %v", line, g.String(), spec2)
			continue
		}
		text, err := addText(spec2, "flow")
		if err != nil || text != f.String() {
			t.Errorf("addText(%q) = %q, %v; want %q", line, text, err, f.String())
		}
		// The spec side is canonical too: converting back gives the same
		// message.
		if spec3, err := flowToSpec(g); err != nil || !proto.Equal(spec3, spec) {
			t.Errorf("%q: spec -> flow -> spec changed it:\n%v\n%v (%v)", line, spec, spec3, err)
		}
	}
	t.Logf("%d corpus flows round-trip", len(lines))
}

// validSpec is a flow that every invalid case below breaks in one place.
func validSpec() *pb.FlowSpec {
	return &pb.FlowSpec{
		Table: u32p(1), Priority: u32p(100),
		Match: &pb.FlowMatch{InPort: u32p(1), DlType: u32p(0x0800), NwProto: u32p(6), NwDst: "10.0.0.0/24", TpDst: u32p(80)},
		Actions: []*pb.FlowAction{
			{Action: &pb.FlowAction_ModDlDst{ModDlDst: &pb.MacAction{Mac: "02:00:00:00:00:01"}}},
			{Action: &pb.FlowAction_Output{Output: &pb.OutputAction{Port: 2}}},
		},
	}
}

func TestFlowModInvalid(t *testing.T) {
	act := func(a *pb.FlowAction) func(s *pb.FlowSpec) {
		return func(s *pb.FlowSpec) { s.Actions = []*pb.FlowAction{a} }
	}
	cases := []struct {
		name string
		mut  func(s *pb.FlowSpec)
		want string // in the message
	}{
		{"table", func(s *pb.FlowSpec) { s.Table = u32p(255) }, "flows[0].table: 255 is out of range"},
		{"priority", func(s *pb.FlowSpec) { s.Priority = u32p(70000) }, "flows[0].priority: 70000"},
		{"idle_timeout", func(s *pb.FlowSpec) { s.IdleTimeout = 1 << 16 }, "flows[0].idle_timeout"},
		{"hard_timeout", func(s *pb.FlowSpec) { s.HardTimeout = 1 << 20 }, "flows[0].hard_timeout"},
		{"importance", func(s *pb.FlowSpec) { s.Importance = 1 << 16 }, "flows[0].importance"},
		{"cookie_mask", func(s *pb.FlowSpec) { s.CookieMask = 1 }, "flows[0].cookie_mask: is not allowed when adding"},
		{"in_port", func(s *pb.FlowSpec) { s.Match.InPort = u32p(1 << 16) }, "flows[0].match.in_port"},
		{"dl_src", func(s *pb.FlowSpec) { s.Match.DlSrc = "02:00:00:00:00" }, "flows[0].match.dl_src: \"02:00:00:00:00\" is not an Ethernet address"},
		{"dl_src_mask", func(s *pb.FlowSpec) { s.Match.DlSrc, s.Match.DlSrcMask = "02:00:00:00:00:01", "zz" }, "flows[0].match.dl_src_mask"},
		{"dl_dst_mask alone", func(s *pb.FlowSpec) { s.Match.DlDstMask = "ff:ff:ff:00:00:00" }, "flows[0].match.dl_dst_mask: is set without"},
		{"dl_type", func(s *pb.FlowSpec) { s.Match.DlType = u32p(0x10000) }, "flows[0].match.dl_type"},
		{"vlan_tci", func(s *pb.FlowSpec) { s.Match.VlanTci = u32p(0x10000) }, "flows[0].match.vlan_tci"},
		{"vlan_tci_mask", func(s *pb.FlowSpec) { s.Match.VlanTci, s.Match.VlanTciMask = u32p(1), u32p(0x10000) }, "flows[0].match.vlan_tci_mask"},
		{"nw_proto", func(s *pb.FlowSpec) { s.Match.NwProto = u32p(256) }, "flows[0].match.nw_proto"},
		{"nw_src", func(s *pb.FlowSpec) { s.Match.NwSrc = "10.0.0.256" }, "flows[0].match.nw_src"},
		{"nw_src v6", func(s *pb.FlowSpec) { s.Match.NwSrc = "::1" }, "flows[0].match.nw_src: \"::1\" is not an IPv4 address"},
		{"nw_dst prefix", func(s *pb.FlowSpec) { s.Match.NwDst = "10.0.0.0/33" }, "flows[0].match.nw_dst: prefix length"},
		{"ipv6_src", func(s *pb.FlowSpec) { s.Match.Ipv6Src = "10.0.0.1" }, "flows[0].match.ipv6_src"},
		{"ipv6_label", func(s *pb.FlowSpec) { s.Match.Ipv6Label = u32p(1 << 20) }, "flows[0].match.ipv6_label"},
		{"ip_dscp", func(s *pb.FlowSpec) { s.Match.IpDscp = u32p(64) }, "flows[0].match.ip_dscp"},
		{"ip_ecn", func(s *pb.FlowSpec) { s.Match.IpEcn = u32p(4) }, "flows[0].match.ip_ecn"},
		{"nw_ttl", func(s *pb.FlowSpec) { s.Match.NwTtl = u32p(256) }, "flows[0].match.nw_ttl"},
		{"ip_frag enum", func(s *pb.FlowSpec) { s.Match.IpFrag = pb.IpFrag(42) }, "flows[0].match.ip_frag: unknown value 42"},
		{"tp_src", func(s *pb.FlowSpec) { s.Match.TpSrc = u32p(1 << 16) }, "flows[0].match.tp_src"},
		{"tp_dst_mask", func(s *pb.FlowSpec) { s.Match.TpDstMask = u32p(1 << 16) }, "flows[0].match.tp_dst_mask"},
		{"tcp_flags", func(s *pb.FlowSpec) { s.Match.TcpFlags = u32p(0x1000) }, "flows[0].match.tcp_flags"},
		{"arp_sha", func(s *pb.FlowSpec) { s.Match.ArpSha = "x" }, "flows[0].match.arp_sha"},
		{"nd_target", func(s *pb.FlowSpec) { s.Match.NdTarget = "1.2.3.4" }, "flows[0].match.nd_target"},
		{"tun_src", func(s *pb.FlowSpec) { s.Match.TunSrc = "fe80::1" }, "flows[0].match.tun_src"},
		{"metadata_mask alone", func(s *pb.FlowSpec) { s.Match.MetadataMask = u64p(1) }, "flows[0].match.metadata_mask"},
		{"reg index", func(s *pb.FlowSpec) { s.Match.Regs = []*pb.RegMatch{{Index: 16}} }, "flows[0].match.regs[0].index: 16"},
		{"reg twice", func(s *pb.FlowSpec) { s.Match.Regs = []*pb.RegMatch{{Index: 3}, {Index: 3}} }, "flows[0].match.regs[1].index"},
		{"prerequisite", func(s *pb.FlowSpec) { s.Match.NwProto = nil }, "flows[0]: tp_dst requires tcp, udp or sctp"},
		{"empty action", act(&pb.FlowAction{}), "flows[0].actions[0]: no action is set"},
		{"output port 0", act(&pb.FlowAction{Action: &pb.FlowAction_Output{Output: &pb.OutputAction{}}}), "flows[0].actions[0].output.port"},
		{"output reserved", act(&pb.FlowAction{Action: &pb.FlowAction_Output{Output: &pb.OutputAction{Port: 0xfffe}}}), "flows[0].actions[0].output.port"},
		{"controller reason", act(&pb.FlowAction{Action: &pb.FlowAction_Controller{Controller: &pb.ControllerAction{Reason: pb.PacketInReason(99)}}}), "flows[0].actions[0].controller.reason: unknown value 99"},
		{"controller max_len", act(&pb.FlowAction{Action: &pb.FlowAction_Controller{Controller: &pb.ControllerAction{MaxLen: u32p(1 << 16)}}}), "flows[0].actions[0].controller.max_len"},
		{"mod_vlan_vid", act(&pb.FlowAction{Action: &pb.FlowAction_ModVlanVid{ModVlanVid: &pb.VlanVidAction{Vid: 4096}}}), "flows[0].actions[0].mod_vlan_vid.vid"},
		{"mod_vlan_pcp", act(&pb.FlowAction{Action: &pb.FlowAction_ModVlanPcp{ModVlanPcp: &pb.VlanPcpAction{Pcp: 8}}}), "flows[0].actions[0].mod_vlan_pcp.pcp"},
		{"push_vlan", act(&pb.FlowAction{Action: &pb.FlowAction_PushVlan{PushVlan: &pb.PushVlanAction{Ethertype: 0x800}}}), "flows[0].actions[0].push_vlan.ethertype"},
		{"mod_dl_src", act(&pb.FlowAction{Action: &pb.FlowAction_ModDlSrc{ModDlSrc: &pb.MacAction{Mac: ""}}}), "flows[0].actions[0].mod_dl_src.mac"},
		{"resubmit empty", act(&pb.FlowAction{Action: &pb.FlowAction_Resubmit{Resubmit: &pb.ResubmitAction{}}}), "flows[0].actions[0].resubmit: at least one"},
		{"resubmit table", act(&pb.FlowAction{Action: &pb.FlowAction_Resubmit{Resubmit: &pb.ResubmitAction{Table: u32p(255)}}}), "flows[0].actions[0].resubmit.table"},
		{"goto_table range", act(&pb.FlowAction{Action: &pb.FlowAction_GotoTable{GotoTable: &pb.TableAction{Table: 300}}}), "flows[0].actions[0].goto_table.table"},
		{"goto_table backwards", act(&pb.FlowAction{Action: &pb.FlowAction_GotoTable{GotoTable: &pb.TableAction{Table: 1}}}), "flows[0]: invalid action \"goto_table:1\""},
		{"mod_nw_dst", act(&pb.FlowAction{Action: &pb.FlowAction_ModNwDst{ModNwDst: &pb.Ipv4Action{Addr: "::1"}}}), "flows[0].actions[0].mod_nw_dst.addr"},
		{"mod_nw_tos ecn bits", act(&pb.FlowAction{Action: &pb.FlowAction_ModNwTos{ModNwTos: &pb.ValueAction{Value: 3}}}), "flows[0].actions[0].mod_nw_tos.value"},
		{"mod_nw_ecn", act(&pb.FlowAction{Action: &pb.FlowAction_ModNwEcn{ModNwEcn: &pb.ValueAction{Value: 4}}}), "flows[0].actions[0].mod_nw_ecn.value"},
		{"mod_tp_dst", act(&pb.FlowAction{Action: &pb.FlowAction_ModTpDst{ModTpDst: &pb.ValueAction{Value: 1 << 16}}}), "flows[0].actions[0].mod_tp_dst.value"},
		{"set_field unspecified", act(&pb.FlowAction{Action: &pb.FlowAction_SetField{SetField: &pb.SetFieldAction{Value: []byte{1}}}}), "flows[0].actions[0].set_field.field: is required"},
		{"set_field enum", act(&pb.FlowAction{Action: &pb.FlowAction_SetField{SetField: &pb.SetFieldAction{Field: pb.OfField(1000), Value: []byte{1}}}}), "flows[0].actions[0].set_field.field: unknown value 1000"},
		{"set_field width", act(&pb.FlowAction{Action: &pb.FlowAction_SetField{SetField: &pb.SetFieldAction{Field: pb.OfField_OF_FIELD_IP_DST, Value: []byte{10, 0, 0}}}}), "flows[0].actions[0].set_field.value: is 3 bytes long; ip_dst takes 4"},
		{"set_field spare bits", act(&pb.FlowAction{Action: &pb.FlowAction_SetField{SetField: &pb.SetFieldAction{Field: pb.OfField_OF_FIELD_VLAN_VID, Value: []byte{0x10, 0}}}}), "flows[0].actions[0].set_field.value: does not fit in 12 bits"},
		{"set_field mask", act(&pb.FlowAction{Action: &pb.FlowAction_SetField{SetField: &pb.SetFieldAction{Field: pb.OfField_OF_FIELD_REG0, Value: []byte{0, 0, 0, 1}, Mask: []byte{1}}}}), "flows[0].actions[0].set_field.mask"},
		{"set_field read-only", act(&pb.FlowAction{Action: &pb.FlowAction_SetField{SetField: &pb.SetFieldAction{Field: pb.OfField_OF_FIELD_ETH_TYPE, Value: []byte{8, 0}}}}), "flows[0]: invalid action"},
		{"load range", act(&pb.FlowAction{Action: &pb.FlowAction_Load{Load: &pb.LoadAction{Field: pb.OfField_OF_FIELD_REG0, Ofs: 30, NBits: 4}}}), "flows[0].actions[0].load.n_bits"},
		{"load value", act(&pb.FlowAction{Action: &pb.FlowAction_Load{Load: &pb.LoadAction{Field: pb.OfField_OF_FIELD_REG0, NBits: 4, Value: []byte{0x10}}}}), "flows[0].actions[0].load.value: does not fit in 4 bits"},
		{"move src", act(&pb.FlowAction{Action: &pb.FlowAction_Move{Move: &pb.MoveAction{Dst: pb.OfField_OF_FIELD_REG0}}}), "flows[0].actions[0].move.src: is required"},
		{"move width", act(&pb.FlowAction{Action: &pb.FlowAction_Move{Move: &pb.MoveAction{Src: pb.OfField_OF_FIELD_ETH_SRC, Dst: pb.OfField_OF_FIELD_REG0}}}), "flows[0].actions[0].move.n_bits: destination bits"},
		{"drop with others", func(s *pb.FlowSpec) {
			s.Actions = append(s.Actions, &pb.FlowAction{Action: &pb.FlowAction_Drop{Drop: &pb.NoArgs{}}})
		}, "flows[0].actions[2].drop: must be the only action"},
	}
	fake := newFake()
	sock, _ := serve(t, fake)
	c := connect(t, sock)
	ctx := context.Background()
	for _, tc := range cases {
		s := validSpec()
		tc.mut(s)
		// The bad flow comes second: the good first one must not be added
		// either.
		_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: "br0", Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD,
			Flows: []*pb.FlowSpec{validSpec(), s}})
		st := status.Convert(err)
		want := strings.Replace(tc.want, "flows[0]", "flows[1]", 1)
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), want) {
			t.Errorf("%s: got %v %q, want InvalidArgument containing %q", tc.name, st.Code(), st.Message(), want)
		}
	}
	for _, cmd := range []pb.FlowModCommand{pb.FlowModCommand_FLOW_MOD_COMMAND_UNSPECIFIED, pb.FlowModCommand(17)} {
		_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: "br0", Command: cmd, Flows: []*pb.FlowSpec{validSpec()}})
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "command") {
			t.Errorf("command %d: got %v %q", cmd, st.Code(), st.Message())
		}
	}
	for _, tc := range []struct {
		cmd  pb.FlowModCommand
		mut  func(s *pb.FlowSpec)
		want string
	}{
		{pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE, func(s *pb.FlowSpec) {}, "flows[0].actions: are not allowed when selecting"},
		{pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE, func(s *pb.FlowSpec) { s.Actions, s.IdleTimeout = nil, 5 }, "flows[0].idle_timeout: is only allowed when adding"},
		{pb.FlowModCommand_FLOW_MOD_COMMAND_MODIFY, func(s *pb.FlowSpec) { s.SendFlowRem = true }, "flows[0].send_flow_rem"},
		{pb.FlowModCommand_FLOW_MOD_COMMAND_MODIFY, func(s *pb.FlowSpec) { s.CookieMask = 0xff }, "flows[0].cookie_mask: must be 0 or all ones"},
		{pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE_STRICT, func(s *pb.FlowSpec) { s.Actions, s.Cookie = nil, 7 }, "flows[0].cookie_mask: is 0"},
	} {
		s := validSpec()
		tc.mut(s)
		_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: "br0", Command: tc.cmd, Flows: []*pb.FlowSpec{s}})
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
			t.Errorf("%v: got %v %q, want %q", tc.cmd, st.Code(), st.Message(), tc.want)
		}
	}
	if _, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: "br0", Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no flows: %v", err)
	}
	if _, err := c.FlowMod(ctx, &pb.FlowModRequest{Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: []*pb.FlowSpec{validSpec()}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no bridge: %v", err)
	}
	// Nothing reached the switch.
	for _, call := range fake.callLog() {
		if strings.Contains(call, "Flows") {
			t.Errorf("a refused request reached the switch: %s", call)
		}
	}
}

// FlowMod hands the bridge the canonical text of each command, and
// DumpFlowSpecs turns the bridge's dump back into specs.
func TestFlowModTexts(t *testing.T) {
	fake := newFake()
	sock, _ := serve(t, fake)
	c := connect(t, sock)
	ctx := context.Background()
	spec := validSpec()
	run := func(cmd pb.FlowModCommand, s *pb.FlowSpec) {
		t.Helper()
		if _, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: "br0", Command: cmd, Flows: []*pb.FlowSpec{s}}); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	run(pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, spec)
	run(pb.FlowModCommand_FLOW_MOD_COMMAND_MODIFY_STRICT, spec)
	sel := proto.Clone(spec).(*pb.FlowSpec)
	sel.Actions = nil
	run(pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE_STRICT, sel)
	// An empty selection deletes everything.
	run(pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE, &pb.FlowSpec{})
	// Cookie selection.
	run(pb.FlowModCommand_FLOW_MOD_COMMAND_DELETE, &pb.FlowSpec{Cookie: 0x12, CookieMask: 0xff})
	want := []string{
		"AddFlows br0 table=1,priority=100,tcp,in_port=1,nw_dst=10.0.0.0/24,tp_dst=80,actions=mod_dl_dst:02:00:00:00:00:01,output:2",
		"ModFlows br0 table=1,priority=100,tcp,in_port=1,nw_dst=10.0.0.0/24,tp_dst=80,actions=mod_dl_dst:02:00:00:00:00:01,output:2 true",
		"DelFlows br0 table=1,priority=100,tcp,in_port=1,nw_dst=10.0.0.0/24,tp_dst=80 true",
		"DelFlows br0  false",
		"DelFlows br0 cookie=0x12/0xff false",
	}
	got := fake.callLog()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	resp, err := c.DumpFlowSpecs(ctx, &pb.DumpFlowSpecsRequest{Bridge: "br0",
		Filter: &pb.FlowSpec{Table: u32p(0), Match: &pb.FlowMatch{DlType: u32p(0x0800)}}})
	if err != nil {
		t.Fatal(err)
	}
	if l := fake.callLog(); l[len(l)-1] != "DumpFlows br0 table=0,ip false" {
		t.Errorf("dump selection: %q", l[len(l)-1])
	}
	if len(resp.Flows) != 2 {
		t.Fatalf("got %d flows", len(resp.Flows))
	}
	f0 := resp.Flows[0]
	if f0.Spec.GetPriority() != 100 || f0.Spec.GetMatch().GetNwDst() != "10.0.0.1" || f0.Spec.GetMatch().GetDlType() != 0x0800 ||
		len(f0.Spec.Actions) != 0 || f0.NPackets != 4 || f0.NBytes != 392 || f0.Text != "table=0,priority=100,ip,nw_dst=10.0.0.1,actions=drop" {
		t.Errorf("flow 0: %v", f0)
	}
	if f1 := resp.Flows[1]; f1.Spec.GetPriority() != 0 || f1.Spec.GetActions()[0].GetNormal() == nil {
		t.Errorf("flow 1: %v", f1)
	}

	// The bridge's "flow N: " for a list becomes the request's flows[N-1].
	fake.mu.Lock()
	fake.failAll = errf(bridge.ErrInvalid, "flow 2: no port 9 on bridge br0")
	fake.mu.Unlock()
	_, err = c.FlowMod(ctx, &pb.FlowModRequest{Bridge: "br0", Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD,
		Flows: []*pb.FlowSpec{validSpec(), validSpec()}})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != "flows[1]: no port 9 on bridge br0" {
		t.Errorf("bridge error: %v %q", st.Code(), st.Message())
	}
}

// Whatever bytes arrive as a FlowSpec, conversion does not panic, and a
// spec that is accepted reads back, through its text, as the same rule
// and the same spec.
func FuzzFlowSpec(f *testing.F) {
	ports := corpusPorts{"vm1": 1, "vm2": 2, "uplink": 10}
	for _, line := range corpus(f) {
		fl, err := openflow.ParseFlow(line, ports)
		if err != nil {
			f.Fatal(err)
		}
		spec, err := flowToSpec(fl)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := proto.Marshal(spec)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		spec := &pb.FlowSpec{}
		if proto.Unmarshal(b, spec) != nil {
			return
		}
		text, err := addText(spec, "flow")
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("addText error %v is not InvalidArgument", err)
			}
			return
		}
		fl, err := openflow.ParseFlow(text, nil)
		if err != nil {
			t.Fatalf("accepted spec prints %q, which does not parse: %v", text, err)
		}
		back, err := flowToSpec(fl)
		if err != nil {
			t.Fatalf("%q: flowToSpec: %v", text, err)
		}
		g, _, err := specToFlow(back, "flow", useAdd)
		if err != nil || !g.Equal(fl) {
			t.Fatalf("%q: spec round trip gives %v, %v", text, g, err)
		}
	})
}
