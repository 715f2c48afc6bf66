//go:build !dpdk

package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// A binary built without DPDK refuses type=dpdk and --dpdk-eal-args,
// saying how to build one with it; nothing is stored.
func TestDPDKRefusedWithoutTag(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	br := d.AddBridge("brn")
	r := d.VsctlErr("add-port", br, "nd0", "--", "set", "Interface", "nd0", "type=dpdk", "options:dpdk-devargs=net_null0")
	if r.Code == 0 || !strings.Contains(r.Stderr, "built without DPDK") || !strings.Contains(r.Stderr, "go build -tags dpdk") {
		t.Fatalf("add-port type=dpdk: exit %d, stderr %q; want the built-without-DPDK error", r.Code, r.Stderr)
	}
	if out := d.Vsctl("list-ports", br); strings.Contains(out, "nd0") {
		t.Fatalf("refused dpdk port stored:\n%s", out)
	}
	d2 := newDaemon(t)
	d2.Extra = append(d2.Extra, "--dpdk-eal-args", "-l 0")
	out, err := exec.Command(vswitchdBin, d2.args()...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "built without DPDK") {
		t.Fatalf("vswitchd --dpdk-eal-args without DPDK: %v\n%s", err, out)
	}
}
