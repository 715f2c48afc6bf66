package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts for TCG guests on a 2-core machine: a boot alone is ~5 s, two
// at once next to a PMD take longer.
const (
	vmBootTimeout = 120 * time.Second
	vmStepTimeout = 120 * time.Second
	vmMiB         = 8
)

// bootAll waits for every guest's GUEST-READY and logs the boot times.
func bootAll(t *testing.T, gs ...*Guest) {
	t.Helper()
	var wg sync.WaitGroup
	type ready struct {
		d  time.Duration
		kv map[string]string
	}
	res := make([]ready, len(gs))
	for i, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := g.waitLine(readyRe, 0, vmBootTimeout)
			if err == nil {
				d, kv := g.WaitReady(0)
				res[i] = ready{d, kv}
			}
		}()
	}
	wg.Wait()
	for i, g := range gs {
		if res[i].kv == nil {
			g.WaitReady(0) // fails the test with the console
		}
		t.Logf("guest %s up in %.1fs (guest uptime %ss) ip=%s mac=%s virtio features=%s",
			g.cfg.Name, res[i].d.Seconds(), res[i].kv["uptime"], res[i].kv["ip"], res[i].kv["mac"], res[i].kv["features"])
		// The sysfs feature string has one character per bit: bit 0 is
		// VIRTIO_NET_F_CSUM, so the guest hands over partial checksums.
		if f := res[i].kv["features"]; !strings.HasPrefix(f, "1") {
			t.Errorf("guest %s: VIRTIO_NET_F_CSUM not negotiated (features %q)", g.cfg.Name, f)
		}
	}
}

// wantPing checks a PING-RESULT line: every probe answered.
func wantPing(t *testing.T, g *Guest) {
	t.Helper()
	r := g.Result("PING", vmStepTimeout)
	t.Logf("guest %s ping %s: sent=%s recv=%s", g.cfg.Name, r["dst"], r["sent"], r["recv"])
	if r["rc"] != "0" || r["sent"] == "" || r["recv"] != r["sent"] {
		t.Fatalf("guest %s ping %s: sent=%s recv=%s rc=%s", g.cfg.Name, r["dst"], r["sent"], r["recv"], r["rc"])
	}
}

// wantSame checks that a receiver got exactly the bytes a sender sent.
func wantSame(t *testing.T, what string, sent, got map[string]string) {
	t.Helper()
	want := strconv.Itoa(vmMiB << 20)
	if sent["bytes"] != want || got["bytes"] != want {
		t.Fatalf("%s: sent %s bytes, received %s, want %s", what, sent["bytes"], got["bytes"], want)
	}
	if sent["sha256"] == "" || got["sha256"] != sent["sha256"] {
		t.Fatalf("%s: sha256 sent %s, received %s", what, sent["sha256"], got["sha256"])
	}
}

