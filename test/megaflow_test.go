package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 3 end to end: the datapath's megaflows between real namespaces.
// NORMAL consults only in_port, the MACs and the VLAN, so TCP connections
// to many ports share a few wide megaflows; OpenFlow rule changes and MAC
// moves revalidate megaflows before the change is acknowledged; megaflow
// hits keep learned MACs alive.

// Twenty TCP connections to twenty destination ports leave a handful of
// megaflows, none matching on L3/L4, and are forwarded by cache hits.
func TestMegaflowWideNormal(t *testing.T) {
	requireE2E(t, "ping", "ss")
	d := startDaemon(t)
	br := d.AddBridge("brw")
	h1, h2 := twoHosts(t, d, br)
	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)

	pmd0, _ := d.PMDCounters()
	rx0 := d.Stats(h1.Port)["rx_packets"] + d.Stats(h2.Port)["rx_packets"]

	const conns, size = 20, 8192
	sink := startBG(t, h2, nettoolBin, "listenmany", "-addr", h2.IP, "-port", "6000", "-n", strconv.Itoa(conns), "-timeout", "30s")
	// listenmany prints "listening N" once bound; connectmany fails fast
	// on a refused port, so wait for the listeners first.
	if !waitFor(10*time.Second, func() bool {
		out, _ := h2.Exec("ss", "-Htln", "sport = :6019")
		return strings.Contains(out, "6019")
	}) {
		out, err := sink.wait(time.Second)
		t.Fatalf("nettool listenmany did not bind ports 6000-6019: %v\n%s", err, out)
	}
	srcOut := h1.MustExec(nettoolBin, "connectmany", "-addr", h2.IP, "-port", "6000", "-n", strconv.Itoa(conns), "-bytes", strconv.Itoa(size), "-timeout", "30s")
	sinkOut, err := sink.wait(30 * time.Second)
	if err != nil {
		t.Fatalf("nettool listenmany: %v\n%s", err, sinkOut)
	}
	t.Logf("source: %s sink: %s", strings.TrimSpace(srcOut), strings.TrimSpace(sinkOut))
	want := fmt.Sprintf("conns=%d bytes=%d", conns, conns*size)
	if !strings.Contains(srcOut, want) || !strings.Contains(sinkOut, want) {
		t.Fatalf("TCP: source %q, sink %q, want both %q", srcOut, sinkOut, want)
	}

	// Every packet the switch received from the two hosts was either a
	// cache hit or an upcall. PMD counters may be published a little after
	// the packets were counted on the port: poll briefly.
	rx := d.Stats(h1.Port)["rx_packets"] + d.Stats(h2.Port)["rx_packets"] - rx0
	var pmd map[string]uint64
	var pmdOut string
	waitFor(3*time.Second, func() bool {
		pmd, pmdOut = d.PMDCounters()
		return hits(pmd)-hits(pmd0)+upcalls(pmd)-upcalls(pmd0) >= rx
	})
	dHits, dUp := hits(pmd)-hits(pmd0), upcalls(pmd)-upcalls(pmd0)
	t.Logf("during the TCP connections: %d packets received from the hosts, %d cache hits (emc %d, megaflow %d), %d upcalls",
		rx, dHits, pmd["emc hits"]-pmd0["emc hits"], pmd["megaflow hits"]-pmd0["megaflow hits"], dUp)
	if rx < conns*6 {
		t.Fatalf("only %d packets received on the hosts' ports for %d TCP connections", rx, conns)
	}
	if dHits+dUp < rx || dHits < rx-dUp {
		t.Fatalf("emc+megaflow hits moved by %d and upcalls by %d, want hits ≥ %d received - %d upcalls\n%s", dHits, dUp, rx, dUp, pmdOut)
	}

	flows, raw := d.DPFlows(br)
	t.Logf("dpif/dump-flows %s (%d megaflows):\n%s", br, len(flows), raw)
	if len(flows) < 2 {
		t.Fatalf("dpif/dump-flows lists %d megaflows, want at least the two between the hosts:\n%s", len(flows), raw)
	}
	if len(flows) > 6 {
		t.Fatalf("dpif/dump-flows lists %d megaflows after %d TCP connections to different ports, want ≤ 6 (NORMAL must leave L4 wildcarded):\n%s", len(flows), conns, raw)
	}
	// NORMAL between learned MACs must not un-wildcard L3 or L4.
	for _, f := range flows {
		for _, field := range []string{"tcp", "tp_src", "tp_dst", "nw_src", "nw_dst", "nw_proto"} {
			if strings.Contains(f.Match, field) {
				t.Errorf("megaflow matches on %s: %s", field, f.Line)
			}
		}
	}
	// The unicast megaflows carry the traffic.
	for _, c := range []struct{ src, dst *Host }{{h1, h2}, {h2, h1}} {
		var found *dpFlow
		for i, f := range flows {
			if strings.Contains(f.Match, "dl_dst="+c.dst.MAC) && f.outputsTo(c.dst.Port) {
				found = &flows[i]
			}
		}
		if found == nil {
			t.Fatalf("no megaflow to %s (dl_dst=%s) outputting to %s:\n%s", c.dst.NS, c.dst.MAC, c.dst.Port, raw)
		}
		if found.Packets < conns*3 {
			t.Errorf("megaflow %s carried %d packets, want ≥ %d", found.Line, found.Packets, conns*3)
		}
	}
}

