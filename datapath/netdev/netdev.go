// Package netdev opens the port backends that sit on kernel network
// devices: "system" and "afpacket" (an AF_PACKET socket on an existing
// device), "internal" (a tap device the port owns) and "tap" (a named tap).
// The bridge layer calls Open with an interface's type, options and
// mtu_request.
package netdev

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"vswitch/datapath"
	"vswitch/datapath/netdev/afpacket"
	"vswitch/datapath/netdev/internal/link"
	"vswitch/datapath/netdev/tap"
)

// Config is what the bridge knows about an interface.
type Config struct {
	Name    string
	Type    string // one of Types(); "" means system
	Options map[string]string
	MTU     int // mtu_request; 0 leaves the device's MTU alone
	// Pool is the datapath's packet pool (AF_XDP registers its arena as
	// UMEM); RunDir is the daemon's run directory (vhost-user sockets).
	Pool   *datapath.Pool
	RunDir string
}

// Kind describes one interface type.
type Kind struct {
	// Options lists the option keys the type accepts.
	Options []string
	// Existing: the port attaches to a kernel device it does not create;
	// while the device is missing Open fails wrapping ErrNoDevice and the
	// bridge retries when it appears.
	Existing bool
	// KernelName: the port name is a kernel interface name (15 bytes at most).
	KernelName bool
	// Open opens the backend; options and MTU are validated already.
	Open func(cfg Config) (datapath.Port, error)
	// Check, when set, vets the option values before anything is stored
	// (ValidateOptions calls it once the keys are known good).
	Check func(opts map[string]string) error
	// CheckPort, when set, vets the options against other ports (the
	// port's own name excluded), at add-port and set time only.
	CheckPort func(name string, opts map[string]string) error
}

var kinds = map[string]Kind{}

// Register adds an interface type. Backends register from init functions
// in this package (one register_*.go file per backend).
func Register(typ string, k Kind) { kinds[typ] = k }

// Lookup returns the Kind of typ ("" is system).
func Lookup(typ string) (Kind, bool) {
	k, ok := kinds[normType(typ)]
	return k, ok
}

func init() {
	Register("system", Kind{Existing: true, KernelName: true, Open: openAFPacket})
	Register("afpacket", Kind{Existing: true, KernelName: true, Open: openAFPacket})
	Register("internal", Kind{KernelName: true, Open: func(cfg Config) (datapath.Port, error) { return openTap(cfg, tap.Internal) }})
	Register("tap", Kind{KernelName: true, Open: func(cfg Config) (datapath.Port, error) { return openTap(cfg, tap.Named) }})
}

// ErrNoDevice is wrapped when a system/afpacket port's device does not
// exist yet; the bridge records the port and retries when it appears.
var ErrNoDevice = link.ErrNoDevice

// ErrUnknownType is wrapped when an interface type is not one Open accepts.
var ErrUnknownType = errors.New("unknown interface type")

// MaxMTU is the largest MTU whose full-size frames (with one VLAN tag) fit
// a datapath packet buffer.
const MaxMTU = datapath.MaxData - 14 - 4

// Types returns the interface types Open accepts, sorted.
func Types() []string {
	t := make([]string, 0, len(kinds))
	for k := range kinds {
		t = append(t, k)
	}
	sort.Strings(t)
	return t
}

// Handles reports whether typ is one of Types ("" counts as system).
func Handles(typ string) bool {
	_, ok := kinds[normType(typ)]
	return ok
}

func normType(typ string) string {
	if typ == "" {
		return "system"
	}
	return typ
}

// ValidateOptions rejects option keys typ does not know, naming the key and
// the allowed ones, and unknown types (wrapping ErrUnknownType).
func ValidateOptions(typ string, opts map[string]string) error {
	typ = normType(typ)
	kind, ok := kinds[typ]
	if !ok {
		return fmt.Errorf("%w %q (valid types: %s)", ErrUnknownType, typ, strings.Join(Types(), ", "))
	}
	allowed := kind.Options
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if slices.Contains(allowed, k) {
			continue
		}
		if len(allowed) == 0 {
			return fmt.Errorf("unknown option %q: interface type %s takes no options", k, typ)
		}
		return fmt.Errorf("unknown option %q for interface type %s (allowed: %s)", k, typ, strings.Join(allowed, ", "))
	}
	if kind.Check != nil {
		return kind.Check(opts)
	}
	return nil
}

// ValidatePort is ValidateOptions plus the type's checks against other
// ports (an SR-IOV VF held by another port), for the port called name.
func ValidatePort(name, typ string, opts map[string]string) error {
	if err := ValidateOptions(typ, opts); err != nil {
		return err
	}
	if k := kinds[normType(typ)]; k.CheckPort != nil {
		return k.CheckPort(name, opts)
	}
	return nil
}

// ValidateMTU checks an mtu_request against what the datapath can carry.
func ValidateMTU(mtu int) error {
	if mtu < 0 || (mtu > 0 && mtu < 68) || mtu > MaxMTU {
		return fmt.Errorf("mtu_request %d out of range: must be between 68 and %d (the datapath's largest frame)", mtu, MaxMTU)
	}
	return nil
}

// LinkExists reports whether a network device of that name exists in the
// caller's network namespace.
func LinkExists(name string) bool { return link.Exists(name) }

// Open opens the backend for cfg. For types attaching to an existing device
// the device must exist (else the error wraps ErrNoDevice).
func Open(cfg Config) (datapath.Port, error) {
	typ := normType(cfg.Type)
	if err := ValidateOptions(typ, cfg.Options); err != nil {
		return nil, fmt.Errorf("interface %s: %w", cfg.Name, err)
	}
	kind := kinds[typ]
	if kind.KernelName {
		if err := link.CheckName(cfg.Name); err != nil {
			return nil, err
		}
	}
	if err := ValidateMTU(cfg.MTU); err != nil {
		return nil, fmt.Errorf("interface %s: %w", cfg.Name, err)
	}
	cfg.Type = typ
	return kind.Open(cfg)
}

// SetMTU sets a kernel device's MTU over netlink (for backends).
func SetMTU(name string, mtu int) error { return link.SetMTU(name, mtu) }

// WarnMTU logs when a device's MTU exceeds what the datapath carries.
func WarnMTU(name string) {
	if mtu, err := link.MTU(name); err == nil && mtu > MaxMTU {
		slog.Warn("device MTU exceeds the datapath's largest frame; larger frames will be dropped",
			"interface", name, "mtu", mtu, "max", MaxMTU)
	}
}

// openAFPacket opens system/afpacket ports. The MTU goes first so segment
// sizes and frames already match when the first packet arrives.
func openAFPacket(cfg Config) (datapath.Port, error) {
	if cfg.MTU > 0 {
		if err := link.SetMTU(cfg.Name, cfg.MTU); err != nil {
			return nil, fmt.Errorf("%s %s: %w", cfg.Type, cfg.Name, err)
		}
	} else {
		WarnMTU(cfg.Name)
	}
	return afpacket.Open(cfg.Name)
}

func openTap(cfg Config, kind tap.Kind) (datapath.Port, error) {
	p, err := tap.Open(cfg.Name, kind)
	if err != nil {
		return nil, err
	}
	if cfg.MTU > 0 {
		if err := link.SetMTU(cfg.Name, cfg.MTU); err != nil {
			p.Close()
			return nil, fmt.Errorf("%s %s: %w", cfg.Type, cfg.Name, err)
		}
	} else {
		WarnMTU(cfg.Name)
	}
	return p, nil
}
