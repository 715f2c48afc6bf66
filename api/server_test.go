package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/digitalocean/go-openvswitch/ovs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"vswitch/bridge"
	"vswitch/datapath"
	pb "vswitch/proto/vswitch/v1"
)

// kindErr is an error with a message of its own that wraps a bridge error
// kind, as the bridge layer's errors do.
type kindErr struct {
	msg  string
	kind error
}

func (e *kindErr) Error() string { return e.msg }
func (e *kindErr) Unwrap() error { return e.kind }

func errf(kind error, format string, args ...any) error {
	return &kindErr{fmt.Sprintf(format, args...), kind}
}

// fakeSwitch is a small in-memory switch: enough state for vsctl and
// go-openvswitch to round-trip, and a log of every call that reached it.
type fakeSwitch struct {
	mu      sync.Mutex
	calls   []string
	bridges []string
	ports   map[string]string // port -> bridge
	specs   map[string]bridge.PortSpec
	sets    [][]bridge.Setting
	failAll error  // when set, every error-returning method returns it
	panicOn string // method name that panics
}

func newFake() *fakeSwitch {
	return &fakeSwitch{ports: map[string]string{}, specs: map[string]bridge.PortSpec{}}
}

func (f *fakeSwitch) enter(call string, args ...any) error {
	parts := []string{call}
	for _, a := range args {
		parts = append(parts, fmt.Sprint(a))
	}
	f.calls = append(f.calls, strings.Join(parts, " "))
	if f.panicOn == call {
		panic("boom")
	}
	return f.failAll
}

func (f *fakeSwitch) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeSwitch) AddBridge(name string, mayExist bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("AddBridge", name, mayExist); err != nil {
		return err
	}
	if slices.Contains(f.bridges, name) {
		if mayExist {
			return nil
		}
		return errf(bridge.ErrExists, "bridge %s already exists", name)
	}
	f.bridges = append(f.bridges, name)
	slices.Sort(f.bridges)
	return nil
}

func (f *fakeSwitch) DelBridge(name string, ifExists bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DelBridge", name, ifExists); err != nil {
		return err
	}
	i := slices.Index(f.bridges, name)
	if i < 0 {
		if ifExists {
			return nil
		}
		return errf(bridge.ErrNotFound, "no bridge named %s", name)
	}
	f.bridges = slices.Delete(f.bridges, i, i+1)
	return nil
}

func (f *fakeSwitch) ListBridges() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enter("ListBridges")
	return slices.Clone(f.bridges)
}

func (f *fakeSwitch) AddPort(br string, spec bridge.PortSpec, mayExist bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("AddPort", br, spec.Name, mayExist); err != nil {
		return err
	}
	if !slices.Contains(f.bridges, br) {
		return errf(bridge.ErrNotFound, "no bridge named %s", br)
	}
	if have, ok := f.ports[spec.Name]; ok {
		if mayExist && have == br {
			return nil
		}
		return errf(bridge.ErrExists, "port %s already exists on bridge %s", spec.Name, have)
	}
	f.ports[spec.Name] = br
	f.specs[spec.Name] = spec
	return nil
}

func (f *fakeSwitch) DelPort(br, port string, ifExists bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DelPort", br, port, ifExists); err != nil {
		return err
	}
	have, ok := f.ports[port]
	if !ok || (br != "" && have != br) {
		if ifExists {
			return nil
		}
		return errf(bridge.ErrNotFound, "no port named %s", port)
	}
	delete(f.ports, port)
	return nil
}

func (f *fakeSwitch) ListPorts(br string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("ListPorts", br); err != nil {
		return nil, err
	}
	if !slices.Contains(f.bridges, br) {
		return nil, errf(bridge.ErrNotFound, "no bridge named %s", br)
	}
	var out []string
	for p, b := range f.ports {
		if b == br {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeSwitch) PortToBridge(port string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("PortToBridge", port); err != nil {
		return "", err
	}
	br, ok := f.ports[port]
	if !ok {
		return "", errf(bridge.ErrNotFound, "no port named %s", port)
	}
	return br, nil
}

func (f *fakeSwitch) Set(table, record string, settings []bridge.Setting) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("Set", table, record); err != nil {
		return err
	}
	f.sets = append(f.sets, settings)
	return nil
}

func (f *fakeSwitch) Get(table, record, column string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("Get", table, record, column); err != nil {
		return "", err
	}
	if _, ok := f.ports[record]; !ok && table != "Bridge" {
		return "", errf(bridge.ErrNotFound, "no %s named %s", strings.ToLower(table), record)
	}
	switch column {
	case "ofport":
		return "1", nil
	case "options":
		return `{key=flow, remote_ip="192.0.2.1"}`, nil
	}
	return "[]", nil
}

func (f *fakeSwitch) Show() []bridge.BridgeView {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enter("Show")
	var out []bridge.BridgeView
	for _, b := range f.bridges {
		bv := bridge.BridgeView{Name: b, FailMode: "standalone",
			Ports: []bridge.PortView{{Name: b, Ofport: 65534, Type: "internal", Stats: datapath.PortStats{RxPackets: 3, RxBytes: 180}}}}
		names := []string{}
		for p, pb := range f.ports {
			if pb == b {
				names = append(names, p)
			}
		}
		slices.Sort(names)
		for i, n := range names {
			s := f.specs[n]
			bv.Ports = append(bv.Ports, bridge.PortView{Name: n, Ofport: i + 1, DPPort: uint32(i + 2), Type: s.Type,
				Options: s.Options, Tag: s.Tag, Trunks: s.Trunks, VlanMode: s.VlanMode,
				Error: "could not open network device " + n + "\n(No such device)"})
		}
		out = append(out, bv)
	}
	return out
}

func (f *fakeSwitch) FDB(br string) ([]bridge.FDBEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("FDB", br); err != nil {
		return nil, err
	}
	return []bridge.FDBEntry{
		{Ofport: 1, PortName: "p1", VLAN: 10, MAC: "50:54:00:00:00:01", Age: 7 * time.Second},
		{Ofport: 65534, PortName: br, VLAN: 0, MAC: "50:54:00:00:00:02", Age: 0},
	}, nil
}

func (f *fakeSwitch) FlushFDB(br string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enter("FlushFDB", br)
}

func (f *fakeSwitch) AddFlow(br, flow string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enter("AddFlow", br, flow)
}

func (f *fakeSwitch) DelFlows(br, match string, strict bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enter("DelFlows", br, match, strict)
}

func (f *fakeSwitch) DumpFlows(br, match string, names bool) ([]bridge.FlowView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DumpFlows", br, match, names); err != nil {
		return nil, err
	}
	return []bridge.FlowView{
		{Table: 0, Priority: 100, Duration: 2500 * time.Millisecond, Packets: 4, Bytes: 392, Text: "ip,nw_dst=10.0.0.1 actions=drop"},
		{Table: 0, Priority: 0, Duration: 61 * time.Second, Text: " actions=NORMAL"},
	}, nil
}

