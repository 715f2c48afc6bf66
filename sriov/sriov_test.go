package sriov

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vswitch/sriov/sriovtest"
)

// recorded is the sysfs tree the igb test guest showed with 4 VFs
// (`sriovtool record` inside it; see test/vm/sriov-e2e.sh).
const recorded = "testdata/igb-4vfs.txt"

func host(t *testing.T, lines []string) *Host {
	t.Helper()
	return NewHost(sriovtest.Materialize(t, lines))
}

func TestDiscoverRecordedIgb(t *testing.T) {
	h := host(t, sriovtest.Load(t, recorded))
	pfs, err := h.Discover()
	if err != nil {
		t.Fatal(err)
	}
	if len(pfs) != 1 {
		t.Fatalf("found %d PFs, want 1 (the VFs are not PFs)", len(pfs))
	}
	pf := pfs[0]
	if pf.Name != "eth0" || pf.PCI != "0000:01:00.0" || pf.Driver != "igb" || pf.TotalVFs != 7 || pf.NumVFs != 4 {
		t.Errorf("PF %+v", *pf)
	}
	if pf.OperState != "up" || !pf.Carrier {
		t.Errorf("PF link: operstate %q carrier %t, want up with carrier", pf.OperState, pf.Carrier)
	}
	wantPCI := []string{"0000:01:10.0", "0000:01:10.2", "0000:01:10.4", "0000:01:10.6"}
	if len(pf.VFs) != 4 {
		t.Fatalf("%d VFs, want 4", len(pf.VFs))
	}
	seen := map[string]bool{}
	for i, v := range pf.VFs {
		if v.Index != i || v.PCI != wantPCI[i] || v.Driver != "igbvf" || v.Netdev == "" {
			t.Errorf("VF %d: %+v", i, v)
		}
		if seen[v.Netdev] {
			t.Errorf("VF %d: netdev %s listed twice", i, v.Netdev)
		}
		seen[v.Netdev] = true
		if v.PF() != pf {
			t.Errorf("VF %d: PF() is not its PF", i)
		}
	}
	if v, err := pf.VF(2); err != nil || v.PCI != "0000:01:10.4" {
		t.Errorf("VF(2) = %+v, %v", v, err)
	}
}

func TestDiscoverNoVFs(t *testing.T) {
	lines := sriovtest.Without(sriovtest.Load(t, recorded), "virtfn", "0000:01:10.", "0000:01:11.")
	lines = sriovtest.Replace(lines, "F bus/pci/devices/0000:01:00.0/sriov_numvfs ", "F bus/pci/devices/0000:01:00.0/sriov_numvfs 0")
	lines = sriovtest.Without(lines, "class/net/eth1", "class/net/eth2", "class/net/eth3", "class/net/eth4")
	pf, err := host(t, lines).LookupPF("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumVFs != 0 || len(pf.VFs) != 0 || pf.TotalVFs != 7 {
		t.Errorf("PF without VFs: numvfs %d, %d VFs, totalvfs %d", pf.NumVFs, len(pf.VFs), pf.TotalVFs)
	}
	_, err = pf.VF(0)
	if !errors.Is(err, ErrRange) || !strings.Contains(err.Error(), "0 VFs are enabled") {
		t.Errorf("VF(0) with no VFs: %v, want ErrRange naming the enabled count", err)
	}
}

func TestDiscoverMoreVFsThanTotal(t *testing.T) {
	lines := sriovtest.Replace(sriovtest.Load(t, recorded), "F bus/pci/devices/0000:01:00.0/sriov_totalvfs ",
		"F bus/pci/devices/0000:01:00.0/sriov_totalvfs 2")
	_, err := host(t, lines).LookupPF("eth0")
	if err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("4 virtfn links with totalvfs 2: %v, want an inconsistency error", err)
	}
}

