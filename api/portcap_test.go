package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "vswitch/proto/vswitch/v1"
)

// captureErr opens a capture and returns the status of its first Recv,
// giving up after wait (DeadlineExceeded then means it was accepted).
func captureErr(c pb.VswitchClient, req *pb.CaptureRequest, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := c.Capture(ctx, req)
	if err != nil {
		return err
	}
	_, err = st.Recv()
	return err
}

// Bad capture requests get the right code and a message naming the
// field or port; a port is captured by one stream at a time, and free
// again once that stream ends.
func TestCaptureRequests(t *testing.T) {
	sw, _ := newRealSwitch(t)
	sock, _ := serve(t, sw)
	c := connect(t, sock)
	ctx := context.Background()
	sfx := fmt.Sprintf("%04x", rand.IntN(1<<16))
	br, patch := "cap"+sfx, "capp"+sfx
	if _, err := c.AddBridge(ctx, &pb.AddBridgeRequest{Name: br}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.DelBridge(br, true) })
	if _, err := c.AddPort(ctx, &pb.AddPortRequest{Bridge: br, Port: &pb.PortSpec{Name: patch, Type: "patch", Options: map[string]string{"peer": "nowhere"}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req  *pb.CaptureRequest
		code codes.Code
		msg  string
	}{
		{&pb.CaptureRequest{}, codes.InvalidArgument, "port"},
		{&pb.CaptureRequest{Port: br, Direction: 99}, codes.InvalidArgument, "direction"},
		{&pb.CaptureRequest{Port: "nope" + sfx}, codes.NotFound, "nope" + sfx},
		{&pb.CaptureRequest{Port: patch}, codes.FailedPrecondition, patch},
	} {
		err := captureErr(c, tc.req, 5*time.Second)
		if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.msg) {
			t.Fatalf("%v: %v, want %v naming %q", tc.req, err, tc.code, tc.msg)
		}
	}

	// The bridge's internal port, held by a first stream, is busy.
	hold, cancel := context.WithCancel(ctx)
	st, err := c.Capture(hold, &pb.CaptureRequest{Port: br})
	if err != nil {
		t.Fatal(err)
	}
	// Headers arrive once the server holds the port.
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { _, err := st.Recv(); first <- err }()
	var last error
	busy := func() bool {
		last = captureErr(c, &pb.CaptureRequest{Port: br, Count: 1}, 300*time.Millisecond)
		return status.Code(last) == codes.FailedPrecondition && strings.Contains(last.Error(), "already being captured")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !busy() {
		if time.Now().After(deadline) {
			select {
			case err := <-first:
				t.Fatalf("a second capture of a captured port was not refused: %v (first stream: %v)", last, err)
			default:
			}
			t.Fatalf("a second capture of a captured port was not refused: %v (first stream open)", last)
		}
	}
	cancel()
	for busy() {
		if time.Now().After(deadline) {
			t.Fatalf("the port stayed captured after its stream ended: %v", last)
		}
	}
}
