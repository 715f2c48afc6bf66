package bridge

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"vswitch/datapath"
	"vswitch/openflow"
	"vswitch/store"
)

// openSwitchAt opens a Switch on the store at path; close undoes it.
func openSwitchAt(t *testing.T, path string) (sw *Switch, close func()) {
	t.Helper()
	st, err := store.Open(path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := datapath.New(datapath.Config{PMDCores: []int{-1}, MemBytes: 4 << 20}, nil)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	sw, err = New(st, dp, Options{RunDir: filepath.Dir(path)})
	if err != nil {
		dp.Stop()
		st.Close()
		t.Fatal(err)
	}
	return sw, func() { sw.Close(); dp.Stop(); st.Close() }
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("bridges create internal (tap) ports: CI must run as root")
		}
		t.Skip("bridges create internal (tap) ports: needs root")
	}
}

func dumpedFlows(t *testing.T, sw *Switch, br string) []string {
	t.Helper()
	fv, err := sw.DumpFlows(br, "", false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fv {
		out = append(out, fmt.Sprintf("cookie=%#x table=%d priority=%d %s", f.Cookie, f.Table, f.Priority, f.Text))
	}
	return out
}

func storedFlows(t *testing.T, sw *Switch, br string) []string {
	t.Helper()
	c, err := sw.st.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, bc := range c.Bridges {
		if bc.Name == br {
			return bc.Flows
		}
	}
	t.Fatalf("bridge %s not stored", br)
	return nil
}

// Every kind of flow-mod lands in the store as its delta, and a reopened
// switch has exactly the rules it had, except the transient ones.
func TestFlowModsSurviveReopen(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "conf.db")
	sw, closeSw := openSwitchAt(t, path)
	br := fmt.Sprintf("pst%04x", rand.IntN(1<<16))
	if err := sw.AddBridge(br, false); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sw.DelBridge(br, true) }()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sw.AddFlows(br, []string{
		"table=0,priority=10,ip,nw_dst=10.0.0.1,actions=drop",
		"table=0,priority=10,ip,nw_dst=10.0.0.2,actions=drop",
		"table=1,priority=5,cookie=0x7,tcp,tp_dst=80,actions=NORMAL",
		"table=0,priority=10,ip,nw_dst=10.0.0.1,actions=NORMAL", // replaces the first
	}))
	must(sw.AddFlow(br, "priority=20,arp,actions=NORMAL"))
	must(sw.AddFlowTransient(br, "priority=30,ip,nw_dst=10.9.9.9,actions=drop", true))
	must(sw.AddFlowsTransient(br, []string{"priority=31,ip,nw_dst=10.9.9.8,actions=drop"}, true))
	// A transient rule replaced by a stored one is stored, and the reverse.
	must(sw.AddFlowTransient(br, "priority=40,ip,nw_dst=10.8.8.8,actions=drop", true))
	must(sw.AddFlow(br, "priority=40,ip,nw_dst=10.8.8.8,actions=NORMAL"))
	must(sw.AddFlowTransient(br, "table=0,priority=10,ip,nw_dst=10.0.0.2,actions=NORMAL", true))
	must(sw.ModFlows(br, "table=1,tcp,actions=drop", false))
	must(sw.DelFlows(br, "arp", false))

	all := dumpedFlows(t, sw, br)
	if len(all) != 7 {
		t.Fatalf("before reopen: %d rules:\n%q", len(all), all)
	}
	stored := storedFlows(t, sw, br)
	if len(stored) != 4 { // NORMAL, 10.0.0.1, table 1, 10.8.8.8
		t.Fatalf("store holds %d flows, want 4: %q", len(stored), stored)
	}
	var wantAfter []string
	for _, f := range all {
		if !slices.ContainsFunc([]string{"10.9.9.9", "10.9.9.8", "10.0.0.2"}, func(ip string) bool { return containsWord(f, ip) }) {
			wantAfter = append(wantAfter, f)
		}
	}
	closeSw()

	sw, closeSw = openSwitchAt(t, path)
	defer closeSw()
	if got := dumpedFlows(t, sw, br); !slices.Equal(got, wantAfter) {
		t.Fatalf("after reopen:\n got %q\nwant %q", got, wantAfter)
	}

	// ReplaceFlows stores only what changed; a deleted bridge takes its flows.
	must(sw.ReplaceFlows(br, []string{"priority=0,actions=NORMAL", "priority=9,ip,actions=drop"}))
	if got := storedFlows(t, sw, br); len(got) != 2 {
		t.Fatalf("after replace-flows the store holds %q", got)
	}
	must(sw.DelBridge(br, false))
	must(sw.AddBridge(br, false))
	if got := storedFlows(t, sw, br); !slices.Equal(got, []string{"priority=0,actions=NORMAL"}) {
		t.Fatalf("re-added bridge has stored flows %q", got)
	}
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w && (i+len(w) == len(s) || s[i+len(w)] == ',' || s[i+len(w)] == ' ') {
			return true
		}
	}
	return false
}

