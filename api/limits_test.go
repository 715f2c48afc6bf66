package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "vswitch/proto/vswitch/v1"
)

// serveWith is serve with server options.
func serveWith(t *testing.T, sw switchAPI, opts ...Option) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "run", "vswitchd.sock")
	ln, err := Listen(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(sw, opts...)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return sock
}

func TestRequestSizeLimit(t *testing.T) {
	f := newFake()
	c := connect(t, serveWith(t, f))
	ctx := context.Background()
	f.AddBridge("br0", false)

	// A request under the default limit reaches the switch...
	big := strings.Repeat("x", 1<<20)
	if _, err := c.AddFlows(ctx, &pb.AddFlowsRequest{Bridge: "br0", Flows: []string{"priority=1,actions=drop,note:" + big}}); status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("1 MiB request refused: %v", err)
	}
	calls := len(f.callLog())
	// ...a 10 MB one is refused before any handler runs.
	_, err := c.AddFlows(ctx, &pb.AddFlowsRequest{Bridge: "br0", Flows: []string{strings.Repeat("y", 10<<20)}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("10 MB request: %v, want ResourceExhausted", err)
	}
	if n := len(f.callLog()); n != calls {
		t.Errorf("the refused request reached the switch: %v", f.callLog()[calls:])
	}

	// The limit is the configured one.
	c2 := connect(t, serveWith(t, f, WithMaxRequestBytes(64<<10)))
	_, err = c2.AddFlow(ctx, &pb.AddFlowRequest{Bridge: "br0", Flow: "actions=drop," + strings.Repeat("z", 100<<10)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("100 KiB request with a 64 KiB limit: %v, want ResourceExhausted", err)
	}
	if !strings.Contains(status.Convert(err).Message(), "larger than max") {
		t.Errorf("message %q does not say the request is too large", status.Convert(err).Message())
	}
}

// slowSwitch blocks AddBridge until release is closed, as a handler stuck
// on a store lock would.
type slowSwitch struct {
	*fakeSwitch
	release chan struct{}
	entered chan string
}

func (s *slowSwitch) AddBridge(name string, mayExist bool) error {
	s.entered <- name
	<-s.release
	return s.fakeSwitch.AddBridge(name, mayExist)
}

func TestCallTimeout(t *testing.T) {
	sw := &slowSwitch{fakeSwitch: newFake(), release: make(chan struct{}), entered: make(chan string, 4)}
	defer close(sw.release)
	c := connect(t, serveWith(t, sw, WithCallTimeout(300*time.Millisecond)))
	ctx := context.Background()

	// No client deadline: the server's bound answers.
	start := time.Now()
	_, err := c.AddBridge(ctx, &pb.AddBridgeRequest{Name: "br0"})
	took := time.Since(start)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("stuck call without a client deadline: %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(status.Convert(err).Message(), "--call-timeout") {
		t.Errorf("message %q does not name --call-timeout", status.Convert(err).Message())
	}
	if took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("answered after %s, want about 300ms", took)
	}
	<-sw.entered

	// A fast call is not affected, and its result passes through.
	if _, err := c.ListBridges(ctx, &pb.ListBridgesRequest{}); err != nil {
		t.Fatalf("fast call: %v", err)
	}
	if _, err := c.DelBridge(ctx, &pb.DelBridgeRequest{Name: "nobr"}); status.Code(err) != codes.NotFound {
		t.Fatalf("fast failing call: %v, want NotFound", err)
	}

	// A panic in a handler still becomes Internal under the bound.
	sw.mu.Lock()
	sw.panicOn = "ListPorts"
	sw.mu.Unlock()
	if _, err := c.ListPorts(ctx, &pb.ListPortsRequest{Bridge: "br0"}); status.Code(err) != codes.Internal {
		t.Fatalf("panicking handler: %v, want Internal", err)
	}
}

// The interceptor itself honours a client deadline shorter than its own
// bound, and tells it apart from its own.
func TestBoundCallsShorterClientDeadline(t *testing.T) {
	bound := boundCalls(10 * time.Second)
	info := &grpc.UnaryServerInfo{FullMethod: "/vswitch.v1.Vswitch/AddBridge"}
	block := make(chan struct{})
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	saw := make(chan time.Time, 1)
	_, err := bound(ctx, nil, info, func(ctx context.Context, _ any) (any, error) {
		dl, _ := ctx.Deadline()
		saw <- dl
		<-block
		return nil, nil
	})
	took := time.Since(start)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(status.Convert(err).Message(), "client's deadline") {
		t.Errorf("message %q does not blame the client's deadline", status.Convert(err).Message())
	}
	if took > 2*time.Second {
		t.Errorf("answered after %s, want about 150ms (the client's deadline)", took)
	}
	got := <-saw
	if want, _ := ctx.Deadline(); !got.Equal(want) {
		t.Errorf("handler saw deadline %v, want the client's %v", got, want)
	}

	// Without a client deadline the handler's context carries the bound.
	bound = boundCalls(time.Minute)
	_, err = bound(context.Background(), nil, info, func(ctx context.Context, _ any) (any, error) {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > time.Minute || time.Until(dl) < 50*time.Second {
			return nil, fmt.Errorf("deadline %v (set %v), want about a minute from now", dl, ok)
		}
		return nil, nil
	})
	if err != nil {
		t.Error(err)
	}
}

// Streams carry no deadline: a Watch outlives the unary bound many times
// over and still delivers events.
func TestStreamsNotBounded(t *testing.T) {
	sw, _ := newRealSwitch(t)
	c := connect(t, serveWith(t, sw, WithCallTimeout(100*time.Millisecond)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ws, err := c.Watch(ctx, &pb.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := ws.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if ev.GetKind() == pb.WatchEventKind_WATCH_EVENT_KIND_SYNCED {
			break
		}
	}
	time.Sleep(800 * time.Millisecond) // 8 times the unary bound
	br := fmt.Sprintf("bs%04x", rand.IntN(1<<16))
	if _, err := c.AddBridge(context.Background(), &pb.AddBridgeRequest{Name: br}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.DelBridge(br, true) })
	for {
		ev, err := ws.Recv()
		if err != nil {
			t.Fatalf("watch after %s: %v", 800*time.Millisecond, err)
		}
		if ev.GetKind() == pb.WatchEventKind_WATCH_EVENT_KIND_BRIDGE_ADDED && ev.GetBridge() == br {
			return
		}
	}
}
