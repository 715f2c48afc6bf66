package openflow

import (
	"net/netip"
	"strings"
	"testing"

	"vswitch/flowtable"
)

// names is a PortNamer for tests.
type names map[string]uint32

func (n names) PortNumber(name string) (uint32, bool) { p, ok := n[name]; return p, ok }
func (n names) PortName(num uint32) (string, bool) {
	for k, v := range n {
		if v == num {
			return k, true
		}
	}
	return "", false
}

var testPorts = names{"vm1": 1, "vm2": 2, "uplink": 10, "normal": 7, "42": 42, "we,ird port": 9}

func mustParse(t *testing.T, s string, ports PortNamer) *Flow {
	t.Helper()
	f, err := ParseFlow(s, ports)
	if err != nil {
		t.Fatalf("ParseFlow(%q): %v", s, err)
	}
	return f
}

func TestPrintCanonical(t *testing.T) {
	cases := []struct {
		in, match, actions, str string
	}{
		{"priority=0,actions=NORMAL", "priority=0", "NORMAL", "table=0,priority=0,actions=NORMAL"},
		{"priority=0 actions=normal", "priority=0", "NORMAL", "table=0,priority=0,actions=NORMAL"},
		{"actions=drop", "", "drop", "table=0,actions=drop"},
		{"actions=", "", "drop", "table=0,actions=drop"},
		{"in_port=1,dl_vlan=10,actions=mod_vlan_vid:20,output:3", "in_port=1,dl_vlan=10", "mod_vlan_vid:20,output:3",
			"table=0,in_port=1,dl_vlan=10,actions=mod_vlan_vid:20,output:3"},
		{"table=1, priority=100, in_port=2 actions=strip_vlan output:1", "priority=100,in_port=2", "strip_vlan,output:1",
			"table=1,priority=100,in_port=2,actions=strip_vlan,output:1"},
		{"tp_dst=80,nw_dst=10.0.0.0/24,tcp,priority=5,actions=output:3", "priority=5,tcp,nw_dst=10.0.0.0/24,tp_dst=80", "output:3", ""},
		{"dl_type=0x0800,nw_proto=17,udp_src=53,actions=2", "udp,tp_src=53", "output:2", ""},
		{"ip,nw_proto=47,actions=NORMAL", "ip,nw_proto=47", "NORMAL", ""},
		{"dl_type=0x0806,nw_src=10.1.1.1,arp_op=2,actions=FLOOD", "arp,arp_spa=10.1.1.1,arp_op=2", "FLOOD", ""},
		{"arp,nw_proto=1,arp_tha=00:00:00:00:00:00,actions=ALL", "arp,arp_op=1,arp_tha=00:00:00:00:00:00", "ALL", ""},
		{"rarp,arp_sha=0a:0b:0c:0d:0e:0f,actions=LOCAL", "rarp,arp_sha=0a:0b:0c:0d:0e:0f", "LOCAL", ""},
		{"icmp,icmp_type=8,icmp_code=0,actions=IN_PORT", "icmp,icmp_type=8,icmp_code=0", "IN_PORT", ""},
		{"icmp6,icmp_type=135,ipv6_dst=fe80::1,actions=controller", "icmp6,ipv6_dst=fe80::1,icmp_type=135", "CONTROLLER:65535", ""},
		{"ipv6,ipv6_src=2001:db8::/32,ipv6_label=0x12345,actions=output:1", "ipv6,ipv6_src=2001:db8::/32,ipv6_label=0x12345", "output:1", ""},
		{"tcp6,tp_src=0x0400/0xfc00,actions=1", "tcp6,tp_src=0x0400/0xfc00", "output:1", ""},
		{"sctp,sctp_dst=9,actions=1", "sctp,tp_dst=9", "output:1", ""},
		{"dl_vlan=0xffff,actions=NORMAL", "vlan_tci=0x0000", "NORMAL", ""},
		{"vlan_tci=0x1000/0x1000,actions=NORMAL", "vlan_tci=0x1000/0x1000", "NORMAL", ""},
		{"dl_vlan=5,dl_vlan_pcp=7,actions=NORMAL", "dl_vlan=5,dl_vlan_pcp=7", "NORMAL", ""},
		{"vlan_tci=0xf005,actions=NORMAL", "dl_vlan=5,dl_vlan_pcp=7", "NORMAL", ""},
		{"vlan_pcp=3,actions=NORMAL", "dl_vlan_pcp=3", "NORMAL", ""},
		{"eth_src=00:11:22:33:44:55,eth_dst=01:00:00:00:00:00/01:00:00:00:00:00,eth_type=0x88cc,actions=drop",
			"dl_src=00:11:22:33:44:55,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,dl_type=0x88cc", "drop", ""},
		{"ip,nw_src=10.0.0.1/255.0.255.0,nw_tos=0x20,nw_ecn=1,nw_ttl=64,actions=NORMAL",
			"ip,nw_src=10.0.0.0/255.0.255.0,nw_tos=32,nw_ecn=1,nw_ttl=64", "NORMAL", ""},
		{"ip,ip_dscp=46,actions=NORMAL", "ip,nw_tos=184", "NORMAL", ""},
		{"tun_id=0x5,in_port=LOCAL,actions=NORMAL", "tun_id=0x5,in_port=LOCAL", "NORMAL", ""},
		{"tun_id=0/0xff,tun_src=192.0.2.1,tun_dst=192.0.2.0/24,actions=NORMAL", "tun_id=0/0xff,tun_src=192.0.2.1,tun_dst=192.0.2.0/24", "NORMAL", ""},
		{"cookie=0xabc,idle_timeout=10,hard_timeout=60,priority=32768,actions=resubmit(,2),resubmit:3,resubmit(4,5)",
			"", "resubmit(,2),resubmit:3,resubmit(4,5)", "cookie=0xabc,table=0,idle_timeout=10,hard_timeout=60,actions=resubmit(,2),resubmit:3,resubmit(4,5)"},
		{"actions=pop_vlan,push_vlan:0x8100,mod_vlan_pcp:3,mod_dl_src:AA:BB:CC:DD:EE:FF,mod_dl_dst:1:2:3:4:5:6,goto_table:9", "",
			"pop_vlan,push_vlan:0x8100,mod_vlan_pcp:3,mod_dl_src:aa:bb:cc:dd:ee:ff,mod_dl_dst:01:02:03:04:05:06,goto_table:9", ""},
		{"actions=output:NORMAL,output:65534,CONTROLLER:128,controller(max_len=64),FLOOD,in_port,OUTPUT:4294967294", "",
			"NORMAL,LOCAL,CONTROLLER:128,CONTROLLER:64,FLOOD,IN_PORT,LOCAL", ""},
		{" cookie=0x0, duration=12.345s, table=0, n_packets=3, n_bytes=180, idle_age=1, priority=0 actions=NORMAL", "priority=0", "NORMAL", ""},
	}
	for _, c := range cases {
		f, err := ParseFlow(c.in, nil)
		if err != nil {
			t.Errorf("ParseFlow(%q): %v", c.in, err)
			continue
		}
		if got := f.MatchString(nil); got != c.match {
			t.Errorf("%q: MatchString = %q, want %q", c.in, got, c.match)
		}
		if got := FormatActions(f.Actions, nil); got != c.actions {
			t.Errorf("%q: FormatActions = %q, want %q", c.in, got, c.actions)
		}
		if c.str != "" && f.String() != c.str {
			t.Errorf("%q: String = %q, want %q", c.in, f.String(), c.str)
		}
	}
}

