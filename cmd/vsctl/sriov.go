package main

import (
	"fmt"
	"io"

	pb "vswitch/proto/vswitch/v1"
)

// formatSriov prints sriov/show: one block per PF, one line per VF.
func formatSriov(w io.Writer, r *pb.SriovShowResponse) {
	if len(r.GetPfs()) == 0 {
		fmt.Fprintln(w, "no SR-IOV physical functions")
		return
	}
	for _, pf := range r.GetPfs() {
		carrier := "no-carrier"
		if pf.GetCarrier() {
			carrier = "carrier"
		}
		fmt.Fprintf(w, "%s: pci %s driver %s vfs %d/%d autoprobe %t %s %s\n", pf.GetName(), pf.GetPci(),
			orDash(pf.GetDriver()), pf.GetNumVfs(), pf.GetTotalVfs(), pf.GetAutoprobe(), orDash(pf.GetOperState()), carrier)
		for _, v := range pf.GetVfs() {
			fmt.Fprintf(w, "  vf %d: pci %s driver %s netdev %s mac %s vlan %d qos %d spoofchk %s trust %s link %s rate %d-%d port %s\n",
				v.GetIndex(), v.GetPci(), orDash(v.GetDriver()), orDash(v.GetNetdev()), orDash(v.GetMac()), v.GetVlan(), v.GetQos(),
				onOff(v.GetSpoofchk()), onOff(v.GetTrust()), v.GetLinkState(), v.GetMinRate(), v.GetMaxRate(), orDash(v.GetPort()))
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
