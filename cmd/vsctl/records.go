package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "vswitch/proto/vswitch/v1"
)

// tableColumns are the columns `list` and `find` show for each table, in
// the order printed: those the daemon's Get knows.
var tableColumns = map[string][]string{
	"Bridge":       {"name", "controller", "datapath_type", "fail_mode", "other_config", "ports", "protocols"},
	"Port":         {"name", "other_config", "tag", "trunks", "vlan_mode"},
	"Interface":    {"name", "error", "external_ids", "mtu_request", "ofport", "ofport_request", "options", "statistics", "type"},
	"Open_vSwitch": {"other_config"},
}

// names prints a list of names (list-br, list-ports): one a line, or a
// JSON array with --format=json.
func (x *executor) names(ns []string) {
	// --oneline is a program reading ovs-vsctl's own output (os-vif's vsctl
	// driver passes it with --format=json, which ovs-vsctl applies to
	// tables only): names stay lines for it.
	if x.g.format != "json" || x.g.oneline {
		x.lines(ns)
		return
	}
	if ns == nil {
		ns = []string{}
	}
	b, _ := json.Marshal(ns)
	fmt.Fprintln(x.out, string(b))
}

// json prints a reply as JSON with the proto field names, for --format=json.
func (x *executor) json(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode reply as JSON: %w", err)
	}
	fmt.Fprintln(x.out, string(b))
	return nil
}

