package sriov

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link states (IFLA_VF_LINK_STATE_*).
const (
	LinkStateAuto    uint32 = 0
	LinkStateEnable  uint32 = 1
	LinkStateDisable uint32 = 2
)

// Config is a VF's settings; nil fields are left as they are.
type Config struct {
	MAC       net.HardwareAddr
	VLAN      *int // 0 clears the port VLAN
	QoS       *int // 802.1p priority with the VLAN (0-7)
	Spoofchk  *bool
	Trust     *bool
	LinkState *uint32
	MinRate   *int // Mbit/s
	MaxRate   *int // Mbit/s
}

// Defaults is what Reset puts back: no admin MAC, no port VLAN, spoof
// checking on, not trusted, link state auto, no rate limit.
func Defaults() Config {
	zero, on, off, auto := 0, true, false, LinkStateAuto
	return Config{MAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}, VLAN: &zero, QoS: &zero, Spoofchk: &on, Trust: &off,
		LinkState: &auto, MinRate: &zero, MaxRate: &zero}
}

// Validate checks the values without touching any device.
func (c Config) Validate() error {
	if c.MAC != nil {
		if len(c.MAC) != 6 {
			return fmt.Errorf("sriov: MAC %s: %w (must be 6 bytes)", c.MAC, ErrInvalid)
		}
		if c.MAC[0]&1 != 0 {
			return fmt.Errorf("sriov: MAC %s is a multicast address: %w", c.MAC, ErrInvalid)
		}
	}
	if c.VLAN != nil && (*c.VLAN < 0 || *c.VLAN > 4095) {
		return fmt.Errorf("sriov: VLAN %d: %w (0 to 4095)", *c.VLAN, ErrInvalid)
	}
	if c.QoS != nil && (*c.QoS < 0 || *c.QoS > 7) {
		return fmt.Errorf("sriov: QoS %d: %w (0 to 7)", *c.QoS, ErrInvalid)
	}
	if c.QoS != nil && *c.QoS != 0 && (c.VLAN == nil || *c.VLAN == 0) {
		return fmt.Errorf("sriov: QoS %d needs a VLAN: %w", *c.QoS, ErrInvalid)
	}
	if c.LinkState != nil && *c.LinkState > LinkStateDisable {
		return fmt.Errorf("sriov: link state %d: %w (auto, enable or disable)", *c.LinkState, ErrInvalid)
	}
	for _, r := range []*int{c.MinRate, c.MaxRate} {
		if r != nil && (*r < 0 || *r > 1<<31-1) {
			return fmt.Errorf("sriov: rate %d: %w (Mbit/s, 0 means unlimited)", *r, ErrInvalid)
		}
	}
	if c.MinRate != nil && c.MaxRate != nil && *c.MaxRate != 0 && *c.MinRate > *c.MaxRate {
		return fmt.Errorf("sriov: min rate %d above max rate %d: %w", *c.MinRate, *c.MaxRate, ErrInvalid)
	}
	return nil
}

// ParseMAC parses a unicast MAC ("" is an error).
func ParseMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("sriov: MAC %q: %w (want aa:bb:cc:dd:ee:ff)", s, ErrInvalid)
	}
	if m[0]&1 != 0 {
		return nil, fmt.Errorf("sriov: MAC %s is a multicast address: %w", s, ErrInvalid)
	}
	return m, nil
}

// ParseVLAN parses a VLAN ID (0 to 4095).
func ParseVLAN(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 4095 {
		return 0, fmt.Errorf("sriov: VLAN %q: %w (an integer from 0 to 4095)", s, ErrInvalid)
	}
	return n, nil
}

// ParseBool parses on/off style booleans (true/false, on/off, 1/0, yes/no).
func ParseBool(what, s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "on", "1", "yes":
		return true, nil
	case "false", "off", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("sriov: %s %q: %w (true or false)", what, s, ErrInvalid)
}

// ParseLinkState parses auto, enable or disable.
func ParseLinkState(s string) (uint32, error) {
	switch s {
	case "auto":
		return LinkStateAuto, nil
	case "enable":
		return LinkStateEnable, nil
	case "disable":
		return LinkStateDisable, nil
	}
	return 0, fmt.Errorf("sriov: link state %q: %w (auto, enable or disable)", s, ErrInvalid)
}

// LinkStateName is the inverse of ParseLinkState.
func LinkStateName(s uint32) string {
	switch s {
	case LinkStateAuto:
		return "auto"
	case LinkStateEnable:
		return "enable"
	case LinkStateDisable:
		return "disable"
	}
	return strconv.Itoa(int(s))
}

// enotsupp is the kernel-internal ENOTSUPP (524) some drivers leak.
const enotsupp = unix.Errno(524)

// opError names the attribute and turns EOPNOTSUPP into ErrUnsupported so
// a driver's refusal reads as such, not as a generic failure.
func (v *VF) opError(attr string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, enotsupp) {
		return fmt.Errorf("sriov: %s: setting %s: %w (driver %s refused: %v)", v, attr, ErrUnsupported, v.pf.Driver, err)
	}
	return fmt.Errorf("sriov: %s: setting %s: %w", v, attr, err)
}

