package netdev

import (
	"errors"
	"strings"
	"testing"

	"vswitch/sriov"
	"vswitch/sriov/sriovtest"
)

// The sriov-vf option checks over the sysfs tree recorded in the igb
// guest: each bad input is refused with a specific error.
func TestSRIOVVFCheck(t *testing.T) {
	lines := sriovtest.Load(t, "../../sriov/testdata/igb-4vfs.txt")
	lines = append(lines, "D class/net/veth0")
	old := SRIOVHost
	SRIOVHost = sriov.NewHost(sriovtest.Materialize(t, lines))
	t.Cleanup(func() { SRIOVHost = old })

	vfClaims.Lock()
	vfClaims.m["eth0/1"] = "vf1"
	vfClaims.Unlock()
	t.Cleanup(func() {
		vfClaims.Lock()
		delete(vfClaims.m, "eth0/1")
		vfClaims.Unlock()
	})

	ok := map[string]string{"pf": "eth0", "vf": "2", "mac": "02:00:00:00:00:02", "vlan": "42", "trust": "false", "spoofchk": "on"}
	if err := ValidatePort("vf2", "sriov-vf", ok); err != nil {
		t.Fatalf("good options refused: %v", err)
	}
	// The port holding a VF may change its own options.
	if err := ValidatePort("vf1", "sriov-vf", map[string]string{"pf": "eth0", "vf": "1", "vlan": "7"}); err != nil {
		t.Errorf("vf1 re-validating its own VF: %v", err)
	}
	for _, c := range []struct {
		name string
		opts map[string]string
		want string
	}{
		{"no pf", map[string]string{"vf": "0"}, "needs options:pf"},
		{"no vf", map[string]string{"pf": "eth0"}, "needs options:vf"},
		{"missing pf", map[string]string{"pf": "eth9", "vf": "0"}, "not found"},
		{"not sriov", map[string]string{"pf": "veth0", "vf": "0"}, "not an SR-IOV physical function"},
		{"vf netdev as pf", map[string]string{"pf": "eth1", "vf": "0"}, "not an SR-IOV physical function"},
		{"vf range", map[string]string{"pf": "eth0", "vf": "7"}, "out of range"},
		{"vf not enabled", map[string]string{"pf": "eth0", "vf": "5"}, "4 VFs are enabled"},
		{"vf negative", map[string]string{"pf": "eth0", "vf": "-1"}, "must be a VF index"},
		{"in use", map[string]string{"pf": "eth0", "vf": "1"}, "already used by port vf1"},
		{"bad mac", map[string]string{"pf": "eth0", "vf": "0", "mac": "02:00:zz:00:00:01"}, "MAC"},
		{"multicast mac", map[string]string{"pf": "eth0", "vf": "0", "mac": "01:00:00:00:00:01"}, "multicast"},
		{"vlan 4096", map[string]string{"pf": "eth0", "vf": "0", "vlan": "4096"}, "VLAN \"4096\""},
		{"qos", map[string]string{"pf": "eth0", "vf": "0", "vlan": "5", "qos": "9"}, "QoS 9"},
		{"trust", map[string]string{"pf": "eth0", "vf": "0", "trust": "sometimes"}, "trust"},
		{"link state", map[string]string{"pf": "eth0", "vf": "0", "link_state": "up"}, "link state"},
		{"bind", map[string]string{"pf": "eth0", "vf": "0", "bind": "uio"}, "only vfio-pci"},
		{"unknown key", map[string]string{"pf": "eth0", "vf": "0", "color": "red"}, "unknown option"},
	} {
		err := ValidatePort("bad1", "sriov-vf", c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", c.name, err)
		}
	}
	// bind=vfio-pci validates (the bind itself needs an IOMMU: not here).
	if err := ValidateOptions("sriov-vf", map[string]string{"pf": "eth0", "vf": "3", "bind": "vfio-pci"}); err != nil {
		t.Errorf("bind=vfio-pci refused: %v", err)
	}
	if _, err := parseVFSpec(map[string]string{"pf": "eth0", "vf": "0"}); err != nil {
		t.Fatal(err)
	}
	s, _ := parseVFSpec(map[string]string{"pf": "eth0", "vf": "0"})
	if *s.cfg.Spoofchk || !*s.cfg.Trust {
		t.Errorf("switch-port defaults: spoofchk %t trust %t, want off and on", *s.cfg.Spoofchk, *s.cfg.Trust)
	}
	if !errors.Is(checkSRIOVVFClaim("vf9", map[string]string{"pf": "eth0", "vf": "1"}), sriov.ErrBusy) {
		t.Error("a claimed VF is not ErrBusy")
	}
}

// Options removed from a port put their settings back to the defaults.
func TestSRIOVVFRemovedOptions(t *testing.T) {
	prev := map[string]string{"pf": "eth0", "vf": "1", "mac": "02:00:00:00:00:01", "vlan": "7", "qos": "3", "max_rate": "100"}
	cur := map[string]string{"pf": "eth0", "vf": "1", "vlan": "9"}
	s, err := parseVFSpec(cur)
	if err != nil {
		t.Fatal(err)
	}
	c := withRemovedDefaults(s.cfg, prev, cur)
	if c.MAC.String() != "00:00:00:00:00:00" || *c.VLAN != 9 || *c.QoS != 0 || *c.MaxRate != 0 || c.LinkState != nil {
		t.Errorf("after removing mac, qos, max_rate: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the merged config does not validate: %v", err)
	}
}
