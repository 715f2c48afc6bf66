package sriovvf

import (
	"testing"
	"time"

	"vswitch/datapath"
	"vswitch/datapath/dptest"
)

func frame(dst, src [6]byte) []byte {
	f := make([]byte, 60)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	f[12], f[13] = 0x08, 0x00
	return f
}

// Frames whose source MAC is programmed on the VF are reflections: Rx
// drops and counts them and passes the others, in order.
func TestRxDropsReflections(t *testing.T) {
	a, err := datapath.NewArena(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	pool := datapath.NewPool(a)
	c := pool.NewCache()
	inner := &dptest.MemPort{PortName: "eth9"}
	p := New("vf1", inner, "afpacket", "eth9", "eth0", 1, "0000:01:10.2", nil, nil)
	peer := [6]byte{2, 0, 0, 0, 0, 0xb}
	other := [6]byte{2, 0, 0, 0, 0, 0xa}
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// Wanted on the VF (SetPeerMACs publishes before programming).
	p.publish(map[[6]byte]bool{peer: true})

	inner.Send(frame(bcast, other), frame(other, peer), frame(peer, other), frame(bcast, peer))
	var b datapath.Batch
	n := p.Rx(0, &b, c)
	if n != 2 || b.N != 2 {
		t.Fatalf("Rx returned %d (batch %d), want the 2 frames not from %x", n, b.N, peer)
	}
	for _, pk := range b.Packets() {
		if string(pk.Data()[6:12]) == string(peer[:]) {
			t.Errorf("a reflected frame (source %x) passed", peer)
		}
	}
	if p.Reflected() != 2 {
		t.Errorf("reflected = %d, want 2", p.Reflected())
	}
	if s := p.Stats(); s.RxDropped != 2 {
		t.Errorf("RxDropped = %d, want 2", s.RxDropped)
	}
	if st := p.Status(); st["sriov_reflected_drops"] != "2" {
		t.Errorf("status %v", st)
	}
	c.PutBatch(&b)
	if p.Name() != "vf1" {
		t.Errorf("Name() = %q, want the port name vf1", p.Name())
	}
}

// The forwarding path allocates nothing.
func TestRxNoAllocs(t *testing.T) {
	a, err := datapath.NewArena(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	pool := datapath.NewPool(a)
	c := pool.NewCache()
	peer := [6]byte{2, 0, 0, 0, 0, 0xb}
	other := [6]byte{2, 0, 0, 0, 0, 0xa}
	inner := &dptest.MemPort{PortName: "eth9", Templates: [][]byte{frame(other, peer), frame(peer, other)}, Burst: 8}
	p := New("vf1", inner, "afpacket", "eth9", "eth0", 1, "", nil, nil)
	p.publish(map[[6]byte]bool{peer: true})
	var b datapath.Batch
	allocs := testing.AllocsPerRun(200, func() {
		p.Rx(0, &b, c)
		p.Tx(0, &b, c) // notes the sources, frees the batch
	})
	if allocs != 0 {
		t.Errorf("Rx+Tx allocates %.1f times per call, want 0", allocs)
	}
	if p.Reflected() == 0 {
		t.Error("no reflection dropped")
	}
}

// MACs beyond the driver's filter table are counted once each and never
// programmed (limit 0: no netlink request at all).
func TestFilterOverflowCounted(t *testing.T) {
	p := New("vf1", &dptest.MemPort{PortName: "eth9"}, "afpacket", "eth9", "eth0", 1, "", nil, nil)
	p.SetFilterLimit(0)
	a, b := [6]byte{2, 0, 0, 0, 0, 0xa}, [6]byte{2, 0, 0, 0, 0, 0xb}
	p.SetPeerMACs([][6]byte{a, b, {0x01, 0, 0x5e, 0, 0, 1}}) // multicast is never a filter
	p.SetPeerMACs([][6]byte{a, b})
	st := p.Status()
	if st["sriov_filter_overflow"] != "2" || st["sriov_filters"] != "0" {
		t.Errorf("status %v: want 2 overflows, 0 filters", st)
	}
	p.SetPeerMACs(nil)
	p.SetPeerMACs([][6]byte{a})
	if st := p.Status(); st["sriov_filter_overflow"] != "3" {
		t.Errorf("a MAC that left and came back counts again: overflow %s, want 3", st["sriov_filter_overflow"])
	}
	// Overflowed MACs still count as the switch's own: their reflections drop.
	if set := p.programmed.Load(); set.n != 1 || !set.has(a[:]) {
		t.Errorf("reflection set %+v, want A", set)
	}
	if p.EswitchGroup() != "eth0" {
		t.Errorf("EswitchGroup %q", p.EswitchGroup())
	}
}

// A frame the switch flooded out of the VF and the NIC handed straight
// back is dropped before the bridge ever learned (or programmed) its
// source: the PMD's own transmissions mark the MAC. Other sources, and
// the sent MAC once the window has passed, are let through.
func TestRxDropsReflectionOfOwnTransmission(t *testing.T) {
	a, err := datapath.NewArena(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	c := datapath.NewPool(a).NewCache()
	inner := &dptest.MemPort{PortName: "eth9", Keep: true}
	p := New("vf1", inner, "afpacket", "eth9", "eth0", 1, "", nil, nil)
	host := [6]byte{2, 0, 0, 0, 0, 0xc} // behind another bridge port, not yet learned
	nicSide := [6]byte{2, 0, 0, 0, 0, 0xd}
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	var out datapath.Batch
	pk := c.Get()
	n := copy(pk.Frame()[datapath.Headroom:], frame(bcast, host))
	pk.SetData(datapath.Headroom, n)
	out.Add(pk)
	p.Tx(0, &out, c)
	if len(inner.Sent()) != 1 {
		t.Fatalf("backend sent %d frames, want 1", len(inner.Sent()))
	}

	inner.Send(frame(bcast, host), frame(host, nicSide), frame(bcast, nicSide))
	var b datapath.Batch
	if got := p.Rx(0, &b, c); got != 2 || p.Reflected() != 1 {
		t.Fatalf("Rx passed %d frames and dropped %d, want 2 passed (from %x) and the reflection dropped", got, p.Reflected(), nicSide)
	}
	for _, pk := range b.Packets() {
		if string(pk.Data()[6:12]) == string(host[:]) {
			t.Error("the reflected broadcast passed")
		}
	}
	c.PutBatch(&b)

	// Long after the last transmission a frame from that MAC is the host
	// having moved behind the NIC: it passes.
	k := macKey(host[:])
	p.sent[sentSlot(k)].at.Store(time.Now().UnixNano() - 2*reflectWindow)
	inner.Send(frame(bcast, host))
	if got := p.Rx(0, &b, c); got != 1 {
		t.Errorf("a frame from %x %v after the switch last sent one: Rx passed %d, want 1", host, time.Duration(2*reflectWindow), got)
	}
	c.PutBatch(&b)
}
