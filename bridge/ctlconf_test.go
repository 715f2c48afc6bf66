package bridge

import (
	"errors"
	"slices"
	"testing"
)

// Controller targets and protocols are Bridge columns: validated, stored
// with the bridge, read back as OVSDB sets; a bad value changes nothing,
// not even the good columns set alongside it.
func TestControllerAndProtocolsColumns(t *testing.T) {
	sw := newStoreSwitch(t)
	a, _ := twoBridges(t, sw)
	err := sw.Set("Bridge", a, []Setting{
		{Column: "controller", Value: "tcp:192.0.2.1:6653,unix:/run/c.sock"},
		{Column: "protocols", Value: "[OpenFlow10, OpenFlow13]"},
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(col string) string {
		t.Helper()
		v, err := sw.Get("Bridge", a, col)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := get("controller"); v != `["tcp:192.0.2.1:6653", "unix:/run/c.sock"]` {
		t.Errorf("controller = %s", v)
	}
	if v := get("protocols"); v != "[OpenFlow10, OpenFlow13]" {
		t.Errorf("protocols = %s", v)
	}
	c, err := sw.st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if bc := findBridge(c, a); !slices.Equal(bc.Controllers, []string{"tcp:192.0.2.1:6653", "unix:/run/c.sock"}) ||
		!slices.Equal(bc.Protocols, []string{"OpenFlow10", "OpenFlow13"}) {
		t.Errorf("stored %+v", bc)
	}
	for _, bad := range [][]Setting{
		{{Column: "fail_mode", Value: "secure"}, {Column: "controller", Value: "tcp:not-an-ip"}},
		{{Column: "controller", Value: "tcp:192.0.2.1:99999"}},
		{{Column: "controller", Value: "carrier-pigeon:home"}},
		{{Column: "controller", Value: "nocolon"}},
		{{Column: "protocols", Value: "OpenFlow99"}},
		{{Column: "controller", Key: "x", Value: "tcp:192.0.2.1"}},
	} {
		if err := sw.Set("Bridge", a, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want ErrInvalid", bad, err)
		}
	}
	if get("fail_mode") != "[]" || get("protocols") != "[OpenFlow10, OpenFlow13]" || get("controller") != `["tcp:192.0.2.1:6653", "unix:/run/c.sock"]` {
		t.Errorf("a refused Set changed the bridge: %s %s %s", get("fail_mode"), get("protocols"), get("controller"))
	}
	for _, good := range []string{"ssl:[2001:db8::1]:6653", "ptcp:6653:127.0.0.1", "ptcp:", "punix:/run/x", "tcp:10.0.0.1"} {
		if err := sw.Set("Bridge", a, []Setting{{Column: "controller", Value: good}}); err != nil {
			t.Errorf("controller %s: %v", good, err)
		}
	}
	if err := sw.Set("Bridge", a, []Setting{{Column: "controller", Value: ""}}); err != nil || get("controller") != "[]" {
		t.Errorf("clearing controller: %v, %s", err, get("controller"))
	}
	if _, err := sw.Get("Bridge", "nobr", "controller"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get on a missing bridge: %v", err)
	}
}

// mod-port's flags act on the translation snapshot: no-flood leaves the
// flood set, down cuts a patch pair in both directions, up restores it.
func TestPortConfigFlags(t *testing.T) {
	sw := newStoreSwitch(t)
	a, b := twoBridges(t, sw)
	pa, pb := "pa"+a[3:], "pb"+b[3:]
	snap := func() (*xport, *xport, []*xport) {
		xs := sw.xs.Load()
		var xa, xb *xport
		for _, p := range xs.bridges[a].ports {
			if p.name == pa {
				xa = p
			}
		}
		for _, p := range xs.bridges[b].ports {
			if p.name == pb {
				xb = p
			}
		}
		return xa, xb, xs.bridges[a].flood
	}
	set := func(port, key, val string) error {
		return sw.Set("Port", port, []Setting{{Column: "other_config", Key: key, Value: val}})
	}
	if xa, xb, flood := snap(); xa.peer != xb || xb.peer != xa || !slices.Contains(flood, xa) {
		t.Fatal("patch pair not linked at start")
	}
	if err := set(pa, NoFloodKey, "true"); err != nil {
		t.Fatal(err)
	}
	if xa, _, flood := snap(); slices.Contains(flood, xa) || xa.peer == nil {
		t.Error("no-flood: port still floods, or lost its peer")
	}
	if err := set(pa, PortDownKey, "true"); err != nil {
		t.Fatal(err)
	}
	if xa, xb, _ := snap(); xa.peer != nil || xb.peer != nil {
		t.Error("down: patch pair still linked")
	}
	if err := set(pa, PortDownKey, ""); err != nil {
		t.Fatal(err)
	}
	if err := set(pa, NoFloodKey, ""); err != nil {
		t.Fatal(err)
	}
	if xa, xb, flood := snap(); xa.peer != xb || xb.peer != xa || !slices.Contains(flood, xa) {
		t.Error("up and flood did not restore the port")
	}
	if err := set(pa, NoFloodKey, "maybe"); !errors.Is(err, ErrInvalid) {
		t.Errorf("no-flood=maybe: %v", err)
	}
	if v, _ := sw.Get("Port", pa, "other_config"); v != "{}" {
		t.Errorf("other_config after a refused value: %s", v)
	}
}

func TestSplitSet(t *testing.T) {
	for in, want := range map[string][]string{
		"":                    nil,
		"[]":                  nil,
		"a,b":                 {"a", "b"},
		`["a", "b", "a"]`:     {"a", "b"},
		"[OpenFlow13]":        {"OpenFlow13"},
		` "tcp:1.2.3.4:6653"`: {"tcp:1.2.3.4:6653"},
	} {
		if got := splitSet(in); !slices.Equal(got, want) {
			t.Errorf("splitSet(%q) = %q, want %q", in, got, want)
		}
	}
}
