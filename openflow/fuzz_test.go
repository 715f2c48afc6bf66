package openflow

import "testing"

// FuzzParseFlow checks that the parser never panics and that whatever it
// accepts prints back (plain, and in dump-flows form with port names) to
// text that parses to an equal flow.
func FuzzParseFlow(f *testing.F) {
	for _, s := range roundTripFlows {
		f.Add(s)
	}
	for _, s := range corpusFlows(f) {
		f.Add(s)
	}
	for _, s := range []string{
		"priority=0 actions=NORMAL",
		"tp_dst=80,tcp,actions=drop",
		"dl_vlan=0xffff,dl_vlan_pcp=3,actions=drop",
		"vlan_tci=0xf005,actions=2,3",
		`in_port="vm1",actions=resubmit("vm2",3)`,
		"actions=controller(max_len=12)",
		"cookie=0x0, duration=1s, table=0, n_packets=0, priority=1 actions=drop",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseFlow(s, testPorts)
		if err != nil {
			return
		}
		text := fl.String()
		g, err := ParseFlow(text, nil)
		if err != nil {
			t.Fatalf("%q: String() = %q does not parse: %v", s, text, err)
		}
		if !g.Equal(fl) {
			t.Fatalf("%q: String() = %q parses to a different flow:\n%+v\n%+v", s, text, fl, g)
		}
		if again := g.String(); again != text {
			t.Fatalf("%q: printing is not stable: %q then %q", s, text, again)
		}
		d := dumpForm(fl, testPorts)
		h, err := ParseFlow(d, testPorts)
		if err != nil {
			t.Fatalf("%q: dump form %q does not parse: %v", s, d, err)
		}
		if !h.Equal(fl) {
			t.Fatalf("%q: dump form %q parses to a different flow", s, d)
		}
		m, _, prio, _, _, err := ParseMatch(fl.MatchString(nil), nil)
		if err != nil || !m.Equal(fl.Match) || (prio >= 0 && prio != int(fl.Priority)) {
			t.Fatalf("%q: ParseMatch(%q) = %v, %d, %v", s, fl.MatchString(nil), m, prio, err)
		}
	})
}
