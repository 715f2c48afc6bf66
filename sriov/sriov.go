// Package sriov discovers SR-IOV physical functions (PFs) and their
// virtual functions (VFs) through sysfs, and creates, configures, binds and
// resets VFs through sysfs and rtnetlink (github.com/vishvananda/netlink);
// it never runs `ip`. The switch's sriov-vf port type and the CNI plugin
// both use it.
//
// A Host names the sysfs root (tests point it at a recorded tree) and
// whether rtnetlink is asked for the per-VF settings the PF holds.
package sriov

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// Errors callers test with errors.Is.
var (
	// ErrNotFound: no network device or VF of that name/index.
	ErrNotFound = errors.New("not found")
	// ErrNotSRIOV: the device exists but is not an SR-IOV physical function.
	ErrNotSRIOV = errors.New("not an SR-IOV physical function")
	// ErrRange: a VF index or count outside what the PF offers.
	ErrRange = errors.New("out of range")
	// ErrInvalid: a malformed setting (MAC, VLAN, QoS, rate, link state).
	ErrInvalid = errors.New("invalid setting")
	// ErrUnsupported: the PF driver refuses the operation (EOPNOTSUPP),
	// e.g. igb has no VF link-state control.
	ErrUnsupported = errors.New("not supported by the driver")
	// ErrBusy: the operation would disturb a VF that is in use.
	ErrBusy = errors.New("in use")
)

// Host is where discovery looks. The zero value is not useful; use System
// or NewHost.
type Host struct {
	// Sysfs is the sysfs mount (normally /sys).
	Sysfs string
	// Netlink: ask rtnetlink for per-VF settings and apply changes. Off
	// for recorded sysfs trees, whose devices do not exist here.
	Netlink bool
}

// System is the running kernel's sysfs with rtnetlink.
var System = &Host{Sysfs: "/sys", Netlink: true}

// NewHost returns a Host over a sysfs tree without rtnetlink (tests).
func NewHost(sysfs string) *Host { return &Host{Sysfs: sysfs} }

// PF is one SR-IOV physical function as last read.
type PF struct {
	host     *Host
	Name     string // netdev name
	PCI      string // PCI address, e.g. 0000:01:00.0
	Driver   string // bound driver, "" if none
	TotalVFs int    // sriov_totalvfs
	NumVFs   int    // sriov_numvfs
	// Autoprobe is sriov_drivers_autoprobe: new VFs get a driver at once.
	Autoprobe bool
	OperState string // operstate of the PF netdev ("up", "down", ...)
	Carrier   bool
	VFs       []VF
}

// VF is one virtual function of a PF as last read. The settings come from
// rtnetlink (the PF's IFLA_VFINFO_LIST); without netlink they are zero.
type VF struct {
	pf       *PF
	Index    int
	PCI      string // from virtfnN
	Driver   string // bound driver, "" if none (e.g. created with autoprobe off)
	Netdev   string // the VF's own netdev, "" if unbound or a non-net driver (vfio-pci)
	MAC      net.HardwareAddr
	VLAN     int
	QoS      int
	Spoofchk bool
	Trust    bool
	// LinkState: 0 auto, 1 enable, 2 disable (IFLA_VF_LINK_STATE_*).
	LinkState uint32
	MinRate   uint32 // Mbit/s
	MaxRate   uint32 // Mbit/s
	// Settings reports whether MAC..MaxRate were read from rtnetlink.
	Settings bool
}

// PF returns the VF's physical function.
func (v *VF) PF() *PF { return v.pf }

func (h *Host) path(parts ...string) string {
	return filepath.Join(append([]string{h.Sysfs}, parts...)...)
}

func readString(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readInt(p string) (int, error) {
	s, err := readString(p)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", p, s)
	}
	return n, nil
}

