package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A new bridge looks like OVS's: an internal port named after the bridge
// at OpenFlow port LOCAL, created down, and one visible NORMAL flow.
func TestNewBridgeDefaults(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	br := d.AddBridge("brn")

	if got := d.Vsctl("list-br"); !containsLine(got, br) {
		t.Fatalf("list-br = %q, want %s", got, br)
	}
	flows := d.Vsctl("dump-flows", br)
	t.Logf("dump-flows:\n%s", flows)
	if !strings.Contains(flows, "priority=0") || !strings.Contains(flows, "actions=NORMAL") {
		t.Fatalf("new bridge lacks priority=0 actions=NORMAL:\n%s", flows)
	}
	if n := d.Ofport(br); n != 65534 {
		t.Fatalf("ofport of the bridge's internal port = %d, want 65534 (LOCAL)", n)
	}
	s := d.Show()
	if i := s.Iface(br); i == nil || i.Type != "internal" {
		t.Fatalf("show lacks Interface %s type internal:\n%s", br, s.Raw)
	}
	link := run(t, "ip", "-o", "link", "show", br)
	flags := link[strings.Index(link, "<"):strings.Index(link, ">")]
	if strings.Contains(flags+",", ",UP,") || strings.Contains(flags, "<UP") {
		t.Fatalf("internal port %s is up at creation, OVS creates it down: %s", br, link)
	}

	d.Vsctl("del-br", br)
	if got := d.Vsctl("list-br"); containsLine(got, br) {
		t.Fatalf("list-br after del-br still lists %s", br)
	}
	if waitFor(5*time.Second, func() bool { return exec.Command("ip", "link", "show", br).Run() != nil }) == false {
		t.Fatalf("device %s still exists after del-br", br)
	}
}

// Two namespaces on one bridge: ping both ways and a verified TCP transfer
// with the veths' default offloads (TSO/GSO/checksum) on.
func TestTwoNamespaces(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	br := d.AddBridge("br2")
	h1, h2 := twoHosts(t, d, br)
	t.Logf("offloads on %s: %s", h1.Port, offloads(h1.Port))

	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)

	before := d.Stats(h1.Port)
	const n = 24 << 20
	mbps := transfer(t, h1, h2, n)
	t.Logf("TCP %d bytes %s -> %s verified, %.0f Mbit/s", n, h1.NS, h2.NS, mbps)
	after := d.Stats(h1.Port)
	if got := after["rx_bytes"] - before["rx_bytes"]; got < n {
		t.Fatalf("rx_bytes on %s moved by %d, want ≥ %d", h1.Port, got, n)
	}
	t.Logf("show:\n%s", d.Vsctl("show"))
}