// Concurrent single flow-mods on a bridge holding 10k rules are group
// committed; the figure is logged, not asserted (the machine is shared).
func TestGroupCommitRate(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "conf.db")
	sw, closeSw := openSwitchAt(t, path)
	defer closeSw()
	br := fmt.Sprintf("pgc%04x", rand.IntN(1<<16))
	if err := sw.AddBridge(br, false); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sw.DelBridge(br, true) }()
	var base []string
	for i := range 10000 {
		base = append(base, fmt.Sprintf("priority=%d,ip,nw_dst=10.%d.%d.1,actions=drop", 100+i%50, i/256, i%256))
	}
	start := time.Now()
	if err := sw.AddFlows(br, base); err != nil {
		t.Fatal(err)
	}
	t.Logf("10000 rules added in one transaction in %v", time.Since(start).Round(time.Millisecond))

	const workers, each = 32, 250
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start = time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var err error
				switch i % 4 {
				case 3:
					err = sw.DelFlows(br, fmt.Sprintf("priority=100,ip,nw_dst=172.16.%d.%d", w, i-1), true)
				default:
					err = sw.AddFlow(br, fmt.Sprintf("priority=%d,ip,nw_dst=172.16.%d.%d,actions=NORMAL", 100, w, i))
				}
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
	n := workers * each
	sw.mu.Lock()
	batches, mods := sw.fc.batches, sw.fc.mods
	sw.mu.Unlock()
	t.Logf("%d group commits for %d flow-mods: %.1f per store transaction", batches, mods, float64(mods)/float64(batches))
	t.Logf("%d single flow-mods from %d callers on 10k rules in %v: %.0f flow-mods/s", n, workers, took.Round(time.Millisecond), float64(n)/took.Seconds())

	want := dumpedFlows(t, sw, br)
	if kept := each - 2*(each/4); len(want) != 1+10000+workers*kept {
		t.Fatalf("%d rules after the run, want %d", len(want), 1+10000+workers*kept)
	}
	if got := storedFlows(t, sw, br); len(got) != len(want) {
		t.Fatalf("store holds %d flows, switch %d", len(got), len(want))
	}
	checkTables(t, sw, br) // patched batch by batch, as a full build makes them
}

// checkTables requires the published tables of br to be what a full build
// of its rules makes (patching batch by batch must not drift).
func checkTables(t *testing.T, sw *Switch, br string) {
	t.Helper()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	patched, full := sw.xs.Load().bridges[br].tables, buildTables(sw.bridges[br].rules)
	if len(patched) != len(full) {
		t.Fatalf("%d tables published, %d built", len(patched), len(full))
	}
	for i := range full {
		if !slices.Equal(patched[i], full[i]) {
			t.Fatalf("table %d: published %d rules differ from a full build of %d", i, len(patched[i]), len(full[i]))
		}
	}
}

// Random concurrent flow-mods of every kind, with few priorities so that
// ties show: the patched tables equal a full build, and a reopened switch
// has the same rules in the same order.
func TestPatchedTablesMatchFullBuild(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "conf.db")
	sw, closeSw := openSwitchAt(t, path)
	br := fmt.Sprintf("ptb%04x", rand.IntN(1<<16))
	if err := sw.AddBridge(br, false); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sw.DelBridge(br, true) }()
	flow := func(rng *rand.Rand, act string) string {
		return fmt.Sprintf("table=%d,priority=%d,ip,nw_dst=10.0.%d.%d,actions=%s", rng.IntN(3), 10*(1+rng.IntN(3)), rng.IntN(4), rng.IntN(40), act)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 300 {
				var err error
				switch rng.IntN(6) {
				case 0, 1:
					err = sw.AddFlow(br, flow(rng, "drop"))
				case 2:
					err = sw.AddFlows(br, []string{flow(rng, "NORMAL"), flow(rng, "drop"), flow(rng, "NORMAL")})
				case 3:
					err = sw.ModFlows(br, flow(rng, "NORMAL"), true)
				case 4:
					m := flow(rng, "drop")
					err = sw.DelFlows(br, m[:len(m)-len(",actions=drop")], true)
				default:
					err = sw.AddFlowTransient(br, flow(rng, "drop"), true)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	checkTables(t, sw, br)
	var stored []string
	for _, r := range func() []*rule { sw.mu.Lock(); defer sw.mu.Unlock(); return slices.Clone(sw.bridges[br].rules) }() {
		if !r.transient {
			stored = append(stored, r.flow.String())
		}
	}
	got := storedFlows(t, sw, br)
	for i, text := range got {
		f, err := openflow.ParseFlow(text, nil)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = f.String()
	}
	if !slices.Equal(got, stored) {
		for i := range min(len(got), len(stored)) {
			if got[i] != stored[i] {
				t.Fatalf("store holds %d flows, the switch %d stored ones; first difference at %d: %q vs %q", len(got), len(stored), i, got[i], stored[i])
			}
		}
		t.Fatalf("store holds %d flows, the switch %d stored ones", len(got), len(stored))
	}
	t.Logf("%d rules, %d stored", len(dumpedFlows(t, sw, br)), len(stored))
	closeSw()
	sw, closeSw = openSwitchAt(t, path)
	defer closeSw()
	checkTables(t, sw, br)
	var after []string
	sw.mu.Lock()
	for _, r := range sw.bridges[br].rules {
		after = append(after, r.flow.String())
	}
	sw.mu.Unlock()
	if !slices.Equal(after, stored) {
		t.Fatalf("after reopen %d rules, want the %d stored ones in the same order", len(after), len(stored))
	}
}