func TestDiscoverMissingNetdev(t *testing.T) {
	// VF 2 bound to no driver: no net/ directory, no netdev.
	lines := sriovtest.Load(t, recorded)
	var vf2dev string
	for _, l := range lines {
		if strings.HasPrefix(l, "D bus/pci/devices/0000:01:10.4/net/") {
			vf2dev = strings.TrimPrefix(l, "D bus/pci/devices/0000:01:10.4/net/")
		}
	}
	if vf2dev == "" {
		t.Fatal("recording has no netdev for VF 2")
	}
	lines = sriovtest.Without(lines, "0000:01:10.4/net/", "0000:01:10.4/driver", "class/net/"+vf2dev+"/")
	pf, err := host(t, lines).LookupPF("eth0")
	if err != nil {
		t.Fatal(err)
	}
	v := pf.VFs[2]
	if v.Netdev != "" || v.Driver != "" || v.PCI != "0000:01:10.4" {
		t.Errorf("unbound VF 2: %+v, want PCI only", v)
	}
	if pf.VFs[1].Netdev == "" || pf.VFs[3].Netdev == "" {
		t.Errorf("the other VFs lost their netdevs")
	}
	if why := v.InUse(); why != "" {
		t.Errorf("an unbound VF is in use: %s", why)
	}
	// Bound, but the netdev is not in this namespace (moved into a pod).
	lines = sriovtest.Without(sriovtest.Load(t, recorded), "0000:01:10.2/net/")
	pf, err = host(t, lines).LookupPF("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if why := pf.VFs[1].InUse(); !strings.Contains(why, "another network namespace") {
		t.Errorf("VF 1 bound to igbvf without a visible netdev: InUse %q", why)
	}
	if err := pf.SetNumVFs(2, NumVFsOptions{}); !errors.Is(err, ErrBusy) {
		t.Errorf("SetNumVFs with VF 1's netdev in a pod = %v, want ErrBusy", err)
	}
}

func TestLookupBadInput(t *testing.T) {
	lines := sriovtest.Load(t, recorded)
	// A virtual netdev (no PCI device), like a veth.
	lines = append(lines, "D class/net/veth0", "F class/net/veth0/operstate up")
	h := host(t, lines)
	for _, c := range []struct {
		name string
		want error
	}{
		{"nosuch0", ErrNotFound},
		{"../eth0", ErrNotFound},
		{"", ErrNotFound},
		{"veth0", ErrNotSRIOV},
		{"eth1", ErrNotSRIOV}, // a VF's netdev: PCI, but no SR-IOV capability
	} {
		_, err := h.LookupPF(c.name)
		if !errors.Is(err, c.want) {
			t.Errorf("LookupPF(%q) = %v, want %v", c.name, err, c.want)
		}
	}
	for _, idx := range []int{-1, 7, 4} {
		if _, err := h.LookupVF("eth0", idx); !errors.Is(err, ErrRange) {
			t.Errorf("LookupVF(eth0, %d) = %v, want ErrRange", idx, err)
		}
	}
}

