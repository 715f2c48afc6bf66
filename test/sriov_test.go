package e2e

// The SR-IOV end-to-end test: a q35 TCG guest under QEMU >= 10 whose NIC
// is QEMU's "igb" (an emulated Intel 82576 with SR-IOV) behind a PCIe root
// port. The guest (test/vm/build-sriov-guest.sh, plus an overlay archive
// with the static binaries built here) runs test/vm/sriov-e2e.sh, which
// drives the static vswitchd and vsctl inside it; this file boots it,
// records the NIC's wire side with filter-dump and asserts on the console
// lines and the pcap.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// qemuMajor is the major version of qemu-system-x86_64 (0 if unknown).
func qemuMajor() int {
	out, err := exec.Command(qemuBin, "--version").Output()
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`version (\d+)\.`).FindSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// sriovGuest builds the guest: the cached base (kernel, busybox, igb,
// igbvf, veth, tun) and an overlay with static vswitchd, vsctl, nettool,
// sriovtool and the scenario script; it returns kernel and initrd.
func sriovGuest(t *testing.T, dir string) (kernel, initrd string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "vm/build-sriov-guest.sh", guestCache())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("building the SR-IOV guest (test/vm/build-sriov-guest.sh): %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	base := lines[len(lines)-1]
	ver, _ := os.ReadFile(filepath.Join(base, "version"))
	t.Logf("guest base: %s", strings.TrimSpace(string(ver)))

	root := filepath.Join(dir, "overlay")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	repo, _ := filepath.Abs("..")
	// CGO_ENABLED=0 rebuilds everything once (a cold cache takes minutes
	// on a busy 2-core machine).
	bctx, bcancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer bcancel()
	build := exec.CommandContext(bctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(root, "bin")+"/",
		"./cmd/vswitchd", "./cmd/vsctl", "./test/cmd/nettool", "./test/cmd/sriovtool")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build for the guest (CGO_ENABLED=0): %v\n%s", err, out)
	}
	script, err := os.ReadFile("vm/sriov-e2e.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "sriov-e2e"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	// The kernel unpacks concatenated archives: base first, overlay on top.
	overlay := filepath.Join(dir, "overlay.cpio.gz")
	pack := exec.CommandContext(ctx, "sh", "-c", "find . | sort | cpio -o -H newc --quiet | gzip -1 > "+overlay)
	pack.Dir = root
	if out, err := pack.CombinedOutput(); err != nil {
		t.Fatalf("pack overlay: %v\n%s", err, out)
	}
	initrd = filepath.Join(dir, "initrd.cpio.gz")
	f, err := os.Create(initrd)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(base, "initramfs.cpio.gz"), overlay} {
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
	return filepath.Join(base, "vmlinux"), initrd
}

