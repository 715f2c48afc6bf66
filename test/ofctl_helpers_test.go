package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// VsctlIn runs vsctl with stdin fed from in, without judging the outcome.
func (d *Daemon) VsctlIn(in string, args ...string) VsctlResult {
	return runVsctl(in, append([]string{"--server", d.Sock}, args...)...)
}

// runVsctl runs vsctl with exactly args and stdin in.
func runVsctl(in string, args ...string) VsctlResult {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, vsctlBin, args...)
	cmd.Stdin = strings.NewReader(in)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := VsctlResult{Stdout: o.String(), Stderr: e.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		r.Code = -1
		r.Stderr += err.Error()
	}
	return r
}

// ofFlow is one rule line of `dump-flows` (ovs-ofctl layout).
type ofFlow struct {
	Table    int
	Priority int
	NPackets uint64
	NBytes   uint64
	Match    string // the match without priority, "" when empty
	Actions  string
	Line     string
}

var (
	ofTableRe    = regexp.MustCompile(`(?:^|[ ,])table=(\d+)`)
	ofPacketsRe  = regexp.MustCompile(`n_packets=(\d+)`)
	ofBytesRe    = regexp.MustCompile(`n_bytes=(\d+)`)
	ofPriorityRe = regexp.MustCompile(`(?:^|,)priority=(\d+)`)
)

// parseOFFlows parses `dump-flows` output; lines that are neither the
// reply header nor a rule fail the test (the format is under test).
func parseOFFlows(t *testing.T, out string) []ofFlow {
	t.Helper()
	var fs []ofFlow
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "NXST_FLOW reply") || strings.HasPrefix(l, "OFPST_FLOW reply") {
			continue
		}
		i := strings.LastIndex(l, " actions=")
		if i < 0 {
			if !strings.HasPrefix(l, "actions=") {
				t.Fatalf("dump-flows: cannot parse line %q\n%s", l, out)
			}
			i = -1
		}
		f := ofFlow{Line: l, Priority: 32768, Actions: l[i+len(" actions="):]}
		head := ""
		if i >= 0 {
			head = l[:i]
		}
		if m := ofTableRe.FindStringSubmatch(head); m != nil {
			f.Table, _ = strconv.Atoi(m[1])
		}
		if m := ofPacketsRe.FindStringSubmatch(head); m != nil {
			f.NPackets, _ = strconv.ParseUint(m[1], 10, 64)
		}
		if m := ofBytesRe.FindStringSubmatch(head); m != nil {
			f.NBytes, _ = strconv.ParseUint(m[1], 10, 64)
		}
		// The match is the last space-separated field before actions=
		// (the stats fields end with ", ").
		match := head
		if j := strings.LastIndex(head, ", "); j >= 0 {
			match = head[j+2:]
		}
		if strings.Contains(match, "=") && (strings.HasPrefix(match, "cookie=") || strings.HasPrefix(match, "duration=") || strings.HasPrefix(match, "n_bytes=")) {
			match = ""
		}
		if m := ofPriorityRe.FindStringSubmatch(match); m != nil {
			f.Priority, _ = strconv.Atoi(m[1])
			match = strings.Trim(ofPriorityRe.ReplaceAllString(match, ""), ",")
		}
		f.Match = match
		fs = append(fs, f)
	}
	return fs
}

// OFFlows runs `dump-flows br [match]` and parses it.
func (d *Daemon) OFFlows(br string, match ...string) ([]ofFlow, string) {
	d.t.Helper()
	out := d.Vsctl(append([]string{"dump-flows", br}, match...)...)
	return parseOFFlows(d.t, out), out
}

// findFlow returns the rule in table whose match contains every one of
// parts (comma-separated fields compared as a set), or nil.
func findFlow(fs []ofFlow, table int, match string) *ofFlow {
	want := fieldSet(match)
	for i := range fs {
		if fs[i].Table != table {
			continue
		}
		got := fieldSet(fs[i].Match)
		if len(got) != len(want) {
			continue
		}
		ok := true
		for k := range want {
			if !got[k] {
				ok = false
			}
		}
		if ok {
			return &fs[i]
		}
	}
	return nil
}

