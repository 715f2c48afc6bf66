package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "vswitch/proto/vswitch/v1"
)

// usageError is a mistake on the command line: reported without contacting
// the daemon. A syntax error (unknown command or option, wrong number of
// arguments) exits 2; a bad value in a well-formed line exits 1, like any
// other refused operation.
type usageError struct {
	msg    string
	syntax bool
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

func syntaxf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), syntax: true}
}

// globalOpts are the options that apply to the whole invocation.
type globalOpts struct {
	server  string
	timeout time.Duration // 0: wait forever, as ovs-vsctl --timeout=0
	format  string        // ovs-vsctl --format: "" (text), "json", ...
	names   int           // ovs-ofctl --names (1) / --no-names (0); -1: names iff stdout is a terminal
	noStats bool          // ovs-ofctl --no-stats
	columns []string      // ovs-vsctl --columns for list/find
	bare    bool          // ovs-vsctl --bare: values only, no headings
	noHead  bool          // ovs-vsctl --no-headings
	oneline bool          // ovs-vsctl --oneline: each command's output on one line
	help    bool
	version bool
}

// cmdOpts are the options that belong to one command.
type cmdOpts struct {
	mayExist, ifExists, strict, bundle bool
	transient                          bool   // add-flow(s): keep the rules out of the store
	id                                 string // ovs-vsctl --id=@NAME (create; ovsdb.go)
}

// command is one ovs-vsctl/ovs-ofctl/ovs-appctl command of the line.
type command struct {
	name string
	args []string
	cmdOpts

	// add-port: the port with every column given by its tail and by the
	// `set Interface|Port PORT` commands that follow it, sent as one
	// AddPort so a bad column refuses the whole port.
	spec      *pb.PortSpec
	portSets  []setting // Port-table columns merged into spec
	ifaceSets []setting // Interface-table columns merged into spec
	extra     []setting // Port columns of the tail that PortSpec cannot hold
	absorbed  int       // set commands merged into this add-port (--oneline prints a line each)

	// set / get
	table  string
	record string
	sets   []setting
	cols   []string
}

// setting is one parsed COLUMN[:KEY]=VALUE.
type setting struct {
	column, key string
	value       string            // normalized: unquoted, sets as "a,b"
	mapValue    map[string]string // COLUMN={k=v,...}: the whole map
	isMap       bool
}

func (s setting) String() string {
	if s.key != "" {
		return s.column + ":" + s.key + "=" + s.value
	}
	return s.column + "=" + s.value
}

// cmdSpec says how many arguments a command takes; max -1 is unbounded.
type cmdSpec struct {
	min, max int
	usage    string
}

