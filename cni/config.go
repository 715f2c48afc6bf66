// Package cni is vswitch's Kubernetes CNI plugin: it attaches a pod to a
// vswitchd bridge as a veth pair (the host end an AF_XDP or AF_PACKET
// port), as a vhost-user socket the pod's DPDK or VM mounts, or as an
// SR-IOV VF, talking to vswitchd over its gRPC socket. cmd/vswitch-cni is
// the binary; this package holds the logic so tests can drive it.
package cni

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Modes a network config can ask for.
const (
	ModeVeth      = "veth"
	ModeVhostUser = "vhostuser"
	ModeSRIOV     = "sriov"
)

// Defaults of the optional config fields.
const (
	DefaultServer    = "/run/vswitch/vswitchd.sock"
	DefaultSocketDir = "/run/vswitch-cni"
	DefaultUpTimeout = 10 * time.Second
	// sunPathMax is sizeof(sockaddr_un.sun_path): a socket path must be
	// shorter (the kernel needs the terminating NUL).
	sunPathMax = 108
	// socketName is the vhost-user socket's name inside its directory.
	socketName = "sock"
)

// NetConf is the network configuration vswitch-cni reads on stdin.
type NetConf struct {
	types.PluginConf
	// Bridge is the vswitchd bridge the port joins (required; it must exist).
	Bridge string `json:"bridge"`
	// Mode is veth (default), vhostuser or sriov.
	Mode string `json:"mode,omitempty"`
	// VLAN makes the port an access port of that VLAN (0: untagged).
	VLAN int `json:"vlan,omitempty"`
	// MTU of the pod interface and the port (0: the kernel's default).
	MTU int `json:"mtu,omitempty"`
	// Server is vswitchd's gRPC Unix socket.
	Server string `json:"server,omitempty"`
	// HostPortType is the host end's port type in veth mode: afxdp
	// (default, falling back to afpacket) or afpacket.
	HostPortType string `json:"hostPortType,omitempty"`
	// SocketDir holds one directory per vhost-user attachment.
	SocketDir string `json:"socketDir,omitempty"`
	// PF is the SR-IOV physical function's netdev (mode sriov).
	PF string `json:"pf,omitempty"`
	// SpoofChk and Trust of the VF (mode sriov); nil leaves the default.
	SpoofChk *bool `json:"spoofchk,omitempty"`
	Trust    *bool `json:"trust,omitempty"`
	// UpTimeout bounds the wait for the port to come up ("10s").
	UpTimeout string `json:"upTimeout,omitempty"`

	RuntimeConfig struct {
		Mac               string `json:"mac,omitempty"`
		CNIDeviceInfoFile string `json:"CNIDeviceInfoFile,omitempty"`
	} `json:"runtimeConfig,omitempty"`

	upTimeout time.Duration
	raw       []byte
}

// Error codes of our own (the spec reserves 100+ for plugins).
const (
	ErrBridgeMissing  uint = 100 // the configured bridge is not on vswitchd
	ErrPortNotUp      uint = 101 // the port did not come up in time
	ErrCheckFailed    uint = 102 // CHECK found the attachment broken
	ErrNoFreeVF       uint = 103 // mode sriov: every VF of the PF is taken
	ErrSRIOVUnsupport uint = 104 // mode sriov: no SR-IOV support here
)

// ParseConf decodes and checks a network config. Every mistake is a CNI
// error with code 6 (decoding) or 7 (invalid config) and a message that
// names the field.
func ParseConf(stdin []byte) (*NetConf, error) {
	c := &NetConf{}
	dec := json.NewDecoder(bytes.NewReader(stdin))
	if err := dec.Decode(c); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "network config is not valid JSON: "+err.Error(), "")
	}
	c.raw = stdin
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.PluginConf); err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "prevResult: "+err.Error(), "")
		}
	}
	invalid := func(f string, a ...any) error {
		return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf(f, a...), "")
	}
	if c.Mode == "" {
		c.Mode = ModeVeth
	}
	switch c.Mode {
	case ModeVeth, ModeVhostUser, ModeSRIOV:
	default:
		return nil, invalid("mode %q is not one of veth, vhostuser, sriov", c.Mode)
	}
	if c.Bridge == "" && c.Mode != ModeSRIOV { // a VF bypasses the switch
		return nil, invalid("bridge is missing: name the vswitchd bridge the pod joins")
	}
	if len(c.Bridge) > 15 || strings.ContainsAny(c.Bridge, "/ \t\n") {
		return nil, invalid("bridge %q is not a valid bridge name", c.Bridge)
	}
	if c.VLAN < 0 || c.VLAN > 4095 {
		return nil, invalid("vlan %d is out of range 0..4095", c.VLAN)
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		return nil, invalid("mtu %d is out of range 68..65535", c.MTU)
	}
	if c.Server == "" {
		c.Server = DefaultServer
	}
	if c.SocketDir == "" {
		c.SocketDir = DefaultSocketDir
	}
	if !filepath.IsAbs(c.SocketDir) || !filepath.IsAbs(c.Server) {
		return nil, invalid("server and socketDir must be absolute paths")
	}
	switch c.HostPortType {
	case "":
		c.HostPortType = "afxdp"
	case "afxdp", "afpacket":
	default:
		return nil, invalid("hostPortType %q is not afxdp or afpacket", c.HostPortType)
	}
	if c.Mode == ModeSRIOV && c.PF == "" {
		return nil, invalid("mode sriov needs pf: the physical function's netdev name")
	}
	c.upTimeout = DefaultUpTimeout
	if c.UpTimeout != "" {
		d, err := time.ParseDuration(c.UpTimeout)
		if err != nil || d <= 0 {
			return nil, invalid("upTimeout %q is not a positive duration such as 10s", c.UpTimeout)
		}
		c.upTimeout = d
	}
	if m := c.RuntimeConfig.Mac; m != "" {
		if _, err := net.ParseMAC(m); err != nil {
			return nil, invalid("runtimeConfig mac %q is not a MAC address", m)
		}
	}
	return c, nil
}

// PortName is the vswitchd port (and, in veth mode, host netdev) name of
// one attachment: stable for a container id and interface, at most 15
// bytes (IFNAMSIZ-1), so DEL and GC find it again from the ids alone.
func PortName(containerID, ifName string) string {
	h := sha256.Sum256([]byte(containerID + "/" + ifName))
	return "vc" + hex.EncodeToString(h[:])[:11]
}

// SocketPath is the vhost-user socket of one attachment: one directory per
// attachment (the pod mounts it), named like the attachment's port, so
// `vsctl show` and the directory tell the same name. It fails when the
// path would not fit in a sockaddr_un.
func (c *NetConf) SocketPath(containerID, ifName string) (dir, sock string, err error) {
	dir = filepath.Join(c.SocketDir, PortName(containerID, ifName))
	sock = filepath.Join(dir, socketName)
	if len(sock) >= sunPathMax {
		return "", "", types.NewError(types.ErrInvalidNetworkConfig,
			fmt.Sprintf("vhost-user socket path %s is %d bytes; Unix socket paths must be under %d: use a shorter socketDir", sock, len(sock), sunPathMax), "")
	}
	return dir, sock, nil
}
