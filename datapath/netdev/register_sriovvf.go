package netdev

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"vswitch/datapath"
	"vswitch/datapath/netdev/sriovvf"
	"vswitch/sriov"

	"github.com/vishvananda/netlink"
)

// sriov-vf: a virtual function of an SR-IOV NIC as a switch port. Open
// configures the VF through its PF (package sriov) and attaches the VF's
// netdev with AF_XDP, falling back to AF_PACKET. options:pf and
// options:vf name the VF; mac, vlan, qos, trust, spoofchk, link_state,
// max_rate set it (a switch port defaults to spoofchk off, trust on: it
// sends frames with other hosts' source MACs). bind=vfio-pci binds the VF
// for passthrough instead: no switch port then, the status says where.
func init() {
	Register("sriov-vf", Kind{
		KernelName: false,
		Options:    []string{"pf", "vf", "mac", "vlan", "qos", "trust", "spoofchk", "link_state", "max_rate", "bind", "xdp-mode"},
		Open:       openSRIOVVF,
		Check:      checkSRIOVVF,
		CheckPort:  checkSRIOVVFClaim,
	})
}

// SRIOVHost is the sysfs/rtnetlink view sriov-vf ports use (tests swap it).
var SRIOVHost = sriov.System

// vfClaims maps "pf/vf" to the port using it, so two ports never share a VF.
var vfClaims = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// SRIOVClaims returns the VFs sriov-vf ports hold, "pf/vf" -> port.
func SRIOVClaims() map[string]string {
	vfClaims.Lock()
	defer vfClaims.Unlock()
	out := make(map[string]string, len(vfClaims.m))
	for k, v := range vfClaims.m {
		out[k] = v
	}
	return out
}

// vfSpec is a parsed sriov-vf option set.
type vfSpec struct {
	pf   string
	vf   int
	bind string
	cfg  sriov.Config
}

func parseVFSpec(opts map[string]string) (vfSpec, error) {
	var s vfSpec
	s.pf = opts["pf"]
	if s.pf == "" {
		return s, errors.New("sriov-vf needs options:pf=PF_NETDEV and options:vf=INDEX")
	}
	vs, ok := opts["vf"]
	if !ok {
		return s, errors.New("sriov-vf needs options:vf=INDEX")
	}
	n, err := strconv.Atoi(vs)
	if err != nil || n < 0 {
		return s, fmt.Errorf("sriov-vf option vf %q: must be a VF index (0, 1, ...)", vs)
	}
	s.vf = n
	if v, ok := opts["mac"]; ok {
		if s.cfg.MAC, err = sriov.ParseMAC(v); err != nil {
			return s, fmt.Errorf("sriov-vf option mac: %w", err)
		}
	}
	if v, ok := opts["vlan"]; ok {
		n, err := sriov.ParseVLAN(v)
		if err != nil {
			return s, fmt.Errorf("sriov-vf option vlan: %w", err)
		}
		s.cfg.VLAN = &n
	}
	if v, ok := opts["qos"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return s, fmt.Errorf("sriov-vf option qos %q: must be 0 to 7", v)
		}
		s.cfg.QoS = &n
	}
	// A switch port sends other hosts' frames: spoof checking off and
	// trust on unless the options say otherwise.
	spoof, trust := false, true
	if v, ok := opts["spoofchk"]; ok {
		if spoof, err = sriov.ParseBool("spoofchk", v); err != nil {
			return s, fmt.Errorf("sriov-vf option %w", err)
		}
	}
	if v, ok := opts["trust"]; ok {
		if trust, err = sriov.ParseBool("trust", v); err != nil {
			return s, fmt.Errorf("sriov-vf option %w", err)
		}
	}
	s.cfg.Spoofchk, s.cfg.Trust = &spoof, &trust
	if v, ok := opts["link_state"]; ok {
		ls, err := sriov.ParseLinkState(v)
		if err != nil {
			return s, fmt.Errorf("sriov-vf option link_state: %w", err)
		}
		s.cfg.LinkState = &ls
	}
	if v, ok := opts["max_rate"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s, fmt.Errorf("sriov-vf option max_rate %q: Mbit/s, 0 for unlimited", v)
		}
		s.cfg.MaxRate = &n
	}
	if v, ok := opts["bind"]; ok {
		if v != "vfio-pci" {
			return s, fmt.Errorf("sriov-vf option bind %q: only vfio-pci (passthrough) is supported", v)
		}
		s.bind = v
	}
	if err := s.cfg.Validate(); err != nil {
		return s, fmt.Errorf("sriov-vf: %w", err)
	}
	return s, nil
}

