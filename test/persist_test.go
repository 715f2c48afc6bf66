package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
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

	pb "vswitch/proto/vswitch/v1"
	"vswitch/store"
)

// volatileRE matches the dump-flows fields that legitimately change across
// a restart.
var volatileRE = regexp.MustCompile(`(duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]*,?\s*`)

func stableFlows(dump string) []string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "NXST_FLOW") || strings.HasPrefix(l, "OFPST_FLOW") {
			continue
		}
		out = append(out, volatileRE.ReplaceAllString(l, ""))
	}
	return out
}

// genRules returns n distinct OpenFlow rules with varied tables, cookies,
// priorities, matches and actions, none of which touches 10.0.0.0/8
// traffic; outputs go to ports 1..nports.
func genRules(n, nports int, rng *rand.Rand) []string {
	out := make([]string, 0, n)
	for i := range n {
		table := rng.IntN(6)
		nextTable := table + 1 + rng.IntN(3)
		dst := fmt.Sprintf("172.%d.%d.%d", 16+i/65536, (i/256)%256, i%256)
		var match string
		switch i % 7 {
		case 0:
			match = "ip,nw_dst=" + dst
		case 1:
			match = fmt.Sprintf("tcp,nw_dst=%s,tp_dst=%d", dst, 1+rng.IntN(65535))
		case 2:
			match = fmt.Sprintf("udp,nw_src=192.168.%d.0/24,nw_dst=%s,tp_src=%d", rng.IntN(256), dst, 1+rng.IntN(65535))
		case 3:
			match = "arp,arp_tpa=" + dst
		case 4:
			match = fmt.Sprintf("in_port=%d,ip,nw_dst=%s", 1+rng.IntN(nports), dst)
		case 5:
			match = fmt.Sprintf("dl_vlan=%d,ip,nw_dst=%s", 1+rng.IntN(4094), dst)
		default:
			match = fmt.Sprintf("dl_dst=02:00:%02x:%02x:%02x:%02x,ip,nw_dst=%s", rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), dst)
		}
		var actions string
		switch rng.IntN(8) {
		case 0:
			actions = "drop"
		case 1:
			actions = fmt.Sprintf("output:%d", 1+rng.IntN(nports))
		case 2:
			actions = "NORMAL"
		case 3:
			actions = fmt.Sprintf("mod_nw_dst:192.168.%d.%d,output:%d", rng.IntN(256), rng.IntN(256), 1+rng.IntN(nports))
		case 4:
			actions = fmt.Sprintf("resubmit(,%d)", nextTable)
		case 5:
			actions = fmt.Sprintf("goto_table:%d", nextTable)
		case 6:
			actions = fmt.Sprintf("mod_vlan_vid:%d,output:%d", 1+rng.IntN(4094), 1+rng.IntN(nports))
		default:
			actions = fmt.Sprintf("dec_ttl,mod_dl_dst:02:aa:00:00:%02x:%02x,NORMAL", rng.IntN(256), rng.IntN(256))
		}
		out = append(out, fmt.Sprintf("table=%d,cookie=%#x,priority=%d,%s,actions=%s", table, rng.Uint64N(1<<40), 1+rng.IntN(60000), match, actions))
	}
	return out
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// storedFlowTexts opens the daemon's store (the daemon must be stopped)
// and returns the flows of br.
func storedFlowTexts(t *testing.T, db, br string) []string {
	t.Helper()
	st, err := store.Open(db, 5*time.Second)
	if err != nil {
		t.Fatalf("store does not open after the kill: %v", err)
	}
	defer st.Close()
	c, err := st.Load()
	if err != nil {
		t.Fatalf("store does not load after the kill: %v", err)
	}
	for _, b := range c.Bridges {
		if b.Name == br {
			return b.Flows
		}
	}
	t.Fatalf("bridge %s missing from the store", br)
	return nil
}

