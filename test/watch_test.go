package e2e

import (
	"context"
	"os/exec"
	"testing"
	"time"

	pb "vswitch/proto/vswitch/v1"
)

// Watch streams the state a plugin starts from, then port changes: a port
// added before its device exists is reported down, then up when the
// device appears; modifications and deletions follow.
func TestWatch(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	br := d.AddBridge("brw")
	client := dialCtl(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := client.Watch(ctx, &pb.WatchRequest{Bridge: br})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan *pb.WatchEvent, 1000)
	go func() {
		defer close(events)
		for {
			e, err := w.Recv()
			if err != nil {
				return
			}
			events <- e
		}
	}()
	next := func(what string, want func(*pb.WatchEvent) bool) *pb.WatchEvent {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("watch ended while waiting for %s", what)
				}
				t.Logf("event %v %s %s up=%v %s", e.Kind, e.Bridge, e.Port, e.Up, e.Status)
				if want(e) {
					return e
				}
			case <-deadline:
				t.Fatalf("no %s within 15s", what)
			}
		}
	}
	next("the bridge's LOCAL port", func(e *pb.WatchEvent) bool {
		return e.Kind == pb.WatchEventKind_WATCH_EVENT_KIND_EXISTING && e.Port == br
	})
	next("synced", func(e *pb.WatchEvent) bool { return e.Kind == pb.WatchEventKind_WATCH_EVENT_KIND_SYNCED })

	// A port whose device does not exist yet.
	port := uniq("vw", 8)
	d.Vsctl("add-port", br, port)
	added := next("port added", func(e *pb.WatchEvent) bool {
		return e.Kind == pb.WatchEventKind_WATCH_EVENT_KIND_PORT_ADDED && e.Port == port
	})
	if added.Up || added.Status == "" {
		t.Fatalf("port without a device reported %v; want down with a reason", added)
	}
	start := time.Now()
	if out, err := exec.Command("ip", "link", "add", port, "type", "veth", "peer", "name", port+"p").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", port).Run() })
	exec.Command("ip", "link", "set", port, "up").Run()
	exec.Command("ip", "link", "set", port+"p", "up").Run()
	next("port up", func(e *pb.WatchEvent) bool {
		return e.Kind == pb.WatchEventKind_WATCH_EVENT_KIND_PORT_UP && e.Port == port && e.Up && e.Ofport > 0
	})
	t.Logf("port up reported %v after its device appeared", time.Since(start).Round(time.Millisecond))

	d.Vsctl("set", "Port", port, "tag=42")
	next("port modified", func(e *pb.WatchEvent) bool {
		return e.Kind == pb.WatchEventKind_WATCH_EVENT_KIND_PORT_MODIFIED && e.Port == port
	})
	d.Vsctl("del-port", br, port)
	next("port deleted", func(e *pb.WatchEvent) bool {
		return e.Kind == pb.WatchEventKind_WATCH_EVENT_KIND_PORT_DELETED && e.Port == port
	})

	// Watching a bridge that does not exist is refused.
	bad, err := client.Watch(ctx, &pb.WatchRequest{Bridge: "nosuchbr"})
	if err == nil {
		_, err = bad.Recv()
	}
	if err == nil {
		t.Fatal("watch of a missing bridge succeeded")
	}
	t.Logf("missing bridge: %v", err)
}
