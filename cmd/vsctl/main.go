// Command vsctl configures a running vswitchd over its gRPC socket with the
// command lines of ovs-vsctl, ovs-ofctl and ovs-appctl:
//
//	vsctl add-br br0
//	vsctl add-port br0 vm1 -- set Interface vm1 type=dpdkvhostuser -- set Port vm1 tag=10
//	vsctl show
//	vsctl add-flow br0 priority=10,ip,nw_dst=10.0.0.1,actions=drop
//	vsctl dump-flows br0
//	vsctl add-flows br0 flows.txt
//	vsctl trace br0 in_port=1,tcp,tp_dst=80
//	vsctl fdb/show br0
//	vsctl dpif/dump-flows br0
//	vsctl pmd-stats-show
//
// so that scripts and programs written for Open vSwitch (such as
// github.com/digitalocean/go-openvswitch's ovs.Client with ovs.Exec pointed
// at vsctl) drive this switch too.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "vswitch/proto/vswitch/v1"
)

const defaultServer = "/run/vswitch/vswitchd.sock"

// exitError carries an exit status other than 1 (br-exists uses 2).
// Exit statuses: 0 ok, 1 the operation failed (refused by the daemon or a
// bad value), 2 the command line is wrong (unknown command or option,
// wrong number of arguments).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	prog := filepath.Base(os.Args[0])
	stdout := bufio.NewWriter(os.Stdout)
	code := run(prog, os.Args[1:], os.Stdin, stdout, os.Stderr, os.Getenv, isTerminal(os.Stdout))
	stdout.Flush()
	os.Exit(code)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// run executes one vsctl invocation and returns its exit status. Errors are
// printed as one line, "PROG: message", as ovs-vsctl does.
func run(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, tty bool) int {
	df, args, err := takeDialFlags(args, getenv) // --server, --tls-*: dial.go
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", prog, oneLine(err.Error()))
		return usageExit(err)
	}
	if i := captureAt(args); i >= 0 { // streams: its own loop (portcap.go)
		return runCapture(prog, args[i+1:], stdout, stderr, getenv, df)
	}
	if cargs, ok := cobraArgs(args); ok {
		return runCobra(prog, cargs, stdout, stderr, getenv)
	}
	g, cmds, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", prog, oneLine(err.Error()))
		var ue *usageError
		if errors.As(err, &ue) && ue.syntax {
			return 2
		}
		return 1
	}
	if g.help {
		usage(stdout, prog)
		return 0
	}
	if g.version {
		fmt.Fprintf(stdout, "%s (vswitch)\n", prog)
		return 0
	}
	if df.server != "" {
		g.server = df.server
	}
	if g.server == "" {
		g.server = defaultServer
		if env := getenv("VSWITCH_SERVER"); env != "" {
			if g.server, err = serverPath(env); err != nil {
				fmt.Fprintf(stderr, "%s: VSWITCH_SERVER: %s\n", prog, err)
				return 1
			}
		}
	}
	if g.names < 0 {
		g.names = 0
		if tty {
			g.names = 1
		}
	}

	ctx := context.Background()
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	cl, err := dialServer(g.server, df)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", prog, oneLine(err.Error()))
		return 1
	}
	defer cl.Close()

	x := &executor{g: g, c: pb.NewVswitchClient(cl.conn), out: stdout, in: stdin}
	for _, c := range cmds {
		if err := x.runOne(ctx, c); err != nil { // ovsdb.go: --oneline
			var ee *exitError
			if errors.As(err, &ee) {
				return ee.code
			}
			fmt.Fprintf(stderr, "%s: %s\n", prog, cl.explain(err, g))
			return 1
		}
	}
	return 0
}

// client is a gRPC connection to vswitchd that remembers why dialing
// failed, so an unreachable daemon is reported as such rather than as a
// gRPC transport error.
type client struct {
	conn *grpc.ClientConn
	path string

	mu      sync.Mutex
	dialErr error
}

func dial(path string) (*client, error) {
	cl := &client{path: path}
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		cl.mu.Lock()
		cl.dialErr = err
		cl.mu.Unlock()
		return c, err
	}
	conn, err := grpc.NewClient("passthrough:///vswitchd",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dialer))
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", path, err)
	}
	cl.conn = conn
	return cl, nil
}

