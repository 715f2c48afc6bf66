package datapath

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	last := runtime.NumCPU() - 1
	for _, tc := range []struct {
		in   string
		want []int
		err  string
	}{
		{"", []int{last}, ""},
		{"0", []int{0}, ""},
		{"0,0", []int{0}, ""},
		{"0-" + strconv.Itoa(last), seq(last + 1), ""},
		{"a-b", nil, "want a CPU list"},
		{"2-1", nil, "want a CPU list"},
		{"-1", nil, "want a CPU list"},
		{strconv.Itoa(last + 1), nil, "does not exist"},
	} {
		got, err := ParseCPUList(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseCPUList(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Changing the PMD cores while traffic flows: forwarding goes on through
// each change, the queues are spread over the new PMDs, their counters
// start, and no packet buffer is lost.
func TestSetPMDCoresLive(t *testing.T) {
	up := &crossConnect{}
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 8 << 20}, up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	frame := udpFrame([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}, 0x0a000001, 0x0a000002, 1, 2, 64)
	src := &memPort{name: "src", templates: [][]byte{frame}, burst: 32}
	sink := &memPort{name: "sink"}
	up.a, _ = d.AddPort(src)
	up.b, _ = d.AddPort(sink)
	d.Start()
	flowing := func() {
		t.Helper()
		n0 := sink.txPackets.Load()
		waitFor(t, func() bool { return sink.txPackets.Load() > n0+10000 })
	}
	flowing()
	for _, cores := range [][]int{{-1, -1}, {-1}, {-1, -1, -1}, {-1, -1}} {
		if err := d.SetPMDCores(cores); err != nil {
			t.Fatal(err)
		}
		flowing()
		if got := len(d.PMDStats()); got != len(cores) {
			t.Fatalf("%d PMDs report stats, want %d", got, len(cores))
		}
		pmdOf := map[uint32]int{}
		for _, q := range d.Rxqs() {
			pmdOf[q.Port] = q.PMD
		}
		if len(cores) > 1 && pmdOf[up.a] == pmdOf[up.b] {
			t.Fatalf("%d PMDs but both queues on PMD %d", len(cores), pmdOf[up.a])
		}
		var busy uint64
		for _, s := range d.PMDStats() {
			busy += s.Packets
		}
		if busy == 0 {
			t.Fatal("the new PMDs count no packets")
		}
	}
	if err := d.SetPMDCores(nil); err == nil {
		t.Fatal("SetPMDCores(nil) accepted")
	}
	if got := len(d.PMDCores()); got != 2 {
		t.Fatalf("a refused change altered the cores: %d PMDs", got)
	}
	if err := d.RemovePort(up.a); err != nil {
		t.Fatal(err)
	}
	d.Stop()
	if n := d.pool.Available(); n != d.pool.Size() {
		t.Fatalf("%d of %d packet buffers back after stop", n, d.pool.Size())
	}
}

// pmd-poll changes at once: with always an idle PMD polls and never parks;
// back to auto it parks again.
func TestSetPollAlwaysLive(t *testing.T) {
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 8 << 20}, &crossConnect{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	if _, err := d.AddPort(&memPort{name: "idle"}); err != nil {
		t.Fatal(err)
	}
	d.Start()
	parks := func() uint64 { return d.PMDStats()[0].Parks }
	waitFor(t, func() bool { return parks() > 0 }) // auto: an idle PMD parks
	d.SetPollAlways(true)
	p0, i0 := parks(), d.PMDStats()[0].Iterations
	waitFor(t, func() bool { return d.PMDStats()[0].Iterations > i0+100000 })
	if p1 := parks(); p1 > p0+1 { // one park may have begun before the switch
		t.Fatalf("pmd-poll always: the PMD parked %d more times", p1-p0)
	}
	d.SetPollAlways(false)
	p2 := parks()
	waitFor(t, func() bool { return parks() > p2 })
}
