package api

import (
	"context"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"vswitch/bridge"
	pb "vswitch/proto/vswitch/v1"
)

// Structured forms of ovs-ofctl mod-port and ovs-vsctl set-controller /
// get-controller. They go through the switch's Set and Get, so the store,
// Watch and `vsctl get` see the same columns the command lines set.

func (s *service) ModPort(_ context.Context, r *pb.ModPortRequest) (*pb.ModPortResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	if err := checkName("port", r.GetPort()); err != nil {
		return nil, err
	}
	key, val := "", ""
	switch r.GetAction() {
	case pb.PortAction_PORT_ACTION_UP:
		key = bridge.PortDownKey
	case pb.PortAction_PORT_ACTION_DOWN:
		key, val = bridge.PortDownKey, "true"
	case pb.PortAction_PORT_ACTION_FLOOD:
		key = bridge.NoFloodKey
	case pb.PortAction_PORT_ACTION_NO_FLOOD:
		key, val = bridge.NoFloodKey, "true"
	default:
		return nil, invalid("action %d is not a port action (valid: PORT_ACTION_UP, PORT_ACTION_DOWN, PORT_ACTION_FLOOD, PORT_ACTION_NO_FLOOD)", r.GetAction())
	}
	name, err := s.portOn(r.GetBridge(), r.GetPort())
	if err != nil {
		return nil, err
	}
	if err := s.sw.Set("Port", name, []bridge.Setting{{Column: "other_config", Key: key, Value: val}}); err != nil {
		return nil, toStatus(err)
	}
	return &pb.ModPortResponse{}, nil
}

// portOn resolves a port of br given by name, OpenFlow number or LOCAL.
func (s *service) portOn(br, port string) (string, error) {
	ports, err := s.sw.DumpPorts(br, "")
	if err != nil {
		return "", toStatus(err)
	}
	for _, p := range ports {
		if p.Name == port || strconv.Itoa(p.Ofport) == port || (port == "LOCAL" && p.Name == br) {
			return p.Name, nil
		}
	}
	return "", status.Errorf(codes.NotFound, "no port %s on bridge %s", port, br)
}

func (s *service) SetController(_ context.Context, r *pb.SetControllerRequest) (*pb.SetControllerResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	for i, t := range r.GetTargets() {
		if err := checkName("targets["+strconv.Itoa(i)+"]", t); err != nil {
			return nil, err
		}
		if strings.ContainsAny(t, ",[]\"") {
			return nil, invalid("targets[%d] %q: a target has no commas, brackets or quotes", i, t)
		}
	}
	err := s.sw.Set("Bridge", r.GetBridge(), []bridge.Setting{{Column: "controller", Value: strings.Join(r.GetTargets(), ",")}})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SetControllerResponse{}, nil
}

func (s *service) GetController(_ context.Context, r *pb.GetControllerRequest) (*pb.GetControllerResponse, error) {
	if err := checkName("bridge", r.GetBridge()); err != nil {
		return nil, err
	}
	v, err := s.sw.Get("Bridge", r.GetBridge(), "controller")
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.GetControllerResponse{}
	// Get prints an OVSDB set: [a, "tcp:1.2.3.4:6653"].
	for _, f := range strings.Split(strings.Trim(strings.TrimSpace(v), "[]"), ",") {
		f = strings.TrimSpace(f)
		if u, err := strconv.Unquote(f); err == nil {
			f = u
		}
		if f != "" {
			resp.Targets = append(resp.Targets, f)
		}
	}
	return resp, nil
}
