package e2e

import (
	"strings"
	"syscall"
	"testing"
)

// Each bad command fails with one line "vsctl: …" naming the problem and
// leaves the store exactly as it was, also as seen after a restart.
func TestBadInput(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	br := d.AddBridge("brb")
	br2 := d.AddBridge("brc")
	net := subnet()
	h1 := newHost(t, net+".1/24")
	attach(d, br, h1, "--", "set", "Port", h1.Port, "tag=10")
	missingBr := uniq("nobr", 6)
	newPort := uniq("np", 8)
	longName := "brlongname" + uniq("", 6) // 16 characters

	cases := []struct {
		name string
		args []string
		// every one of these must appear in the message (case-insensitive)
		want []string
	}{
		{"existing bridge", []string{"add-br", br}, []string{br, "exist"}},
		{"missing bridge", []string{"del-br", missingBr}, []string{missingBr}},
		{"port on missing bridge", []string{"add-port", missingBr, newPort}, []string{missingBr}},
		{"duplicate port same bridge", []string{"add-port", br, h1.Port}, []string{h1.Port}},
		{"duplicate port other bridge", []string{"add-port", br2, h1.Port}, []string{h1.Port}},
		{"unknown interface type", []string{"add-port", br, newPort, "--", "set", "Interface", newPort, "type=bogus"},
			[]string{"bogus", "system", "internal", "tap", "patch", "afpacket"}},
		{"malformed options pair", []string{"add-port", br, newPort, "--", "set", "Interface", newPort, "type=patch", "options:peer"},
			[]string{"option"}},
		{"bridge name over 15 characters", []string{"add-br", longName}, []string{longName}},
		{"VLAN tag over 4095 on a new port", []string{"add-port", br, newPort, "--", "set", "Port", newPort, "tag=4096"}, []string{"4096"}},
		{"VLAN tag over 4095 on a port", []string{"set", "Port", h1.Port, "tag=5000"}, []string{"5000"}},
	}

	before := stableShow(d.Vsctl("show"))
	beforeBr := d.Vsctl("list-br")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := d.VsctlErr(c.args...)
			msg := strings.TrimRight(r.Stderr, "\n")
			t.Logf("vsctl %s -> exit %d: %s", strings.Join(c.args, " "), r.Code, msg)
			if r.Code != 1 {
				t.Errorf("exit code %d, want 1 (stdout %q)", r.Code, r.Stdout)
			}
			if !strings.HasPrefix(msg, "vsctl: ") || strings.Contains(msg, "\n") {
				t.Errorf("stderr is not one line starting with \"vsctl: \": %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
					t.Errorf("message does not mention %q: %q", w, msg)
				}
			}
			if after := stableShow(d.Vsctl("show")); after != before {
				t.Errorf("show changed:\n--- before\n%s\n--- after\n%s", before, after)
			}
		})
	}

	// The store, not just the running state, is unchanged.
	if err := d.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	d.Start()
	d.WaitPortUp(h1.Port)
	if after := stableShow(d.Vsctl("show")); after != before {
		t.Errorf("show after restart differs:\n--- before\n%s\n--- after\n%s", before, after)
	}
	if after := d.Vsctl("list-br"); after != beforeBr {
		t.Errorf("list-br after restart = %q, want %q", after, beforeBr)
	}
	if tag := strings.TrimSpace(d.Vsctl("get", "Port", h1.Port, "tag")); tag != "10" {
		t.Errorf("tag of %s after restart = %q, want 10", h1.Port, tag)
	}
}

// --may-exist and --if-exists turn the same conflicts into no-ops.
func TestMayExistIfExists(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	br := d.AddBridge("brm")
	before := stableShow(d.Vsctl("show"))
	d.Vsctl("--may-exist", "add-br", br)
	missing := uniq("nobr", 6)
	d.Vsctl("--if-exists", "del-br", missing)
	d.Vsctl("--if-exists", "del-port", br, uniq("np", 8))
	if after := stableShow(d.Vsctl("show")); after != before {
		t.Errorf("show changed:\n--- before\n%s\n--- after\n%s", before, after)
	}
}