// Configure applies c to the VF through the PF, one RTM_SETLINK per
// attribute, in the order that works on igb (rates need PF carrier). It
// stops at the first failure; settings already applied stay. If the MAC
// changed and the VF's driver keeps its old address (igbvf does), the VF
// is rebound so its netdev takes the new one.
func (v *VF) Configure(c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%s: %w", v, err)
	}
	if !v.pf.host.Netlink {
		return fmt.Errorf("sriov: %s: no rtnetlink on this host view", v)
	}
	pl, err := netlink.LinkByName(v.pf.Name)
	if err != nil {
		return fmt.Errorf("sriov: %s: %w", v, err)
	}
	i := v.Index
	if c.MAC != nil {
		if err := netlink.LinkSetVfHardwareAddr(pl, i, c.MAC); err != nil {
			return v.opError("mac", err)
		}
	}
	if c.VLAN != nil || c.QoS != nil {
		vlan, qos := v.VLAN, v.QoS
		if c.VLAN != nil {
			vlan = *c.VLAN
		}
		if c.QoS != nil {
			qos = *c.QoS
		}
		if vlan == 0 {
			qos = 0
		}
		if err := netlink.LinkSetVfVlanQos(pl, i, vlan, qos); err != nil {
			return v.opError("vlan", err)
		}
	}
	if c.Spoofchk != nil {
		if err := netlink.LinkSetVfSpoofchk(pl, i, *c.Spoofchk); err != nil {
			return v.opError("spoofchk", err)
		}
	}
	if c.Trust != nil {
		if err := netlink.LinkSetVfTrust(pl, i, *c.Trust); err != nil {
			return v.opError("trust", err)
		}
	}
	if c.LinkState != nil {
		if err := netlink.LinkSetVfState(pl, i, *c.LinkState); err != nil {
			return v.opError("link state", err)
		}
	}
	if c.MinRate != nil || c.MaxRate != nil {
		minR, maxR := int(v.MinRate), int(v.MaxRate)
		if c.MinRate != nil {
			minR = *c.MinRate
		}
		if c.MaxRate != nil {
			maxR = *c.MaxRate
		}
		if err := netlink.LinkSetVfRate(pl, i, minR, maxR); err != nil {
			return v.opError("rate", err)
		}
	}
	if err := v.pf.Refresh(); err != nil {
		return err
	}
	*v = v.pf.VFs[i]
	if c.MAC != nil && v.Netdev != "" && !isZero(c.MAC) {
		if cur, err := readString(v.pf.host.path("class", "net", v.Netdev, "address")); err == nil && !strings.EqualFold(cur, c.MAC.String()) {
			if err := v.Rebind(); err != nil {
				return err
			}
		}
	}
	return nil
}

func isZero(m net.HardwareAddr) bool {
	for _, b := range m {
		if b != 0 {
			return false
		}
	}
	return true
}

// Reset puts the VF back to Defaults. A link state the driver cannot set
// is skipped (it can only be auto then).
func (v *VF) Reset() error {
	d := Defaults()
	d.LinkState = nil
	// igb rejects rate changes without PF carrier and a zero rate is the
	// default anyway: only touch rates that are set.
	if v.MinRate == 0 && v.MaxRate == 0 {
		d.MinRate, d.MaxRate = nil, nil
	}
	if err := v.Configure(d); err != nil {
		return err
	}
	if v.LinkState != LinkStateAuto {
		auto := LinkStateAuto
		if err := v.Configure(Config{LinkState: &auto}); err != nil && !errors.Is(err, ErrUnsupported) {
			return err
		}
	}
	return nil
}

// Matches lists the settings of c the VF does not have (as "mac=... want
// ..."), for drift reports; nil when every set field matches.
func (v *VF) Matches(c Config) []string {
	var d []string
	if c.MAC != nil && !strings.EqualFold(v.MAC.String(), c.MAC.String()) {
		d = append(d, fmt.Sprintf("mac is %s, want %s", v.MAC, c.MAC))
	}
	if c.VLAN != nil && v.VLAN != *c.VLAN {
		d = append(d, fmt.Sprintf("vlan is %d, want %d", v.VLAN, *c.VLAN))
	}
	if c.QoS != nil && v.QoS != *c.QoS {
		d = append(d, fmt.Sprintf("qos is %d, want %d", v.QoS, *c.QoS))
	}
	if c.Spoofchk != nil && v.Spoofchk != *c.Spoofchk {
		d = append(d, fmt.Sprintf("spoofchk is %t, want %t", v.Spoofchk, *c.Spoofchk))
	}
	if c.Trust != nil && v.Trust != *c.Trust {
		d = append(d, fmt.Sprintf("trust is %t, want %t", v.Trust, *c.Trust))
	}
	if c.LinkState != nil && v.LinkState != *c.LinkState {
		d = append(d, fmt.Sprintf("link_state is %s, want %s", LinkStateName(v.LinkState), LinkStateName(*c.LinkState)))
	}
	if c.MinRate != nil && int(v.MinRate) != *c.MinRate {
		d = append(d, fmt.Sprintf("min_rate is %d, want %d", v.MinRate, *c.MinRate))
	}
	if c.MaxRate != nil && int(v.MaxRate) != *c.MaxRate {
		d = append(d, fmt.Sprintf("max_rate is %d, want %d", v.MaxRate, *c.MaxRate))
	}
	return d
}