// Four namespaces: all-pairs ping, ARP requests flooded to every other
// port, MAC learning on the right ports, and a MAC moving between ports.
func TestFourNamespaces(t *testing.T) {
	requireE2E(t, "ping", "tcpdump")
	d := startDaemon(t)
	br := d.AddBridge("br4")
	net := subnet()
	var hs []*Host
	for i := 1; i <= 4; i++ {
		h := newHost(t, fmt.Sprintf("%s.%d/24", net, i))
		attach(d, br, h)
		hs = append(hs, h)
	}

	for _, a := range hs {
		for _, b := range hs {
			if a != b {
				pingOK(t, a, b.IP)
			}
		}
	}

	// MAC learning: every namespace's MAC sits on its own port, VLAN 0.
	fdb := d.Vsctl("fdb/show", br)
	t.Logf("fdb/show:\n%s", fdb)
	for _, h := range hs {
		e := fdbFind(parseFDB(fdb), h.MAC)
		want := strconv.Itoa(d.Ofport(h.Port))
		if e == nil || e.Port != want || e.VLAN != 0 {
			t.Fatalf("fdb entry for %s (%s): %+v, want port %s vlan 0", h.MAC, h.NS, e, want)
		}
	}

	// ARP flooding: a request from ns1 for ns2 reaches ns2, ns3 and ns4.
	filter := fmt.Sprintf("arp and arp[6:2] = 1 and arp src host %s and arp dst host %s", hs[0].IP, hs[1].IP)
	var caps []*capture
	txBefore := map[string]uint64{}
	for _, h := range hs[1:] {
		caps = append(caps, startCapture(t, h, filter))
		txBefore[h.Port] = d.Stats(h.Port)["tx_packets"]
	}
	d.Vsctl("fdb/flush", br)
	hs[0].MustExec("ip", "neigh", "flush", "dev", "eth0")
	hs[0].Exec("ping", "-n", "-c", "1", "-W", "1", hs[1].IP)
	for i, c := range caps {
		out := c.wait(t, 10*time.Second)
		want := fmt.Sprintf("Request who-has %s tell %s", hs[1].IP, hs[0].IP)
		if !strings.Contains(out, want) {
			t.Fatalf("%s did not see the flooded ARP request %q; tcpdump:\n%s", hs[i+1].NS, want, out)
		}
		if after := d.Stats(hs[i+1].Port)["tx_packets"]; after <= txBefore[hs[i+1].Port] {
			t.Fatalf("tx_packets on %s did not move with the flood (%d -> %d)", hs[i+1].Port, txBefore[hs[i+1].Port], after)
		}
	}
	t.Logf("ARP request from %s seen in %s, %s, %s", hs[0].NS, hs[1].NS, hs[2].NS, hs[3].NS)

	// MAC move: ns4 goes silent and ns3 takes over its MAC and address, as
	// a migrated VM would. The switch must relearn the MAC on ns3's port
	// and deliver traffic for it there.
	h3, h4 := hs[2], hs[3]
	movedMAC, movedIP := h4.MAC, h4.IP
	h4.MustExec("ip", "link", "set", "eth0", "down")
	h3.MustExec("ip", "addr", "flush", "dev", "eth0")
	h3.MustExec("ip", "link", "set", "eth0", "down")
	h3.MustExec("ip", "link", "set", "eth0", "address", movedMAC)
	h3.MustExec("ip", "addr", "add", movedIP+"/24", "dev", "eth0")
	h3.MustExec("ip", "link", "set", "eth0", "up")
	h3.IP, h3.MAC = movedIP, movedMAC

	pingOK(t, h3, hs[0].IP)
	port3 := strconv.Itoa(d.Ofport(h3.Port))
	var e *FDBEntry
	if !waitFor(5*time.Second, func() bool {
		e = fdbFind(parseFDB(d.Vsctl("fdb/show", br)), movedMAC)
		return e != nil && e.Port == port3
	}) {
		t.Fatalf("after the move, fdb entry for %s = %+v, want port %s\n%s", movedMAC, e, port3, d.Vsctl("fdb/show", br))
	}
	tx3 := d.Stats(h3.Port)["tx_packets"]
	pingOK(t, hs[0], movedIP)
	if got := d.Stats(h3.Port)["tx_packets"]; got < tx3+5 {
		t.Fatalf("traffic for the moved MAC did not follow it to %s: tx_packets %d -> %d", h3.Port, tx3, got)
	}
	t.Logf("MAC %s moved from %s to %s (ofport %s)", movedMAC, h4.Port, h3.Port, port3)
}

