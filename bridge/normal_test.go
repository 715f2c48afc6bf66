package bridge

import (
	"slices"
	"testing"
	"time"

	"vswitch/datapath"
	"vswitch/flowtable"
	"vswitch/openflow"
)

// testBridge builds a translation snapshot by hand: one bridge whose table
// 0 holds priority=0,actions=NORMAL, ports given as ofport -> VLAN config.
type testPort struct {
	ofport int
	tag    *int
	trunks []int
	mode   string
}

func intp(v int) *int { return &v }

func newTestSwitch(t *testing.T, ports ...testPort) (*Switch, *xbridge, *int) {
	t.Helper()
	f, err := openflow.ParseFlow("priority=0,actions=NORMAL", nil)
	if err != nil {
		t.Fatal(err)
	}
	changes := new(int)
	xb := &xbridge{name: "br0", macs: newMACTable(nil), ports: map[int]*xport{}, tstats: new([256]tableStats),
		tables: [][]*rule{{{flow: f}}}, changed: func() { *changes++ }}
	xs := &xsnap{bridges: map[string]*xbridge{"br0": xb}, byDP: make([]*xport, 200)}
	for _, tp := range ports {
		xp := &xport{name: "p", ofport: tp.ofport, dp: uint32(100 + tp.ofport%100), br: xb,
			vlan: compileVLAN(tp.tag, tp.trunks, tp.mode)}
		xb.ports[tp.ofport] = xp
		xb.flood = append(xb.flood, xp)
		xs.byDP[xp.dp] = xp
	}
	slices.SortFunc(xb.flood, func(a, b *xport) int { return a.ofport - b.ofport })
	s := &Switch{}
	s.xs.Store(xs)
	return s, xb, changes
}

var (
	bcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	macA  = [6]byte{2, 0, 0, 0, 0, 0xa}
	macB  = [6]byte{2, 0, 0, 0, 0, 0xb}
	macC  = [6]byte{2, 0, 0, 0, 0, 0xc}
)

func upcall(t *testing.T, s *Switch, ofport int, src, dst [6]byte, tci uint16) []datapath.Action {
	t.Helper()
	k := flowtable.Key{InPort: uint32(100 + ofport%100), DlSrc: src, DlDst: dst, DlType: 0x0800, VlanTCI: tci}
	u := datapath.Upcall{Key: &k}
	if err := s.Upcall(&u); err != nil {
		t.Fatal(err)
	}
	return u.Actions
}

func outputs(port ...uint32) []datapath.Action {
	var a []datapath.Action
	for _, p := range port {
		a = append(a, datapath.Output(p))
	}
	return a
}

func expect(t *testing.T, what string, got, want []datapath.Action) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: actions %+v, want %+v", what, got, want)
	}
}

func TestNormalLearning(t *testing.T) {
	s, xb, changes := newTestSwitch(t, testPort{ofport: 1}, testPort{ofport: 2}, testPort{ofport: 3}, testPort{ofport: openflow.PortLocal})
	local := uint32(100 + openflow.PortLocal%100)
	expect(t, "broadcast from 1 floods", upcall(t, s, 1, macA, bcast, 0), outputs(102, 103, local))
	if got := xb.macs.lookup(0, macA, xb.macs.entries[macKey{0, macA}].seen); got != 1 {
		t.Fatalf("A learned on port %d, want 1", got)
	}
	if *changes != 1 {
		t.Fatalf("learning a new MAC must invalidate flows (%d changes)", *changes)
	}
	expect(t, "unknown unicast floods", upcall(t, s, 2, macB, macC, 0), outputs(101, 103, local))
	expect(t, "known unicast goes to its port", upcall(t, s, 2, macB, macA, 0), outputs(101))
	expect(t, "and back", upcall(t, s, 1, macA, macB, 0), outputs(102))
	before := *changes
	upcall(t, s, 1, macA, macB, 0)
	if *changes != before {
		t.Fatal("re-learning a MAC on the same port must not invalidate flows")
	}
	// A moves to port 3: the table follows and flows are invalidated.
	expect(t, "from A's new port", upcall(t, s, 3, macA, macB, 0), outputs(102))
	if *changes != before+1 {
		t.Fatal("a MAC move must invalidate flows")
	}
	expect(t, "to A after the move", upcall(t, s, 2, macB, macA, 0), outputs(103))
	// No hairpin: B's own port never gets B's traffic back.
	expect(t, "hairpin", upcall(t, s, 2, macC, macB, 0), nil)
	// Multicast sources are not learned; reserved 802.1D addresses are not forwarded.
	upcall(t, s, 1, [6]byte{3, 0, 0, 0, 0, 1}, bcast, 0)
	if len(xb.macs.entries) != 3 {
		t.Fatalf("%d MACs learned, want 3 (A, B, C)", len(xb.macs.entries))
	}
	expect(t, "STP BPDU", upcall(t, s, 1, macA, [6]byte{0x01, 0x80, 0xc2, 0, 0, 0}, 0), nil)
	// A flush forgets everything: traffic floods again.
	xb.macs.flushPort(0)
	expect(t, "after flush", upcall(t, s, 2, macB, macA, 0), outputs(101, 103, local))
}

