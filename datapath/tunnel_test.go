package datapath

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"vswitch/vxlan"
)

// tunnelUp is a slow path for tunnel tests: a -> encap -> u (underlay);
// u -> decap -> recirculate from v; v with VNI 100 -> a.
type tunnelUp struct {
	a, u, v uint32
	hdr     uint64
	mask    bool // megaflows wildcard everything but in_port (and tunnel fields)
}

func (t *tunnelUp) Upcall(up *Upcall) error {
	up.Mask.InPort = ^uint32(0)
	switch up.Key.InPort {
	case t.a:
		up.Actions = append(up.Actions, TunnelPush(t.hdr, t.u))
	case t.u:
		up.Actions = append(up.Actions, TunnelPop(t.v, vxlan.DefaultPort, 0))
	case t.v:
		up.Mask.TunID = ^uint64(0)
		if up.Key.TunID == 100 {
			up.Actions = append(up.Actions, Output(t.a))
		}
	}
	if !t.mask {
		up.Mask.DlDst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	return nil
}

func testHeader(t testing.TB, vni uint32) TunnelHeader {
	tmpl, err := vxlan.BuildTemplate(vxlan.TemplateConfig{
		SrcMAC: [6]byte{2, 0, 0, 0, 0, 0x10}, DstMAC: [6]byte{2, 0, 0, 0, 0, 0x20},
		SrcIP: netip.MustParseAddr("192.168.77.1"), DstIP: netip.MustParseAddr("192.168.77.2"),
		TTL: 64, DF: true, DstPort: vxlan.DefaultPort, VNI: vni,
	})
	if err != nil {
		t.Fatal(err)
	}
	return TunnelHeader{Tmpl: tmpl, MTU: 1500}
}

// A frame encapsulated towards the underlay decapsulates back to the same
// inner frame, recirculates from the tunnel port and is forwarded on; a
// frame too big for the underlay and a corrupted one are counted.
func TestTunnelPushPopRecirculate(t *testing.T) {
	up := &tunnelUp{}
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 4 << 20}, up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	a := &memPort{name: "a", keep: true}
	u := &memPort{name: "u", keep: true}
	v := &memPort{name: "v"} // the tunnel's port: never polled for frames
	up.a, _ = d.AddPort(a)
	up.u, _ = d.AddPort(u)
	up.v, _ = d.AddPort(v)
	up.hdr = d.TunnelHeaderID(testHeader(t, 100))
	if again := d.TunnelHeaderID(testHeader(t, 100)); again != up.hdr {
		t.Fatalf("same header interned twice: %d, %d", up.hdr, again)
	}
	p := d.pmds[0]
	p.reload()

	inner := udpFrame(macA, macB, 0x0a000001, 0x0a000002, 1000, 2000, 100)
	a.send(inner)
	p.iterate()
	if len(u.sent) != 1 || len(u.sent[0]) != len(inner)+50 || !bytes.Equal(u.sent[0][50:], inner) {
		t.Fatalf("underlay got %d frames (%v)", len(u.sent), u.sent)
	}
	info, why := vxlan.Decap(u.sent[0], vxlan.DefaultPort, 0)
	if why != vxlan.DropNone || info.VNI != 100 {
		t.Fatalf("encapsulated frame decaps as %v, VNI %d", why, info.VNI)
	}

	// Back in from the underlay: decap, recirculate, out to a.
	u.send(u.sent[0])
	p.iterate()
	if len(a.sent) != 1 || !bytes.Equal(a.sent[0], inner) {
		t.Fatalf("after decap a got %d frames", len(a.sent))
	}
	if p.local.TunnelPushes != 1 || p.local.TunnelPops != 1 {
		t.Fatalf("pushes %d pops %d", p.local.TunnelPushes, p.local.TunnelPops)
	}

	// Another VNI: decapsulated, then dropped by the slow path's (empty) actions.
	other := append([]byte(nil), u.sent[0]...)
	other[50-4] = 0x02 // VNI 100 -> 0x000264 (612)
	u.send(other)
	p.iterate()
	if len(a.sent) != 1 {
		t.Fatal("a packet of another VNI was forwarded")
	}

	// Corrupt: VXLAN I flag cleared. Too big: a 1480-byte frame is a 1516-byte outer IP packet.
	bad := append([]byte(nil), u.sent[0]...)
	bad[42] = 0
	u.send(bad)
	a.send(udpFrame(macA, macB, 0x0a000001, 0x0a000002, 1000, 2000, 1480))
	p.iterate()
	if p.local.TunnelDrops[vxlan.DropBadFlags] != 1 || p.local.TunnelMTUDrops != 1 {
		t.Fatalf("drops: bad flags %d, mtu %d", p.local.TunnelDrops[vxlan.DropBadFlags], p.local.TunnelMTUDrops)
	}
	if len(a.sent) != 1 || p.local.TunnelFragNeeded != 0 {
		t.Fatal("ICMP sent for a packet without DF")
	}

	// With DF: an ICMP fragmentation-needed (type 3 code 4, MTU 1450)
	// from the tunnel endpoint goes back out of the port it came in on.
	big := udpFrame(macA, macB, 0x0a000001, 0x0a000002, 1000, 2000, 1480)
	big[14+6] = 0x40 // DF (header checksum is not checked on this path)
	a.send(big)
	p.iterate()
	if len(a.sent) != 2 || p.local.TunnelFragNeeded != 1 {
		t.Fatalf("no ICMP back: %d frames on a, %d sent", len(a.sent), p.local.TunnelFragNeeded)
	}
	icmp := a.sent[1]
	if icmp[14+9] != 1 || icmp[34] != 3 || icmp[35] != 4 || int(icmp[40])<<8|int(icmp[41]) != 1450 ||
		!bytes.Equal(icmp[14+12:14+16], []byte{192, 168, 77, 1}) || !bytes.Equal(icmp[0:6], macA[:]) {
		t.Fatalf("ICMP frame % x", icmp[:42])
	}
}

