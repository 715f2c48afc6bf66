package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"vswitch/pcapfile"
	pb "vswitch/proto/vswitch/v1"
)

const captureUsage = "usage: capture PORT [-w FILE.pcap] [-c COUNT] [--direction rx|tx|both] [-s SNAPLEN] [--rate FRAMES/S]"

// newCaptureCmd is capture's entry in the cobra tree, for --help, `help
// capture` and completion of PORT (the command itself runs in runCapture).
func newCaptureCmd(prog string, getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:   captureUsage[len("usage: "):],
		Short: "Write a port's received and sent frames as pcap (vhost-user and AF_XDP ports too)",
		Long: "Write a port's received and sent frames as a pcap file (stdout by default) that tcpdump,\n" +
			"tshark and Wireshark read, until COUNT frames or Ctrl-C; then print\n" +
			"\"N frames captured, M dropped\" to stderr. The datapath copies at most --rate frames a\n" +
			"second (default 200000) and drops rather than waits when the reader falls behind, so a\n" +
			"capture cannot stall forwarding; dropped frames are counted.\n\n" +
			"  -w FILE            write to FILE instead of stdout\n" +
			"  -c COUNT           stop after COUNT frames (default: until Ctrl-C)\n" +
			"  --direction DIR    rx (received on the port), tx (sent out of it) or both (default)\n" +
			"  -s SNAPLEN         bytes kept of each frame (default: the whole frame)\n" +
			"  --rate FRAMES/S    frames taken per second at most (default 200000)",
		Example: "  " + prog + " capture vm1 -w vm1.pcap -c 1000\n" +
			"  " + prog + " capture vm1 --direction rx | tshark -r -",
		DisableFlagParsing:    true,
		DisableFlagsInUseLine: true,
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveDefault // -w FILE
			}
			return allPorts(getenv), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
}

// allPorts lists every bridge's ports, for completion; nothing without a
// daemon.
func allPorts(getenv func(string) string) []string {
	server := defaultServer
	if env := getenv("VSWITCH_SERVER"); env != "" {
		if p, err := serverPath(env); err == nil {
			server = p
		}
	}
	cl, err := dial(server)
	if err != nil {
		return nil
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := pb.NewVswitchClient(cl.conn)
	brs, err := c.ListBridges(ctx, &pb.ListBridgesRequest{})
	if err != nil {
		return nil
	}
	var names []string
	for _, br := range brs.GetNames() {
		if r, err := c.ListPorts(ctx, &pb.ListPortsRequest{Bridge: br}); err == nil {
			names = append(names, r.GetNames()...)
		}
	}
	return names
}

// captureAt finds a capture command after global options ("--timeout=5
// capture p"); the options do not apply to a stream and are ignored. -1
// when the command is not capture.
func captureAt(args []string) int {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "capture":
			return i
		case a == "-t" || a == "--timeout": // takes the next word
			i++
		case strings.HasPrefix(a, "-") && a != "--":
		default:
			return -1
		}
	}
	return -1
}