var commands = map[string]cmdSpec{
	"init":            {0, 0, "init"},
	"add-br":          {1, 3, "add-br BRIDGE"},
	"del-br":          {1, 1, "del-br BRIDGE"},
	"list-br":         {0, 0, "list-br"},
	"br-exists":       {1, 1, "br-exists BRIDGE"},
	"add-port":        {2, -1, "add-port BRIDGE PORT [COLUMN[:KEY]=VALUE]..."},
	"del-port":        {1, 2, "del-port [BRIDGE] PORT"},
	"list-ports":      {1, 1, "list-ports BRIDGE"},
	"list-ifaces":     {1, 1, "list-ifaces BRIDGE"},
	"port-to-br":      {1, 1, "port-to-br PORT"},
	"iface-to-br":     {1, 1, "iface-to-br IFACE"},
	"get-fail-mode":   {1, 1, "get-fail-mode BRIDGE"},
	"set-fail-mode":   {2, 2, "set-fail-mode BRIDGE standalone|secure"},
	"del-fail-mode":   {1, 1, "del-fail-mode BRIDGE"},
	"set-controller":  {2, -1, "set-controller BRIDGE TARGET..."},
	"get-controller":  {1, 1, "get-controller BRIDGE"},
	"del-controller":  {1, 1, "del-controller BRIDGE"},
	"set":             {3, -1, "set TABLE RECORD COLUMN[:KEY]=VALUE..."},
	"get":             {3, -1, "get TABLE RECORD COLUMN[:KEY]..."},
	"list":            {1, -1, "list TABLE [RECORD]..."},
	"find":            {1, -1, "find TABLE [COLUMN[:KEY]=VALUE]..."},
	"show":            {0, 1, "show"},
	"clear":           {3, -1, "clear TABLE RECORD COLUMN..."},
	"add":             {4, -1, "add TABLE RECORD COLUMN [KEY=]VALUE..."},
	"remove":          {4, -1, "remove TABLE RECORD COLUMN KEY|VALUE|KEY=VALUE..."},
	"destroy":         {1, -1, "destroy TABLE [RECORD]..."},
	"create":          {1, -1, "create TABLE COLUMN[:KEY]=VALUE..."},
	"fdb/show":        {1, 1, "fdb/show BRIDGE"},
	"fdb/flush":       {0, 1, "fdb/flush [BRIDGE]"},
	"add-flow":        {2, 2, "add-flow BRIDGE FLOW"},
	"add-flows":       {2, 2, "add-flows BRIDGE FILE|-"},
	"mod-flows":       {2, 2, "mod-flows BRIDGE FLOW [--strict]"},
	"replace-flows":   {2, 2, "replace-flows BRIDGE FILE|-"},
	"del-flows":       {1, 2, "del-flows BRIDGE [MATCH] [--strict]"},
	"dump-flows":      {1, 2, "dump-flows BRIDGE [MATCH]"},
	"dump-ports":      {1, 2, "dump-ports BRIDGE [PORT]"},
	"dump-ports-desc": {1, 2, "dump-ports-desc BRIDGE [PORT]"},
	"mod-port":        {3, 3, "mod-port BRIDGE PORT up|down|flood|no-flood"},
	"dump-tables":     {1, 1, "dump-tables BRIDGE"},
	"dump-aggregate":  {1, 2, "dump-aggregate BRIDGE [MATCH]"},

	// ovs-appctl commands.
	"trace":                    {2, 2, "trace BRIDGE FLOW"},
	"ofproto/trace":            {2, 2, "ofproto/trace BRIDGE FLOW"},
	"pmd-rxq-show":             {0, 0, "pmd-rxq-show"},
	"dpif-netdev/pmd-rxq-show": {0, 0, "dpif-netdev/pmd-rxq-show"},

	"pmd-rxq-rebalance":             {0, 0, "pmd-rxq-rebalance"},
	"dpif-netdev/pmd-rxq-rebalance": {0, 0, "dpif-netdev/pmd-rxq-rebalance"},

	// ovs-appctl datapath commands; dpctl/dump-flows takes a bridge here,
	// since each bridge's megaflows are dumped on their own.
	"dpif/dump-flows":             {1, 1, "dpif/dump-flows BRIDGE"},
	"dpctl/dump-flows":            {1, 1, "dpctl/dump-flows BRIDGE"},
	"pmd-stats-show":              {0, 0, "pmd-stats-show"},
	"dpif-netdev/pmd-stats-show":  {0, 0, "dpif-netdev/pmd-stats-show"},
	"pmd-stats-clear":             {0, 0, "pmd-stats-clear"},
	"dpif-netdev/pmd-stats-clear": {0, 0, "dpif-netdev/pmd-stats-clear"},

	// ovs-appctl tunnel commands.
	"tnl/route/show": {0, 0, "tnl/route/show"},
	"tnl/arp/show":   {0, 0, "tnl/arp/show"},
	"tnl/ports/show": {0, 0, "tnl/ports/show"},

	// SR-IOV.
	"sriov/show": {0, 0, "sriov/show"},
}

func commandNames() string {
	return strings.Join(slices.Sorted(maps.Keys(commands)), ", ")
}

