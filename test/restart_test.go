package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Stopping vswitchd (cleanly or not) and starting it again on the same
// store brings back bridges, ports, VLAN tags and OpenFlow port numbers,
// and traffic flows with no command re-issued.
func TestRestart(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	br := d.AddBridge("brr")
	net := subnet()
	h1 := newHost(t, net+".1/24")
	h2 := newHost(t, net+".2/24")
	h3 := newHost(t, net+".3/24")
	attach(d, br, h1, "--", "set", "Port", h1.Port, "tag=10")
	// An explicit ofport_request must survive too.
	attach(d, br, h2, "--", "set", "Interface", h2.Port, "ofport_request=7", "--", "set", "Port", h2.Port, "tag=10")
	attach(d, br, h3, "--", "set", "Port", h3.Port, "tag=20")
	pingOK(t, h1, h2.IP)
	pingFails(t, h1, h3.IP)

	type portState struct{ ofport, tag string }
	state := func() map[string]portState {
		m := map[string]portState{}
		for _, p := range []string{br, h1.Port, h2.Port, h3.Port} {
			m[p] = portState{
				ofport: strings.TrimSpace(d.Vsctl("get", "Interface", p, "ofport")),
			}
			if p != br {
				ps := m[p]
				ps.tag = strings.TrimSpace(d.Vsctl("get", "Port", p, "tag"))
				m[p] = ps
			}
		}
		return m
	}
	want := state()
	wantPorts := d.Vsctl("list-ports", br)
	wantShow := stableShow(d.Vsctl("show"))
	if want[h2.Port].ofport != "7" {
		t.Fatalf("ofport_request=7 not honoured: ofport %s", want[h2.Port].ofport)
	}
	t.Logf("before restart: %+v", want)

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			err := d.Stop(sig)
			if sig == syscall.SIGTERM && err != nil {
				t.Fatalf("vswitchd did not exit cleanly on SIGTERM: %v", err)
			}
			d.Start()
			if got := d.Vsctl("list-br"); !containsLine(got, br) {
				t.Fatalf("after %v restart list-br = %q, want %s", sig, got, br)
			}
			if got := d.Vsctl("list-ports", br); got != wantPorts {
				t.Fatalf("after %v restart list-ports = %q, want %q", sig, got, wantPorts)
			}
			for _, p := range []string{h1.Port, h2.Port, h3.Port} {
				d.WaitPortUp(p)
			}
			got := state()
			for p, w := range want {
				if got[p] != w {
					t.Errorf("after %v restart %s: ofport %s tag %s, want ofport %s tag %s", sig, p, got[p].ofport, got[p].tag, w.ofport, w.tag)
				}
			}
			if g := stableShow(d.Vsctl("show")); g != wantShow {
				t.Errorf("show differs after %v restart:\n--- before\n%s\n--- after\n%s", sig, wantShow, g)
			}
			pingOK(t, h1, h2.IP)
			pingOK(t, h2, h1.IP)
			pingFails(t, h1, h3.IP)
		})
	}
}

// A second vswitchd on the same store refuses to start with one line.
func TestSecondInstanceRefused(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	d.AddBridge("brs")

	other := newDaemon(t) // separate run dir, same store
	if err := os.MkdirAll(other.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, vswitchdBin, "--db", d.DB, "--run-dir", other.Dir,
		"--pmd-cores", d.PMDCores, "--mem", "64M", "--log-level", "info")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || ctx.Err() != nil {
		t.Fatalf("second vswitchd on %s: %v (want a non-zero exit); stderr:\n%s", d.DB, err, stderr.String())
	}
	msg := strings.TrimRight(stderr.String(), "\n")
	t.Logf("second instance exited %d after %v: %s", ee.ExitCode(), time.Since(start).Round(time.Millisecond), msg)
	if msg == "" || strings.Contains(msg, "\n") {
		t.Fatalf("second vswitchd stderr is %d lines, want exactly one:\n%s", strings.Count(msg, "\n")+1, msg)
	}
	if !strings.Contains(msg, filepath.Base(d.DB)) && !strings.Contains(strings.ToLower(msg), "lock") {
		t.Errorf("message does not name the store or the lock: %q", msg)
	}
	// The first instance is unharmed.
	if !d.Running() {
		t.Fatal("first vswitchd died")
	}
	d.Vsctl("show")
}
