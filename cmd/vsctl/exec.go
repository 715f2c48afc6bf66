package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "vswitch/proto/vswitch/v1"
)

type executor struct {
	g   globalOpts
	c   pb.VswitchClient
	out io.Writer
	in  io.Reader
}

func isCode(err error, c codes.Code) bool { return status.Code(err) == c }

func (x *executor) run(ctx context.Context, c *command) error {
	a := c.args
	switch c.name {
	case "init":
		_, err := x.c.ListBridges(ctx, &pb.ListBridgesRequest{})
		return err
	case "add-br":
		_, err := x.c.AddBridge(ctx, &pb.AddBridgeRequest{Name: a[0], MayExist: c.mayExist})
		return err
	case "del-br":
		_, err := x.c.DelBridge(ctx, &pb.DelBridgeRequest{Name: a[0], IfExists: c.ifExists})
		return err
	case "list-br":
		r, err := x.c.ListBridges(ctx, &pb.ListBridgesRequest{})
		if err != nil {
			return err
		}
		x.names(r.GetNames())
	case "br-exists":
		r, err := x.c.ListBridges(ctx, &pb.ListBridgesRequest{})
		if err != nil {
			return err
		}
		if !slices.Contains(r.GetNames(), a[0]) {
			return &exitError{code: 2}
		}
	case "add-port":
		return x.addPort(ctx, c)
	case "del-port":
		br, port := "", a[0]
		if len(a) == 2 {
			br, port = a[0], a[1]
		}
		_, err := x.c.DelPort(ctx, &pb.DelPortRequest{Bridge: br, Port: port, IfExists: c.ifExists})
		return err
	case "list-ports", "list-ifaces":
		r, err := x.c.ListPorts(ctx, &pb.ListPortsRequest{Bridge: a[0]})
		if err != nil {
			return err
		}
		x.names(r.GetNames())
	case "port-to-br", "iface-to-br":
		r, err := x.c.PortToBridge(ctx, &pb.PortToBridgeRequest{Port: a[0]})
		if err != nil {
			return err
		}
		x.lines([]string{r.GetBridge()})
	case "get-fail-mode":
		r, err := x.c.Get(ctx, &pb.GetRequest{Table: "Bridge", Record: a[0], Column: "fail_mode"})
		if err != nil {
			return err
		}
		if v := unquote(r.GetValue()); v != "" && v != "[]" {
			x.lines([]string{v})
		}
	case "set-fail-mode", "del-fail-mode":
		mode := ""
		if c.name == "set-fail-mode" {
			mode = a[1]
		}
		_, err := x.c.Set(ctx, &pb.SetRequest{Table: "Bridge", Record: a[0],
			Settings: []*pb.Setting{{Column: "fail_mode", Value: mode}}})
		return err
	case "set-controller", "del-controller":
		_, err := x.c.SetController(ctx, &pb.SetControllerRequest{Bridge: a[0], Targets: a[1:]})
		return err
	case "get-controller":
		r, err := x.c.GetController(ctx, &pb.GetControllerRequest{Bridge: a[0]})
		if err != nil {
			return err
		}
		x.lines(r.GetTargets())
	case "mod-port":
		_, err := x.c.ModPort(ctx, &pb.ModPortRequest{Bridge: a[0], Port: a[1], Action: portActions[a[2]]})
		return err
	case "list", "find":
		return x.listRecords(ctx, c)
	case "clear", "add", "remove", "destroy", "create":
		return x.recordCommand(ctx, c) // ovsdb.go
	case "set":
		err := x.set(ctx, c.table, c.record, c.sets)
		if err != nil && c.ifExists && isCode(err, codes.NotFound) {
			return nil
		}
		return err
	case "get":
		for _, col := range c.cols {
			r, err := x.c.Get(ctx, &pb.GetRequest{Table: c.table, Record: c.record, Column: col})
			if err != nil {
				if c.ifExists && isCode(err, codes.NotFound) {
					return nil
				}
				return err
			}
			v := r.GetValue()
			if x.g.format == "json" {
				v = ovsdbToJSON(v)
			}
			x.lines([]string{v})
		}
	case "show":
		r, err := x.c.Show(ctx, &pb.ShowRequest{})
		if err != nil {
			return err
		}
		if x.g.format == "json" {
			return x.json(r)
		}
		formatShow(x.out, r.GetBridges())
	case "fdb/show":
		r, err := x.c.FdbShow(ctx, &pb.FdbShowRequest{Bridge: a[0]})
		if err != nil {
			return err
		}
		if x.g.format == "json" {
			return x.json(r)
		}
		formatFDB(x.out, r.GetEntries())
	case "fdb/flush":
		br := ""
		if len(a) == 1 {
			br = a[0]
		}
		if _, err := x.c.FdbFlush(ctx, &pb.FdbFlushRequest{Bridge: br}); err != nil {
			return err
		}
		fmt.Fprintln(x.out, "table successfully flushed")
	case "add-flow":
		if a[1] == "-" {
			return x.addFlows(ctx, c, a[0], a[1])
		}
		_, err := x.c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: a[0], Flow: a[1], Transient: c.transient})
		return err
	case "add-flows":
		return x.addFlows(ctx, c, a[0], a[1])
	case "replace-flows":
		return x.replaceFlows(ctx, a[0], a[1])
	case "mod-flows":
		_, err := x.c.ModFlows(ctx, &pb.ModFlowsRequest{Bridge: a[0], Flow: a[1], Strict: c.strict})
		return err
	case "del-flows":
		_, err := x.c.DelFlows(ctx, &pb.DelFlowsRequest{Bridge: a[0], Match: optArg(a, 1), Strict: c.strict})
		return err
	case "dump-flows":
		r, err := x.c.DumpFlows(ctx, &pb.DumpFlowsRequest{Bridge: a[0], Match: optArg(a, 1), Names: x.g.names == 1})
		if err != nil {
			return err
		}
		if x.g.format == "json" {
			return x.json(r)
		}
		formatFlows(x.out, r.GetFlows(), x.g.names == 0 && !x.g.noStats, x.g.noStats)
	case "dump-ports":
		r, err := x.c.DumpPorts(ctx, &pb.DumpPortsRequest{Bridge: a[0], Port: optArg(a, 1)})
		if err != nil {
			return err
		}
		if x.g.format == "json" {
			return x.json(r)
		}
		formatPorts(x.out, r.GetPorts(), x.g.names == 1)
	case "dump-ports-desc":
		return x.dumpPortsDesc(ctx, a[0], optArg(a, 1))
	case "dump-tables":
		r, err := x.c.DumpTables(ctx, &pb.DumpTablesRequest{Bridge: a[0]})
		if err != nil {
			return err
		}
		if x.g.format == "json" {
			return x.json(r)
		}
		formatTables(x.out, r.GetTables())
	case "dump-aggregate":
		r, err := x.c.DumpAggregate(ctx, &pb.DumpAggregateRequest{Bridge: a[0], Match: optArg(a, 1)})
		if err != nil {
			return err
		}
		fmt.Fprintf(x.out, "NXST_AGGREGATE reply (xid=0x4): packet_count=%d byte_count=%d flow_count=%d\n",
			r.GetPackets(), r.GetBytes(), r.GetFlows())
	case "trace", "ofproto/trace":
		r, err := x.c.Trace(ctx, &pb.TraceRequest{Bridge: a[0], Flow: a[1]})
		if err != nil {
			return err
		}
		if x.g.names != 1 {
			x.numberInPort(ctx, a[0], r)
		}
		formatTrace(x.out, a[0], r)
	case "tnl/route/show", "tnl/arp/show", "tnl/ports/show":
		r, err := x.c.TunnelShow(ctx, &pb.TunnelShowRequest{})
		if err != nil {
			return err
		}
		formatTunnels(x.out, c.name, r)
	case "sriov/show":
		r, err := x.c.SriovShow(ctx, &pb.SriovShowRequest{})
		if err != nil {
			return err
		}
		if x.g.format == "json" {
			return x.json(r)
		}
		formatSriov(x.out, r)
	case "pmd-rxq-show", "dpif-netdev/pmd-rxq-show":
		r, err := x.c.PmdRxqs(ctx, &pb.PmdRxqsRequest{})
		if err != nil {
			return err
		}
		if x.g.format == "json" {
			return x.json(r)
		}
		formatRxqs(x.out, r.GetRxqs())
	case "pmd-rxq-rebalance", "dpif-netdev/pmd-rxq-rebalance":
		r, err := x.c.PmdRxqRebalance(ctx, &pb.PmdRxqRebalanceRequest{})
		if err != nil {
			return err
		}
		formatRxqs(x.out, r.GetRxqs())
	case "dpif/dump-flows", "dpctl/dump-flows":
		return x.dumpDatapathFlows(ctx, a[0])
	case "pmd-stats-show", "dpif-netdev/pmd-stats-show":
		r, err := x.c.PmdStats(ctx, &pb.PmdStatsRequest{})
		if err != nil {
			return err
		}
		if x.g.format == "json" {
			return x.json(r)
		}
		formatPMDStats(x.out, r.GetPmds())
	case "pmd-stats-clear", "dpif-netdev/pmd-stats-clear":
		_, err := x.c.PmdStatsClear(ctx, &pb.PmdStatsClearRequest{})
		return err
	default:
		return fmt.Errorf("%s: not implemented", c.name)
	}
	return nil
}