// parseArgs parses a whole command line (without argv[0]) the way ovs-vsctl
// does: global options, then commands separated by "--", each with its own
// options. Options may also follow a command's arguments, as ovs-ofctl
// allows (`dump-flows br0 --no-stats`).
func parseArgs(args []string) (globalOpts, []*command, error) {
	g := globalOpts{timeout: 10 * time.Second, names: -1}
	var segments [][]string
	cur := []string{}
	for _, a := range args {
		if a == "--" {
			segments = append(segments, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, a)
	}
	segments = append(segments, cur)

	var cmds []*command
	var leading cmdOpts // command options given before the first "--" with no command
	for i, seg := range segments {
		c := &command{}
		for j := 0; j < len(seg); j++ {
			a := seg[j]
			if len(a) > 1 && a[0] == '-' {
				n, err := parseOption(&g, &c.cmdOpts, seg[j:])
				if err != nil {
					return g, nil, err
				}
				j += n - 1
				continue
			}
			if c.name == "" {
				c.name = a
			} else {
				c.args = append(c.args, a)
			}
		}
		if c.name == "" {
			if c.cmdOpts != (cmdOpts{}) {
				if i > 0 || len(segments) == 1 {
					return g, nil, syntaxf("missing command name after options (use: %s)", commandNames())
				}
				leading = c.cmdOpts
			}
			if i > 0 && i < len(segments)-1 {
				return g, nil, syntaxf("missing command name between \"--\" separators")
			}
			continue
		}
		cmds = append(cmds, c)
	}
	if g.help || g.version {
		return g, cmds, nil
	}
	if len(cmds) == 0 {
		return g, nil, syntaxf("missing command name (use: %s)", commandNames())
	}
	for _, c := range cmds {
		c.mayExist = c.mayExist || leading.mayExist
		c.ifExists = c.ifExists || leading.ifExists
		c.strict = c.strict || leading.strict
		c.bundle = c.bundle || leading.bundle
		c.transient = c.transient || leading.transient
		if err := checkCommand(c); err != nil {
			return g, nil, err
		}
	}
	cmds, err := mergeAddPort(cmds)
	return g, cmds, err
}

// parseOption parses the option at args[0] (taking its value from args[1]
// when it is not attached with "=") and returns how many words it used.
func parseOption(g *globalOpts, c *cmdOpts, args []string) (int, error) {
	name, val, hasVal := strings.Cut(args[0], "=")
	used := 1
	value := func() (string, error) {
		if hasVal {
			return val, nil
		}
		if len(args) < 2 || args[1] == "--" {
			return "", syntaxf("option %s needs a value", name)
		}
		used = 2
		return args[1], nil
	}
	// Short options with the value attached: -t10, -OOpenFlow13.
	if len(name) > 2 && name[1] != '-' && strings.ContainsRune("tOf", rune(name[1])) {
		name, val, hasVal = name[:2], name[2:], true
	}
	noValue := func() error {
		if hasVal {
			return syntaxf("option %s takes no value", name)
		}
		return nil
	}
	switch name {
	case "--may-exist":
		c.mayExist = true
		return used, noValue()
	case "--if-exists":
		c.ifExists = true
		return used, noValue()
	case "--strict":
		c.strict = true
		return used, noValue()
	case "--bundle":
		c.bundle = true
		return used, noValue()
	case "--transient":
		c.transient = true
		return used, noValue()
	case "--server", "--db":
		v, err := value()
		if err != nil {
			return used, err
		}
		path, err := serverPath(v)
		if err != nil {
			return used, err
		}
		g.server = path
	case "--timeout", "-t":
		v, err := value()
		if err != nil {
			return used, err
		}
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs < 0 {
			return used, usagef("--timeout %q is not a number of seconds", v)
		}
		g.timeout = time.Duration(secs * float64(time.Second))
	case "--format", "-f":
		v, err := value()
		if err != nil {
			return used, err
		}
		if !slices.Contains(formats, v) {
			return used, usagef("--format %q is not one of %s", v, strings.Join(formats, ", "))
		}
		g.format = v
	case "--columns":
		v, err := value()
		if err != nil {
			return used, err
		}
		g.columns = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	case "--bare":
		g.bare = true
		return used, noValue()
	case "--oneline":
		g.oneline = true
		return used, noValue()
	case "--id":
		v, err := value()
		if err != nil {
			return used, err
		}
		if !strings.HasPrefix(v, "@") || len(v) < 2 {
			return used, usagef("--id=%s: the id must be @NAME", v)
		}
		c.id = v
	case "--no-headings", "-d":
		g.noHead = true
		return used, noValue()
	case "--names":
		g.names = 1
		return used, noValue()
	case "--no-names":
		g.names = 0
		return used, noValue()
	case "--no-stats":
		g.noStats = true
		return used, noValue()
	case "--protocols", "-O", "--flow-format", "-F", "--private-key", "--certificate", "--ca-cert":
		// Accepted for ovs-ofctl compatibility (go-openvswitch passes them);
		// the daemon speaks one protocol over a local socket, so the
		// OpenFlow version, flow format and OpenFlow TLS files do not matter.
		if _, err := value(); err != nil {
			return used, err
		}
	case "--no-wait", "--retry", "--stats", "--read-only", "--no-syslog":
		// ovs-vsctl/ovs-ofctl options with no meaning here.
		return used, noValue()
	case "--help", "-h":
		g.help = true
	case "--version", "-V":
		g.version = true
	default:
		return used, syntaxf("unrecognized option %q", args[0])
	}
	return used, nil
}

// serverPath accepts PATH, unix:PATH and unix://PATH.
func serverPath(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, "unix://"):
		v = strings.TrimPrefix(v, "unix://")
	case strings.HasPrefix(v, "unix:"):
		v = strings.TrimPrefix(v, "unix:")
	case strings.Contains(v, ":") && !strings.Contains(v, "/"):
		return "", usagef("server %q: only Unix sockets (PATH or unix:PATH) are supported", v)
	}
	if v == "" {
		return "", usagef("empty server socket path")
	}
	return v, nil
}

