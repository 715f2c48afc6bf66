package netdev

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"vswitch/datapath/netdev/afpacket"
	"vswitch/datapath/netdev/internal/link"
	"vswitch/datapath/netdev/internal/nettest"
	"vswitch/datapath/netdev/tap"
)

func TestTypesAndOptions(t *testing.T) {
	for _, want := range []string{"afpacket", "afxdp", "internal", "system", "tap"} {
		if !slices.Contains(Types(), want) {
			t.Fatalf("Types() = %v, missing %s", Types(), want)
		}
	}
	if !slices.IsSorted(Types()) {
		t.Fatalf("Types() not sorted: %v", Types())
	}
	if !Handles("") || !Handles("tap") || Handles("vxlan") {
		t.Fatal("Handles wrong")
	}
	if err := ValidateOptions("system", nil); err != nil {
		t.Fatal(err)
	}
	err := ValidateOptions("tap", map[string]string{"bogus": "1"})
	if err == nil || !strings.Contains(err.Error(), `"bogus"`) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("unknown option: err = %v", err)
	}
	t.Logf("unknown option: %v", err)
	err = ValidateOptions("frobnicator", nil)
	if !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "valid types: afpacket, afxdp, ") {
		t.Fatalf("unknown type: err = %v", err)
	}
	t.Logf("unknown type: %v", err)
	if _, err := Open(Config{Name: "x", Type: "frobnicator"}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("Open(unknown type) err = %v", err)
	}
	if err := ValidateMTU(9000); err == nil {
		t.Fatal("ValidateMTU(9000) accepted a frame larger than a packet buffer")
	}
	if err := ValidateMTU(1500); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Name: "waytoolonginterfacename", Type: "internal"}); err == nil {
		t.Fatal("Open accepted a 23-character name")
	}
}

func TestOpenSystemMissing(t *testing.T) {
	nettest.RequireRoot(t)
	name := "nodev" + nettest.Suffix()
	for _, typ := range []string{"", "system", "afpacket"} {
		_, err := Open(Config{Name: name, Type: typ})
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("Open(%q, type %q) err = %v, want ErrNoDevice", name, typ, err)
		}
		_, err = Open(Config{Name: name, Type: typ, MTU: 1400})
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("Open(%q, type %q, mtu) err = %v, want ErrNoDevice", name, typ, err)
		}
	}
	if LinkExists(name) {
		t.Fatal("LinkExists true for a missing device")
	}
}

func TestOpenKinds(t *testing.T) {
	nettest.RequireRoot(t)
	sfx := nettest.Suffix()
	host := "ndv" + sfx
	nettest.Veth(t, host, "ndw"+sfx, nil)
	if !LinkExists(host) {
		t.Fatal("LinkExists false for a veth")
	}

	p, err := Open(Config{Name: host, MTU: 1400})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*afpacket.Port); !ok {
		t.Fatalf("system port is %T, want *afpacket.Port", p)
	}
	if mtu, _ := link.MTU(host); mtu != 1400 {
		t.Fatalf("system port MTU %d, want 1400", mtu)
	}
	p.Close()

	for _, typ := range []string{"internal", "tap"} {
		name := "nd" + typ[:3] + sfx
		p, err := Open(Config{Name: name, Type: typ, MTU: 1280})
		if err != nil {
			t.Fatalf("Open %s: %v", typ, err)
		}
		if _, ok := p.(*tap.Port); !ok {
			t.Fatalf("%s port is %T", typ, p)
		}
		if mtu, _ := link.MTU(name); mtu != 1280 {
			t.Fatalf("%s port MTU %d, want 1280", typ, mtu)
		}
		p.Close()
	}
	// An internal port over a name a veth already has: one-line error.
	_, err = Open(Config{Name: host, Type: "internal"})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("internal port over a veth: err = %v", err)
	}
	t.Logf("internal over veth: %v", err)
}
