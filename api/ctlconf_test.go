package api

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"vswitch/bridge"
	pb "vswitch/proto/vswitch/v1"
)

// ModPort and SetController become Set calls on the columns the command
// lines use; bad requests are refused with the field named and change nothing.
func TestModPortAndController(t *testing.T) {
	f := newFake()
	sock, _ := serve(t, f)
	c := connect(t, sock)
	ctx := context.Background()

	for _, tc := range []struct {
		req       *pb.ModPortRequest
		key, val  string
		wantSetOn string
	}{
		{&pb.ModPortRequest{Bridge: "br0", Port: "p1", Action: pb.PortAction_PORT_ACTION_DOWN}, bridge.PortDownKey, "true", "p1"},
		{&pb.ModPortRequest{Bridge: "br0", Port: "12", Action: pb.PortAction_PORT_ACTION_UP}, bridge.PortDownKey, "", "p12"},
		{&pb.ModPortRequest{Bridge: "br0", Port: "LOCAL", Action: pb.PortAction_PORT_ACTION_NO_FLOOD}, bridge.NoFloodKey, "true", "br0"},
		{&pb.ModPortRequest{Bridge: "br0", Port: "p1", Action: pb.PortAction_PORT_ACTION_FLOOD}, bridge.NoFloodKey, "", "p1"},
	} {
		before := len(f.callLog())
		if _, err := c.ModPort(ctx, tc.req); err != nil {
			t.Fatalf("%v: %v", tc.req, err)
		}
		calls := f.callLog()[before:]
		f.mu.Lock()
		last := f.sets[len(f.sets)-1]
		f.mu.Unlock()
		if !slices.Contains(calls, "Set Port "+tc.wantSetOn) || len(last) != 1 || last[0] != (bridge.Setting{Column: "other_config", Key: tc.key, Value: tc.val}) {
			t.Errorf("%v: calls %q, settings %+v", tc.req, calls, last)
		}
	}

	if _, err := c.SetController(ctx, &pb.SetControllerRequest{Bridge: "br0", Targets: []string{"tcp:192.0.2.1:6653", "unix:/run/c.sock"}}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	last := f.sets[len(f.sets)-1]
	f.mu.Unlock()
	if len(last) != 1 || last[0] != (bridge.Setting{Column: "controller", Value: "tcp:192.0.2.1:6653,unix:/run/c.sock"}) {
		t.Errorf("SetController settings %+v", last)
	}

	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"no bridge", func() error {
			_, err := c.ModPort(ctx, &pb.ModPortRequest{Port: "p1", Action: pb.PortAction_PORT_ACTION_UP})
			return err
		},
			codes.InvalidArgument, "bridge is required"},
		{"no port", func() error {
			_, err := c.ModPort(ctx, &pb.ModPortRequest{Bridge: "br0", Action: pb.PortAction_PORT_ACTION_UP})
			return err
		},
			codes.InvalidArgument, "port is required"},
		{"no action", func() error { _, err := c.ModPort(ctx, &pb.ModPortRequest{Bridge: "br0", Port: "p1"}); return err },
			codes.InvalidArgument, "action 0 is not a port action (valid: PORT_ACTION_UP, PORT_ACTION_DOWN, PORT_ACTION_FLOOD, PORT_ACTION_NO_FLOOD)"},
		{"unknown action", func() error {
			_, err := c.ModPort(ctx, &pb.ModPortRequest{Bridge: "br0", Port: "p1", Action: 99})
			return err
		}, codes.InvalidArgument, "action 99 is not a port action (valid: PORT_ACTION_UP, PORT_ACTION_DOWN, PORT_ACTION_FLOOD, PORT_ACTION_NO_FLOOD)"},
		{"missing port", func() error {
			_, err := c.ModPort(ctx, &pb.ModPortRequest{Bridge: "br0", Port: "p9", Action: pb.PortAction_PORT_ACTION_UP})
			return err
		}, codes.NotFound, "no port p9 on bridge br0"},
		{"target with a comma", func() error {
			_, err := c.SetController(ctx, &pb.SetControllerRequest{Bridge: "br0", Targets: []string{"tcp:1.2.3.4,x"}})
			return err
		}, codes.InvalidArgument, `targets[0] "tcp:1.2.3.4,x": a target has no commas, brackets or quotes`},
		{"empty target", func() error {
			_, err := c.SetController(ctx, &pb.SetControllerRequest{Bridge: "br0", Targets: []string{""}})
			return err
		}, codes.InvalidArgument, "targets[0] is required"},
		{"get without bridge", func() error { _, err := c.GetController(ctx, &pb.GetControllerRequest{}); return err },
			codes.InvalidArgument, "bridge is required"},
	} {
		f.mu.Lock()
		n := len(f.sets)
		f.mu.Unlock()
		err := tc.call()
		if st, _ := status.FromError(err); st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("%s: got %v, want %v %q", tc.name, err, tc.code, tc.msg)
		}
		f.mu.Lock()
		if len(f.sets) != n {
			t.Errorf("%s: a refused request changed something: %+v", tc.name, f.sets[n:])
		}
		f.mu.Unlock()
	}
}
