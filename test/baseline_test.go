package e2e

import (
	"strings"
	"testing"
	"time"
)

// The same peers joined by a bare veth pair, no switch: checks the harness
// and gives the figure the switch's throughput is read beside.
func TestBaselineVeth(t *testing.T) {
	requireE2E(t, "ping")
	net := subnet()
	a := &Host{t: t, NS: newNS(t), IP: net + ".1"}
	b := &Host{t: t, NS: newNS(t), IP: net + ".2"}
	run(t, "ip", "-n", a.NS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b.NS)
	for _, h := range []*Host{a, b} {
		run(t, "ip", "-n", h.NS, "addr", "add", h.IP+"/24", "dev", "eth0")
		run(t, "ip", "-n", h.NS, "link", "set", "eth0", "up")
		h.MAC = h.mac("eth0")
	}
	c := startCapture(t, b, "arp and arp[6:2] = 1 and arp src host "+a.IP)
	pingOK(t, a, b.IP)
	if out := c.wait(t, 5*time.Second); !strings.Contains(out, "Request who-has "+b.IP+" tell "+a.IP) {
		t.Fatalf("tcpdump did not see the ARP request:\n%s", out)
	}
	mbps := transfer(t, a, b, 24<<20)
	t.Logf("baseline: TCP 24 MiB over a bare veth pair, %.0f Mbit/s", mbps)
}
