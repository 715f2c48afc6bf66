package e2e

// The VM harness: a tiny Debian guest (test/vm/build-guest.sh) booted by
// QEMU under TCG, whose only NIC is virtio-net-pci on a vhost-user netdev
// served by vswitchd. The guest runs one shell command given on its
// kernel command line and reports on its serial console, which a
// goroutine here tails, stamping every line with the host time it was
// seen.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
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

const qemuBin = "qemu-system-x86_64"

// guestImage is a built guest: kernel and initramfs.
type guestImage struct {
	Dir     string
	Kernel  string // uncompressed vmlinux (PVH entry: faster under TCG)
	Initrd  string
	Version string
}

var (
	guestOnce sync.Once
	guestImg  *guestImage
	guestErr  error
)

// guestCache is where built guests live, keyed by package versions, so
// only the first run on a machine downloads the kernel.
func guestCache() string {
	if d := os.Getenv("VSWITCH_GUEST_CACHE"); d != "" {
		return d
	}
	return "/var/tmp/vswitch-guest"
}

// requireVM is requireE2E plus QEMU and the guest image: under CI=true a
// missing QEMU or kernel package fails the test, elsewhere it skips.
func requireVM(t *testing.T) *guestImage {
	t.Helper()
	requireE2E(t, qemuBin, "apt-get", "apt-cache", "dpkg-deb", "cpio", "depmod", "xz", "ping")
	guestOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		cmd := exec.CommandContext(ctx, "bash", "vm/build-guest.sh", guestCache())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			guestErr = fmt.Errorf("building the guest (test/vm/build-guest.sh): %v\n%s", err, stderr.String())
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		dir := lines[len(lines)-1]
		img := &guestImage{Dir: dir, Kernel: filepath.Join(dir, "vmlinux"), Initrd: filepath.Join(dir, "initramfs.cpio.gz")}
		v, err := os.ReadFile(filepath.Join(dir, "version"))
		if err != nil {
			guestErr = fmt.Errorf("guest image %s: %w", dir, err)
			return
		}
		img.Version = strings.TrimSpace(string(v))
		guestImg = img
		t.Logf("guest image ready in %v: %s", time.Since(start).Round(10*time.Millisecond), img.Version)
	})
	if guestErr != nil {
		if inCI() {
			t.Fatalf("prerequisite missing: %v (CI=true: failing instead of skipping)", guestErr)
		}
		t.Skipf("prerequisite missing: %v", guestErr)
	}
	return guestImg
}

// GuestConfig describes one guest.
type GuestConfig struct {
	Name string // short label for logs
	// Sock is the vhost-user socket. QEMU dials it (with reconnect=1, so
	// it redials a restarted switch) unless Server is set, in which case
	// QEMU listens there and a dpdkvhostuserclient port dials it.
	Sock   string
	Server bool
	IP     string // with prefix, e.g. 10.1.2.3/24
	MAC    string
	Run    string // shell command the guest runs once eth0 is up
	MemMB  int    // default 256
	LogDir string // console log directory
}

// consoleLine is one line of a guest's serial console.
type consoleLine struct {
	At   time.Time // when the host saw it
	Text string
}

// Guest is one running QEMU.
type Guest struct {
	t       *testing.T
	cfg     GuestConfig
	Log     string // serial console
	QLog    string // QEMU's own stdout/stderr
	Started time.Time

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error

	mu      sync.Mutex
	lines   []consoleLine
	grew    chan struct{} // closed (and replaced) whenever lines grows
	tailEnd chan struct{}
}

// randomMAC is a locally administered unicast address in QEMU's 52:54:00 range.
func randomMAC() string {
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", b[0], b[1], b[2])
}

