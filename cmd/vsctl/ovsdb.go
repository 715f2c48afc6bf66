package main

// The generic OVSDB record commands of ovs-vsctl that programs such as
// os-vif's vsctl driver issue (clear, add, remove, destroy, create) and
// --oneline output. vswitch has no free-standing OVSDB rows: every Bridge,
// Port and Interface exists because add-br/add-port made it, so these
// commands map onto the Set, DelBridge and DelPort RPCs.

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"

	pb "vswitch/proto/vswitch/v1"
)

// setColumns are the set-valued columns `add` and `remove` can change.
var setColumns = map[string]bool{"trunks": true, "controller": true, "protocols": true}

// checkRecordCommand checks clear/add/remove/destroy/create before anything
// is sent, so a typo changes nothing.
func checkRecordCommand(c *command) error {
	t, err := canonicalTable(c.args[0])
	if err != nil {
		return usagef("%s: %v", c.name, err)
	}
	c.table = t
	if c.id != "" && c.name != "create" {
		return usagef("%s: --id applies to create only", c.name)
	}
	switch c.name {
	case "create":
		return usagef("create %s: vswitch keeps no free-standing %s records; use add-br or add-port (with -- set %s ...)", t, t, t)
	case "destroy":
		if t == "Open_vSwitch" {
			return usagef("destroy: the Open_vSwitch record cannot be destroyed")
		}
		if len(c.args) < 2 {
			return syntaxf("destroy %s: name the records to destroy (--all is not supported)", t)
		}
		return nil
	}
	c.record = c.args[1]
	col := c.args[2]
	if strings.ContainsAny(col, ":=") {
		return usagef("%s %s %s: %q: give a column name", c.name, t, c.record, col)
	}
	if c.name == "clear" {
		for _, col := range c.args[2:] {
			if mapColumns[col] {
				c.sets = append(c.sets, setting{column: col, isMap: true, mapValue: map[string]string{}})
			} else {
				c.sets = append(c.sets, setting{column: col})
			}
		}
		return nil
	}
	if !mapColumns[col] && !setColumns[col] {
		return usagef("%s %s %s: %s is not a set or map column", c.name, t, c.record, col)
	}
	for _, v := range c.args[3:] {
		k, val, isPair := strings.Cut(v, "=")
		switch {
		case mapColumns[col] && c.name == "add" && !isPair:
			return usagef("add %s %s %s: %q: a map takes KEY=VALUE", t, c.record, col, v)
		case mapColumns[col]:
			c.sets = append(c.sets, setting{column: col, key: unquote(k), value: unquote(val), isMap: isPair})
		default:
			c.sets = append(c.sets, setting{column: col, value: unquote(v)})
		}
	}
	return nil
}

// recordCommand runs clear/add/remove/destroy.
func (x *executor) recordCommand(ctx context.Context, c *command) error {
	switch c.name {
	case "destroy":
		for _, rec := range c.args[1:] {
			var err error
			if c.table == "Bridge" {
				_, err = x.c.DelBridge(ctx, &pb.DelBridgeRequest{Name: rec, IfExists: c.ifExists})
			} else {
				_, err = x.c.DelPort(ctx, &pb.DelPortRequest{Port: rec, IfExists: c.ifExists})
			}
			if err != nil {
				return err
			}
		}
		return nil
	case "clear":
		err := x.set(ctx, c.table, c.record, c.sets)
		if err != nil && c.ifExists && isCode(err, codes.NotFound) {
			return nil
		}
		return err
	}
	col := c.args[2]
	r, err := x.c.Get(ctx, &pb.GetRequest{Table: c.table, Record: c.record, Column: col})
	if err != nil {
		if c.ifExists && isCode(err, codes.NotFound) {
			return nil
		}
		return err
	}
	var out []*pb.Setting
	if mapColumns[col] {
		cur, err := parseMap(r.GetValue())
		if err != nil {
			return fmt.Errorf("%s %s: cannot parse current %s %q: %v", c.table, c.record, col, r.GetValue(), err)
		}
		for _, s := range c.sets {
			old, has := cur[s.key]
			switch {
			case c.name == "add" && !has: // add never replaces a key, as in OVSDB
				out = append(out, &pb.Setting{Column: col, Key: s.key, Value: s.value})
				cur[s.key] = s.value
			case c.name == "remove" && has && (!s.isMap || old == s.value):
				out = append(out, &pb.Setting{Column: col, Key: s.key, Value: ""})
				delete(cur, s.key)
			}
		}
	} else {
		cur := members(r.GetValue())
		for _, s := range c.sets {
			i := slices.Index(cur, s.value)
			if c.name == "add" && i < 0 {
				cur = append(cur, s.value)
			}
			if c.name == "remove" && i >= 0 {
				cur = slices.Delete(cur, i, i+1)
			}
		}
		out = append(out, &pb.Setting{Column: col, Value: strings.Join(cur, ",")})
	}
	if len(out) == 0 {
		return nil
	}
	_, err = x.c.Set(ctx, &pb.SetRequest{Table: c.table, Record: c.record, Settings: out})
	return err
}

// runOne runs one command; with --oneline its output becomes exactly one
// line ("\n" inside it written as the two characters \n, as ovs-vsctl
// does), so a caller can match output lines to the commands it chained.
func (x *executor) runOne(ctx context.Context, c *command) error {
	if !x.g.oneline {
		return x.run(ctx, c)
	}
	var buf bytes.Buffer
	saved := x.out
	x.out = &buf
	err := x.run(ctx, c)
	x.out = saved
	if err != nil {
		return err
	}
	s := strings.TrimSuffix(buf.String(), "\n")
	s = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
	fmt.Fprintln(x.out, s)
	// set commands folded into an add-port still get their (empty) line.
	fmt.Fprint(x.out, strings.Repeat("\n", c.absorbed))
	return nil
}

func init() {
	docs["clear"] = cmdDoc{"Empty columns of a record (maps to {}, others unset)", "vsctl clear Interface vm1 external_ids"}
	docs["add"] = cmdDoc{"Add keys to a map column (existing keys kept) or members to a set column", "vsctl add Interface vm1 external_ids iface-status=active"}
	docs["remove"] = cmdDoc{"Remove keys (KEY or KEY=VALUE) from a map column or members from a set column", "vsctl remove Port vm1 trunks 20"}
	docs["destroy"] = cmdDoc{"Delete Bridge or Port/Interface records (--if-exists: no error if absent)", "vsctl --if-exists destroy Interface vm1"}
	docs["create"] = cmdDoc{"Refused with an explanation: records come from add-br/add-port", "vsctl add-port br0 vm1 -- set Interface vm1 type=dpdkvhostuser"}
}