func TestNormalTableLimitAndAging(t *testing.T) {
	m := newMACTable(nil)
	m.configure(defaultMACAging, 2)
	now := time.Now()
	m.learn(0, macA, 1, now)
	m.learn(0, macB, 2, now.Add(1))
	m.learn(0, macC, 3, now.Add(2))
	if len(m.entries) != 2 || m.lookup(0, macA, now) != 0 {
		t.Fatalf("table over its limit must evict the oldest entry: %v", m.entries)
	}
	if !m.expire(now.Add(defaultMACAging+10)) || len(m.entries) != 0 {
		t.Fatal("entries older than the aging time must expire")
	}
}

func TestNormalVLANs(t *testing.T) {
	s, _, _ := newTestSwitch(t,
		testPort{ofport: 1, tag: intp(10)},
		testPort{ofport: 2, tag: intp(10)},
		testPort{ofport: 3, tag: intp(20)},
		testPort{ofport: 4, trunks: []int{10, 20}},
		testPort{ofport: 5, tag: intp(20), trunks: []int{10}, mode: modeNativeUntagged},
	)
	tci10 := uint16(flowtable.TCIPresent | 10)
	tci20 := uint16(flowtable.TCIPresent | 20)
	expect(t, "access 10 floods to VLAN 10 only, tagging on the trunk",
		upcall(t, s, 1, macA, bcast, 0),
		[]datapath.Action{datapath.Output(102), datapath.PushVLAN(0x8100, 10), datapath.Output(104), datapath.Output(105)})
	expect(t, "tagged frame on an access port is dropped", upcall(t, s, 2, macB, bcast, tci10), nil)
	expect(t, "trunk VLAN 20 reaches access 20 untagged and native-untagged 20 untagged",
		upcall(t, s, 4, macC, bcast, tci20),
		[]datapath.Action{datapath.PopVLAN(), datapath.Output(103), datapath.Output(105)})
	expect(t, "trunk drops VLANs it does not carry", upcall(t, s, 4, macC, bcast, uint16(flowtable.TCIPresent|30)), nil)
	expect(t, "trunk with a list drops untagged", upcall(t, s, 4, macC, bcast, 0), nil)
	// Learned per VLAN: A is known on VLAN 10 only.
	expect(t, "unicast to A on VLAN 10 from the trunk",
		upcall(t, s, 4, macC, macA, tci10), []datapath.Action{datapath.PopVLAN(), datapath.Output(101)})
	expect(t, "A on VLAN 20 is unknown: flood VLAN 20",
		upcall(t, s, 3, macB, macA, 0),
		[]datapath.Action{datapath.PushVLAN(0x8100, 20), datapath.Output(104), datapath.PopVLAN(), datapath.Output(105)})
	expect(t, "native-untagged: untagged in belongs to VLAN 20",
		upcall(t, s, 5, macA, macB, 0),
		[]datapath.Action{datapath.Output(103)})
	expect(t, "native-untagged: tagged 10 allowed by trunks",
		upcall(t, s, 5, macA, bcast, tci10),
		[]datapath.Action{datapath.PopVLAN(), datapath.Output(101), datapath.Output(102), datapath.PushVLAN(0x8100, 10), datapath.Output(104)})
}

// TestNormalMegaflowIsWide checks that NORMAL consults only ports,
// addresses and the tag: megaflows between learned MACs cover every L3/L4.
func TestNormalMegaflowIsWide(t *testing.T) {
	s, _, _ := newTestSwitch(t, testPort{ofport: 1}, testPort{ofport: 2})
	upcall(t, s, 1, macA, bcast, 0)
	upcall(t, s, 2, macB, macA, 0)
	k := flowtable.Key{InPort: 101, DlSrc: macA, DlDst: macB, DlType: 0x0800, NwProto: 6, TpSrc: 1234, TpDst: 80}
	u := datapath.Upcall{Key: &k}
	if err := s.Upcall(&u); err != nil {
		t.Fatal(err)
	}
	want := flowtable.Key{InPort: ^uint32(0), VlanTCI: 0xffff,
		DlSrc: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, DlDst: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if u.Mask != want {
		t.Fatalf("NORMAL megaflow mask %+v, want only in_port, dl_src, dl_dst, vlan_tci", u.Mask)
	}
	expect(t, "A to B", u.Actions, outputs(102))
}
