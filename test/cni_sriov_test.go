package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCNISRIOVIgbGuest runs vswitch-cni's sriov mode inside the SR-IOV
// issue's igb guest (sriov_test.go builds and boots it; this test adds a
// second overlay with a static vswitch-cni and test/vm/cni-sriov-e2e.sh):
// two pods get a configured VF each (MAC, spoofchk, trust, MTU) moved into
// their namespace and ping each other across the NIC's embedded switch; a
// third ADD finds no free VF; DEL gives every VF its defaults back and its
// netdev back to the host, also when the pod's namespace is already gone,
// and a second DEL succeeds.
func TestCNISRIOVIgbGuest(t *testing.T) {
	requireE2E(t, qemuBin, "apt-get", "apt-cache", "dpkg-deb", "cpio", "depmod", "xz", "gzip", "go")
	if v := qemuMajor(); v < 10 {
		msg := fmt.Sprintf("QEMU %d is too old: the igb device with SR-IOV needs QEMU >= 10 (make deps installs it from bookworm-backports)", v)
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	kernel, base := sriovGuest(t, dir)

	root := filepath.Join(dir, "cni-overlay")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(root, "bin")+"/", "./cmd/vswitch-cni")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static vswitch-cni: %v\n%s", err, out)
	}
	script, err := os.ReadFile("vm/cni-sriov-e2e.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "cni-sriov-e2e"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(dir, "cni-overlay.cpio.gz")
	pack := exec.Command("sh", "-c", "find . | sort | cpio -o -H newc --quiet | gzip -1 > "+overlay)
	pack.Dir = root
	if out, err := pack.CombinedOutput(); err != nil {
		t.Fatalf("pack overlay: %v\n%s", err, out)
	}
	initrd := filepath.Join(dir, "cni-initrd.cpio.gz")
	f, err := os.Create(initrd)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, overlay} { // the kernel unpacks both, in order
		in, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(f, in)
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	lines := bootIgbGuest(t, kernel, initrd, "cni-sriov-e2e eth0", dir, filepath.Join(dir, "wire.pcap"), 8*time.Minute)
	t.Logf("console:\n%s", strings.Join(lines, "\n"))
	if !hasPrefix(lines, "CNI-DONE") {
		t.Fatalf("scenario did not finish (no CNI-DONE)")
	}
	one := func(prefix string) string {
		l := linesWith(lines, prefix)
		if len(l) == 0 {
			t.Fatalf("no %s line", prefix)
		}
		return l[0]
	}
	vf := func(show string, idx int) map[string]string {
		for _, l := range linesWith(lines, show) {
			if m := kv(l); strings.HasPrefix(l, "SRIOV-VF ") && m["vf"] == fmt.Sprint(idx) {
				return m
			}
		}
		t.Fatalf("no VF %d in %s", idx, show)
		return nil
	}

	// ADD: results name the VF's PCI address and the pod interface.
	for _, p := range []struct{ add, mac string }{{"CNI-ADD-A", "02:00:00:00:0a:01"}, {"CNI-ADD-B", "02:00:00:00:0a:02"}} {
		r := one(p.add)
		if !strings.Contains(r, `"pciID":"`) || !strings.Contains(r, `"name":"net1"`) || !strings.Contains(r, `"mac":"`+p.mac+`"`) {
			t.Errorf("%s result: %s", p.add, r)
		}
	}
	// The VFs carry the settings; their netdevs are in the pods.
	a, b := vf("CNI-SHOW1", 0), vf("CNI-SHOW1", 1)
	if a["mac"] != "02:00:00:00:0a:01" || a["spoofchk"] != "true" || a["trust"] != "true" {
		t.Errorf("VF 0 after ADD: %v", a)
	}
	if b["mac"] != "02:00:00:00:0a:02" || b["trust"] != "false" {
		t.Errorf("VF 1 after ADD: %v", b)
	}
	for _, l := range []string{"CNI-LINK-A", "CNI-LINK-B"} {
		if s := one(l); !strings.Contains(s, "net1") || !strings.Contains(s, "mtu 1400") {
			t.Errorf("%s: %s", l, s)
		}
	}
	if p := one("CNI-PING"); !strings.Contains(p, " 0% packet loss") && !strings.Contains(p, "5 packets received") {
		t.Errorf("pod A -> pod B across the VFs: %s", p)
	}
	if s := one("CNI-THIRD"); !strings.Contains(s, `"code":103`) {
		t.Errorf("third ADD with both VFs handed out: %s", s)
	}
	for _, want := range []string{"CNI-CHECK rc=0", "CNI-DEL a rc=0", "CNI-DEL b-gone-netns rc=0", "CNI-DEL a-again rc=0"} {
		if !hasPrefix(lines, want) {
			t.Errorf("missing %q", want)
		}
	}
	// DEL: defaults back, netdevs back in the host, no records left.
	before0, before1 := vf("CNI-SHOW0", 0), vf("CNI-SHOW0", 1)
	for i, m := range []map[string]string{vf("CNI-SHOW2", 0), vf("CNI-SHOW2", 1)} {
		if m["mac"] != "00:00:00:00:00:00" || m["vlan"] != "0" || m["spoofchk"] != "true" || m["trust"] != "false" || m["netdev"] == "" {
			t.Errorf("VF %d after DEL: %v", i, m)
		}
	}
	if a2, b2 := vf("CNI-SHOW2", 0), vf("CNI-SHOW2", 1); a2["netdev"] != before0["netdev"] || b2["netdev"] != before1["netdev"] {
		t.Errorf("VF netdev names after DEL %s/%s, before ADD %s/%s", a2["netdev"], b2["netdev"], before0["netdev"], before1["netdev"])
	}
	if s := linesWith(lines, "CNI-STATE"); len(s) != 0 {
		t.Errorf("VF records left after DEL: %v", s)
	}
}
