package e2e

import "testing"

// The parsers the e2e tests rely on, checked against ovs-vsctl and
// ovs-appctl output (runs without root).
func TestParseShow(t *testing.T) {
	const out = `0b6e4a2e-8d0f-4b34-9e51-7d1a1e0b4e11
    Bridge br0
        Port br0
            Interface br0
                type: internal
                ofport: 65534
        Port vt1a2b3c4d
            tag: 10
            Interface vt1a2b3c4d
                ofport: 1
                statistics: {collisions=0, rx_bytes=1234, rx_dropped=3, rx_errors=0, rx_packets=17, tx_bytes=99, tx_dropped=0, tx_errors=0, tx_packets=2}
        Port vtmissing
            Interface vtmissing
                error: "could not open network device vtmissing (No such device)"
    ovs_version: "vswitch"
`
	s := parseShow(out)
	if got := s.Bridges["br0"]; len(got) != 3 || got[1] != "vt1a2b3c4d" {
		t.Fatalf("ports %v", got)
	}
	i := s.Iface("vt1a2b3c4d")
	if i == nil || i.Ofport != 1 || i.Tag != "10" || i.Stats["rx_packets"] != 17 || i.Stats["rx_dropped"] != 3 {
		t.Fatalf("iface %+v", i)
	}
	if i := s.Iface("br0"); i.Type != "internal" || i.Ofport != 65534 {
		t.Fatalf("br0 %+v", i)
	}
	if i := s.Iface("vtmissing"); i.Error != "could not open network device vtmissing (No such device)" {
		t.Fatalf("error %q", i.Error)
	}
	if st := stableShow(out); st == out || len(st) == 0 {
		t.Fatal("stableShow kept the uuid and statistics")
	}
}

func TestParseFDB(t *testing.T) {
	const out = ` port  VLAN  MAC                Age
    1     0  aa:bb:cc:dd:ee:01    3
    2    10  AA:BB:CC:DD:EE:02    0
LOCAL     0  aa:bb:cc:dd:ee:03   12
`
	es := parseFDB(out)
	if len(es) != 3 {
		t.Fatalf("%+v", es)
	}
	if e := fdbFind(es, "aa:bb:cc:dd:ee:02"); e == nil || e.Port != "2" || e.VLAN != 10 {
		t.Fatalf("%+v", e)
	}
	if e := fdbFind(es, "aa:bb:cc:dd:ee:03"); e == nil || e.Port != "LOCAL" {
		t.Fatalf("%+v", e)
	}
}