// resolvePort finds a port of bridge br by name, OpenFlow number or LOCAL.
func (x *executor) resolvePort(ctx context.Context, br, port string) (*pb.Port, error) {
	r, err := x.c.DumpPorts(ctx, &pb.DumpPortsRequest{Bridge: br})
	if err != nil {
		return nil, err
	}
	for _, p := range r.GetPorts() {
		if p.GetName() == port || strconv.Itoa(int(p.GetOfport())) == port ||
			(port == "LOCAL" && p.GetOfport() == ofportLocal) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no port %s on bridge %s", port, br)
}

// dumpPortsDesc prints ports as `ovs-ofctl dump-ports-desc` does, with the
// config flags mod-port set and LINK_DOWN for a port that is not working.
func (x *executor) dumpPortsDesc(ctx context.Context, br, port string) error {
	r, err := x.c.DumpPorts(ctx, &pb.DumpPortsRequest{Bridge: br, Port: port})
	if err != nil {
		return err
	}
	fmt.Fprintln(x.out, "OFPST_PORT_DESC reply (xid=0x2):")
	for _, p := range r.GetPorts() {
		g, err := x.c.Get(ctx, &pb.GetRequest{Table: "Port", Record: p.GetName(), Column: "other_config"})
		if err != nil {
			return err
		}
		oc, _ := parseMap(g.GetValue())
		var config []string
		if oc["port-down"] == "true" {
			config = append(config, "PORT_DOWN")
		}
		if oc["no-flood"] == "true" {
			config = append(config, "NO_FLOOD")
		}
		state := "0"
		if p.GetError() != "" || p.GetOfport() < 0 {
			state = "LINK_DOWN"
		}
		num := strconv.Itoa(int(p.GetOfport()))
		if p.GetOfport() == ofportLocal {
			num = "LOCAL"
		}
		cfg := "0"
		if len(config) > 0 {
			cfg = strings.Join(config, " ")
		}
		fmt.Fprintf(x.out, " %s(%s):\n     config:     %s\n     state:      %s\n", num, p.GetName(), cfg, state)
	}
	return nil
}

// inPortName finds an in_port given by name in a flow.
var inPortName = regexp.MustCompile(`(^|,)in_port=([^,0-9][^,]*)`)

// numberInPort rewrites the trace's "Flow:" in_port=NAME as the OpenFlow
// number, as ovs-appctl prints it without --names (go-openvswitch's
// ProtoTrace reads a number). LOCAL stays LOCAL.
func (x *executor) numberInPort(ctx context.Context, br string, t *pb.TraceResponse) {
	m := inPortName.FindStringSubmatch(t.GetFlow())
	if m == nil || m[2] == "LOCAL" {
		return
	}
	p, err := x.resolvePort(ctx, br, m[2])
	if err != nil {
		return // leave the name: the trace is still worth printing
	}
	num := strconv.Itoa(int(p.GetOfport()))
	if p.GetOfport() == ofportLocal {
		num = "LOCAL"
	}
	t.Flow = inPortName.ReplaceAllString(t.GetFlow(), "${1}in_port="+num)
}

// record is one row of list/find: its values by column, as Get prints them.
type record struct{ values []string }

// recordNames lists the records of a table.
func (x *executor) recordNames(ctx context.Context, table string) ([]string, error) {
	switch table {
	case "Open_vSwitch":
		return []string{"."}, nil
	case "Bridge":
		r, err := x.c.ListBridges(ctx, &pb.ListBridgesRequest{})
		if err != nil {
			return nil, err
		}
		return r.GetNames(), nil
	}
	r, err := x.c.Show(ctx, &pb.ShowRequest{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range r.GetBridges() {
		for _, p := range b.GetPorts() {
			out = append(out, p.GetName())
		}
	}
	slices.Sort(out)
	return out, nil
}

// listRecords runs `list TABLE [RECORD]...` and `find TABLE [COND]...`.
func (x *executor) listRecords(ctx context.Context, c *command) error {
	cols := tableColumns[c.table]
	if len(x.g.columns) > 0 {
		for _, col := range x.g.columns {
			if !slices.Contains(cols, col) {
				return fmt.Errorf("%s: table %s has no column %q (valid: %s)", c.name, c.table, col, strings.Join(cols, ", "))
			}
		}
		cols = x.g.columns
	}
	names := c.args[1:]
	if c.name == "find" || len(names) == 0 {
		var err error
		if names, err = x.recordNames(ctx, c.table); err != nil {
			return err
		}
	}
	var rows []record
	for _, n := range names {
		if c.name == "find" {
			ok, err := x.matches(ctx, c.table, n, c.sets)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		var row record
		for _, col := range cols {
			r, err := x.c.Get(ctx, &pb.GetRequest{Table: c.table, Record: n, Column: col})
			if err != nil {
				if c.ifExists && isCode(err, codes.NotFound) && c.name == "list" {
					row.values = nil
					break
				}
				return err
			}
			row.values = append(row.values, r.GetValue())
		}
		if row.values != nil {
			rows = append(rows, row)
		}
	}
	return x.printRecords(cols, rows)
}

// matches reports whether record n satisfies every COLUMN[:KEY]=VALUE of
// a find; sets compare as sets, maps as maps.
func (x *executor) matches(ctx context.Context, table, n string, conds []setting) (bool, error) {
	for _, s := range conds {
		col := s.column
		if s.key != "" {
			col += ":" + s.key
		}
		r, err := x.c.Get(ctx, &pb.GetRequest{Table: table, Record: n, Column: col})
		if isCode(err, codes.NotFound) && s.key != "" {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		v := r.GetValue()
		switch {
		case s.isMap:
			m, err := parseMap(v)
			if err != nil || !maps.Equal(m, s.mapValue) {
				return false, nil
			}
		case s.key != "":
			if unquote(v) != s.value {
				return false, nil
			}
		default:
			if !slices.Equal(members(v), members(s.value)) {
				return false, nil
			}
		}
	}
	return true, nil
}

// members reads a value as a sorted set: "[a, b]", "a,b", "a" or "".
func members(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, unquote(f))
	}
	if len(out) == 1 && out[0] == "" {
		out = nil
	}
	slices.Sort(out)
	return out
}

// printRecords prints list/find rows as ovs-vsctl does: "column : value"
// blocks (list, the default), a table with headings, values only (--bare)
// or OVSDB's JSON table ({"headings": [...], "data": [[...]]}).
func (x *executor) printRecords(cols []string, rows []record) error {
	switch {
	case x.g.format == "json":
		data := make([][]any, 0, len(rows))
		for _, r := range rows {
			row := make([]any, len(r.values))
			for i, v := range r.values {
				row[i] = ovsdbJSON(v)
			}
			data = append(data, row)
		}
		b, err := json.Marshal(map[string]any{"headings": cols, "data": data})
		if err != nil {
			return err
		}
		fmt.Fprintln(x.out, string(b))
	case x.g.format == "table":
		tw := tabwriter.NewWriter(x.out, 0, 0, 1, ' ', 0)
		if !x.g.noHead && !x.g.bare {
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
			dashes := make([]string, len(cols))
			for i, c := range cols {
				dashes[i] = strings.Repeat("-", len(c))
			}
			fmt.Fprintln(tw, strings.Join(dashes, "\t"))
		}
		for _, r := range rows {
			vals := r.values
			if x.g.bare {
				vals = bareValues(vals)
			}
			fmt.Fprintln(tw, strings.Join(vals, "\t"))
		}
		return tw.Flush()
	default:
		for i, r := range rows {
			if i > 0 {
				fmt.Fprintln(x.out)
			}
			for j, v := range r.values {
				if x.g.bare {
					fmt.Fprintln(x.out, bareValues([]string{v})[0])
					continue
				}
				fmt.Fprintf(x.out, "%-20s: %s\n", cols[j], v)
			}
		}
	}
	return nil
}

// bareValues strips OVSDB punctuation as --bare does: "a" -> a, [a, b] -> a b.
func bareValues(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") {
			v = strings.NewReplacer("[", "", "]", "", "{", "", "}", "", ",", "").Replace(v)
		}
		out[i] = unquote(v)
	}
	return out
}

// ovsdbJSON encodes a value as OVSDB's JSON does: numbers and strings as
// themselves, sets as ["set", [...]], maps as ["map", [[k, v], ...]].
func ovsdbJSON(v string) any {
	v = strings.TrimSpace(v)
	switch {
	case strings.HasPrefix(v, "{"):
		m, err := parseMap(v)
		if err != nil {
			return v
		}
		pairs := [][]any{}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			pairs = append(pairs, []any{atomJSON(k), atomJSON(m[k])})
		}
		return []any{"map", pairs}
	case strings.HasPrefix(v, "["):
		var list []string
		if err := json.Unmarshal([]byte(ovsdbToJSON(v)), &list); err != nil {
			return v
		}
		set := []any{}
		for _, a := range list {
			set = append(set, atomJSON(a))
		}
		return []any{"set", set}
	}
	return atomJSON(unquote(v))
}

func atomJSON(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
}