// A drop rule added while a ping flood is served from the caches stops the
// flood for every packet the switch forwards after add-flow returned, and
// deleting it lets the very next ping through.
func TestMegaflowDropRuleNextPacket(t *testing.T) {
	requireE2E(t, "ping", "tcpdump")
	d := startDaemon(t)
	br := d.AddBridge("brd")
	h1, h2 := twoHosts(t, d, br)
	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)

	echo := startTcpdump(t, h2, "icmp[icmptype] = icmp-echo")
	flood := startBG(t, h1, "ping", "-n", "-i", "0.01", h2.IP)
	if !waitFor(5*time.Second, func() bool { return len(echo.lines()) >= 30 }) {
		t.Fatalf("ping flood %s -> %s: %d echo requests reached %s in 5s, want ≥ 30\n%s", h1.NS, h2.NS, len(echo.lines()), h2.NS, flood.interrupt())
	}

	r := d.VsctlErr("add-flow", br, "priority=100,icmp,actions=drop")
	returned := time.Now()
	if r.Code != 0 {
		t.Fatalf("add-flow: exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
	}
	// The flood keeps hitting the switch; then one more echo request of
	// its own.
	time.Sleep(500 * time.Millisecond)
	ok, out := pingOnce(h1, h2.IP, 1)
	floodOut := flood.interrupt()
	time.Sleep(200 * time.Millisecond)
	seen := echo.stop()
	if ok {
		t.Errorf("a single ping after add-flow drop was answered:\n%s", out)
	}
	var before, after int
	var late []string
	for _, l := range seen {
		if frameTime(t, l).After(returned) {
			after++
			late = append(late, l)
		} else {
			before++
		}
	}
	t.Logf("flood: %s", lastLine(floodOut))
	t.Logf("echo requests delivered to %s: %d before add-flow returned, %d after", h2.NS, before, after)
	if after > 0 {
		t.Fatalf("%d echo requests were forwarded after add-flow %q returned at %s (stale megaflow or EMC entry):\n%s",
			after, "priority=100,icmp,actions=drop", returned.Format("15:04:05.000000"), strings.Join(late[:min(len(late), 10)], "\n"))
	}

	flows, raw := d.DPFlows(br)
	t.Logf("dpif/dump-flows with the drop rule:\n%s", raw)
	var dropped uint64
	for _, f := range flows {
		if f.Actions == "drop" && strings.Contains(f.Match+",", "in_port="+h1.Port+",") {
			dropped += f.Packets
		}
	}
	if dropped == 0 {
		t.Errorf("no drop megaflow for packets from %s carried packets after the rule was added:\n%s", h1.Port, raw)
	}

	// This capture also checks the clocks the timestamps above were
	// compared with: the echo request that passes once the rule is gone
	// must carry a timestamp later than del-flows' return.
	echo = startTcpdump(t, h2, "icmp[icmptype] = icmp-echo")
	d.Vsctl("del-flows", br, "icmp")
	delReturned := time.Now()
	rules := d.Vsctl("dump-flows", br)
	if strings.Contains(rules, "actions=drop") || !strings.Contains(rules, "actions=NORMAL") {
		t.Fatalf("after del-flows %s icmp, dump-flows should hold only the NORMAL flow:\n%s", br, rules)
	}
	if ok, out := pingOnce(h1, h2.IP, 2); !ok {
		t.Fatalf("the first ping after del-flows icmp was not answered:\n%s\ndpif/dump-flows:\n%s", out, d.Vsctl("dpif/dump-flows", br))
	}
	time.Sleep(100 * time.Millisecond)
	seen = echo.stop()
	if len(seen) != 1 || !frameTime(t, seen[0]).After(delReturned) {
		t.Fatalf("after del-flows returned at %s, %s captured %d echo requests, want 1 stamped later:\n%s",
			delReturned.Format("15:04:05.000000"), h2.NS, len(seen), strings.Join(seen, "\n"))
	}
	t.Logf("first ping after del-flows answered")

	// The same with an in_port rule over the wide NORMAL megaflows the
	// ping just installed, removed with the strict form.
	inPort := fmt.Sprintf("priority=100,in_port=%d", d.Ofport(h1.Port))
	echo = startTcpdump(t, h2, "icmp[icmptype] = icmp-echo")
	d.Vsctl("add-flow", br, inPort+",actions=drop")
	ok, out = pingOnce(h1, h2.IP, 1)
	time.Sleep(200 * time.Millisecond)
	if seen := echo.stop(); ok || len(seen) > 0 {
		t.Fatalf("after add-flow %s,actions=drop: ping answered %v, %d echo requests reached %s:\n%s%s",
			inPort, ok, len(seen), h2.NS, out, strings.Join(seen, "\n"))
	}
	d.Vsctl("--strict", "del-flows", br, inPort)
	if ok, out := pingOnce(h1, h2.IP, 2); !ok {
		t.Fatalf("the first ping after del-flows --strict %s was not answered:\n%s\ndump-flows:\n%s", inPort, out, d.Vsctl("dump-flows", br))
	}
	t.Logf("in_port drop rule: single ping dropped, first ping after its strict deletion answered")
}

