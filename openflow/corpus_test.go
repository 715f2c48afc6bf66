package openflow

import (
	"bufio"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"vswitch/flowtable"
)

// corpusFlows returns the flows of testdata/flows.txt, one per line,
// without comments and blank lines.
func corpusFlows(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open("testdata/flows.txt")
	if err != nil {
		tb.Fatalf("corpus: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("corpus: %v", err)
	}
	return out
}

// Every corpus flow parses, prints, re-parses to an equal flow, and its
// printed form is a fixed point: print(parse(print(x))) == print(x), in
// the plain form and in the named-port dump-flows form.
func TestCorpus(t *testing.T) {
	lines := corpusFlows(t)
	for _, s := range lines {
		f, err := ParseFlow(s, testPorts)
		if err != nil {
			t.Errorf("ParseFlow(%q): %v", s, err)
			continue
		}
		p1 := f.String()
		g, err := ParseFlow(p1, nil)
		if err != nil {
			t.Errorf("%q: printed %q does not parse: %v", s, p1, err)
			continue
		}
		if !g.Equal(f) {
			t.Errorf("%q: printed %q parses to a different flow\n got  %+v\n want %+v", s, p1, g.Actions, f.Actions)
		}
		if p2 := g.String(); p2 != p1 {
			t.Errorf("%q: printing is not stable:\n %s\n %s", s, p1, p2)
		}
		d1 := dumpForm(f, testPorts)
		h, err := ParseFlow(d1, testPorts)
		if err != nil {
			t.Errorf("%q: dump form %q does not parse: %v", s, d1, err)
			continue
		}
		if !h.Equal(f) {
			t.Errorf("%q: dump form %q parses to a different flow", s, d1)
		}
		if d2 := dumpForm(h, testPorts); d2 != d1 {
			t.Errorf("%q: dump form is not stable:\n %s\n %s", s, d1, d2)
		}
		flt, err := ParseFilter(f.MatchString(nil), nil)
		if err != nil || !flt.Match.Equal(f.Match) {
			t.Errorf("%q: ParseFilter(%q) = %+v, %v", s, f.MatchString(nil), flt.Match, err)
		}
		if testing.Verbose() {
			t.Logf("%s\n    -> %s", s, p1)
		}
	}
	t.Logf("%d corpus flows round-trip", len(lines))
}

// The corpus really does use every action type, every match field name
// the parser knows, and every field of the registry as a set_field, load
// or move operand (every writable one as a set_field destination).
func TestCorpusCoverage(t *testing.T) {
	actTypes := map[ActionType]bool{}
	setFields := map[Field]bool{}
	touched := map[Field]bool{}
	matchNames := map[string]bool{}
	flowAttrs := map[string]bool{}
	for _, s := range corpusFlows(t) {
		f, err := ParseFlow(s, testPorts)
		if err != nil {
			t.Fatalf("ParseFlow(%q): %v", s, err)
		}
		for _, a := range f.Actions {
			actTypes[a.Type] = true
			switch a.Type {
			case ActSetField:
				setFields[a.Field] = true
				touched[a.Field] = true
			case ActLoad:
				touched[a.Field] = true
			case ActMove:
				touched[a.Field], touched[a.SrcField] = true, true
			}
		}
		matchPart, _, _ := strings.Cut(s, "actions=")
		for tok := range strings.SplitSeq(matchPart, ",") {
			k, _, _ := strings.Cut(tok, "=")
			matchNames[k] = true
			flowAttrs[k] = true
		}
	}
	for at := ActOutput; int(at) < len(actionTypeNames); at++ {
		if at != ActDrop && !actTypes[at] {
			t.Errorf("no corpus flow uses action %s", at)
		}
	}
	for name := range fields {
		if !matchNames[name] {
			t.Errorf("no corpus flow matches on %s", name)
		}
	}
	for _, f := range Fields() {
		if f.Writable() && !setFields[f] {
			t.Errorf("no corpus flow has set_field to %s", f)
		}
		if !touched[f] {
			t.Errorf("no corpus flow reads or writes %s with set_field, load or move", f)
		}
	}
	for _, a := range []string{"cookie", "table", "priority", "idle_timeout", "hard_timeout", "importance", "send_flow_rem"} {
		if !flowAttrs[a] {
			t.Errorf("no corpus flow sets %s", a)
		}
	}
}

// overlap groups fields stored in the same key bits: writing one changes
// the others, so the independence check skips those pairs.
func overlap(f Field) int {
	switch f {
	case FieldIPSrc, FieldARPSPA, FieldIPv6Src:
		return 1
	case FieldIPDst, FieldARPTPA, FieldIPv6Dst:
		return 2
	case FieldARPSHA, FieldNDSLL:
		return 3
	case FieldARPTHA, FieldNDTLL:
		return 4
	case FieldTpSrc, FieldTCPSrc, FieldUDPSrc, FieldSCTPSrc, FieldICMPType, FieldICMPv6Type:
		return 5
	case FieldTpDst, FieldTCPDst, FieldUDPDst, FieldSCTPDst, FieldICMPCode, FieldICMPv6Code:
		return 6
	case FieldIPProto, FieldARPOp:
		return 7
	case FieldVlanTCI, FieldVlanVID, FieldVlanPCP:
		return 8
	case FieldNwTos, FieldIPDSCP:
		return 9
	}
	return 100 + int(f)
}

// randValue returns a random value that fits the field and what the key
// can store of it (the key keeps one byte of the ARP opcode).
func randValue(r *rand.Rand, f Field) (hi, lo uint64) {
	mh, ml := f.Mask()
	hi, lo = r.Uint64()&mh, r.Uint64()&ml
	switch f {
	case FieldARPOp:
		lo &= 0xff
	case FieldNwTos:
		lo &= 0xfc
	}
	return hi, lo
}

// Every field reads back what was written, and writing it leaves every
// field stored elsewhere unchanged.
func TestFieldReadWrite(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, f := range Fields() {
		if f.Bits() <= 0 || f.Bits() > 128 || f.String() == "" {
			t.Errorf("field %d: bits %d name %q", f, f.Bits(), f.String())
		}
		if g, ok := FieldByName(f.String()); !ok || g != f {
			t.Errorf("FieldByName(%q) = %v, %v", f.String(), g, ok)
		}
		if g, ok := FieldByName(f.NXMName()); !ok || g != f {
			t.Errorf("FieldByName(%q) = %v, %v", f.NXMName(), g, ok)
		}
		for range 50 {
			var k flowtable.Key
			var m Meta
			// Fill everything with noise first.
			for _, g := range Fields() {
				h, l := randValue(r, g)
				g.Write(&k, &m, h, l)
			}
			before := map[Field][2]uint64{}
			for _, g := range Fields() {
				h, l := g.Read(&k, &m)
				before[g] = [2]uint64{h, l}
			}
			vh, vl := randValue(r, f)
			f.Write(&k, &m, vh, vl)
			if h, l := f.Read(&k, &m); h != vh || l != vl {
				t.Fatalf("%s: wrote %#x:%#x, read %#x:%#x", f, vh, vl, h, l)
			}
			for _, g := range Fields() {
				if overlap(g) == overlap(f) {
					continue
				}
				if h, l := g.Read(&k, &m); [2]uint64{h, l} != before[g] {
					t.Fatalf("writing %s changed %s from %#x to %#x:%#x", f, g, before[g], h, l)
				}
			}
			// Values wider than the field are truncated.
			f.Write(&k, &m, ^uint64(0), ^uint64(0))
			mh, ml := f.Mask()
			if h, l := f.Read(&k, &m); h&^mh != 0 || l&^ml != 0 {
				t.Fatalf("%s: all-ones write read back %#x:%#x beyond %d bits", f, h, l, f.Bits())
			}
		}
	}
	// Spot checks of the network-order convention.
	var k flowtable.Key
	var m Meta
	FieldEthSrc.Write(&k, &m, 0, 1)
	if k.DlSrc != [6]byte{0, 0, 0, 0, 0, 1} {
		t.Errorf("eth_src 1 stored as %x", k.DlSrc)
	}
	FieldIPv6Dst.Write(&k, &m, 0x20010db8<<32, 1)
	if k.NwDst[0] != 0x20 || k.NwDst[3] != 0xb8 || k.NwDst[15] != 1 {
		t.Errorf("ipv6_dst stored as %x", k.NwDst)
	}
	FieldVlanVID.Write(&k, &m, 0, 10)
	if k.VlanTCI != 10|flowtable.TCIPresent {
		t.Errorf("vlan_vid 10 stored as TCI %#x", k.VlanTCI)
	}
	FieldIPDSCP.Write(&k, &m, 0, 46)
	FieldIPECN.Write(&k, &m, 0, 1)
	if k.NwTos != 46<<2|1 {
		t.Errorf("ip_dscp 46 + ip_ecn 1 stored as ToS %#x", k.NwTos)
	}
	FieldReg3.Write(&k, &m, 0, 0x1234)
	if m.Regs[3] != 0x1234 {
		t.Errorf("reg3 = %#x", m.Regs[3])
	}
}

// The field-writing actions do to a key what their text says.
func TestApplyToKey(t *testing.T) {
	f := mustParse(t, "tcp,actions=load:0xab->NXM_NX_REG0[8..15],move:NXM_OF_ETH_SRC[0..15]->NXM_NX_REG1[16..31],"+
		"set_field:0x5/0xf->reg2,write_metadata:0x30/0xf0,set_tunnel:0x7,set_field:10.0.0.0/255.0.0.0->ip_dst,"+
		"move:NXM_NX_REG0[0..15]->NXM_OF_TCP_DST[],mod_nw_src:1.2.3.4,mod_tp_src:99,mod_dl_dst:02:00:00:00:00:09,"+
		"mod_nw_tos:32,mod_nw_ecn:2,mod_nw_ttl:7,output:1", nil)
	k := pktKey()
	k.DlSrc = [6]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}
	m := Meta{Regs: [16]uint32{0: 0xffff00ff, 2: 0xfffffff0}, Metadata: 0x1ff}
	n := 0
	for i := range f.Actions {
		if f.Actions[i].ApplyToKey(&k, &m) {
			n++
		}
	}
	if n != len(f.Actions)-1 {
		t.Errorf("%d of %d actions applied", n, len(f.Actions))
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"reg0", uint64(m.Regs[0]), 0xffffabff},
		{"reg1", uint64(m.Regs[1]), 0x44550000},
		{"reg2", uint64(m.Regs[2]), 0xfffffff5},
		{"metadata", m.Metadata, 0x13f},
		{"tun_id", k.TunID, 7},
		{"ip_dst", uint64(k.IPv4Dst()), 0x0a000107},
		{"tcp_dst", uint64(k.TpDst), 0xabff},
		{"ip_src", uint64(k.IPv4Src()), 0x01020304},
		{"tcp_src", uint64(k.TpSrc), 99},
		{"eth_dst", mac64(k.DlDst), 0x020000000009},
		{"nw_tos", uint64(k.NwTos), 32 | 2},
		{"nw_ttl", uint64(k.NwTTL), 7},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}

	// 128-bit values.
	f = mustParse(t, "icmp6,icmp_type=135,actions=load:0x20010db8000000000000000000000001->NXM_NX_ND_TARGET[],"+
		"set_field:2001:db8::/32->ipv6_src,move:NXM_NX_ND_TARGET[0..31]->NXM_NX_IPV6_DST[96..127]", nil)
	k = flowtable.Key{}
	for _, s := range []string{"ffff::ffff", "::"} {
		k.NwSrc = [16]byte(netip.MustParseAddr(s).As16())
		for i := range f.Actions {
			f.Actions[i].ApplyToKey(&k, &m)
		}
	}
	if got := netip.AddrFrom16(k.NDTarget).String(); got != "2001:db8::1" {
		t.Errorf("nd_target = %s", got)
	}
	if got := netip.AddrFrom16(k.NwSrc).String(); got != "2001:db8::" {
		t.Errorf("ipv6_src = %s", got)
	}
	if got := netip.AddrFrom16(k.NwDst).String(); got != "0:1::" {
		t.Errorf("ipv6_dst = %s", got)
	}
}

