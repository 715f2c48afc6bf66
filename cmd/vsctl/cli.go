package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	pb "vswitch/proto/vswitch/v1"
)

// cmdDoc is a command's one-line description and example for --help.
type cmdDoc struct{ short, example string }

// docs describes every command of the commands table; an alias shares the
// doc of the command it names (see aliasOf).
var docs = map[string]cmdDoc{
	"init":            {"Check that vswitchd answers (ovs-vsctl init)", "vsctl init"},
	"add-br":          {"Create a bridge (--may-exist: no error if it exists)", "vsctl --may-exist add-br br0"},
	"del-br":          {"Delete a bridge and its ports (--if-exists: no error if absent)", "vsctl --if-exists del-br br0"},
	"list-br":         {"List bridges, one a line (--format json: a JSON array)", "vsctl list-br"},
	"br-exists":       {"Exit 0 if the bridge exists, 2 if not", "vsctl br-exists br0 || vsctl add-br br0"},
	"add-port":        {"Add a port, with its Port and Interface columns in one step", "vsctl add-port br0 vm1 -- set Interface vm1 type=dpdkvhostuser -- set Port vm1 tag=10"},
	"del-port":        {"Delete a port (--if-exists: no error if absent)", "vsctl --if-exists del-port br0 vm1"},
	"list-ports":      {"List a bridge's ports, one a line", "vsctl list-ports br0"},
	"list-ifaces":     {"List a bridge's interfaces, one a line", "vsctl list-ifaces br0"},
	"port-to-br":      {"Print the bridge a port belongs to", "vsctl port-to-br vm1"},
	"iface-to-br":     {"Print the bridge an interface belongs to", "vsctl iface-to-br vm1"},
	"get-fail-mode":   {"Print a bridge's fail mode (nothing when unset: standalone)", "vsctl get-fail-mode br0"},
	"set-fail-mode":   {"Set a bridge's fail mode: standalone or secure", "vsctl set-fail-mode br0 secure"},
	"del-fail-mode":   {"Clear a bridge's fail mode (back to standalone)", "vsctl del-fail-mode br0"},
	"set-controller":  {"Record a bridge's controller targets (controllers connect over gRPC)", "vsctl set-controller br0 tcp:192.0.2.1:6653"},
	"get-controller":  {"Print a bridge's controller targets, one a line", "vsctl get-controller br0"},
	"del-controller":  {"Clear a bridge's controller targets", "vsctl del-controller br0"},
	"set":             {"Set columns of a Bridge, Port, Interface or Open_vSwitch record", "vsctl set bridge br0 fail_mode=secure protocols=OpenFlow13"},
	"get":             {"Print columns of a record (--format json for programs)", "vsctl --format=json get bridge br0 protocols"},
	"list":            {"Print records of a table (--columns, --format json|table|list, --bare)", "vsctl --columns=name,ofport list interface"},
	"find":            {"Print the records whose columns have the given values", "vsctl --columns=name find interface type=internal"},
	"show":            {"Print bridges, ports and interfaces with their state", "vsctl show"},
	"fdb/show":        {"Print a bridge's MAC learning table", "vsctl fdb/show br0"},
	"fdb/flush":       {"Forget learned MACs of one bridge or all", "vsctl fdb/flush br0"},
	"add-flow":        {"Add an OpenFlow rule (FLOW - reads rules from stdin; --bundle: add/delete lines)", "vsctl add-flow br0 priority=100,ip,nw_dst=10.0.0.1,actions=output:2"},
	"add-flows":       {"Add the rules of a file or stdin (-) in one transaction", "vsctl add-flows br0 flows.txt"},
	"mod-flows":       {"Change the actions of matching rules (--strict: exact match and priority)", "vsctl mod-flows br0 ip,nw_dst=10.0.0.1,actions=drop"},
	"replace-flows":   {"Make a file's rules the bridge's whole rule set", "vsctl replace-flows br0 flows.txt"},
	"del-flows":       {"Delete matching rules, or all (--strict: exact match and priority)", "vsctl del-flows br0 tcp,tp_dst=22"},
	"dump-flows":      {"Print a bridge's OpenFlow rules with counters", "vsctl dump-flows br0 table=0"},
	"dump-ports":      {"Print port counters (OpenFlow port stats layout)", "vsctl dump-ports br0 1"},
	"dump-ports-desc": {"Print ports with their OpenFlow config and state", "vsctl dump-ports-desc br0"},
	"mod-port":        {"Set a port up/down or in/out of flooding (stored in Port other_config)", "vsctl mod-port br0 vm1 no-flood"},
	"dump-tables":     {"Print per-table rule and lookup counters", "vsctl dump-tables br0"},
	"dump-aggregate":  {"Print the packet, byte and rule totals of matching rules", "vsctl dump-aggregate br0 ip"},
	"trace":           {"Show how the bridge's tables handle a packet (ofproto/trace)", "vsctl trace br0 in_port=1,tcp,nw_dst=10.0.0.2,tp_dst=80"},
	"pmd-rxq-show":    {"Print which PMD polls each rx queue and its measured usage", "vsctl pmd-rxq-show"},
	"dpif/dump-flows": {"Print a bridge's installed megaflows", "vsctl dpif/dump-flows br0"},
	"pmd-stats-show":  {"Print per-PMD packet, cache and upcall counters", "vsctl pmd-stats-show"},
	"pmd-stats-clear": {"Zero the PMD counters", "vsctl pmd-stats-clear"},
	"tnl/route/show":  {"Print the underlay routes tunnels use (read from the kernel)", "vsctl tnl/route/show"},
	"tnl/arp/show":    {"Print the tunnel next hops' MAC addresses", "vsctl tnl/arp/show"},
	"tnl/ports/show":  {"Print the tunnel ports and the UDP ports they listen on", "vsctl tnl/ports/show"},
	"sriov/show":      {"Print SR-IOV physical functions, their VFs' settings and the ports using them", "vsctl sriov/show"},

	"pmd-rxq-rebalance": {"Reassign rx queues to PMDs now by measured load (other_config:pmd-rxq-assign)", "vsctl pmd-rxq-rebalance"},
}

