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
		fmt.Fprintf(w, "  revalidations: %d\n", p.GetRevalidations())
		fmt.Fprintf(w, "  malformed packets: %d\n", p.GetMalformed())
		fmt.Fprintf(w, "  tx dropped: %d\n", p.GetTxDropped())
		fmt.Fprintf(w, "  megaflows: %d\n", p.GetMegaflows())
		fmt.Fprintf(w, "  megaflows expired: %d\n", p.GetExpired())
		fmt.Fprintf(w, "  iterations: %d\n", p.GetIterations())
		fmt.Fprintf(w, "  busy time: %.3f ms\n", float64(p.GetBusyNanos())/1e6)
		fmt.Fprintf(w, "  avg. busy ns per packet: %.1f\n", perPacket)
		fmt.Fprintf(w, "  parks: %d\n", p.GetParks())
	}
}