// With MAC aging at 5 s, 15 s of steady traffic served by megaflows keeps
// both MACs learned: a third host never sees a unicast frame for them.
func TestMegaflowAgingNoFlood(t *testing.T) {
	requireE2E(t, "ping", "tcpdump")
	d := startDaemon(t)
	br := d.AddBridge("bra")
	d.Vsctl("set", "Bridge", br, "other_config:mac-aging-time=5")
	net := subnet()
	h1 := newHost(t, net+".1/24")
	h2 := newHost(t, net+".2/24")
	h3 := newHost(t, net+".3/24")
	attach(d, br, h1)
	attach(d, br, h2)
	attach(d, br, h3)

	// A flood of unicast traffic would reach ns3, which takes no part.
	flooded := startTcpdump(t, h3, fmt.Sprintf("ether dst %s or ether dst %s", h1.MAC, h2.MAC))
	all3 := startTcpdump(t, h3, "")

	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)
	pmd0, _ := d.PMDCounters()
	rx0 := d.Stats(h1.Port)["rx_packets"] + d.Stats(h2.Port)["rx_packets"]
	tx3 := d.Stats(h3.Port)["tx_packets"]

	// 15 s of pings both ways, 5 per second each.
	p12 := startBG(t, h1, "ping", "-n", "-i", "0.2", "-c", "75", "-W", "1", h2.IP)
	p21 := startBG(t, h2, "ping", "-n", "-i", "0.2", "-c", "75", "-W", "1", h1.IP)
	// Half-way and at the end, both MACs are still learned and fresh.
	checkFDB := func(when string) {
		out := d.Vsctl("fdb/show", br)
		for _, h := range []*Host{h1, h2} {
			port, age := fdbRow(out, h.MAC)
			want := strconv.Itoa(d.Ofport(h.Port))
			if port != want || age < 0 || age >= 5 {
				t.Fatalf("%s: fdb/show row for %s is port %q age %d, want port %s age < 5\n%s", when, h.MAC, port, age, want, out)
			}
		}
		t.Logf("%s: fdb/show\n%s", when, out)
	}
	time.Sleep(10 * time.Second)
	checkFDB("after 10 s")
	for _, p := range []*bg{p12, p21} {
		out, err := p.wait(20 * time.Second)
		if err != nil || !strings.Contains(out, " 0% packet loss") {
			t.Fatalf("steady ping: %v\n%s", err, out)
		}
		t.Logf("%s", lastLine(out))
	}
	checkFDB("after 15 s")
	// Right afterwards, traffic still goes straight to the hosts.
	for _, c := range []struct{ a, b *Host }{{h1, h2}, {h2, h1}} {
		if ok, out := pingOnce(c.a, c.b.IP, 1); !ok {
			t.Fatalf("ping %s -> %s after the steady traffic failed:\n%s", c.a.NS, c.b.NS, out)
		}
	}
	time.Sleep(300 * time.Millisecond)

	pmd, pmdOut := d.PMDCounters()
	rx := d.Stats(h1.Port)["rx_packets"] + d.Stats(h2.Port)["rx_packets"] - rx0
	dHits, dUp := hits(pmd)-hits(pmd0), upcalls(pmd)-upcalls(pmd0)
	t.Logf("steady traffic: %d packets from the hosts, %d cache hits, %d upcalls; %s tx_packets %d -> %d",
		rx, dHits, dUp, h3.Port, tx3, d.Stats(h3.Port)["tx_packets"])
	if rx < 300 {
		t.Fatalf("only %d packets received from the hosts, want ≥ 300", rx)
	}
	// The point of the test: the traffic was served by megaflows, not by
	// upcalls that relearn the MACs on every packet.
	if dUp > 20 || dHits < rx-dUp {
		t.Fatalf("steady traffic: %d upcalls and %d cache hits for %d packets, want ≤ 20 upcalls and the rest hits\n%s", dUp, dHits, rx, pmdOut)
	}

	bad := flooded.stop()
	other := all3.stop()
	t.Logf("%s received %d frames in all (broadcast ARP and the like):\n%s", h3.NS, len(other), strings.Join(other[:min(len(other), 10)], "\n"))
	// The port counter agrees: whatever the switch sent to ns3 since the
	// first pings is among the broadcasts ns3 captured.
	if got := d.Stats(h3.Port)["tx_packets"] - tx3; got > uint64(len(other)) {
		t.Errorf("tx_packets on %s moved by %d during the steady traffic, more than the %d non-unicast frames %s captured", h3.Port, got, len(other), h3.NS)
	}
	if len(bad) > 0 {
		t.Fatalf("%s received %d unicast frames for %s/%s (flooded: a MAC aged out under megaflow traffic):\n%s\nfdb/show:\n%s",
			h3.NS, len(bad), h1.MAC, h2.MAC, strings.Join(bad[:min(len(bad), 10)], "\n"), d.Vsctl("fdb/show", br))
	}
}