func TestSubfieldsAndNames(t *testing.T) {
	cases := []struct {
		in       string
		f        Field
		ofs, n   int
		canonial string
	}{
		{"NXM_NX_REG0[]", FieldReg0, 0, 32, "NXM_NX_REG0[]"},
		{"NXM_NX_REG0[0..15]", FieldReg0, 0, 16, "NXM_NX_REG0[0..15]"},
		{"reg15[31]", FieldReg15, 31, 1, "NXM_NX_REG15[31]"},
		{"NXM_OF_ETH_SRC[]", FieldEthSrc, 0, 48, "NXM_OF_ETH_SRC[]"},
		{"dl_src[8..47]", FieldEthSrc, 8, 40, "NXM_OF_ETH_SRC[8..47]"},
		{"NXM_OF_IP_SRC[]", FieldIPSrc, 0, 32, "NXM_OF_IP_SRC[]"},
		{"metadata", FieldMetadata, 0, 64, "OXM_OF_METADATA[]"},
		{"tun_id[0..31]", FieldTunID, 0, 32, "NXM_NX_TUN_ID[0..31]"},
		{"tp_dst[]", FieldTpDst, 0, 16, "tp_dst[]"},
		{"NXM_NX_IPV6_SRC[64..127]", FieldIPv6Src, 64, 64, "NXM_NX_IPV6_SRC[64..127]"},
	}
	for _, c := range cases {
		f, ofs, n, err := parseSubfield(c.in)
		if err != nil || f != c.f || ofs != c.ofs || n != c.n {
			t.Errorf("parseSubfield(%q) = %v %d %d %v", c.in, f, ofs, n, err)
			continue
		}
		if got := string(appendSubfield(nil, f, ofs, n)); got != c.canonial {
			t.Errorf("%q prints as %q, want %q", c.in, got, c.canonial)
		}
	}
	for name, want := range map[string]Field{
		"eth_src": FieldEthSrc, "dl_src": FieldEthSrc, "ip_src": FieldIPSrc, "nw_src": FieldIPSrc,
		"ipv6_src": FieldIPv6Src, "tcp_dst": FieldTCPDst, "tp_dst": FieldTpDst, "vlan_vid": FieldVlanVID,
		"dl_vlan": FieldVlanVID, "vlan_pcp": FieldVlanPCP, "ip_dscp": FieldIPDSCP, "nw_tos": FieldNwTos,
		"nw_ttl": FieldNwTTL, "metadata": FieldMetadata, "reg0": FieldReg0, "reg15": FieldReg15,
		"tun_id": FieldTunID, "tunnel_id": FieldTunID, "tun_src": FieldTunSrc, "tun_dst": FieldTunDst,
		"in_port": FieldInPort, "eth_type": FieldEthType, "dl_type": FieldEthType,
		"NXM_OF_ETH_SRC": FieldEthSrc, "NXM_NX_REG0": FieldReg0, "NXM_OF_IP_SRC": FieldIPSrc,
		"OXM_OF_METADATA": FieldMetadata, "nd_target": FieldNDTarget, "ip_frag": FieldIPFrag,
	} {
		if f, ok := FieldByName(name); !ok || f != want {
			t.Errorf("FieldByName(%q) = %v, %v; want %v", name, f, ok, want)
		}
	}
	if _, ok := FieldByName("reg16"); ok {
		t.Error("reg16 exists")
	}
}