// linkBase is the last element of a symlink's target ("" if no link).
func linkBase(p string) string {
	t, err := os.Readlink(p)
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// pciDir is a PCI function's sysfs directory.
func (h *Host) pciDir(addr string) string { return h.path("bus", "pci", "devices", addr) }

// netdevsOf lists the netdevs a PCI function has (its net/ directory).
func (h *Host) netdevsOf(addr string) []string {
	ents, err := os.ReadDir(filepath.Join(h.pciDir(addr), "net"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// Discover returns every SR-IOV PF with a netdev (sriov_totalvfs > 0),
// sorted by name.
func Discover() ([]*PF, error) { return System.Discover() }

// LookupPF reads one PF by netdev name.
func LookupPF(name string) (*PF, error) { return System.LookupPF(name) }

// Discover returns every SR-IOV PF with a netdev, sorted by name.
func (h *Host) Discover() ([]*PF, error) {
	ents, err := os.ReadDir(h.path("class", "net"))
	if err != nil {
		return nil, fmt.Errorf("sriov: list network devices: %w", err)
	}
	var out []*PF
	for _, e := range ents {
		pf, err := h.LookupPF(e.Name())
		if errors.Is(err, ErrNotSRIOV) || errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, pf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// LookupPF reads the PF whose netdev is name: its sysfs state, its VFs and,
// with netlink, their settings.
func (h *Host) LookupPF(name string) (*PF, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, fmt.Errorf("sriov: %q is not a network device name: %w", name, ErrNotFound)
	}
	if _, err := os.Lstat(h.path("class", "net", name)); err != nil {
		return nil, fmt.Errorf("sriov: network device %s: %w", name, ErrNotFound)
	}
	addr := linkBase(h.path("class", "net", name, "device"))
	if addr == "" {
		return nil, fmt.Errorf("sriov: %s has no PCI device (virtual interface): %w", name, ErrNotSRIOV)
	}
	dir := h.pciDir(addr)
	total, err := readInt(filepath.Join(dir, "sriov_totalvfs"))
	if errors.Is(err, os.ErrNotExist) || (err == nil && total == 0) {
		return nil, fmt.Errorf("sriov: %s (PCI %s) has no SR-IOV capability: %w", name, addr, ErrNotSRIOV)
	}
	if err != nil {
		return nil, fmt.Errorf("sriov: %s: %w", name, err)
	}
	pf := &PF{host: h, Name: name, PCI: addr, TotalVFs: total, Driver: linkBase(filepath.Join(dir, "driver"))}
	if pf.NumVFs, err = readInt(filepath.Join(dir, "sriov_numvfs")); err != nil {
		return nil, fmt.Errorf("sriov: %s: %w", name, err)
	}
	if ap, err := readInt(filepath.Join(dir, "sriov_drivers_autoprobe")); err == nil {
		pf.Autoprobe = ap != 0
	}
	pf.OperState, _ = readString(h.path("class", "net", name, "operstate"))
	if c, err := readInt(h.path("class", "net", name, "carrier")); err == nil {
		pf.Carrier = c == 1
	}
	// virtfnN links name the VFs; trust them over sriov_numvfs (a recorded
	// or racing tree may disagree), but never report more than totalvfs.
	for i := 0; ; i++ {
		vaddr := linkBase(filepath.Join(dir, "virtfn"+strconv.Itoa(i)))
		if vaddr == "" {
			break
		}
		vf := VF{pf: pf, Index: i, PCI: vaddr, Driver: linkBase(filepath.Join(h.pciDir(vaddr), "driver"))}
		if nd := h.netdevsOf(vaddr); len(nd) > 0 {
			vf.Netdev = nd[0]
		}
		pf.VFs = append(pf.VFs, vf)
	}
	if len(pf.VFs) > pf.TotalVFs {
		return nil, fmt.Errorf("sriov: %s lists %d VFs but sriov_totalvfs is %d: inconsistent sysfs", name, len(pf.VFs), pf.TotalVFs)
	}
	if h.Netlink {
		if err := pf.readSettings(); err != nil {
			return nil, err
		}
	}
	return pf, nil
}

// readSettings fills each VF's settings from the PF's IFLA_VFINFO_LIST.
func (pf *PF) readSettings() error {
	l, err := netlink.LinkByName(pf.Name)
	if err != nil {
		return fmt.Errorf("sriov: rtnetlink %s: %w", pf.Name, err)
	}
	for _, vi := range l.Attrs().Vfs {
		if vi.ID < 0 || vi.ID >= len(pf.VFs) {
			continue
		}
		v := &pf.VFs[vi.ID]
		v.MAC, v.VLAN, v.QoS = vi.Mac, vi.Vlan, vi.Qos
		v.Spoofchk, v.Trust, v.LinkState = vi.Spoofchk, vi.Trust != 0, vi.LinkState
		v.MinRate, v.MaxRate, v.Settings = vi.MinTxRate, vi.MaxTxRate, true
		if v.MaxRate == 0 && vi.TxRate > 0 {
			v.MaxRate = uint32(vi.TxRate)
		}
	}
	return nil
}

// VF returns VF index of the PF as last read.
func (pf *PF) VF(index int) (*VF, error) {
	if index < 0 || index >= pf.TotalVFs {
		return nil, fmt.Errorf("sriov: %s VF %d: %w (the PF supports VFs 0 to %d)", pf.Name, index, ErrRange, pf.TotalVFs-1)
	}
	if index >= len(pf.VFs) {
		return nil, fmt.Errorf("sriov: %s VF %d: %w (%d VFs are enabled; set sriov_numvfs first)", pf.Name, index, ErrRange, len(pf.VFs))
	}
	return &pf.VFs[index], nil
}

// Refresh re-reads the PF (and its VFs) in place.
func (pf *PF) Refresh() error {
	n, err := pf.host.LookupPF(pf.Name)
	if err != nil {
		return err
	}
	*pf = *n
	for i := range pf.VFs {
		pf.VFs[i].pf = pf
	}
	return nil
}

// LookupVF reads VF index of the PF named pf.
func (h *Host) LookupVF(pf string, index int) (*VF, error) {
	p, err := h.LookupPF(pf)
	if err != nil {
		return nil, err
	}
	return p.VF(index)
}

// InUse reports why a VF counts as in use ("" if it does not): bound to
// vfio-pci (passed through), its netdev administratively up, or bound to
// a network driver with no netdev visible here (sysfs shows only this
// network namespace's devices: the netdev was moved into a pod's).
func (v *VF) InUse() string {
	if v.Driver == "vfio-pci" {
		return "bound to vfio-pci"
	}
	if v.Driver != "" && v.Netdev == "" {
		return "bound to " + v.Driver + " with its netdev in another network namespace"
	}
	if v.Netdev != "" {
		if flags, err := readString(v.pf.host.path("class", "net", v.Netdev, "flags")); err == nil {
			if f, err := strconv.ParseUint(strings.TrimPrefix(flags, "0x"), 16, 32); err == nil && f&1 != 0 {
				return "netdev " + v.Netdev + " is up"
			}
		}
	}
	return ""
}

func (v *VF) String() string { return fmt.Sprintf("%s VF %d (%s)", v.pf.Name, v.Index, v.PCI) }
