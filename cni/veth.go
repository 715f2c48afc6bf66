package cni

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"unsafe"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	pb "vswitch/proto/vswitch/v1"
)

// addVeth creates the veth pair with its pod end already in the pod's
// namespace, attaches the host end to the bridge and applies the IPAM
// result inside the namespace.
func (a *attachment) addVeth(ctx context.Context, d *daemon, result *current.Result) (err error) {
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
	if _, err := nh.LinkByName(a.args.IfName); err == nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("interface %s already exists in %s", a.args.IfName, a.args.Netns), "")
	}

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a.port, MTU: a.conf.MTU}, PeerName: a.args.IfName,
		PeerNamespace: netlink.NsFd(int(ns)), PeerMTU: uint32(a.conf.MTU)}
	if m := a.conf.RuntimeConfig.Mac; m != "" {
		veth.PeerHardwareAddr, _ = net.ParseMAC(m)
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("create veth %s/%s: %v", a.port, a.args.IfName, err), "")
	}
	defer func() {
		if err != nil {
			delVeth(a.port)
		}
	}()
	host, err := netlink.LinkByName(a.port)
	if err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("veth %s: %v", a.port, err), "")
	}
	// The host end carries only the pod's frames: no IPv6 autoconf of its own.
	os.WriteFile("/proc/sys/net/ipv6/conf/"+a.port+"/disable_ipv6", []byte("1"), 0o644)
	if err := netlink.LinkSetUp(host); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("set %s up: %v", a.port, err), "")
	}
	pod, err := nh.LinkByName(a.args.IfName)
	if err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("%s in %s: %v", a.args.IfName, a.args.Netns, err), "")
	}
	if a.conf.HostPortType == "afxdp" {
		// AF_XDP hands the switch raw frames: no TSO/GSO super-frames and
		// no frames with a checksum left to offload may leave the pod.
		if err := inNetns(ns, func() error { return offloadsOff(a.args.IfName) }); err != nil {
			return types.NewError(types.ErrInternal, fmt.Sprintf("turn offloads off on %s: %v", a.args.IfName, err), "")
		}
	}

	typ, err := a.attachHost(ctx, d)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			d.DelPort(context.Background(), &pb.DelPortRequest{Port: a.port, IfExists: true})
		}
	}()

	if err := nh.LinkSetUp(pod); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("set %s up: %v", a.args.IfName, err), "")
	}
	if err := applyIPs(nh, pod, result); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("configure %s in %s: %v", a.args.IfName, a.args.Netns, err), "")
	}
	pod, _ = nh.LinkByName(a.args.IfName)
	mtu := pod.Attrs().MTU
	result.Interfaces = []*current.Interface{
		{Name: a.port, Mac: host.Attrs().HardwareAddr.String()},
		{Name: a.args.IfName, Mac: pod.Attrs().HardwareAddr.String(), Mtu: mtu, Sandbox: a.args.Netns},
	}
	for _, ip := range result.IPs {
		ip.Interface = current.Int(1)
	}
	fmt.Fprintf(os.Stderr, "vswitch-cni: %s attached to %s as %s port %s\n", a.args.IfName, a.conf.Bridge, typ, a.port)
	return nil
}

// attachHost adds the host veth to the bridge and waits until it is up:
// AF_XDP first, AF_PACKET when AF_XDP does not come up on this kernel.
func (a *attachment) attachHost(ctx context.Context, d *daemon) (string, error) {
	kinds := []string{a.conf.HostPortType}
	if a.conf.HostPortType == "afxdp" {
		kinds = append(kinds, "afpacket")
	}
	var lastErr error
	for _, typ := range kinds {
		spec := &pb.PortSpec{Name: a.port, Type: typ, ExternalIds: a.externalIDs()}
		if a.conf.VLAN > 0 {
			tag := int32(a.conf.VLAN)
			spec.Tag = &tag
		}
		if _, err := d.AddPort(ctx, &pb.AddPortRequest{Bridge: a.conf.Bridge, Port: spec}); err != nil {
			return "", d.cniError("add port "+a.port, err)
		}
		if _, err := d.waitUp(ctx, a.conf.Bridge, a.port, a.conf.upTimeout); err != nil {
			lastErr = err
			d.DelPort(ctx, &pb.DelPortRequest{Port: a.port, IfExists: true})
			continue
		}
		return typ, nil
	}
	return "", lastErr
}

