// Package e2e runs vswitchd and vsctl as an operator would, against real
// kernel peers: network namespaces joined to bridges by veth pairs, ping,
// tcpdump and TCP transfers. The tests need root; under CI=true a missing
// prerequisite fails the test instead of skipping it.
package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries under test and the helper, set up by TestMain.
var (
	vswitchdBin string
	vsctlBin    string
	nettoolBin  string
	// setupErr is a missing prerequisite (not root, no netns support);
	// buildErr is a failed build, which always fails the tests.
	setupErr error
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vswitch-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	if os.Geteuid() != 0 {
		setupErr = errors.New("end-to-end tests need root (network namespaces, veth, AF_PACKET)")
	} else {
		buildErr = buildBinaries(dir)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinaries builds the daemon, the CLI and nettool into dir, unless
// VSWITCH_BIN_DIR names a directory holding prebuilt vswitchd and vsctl
// (make test builds them once into bin/).
func buildBinaries(dir string) error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("repository root not found above the test directory: %w", err)
	}
	pkgs := []string{"./test/cmd/nettool"}
	binDir := os.Getenv("VSWITCH_BIN_DIR")
	if binDir == "" {
		pkgs = append(pkgs, "./cmd/vswitchd", "./cmd/vsctl")
		binDir = dir
	}
	cmd := exec.Command("go", append(append([]string{"build", "-o", dir + "/"}, e2eBuildTags...), pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	vswitchdBin = filepath.Join(binDir, "vswitchd")
	vsctlBin = filepath.Join(binDir, "vsctl")
	nettoolBin = filepath.Join(dir, "nettool")
	for _, b := range []string{vswitchdBin, vsctlBin} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("binary under test: %w", err)
		}
	}
	return nil
}

// e2eBuildTags are go build flags for the binaries built here (dpdk_test.go
// adds -tags dpdk in a dpdk build of the tests).
var e2eBuildTags []string

// inCI reports whether missing prerequisites must fail rather than skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// requireE2E stops the test when the environment cannot run it: a failure
// under CI=true (a test that cannot run must not look like it passed), a
// skip elsewhere. tools are commands the test runs besides ip.
func requireE2E(t *testing.T, tools ...string) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("build failed: %v", buildErr)
	}
	var missing []string
	if setupErr != nil {
		missing = append(missing, setupErr.Error())
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s not installed (make test installs it)", tool))
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "prerequisite missing: " + strings.Join(missing, "; ")
	if inCI() {
		t.Fatalf("%s (CI=true: failing instead of skipping)", msg)
	}
	t.Skip(msg)
}

// uniq returns prefix followed by n random hex digits.
func uniq(prefix string, n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)[:n]
}

// run runs a command and fails the test if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// runErr runs a command with a generous timeout and returns its combined output.
func runErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// ---------------------------------------------------------------------------
// The daemon.

// Daemon is one vswitchd with its own store and run directory.
type Daemon struct {
	t        *testing.T
	Dir      string // run dir: the socket and every per-instance path
	DB       string
	Sock     string
	PMDCores string
	Extra    []string // more flags
	NS       string   // network namespace to run in ("" for the test's)

	mu      sync.Mutex
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	waitErr error
	// links are devices the daemon creates (bridge internal ports) that
	// must not outlive the test even if the daemon dies without cleaning up.
	links []string
}

// newDaemon prepares (but does not start) a daemon in a fresh temp dir;
// everything is removed when the test ends.
func newDaemon(t *testing.T) *Daemon {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep the dir short.
	dir, err := os.MkdirTemp("", "vsw-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{
		t:        t,
		Dir:      filepath.Join(dir, "run"),
		DB:       filepath.Join(dir, "conf.db"),
		Sock:     filepath.Join(dir, "run", "vswitchd.sock"),
		PMDCores: lastCPU(),
	}
	t.Cleanup(func() {
		d.Kill()
		for _, l := range d.links {
			exec.Command("ip", "link", "del", l).Run()
		}
		if t.Failed() {
			d.dumpLog(80)
		}
		os.RemoveAll(dir)
	})
	return d
}

// startDaemon is newDaemon + Start.
func startDaemon(t *testing.T) *Daemon {
	t.Helper()
	d := newDaemon(t)
	d.Start()
	return d
}

func (d *Daemon) args() []string {
	a := []string{"--db", d.DB, "--run-dir", d.Dir, "--pmd-cores", d.PMDCores, "--mem", "64M", "--log-level", "info"}
	return append(a, d.Extra...)
}