func fieldSet(match string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Split(match, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}

// stableFlows is `dump-flows --no-stats`, the rules without counters,
// sorted, for before/after comparisons.
func (d *Daemon) stableFlows(br string) string {
	d.t.Helper()
	out := d.Vsctl("--no-stats", "dump-flows", br)
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	return strings.Join(ls, "\n")
}

// tableStat is one table of `dump-tables`.
type tableStat struct{ Active, Lookup, Matched uint64 }

var (
	// OpenFlow 1.0 layout (as go-openvswitch parses it): "  N: NAME: ..., active=A"
	// then "  lookup=L, matched=M".
	tableHdrRe  = regexp.MustCompile(`^\s*(\d+):.*active=(\d+)`)
	tableStatRe = regexp.MustCompile(`lookup=(\d+), matched=(\d+)`)
)

// Tables runs `dump-tables br` and parses it.
func (d *Daemon) Tables(br string) (map[int]tableStat, string) {
	d.t.Helper()
	out := d.Vsctl("dump-tables", br)
	ts := map[int]tableStat{}
	cur, active := -1, uint64(0)
	for _, l := range strings.Split(out, "\n") {
		if m := tableHdrRe.FindStringSubmatch(l); m != nil {
			cur, _ = strconv.Atoi(m[1])
			active, _ = strconv.ParseUint(m[2], 10, 64)
		}
		if m := tableStatRe.FindStringSubmatch(l); m != nil && cur >= 0 {
			lk, _ := strconv.ParseUint(m[1], 10, 64)
			mt, _ := strconv.ParseUint(m[2], 10, 64)
			ts[cur] = tableStat{active, lk, mt}
		}
	}
	return ts, out
}

var aggRe = regexp.MustCompile(`packet_count=(\d+) byte_count=(\d+) flow_count=(\d+)`)

// Aggregate runs `dump-aggregate br` and returns packets, bytes, flows.
func (d *Daemon) Aggregate(br string) (p, b, n uint64, out string) {
	d.t.Helper()
	out = d.Vsctl("dump-aggregate", br)
	m := aggRe.FindStringSubmatch(out)
	if m == nil {
		d.t.Fatalf("dump-aggregate %s: unexpected output %q", br, out)
	}
	p, _ = strconv.ParseUint(m[1], 10, 64)
	b, _ = strconv.ParseUint(m[2], 10, 64)
	n, _ = strconv.ParseUint(m[3], 10, 64)
	return p, b, n, out
}

// portStat is one port of `dump-ports`.
type portStat struct{ RxPkts, RxBytes, TxPkts, TxBytes uint64 }

var (
	dpRxRe = regexp.MustCompile(`^\s*port\s+([^:]+): rx pkts=(\d+), bytes=(\d+),`)
	dpTxRe = regexp.MustCompile(`^\s*tx pkts=(\d+), bytes=(\d+),`)
)

// Ports runs `dump-ports br` and parses it, keyed by port label (the
// OpenFlow number, or LOCAL).
func (d *Daemon) Ports(br string) (map[string]portStat, string) {
	d.t.Helper()
	out := d.Vsctl("dump-ports", br)
	ps := map[string]portStat{}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		if m := dpRxRe.FindStringSubmatch(l); m != nil {
			cur = strings.TrimSpace(m[1])
			s := ps[cur]
			s.RxPkts, _ = strconv.ParseUint(m[2], 10, 64)
			s.RxBytes, _ = strconv.ParseUint(m[3], 10, 64)
			ps[cur] = s
		} else if m := dpTxRe.FindStringSubmatch(l); m != nil && cur != "" {
			s := ps[cur]
			s.TxPkts, _ = strconv.ParseUint(m[1], 10, 64)
			s.TxBytes, _ = strconv.ParseUint(m[2], 10, 64)
			ps[cur] = s
		}
	}
	return ps, out
}

