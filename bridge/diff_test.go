package bridge

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vswitch/datapath"
	"vswitch/datapath/dptest"
	"vswitch/flowtable"
	"vswitch/openflow"
)

// The differential test: random OpenFlow pipelines are installed in a real
// datapath (EMC, classifier, upcalls, revalidation) and every packet's
// outputs are compared with a brute-force evaluation of the same tables.

const diffPorts = 4

var diffMACs = [][6]byte{
	{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 3}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
}

var diffIPs = [][4]byte{{10, 0, 0, 1}, {10, 0, 1, 2}, {10, 1, 0, 3}, {192, 168, 0, 1}}

// diffRig is a datapath with in-memory ports 1-4 (OpenFlow = datapath
// numbers) and a Switch whose snapshot the test replaces.
type diffRig struct {
	sw    *Switch
	dp    *datapath.Datapath
	ports [diffPorts + 1]*dptest.MemPort
	xb    *xbridge
}

func newDiffRig(t testing.TB, emcInv int) *diffRig {
	dp, err := datapath.New(datapath.Config{PMDCores: []int{-1}, MemBytes: 16 << 20, EMCInsertInvProb: emcInv, UpcallBudget: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Stop)
	r := &diffRig{dp: dp, sw: &Switch{dp: dp}}
	dp.SetUpcaller(r.sw)
	for i := 1; i <= diffPorts; i++ {
		r.ports[i] = &dptest.MemPort{PortName: fmt.Sprint("p", i), Keep: true}
		if no, _ := dp.AddPort(r.ports[i]); no != uint32(i) {
			t.Fatalf("port %d got datapath number %d", i, no)
		}
	}
	r.install(nil)
	return r
}

// install publishes rules as bridge br0's tables and revalidates, as
// Switch.rebuild does.
func (r *diffRig) install(rules []*rule) {
	xb := &xbridge{name: "br0", macs: newMACTable(r.dp), ports: map[int]*xport{}, changed: r.dp.Invalidate, tstats: new([256]tableStats)}
	xs := &xsnap{bridges: map[string]*xbridge{"br0": xb}, byDP: make([]*xport, diffPorts+1)}
	for i := 1; i <= diffPorts; i++ {
		xp := &xport{name: fmt.Sprint("p", i), ofport: i, dp: uint32(i), br: xb, vlan: compileVLAN(nil, nil, "")}
		xb.ports[i] = xp
		xb.flood = append(xb.flood, xp)
		xs.byDP[i] = xp
	}
	for _, rl := range rules {
		tb := int(rl.flow.Table)
		for len(xb.tables) <= tb {
			xb.tables = append(xb.tables, nil)
		}
		xb.tables[tb] = append(xb.tables[tb], rl)
	}
	for _, tbl := range xb.tables {
		sort.SliceStable(tbl, func(i, j int) bool { return tbl[i].flow.Priority > tbl[j].flow.Priority })
	}
	r.xb = xb
	r.sw.xs.Store(xs)
	r.dp.Revalidate()
}

// randRule makes a rule over fields the frame builder can express.
func randRule(rnd *rand.Rand, tables int) *rule {
	f := &openflow.Flow{Table: uint8(rnd.IntN(tables)), Priority: uint16(rnd.IntN(8) * 100)}
	k, m := &f.Match.Key, &f.Match.Mask
	if rnd.IntN(2) == 0 {
		k.InPort, m.InPort = uint32(1+rnd.IntN(diffPorts)), ^uint32(0)
	}
	if rnd.IntN(3) == 0 {
		k.DlDst, m.DlDst = diffMACs[rnd.IntN(len(diffMACs))], [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	switch rnd.IntN(4) {
	case 0:
		k.VlanTCI, m.VlanTCI = flowtable.TCIPresent|uint16(10+10*rnd.IntN(2)), 0x1fff
	case 1:
		k.VlanTCI, m.VlanTCI = 0, 0xffff
	}
	switch rnd.IntN(3) {
	case 0:
		k.DlType, m.DlType = flowtable.EthTypeIPv4, 0xffff
		if rnd.IntN(2) == 0 {
			bits := []int{8, 16, 24, 32}[rnd.IntN(4)]
			ip := diffIPs[rnd.IntN(len(diffIPs))]
			var mask [4]byte
			binary.BigEndian.PutUint32(mask[:], ^uint32(0)<<(32-bits))
			for i := 0; i < 4; i++ {
				k.NwDst[i], m.NwDst[i] = ip[i]&mask[i], mask[i]
			}
		}
		if rnd.IntN(2) == 0 {
			k.NwProto, m.NwProto = []uint8{6, 17}[rnd.IntN(2)], 0xff
			if rnd.IntN(2) == 0 {
				k.TpDst, m.TpDst = []uint16{80, 443, 53}[rnd.IntN(3)], 0xffff
				if rnd.IntN(3) == 0 {
					m.TpDst = 0xff00
					k.TpDst &= m.TpDst
				}
			}
		}
	case 1:
		k.DlType, m.DlType = flowtable.EthTypeARP, 0xffff
	}
	n := rnd.IntN(4)
	for i := 0; i < n; i++ {
		var a openflow.Action
		switch rnd.IntN(6) {
		case 0, 1:
			a = openflow.Action{Type: openflow.ActOutput, Port: uint32(1 + rnd.IntN(diffPorts))}
		case 2:
			a = openflow.Action{Type: openflow.ActResubmit, Port: openflow.PortInPort, Table: uint8(rnd.IntN(tables))}
		case 3:
			a = openflow.Action{Type: openflow.ActModVlanVid, Value: uint64(10 + 10*rnd.IntN(3))}
		case 4:
			a = openflow.Action{Type: openflow.ActStripVlan}
		case 5:
			if int(f.Table)+1 < tables {
				a = openflow.Action{Type: openflow.ActGotoTable, Table: uint8(int(f.Table) + 1 + rnd.IntN(tables-int(f.Table)-1))}
				f.Actions = append(f.Actions, a)
				i = n // goto_table is last
				continue
			}
			a = openflow.Action{Type: openflow.ActOutput, Port: uint32(1 + rnd.IntN(diffPorts))}
		}
		f.Actions = append(f.Actions, a)
	}
	return &rule{flow: f}
}

// evalOut is one expected or seen output: port and outer TCI (0: untagged).
type evalOut struct {
	port int
	tci  uint16
}

// evaluate is the brute-force reference: it walks the tables exactly as the
// OpenFlow semantics say, with the same limits, and lists the outputs.
func evaluate(rules []*rule, key flowtable.Key) []evalOut {
	var outs []evalOut
	depth, resubmits, aborted := 0, 0, false
	ntables := 0
	for _, r := range rules {
		ntables = max(ntables, int(r.flow.Table)+1)
	}
	var table func(id int)
	table = func(id int) {
		if aborted || id >= ntables {
			return
		}
		if depth >= maxDepth {
			aborted = true
			return
		}
		var best *rule
		for _, r := range rules { // highest priority, first installed among equals
			if int(r.flow.Table) == id && r.flow.Match.Matches(&key) && (best == nil || r.flow.Priority > best.flow.Priority) {
				best = r
			}
		}
		if best == nil {
			return
		}
		for _, a := range best.flow.Actions {
			switch a.Type {
			case openflow.ActOutput:
				if int(a.Port) != int(key.InPort) {
					tci := key.VlanTCI
					if tci&flowtable.TCIPresent == 0 {
						tci = 0
					}
					outs = append(outs, evalOut{int(a.Port), tci &^ flowtable.TCIPresent})
				}
			case openflow.ActModVlanVid:
				key.VlanTCI = flowtable.TCIPresent | key.VlanTCI&0xe000 | uint16(a.Value)
			case openflow.ActStripVlan:
				key.VlanTCI = 0
			case openflow.ActResubmit, openflow.ActGotoTable:
				if resubmits++; resubmits > maxResubmits {
					aborted = true
					return
				}
				depth++
				table(int(a.Table))
				depth--
				if a.Type == openflow.ActGotoTable || aborted {
					return
				}
			}
		}
	}
	table(0)
	if aborted {
		return nil
	}
	return outs
}

// buildFrame makes a frame whose extracted key has k's fields.
func buildFrame(k *flowtable.Key) []byte {
	f := make([]byte, 0, 128)
	f = append(f, k.DlDst[:]...)
	f = append(f, k.DlSrc[:]...)
	if k.VlanTCI&flowtable.TCIPresent != 0 {
		f = binary.BigEndian.AppendUint16(f, flowtable.EthTypeVLAN)
		f = binary.BigEndian.AppendUint16(f, k.VlanTCI&^flowtable.TCIPresent)
	}
	f = binary.BigEndian.AppendUint16(f, k.DlType)
	switch k.DlType {
	case flowtable.EthTypeIPv4:
		l4 := 8
		if k.NwProto == 6 {
			l4 = 20
		}
		ip := make([]byte, 20+l4)
		ip[0], ip[8], ip[9] = 0x45, 64, k.NwProto
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		copy(ip[12:16], k.NwSrc[:4])
		copy(ip[16:20], k.NwDst[:4])
		binary.BigEndian.PutUint16(ip[20:], k.TpSrc)
		binary.BigEndian.PutUint16(ip[22:], k.TpDst)
		if k.NwProto == 6 {
			ip[32] = 5 << 4
		} else {
			binary.BigEndian.PutUint16(ip[24:], 8)
		}
		f = append(f, ip...)
	case flowtable.EthTypeARP:
		arp := make([]byte, 28)
		binary.BigEndian.PutUint16(arp[0:], 1)
		binary.BigEndian.PutUint16(arp[2:], 0x0800)
		arp[4], arp[5], arp[7] = 6, 4, 1
		copy(arp[8:], k.DlSrc[:])
		copy(arp[14:], k.NwSrc[:4])
		copy(arp[24:], k.NwDst[:4])
		f = append(f, arp...)
	default:
		f = append(f, make([]byte, 46)...)
	}
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

func randPacketKey(rnd *rand.Rand) flowtable.Key {
	k := flowtable.Key{InPort: uint32(1 + rnd.IntN(diffPorts)), DlSrc: diffMACs[rnd.IntN(3)], DlDst: diffMACs[rnd.IntN(len(diffMACs))]}
	if rnd.IntN(2) == 0 {
		k.VlanTCI = flowtable.TCIPresent | uint16(10+10*rnd.IntN(3)) | uint16(rnd.IntN(8))<<13
	}
	switch rnd.IntN(4) {
	case 0, 1:
		k.DlType = flowtable.EthTypeIPv4
		k.NwSrc = [16]byte{10, 0, 0, byte(rnd.IntN(4))}
		ip := diffIPs[rnd.IntN(len(diffIPs))]
		copy(k.NwDst[:], ip[:])
		k.NwDst[3] ^= byte(rnd.IntN(2))
		k.NwProto = []uint8{6, 17, 47}[rnd.IntN(3)]
		if k.NwProto != 47 {
			k.TpSrc = uint16(rnd.IntN(65536))
			k.TpDst = []uint16{80, 443, 53, 0x50ff, 8080}[rnd.IntN(5)]
		}
	case 2:
		k.DlType = flowtable.EthTypeARP
		k.NwSrc = [16]byte{10, 0, 0, 1}
		k.NwDst = [16]byte{10, 0, 0, byte(rnd.IntN(4))}
	default:
		k.DlType = 0x88b5
	}
	return k
}

// seen drains every port and returns what came out.
func (r *diffRig) seen(t testing.TB) []evalOut {
	var outs []evalOut
	for i := 1; i <= diffPorts; i++ {
		for _, f := range r.ports[i].Sent() {
			var k flowtable.Key
			flowtable.Extract(f, 0, &k)
			tci := uint16(0)
			if k.VlanTCI&flowtable.TCIPresent != 0 {
				tci = k.VlanTCI &^ flowtable.TCIPresent
			}
			outs = append(outs, evalOut{i, tci})
		}
	}
	return outs
}

func sortOuts(o []evalOut) []evalOut {
	slices.SortFunc(o, func(a, b evalOut) int {
		if a.port != b.port {
			return a.port - b.port
		}
		return int(a.tci) - int(b.tci)
	})
	return o
}

// check sends one frame in port key.InPort and compares the outputs.
func (r *diffRig) check(t *testing.T, rules []*rule, key flowtable.Key, what string) {
	t.Helper()
	frame := buildFrame(&key)
	var ext flowtable.Key
	flowtable.Extract(frame, key.InPort, &ext)
	r.ports[key.InPort].Send(frame)
	r.dp.Poll()
	got := sortOuts(r.seen(t))
	want := sortOuts(evaluate(rules, ext))
	if !slices.Equal(got, want) {
		for _, rl := range rules {
			t.Logf("rule %s", rl.flow.String())
		}
		t.Fatalf("%s: key %+v: datapath output %v, evaluator %v", what, ext, got, want)
	}
}

func TestDifferentialRandomPipelines(t *testing.T) {
	sets := 3000
	if testing.Short() {
		sets = 100
	}
	rnd := rand.New(rand.NewPCG(7, 11))
	r := newDiffRig(t, 2) // EMC inserts half the time: both paths are exercised
	for set := 0; set < sets; set++ {
		tables := 1 + rnd.IntN(3)
		var rules []*rule
		for i, n := 0, 1+rnd.IntN(12); i < n; i++ {
			rules = append(rules, randRule(rnd, tables))
		}
		r.dp.FlushMegaflows() // megaflows of earlier sets are revalidated in the "after change" part
		r.install(rules)
		for i := 0; i < 24; i++ {
			r.check(t, rules, randPacketKey(rnd), fmt.Sprintf("set %d random packet %d", set, i))
		}
		// Packets inside each installed megaflow, with random values in
		// the bits it wildcards.
		for _, mf := range r.dp.Megaflows() {
			for j := 0; j < 3; j++ {
				k := randPacketKey(rnd)
				kw, mw, fw := k.Words(), mf.Mask.Words(), mf.Key.Words()
				for w := range kw {
					kw[w] = kw[w]&^mw[w] | fw[w]&mw[w]
				}
				var ext flowtable.Key
				flowtable.Extract(buildFrame(&k), k.InPort, &ext)
				if !(&openflow.Match{Key: mf.Key, Mask: mf.Mask}).Matches(&ext) {
					continue // the mix is not a well-formed packet of that megaflow
				}
				r.check(t, rules, k, fmt.Sprintf("set %d megaflow packet", set))
			}
		}
		// A rule change: every later packet must follow the new tables.
		if len(rules) > 1 {
			rules = rules[1:]
			r.install(rules)
			for i := 0; i < 8; i++ {
				r.check(t, rules, randPacketKey(rnd), fmt.Sprintf("set %d after change", set))
			}
		}
	}
}

// TestRevalidationConcurrent changes rules while a PMD goroutine forwards
// background traffic; after each change returns, a probe packet must be
// forwarded by the new rules, never by a stale megaflow.
func TestRevalidationConcurrent(t *testing.T) {
	r := newDiffRig(t, 1)
	probe := flowtable.Key{InPort: 1, DlSrc: diffMACs[0], DlDst: diffMACs[1], DlType: flowtable.EthTypeIPv4,
		NwProto: 17, TpSrc: 1000, TpDst: 53}
	copy(probe.NwDst[:], []byte{10, 0, 0, 2})
	bg := probe
	bg.TpSrc = 2000
	r.ports[1].Templates = [][]byte{buildFrame(&bg)}
	outTo := func(port uint32) []*rule {
		f, err := openflow.ParseFlow(fmt.Sprintf("priority=10,in_port=1,udp,actions=output:%d", port), nil)
		if err != nil {
			t.Fatal(err)
		}
		return []*rule{{flow: f}}
	}
	r.install(outTo(2))
	r.dp.Start()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // background traffic keeps the megaflow hot and in the EMC
		defer wg.Done()
		for !stop.Load() {
			r.ports[1].Send(buildFrame(&bg))
			time.Sleep(20 * time.Microsecond)
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	probeFrame := buildFrame(&probe)
	isProbe := func(f []byte) bool { return binary.BigEndian.Uint16(f[34:]) == 1000 }
	for i := 0; i < 300; i++ {
		port := uint32(2 + i%3)
		r.install(outTo(port)) // returns after every PMD saw the change
		r.ports[1].Send(probeFrame)
		deadline := time.Now().Add(2 * time.Second)
		found := 0
		for found == 0 && time.Now().Before(deadline) {
			for p := 2; p <= diffPorts; p++ {
				for _, f := range r.ports[p].Sent() {
					if isProbe(f) {
						if uint32(p) != port {
							t.Fatalf("change %d: probe left on port %d, the rules say %d (stale megaflow)", i, p, port)
						}
						found++
					}
				}
			}
			time.Sleep(50 * time.Microsecond)
		}
		if found != 1 {
			t.Fatalf("change %d: probe seen %d times", i, found)
		}
	}
	if st := r.dp.PMDStats()[0]; st.Revalidations == 0 || st.EMCHits == 0 {
		t.Fatalf("expected EMC hits and revalidations under change: %+v", st)
	}
}

// TestMACMoveConcurrent moves a MAC between ports while a PMD goroutine
// forwards traffic to it through megaflows: once the move has been learned,
// the next packet to the MAC leaves on the new port only.
func TestMACMoveConcurrent(t *testing.T) {
	r := newDiffRig(t, 1)
	f, err := openflow.ParseFlow("priority=0,actions=NORMAL", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.install([]*rule{{flow: f}})
	a, b := diffMACs[0], diffMACs[1]
	toB := flowtable.Key{InPort: 1, DlSrc: a, DlDst: b, DlType: flowtable.EthTypeIPv4, NwProto: 17, TpSrc: 7, TpDst: 9}
	r.ports[1].Send(buildFrame(&toB)) // learn A on port 1
	isProbe := func(f []byte, i int) bool { return binary.BigEndian.Uint16(f[34:]) == uint16(1000+i) }
	r.dp.Start()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	bg := toB
	bg.TpSrc = 8
	go func() { // keep A->B megaflows hot
		defer wg.Done()
		for !stop.Load() {
			r.ports[1].Send(buildFrame(&bg))
			time.Sleep(20 * time.Microsecond)
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	for i := 0; i < 200; i++ {
		port := 2 + i%3
		// B speaks from its new port; wait until the bridge learned it.
		fromB := flowtable.Key{InPort: uint32(port), DlSrc: b, DlDst: a, DlType: flowtable.EthTypeIPv4, NwProto: 17, TpSrc: 9, TpDst: 7}
		r.ports[port].Send(buildFrame(&fromB))
		deadline := time.Now().Add(2 * time.Second)
		for r.xb.macs.lookup(0, b, time.Now()) != port {
			if time.Now().After(deadline) {
				t.Fatalf("move %d: B not learned on port %d", i, port)
			}
			time.Sleep(20 * time.Microsecond)
		}
		for p := 2; p <= diffPorts; p++ {
			r.ports[p].Sent()
		}
		probeKey := toB
		probeKey.TpSrc = uint16(1000 + i)
		r.ports[1].Send(buildFrame(&probeKey))
		deadline = time.Now().Add(2 * time.Second)
		found := false
		for !found && time.Now().Before(deadline) {
			for p := 2; p <= diffPorts; p++ {
				for _, fr := range r.ports[p].Sent() {
					if !isProbe(fr, i) {
						continue // background
					}
					if p != port {
						t.Fatalf("move %d: packet to B left on port %d, B is on %d (stale megaflow)", i, p, port)
					}
					found = true
				}
			}
			time.Sleep(50 * time.Microsecond)
		}
		if !found {
			t.Fatalf("move %d: probe not forwarded", i)
		}
	}
}

// BenchmarkFlowSetupNormal measures flow setups through the real
// translation: every packet is a new megaflow (a rule on tp_src makes
// every tried packet's tp_src part of its megaflow), then NORMAL.
func BenchmarkFlowSetupNormal(b *testing.B) {
	r := newDiffRig(b, 100)
	normal, _ := openflow.ParseFlow("priority=0,actions=NORMAL", nil)
	pin, _ := openflow.ParseFlow("priority=10,udp,tp_src=1,actions=drop", nil)
	r.install([]*rule{{flow: normal}, {flow: pin}})
	k := flowtable.Key{InPort: 1, DlSrc: diffMACs[0], DlDst: diffMACs[1], DlType: flowtable.EthTypeIPv4, NwProto: 17, TpDst: 9}
	back := flowtable.Key{InPort: 2, DlSrc: diffMACs[1], DlDst: diffMACs[0], DlType: flowtable.EthTypeIPv4, NwProto: 17, TpSrc: 9}
	r.ports[2].Send(buildFrame(&back))
	r.dp.Poll()
	frames := make([][]byte, 1<<16)
	for i := range frames {
		k.TpSrc = uint16(i)
		frames[i] = buildFrame(&k)
	}
	r.ports[1].Templates = frames[2:]
	r.ports[1].Burst = datapath.BatchSize
	r.ports[2].Keep = false
	b.ResetTimer()
	before := r.dp.PMDStats()[0].Upcalls
	for i := 0; i < b.N; i++ {
		if i%(60000/datapath.BatchSize) == 0 && i > 0 {
			b.StopTimer()
			r.dp.FlushMegaflows()
			b.StartTimer()
		}
		r.dp.Poll()
	}
	b.StopTimer()
	setups := r.dp.PMDStats()[0].Upcalls - before
	b.ReportMetric(float64(setups)/b.Elapsed().Seconds(), "setups/s")
	if setups < uint64(b.N)*datapath.BatchSize*9/10 {
		b.Fatalf("%d setups for %d packets", setups, b.N*datapath.BatchSize)
	}
}

func parseTestFlow(s string) (*openflow.Flow, error) { return openflow.ParseFlow(s, nil) }

// randRichRule draws rules using the whole action set on fields the frame
// builder expresses, and registers/metadata carried between tables.
func randRichRule(rnd *rand.Rand, tables int) *rule {
	r := randRule(rnd, tables)
	f := r.flow
	if rnd.IntN(3) == 0 {
		f.Match.Meta.Regs[0], f.Match.MetaMask.Regs[0] = uint32(rnd.IntN(3)), 0xffffffff
	}
	isIP4 := f.Match.Mask.DlType != 0 && f.Match.Key.DlType == flowtable.EthTypeIPv4
	l4 := isIP4 && f.Match.Mask.NwProto != 0
	var extra []openflow.Action
	for i, n := 0, rnd.IntN(4); i < n; i++ {
		switch rnd.IntN(7) {
		case 0:
			extra = append(extra, openflow.Action{Type: openflow.ActLoad, Field: openflow.FieldReg0, NBits: 32, Value: uint64(rnd.IntN(3))})
		case 1:
			extra = append(extra, openflow.Action{Type: openflow.ActModNwDst, Value: uint64(0x0a000000 + rnd.IntN(4))})
		case 2:
			extra = append(extra, openflow.Action{Type: openflow.ActDecTTL})
		case 3:
			extra = append(extra, openflow.Action{Type: openflow.ActModTpDst, Value: uint64(1000 + rnd.IntN(3))})
		case 4:
			if l4 {
				extra = append(extra, openflow.Action{Type: openflow.ActSetField, Field: openflow.FieldTpSrc, Value: 7, Mask: 0xff})
			}
		case 5:
			if isIP4 {
				extra = append(extra, openflow.Action{Type: openflow.ActSetField, Field: openflow.FieldIPSrc, Value: 0x01020304, Mask: 0xffffffff})
			}
		case 6:
			extra = append(extra, openflow.Action{Type: openflow.ActMove, SrcField: openflow.FieldReg0, Field: openflow.FieldReg1, NBits: 32})
		}
	}
	// Keep goto_table last.
	if n := len(f.Actions); n > 0 && f.Actions[n-1].Type == openflow.ActGotoTable {
		f.Actions = append(append(f.Actions[:n-1:n-1], extra...), f.Actions[n-1])
	} else {
		f.Actions = append(extra, f.Actions...)
	}
	return r
}

// TestDifferentialCacheVsTranslation: with the whole action set, every
// packet forwarded by the datapath (EMC, megaflows, revalidation) leaves
// exactly as an uncached translation of that packet alone says.
func TestDifferentialCacheVsTranslation(t *testing.T) {
	sets := 1500
	if testing.Short() {
		sets = 100
	}
	rnd := rand.New(rand.NewPCG(3, 5))
	r := newDiffRig(t, 2)
	for set := 0; set < sets; set++ {
		tables := 1 + rnd.IntN(3)
		var rules []*rule
		for i, n := 0, 1+rnd.IntN(10); i < n; i++ {
			rules = append(rules, randRichRule(rnd, tables))
		}
		r.dp.FlushMegaflows()
		r.install(rules)
		keys := make([]flowtable.Key, 0, 40)
		for i := 0; i < 24; i++ {
			k := randPacketKey(rnd)
			k.NwTTL = uint8(1 + rnd.IntN(3))
			keys = append(keys, k)
		}
		for _, k := range keys {
			r.compare(t, k, rules, set)
		}
		for _, mf := range r.dp.Megaflows() {
			k := randPacketKey(rnd)
			kw, mw, fw := k.Words(), mf.Mask.Words(), mf.Key.Words()
			for w := range kw {
				kw[w] = kw[w]&^mw[w] | fw[w]&mw[w]
			}
			var ext flowtable.Key
			flowtable.Extract(buildFrame(&k), k.InPort, &ext)
			if (&openflow.Match{Key: mf.Key, Mask: mf.Mask}).Matches(&ext) {
				r.compare(t, k, rules, set)
			}
		}
	}
}

func (r *diffRig) compare(t *testing.T, k flowtable.Key, rules []*rule, set int) {
	t.Helper()
	frame := buildFrame(&k)
	if k.DlType == flowtable.EthTypeIPv4 {
		off := 14
		if k.VlanTCI&flowtable.TCIPresent != 0 {
			off = 18
		}
		frame[off+8] = k.NwTTL
	}
	var ext flowtable.Key
	flowtable.Extract(frame, k.InPort, &ext)
	snap := r.sw.xs.Load()
	var wc flowtable.Key
	acts, _ := translate(snap, snap.byDP[k.InPort], &ext, &wc, nil, nil, nil)
	var want []string
	for _, o := range datapath.Simulate(frame, acts) {
		want = append(want, fmt.Sprintf("%d:%x", o.Port, o.Frame))
	}
	r.ports[k.InPort].Send(frame)
	r.dp.Poll()
	var got []string
	for p := 1; p <= diffPorts; p++ {
		for _, f := range r.ports[p].Sent() {
			got = append(got, fmt.Sprintf("%d:%x", p, f))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		for _, rl := range rules {
			t.Logf("rule %s", rl.flow.String())
		}
		t.Fatalf("set %d: key %+v\ndatapath: %v\nuncached: %v", set, ext, got, want)
	}
}