func TestDefaults(t *testing.T) {
	f := mustParse(t, "actions=NORMAL", nil)
	if f.Priority != DefaultPriority || f.Table != 0 || f.Cookie != 0 || f.IdleTimeout != 0 || f.HardTimeout != 0 {
		t.Fatalf("defaults: %+v", f)
	}
	if !f.Match.IsCatchAll() || len(f.Actions) != 1 || f.Actions[0].Type != ActNormal {
		t.Fatalf("defaults: %+v", f)
	}
	f = mustParse(t, "table=3,priority=7,cookie=99,idle_timeout=1,hard_timeout=2,actions=resubmit:5", nil)
	want := Flow{Table: 3, Priority: 7, Cookie: 99, IdleTimeout: 1, HardTimeout: 2,
		Actions: []Action{{Type: ActResubmit, Port: 5, Table: TableCurrent}}}
	if !f.Equal(&want) {
		t.Fatalf("got %+v, want %+v", f, want)
	}
}

// The semantics the bridge relies on, checked field by field against keys
// built by hand.
func TestMatchRepresentation(t *testing.T) {
	f := mustParse(t, "in_port=3,dl_vlan=10,actions=NORMAL", nil)
	if f.Match.Key.InPort != 3 || f.Match.Mask.InPort != 0xffffffff {
		t.Errorf("in_port: key %d mask %#x", f.Match.Key.InPort, f.Match.Mask.InPort)
	}
	if f.Match.Key.VlanTCI != 10|flowtable.TCIPresent || f.Match.Mask.VlanTCI != 0x1fff {
		t.Errorf("dl_vlan=10: key %#x mask %#x", f.Match.Key.VlanTCI, f.Match.Mask.VlanTCI)
	}
	f = mustParse(t, "dl_vlan=0xffff,actions=NORMAL", nil)
	if f.Match.Key.VlanTCI != 0 || f.Match.Mask.VlanTCI != 0xffff {
		t.Errorf("dl_vlan=0xffff: key %#x mask %#x", f.Match.Key.VlanTCI, f.Match.Mask.VlanTCI)
	}
	f = mustParse(t, "tcp,nw_src=10.1.0.0/16,tp_dst=443,actions=NORMAL", nil)
	m := f.Match
	if m.Key.DlType != 0x0800 || m.Mask.DlType != 0xffff || m.Key.NwProto != 6 || m.Mask.NwProto != 0xff ||
		m.Key.NwSrc != [16]byte{10, 1} || m.Mask.NwSrc != [16]byte{255, 255} || m.Key.TpDst != 443 || m.Mask.TpDst != 0xffff {
		t.Errorf("tcp match: %+v", m)
	}
	f = mustParse(t, "icmp,icmp_type=3,icmp_code=4,actions=NORMAL", nil)
	if f.Match.Key.TpSrc != 3 || f.Match.Key.TpDst != 4 || f.Match.Mask.TpSrc != 0xffff {
		t.Errorf("icmp: %+v", f.Match)
	}
	f = mustParse(t, "arp,arp_op=2,arp_tpa=10.0.0.1,actions=NORMAL", nil)
	if f.Match.Key.NwProto != 2 || f.Match.Key.NwDst != [16]byte{10, 0, 0, 1} {
		t.Errorf("arp: %+v", f.Match)
	}
	f = mustParse(t, "ipv6,ipv6_src=2001:db8::1,actions=NORMAL", nil)
	if f.Match.Key.NwSrc != netip.MustParseAddr("2001:db8::1").As16() || f.Match.Mask.NwSrc[15] != 0xff {
		t.Errorf("ipv6: %+v", f.Match)
	}
}