// A MAC that moves to another port while megaflows to it exist: the very
// next packets for it go to the new port, none to the old one; and when it
// moves back, a hit on the megaflow from before the first move relearns it.
func TestMegaflowMACMove(t *testing.T) {
	requireE2E(t, "ping", "tcpdump")
	d := startDaemon(t)
	br := d.AddBridge("brm")
	net := subnet()
	h1 := newHost(t, net+".1/24")
	h2 := newHost(t, net+".2/24")
	// h3 will take over h2's MAC and address, as a migrated VM would. It
	// starts with that MAC but no address, so it sends nothing (IPv6 off).
	h3 := newHost(t, "")
	movedMAC, movedIP := h2.MAC, h2.IP
	h3.MustExec("ip", "link", "set", "eth0", "down")
	h3.MustExec("ip", "link", "set", "eth0", "address", movedMAC)
	h3.MustExec("ip", "link", "set", "eth0", "up")
	attach(d, br, h1)
	attach(d, br, h2)
	attach(d, br, h3)

	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)
	flows, raw := d.DPFlows(br)
	stale := func(fs []dpFlow) *dpFlow {
		for i, f := range fs {
			if strings.Contains(f.Match, "dl_dst="+movedMAC) && f.outputsTo(h2.Port) {
				return &fs[i]
			}
		}
		return nil
	}
	if stale(flows) == nil {
		t.Fatalf("before the move, no megaflow to %s outputs to %s:\n%s", movedMAC, h2.Port, raw)
	}
	t.Logf("megaflows before the move:\n%s", raw)

	// h2 goes silent (no address: it answers nothing and sends nothing);
	// h3 takes the address. Nothing has told the switch yet.
	h2.MustExec("ip", "addr", "flush", "dev", "eth0")
	h3.MustExec("ip", "addr", "add", movedIP+"/24", "dev", "eth0")
	old := startTcpdump(t, h2, "ether dst "+movedMAC)
	nw := startTcpdump(t, h3, "ether dst "+movedMAC)
	tx3 := d.Stats(h3.Port)["tx_packets"]

	// h3's first frame (its ARP request for h1, source movedMAC) teaches
	// the switch the move; h1's ARP reply and echo reply, which the old
	// megaflow would send to h2, are the very next packets for the MAC.
	if ok, out := pingOnce(h3, h1.IP, 2); !ok {
		t.Errorf("ping from the moved host %s to %s failed (replies went to the old port?):\n%s", h3.NS, h1.IP, out)
	}
	// And h1's own traffic for the moved address, which the EMC and the old
	// megaflow know from before the move.
	if ok, out := pingOnce(h1, movedIP, 2); !ok {
		t.Errorf("ping %s -> moved %s failed:\n%s", h1.NS, movedIP, out)
	}
	time.Sleep(300 * time.Millisecond)
	atOld, atNew := old.stop(), nw.stop()
	t.Logf("frames for %s after the move: %d at the old port, %d at the new one", movedMAC, len(atOld), len(atNew))
	fdb := d.Vsctl("fdb/show", br)
	flows, raw = d.DPFlows(br)
	t.Logf("megaflows after the move:\n%s", raw)
	if len(atOld) > 0 {
		t.Fatalf("%d frames for the moved MAC %s still went to its old port %s:\n%s\nfdb/show:\n%s",
			len(atOld), movedMAC, h2.Port, strings.Join(atOld, "\n"), fdb)
	}
	if len(atNew) < 3 {
		t.Fatalf("only %d frames for %s reached its new port %s, want the ARP reply and the echo request and reply:\n%s", len(atNew), movedMAC, h3.Port, strings.Join(atNew, "\n"))
	}
	if got := d.Stats(h3.Port)["tx_packets"]; got < tx3+3 {
		t.Fatalf("tx_packets on the new port %s moved %d -> %d, want ≥ 3 more", h3.Port, tx3, got)
	}
	if port, _ := fdbRow(fdb, movedMAC); port != strconv.Itoa(d.Ofport(h3.Port)) {
		t.Fatalf("fdb/show has %s on port %q, want %d:\n%s", movedMAC, port, d.Ofport(h3.Port), fdb)
	}
	if f := stale(flows); f != nil {
		t.Fatalf("a megaflow still sends %s to the old port: %s", movedMAC, f.Line)
	}
	if t.Failed() {
		t.Logf("fdb/show:\n%s", fdb)
		return
	}

	// And back: h2 takes the address again and, its neighbour entry for
	// h1 still warm, sends unicast first, through the megaflow installed
	// for it before the first move (in_port=h2, dl_src=movedMAC). That hit
	// must relearn the MAC on h2's port, not merely refresh its age at h3's.
	h3.MustExec("ip", "addr", "flush", "dev", "eth0")
	h2.MustExec("ip", "addr", "add", movedIP+"/24", "dev", "eth0")
	h2.MustExec("ip", "neigh", "replace", h1.IP, "lladdr", h1.MAC, "dev", "eth0", "nud", "permanent")
	old = startTcpdump(t, h3, "ether dst "+movedMAC)
	if ok, out := pingOnce(h2, h1.IP, 2); !ok {
		t.Errorf("after moving back, the first ping %s -> %s failed:\n%s", h2.NS, h1.IP, out)
	}
	if ok, out := pingOnce(h1, movedIP, 2); !ok {
		t.Errorf("after moving back, ping %s -> %s failed:\n%s", h1.NS, movedIP, out)
	}
	time.Sleep(300 * time.Millisecond)
	atOld = old.stop()
	fdb = d.Vsctl("fdb/show", br)
	_, raw = d.DPFlows(br)
	if len(atOld) > 0 {
		t.Errorf("after moving back, %d frames for %s still went to %s:\n%s", len(atOld), movedMAC, h3.Port, strings.Join(atOld, "\n"))
	}
	if port, _ := fdbRow(fdb, movedMAC); port != strconv.Itoa(d.Ofport(h2.Port)) {
		t.Errorf("after moving back, fdb/show has %s on port %q, want %d", movedMAC, port, d.Ofport(h2.Port))
	}
	if t.Failed() {
		t.Fatalf("fdb/show:\n%s\ndpif/dump-flows:\n%s", fdb, raw)
	}
	t.Logf("MAC %s moved back to %s: first ping answered, nothing for it at %s", movedMAC, h2.Port, h3.Port)
}

func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}
