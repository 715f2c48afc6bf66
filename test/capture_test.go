package e2e

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vsctl capture writes a port's rx and tx frames to a pcap file that
// tshark reads back with the expected frames.
func TestCaptureVeth(t *testing.T) {
	requireE2E(t, "ping", "tshark")
	d := startDaemon(t)
	br := d.AddBridge("bcap")
	net := subnet()
	h1 := newHost(t, net+".1/24")
	h2 := newHost(t, net+".2/24")
	attach(d, br, h1)
	attach(d, br, h2)
	pingOK(t, h1, h2.IP)

	file := filepath.Join(t.TempDir(), "h1.pcap")
	cmd := exec.Command(vsctlBin, "--server", d.Sock, "capture", h1.Port, "-w", file, "-c", "10")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	time.Sleep(300 * time.Millisecond)
	// 5 echo requests in (rx on h1's port) and 5 replies out (tx): a
	// recognisable payload pattern.
	h1.MustExec("ping", "-n", "-c", "5", "-i", "0.2", "-p", "c0ffee42", h2.IP)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("vsctl capture: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("vsctl capture did not stop after 10 frames: %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "10 frames captured") {
		t.Fatalf("capture summary: %q", stderr.String())
	}
	out, err := exec.Command("tshark", "-r", file, "-Y", "icmp", "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "icmp.type", "-e", "data.data").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	var req, rep int
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) < 4 || !strings.Contains(f[3], "c0ffee42c0ffee42") {
			continue
		}
		switch {
		case f[0] == h1.IP && f[1] == h2.IP && f[2] == "8":
			req++
		case f[0] == h2.IP && f[1] == h1.IP && f[2] == "0":
			rep++
		}
	}
	if req != 5 || rep != 5 {
		t.Fatalf("tshark read %d echo requests and %d replies with the pattern, want 5 and 5:\n%s", req, rep, out)
	}
	t.Logf("pcap of %s read by tshark: 5 echo requests (rx) and 5 replies (tx) with payload c0ffee42; %s", h1.Port, strings.TrimSpace(stderr.String()))

	// Bad input: unknown port, a port with no frames of its own.
	for _, args := range [][]string{{"capture", "nosuchport", "-c", "1"}, {"capture", br + "x"}, {"capture"}} {
		if r := d.VsctlErr(args...); r.Code == 0 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Fatalf("%v: exit %d, %q", args, r.Code, r.Stderr)
		} else {
			t.Logf("%v: %s", args, strings.TrimSpace(r.Stderr))
		}
	}
}

// A vhost-user port's frames (which no kernel tool can see) captured while
// DPDK testpmd loops traffic through it: tshark reads testpmd's 64-byte
// UDP frames in both directions.
func TestCaptureVhostUser(t *testing.T) {
	requireE2E(t, "dpdk-testpmd", "stdbuf", "tshark")
	d := startDaemon(t)
	br := d.AddBridge("bcv")
	var names, socks []string
	for i := 0; i < 2; i++ {
		name := uniq("vhc", 6)
		d.Vsctl("add-port", br, name, "--", "set", "Interface", name, "type=dpdkvhostuser")
		names, socks = append(names, name), append(socks, filepath.Join(d.Dir, name))
	}
	p1, p2 := d.Ofport(names[0]), d.Ofport(names[1])
	d.Vsctl("del-flows", br)
	d.Vsctl("add-flow", br, "in_port="+itoa(p1)+",actions=output:"+itoa(p2))
	d.Vsctl("add-flow", br, "in_port="+itoa(p2)+",actions=output:"+itoa(p1))

	file := filepath.Join(t.TempDir(), "vhu.pcap")
	cmd := exec.Command(vsctlBin, "--server", d.Sock, "capture", names[0], "-w", file, "-c", "2000")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	runTestpmdLoop(t, socks, false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("vsctl capture: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("vsctl capture did not stop after 2000 frames: %s", stderr.String())
	}
	out, err := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "frame.len", "-e", "ip.dst", "-e", "udp.dstport").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	good := 0
	for _, l := range lines {
		if f := strings.Split(l, "\t"); len(f) == 3 && f[0] == "64" && f[1] != "" && f[2] != "" {
			good++
		}
	}
	if len(lines) != 2000 || good != 2000 {
		t.Fatalf("tshark read %d frames, %d of them 64-byte UDP; first lines:\n%s", len(lines), good, strings.Join(lines[:min(5, len(lines))], "\n"))
	}
	t.Logf("vhost-user port %s: tshark read 2000 frames, all 64-byte UDP (e.g. %q); %s", names[0], lines[0], strings.TrimSpace(stderr.String()))
}

func itoa(n int) string { return strconv.Itoa(n) }