func pktKey() flowtable.Key {
	k := flowtable.Key{
		InPort: 1, DlType: 0x0800, VlanTCI: 10 | flowtable.TCIPresent,
		DlSrc: [6]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}, DlDst: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		NwProto: 6, NwTTL: 64, NwTos: 0x21, TpSrc: 33000, TpDst: 80,
	}
	copy(k.NwSrc[:], []byte{10, 0, 0, 1})
	copy(k.NwDst[:], []byte{10, 0, 1, 7})
	return k
}

func TestMatches(t *testing.T) {
	k := pktKey()
	untagged := k
	untagged.VlanTCI = 0
	arp := flowtable.Key{InPort: 2, DlType: 0x0806, NwProto: 1}
	copy(arp.NwSrc[:], []byte{10, 0, 0, 9})
	cases := []struct {
		flow string
		key  flowtable.Key
		want bool
	}{
		{"priority=0,actions=NORMAL", k, true},
		{"in_port=1,actions=NORMAL", k, true},
		{"in_port=2,actions=NORMAL", k, false},
		{"dl_vlan=10,actions=NORMAL", k, true},
		{"dl_vlan=11,actions=NORMAL", k, false},
		{"dl_vlan=10,actions=NORMAL", untagged, false},
		{"dl_vlan=0xffff,actions=NORMAL", untagged, true},
		{"dl_vlan=0xffff,actions=NORMAL", k, false},
		{"vlan_tci=0x1000/0x1000,actions=NORMAL", k, true},
		{"vlan_tci=0x1000/0x1000,actions=NORMAL", untagged, false},
		{"dl_vlan_pcp=0,actions=NORMAL", k, true},
		{"dl_vlan_pcp=1,actions=NORMAL", k, false},
		{"dl_dst=ff:ff:ff:ff:ff:ff,actions=NORMAL", k, true},
		{"dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=NORMAL", k, true},
		{"dl_src=01:00:00:00:00:00/01:00:00:00:00:00,actions=NORMAL", k, false},
		{"dl_src=00:11:22:33:44:55,actions=NORMAL", k, true},
		{"ip,actions=NORMAL", k, true},
		{"ipv6,actions=NORMAL", k, false},
		{"tcp,actions=NORMAL", k, true},
		{"udp,actions=NORMAL", k, false},
		{"tcp,tp_dst=80,actions=NORMAL", k, true},
		{"tcp,tp_dst=81,actions=NORMAL", k, false},
		{"tcp,tp_src=0x8000/0x8000,actions=NORMAL", k, true},
		{"ip,nw_src=10.0.0.0/8,actions=NORMAL", k, true},
		{"ip,nw_src=10.0.0.0/8,nw_dst=10.0.1.0/24,actions=NORMAL", k, true},
		{"ip,nw_dst=10.0.2.0/24,actions=NORMAL", k, false},
		{"ip,nw_tos=32,actions=NORMAL", k, true},
		{"ip,nw_ecn=1,actions=NORMAL", k, true},
		{"ip,nw_ttl=63,actions=NORMAL", k, false},
		{"arp,actions=NORMAL", arp, true},
		{"arp,arp_op=1,nw_src=10.0.0.9,actions=NORMAL", arp, true},
		{"arp,arp_op=2,actions=NORMAL", arp, false},
		{"arp,actions=NORMAL", k, false},
		{"tun_id=0,actions=NORMAL", k, true},
		{"tun_id=1,actions=NORMAL", k, false},
	}
	for _, c := range cases {
		f := mustParse(t, c.flow, nil)
		if got := f.Match.Matches(&c.key); got != c.want {
			t.Errorf("%q Matches = %v, want %v", c.flow, got, c.want)
		}
	}
}