// applyIPs puts the IPAM result's addresses and routes on the pod interface.
func applyIPs(nh *netlink.Handle, link netlink.Link, r *current.Result) error {
	for _, ip := range r.IPs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.Address.IP, Mask: ip.Address.Mask}}
		if err := nh.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add address %s: %w", ip.Address.String(), err)
		}
	}
	for _, rt := range r.Routes {
		gw := rt.GW
		if gw == nil {
			for _, ip := range r.IPs {
				if (ip.Address.IP.To4() != nil) == (rt.Dst.IP.To4() != nil) && ip.Gateway != nil {
					gw = ip.Gateway
				}
			}
		}
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: &net.IPNet{IP: rt.Dst.IP, Mask: rt.Dst.Mask}, Gw: gw}
		if err := nh.RouteAdd(route); err != nil {
			return fmt.Errorf("add route %s via %v: %w", rt.Dst.String(), gw, err)
		}
	}
	return nil
}

// delVeth deletes the host end (the pod end goes with it); absent is fine.
func delVeth(name string) error {
	l, err := netlink.LinkByName(name)
	if linkGone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("veth %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !linkGone(err) {
		return fmt.Errorf("delete veth %s: %w", name, err)
	}
	return nil
}

// checkVeth verifies the pod interface exists with the MAC ADD returned.
func (a *attachment) checkVeth(prev *current.Result) error {
	if _, err := netlink.LinkByName(a.port); err != nil {
		return types.NewError(ErrCheckFailed, fmt.Sprintf("host veth %s: %v", a.port, err), "")
	}
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
	l, err := nh.LinkByName(a.args.IfName)
	if err != nil {
		return types.NewError(ErrCheckFailed, fmt.Sprintf("%s in %s: %v", a.args.IfName, a.args.Netns, err), "")
	}
	for _, i := range prev.Interfaces {
		if i.Name == a.args.IfName && i.Sandbox != "" && i.Mac != "" && i.Mac != l.Attrs().HardwareAddr.String() {
			return types.NewError(ErrCheckFailed, fmt.Sprintf("%s has MAC %s, ADD gave %s", a.args.IfName, l.Attrs().HardwareAddr, i.Mac), "")
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		return types.NewError(ErrCheckFailed, fmt.Sprintf("%s in %s is down", a.args.IfName, a.args.Netns), "")
	}
	return nil
}

// inNetns runs fn on a thread switched into ns (ioctls act on the calling
// thread's namespace). The thread is thrown away if it cannot switch back.
func inNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err == nil {
		runtime.UnlockOSThread()
	}
	return ferr
}

// Legacy ethtool commands (linux/ethtool.h); the kernel still serves them.
const (
	ethtoolSTXCSUM = 0x17
	ethtoolSTSO    = 0x1f
	ethtoolSGSO    = 0x24
)

// offloadsOff turns off tx checksum offload, TSO and GSO on dev, as
// `ethtool -K dev tx off tso off gso off` does.
func offloadsOff(dev string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, cmd := range []uint32{ethtoolSTXCSUM, ethtoolSTSO, ethtoolSGSO} {
		val := struct{ cmd, data uint32 }{cmd, 0}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], dev)
		ifr.data = unsafe.Pointer(&val)
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
			return fmt.Errorf("ethtool command %#x: %w", cmd, e)
		}
		runtime.KeepAlive(&val)
	}
	return nil
}
