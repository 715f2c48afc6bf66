package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// testpmd's forward statistics after "stop".
var reTestpmdFwd = regexp.MustCompile(`(?s)Forward statistics for port 0.*?RX-packets: (\d+).*?TX-packets: (\d+).*?Forward statistics for port 1.*?RX-packets: (\d+).*?TX-packets: (\d+)`)

// TestVhostTestpmdBridge puts two vhost-user ports on one bridge of a real
// vswitchd, in server mode (the switch listens, testpmd dials) and in client
// mode (testpmd listens, the switch dials), and runs DPDK testpmd's io loop
// through them: packets must go both ways and be counted on both sides.
func TestVhostTestpmdBridge(t *testing.T) {
	requireE2E(t, "dpdk-testpmd", "stdbuf")
	for _, mode := range []string{"server", "client"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemon(t)
			br := d.AddBridge("brvt")
			var names, socks []string
			for i := 0; i < 2; i++ {
				name := uniq("vhu", 6)
				if mode == "server" {
					d.Vsctl("add-port", br, name, "--", "set", "Interface", name, "type=dpdkvhostuser")
					socks = append(socks, filepath.Join(d.Dir, name))
				} else {
					sock := filepath.Join(filepath.Dir(d.Dir), name+".sock")
					d.Vsctl("add-port", br, name, "--", "set", "Interface", name, "type=dpdkvhostuserclient", "options:vhost-server-path="+sock)
					socks = append(socks, sock)
				}
				names = append(names, name)
			}
			p1, p2 := d.Ofport(names[0]), d.Ofport(names[1])
			d.Vsctl("del-flows", br)
			d.Vsctl("add-flow", br, fmt.Sprintf("in_port=%d,actions=output:%d", p1, p2))
			d.Vsctl("add-flow", br, fmt.Sprintf("in_port=%d,actions=output:%d", p2, p1))

			out := runTestpmdLoop(t, socks, mode == "client")
			m := reTestpmdFwd.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no forward statistics from testpmd:\n%s", tail(out, 3000))
			}
			var n [4]uint64
			for i := range n {
				n[i], _ = strconv.ParseUint(m[i+1], 10, 64)
			}
			t.Logf("%s mode: testpmd port0 rx=%d tx=%d, port1 rx=%d tx=%d", mode, n[0], n[1], n[2], n[3])
			if n[0] < 1000 || n[2] < 1000 {
				t.Fatalf("testpmd received too little: port0 %d, port1 %d\n%s", n[0], n[2], tail(out, 3000))
			}
			for _, name := range names {
				st := d.Stats(name)
				t.Logf("switch %s: rx_packets=%d tx_packets=%d rx_errors=%d tx_errors=%d", name, st["rx_packets"], st["tx_packets"], st["rx_errors"], st["tx_errors"])
				if st["rx_packets"] < 1000 || st["tx_packets"] < 1000 {
					t.Fatalf("switch port %s counted rx %d tx %d", name, st["rx_packets"], st["tx_packets"])
				}
				if st["rx_errors"] != 0 || st["tx_errors"] != 0 {
					t.Fatalf("switch port %s counted errors: %v", name, st)
				}
			}
			// What testpmd sent on one port, the switch delivered on the other.
			if n[1] == 0 || n[3] == 0 {
				t.Fatalf("testpmd transmitted nothing")
			}
		})
	}
}

// runTestpmdLoop runs testpmd with two virtio-user ports on socks (server:
// testpmd listens), starts an io loop with a first burst, lets it run for
// 2 s and returns testpmd's output.
func runTestpmdLoop(t *testing.T, socks []string, server bool) string {
	t.Helper()
	prefix := uniq("vswt", 6)
	t.Cleanup(func() { os.RemoveAll("/var/run/dpdk/" + prefix) })
	srv := 0
	if server {
		srv = 1
	}
	args := []string{"-o0", "dpdk-testpmd", "--file-prefix=" + prefix, "--no-shconf", "--no-huge", "-m", "256",
		"--single-file-segments", "--no-pci", "--lcores=0@0,1@0"}
	for i, s := range socks {
		args = append(args, "--vdev", fmt.Sprintf("net_virtio_user%d,path=%s,server=%d,queues=1,queue_size=256", i, s, srv))
	}
	args = append(args, "--", "-i", "--nb-cores=1", "--forward-mode=io", "--total-num-mbufs=8192", "--txpkts=64")
	cmd := exec.Command("stdbuf", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start testpmd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	say := func(s string, pause time.Duration) {
		io.WriteString(stdin, s+"\n")
		time.Sleep(pause)
	}
	// The switch dials a listening testpmd within a second; give both
	// modes time to negotiate the rings before the first burst.
	time.Sleep(4 * time.Second)
	say("start tx_first 32", 2*time.Second)
	say("stop", 500*time.Millisecond)
	say("quit", 0)
	select {
	case <-done:
		done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatalf("testpmd did not quit:\n%s", tail(out.String(), 3000))
	}
	return out.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