// bootIgbGuest runs the guest to its GUEST-EXIT line and returns the
// console. The igb device's netdev is a hubport with no other member, so
// nothing leaves QEMU; filter-dump writes what the NIC put on the wire.
func bootIgbGuest(t *testing.T, kernel, initrd, run, dir, pcap string, timeout time.Duration) []string {
	t.Helper()
	console := filepath.Join(dir, "console.log")
	if err := os.WriteFile(console, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	appendArgs := "console=ttyS0 quiet panic=-1 ipv6.disable=1 mitigations=off vsw_run=" +
		base64.StdEncoding.EncodeToString([]byte(run))
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		// -smp 2: vswitchd's PMD must not take the only vCPU.
		"-accel", "tcg", "-machine", "q35", "-smp", "2", "-m", "1024M",
		"-kernel", kernel, "-initrd", initrd, "-append", appendArgs,
		// igb behind a root port: on pcie.0 VF creation is 5x slower and
		// a rebound VF never finishes its reset handshake.
		"-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
		"-netdev", "hubport,id=n1,hubid=0",
		"-object", "filter-dump,id=dump0,netdev=n1,file=" + pcap,
		"-device", "igb,bus=rp1,netdev=n1,mac=52:54:00:12:34:56,romfile=",
		"-serial", "file:" + console, "-monitor", "none",
	}
	qlog, err := os.Create(filepath.Join(dir, "qemu.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer qlog.Close()
	cmd := exec.Command(qemuBin, args...)
	cmd.Stdout, cmd.Stderr = qlog, qlog
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.After(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lines []string
	read := func() {
		b, _ := os.ReadFile(console)
		lines = strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n")
	}
	for {
		select {
		case err := <-exited:
			exited <- err
			read()
			if !hasPrefix(lines, "GUEST-EXIT") {
				q, _ := os.ReadFile(filepath.Join(dir, "qemu.log"))
				t.Fatalf("QEMU exited (%v) before GUEST-EXIT; console:\n%s\nqemu:\n%s", err, strings.Join(lines, "\n"), q)
			}
			t.Logf("guest ran %.1f s (QEMU start to exit)", time.Since(start).Seconds())
			return lines
		case <-deadline:
			read()
			t.Fatalf("guest did not finish in %v; console:\n%s", timeout, strings.Join(lines, "\n"))
		case <-tick.C:
			// The guest has printed its last line: give QEMU a moment to
			// power off (with VFs enabled the guest kernel may hang in
			// device shutdown under TCG), then stop it.
			read()
			if hasPrefix(lines, "GUEST-EXIT") {
				select {
				case err := <-exited:
					exited <- err
				case <-time.After(10 * time.Second):
					t.Logf("guest printed GUEST-EXIT but QEMU did not power off in 10 s: killed")
					cmd.Process.Kill()
				}
				t.Logf("guest ran %.1f s (QEMU start to GUEST-EXIT)", time.Since(start).Seconds())
				return lines
			}
		}
	}
}

func hasPrefix(lines []string, p string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// linesWith returns the lines starting with prefix (prefix stripped).
func linesWith(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix+" ") {
			out = append(out, strings.TrimPrefix(l, prefix+" "))
		}
	}
	return out
}

// kv parses "k=v k=v" words of a line.
func kv(line string) map[string]string {
	m := map[string]string{}
	for _, w := range strings.Fields(line) {
		if k, v, ok := strings.Cut(w, "="); ok {
			m[k] = v
		}
	}
	return m
}

// pcapFrames reads a classic pcap file (what filter-dump writes).
func pcapFrames(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("wire pcap: %v", err)
	}
	if len(b) < 24 {
		t.Fatalf("wire pcap %s: %d bytes, no header", path, len(b))
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if binary.BigEndian.Uint32(b) == 0xa1b2c3d4 {
		bo = binary.BigEndian
	}
	var out [][]byte
	for off := 24; off+16 <= len(b); {
		n := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			break
		}
		out = append(out, b[off:off+n])
		off += n
	}
	return out
}

func TestSRIOVIgbGuest(t *testing.T) {
	requireE2E(t, qemuBin, "apt-get", "apt-cache", "dpkg-deb", "cpio", "depmod", "xz", "gzip", "go")
	if v := qemuMajor(); v < 10 {
		msg := fmt.Sprintf("QEMU %d is too old: the igb device with SR-IOV needs QEMU >= 10 (make deps installs it from bookworm-backports)", v)
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	kernel, initrd := sriovGuest(t, dir)
	pcap := filepath.Join(dir, "wire.pcap")
	lines := bootIgbGuest(t, kernel, initrd, "sriov-e2e eth0", dir, pcap, 8*time.Minute)
	t.Logf("console:\n%s", strings.Join(lines, "\n"))
	if !hasPrefix(lines, "E2E-DONE") {
		t.Fatalf("scenario did not finish (no E2E-DONE)")
	}

	// 4 VFs, each bound to igbvf with a netdev.
	if nv := linesWith(lines, "E2E-NUMVFS"); len(nv) != 1 || kv(nv[0])["vfs"] != "4" {
		t.Errorf("VF creation: %q, want vfs=4", nv)
	}
	vfs := 0
	for _, l := range linesWith(lines, "E2E-SHOW0") {
		if strings.HasPrefix(l, "SRIOV-VF ") {
			m := kv(l)
			if m["driver"] != "igbvf" || m["netdev"] == "" {
				t.Errorf("VF not bound to igbvf with a netdev: %s", l)
			}
			vfs++
		}
	}
	if vfs != 4 {
		t.Errorf("sriovtool show listed %d VFs, want 4", vfs)
	}

	// A <-> B across both switches: pings and TCP bytes verified.
	pingRecv := func(label string) int {
		for _, l := range linesWith(lines, "E2E-PING") {
			if strings.HasPrefix(l, label+" ") {
				m := regexp.MustCompile(`(\d+) packets received`).FindStringSubmatch(l)
				if m != nil {
					n, _ := strconv.Atoi(m[1])
					return n
				}
			}
		}
		return -1
	}
	if n := pingRecv("first"); n < 3 {
		t.Errorf("A -> B: %d of 5 pings answered", n)
	}
	if n := pingRecv("b2a"); n < 2 {
		t.Errorf("B -> A: %d of 3 pings answered", n)
	}
	src, sink := linesWith(lines, "E2E-TCP-SOURCE"), linesWith(lines, "E2E-TCP-SINK")
	var sm, km map[string]string
	for _, l := range src {
		if strings.Contains(l, "sha256=") {
			sm = kv(l)
		}
	}
	for _, l := range sink {
		if strings.Contains(l, "sha256=") {
			km = kv(l)
		}
	}
	if sm == nil || km == nil || sm["bytes"] != "2000000" || km["bytes"] != "2000000" || sm["sha256"] != km["sha256"] {
		t.Errorf("TCP A -> B: source %v, sink %v: want 2000000 bytes with the same sha256", src, sink)
	}

	// Our VF port's counters moved and B's MAC is a unicast filter on VF 1.
	var amac, bmac string
	if a := linesWith(lines, "E2E-A"); len(a) == 1 {
		amac = kv(a[0])["mac"]
	}
	if b := linesWith(lines, "E2E-B"); len(b) == 1 {
		bmac = kv(b[0])["mac"]
	}
	if amac == "" || bmac == "" {
		t.Errorf("MACs of A (%q) and B (%q) not reported", amac, bmac)
	}
	if f := linesWith(lines, "E2E-FILTERS"); len(f) != 1 || !strings.Contains(f[0], bmac) || bmac == "" {
		t.Errorf("unicast filters on VF 1's netdev: %q, want B's MAC %s", f, bmac)
	}
	show := strings.Join(linesWith(lines, "E2E-SHOW2"), "\n")
	if !strings.Contains(show, "sriov_filter_list") || !strings.Contains(show, bmac) {
		t.Errorf("vsctl show lacks the VF port's filter status:\n%s", show)
	}
	// vf1's counters: every A <-> B packet crossed it (2 MB one way).
	if m := regexp.MustCompile(`(?s)Interface vf1\n.*?statistics: \{rx_packets=(\d+), rx_bytes=(\d+),[^}]*tx_packets=(\d+)`).FindStringSubmatch(show); m == nil {
		t.Errorf("vsctl show has no vf1 counters:\n%s", show)
	} else {
		rx, _ := strconv.Atoi(m[1])
		rxBytes, _ := strconv.Atoi(m[2])
		tx, _ := strconv.Atoi(m[3])
		t.Logf("vf1 counters after ping + TCP: rx_packets=%d rx_bytes=%d tx_packets=%d", rx, rxBytes, tx)
		if rxBytes < 2000000 || tx < 10 {
			t.Errorf("vf1 rx_bytes=%d tx_packets=%d: the 2 MB from A did not all cross our VF port", rxBytes, tx)
		}
	}

	// The wire: unicast between A and B never left the NIC.
	// Until the bridge has learned B and programmed B's MAC on VF 1, the
	// NIC does not know B: A's first unicast to B goes to the wire (and is
	// lost, the hubport has no other member). Each such frame is a lost
	// ping of the first round; nothing else may leave, the TCP transfer
	// above all.
	frames := pcapFrames(t, pcap)
	unicastAB, bcast, earlyEcho, otherUnicast := 0, 0, 0, 0
	for _, f := range frames {
		if len(f) < 14 {
			continue
		}
		dst, srcm := macString(f[0:6]), macString(f[6:12])
		t.Logf("wire frame: %s > %s type %02x%02x len %d", srcm, dst, f[12], f[13], len(f))
		if f[0]&1 != 0 {
			bcast++
			continue
		}
		if !(srcm == amac && dst == bmac) && !(srcm == bmac && dst == amac) {
			// A's replies to the overflow step's extra hosts: the NIC
			// knows their MACs only once (if ever) they are programmed.
			otherUnicast++
			continue
		}
		unicastAB++
		// IPv4 ICMP echo request from A to B.
		if srcm == amac && len(f) >= 35 && f[12] == 8 && f[13] == 0 && f[23] == 1 && f[34] == 8 {
			earlyEcho++
		}
	}
	lostFirst := 5 - pingRecv("first")
	t.Logf("wire pcap: %d frames, %d broadcast/multicast, %d unicast between A and B (%d of them echo requests A->B; first round lost %d pings), %d other unicast",
		len(frames), bcast, unicastAB, earlyEcho, lostFirst, otherUnicast)
	if unicastAB != earlyEcho || earlyEcho > lostFirst {
		t.Errorf("%d unicast frames between A and B reached the wire (%d early echo requests, %d pings lost): the NIC did not switch them",
			unicastAB, earlyEcho, lostFirst)
	}

	// igbvf holds 3 unicast filters: the fourth MAC is counted, not programmed.
	ov := strings.Join(linesWith(lines, "E2E-OVERFLOW"), "\n")
	mf := regexp.MustCompile(`sriov_filters="(\d+)"`).FindStringSubmatch(ov)
	mo := regexp.MustCompile(`sriov_filter_overflow="(\d+)"`).FindStringSubmatch(ov)
	// The NIC hands the switch's flood of each extra host's broadcast back
	// into VF 1: dropped as reflections, the hosts' MACs stay on their ports.
	if mr := regexp.MustCompile(`sriov_reflected_drops="(\d+)"`).FindStringSubmatch(ov); mr == nil || mr[1] == "0" {
		t.Errorf("no reflection dropped on vf1 in the overflow step:\n%s", ov)
	} else {
		t.Logf("reflections dropped on vf1 (the NIC handing back the extra hosts' broadcasts): %s", mr[1])
	}
	onPort := map[string][]string{}
	for _, l := range linesWith(lines, "E2E-FDB4") {
		if f := strings.Fields(l); len(f) == 4 && f[0] != "port" {
			onPort[f[0]] = append(onPort[f[0]], f[2])
		}
	}
	for _, of := range []string{"3", "4", "5"} {
		if len(onPort[of]) != 1 {
			t.Errorf("extra host on ofport %s: fdb has %v, want its MAC there", of, onPort[of])
		}
	}
	if len(onPort["2"]) != 1 || onPort["2"][0] != amac {
		t.Errorf("fdb on vf1 (ofport 2): %v, want only A's MAC %s (a reflection moved a MAC)", onPort["2"], amac)
	}
	if mf == nil || mo == nil || mf[1] != "3" || mo[1] == "0" {
		t.Errorf("4 MACs for VF 1 (igbvf holds 3): want sriov_filters=3 and an overflow, got:\n%s", ov)
	}
	if f := linesWith(lines, "E2E-FILTERS4"); len(f) != 1 || kv(f[0])["n"] != "3" {
		t.Errorf("unicast filters on VF 1's netdev with 4 MACs wanted: %q, want n=3", f)
	}
	t.Logf("overflow: %s", ov)

	// vsctl sriov/show: the PF, its 4 VFs and which port holds VF 1.
	ss := strings.Join(linesWith(lines, "E2E-SRIOVSHOW"), "\n")
	if !strings.Contains(ss, "eth0: pci 0000:01:00.0 driver igb vfs 4/7") ||
		!regexp.MustCompile(`vf 1: pci 0000:01:10.2 driver igbvf .*mac 02:00:00:00:01:01 .*spoofchk off trust on .*port vf1`).MatchString(ss) {
		t.Errorf("vsctl sriov/show:\n%s", ss)
	}

	// Settings through vsctl, read back through rtnetlink; delete resets.
	want := func(prefix string, exp map[string]string) {
		t.Helper()
		ls := linesWith(lines, prefix)
		if len(ls) != 1 {
			t.Errorf("%s: %q", prefix, ls)
			return
		}
		m := kv(ls[0])
		for k, v := range exp {
			if m[k] != v {
				t.Errorf("%s: %s=%s, want %s (%s)", prefix, k, m[k], v, ls[0])
			}
		}
	}
	want("E2E-VF3-SET", map[string]string{"mac": "02:00:00:00:03:03", "vlan": "42", "trust": "false", "spoofchk": "true"})
	defaults := map[string]string{"mac": "00:00:00:00:00:00", "vlan": "0", "qos": "0", "trust": "false", "spoofchk": "true"}
	want("E2E-VF3-DEL", defaults)
	want("E2E-VF1", map[string]string{"mac": "02:00:00:00:01:01", "trust": "true", "spoofchk": "false"})

	// The igb link-state refusal is a clear error.
	if ls := strings.Join(linesWith(lines, "E2E-LINKSTATE"), "\n"); !strings.Contains(ls, "link state") || !strings.Contains(ls, "not supported") {
		t.Errorf("link_state on igb: want a 'link state ... not supported' error, got:\n%s", ls)
	}

	// Bad input: refused with a specific error, nothing changed.
	badWant := map[string]string{
		"notsriov": "not an SR-IOV", "nopf": "not found", "vfrange": "out of range",
		"inuse": "already used by port vf1", "badmac": "MAC", "vlan4096": "VLAN",
	}
	for _, l := range linesWith(lines, "E2E-BAD") {
		label, rest, _ := strings.Cut(l, " ")
		m := kv(rest)
		if m["rc"] == "0" || m["unchanged"] != "yes" || !strings.Contains(rest, badWant[label]) {
			t.Errorf("bad input %s: %s (want a failing add-port naming %q, nothing changed)", label, rest, badWant[label])
		}
		delete(badWant, label)
	}
	if len(badWant) != 0 {
		t.Errorf("bad-input cases not run: %v", badWant)
	}

	// Restart: the change made behind the switch's back is reported and undone.
	want("E2E-VF1-BEHIND", map[string]string{"trust": "false", "spoofchk": "true"})
	if s3 := strings.Join(linesWith(lines, "E2E-SHOW3"), "\n"); !strings.Contains(s3, "sriov_drift") || !strings.Contains(s3, "trust is false, want true") {
		t.Errorf("after restart: no drift report in vsctl show:\n%s", s3)
	}
	want("E2E-VF1-RESTART", map[string]string{"mac": "02:00:00:00:01:01", "trust": "true", "spoofchk": "false"})
	if n := pingRecv("restart"); n < 3 {
		t.Errorf("A -> B after restart: %d of 5 pings answered", n)
	}
	want("E2E-SET", map[string]string{"rc": "0", "error": "0"})
	want("E2E-VF1-VLAN5", map[string]string{"vlan": "5", "mac": "02:00:00:00:01:01", "trust": "true"})
	want("E2E-REMOVE", map[string]string{"rc": "0"})
	want("E2E-VF1-NOVLAN", map[string]string{"vlan": "0", "mac": "02:00:00:00:01:01", "trust": "true"})
	want("E2E-VF1-DEL", defaults)
}

func macString(b []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}
