package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"vswitch/bridge"
	pb "vswitch/proto/vswitch/v1"
	"vswitch/vxlan"
)

type tunnelAPI interface {
	TunnelShow() ([]vxlan.Route, []vxlan.Neigh, []bridge.TunnelPortView)
}

var _ tunnelAPI = (*bridge.Switch)(nil)

// TunnelShow lists underlay routes, neighbours and tunnel ports.
func (s *service) TunnelShow(context.Context, *pb.TunnelShowRequest) (*pb.TunnelShowResponse, error) {
	api, ok := s.sw.(tunnelAPI)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this switch has no tunnels")
	}
	routes, neighs, ports := api.TunnelShow()
	out := &pb.TunnelShowResponse{}
	for _, r := range routes {
		tr := &pb.TunnelRoute{Prefix: r.Dst.String(), Dev: r.OutDev, Metric: int32(r.Metric), Type: r.TypeName()}
		if r.Gateway.IsValid() {
			tr.Gateway = r.Gateway.String()
		}
		if r.Src.IsValid() {
			tr.Src = r.Src.String()
		}
		out.Routes = append(out.Routes, tr)
	}
	for _, n := range neighs {
		out.Neighbours = append(out.Neighbours, &pb.TunnelNeighbour{Ip: n.IP.String(), Mac: n.MACString(),
			Dev: n.Dev, State: n.State.String(), Learned: n.Learned})
	}
	for _, p := range ports {
		out.Ports = append(out.Ports, &pb.TunnelPort{Bridge: p.Bridge, Port: p.Port, RemoteIp: p.RemoteIP,
			LocalIp: p.LocalIP, Key: p.Key, DstPort: uint32(p.DstPort), Vport: p.VPort})
	}
	return out, nil
}