func treeHash(t *testing.T, root string) [32]byte {
	t.Helper()
	h := sha256.New()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		if d.Type()&fs.ModeSymlink != 0 {
			tg, _ := os.Readlink(p)
			h.Write([]byte(tg))
		} else if !d.IsDir() {
			b, _ := os.ReadFile(p)
			h.Write(b)
		}
		return nil
	})
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Bad settings and counts are refused before anything is written.
func TestBadInputChangesNothing(t *testing.T) {
	lines := sriovtest.Load(t, recorded)
	// VF 1's netdev is up (IFF_UP): the VF is in use.
	pf0, _ := host(t, lines).LookupPF("eth0")
	dev := pf0.VFs[1].Netdev
	lines = sriovtest.Replace(lines, "F class/net/"+dev+"/flags ", "F class/net/"+dev+"/flags 0x1003")
	h := host(t, lines)
	before := treeHash(t, h.Sysfs)
	pf, err := h.LookupPF("eth0")
	if err != nil {
		t.Fatal(err)
	}
	vf, _ := pf.VF(0)
	bigVLAN, q, badLS := 4096, 3, uint32(7)
	zero := 0
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{MAC: []byte{1, 2, 3, 4, 5, 6}}, "multicast"},
		{Config{MAC: []byte{2, 0, 0}}, "6 bytes"},
		{Config{VLAN: &bigVLAN}, "VLAN 4096"},
		{Config{VLAN: &zero, QoS: &q}, "needs a VLAN"},
		{Config{LinkState: &badLS}, "link state"},
	} {
		err := vf.Configure(c.cfg)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Configure(%+v) = %v, want ErrInvalid mentioning %q", c.cfg, err, c.want)
		}
	}
	if err := pf.SetNumVFs(8, NumVFsOptions{}); !errors.Is(err, ErrRange) {
		t.Errorf("SetNumVFs(8) with totalvfs 7 = %v, want ErrRange", err)
	}
	if err := pf.SetNumVFs(2, NumVFsOptions{}); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "VF 1") {
		t.Errorf("SetNumVFs(2) while VF 1's netdev is up = %v, want ErrBusy naming VF 1", err)
	}
	if why := pf.VFs[1].InUse(); why == "" {
		t.Error("VF 1 with its netdev up is not in use")
	}
	if why := pf.VFs[0].InUse(); why != "" {
		t.Errorf("VF 0 in use: %s", why)
	}
	if treeHash(t, h.Sysfs) != before {
		t.Error("a refused operation changed the sysfs tree")
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"", "02:00:00:00:00", "zz:00:00:00:00:01", "01:00:5e:00:00:01", "02:00:00:00:00:01:02:03"} {
		if _, err := ParseMAC(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseMAC(%q) = %v, want ErrInvalid", s, err)
		}
	}
	if m, err := ParseMAC("02:AA:00:00:00:01"); err != nil || m.String() != "02:aa:00:00:00:01" {
		t.Errorf("ParseMAC = %v, %v", m, err)
	}
	for _, s := range []string{"-1", "4096", "x", ""} {
		if _, err := ParseVLAN(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseVLAN(%q) = %v, want ErrInvalid", s, err)
		}
	}
	if v, err := ParseVLAN("4095"); err != nil || v != 4095 {
		t.Errorf("ParseVLAN(4095) = %d, %v", v, err)
	}
	if _, err := ParseBool("trust", "maybe"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseBool(maybe) = %v", err)
	}
	if s, err := ParseLinkState("disable"); err != nil || LinkStateName(s) != "disable" {
		t.Errorf("ParseLinkState(disable) = %d, %v", s, err)
	}
	if err := Defaults().Validate(); err != nil {
		t.Errorf("Defaults do not validate: %v", err)
	}
}

// Binding for passthrough cannot be exercised in the test guest (no
// vIOMMU for vfio-pci); over the recorded tree the sysfs writes and their
// order can: unbind from igbvf, driver_override, drivers_probe. The tree
// does not react, so Bind reports that the driver did not take the VF.
func TestBindWritesOverrideThenProbe(t *testing.T) {
	lines := append(sriovtest.Load(t, recorded), "D bus/pci/drivers/vfio-pci")
	h := host(t, lines)
	vf, err := h.LookupVF("eth0", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := vf.Bind("no-such-driver"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Bind(no-such-driver) = %v, want ErrNotFound", err)
	}
	if err := vf.Bind("../x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Bind(../x) = %v, want ErrInvalid", err)
	}
	err = vf.Bind("vfio-pci")
	if err == nil || !strings.Contains(err.Error(), "vfio-pci did not bind") {
		t.Errorf("Bind(vfio-pci) on a tree that does not react = %v", err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(h.Sysfs, p))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := read("bus/pci/drivers/igbvf/unbind"); got != "0000:01:10.6" {
		t.Errorf("igbvf/unbind got %q", got)
	}
	if got := read("bus/pci/devices/0000:01:10.6/driver_override"); got != "vfio-pci" {
		t.Errorf("driver_override = %q, want vfio-pci", got)
	}
	if got := read("bus/pci/drivers_probe"); got != "0000:01:10.6" {
		t.Errorf("drivers_probe got %q", got)
	}
}