// Two guests on one bridge through dpdkvhostuser ports (the switch
// listens, QEMU dials with reconnect=1): they ping each other and move
// 8 MiB of random bytes over TCP, verified by SHA-256 on both ends.
func TestVMTwoGuests(t *testing.T) {
	img := requireVM(t)
	d := startDaemon(t)
	br := d.AddBridge("brv")
	p1, p2 := uniq("vhu", 6), uniq("vhu", 6)
	addVhostPort(d, br, p1, "dpdkvhostuser")
	addVhostPort(d, br, p2, "dpdkvhostuser")
	st := waitVhostState(d, p1, "listening", 5*time.Second)
	if want := filepath.Join(d.Dir, p1); st["socket"] != want {
		t.Errorf("port %s socket %q, want %q", p1, st["socket"], want)
	}

	n := subnet()
	ip1, ip2 := n+".1", n+".2"
	dir := vmDir(t)
	g1 := bootGuest(t, img, GuestConfig{Name: "g1", Sock: filepath.Join(d.Dir, p1), IP: ip1 + "/24", LogDir: dir,
		Run: fmt.Sprintf("waitping %s 90 && pingc %s 10 && rx 5001", ip2, ip2)})
	g2 := bootGuest(t, img, GuestConfig{Name: "g2", Sock: filepath.Join(d.Dir, p2), IP: ip2 + "/24", LogDir: dir,
		Run: fmt.Sprintf("waitping %s 90 && pingc %s 10 && tx %s 5001 %d", ip1, ip1, ip1, vmMiB)})
	bootAll(t, g1, g2)
	for _, p := range []string{p1, p2} {
		st := waitVhostState(d, p, "connected", 10*time.Second)
		t.Logf("port %s: %v", p, st)
	}
	wantPing(t, g1)
	wantPing(t, g2)
	tx := g2.Result("TX", vmStepTimeout)
	rx := g1.Result("RX", vmStepTimeout)
	t.Logf("g2 -> g1 TCP: %s bytes in %ss (%.2f MiB/s)", tx["bytes"], tx["secs"], mibps(tx))
	wantSame(t, "g2 -> g1", tx, rx)
	for _, g := range []*Guest{g1, g2} {
		if rc := g.WaitExit(vmStepTimeout); rc != 0 {
			t.Fatalf("guest %s exited rc=%d", g.cfg.Name, rc)
		}
	}
	// The bytes crossed the switch. Bytes, not packets: the guest sends
	// TSO frames (HOST_TSO4 is offered), the switch segments them for a
	// peer that did not negotiate GUEST_TSO4.
	s1, s2 := d.Stats(p1), d.Stats(p2)
	t.Logf("stats %s: %v", p1, s1)
	t.Logf("stats %s: %v", p2, s2)
	if s2["rx_bytes"] < vmMiB<<20 || s1["tx_bytes"] < vmMiB<<20 {
		t.Errorf("counters: %s rx_bytes=%d, %s tx_bytes=%d, want ≥ %d each", p2, s2["rx_bytes"], p1, s1["tx_bytes"], vmMiB<<20)
	}
	// Powered off: the ports go back to listening.
	waitVhostState(d, p1, "listening", 10*time.Second)
	waitVhostState(d, p2, "listening", 10*time.Second)
}

func mibps(r map[string]string) float64 {
	b, _ := strconv.ParseFloat(r["bytes"], 64)
	s, _ := strconv.ParseFloat(r["secs"], 64)
	if s <= 0 {
		return 0
	}
	return b / s / (1 << 20)
}