// dumpDatapathFlows prints a bridge's megaflows. Only when more than one PMD
// has flows does it need the PMDs' cores, for the group headers.
func (x *executor) dumpDatapathFlows(ctx context.Context, br string) error {
	r, err := x.c.DumpDatapathFlows(ctx, &pb.DumpDatapathFlowsRequest{Bridge: br})
	if err != nil {
		return err
	}
	var cores map[int32]int32
	if multiplePMDs(r.GetFlows()) {
		st, err := x.c.PmdStats(ctx, &pb.PmdStatsRequest{})
		if err != nil {
			return err
		}
		cores = make(map[int32]int32, len(st.GetPmds()))
		for _, p := range st.GetPmds() {
			cores[p.GetId()] = p.GetCore()
		}
	}
	formatDatapathFlows(x.out, r.GetFlows(), cores)
	return nil
}

func (x *executor) lines(ss []string) {
	for _, s := range ss {
		fmt.Fprintln(x.out, s)
	}
}

// addPort sends the add-port and its merged columns as one AddPort. With
// --may-exist and a port that already exists on that bridge, ovs-vsctl
// still applies the `set` commands that follow, so they are sent as sets.
func (x *executor) addPort(ctx context.Context, c *command) error {
	br, name := c.args[0], c.spec.GetName()
	if c.mayExist && len(c.ifaceSets)+len(c.portSets) > 0 {
		r, err := x.c.PortToBridge(ctx, &pb.PortToBridgeRequest{Port: name})
		if err == nil && r.GetBridge() == br {
			if err := x.set(ctx, "Interface", name, c.ifaceSets); err != nil {
				return err
			}
			return x.set(ctx, "Port", name, append(slices.Clone(c.portSets), c.extra...))
		}
		if err != nil && !isCode(err, codes.NotFound) {
			return err
		}
	}
	_, err := x.c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: c.spec, MayExist: c.mayExist})
	if err != nil {
		return err
	}
	return x.set(ctx, "Port", name, c.extra)
}

