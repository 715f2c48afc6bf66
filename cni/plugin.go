package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	pb "vswitch/proto/vswitch/v1"
	"vswitch/sriov"
)

// Interface external_ids the plugin sets on its ports. "netns" is the one
// vswitchd itself acts on: at start it drops ports whose namespace is gone.
const (
	idNetns     = "netns"
	idContainer = "cni.container-id"
	idIfName    = "cni.ifname"
	idNetwork   = "cni.network"
	idMode      = "cni.mode"
	idSocketDir = "cni.socket-dir"
)

// Funcs are the CNI verbs, for skel.PluginMainFuncs.
func Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: Add, Del: Del, Check: Check, Status: Status, GC: GC}
}

// callTimeout bounds every verb, so a hung daemon never hangs the runtime.
const callTimeout = 60 * time.Second

// attachment is one ADD/DEL/CHECK call's resolved names.
type attachment struct {
	conf *NetConf
	args *skel.CmdArgs
	port string // vswitchd port name (and host veth name)
}

func load(args *skel.CmdArgs) (*attachment, error) {
	c, err := ParseConf(args.StdinData)
	if err != nil {
		return nil, err
	}
	if args.IfName == "" || len(args.IfName) > 15 {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("CNI_IFNAME %q must be 1 to 15 bytes", args.IfName), "")
	}
	return &attachment{conf: c, args: args, port: PortName(args.ContainerID, args.IfName)}, nil
}

func (a *attachment) externalIDs() map[string]string {
	ids := map[string]string{
		idContainer: a.args.ContainerID,
		idIfName:    a.args.IfName,
		idNetwork:   a.conf.Name,
		idMode:      a.conf.Mode,
	}
	if a.args.Netns != "" {
		ids[idNetns] = a.args.Netns
	}
	return ids
}

// Add attaches the pod: IPAM first (so a pool exhaustion changes nothing
// on the switch), then the mode's port; any failure undoes what was done.
func Add(args *skel.CmdArgs) error {
	a, err := load(args)
	if err != nil {
		return err
	}
	if a.conf.Mode == ModeVhostUser { // refuse a too-long socket path before IPAM allocates
		if _, _, err := a.conf.SocketPath(args.ContainerID, args.IfName); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var d *daemon
	if a.conf.Mode != ModeSRIOV { // a VF goes to the pod, not through vswitchd
		if d, err = dialDaemon(a.conf.Server); err != nil {
			return err
		}
		defer d.Close()
		if err := d.requireBridge(ctx, a.conf.Bridge); err != nil {
			return err
		}
		if p, br, err := d.port(ctx, a.port); err != nil {
			return err
		} else if p != nil {
			return types.NewError(types.ErrInternal, fmt.Sprintf("port %s for container %s interface %s already exists on bridge %s: DEL it first", a.port, args.ContainerID, args.IfName, br), "")
		}
	}

	result := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	if a.conf.IPAM.Type != "" {
		r, err := invoke.DelegateAdd(ctx, a.conf.IPAM.Type, a.conf.raw, nil)
		if err != nil {
			return err
		}
		if result, err = current.NewResultFromResult(r); err != nil {
			a.ipamDel(ctx)
			return types.NewError(types.ErrInternal, "IPAM result: "+err.Error(), "")
		}
	}
	switch a.conf.Mode {
	case ModeVeth:
		err = a.addVeth(ctx, d, result)
	case ModeVhostUser:
		err = a.addVhostUser(ctx, d, result)
	case ModeSRIOV:
		err = a.addSRIOV(ctx, d, result)
	}
	if err != nil {
		a.ipamDel(ctx)
		return err
	}
	if a.conf.DNS.Nameservers != nil || a.conf.DNS.Domain != "" {
		result.DNS = a.conf.DNS
	}
	return types.PrintResult(result, a.conf.CNIVersion)
}

func (a *attachment) ipamDel(ctx context.Context) error {
	if a.conf.IPAM.Type == "" {
		return nil
	}
	return invoke.DelegateDel(ctx, a.conf.IPAM.Type, a.conf.raw, nil)
}

// Del removes everything ADD made. It succeeds when things are already
// gone (the netns deleted, the port removed by a daemon restart, a second
// DEL), as the spec requires.
func Del(args *skel.CmdArgs) error {
	a, err := load(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var errs []error
	if a.conf.Mode != ModeSRIOV {
		d, err := dialDaemon(a.conf.Server)
		if err == nil {
			defer d.Close()
			if _, err := d.DelPort(ctx, &pb.DelPortRequest{Port: a.port, IfExists: true}); err != nil {
				errs = append(errs, d.cniError("delete port "+a.port, err))
			}
		} else {
			errs = append(errs, err)
		}
	}
	errs = append(errs, a.delLocal())
	if err := a.ipamDel(ctx); err != nil {
		errs = append(errs, fmt.Errorf("IPAM %s DEL: %w", a.conf.IPAM.Type, err))
	}
	return firstError(errs)
}

// delLocal removes the host-side objects of the attachment.
func (a *attachment) delLocal() error {
	switch a.conf.Mode {
	case ModeVeth:
		return delVeth(a.port)
	case ModeVhostUser:
		return a.delVhostUser()
	case ModeSRIOV:
		return a.delSRIOV()
	}
	return nil
}

func firstError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Check verifies the attachment still works: the port is on the bridge
// and up, and the pod side (interface or socket) is there.
func Check(args *skel.CmdArgs) error {
	a, err := load(args)
	if err != nil {
		return err
	}
	if a.conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK needs prevResult in the network config", "")
	}
	prev, err := current.NewResultFromResult(a.conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "prevResult: "+err.Error(), "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if a.conf.Mode == ModeSRIOV {
		if err := a.checkSRIOV(); err != nil {
			return err
		}
		if a.conf.IPAM.Type != "" {
			return invoke.DelegateCheck(ctx, a.conf.IPAM.Type, a.conf.raw, nil)
		}
		return nil
	}
	d, err := dialDaemon(a.conf.Server)
	if err != nil {
		return err
	}
	defer d.Close()
	p, br, err := d.port(ctx, a.port)
	if err != nil {
		return err
	}
	fail := func(f string, v ...any) error {
		return types.NewError(ErrCheckFailed, fmt.Sprintf(f, v...), "")
	}
	switch {
	case p == nil:
		return fail("port %s of container %s interface %s is not on vswitchd", a.port, args.ContainerID, args.IfName)
	case br != a.conf.Bridge:
		return fail("port %s is on bridge %s, not %s", a.port, br, a.conf.Bridge)
	case p.GetError() != "":
		return fail("port %s is not working: %s", a.port, p.GetError())
	case p.GetOfport() < 1:
		return fail("port %s has no OpenFlow port number", a.port)
	}
	switch a.conf.Mode {
	case ModeVeth:
		// Up as vswitchd's Watch reports it (its initial state answers at once).
		if st, err := d.waitUp(ctx, br, a.port, 3*time.Second); err != nil {
			return fail("port %s is not up: %s", a.port, st)
		}
		err = a.checkVeth(prev)
	case ModeVhostUser:
		err = a.checkVhostUser()
	}
	if err != nil {
		return err
	}
	if a.conf.IPAM.Type != "" {
		return invoke.DelegateCheck(ctx, a.conf.IPAM.Type, a.conf.raw, nil)
	}
	return nil
}

// Status reports whether ADDs can succeed: vswitchd answers and has the bridge.
func Status(args *skel.CmdArgs) error {
	c, err := ParseConf(args.StdinData)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.Mode == ModeSRIOV {
		if _, err := sriov.LookupPF(c.PF); err != nil {
			return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("pf %s: %v", c.PF, err), "")
		}
		if c.IPAM.Type != "" {
			return invoke.DelegateStatus(ctx, c.IPAM.Type, c.raw, nil)
		}
		return nil
	}
	d, err := dialDaemon(c.Server)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.requireBridge(ctx, c.Bridge); err != nil {
		var te *types.Error
		if errors.As(err, &te) && te.Code == ErrBridgeMissing {
			return types.NewError(types.ErrPluginNotAvailable, te.Msg, "")
		}
		return err
	}
	if c.IPAM.Type != "" {
		return invoke.DelegateStatus(ctx, c.IPAM.Type, c.raw, nil)
	}
	return nil
}