// checkCommand checks a command's arguments and parses its column=value
// arguments, so a typo is reported before anything changes.
func checkCommand(c *command) error {
	spec, ok := commands[c.name]
	if !ok {
		return syntaxf("unknown command %q; valid commands: %s", c.name, commandNames())
	}
	if len(c.args) < spec.min || (spec.max >= 0 && len(c.args) > spec.max) {
		return syntaxf("%s: wrong number of arguments (usage: %s)", c.name, spec.usage)
	}
	switch c.name {
	case "add-br":
		if len(c.args) > 1 {
			return usagef("add-br %s: fake bridges (PARENT VLAN) are not supported", c.args[0])
		}
	case "add-port":
		c.spec = &pb.PortSpec{Name: c.args[1]}
		for _, a := range c.args[2:] {
			s, err := parseSetting("Port", a)
			if err != nil {
				return usagef("add-port %s %s: %v", c.args[0], c.args[1], err)
			}
			if !applyToSpec(c.spec, "Port", s) {
				c.extra = append(c.extra, s)
			} else {
				c.portSets = append(c.portSets, s)
			}
		}
	case "set":
		t, err := canonicalTable(c.args[0])
		if err != nil {
			return usagef("set: %v", err)
		}
		c.table, c.record = t, c.args[1]
		for _, a := range c.args[2:] {
			s, err := parseSetting(t, a)
			if err != nil {
				return usagef("set %s %s: %v", t, c.record, err)
			}
			c.sets = append(c.sets, s)
		}
	case "get":
		t, err := canonicalTable(c.args[0])
		if err != nil {
			return usagef("get: %v", err)
		}
		c.table, c.record, c.cols = t, c.args[1], c.args[2:]
		for _, col := range c.cols {
			if strings.Contains(col, "=") {
				return usagef("get %s %s: %q: get takes COLUMN[:KEY], not COLUMN=VALUE", t, c.record, col)
			}
		}
	case "set-fail-mode":
		if m := c.args[1]; m != "standalone" && m != "secure" {
			return usagef("set-fail-mode %s: fail mode %q is not standalone or secure", c.args[0], m)
		}
	case "mod-port":
		if _, ok := portActions[c.args[2]]; !ok {
			return usagef("mod-port %s %s: %q is not one of up, down, flood, no-flood (vswitch does not implement the others)", c.args[0], c.args[1], c.args[2])
		}
	case "list", "find":
		t, err := canonicalTable(c.args[0])
		if err != nil {
			return usagef("%s: %v", c.name, err)
		}
		c.table = t
		if c.name == "list" {
			break
		}
		for _, a := range c.args[1:] {
			s, err := parseSetting(t, a)
			if err != nil {
				return usagef("find %s: %v", t, err)
			}
			c.sets = append(c.sets, s)
		}
	case "show":
		if len(c.args) == 1 {
			return usagef("show: showing one bridge is not supported; use show")
		}
	case "clear", "add", "remove", "destroy", "create":
		return checkRecordCommand(c) // ovsdb.go
	}
	return nil
}

var tableNames = []string{"Bridge", "Port", "Interface", "Open_vSwitch"}

// formats are the values of --format: json for programs; table, list and
// text (the default) for people.
var formats = []string{"json", "table", "list", "text"}

// portActions are the mod-port actions vswitch acts on.
var portActions = map[string]pb.PortAction{
	"up":       pb.PortAction_PORT_ACTION_UP,
	"down":     pb.PortAction_PORT_ACTION_DOWN,
	"flood":    pb.PortAction_PORT_ACTION_FLOOD,
	"no-flood": pb.PortAction_PORT_ACTION_NO_FLOOD,
}

