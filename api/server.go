// Package api serves the vswitch.v1 gRPC service: it validates requests,
// calls the bridge layer and maps its errors to status codes, nothing else.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"vswitch/bridge"
	"vswitch/datapath"
	pb "vswitch/proto/vswitch/v1"
	"vswitch/vxlan"
)

// switchAPI is the part of *bridge.Switch the service uses. It exists so the
// service can be tested against a fake switch.
type switchAPI interface {
	AddBridge(name string, mayExist bool) error
	DelBridge(name string, ifExists bool) error
	ListBridges() []string
	AddPort(bridge string, spec bridge.PortSpec, mayExist bool) error
	DelPort(bridge, port string, ifExists bool) error
	ListPorts(bridge string) ([]string, error)
	PortToBridge(port string) (string, error)
	Set(table, record string, settings []bridge.Setting) error
	Get(table, record, column string) (string, error)
	Show() []bridge.BridgeView
	FDB(bridge string) ([]bridge.FDBEntry, error)
	FlushFDB(bridge string) error
	AddFlow(bridge, flow string) error
	DelFlows(bridge, match string, strict bool) error
	AddFlows(bridge string, flows []string) error
	ModFlows(bridge, flow string, strict bool) error
	ReplaceFlows(bridge string, flows []string) error
	DumpFlows(bridge, match string, names bool) ([]bridge.FlowView, error)
	DumpPorts(bridge, port string) ([]bridge.PortView, error)
	DumpTables(bridge string) ([]bridge.TableView, error)
	DumpAggregate(bridge, match string) (packets, bytes uint64, flows int, err error)
	Trace(bridge, flow string) (*bridge.TraceView, error)
	PMDRxqs() []bridge.RxqView
	RebalanceRxqs() []bridge.RxqView
	RxqAssign() string
	DatapathFlows(bridge string) ([]bridge.DatapathFlowView, error)
	PMDStats() []datapath.PMDStats
	ClearPMDStats()
}

var _ switchAPI = (*bridge.Switch)(nil)

// NewServer returns a gRPC server with the Vswitch service and server
// reflection (so grpcurl works) registered. The caller serves it on a
// listener from Listen and stops it with GracefulStop. opts set the
// request size and per-call limits (limits.go).
func NewServer(sw *bridge.Switch, opts ...Option) *grpc.Server {
	return newServer(sw, opts...)
}

func newServer(sw switchAPI, opts ...Option) *grpc.Server {
	gopts, unary := newServerConfig(opts).grpcOptions()
	s := grpc.NewServer(append(gopts, grpc.ChainUnaryInterceptor(append(unary, recoverPanics)...))...)
	pb.RegisterVswitchServer(s, &service{sw: sw})
	reflection.Register(s)
	return s
}

// recoverPanics turns a panic in a handler into an Internal error: one bad
// request must not take the daemon, and the datapath with it, down.
func recoverPanics(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("api: handler panicked", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error in %s: %s", info.FullMethod, oneLine(fmt.Sprint(r)))
		}
	}()
	return handler(ctx, req)
}

type service struct {
	pb.UnimplementedVswitchServer
	sw switchAPI
}

// toStatus maps a bridge error to a gRPC status whose message is the
// error's text on one line, so vsctl can print it as is.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	code, kind := codes.Internal, error(nil)
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		code, kind = codes.NotFound, bridge.ErrNotFound
	case errors.Is(err, bridge.ErrExists):
		code, kind = codes.AlreadyExists, bridge.ErrExists
	case errors.Is(err, bridge.ErrInvalid):
		code, kind = codes.InvalidArgument, bridge.ErrInvalid
	case errors.Is(err, bridge.ErrUnavailable):
		code, kind = codes.FailedPrecondition, bridge.ErrUnavailable
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	if code == codes.Internal {
		slog.Warn("api: internal error", "err", err)
	}
	msg := oneLine(err.Error())
	// "not found: no port named p1" -> "no port named p1": the code already
	// says which kind it is, and ovs-vsctl's wording is what scripts (and
	// go-openvswitch's IsPortNotExist) look for.
	if kind != nil {
		if rest, ok := strings.CutPrefix(msg, kind.Error()+": "); ok && rest != "" {
			msg = rest
		}
	}
	return status.Error(code, msg)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// checkName rejects names that could not survive the command line and the
