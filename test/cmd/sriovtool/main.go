// Command sriovtool is the SR-IOV helper the end-to-end test runs inside
// the igb guest, on the project's sriov package: it creates VFs, reads VF
// settings back from rtnetlink independently of vswitchd, changes one
// behind the switch's back (drift), and records the sysfs tree the unit
// tests replay.
//
//	sriovtool numvfs PF N            create N VFs (autoprobe off, bind igbvf)
//	sriovtool show PF                one "SRIOV-VF ..." line per VF
//	sriovtool set PF VF key=value... mac= vlan= qos= spoofchk= trust= link_state= max_rate=
//	sriovtool record                 the PF/VF sysfs entries, one per line
//	sriovtool filters DEV            the netdev's unicast fdb entries
//	sriovtool veth NAME PEER         a veth pair (busybox ip cannot), NAME up
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"vswitch/sriov"

	"github.com/vishvananda/netlink"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sriovtool:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: sriovtool numvfs|show|set|record|filters|veth ARGS")
	}
	switch args[0] {
	case "numvfs":
		if len(args) != 3 {
			return fmt.Errorf("usage: sriovtool numvfs PF N")
		}
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return fmt.Errorf("count %q: not a number", args[2])
		}
		pf, err := sriov.LookupPF(args[1])
		if err != nil {
			return err
		}
		if err := pf.SetNumVFs(n, sriov.NumVFsOptions{}); err != nil {
			return err
		}
		fmt.Printf("SRIOV-NUMVFS pf=%s numvfs=%d vfs=%d autoprobe=%t\n", pf.Name, pf.NumVFs, len(pf.VFs), pf.Autoprobe)
		return nil
	case "show":
		if len(args) != 2 {
			return fmt.Errorf("usage: sriovtool show PF")
		}
		pf, err := sriov.LookupPF(args[1])
		if err != nil {
			return err
		}
		fmt.Printf("SRIOV-PF name=%s pci=%s driver=%s totalvfs=%d numvfs=%d carrier=%t\n", pf.Name, pf.PCI, pf.Driver, pf.TotalVFs, pf.NumVFs, pf.Carrier)
		for _, v := range pf.VFs {
			fmt.Printf("SRIOV-VF vf=%d pci=%s driver=%s netdev=%s mac=%s vlan=%d qos=%d spoofchk=%t trust=%t link_state=%s max_rate=%d\n",
				v.Index, v.PCI, v.Driver, v.Netdev, v.MAC, v.VLAN, v.QoS, v.Spoofchk, v.Trust, sriov.LinkStateName(v.LinkState), v.MaxRate)
		}
		return nil
	case "set":
		if len(args) < 4 {
			return fmt.Errorf("usage: sriovtool set PF VF key=value [key=value]")
		}
		idx, err := strconv.Atoi(args[2])
		if err != nil {
			return fmt.Errorf("VF %q: not a number", args[2])
		}
		var c sriov.Config
		for _, kv := range args[3:] {
			k, v, _ := strings.Cut(kv, "=")
			if err := setField(&c, k, v); err != nil {
				return err
			}
		}
		vf, err := sriov.System.LookupVF(args[1], idx)
		if err != nil {
			return err
		}
		if err := vf.Configure(c); err != nil {
			return err
		}
		fmt.Printf("SRIOV-SET ok vf=%d\n", idx)
		return nil
	case "filters":
		macs, err := sriov.UnicastFilters(args[1])
		if err != nil {
			return err
		}
		s := make([]string, len(macs))
		for i, m := range macs {
			s[i] = m.String()
		}
		fmt.Printf("SRIOV-FILTERS dev=%s n=%d macs=%s\n", args[1], len(macs), strings.Join(s, ","))
		return nil
	case "record":
		return record()
	case "veth":
		if len(args) != 3 {
			return fmt.Errorf("usage: sriovtool veth NAME PEER")
		}
		la := netlink.NewLinkAttrs()
		la.Name = args[1]
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: args[2]}); err != nil {
			return fmt.Errorf("veth %s/%s: %w", args[1], args[2], err)
		}
		l, err := netlink.LinkByName(args[1])
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func setField(c *sriov.Config, k, v string) error {
	var err error
	switch k {
	case "mac":
		c.MAC, err = sriov.ParseMAC(v)
	case "vlan":
		var n int
		n, err = sriov.ParseVLAN(v)
		c.VLAN = &n
	case "qos":
		var n int
		n, err = strconv.Atoi(v)
		c.QoS = &n
	case "spoofchk", "trust":
		var b bool
		b, err = sriov.ParseBool(k, v)
		if k == "trust" {
			c.Trust = &b
		} else {
			c.Spoofchk = &b
		}
	case "link_state":
		var s uint32
		s, err = sriov.ParseLinkState(v)
		c.LinkState = &s
	case "max_rate":
		var n int
		n, err = strconv.Atoi(v)
		c.MaxRate = &n
	default:
		return fmt.Errorf("unknown setting %q", k)
	}
	return err
}

// record prints, for every netdev with a PCI device, the sysfs entries
// the sriov package reads, as "L path target" (symlink, target reduced to
// the canonical bus/pci path) and "F path value" lines relative to /sys.
func record() error {
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var pci func(addr string)
	pci = func(addr string) {
		if seen[addr] {
			return
		}
		seen[addr] = true
		dir := "/sys/bus/pci/devices/" + addr
		rel := "bus/pci/devices/" + addr
		fmt.Printf("D %s\n", rel)
		for _, f := range []string{"sriov_totalvfs", "sriov_numvfs", "sriov_drivers_autoprobe", "sriov_offset", "sriov_stride", "vendor", "device", "driver_override"} {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				fmt.Printf("F %s/%s %s\n", rel, f, strings.TrimSpace(string(b)))
			}
		}
		if t, err := os.Readlink(filepath.Join(dir, "driver")); err == nil {
			fmt.Printf("L %s/driver bus/pci/drivers/%s\n", rel, filepath.Base(t))
		}
		if t, err := os.Readlink(filepath.Join(dir, "physfn")); err == nil {
			fmt.Printf("L %s/physfn bus/pci/devices/%s\n", rel, filepath.Base(t))
		}
		if ns, err := os.ReadDir(filepath.Join(dir, "net")); err == nil {
			for _, n := range ns {
				fmt.Printf("D %s/net/%s\n", rel, n.Name())
			}
		}
		for i := 0; ; i++ {
			t, err := os.Readlink(filepath.Join(dir, "virtfn"+strconv.Itoa(i)))
			if err != nil {
				break
			}
			fmt.Printf("L %s/virtfn%d bus/pci/devices/%s\n", rel, i, filepath.Base(t))
			pci(filepath.Base(t))
		}
	}
	for _, e := range ents {
		t, err := os.Readlink("/sys/class/net/" + e.Name() + "/device")
		if err != nil {
			continue
		}
		addr := filepath.Base(t)
		fmt.Printf("L class/net/%s/device bus/pci/devices/%s\n", e.Name(), addr)
		for _, f := range []string{"operstate", "carrier", "address", "flags"} {
			if b, err := os.ReadFile("/sys/class/net/" + e.Name() + "/" + f); err == nil {
				fmt.Printf("F class/net/%s/%s %s\n", e.Name(), f, strings.TrimSpace(string(b)))
			}
		}
		pci(addr)
	}
	return nil
}
