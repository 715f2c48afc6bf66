package vhostuser

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vswitch/datapath"
)

// crossConnect is the slow path of the e2e tests: port a <-> port b. The
// port numbers are set while PMDs already run: atomics.
type crossConnect struct{ a, b atomic.Uint32 }

func (x *crossConnect) Upcall(u *datapath.Upcall) error {
	a, b := x.a.Load(), x.b.Load()
	switch u.Key.InPort {
	case a:
		u.Actions = append(u.Actions, datapath.Output(b))
	case b:
		u.Actions = append(u.Actions, datapath.Output(a))
	}
	return nil
}

const testpmdBin = "/usr/bin/dpdk-testpmd"

// testpmd drives dpdk-testpmd in interactive mode over a pipe.
type testpmd struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	mu    sync.Mutex
	out   strings.Builder
	done  chan struct{}
	socks []string
}

func startTestpmd(t *testing.T, socks []string, server bool, queues int, mrg bool) *testpmd {
	t.Helper()
	prefix := fmt.Sprintf("vhut%04x", rand.IntN(0x10000))
	// DPDK keeps a runtime directory per file prefix even with --no-shconf.
	t.Cleanup(func() { os.RemoveAll("/var/run/dpdk/" + prefix) })
	args := []string{"--file-prefix=" + prefix, "--no-shconf", "--single-file-segments", "--no-pci", "--no-huge", "-m", "256", "--lcores=0@0,1@0"}
	srv := "0"
	if server {
		srv = "1"
	}
	m := "0"
	if mrg {
		m = "1"
	}
	for i, s := range socks {
		args = append(args, "--vdev", fmt.Sprintf("net_virtio_user%d,path=%s,server=%s,queues=%d,queue_size=256,mrg_rxbuf=%s", i, s, srv, queues, m))
	}
	args = append(args, "--", "-i", "--nb-cores=1", "--forward-mode=io", "--total-num-mbufs=8192", "--txpkts=64",
		fmt.Sprintf("--rxq=%d", queues), fmt.Sprintf("--txq=%d", queues))
	// stdbuf: testpmd's printf output is block-buffered on a pipe.
	tp := &testpmd{t: t, cmd: exec.Command("stdbuf", append([]string{"-o0", testpmdBin}, args...)...), done: make(chan struct{}), socks: socks}
	var err error
	tp.in, err = tp.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	tp.cmd.Stdout, tp.cmd.Stderr = w, w
	if err := tp.cmd.Start(); err != nil {
		t.Fatalf("start testpmd: %v", err)
	}
	go func() {
		// Raw chunks: the prompt has no newline after it.
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			tp.mu.Lock()
			tp.out.Write(buf[:n])
			tp.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { tp.cmd.Wait(); w.Close(); close(tp.done) }()
	t.Cleanup(tp.stop)
	return tp
}

func (tp *testpmd) output() string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.out.String()
}

func (tp *testpmd) send(cmd string) { io.WriteString(tp.in, cmd+"\n") }

