package cni

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	pb "vswitch/proto/vswitch/v1"
)

// DeviceInfo is the Network Plumbing WG device-info document (v1.1.0) for
// a vhost-user attachment: Multus copies it into the pod's network-status
// annotation, where KubeVirt's vhostuser binding and DPDK apps read it.
type DeviceInfo struct {
	Type      string         `json:"type"`    // "vhost-user"
	Version   string         `json:"version"` // "1.1.0"
	VhostUser *VhostUserInfo `json:"vhost-user"`
}

// VhostUserInfo says where the socket is and who listens on it.
type VhostUserInfo struct {
	// Mode is "client": the host (vswitchd) creates the socket and the
	// application in the pod connects to it (NPWG device-info wording).
	Mode string `json:"mode"`
	Path string `json:"path"`
}

// addVhostUser creates a dpdkvhostuser (server) port whose socket lives in
// a directory of its own, which the pod mounts.
func (a *attachment) addVhostUser(ctx context.Context, d *daemon, result *current.Result) (err error) {
	dir, sock, err := a.conf.SocketPath(a.args.ContainerID, a.args.IfName)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return types.NewError(types.ErrIOFailure, fmt.Sprintf("socket directory %s: %v", dir, err), "")
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	ids := a.externalIDs()
	ids[idSocketDir] = dir
	spec := &pb.PortSpec{Name: a.port, Type: "dpdkvhostuser", Options: map[string]string{"vhost-server-path": sock}, ExternalIds: ids}
	if a.conf.VLAN > 0 {
		tag := int32(a.conf.VLAN)
		spec.Tag = &tag
	}
	if a.conf.MTU > 0 {
		spec.MtuRequest = int32(a.conf.MTU)
	}
	if _, err := d.AddPort(ctx, &pb.AddPortRequest{Bridge: a.conf.Bridge, Port: spec}); err != nil {
		return d.cniError("add port "+a.port, err)
	}
	defer func() {
		if err != nil {
			d.DelPort(context.Background(), &pb.DelPortRequest{Port: a.port, IfExists: true})
		}
	}()
	// The port is "up" only once the pod connects; here it must be
	// listening: no error and the socket in place.
	p, _, err := d.port(ctx, a.port)
	if err != nil {
		return err
	}
	if p == nil || p.GetError() != "" {
		return types.NewError(ErrPortNotUp, fmt.Sprintf("vhost-user port %s: %s", a.port, p.GetError()), "")
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&fs.ModeSocket == 0 {
		return types.NewError(ErrPortNotUp, fmt.Sprintf("vhost-user port %s: socket %s not created", a.port, sock), "")
	}
	mac := a.conf.RuntimeConfig.Mac
	if mac != "" {
		if hw, err := net.ParseMAC(mac); err == nil {
			mac = hw.String()
		}
	}
	result.Interfaces = []*current.Interface{{Name: a.args.IfName, Mac: mac, Mtu: a.conf.MTU, Sandbox: a.args.Netns, SocketPath: sock}}
	for _, ip := range result.IPs {
		ip.Interface = current.Int(0)
	}
	if f := a.conf.RuntimeConfig.CNIDeviceInfoFile; f != "" {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return types.NewError(types.ErrIOFailure, fmt.Sprintf("device-info directory: %v", err), "")
		}
		if err := writeJSON(f, DeviceInfo{Type: "vhost-user", Version: "1.1.0", VhostUser: &VhostUserInfo{Mode: "client", Path: sock}}); err != nil {
			return types.NewError(types.ErrIOFailure, fmt.Sprintf("device-info file %s: %v", f, err), "")
		}
	}
	return nil
}

// delVhostUser removes the attachment's socket directory and device-info file.
func (a *attachment) delVhostUser() error {
	dir, _, err := a.conf.SocketPath(a.args.ContainerID, a.args.IfName)
	if err != nil {
		return nil // ADD could not have created it
	}
	if f := a.conf.RuntimeConfig.CNIDeviceInfoFile; f != "" {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("device-info file %s: %w", f, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	return nil
}

// checkVhostUser verifies the socket is still in place.
func (a *attachment) checkVhostUser() error {
	_, sock, err := a.conf.SocketPath(a.args.ContainerID, a.args.IfName)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&fs.ModeSocket == 0 {
		return types.NewError(ErrCheckFailed, fmt.Sprintf("vhost-user socket %s is missing", sock), "")
	}
	return nil
}
