package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rxqLine is one "port: NAME queue-id: N (enabled) pmd usage: X %" line of
// pmd-rxq-show, with the core heading it sits under.
type rxqLine struct {
	core, port string
	usage      float64 // -1 for NOT AVAIL
}

var (
	rxqCoreRe = regexp.MustCompile(`^pmd thread numa_id \d+ core_id (\S+):`)
	rxqPortRe = regexp.MustCompile(`^\s+port: (\S+)\s+queue-id:\s+\d+ \(enabled\)\s+pmd usage: (NOT AVAIL|\s*\d+ %)`)
)

func parseRxqs(t *testing.T, out string) map[string]rxqLine {
	t.Helper()
	m := map[string]rxqLine{}
	core := ""
	for _, l := range strings.Split(out, "\n") {
		if c := rxqCoreRe.FindStringSubmatch(l); c != nil {
			core = c[1]
		} else if p := rxqPortRe.FindStringSubmatch(l); p != nil {
			u := -1.0
			if p[2] != "NOT AVAIL" {
				u, _ = strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(p[2], "%")), 64)
			}
			m[p[1]] = rxqLine{core: core, port: p[1], usage: u}
		}
	}
	return m
}

// Two PMDs, four hosts' ports (and the bridge's own), one of them flooded: pmd-rxq-show measures the busy
// queue, pmd-rxq-rebalance gives it a PMD of its own, roundrobin deals the
// queues out evenly, a bad mode is refused with nothing changed, and the
// mode survives a restart.
func TestRxqAssignment(t *testing.T) {
	requireE2E(t)
	d := newDaemon(t)
	d.PMDCores = "0,1"
	d.Start()
	br := d.AddBridge("brq")
	net := subnet()
	var hs []*Host
	for i := 1; i <= 4; i++ {
		h := newHost(t, net+"."+strconv.Itoa(i)+"/24")
		attach(d, br, h)
		hs = append(hs, h)
	}
	before := parseRxqs(t, d.Vsctl("pmd-rxq-show"))
	if len(before) != 5 { // the four hosts' ports and the bridge's internal port
		t.Fatalf("pmd-rxq-show lists %d queues, want 5:\n%s", len(before), d.Vsctl("pmd-rxq-show"))
	}
	pingOK(t, hs[0], hs[1].IP)
	flood := startBG(t, hs[0], nettoolBin, "udpsend", "-to", hs[1].IP+":7777", "-payload", strings.Repeat("x", 64), "-n", "100000000")
	// One full 5 s measurement interval with the flood running.
	time.Sleep(11 * time.Second)
	out := d.Vsctl("pmd-rxq-show")
	t.Logf("during the flood:\n%s", out)
	rx := parseRxqs(t, out)
	busy := rx[hs[0].Port]
	if busy.usage <= 0 {
		t.Fatalf("flooded port %s: usage %.0f, want > 0:\n%s", hs[0].Port, busy.usage, out)
	}
	for _, h := range hs[1:] {
		if u := rx[h.Port].usage; u < 0 || u > busy.usage {
			t.Fatalf("port %s: usage %.0f (flooded port %.0f):\n%s", h.Port, u, busy.usage, out)
		}
	}
	out = d.Vsctl("pmd-rxq-rebalance")
	t.Logf("after pmd-rxq-rebalance:\n%s", out)
	rx = parseRxqs(t, out)
	for _, h := range hs[1:] {
		if rx[h.Port].core == rx[hs[0].Port].core {
			t.Fatalf("after rebalancing, %s shares core %s with the flooded port:\n%s", h.Port, rx[h.Port].core, out)
		}
	}
	flood.cmd.Process.Kill()

	d.Vsctl("set", "Open_vSwitch", ".", "other_config:pmd-rxq-assign=roundrobin")
	perCore := func() map[string]int {
		n := map[string]int{}
		for _, q := range parseRxqs(t, d.Vsctl("pmd-rxq-show")) {
			n[q.core]++
		}
		return n
	}
	if n := perCore(); n["0"]+n["1"] != 5 || n["0"] < 2 || n["1"] < 2 {
		t.Fatalf("roundrobin: queues per core %v, want 3 and 2", n)
	}
	r := d.VsctlErr("set", "Open_vSwitch", ".", "other_config:pmd-rxq-assign=fastest")
	if r.Code != 1 || !strings.Contains(r.Stderr, "use cycles or roundrobin") {
		t.Fatalf("bad pmd-rxq-assign: exit %d stderr %q", r.Code, r.Stderr)
	}
	if got := strings.TrimSpace(d.Vsctl("get", "Open_vSwitch", ".", "other_config:pmd-rxq-assign")); strings.Trim(got, `"`) != "roundrobin" {
		t.Fatalf("after a refused set, pmd-rxq-assign is %q, want roundrobin", got)
	}
	if err := d.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	d.Start()
	if got := strings.TrimSpace(d.Vsctl("get", "Open_vSwitch", ".", "other_config:pmd-rxq-assign")); strings.Trim(got, `"`) != "roundrobin" {
		t.Fatalf("after a restart, pmd-rxq-assign is %q, want roundrobin", got)
	}
	if n := perCore(); n["0"]+n["1"] != 5 || n["0"] < 2 || n["1"] < 2 {
		t.Fatalf("roundrobin after restart: queues per core %v, want 3 and 2", n)
	}
}
