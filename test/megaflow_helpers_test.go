package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dpFlow is one line of `vsctl dpif/dump-flows BR`:
//
//	MATCH, packets:N, bytes:N, used:T, actions:A
type dpFlow struct {
	Match   string
	Packets uint64
	Bytes   uint64
	Used    string
	Actions string
	Line    string
}

// outputs is the flow's actions split at commas (port names and others).
func (f dpFlow) outputs() []string { return strings.Split(f.Actions, ",") }

// outputsTo reports whether the megaflow sends to port.
func (f dpFlow) outputsTo(port string) bool {
	for _, a := range f.outputs() {
		if a == port {
			return true
		}
	}
	return false
}

var dpFlowRe = regexp.MustCompile(`^(?:(.*), )?packets:(\d+), bytes:(\d+), used:([^,]+), actions:(.*)$`)

// DPFlows runs `dpif/dump-flows br` and parses every megaflow line; a line
// that mentions actions but does not parse fails the test (the format is
// the interface under test). PMD header lines are skipped.
func (d *Daemon) DPFlows(br string) ([]dpFlow, string) {
	d.t.Helper()
	out := d.Vsctl("dpif/dump-flows", br)
	var fs []dpFlow
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "pmd thread") {
			continue
		}
		m := dpFlowRe.FindStringSubmatch(l)
		if m == nil {
			d.t.Fatalf("dpif/dump-flows %s: cannot parse line %q\n%s", br, l, out)
		}
		p, _ := strconv.ParseUint(m[2], 10, 64)
		b, _ := strconv.ParseUint(m[3], 10, 64)
		fs = append(fs, dpFlow{Match: m[1], Packets: p, Bytes: b, Used: m[4], Actions: m[5], Line: l})
	}
	return fs, out
}

var pmdStatRe = regexp.MustCompile(`^\s+([a-z][a-z .]*):\s+(\d+)$`)

// PMDCounters runs `pmd-stats-show` and sums each integer counter over
// all PMDs ("emc hits", "megaflow hits", "miss with success upcall", ...).
func (d *Daemon) PMDCounters() (map[string]uint64, string) {
	d.t.Helper()
	out := d.Vsctl("pmd-stats-show")
	c := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		if m := pmdStatRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseUint(m[2], 10, 64)
			c[m[1]] += n
		}
	}
	for _, k := range []string{"emc hits", "megaflow hits", "miss with success upcall"} {
		if _, ok := c[k]; !ok {
			d.t.Fatalf("pmd-stats-show has no %q counter:\n%s", k, out)
		}
	}
	return c, out
}

// hits is EMC plus megaflow hits; upcalls counts successful and failed ones.
func hits(c map[string]uint64) uint64 { return c["emc hits"] + c["megaflow hits"] }
func upcalls(c map[string]uint64) uint64 {
	return c["miss with success upcall"] + c["miss with failed upcall"]
}

// tcpdump is a capture running in a namespace until stopped; it prints
// one line per frame with link-level headers and epoch timestamps.
type tcpdump struct {
	h      *Host
	cmd    *exec.Cmd
	cancel context.CancelFunc
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan error
	stderr []string
}

func (c *tcpdump) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

// startTcpdump captures on eth0 of h (promiscuous, unbuffered) and returns
// once tcpdump listens. It is stopped when the test ends at the latest.
func startTcpdump(t *testing.T, h *Host, filter string) *tcpdump {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	c := &tcpdump{h: h, cancel: cancel, done: make(chan error, 1)}
	c.cmd = exec.CommandContext(ctx, "ip", "netns", "exec", h.NS, "tcpdump", "-i", "eth0", "-n", "-e", "-tt", "-l", "--immediate-mode", filter)
	c.cmd.Stdout = c
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tcpdump in %s: %v", h.NS, err)
	}
	t.Cleanup(func() { c.stop() })
	sc := bufio.NewScanner(stderr)
	ok := false
	for sc.Scan() {
		c.stderr = append(c.stderr, sc.Text())
		if strings.Contains(sc.Text(), "listening on") {
			ok = true
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
		c.done <- c.cmd.Wait()
	}()
	if !ok {
		t.Fatalf("tcpdump in %s (%s) did not start: %s", h.NS, filter, strings.Join(c.stderr, "\n"))
	}
	return c
}

// lines returns the frames captured so far.
func (c *tcpdump) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ls []string
	for _, l := range strings.Split(c.out.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// stop ends tcpdump (SIGINT, so it flushes) and returns every frame line.
func (c *tcpdump) stop() []string {
	select {
	case <-c.done:
		c.done <- nil
	default:
		if c.cmd.Process != nil {
			c.cmd.Process.Signal(syscall.SIGINT)
		}
		select {
		case err := <-c.done:
			c.done <- err
		case <-time.After(5 * time.Second):
			c.cancel()
			c.done <- <-c.done
		}
	}
	c.cancel()
	return c.lines()
}

// frameTime is the epoch timestamp tcpdump -tt prints first on a line.
func frameTime(t *testing.T, line string) time.Time {
	t.Helper()
	f, _, _ := strings.Cut(line, " ")
	sec, frac, ok := strings.Cut(f, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	us, err2 := strconv.ParseInt(frac, 10, 64)
	if !ok || err1 != nil || err2 != nil || len(frac) != 6 {
		t.Fatalf("tcpdump line without an epoch timestamp: %q", line)
	}
	return time.Unix(s, us*1000)
}

// bg is a command running in a namespace in the background.
type bg struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	err  error
}

// startBG starts args in h's namespace; it is killed when the test ends.
func startBG(t *testing.T, h *Host, args ...string) *bg {
	t.Helper()
	b := &bg{done: make(chan struct{})}
	b.cmd = exec.Command("ip", append([]string{"netns", "exec", h.NS}, args...)...)
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("[%s] start %s: %v", h.NS, strings.Join(args, " "), err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { b.cmd.Process.Kill(); <-b.done })
	return b
}

// wait returns the command's output and error once it exits (or kills it
// after timeout).
func (b *bg) wait(timeout time.Duration) (string, error) {
	select {
	case <-b.done:
	case <-time.After(timeout):
		b.cmd.Process.Kill()
		<-b.done
		return b.out.String(), fmt.Errorf("killed after %v (%v)", timeout, b.err)
	}
	return b.out.String(), b.err
}

// interrupt stops the command with SIGINT (ping prints its summary) and
// returns its output.
func (b *bg) interrupt() string {
	b.cmd.Process.Signal(syscall.SIGINT)
	out, _ := b.wait(5 * time.Second)
	return out
}

// pingOnce sends exactly one echo request and reports whether it was answered.
func pingOnce(h *Host, ip string, wait int) (bool, string) {
	out, err := h.Exec("ping", "-n", "-c", "1", "-W", strconv.Itoa(wait), ip)
	return err == nil, out
}

// fdbAge returns the age column of mac's fdb/show row (-1 when absent) and
// its port.
func fdbRow(out, mac string) (port string, age int) {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && strings.EqualFold(f[2], mac) {
			a, err := strconv.Atoi(f[3])
			if err != nil {
				return f[0], -1
			}
			return f[0], a
		}
	}
	return "", -1
}
