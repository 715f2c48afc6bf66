package bridge

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vswitch/datapath"
	"vswitch/datapath/dptest"
	"vswitch/flowtable"
	"vswitch/store"
)

// newStoreSwitch is a real Switch over a real store and datapath, with
// patch ports only (no kernel devices), for the OpenFlow surface.
func newStoreSwitch(t *testing.T) *Switch {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "conf.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dp, err := datapath.New(datapath.Config{PMDCores: []int{-1}, MemBytes: 4 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Stop)
	sw, err := New(st, dp, Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw.Close)
	return sw
}

// twoBridges adds bridges A and B (unique names: their internal ports are
// kernel devices) joined by one patch pair, A's port 1 to B's port 1.
func twoBridges(t *testing.T, sw *Switch) (a, b string) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("bridges create internal (tap) ports: CI must run as root")
		}
		t.Skip("bridges create internal (tap) ports: needs root")
	}
	sfx := fmt.Sprintf("%04x", rand.IntN(1<<16))
	a, b = "ofa"+sfx, "ofb"+sfx
	for _, br := range []string{a, b} {
		if err := sw.AddBridge(br, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.AddPort(a, PortSpec{Name: "pa" + sfx, Type: "patch", Options: map[string]string{"peer": "pb" + sfx}}, false); err != nil {
		t.Fatal(err)
	}
	if err := sw.AddPort(b, PortSpec{Name: "pb" + sfx, Type: "patch", Options: map[string]string{"peer": "pa" + sfx}}, false); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func flowTexts(t *testing.T, sw *Switch, br string) []string {
	t.Helper()
	fv, err := sw.DumpFlows(br, "", false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fv {
		out = append(out, f.Text)
	}
	return out
}

func TestOfctlSurface(t *testing.T) {
	sw := newStoreSwitch(t)
	bra, brb := twoBridges(t, sw)
	// add-flows is one transaction: a bad line adds nothing.
	before := flowTexts(t, sw, bra)
	err := sw.AddFlows(bra, []string{"priority=10,ip,actions=output:1", "priority=20,tp_dst=80,actions=drop"})
	if err == nil || !strings.HasPrefix(err.Error(), "flow 2: ") {
		t.Fatalf("add-flows with a bad second line: %v", err)
	}
	if got := flowTexts(t, sw, bra); strings.Join(got, "|") != strings.Join(before, "|") {
		t.Fatalf("a failed add-flows changed the rules: %v", got)
	}
	// Outputs to a port the bridge lacks, gotos backwards: refused.
	for _, bad := range []string{"actions=output:9", "table=3,actions=goto_table:1", "actions=frobnicate"} {
		if err := sw.AddFlow(bra, bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Fatalf("add-flow %q: want a one-line error, got %v", bad, err)
		}
	}
	if err := sw.AddFlows(bra, []string{"priority=10,ip,actions=output:1", "priority=5,actions=LOCAL"}); err != nil {
		t.Fatal(err)
	}
	// mod-flows changes actions, keeps the rule.
	if err := sw.ModFlows(bra, "ip,actions=LOCAL", false); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(flowTexts(t, sw, bra), "|")
	if !strings.Contains(got, "ip actions=LOCAL") || strings.Contains(got, "ip actions=output:1") {
		t.Fatalf("after mod-flows: %s", got)
	}
	// trace names the rules and gives datapath actions and the megaflow.
	if err := sw.ModFlows(bra, "ip,actions=output:1", false); err != nil {
		t.Fatal(err)
	}
	tv, err := sw.Trace(bra, "in_port=LOCAL,tcp,nw_dst=10.0.0.1,tp_dst=22")
	if err != nil {
		t.Fatal(err)
	}
	if len(tv.Steps) == 0 || !strings.Contains(tv.Steps[0].Rule, "ip") || tv.Megaflow == "" {
		t.Fatalf("trace: %+v", tv)
	}
	// Patch output continues in brb, whose NORMAL floods to its LOCAL port.
	if !strings.Contains(tv.DatapathActions, brb) || len(tv.Steps) != 2 {
		t.Fatalf("trace through the patch port: datapath actions %q, steps %+v", tv.DatapathActions, tv.Steps)
	}
	// replace-flows makes the given set the whole set, atomically.
	if err := sw.ReplaceFlows(bra, []string{"priority=10,ip,actions=output:1", "priority=1,actions=drop"}); err != nil {
		t.Fatal(err)
	}
	if got := flowTexts(t, sw, bra); len(got) != 2 {
		t.Fatalf("after replace-flows: %v", got)
	}
	tables, err := sw.DumpTables(bra)
	if err != nil || len(tables) == 0 || tables[0].Active != 2 {
		t.Fatalf("dump-tables: %+v %v", tables, err)
	}
	if _, _, n, err := sw.DumpAggregate(bra, "ip"); err != nil || n != 1 {
		t.Fatalf("dump-aggregate ip: %d flows, %v", n, err)
	}
	ports, err := sw.DumpPorts(bra, "")
	if err != nil || len(ports) != 2 {
		t.Fatalf("dump-ports: %d ports, %v", len(ports), err)
	}
	// Hard timeouts expire rules.
	if err := sw.AddFlow(bra, "priority=99,udp,hard_timeout=1,actions=drop"); err != nil {
		t.Fatal(err)
	}
	sw.expireRules(time.Now().Add(2 * time.Second))
	if got := strings.Join(flowTexts(t, sw, bra), "|"); strings.Contains(got, "udp") {
		t.Fatalf("hard_timeout rule still there: %s", got)
	}
}

// TestSetFieldRewrite checks header rewrites end to end through the
// datapath: checksums stay valid and the megaflow matches only dl_type.
func TestSetFieldRewrite(t *testing.T) {
	r := newDiffRig(t, 1)
	rules := []*rule{mustRule(t, "priority=10,ip,actions=mod_nw_src:192.168.9.9,mod_tp_dst:8080,output:2")}
	r.install(rules)
	k := flowtable.Key{InPort: 1, DlSrc: diffMACs[0], DlDst: diffMACs[1], DlType: flowtable.EthTypeIPv4, NwProto: 17, TpSrc: 5, TpDst: 53}
	copy(k.NwDst[:], []byte{10, 0, 0, 2})
	r.ports[1].Send(buildFrame(&k))
	r.dp.Poll()
	out := r.ports[2].Sent()
	if len(out) != 1 {
		t.Fatalf("%d frames out", len(out))
	}
	var ek flowtable.Key
	flowtable.Extract(out[0], 0, &ek)
	if ek.NwSrc[0] != 192 || ek.NwSrc[3] != 9 || ek.TpDst != 8080 {
		t.Fatalf("rewritten key %+v", ek)
	}
	if mf := r.dp.Megaflows(); len(mf) != 1 || mf[0].Mask.TpDst != 0 || mf[0].Mask.NwSrc != ([16]byte{}) {
		t.Fatalf("megaflow should not match the rewritten fields: %+v", mf)
	}
	_ = dptest.MemPort{}
}

func mustRule(t *testing.T, text string) *rule {
	t.Helper()
	f, err := parseTestFlow(text)
	if err != nil {
		t.Fatal(err)
	}
	return &rule{flow: f}
}