func TestMatchesNoAlloc(t *testing.T) {
	f := mustParse(t, "tcp,in_port=1,dl_vlan=10,nw_dst=10.0.1.0/24,tp_dst=80,actions=NORMAL", nil)
	k := pktKey()
	n := testing.AllocsPerRun(1000, func() {
		if !f.Match.Matches(&k) {
			t.Fatal("no match")
		}
	})
	if n != 0 {
		t.Fatalf("Matches allocates %v times", n)
	}
}

func BenchmarkMatches(b *testing.B) {
	f, _ := ParseFlow("tcp,in_port=1,dl_vlan=10,nw_dst=10.0.1.0/24,tp_dst=80,actions=NORMAL", nil)
	k := pktKey()
	b.ReportAllocs()
	for b.Loop() {
		if !f.Match.Matches(&k) {
			b.Fatal("no match")
		}
	}
}

func TestEqualCovers(t *testing.T) {
	pm := func(s string) Match {
		m, _, _, _, _, err := ParseMatch(s, nil)
		if err != nil {
			t.Fatalf("ParseMatch(%q): %v", s, err)
		}
		return m
	}
	cases := []struct {
		m, o          string
		equal, covers bool
	}{
		{"", "", true, true},
		{"", "in_port=1", false, true},
		{"in_port=1", "", false, false},
		{"in_port=1", "in_port=1,dl_vlan=5", false, true},
		{"in_port=2", "in_port=1,dl_vlan=5", false, false},
		{"ip", "tcp,tp_dst=80", false, true},
		{"tcp", "ip", false, false},
		{"ip,nw_dst=10.0.0.0/8", "ip,nw_dst=10.1.0.0/16", false, true},
		{"ip,nw_dst=10.1.0.0/16", "ip,nw_dst=10.0.0.0/8", false, false},
		{"ip,nw_dst=10.0.0.0/8", "ip,nw_dst=11.1.0.0/16", false, false},
		{"dl_type=0x0800", "ip", true, true},
		{"dl_vlan=10", "vlan_tci=0x100a/0x1fff", true, true},
		{"vlan_tci=0x1000/0x1000", "dl_vlan=10", false, true},
		{"dl_vlan=0xffff", "dl_vlan=10", false, false},
	}
	for _, c := range cases {
		m, o := pm(c.m), pm(c.o)
		if got := m.Equal(o); got != c.equal {
			t.Errorf("%q.Equal(%q) = %v", c.m, c.o, got)
		}
		if got := m.Covers(o); got != c.covers {
			t.Errorf("%q.Covers(%q) = %v", c.m, c.o, got)
		}
	}
}

