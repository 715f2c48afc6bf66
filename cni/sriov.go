package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"vswitch/sriov"
)

// vfState is what ADD records about the VF it handed out, so DEL, CHECK
// and GC find it again: one JSON file per attachment under
// <socketDir>/sriov, written before the netdev moves.
type vfState struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifName"`
	Netns       string `json:"netns"`
	Network     string `json:"network"`
	PF          string `json:"pf"`
	VF          int    `json:"vf"`
	PCI         string `json:"pci"`
	Netdev      string `json:"netdev"` // the VF netdev's host name before ADD, restored by DEL
}

func (c *NetConf) sriovDir() string { return filepath.Join(c.SocketDir, "sriov") }

func (a *attachment) statePath() string {
	return filepath.Join(a.conf.sriovDir(), a.port+".json")
}

// lockSRIOV serializes VF allocation between concurrent ADDs.
func (c *NetConf) lockSRIOV() (func(), error) {
	if err := os.MkdirAll(c.sriovDir(), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(c.sriovDir(), ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// allocated lists the VF PCI addresses recorded by live attachments.
func (c *NetConf) allocated() (map[string]bool, []vfState) {
	used := map[string]bool{}
	var states []vfState
	files, _ := filepath.Glob(filepath.Join(c.sriovDir(), "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		var s vfState
		if err != nil || json.Unmarshal(b, &s) != nil {
			continue
		}
		used[s.PCI] = true
		states = append(states, s)
	}
	return used, states
}

// addSRIOV hands the pod a free VF of conf.PF: configured (MAC, VLAN,
// spoofchk, trust), its netdev moved into the pod's namespace under
// CNI_IFNAME with the IPAM addresses.
func (a *attachment) addSRIOV(_ context.Context, _ *daemon, result *current.Result) (err error) {
	if _, err := sriov.LookupPF(a.conf.PF); err != nil { // before anything is created
		return types.NewError(ErrSRIOVUnsupport, fmt.Sprintf("pf %s: %v", a.conf.PF, err), "")
	}
	unlock, err := a.conf.lockSRIOV()
	if err != nil {
		return types.NewError(types.ErrIOFailure, fmt.Sprintf("sriov state directory %s: %v", a.conf.sriovDir(), err), "")
	}
	defer unlock()
	pf, err := sriov.LookupPF(a.conf.PF) // again, under the lock
	if err != nil {
		return types.NewError(ErrSRIOVUnsupport, fmt.Sprintf("pf %s: %v", a.conf.PF, err), "")
	}
	used, _ := a.conf.allocated()
	var vf *sriov.VF
	for i := range pf.VFs {
		v := &pf.VFs[i]
		if !used[v.PCI] && v.Driver != "" && v.Netdev != "" && v.InUse() == "" {
			vf = v
			break
		}
	}
	if vf == nil {
		return types.NewError(ErrNoFreeVF, fmt.Sprintf("pf %s: no free VF (%d VFs; a free one has a kernel netdev in the host namespace, down and not handed out)", a.conf.PF, len(pf.VFs)), "")
	}
	cfg := sriov.Config{Spoofchk: a.conf.SpoofChk, Trust: a.conf.Trust}
	vlan := a.conf.VLAN
	cfg.VLAN = &vlan
	if m := a.conf.RuntimeConfig.Mac; m != "" {
		cfg.MAC, _ = net.ParseMAC(m)
	}
	hostName := vf.Netdev // Configure may rebind the VF, renaming its netdev
	if err := vf.Configure(cfg); err != nil {
		vf.Reset()
		return types.NewError(types.ErrInternal, fmt.Sprintf("configure %s: %v", vf, err), "")
	}
	st := vfState{ContainerID: a.args.ContainerID, IfName: a.args.IfName, Netns: a.args.Netns, Network: a.conf.Name,
		PF: pf.Name, VF: vf.Index, PCI: vf.PCI, Netdev: hostName}
	if err := writeJSON(a.statePath(), st); err != nil {
		vf.Reset()
		return types.NewError(types.ErrIOFailure, fmt.Sprintf("sriov state %s: %v", a.statePath(), err), "")
	}
	defer func() {
		if err != nil {
			a.delSRIOV()
		}
	}()

	ns, err := netns.GetFromPath(a.args.Netns)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("network namespace %s: %v", a.args.Netns, err), "")
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("netlink in %s: %v", a.args.Netns, err), "")
	}
	defer nh.Close()
	link, err := netlink.LinkByName(vf.Netdev)
	if err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("VF netdev %s: %v", vf.Netdev, err), "")
	}
	netlink.LinkSetDown(link)
	if err := netlink.LinkSetNsFd(link, int(ns)); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("move %s into %s: %v", vf.Netdev, a.args.Netns, err), "")
	}
	pod, err := nh.LinkByName(vf.Netdev)
	if err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("%s in %s: %v", vf.Netdev, a.args.Netns, err), "")
	}
	if err := nh.LinkSetName(pod, a.args.IfName); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("rename %s to %s: %v", vf.Netdev, a.args.IfName, err), "")
	}
	if a.conf.MTU > 0 {
		if err := nh.LinkSetMTU(pod, a.conf.MTU); err != nil {
			return types.NewError(types.ErrInternal, fmt.Sprintf("mtu %d on %s: %v", a.conf.MTU, a.args.IfName, err), "")
		}
	}
	if err := nh.LinkSetUp(pod); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("set %s up: %v", a.args.IfName, err), "")
	}
	if err := applyIPs(nh, pod, result); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("configure %s in %s: %v", a.args.IfName, a.args.Netns, err), "")
	}
	pod, _ = nh.LinkByName(a.args.IfName)
	result.Interfaces = []*current.Interface{{Name: a.args.IfName, Mac: pod.Attrs().HardwareAddr.String(),
		Mtu: pod.Attrs().MTU, Sandbox: a.args.Netns, PciID: vf.PCI}}
	for _, ip := range result.IPs {
		ip.Interface = current.Int(0)
	}
	fmt.Fprintf(os.Stderr, "vswitch-cni: %s is %s (host netdev %s) in %s\n", a.args.IfName, vf, st.Netdev, a.args.Netns)
	return nil
}