// checkFlows fails, as the bridge layer does, on the first flow with the
// action "bogus", naming it by its 1-based index in the list.
func fakeCheckFlows(flows []string) error {
	for i, fl := range flows {
		if strings.Contains(fl, "actions=bogus") {
			return errf(bridge.ErrInvalid, "flow %d: unknown action \"bogus\"", i+1)
		}
	}
	return nil
}

func (f *fakeSwitch) AddFlows(br string, flows []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("AddFlows", br, strings.Join(flows, " | ")); err != nil {
		return err
	}
	return fakeCheckFlows(flows)
}

func (f *fakeSwitch) ModFlows(br, flow string, strict bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enter("ModFlows", br, flow, strict)
}

func (f *fakeSwitch) ReplaceFlows(br string, flows []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("ReplaceFlows", br, len(flows), strings.Join(flows, " | ")); err != nil {
		return err
	}
	return fakeCheckFlows(flows)
}

func (f *fakeSwitch) DumpPorts(br, port string) ([]bridge.PortView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DumpPorts", br, port); err != nil {
		return nil, err
	}
	all := []bridge.PortView{
		{Name: br, Ofport: 65534, Stats: datapath.PortStats{RxPackets: 3, RxBytes: 180, TxDropped: 1}},
		{Name: "p1", Ofport: 1, Stats: datapath.PortStats{RxPackets: 10, RxBytes: 980, RxDropped: 2, RxErrors: 1, TxPackets: 8, TxBytes: 784, TxErrors: 3}},
		{Name: "p12", Ofport: 12, Stats: datapath.PortStats{TxPackets: 5, TxBytes: 300}},
		{Name: "down", Ofport: -1},
	}
	if port == "" {
		return all, nil
	}
	for _, p := range all {
		if p.Name == port || strconv.Itoa(p.Ofport) == port || (port == "LOCAL" && p.Ofport == 65534) {
			return []bridge.PortView{p}, nil
		}
	}
	return nil, errf(bridge.ErrNotFound, "no port %s on bridge %s", port, br)
}

func (f *fakeSwitch) DumpTables(br string) ([]bridge.TableView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DumpTables", br); err != nil {
		return nil, err
	}
	return []bridge.TableView{
		{Table: 0, Active: 2, Lookups: 10, Matched: 9},
		{Table: 1},
		{Table: 3, Lookups: 4},
	}, nil
}

func (f *fakeSwitch) DumpAggregate(br, match string) (uint64, uint64, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DumpAggregate", br, match); err != nil {
		return 0, 0, 0, err
	}
	return 12, 1176, 3, nil
}

func (f *fakeSwitch) Trace(br, flow string) (*bridge.TraceView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("Trace", br, flow); err != nil {
		return nil, err
	}
	if strings.Contains(flow, "tp_dst") && !strings.Contains(flow, "tcp") {
		return nil, errf(bridge.ErrInvalid, "tp_dst requires tcp, udp or sctp")
	}
	return &bridge.TraceView{
		Flow: "icmp,in_port=1,dl_src=50:54:00:00:00:01,dl_dst=50:54:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2",
		Steps: []bridge.TraceStep{
			{Depth: 0, Bridge: br, Table: 0, Rule: "priority=100,icmp", Actions: "resubmit(,1),goto_table:2"},
			{Depth: 1, Bridge: br, Table: 1, Note: "no match: drop"},
			{Depth: 0, Bridge: br, Table: 2, Rule: "priority=10,in_port=1,cookie=0x5", Actions: "mod_vlan_vid:10,output:3"},
			{Depth: 1, Bridge: "br1", Table: 0, Rule: "priority=0", Actions: "NORMAL",
				Note: "NORMAL: learned 50:54:00:00:00:01 on port 1\nNORMAL: output to 2"},
		},
		Megaflow:        "icmp,in_port=1,dl_src=50:54:00:00:00:01,dl_dst=50:54:00:00:00:02",
		DatapathActions: "push_vlan(vid=10,pcp=0),p2",
	}, nil
}

func (f *fakeSwitch) RebalanceRxqs() []bridge.RxqView { return f.PMDRxqs() }
func (f *fakeSwitch) RxqAssign() string               { return "cycles" }
func (f *fakeSwitch) PMDRxqs() []bridge.RxqView {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enter("PMDRxqs")
	return []bridge.RxqView{
		{PMD: 1, Core: -1, Port: "p2", Queue: 0, Usage: -1},
		{PMD: 0, Core: 1, Port: "p1", Queue: 0, Usage: 37.4},
		{PMD: 0, Core: 1, Port: "vhost-user-client1", Queue: 11, Usage: 0},
	}
}

func (f *fakeSwitch) DatapathFlows(br string) ([]bridge.DatapathFlowView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DatapathFlows", br); err != nil {
		return nil, err
	}
	if !slices.Contains(f.bridges, br) {
		return nil, errf(bridge.ErrNotFound, "no bridge named %s", br)
	}
	return []bridge.DatapathFlowView{
		{PMD: 0, Match: "in_port=1,dl_dst=50:54:00:00:00:02,dl_type=0x0800", Actions: "p2",
			Packets: 9, Bytes: 882, Used: 123456 * time.Microsecond, Age: 5 * time.Second},
		{PMD: 0, Match: "in_port=2,dl_src=50:54:00:00:00:02/ff:ff:ff:ff:ff:ff,dl_type=0x0806", Actions: "drop",
			Age: time.Second},
	}, nil
}

func (f *fakeSwitch) PMDStats() []datapath.PMDStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enter("PMDStats")
	return []datapath.PMDStats{
		{ID: 0, Core: 1, Packets: 100, EMCHits: 90, MegaflowHits: 8, Upcalls: 2, Revalidations: 1, Malformed: 3,
			TxDropped: 4, Iterations: 5000, Parks: 7, BusyNanos: 1234567, Megaflows: 2, Expired: 6},
		{ID: 1, Core: -1},
	}
}

func (f *fakeSwitch) ClearPMDStats() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enter("ClearPMDStats")
}

// serve starts the service for sw on a Unix socket under t.TempDir().
func serve(t *testing.T, sw switchAPI) (string, *grpc.Server) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "run", "vswitchd.sock")
	ln, err := Listen(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(sw)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return sock, srv
}

func connect(t *testing.T, sock string) pb.VswitchClient {
	t.Helper()
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pb.NewVswitchClient(cc)
}