// Two access VLANs are isolated from each other; a trunk port carries both.
func TestVLANs(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	br := d.AddBridge("brv")
	// All access hosts share one /16, so only the VLANs keep them apart.
	b := subnet()
	prefix := b[:strings.LastIndex(b, ".")]
	h1 := newHost(t, prefix+".10.1/16")
	h2 := newHost(t, prefix+".10.2/16")
	h3 := newHost(t, prefix+".20.3/16")
	h4 := newHost(t, prefix+".20.4/16")
	attach(d, br, h1, "--", "set", "Port", h1.Port, "tag=10")
	attach(d, br, h2, "--", "set", "Port", h2.Port, "tag=10")
	attach(d, br, h3, "--", "set", "Port", h3.Port, "tag=20")
	attach(d, br, h4, "--", "set", "Port", h4.Port, "tag=20")

	// The trunk host has no address on eth0, one VLAN subinterface per
	// VLAN; on a kernel without 802.1Q, nettool vlanhost stands in.
	tr := newHost(t, "")
	v10, v20 := prefix+".10.5", prefix+".20.5"
	out, err := tr.Exec("ip", "link", "add", "link", "eth0", "name", "eth0.10", "type", "vlan", "id", "10")
	kernelVLAN := err == nil
	if !kernelVLAN && !strings.Contains(out, "Unknown device type") {
		t.Fatalf("ip link add type vlan: %v\n%s", err, out)
	}
	var vh *vlanHost
	if kernelVLAN {
		tr.MustExec("ip", "link", "add", "link", "eth0", "name", "eth0.20", "type", "vlan", "id", "20")
		tr.MustExec("ip", "addr", "add", v10+"/24", "dev", "eth0.10")
		tr.MustExec("ip", "addr", "add", v20+"/24", "dev", "eth0.20")
		tr.MustExec("ip", "link", "set", "eth0.10", "up")
		tr.MustExec("ip", "link", "set", "eth0.20", "up")
	} else {
		t.Logf("kernel lacks 802.1Q (CONFIG_VLAN_8021Q): the trunk peer is nettool vlanhost")
		vh = startVLANHost(t, tr, "10="+v10, "20="+v20)
	}
	attach(d, br, tr, "--", "set", "Port", tr.Port, "trunks=10,20")

	if got := strings.TrimSpace(d.Vsctl("get", "Port", h1.Port, "tag")); got != "10" {
		t.Fatalf("get Port %s tag = %q, want 10", h1.Port, got)
	}

	pingOK(t, h1, h2.IP)
	pingOK(t, h3, h4.IP)
	pingFails(t, h1, h3.IP)
	pingFails(t, h2, h4.IP)
	pingFails(t, h4, h1.IP)

	if kernelVLAN {
		pingOK(t, tr, h1.IP)
		pingOK(t, tr, h3.IP)
	}
	pingOK(t, h1, v10)
	pingOK(t, h2, v10)
	pingOK(t, h3, v20)
	pingOK(t, h4, v20)
	if vh != nil {
		// vlanhost answers for an address only in its own VLAN, so these
		// fail unless the switch tagged VLAN 10 traffic as 20 or back.
		pingFails(t, h1, v20)
		pingFails(t, h3, v10)
		st := vh.stop(t)
		t.Logf("vlanhost: %+v", st)
		if st.EchoReplies[10] < 10 || st.EchoReplies[20] < 10 {
			t.Fatalf("trunk answered %d echoes in VLAN 10 and %d in VLAN 20, want ≥ 10 each", st.EchoReplies[10], st.EchoReplies[20])
		}
		for vlan, n := range st.Frames {
			if vlan != 10 && vlan != 20 {
				t.Errorf("trunk port received %d frames in VLAN %d (-1: untagged), want only 10 and 20", n, vlan)
			}
		}
	}

	fdb := parseFDB(d.Vsctl("fdb/show", br))
	for _, c := range []struct {
		h    *Host
		vlan int
	}{{h1, 10}, {h3, 20}} {
		if e := fdbFind(fdb, c.h.MAC); e == nil || e.VLAN != c.vlan {
			t.Fatalf("fdb entry for %s = %+v, want VLAN %d\n%s", c.h.MAC, e, c.vlan, d.Vsctl("fdb/show", br))
		}
	}
	// The trunk host's MAC is learned in both VLANs.
	var vlans []int
	for _, e := range fdb {
		if e.MAC == tr.MAC {
			vlans = append(vlans, e.VLAN)
		}
	}
	if len(vlans) != 2 {
		t.Fatalf("trunk MAC %s learned in VLANs %v, want 10 and 20\n%s", tr.MAC, vlans, d.Vsctl("fdb/show", br))
	}
}

// Patch ports join two bridges.
func TestPatchPorts(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	bra := d.AddBridge("bra")
	brb := d.AddBridge("brb")
	pa, pb := uniq("pa", 8), uniq("pb", 8)
	d.Vsctl("add-port", bra, pa, "--", "set", "Interface", pa, "type=patch", "options:peer="+pb)
	d.Vsctl("add-port", brb, pb, "--", "set", "Interface", pb, "type=patch", "options:peer="+pa)
	net := subnet()
	h1 := newHost(t, net+".1/24")
	h2 := newHost(t, net+".2/24")
	attach(d, bra, h1)
	attach(d, brb, h2)

	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)
	mbps := transfer(t, h2, h1, 4<<20)
	t.Logf("TCP 4 MiB across the patch verified, %.0f Mbit/s", mbps)

	// Each side learned the far namespace's MAC on its patch port.
	for _, c := range []struct{ br, patch, mac string }{{bra, pa, h2.MAC}, {brb, pb, h1.MAC}} {
		want := strconv.Itoa(d.Ofport(c.patch))
		if e := fdbFind(parseFDB(d.Vsctl("fdb/show", c.br)), c.mac); e == nil || e.Port != want {
			t.Fatalf("%s: fdb entry for %s = %+v, want patch port %s", c.br, c.mac, e, want)
		}
	}
	if ifc := d.Show().Iface(pa); ifc == nil || ifc.Type != "patch" {
		t.Fatalf("show lacks patch Interface %s:\n%s", pa, d.Vsctl("show"))
	}
}

