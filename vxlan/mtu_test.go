package vxlan

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestInnerMTU(t *testing.T) {
	v4, _ := BuildTemplate(v4Config())
	v6, _ := BuildTemplate(v6Config()) // with a VLAN tag: does not count against the MTU
	if v4.InnerMTU(1500) != 1450 || v6.InnerMTU(1500) != 1430 || v4.InnerMTU(1600) != 1550 {
		t.Fatalf("inner MTU %d %d %d", v4.InnerMTU(1500), v6.InnerMTU(1500), v4.InnerMTU(1600))
	}
	if !v4.Fits(1450+EthLen, 1500) || v4.Fits(1451+EthLen, 1500) || !v6.Fits(1430+EthLen, 1500) || v6.Fits(1431+EthLen, 1500) {
		t.Fatal("Fits disagrees with InnerMTU")
	}
}

func TestFragNeeded(t *testing.T) {
	payload := make([]byte, 1000)
	for i := range payload {
		payload[i] = byte(i)
	}
	big := icmpEcho(macA, macB, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 7, 1, payload)
	big[EthLen+6] = 0x40 // DF
	binary.BigEndian.PutUint16(big[EthLen+10:], 0)
	binary.BigEndian.PutUint16(big[EthLen+10:], rfc1071(big[EthLen:EthLen+IPv4Len]))
	buf := make([]byte, FragNeededMaxLen)
	n, err := FragNeeded(buf, big, 1450, netip.MustParseAddr("192.168.77.1"), 64)
	if err != nil {
		t.Fatal(err)
	}
	f := buf[:n]
	if n != FragNeededMaxLen || !bytes.Equal(f[0:6], macA[:]) || !bytes.Equal(f[6:12], macB[:]) {
		t.Fatalf("len %d, MACs %x %x", n, f[0:6], f[6:12])
	}
	ip := f[EthLen : EthLen+IPv4Len]
	want := unhex(t, "45c0 0240 0000 0000 40 01 0000 c0a84d01 0a000001")
	binary.BigEndian.PutUint16(want[10:], rfc1071(want))
	if !bytes.Equal(ip, want) || rfc1071(ip) != 0 {
		t.Fatalf("IPv4 header %x, want %x", ip, want)
	}
	icmp := f[EthLen+IPv4Len:]
	if icmp[0] != 3 || icmp[1] != 4 || binary.BigEndian.Uint16(icmp[6:]) != 1450 || rfc1071(icmp) != 0 {
		t.Fatalf("ICMP header %x", icmp[:8])
	}
	if !bytes.Equal(icmp[8:], big[EthLen:EthLen+548]) {
		t.Fatal("quoted datagram differs from the original")
	}

	noDF := bytes.Clone(big)
	noDF[EthLen+6] = 0
	icmpErr := bytes.Clone(big)
	icmpErr[EthLen+IPv4Len] = 3
	frag := bytes.Clone(big)
	frag[EthLen+7] = 1
	for name, fr := range map[string][]byte{"no DF": noDF, "icmp error": icmpErr, "later fragment": frag, "short": big[:20], "arp": arpReply(macB, "10.0.0.1")} {
		if _, err := FragNeeded(buf, fr, 1450, netip.MustParseAddr("192.168.77.1"), 64); err == nil {
			t.Errorf("%s: answered", name)
		}
	}
	if _, err := FragNeeded(buf[:100], big, 1450, netip.MustParseAddr("192.168.77.1"), 64); err != ErrShortBuffer {
		t.Fatalf("short buffer: %v", err)
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(10, 3)
	now := int64(1e9)
	n := 0
	for range 10 {
		if l.Allow(now) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("burst allowed %d, want 3", n)
	}
	if l.Allow(now + 50e6) {
		t.Fatal("allowed before a token accrued")
	}
	if !l.Allow(now+100e6) || l.Allow(now+100e6) {
		t.Fatal("want exactly one event after 100ms at 10/s")
	}
	if l.Allow(now) { // a clock going backwards earns nothing
		t.Fatal("allowed on a backwards clock")
	}
	n = 0
	for range 10 {
		if l.Allow(now + 10e9) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("after a long pause allowed %d, want the burst 3", n)
	}
	var zero Limiter
	if zero.Allow(now) {
		t.Fatal("zero limiter allowed an event")
	}
}