func TestParseMatch(t *testing.T) {
	m, table, prio, cookie, cmask, err := ParseMatch("table=2,priority=5,cookie=0x10/0xf0,in_port=vm1", testPorts)
	if err != nil || table != 2 || prio != 5 || cookie != 0x10 || cmask != 0xf0 || m.Key.InPort != 1 {
		t.Fatalf("got %v %d %d %#x %#x %v", m, table, prio, cookie, cmask, err)
	}
	m, table, prio, cookie, cmask, err = ParseMatch("", nil)
	if err != nil || table != -1 || prio != -1 || cookie != 0 || cmask != 0 || !m.IsCatchAll() {
		t.Fatalf("empty: %v %d %d %#x %#x %v", m, table, prio, cookie, cmask, err)
	}
	_, _, _, cookie, cmask, err = ParseMatch("cookie=0x7", nil)
	if err != nil || cookie != 7 || cmask != ^uint64(0) {
		t.Fatalf("exact cookie: %#x %#x %v", cookie, cmask, err)
	}
	_, _, _, cookie, _, err = ParseMatch("cookie=0x17/0xf", nil)
	if err != nil || cookie != 7 {
		t.Fatalf("cookie value is masked: %#x %v", cookie, err)
	}
	if _, _, _, _, _, err := ParseMatch("in_port=1,actions=drop", nil); err == nil {
		t.Fatal("ParseMatch accepted actions")
	}
	if _, _, _, _, _, err := ParseMatch("idle_timeout=5", nil); err == nil {
		t.Fatal("ParseMatch accepted idle_timeout")
	}
}