// bootGuest starts QEMU and returns at once; WaitReady waits for the boot.
// The QEMU process is killed and its files removed when the test ends.
func bootGuest(t *testing.T, img *guestImage, cfg GuestConfig) *Guest {
	t.Helper()
	if cfg.MemMB == 0 {
		cfg.MemMB = 256
	}
	if cfg.MAC == "" {
		cfg.MAC = randomMAC()
	}
	if cfg.LogDir == "" {
		cfg.LogDir = t.TempDir()
	}
	g := &Guest{
		t:       t,
		cfg:     cfg,
		Log:     filepath.Join(cfg.LogDir, cfg.Name+".console"),
		QLog:    filepath.Join(cfg.LogDir, cfg.Name+".qemu"),
		exited:  make(chan struct{}),
		grew:    make(chan struct{}),
		tailEnd: make(chan struct{}),
	}
	if err := os.WriteFile(g.Log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	chr := "socket,id=chr0,path=" + cfg.Sock
	if cfg.Server {
		chr += ",server=on" // QEMU waits, before running the guest, for the switch to dial
	} else {
		chr += ",reconnect=1" // redial a restarted switch every second
	}
	// "quiet" keeps the console to what the test parses; ipv6 off keeps
	// router solicitations and MLD off the wire; panic=-1 with -no-reboot
	// turns a guest crash into a QEMU exit.
	appendArgs := fmt.Sprintf("console=ttyS0 quiet panic=-1 ipv6.disable=1 mitigations=off vsw_ip=%s vsw_run=%s",
		cfg.IP, base64.StdEncoding.EncodeToString([]byte(cfg.Run)))
	mem := strconv.Itoa(cfg.MemMB) + "M"
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-accel", "tcg", "-machine", "pc", "-smp", "1", "-m", mem,
		// vhost-user needs guest RAM the switch can mmap: a shared memfd
		// (share=off gives no error and no traffic), and -m equal to it.
		"-object", "memory-backend-memfd,id=mem,size=" + mem + ",share=on", "-numa", "node,memdev=mem",
		"-kernel", img.Kernel, "-initrd", img.Initrd, "-append", appendArgs,
		"-chardev", chr,
		"-netdev", "vhost-user,id=net0,chardev=chr0,queues=1",
		// vectors=0 (legacy INTx): QEMU 7.2 under TCG segfaults in
		// vhost_net_start with MSI-X (it walks KVM's irqfd table, NULL
		// without KVM). romfile= skips the iPXE option ROM.
		"-device", "virtio-net-pci,netdev=net0,mac=" + cfg.MAC + ",romfile=,vectors=0",
		"-serial", "file:" + g.Log, "-monitor", "none",
	}
	qlog, err := os.Create(g.QLog)
	if err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(qemuBin, args...)
	g.cmd.Stdout, g.cmd.Stderr = qlog, qlog
	g.Started = time.Now()
	if err := g.cmd.Start(); err != nil {
		qlog.Close()
		t.Fatalf("start %s: %v", qemuBin, err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		qlog.Close()
		close(g.exited)
	}()
	go g.tail()
	t.Cleanup(func() {
		g.Kill()
		<-g.tailEnd
		if t.Failed() {
			t.Logf("guest %s (%s) console, last 40 lines:\n%s", cfg.Name, cfg.IP, g.ConsoleTail(40))
			if q, _ := os.ReadFile(g.QLog); len(q) > 0 {
				t.Logf("guest %s QEMU output:\n%s", cfg.Name, tailLines(string(q), 20))
			}
		}
		if cfg.Server {
			os.Remove(cfg.Sock) // QEMU killed with SIGKILL leaves its listening socket
		}
	})
	return g
}

// tail follows the console file until QEMU has exited and the file is
// drained, splitting it into stamped lines.
func (g *Guest) tail() {
	defer close(g.tailEnd)
	f, err := os.Open(g.Log)
	if err != nil {
		return
	}
	defer f.Close()
	var partial []byte
	buf := make([]byte, 64<<10)
	for {
		done := false
		select {
		case <-g.exited:
			done = true
		default:
		}
		for {
			n, err := f.Read(buf)
			if n > 0 {
				partial = append(partial, buf[:n]...)
			}
			if err != nil || n == 0 {
				break
			}
		}
		now := time.Now()
		var add []consoleLine
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			add = append(add, consoleLine{At: now, Text: strings.TrimRight(string(partial[:i]), "\r")})
			partial = partial[i+1:]
		}
		if done && len(partial) > 0 {
			add = append(add, consoleLine{At: now, Text: strings.TrimRight(string(partial), "\r")})
		}
		if len(add) > 0 {
			g.mu.Lock()
			g.lines = append(g.lines, add...)
			close(g.grew)
			g.grew = make(chan struct{})
			g.mu.Unlock()
		}
		if done {
			return
		}
		select {
		case <-g.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Lines returns a copy of the console lines seen so far.
func (g *Guest) Lines() []consoleLine {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]consoleLine(nil), g.lines...)
}

// ConsoleTail is the last n console lines.
func (g *Guest) ConsoleTail(n int) string {
	var b strings.Builder
	ls := g.Lines()
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	for _, l := range ls {
		fmt.Fprintf(&b, "+%6.2fs %s\n", l.At.Sub(g.Started).Seconds(), l.Text)
	}
	return b.String()
}

// Alive reports whether QEMU still runs.
func (g *Guest) Alive() bool {
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// PID is QEMU's process id.
func (g *Guest) PID() int { return g.cmd.Process.Pid }

// Kill ends QEMU (if it runs) and waits for it.
func (g *Guest) Kill() {
	if g.Alive() {
		g.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-g.exited
}

// errGuestExited is returned when QEMU ends before the awaited line.
var errGuestExited = errors.New("QEMU exited")

// waitLine waits until a console line at index ≥ from matches re and
// returns its index and submatches.
func (g *Guest) waitLine(re *regexp.Regexp, from int, timeout time.Duration) (int, []string, error) {
	deadline := time.After(timeout)
	for {
		g.mu.Lock()
		lines, grew := g.lines, g.grew
		g.mu.Unlock()
		for i := from; i < len(lines); i++ {
			if m := re.FindStringSubmatch(lines[i].Text); m != nil {
				return i, m, nil
			}
		}
		if len(lines) > from {
			from = len(lines)
		}
		select {
		case <-grew:
		case <-g.tailEnd:
			// Drained: one last look happens only if lines grew, which
			// closes grew before tailEnd; so this is final.
			g.mu.Lock()
			n := len(g.lines)
			g.mu.Unlock()
			if n > from {
				continue
			}
			return -1, nil, fmt.Errorf("%w (%v) before a line matching %q", errGuestExited, g.waitErr, re)
		case <-deadline:
			return -1, nil, fmt.Errorf("no console line matching %q within %v", re, timeout)
		}
	}
}

// WaitLine is waitLine that fails the test.
func (g *Guest) WaitLine(re *regexp.Regexp, from int, timeout time.Duration) (int, []string) {
	g.t.Helper()
	i, m, err := g.waitLine(re, from, timeout)
	if err != nil {
		g.t.Fatalf("guest %s: %v; console:\n%s", g.cfg.Name, err, g.ConsoleTail(30))
	}
	return i, m
}

var (
	readyRe = regexp.MustCompile(`^GUEST-READY (.*)`)
	exitRe  = regexp.MustCompile(`^GUEST-EXIT rc=(\d+)`)
)

// WaitReady waits for eth0 to be up and returns the boot time as the
// host saw it and the READY line's fields (ip, uptime, mac, features).
func (g *Guest) WaitReady(timeout time.Duration) (time.Duration, map[string]string) {
	g.t.Helper()
	i, m := g.WaitLine(readyRe, 0, timeout)
	at := g.Lines()[i].At
	return at.Sub(g.Started), parseKV(m[1])
}

// WaitExit waits for the guest command to finish and QEMU to power off;
// it returns the command's exit code.
func (g *Guest) WaitExit(timeout time.Duration) int {
	g.t.Helper()
	_, m := g.WaitLine(exitRe, 0, timeout)
	rc, _ := strconv.Atoi(m[1])
	select {
	case <-g.exited:
	case <-time.After(15 * time.Second):
		g.t.Fatalf("guest %s printed GUEST-EXIT but QEMU did not power off within 15s", g.cfg.Name)
	}
	return rc
}

// Result waits for a "TAG-RESULT k=v ..." line and returns its fields.
func (g *Guest) Result(tag string, timeout time.Duration) map[string]string {
	g.t.Helper()
	_, m := g.WaitLine(regexp.MustCompile(`^`+regexp.QuoteMeta(tag)+`-RESULT (.*)`), 0, timeout)
	return parseKV(m[1])
}

// QEMUOutput is what QEMU itself printed (vhost-user errors and the like).
func (g *Guest) QEMUOutput() string {
	b, _ := os.ReadFile(g.QLog)
	return string(b)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// vmDir is a short scratch directory (unix socket paths are limited to
// 108 bytes) removed when the test ends.
func vmDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vsw-vm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// addVhostPort adds a vhost-user interface of type typ to br with extra
// interface columns (e.g. "options:vhost-server-path=...").
func addVhostPort(d *Daemon, br, name, typ string, cols ...string) {
	d.t.Helper()
	args := []string{"add-port", br, name, "--", "set", "Interface", name, "type=" + typ}
	d.Vsctl(append(args, cols...)...)
	d.WaitPortUp(name)
}

// vhostStatus is the status map `show` prints for a vhost-user interface
// (mode, socket, state, features, queue_pairs...).
func vhostStatus(d *Daemon, iface string) map[string]string {
	d.t.Helper()
	s := d.Show()
	i := s.Iface(iface)
	if i == nil {
		d.t.Fatalf("show has no Interface %s:\n%s", iface, s.Raw)
	}
	st := map[string]string{}
	for _, l := range i.Lines {
		v, ok := strings.CutPrefix(l, "status: ")
		if !ok {
			continue
		}
		v = strings.TrimSuffix(strings.TrimPrefix(v, "{"), "}")
		for _, kv := range strings.Split(v, ", ") {
			if k, val, ok := strings.Cut(kv, "="); ok {
				st[unquote(k)] = unquote(val)
			}
		}
	}
	return st
}

// waitVhostState polls show until iface's vhost-user state is want.
func waitVhostState(d *Daemon, iface, want string, timeout time.Duration) map[string]string {
	d.t.Helper()
	var st map[string]string
	if !waitFor(timeout, func() bool { st = vhostStatus(d, iface); return st["state"] == want }) {
		d.t.Fatalf("interface %s: vhost-user state %q after %v, want %q (status %v)", iface, st["state"], timeout, want, st)
	}
	return st
}

// hostSink runs nettool's TCP sink in h's namespace on port; wait returns
// its "bytes= sha256= seconds=" fields once the stream ends.
func hostSink(t *testing.T, h *Host, port string, timeout time.Duration) (wait func() map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	sink := exec.CommandContext(ctx, "ip", "netns", "exec", h.NS, nettoolBin, "sink",
		"-listen", net.JoinHostPort(h.IP, port), "-timeout", timeout.String())
	var stderr bytes.Buffer
	sink.Stderr = &stderr
	so, err := sink.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := sink.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); sink.Wait() })
	rd := bufio.NewReader(so)
	if first, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(first, "listening") {
		t.Fatalf("nettool sink did not start: %q %v %s", first, err, stderr.String())
	}
	return func() map[string]string {
		t.Helper()
		rest, _ := io.ReadAll(rd)
		if err := sink.Wait(); err != nil {
			t.Fatalf("nettool sink in %s: %v\n%s", h.NS, err, stderr.String())
		}
		return parseKV(string(rest))
	}
}