// waitFor waits until the output after offset off matches re.
func (tp *testpmd) waitFor(re *regexp.Regexp, off int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if o := tp.output(); len(o) > off && re.MatchString(o[off:]) {
			return true
		}
		select {
		case <-tp.done:
			return re.MatchString(tp.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false
}

func (tp *testpmd) stop() {
	defer func() {
		if tp.t.Failed() {
			tp.t.Logf("testpmd output:\n%s", tp.output())
		}
	}()
	select {
	case <-tp.done:
		return
	default:
	}
	tp.send("stop")
	tp.send("quit")
	tp.in.Close()
	select {
	case <-tp.done:
	case <-time.After(10 * time.Second):
		tp.cmd.Process.Kill()
		<-tp.done
	}
}

var (
	rePrompt = regexp.MustCompile(`testpmd> `)
	reFwd    = regexp.MustCompile(`(?s)Forward statistics for port 0.*?RX-packets: (\d+).*?TX-packets: (\d+).*?Forward statistics for port 1.*?RX-packets: (\d+).*?TX-packets: (\d+)`)
)

// needTestpmd skips without the peer, except under CI, where a missing
// peer is a failure: a test that did not run must not look like a pass.
func needTestpmd(t *testing.T) {
	t.Helper()
	skip := t.Skip
	if os.Getenv("CI") != "" {
		skip = t.Fatal
	}
	if os.Geteuid() != 0 {
		skip("needs root")
	}
	if _, err := os.Stat(testpmdBin); err != nil {
		skip("dpdk-testpmd not installed (apt-get install dpdk-dev)")
	}
}

type e2eCase struct {
	name   string
	client bool // the switch dials; testpmd is the server
	queues int
	mrg    bool
}

func TestE2ETestpmd(t *testing.T) {
	needTestpmd(t)
	for _, c := range []e2eCase{
		{"server/mrg", false, 1, true},
		{"server/nomrg", false, 1, false},
		{"client/mrg", true, 1, true},
		{"server/mq2", false, 2, true},
		{"client/mq2/nomrg", true, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) { runE2E(t, c) })
	}
}

func runE2E(t *testing.T, c e2eCase) {
	dir := t.TempDir()
	socks := []string{filepath.Join(dir, "p0.sock"), filepath.Join(dir, "p1.sock")}
	x := &crossConnect{}
	dp, err := datapath.New(datapath.Config{PMDCores: []int{-1, -1}, MemBytes: 32 << 20}, x)
	if err != nil {
		t.Fatal(err)
	}
	dp.Start()
	t.Cleanup(dp.Stop)

	var tp *testpmd
	if c.client {
		tp = startTestpmd(t, socks, true, c.queues, c.mrg)
		// testpmd creates the sockets while probing; the ports redial.
	}
	mode := Server
	if c.client {
		mode = Client
	}
	var ports [2]*Port
	for i := range ports {
		p, err := New(Config{Name: fmt.Sprintf("vhu%d", i), Mode: mode, Path: socks[i], QueuePairs: 2})
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
		no, err := dp.AddPort(p)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			x.a.Store(no)
		} else {
			x.b.Store(no)
		}
	}
	if !c.client {
		tp = startTestpmd(t, socks, false, c.queues, c.mrg)
	}
	if !tp.waitFor(rePrompt, 0, 30*time.Second) {
		t.Fatalf("testpmd did not come up")
	}
	// Wait until both ports have their rings running.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, p := range ports {
			if in := p.Info(); in.State != "connected" || in.QueuePairs != c.queues {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ports not ready: %+v %+v", ports[0].Info(), ports[1].Info())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	off := len(tp.output())
	tp.send("start tx_first 32")
	time.Sleep(3 * time.Second)
	tp.send("stop")
	if !tp.waitFor(reFwd, off, 10*time.Second) {
		t.Fatalf("no forward statistics from testpmd")
	}
	mm := reFwd.FindStringSubmatch(tp.output()[off:])
	var v [4]uint64
	for i := range v {
		v[i], _ = strconv.ParseUint(mm[i+1], 10, 64)
	}
	s0, s1 := ports[0].Stats(), ports[1].Stats()
	t.Logf("%s: testpmd port0 rx=%d tx=%d port1 rx=%d tx=%d", c.name, v[0], v[1], v[2], v[3])
	t.Logf("%s: switch vhu0 %+v", c.name, s0)
	t.Logf("%s: switch vhu1 %+v", c.name, s1)
	t.Logf("%s: info %+v", c.name, ports[0].Info())
	if v[0] < 1000 || v[2] < 1000 {
		t.Errorf("too few packets circulated: testpmd rx port0=%d port1=%d", v[0], v[2])
	}
	if s0.RxPackets < 1000 || s1.RxPackets < 1000 || s0.TxPackets < 1000 || s1.TxPackets < 1000 {
		t.Errorf("switch counters too low: %+v / %+v", s0, s1)
	}
	if s0.RxErrors+s1.RxErrors+s0.TxErrors+s1.TxErrors != 0 {
		t.Errorf("errors counted: %+v / %+v", s0, s1)
	}
	if c.queues > 1 {
		for i, p := range ports {
			for q := 0; q < c.queues; q++ {
				if n := p.dev.cnts[2*q+1].RxPackets.Load(); n == 0 {
					t.Errorf("port %d queue %d received nothing", i, q)
				}
			}
		}
	}
	if in := ports[0].Info(); (in.Features&fMrgRxbuf != 0) != c.mrg {
		t.Errorf("mrg_rxbuf negotiated = %v, want %v", in.Features&fMrgRxbuf != 0, c.mrg)
	}
	tp.stop()
	// The front end went away: the ports stay, their rings stop.
	deadline = time.Now().Add(5 * time.Second)
	for ports[0].Info().QueuePairs != 0 || ports[1].Info().QueuePairs != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("rings still running after testpmd quit: %+v", ports[0].Info())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