// one-record-per-line output formats: empty, or with spaces or control
// characters.
func checkName(field, name string) error {
	if name == "" {
		return invalid("%s is required", field)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f {
			return invalid("%s %q contains a space or control character", field, name)
		}
	}
	return nil
}

// maxIfName is IFNAMSIZ-1: a bridge's internal port is a tap device named
// after the bridge, so the bridge name must be a valid interface name.
const maxIfName = 15

func checkBridgeName(field, name string) error {
	if err := checkName(field, name); err != nil {
		return err
	}
	if len(name) > maxIfName {
		return invalid("bridge %s %q is %d characters long; the limit is %d (a Linux interface name)", field, name, len(name), maxIfName)
	}
	if strings.Contains(name, "/") || name == "." || name == ".." {
		return invalid("%s %q is not a valid interface name", field, name)
	}
	return nil
}

var tables = []string{"Bridge", "Port", "Interface", "Open_vSwitch"}

func checkTable(table string) error {
	for _, t := range tables {
		if t == table {
			return nil
		}
	}
	if table == "" {
		return invalid("table is required")
	}
	return invalid("table %q is not one of %s", table, strings.Join(tables, ", "))
}

// OpenFlow port numbers above 0xff00 (OFPP_MAX) are reserved.
const maxOfport = 0xff00 - 1

var vlanModes = []string{"access", "trunk", "native-tagged", "native-untagged"}

func checkPortSpec(p *pb.PortSpec) error {
	if p == nil {
		return invalid("port is required")
	}
	if err := checkName("port.name", p.GetName()); err != nil {
		return err
	}
	if p.Tag != nil && (p.GetTag() < 0 || p.GetTag() > 4095) {
		return invalid("port.tag %d is out of range 0..4095", p.GetTag())
	}
	for _, t := range p.GetTrunks() {
		if t < 0 || t > 4095 {
			return invalid("port.trunks: VLAN %d is out of range 0..4095", t)
		}
	}
	if m := p.GetMtuRequest(); m < 0 || m > 65535 {
		return invalid("port.mtu_request %d is out of range 0..65535", m)
	}
	if o := p.GetOfportRequest(); o < 0 || o > maxOfport {
		return invalid("port.ofport_request %d is out of range 1..%d", o, maxOfport)
	}
	if m := p.GetVlanMode(); m != "" {
		ok := false
		for _, v := range vlanModes {
			ok = ok || v == m
		}
		if !ok {
			return invalid("port.vlan_mode %q is not one of %s", m, strings.Join(vlanModes, ", "))
		}
	}
	for k := range p.GetOptions() {
		if k == "" {
			return invalid("port.options: empty key")
		}
	}
	for k := range p.GetExternalIds() {
		if k == "" {
			return invalid("port.external_ids: empty key")
		}
	}
	return nil
}

