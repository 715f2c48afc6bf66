package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ofPipeline is a bridge whose flow table was replaced by a two-table
// pipeline: an ACL in table 0 that drops TCP to port 5001, then forwarding
// by destination MAC in table 1, with h3's port a trunk that gets frames
// for h3 tagged with VLAN 7.
type ofPipeline struct {
	d          *Daemon
	br         string
	h1, h2, h3 *Host
	p1, p2, p3 int
	flows      string
}

const (
	aclMatch  = "tcp,tp_dst=5001"
	vlanOnH3  = 7
	aclPort   = "5001"
	openPort  = "5002"
	flowsWait = 5 * time.Second
)

// newOFPipeline starts a daemon with three namespaces on afpacket ports
// and loads the pipeline with `add-flows BR -` after deleting every flow.
func newOFPipeline(t *testing.T) *ofPipeline {
	t.Helper()
	d := startDaemon(t)
	p := &ofPipeline{d: d, br: d.AddBridge("brof")}
	net := subnet()
	p.h1 = newHost(t, net+".1/24")
	p.h2 = newHost(t, net+".2/24")
	// h3's namespace end is a VLAN trunk; its address lives in VLAN 7,
	// answered by nettool vlanhost (this kernel has no 802.1Q devices).
	p.h3 = newHost(t, "")
	p.h3.IP = net + ".3"
	for _, h := range []*Host{p.h1, p.h2, p.h3} {
		attach(d, p.br, h)
	}
	p.p1, p.p2, p.p3 = d.Ofport(p.h1.Port), d.Ofport(p.h2.Port), d.Ofport(p.h3.Port)

	p.flows = fmt.Sprintf(`# table 0: ACL, then on to forwarding
priority=100,%s,actions=drop
priority=10,actions=goto_table:1

# table 1: forwarding by destination MAC
table=1,dl_dst=%s,actions=output:%d
table=1,dl_dst=%s,actions=output:%d
table=1,dl_dst=%s,actions=mod_vlan_vid:%d,output:%d
table=1,priority=40000,dl_vlan=%d,dl_dst=%s,actions=strip_vlan,output:%d
table=1,dl_dst=ff:ff:ff:ff:ff:ff,actions=FLOOD
`, aclMatch,
		p.h2.MAC, p.p2,
		p.h1.MAC, p.p1,
		p.h3.MAC, vlanOnH3, p.p3,
		vlanOnH3, p.h1.MAC, p.p1)
	d.Vsctl("del-flows", p.br)
	if r := d.VsctlIn(p.flows, "add-flows", p.br, "-"); r.Code != 0 {
		t.Fatalf("add-flows %s - (stdin): exit %d: %s%s\nflows:\n%s", p.br, r.Code, r.Stdout, r.Stderr, p.flows)
	}
	fs, out := d.OFFlows(p.br)
	t.Logf("pipeline installed:\n%s", out)
	if len(fs) != 7 {
		t.Fatalf("dump-flows after add-flows lists %d rules, want the 7 loaded:\n%s", len(fs), out)
	}
	for _, f := range fs {
		if f.Actions == "NORMAL" {
			t.Fatalf("the default NORMAL rule survived del-flows:\n%s", out)
		}
	}
	return p
}