// A guest's TCP stream reaches a network-namespace host on an AF_PACKET
// port intact: the guest hands over partial checksums (VIRTIO_NET_F_CSUM)
// and the switch must complete them, since AF_PACKET transmits without
// offloads and the host's stack drops bad checksums. Then the other
// direction (the host's TSO/partial-checksum frames into the guest).
// Then the guest powers off, boots again on the same socket and its
// traffic flows again.
func TestVMGuestToHost(t *testing.T) {
	img := requireVM(t)
	d := startDaemon(t)
	br := d.AddBridge("brv")
	n := subnet()
	h := newHost(t, n+".2/24")
	attach(d, br, h)
	vp := uniq("vhu", 6)
	addVhostPort(d, br, vp, "dpdkvhostuser")
	sock := filepath.Join(d.Dir, vp)
	gip := n + ".1"
	dir := vmDir(t)

	sink := hostSink(t, h, "5001", vmStepTimeout)
	g := bootGuest(t, img, GuestConfig{Name: "g1", Sock: sock, IP: gip + "/24", LogDir: dir,
		Run: fmt.Sprintf("waitping %s 90 && pingc %s 5 && tx %s 5001 %d && rx 5002", h.IP, h.IP, h.IP, vmMiB)})
	bootAll(t, g)
	wantPing(t, g)
	tx := g.Result("TX", vmStepTimeout)
	got := sink()
	t.Logf("guest -> host TCP: %s bytes in %ss (%.2f MiB/s)", tx["bytes"], tx["secs"], mibps(tx))
	wantSame(t, "guest -> host", tx, got)

	// Host -> guest: nettool source once the guest listens (a refused
	// connection before nc is up is retried).
	g.WaitLine(regexp.MustCompile(`^RX-LISTEN`), 0, vmStepTimeout)
	var src map[string]string
	start := time.Now()
	for {
		out, err := h.Exec(nettoolBin, "source", "-connect", gip+":5002", "-bytes", strconv.Itoa(vmMiB<<20), "-seed", "3", "-timeout", "100s")
		if err == nil {
			src = parseKV(out)
			break
		}
		if !strings.Contains(out, "refused") || time.Since(start) > 20*time.Second {
			t.Fatalf("nettool source -> guest: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rx := g.Result("RX", vmStepTimeout)
	t.Logf("host -> guest TCP: %s bytes in %ss", src["bytes"], src["seconds"])
	wantSame(t, "host -> guest", src, rx)
	if rc := g.WaitExit(vmStepTimeout); rc != 0 {
		t.Fatalf("guest exited rc=%d", rc)
	}
	t.Logf("stats %s: %v", vp, d.Stats(vp))
	t.Logf("stats %s: %v", h.Port, d.Stats(h.Port))

	// Powered off: the port waits for the next front end; the same
	// socket serves a fresh boot.
	waitVhostState(d, vp, "listening", 10*time.Second)
	g2 := bootGuest(t, img, GuestConfig{Name: "g1-reboot", Sock: sock, IP: gip + "/24", LogDir: dir,
		Run: fmt.Sprintf("waitping %s 90 && pingc %s 5", h.IP, h.IP)})
	bootAll(t, g2)
	waitVhostState(d, vp, "connected", 10*time.Second)
	wantPing(t, g2)
	if rc := g2.WaitExit(vmStepTimeout); rc != 0 {
		t.Fatalf("rebooted guest exited rc=%d", rc)
	}
	pingFails(t, h, gip) // the guest is off
}

// pingerRe matches the guest's continuous ping probes.
var pingerRe = regexp.MustCompile(`^PINGER (ok|miss) (\d+)`)

// pingerCount counts a guest's "PINGER ok" lines seen after t0 and
// returns the first one's time.
func pingerCount(g *Guest, t0 time.Time) (ok, miss int, first time.Time) {
	for _, l := range g.Lines() {
		if l.At.Before(t0) {
			continue
		}
		m := pingerRe.FindStringSubmatch(l.Text)
		switch {
		case m == nil:
		case m[1] == "ok":
			if ok == 0 {
				first = l.At
			}
			ok++
		default:
			miss++
		}
	}
	return
}

// Client mode (dpdkvhostuserclient, QEMU listens): two guests keep
// pinging each other while vswitchd is SIGKILLed and restarted on the
// same store and run directory. The restarted switch redials both QEMUs,
// traffic resumes within 5 s, and the guests never restart.
func TestVMClientModeRestart(t *testing.T) { vmRestart(t, true) }

// Server mode (dpdkvhostuser, QEMU dials with reconnect=1): the same, but
// the restarted switch finds its dead sockets in the run directory,
// replaces them (connect gives ECONNREFUSED) and QEMU redials.
func TestVMServerModeRestart(t *testing.T) { vmRestart(t, false) }

func vmRestart(t *testing.T, clientMode bool) {
	img := requireVM(t)
	d := startDaemon(t)
	br := d.AddBridge("brv")
	dir := vmDir(t)
	n := subnet()
	ip1, ip2 := n+".1", n+".2"
	p1, p2 := uniq("vhs", 6), uniq("vhs", 6)
	s1, s2 := filepath.Join(d.Dir, p1), filepath.Join(d.Dir, p2)
	if clientMode {
		p1, p2 = uniq("vhc", 6), uniq("vhc", 6)
		s1, s2 = filepath.Join(dir, "g1.sock"), filepath.Join(dir, "g2.sock")
	} else {
		addVhostPort(d, br, p1, "dpdkvhostuser")
		addVhostPort(d, br, p2, "dpdkvhostuser")
	}
	// In client mode QEMU comes first: with server=on it listens and
	// holds the guest until the switch dials in.
	g1 := bootGuest(t, img, GuestConfig{Name: "g1", Sock: s1, Server: clientMode, IP: ip1 + "/24", LogDir: dir,
		Run: fmt.Sprintf("waitping %s 90 && pinger %s", ip2, ip2)})
	g2 := bootGuest(t, img, GuestConfig{Name: "g2", Sock: s2, Server: clientMode, IP: ip2 + "/24", LogDir: dir,
		Run: fmt.Sprintf("waitping %s 90 && pinger %s", ip1, ip1)})
	if clientMode {
		if !waitFor(10*time.Second, func() bool { return fileExists(s1) && fileExists(s2) }) {
			t.Fatalf("QEMU did not create its sockets %s %s; QEMU output:\n%s\n%s", s1, s2, g1.QEMUOutput(), g2.QEMUOutput())
		}
		addVhostPort(d, br, p1, "dpdkvhostuserclient", "options:vhost-server-path="+s1)
		addVhostPort(d, br, p2, "dpdkvhostuserclient", "options:vhost-server-path="+s2)
	}
	bootAll(t, g1, g2)
	for _, p := range []string{p1, p2} {
		t.Logf("port %s: %v", p, waitVhostState(d, p, "connected", 10*time.Second))
	}
	// Steady state: both guests get replies.
	before := time.Now()
	for _, g := range []*Guest{g1, g2} {
		if !waitFor(60*time.Second, func() bool { ok, _, _ := pingerCount(g, g.Started); return ok >= 5 }) {
			t.Fatalf("guest %s: fewer than 5 ping replies before the restart; console:\n%s", g.cfg.Name, g.ConsoleTail(20))
		}
	}
	pid1, pid2 := g1.PID(), g2.PID()

	killedAt := time.Now()
	if err := d.Stop(syscall.SIGKILL); err == nil {
		t.Fatal("vswitchd exited cleanly on SIGKILL?")
	}
	d.Start()
	startedAt := time.Now()
	t.Logf("vswitchd SIGKILLed and restarted in %v (pings before: g1 %d, g2 %d)", startedAt.Sub(killedAt).Round(time.Millisecond),
		func() int { ok, _, _ := pingerCount(g1, before); return ok }(), func() int { ok, _, _ := pingerCount(g2, before); return ok }())

	for _, g := range []*Guest{g1, g2} {
		// Replies after the restart: the first within 5 s, then 5 more.
		var ok int
		var first time.Time
		waitFor(15*time.Second, func() bool { ok, _, first = pingerCount(g, startedAt); return ok >= 5 })
		_, missDuring, _ := pingerCount(g, killedAt)
		if ok == 0 {
			t.Fatalf("guest %s: no ping reply within 15s of the restart; console:\n%s\nvswitchd log:\n%s", g.cfg.Name, g.ConsoleTail(30), d.logTail(40))
		}
		resume := first.Sub(startedAt)
		t.Logf("guest %s: first reply %.2fs after restart (%.2fs after the kill), %d replies, %d probes lost since the kill",
			g.cfg.Name, resume.Seconds(), first.Sub(killedAt).Seconds(), ok, missDuring)
		if resume > 5*time.Second {
			t.Errorf("guest %s: traffic resumed %.2fs after the restart, want ≤ 5s", g.cfg.Name, resume.Seconds())
		}
		if ok < 5 {
			t.Errorf("guest %s: only %d ping replies within 15s of the restart, want ≥ 5", g.cfg.Name, ok)
		}
	}
	// The guests did not restart: same QEMU processes, one boot each.
	for i, g := range []*Guest{g1, g2} {
		if !g.Alive() || g.PID() != []int{pid1, pid2}[i] {
			t.Errorf("guest %s: QEMU died or was replaced", g.cfg.Name)
		}
		boots := 0
		for _, l := range g.Lines() {
			if readyRe.MatchString(l.Text) {
				boots++
			}
		}
		if boots != 1 {
			t.Errorf("guest %s booted %d times, want 1", g.cfg.Name, boots)
		}
		if out := strings.TrimSpace(g.QEMUOutput()); out != "" {
			t.Logf("guest %s QEMU output:\n%s", g.cfg.Name, tailLines(out, 10))
		}
	}
	// The replies crossed the new process: its counters start at zero.
	for _, p := range []string{p1, p2} {
		st := d.Stats(p)
		t.Logf("port %s after restart: %v stats %v", p, vhostStatus(d, p), st)
		if st["rx_packets"] < 5 || st["tx_packets"] < 5 {
			t.Errorf("port %s: restarted vswitchd counted rx_packets=%d tx_packets=%d, want ≥ 5 each", p, st["rx_packets"], st["tx_packets"])
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