func TestValidation(t *testing.T) {
	f := newFake()
	sock, srv := serve(t, f)
	c := connect(t, sock)
	ctx := context.Background()
	tag := int32(4096)
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"empty bridge", func() error { _, err := c.AddBridge(ctx, &pb.AddBridgeRequest{}); return err }, "name is required"},
		{"long bridge", func() error {
			_, err := c.AddBridge(ctx, &pb.AddBridgeRequest{Name: "br-0123456789abc"})
			return err
		}, `bridge name "br-0123456789abc" is 16 characters long; the limit is 15`},
		{"space in bridge", func() error { _, err := c.AddBridge(ctx, &pb.AddBridgeRequest{Name: "br 0"}); return err }, "space or control character"},
		{"slash in bridge", func() error { _, err := c.AddBridge(ctx, &pb.AddBridgeRequest{Name: "a/b"}); return err }, "not a valid interface name"},
		{"del-br empty", func() error { _, err := c.DelBridge(ctx, &pb.DelBridgeRequest{}); return err }, "name is required"},
		{"no port", func() error { _, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: "br0"}); return err }, "port is required"},
		{"no bridge", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Port: &pb.PortSpec{Name: "p1"}})
			return err
		}, "bridge is required"},
		{"empty port name", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: "br0", Port: &pb.PortSpec{}})
			return err
		}, "port.name is required"},
		{"tag", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: "br0", Port: &pb.PortSpec{Name: "p1", Tag: &tag}})
			return err
		}, "port.tag 4096 is out of range 0..4095"},
		{"trunks", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: "br0", Port: &pb.PortSpec{Name: "p1", Trunks: []int32{10, 5000}}})
			return err
		}, "port.trunks: VLAN 5000"},
		{"vlan_mode", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: "br0", Port: &pb.PortSpec{Name: "p1", VlanMode: "dot1q"}})
			return err
		}, `port.vlan_mode "dot1q"`},
		{"ofport_request", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: "br0", Port: &pb.PortSpec{Name: "p1", OfportRequest: 65534}})
			return err
		}, "port.ofport_request 65534"},
		{"option key", func() error {
			_, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: "br0", Port: &pb.PortSpec{Name: "p1", Options: map[string]string{"": "x"}}})
			return err
		}, "port.options: empty key"},
		{"del-port", func() error { _, err := c.DelPort(ctx, &pb.DelPortRequest{Bridge: "br0"}); return err }, "port is required"},
		{"list-ports", func() error { _, err := c.ListPorts(ctx, &pb.ListPortsRequest{}); return err }, "bridge is required"},
		{"port-to-br", func() error { _, err := c.PortToBridge(ctx, &pb.PortToBridgeRequest{}); return err }, "port is required"},
		{"set table", func() error {
			_, err := c.Set(ctx, &pb.SetRequest{Table: "Mirror", Record: "m", Settings: []*pb.Setting{{Column: "x"}}})
			return err
		}, `table "Mirror" is not one of Bridge, Port, Interface, Open_vSwitch`},
		{"set nothing", func() error { _, err := c.Set(ctx, &pb.SetRequest{Table: "Port", Record: "p1"}); return err }, "settings: at least one"},
		{"set column", func() error {
			_, err := c.Set(ctx, &pb.SetRequest{Table: "Port", Record: "p1", Settings: []*pb.Setting{{Value: "1"}}})
			return err
		}, "settings[0].column is required"},
		{"get column", func() error { _, err := c.Get(ctx, &pb.GetRequest{Table: "Port", Record: "p1"}); return err }, "column is required"},
		{"get record", func() error { _, err := c.Get(ctx, &pb.GetRequest{Table: "Port", Column: "tag"}); return err }, "record is required"},
		{"fdb/show", func() error { _, err := c.FdbShow(ctx, &pb.FdbShowRequest{}); return err }, "bridge is required"},
		{"add-flow", func() error { _, err := c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: "br0", Flow: "  "}); return err }, "flow is required"},
		{"del-flows", func() error { _, err := c.DelFlows(ctx, &pb.DelFlowsRequest{}); return err }, "bridge is required"},
		{"dump-flows", func() error { _, err := c.DumpFlows(ctx, &pb.DumpFlowsRequest{}); return err }, "bridge is required"},
		{"dpif/dump-flows", func() error {
			_, err := c.DumpDatapathFlows(ctx, &pb.DumpDatapathFlowsRequest{})
			return err
		}, "bridge is required"},
		{"add-flows bridge", func() error {
			_, err := c.AddFlows(ctx, &pb.AddFlowsRequest{Flows: []string{"actions=drop"}})
			return err
		}, "bridge is required"},
		{"add-flows blank", func() error {
			_, err := c.AddFlows(ctx, &pb.AddFlowsRequest{Bridge: "br0", Flows: []string{"actions=drop", " "}})
			return err
		}, "flow 2: empty flow"},
		{"add-flows newline", func() error {
			_, err := c.AddFlows(ctx, &pb.AddFlowsRequest{Bridge: "br0", Flows: []string{"ip,actions=drop\nactions=NORMAL"}})
			return err
		}, "flow 1: contains a line break"},
		{"mod-flows", func() error { _, err := c.ModFlows(ctx, &pb.ModFlowsRequest{Bridge: "br0"}); return err }, "flow is required"},
		{"replace-flows", func() error {
			_, err := c.ReplaceFlows(ctx, &pb.ReplaceFlowsRequest{Bridge: "br0", Flows: []string{""}})
			return err
		}, "flow 1: empty flow"},
		{"dump-ports", func() error { _, err := c.DumpPorts(ctx, &pb.DumpPortsRequest{}); return err }, "bridge is required"},
		{"dump-ports port", func() error {
			_, err := c.DumpPorts(ctx, &pb.DumpPortsRequest{Bridge: "br0", Port: "p 1"})
			return err
		}, `port "p 1" contains a space`},
		{"dump-tables", func() error { _, err := c.DumpTables(ctx, &pb.DumpTablesRequest{}); return err }, "bridge is required"},
		{"dump-aggregate", func() error { _, err := c.DumpAggregate(ctx, &pb.DumpAggregateRequest{}); return err }, "bridge is required"},
		{"trace bridge", func() error { _, err := c.Trace(ctx, &pb.TraceRequest{Flow: "icmp"}); return err }, "bridge is required"},
		{"trace flow", func() error { _, err := c.Trace(ctx, &pb.TraceRequest{Bridge: "br0"}); return err }, "flow is required"},
		{"dpif/dump-flows space", func() error {
			_, err := c.DumpDatapathFlows(ctx, &pb.DumpDatapathFlowsRequest{Bridge: "br 0"})
			return err
		}, "space or control character"},
	} {
		err := tc.call()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
			t.Errorf("%s: got %v, want InvalidArgument containing %q", tc.name, err, tc.want)
		}
	}
	if calls := f.callLog(); len(calls) != 0 {
		t.Errorf("invalid requests reached the switch: %q", calls)
	}
	services := srv.GetServiceInfo()
	for _, name := range []string{"vswitch.v1.Vswitch", "grpc.reflection.v1.ServerReflection"} {
		if _, ok := services[name]; !ok {
			t.Errorf("service %s not registered (have %v)", name, services)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	f := newFake()
	sock, _ := serve(t, f)
	c := connect(t, sock)
	ctx := context.Background()
	for _, tc := range []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{errf(bridge.ErrNotFound, "no bridge named br9"), codes.NotFound, "no bridge named br9"},
		{fmt.Errorf("bridge br0: %w", bridge.ErrExists), codes.AlreadyExists, "bridge br0: already exists"},
		{fmt.Errorf("%w: bridge br0 already exists", bridge.ErrExists), codes.AlreadyExists, "bridge br0 already exists"},
		{fmt.Errorf("%w: unknown interface type \"foo\" (valid: afpacket, system)", bridge.ErrInvalid), codes.InvalidArgument, `unknown interface type "foo" (valid: afpacket, system)`},
		{fmt.Errorf("%w: no port named p1", bridge.ErrNotFound), codes.NotFound, "no port named p1"},
		{fmt.Errorf("store: %w", bridge.ErrUnavailable), codes.FailedPrecondition, "store: unavailable"},
		{errors.New("disk on fire\nsecond line"), codes.Internal, "disk on fire; second line"},
	} {
		f.mu.Lock()
		f.failAll = tc.err
		f.mu.Unlock()
		_, err := c.DelBridge(ctx, &pb.DelBridgeRequest{Name: "br0"})
		st := status.Convert(err)
		if st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("%v: got %v %q, want %v %q", tc.err, st.Code(), st.Message(), tc.code, tc.msg)
		}
	}

	// A panic in the switch is an Internal error, and the server lives on.
	f.mu.Lock()
	f.failAll, f.panicOn = nil, "FlushFDB"
	f.mu.Unlock()
	_, err := c.FdbFlush(ctx, &pb.FdbFlushRequest{Bridge: "br0"})
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error in /vswitch.v1.Vswitch/FdbFlush: boom" {
		t.Errorf("panic: got %v", err)
	}
	if _, err := c.ListBridges(ctx, &pb.ListBridgesRequest{}); err != nil {
		t.Errorf("after a panic: %v", err)
	}
}