// A port whose device does not exist yet shows an error and comes up by
// itself when the device appears.
func TestPortDeviceAppearsLater(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	br := d.AddBridge("brl")
	net := subnet()
	h1 := newHost(t, net+".1/24")
	attach(d, br, h1)

	late := uniq("vt", 8)
	d.Vsctl("add-port", br, late)
	s := d.Show()
	i := s.Iface(late)
	if i == nil || i.Error == "" {
		t.Fatalf("show has no error for %s whose device does not exist:\n%s", late, s.Raw)
	}
	t.Logf("error shown before the device exists: %q", i.Error)

	h2 := newHostNamed(t, late, net+".2/24")
	if !waitFor(15*time.Second, func() bool {
		i := d.Show().Iface(late)
		return i != nil && i.Error == "" && i.Ofport > 0
	}) {
		t.Fatalf("%s did not come up within 15s of its device appearing:\n%s", late, d.Vsctl("show"))
	}
	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)
}

// ---------------------------------------------------------------------------

func containsLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

func fdbFind(es []FDBEntry, mac string) *FDBEntry {
	for i := range es {
		if es[i].MAC == strings.ToLower(mac) {
			return &es[i]
		}
	}
	return nil
}

// offloads summarises a device's main offload settings for the log.
func offloads(dev string) string {
	out, err := exec.Command("ethtool", "-k", dev).Output()
	if err != nil {
		return "(ethtool not available)"
	}
	var on []string
	for _, l := range strings.Split(string(out), "\n") {
		for _, k := range []string{"tcp-segmentation-offload:", "generic-segmentation-offload:", "tx-checksumming:", "rx-checksumming:"} {
			if strings.HasPrefix(strings.TrimSpace(l), k) {
				on = append(on, strings.TrimSpace(l))
			}
		}
	}
	return strings.Join(on, ", ")
}

// capture is a tcpdump running in a namespace.
type capture struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	out    bytes.Buffer
	done   chan error
}

// startCapture runs `tcpdump -c 1` on eth0 of h and returns once it listens.
func startCapture(t *testing.T, h *Host, filter string) *capture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c := &capture{cancel: cancel, done: make(chan error, 1)}
	c.cmd = exec.CommandContext(ctx, "ip", "netns", "exec", h.NS, "tcpdump", "-i", "eth0", "-n", "-l", "-c", "1", filter)
	c.cmd.Stdout = &c.out
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	sc := bufio.NewScanner(stderr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), "listening on") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
		c.done <- c.cmd.Wait()
	}()
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "listening on") {
		t.Fatalf("tcpdump in %s did not start: %s", h.NS, strings.Join(lines, "\n"))
	}
	return c
}

// wait returns what tcpdump printed once it captured its packet or timed out.
func (c *capture) wait(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.cancel()
		<-c.done
	}
	return c.out.String()
}

// vlanHost is `nettool vlanhost` running in a namespace.
type vlanHost struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr bytes.Buffer
}

type vlanHostStats struct {
	ARPReplies  map[int]int `json:"arp_replies"`
	EchoReplies map[int]int `json:"echo_replies"`
	Frames      map[int]int `json:"frames"`
}

func startVLANHost(t *testing.T, h *Host, addrs ...string) *vlanHost {
	t.Helper()
	args := []string{"netns", "exec", h.NS, nettoolBin, "vlanhost", "-dev", "eth0"}
	for _, a := range addrs {
		args = append(args, "-addr", a)
	}
	v := &vlanHost{cmd: exec.Command("ip", args...)}
	v.cmd.Stderr = &v.stderr
	so, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v.cmd.ProcessState == nil {
			v.cmd.Process.Kill()
			v.cmd.Wait()
		}
	})
	v.stdout = bufio.NewReader(so)
	// The first line comes once the socket is bound (or the pipe closes
	// if nettool fails).
	if l, err := v.stdout.ReadString('\n'); err != nil || l != "ready\n" {
		v.cmd.Wait()
		t.Fatalf("nettool vlanhost did not start: %q %v %s", l, err, v.stderr.String())
	}
	return v
}

// stop ends vlanhost and returns what it counted.
func (v *vlanHost) stop(t *testing.T) vlanHostStats {
	t.Helper()
	v.cmd.Process.Signal(syscall.SIGTERM)
	out, _ := io.ReadAll(v.stdout)
	err := v.cmd.Wait()
	var st vlanHostStats
	if err != nil || json.Unmarshal(out, &st) != nil {
		t.Fatalf("nettool vlanhost: %v\n%s%s", err, out, v.stderr.String())
	}
	return st
}
