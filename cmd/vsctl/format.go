package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "vswitch/proto/vswitch/v1"
)

var bareAtom = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// atom prints a string the way OVSDB does: bare when it looks like an
// identifier, double-quoted otherwise ("192.0.2.1", "could not open ...").
func atom(s string) string {
	if bareAtom.MatchString(s) && s != "true" && s != "false" {
		return s
	}
	return strconv.Quote(s)
}

func formatMap(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, atom(k)+"="+atom(m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// formatShow prints bridges as `ovs-vsctl show` does, plus an ofport and a
// statistics line under each Interface.
func formatShow(w io.Writer, bridges []*pb.Bridge) {
	for _, b := range bridges {
		fmt.Fprintf(w, "    Bridge %s\n", atom(b.GetName()))
		if b.GetFailMode() != "" {
			fmt.Fprintf(w, "        fail_mode: %s\n", b.GetFailMode())
		}
		if b.GetDatapathType() != "" {
			fmt.Fprintf(w, "        datapath_type: %s\n", b.GetDatapathType())
		}
		for _, p := range b.GetPorts() {
			fmt.Fprintf(w, "        Port %s\n", atom(p.GetName()))
			if p.Tag != nil {
				fmt.Fprintf(w, "            tag: %d\n", p.GetTag())
			}
			if len(p.GetTrunks()) > 0 {
				t := make([]string, len(p.GetTrunks()))
				for i, v := range p.GetTrunks() {
					t[i] = strconv.Itoa(int(v))
				}
				fmt.Fprintf(w, "            trunks: [%s]\n", strings.Join(t, ", "))
			}
			if p.GetVlanMode() != "" {
				fmt.Fprintf(w, "            vlan_mode: %s\n", p.GetVlanMode())
			}
			fmt.Fprintf(w, "            Interface %s\n", atom(p.GetName()))
			if p.GetType() != "" {
				fmt.Fprintf(w, "                type: %s\n", atom(p.GetType()))
			}
			if len(p.GetOptions()) > 0 {
				fmt.Fprintf(w, "                options: %s\n", formatMap(p.GetOptions()))
			}
			if p.GetError() != "" {
				fmt.Fprintf(w, "                error: %s\n", strconv.Quote(p.GetError()))
			}
			if len(p.GetExternalIds()) > 0 {
				fmt.Fprintf(w, "                external_ids: %s\n", formatMap(p.GetExternalIds()))
			}
			if len(p.GetStatus()) > 0 {
				fmt.Fprintf(w, "                status: %s\n", formatMap(p.GetStatus()))
			}
			fmt.Fprintf(w, "                ofport: %d\n", p.GetOfport())
			s := p.GetStats()
			fmt.Fprintf(w, "                statistics: {rx_packets=%d, rx_bytes=%d, rx_dropped=%d, rx_errors=%d, tx_packets=%d, tx_bytes=%d, tx_dropped=%d, tx_errors=%d, rx_truncated=%d}\n",
				s.GetRxPackets(), s.GetRxBytes(), s.GetRxDropped(), s.GetRxErrors(),
				s.GetTxPackets(), s.GetTxBytes(), s.GetTxDropped(), s.GetTxErrors(), s.GetRxTruncated())
		}
	}
}

// OpenFlow's reserved port number for the bridge's own port.
const ofportLocal = 65534

// formatFDB prints a MAC table as `ovs-appctl fdb/show` does.
func formatFDB(w io.Writer, entries []*pb.FdbEntry) {
	fmt.Fprintln(w, " port  VLAN  MAC                Age")
	for _, e := range entries {
		port := strconv.Itoa(int(e.GetOfport()))
		if e.GetOfport() == ofportLocal {
			port = "LOCAL"
		}
		fmt.Fprintf(w, "%5s  %4d  %s  %3d\n", port, e.GetVlan(), e.GetMac(), int64(e.GetAge().AsDuration().Seconds()))
	}
}

const defaultPriority = 32768

// formatFlows prints rules as `ovs-ofctl dump-flows` does. Like ovs-ofctl
// with --no-names (its default when stdout is not a terminal), the reply
// header comes first: go-openvswitch's DumpFlows requires it.
func formatFlows(w io.Writer, flows []*pb.Flow, header, noStats bool) {
	if header {
		fmt.Fprintln(w, "NXST_FLOW reply (xid=0x4):")
	}
	for _, f := range flows {
		fmt.Fprintln(w, flowLine(f, noStats))
	}
}

func flowLine(f *pb.Flow, noStats bool) string {
	var b strings.Builder
	b.WriteByte(' ')
	if !noStats || f.GetCookie() != 0 {
		fmt.Fprintf(&b, "cookie=%#x, ", f.GetCookie())
	}
	if !noStats {
		d := f.GetDuration().AsDuration()
		fmt.Fprintf(&b, "duration=%d.%03ds, ", int64(d.Seconds()), d.Milliseconds()%1000)
	}
	if !noStats || f.GetTable() != 0 {
		fmt.Fprintf(&b, "table=%d, ", f.GetTable())
	}
	if !noStats {
		fmt.Fprintf(&b, "n_packets=%d, n_bytes=%d, ", f.GetNPackets(), f.GetNBytes())
	}
	// The bridge gives "MATCH actions=ACTIONS"; the match may be empty.
	match, actions, ok := strings.Cut(f.GetText(), "actions=")
	if !ok {
		match, actions = "", f.GetText()
	}
	match = strings.TrimRight(strings.TrimSpace(match), ",")
	if f.GetPriority() != defaultPriority {
		p := "priority=" + strconv.Itoa(int(f.GetPriority()))
		if match == "" {
			match = p
		} else {
			match = p + "," + match
		}
	}
	if match != "" {
		b.WriteString(match)
		b.WriteByte(' ')
	}
	b.WriteString("actions=")
	b.WriteString(strings.TrimSpace(actions))
	return b.String()
}

func multiplePMDs(flows []*pb.DatapathFlow) bool {
	for _, f := range flows {
		if f.GetPmd() != flows[0].GetPmd() {
			return true
		}
	}
	return false
}

// formatDatapathFlows prints megaflows as `ovs-appctl dpif/dump-flows` does,
// one a line, in our flow syntax:
//
//	in_port=1,ip,nw_dst=10.0.0.0/255.255.255.0, packets:3, bytes:294, used:0.748s, actions:p2
//
// When flows come from more than one PMD they are grouped under a
// "pmd thread core_id C:" line per PMD; cores maps PMD index to core then.
func formatDatapathFlows(w io.Writer, flows []*pb.DatapathFlow, cores map[int32]int32) {
	if !multiplePMDs(flows) {
		for _, f := range flows {
			fmt.Fprintln(w, datapathFlowLine(f))
		}
		return
	}
	flows = slices.Clone(flows)
	slices.SortStableFunc(flows, func(a, b *pb.DatapathFlow) int { return cmp.Compare(a.GetPmd(), b.GetPmd()) })
	for i, f := range flows {
		if i == 0 || f.GetPmd() != flows[i-1].GetPmd() {
			core, ok := cores[f.GetPmd()]
			if ok && core >= 0 {
				fmt.Fprintf(w, "pmd thread core_id %d:\n", core)
			} else {
				fmt.Fprintf(w, "pmd thread core_id unpinned (pmd %d):\n", f.GetPmd())
			}
		}
		fmt.Fprintln(w, datapathFlowLine(f))
	}
}

func datapathFlowLine(f *pb.DatapathFlow) string {
	used := "never"
	if f.GetPackets() > 0 {
		used = seconds(f.GetUsed().AsDuration()) + "s"
	}
	actions := f.GetActions()
	if actions == "" {
		actions = "drop"
	}
	// An all-wildcard megaflow has an empty match; OVS prints nothing
	// before the first comma either, but a leading ", " reads badly.
	prefix := f.GetMatch() + ", "
	if f.GetMatch() == "" {
		prefix = ""
	}
	return fmt.Sprintf("%spackets:%d, bytes:%d, used:%s, actions:%s", prefix, f.GetPackets(), f.GetBytes(), used, actions)
}

// seconds prints d as seconds with three decimals, truncated as OVS does.
func seconds(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	ms := d.Milliseconds()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}

// formatPMDStats prints counters as `ovs-appctl dpif-netdev/pmd-stats-show`
// does. PMDs are not bound to NUMA nodes here, so numa_id is always 0.
func formatPMDStats(w io.Writer, pmds []*pb.PmdStats) {
	for _, p := range pmds {
		core := "unpinned"
		if p.GetCore() >= 0 {
			core = strconv.Itoa(int(p.GetCore()))
		}
		perPacket := 0.0
		if p.GetPackets() > 0 {
			perPacket = float64(p.GetBusyNanos()) / float64(p.GetPackets())
		}
		fmt.Fprintf(w, "pmd thread numa_id 0 core_id %s:\n", core)
		fmt.Fprintf(w, "  packets received: %d\n", p.GetPackets())
		fmt.Fprintf(w, "  emc hits: %d\n", p.GetEmcHits())
		fmt.Fprintf(w, "  megaflow hits: %d\n", p.GetMegaflowHits())
		fmt.Fprintf(w, "  miss with success upcall: %d\n", p.GetUpcalls())
		fmt.Fprintf(w, "  miss with failed upcall: %d\n", p.GetUpcallsLost())
		if n := p.GetFlowLimitHits(); n > 0 {
			fmt.Fprintf(w, "  miss over the megaflow limit (forwarded, not installed): %d\n", n)
		}
		fmt.Fprintf(w, "  revalidations: %d\n", p.GetRevalidations())
		fmt.Fprintf(w, "  malformed packets: %d\n", p.GetMalformed())
		fmt.Fprintf(w, "  tx dropped: %d\n", p.GetTxDropped())
		fmt.Fprintf(w, "  megaflows: %d\n", p.GetMegaflows())
		fmt.Fprintf(w, "  megaflows expired: %d\n", p.GetExpired())
		fmt.Fprintf(w, "  iterations: %d\n", p.GetIterations())
		fmt.Fprintf(w, "  busy time: %.3f ms\n", float64(p.GetBusyNanos())/1e6)
		fmt.Fprintf(w, "  idle time: %.3f ms polling, %.3f ms parked\n", float64(p.GetIdleNanos())/1e6, float64(p.GetParkedNanos())/1e6)
		fmt.Fprintf(w, "  avg. busy ns per packet: %.1f\n", perPacket)
		fmt.Fprintf(w, "  parks: %d\n", p.GetParks())
		if p.GetTunnelPushes()+p.GetTunnelPops()+p.GetTunnelMtuDrops() > 0 || len(p.GetTunnelDrops()) > 0 {
			fmt.Fprintf(w, "  tunnel encaps: %d\n", p.GetTunnelPushes())
			fmt.Fprintf(w, "  tunnel decaps: %d\n", p.GetTunnelPops())
			fmt.Fprintf(w, "  tunnel mtu drops: %d (ICMP frag-needed sent: %d)\n", p.GetTunnelMtuDrops(), p.GetTunnelFragNeeded())
			for _, r := range slices.Sorted(maps.Keys(p.GetTunnelDrops())) {
				fmt.Fprintf(w, "  tunnel drops %s: %d\n", r, p.GetTunnelDrops()[r])
			}
		}
	}
}

// formatPorts prints port counters as `ovs-ofctl dump-ports` does (OpenFlow
// 1.0 layout, which go-openvswitch parses):
//
//	OFPST_PORT reply (xid=0x2): 2 ports
//	  port LOCAL: rx pkts=0, bytes=0, drop=0, errs=0, frame=0, over=0, crc=0
//	           tx pkts=0, bytes=0, drop=0, errs=0, coll=0
//
// Ports that are not up have no OpenFlow number and are left out.
func formatPorts(w io.Writer, ports []*pb.Port, names bool) {
	up := make([]*pb.Port, 0, len(ports))
	for _, p := range ports {
		if p.GetOfport() >= 0 {
			up = append(up, p)
		}
	}
	fmt.Fprintf(w, "OFPST_PORT reply (xid=0x2): %d ports\n", len(up))
	for _, p := range up {
		label := strconv.Itoa(int(p.GetOfport()))
		switch {
		case names && p.GetName() != "":
			label = p.GetName()
		case p.GetOfport() == ofportLocal:
			label = "LOCAL"
		}
		// ovs-ofctl pads one-digit port numbers to line up with two-digit ones.
		pad := ""
		if p.GetOfport() < 10 {
			pad = " "
		}
		s := p.GetStats()
		fmt.Fprintf(w, "  port %s%s: rx pkts=%d, bytes=%d, drop=%d, errs=%d, frame=0, over=0, crc=0\n",
			pad, label, s.GetRxPackets(), s.GetRxBytes(), s.GetRxDropped(), s.GetRxErrors())
		fmt.Fprintf(w, "           tx pkts=%d, bytes=%d, drop=%d, errs=%d, coll=0\n",
			s.GetTxPackets(), s.GetTxBytes(), s.GetTxDropped(), s.GetTxErrors())
	}
}

// formatTables prints table counters in the layout of ovs-ofctl's
// OpenFlow 1.0 table stats, which go-openvswitch's DumpTables parses (two
// lines a table), leaving out tables that hold no rules and were never
// looked in:
//
//	OFPST_TABLE reply (xid=0x2): 2 tables
//	  0: classifier: wild=0x3fffff, max=1000000, active=1
//	                 lookup=10, matched=9
//	  1: table1    : wild=0x3fffff, max=1000000, active=0
//	                 lookup=4, matched=0
func formatTables(w io.Writer, tables []*pb.TableStats) {
	var used []*pb.TableStats
	for _, t := range tables {
		if t.GetActive() != 0 || t.GetLookups() != 0 {
			used = append(used, t)
		}
	}
	fmt.Fprintf(w, "OFPST_TABLE reply (xid=0x2): %d tables\n", len(used))
	for _, t := range used {
		name := "classifier"
		if t.GetTable() != 0 {
			name = fmt.Sprintf("table%d", t.GetTable())
		}
		fmt.Fprintf(w, "  %d: %-10s: wild=0x3fffff, max=1000000, active=%d\n", t.GetTable(), name, t.GetActive())
		fmt.Fprintf(w, "%*s lookup=%d, matched=%d\n", len(strconv.Itoa(int(t.GetTable())))+15, "", t.GetLookups(), t.GetMatched())
	}
}

// formatTrace prints a trace in the layout of `ovs-appctl ofproto/trace`:
//
//	Flow: icmp,in_port=1,nw_src=10.0.0.1,nw_dst=10.0.0.2
//
//	bridge("br0")
//	-------------
//	 0. icmp, priority 100
//	    goto_table:1
//	 1. No match.
//	     -> no match: drop
//
//	Megaflow: icmp,in_port=1
//	Datapath actions: drop
//
// Each table visit is indented four spaces per resubmit/patch level, its
// rule's actions one per line under it, and its note as a " -> " detail.
// A bridge header starts the trace and every change of bridge.
func formatTrace(w io.Writer, br string, t *pb.TraceResponse) {
	fmt.Fprintf(w, "Flow: %s\n", t.GetFlow())
	prev := ""
	steps := t.GetSteps()
	if len(steps) == 0 {
		header := fmt.Sprintf("bridge(%q)", br)
		fmt.Fprintf(w, "\n%s\n%s\n", header, strings.Repeat("-", len(header)))
	}
	for _, s := range steps {
		indent := strings.Repeat(" ", 4*max(int(s.GetDepth()), 0))
		b := s.GetBridge()
		if b == "" {
			b = br
		}
		if b != prev {
			header := fmt.Sprintf("bridge(%q)", b)
			fmt.Fprintf(w, "\n%s%s\n%s%s\n", indent, header, indent, strings.Repeat("-", len(header)))
			prev = b
		}
		rule := "No match."
		if s.GetRule() != "" {
			rule = traceRule(s.GetRule())
		}
		fmt.Fprintf(w, "%s%2d. %s\n", indent, s.GetTable(), rule)
		for _, a := range splitActions(s.GetActions()) {
			fmt.Fprintf(w, "%s    %s\n", indent, a)
		}
		for _, n := range strings.Split(s.GetNote(), "\n") {
			if n = strings.TrimSpace(n); n != "" {
				fmt.Fprintf(w, "%s     -> %s\n", indent, n)
			}
		}
	}
	actions := t.GetDatapathActions()
	if actions == "" {
		actions = "drop"
	}
	fmt.Fprintf(w, "\nMegaflow: %s\nDatapath actions: %s\n", t.GetMegaflow(), actions)
}

// traceRule turns a rule in flow syntax ("priority=100,icmp,cookie=0x5")
// into what ofproto/trace prints after the table number: the match, then
// ", priority N" and ", cookie C" when the cookie is not 0.
func traceRule(rule string) string {
	var match []string
	priority, cookie := strconv.Itoa(defaultPriority), ""
	for _, f := range splitTop(rule, ',') {
		f = strings.TrimSpace(f)
		switch {
		case strings.HasPrefix(f, "priority="):
			priority = strings.TrimPrefix(f, "priority=")
		case strings.HasPrefix(f, "cookie="):
			if c := strings.TrimPrefix(f, "cookie="); c != "0" && c != "0x0" {
				cookie = c
			}
		case f != "":
			match = append(match, f)
		}
	}
	out := "priority " + priority
	if len(match) > 0 {
		out = strings.Join(match, ",") + ", " + out
	}
	if cookie != "" {
		out += ", cookie " + cookie
	}
	return out
}

// splitActions splits an action list at the commas that separate actions,
// not those inside resubmit(,1) or reg0[0..3]-style arguments.
func splitActions(actions string) []string {
	var out []string
	for _, a := range splitTop(actions, ',') {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// splitTop splits s at sep where it is not inside (), [] or {}.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// formatRxqs prints rx queue assignments as `ovs-appctl
// dpif-netdev/pmd-rxq-show` does, grouped by PMD in PMD order, with each
// queue's share of its PMD over the last 5 s interval (NOT AVAIL before
// the first). PMDs are not bound to NUMA nodes here, so numa_id is 0.
func formatRxqs(w io.Writer, rxqs []*pb.Rxq) {
	rxqs = slices.Clone(rxqs)
	slices.SortStableFunc(rxqs, func(a, b *pb.Rxq) int { return cmp.Compare(a.GetPmd(), b.GetPmd()) })
	for i, q := range rxqs {
		if i == 0 || q.GetPmd() != rxqs[i-1].GetPmd() {
			core := "unpinned"
			if q.GetCore() >= 0 {
				core = strconv.Itoa(int(q.GetCore()))
			}
			fmt.Fprintf(w, "pmd thread numa_id 0 core_id %s:\n  isolated : false\n", core)
		}
		usage := "NOT AVAIL"
		if q.GetUsage() >= 0 {
			usage = fmt.Sprintf("%3.0f %%", q.GetUsage())
		}
		fmt.Fprintf(w, "  port: %-16s  queue-id: %2d (enabled)   pmd usage: %s\n", q.GetPort(), q.GetQueue(), usage)
	}
}

// formatTunnels prints tnl/route/show, tnl/arp/show or tnl/ports/show in
// the layout ovs-appctl uses.
func formatTunnels(w io.Writer, what string, r *pb.TunnelShowResponse) {
	switch what {
	case "tnl/route/show":
		fmt.Fprintln(w, "Route Table:")
		for _, rt := range r.GetRoutes() {
			line := fmt.Sprintf("System: %s dev %s", rt.GetPrefix(), rt.GetDev())
			if rt.GetGateway() != "" {
				line += " GW " + rt.GetGateway()
			}
			if rt.GetSrc() != "" {
				line += " SRC " + rt.GetSrc()
			}
			if rt.GetType() != "" && rt.GetType() != "unicast" {
				line += " " + rt.GetType()
			}
			fmt.Fprintln(w, line)
		}
	case "tnl/arp/show":
		fmt.Fprintf(w, "%-40s %-19s %-16s %s\n", "IP", "MAC", "Dev", "Source")
		fmt.Fprintln(w, strings.Repeat("=", 86))
		for _, n := range r.GetNeighbours() {
			src := "kernel (" + n.GetState() + ")"
			if n.GetLearned() {
				src = "learned"
			}
			fmt.Fprintf(w, "%-40s %-19s %-16s %s\n", n.GetIp(), n.GetMac(), n.GetDev(), src)
		}
	case "tnl/ports/show":
		fmt.Fprintln(w, "Listening ports:")
		refs := map[string]int{}
		udp := map[string]uint32{}
		for _, p := range r.GetPorts() {
			refs[p.GetVport()]++
			udp[p.GetVport()] = p.GetDstPort()
		}
		for _, vp := range slices.Sorted(maps.Keys(refs)) {
			fmt.Fprintf(w, "%s (%d) ref_cnt=%d\n", vp, udp[vp], refs[vp])
		}
		fmt.Fprintln(w, "Tunnel ports:")
		for _, p := range r.GetPorts() {
			line := fmt.Sprintf("%s: bridge %s, remote_ip=%s, key=%s, dst_port=%d", p.GetPort(), p.GetBridge(), p.GetRemoteIp(), p.GetKey(), p.GetDstPort())
			if p.GetLocalIp() != "" {
				line += ", local_ip=" + p.GetLocalIp()
			}
			fmt.Fprintln(w, line)
		}
	}
}
