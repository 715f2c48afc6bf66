package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"vswitch/bridge"
	"vswitch/datapath"
	pb "vswitch/proto/vswitch/v1"
	"vswitch/store"
)

// newRealSwitch is a *bridge.Switch over a real store and datapath. Its
// bridges' internal ports are tap devices, which needs root.
func newRealSwitch(t *testing.T) (*bridge.Switch, *store.Store) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("bridges create internal (tap) ports: CI must run as root")
		}
		t.Skip("bridges create internal (tap) ports: needs root")
	}
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "conf.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dp, err := datapath.New(datapath.Config{PMDCores: []int{-1}, MemBytes: 4 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Stop)
	sw, err := bridge.New(st, dp, bridge.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw.Close)
	return sw, st
}

// configState is what a refused request must leave alone: every bridge,
// port and column Show reports (without the counters, which move with
// traffic), every rule (without its counters) and the typed settings.
func configState(t *testing.T, c pb.VswitchClient, bridges ...string) string {
	t.Helper()
	ctx := context.Background()
	show, err := c.Show(ctx, &pb.ShowRequest{})
	if err != nil {
		t.Fatalf("Show: %v", err)
	}
	var b strings.Builder
	for _, br := range show.GetBridges() {
		for _, p := range br.GetPorts() {
			p.Stats = nil
		}
		sort.Slice(br.Ports, func(i, j int) bool { return br.Ports[i].GetName() < br.Ports[j].GetName() })
	}
	fmt.Fprintf(&b, "show: %v\n", show)
	for _, br := range bridges {
		flows, err := c.DumpFlows(ctx, &pb.DumpFlowsRequest{Bridge: br})
		if err != nil {
			t.Fatalf("DumpFlows %s: %v", br, err)
		}
		for _, f := range flows.GetFlows() {
			fmt.Fprintf(&b, "flow %s: table=%d priority=%d cookie=%#x %s\n", br, f.GetTable(), f.GetPriority(), f.GetCookie(), f.GetText())
		}
		conf, err := c.GetConfig(ctx, &pb.GetConfigRequest{Bridge: br})
		if err != nil {
			t.Fatalf("GetConfig %s: %v", br, err)
		}
		fmt.Fprintf(&b, "config %s: %v\n", br, conf)
		ctl, err := c.GetController(ctx, &pb.GetControllerRequest{Bridge: br})
		if err != nil {
			t.Fatalf("GetController %s: %v", br, err)
		}
		fmt.Fprintf(&b, "controller %s: %v\n", br, ctl.GetTargets())
	}
	return b.String()
}