func TestMatchesMeta(t *testing.T) {
	k := pktKey()
	cases := []struct {
		flow string
		meta Meta
		want bool
	}{
		{"metadata=0x5,actions=NORMAL", Meta{Metadata: 5}, true},
		{"metadata=0x5,actions=NORMAL", Meta{Metadata: 6}, false},
		{"metadata=0x10/0xf0,actions=NORMAL", Meta{Metadata: 0x1f}, true},
		{"reg3=0x7,actions=NORMAL", Meta{Regs: [16]uint32{3: 7}}, true},
		{"reg3=0x7,actions=NORMAL", Meta{Regs: [16]uint32{2: 7}}, false},
		{"reg15=0x1/0x1,in_port=1,actions=NORMAL", Meta{Regs: [16]uint32{15: 0xff}}, true},
		{"reg15=0x1/0x1,in_port=2,actions=NORMAL", Meta{Regs: [16]uint32{15: 0xff}}, false},
		{"reg0=0,actions=NORMAL", Meta{}, true},
	}
	for _, c := range cases {
		f := mustParse(t, c.flow, nil)
		if got := f.Match.MatchesMeta(&k, &c.meta); got != c.want {
			t.Errorf("%q MatchesMeta(%+v) = %v", c.flow, c.meta, got)
		}
		// Matches takes the metadata as zero.
		var zero Meta
		if got, want := f.Match.Matches(&k), f.Match.MatchesMeta(&k, &zero); got != want {
			t.Errorf("%q: Matches = %v, MatchesMeta(zero) = %v", c.flow, got, want)
		}
	}
	// TCP flags, fragments and ND fields are matched in the key.
	k.TCPFlags = 0x012
	k.NwFrag = flowtable.FragAny
	for flow, want := range map[string]bool{
		"tcp,tcp_flags=+syn,actions=drop":     true,
		"tcp,tcp_flags=+syn-ack,actions=drop": false,
		"tcp,tcp_flags=syn|ack,actions=drop":  true,
		"tcp,tcp_flags=syn,actions=drop":      false,
		"ip,ip_frag=yes,actions=drop":         true,
		"ip,ip_frag=first,actions=drop":       true,
		"ip,ip_frag=later,actions=drop":       false,
		"ip,ip_frag=no,actions=drop":          false,
		"ip,ip_frag=not_later,actions=drop":   true,
		"tcp,metadata=0x1,actions=drop":       false,
		"tcp,metadata=0x0/0x1,actions=drop":   true,
		"tcp,reg0=0x1,reg1=0x0,actions=drop":  false,
		"tcp,reg1=0x0/0xffff,actions=drop":    true,
	} {
		f, err := ParseFlow(flow, nil)
		if err != nil {
			if !want {
				continue
			}
			t.Fatalf("ParseFlow(%q): %v", flow, err)
		}
		if got := f.Match.Matches(&k); got != want {
			t.Errorf("%q Matches = %v", flow, got)
		}
	}
	nd := flowtable.Key{DlType: 0x86dd, NwProto: 58, TpSrc: 135}
	nd.NDTarget[15] = 1
	nd.ArpSha = [6]byte{0, 1, 2, 3, 4, 5}
	for flow, want := range map[string]bool{
		"icmp6,icmp_type=135,nd_target=::1,actions=drop":               true,
		"icmp6,icmp_type=135,nd_target=::2,actions=drop":               false,
		"icmp6,icmp_type=135,nd_sll=00:01:02:03:04:05,actions=drop":    true,
		"icmp6,icmp_type=135,nd_sll=00:01:02:03:04:06,actions=drop":    false,
		"icmp6,icmp_type=136,nd_tll=00:00:00:00:00:00,actions=drop":    false,
		"icmp6,icmp_type=135,icmp_code=0,nd_target=::/64,actions=drop": true,
		"icmp6,icmp_type=135,ipv6_label=0x00000/0x00001,actions=drop":  true,
		"icmp6,icmp_type=135,nd_target=::1,metadata=0x1,actions=drop":  false,
		"icmp6,icmp_type=135,nd_target=::1,reg2=0x0/0x1,actions=drop":  true,
	} {
		f, err := ParseFlow(flow, nil)
		if err != nil {
			if !want {
				continue
			}
			t.Fatalf("ParseFlow(%q): %v", flow, err)
		}
		if got := f.Match.Matches(&nd); got != want {
			t.Errorf("%q Matches = %v", flow, got)
		}
	}
}

