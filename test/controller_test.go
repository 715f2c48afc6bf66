package e2e

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "vswitch/proto/vswitch/v1"
)

// dialCtl connects a gRPC client to the daemon's socket, as a controller does.
func dialCtl(t *testing.T, d *Daemon) pb.VswitchClient {
	t.Helper()
	conn, err := grpc.NewClient("unix:"+d.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewVswitchClient(conn)
}

// ctlStream is an open controller channel whose events a goroutine reads
// into ch (unless the test wants it stalled).
type ctlStream struct {
	t      *testing.T
	stream pb.Vswitch_ControllerClient
	cancel context.CancelFunc
	ready  *pb.ControllerReady
	ch     chan *pb.ControllerEvent
}

func openController(t *testing.T, c pb.VswitchClient, br, name string, queueLen uint32, read bool) *ctlStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := c.Controller(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hello := &pb.ControllerRequest{Msg: &pb.ControllerRequest_Hello{Hello: &pb.ControllerHello{Bridge: br, Name: name, QueueLen: queueLen}}}
	if err := st.Send(hello); err != nil {
		t.Fatal(err)
	}
	ev, err := st.Recv()
	if err != nil || ev.GetReady() == nil {
		t.Fatalf("controller %s: first event %v, %v; want ready", name, ev, err)
	}
	cs := &ctlStream{t: t, stream: st, cancel: cancel, ready: ev.GetReady(), ch: make(chan *pb.ControllerEvent, 100000)}
	if read {
		go func() {
			for {
				ev, err := st.Recv()
				if err != nil {
					close(cs.ch)
					return
				}
				select {
				case cs.ch <- ev:
				default: // the test only looks at the first ones
				}
			}
		}()
	}
	return cs
}

// next returns the first event satisfying want within timeout.
func (c *ctlStream) next(timeout time.Duration, what string, want func(*pb.ControllerEvent) bool) *pb.ControllerEvent {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.ch:
			if !ok {
				c.t.Fatalf("controller stream ended while waiting for %s", what)
			}
			if want(ev) {
				return ev
			}
		case <-deadline:
			c.t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

func (c *ctlStream) packetOut(po *pb.PacketOut) {
	c.t.Helper()
	if err := c.stream.Send(&pb.ControllerRequest{Msg: &pb.ControllerRequest_PacketOut{PacketOut: po}}); err != nil {
		c.t.Fatal(err)
	}
}

// A flow with actions=controller sends a packet-in on the stream; the
// controller's packet-out reaches the target namespace; port-status
// events follow ports; a stalled controller loses packet-ins (counted)
// while other traffic keeps flowing.
func TestControllerChannel(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	br := d.AddBridge("brc")
	net := subnet()
	h1 := newHost(t, net+".1/24")
	h3 := newHost(t, net+".3/24")
	h4 := newHost(t, net+".4/24")
	h5 := newHost(t, net+".5/24")
	for _, h := range []*Host{h1, h3, h4} {
		attach(d, br, h)
	}
	pingOK(t, h1, h3.IP) // ARP resolved: h1's UDP goes to h3's MAC
	d.Vsctl("add-flow", br, "priority=100,cookie=0x42,udp,tp_dst=7777,actions=controller")

	client := dialCtl(t, d)
	ctl := openController(t, client, br, "e2e", 0, true)
	if ctl.ready.Bridge != br || ctl.ready.FailMode != "standalone" || len(ctl.ready.Ports) != 4 {
		t.Fatalf("ready = %v; want bridge %s, standalone, 4 ports (LOCAL + 3)", ctl.ready, br)
	}

	recv := startBG(t, h3, nettoolBin, "udprecv", "-listen", h3.IP+":7777", "-n", "1", "-timeout", "30s")
	time.Sleep(300 * time.Millisecond)
	h1.MustExec(nettoolBin, "udpsend", "-to", h3.IP+":7777", "-payload", "hello-controller")
	ev := ctl.next(10*time.Second, "packet-in", func(e *pb.ControllerEvent) bool { return e.GetPacketIn() != nil })
	pi := ev.GetPacketIn()
	of1 := d.Ofport(h1.Port)
	if pi.Reason != pb.PacketInReason_PACKET_IN_REASON_ACTION || pi.Table != 0 || pi.Cookie != 0x42 ||
		int(pi.InPort) != of1 || pi.InPortName != h1.Port || int(pi.TotalLen) != len(pi.Data) ||
		!bytes.Contains(pi.Data, []byte("hello-controller")) {
		t.Fatalf("packet-in = reason %v table %d cookie %#x in_port %d (%s) total_len %d data %d bytes %q; want action, 0, 0x42, %d (%s)",
			pi.Reason, pi.Table, pi.Cookie, pi.InPort, pi.InPortName, pi.TotalLen, len(pi.Data), pi.Data, of1, h1.Port)
	}
	t.Logf("packet-in: reason %v table %d cookie %#x in_port %d (%s), %d bytes", pi.Reason, pi.Table, pi.Cookie, pi.InPort, pi.InPortName, len(pi.Data))

	// Packet-out to h3's port: the datagram reaches h3's socket.
	of3 := d.Ofport(h3.Port)
	ctl.packetOut(&pb.PacketOut{Xid: 7, Frame: pi.Data, InPort: pi.InPort, Actions: fmt.Sprintf("output:%d", of3)})
	res := ctl.next(10*time.Second, "packet-out result", func(e *pb.ControllerEvent) bool { return e.GetPacketOutResult() != nil }).GetPacketOutResult()
	if res.Xid != 7 || res.Error != "" {
		t.Fatalf("packet-out result = %v; want xid 7, no error", res)
	}
	out, err := recv.wait(20 * time.Second)
	if err != nil || !strings.Contains(out, "payload=hello-controller") {
		t.Fatalf("h3 did not receive the packet-out: %v\n%s", err, out)
	}
	t.Logf("h3 received the packet-out: %s", strings.TrimSpace(out))

	// A bad packet-out is answered with its error; the stream goes on.
	ctl.packetOut(&pb.PacketOut{Xid: 8, Frame: pi.Data, Actions: "output:999"})
	res = ctl.next(10*time.Second, "packet-out error", func(e *pb.ControllerEvent) bool { return e.GetPacketOutResult() != nil }).GetPacketOutResult()
	if res.Xid != 8 || res.Error == "" {
		t.Fatalf("bad packet-out result = %v; want xid 8 with an error", res)
	}
	t.Logf("bad packet-out: %s", res.Error)
	ctl.packetOut(&pb.PacketOut{Xid: 9, Frame: []byte{1, 2, 3}, Actions: "output:1"})
	res = ctl.next(10*time.Second, "packet-out error", func(e *pb.ControllerEvent) bool { return e.GetPacketOutResult() != nil }).GetPacketOutResult()
	if res.Xid != 9 || !strings.Contains(res.Error, "frame") {
		t.Fatalf("runt packet-out result = %v; want xid 9 with a frame error", res)
	}

	// Port-status: a port added while the controller is connected.
	attach(d, br, h5)
	ps := ctl.next(10*time.Second, "port-status add", func(e *pb.ControllerEvent) bool {
		return e.GetPortStatus() != nil && e.GetPortStatus().Port == h5.Port
	}).GetPortStatus()
	if ps.Reason != pb.PortStatusReason_PORT_STATUS_REASON_ADD || int(ps.Ofport) != d.Ofport(h5.Port) {
		t.Fatalf("port-status = %v; want add of %s", ps, h5.Port)
	}

	// Flow-removed: a rule with send_flow_rem and a hard timeout.
	d.Vsctl("add-flow", br, "priority=50,cookie=0x77,hard_timeout=1,send_flow_rem,udp,tp_dst=9999,actions=drop")
	fr := ctl.next(10*time.Second, "flow-removed", func(e *pb.ControllerEvent) bool { return e.GetFlowRemoved() != nil }).GetFlowRemoved()
	if fr.Cookie != 0x77 || fr.Reason != pb.FlowRemovedReason_FLOW_REMOVED_REASON_HARD_TIMEOUT || fr.Priority != 50 || !strings.Contains(fr.Match, "tp_dst=9999") {
		t.Fatalf("flow-removed = %v; want cookie 0x77, hard timeout, priority 50", fr)
	}

	// A stalled controller: a small queue nobody reads. A flood of
	// packet-ins must cost it packet-ins, not the other ports' traffic.
	stalled := openController(t, client, br, "stalled", 4, false)
	_ = stalled
	flood := startBG(t, h1, nettoolBin, "udpsend", "-to", h3.IP+":7777", "-payload", strings.Repeat("x", 200), "-n", "40000")
	pingOK(t, h4, h5.IP)
	if out, err := flood.wait(60 * time.Second); err != nil {
		t.Fatalf("flood: %v\n%s", err, out)
	}
	pingOK(t, h4, h5.IP)
	st, err := client.ControllerStatus(context.Background(), &pb.ControllerStatusRequest{Bridge: br})
	if err != nil {
		t.Fatal(err)
	}
	var sInfo, rInfo *pb.ControllerInfo
	for _, c := range st.Controllers {
		switch c.Name {
		case "stalled":
			sInfo = c
		case "e2e":
			rInfo = c
		}
	}
	if sInfo == nil || rInfo == nil || sInfo.PacketInsDropped == 0 || sInfo.QueueLen != 4 {
		t.Fatalf("controller status = %v; want the stalled controller with packet-ins dropped", st.Controllers)
	}
	t.Logf("flood of 40000 packet-ins: stalled controller sent %d, dropped %d; reading controller sent %d, dropped %d; pings h4->h5 flowed throughout",
		sInfo.PacketInsSent, sInfo.PacketInsDropped, rInfo.PacketInsSent, rInfo.PacketInsDropped)
}

// Fail modes: standalone falls back to NORMAL when its controller is gone
// and stops when it returns; secure never adds flows of its own, while
// installed flows keep forwarding with or without a controller.
func TestControllerFailModes(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	br := d.AddBridge("brf")
	h1, h2 := twoHosts(t, d, br)
	pingOK(t, h1, h2.IP)

	// The controller takes over: everything to it, and it forwards nothing.
	d.Vsctl("del-flows", br)
	d.Vsctl("add-flow", br, "priority=0,actions=controller")
	client := dialCtl(t, d)
	ctl := openController(t, client, br, "ctl", 0, true)
	pingFails(t, h1, h2.IP)
	ctl.next(5*time.Second, "packet-in", func(e *pb.ControllerEvent) bool { return e.GetPacketIn() != nil })

	// Controller gone: standalone fails open after a grace period.
	ctl.cancel()
	gone := time.Now()
	pingOK(t, h1, h2.IP)
	t.Logf("standalone: controller gone, NORMAL forwarding after %v", time.Since(gone).Round(100*time.Millisecond))
	if out := d.Vsctl("dump-flows", br); strings.Contains(out, "NORMAL") {
		t.Fatalf("fail-open must not show as a flow:\n%s", out)
	}

	// Back: the controller's flows rule again.
	ctl = openController(t, client, br, "ctl", 0, true)
	pingFails(t, h1, h2.IP)

	// Secure: no flows of the switch's own, installed flows keep working.
	d.Vsctl("set", "Bridge", br, "fail_mode=secure")
	ctl.cancel()
	time.Sleep(3 * time.Second) // longer than the fail-open grace
	pingFails(t, h1, h2.IP)
	of1, of2 := d.Ofport(h1.Port), d.Ofport(h2.Port)
	d.Vsctl("add-flow", br, fmt.Sprintf("priority=10,in_port=%d,actions=output:%d", of1, of2))
	d.Vsctl("add-flow", br, fmt.Sprintf("priority=10,in_port=%d,actions=output:%d", of2, of1))
	pingOK(t, h1, h2.IP)
	flows := d.Vsctl("dump-flows", br)
	if strings.Contains(flows, "NORMAL") || len(slices.DeleteFunc(strings.Split(strings.TrimSpace(flows), "\n"), func(l string) bool { return !strings.Contains(l, "actions=") })) != 3 {
		t.Fatalf("secure bridge flows:\n%s\nwant exactly the 3 installed", flows)
	}
	t.Log("secure: without a controller, installed flows forward and nothing else does")
}