// Start launches vswitchd and waits until its socket accepts connections.
func (d *Daemon) Start() {
	d.t.Helper()
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		d.t.Fatal(err)
	}
	lf, err := os.OpenFile(filepath.Join(filepath.Dir(d.Dir), "vswitchd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	fmt.Fprintf(lf, "=== %s %s\n", vswitchdBin, strings.Join(d.args(), " "))
	cmd := exec.Command(vswitchdBin, d.args()...)
	if d.NS != "" { // ip netns exec execs vswitchd in place: same pid
		cmd = exec.Command("ip", append([]string{"netns", "exec", d.NS, vswitchdBin}, d.args()...)...)
	}
	cmd.Stdout = lf
	cmd.Stderr = lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		d.t.Fatalf("start vswitchd: %v", err)
	}
	exited := make(chan struct{})
	d.mu.Lock()
	d.cmd, d.logFile, d.exited = cmd, lf, exited
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.waitErr = err
		d.mu.Unlock()
		lf.Close()
		close(exited)
	}()

	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			d.t.Fatalf("vswitchd exited during start-up (%v); log:\n%s", d.waitErr, d.logTail(40))
		default:
		}
		if c, err := net.DialTimeout("unix", d.Sock, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("vswitchd socket %s not ready after 20s; log:\n%s", d.Sock, d.logTail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID is the running daemon's process id.
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd.Process.Pid
}

// Running reports whether the daemon process is still alive.
func (d *Daemon) Running() bool {
	d.mu.Lock()
	ch := d.exited
	d.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

// Stop sends sig and waits up to 15 s for the daemon to exit; it returns
// the process's exit error (nil for a clean exit).
func (d *Daemon) Stop(sig syscall.Signal) error {
	d.t.Helper()
	d.mu.Lock()
	cmd, ch := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(sig)
	select {
	case <-ch:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-ch
		d.t.Errorf("vswitchd did not exit within 15s of %v; killed", sig)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cmd = nil
	return d.waitErr
}

// Kill ends the daemon if it runs (cleanup).
func (d *Daemon) Kill() {
	d.mu.Lock()
	cmd, ch := d.cmd, d.exited
	d.cmd = nil
	d.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		<-ch
	}
}

func (d *Daemon) logTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(d.Dir), "vswitchd.log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (d *Daemon) dumpLog(n int) {
	d.t.Logf("vswitchd log (last %d lines):\n%s", n, d.logTail(n))
}

// trackLink records a device to delete when the test ends.
func (d *Daemon) trackLink(name string) { d.links = append(d.links, name) }

// VsctlResult is one vsctl run.
type VsctlResult struct {
	Stdout, Stderr string
	Code           int
}

// VsctlErr runs vsctl without judging the outcome.
func (d *Daemon) VsctlErr(args ...string) VsctlResult { return d.VsctlIn("", args...) }

// Vsctl runs vsctl and fails the test unless it succeeds; it returns stdout.
func (d *Daemon) Vsctl(args ...string) string {
	d.t.Helper()
	r := d.VsctlErr(args...)
	if r.Code != 0 {
		d.t.Fatalf("vsctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// AddBridge creates a bridge with a unique name (prefix + hex, ≤15 chars).
func (d *Daemon) AddBridge(prefix string) string {
	d.t.Helper()
	br := uniq(prefix, 6)
	d.trackLink(br)
	d.Vsctl("add-br", br)
	return br
}

// Ofport returns `get Interface IFACE ofport` as a number.
func (d *Daemon) Ofport(iface string) int {
	d.t.Helper()
	s := strings.TrimSpace(d.Vsctl("get", "Interface", iface, "ofport"))
	n, err := strconv.Atoi(s)
	if err != nil {
		d.t.Fatalf("get Interface %s ofport: %q is not a number", iface, s)
	}
	return n
}

// Show parses `vsctl show`.
func (d *Daemon) Show() *Show {
	d.t.Helper()
	return parseShow(d.Vsctl("show"))
}

// Stats returns the statistics of one interface from `show`.
func (d *Daemon) Stats(iface string) map[string]uint64 {
	d.t.Helper()
	s := d.Show()
	i := s.Iface(iface)
	if i == nil {
		d.t.Fatalf("show has no Interface %s:\n%s", iface, s.Raw)
	}
	if i.Stats == nil {
		d.t.Fatalf("show has no statistics for Interface %s:\n%s", iface, s.Raw)
	}
	return i.Stats
}

// WaitPortUp polls `show` until iface has an ofport ≥ 1 and no error.
func (d *Daemon) WaitPortUp(iface string) {
	d.t.Helper()
	var s *Show
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		s = d.Show()
		if i := s.Iface(iface); i != nil && i.Error == "" && i.Ofport > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.t.Fatalf("interface %s not up after 15s; show:\n%s", iface, s.Raw)
}

// ---------------------------------------------------------------------------
// Parsing vsctl output.

// Show is parsed `vsctl show` output (the ovs-vsctl layout).
type Show struct {
	Raw     string
	Bridges map[string][]string // bridge -> port names in order
	Ifaces  map[string]*ShowIface
}

// ShowIface is one Interface block of `show`.
type ShowIface struct {
	Bridge, Port string
	Type         string
	Ofport       int // 0 when not shown
	Error        string
	Stats        map[string]uint64
	Tag          string // of its Port
	Trunks       string
	Lines        []string
}

// Iface returns an interface block or nil.
func (s *Show) Iface(name string) *ShowIface { return s.Ifaces[name] }

var statRe = regexp.MustCompile(`([a-z_]+)=(\d+)`)

func parseShow(out string) *Show {
	s := &Show{Raw: out, Bridges: map[string][]string{}, Ifaces: map[string]*ShowIface{}}
	var br, port string
	var portTag, portTrunks string
	var cur *ShowIface
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, _ := strings.Cut(line, " ")
		switch {
		case key == "Bridge":
			br, port, cur = unquote(val), "", nil
			s.Bridges[br] = []string{}
		case key == "Port":
			port, cur = unquote(val), nil
			portTag, portTrunks = "", ""
			s.Bridges[br] = append(s.Bridges[br], port)
		case key == "Interface":
			cur = &ShowIface{Bridge: br, Port: port, Tag: portTag, Trunks: portTrunks}
			s.Ifaces[unquote(val)] = cur
		case key == "tag:" && cur == nil:
			portTag = strings.TrimSpace(val)
		case key == "trunks:" && cur == nil:
			portTrunks = strings.TrimSpace(val)
		case cur != nil:
			cur.Lines = append(cur.Lines, line)
			switch key {
			case "type:":
				cur.Type = unquote(strings.TrimSpace(val))
			case "ofport:":
				cur.Ofport, _ = strconv.Atoi(strings.TrimSpace(val))
			case "error:":
				cur.Error = unquote(strings.TrimSpace(val))
			case "statistics:":
				cur.Stats = map[string]uint64{}
				for _, m := range statRe.FindAllStringSubmatch(val, -1) {
					n, _ := strconv.ParseUint(m[2], 10, 64)
					cur.Stats[m[1]] = n
				}
			}
		}
	}
	return s
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return strings.Trim(s, `"`)
}

// stableShow is `show` without the parts that legitimately change between
// two looks at an unchanged configuration: counters and a leading UUID.
func stableShow(out string) string {
	var keep []string
	uuidRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	for _, l := range strings.Split(out, "\n") {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "statistics:") || uuidRe.MatchString(tl) {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// FDBEntry is one row of `fdb/show`.
type FDBEntry struct {
	Port string // ofport number, or LOCAL
	VLAN int
	MAC  string
}

// parseFDB parses ovs-appctl fdb/show output:
//
//	port  VLAN  MAC                Age
//	   1     0  aa:bb:cc:dd:ee:ff    3
func parseFDB(out string) []FDBEntry {
	var es []FDBEntry
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] == "port" {
			continue
		}
		vlan, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		if _, err := net.ParseMAC(f[2]); err != nil {
			continue
		}
		es = append(es, FDBEntry{Port: f[0], VLAN: vlan, MAC: strings.ToLower(f[2])})
	}
	return es
}

// ---------------------------------------------------------------------------
// Namespaces and veth pairs.

// Host is a network namespace joined to a bridge by a veth pair: the
// namespace end is eth0, the host end (Port) is what the switch attaches.
type Host struct {
	t    *testing.T
	NS   string
	Port string // host-side veth, also the vsctl port name
	IP   string // address without prefix
	MAC  string
}

// newNS creates a network namespace with loopback up and IPv6 off (so no
// router solicitations or MLD reports disturb counters).
func newNS(t *testing.T) string {
	t.Helper()
	ns := uniq("vswtest-", 8)
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return ns
}

// newHost creates a namespace and a veth pair (offloads left at their
// defaults), gives eth0 the address cidr and brings both ends up. The host
// end is not attached to any bridge; attach adds it.
func newHost(t *testing.T, cidr string) *Host {
	t.Helper()
	return newHostNamed(t, uniq("vt", 8), cidr)
}

func newHostNamed(t *testing.T, port, cidr string) *Host {
	t.Helper()
	ns := newNS(t)
	h := &Host{t: t, NS: ns, Port: port}
	run(t, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", port).Run() })
	// The host end carries no host traffic of its own: no IPv6 autoconf
	// chatter to disturb counters (the switch reads it with AF_PACKET).
	run(t, "sysctl", "-qw", "net.ipv6.conf."+port+".disable_ipv6=1")
	run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	run(t, "ip", "link", "set", port, "up")
	if cidr != "" {
		run(t, "ip", "-n", ns, "addr", "add", cidr, "dev", "eth0")
		h.IP, _, _ = strings.Cut(cidr, "/")
	}
	h.MAC = h.mac("eth0")
	return h
}

func (h *Host) mac(dev string) string {
	h.t.Helper()
	return strings.TrimSpace(strings.ToLower(run(h.t, "ip", "netns", "exec", h.NS, "cat", "/sys/class/net/"+dev+"/address")))
}

// Exec runs a command inside the namespace.
func (h *Host) Exec(args ...string) (string, error) {
	return runErr("ip", append([]string{"netns", "exec", h.NS}, args...)...)
}

// MustExec runs a command inside the namespace and fails the test on error.
func (h *Host) MustExec(args ...string) string {
	h.t.Helper()
	out, err := h.Exec(args...)
	if err != nil {
		h.t.Fatalf("[%s] %s: %v\n%s", h.NS, strings.Join(args, " "), err, out)
	}
	return out
}

// attach adds the host's veth to bridge br with extra vsctl arguments
// (e.g. "--", "set", "Port", p, "tag=10") and waits for it to come up.
// twoHosts makes two hosts on a fresh subnet (.1 and .2) and attaches both
// to br, the start of most forwarding tests.
func twoHosts(t *testing.T, d *Daemon, br string) (*Host, *Host) {
	t.Helper()
	net := subnet()
	h1 := newHost(t, net+".1/24")
	h2 := newHost(t, net+".2/24")
	attach(d, br, h1)
	attach(d, br, h2)
	return h1, h2
}

func attach(d *Daemon, br string, h *Host, extra ...string) {
	d.t.Helper()
	d.Vsctl(append([]string{"add-port", br, h.Port}, extra...)...)
	d.WaitPortUp(h.Port)
}

// pingOK waits (up to 10 s, for learning and ARP) until one ping from h to
// ip gets through, then requires 5 of 5 more to be answered.
func pingOK(t *testing.T, h *Host, ip string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var out string
	var err error
	for {
		out, err = h.Exec("ping", "-n", "-c", "1", "-W", "1", ip)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping %s -> %s: no reply within 10s: %v\n%s", h.NS, ip, err, out)
		}
	}
	out, err = h.Exec("ping", "-n", "-c", "5", "-i", "0.2", "-W", "2", ip)
	if err != nil || !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping %s -> %s: losses after the first reply: %v\n%s", h.NS, ip, err, out)
	}
}

// pingFails requires that no ping from h to ip is answered within 3 s.
func pingFails(t *testing.T, h *Host, ip string) {
	t.Helper()
	out, err := h.Exec("ping", "-n", "-c", "3", "-i", "0.5", "-W", "1", ip)
	if err == nil {
		t.Fatalf("ping %s -> %s got replies, want isolation:\n%s", h.NS, ip, out)
	}
}

// transfer moves n bytes over TCP from src to dst port 5001 with nettool
// and checks the sink received exactly what was sent (length and SHA-256).
// It returns the throughput in Mbit/s.
func transfer(t *testing.T, src, dst *Host, n int64) float64 {
	t.Helper()
	return transferPort(t, src, dst, "5001", n)
}

func parseKV(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// lastCPU is the highest online CPU number, the core tests pin the PMD to
// (leaving CPU 0 to the test's own processes where possible).
func lastCPU() string {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return "0"
	}
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexAny(s, ",-"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// subnet returns a random 10.x.y prefix so concurrent runs on one machine
// (in different namespaces, but still) never share addresses in logs.
func subnet() string {
	b := make([]byte, 2)
	rand.Read(b)
	return fmt.Sprintf("10.%d.%d", 100+int(b[0])%100, b[1])
}
