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
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"vswitch/pcapfile"
	pb "vswitch/proto/vswitch/v1"
)

const captureUsage = "usage: capture PORT [-w FILE.pcap] [-c COUNT] [--direction rx|tx|both] [-s SNAPLEN] [--rate FRAMES/S]"

// runCapture streams a port's frames into a pcap file (or stdout, for
// `vsctl capture p | tshark -r -`) until COUNT frames or Ctrl-C.
func runCapture(prog string, args []string, stdout, stderr io.Writer, getenv func(string) string, df dialFlags) int {
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
	var n, dropped uint64
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
		if *file != "" && n%64 == 0 {
			bw.Flush()
		}
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintf(stderr, "%s: capture: %s\n", prog, oneLine(err.Error()))
		return 1
	}
	fmt.Fprintf(stderr, "%d frames captured, %d dropped\n", n, dropped)
	return 0
}