// transferPort is transfer on a chosen TCP port: n bytes from src to
// dst:port, length and SHA-256 verified; it returns Mbit/s.
func transferPort(t *testing.T, src, dst *Host, port string, n int64) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	sink := exec.CommandContext(ctx, "ip", "netns", "exec", dst.NS, nettoolBin, "sink", "-listen", net.JoinHostPort(dst.IP, port), "-timeout", "120s")
	var sinkErr bytes.Buffer
	sink.Stderr = &sinkErr
	so, err := sink.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	defer sink.Process.Kill()
	rd := bufio.NewReader(so)
	first, err := rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "listening") {
		t.Fatalf("nettool sink did not start: %q %v %s", first, err, sinkErr.String())
	}
	srcOut, err := src.Exec(nettoolBin, "source", "-connect", net.JoinHostPort(dst.IP, port), "-bytes", strconv.FormatInt(n, 10), "-seed", "11", "-timeout", "120s")
	if err != nil {
		t.Fatalf("nettool source %s -> %s:%s: %v\n%s", src.NS, dst.NS, port, err, srcOut)
	}
	rest, _ := rd.ReadString('\n')
	if err := sink.Wait(); err != nil {
		t.Fatalf("nettool sink: %v\n%s", err, sinkErr.String())
	}
	sent, got := parseKV(srcOut), parseKV(rest)
	if sent["bytes"] != strconv.FormatInt(n, 10) || got["bytes"] != sent["bytes"] {
		t.Fatalf("TCP to port %s: sent %s bytes, received %s, want %d", port, sent["bytes"], got["bytes"], n)
	}
	if got["sha256"] == "" || got["sha256"] != sent["sha256"] {
		t.Fatalf("TCP to port %s: sha256 mismatch: sent %s, received %s", port, sent["sha256"], got["sha256"])
	}
	secs, _ := strconv.ParseFloat(sent["seconds"], 64)
	if secs <= 0 {
		return 0
	}
	return float64(n) * 8 / secs / 1e6
}

// tcpConnectTimesOut requires that a TCP connection from src to dst:port
// gets no answer at all (neither SYN-ACK nor RST) within wait, while a
// listener is ready on dst:port, so a refusal cannot explain the failure.
func tcpConnectTimesOut(t *testing.T, src, dst *Host, port string, wait time.Duration) {
	t.Helper()
	ln := startBG(t, dst, nettoolBin, "sink", "-listen", net.JoinHostPort(dst.IP, port), "-timeout", "30s")
	// Wait until the listener is up (ss in the namespace sees it).
	if !waitFor(5*time.Second, func() bool {
		out, _ := dst.Exec("ss", "-Hltn", "sport = :"+port)
		return strings.Contains(out, ":"+port)
	}) {
		t.Fatalf("listener on %s:%s did not start: %s", dst.IP, port, ln.out.String())
	}
	secs := strconv.Itoa(int(wait.Seconds()))
	// bash's /dev/tcp connect waits for the kernel's SYN retries; timeout
	// exits 124 when it had to kill it (no answer), 1 on a refusal.
	out, err := src.Exec("timeout", secs, "bash", "-c", "exec 3<>/dev/tcp/"+dst.IP+"/"+port)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 124 {
		t.Fatalf("TCP %s -> %s:%s: want the connection attempt to time out (exit 124), got %v\n%s", src.NS, dst.IP, port, err, out)
	}
	select {
	case <-ln.done:
		t.Fatalf("listener on %s:%s exited: a connection got through: %s", dst.IP, port, ln.out.String())
	default:
	}
}

// offloadsOff turns off tx checksum and segmentation offloads on the
// namespace end of h, so it sends no frame larger than its MTU (generic
// XDP drops frames bigger than a UMEM chunk).
func offloadsOff(t *testing.T, h *Host) {
	t.Helper()
	h.MustExec("ethtool", "-K", "eth0", "tx", "off", "tso", "off", "gso", "off")
}
