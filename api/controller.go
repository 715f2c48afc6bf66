package api

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"vswitch/bridge"
	"vswitch/openflow"
	pb "vswitch/proto/vswitch/v1"
)

// controllerAPI is the controller channel and Watch part of *bridge.Switch.
// It is separate from switchAPI so unit-test fakes need not implement it.
type controllerAPI interface {
	OpenController(bridge, name string, queueLen int) (*bridge.Controller, bridge.ControllerReady, error)
	ControllerStatus(bridge string) ([]bridge.ControllerInfo, error)
	Watch(bridge string) (*bridge.Watcher, error)
}

var _ controllerAPI = (*bridge.Switch)(nil)

func (s *service) controllers() (controllerAPI, error) {
	c, ok := s.sw.(controllerAPI)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this switch has no controller channel")
	}
	return c, nil
}

// Controller serves one controller's bidirectional stream. A single
// goroutine sends (gRPC streams allow one sender); the receiver hands it
// packet-out results and echo replies.
func (s *service) Controller(stream pb.Vswitch_ControllerServer) error {
	api, err := s.controllers()
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	switch {
	case hello == nil:
		return status.Error(codes.InvalidArgument, "hello: the first message of a controller stream must be hello")
	case hello.Bridge == "":
		return status.Error(codes.InvalidArgument, "hello.bridge: empty bridge name")
	case hello.QueueLen > bridge.MaxPacketInQueue:
		return status.Errorf(codes.InvalidArgument, "hello.queue_len: %d out of range (1 to %d)", hello.QueueLen, bridge.MaxPacketInQueue)
	}
	name := hello.Name
	if name == "" {
		name = "controller"
	}
	ctl, ready, err := api.OpenController(hello.Bridge, name, int(hello.QueueLen))
	if err != nil {
		return toStatus(err)
	}
	defer ctl.Close()

	rd := &pb.ControllerReady{Bridge: ready.Bridge, FailMode: ready.FailMode}
	for i := range ready.Ports {
		rd.Ports = append(rd.Ports, portStatusPB(&ready.Ports[i]))
	}
	if err := stream.Send(&pb.ControllerEvent{Event: &pb.ControllerEvent_Ready{Ready: rd}}); err != nil {
		return err
	}

	ctx := stream.Context()
	replies := make(chan *pb.ControllerEvent, 64)
	recvErr := make(chan error, 1)
	go func() { recvErr <- receiveControllerMessages(ctx, stream, ctl, replies) }()
	for {
		var ev *pb.ControllerEvent
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case pi := <-ctl.PacketIns():
			err := stream.Send(&pb.ControllerEvent{Event: &pb.ControllerEvent_PacketIn{PacketIn: &pb.PacketIn{
				Reason: packetInReasons[pi.Reason], Table: uint32(pi.Table), Cookie: pi.Cookie,
				InPort: uint32(pi.InPort), InPortName: ctl.PortName(pi.InPort), TotalLen: uint32(pi.TotalLen),
				Data: pi.Data, ControllerId: uint32(pi.ControllerID), Dropped: pi.Dropped,
			}}})
			ctl.Release(pi) // Send has marshalled Data
			if err != nil {
				return err
			}
			continue
		case e := <-ctl.Events():
			ev = controllerEventPB(e)
		case ev = <-replies:
		}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
}