func flowCount(t *testing.T, d *Daemon, br, match string) int {
	t.Helper()
	args := []string{"dump-aggregate", br}
	if match != "" {
		args = append(args, match)
	}
	out := d.Vsctl(args...)
	m := regexp.MustCompile(`flow_count=(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("dump-aggregate: %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// 10k OpenFlow rules and 20 ports survive SIGKILL + restart exactly, the
// transient rule does not, and traffic follows the restored rules.
func TestPersist10kRulesSurviveKill(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	br := d.AddBridge("brp")
	net := subnet()
	h1, h2, h3 := newHost(t, net+".1/24"), newHost(t, net+".2/24"), newHost(t, net+".3/24")
	for _, h := range []*Host{h1, h2, h3} {
		attach(d, br, h)
	}
	for range 17 {
		p := uniq("pp", 8)
		d.trackLink(p)
		d.Vsctl("add-port", br, p, "--", "set", "Interface", p, "type=internal")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rules := genRules(10000, 20, rng)
	// The rule traffic checks: h1 may not reach h3; h1 and h2 talk (NORMAL).
	rules = append(rules, fmt.Sprintf("table=0,cookie=0x77,priority=61000,ip,nw_src=%s,nw_dst=%s,actions=output:4", h1.IP, h3.IP))
	file := filepath.Join(filepath.Dir(d.Dir), "rules.txt")
	writeLines(t, file, rules)
	start := time.Now()
	d.Vsctl("add-flows", br, file)
	t.Logf("10001 rules added with add-flows in %v", time.Since(start).Round(time.Millisecond))
	d.Vsctl("add-flow", br, "priority=50,udp,tp_dst=9,actions=drop") // and one single flow-mod
	d.Vsctl("mod-flows", "--strict", br, fmt.Sprintf("table=0,priority=61000,ip,nw_src=%s,nw_dst=%s,actions=drop", h1.IP, h3.IP))

	// Single flow-mods from 32 concurrent gRPC callers, group committed.
	c := dialCtl(t, d)
	const callers, each = 32, 100
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start = time.Now()
	for w := range callers {
		wg.Go(func() {
			for i := range each {
				_, err := c.AddFlow(context.Background(), &pb.AddFlowRequest{Bridge: br,
					Flow: fmt.Sprintf("table=2,cookie=0x99,priority=%d,udp,nw_dst=192.0.2.%d,tp_dst=%d,actions=drop", 1+w, 1+w, 1+i)})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d single AddFlow calls from %d gRPC callers on a 10k-rule bridge in %v: %.0f flow-mods/s",
		callers*each, callers, took.Round(time.Millisecond), float64(callers*each)/took.Seconds())
	const total = 10003 + callers*each

	want := stableFlows(d.Vsctl("dump-flows", br))
	if len(want) != total {
		t.Fatalf("dump-flows shows %d rules, want %d", len(want), total)
	}
	wantPorts := d.Vsctl("list-ports", br)
	ofports := map[string]string{}
	for _, p := range strings.Fields(wantPorts) {
		ofports[p] = strings.TrimSpace(d.Vsctl("get", "Interface", p, "ofport"))
	}
	if len(ofports) != 20 {
		t.Fatalf("%d ports, want 20", len(ofports))
	}
	// A transient rule blocks h1 -> h2 until the restart forgets it.
	d.Vsctl("add-flow", "--transient", br, fmt.Sprintf("priority=62000,ip,nw_src=%s,nw_dst=%s,actions=drop", h1.IP, h2.IP))
	if _, err := c.AddFlows(context.Background(), &pb.AddFlowsRequest{Bridge: br, Transient: true,
		Flows: []string{"priority=5,udp,tp_dst=7,actions=drop", "priority=5,udp,tp_dst=8,actions=drop"}}); err != nil {
		t.Fatal(err)
	}
	if n := flowCount(t, d, br, ""); n != total+3 {
		t.Fatalf("%d rules with the transient ones, want %d", n, total+3)
	}
	pingFails(t, h1, h2.IP)
	pingFails(t, h1, h3.IP)

	if err := d.Stop(syscall.SIGKILL); err == nil {
		t.Fatal("vswitchd exited cleanly on SIGKILL?")
	}
	stored := storedFlowTexts(t, d.DB, br)
	if len(stored) != total {
		t.Fatalf("store holds %d rules after SIGKILL, want %d (transient rules not stored)", len(stored), total)
	}
	start = time.Now()
	d.Start()
	t.Logf("%d rules restored in %v (daemon start to socket ready)", total, time.Since(start).Round(time.Millisecond))

	got := stableFlows(d.Vsctl("dump-flows", br))
	if len(got) != len(want) {
		t.Fatalf("after restart dump-flows shows %d rules, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after restart dump-flows line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if p := d.Vsctl("list-ports", br); p != wantPorts {
		t.Fatalf("ports after restart %q, want %q", p, wantPorts)
	}
	for p, of := range ofports {
		if g := strings.TrimSpace(d.Vsctl("get", "Interface", p, "ofport")); g != of {
			t.Errorf("port %s: ofport %s after restart, want %s", p, g, of)
		}
	}
	for _, h := range []*Host{h1, h2, h3} {
		d.WaitPortUp(h.Port)
	}
	pingOK(t, h1, h2.IP)    // the transient drop is gone
	pingFails(t, h1, h3.IP) // the stored drop is back
	t.Logf("dump-flows identical after SIGKILL + restart: %d rules, %d ports", len(got), len(ofports))
}

// kill -9 at random points of a bulk add-flows of 100k rules: the store
// always opens with either the old rules or old + 100k, never a part, and
// the restarted daemon's tables hold exactly what the store does.
func TestPersistKillDuringBulkAdd(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	br := d.AddBridge("brk")
	rng := rand.New(rand.NewPCG(3, 4))
	old := []string{}
	for i := range 49 {
		old = append(old, fmt.Sprintf("table=%d,cookie=0x1,priority=%d,tcp,tp_dst=%d,actions=drop", i%3, 100+i, 1000+i))
	}
	dir := filepath.Dir(d.Dir)
	writeLines(t, filepath.Join(dir, "old.txt"), old)
	d.Vsctl("add-flows", br, filepath.Join(dir, "old.txt"))
	nOld := len(old) + 1 // and the bridge's NORMAL flow
	wantOld := stableFlows(d.Vsctl("dump-flows", br, "cookie=0x1/0xffffffffffffffff"))

	const bulk = 100000
	bulkRules := make([]string, 0, bulk)
	for i := range bulk {
		bulkRules = append(bulkRules, fmt.Sprintf("table=%d,cookie=0x5,priority=%d,ip,nw_dst=10.%d.%d.%d,actions=drop", 1+i%20, 1+i%1000, i/65536, (i/256)%256, i%256))
	}
	bulkFile := filepath.Join(dir, "bulk.txt")
	writeLines(t, bulkFile, bulkRules)

	// One uninterrupted add tells how long the window is.
	start := time.Now()
	d.Vsctl("add-flows", br, bulkFile)
	full := time.Since(start)
	t.Logf("add-flows of %d rules took %v", bulk, full.Round(time.Millisecond))
	if n := flowCount(t, d, br, ""); n != nOld+bulk {
		t.Fatalf("%d rules after add-flows, want %d", n, nOld+bulk)
	}
	d.Vsctl("del-flows", br, "cookie=0x5/0xffffffffffffffff")

	counts := map[int]int{}
	for k := range 20 {
		delay := time.Duration(rng.Int64N(int64(full * 6 / 5)))
		cmd := exec.Command(vsctlBin, "--server", d.Sock, "add-flows", br, bulkFile)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = d.Stop(syscall.SIGKILL)
		_ = cmd.Wait()

		stored := storedFlowTexts(t, d.DB, br)
		n := len(stored)
		if n != nOld && n != nOld+bulk {
			t.Fatalf("kill %d at %v: store has %d rules, want %d or %d", k+1, delay.Round(time.Millisecond), n, nOld, nOld+bulk)
		}
		perTable := map[string]int{}
		for _, f := range stored {
			for _, tbl := range []string{"table=1,", "table=7,", "table=20,"} {
				if strings.HasPrefix(f, "cookie=0x5,") && strings.Contains(f, ","+tbl) {
					perTable[tbl]++
				}
			}
		}
		counts[n]++

		start := time.Now()
		d.Start()
		t.Logf("kill %d at %v: store has %d rules; restarted with them in %v", k+1, delay.Round(time.Millisecond), n, time.Since(start).Round(time.Millisecond))
		if got := flowCount(t, d, br, ""); got != n {
			t.Fatalf("kill %d: restarted daemon has %d rules, store %d", k+1, got, n)
		}
		for tbl, c := range perTable {
			if got := flowCount(t, d, br, strings.TrimSuffix(tbl, ",")+",cookie=0x5/0xffffffffffffffff"); got != c {
				t.Fatalf("kill %d: restarted daemon has %d bulk rules in %s, store %d", k+1, got, tbl, c)
			}
		}
		if got := stableFlows(d.Vsctl("dump-flows", br, "cookie=0x1/0xffffffffffffffff")); strings.Join(got, "\n") != strings.Join(wantOld, "\n") {
			t.Fatalf("kill %d: old rules after restart:\n%s\nwant\n%s", k+1, strings.Join(got, "\n"), strings.Join(wantOld, "\n"))
		}
		if n != nOld {
			d.Vsctl("del-flows", br, "cookie=0x5/0xffffffffffffffff")
		}
	}
	t.Logf("20 kills: %d left the old %d rules, %d left old + %d", counts[nOld], nOld, counts[nOld+bulk], bulk)
}