func (s *service) AddBridge(_ context.Context, r *pb.AddBridgeRequest) (*pb.AddBridgeResponse, error) {
	if err := checkBridgeName("name", r.GetName()); err != nil {
		return nil, err
	}
	if err := s.sw.AddBridge(r.GetName(), r.GetMayExist()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.AddBridgeResponse{}, nil
}

func (s *service) DelBridge(_ context.Context, r *pb.DelBridgeRequest) (*pb.DelBridgeResponse, error) {
	if err := checkName("name", r.GetName()); err != nil {
		return nil, err
	}
	if err := s.sw.DelBridge(r.GetName(), r.GetIfExists()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DelBridgeResponse{}, nil
}

func (s *service) ListBridges(context.Context, *pb.ListBridgesRequest) (*pb.ListBridgesResponse, error) {
	return &pb.ListBridgesResponse{Names: s.sw.ListBridges()}, nil
}

func (s *service) AddPort(_ context.Context, r *pb.AddPortRequest) (*pb.AddPortResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if err := checkPortSpec(r.GetPort()); err != nil {
		return nil, err
	}
	p := r.GetPort()
	spec := bridge.PortSpec{
		Name:          p.GetName(),
		Type:          p.GetType(),
		Options:       p.GetOptions(),
		MTURequest:    int(p.GetMtuRequest()),
		OfportRequest: int(p.GetOfportRequest()),
		VlanMode:      p.GetVlanMode(),
		ExternalIDs:   p.GetExternalIds(),
	}
	if p.Tag != nil {
		tag := int(p.GetTag())
		spec.Tag = &tag
	}
	for _, t := range p.GetTrunks() {
		spec.Trunks = append(spec.Trunks, int(t))
	}
	if err := s.sw.AddPort(r.GetBridge(), spec, r.GetMayExist()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.AddPortResponse{}, nil
}

func (s *service) DelPort(_ context.Context, r *pb.DelPortRequest) (*pb.DelPortResponse, error) {
	if r.GetBridge() != "" {
		if err := checkName("bridge", r.GetBridge()); err != nil {
			return nil, err
		}
	}
	if err := checkName("port", r.GetPort()); err != nil {
		return nil, err
	}
	// A bridge's own port goes only with the bridge: the request is well
	// formed, the switch's state forbids it.
	if slices.Contains(s.sw.ListBridges(), r.GetPort()) {
		return nil, status.Errorf(codes.FailedPrecondition, "cannot delete port %s: it is bridge %s's own internal port (use del-br %s)", r.GetPort(), r.GetPort(), r.GetPort())
	}
	if err := s.sw.DelPort(r.GetBridge(), r.GetPort(), r.GetIfExists()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DelPortResponse{}, nil
}

func (s *service) ListPorts(_ context.Context, r *pb.ListPortsRequest) (*pb.ListPortsResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	names, err := s.sw.ListPorts(r.GetBridge())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ListPortsResponse{Names: names}, nil
}

func (s *service) PortToBridge(_ context.Context, r *pb.PortToBridgeRequest) (*pb.PortToBridgeResponse, error) {
	if err := checkName("port", r.GetPort()); err != nil {
		return nil, err
	}
	br, err := s.sw.PortToBridge(r.GetPort())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PortToBridgeResponse{Bridge: br}, nil
}

func (s *service) Set(_ context.Context, r *pb.SetRequest) (*pb.SetResponse, error) {
	if err := checkTable(r.GetTable()); err != nil {
		return nil, err
	}
	if err := checkName("record", r.GetRecord()); err != nil {
		return nil, err
	}
	if len(r.GetSettings()) == 0 {
		return nil, invalid("settings: at least one column=value is required")
	}
	settings := make([]bridge.Setting, 0, len(r.GetSettings()))
	for i, st := range r.GetSettings() {
		if st.GetColumn() == "" {
			return nil, invalid("settings[%d].column is required", i)
		}
		settings = append(settings, bridge.Setting{Column: st.GetColumn(), Key: st.GetKey(), Value: st.GetValue()})
	}
	if err := s.sw.Set(r.GetTable(), r.GetRecord(), settings); err != nil {
		return nil, toStatus(err)
	}
	return &pb.SetResponse{}, nil
}

func (s *service) Get(_ context.Context, r *pb.GetRequest) (*pb.GetResponse, error) {
	if err := checkTable(r.GetTable()); err != nil {
		return nil, err
	}
	if err := checkName("record", r.GetRecord()); err != nil {
		return nil, err
	}
	if err := checkName("column", r.GetColumn()); err != nil {
		return nil, err
	}
	v, err := s.sw.Get(r.GetTable(), r.GetRecord(), r.GetColumn())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetResponse{Value: v}, nil
}

func (s *service) Show(context.Context, *pb.ShowRequest) (*pb.ShowResponse, error) {
	views := s.sw.Show()
	resp := &pb.ShowResponse{Bridges: make([]*pb.Bridge, 0, len(views))}
	for _, bv := range views {
		b := &pb.Bridge{Name: bv.Name, FailMode: bv.FailMode, DatapathType: bv.DatapathType, Ports: make([]*pb.Port, 0, len(bv.Ports))}
		for _, pv := range bv.Ports {
			b.Ports = append(b.Ports, portToProto(pv))
		}
		resp.Bridges = append(resp.Bridges, b)
	}
	return resp, nil
}

func portToProto(pv bridge.PortView) *pb.Port {
	p := &pb.Port{
		Name:          pv.Name,
		Ofport:        int32(pv.Ofport),
		DpPort:        pv.DPPort,
		Type:          pv.Type,
		Options:       pv.Options,
		MtuRequest:    int32(pv.MTURequest),
		OfportRequest: int32(pv.OfportRequest),
		VlanMode:      pv.VlanMode,
		Error:         oneLine(pv.Error),
		Status:        pv.Status,
		ExternalIds:   pv.ExternalIDs,
		Stats: &pb.PortStats{
			RxPackets:   pv.Stats.RxPackets,
			RxBytes:     pv.Stats.RxBytes,
			RxDropped:   pv.Stats.RxDropped,
			RxErrors:    pv.Stats.RxErrors,
			TxPackets:   pv.Stats.TxPackets,
			TxBytes:     pv.Stats.TxBytes,
			TxDropped:   pv.Stats.TxDropped,
			TxErrors:    pv.Stats.TxErrors,
			RxTruncated: pv.Stats.RxTruncated,
		},
	}
	if pv.Tag != nil {
		tag := int32(*pv.Tag)
		p.Tag = &tag
	}
	for _, t := range pv.Trunks {
		p.Trunks = append(p.Trunks, int32(t))
	}
	return p
}

func (s *service) FdbShow(_ context.Context, r *pb.FdbShowRequest) (*pb.FdbShowResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	entries, err := s.sw.FDB(r.GetBridge())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.FdbShowResponse{Entries: make([]*pb.FdbEntry, 0, len(entries))}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, &pb.FdbEntry{
			Ofport:   int32(e.Ofport),
			PortName: e.PortName,
			Vlan:     int32(e.VLAN),
			Mac:      e.MAC,
			Age:      durationpb.New(e.Age),
		})
	}
	return resp, nil
}

func (s *service) FdbFlush(_ context.Context, r *pb.FdbFlushRequest) (*pb.FdbFlushResponse, error) {
	if r.GetBridge() != "" {
		if err := checkName("bridge", r.GetBridge()); err != nil {
			return nil, err
		}
	}
	if err := s.sw.FlushFDB(r.GetBridge()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.FdbFlushResponse{}, nil
}

func (s *service) AddFlow(_ context.Context, r *pb.AddFlowRequest) (*pb.AddFlowResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if strings.TrimSpace(r.GetFlow()) == "" {
		return nil, invalid("flow is required")
	}
	add := s.sw.AddFlow
	if r.GetTransient() {
		ta, ok := s.sw.(transientAdder)
		if !ok {
			return nil, status.Error(codes.Unimplemented, "transient: this switch cannot keep rules out of its store")
		}
		add = func(br, flow string) error { return ta.AddFlowTransient(br, flow, true) }
	}
	if err := add(r.GetBridge(), r.GetFlow()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.AddFlowResponse{}, nil
}

// transientAdder adds rules that live in the datapath but not in the store
// (*bridge.Switch has it; a switchAPI need not).
type transientAdder interface {
	AddFlowTransient(bridge, flow string, transient bool) error
	AddFlowsTransient(bridge string, flows []string, transient bool) error
}

func (s *service) DelFlows(_ context.Context, r *pb.DelFlowsRequest) (*pb.DelFlowsResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if err := s.sw.DelFlows(r.GetBridge(), r.GetMatch(), r.GetStrict()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DelFlowsResponse{}, nil
}

func (s *service) DumpFlows(_ context.Context, r *pb.DumpFlowsRequest) (*pb.DumpFlowsResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	flows, err := s.sw.DumpFlows(r.GetBridge(), r.GetMatch(), r.GetNames())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.DumpFlowsResponse{Flows: make([]*pb.Flow, 0, len(flows))}
	for _, f := range flows {
		resp.Flows = append(resp.Flows, &pb.Flow{
			Table:    int32(f.Table),
			Priority: int32(f.Priority),
			Cookie:   f.Cookie,
			Duration: durationpb.New(f.Duration),
			NPackets: f.Packets,
			NBytes:   f.Bytes,
			Text:     f.Text,
		})
	}
	return resp, nil
}

// checkFlows rejects empty lines of a flow list with the "flow N: " prefix
// the bridge layer uses for its own errors about one of them, so a client
// can map N back to where the line came from.
func checkFlows(flows []string) error {
	for i, f := range flows {
		if strings.TrimSpace(f) == "" {
			return invalid("flow %d: empty flow", i+1)
		}
		if strings.ContainsAny(f, "\r\n") {
			return invalid("flow %d: contains a line break", i+1)
		}
	}
	return nil
}

func (s *service) AddFlows(_ context.Context, r *pb.AddFlowsRequest) (*pb.AddFlowsResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if err := checkFlows(r.GetFlows()); err != nil {
		return nil, err
	}
	add := s.sw.AddFlows
	if r.GetTransient() {
		ta, ok := s.sw.(transientAdder)
		if !ok {
			return nil, status.Error(codes.Unimplemented, "transient: this switch cannot keep rules out of its store")
		}
		add = func(br string, flows []string) error { return ta.AddFlowsTransient(br, flows, true) }
	}
	if err := add(r.GetBridge(), r.GetFlows()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.AddFlowsResponse{}, nil
}

func (s *service) ModFlows(_ context.Context, r *pb.ModFlowsRequest) (*pb.ModFlowsResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if strings.TrimSpace(r.GetFlow()) == "" {
		return nil, invalid("flow is required")
	}
	if err := s.sw.ModFlows(r.GetBridge(), r.GetFlow(), r.GetStrict()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.ModFlowsResponse{}, nil
}

func (s *service) ReplaceFlows(_ context.Context, r *pb.ReplaceFlowsRequest) (*pb.ReplaceFlowsResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if err := checkFlows(r.GetFlows()); err != nil {
		return nil, err
	}
	if err := s.sw.ReplaceFlows(r.GetBridge(), r.GetFlows()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReplaceFlowsResponse{}, nil
}

func (s *service) DumpPorts(_ context.Context, r *pb.DumpPortsRequest) (*pb.DumpPortsResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if r.GetPort() != "" {
		if err := checkName("port", r.GetPort()); err != nil {
			return nil, err
		}
	}
	ports, err := s.sw.DumpPorts(r.GetBridge(), r.GetPort())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.DumpPortsResponse{Ports: make([]*pb.Port, 0, len(ports))}
	for _, pv := range ports {
		resp.Ports = append(resp.Ports, portToProto(pv))
	}
	return resp, nil
}

func (s *service) DumpTables(_ context.Context, r *pb.DumpTablesRequest) (*pb.DumpTablesResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	tables, err := s.sw.DumpTables(r.GetBridge())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.DumpTablesResponse{Tables: make([]*pb.TableStats, 0, len(tables))}
	for _, t := range tables {
		resp.Tables = append(resp.Tables, &pb.TableStats{
			Table: int32(t.Table), Active: int32(t.Active), Lookups: t.Lookups, Matched: t.Matched,
		})
	}
	return resp, nil
}

func (s *service) DumpAggregate(_ context.Context, r *pb.DumpAggregateRequest) (*pb.DumpAggregateResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	packets, bytes, flows, err := s.sw.DumpAggregate(r.GetBridge(), r.GetMatch())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DumpAggregateResponse{Packets: packets, Bytes: bytes, Flows: uint64(max(flows, 0))}, nil
}

func (s *service) Trace(_ context.Context, r *pb.TraceRequest) (*pb.TraceResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if strings.TrimSpace(r.GetFlow()) == "" {
		return nil, invalid("flow is required")
	}
	tv, err := s.sw.Trace(r.GetBridge(), r.GetFlow())
	if err != nil {
		return nil, toStatus(err)
	}
	if tv == nil {
		return nil, status.Error(codes.Internal, "trace returned nothing")
	}
	resp := &pb.TraceResponse{
		Flow:            tv.Flow,
		Steps:           make([]*pb.TraceStep, 0, len(tv.Steps)),
		DatapathActions: tv.DatapathActions,
		Megaflow:        tv.Megaflow,
	}
	for _, st := range tv.Steps {
		resp.Steps = append(resp.Steps, &pb.TraceStep{
			Depth: int32(st.Depth), Bridge: st.Bridge, Table: int32(st.Table),
			Rule: st.Rule, Actions: st.Actions, Note: st.Note,
		})
	}
	return resp, nil
}

func (s *service) PmdRxqs(context.Context, *pb.PmdRxqsRequest) (*pb.PmdRxqsResponse, error) {
	return &pb.PmdRxqsResponse{Rxqs: rxqsPB(s.sw.PMDRxqs()), Assign: s.sw.RxqAssign()}, nil
}

func (s *service) PmdRxqRebalance(context.Context, *pb.PmdRxqRebalanceRequest) (*pb.PmdRxqRebalanceResponse, error) {
	return &pb.PmdRxqRebalanceResponse{Rxqs: rxqsPB(s.sw.RebalanceRxqs())}, nil
}

func rxqsPB(rxqs []bridge.RxqView) []*pb.Rxq {
	out := make([]*pb.Rxq, 0, len(rxqs))
	for _, q := range rxqs {
		out = append(out, &pb.Rxq{Pmd: int32(q.PMD), Core: int32(q.Core), Port: q.Port, Queue: int32(q.Queue), Usage: q.Usage})
	}
	return out
}

func (s *service) DumpDatapathFlows(_ context.Context, r *pb.DumpDatapathFlowsRequest) (*pb.DumpDatapathFlowsResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	flows, err := s.sw.DatapathFlows(r.GetBridge())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.DumpDatapathFlowsResponse{Flows: make([]*pb.DatapathFlow, 0, len(flows))}
	for _, f := range flows {
		resp.Flows = append(resp.Flows, &pb.DatapathFlow{
			Pmd:     int32(f.PMD),
			Match:   f.Match,
			Actions: f.Actions,
			Packets: f.Packets,
			Bytes:   f.Bytes,
			Used:    durationpb.New(f.Used),
			Age:     durationpb.New(f.Age),
		})
	}
	return resp, nil
}

func (s *service) PmdStats(context.Context, *pb.PmdStatsRequest) (*pb.PmdStatsResponse, error) {
	stats := s.sw.PMDStats()
	resp := &pb.PmdStatsResponse{Pmds: make([]*pb.PmdStats, 0, len(stats))}
	for _, st := range stats {
		resp.Pmds = append(resp.Pmds, &pb.PmdStats{
			Id:               int32(st.ID),
			Core:             int32(st.Core),
			Packets:          st.Packets,
			EmcHits:          st.EMCHits,
			MegaflowHits:     st.MegaflowHits,
			Upcalls:          st.Upcalls,
			UpcallsLost:      st.UpcallsLost,
			Revalidations:    st.Revalidations,
			Malformed:        st.Malformed,
			TxDropped:        st.TxDropped,
			Iterations:       st.Iterations,
			Parks:            st.Parks,
			BusyNanos:        st.BusyNanos,
			Megaflows:        st.Megaflows,
			Expired:          st.Expired,
			TunnelPushes:     st.TunnelPushes,
			TunnelPops:       st.TunnelPops,
			TunnelMtuDrops:   st.TunnelMTUDrops,
			TunnelDrops:      tunnelDrops(&st),
			TunnelFragNeeded: st.TunnelFragNeeded,
			IdleNanos:        st.IdleNanos,
			ParkedNanos:      st.ParkedNanos,
			FlowLimitHits:    st.FlowLimitHits,
		})
	}
	return resp, nil
}

func (s *service) PmdStatsClear(context.Context, *pb.PmdStatsClearRequest) (*pb.PmdStatsClearResponse, error) {
	s.sw.ClearPMDStats()
	return &pb.PmdStatsClearResponse{}, nil
}

// tunnelDrops names a PMD's nonzero decapsulation drops by reason.
func tunnelDrops(st *datapath.PMDStats) map[string]uint64 {
	var m map[string]uint64
	for r, n := range st.TunnelDrops {
		if n == 0 {
			continue
		}
		if m == nil {
			m = map[string]uint64{}
		}
		name := "nested_or_full"
		if r < int(vxlan.NumDropReasons) {
			name = vxlan.DropReason(r).String()
		}
		m[name] = n
	}
	return m
}