func (cl *client) Close() error { return cl.conn.Close() }

// explain turns an RPC error into the one line vsctl prints: the server's
// message without gRPC's "rpc error: code = ..." prefix.
func (cl *client) explain(err error, g globalOpts) string {
	st, ok := status.FromError(err)
	if !ok {
		return oneLine(err.Error())
	}
	cl.mu.Lock()
	dialErr := cl.dialErr
	cl.mu.Unlock()
	hint := dialHint(dialErr)
	switch st.Code() {
	case codes.Unavailable:
		if dialErr != nil {
			return fmt.Sprintf("cannot connect to %s: %s %s", cl.path, oneLine(unwrapOp(dialErr).Error()), hint)
		}
		return fmt.Sprintf("lost connection to vswitchd at %s: %s", cl.path, oneLine(st.Message()))
	case codes.DeadlineExceeded:
		if dialErr != nil {
			return fmt.Sprintf("cannot connect to %s: %s %s", cl.path, oneLine(unwrapOp(dialErr).Error()), hint)
		}
		return fmt.Sprintf("timed out after %s waiting for vswitchd at %s (use --timeout to wait longer)", g.timeout, cl.path)
	}
	return oneLine(st.Message())
}

// unwrapOp keeps "connect: no such file or directory" of a dial error and
// drops "dial unix /path:", which the caller's message already names.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}

func usage(w io.Writer, prog string) {
	fmt.Fprintf(w, `%s: configure a running vswitchd (ovs-vsctl, ovs-ofctl and ovs-appctl command lines)
usage: %s [OPTIONS] COMMAND [ARG...] [-- [OPTIONS] COMMAND [ARG...]]...

Bridges:    add-br BR, del-br BR, list-br, br-exists BR (exit 2 if not),
            get-fail-mode BR, set-fail-mode BR standalone|secure, del-fail-mode BR,
            set-controller BR TARGET..., get-controller BR, del-controller BR
Ports:      add-port BR PORT [COL[:KEY]=VAL]... [-- set Interface PORT type=T options:K=V ...]
            del-port [BR] PORT, list-ports BR, list-ifaces BR, port-to-br PORT, iface-to-br IFACE
Records:    set TABLE REC COL[:KEY]=VAL..., get TABLE REC COL[:KEY]...,
            list TABLE [REC]..., find TABLE [COL[:KEY]=VAL]...,
            clear TABLE REC COL..., add|remove TABLE REC COL VAL..., destroy TABLE REC...
            (tables: Bridge, Port, Interface, Open_vSwitch)
Status:     show, fdb/show BR, fdb/flush [BR]
OpenFlow:   add-flow BR FLOW, add-flows BR FILE|-, mod-flows BR FLOW [--strict],
            replace-flows BR FILE|-, del-flows BR [MATCH] [--strict], dump-flows BR [MATCH],
            dump-ports BR [PORT], dump-tables BR, dump-aggregate BR [MATCH],
            dump-ports-desc BR [PORT], mod-port BR PORT up|down|flood|no-flood
            (FILE: one flow a line, # comments; all lines in one transaction)
Tracing:    trace BR FLOW (also as ofproto/trace BR FLOW)
Datapath:   dpif/dump-flows BR (megaflows), pmd-stats-show, pmd-stats-clear, pmd-rxq-show,
            pmd-rxq-rebalance (also as dpif-netdev/pmd-stats-show,
            dpif-netdev/pmd-stats-clear, dpif-netdev/pmd-rxq-show, dpif-netdev/pmd-rxq-rebalance)

Options:    --server=PATH|unix:PATH|tcp:HOST:PORT (also --db=...; env VSWITCH_SERVER; default %s)
            --tls-cert=FILE --tls-key=FILE --tls-ca=FILE (TLS to a tcp: server)
            --timeout=SECS (default 10; 0 waits forever), --may-exist, --if-exists,
            --strict, --bundle, --names, --no-names, --no-stats, --format=json,
            --oneline (one output line per command), --id=@NAME
`, prog, prog, defaultServer)
}