func TestNamedPorts(t *testing.T) {
	f := mustParse(t, `in_port=vm1,actions=output:vm2,uplink,output:"normal",resubmit:vm1,resubmit("we,ird port",3),NORMAL,output:"42",42`, testPorts)
	want := []Action{
		{Type: ActOutput, Port: 2}, {Type: ActOutput, Port: 10}, {Type: ActOutput, Port: 7},
		{Type: ActResubmit, Port: 1, Table: TableCurrent}, {Type: ActResubmit, Port: 9, Table: 3},
		{Type: ActNormal}, {Type: ActOutput, Port: 42}, {Type: ActOutput, Port: 42},
	}
	if f.Match.Key.InPort != 1 || !f.Equal(&Flow{Priority: DefaultPriority, Match: f.Match, Actions: want}) {
		t.Fatalf("got %+v", f)
	}
	if got, w := f.MatchString(testPorts), "in_port=vm1"; got != w {
		t.Errorf("MatchString = %q, want %q", got, w)
	}
	wantActs := `output:vm2,output:uplink,output:"normal",resubmit:vm1,resubmit("we,ird port",3),NORMAL,output:"42",output:"42"`
	if got := FormatActions(f.Actions, testPorts); got != wantActs {
		t.Errorf("FormatActions = %s, want %s", got, wantActs)
	}
	if got, w := FormatActions(f.Actions, nil), "output:2,output:10,output:7,resubmit:1,resubmit(9,3),NORMAL,output:42,output:42"; got != w {
		t.Errorf("FormatActions(nil) = %s, want %s", got, w)
	}
	g := mustParse(t, f.MatchString(testPorts)+" actions="+FormatActions(f.Actions, testPorts), testPorts)
	if !g.Equal(f) {
		t.Errorf("named round trip: %v != %v", g, f)
	}
	for _, s := range []string{"in_port=LOCAL", "in_port=local", "in_port=65534", "in_port=4294967294"} {
		if g := mustParse(t, s+",actions=drop", nil); g.Match.Key.InPort != PortLocal || g.MatchString(testPorts) != "in_port=LOCAL" {
			t.Errorf("%s: in_port %#x printed %q", s, g.Match.Key.InPort, g.MatchString(testPorts))
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"dl_vlam=10,actions=drop", `invalid field "dl_vlam" in "dl_vlam=10"`},
		{"foo,actions=drop", `invalid field "foo"`},
		{"priority=0", `flow has no actions (end it with actions=..., or actions=drop to drop)`},
		{"in_port=1 output:2", `invalid field "output:2"`},
		{"dl_vlan=4096,actions=drop", `invalid value "4096" in "dl_vlan=4096": must be 0-4095, or 0xffff for no VLAN tag`},
		{"vlan_vid=0xffff,actions=drop", `invalid value "0xffff" in "vlan_vid=0xffff": must be 0-4095`},
		{"priority=70000,actions=drop", `invalid value "70000" in "priority=70000": must be 0-65535`},
		{"priority=-1,actions=drop", `invalid value "-1" in "priority=-1": not a number`},
		{"table=255,actions=drop", `invalid value "255" in "table=255": must be 0-254`},
		{"dl_vlan_pcp=8,actions=drop", `invalid value "8" in "dl_vlan_pcp=8": must be 0-7`},
		{"nw_src=10.0.0.1,actions=drop", `nw_src requires ip or arp (dl_type=0x0800/0x0806)`},
		{"ipv6,nw_dst=10.0.0.1,actions=drop", `nw_dst requires ip or arp (dl_type=0x0800/0x0806)`},
		{"ip,ipv6_src=::1,actions=drop", `ipv6_src requires ipv6 (dl_type=0x86dd)`},
		{"ip,tp_dst=80,actions=drop", `tp_dst requires tcp, udp or sctp (nw_proto=6/17/132)`},
		{"tcp,udp_dst=80,actions=drop", `udp_dst requires udp or udp6 (nw_proto=17)`},
		{"tcp,icmp_type=3,actions=drop", `icmp_type requires icmp or icmp6 (nw_proto=1/58)`},
		{"ip,arp_op=1,actions=drop", `arp_op requires arp or rarp (dl_type=0x0806/0x8035)`},
		{"nw_proto=6,actions=drop", `nw_proto requires ip, ipv6 or arp (dl_type=0x0800/0x86dd/0x0806)`},
		{"arp,nw_ttl=5,actions=drop", `nw_ttl requires ip or ipv6 (dl_type=0x0800/0x86dd)`},
		{"ip,nw_tos=3,actions=drop", `invalid value "3" in "nw_tos=3": the two low (ECN) bits must be zero; match them with nw_ecn`},
		{"ip,nw_src=10.0.0.300,actions=drop", `invalid value "10.0.0.300" in "nw_src=10.0.0.300": not an IPv4 address`},
		{"ip,nw_src=10.0.0.0/33,actions=drop", `invalid value "10.0.0.0/33" in "nw_src=10.0.0.0/33": prefix length must be 0-32`},
		{"dl_src=00:11:22:33:44,actions=drop", `invalid value "00:11:22:33:44" in "dl_src=00:11:22:33:44": not an Ethernet address (xx:xx:xx:xx:xx:xx)`},
		{"in_port=vm9,actions=drop", `invalid value "vm9" in "in_port=vm9": no port named "vm9"`},
		{"in_port=70000,actions=drop", `invalid value "70000" in "in_port=70000": port 70000 is outside the supported range 0-65535`},
		{"dl_vlan,actions=drop", `missing value for "dl_vlan"`},
		{"tcp=1,actions=drop", `"tcp" takes no value in "tcp=1"`},
		{"cookie=1/1,actions=drop", `flow additions cannot use a cookie mask: "cookie=1/1"`},
		{"actions=foo", `unknown action "foo"`},
		{"actions=output:vm9", `invalid action "output:vm9": no port named "vm9"`},
		{"actions=output", `invalid action "output": needs a port, as in output:1`},
		{"actions=output:0", `invalid action "output:0": port 0 is not a valid output port`},
		{"actions=output:NONE", `invalid action "output:NONE": output to NONE is not valid`},
		{"actions=70000", `invalid action "70000": port 70000 is outside the supported range 0-65535`},
		{"actions=mod_vlan_vid:4096", `invalid action "mod_vlan_vid:4096": a VLAN ID must be 0-4095`},
		{"actions=mod_vlan_pcp:8", `invalid action "mod_vlan_pcp:8": a VLAN priority must be 0-7`},
		{"actions=push_vlan:0x0800", `invalid action "push_vlan:0x0800": EtherType must be 0x8100 or 0x88a8`},
		{"actions=mod_dl_src:zz:bb:cc:dd:ee:ff", `invalid action "mod_dl_src:zz:bb:cc:dd:ee:ff": not an Ethernet address (xx:xx:xx:xx:xx:xx)`},
		{"actions=resubmit(,)", `invalid action "resubmit(,)": at least one of port and table must be given`},
		{"actions=resubmit(1,2,ct)", `invalid action "resubmit(1,2,ct)": unsupported resubmit argument "1,2,ct"`},
		{"actions=resubmit(1,2", `unbalanced parenthesis in "resubmit(1,2"`},
		{"actions=NORMAL(1)", `invalid action "NORMAL(1)": takes no argument`},
		{"actions=drop,NORMAL", `"drop" must not be accompanied by any other action`},
		{"actions=goto_table:2,NORMAL", `goto_table must be the last action, but "NORMAL" follows it`},
		{"table=3,actions=goto_table:2", `invalid action "goto_table:2": goto_table must name a later table than 3`},
		{"actions=controller(userdata=1)", `invalid action "controller(userdata=1)": unsupported controller argument "userdata=1" (reason, max_len, id)`},
		{`in_port="vm1,actions=drop`, `unterminated quoted string "vm1,actions=drop`},
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
}

// roundTripFlows exercises every field and action the package knows.
var roundTripFlows = []string{
	"priority=0,actions=NORMAL",
	"actions=drop",
	"table=254,priority=65535,cookie=0xffffffffffffffff,idle_timeout=65535,hard_timeout=1,actions=LOCAL",
	"in_port=1,dl_vlan=10,actions=strip_vlan,output:2",
	"in_port=vm1,dl_vlan=0,actions=pop_vlan,vm2",
	"in_port=IN_PORT,actions=IN_PORT",
	"dl_vlan=4095,dl_vlan_pcp=7,actions=mod_vlan_pcp:0,mod_vlan_vid:4095",
	"dl_vlan_pcp=2,dl_vlan=0xffff,actions=push_vlan:0x88a8,mod_vlan_vid:100,FLOOD",
	"vlan_tci=0x0005/0x0fff,actions=ALL",
	"vlan_tci=0x1234/0x1ffe,actions=ALL",
	"vlan_tci=0xe000/0xe000,actions=ALL",
	"dl_src=aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00,dl_dst=00:00:00:00:00:01,dl_type=0x88cc,actions=CONTROLLER:0",
	"ip,nw_src=0.0.0.0/1,nw_dst=255.255.255.255,nw_tos=252,nw_ecn=3,nw_ttl=0,actions=mod_dl_src:00:00:00:00:00:00",
	"ip,nw_src=1.2.3.4/255.255.0.255,nw_proto=0,actions=mod_dl_dst:ff:ff:ff:ff:ff:ff",
	"tcp,tp_src=0,tp_dst=65535,actions=resubmit(,1)",
	"udp,tp_src=0x0035/0xffff,tp_dst=0x1000/0xf000,actions=resubmit(IN_PORT,2)",
	"sctp6,tp_dst=5,actions=resubmit(LOCAL,0)",
	"udp6,ipv6_src=::1,ipv6_dst=fe80::/64,actions=1",
	"ipv6,ipv6_src=2001:db8::/ffff:0:ffff::,ipv6_label=0x1/0xf,nw_proto=89,actions=1",
	"ipv6,ipv6_dst=::ffff:1.2.3.4,nw_ttl=255,actions=1",
	"icmp,icmp_type=255,icmp_code=0,actions=1",
	"icmp6,icmpv6_type=136,icmpv6_code=1,ipv6_dst=ff02::1:ff00:0/104,actions=1",
	"arp,arp_spa=10.0.0.0/8,arp_tpa=10.0.0.1,arp_op=1,arp_sha=00:11:22:33:44:55,arp_tha=00:00:00:00:00:00/01:00:00:00:00:00,actions=NORMAL",
	"rarp,arp_op=3,actions=NORMAL",
	"tun_id=0x123456789abcdef0,tun_src=10.0.0.1,tun_dst=10.0.0.0/255.0.0.255,actions=NORMAL",
	"tun_id=0/0x1,actions=NORMAL",
	"in_port=65535,actions=NORMAL",
	"in_port=0,actions=NORMAL",
	"in_port=65280,actions=output:65279",
	"table=4,actions=goto_table:254",
	"actions=controller,controller:1,output:CONTROLLER,resubmit:10,resubmit(uplink,254)",
	`in_port="we,ird port",actions=output:"we,ird port",output:"normal"`,
}

func TestRoundTrip(t *testing.T) {
	for _, s := range roundTripFlows {
		f := mustParse(t, s, testPorts)
		// Plain form, numbers only.
		g, err := ParseFlow(f.String(), nil)
		if err != nil {
			t.Errorf("%q: String() = %q does not parse: %v", s, f.String(), err)
			continue
		}
		if !g.Equal(f) {
			t.Errorf("%q: String() = %q parses to a different flow", s, f.String())
		}
		if g.String() != f.String() {
			t.Errorf("%q: String not stable: %q vs %q", s, f.String(), g.String())
		}
		// dump-flows form with names.
		d := dumpForm(f, testPorts)
		h, err := ParseFlow(d, testPorts)
		if err != nil {
			t.Errorf("%q: dump form %q does not parse: %v", s, d, err)
			continue
		}
		if !h.Equal(f) {
			t.Errorf("%q: dump form %q parses to a different flow", s, d)
		}
	}
}

// dumpForm prints a flow the way ovs-ofctl dump-flows lays it out.
func dumpForm(f *Flow, ports PortNamer) string {
	var b strings.Builder
	b.WriteString(" cookie=0x" + strings.TrimPrefix(strings.ToLower(itoaHex(f.Cookie)), "0x") + ", duration=1.234s, table=" + itoa(uint64(f.Table)) + ", n_packets=0, n_bytes=0, ")
	if f.IdleTimeout != 0 {
		b.WriteString("idle_timeout=" + itoa(uint64(f.IdleTimeout)) + ", ")
	}
	if f.HardTimeout != 0 {
		b.WriteString("hard_timeout=" + itoa(uint64(f.HardTimeout)) + ", ")
	}
	if f.Importance != 0 {
		b.WriteString("importance=" + itoa(uint64(f.Importance)) + ", ")
	}
	if f.SendFlowRem {
		b.WriteString("send_flow_rem, ")
	}
	b.WriteString("idle_age=3, ")
	b.WriteString(f.MatchString(ports))
	b.WriteString(" actions=" + FormatActions(f.Actions, ports))
	return b.String()
}

func itoaHex(v uint64) string {
	const hex = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var s []byte
	for ; v > 0; v >>= 4 {
		s = append([]byte{hex[v&15]}, s...)
	}
	return string(s)
}