// set sends one Set. A whole-map value (options={a=b}) replaces the map, as
// in ovs-vsctl: the keys it does not name are read and cleared.
func (x *executor) set(ctx context.Context, table, record string, sets []setting) error {
	var out []*pb.Setting
	for _, s := range sets {
		if !s.isMap {
			out = append(out, &pb.Setting{Column: s.column, Key: s.key, Value: s.value})
			continue
		}
		r, err := x.c.Get(ctx, &pb.GetRequest{Table: table, Record: record, Column: s.column})
		if err != nil {
			return err
		}
		old, err := parseMap(r.GetValue())
		if err != nil {
			return fmt.Errorf("%s %s: cannot parse current %s %q: %v", table, record, s.column, r.GetValue(), err)
		}
		for _, k := range slices.Sorted(maps.Keys(old)) {
			if _, keep := s.mapValue[k]; !keep {
				out = append(out, &pb.Setting{Column: s.column, Key: k, Value: ""})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(s.mapValue)) {
			out = append(out, &pb.Setting{Column: s.column, Key: k, Value: s.mapValue[k]})
		}
	}
	if len(out) == 0 {
		return nil
	}
	_, err := x.c.Set(ctx, &pb.SetRequest{Table: table, Record: record, Settings: out})
	return err
}

// optArg returns a[i], or "" when the optional argument was not given.
func optArg(a []string, i int) string {
	if i < len(a) {
		return a[i]
	}
	return ""
}

// fileFlow is one flow read from a flow file, with where it came from.
type fileFlow struct {
	line int    // 1-based line number in the file
	verb string // --bundle: "add", "delete" or "delete_strict"; "" otherwise
	text string
}

// readFlows reads flows, one a line, from a file or stdin ("-"), skipping
// blank lines and # comments. With bundle a line may start with add,
// delete or delete_strict, as in ovs-ofctl's bundle files.
func (x *executor) readFlows(file string, bundle bool) ([]fileFlow, error) {
	var r io.Reader = x.in
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%s: cannot open: %v", file, err)
		}
		defer f.Close()
		r = f
	}
	var out []fileFlow
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fl := fileFlow{line: n, text: line}
		if verb, rest, _ := strings.Cut(line, " "); bundle && (verb == "add" || verb == "delete" || verb == "delete_strict") {
			fl.verb, fl.text = verb, strings.TrimSpace(rest)
		}
		out = append(out, fl)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: read failed at line %d: %v", fileLabel(file), len(out)+1, err)
	}
	return out, nil
}

