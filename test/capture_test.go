package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	h1, h2 := twoHosts(t, d, br)
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

	// Streamed to stdout (vsctl capture p | tshark -r -), received frames
	// only, stopped by Ctrl-C rather than a count.
	cmd = exec.Command(vsctlBin, "--server", d.Sock, "capture", h1.Port, "--direction", "rx")
	var pcap strings.Builder
	stderr.Reset()
	cmd.Stdout, cmd.Stderr = &pcap, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	time.Sleep(300 * time.Millisecond)
	h1.MustExec("ping", "-n", "-c", "3", "-i", "0.2", "-p", "5eed5eed", h2.IP)
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vsctl capture after SIGINT: %v\n%s", err, stderr.String())
	}
	if !regexp.MustCompile(`^\d+ frames captured, \d+ dropped\n$`).MatchString(stderr.String()) {
		t.Fatalf("capture summary after SIGINT: %q", stderr.String())
	}
	ts := exec.Command("tshark", "-r", "-", "-Y", "icmp", "-T", "fields", "-e", "ip.src", "-e", "icmp.type", "-e", "data.data")
	ts.Stdin = strings.NewReader(pcap.String())
	out, err = ts.Output()
	if err != nil {
		t.Fatalf("tshark -r -: %v\n%s", err, out)
	}
	req, rep = 0, 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Split(l, "\t"); len(f) == 3 && strings.Contains(f[2], "5eed5eed") {
			switch {
			case f[0] == h1.IP && f[1] == "8":
				req++
			default:
				rep++
			}
		}
	}
	if req != 3 || rep != 0 {
		t.Fatalf("rx-only capture on stdout: %d echo requests, %d other ICMP with the pattern; want 3 and 0:\n%s", req, rep, out)
	}
	t.Logf("--direction rx to stdout, stopped by SIGINT: tshark -r - read 3 echo requests and no replies; %s", strings.TrimSpace(stderr.String()))

	// --help shows an example; completion offers every bridge's ports.
	if help := d.Vsctl("capture", "--help"); !strings.Contains(help, "capture vm1 -w vm1.pcap") {
		t.Fatalf("capture --help:\n%s", help)
	}
	comp := exec.Command(vsctlBin, "__complete", "capture", "")
	comp.Env = append(os.Environ(), "VSWITCH_SERVER="+d.Sock)
	if out, err := comp.Output(); err != nil || !strings.Contains(string(out), h1.Port+"\n") || !strings.Contains(string(out), h2.Port+"\n") {
		t.Fatalf("completion of capture: %v\n%s", err, out)
	}

	// Bad input: unknown port, a port with no frames of its own (patch),
	// a bad direction, no port.
	patch, peer := uniq("pp", 6), uniq("pq", 6)
	d.Vsctl("add-port", br, patch, "--", "set", "Interface", patch, "type=patch", "options:peer="+peer)
	d.Vsctl("add-port", br, peer, "--", "set", "Interface", peer, "type=patch", "options:peer="+patch)
	for _, args := range [][]string{{"capture", "nosuchport", "-c", "1"}, {"capture", patch}, {"capture", h1.Port, "--direction", "up"}, {"capture"}} {
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
	out, err := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "frame.len", "-e", "ip.src", "-e", "ip.dst", "-e", "udp.dstport").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	good := 0
	for _, l := range lines {
		// testpmd's generated frames: 198.18.0.1 -> 198.18.0.2, UDP port 9.
		if f := strings.Split(l, "\t"); len(f) == 4 && f[0] == "64" && f[1] == "198.18.0.1" && f[2] == "198.18.0.2" && f[3] == "9" {
			good++
		}
	}
	if len(lines) != 2000 || good != 2000 {
		t.Fatalf("tshark read %d frames, %d of them testpmd's 64-byte UDP; first lines:\n%s", len(lines), good, strings.Join(lines[:min(5, len(lines))], "\n"))
	}
	t.Logf("vhost-user port %s: tshark read 2000 frames, all testpmd's 64-byte UDP 198.18.0.1 -> 198.18.0.2:9 (e.g. %q); %s", names[0], lines[0], strings.TrimSpace(stderr.String()))
}

func itoa(n int) string { return strconv.Itoa(n) }
