package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// attachAFXDP adds h's host-side veth to br as an AF_XDP port in XDP mode
// mode ("" is best-effort: native where the driver has it, generic
// otherwise) and waits for it to come up. Generic mode drops frames larger
// than a UMEM chunk, so the namespace end sends no TSO/GSO super-frames.
// It returns the mode the kernel reports: "xdp" (native) or "xdpgeneric".
func attachAFXDP(d *Daemon, br string, h *Host, mode string) string {
	d.t.Helper()
	offloadsOff(d.t, h)
	args := []string{"--", "set", "Interface", h.Port, "type=afxdp"}
	if mode != "" {
		args = append(args, "options:xdp-mode="+mode)
	}
	attach(d, br, h, args...)
	if i := d.Show().Iface(h.Port); i == nil || i.Type != "afxdp" {
		d.t.Fatalf("show: Interface %s is not type afxdp:\n%s", h.Port, d.Vsctl("show"))
	}
	l := run(d.t, "ip", "link", "show", h.Port)
	if !strings.Contains(l, "prog/xdp") {
		d.t.Fatalf("%s has no XDP program attached:\n%s", h.Port, l)
	}
	got := "xdp"
	if strings.Contains(l, " xdpgeneric ") {
		got = "xdpgeneric"
	}
	if mode == "generic" && got != "xdpgeneric" {
		d.t.Fatalf("%s with xdp-mode=generic is not in generic mode:\n%s", h.Port, l)
	}
	if mode == "native" && got != "xdp" {
		d.t.Fatalf("%s with xdp-mode=native is not in native mode:\n%s", h.Port, l)
	}
	return got
}

// Namespaces attached over AF_XDP forward ping and a verified TCP stream,
// first two of them, then four; the port counters in show and dump-ports
// follow the traffic and every queue is polled by a PMD.
func TestAFXDPForwarding(t *testing.T) {
	requireE2E(t, "ping", "ethtool")
	d := startDaemon(t)
	br := d.AddBridge("brx")
	net := subnet()
	var hs []*Host
	for i := 1; i <= 2; i++ {
		h := newHost(t, fmt.Sprintf("%s.%d/24", net, i))
		t.Logf("%s attached in XDP mode %s (best-effort)", h.Port, attachAFXDP(d, br, h, ""))
		hs = append(hs, h)
	}
	h1, h2 := hs[0], hs[1]
	t.Logf("show:\n%s", d.Vsctl("show"))

	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)

	p1, p2 := strconv.Itoa(d.Ofport(h1.Port)), strconv.Itoa(d.Ofport(h2.Port))
	showBefore1, showBefore2 := d.Stats(h1.Port), d.Stats(h2.Port)
	portsBefore, _ := d.Ports(br)

	const n = 8 << 20
	mbps := transferPort(t, h1, h2, "5001", n)
	t.Logf("TCP %d bytes %s -> %s over AF_XDP verified, %.0f Mbit/s", n, h1.NS, h2.NS, mbps)
	mbps = transferPort(t, h2, h1, "5002", n)
	t.Logf("TCP %d bytes %s -> %s over AF_XDP verified, %.0f Mbit/s", n, h2.NS, h1.NS, mbps)

	// show: each port received ≥ n bytes from its namespace and sent ≥ n
	// to it (one stream each way).
	showAfter1, showAfter2 := d.Stats(h1.Port), d.Stats(h2.Port)
	for _, c := range []struct {
		port          string
		before, after map[string]uint64
	}{{h1.Port, showBefore1, showAfter1}, {h2.Port, showBefore2, showAfter2}} {
		for _, k := range []string{"rx_bytes", "tx_bytes"} {
			if got := c.after[k] - c.before[k]; got < n {
				t.Errorf("show: %s of %s moved by %d, want ≥ %d", k, c.port, got, n)
			}
		}
		if c.after["rx_packets"]-c.before["rx_packets"] < n/1500 {
			t.Errorf("show: rx_packets of %s moved by %d, want ≥ %d", c.port, c.after["rx_packets"]-c.before["rx_packets"], n/1500)
		}
	}
	portsAfter, dp := d.Ports(br)
	t.Logf("dump-ports:\n%s", dp)
	for _, p := range []string{p1, p2} {
		b, a := portsBefore[p], portsAfter[p]
		if a.RxBytes-b.RxBytes < n || a.TxBytes-b.TxBytes < n {
			t.Errorf("dump-ports: port %s rx bytes +%d, tx bytes +%d, want ≥ %d each", p, a.RxBytes-b.RxBytes, a.TxBytes-b.TxBytes, n)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every AF_XDP queue is assigned to a PMD.
	rxq := d.Vsctl("pmd-rxq-show")
	for _, h := range hs {
		if !strings.Contains(rxq, "port: "+h.Port) {
			t.Fatalf("pmd-rxq-show does not list %s:\n%s", h.Port, rxq)
		}
	}

	// Two more namespaces, in generic XDP mode: every pair talks.
	for i := 3; i <= 4; i++ {
		h := newHost(t, fmt.Sprintf("%s.%d/24", net, i))
		t.Logf("%s attached in XDP mode %s", h.Port, attachAFXDP(d, br, h, "generic"))
		hs = append(hs, h)
	}
	for _, a := range hs {
		for _, b := range hs {
			if a != b {
				pingOK(t, a, b.IP)
			}
		}
	}
	mbps = transferPort(t, hs[2], hs[3], "5003", n)
	t.Logf("TCP %d bytes %s -> %s over AF_XDP verified (4 ports, generic XDP), %.0f Mbit/s", n, hs[2].NS, hs[3].NS, mbps)
	for _, h := range hs {
		s := d.Stats(h.Port)
		if s["rx_packets"] == 0 || s["tx_packets"] == 0 {
			t.Errorf("show: %s rx_packets=%d tx_packets=%d, want both > 0", h.Port, s["rx_packets"], s["tx_packets"])
		}
	}
	t.Logf("pmd-rxq-show:\n%s", d.Vsctl("pmd-rxq-show"))

	// Removing a port detaches its XDP program: the device goes back to
	// delivering frames to its own stack.
	last := hs[3].Port
	t.Logf("%s", strings.TrimSpace(run(t, "ip", "link", "show", last)))
	d.Vsctl("del-port", br, last)
	var l string
	if !waitFor(5*time.Second, func() bool {
		l = run(t, "ip", "link", "show", last)
		return !strings.Contains(l, "prog/xdp")
	}) {
		t.Fatalf("XDP program still attached to %s after del-port:\n%s", last, l)
	}
}