func fileLabel(file string) string {
	if file == "-" {
		return "stdin"
	}
	return file
}

// flowIndex matches the "flow N: " prefix with which the server names the
// bad flow of a list (N is 1-based).
var flowIndex = regexp.MustCompile(`^flow ([0-9]+): `)

// atLine rewrites the server's "flow N: message" about a list sent from
// lines as "FILE:LINE: message", naming the line of the file the flow came
// from (blank and comment lines were not sent, so N alone would mislead).
func atLine(err error, file string, lines []fileFlow) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded {
		return err
	}
	msg := st.Message()
	m := flowIndex.FindStringSubmatch(msg)
	if m == nil {
		return err
	}
	n, convErr := strconv.Atoi(m[1])
	if convErr != nil || n < 1 || n > len(lines) {
		return err
	}
	return status.Errorf(st.Code(), "%s:%d: %s", fileLabel(file), lines[n-1].line, msg[len(m[0]):])
}

func texts(lines []fileFlow) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

// addFlows adds the flows of a file in one AddFlows request, so a bad line
// adds nothing. A --bundle file that also deletes cannot be one request
// (the API has no mixed transaction); it is sent line by line, in order.
func (x *executor) addFlows(ctx context.Context, c *command, br, file string) error {
	lines, err := x.readFlows(file, c.bundle)
	if err != nil {
		return err
	}
	mixed := false
	for _, l := range lines {
		mixed = mixed || (l.verb != "" && l.verb != "add")
	}
	if !mixed {
		if _, err := x.c.AddFlows(ctx, &pb.AddFlowsRequest{Bridge: br, Flows: texts(lines), Transient: c.transient}); err != nil {
			return atLine(err, file, lines)
		}
		return nil
	}
	for i, l := range lines {
		var err error
		switch l.verb {
		case "delete", "delete_strict":
			_, err = x.c.DelFlows(ctx, &pb.DelFlowsRequest{Bridge: br, Match: l.text, Strict: l.verb == "delete_strict"})
		default:
			_, err = x.c.AddFlow(ctx, &pb.AddFlowRequest{Bridge: br, Flow: l.text, Transient: c.transient})
		}
		if err != nil {
			if st, ok := status.FromError(err); ok && st.Code() != codes.Unavailable && st.Code() != codes.DeadlineExceeded {
				return status.Errorf(st.Code(), "%s:%d: %s", fileLabel(file), lines[i].line, st.Message())
			}
			return err
		}
	}
	return nil
}

// replaceFlows makes a file's flows the bridge's whole rule set, in one
// ReplaceFlows request; an empty file deletes every rule, as in ovs-ofctl.
func (x *executor) replaceFlows(ctx context.Context, br, file string) error {
	lines, err := x.readFlows(file, false)
	if err != nil {
		return err
	}
	if _, err := x.c.ReplaceFlows(ctx, &pb.ReplaceFlowsRequest{Bridge: br, Flows: texts(lines)}); err != nil {
		return atLine(err, file, lines)
	}
	return nil
}

// ovsdbToJSON renders an ovs-vsctl value ([a, b], {k=v}, "s", 5) as JSON,
// for --format=json get (go-openvswitch decodes sets into []string).
func ovsdbToJSON(v string) string {
	v = strings.TrimSpace(v)
	var out any
	switch {
	case strings.HasPrefix(v, "{"):
		m, err := parseMap(v)
		if err != nil {
			return strconv.Quote(v)
		}
		out = m
	case strings.HasPrefix(v, "["):
		list := []string{}
		rest := strings.TrimSpace(v[1 : len(v)-1])
		for rest != "" {
			a, r, err := scanAtom(rest)
			if err != nil {
				return strconv.Quote(v)
			}
			list = append(list, a)
			rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r), ","))
		}
		out = list
	default:
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return v
		}
		out = unquote(v)
	}
	b, _ := json.Marshal(out)
	return string(b)
}
