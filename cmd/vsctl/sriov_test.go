package main

import (
	"bytes"
	"testing"

	pb "vswitch/proto/vswitch/v1"
)

func TestFormatSriov(t *testing.T) {
	var b bytes.Buffer
	formatSriov(&b, &pb.SriovShowResponse{})
	if b.String() != "no SR-IOV physical functions\n" {
		t.Errorf("empty: %q", b.String())
	}
	b.Reset()
	formatSriov(&b, &pb.SriovShowResponse{Pfs: []*pb.SriovPF{{
		Name: "eth0", Pci: "0000:01:00.0", Driver: "igb", TotalVfs: 7, NumVfs: 2, Autoprobe: true, OperState: "up", Carrier: true,
		Vfs: []*pb.SriovVF{
			{Index: 0, Pci: "0000:01:10.0", Driver: "igbvf", Netdev: "eth1", Mac: "02:00:00:00:01:01", Spoofchk: false, Trust: true, LinkState: "auto", Port: "vf0"},
			{Index: 1, Pci: "0000:01:10.2", Mac: "00:00:00:00:00:00", Vlan: 42, Qos: 3, Spoofchk: true, LinkState: "auto", MaxRate: 100},
		},
	}}})
	want := "eth0: pci 0000:01:00.0 driver igb vfs 2/7 autoprobe true up carrier\n" +
		"  vf 0: pci 0000:01:10.0 driver igbvf netdev eth1 mac 02:00:00:00:01:01 vlan 0 qos 0 spoofchk off trust on link auto rate 0-0 port vf0\n" +
		"  vf 1: pci 0000:01:10.2 driver - netdev - mac 00:00:00:00:00:00 vlan 42 qos 3 spoofchk on trust off link auto rate 0-100 port -\n"
	if b.String() != want {
		t.Errorf("got:\n%swant:\n%s", b.String(), want)
	}
}