// checkSRIOVVF refuses bad values, a PF that is not SR-IOV and a VF
// index the PF does not have, before anything is stored or changed.
func checkSRIOVVF(opts map[string]string) error {
	s, err := parseVFSpec(opts)
	if err != nil {
		return err
	}
	_, err = SRIOVHost.LookupVF(s.pf, s.vf)
	return err
}

// checkSRIOVVFClaim refuses a VF another port holds, or one passed through.
func checkSRIOVVFClaim(name string, opts map[string]string) error {
	s, err := parseVFSpec(opts)
	if err != nil {
		return err
	}
	key := s.pf + "/" + strconv.Itoa(s.vf)
	vfClaims.Lock()
	owner := vfClaims.m[key]
	vfClaims.Unlock()
	if owner != "" && owner != name {
		return fmt.Errorf("sriov-vf: %s VF %d is already used by port %s: %w", s.pf, s.vf, owner, sriov.ErrBusy)
	}
	vf, err := SRIOVHost.LookupVF(s.pf, s.vf)
	if err != nil {
		return err
	}
	if vf.Driver == "vfio-pci" && s.bind == "" {
		return fmt.Errorf("sriov-vf: %s VF %d is bound to vfio-pci (passed through): %w", s.pf, s.vf, sriov.ErrBusy)
	}
	return nil
}

// vfState is what an sriov-vf port last applied, kept in the run
// directory so a restarted switch can tell drift (the VF changed behind
// its back) from a first attach.
type vfState struct {
	PF      string            `json:"pf"`
	VF      int               `json:"vf"`
	Options map[string]string `json:"options"`
}

func vfStatePath(runDir, port string) string {
	return filepath.Join(runDir, "sriov", port+".json")
}

func openSRIOVVF(cfg Config) (datapath.Port, error) {
	s, err := parseVFSpec(cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", cfg.Name, err)
	}
	key := s.pf + "/" + strconv.Itoa(s.vf)
	vfClaims.Lock()
	if owner := vfClaims.m[key]; owner != "" && owner != cfg.Name {
		vfClaims.Unlock()
		return nil, fmt.Errorf("interface %s: %s VF %d is already used by port %s", cfg.Name, s.pf, s.vf, owner)
	}
	vfClaims.m[key] = cfg.Name
	vfClaims.Unlock()
	release := func() {
		vfClaims.Lock()
		if vfClaims.m[key] == cfg.Name {
			delete(vfClaims.m, key)
		}
		vfClaims.Unlock()
	}
	p, err := attachVF(cfg, s, release)
	if err != nil {
		release()
		return nil, fmt.Errorf("interface %s: %w", cfg.Name, err)
	}
	p.SetRelease(func() error { return releaseVF(cfg, s) })
	return p, nil
}