// delSRIOV gives the VF back: its netdev returns to the host namespace
// under its old name (the kernel already moved it there if the pod's
// namespace is gone), every VF setting is reset, the record removed.
// Without a record there is nothing to undo.
func (a *attachment) delSRIOV() error {
	b, err := os.ReadFile(a.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sriov state %s: %w", a.statePath(), err)
	}
	var st vfState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("sriov state %s: %w", a.statePath(), err)
	}
	if ns, err := netns.GetFromPath(st.Netns); err == nil {
		if nh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err == nil {
			if l, err := nh.LinkByName(st.IfName); err == nil {
				nh.LinkSetDown(l)
				// Its host name again before it leaves, so it cannot
				// clash with a host netdev named like the pod's.
				nh.LinkSetName(l, st.Netdev)
				host, herr := netns.Get()
				if herr == nil {
					if err := nh.LinkSetNsFd(l, int(host)); err != nil {
						host.Close()
						nh.Close()
						ns.Close()
						return fmt.Errorf("move %s out of %s: %w", st.IfName, st.Netns, err)
					}
					host.Close()
				}
			}
			nh.Close()
		}
		ns.Close()
	}
	pf, err := sriov.LookupPF(st.PF)
	if err != nil {
		return fmt.Errorf("pf %s: %w", st.PF, err)
	}
	vf, err := pf.VF(st.VF)
	if err != nil {
		return err
	}
	// A namespace that just died hands its physical netdevs back to the
	// host asynchronously: give the VF's netdev a moment to reappear.
	for deadline := time.Now().Add(3 * time.Second); vf.Driver != "" && vf.Driver != "vfio-pci" && vf.Netdev == "" && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if pf.Refresh() == nil {
			if vf, err = pf.VF(st.VF); err != nil {
				return err
			}
		}
	}
	// Back in the host namespace the netdev may carry the pod's name
	// (or devN): give it its own name again.
	if vf.Netdev != "" && vf.Netdev != st.Netdev {
		if l, err := netlink.LinkByName(vf.Netdev); err == nil {
			netlink.LinkSetDown(l)
			if err := netlink.LinkSetName(l, st.Netdev); err == nil {
				vf.Netdev = st.Netdev
			}
		}
	}
	if err := vf.Reset(); err != nil {
		return fmt.Errorf("reset %s: %w", vf, err)
	}
	if err := os.Remove(a.statePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// checkSRIOV verifies the record and the pod interface.
func (a *attachment) checkSRIOV() error {
	if _, err := os.Stat(a.statePath()); err != nil {
		return types.NewError(ErrCheckFailed, fmt.Sprintf("no VF recorded for container %s interface %s", a.args.ContainerID, a.args.IfName), "")
	}
	ns, err := netns.GetFromPath(a.args.Netns)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("network namespace %s: %v", a.args.Netns, err), "")
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, err.Error(), "")
	}
	defer nh.Close()
	if _, err := nh.LinkByName(a.args.IfName); err != nil {
		return types.NewError(ErrCheckFailed, fmt.Sprintf("%s in %s: %v", a.args.IfName, a.args.Netns, err), "")
	}
	return nil
}

// gcSRIOV releases the VFs of this network whose attachment is not valid.
func gcSRIOV(c *NetConf, valid map[[2]string]bool) []error {
	var errs []error
	_, states := c.allocated()
	for _, st := range states {
		if st.Network != c.Name || valid[[2]string{st.ContainerID, st.IfName}] {
			continue
		}
		a := &attachment{conf: c, port: PortName(st.ContainerID, st.IfName)}
		errs = append(errs, a.delSRIOV())
	}
	return errs
}