// canonicalTable resolves a table name case-insensitively, allowing a unique
// prefix, as ovs-vsctl does ("interface", "int", "open").
func canonicalTable(name string) (string, error) {
	var match []string
	for _, t := range tableNames {
		if strings.EqualFold(t, name) {
			return t, nil
		}
		if len(name) > 0 && len(name) < len(t) && strings.EqualFold(t[:len(name)], name) {
			match = append(match, t)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	if len(match) > 1 {
		return "", fmt.Errorf("table %q is ambiguous (%s)", name, strings.Join(match, ", "))
	}
	return "", fmt.Errorf("unknown table %q (valid: %s)", name, strings.Join(tableNames, ", "))
}

// Map-valued columns, which take COLUMN:KEY=VALUE or COLUMN={K=V,...}.
var mapColumns = map[string]bool{"options": true, "external_ids": true, "other_config": true, "statistics": true, "status": true}

var vlanModes = []string{"access", "trunk", "native-tagged", "native-untagged"}

// parseSetting parses one COLUMN[:KEY]=VALUE argument of table, checking the
// columns whose syntax is known here.
func parseSetting(table, arg string) (setting, error) {
	left, raw, ok := strings.Cut(arg, "=")
	if !ok {
		return setting{}, fmt.Errorf("%q: argument does not end in \"=\" followed by a value (use COLUMN=VALUE or COLUMN:KEY=VALUE)", arg)
	}
	col, key, hasKey := strings.Cut(left, ":")
	s := setting{column: col, key: key}
	switch {
	case col == "":
		return s, fmt.Errorf("%q: missing column name before \"=\"", arg)
	case hasKey && key == "":
		return s, fmt.Errorf("%q: missing key after %q", arg, col+":")
	case hasKey:
		s.value = unquote(raw)
		return s, nil
	case mapColumns[col]:
		m, err := parseMap(raw)
		if err != nil {
			return s, fmt.Errorf("%q: %s is a map: use %s:KEY=VALUE or %s={KEY=VALUE,...}", arg, col, col, col)
		}
		s.isMap, s.mapValue = true, m
		return s, nil
	}
	v := strings.TrimSpace(unquote(raw))
	empty := v == "" || v == "[]"
	switch {
	case table == "Bridge" && (col == "controller" || col == "protocols"):
		// A set: [a, b], a,b or "a"; sent as "a,b".
		var members []string
		for _, f := range strings.FieldsFunc(strings.Trim(v, "[]"), func(r rune) bool { return r == ',' || r == ' ' }) {
			members = append(members, unquote(f))
		}
		v = strings.Join(members, ",")
	case table == "Port" && col == "tag":
		if !empty {
			n, err := strconv.Atoi(v)
			if err != nil {
				return s, fmt.Errorf("tag %q is not a number", v)
			}
			if n < 0 || n > 4095 {
				return s, fmt.Errorf("tag %d is out of range 0..4095", n)
			}
		}
	case table == "Port" && col == "trunks":
		var vlans []string
		for _, f := range strings.FieldsFunc(strings.Trim(v, "[]"), func(r rune) bool { return r == ',' || r == ' ' }) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return s, fmt.Errorf("trunks: %q is not a VLAN number", f)
			}
			if n < 0 || n > 4095 {
				return s, fmt.Errorf("trunks: VLAN %d is out of range 0..4095", n)
			}
			vlans = append(vlans, strconv.Itoa(n))
		}
		v = strings.Join(vlans, ",")
	case table == "Port" && col == "vlan_mode":
		if !empty && !slices.Contains(vlanModes, v) {
			return s, fmt.Errorf("vlan_mode %q is not one of %s", v, strings.Join(vlanModes, ", "))
		}
	case table == "Interface" && (col == "mtu_request" || col == "ofport_request"):
		if !empty {
			n, err := strconv.Atoi(v)
			if err != nil {
				return s, fmt.Errorf("%s %q is not a number", col, v)
			}
			hi := 65535
			if col == "ofport_request" {
				hi = 0xff00 - 1
			}
			if n < 1 || n > hi {
				return s, fmt.Errorf("%s %d is out of range 1..%d", col, n, hi)
			}
		}
	}
	if empty {
		v = ""
	}
	s.value = v
	return s, nil
}

// unquote strips the double quotes of an OVSDB string ("1.2.3.4").
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s[1 : len(s)-1]
	}
	return s
}

// parseMap parses an OVSDB map as ovs-vsctl prints and accepts it:
// {k=v, k2="v 2"}. An empty string or {} is the empty map.
func parseMap(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return map[string]string{}, nil
	}
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, errors.New("not a {KEY=VALUE,...} map")
	}
	m := map[string]string{}
	rest := strings.TrimSpace(s[1 : len(s)-1])
	for rest != "" {
		k, r, err := scanAtom(rest)
		if err != nil {
			return nil, err
		}
		r = strings.TrimSpace(r)
		if !strings.HasPrefix(r, "=") {
			return nil, fmt.Errorf("missing \"=\" after key %q", k)
		}
		v, r, err := scanAtom(strings.TrimSpace(r[1:]))
		if err != nil {
			return nil, err
		}
		if k == "" {
			return nil, errors.New("empty key")
		}
		m[k] = v
		r = strings.TrimSpace(r)
		if r != "" && r[0] != ',' {
			return nil, fmt.Errorf("unexpected %q", r)
		}
		rest = strings.TrimSpace(strings.TrimPrefix(r, ","))
	}
	return m, nil
}