func attachVF(cfg Config, s vfSpec, onClose func()) (*sriovvf.Port, error) {
	vf, err := SRIOVHost.LookupVF(s.pf, s.vf)
	if err != nil {
		return nil, err
	}
	status := map[string]string{}
	apply := s.cfg
	// The state file says what the switch applied to this VF before (a
	// restart, or new options): drift is the VF no longer having it, and
	// settings whose option was removed go back to their defaults.
	if b, err := os.ReadFile(vfStatePath(cfg.RunDir, cfg.Name)); err == nil && cfg.RunDir != "" {
		var st vfState
		if json.Unmarshal(b, &st) == nil && st.PF == s.pf && st.VF == s.vf {
			if prev, err := parseVFSpec(st.Options); err == nil {
				if d := vf.Matches(prev.cfg); len(d) > 0 {
					status["sriov_drift"] = strings.Join(d, "; ")
					slog.Warn("sriov-vf: VF changed behind the switch's back; re-applying", "port", cfg.Name,
						"vf", vf.String(), "drift", status["sriov_drift"])
				}
			}
			apply = withRemovedDefaults(apply, st.Options, cfg.Options)
		}
	}
	if err := vf.Configure(apply); err != nil {
		return nil, err
	}
	if cfg.RunDir != "" {
		if err := os.MkdirAll(filepath.Join(cfg.RunDir, "sriov"), 0o755); err == nil {
			b, _ := json.Marshal(vfState{PF: s.pf, VF: s.vf, Options: cfg.Options})
			if err := os.WriteFile(vfStatePath(cfg.RunDir, cfg.Name), b, 0o644); err != nil {
				slog.Warn("sriov-vf: state file", "port", cfg.Name, "err", err)
			}
		}
	}
	if s.bind != "" {
		if err := vf.Bind(s.bind); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s is bound to %s for passthrough at PCI %s (no switch port)", vf, s.bind, vf.PCI)
	}
	if vf.Netdev == "" {
		return nil, fmt.Errorf("%s has no netdev (driver %q): %w", vf, vf.Driver, ErrNoDevice)
	}
	// A VF netdev starts down; a switch port must pass traffic.
	if l, err := netlink.LinkByName(vf.Netdev); err != nil {
		return nil, fmt.Errorf("%s netdev %s: %w", vf, vf.Netdev, err)
	} else if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("%s netdev %s: set up: %w", vf, vf.Netdev, err)
	}
	status["sriov_mac"] = vf.MAC.String()
	status["sriov_vlan"] = strconv.Itoa(vf.VLAN)
	status["sriov_spoofchk"] = strconv.FormatBool(vf.Spoofchk)
	status["sriov_trust"] = strconv.FormatBool(vf.Trust)
	inner := Config{Name: vf.Netdev, Type: "afxdp", MTU: cfg.MTU, Pool: cfg.Pool, RunDir: cfg.RunDir,
		Options: map[string]string{}}
	if m := cfg.Options["xdp-mode"]; m != "" {
		inner.Options["xdp-mode"] = m
	}
	backend := "afxdp"
	dev, err := openAFXDP(inner)
	if err != nil {
		slog.Info("sriov-vf: AF_XDP unavailable on the VF netdev; using AF_PACKET", "port", cfg.Name, "netdev", vf.Netdev, "err", err)
		inner.Type, backend = "afpacket", "afpacket"
		if dev, err = openAFPacket(inner); err != nil {
			return nil, err
		}
	}
	slog.Info("sriov-vf: VF attached", "port", cfg.Name, "vf", vf.String(), "netdev", vf.Netdev, "backend", backend,
		"mac", vf.MAC.String(), "vlan", vf.VLAN, "spoofchk", vf.Spoofchk, "trust", vf.Trust)
	p := sriovvf.New(cfg.Name, dev, backend, vf.Netdev, s.pf, s.vf, vf.PCI, status, onClose)
	if n, ok := vfFilterLimits[vf.Driver]; ok {
		p.SetFilterLimit(n)
	}
	return p, nil
}

// vfFilterLimits are the unicast filters a VF driver holds when it takes
// more addresses than that without an error (igbvf: IGBVF_MAX_MAC_FILTERS).
var vfFilterLimits = map[string]int{"igbvf": 3}

// withRemovedDefaults adds to c the defaults of the settings whose option
// was in prev but is not in cur (trust and spoofchk always have a value).
func withRemovedDefaults(c sriov.Config, prev, cur map[string]string) sriov.Config {
	d := sriov.Defaults()
	gone := func(k string) bool { _, was := prev[k]; _, is := cur[k]; return was && !is }
	if gone("mac") && c.MAC == nil {
		c.MAC = d.MAC
	}
	if gone("vlan") && c.VLAN == nil {
		c.VLAN, c.QoS = d.VLAN, d.QoS
	}
	if gone("qos") && c.QoS == nil {
		c.QoS = d.QoS
	}
	if gone("link_state") && c.LinkState == nil {
		c.LinkState = d.LinkState
	}
	if gone("max_rate") && c.MaxRate == nil {
		c.MaxRate = d.MaxRate
	}
	return c
}

// releaseVF resets every setting the port changed back to the VF's
// defaults and forgets the state file.
func releaseVF(cfg Config, s vfSpec) error {
	if cfg.RunDir != "" {
		os.Remove(vfStatePath(cfg.RunDir, cfg.Name))
	}
	vf, err := SRIOVHost.LookupVF(s.pf, s.vf)
	if err != nil {
		return err
	}
	// The port set the VF netdev up; down again, it no longer counts as
	// in use (sriov.VF.InUse) and the VF count may change.
	if vf.Netdev != "" {
		if l, err := netlink.LinkByName(vf.Netdev); err == nil {
			if err := netlink.LinkSetDown(l); err != nil {
				slog.Warn("sriov-vf: set the VF netdev down", "port", cfg.Name, "netdev", vf.Netdev, "err", err)
			}
		}
	}
	if err := vf.Reset(); err != nil {
		return err
	}
	slog.Info("sriov-vf: VF reset to defaults", "port", cfg.Name, "vf", vf.String())
	return nil
}
