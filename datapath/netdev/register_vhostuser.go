package netdev

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"vswitch/datapath"
	"vswitch/vhostuser"
)

// vhost-user ports: the switch is the backend of a VM's (or DPDK
// virtio-user's) virtio-net device. "dpdkvhostuser" listens on a socket,
// "dpdkvhostuserclient" dials one; the OVS names and the short aliases are
// both accepted.
func init() {
	opts := []string{"vhost-server-path", "vhost-sock-mode", "vhost-sock-owner", "vhost-sock-group", "n_rxq"}
	server := Kind{Options: opts, Open: func(cfg Config) (datapath.Port, error) { return openVhostUser(cfg, vhostuser.Server) }}
	client := Kind{Options: opts, Open: func(cfg Config) (datapath.Port, error) { return openVhostUser(cfg, vhostuser.Client) }}
	Register("dpdkvhostuser", server)
	Register("vhostuser", server)
	Register("dpdkvhostuserclient", client)
	Register("vhostuserclient", client)
}

// openVhostUser maps an interface's options onto a vhostuser.Config.
// n_rxq is the number of queue pairs offered to the front end and the
// port's rx queue count (default vhostuser.MaxQueuePairs; the front end
// enables what it uses and the rest cost the PMD one cheap check each).
func openVhostUser(cfg Config, mode vhostuser.Mode) (datapath.Port, error) {
	vc := vhostuser.Config{Name: cfg.Name, Mode: mode, QueuePairs: vhostuser.MaxQueuePairs, SockUID: -1, SockGID: -1, MTU: cfg.MTU}
	o := cfg.Options
	vc.Path = o["vhost-server-path"]
	if vc.Path == "" {
		if mode == vhostuser.Client {
			return nil, fmt.Errorf("%s %s: options:vhost-server-path is required", cfg.Type, cfg.Name)
		}
		if cfg.RunDir == "" {
			return nil, fmt.Errorf("%s %s: no run directory for the socket; set options:vhost-server-path", cfg.Type, cfg.Name)
		}
		vc.Path = filepath.Join(cfg.RunDir, cfg.Name)
	}
	if s := o["n_rxq"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > vhostuser.MaxQueuePairs {
			return nil, fmt.Errorf("%s %s: n_rxq %q must be 1 to %d", cfg.Type, cfg.Name, s, vhostuser.MaxQueuePairs)
		}
		vc.QueuePairs = n
	}
	if s := o["vhost-sock-mode"]; s != "" {
		m, err := strconv.ParseUint(s, 8, 32)
		if err != nil || m > 0o777 {
			return nil, fmt.Errorf("%s %s: vhost-sock-mode %q is not an octal permission", cfg.Type, cfg.Name, s)
		}
		vc.SockMode = os.FileMode(m)
	}
	if s := o["vhost-sock-owner"]; s != "" {
		id, err := vhostuser.ParseOwner(s)
		if err != nil {
			return nil, fmt.Errorf("%s %s: vhost-sock-owner %q: %w", cfg.Type, cfg.Name, s, err)
		}
		vc.SockUID = id
	}
	if s := o["vhost-sock-group"]; s != "" {
		id, err := vhostuser.ParseGroup(s)
		if err != nil {
			return nil, fmt.Errorf("%s %s: vhost-sock-group %q: %w", cfg.Type, cfg.Name, s, err)
		}
		vc.SockGID = id
	}
	return vhostuser.New(vc)
}