// receiveControllerMessages runs packet-outs and echoes until the stream
// ends. A bad packet-out is answered with its error; the stream goes on.
func receiveControllerMessages(ctx context.Context, stream pb.Vswitch_ControllerServer, ctl *bridge.Controller, replies chan<- *pb.ControllerEvent) error {
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		var reply *pb.ControllerEvent
		switch msg := m.Msg.(type) {
		case *pb.ControllerRequest_PacketOut:
			po := msg.PacketOut
			res := &pb.PacketOutResult{Xid: po.Xid}
			if err := ctl.PacketOut(int(po.InPort), po.InPortName, po.Frame, po.Actions); err != nil {
				res.Error = status.Convert(toStatus(err)).Message()
			}
			if po.Xid != 0 || res.Error != "" {
				reply = &pb.ControllerEvent{Event: &pb.ControllerEvent_PacketOutResult{PacketOutResult: res}}
			}
		case *pb.ControllerRequest_Echo:
			reply = &pb.ControllerEvent{Event: &pb.ControllerEvent_EchoReply{EchoReply: msg.Echo}}
		case *pb.ControllerRequest_Hello:
			return status.Error(codes.InvalidArgument, "hello: sent twice on one stream")
		default:
			return status.Error(codes.InvalidArgument, "msg: empty or unknown controller message")
		}
		if reply == nil {
			continue
		}
		select {
		case replies <- reply:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func portStatusPB(p *bridge.PortStatusEvent) *pb.PortStatus {
	r := pb.PortStatusReason_PORT_STATUS_REASON_MODIFY
	switch p.Reason {
	case "add":
		r = pb.PortStatusReason_PORT_STATUS_REASON_ADD
	case "delete":
		r = pb.PortStatusReason_PORT_STATUS_REASON_DELETE
	}
	return &pb.PortStatus{Reason: r, Port: p.Port, Ofport: uint32(p.Ofport), Up: p.Up, Status: p.Status, Type: p.Type}
}

func controllerEventPB(e bridge.ControllerEvent) *pb.ControllerEvent {
	if e.PortStatus != nil {
		return &pb.ControllerEvent{Event: &pb.ControllerEvent_PortStatus{PortStatus: portStatusPB(e.PortStatus)}}
	}
	f := e.FlowRemoved
	r := pb.FlowRemovedReason_FLOW_REMOVED_REASON_DELETE
	switch f.Reason {
	case "idle_timeout":
		r = pb.FlowRemovedReason_FLOW_REMOVED_REASON_IDLE_TIMEOUT
	case "hard_timeout":
		r = pb.FlowRemovedReason_FLOW_REMOVED_REASON_HARD_TIMEOUT
	}
	return &pb.ControllerEvent{Event: &pb.ControllerEvent_FlowRemoved{FlowRemoved: &pb.FlowRemoved{
		Reason: r, Table: uint32(f.Table), Priority: uint32(f.Priority), Cookie: f.Cookie, Match: f.Match,
		Duration: durationpb.New(f.Duration), Packets: f.Packets, Bytes: f.Bytes,
		IdleTimeout: uint32(f.IdleTimeout), HardTimeout: uint32(f.HardTimeout),
	}}}
}

// ControllerStatus lists the connected controllers.
func (s *service) ControllerStatus(_ context.Context, req *pb.ControllerStatusRequest) (*pb.ControllerStatusResponse, error) {
	api, err := s.controllers()
	if err != nil {
		return nil, err
	}
	infos, err := api.ControllerStatus(req.Bridge)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ControllerStatusResponse{}
	for _, c := range infos {
		out.Controllers = append(out.Controllers, &pb.ControllerInfo{
			Bridge: c.Bridge, Name: c.Name, ConnectedFor: durationpb.New(c.ConnectedFor),
			PacketInsSent: c.PacketInsSent, PacketInsDropped: c.PacketInsDropped,
			PacketOuts: c.PacketOuts, QueueLen: uint32(c.QueueLen),
		})
	}
	return out, nil
}

var packetInReasons = map[openflow.ControllerReason]pb.PacketInReason{
	openflow.ReasonAction:     pb.PacketInReason_PACKET_IN_REASON_ACTION,
	openflow.ReasonNoMatch:    pb.PacketInReason_PACKET_IN_REASON_NO_MATCH,
	openflow.ReasonInvalidTTL: pb.PacketInReason_PACKET_IN_REASON_INVALID_TTL,
	openflow.ReasonActionSet:  pb.PacketInReason_PACKET_IN_REASON_ACTION_SET,
	openflow.ReasonGroup:      pb.PacketInReason_PACKET_IN_REASON_GROUP,
	openflow.ReasonPacketOut:  pb.PacketInReason_PACKET_IN_REASON_PACKET_OUT,
}

var watchKinds = map[string]pb.WatchEventKind{
	bridge.EventExisting:       pb.WatchEventKind_WATCH_EVENT_KIND_EXISTING,
	bridge.EventSynced:         pb.WatchEventKind_WATCH_EVENT_KIND_SYNCED,
	bridge.EventBridgeAdded:    pb.WatchEventKind_WATCH_EVENT_KIND_BRIDGE_ADDED,
	bridge.EventBridgeDeleted:  pb.WatchEventKind_WATCH_EVENT_KIND_BRIDGE_DELETED,
	bridge.EventBridgeModified: pb.WatchEventKind_WATCH_EVENT_KIND_BRIDGE_MODIFIED,
	bridge.EventPortAdded:      pb.WatchEventKind_WATCH_EVENT_KIND_PORT_ADDED,
	bridge.EventPortDeleted:    pb.WatchEventKind_WATCH_EVENT_KIND_PORT_DELETED,
	bridge.EventPortModified:   pb.WatchEventKind_WATCH_EVENT_KIND_PORT_MODIFIED,
	bridge.EventPortUp:         pb.WatchEventKind_WATCH_EVENT_KIND_PORT_UP,
	bridge.EventPortDown:       pb.WatchEventKind_WATCH_EVENT_KIND_PORT_DOWN,
}

// Watch streams configuration and port-state changes.
func (s *service) Watch(req *pb.WatchRequest, stream pb.Vswitch_WatchServer) error {
	api, err := s.controllers()
	if err != nil {
		return err
	}
	w, err := api.Watch(req.Bridge)
	if err != nil {
		return toStatus(err)
	}
	defer w.Close()
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case e, ok := <-w.Events():
			if !ok {
				if w.Lost() {
					return status.Error(codes.ResourceExhausted, "watch fell behind and lost events: watch again")
				}
				return status.Error(codes.Unavailable, "vswitchd is shutting down")
			}
			kind, ok := watchKinds[e.Kind]
			if !ok {
				return status.Error(codes.Internal, fmt.Sprintf("unknown event kind %q", e.Kind))
			}
			err := stream.Send(&pb.WatchEvent{Kind: kind, Bridge: e.Bridge, Port: e.Port, Ofport: uint32(e.Ofport),
				Type: e.Type, Up: e.Up, Status: e.Status})
			if err != nil {
				return err
			}
		}
	}
}