// Bad requests sent straight over gRPC (no vsctl in front to catch them)
// get the right status code, a message naming the field or the object, and
// change nothing the switch shows.
func TestBadInputOverGRPC(t *testing.T) {
	sw, st := newRealSwitch(t)
	sock, _ := serve(t, sw)
	c := connect(t, sock)
	ctx := context.Background()

	sfx := fmt.Sprintf("%04x", rand.IntN(1<<16))
	br, port := "bi"+sfx, "bip"+sfx
	if _, err := c.AddBridge(ctx, &pb.AddBridgeRequest{Name: br}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.DelBridge(br, true) })
	// A patch port needs no kernel device, and its peer may be missing.
	if _, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{Name: port, Type: "patch", Options: map[string]string{"peer": "nowhere"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: br, Flow: "priority=100,ip,nw_dst=10.0.0.1,actions=drop"}); err != nil {
		t.Fatal(err)
	}
	missing := "nobr" + sfx
	u32 := func(v uint32) *uint32 { return &v }
	i32 := func(v int32) *int32 { return &v }
	tenMB := strings.Repeat("x", 10<<20)
	spec := func(mod func(*pb.FlowSpec)) []*pb.FlowSpec {
		s := &pb.FlowSpec{Priority: u32(10), Actions: []*pb.FlowAction{{Action: &pb.FlowAction_Drop{Drop: &pb.NoArgs{}}}}}
		mod(s)
		return []*pb.FlowSpec{s}
	}

	cases := []struct {
		name string
		call func() error
		code codes.Code
		want []string // each must appear in the message
	}{
		// Names.
		{"add-br empty name", func() error { _, err := c.AddBridge(ctx, &pb.AddBridgeRequest{}); return err },
			codes.InvalidArgument, []string{"name"}},
		{"add-br name with space", func() error { _, err := c.AddBridge(ctx, &pb.AddBridgeRequest{Name: "a b"}); return err },
			codes.InvalidArgument, []string{"name", "space"}},
		{"add-br name too long", func() error { _, err := c.AddBridge(ctx, &pb.AddBridgeRequest{Name: "b123456789abcdef"}); return err },
			codes.InvalidArgument, []string{"name", "15"}},
		{"add-br existing", func() error { _, err := c.AddBridge(ctx, &pb.AddBridgeRequest{Name: br}); return err },
			codes.AlreadyExists, []string{br}},
		{"del-br empty name", func() error { _, err := c.DelBridge(ctx, &pb.DelBridgeRequest{}); return err },
			codes.InvalidArgument, []string{"name"}},
		{"del-br missing", func() error { _, err := c.DelBridge(ctx, &pb.DelBridgeRequest{Name: missing}); return err },
			codes.NotFound, []string{missing}},
		{"add-port empty bridge", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Port: &pb.PortSpec{Name: "p" + sfx}})
			return err
		}, codes.InvalidArgument, []string{"bridge"}},
		{"add-port empty port name", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{}})
			return err
		}, codes.InvalidArgument, []string{"port.name"}},
		{"add-port missing bridge", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: missing, Port: &pb.PortSpec{Name: "q" + sfx, Type: "patch", Options: map[string]string{"peer": "x"}}})
			return err
		}, codes.NotFound, []string{missing}},
		{"add-port existing", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{Name: port, Type: "patch", Options: map[string]string{"peer": "x"}}})
			return err
		}, codes.AlreadyExists, []string{port}},
		{"add-port unknown type", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{Name: "q" + sfx, Type: "bogus"}})
			return err
		}, codes.InvalidArgument, []string{"bogus"}},
		// Out-of-range numbers.
		{"add-port tag 4096", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{Name: "q" + sfx, Type: "patch", Tag: i32(4096), Options: map[string]string{"peer": "x"}}})
			return err
		}, codes.InvalidArgument, []string{"port.tag", "4096"}},
		{"add-port trunk -1", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{Name: "q" + sfx, Type: "patch", Trunks: []int32{10, -1}, Options: map[string]string{"peer": "x"}}})
			return err
		}, codes.InvalidArgument, []string{"port.trunks", "-1"}},
		{"add-port ofport_request 70000", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{Name: "q" + sfx, Type: "patch", OfportRequest: 70000, Options: map[string]string{"peer": "x"}}})
			return err
		}, codes.InvalidArgument, []string{"port.ofport_request", "70000"}},
		{"add-port mtu_request -5", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{Name: "q" + sfx, Type: "patch", MtuRequest: -5, Options: map[string]string{"peer": "x"}}})
			return err
		}, codes.InvalidArgument, []string{"port.mtu_request"}},
		{"set Port tag 5000", func() error {
			_, err := c.Set(ctx, &pb.SetRequest{Table: "Port", Record: port, Settings: []*pb.Setting{{Column: "tag", Value: "5000"}}})
			return err
		}, codes.InvalidArgument, []string{"tag", "5000"}},
		{"set unknown table", func() error {
			_, err := c.Set(ctx, &pb.SetRequest{Table: "Nope", Record: port, Settings: []*pb.Setting{{Column: "tag", Value: "5"}}})
			return err
		}, codes.InvalidArgument, []string{"table", "Nope"}},
		{"set missing port", func() error {
			_, err := c.Set(ctx, &pb.SetRequest{Table: "Port", Record: "nop" + sfx, Settings: []*pb.Setting{{Column: "tag", Value: "5"}}})
			return err
		}, codes.NotFound, []string{"nop" + sfx}},
		// Flow text.
		{"add-flow empty", func() error { _, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: br}); return err },
			codes.InvalidArgument, []string{"flow"}},
		{"add-flow bad text", func() error {
			_, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: br, Flow: "ip,nw_dst=10.0.0.1,actions=frobnicate"})
			return err
		}, codes.InvalidArgument, []string{"frobnicate"}},
		{"add-flow bad MAC", func() error {
			_, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: br, Flow: "dl_src=00:11:22:33:44:zz,actions=drop"})
			return err
		}, codes.InvalidArgument, []string{"dl_src"}},
		{"add-flow priority 70000", func() error {
			_, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: br, Flow: "priority=70000,actions=drop"})
			return err
		}, codes.InvalidArgument, []string{"priority"}},
		{"add-flow table 255", func() error {
			_, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: br, Flow: "table=255,actions=drop"})
			return err
		}, codes.InvalidArgument, []string{"table"}},
		{"add-flow in_port 70000", func() error {
			_, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: br, Flow: "in_port=70000,actions=drop"})
			return err
		}, codes.InvalidArgument, []string{"in_port"}},
		{"add-flow missing bridge", func() error {
			_, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: missing, Flow: "actions=drop"})
			return err
		}, codes.NotFound, []string{missing}},
		{"add-flows one bad line of three", func() error {
			_, err := c.AddFlows(ctx, &pb.AddFlowsRequest{Bridge: br, Flows: []string{"priority=5,actions=drop", "priority=6,tcp,tp_dst=99999,actions=drop", "priority=7,actions=drop"}})
			return err
		}, codes.InvalidArgument, []string{"flow 2", "tp_dst"}},
		{"add-flows 10 MB", func() error {
			_, err := c.AddFlows(ctx, &pb.AddFlowsRequest{Bridge: br, Flows: []string{"priority=5,actions=drop", tenMB}})
			return err
		}, codes.ResourceExhausted, []string{"larger than max"}},
		// Structured flow-mods.
		{"flow-mod unknown command", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand(99), Flows: spec(func(*pb.FlowSpec) {})})
			return err
		}, codes.InvalidArgument, []string{"command"}},
		{"flow-mod table 255", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) { s.Table = u32(255) })})
			return err
		}, codes.InvalidArgument, []string{"table"}},
		{"flow-mod priority 70000", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) { s.Priority = u32(70000) })})
			return err
		}, codes.InvalidArgument, []string{"priority"}},
		{"flow-mod bad MAC", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) { s.Match = &pb.FlowMatch{DlSrc: "00:11:22:33:44"} })})
			return err
		}, codes.InvalidArgument, []string{"dl_src"}},
		{"flow-mod bad MAC in mod_dl_dst", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) {
				s.Actions = []*pb.FlowAction{{Action: &pb.FlowAction_ModDlDst{ModDlDst: &pb.MacAction{Mac: "not-a-mac"}}}}
			})})
			return err
		}, codes.InvalidArgument, []string{"mod_dl_dst"}},
		{"flow-mod unknown set_field field", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) {
				s.Actions = []*pb.FlowAction{{Action: &pb.FlowAction_SetField{SetField: &pb.SetFieldAction{Field: pb.OfField(9999), Value: []byte{1}}}}}
			})})
			return err
		}, codes.InvalidArgument, []string{"set_field", "field"}},
		{"flow-mod output to port 70000", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) {
				s.Actions = []*pb.FlowAction{{Action: &pb.FlowAction_Output{Output: &pb.OutputAction{Port: 70000}}}}
			})})
			return err
		}, codes.InvalidArgument, []string{"output.port"}},
		{"flow-mod resubmit to table 300", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) {
				s.Actions = []*pb.FlowAction{{Action: &pb.FlowAction_Resubmit{Resubmit: &pb.ResubmitAction{Table: u32(300)}}}}
			})})
			return err
		}, codes.InvalidArgument, []string{"resubmit.table"}},
		{"flow-mod empty action", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) {
				s.Actions = []*pb.FlowAction{{}}
			})})
			return err
		}, codes.InvalidArgument, []string{"actions[0]"}},
		{"flow-mod in_port 70000", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) { s.Match = &pb.FlowMatch{InPort: u32(70000)} })})
			return err
		}, codes.InvalidArgument, []string{"in_port"}},
		{"flow-mod unknown ip_frag", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD, Flows: spec(func(s *pb.FlowSpec) {
				s.Match = &pb.FlowMatch{DlType: u32(0x0800), IpFrag: pb.IpFrag(42)}
			})})
			return err
		}, codes.InvalidArgument, []string{"ip_frag"}},
		{"flow-mod no flows", func() error {
			_, err := c.FlowMod(ctx, &pb.FlowModRequest{Bridge: br, Command: pb.FlowModCommand_FLOW_MOD_COMMAND_ADD})
			return err
		}, codes.InvalidArgument, []string{"flows"}},
		// Settings and enums.
		{"set-config unknown fail_mode", func() error {
			fm := pb.FailMode(7)
			_, err := c.SetConfig(ctx, &pb.SetConfigRequest{Bridge: br, BridgeConfig: &pb.BridgeConfig{FailMode: &fm}})
			return err
		}, codes.InvalidArgument, []string{"fail_mode"}},
		{"set-config bridge_config without bridge", func() error {
			_, err := c.SetConfig(ctx, &pb.SetConfigRequest{BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32(10)}})
			return err
		}, codes.InvalidArgument, []string{"bridge"}},
		{"set-config bad pmd_cores", func() error {
			cores := "zero"
			_, err := c.SetConfig(ctx, &pb.SetConfigRequest{Global: &pb.GlobalConfig{PmdCores: &cores}})
			return err
		}, codes.InvalidArgument, []string{"pmd_cores"}},
		{"mod-port unknown action", func() error {
			_, err := c.ModPort(ctx, &pb.ModPortRequest{Bridge: br, Port: port, Action: pb.PortAction(9)})
			return err
		}, codes.InvalidArgument, []string{"action"}},
		{"mod-port missing port", func() error {
			_, err := c.ModPort(ctx, &pb.ModPortRequest{Bridge: br, Port: "nop" + sfx, Action: pb.PortAction_PORT_ACTION_DOWN})
			return err
		}, codes.NotFound, []string{"nop" + sfx}},
		{"set-controller bad target", func() error {
			_, err := c.SetController(ctx, &pb.SetControllerRequest{Bridge: br, Targets: []string{"carrier-pigeon:1.2.3.4"}})
			return err
		}, codes.InvalidArgument, []string{"carrier-pigeon"}},
		{"dump-flows missing bridge", func() error {
			_, err := c.DumpFlows(ctx, &pb.DumpFlowsRequest{Bridge: missing})
			return err
		}, codes.NotFound, []string{missing}},
		{"del-flows bad match", func() error {
			_, err := c.DelFlows(ctx, &pb.DelFlowsRequest{Bridge: br, Match: "nw_dst=10.0.0.300"})
			return err
		}, codes.InvalidArgument, []string{"nw_dst"}},
		{"dump-flows bad match", func() error {
			_, err := c.DumpFlows(ctx, &pb.DumpFlowsRequest{Bridge: br, Match: "tp_dst=80x"})
			return err
		}, codes.InvalidArgument, []string{"tp_dst"}},
		{"dump-aggregate bad match", func() error {
			_, err := c.DumpAggregate(ctx, &pb.DumpAggregateRequest{Bridge: br, Match: "dl_dst=zz"})
			return err
		}, codes.InvalidArgument, []string{"dl_dst"}},
		{"trace bad flow", func() error {
			_, err := c.Trace(ctx, &pb.TraceRequest{Bridge: br, Flow: "in_port=1,dl_src=1:2:3"})
			return err
		}, codes.InvalidArgument, []string{"dl_src"}},
		{"dump-ports missing port", func() error {
			_, err := c.DumpPorts(ctx, &pb.DumpPortsRequest{Bridge: br, Port: "nop" + sfx})
			return err
		}, codes.NotFound, []string{"nop" + sfx}},
		{"fdb/show missing bridge", func() error {
			_, err := c.FdbShow(ctx, &pb.FdbShowRequest{Bridge: missing})
			return err
		}, codes.NotFound, []string{missing}},
		{"get unknown column", func() error {
			_, err := c.Get(ctx, &pb.GetRequest{Table: "Port", Record: port, Column: "colour"})
			return err
		}, codes.InvalidArgument, []string{"colour"}},
		{"set Interface mtu_request abc", func() error {
			_, err := c.Set(ctx, &pb.SetRequest{Table: "Interface", Record: port, Settings: []*pb.Setting{{Column: "mtu_request", Value: "abc"}}})
			return err
		}, codes.InvalidArgument, []string{"mtu_request"}},
		{"set Port empty column", func() error {
			_, err := c.Set(ctx, &pb.SetRequest{Table: "Port", Record: port, Settings: []*pb.Setting{{Value: "1"}}})
			return err
		}, codes.InvalidArgument, []string{"settings[0].column"}},
		{"add-port vlan_mode bogus", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{Name: "q" + sfx, Type: "patch", VlanMode: "sideways", Options: map[string]string{"peer": "x"}}})
			return err
		}, codes.InvalidArgument, []string{"port.vlan_mode"}},
		{"set-controller empty target", func() error {
			_, err := c.SetController(ctx, &pb.SetControllerRequest{Bridge: br, Targets: []string{""}})
			return err
		}, codes.InvalidArgument, []string{"targets[0]"}},
		{"watch missing bridge", func() error {
			ws, err := c.Watch(ctx, &pb.WatchRequest{Bridge: missing})
			if err != nil {
				return err
			}
			_, err = ws.Recv()
			return err
		}, codes.NotFound, []string{missing}},
		{"controller first message not hello", func() error {
			cs, err := c.Controller(ctx)
			if err != nil {
				return err
			}
			cs.Send(&pb.ControllerRequest{})
			_, err = cs.Recv()
			return err
		}, codes.InvalidArgument, []string{"hello"}},
		{"del-port the bridge's own port", func() error {
			_, err := c.DelPort(ctx, &pb.DelPortRequest{Bridge: br, Port: br})
			return err
		}, codes.FailedPrecondition, []string{br}},
	}

	storeState := func() string {
		conf, err := st.Load()
		if err != nil {
			t.Fatalf("store: %v", err)
		}
		return fmt.Sprintf("%+v", conf)
	}
	before, beforeStore := configState(t, c, br), storeState()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			st, _ := status.FromError(err)
			t.Logf("%s: %s", st.Code(), st.Message())
			if err == nil {
				t.Fatalf("accepted, want %s", tc.code)
			}
			if st.Code() != tc.code {
				t.Errorf("code %s, want %s (message %q)", st.Code(), tc.code, st.Message())
			}
			if strings.ContainsAny(st.Message(), "\r\n") {
				t.Errorf("message is not one line: %q", st.Message())
			}
			for _, w := range tc.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message %q does not mention %q", st.Message(), w)
				}
			}
			if after := configState(t, c, br); after != before {
				t.Errorf("state changed:\n--- before\n%s--- after\n%s", before, after)
			}
			if after := storeState(); after != beforeStore {
				t.Errorf("store changed:\n--- before\n%s\n--- after\n%s", beforeStore, after)
			}
		})
	}
	// The state dump really sees changes: a valid request moves it.
	if _, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: br, Flow: "priority=9,actions=drop"}); err != nil {
		t.Fatal(err)
	}
	if after := configState(t, c, br); after == before {
		t.Errorf("configState did not change after a valid add-flow")
	}
	if after := storeState(); after == beforeStore {
		t.Errorf("the store dump did not change after a valid add-flow")
	}
}
