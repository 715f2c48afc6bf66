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
	Type    string // "system", "afpacket", "internal" or "tap"; "" means system
	Options map[string]string
	MTU     int // mtu_request; 0 leaves the device's MTU alone
}

// ErrNoDevice is wrapped when a system/afpacket port's device does not
// exist yet; the bridge records the port and retries when it appears.
var ErrNoDevice = link.ErrNoDevice

// ErrUnknownType is wrapped when an interface type is not one Open accepts.
var ErrUnknownType = errors.New("unknown interface type")

// MaxMTU is the largest MTU whose full-size frames (with one VLAN tag) fit
// a datapath packet buffer.
const MaxMTU = datapath.MaxData - 14 - 4

// options each type accepts. None of these backends takes options yet; the
// table is here so a typo in options: is caught instead of ignored.
var options = map[string][]string{
	"system":   nil,
	"afpacket": nil,
	"internal": nil,
	"tap":      nil,
}

// Types returns the interface types Open accepts, sorted.
func Types() []string {
	t := make([]string, 0, len(options))
	for k := range options {
		t = append(t, k)
	}
	sort.Strings(t)
	return t
}

// Handles reports whether typ is one of Types ("" counts as system).
func Handles(typ string) bool {
	_, ok := options[normType(typ)]
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
	allowed, ok := options[typ]
	if !ok {
		return fmt.Errorf("%w %q (valid types: %s)", ErrUnknownType, typ, strings.Join(Types(), ", "))
	}
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

// Open opens the backend for cfg. For system/afpacket the device must
// exist (else the error wraps ErrNoDevice); internal and tap create theirs.
// A non-zero MTU is set on the device over netlink, as OVS does for
// mtu_request.
func Open(cfg Config) (datapath.Port, error) {
	typ := normType(cfg.Type)
	if err := ValidateOptions(typ, cfg.Options); err != nil {
		return nil, fmt.Errorf("interface %s: %w", cfg.Name, err)
	}
	if err := link.CheckName(cfg.Name); err != nil {
		return nil, err
	}
	if err := ValidateMTU(cfg.MTU); err != nil {
		return nil, fmt.Errorf("interface %s: %w", cfg.Name, err)
	}
	var (
		p   datapath.Port
		err error
	)
	switch typ {
	case "system", "afpacket":
		// The MTU goes first so segment sizes and frames already match
		// when the first packet arrives.
		if cfg.MTU > 0 {
			if err := link.SetMTU(cfg.Name, cfg.MTU); err != nil {
				return nil, fmt.Errorf("%s %s: %w", typ, cfg.Name, err)
			}
		}
		p, err = afpacket.Open(cfg.Name)
	case "internal":
		p, err = tap.Open(cfg.Name, tap.Internal)
	case "tap":
		p, err = tap.Open(cfg.Name, tap.Named)
	}
	if err != nil {
		return nil, err
	}
	if cfg.MTU > 0 && (typ == "internal" || typ == "tap") {
		if err := link.SetMTU(cfg.Name, cfg.MTU); err != nil {
			p.Close()
			return nil, fmt.Errorf("%s %s: %w", typ, cfg.Name, err)
		}
	}
	if cfg.MTU == 0 {
		if mtu, err := link.MTU(cfg.Name); err == nil && mtu > MaxMTU {
			slog.Warn("device MTU exceeds the datapath's largest frame; larger frames will be dropped",
				"interface", cfg.Name, "mtu", mtu, "max", MaxMTU)
		}
	}
	return p, nil
}