// aliasOf maps ovs-appctl spellings to the command documented above.
var aliasOf = map[string]string{
	"ofproto/trace":               "trace",
	"dpif-netdev/pmd-rxq-show":    "pmd-rxq-show",
	"dpctl/dump-flows":            "dpif/dump-flows",
	"dpif-netdev/pmd-stats-show":  "pmd-stats-show",
	"dpif-netdev/pmd-stats-clear": "pmd-stats-clear",

	"dpif-netdev/pmd-rxq-rebalance": "pmd-rxq-rebalance",
}

// cobraWords are the first words that go to cobra rather than to the
// ovs-vsctl parser: help, shell completion and cobra's completion helpers.
var cobraWords = []string{"help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd}

// cobraArgs decides whether a command line is for cobra: a first command
// word of cobraWords, or -h/--help anywhere before the first "--". It
// returns the arguments to hand cobra (global options dropped).
func cobraArgs(args []string) ([]string, bool) {
	var words []string
	help := false
	for _, a := range args {
		if a == "--" {
			break
		}
		switch {
		case a == "-h" || a == "--help":
			help = true
		case strings.HasPrefix(a, "-"):
		default:
			words = append(words, a)
		}
	}
	for i, a := range args {
		if a == "--" {
			break
		}
		if slices.Contains(cobraWords, a) && (len(words) > 0 && words[0] == a) {
			return args[i:], true
		}
	}
	if !help {
		return nil, false
	}
	if len(words) > 0 {
		if _, ok := commands[words[0]]; ok {
			return []string{"help", words[0]}, true
		}
	}
	return []string{"--help"}, true
}

// newRootCmd builds the cobra tree used for --help, `help CMD` and
// `completion bash|zsh|fish|powershell`; commands themselves run through the
// ovs-vsctl parser (parseArgs) so "--" chains and options anywhere work.
func newRootCmd(prog string, getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   prog + " [OPTIONS] COMMAND [ARG...] [-- [OPTIONS] COMMAND [ARG...]]...",
		Short: "Configure a running vswitchd with ovs-vsctl, ovs-ofctl and ovs-appctl command lines",
		Long: "Configure a running vswitchd with ovs-vsctl, ovs-ofctl and ovs-appctl command lines.\n\n" +
			"Options (before a command, or after it as ovs-ofctl allows):\n" +
			"  --server=ADDR            unix:PATH, PATH, tcp:HOST:PORT or ssl:HOST:PORT (env VSWITCH_SERVER;\n" +
			"                           default " + defaultServer + ")\n" +
			"  --tls-cert, --tls-key, --tls-ca=FILE  client certificate, key and server CA for tcp:/ssl:\n" +
			"  --timeout=SECS           give up after SECS (default 10; 0 waits forever)\n" +
			"  --may-exist, --if-exists no error if the thing exists / is absent\n" +
			"  --strict, --bundle       exact-match mod/del-flows; add/delete lines in add-flow FILE\n" +
			"  --format=json|table|list output for programs or people (list-br, list-ports, get, list, find,\n" +
			"                           show, dump-flows, dump-ports, dump-tables, fdb/show, pmd-stats-show)\n" +
			"  --columns=COL,...        columns of list/find; --bare, --no-headings\n" +
			"  --names, --no-names, --no-stats   dump-flows/dump-ports output as ovs-ofctl\n" +
			"  -O/--protocols, -F/--flow-format  accepted for ovs-ofctl compatibility\n\n" +
			"Exit status: 0 ok, 1 the operation failed, 2 the command line is wrong.",
		Example: "  " + prog + " add-br br0\n" +
			"  " + prog + " add-port br0 vm1 -- set Interface vm1 type=dpdkvhostuser\n" +
			"  " + prog + " add-flow br0 priority=10,ip,nw_dst=10.0.0.1,actions=drop\n" +
			"  " + prog + " completion bash > /etc/bash_completion.d/vsctl",
		SilenceErrors:         true,
		SilenceUsage:          true,
		DisableFlagParsing:    true,
		DisableFlagsInUseLine: true,
		RunE:                  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	for _, name := range slices.Sorted(maps.Keys(commands)) {
		spec := commands[name]
		doc, ok := docs[name]
		if !ok {
			doc = docs[aliasOf[name]]
		}
		if doc.short == "" {
			doc.short = spec.usage
		}
		if target, ok := aliasOf[name]; ok {
			doc.short = "Same as " + target + ": " + doc.short
		}
		example := doc.example
		if example == "" {
			example = "vsctl " + spec.usage
		}
		root.AddCommand(&cobra.Command{
			Use:                   spec.usage,
			Short:                 doc.short,
			Example:               "  " + strings.Replace(example, "vsctl", prog, 1),
			DisableFlagParsing:    true,
			DisableFlagsInUseLine: true,
			ValidArgsFunction:     completeArgs(spec.usage, getenv),
			RunE:                  func(c *cobra.Command, _ []string) error { return c.Help() },
		})
	}
	root.AddCommand(newCaptureCmd(prog, getenv)) // a stream, outside commands: portcap.go
	return root
}

// completeArgs completes BRIDGE and PORT arguments with the names the
// daemon reports; without a daemon it offers nothing.
func completeArgs(usage string, getenv func(string) string) cobra.CompletionFunc {
	words := strings.Fields(usage)[1:]
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= len(words) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		want := strings.Trim(words[len(args)], "[]")
		if want != "BRIDGE" && want != "PORT" {
			return nil, cobra.ShellCompDirectiveDefault
		}
		server := defaultServer
		if env := getenv("VSWITCH_SERVER"); env != "" {
			if p, err := serverPath(env); err == nil {
				server = p
			}
		}
		cl, err := dial(server)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c := pb.NewVswitchClient(cl.conn)
		var names []string
		if want == "PORT" && len(args) > 0 {
			if r, err := c.ListPorts(ctx, &pb.ListPortsRequest{Bridge: args[0]}); err == nil {
				names = r.GetNames()
			}
		} else if r, err := c.ListBridges(ctx, &pb.ListBridgesRequest{}); err == nil {
			names = r.GetNames()
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// runCobra runs help or completion and returns the exit status.
func runCobra(prog string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	root := newRootCmd(prog, getenv)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", prog, oneLine(err.Error()))
		return 2
	}
	return 0
}