func TestAddPortConverts(t *testing.T) {
	f := newFake()
	f.bridges = []string{"br0"}
	sock, _ := serve(t, f)
	c := connect(t, sock)
	tag := int32(0)
	_, err := c.AddPort(context.Background(), &pb.AddPortRequest{Bridge: "br0", MayExist: true, Port: &pb.PortSpec{
		Name: "vx1", Type: "vxlan", Options: map[string]string{"remote_ip": "192.0.2.1"}, MtuRequest: 1450,
		OfportRequest: 9, Tag: &tag, Trunks: []int32{1, 2}, VlanMode: "native-untagged", ExternalIds: map[string]string{"a": "b"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := f.specs["vx1"]
	if s.Type != "vxlan" || s.Options["remote_ip"] != "192.0.2.1" || s.MTURequest != 1450 || s.OfportRequest != 9 ||
		s.Tag == nil || *s.Tag != 0 || !slices.Equal(s.Trunks, []int{1, 2}) || s.VlanMode != "native-untagged" || s.ExternalIDs["a"] != "b" {
		t.Errorf("spec %+v", s)
	}
	if got := f.callLog(); !slices.Equal(got, []string{"AddPort br0 vx1 true"}) {
		t.Errorf("calls %q", got)
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "a", "b.sock")
	ln, err := Listen(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket %v %v, want a socket with mode 0660", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("parent dir %v %v, want 0755", fi.Mode(), err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	// A daemon answers on it: refuse, and leave its socket alone.
	_, err = Listen(sock, "")
	if err == nil || !strings.Contains(err.Error(), "another vswitchd is already serving it") || strings.Contains(err.Error(), "\n") {
		t.Errorf("second Listen: %v", err)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("the live socket was removed: %v", err)
	}

	// A socket left behind by a killed daemon is replaced.
	stale := filepath.Join(dir, "stale.sock")
	l2, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l2.SetUnlinkOnClose(false)
	l2.Close()
	if _, err := net.Dial("unix", stale); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("stale socket: dial got %v, want ECONNREFUSED", err)
	}
	l3, err := Listen(stale, "")
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l3.Close()

	// Something that is not a socket is never removed.
	file := filepath.Join(dir, "file.sock")
	os.WriteFile(file, []byte("keep"), 0o644)
	if _, err := Listen(file, ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("the file was touched")
	}

	if _, err := Listen(filepath.Join(dir, "g.sock"), "no-such-group-7f3a"); err == nil || !strings.Contains(err.Error(), `socket group "no-such-group-7f3a" does not exist`) {
		t.Errorf("missing group: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "g.sock")); err == nil {
		t.Errorf("socket created despite the bad group")
	}

	// chgrp: to "daemon" when root may, else to our own group.
	gid := os.Getgid()
	g, err := user.LookupGroupId(strconv.Itoa(gid))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := user.LookupGroup("daemon"); err == nil && os.Geteuid() == 0 {
		g = d
		gid, _ = strconv.Atoi(d.Gid)
	}
	gs := filepath.Join(dir, "grp.sock")
	l4, err := Listen(gs, g.Name)
	if err != nil {
		t.Fatalf("Listen with group %s: %v", g.Name, err)
	}
	defer l4.Close()
	var st syscall.Stat_t
	if err := syscall.Stat(gs, &st); err != nil || int(st.Gid) != gid {
		t.Errorf("socket gid %d (%v), want %d", st.Gid, err, gid)
	}
}

var (
	vsctlOnce sync.Once
	vsctlBin  string
	vsctlErr  error
)

// buildVsctl builds cmd/vsctl once per test binary, with ovs-vsctl,
// ovs-ofctl and ovs-appctl links to it as a go-openvswitch user would install them.
func buildVsctl(t *testing.T) string {
	t.Helper()
	vsctlOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vsctl-test-")
		if err != nil {
			vsctlErr = err
			return
		}
		vsctlBin = filepath.Join(dir, "vsctl")
		out, err := exec.Command("go", "build", "-o", vsctlBin, "vswitch/cmd/vsctl").CombinedOutput()
		if err != nil {
			vsctlErr = fmt.Errorf("go build vsctl: %v: %s", err, out)
			return
		}
		for _, n := range []string{"ovs-vsctl", "ovs-ofctl", "ovs-appctl"} {
			if err := os.Symlink("vsctl", filepath.Join(dir, n)); err != nil {
				vsctlErr = err
			}
		}
	})
	if vsctlErr != nil {
		t.Fatal(vsctlErr)
	}
	return vsctlBin
}

func TestMain(m *testing.M) {
	// The panics provoked on purpose log their stacks; keep test output readable.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	code := m.Run()
	if vsctlBin != "" {
		os.RemoveAll(filepath.Dir(vsctlBin))
	}
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func vsctl(t *testing.T, sock string, args ...string) result {
	t.Helper()
	return vsctlStdin(t, sock, "", args...)
}

func vsctlStdin(t *testing.T, sock, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(buildVsctl(t), args...)
	cmd.Env = append(os.Environ(), "VSWITCH_SERVER="+sock)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{o.String(), e.String(), 0}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVsctlAgainstFakeSwitch(t *testing.T) {
	f := newFake()
	sock, _ := serve(t, f)
	expect := func(r result, code int, stdout, stderr string) {
		t.Helper()
		if r.code != code || r.stdout != stdout || r.stderr != stderr {
			t.Errorf("got exit %d stdout %q stderr %q, want exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr, code, stdout, stderr)
		}
	}
	expect(vsctl(t, sock, "add-br", "br0"), 0, "", "")
	expect(vsctl(t, sock, "add-br", "br0"), 1, "", "vsctl: bridge br0 already exists\n")
	expect(vsctl(t, sock, "--may-exist", "add-br", "br0"), 0, "", "")
	expect(vsctl(t, sock, "list-br"), 0, "br0\n", "")
	expect(vsctl(t, sock, "br-exists", "br0"), 0, "", "")
	expect(vsctl(t, sock, "br-exists", "br1"), 2, "", "")
	expect(vsctl(t, sock, "del-br", "nope"), 1, "", "vsctl: no bridge named nope\n")
	expect(vsctl(t, sock, "add-br", "br-0123456789abc"), 1, "",
		"vsctl: bridge name \"br-0123456789abc\" is 16 characters long; the limit is 15 (a Linux interface name)\n")

	// add-port and the sets after it reach the switch as one AddPort.
	before := len(f.callLog())
	expect(vsctl(t, sock, "add-port", "br0", "vx1", "--", "set", "Interface", "vx1", "type=vxlan",
		"options:remote_ip=192.0.2.1", "options:key=flow", "--", "set", "Port", "vx1", "tag=10"), 0, "", "")
	if got := f.callLog()[before:]; !slices.Equal(got, []string{"AddPort br0 vx1 false"}) {
		t.Errorf("add-port chain made calls %q, want one AddPort", got)
	}
	if s := f.specs["vx1"]; s.Type != "vxlan" || s.Options["remote_ip"] != "192.0.2.1" || s.Options["key"] != "flow" || s.Tag == nil || *s.Tag != 10 {
		t.Errorf("spec %+v", s)
	}
	// Bad input is refused before anything reaches the switch.
	before = len(f.callLog())
	expect(vsctl(t, sock, "add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=afpacket", "options:foo"), 1, "",
		"vsctl: set Interface p2: \"options:foo\": argument does not end in \"=\" followed by a value (use COLUMN=VALUE or COLUMN:KEY=VALUE)\n")
	expect(vsctl(t, sock, "add-port", "br0", "p2", "tag=4096"), 1, "", "vsctl: add-port br0 p2: tag 4096 is out of range 0..4095\n")
	r := vsctl(t, sock, "add-prt", "br0", "p2")
	if r.code != 2 || !strings.HasPrefix(r.stderr, `vsctl: unknown command "add-prt"; valid commands: add, add-br, add-flow,`) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("unknown command: %+v", r)
	}
	if got := f.callLog()[before:]; len(got) != 0 {
		t.Errorf("refused commands reached the switch: %q", got)
	}
	expect(vsctl(t, sock, "add-port", "br9", "p3"), 1, "", "vsctl: no bridge named br9\n")
	expect(vsctl(t, sock, "--may-exist", "add-port", "br0", "vx1", "--", "set", "Interface", "vx1", "options:key=5"), 0, "", "")
	f.mu.Lock()
	lastSet := f.sets[len(f.sets)-1]
	f.mu.Unlock()
	if !slices.Equal(lastSet, []bridge.Setting{{Column: "options", Key: "key", Value: "5"}}) {
		t.Errorf("--may-exist add-port of an existing port: set %v", lastSet)
	}

	expect(vsctl(t, sock, "list-ports", "br0"), 0, "vx1\n", "")
	expect(vsctl(t, sock, "port-to-br", "vx1"), 0, "br0\n", "")
	expect(vsctl(t, sock, "get", "Interface", "vx1", "ofport"), 0, "1\n", "")
	expect(vsctl(t, sock, "get", "Interface", "nope", "ofport"), 1, "", "vsctl: no interface named nope\n")
	expect(vsctl(t, sock, "set", "Port", "vx1", "trunks=[10,20]", "vlan_mode=trunk"), 0, "", "")
	f.mu.Lock()
	lastSet = f.sets[len(f.sets)-1]
	f.mu.Unlock()
	if !slices.Equal(lastSet, []bridge.Setting{{Column: "trunks", Value: "10,20"}, {Column: "vlan_mode", Value: "trunk"}}) {
		t.Errorf("set Port: %v", lastSet)
	}
	// A whole map replaces the old one: keys it does not name are cleared.
	expect(vsctl(t, sock, "set", "Interface", "vx1", "options={remote_ip=198.51.100.1}"), 0, "", "")
	f.mu.Lock()
	lastSet = f.sets[len(f.sets)-1]
	f.mu.Unlock()
	if !slices.Equal(lastSet, []bridge.Setting{{Column: "options", Key: "key", Value: ""}, {Column: "options", Key: "remote_ip", Value: "198.51.100.1"}}) {
		t.Errorf("set options={...}: %v", lastSet)
	}

	expect(vsctl(t, sock, "show"), 0, `    Bridge br0
        fail_mode: standalone
        Port br0
            Interface br0
                type: internal
                ofport: 65534
                statistics: {rx_packets=3, rx_bytes=180, rx_dropped=0, rx_errors=0, tx_packets=0, tx_bytes=0, tx_dropped=0, tx_errors=0, rx_truncated=0}
        Port vx1
            tag: 10
            Interface vx1
                type: vxlan
                options: {key=flow, remote_ip="192.0.2.1"}
                error: "could not open network device vx1; (No such device)"
                ofport: 1
                statistics: {rx_packets=0, rx_bytes=0, rx_dropped=0, rx_errors=0, tx_packets=0, tx_bytes=0, tx_dropped=0, tx_errors=0, rx_truncated=0}
`, "")
	expect(vsctl(t, sock, "fdb/show", "br0"), 0, ` port  VLAN  MAC                Age
    1    10  50:54:00:00:00:01    7
LOCAL     0  50:54:00:00:00:02    0
`, "")
	expect(vsctl(t, sock, "fdb/flush"), 0, "table successfully flushed\n", "")
	// Not a terminal: ovs-ofctl prints the reply header, as here.
	expect(vsctl(t, sock, "dump-flows", "br0"), 0, `NXST_FLOW reply (xid=0x4):
 cookie=0x0, duration=2.500s, table=0, n_packets=4, n_bytes=392, priority=100,ip,nw_dst=10.0.0.1 actions=drop
 cookie=0x0, duration=61.000s, table=0, n_packets=0, n_bytes=0, priority=0 actions=NORMAL
`, "")
	expect(vsctl(t, sock, "--names", "--no-stats", "dump-flows", "br0"), 0, ` priority=100,ip,nw_dst=10.0.0.1 actions=drop
 priority=0 actions=NORMAL
`, "")
	before = len(f.callLog())
	expect(vsctl(t, sock, "add-flow", "br0", "priority=5,ip,actions=drop", "--", "del-flows", "br0", "ip", "--strict", "--", "del-flows", "br0"), 0, "", "")
	if got := f.callLog()[before:]; !slices.Equal(got, []string{"AddFlow br0 priority=5,ip,actions=drop", "DelFlows br0 ip true", "DelFlows br0  false"}) {
		t.Errorf("flow calls %q", got)
	}

	// Megaflows and PMD counters, as ovs-appctl prints them.
	expect(vsctl(t, sock, "dpif/dump-flows", "br0"), 0,
		"in_port=1,dl_dst=50:54:00:00:00:02,dl_type=0x0800, packets:9, bytes:882, used:0.123s, actions:p2\n"+
			"in_port=2,dl_src=50:54:00:00:00:02/ff:ff:ff:ff:ff:ff,dl_type=0x0806, packets:0, bytes:0, used:never, actions:drop\n", "")
	expect(vsctl(t, sock, "dpctl/dump-flows", "br9"), 1, "", "vsctl: no bridge named br9\n")
	expect(vsctl(t, sock, "dpif/dump-flows"), 2, "", "vsctl: dpif/dump-flows: wrong number of arguments (usage: dpif/dump-flows BRIDGE)\n")
	pmdStats := `pmd thread numa_id 0 core_id 1:
  packets received: 100
  emc hits: 90
  megaflow hits: 8
  miss with success upcall: 2
  miss with failed upcall: 0
  revalidations: 1
  malformed packets: 3
  tx dropped: 4
  megaflows: 2
  megaflows expired: 6
  iterations: 5000
  busy time: 1.235 ms
  idle time: 0.000 ms polling, 0.000 ms parked
  avg. busy ns per packet: 12345.7
  parks: 7
pmd thread numa_id 0 core_id unpinned:
  packets received: 0
  emc hits: 0
  megaflow hits: 0
  miss with success upcall: 0
  miss with failed upcall: 0
  revalidations: 0
  malformed packets: 0
  tx dropped: 0
  megaflows: 0
  megaflows expired: 0
  iterations: 0
  busy time: 0.000 ms
  idle time: 0.000 ms polling, 0.000 ms parked
  avg. busy ns per packet: 0.0
  parks: 0
`
	expect(vsctl(t, sock, "pmd-stats-show"), 0, pmdStats, "")
	expect(vsctl(t, sock, "dpif-netdev/pmd-stats-show"), 0, pmdStats, "")
	before = len(f.callLog())
	expect(vsctl(t, sock, "pmd-stats-clear", "--", "dpif-netdev/pmd-stats-clear"), 0, "", "")
	if got := f.callLog()[before:]; !slices.Equal(got, []string{"ClearPMDStats", "ClearPMDStats"}) {
		t.Errorf("pmd-stats-clear calls %q", got)
	}

	f.mu.Lock()
	f.panicOn = "FDB"
	f.mu.Unlock()
	expect(vsctl(t, sock, "fdb/show", "br0"), 1, "", "vsctl: internal error in /vswitch.v1.Vswitch/FdbShow: boom\n")

	missing := filepath.Join(t.TempDir(), "none.sock")
	expect(vsctl(t, missing, "list-br"), 1, "", "vsctl: cannot connect to "+missing+": connect: no such file or directory (is vswitchd running?)\n")
	expect(vsctl(t, sock, "--server=unix:"+missing, "list-br"), 1, "", "vsctl: cannot connect to "+missing+": connect: no such file or directory (is vswitchd running?)\n")
}

// The ovs-ofctl surface beyond add-flow/dump-flows, and ofproto/trace and
// pmd-rxq-show, print exactly what OVS prints; bad input is one line on
// stderr, exit status 1.
func TestVsctlOfctlSurface(t *testing.T) {
	f := newFake()
	f.bridges = []string{"br0"}
	sock, _ := serve(t, f)
	expect := func(r result, code int, stdout, stderr string) {
		t.Helper()
		if r.code != code || r.stdout != stdout || r.stderr != stderr {
			t.Errorf("got exit %d stdout %q stderr %q, want exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr, code, stdout, stderr)
		}
	}
	calls := func(before int) []string {
		t.Helper()
		return f.callLog()[before:]
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// add-flows: one request with every flow; blank and comment lines
	// are not sent.
	good := write("good.txt", "# ACL\n\npriority=100,tcp,tp_dst=22,actions=drop\n   \n  table=0,actions=goto_table:1  \n#end\n")
	before := len(f.callLog())
	expect(vsctl(t, sock, "add-flows", "br0", good), 0, "", "")
	if got := calls(before); !slices.Equal(got, []string{"AddFlows br0 priority=100,tcp,tp_dst=22,actions=drop | table=0,actions=goto_table:1"}) {
		t.Errorf("add-flows calls %q", got)
	}
	// One bad line: still one request, and the error names the line of the
	// file (line 6; it is the 3rd flow sent).
	bad := write("bad.txt", "# ACL\npriority=100,tcp,tp_dst=22,actions=drop\n\n  table=0,actions=goto_table:1\n# next one is wrong\nip,actions=bogus\nactions=NORMAL\n")
	before = len(f.callLog())
	expect(vsctl(t, sock, "add-flows", "br0", bad), 1, "", "vsctl: "+bad+":6: unknown action \"bogus\"\n")
	if got := calls(before); len(got) != 1 || !strings.HasPrefix(got[0], "AddFlows br0 ") || strings.Count(got[0], " | ") != 3 {
		t.Errorf("add-flows with a bad line made calls %q, want one AddFlows of 4 flows", got)
	}
	// From stdin.
	before = len(f.callLog())
	expect(vsctlStdin(t, sock, "ip,actions=drop\n\nactions=bogus\n", "add-flows", "br0", "-"), 1, "", "vsctl: stdin:3: unknown action \"bogus\"\n")
	expect(vsctlStdin(t, sock, "ip,actions=drop\n", "add-flow", "br0", "-"), 0, "", "")
	if got := calls(before); !slices.Equal(got, []string{"AddFlows br0 ip,actions=drop | actions=bogus", "AddFlows br0 ip,actions=drop"}) {
		t.Errorf("add-flows - calls %q", got)
	}
	// An error that is not about one flow is printed as it is.
	f.mu.Lock()
	f.failAll = errf(bridge.ErrNotFound, "no bridge named br9")
	f.mu.Unlock()
	expect(vsctl(t, sock, "add-flows", "br9", good), 1, "", "vsctl: no bridge named br9\n")
	f.mu.Lock()
	f.failAll = nil
	f.mu.Unlock()

	// Bad input stops in vsctl.
	before = len(f.callLog())
	missing := filepath.Join(dir, "none.txt")
	expect(vsctl(t, sock, "add-flows", "br0", missing), 1, "", "vsctl: "+missing+": cannot open: no such file or directory\n")
	expect(vsctl(t, sock, "replace-flows", "br0", dir), 1, "", "vsctl: "+dir+": read failed at line 1: read "+dir+": is a directory\n")
	expect(vsctl(t, sock, "add-flows", "br0"), 2, "", "vsctl: add-flows: wrong number of arguments (usage: add-flows BRIDGE FILE|-)\n")
	expect(vsctl(t, sock, "mod-flows", "br0"), 2, "", "vsctl: mod-flows: wrong number of arguments (usage: mod-flows BRIDGE FLOW [--strict])\n")
	expect(vsctl(t, sock, "replace-flows", "br0"), 2, "", "vsctl: replace-flows: wrong number of arguments (usage: replace-flows BRIDGE FILE|-)\n")
	expect(vsctl(t, sock, "dump-ports"), 2, "", "vsctl: dump-ports: wrong number of arguments (usage: dump-ports BRIDGE [PORT])\n")
	expect(vsctl(t, sock, "dump-tables", "br0", "x"), 2, "", "vsctl: dump-tables: wrong number of arguments (usage: dump-tables BRIDGE)\n")
	expect(vsctl(t, sock, "dump-aggregate"), 2, "", "vsctl: dump-aggregate: wrong number of arguments (usage: dump-aggregate BRIDGE [MATCH])\n")
	expect(vsctl(t, sock, "trace", "br0"), 2, "", "vsctl: trace: wrong number of arguments (usage: trace BRIDGE FLOW)\n")
	expect(vsctl(t, sock, "ofproto/trace", "br0"), 2, "", "vsctl: ofproto/trace: wrong number of arguments (usage: ofproto/trace BRIDGE FLOW)\n")
	expect(vsctl(t, sock, "pmd-rxq-show", "x"), 2, "", "vsctl: pmd-rxq-show: wrong number of arguments (usage: pmd-rxq-show)\n")
	if got := calls(before); len(got) != 0 {
		t.Errorf("refused commands reached the switch: %q", got)
	}

	// replace-flows: one request; an empty file is an empty rule set.
	before = len(f.callLog())
	expect(vsctl(t, sock, "replace-flows", "br0", good), 0, "", "")
	expect(vsctl(t, sock, "replace-flows", "br0", write("empty.txt", "# nothing\n")), 0, "", "")
	expect(vsctl(t, sock, "replace-flows", "br0", bad), 1, "", "vsctl: "+bad+":6: unknown action \"bogus\"\n")
	want := []string{"ReplaceFlows br0 2 priority=100,tcp,tp_dst=22,actions=drop | table=0,actions=goto_table:1", "ReplaceFlows br0 0 "}
	if got := calls(before); len(got) != 3 || !slices.Equal(got[:2], want) {
		t.Errorf("replace-flows calls %q, want %q and one more", got, want)
	}

	// mod-flows, and dump-flows/dump-aggregate pass their match through.
	before = len(f.callLog())
	expect(vsctl(t, sock, "mod-flows", "br0", "ip,actions=NORMAL", "--strict", "--", "mod-flows", "br0", "actions=drop"), 0, "", "")
	expect(vsctl(t, sock, "--no-stats", "dump-flows", "br0", "table=0,ip"), 0, " priority=100,ip,nw_dst=10.0.0.1 actions=drop\n priority=0 actions=NORMAL\n", "")
	expect(vsctl(t, sock, "dump-aggregate", "br0"), 0, "NXST_AGGREGATE reply (xid=0x4): packet_count=12 byte_count=1176 flow_count=3\n", "")
	expect(vsctl(t, sock, "dump-aggregate", "br0", "cookie=0x5/-1"), 0, "NXST_AGGREGATE reply (xid=0x4): packet_count=12 byte_count=1176 flow_count=3\n", "")
	want = []string{"ModFlows br0 ip,actions=NORMAL true", "ModFlows br0 actions=drop false", "DumpFlows br0 table=0,ip false",
		"DumpAggregate br0 ", "DumpAggregate br0 cookie=0x5/-1"}
	if got := calls(before); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}

	// dump-ports: ports that are down have no number and are left out.
	expect(vsctl(t, sock, "dump-ports", "br0"), 0, `OFPST_PORT reply (xid=0x2): 3 ports
  port LOCAL: rx pkts=3, bytes=180, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=0, bytes=0, drop=1, errs=0, coll=0
  port  1: rx pkts=10, bytes=980, drop=2, errs=1, frame=0, over=0, crc=0
           tx pkts=8, bytes=784, drop=0, errs=3, coll=0
  port 12: rx pkts=0, bytes=0, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=5, bytes=300, drop=0, errs=0, coll=0
`, "")
	expect(vsctl(t, sock, "--names", "dump-ports", "br0", "p1"), 0, `OFPST_PORT reply (xid=0x2): 1 ports
  port  p1: rx pkts=10, bytes=980, drop=2, errs=1, frame=0, over=0, crc=0
           tx pkts=8, bytes=784, drop=0, errs=3, coll=0
`, "")
	expect(vsctl(t, sock, "dump-ports", "br0", "p9"), 1, "", "vsctl: no port p9 on bridge br0\n")

	// dump-tables: OpenFlow 1.0 layout (go-openvswitch parses it), unused tables left out.
	expect(vsctl(t, sock, "dump-tables", "br0"), 0, `OFPST_TABLE reply (xid=0x2): 2 tables
  0: classifier: wild=0x3fffff, max=1000000, active=2
                 lookup=10, matched=9
  3: table3    : wild=0x3fffff, max=1000000, active=0
                 lookup=4, matched=0
`, "")

	// trace / ofproto/trace.
	trace := `Flow: icmp,in_port=1,dl_src=50:54:00:00:00:01,dl_dst=50:54:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2

bridge("br0")
-------------
 0. icmp, priority 100
    resubmit(,1)
    goto_table:2
     1. No match.
         -> no match: drop
 2. in_port=1, priority 10, cookie 0x5
    mod_vlan_vid:10
    output:3

    bridge("br1")
    -------------
     0. priority 0
        NORMAL
         -> NORMAL: learned 50:54:00:00:00:01 on port 1
         -> NORMAL: output to 2

Megaflow: icmp,in_port=1,dl_src=50:54:00:00:00:01,dl_dst=50:54:00:00:00:02
Datapath actions: push_vlan(vid=10,pcp=0),p2
`
	before = len(f.callLog())
	expect(vsctl(t, sock, "trace", "br0", "in_port=1,icmp"), 0, trace, "")
	expect(vsctl(t, sock, "ofproto/trace", "br0", "in_port=1,icmp"), 0, trace, "")
	if got := calls(before); !slices.Equal(got, []string{"Trace br0 in_port=1,icmp", "Trace br0 in_port=1,icmp"}) {
		t.Errorf("trace calls %q", got)
	}
	expect(vsctl(t, sock, "trace", "br0", "in_port=1,tp_dst=80"), 1, "", "vsctl: tp_dst requires tcp, udp or sctp\n")

	// pmd-rxq-show, grouped by PMD.
	rxq := `pmd thread numa_id 0 core_id 1:
  isolated : false
  port: p1                queue-id:  0 (enabled)   pmd usage:  37 %
  port: vhost-user-client1  queue-id: 11 (enabled)   pmd usage:   0 %
pmd thread numa_id 0 core_id unpinned:
  isolated : false
  port: p2                queue-id:  0 (enabled)   pmd usage: NOT AVAIL
`
	expect(vsctl(t, sock, "pmd-rxq-show"), 0, rxq, "")
	expect(vsctl(t, sock, "dpif-netdev/pmd-rxq-show"), 0, rxq, "")
	expect(vsctl(t, sock, "pmd-rxq-rebalance"), 0, rxq, "")
	expect(vsctl(t, sock, "dpif-netdev/pmd-rxq-rebalance", "x"), 2, "", "vsctl: dpif-netdev/pmd-rxq-rebalance: wrong number of arguments (usage: dpif-netdev/pmd-rxq-rebalance)\n")
}

// go-openvswitch's ovs.Client, pointed at vsctl through ovs-vsctl and
// ovs-ofctl links, drives the switch.
func TestGoOpenvswitchClient(t *testing.T) {
	f := newFake()
	sock, _ := serve(t, f)
	dir := filepath.Dir(buildVsctl(t))
	c := ovs.New(ovs.Timeout(5), ovs.Exec(func(cmd string, args ...string) ([]byte, error) {
		x := exec.Command(filepath.Join(dir, cmd), args...)
		x.Env = append(os.Environ(), "VSWITCH_SERVER="+sock)
		return x.CombinedOutput()
	}), ovs.Pipe(func(stdin io.Reader, cmd string, args ...string) ([]byte, error) {
		x := exec.Command(filepath.Join(dir, cmd), args...)
		x.Env = append(os.Environ(), "VSWITCH_SERVER="+sock)
		x.Stdin = stdin
		return x.CombinedOutput()
	}))
	if err := c.VSwitch.AddBridge("br0"); err != nil {
		t.Fatal(err)
	}
	if err := c.VSwitch.AddBridge("br0"); err != nil {
		t.Fatalf("AddBridge is --may-exist: %v", err)
	}
	if err := c.VSwitch.AddPort("br0", "p1"); err != nil {
		t.Fatal(err)
	}
	if err := c.VSwitch.Set.Interface("p1", ovs.InterfaceOptions{Type: ovs.InterfaceTypeInternal, MTURequest: 1400}); err != nil {
		t.Fatal(err)
	}
	if brs, err := c.VSwitch.ListBridges(); err != nil || !slices.Equal(brs, []string{"br0"}) {
		t.Errorf("ListBridges %q %v", brs, err)
	}
	if ps, err := c.VSwitch.ListPorts("br0"); err != nil || !slices.Equal(ps, []string{"p1"}) {
		t.Errorf("ListPorts %q %v", ps, err)
	}
	if br, err := c.VSwitch.PortToBridge("p1"); err != nil || br != "br0" {
		t.Errorf("PortToBridge %q %v", br, err)
	}
	if _, err := c.VSwitch.PortToBridge("p9"); !ovs.IsPortNotExist(err) {
		t.Errorf("PortToBridge of a missing port: %v, want IsPortNotExist", err)
	}
	flows, err := c.OpenFlow.DumpFlows("br0")
	if err != nil || len(flows) != 2 || flows[0].Priority != 100 || flows[1].Priority != 0 || flows[0].Stats.PacketCount != 4 {
		t.Errorf("DumpFlows %+v %v", flows, err)
	}
	err = c.OpenFlow.AddFlow("br0", &ovs.Flow{Priority: 10, Protocol: ovs.ProtocolIPv4, Actions: []ovs.Action{ovs.Drop()}})
	if err != nil {
		t.Errorf("AddFlow: %v", err)
	}
	if err := c.OpenFlow.DelFlows("br0", nil); err != nil {
		t.Errorf("DelFlows: %v", err)
	}
	// A bundle of adds is one AddFlows request.
	err = c.OpenFlow.AddFlowBundle("br0", func(tx *ovs.FlowTransaction) error {
		tx.Add(&ovs.Flow{Priority: 20, Protocol: ovs.ProtocolTCPv4, Actions: []ovs.Action{ovs.Normal()}},
			&ovs.Flow{Priority: 10, Actions: []ovs.Action{ovs.Drop()}})
		return tx.Commit()
	})
	if err != nil {
		t.Errorf("AddFlowBundle: %v", err)
	}
	ports, err := c.OpenFlow.DumpPorts("br0")
	if err != nil || len(ports) != 3 || ports[0].PortID != ovs.PortLOCAL || ports[1].PortID != 1 ||
		ports[1].Received.Packets != 10 || ports[1].Received.Dropped != 2 || ports[1].Transmitted.Errors != 3 || ports[2].Transmitted.Bytes != 300 {
		t.Errorf("DumpPorts %+v %v", ports, err)
	}
	if p, err := c.OpenFlow.DumpPort("br0", "12"); err != nil || p.PortID != 12 || p.Transmitted.Packets != 5 {
		t.Errorf("DumpPort %+v %v", p, err)
	}
	if st, err := c.OpenFlow.DumpAggregate("br0", &ovs.MatchFlow{Cookie: 5}); err != nil || st.PacketCount != 12 || st.ByteCount != 1176 {
		t.Errorf("DumpAggregate %+v %v", st, err)
	}
	pt, err := c.App.ProtoTrace("br0", ovs.ProtocolICMPv4, []ovs.Match{ovs.InPortMatch(1)})
	if err != nil || pt.InputFlow == nil || pt.InputFlow.Protocol != ovs.ProtocolICMPv4 ||
		fmt.Sprint(pt.DataPathActions) != "&{push_vlan(vid=10,pcp=0),p2}" ||
		!slices.Equal(pt.FlowActions, []string{"resubmit(,1)", "goto_table:2", "mod_vlan_vid:10", "output:3", "NORMAL"}) {
		t.Errorf("ProtoTrace %+v %v", pt, err)
	}
	if err := c.VSwitch.DeletePort("br0", "p1"); err != nil {
		t.Error(err)
	}
	if err := c.VSwitch.DeleteBridge("br0"); err != nil {
		t.Error(err)
	}
	if err := c.VSwitch.DeleteBridge("br0"); err != nil {
		t.Errorf("DeleteBridge is --if-exists: %v", err)
	}
	log := strings.Join(f.callLog(), "\n")
	for _, want := range []string{"AddPort br0 p1 true", "Set Interface p1", "AddFlow br0 priority=10,ip,table=0,idle_timeout=0,actions=drop",
		"AddFlows br0 priority=20,tcp,table=0,idle_timeout=0,actions=normal | priority=10,table=0,idle_timeout=0,actions=drop",
		"DumpPorts br0 ", "DumpPorts br0 12", "DumpAggregate br0 cookie=0x0000000000000005/-1,table=0", "Trace br0 icmp,in_port=1", "DelFlows br0  false", "DelBridge br0 true"} {
		if !strings.Contains(log, want) {
			t.Errorf("switch never saw %q; calls:\n%s", want, log)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var setIface []bridge.Setting
	for _, s := range f.sets {
		if len(s) > 0 && s[0].Column == "type" {
			setIface = s
		}
	}
	if !slices.Equal(setIface, []bridge.Setting{{Column: "type", Value: "internal"}, {Column: "mtu_request", Value: "1400"}}) {
		t.Errorf("Set.Interface sent %v", setIface)
	}
}