// runCapture streams a port's frames into a pcap file (or stdout, for
// `vsctl capture p | tshark -r -`) until COUNT frames or Ctrl-C.
func runCapture(prog string, args []string, stdout, stderr io.Writer, getenv func(string) string, df dialFlags) int {
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" }) {
		return runCobra(prog, []string{"help", "capture"}, stdout, stderr, getenv)
	}
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("w", "", "write to FILE (default: stdout)")
	count := fs.Uint64("c", 0, "stop after COUNT frames")
	dir := fs.String("direction", "both", "rx, tx or both")
	snap := fs.Uint("s", 0, "bytes kept per frame")
	rate := fs.Uint("rate", 0, "frames per second at most")
	var port string
	for {
		if err := fs.Parse(args); err != nil {
			fmt.Fprintf(stderr, "%s: capture: %s (%s)\n", prog, oneLine(err.Error()), captureUsage)
			return 2
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if port != "" {
			fmt.Fprintf(stderr, "%s: capture: more than one port given (%s)\n", prog, captureUsage)
			return 2
		}
		port, args = args[0], args[1:]
	}
	if port == "" {
		fmt.Fprintf(stderr, "%s: capture: no port given (%s)\n", prog, captureUsage)
		return 2
	}
	if *snap > 262144 { // tshark refuses files whose snap length is larger
		fmt.Fprintf(stderr, "%s: capture: -s %d: at most 262144 bytes\n", prog, *snap)
		return 2
	}
	d, ok := map[string]pb.CaptureDirection{"both": pb.CaptureDirection_CAPTURE_DIRECTION_BOTH,
		"rx": pb.CaptureDirection_CAPTURE_DIRECTION_RX, "tx": pb.CaptureDirection_CAPTURE_DIRECTION_TX}[*dir]
	if !ok {
		fmt.Fprintf(stderr, "%s: capture: --direction %q (valid: rx, tx, both)\n", prog, *dir)
		return 2
	}
	server := df.server
	if server == "" {
		server = defaultServer
		if env := getenv("VSWITCH_SERVER"); env != "" {
			var err error
			if server, err = serverPath(env); err != nil {
				fmt.Fprintf(stderr, "%s: VSWITCH_SERVER: %s\n", prog, err)
				return 1
			}
		}
	}
	var out io.Writer = stdout
	if *file != "" {
		f, err := os.Create(*file)
		if err != nil {
			fmt.Fprintf(stderr, "%s: capture: %s\n", prog, oneLine(err.Error()))
			return 1
		}
		defer f.Close()
		out = f
	}
	bw := bufio.NewWriter(out)
	defer bw.Flush()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := dialServer(server, df)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", prog, oneLine(err.Error()))
		return 1
	}
	defer cl.Close()
	st, err := pb.NewVswitchClient(cl.conn).Capture(ctx, &pb.CaptureRequest{Port: port, Direction: d, Count: *count,
		Snaplen: uint32(*snap), MaxRate: uint32(*rate)})
	if err != nil {
		fmt.Fprintf(stderr, "%s: capture: %s\n", prog, oneLine(status.Convert(err).Message()))
		return 1
	}
	snaplen := int(*snap)
	if snaplen == 0 {
		snaplen = 262144
	}
	pw, err := pcapfile.NewWriter(bw, snaplen)
	if err != nil {
		fmt.Fprintf(stderr, "%s: capture: %s\n", prog, oneLine(err.Error()))
		return 1
	}
	if *file != "" {
		fmt.Fprintf(stderr, "capturing on %s\n", port)
	}
	// Flush every 64 frames or when a frame comes 200 ms after the last
	// flush, so a live reader (tshark -i -, tail) sees frames promptly.
	var n, dropped uint64
	lastFlush := time.Now()
	for {
		f, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled || ctx.Err() != nil {
				break
			}
			fmt.Fprintf(stderr, "%s: capture: %s\n", prog, oneLine(status.Convert(err).Message()))
			return 1
		}
		if err := pw.WritePacket(f.GetUnixNanos(), f.GetData(), int(f.GetOrigLen())); err != nil {
			fmt.Fprintf(stderr, "%s: capture: %s\n", prog, oneLine(err.Error()))
			return 1
		}
		n, dropped = n+1, f.GetDropped()
		if n%64 == 0 || time.Since(lastFlush) > 200*time.Millisecond {
			if err := bw.Flush(); err != nil {
				fmt.Fprintf(stderr, "%s: capture: %s\n", prog, oneLine(err.Error()))
				return 1
			}
			if f, ok := stdout.(interface{ Flush() error }); ok && *file == "" {
				f.Flush() // main's buffered stdout
			}
			lastFlush = time.Now()
		}
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintf(stderr, "%s: capture: %s\n", prog, oneLine(err.Error()))
		return 1
	}
	fmt.Fprintf(stderr, "%d frames captured, %d dropped\n", n, dropped)
	return 0
}