// GC removes this network's ports whose attachment is not in the
// runtime's list of valid attachments, with their host-side objects, then
// lets the IPAM plugin do the same.
func GC(args *skel.CmdArgs) error {
	c, err := ParseConf(args.StdinData)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	valid := map[[2]string]bool{}
	for _, v := range c.ValidAttachments {
		valid[[2]string{v.ContainerID, v.IfName}] = true
	}
	if c.Mode == ModeSRIOV {
		errs := gcSRIOV(c, valid)
		if c.IPAM.Type != "" {
			errs = append(errs, invoke.DelegateGC(ctx, c.IPAM.Type, c.raw, nil))
		}
		return firstError(errs)
	}
	d, err := dialDaemon(c.Server)
	if err != nil {
		return err
	}
	defer d.Close()
	r, err := d.Show(ctx, &pb.ShowRequest{})
	if err != nil {
		return d.cniError("show", err)
	}
	var errs []error
	for _, b := range r.GetBridges() {
		for _, p := range b.GetPorts() {
			ids := p.GetExternalIds()
			if ids[idNetwork] != c.Name || ids[idContainer] == "" || valid[[2]string{ids[idContainer], ids[idIfName]}] {
				continue
			}
			if _, err := d.DelPort(ctx, &pb.DelPortRequest{Port: p.GetName(), IfExists: true}); err != nil {
				errs = append(errs, d.cniError("GC: delete port "+p.GetName(), err))
				continue
			}
			sub := *c
			sub.Mode = ids[idMode]
			stale := &attachment{conf: &sub, port: p.GetName(),
				args: &skel.CmdArgs{ContainerID: ids[idContainer], IfName: ids[idIfName], Netns: ids[idNetns]}}
			errs = append(errs, stale.delLocal())
			fmt.Fprintf(os.Stderr, "vswitch-cni: GC removed port %s (container %s, interface %s)\n", p.GetName(), ids[idContainer], ids[idIfName])
		}
	}
	if c.IPAM.Type != "" {
		errs = append(errs, invoke.DelegateGC(ctx, c.IPAM.Type, c.raw, nil))
	}
	return firstError(errs)
}

// linkGone reports whether err means the link does not exist.
func linkGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, fs.ErrNotExist)
}

// writeJSON writes v to path atomically enough for a reader polling it.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