// benchTunnel measures the pipeline with EMC hits for encapsulation (a ->
// u) or decapsulation plus recirculation (u -> v -> a).
func benchTunnel(b *testing.B, decap bool) {
	up := &tunnelUp{mask: true}
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 8 << 20, EMCInsertInvProb: 1}, up)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Stop)
	a, u, v := &memPort{name: "a"}, &memPort{name: "u"}, &memPort{name: "v"}
	up.a, _ = d.AddPort(a)
	up.u, _ = d.AddPort(u)
	up.v, _ = d.AddPort(v)
	h := testHeader(b, 100)
	up.hdr = d.TunnelHeaderID(h)
	inner := udpFrame(macA, macB, 0x0a000001, 0x0a000002, 1000, 2000, 64)
	src := a
	if decap {
		outer := make([]byte, 50+len(inner))
		copy(outer[50:], inner)
		if err := vxlan.Encap(outer, &h.Tmpl, vxlan.Meta{Hash: 1}); err != nil {
			b.Fatal(err)
		}
		src = u
		src.templates = [][]byte{outer}
	} else {
		src.templates = [][]byte{inner}
	}
	src.burst = BatchSize
	p := d.pmds[0]
	spreadBuffers(p)
	p.reload()
	for range 100 {
		p.iterate()
	}
	before := p.local
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.iterate()
	}
	b.StopTimer()
	pkts := float64(b.N) * BatchSize
	b.ReportMetric(pkts/b.Elapsed().Seconds()/1e6, "Mpps")
	if p.local.Upcalls != before.Upcalls {
		b.Fatalf("%d upcalls during the measurement", p.local.Upcalls-before.Upcalls)
	}
	moved := p.local.TunnelPushes - before.TunnelPushes
	if decap {
		moved = p.local.TunnelPops - before.TunnelPops
	}
	if moved != uint64(pkts) {
		b.Fatalf("%d of %.0f packets went through the tunnel", moved, pkts)
	}
}

func BenchmarkTunnel(b *testing.B) {
	for _, decap := range []bool{false, true} {
		b.Run(fmt.Sprintf("decap=%v", decap), func(b *testing.B) { benchTunnel(b, decap) })
	}
}
