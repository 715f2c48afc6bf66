package bridge

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"vswitch/openflow"
)

// udpFrame is an Ethernet/IPv4/UDP frame to dst port 7777 carrying payload.
func udpFrame(payload string) []byte {
	f := make([]byte, 42+len(payload))
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	copy(ip[12:16], []byte{10, 0, 0, 1})
	copy(ip[16:20], []byte{10, 0, 0, 2})
	binary.BigEndian.PutUint16(f[34:], 5555)
	binary.BigEndian.PutUint16(f[36:], 7777)
	binary.BigEndian.PutUint16(f[38:], uint16(8+len(payload)))
	copy(f[42:], payload)
	return f
}

// A packet-out through the pipeline hits a controller action and comes
// back as a packet-in with the rule's context; a full queue drops and
// counts instead of blocking.
func TestPacketOutToPacketIn(t *testing.T) {
	sw := newStoreSwitch(t)
	a, _ := twoBridges(t, sw)
	sw.dp.Start()
	if err := sw.AddFlow(a, "priority=100,cookie=0x99,udp,tp_dst=7777,actions=controller(reason=no_match,max_len=30,id=3)"); err != nil {
		t.Fatal(err)
	}
	ctl, ready, err := sw.OpenController(a, "unit", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if ready.Bridge != a || ready.FailMode != "standalone" || len(ready.Ports) != 2 {
		t.Fatalf("ready = %+v", ready)
	}
	frame := udpFrame("hello packet-in, this is longer than thirty bytes")
	if err := ctl.PacketOut(1, "", frame, "output:TABLE"); err != nil {
		t.Fatal(err)
	}
	var pi *PacketIn
	select {
	case pi = <-ctl.PacketIns():
	case <-time.After(5 * time.Second):
		t.Fatal("no packet-in")
	}
	if pi.Reason != openflow.ReasonNoMatch || pi.Cookie != 0x99 || pi.Table != 0 || pi.InPort != 1 ||
		pi.ControllerID != 3 || pi.TotalLen != len(frame) || !bytes.Equal(pi.Data, frame[:30]) {
		t.Fatalf("packet-in = %+v", pi)
	}
	if name := ctl.PortName(pi.InPort); name == "" {
		t.Fatal("in_port has no name")
	}
	ctl.Release(pi)

	// Nobody reads: 2 buffers, then drops.
	for range 5 {
		if err := ctl.PacketOut(1, "", frame, "output:TABLE"); err != nil {
			t.Fatal(err)
		}
	}
	info := ctl.Info()
	if info.PacketInsDropped != 3 || info.PacketInsSent != 1 || info.PacketOuts != 6 {
		t.Fatalf("info = %+v; want 3 dropped, 1 sent, 6 packet-outs", info)
	}

	for _, bad := range []struct {
		in         int
		name, acts string
	}{
		{1, "", "output:99"},
		{1, "", "bogus"},
		{77, "", "output:TABLE"},
		{0, "nosuchport", "output:1"},
	} {
		if err := ctl.PacketOut(bad.in, bad.name, frame, bad.acts); err == nil {
			t.Fatalf("packet-out in_port %d %q actions %q accepted", bad.in, bad.name, bad.acts)
		}
	}
	if err := ctl.PacketOut(1, "", frame[:10], "output:1"); err == nil {
		t.Fatal("runt packet-out accepted")
	}
}

// Watch starts from the current state and follows changes.
func TestWatchPatchPorts(t *testing.T) {
	sw := newStoreSwitch(t)
	a, b := twoBridges(t, sw)
	w, err := sw.Watch(a)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var kinds []string
	for e := range w.Events() {
		if e.Bridge != a {
			t.Fatalf("event of another bridge: %+v", e)
		}
		kinds = append(kinds, e.Kind)
		if e.Kind == EventSynced {
			break
		}
	}
	if len(kinds) != 4 { // bridge, LOCAL, patch port, synced
		t.Fatalf("initial state: %v", kinds)
	}
	if err := sw.DelPort(b, "pb"+a[3:], false); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-w.Events():
		if e.Kind != EventPortModified && e.Kind != EventPortDown {
			t.Fatalf("after deleting the peer: %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the patch peer went away")
	}
	if _, err := sw.Watch("nosuch"); err == nil {
		t.Fatal("watch of a missing bridge accepted")
	}
}

// A secure bridge sets up no flows of its own; flows others added stay,
// and turning it standalone again brings the NORMAL flow back.
func TestFailModeOwnFlow(t *testing.T) {
	sw := newStoreSwitch(t)
	a, _ := twoBridges(t, sw)
	set := func(mode string) {
		t.Helper()
		if err := sw.Set("Bridge", a, []Setting{{Column: "fail_mode", Value: mode}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := flowTexts(t, sw, a); len(got) != 1 || got[0] != " actions=NORMAL" {
		t.Fatalf("new bridge flows %q", got)
	}
	set("secure")
	if got := flowTexts(t, sw, a); len(got) != 0 {
		t.Fatalf("secure bridge flows %q; want none", got)
	}
	set("standalone")
	if got := flowTexts(t, sw, a); len(got) != 1 {
		t.Fatalf("standalone again: flows %q; want the NORMAL flow", got)
	}
	if err := sw.AddFlow(a, "priority=5,in_port=1,actions=drop"); err != nil {
		t.Fatal(err)
	}
	set("secure")
	if got := flowTexts(t, sw, a); len(got) != 1 || got[0] != "in_port=1 actions=drop" {
		t.Fatalf("secure with a flow of its own: %q", got)
	}
}