// The pipeline forwards, drops and tags as written, and its counters in
// dump-flows, dump-tables and dump-aggregate follow the traffic.
func TestOpenFlowPipeline(t *testing.T) {
	requireE2E(t, "ping", "tcpdump", "ss", "bash", "timeout")
	p := newOFPipeline(t)
	d, br := p.d, p.br

	// h1 <-> h2: ARP floods through table 1, pings and TCP to the open
	// port go through, TCP to the ACL's port gets no answer at all.
	pingOK(t, p.h1, p.h2.IP)
	pingOK(t, p.h2, p.h1.IP)
	const n = 8 << 20
	mbps := transferPort(t, p.h1, p.h2, openPort, n)
	t.Logf("TCP %d bytes h1 -> h2:%s verified, %.0f Mbit/s", n, openPort, mbps)
	transferPort(t, p.h2, p.h1, openPort, 1<<20)
	t.Logf("TCP 1 MiB h2 -> h1:%s verified", openPort)

	fs, out := d.OFFlows(br)
	acl := findFlow(fs, 0, aclMatch)
	if acl == nil {
		t.Fatalf("dump-flows has no table 0 rule %s:\n%s", aclMatch, out)
	}
	aclBefore := acl.NPackets
	tcpConnectTimesOut(t, p.h1, p.h2, aclPort, 3*time.Second)
	t.Logf("TCP h1 -> h2:%s timed out (ACL drop)", aclPort)
	// The SYN and its retransmissions hit the ACL rule.
	if !waitFor(flowsWait, func() bool {
		fs, _ = d.OFFlows(br)
		acl = findFlow(fs, 0, aclMatch)
		return acl != nil && acl.NPackets >= aclBefore+2
	}) {
		t.Fatalf("ACL rule n_packets %d -> %+v, want ≥ 2 more (SYN + retransmission):\n%s", aclBefore, acl, d.Vsctl("dump-flows", br))
	}

	// h1 -> h3: h3 answers only in VLAN 7, so h1's echo requests must
	// reach it tagged 7 and its tagged replies come back through the
	// strip_vlan rule. h1 cannot resolve h3 over untagged ARP: a static
	// neighbour stands in.
	p.h1.MustExec("ip", "neigh", "replace", p.h3.IP, "lladdr", p.h3.MAC, "dev", "eth0", "nud", "permanent")
	cap3 := startTcpdump(t, p.h3, "icmp or (vlan and icmp)")
	vh := startVLANHost(t, p.h3, fmt.Sprintf("%d=%s", vlanOnH3, p.h3.IP))
	pingOK(t, p.h1, p.h3.IP)
	st := vh.stop(t)
	frames := cap3.stop()
	t.Logf("vlanhost in h3: %+v", st)
	if st.EchoReplies[vlanOnH3] < 5 {
		t.Fatalf("h3 answered %d echo requests in VLAN %d, want ≥ 5: %+v", st.EchoReplies[vlanOnH3], vlanOnH3, st)
	}
	tagged := 0
	for _, l := range frames {
		if !strings.Contains(l, "> "+p.h3.MAC) || !strings.Contains(l, "ICMP echo request") {
			continue
		}
		if !strings.Contains(l, fmt.Sprintf("vlan %d,", vlanOnH3)) {
			t.Fatalf("echo request to h3 without the VLAN %d tag: %s", vlanOnH3, l)
		}
		tagged++
	}
	if tagged < 5 {
		t.Fatalf("tcpdump -e in h3 saw %d echo requests tagged VLAN %d, want ≥ 5:\n%s", tagged, vlanOnH3, strings.Join(frames, "\n"))
	}
	t.Logf("h3 received %d echo requests tagged VLAN %d, e.g.\n%s", tagged, vlanOnH3, frames[0])

	// Every rule the traffic went through counted it. Rule counters are
	// pushed from the megaflows periodically, so poll.
	var fwd2, fwd3, strip, goto1 *ofFlow
	counted := func() bool {
		var fs []ofFlow
		fs, out = d.OFFlows(br)
		for _, f := range fs {
			if f.NPackets == 0 {
				return false
			}
		}
		fwd2 = findFlow(fs, 1, "dl_dst="+p.h2.MAC)
		fwd3 = findFlow(fs, 1, "dl_dst="+p.h3.MAC)
		strip = findFlow(fs, 1, fmt.Sprintf("dl_vlan=%d,dl_dst=%s", vlanOnH3, p.h1.MAC))
		goto1 = findFlow(fs, 0, "")
		return fwd2 != nil && fwd3 != nil && strip != nil && goto1 != nil &&
			fwd2.NPackets >= n/1500 && fwd2.NBytes >= n &&
			fwd3.NPackets >= 6 && strip.NPackets >= 6 &&
			goto1.Priority == 10 && goto1.NPackets >= fwd2.NPackets+fwd3.NPackets
	}
	if !waitFor(flowsWait, counted) {
		t.Fatalf("rule counters did not follow the traffic within %v: want every n_packets > 0, "+
			"the h2 rule ≥ %d packets and ≥ %d bytes (the transfer), the h3 push rule and the strip_vlan rule ≥ 6 packets (the pings), "+
			"table 0's goto rule ≥ the sum of those it led to:\n%s", flowsWait, n/1500, n, out)
	}
	t.Logf("dump-flows after traffic:\n%s", out)

	// dump-tables: both tables were looked in.
	ts, tout := d.Tables(br)
	t.Logf("dump-tables:\n%s", tout)
	if ts[0].Lookup == 0 || ts[1].Lookup == 0 || ts[0].Matched == 0 || ts[1].Matched == 0 {
		t.Fatalf("dump-tables: table 0 %+v, table 1 %+v, want lookups and matches in both:\n%s", ts[0], ts[1], tout)
	}
	if ts[0].Active != 2 || ts[1].Active != 5 {
		t.Fatalf("dump-tables: active rules %d and %d, want 2 and 5:\n%s", ts[0].Active, ts[1].Active, tout)
	}
	if ts[0].Matched > ts[0].Lookup || ts[1].Matched > ts[1].Lookup || ts[1].Lookup > ts[0].Lookup {
		t.Fatalf("dump-tables: inconsistent counters (matched ≤ lookup, table 1 lookups ≤ table 0's):\n%s", tout)
	}

	// dump-aggregate sums dump-flows. Stray frames may arrive between the
	// two dumps, so compare when dump-flows did not change around it.
	var sumP, sumB, aggP, aggB, aggN uint64
	var aout string
	ok := false
	for try := 0; try < 10 && !ok; try++ {
		f1, o1 := d.OFFlows(br)
		aggP, aggB, aggN, aout = d.Aggregate(br)
		_, o2 := d.OFFlows(br)
		if stripDurations(o1) != stripDurations(o2) {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		sumP, sumB = 0, 0
		for _, f := range f1 {
			sumP += f.NPackets
			sumB += f.NBytes
		}
		if aggN != uint64(len(f1)) || aggP != sumP || aggB != sumB {
			t.Fatalf("dump-aggregate %q, want packet_count=%d byte_count=%d flow_count=%d (sums of dump-flows):\n%s", strings.TrimSpace(aout), sumP, sumB, len(f1), o1)
		}
		ok = true
	}
	if !ok {
		t.Fatalf("dump-flows kept changing; last dump-aggregate %q", aout)
	}
	t.Logf("dump-aggregate: %s", strings.TrimSpace(aout))
	if aggN != 7 {
		t.Fatalf("dump-aggregate %s: flow_count=%d, want 7", br, aggN)
	}
	// A match narrows the aggregate to the rules it selects.
	out = d.Vsctl("dump-aggregate", br, "table=1")
	if !strings.Contains(out, "flow_count=5") {
		t.Fatalf("dump-aggregate %s table=1 = %q, want flow_count=5", br, out)
	}
}

// stripDurations drops the duration= fields, which change every dump.
func stripDurations(s string) string {
	var b strings.Builder
	for _, f := range strings.Fields(s) {
		if !strings.HasPrefix(f, "duration=") {
			b.WriteString(f)
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// trace names the rules a packet would match in each table, the datapath
// actions and the megaflow.
func TestOpenFlowTrace(t *testing.T) {
	requireE2E(t)
	p := newOFPipeline(t)
	d, br := p.d, p.br

	// Dropped by the ACL in table 0.
	out := d.Vsctl("trace", br, fmt.Sprintf("in_port=%d,tcp,dl_dst=%s,tp_dst=5001", p.p1, p.h2.MAC))
	t.Logf("trace tp_dst=5001:\n%s", out)
	ls := traceLines(out)
	if !hasLine(ls, func(l string) bool {
		return strings.HasPrefix(l, "0. ") && strings.Contains(l, "tp_dst=5001") && strings.Contains(l, "priority 100")
	}) {
		t.Fatalf("trace does not name the ACL rule (table 0, tcp,tp_dst=5001, priority 100):\n%s", out)
	}
	if hasLine(ls, func(l string) bool { return strings.HasPrefix(l, "1. ") }) {
		t.Fatalf("trace of a dropped packet visits table 1:\n%s", out)
	}
	if got := traceField(ls, "Datapath actions:"); got != "drop" {
		t.Fatalf("trace: Datapath actions %q, want drop:\n%s", got, out)
	}
	if mf := traceField(ls, "Megaflow:"); !strings.Contains(mf, "tp_dst=5001") {
		t.Fatalf("trace: Megaflow %q does not match on tp_dst=5001 (the ACL looked at it):\n%s", mf, out)
	}
	if !strings.HasPrefix(strings.TrimSpace(out), "Flow: ") {
		t.Fatalf("trace does not start with the Flow line:\n%s", out)
	}

	// Port 80: table 0's goto, then table 1's rule for h2's MAC.
	out = d.Vsctl("ofproto/trace", br, fmt.Sprintf("in_port=%d,tcp,dl_dst=%s,tp_dst=80", p.p1, p.h2.MAC))
	t.Logf("trace tp_dst=80:\n%s", out)
	ls = traceLines(out)
	i0 := indexLine(ls, func(l string) bool { return strings.HasPrefix(l, "0. ") && strings.Contains(l, "priority 10") })
	ig := indexLine(ls, func(l string) bool { return l == "goto_table:1" })
	i1 := indexLine(ls, func(l string) bool {
		return strings.HasPrefix(l, "1. ") && strings.Contains(l, "dl_dst="+p.h2.MAC)
	})
	io := indexLine(ls, func(l string) bool { return l == "output:"+strconv.Itoa(p.p2) || l == "output:"+p.h2.Port })
	if i0 < 0 || ig < i0 || i1 < ig || io < i1 {
		t.Fatalf("trace does not read table 0 priority 10 -> goto_table:1 -> table 1 dl_dst=%s -> output:%d (%d %d %d %d):\n%s", p.h2.MAC, p.p2, i0, ig, i1, io, out)
	}
	dpa := traceField(ls, "Datapath actions:")
	if dpa != p.h2.Port && dpa != strconv.Itoa(p.p2) {
		t.Fatalf("trace: Datapath actions %q, want output to h2's port (%s):\n%s", dpa, p.h2.Port, out)
	}
	mf := traceField(ls, "Megaflow:")
	if !strings.Contains(mf, "dl_dst="+p.h2.MAC) || !strings.Contains(mf, "tp_dst=80") {
		t.Fatalf("trace: Megaflow %q, want it to match dl_dst=%s and tp_dst=80:\n%s", mf, p.h2.MAC, out)
	}

	// The VLAN path: the push shows in the datapath actions.
	out = d.Vsctl("trace", br, fmt.Sprintf("in_port=%d,icmp,dl_dst=%s", p.p1, p.h3.MAC))
	t.Logf("trace to h3:\n%s", out)
	dpa = traceField(traceLines(out), "Datapath actions:")
	if !strings.Contains(dpa, "vlan") || !strings.Contains(dpa, strconv.Itoa(vlanOnH3)) || !strings.Contains(dpa, p.h3.Port) {
		t.Fatalf("trace to h3: Datapath actions %q, want a VLAN %d push and output to %s:\n%s", dpa, vlanOnH3, p.h3.Port, out)
	}
}

func traceLines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

func indexLine(ls []string, f func(string) bool) int {
	for i, l := range ls {
		if f(l) {
			return i
		}
	}
	return -1
}

func hasLine(ls []string, f func(string) bool) bool { return indexLine(ls, f) >= 0 }

// traceField returns what follows prefix on the line that starts with it,
// "<missing>" when no line does.
func traceField(ls []string, prefix string) string {
	for _, l := range ls {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(strings.TrimPrefix(l, prefix))
		}
	}
	return "<missing>"
}

// Bad flows are refused with one line on stderr, and nothing of them is
// installed: neither a single bad flow nor any line of a file with one.
func TestOpenFlowBadInput(t *testing.T) {
	requireE2E(t)
	d, br, p1, p2 := newBadInputBridge(t)
	before := d.stableFlows(br)
	t.Logf("flows before:\n%s", before)

	cases := []struct {
		name, flow string
		mention    string // the error names this
	}{
		{"malformed MAC", "priority=5,dl_dst=00:11:22:zz,actions=drop", "dl_dst"},
		{"malformed line", "priority=5,in_port=1,actions=output:", "output"},
		{"no actions", "priority=5,in_port=1", "actions"},
		{"unknown action", "priority=5,actions=frobnicate:1", "frobnicate"},
		{"unknown field", "priority=5,nw_bogus=1,actions=drop", "nw_bogus"},
		{"tp_dst without tcp/udp", "priority=5,tp_dst=80,actions=drop", "tp_dst"},
		{"nw_dst without ip", "priority=5,nw_dst=10.0.0.1,actions=drop", "nw_dst"},
		{"output to a missing port", "priority=5,actions=output:99", "99"},
		{"goto a lower table", "table=3,actions=goto_table:1", "goto_table"},
		{"goto the same table", "table=2,actions=goto_table:2", "goto_table"},
	}
	for _, c := range cases {
		r := d.VsctlErr("add-flow", br, c.flow)
		checkOneLineError(t, "add-flow "+c.name, r, c.mention)
		t.Logf("%-26s %q -> %s", c.name+":", c.flow, strings.TrimSpace(r.Stderr))
		if got := d.stableFlows(br); got != before {
			t.Fatalf("add-flow %q (%s) changed the flow table:\nbefore:\n%s\nafter:\n%s", c.flow, c.name, before, got)
		}
	}

	// A file whose 3rd flow is bad installs none of its lines, whether
	// read from a file or from stdin, added or replacing.
	file := strings.Join([]string{
		"# good lines around one bad one",
		fmt.Sprintf("priority=60,in_port=%d,actions=output:%d", p2, p1),
		"priority=61,ip,nw_dst=10.9.9.9,actions=drop",
		"priority=62,tp_dst=80,actions=drop",
		"priority=63,udp,tp_dst=53,actions=drop",
	}, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		r    VsctlResult
	}{
		{"add-flows FILE", d.VsctlErr("add-flows", br, path)},
		{"add-flows -", d.VsctlIn(file, "add-flows", br, "-")},
		{"replace-flows FILE", d.VsctlErr("replace-flows", br, path)},
	} {
		checkOneLineError(t, c.name, c.r, "tp_dst")
		// The error points at the bad line: the 4th line of the file (the
		// 3rd flow, after a comment).
		if !strings.Contains(c.r.Stderr, ":4:") && !strings.Contains(c.r.Stderr, "line 4") {
			t.Errorf("%s: error %q does not name line 4 of the file", c.name, strings.TrimSpace(c.r.Stderr))
		}
		t.Logf("%s with a bad 3rd flow -> %s", c.name, strings.TrimSpace(c.r.Stderr))
		if got := d.stableFlows(br); got != before {
			t.Fatalf("%s with a bad 3rd flow changed the flow table:\nbefore:\n%s\nafter:\n%s", c.name, before, got)
		}
	}

	// The good lines alone load, so the refusal above was about line 4.
	good := strings.ReplaceAll(file, "priority=62,tp_dst=80,actions=drop\n", "")
	if r := d.VsctlIn(good, "add-flows", br, "-"); r.Code != 0 {
		t.Fatalf("add-flows of the good lines: exit %d: %s", r.Code, r.Stderr)
	}
	fs, out := d.OFFlows(br)
	if len(fs) != len(strings.Split(before, "\n"))+3 {
		t.Fatalf("after adding 3 good flows dump-flows lists %d rules:\n%s", len(fs), out)
	}
}

// newBadInputBridge starts a daemon with a bridge of two veth ports and
// three rules: NORMAL, one output in table 0 and one drop in table 3.
func newBadInputBridge(t *testing.T) (d *Daemon, br string, p1, p2 int) {
	t.Helper()
	d = startDaemon(t)
	br = d.AddBridge("brbad")
	h1, h2 := twoHosts(t, d, br)
	p1, p2 = d.Ofport(h1.Port), d.Ofport(h2.Port)
	d.Vsctl("add-flow", br, fmt.Sprintf("priority=50,in_port=%d,actions=output:%d", p1, p2))
	d.Vsctl("add-flow", br, "table=3,priority=70,ip,nw_dst=10.77.0.1,actions=drop")
	return d, br, p1, p2
}

// mod-flows is refused, with one line and nothing changed, for what
// add-flow refuses.
func TestOpenFlowBadModFlows(t *testing.T) {
	requireE2E(t)
	d, br, p1, p2 := newBadInputBridge(t)
	before := d.stableFlows(br)
	// mod-flows is held to the same rules, judged against each rule it
	// selects: no output to a missing port, and no goto to a table at or
	// before the selected rule's own (mod-flows without table= selects
	// in every table, as in ovs-ofctl).
	for _, c := range []struct{ name, flow, mention string }{
		{"mod-flows to a missing port", fmt.Sprintf("in_port=%d,actions=output:77", p1), "77"},
		{"mod-flows goto a lower table", "ip,nw_dst=10.77.0.1,actions=goto_table:1", "goto_table"},
	} {
		r := d.VsctlErr("mod-flows", br, c.flow)
		if got := d.stableFlows(br); got != before {
			t.Errorf("mod-flows %q (%s): exit %d %q, and it changed the flow table:\nbefore:\n%s\nafter:\n%s", c.flow, c.name, r.Code, strings.TrimSpace(r.Stderr), before, got)
			// Put the table back for the checks that follow.
			d.Vsctl("del-flows", br)
			d.Vsctl("add-flow", br, "priority=0,actions=NORMAL")
			d.Vsctl("add-flow", br, fmt.Sprintf("priority=50,in_port=%d,actions=output:%d", p1, p2))
			d.Vsctl("add-flow", br, "table=3,priority=70,ip,nw_dst=10.77.0.1,actions=drop")
			continue
		}
		checkOneLineError(t, c.name, r, c.mention)
		t.Logf("%s: %q -> %s", c.name, c.flow, strings.TrimSpace(r.Stderr))
	}

	// A valid mod-flows goes through, so the refusals above were about
	// the actions.
	d.Vsctl("mod-flows", br, fmt.Sprintf("in_port=%d,actions=output:%d,output:%d", p1, p2, p2))
	if got := d.stableFlows(br); !strings.Contains(got, fmt.Sprintf("actions=output:%d,output:%d", p2, p2)) {
		t.Fatalf("valid mod-flows not applied:\n%s", got)
	}
}

// checkOneLineError requires a failed vsctl run whose stderr is exactly one
// line "vsctl: ..." naming mention, and nothing on stdout.
func checkOneLineError(t *testing.T, what string, r VsctlResult, mention string) {
	t.Helper()
	msg := strings.TrimRight(r.Stderr, "\n")
	switch {
	case r.Code == 0:
		t.Fatalf("%s: succeeded, want an error (stdout %q)", what, r.Stdout)
	case strings.Contains(msg, "\n"):
		t.Fatalf("%s: error is not one line:\n%s", what, r.Stderr)
	case !strings.HasPrefix(msg, "vsctl: "):
		t.Fatalf("%s: error %q does not start with \"vsctl: \"", what, msg)
	case !strings.Contains(msg, mention):
		t.Fatalf("%s: error %q does not mention %q", what, msg, mention)
	case strings.TrimSpace(r.Stdout) != "":
		t.Fatalf("%s: failed but printed %q on stdout", what, r.Stdout)
	}
}