func TestMatchesMetaNoAlloc(t *testing.T) {
	f := mustParse(t, "tcp,in_port=1,metadata=0x5,reg3=0x7/0xff,nw_dst=10.0.1.0/24,tp_dst=80,actions=NORMAL", nil)
	k := pktKey()
	m := Meta{Metadata: 5, Regs: [16]uint32{3: 0x107}}
	n := testing.AllocsPerRun(1000, func() {
		if !f.Match.MatchesMeta(&k, &m) {
			t.Fatal("no match")
		}
	})
	if n != 0 {
		t.Fatalf("MatchesMeta allocates %v times", n)
	}
}

func BenchmarkMatchesMeta(b *testing.B) {
	f, _ := ParseFlow("tcp,in_port=1,metadata=0x5,reg3=0x7/0xff,nw_dst=10.0.1.0/24,tp_dst=80,actions=NORMAL", nil)
	k := pktKey()
	m := Meta{Metadata: 5, Regs: [16]uint32{3: 0x107}}
	b.ReportAllocs()
	for b.Loop() {
		if !f.Match.MatchesMeta(&k, &m) {
			b.Fatal("no match")
		}
	}
}

func TestParseFilter(t *testing.T) {
	flt, err := ParseFilter("table=1,cookie=0x10/0xf0,out_port=vm2,tcp,reg0=0x1", testPorts)
	if err != nil {
		t.Fatal(err)
	}
	if flt.Table != 1 || flt.Priority != -1 || flt.Cookie != 0x10 || flt.CookieMask != 0xf0 || flt.OutPort != 2 ||
		flt.Match.Meta.Regs[0] != 1 || flt.Match.Key.NwProto != 6 {
		t.Fatalf("got %+v", flt)
	}
	flt, err = ParseFilter("", nil)
	if err != nil || flt.OutPort != PortNone || flt.Table != -1 || !flt.Match.IsCatchAll() {
		t.Fatalf("empty filter: %+v %v", flt, err)
	}
	if flt, err := ParseFilter("out_port=ANY", nil); err != nil || flt.OutPort != PortNone {
		t.Fatalf("out_port=ANY: %+v %v", flt, err)
	}
	a := mustParse(t, "table=1,cookie=0x13,priority=5,tcp,reg0=0x1,tp_dst=80,actions=output:2", nil)
	b := mustParse(t, "table=1,cookie=0x13,tcp,reg0=0x1,actions=CONTROLLER:10", nil)
	c := mustParse(t, "table=1,cookie=0x23,tcp,reg0=0x1,actions=output:2", nil)
	for _, tc := range []struct {
		filter  string
		strict  bool
		a, b, c bool
	}{
		{"", false, true, true, true},
		{"out_port=2", false, true, false, true},
		{"out_port=CONTROLLER", false, false, true, false},
		{"cookie=0x13/0xff", false, true, true, false},
		{"table=1,tcp,reg0=0x1", false, true, true, true},
		{"tcp,reg0=0x1", true, false, true, true},
		{"priority=5,tcp,reg0=0x1,tp_dst=80", true, true, false, false},
		{"reg0=0x2", false, false, false, false},
		{"table=2", false, false, false, false},
	} {
		flt, err := ParseFilter(tc.filter, nil)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
		}
		for i, want := range []bool{tc.a, tc.b, tc.c} {
			f := []*Flow{a, b, c}[i]
			if got := flt.Selects(f, tc.strict); got != want {
				t.Errorf("filter %q strict=%v selects %s = %v", tc.filter, tc.strict, f, got)
			}
		}
	}
	if _, _, _, _, _, err := ParseMatch("out_port=2,in_port=1", nil); err != nil {
		t.Errorf("ParseMatch with out_port: %v", err)
	}
}

