package main

import (
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

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
