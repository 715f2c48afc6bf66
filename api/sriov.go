package api

import (
	"context"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"vswitch/datapath/netdev"
	pb "vswitch/proto/vswitch/v1"
	"vswitch/sriov"
)

// SriovShow lists the SR-IOV PFs with their VFs (sysfs and rtnetlink, read
// now) and the sriov-vf port holding each VF.
func (s *service) SriovShow(context.Context, *pb.SriovShowRequest) (*pb.SriovShowResponse, error) {
	pfs, err := netdev.SRIOVHost.Discover()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	claims := netdev.SRIOVClaims()
	out := &pb.SriovShowResponse{}
	for _, pf := range pfs {
		p := &pb.SriovPF{Name: pf.Name, Pci: pf.PCI, Driver: pf.Driver, TotalVfs: int32(pf.TotalVFs),
			NumVfs: int32(pf.NumVFs), Autoprobe: pf.Autoprobe, OperState: pf.OperState, Carrier: pf.Carrier}
		for _, v := range pf.VFs {
			vf := &pb.SriovVF{Index: int32(v.Index), Pci: v.PCI, Driver: v.Driver, Netdev: v.Netdev,
				Vlan: int32(v.VLAN), Qos: int32(v.QoS), Spoofchk: v.Spoofchk, Trust: v.Trust,
				LinkState: sriov.LinkStateName(v.LinkState), MinRate: v.MinRate, MaxRate: v.MaxRate,
				Port: claims[pf.Name+"/"+strconv.Itoa(v.Index)]}
			if v.MAC != nil {
				vf.Mac = v.MAC.String()
			}
			p.Vfs = append(p.Vfs, vf)
		}
		out.Pfs = append(out.Pfs, p)
	}
	return out, nil
}