func TestFlowAttributes(t *testing.T) {
	f := mustParse(t, "send_flow_rem,importance=9,priority=3,actions=drop", nil)
	if !f.SendFlowRem || f.Importance != 9 {
		t.Fatalf("got %+v", f)
	}
	if got, want := f.String(), "table=0,importance=9,send_flow_rem,priority=3,actions=drop"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	g := mustParse(t, "importance=9,priority=3,actions=drop", nil)
	if g.Equal(f) {
		t.Error("send_flow_rem ignored by Equal")
	}
}

// Bad input gives a one-line error naming the offending token.
func TestErrorsExtended(t *testing.T) {
	cases := []struct{ in, want string }{
		{"actions=frobnicate:1", `unknown action "frobnicate:1"`},
		{"tp_dst=80,actions=drop", `tp_dst requires tcp, udp or sctp (nw_proto=6/17/132)`},
		{"ip,tcp_flags=+syn,actions=drop", `tcp_flags requires tcp or tcp6 (nw_proto=6)`},
		{"tcp,tcp_flags=+syn+syn,actions=drop", `invalid value "+syn+syn" in "tcp_flags=+syn+syn": TCP flag "syn" given twice`},
		{"tcp,tcp_flags=+bogus,actions=drop", `invalid value "+bogus" in "tcp_flags=+bogus": unknown TCP flag "bogus"`},
		{"tcp,tcp_flags=0x1000,actions=drop", `invalid value "0x1000" in "tcp_flags=0x1000": must be 0-4095`},
		{"ip_frag=no,actions=drop", `ip_frag requires ip or ipv6 (dl_type=0x0800/0x86dd)`},
		{"ip,ip_frag=maybe,actions=drop", `invalid value "maybe" in "ip_frag=maybe": must be no, yes, first, later or not_later`},
		{"icmp6,nd_target=::1,actions=drop", `nd_target requires icmp6 with icmp_type=135 or icmp_type=136 (neighbor discovery)`},
		{"icmp6,icmp_type=136,nd_sll=00:00:00:00:00:01,actions=drop", `nd_sll requires icmp6 with icmp_type=135 (neighbor solicitation)`},
		{"icmp6,icmp_type=135,nd_tll=00:00:00:00:00:01,actions=drop", `nd_tll requires icmp6 with icmp_type=136 (neighbor advertisement)`},
		{"icmp6,icmp_type=135,icmp_code=1,nd_target=::1,actions=drop", `nd_target requires icmp6 with icmp_type=135 or icmp_type=136 (neighbor discovery)`},
		{"reg16=1,actions=drop", `invalid field "reg16" in "reg16=1"`},
		{"reg0=0x100000000,actions=drop", `invalid value "0x100000000" in "reg0=0x100000000": must be 0-4294967295`},
		{"metadata=zz,actions=drop", `invalid value "zz" in "metadata=zz": not a number`},
		{"table=3,actions=goto_table:3", `invalid action "goto_table:3": goto_table must name a later table than 3`},
		{"table=3,actions=goto_table:1", `invalid action "goto_table:1": goto_table must name a later table than 3`},
		{"actions=set_field:1.2.3.4->ip_src", `invalid action "set_field:1.2.3.4->ip_src": ip_src requires ip (dl_type=0x0800)`},
		{"ipv6,actions=set_field:1.2.3.4->nw_dst", `invalid action "set_field:1.2.3.4->nw_dst": ip_dst requires ip (dl_type=0x0800)`},
		{"udp,actions=set_field:80->tcp_dst", `invalid action "set_field:80->tcp_dst": tcp_dst requires tcp or tcp6 (nw_proto=6)`},
		{"ip,actions=set_field:80->tp_dst", `invalid action "set_field:80->tp_dst": tp_dst requires tcp, udp or sctp (nw_proto=6/17/132)`},
		{"icmp6,icmp_type=128,actions=set_field:::1->nd_target", `invalid action "set_field:::1->nd_target": nd_target requires icmp6 with icmp_type=135 or icmp_type=136 (neighbor discovery)`},
		{"ip,actions=set_field:6->nw_proto", `invalid action "set_field:6->nw_proto": nw_proto is read-only`},
		{"actions=set_field:0x800->eth_type", `invalid action "set_field:0x800->eth_type": eth_type is read-only`},
		{"ip,actions=set_field:no->ip_frag", `invalid action "set_field:no->ip_frag": ip_frag is read-only`},
		{"tcp,actions=set_field:+syn->tcp_flags", `invalid action "set_field:+syn->tcp_flags": tcp_flags is read-only`},
		{"actions=set_field:1->bogus", `invalid action "set_field:1->bogus": unknown field "bogus"`},
		{"actions=set_field:1", `invalid action "set_field:1": needs a value and a field, as in set_field:10.0.0.1->ip_dst`},
		{"actions=set_field:4096->vlan_vid", `invalid action "set_field:4096->vlan_vid": vlan_vid value "4096": must be 0-4095`},
		{"ip,actions=set_field:1.2.3->ip_src", `invalid action "set_field:1.2.3->ip_src": ip_src value "1.2.3": not an IPv4 address`},
		{"ip,actions=set_field:3->nw_tos", `invalid action "set_field:3->nw_tos": nw_tos value "3": the two low (ECN) bits of nw_tos must be zero`},
		{"actions=set_field:zz:00:00:00:00:00->eth_src", `invalid action "set_field:zz:00:00:00:00:00->eth_src": eth_src value "zz:00:00:00:00:00": not an Ethernet address (xx:xx:xx:xx:xx:xx)`},
		{"actions=load:0x10000->NXM_NX_REG0[0..15]", `invalid action "load:0x10000->NXM_NX_REG0[0..15]": value 0x10000 does not fit in 16 bits`},
		{"actions=load:1->NXM_NX_REG0[0..32]", `invalid action "load:1->NXM_NX_REG0[0..32]": bit 32 is beyond the 32 bits of reg0 in "NXM_NX_REG0[0..32]"`},
		{"actions=load:1->NXM_NX_REG0[5..2]", `invalid action "load:1->NXM_NX_REG0[5..2]": bad bit range in "NXM_NX_REG0[5..2]" (want [start..end])`},
		{"actions=load:1->NXM_NX_BOGUS[]", `invalid action "load:1->NXM_NX_BOGUS[]": unknown field "NXM_NX_BOGUS"`},
		{"actions=load:1->NXM_OF_IP_SRC[]", `invalid action "load:1->NXM_OF_IP_SRC[]": ip_src requires ip (dl_type=0x0800)`},
		{"actions=load:x->NXM_NX_REG0[]", `invalid action "load:x->NXM_NX_REG0[]": value "x": not a number`},
		{"actions=load:1->NXM_OF_ETH_TYPE[]", `invalid action "load:1->NXM_OF_ETH_TYPE[]": eth_type is read-only`},
		{"actions=move:NXM_NX_REG0[]->NXM_NX_REG1[0..15]", `invalid action "move:NXM_NX_REG0[]->NXM_NX_REG1[0..15]": source is 32 bits wide but destination is 16 bits`},
		{"actions=move:NXM_OF_TCP_SRC[]->NXM_NX_REG1[0..15]", `invalid action "move:NXM_OF_TCP_SRC[]->NXM_NX_REG1[0..15]": tcp_src requires tcp or tcp6 (nw_proto=6)`},
		{"actions=move:NXM_NX_REG1[0..15]->NXM_OF_UDP_SRC[]", `invalid action "move:NXM_NX_REG1[0..15]->NXM_OF_UDP_SRC[]": udp_src requires udp or udp6 (nw_proto=17)`},
		{"actions=move:NXM_NX_REG1[]", `invalid action "move:NXM_NX_REG1[]": needs a source and a destination, as in move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]`},
		{"actions=mod_nw_src:1.2.3", `invalid action "mod_nw_src:1.2.3": not an IPv4 address`},
		{"actions=mod_nw_dst:10.0.0.0/8", `invalid action "mod_nw_dst:10.0.0.0/8": needs an IPv4 address, as in mod_nw_dst:10.0.0.1`},
		{"actions=mod_nw_tos:3", `invalid action "mod_nw_tos:3": the two low (ECN) bits must be zero; set them with mod_nw_ecn`},
		{"actions=mod_nw_tos:256", `invalid action "mod_nw_tos:256": a ToS value must be 0-255`},
		{"actions=mod_nw_ecn:4", `invalid action "mod_nw_ecn:4": an ECN value must be 0-3`},
		{"actions=mod_nw_ttl:256", `invalid action "mod_nw_ttl:256": a TTL must be 0-255`},
		{"actions=mod_tp_src:65536", `invalid action "mod_tp_src:65536": a port must be 0-65535`},
		{"actions=mod_tp_dst", `invalid action "mod_tp_dst": needs a port, as in mod_tp_dst:N`},
		{"actions=dec_ttl:1", `invalid action "dec_ttl:1": takes no argument`},
		{"actions=write_metadata", `invalid action "write_metadata": needs a value, as in write_metadata:0x1/0xff`},
		{"actions=write_metadata:0x1/zz", `invalid action "write_metadata:0x1/zz": mask not a number`},
		{"actions=set_tunnel:x", `invalid action "set_tunnel:x": a tunnel ID not a number`},
		{"actions=controller(reason=bogus)", `invalid action "controller(reason=bogus)": unknown controller reason "bogus" (no_match, action, invalid_ttl, action_set, group, packet_out)`},
		{"actions=controller(max_len=1,max_len=2)", `invalid action "controller(max_len=1,max_len=2)": controller argument "max_len" given twice`},
		{"actions=output:vm9", `invalid action "output:vm9": no port named "vm9"`},
		{"send_flow_rem=1,actions=drop", `"send_flow_rem" takes no value in "send_flow_rem=1"`},
		{"importance=70000,actions=drop", `invalid value "70000" in "importance=70000": must be 0-65535`},
		{"out_port=1,actions=drop", `out_port is only allowed when selecting flows (del-flows, dump-flows): "out_port=1"`},
	}
	for _, c := range cases {
		_, err := ParseFlow(c.in, testPorts)
		if err == nil {
			t.Errorf("ParseFlow(%q) succeeded, want error %q", c.in, c.want)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("ParseFlow(%q):\n got  %s\n want %s", c.in, err, c.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error %q", err)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"send_flow_rem", `send_flow_rem is not allowed here: "send_flow_rem"`},
		{"importance=1", `importance is not allowed here: "importance=1"`},
		{"out_port=vm9", `invalid value "vm9" in "out_port=vm9": no port named "vm9"`},
	} {
		_, err := ParseFilter(c.in, testPorts)
		if err == nil || err.Error() != c.want {
			t.Errorf("ParseFilter(%q) = %v, want %s", c.in, err, c.want)
		}
	}
}

func TestEqualCoversMeta(t *testing.T) {
	pm := func(s string) Match {
		f, err := ParseFilter(s, nil)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", s, err)
		}
		return f.Match
	}
	for _, c := range []struct {
		m, o          string
		equal, covers bool
	}{
		{"reg0=0x1", "reg0=0x1", true, true},
		{"reg0=0x1", "reg0=0x1,reg1=0x2", false, true},
		{"reg0=0x1,reg1=0x2", "reg0=0x1", false, false},
		{"reg0=0x1/0x1", "reg0=0x3", false, true},
		{"reg0=0x3", "reg0=0x1/0x1", false, false},
		{"metadata=0x10/0xf0", "metadata=0x12", false, true},
		{"metadata=0x10/0xf0", "metadata=0x22", false, false},
		{"", "metadata=0x1,reg15=0x1", false, true},
		{"reg15=0x1", "", false, false},
	} {
		m, o := pm(c.m), pm(c.o)
		if got := m.Equal(o); got != c.equal {
			t.Errorf("%q.Equal(%q) = %v", c.m, c.o, got)
		}
		if got := m.Covers(o); got != c.covers {
			t.Errorf("%q.Covers(%q) = %v", c.m, c.o, got)
		}
	}
	if m := pm("reg3=0x0/0x1"); m.IsCatchAll() {
		t.Error("a register match is not a catch-all")
	}
}