// scanAtom reads one bare or quoted string off the front of s.
func scanAtom(s string) (atom, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				u, err := strconv.Unquote(s[:i+1])
				if err != nil {
					return "", "", fmt.Errorf("bad quoted string %s", s[:i+1])
				}
				return u, s[i+1:], nil
			}
		}
		return "", "", errors.New("unterminated quoted string")
	}
	end := strings.IndexAny(s, "=,")
	if end < 0 {
		end = len(s)
	}
	return strings.TrimSpace(s[:end]), s[end:], nil
}

// applyToSpec puts a Port or Interface setting into spec and reports
// whether PortSpec has a place for it.
func applyToSpec(spec *pb.PortSpec, table string, s setting) bool {
	setMap := func(m *map[string]string) bool {
		if s.isMap {
			*m = maps.Clone(s.mapValue)
			return true
		}
		if s.key == "" {
			return false
		}
		if *m == nil {
			*m = map[string]string{}
		}
		if s.value == "" {
			delete(*m, s.key)
		} else {
			(*m)[s.key] = s.value
		}
		return true
	}
	if s.column == "external_ids" {
		return setMap(&spec.ExternalIds)
	}
	if s.key != "" && s.column != "options" {
		return false
	}
	switch table + "." + s.column {
	case "Port.tag":
		spec.Tag = nil
		if s.value != "" {
			n, _ := strconv.Atoi(s.value)
			t := int32(n)
			spec.Tag = &t
		}
	case "Port.trunks":
		spec.Trunks = nil
		for _, f := range strings.Split(s.value, ",") {
			if f != "" {
				n, _ := strconv.Atoi(f)
				spec.Trunks = append(spec.Trunks, int32(n))
			}
		}
	case "Port.vlan_mode":
		spec.VlanMode = s.value
	case "Interface.type":
		spec.Type = s.value
	case "Interface.options":
		return setMap(&spec.Options)
	case "Interface.mtu_request":
		n, _ := strconv.Atoi(s.value)
		spec.MtuRequest = int32(n)
	case "Interface.ofport_request":
		n, _ := strconv.Atoi(s.value)
		spec.OfportRequest = int32(n)
	default:
		return false
	}
	return true
}

// mergeAddPort folds the `set Interface PORT ...` and `set Port PORT ...`
// commands that directly follow an add-port of PORT into that add-port, so
// the port is created with all its columns in one request: a bad value
// refuses the whole port and nothing is left half-configured. A set with a
// column PortSpec cannot hold stays a separate command.
func mergeAddPort(cmds []*command) ([]*command, error) {
	var out []*command
	for i := 0; i < len(cmds); i++ {
		c := cmds[i]
		out = append(out, c)
		if c.name != "add-port" {
			continue
		}
		for i+1 < len(cmds) {
			n := cmds[i+1]
			if n.name != "set" || (n.table != "Interface" && n.table != "Port") || n.record != c.spec.Name || n.ifExists {
				break
			}
			trial := cloneSpec(c.spec)
			fits := true
			for _, s := range n.sets {
				fits = fits && applyToSpec(trial, n.table, s)
			}
			if !fits {
				break
			}
			c.spec = trial
			c.absorbed++
			if n.table == "Interface" {
				c.ifaceSets = append(c.ifaceSets, n.sets...)
			} else {
				c.portSets = append(c.portSets, n.sets...)
			}
			i++
		}
	}
	return out, nil
}

func cloneSpec(p *pb.PortSpec) *pb.PortSpec {
	c := &pb.PortSpec{
		Name: p.Name, Type: p.Type, Options: maps.Clone(p.Options), MtuRequest: p.MtuRequest,
		OfportRequest: p.OfportRequest, Trunks: slices.Clone(p.Trunks), VlanMode: p.VlanMode,
		ExternalIds: maps.Clone(p.ExternalIds),
	}
	if p.Tag != nil {
		t := *p.Tag
		c.Tag = &t
	}
	return c
}
