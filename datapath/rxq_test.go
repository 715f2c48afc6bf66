package datapath

import (
	"testing"
	"time"
)

// TestRxqUsageAndAssignment runs two PMDs over one busy port and three idle
// ones: the busy queue's measured usage is high and the idle ones' zero;
// cycles assignment then gives the busy queue a PMD of its own, and
// roundrobin deals the queues out in port order.
func TestRxqUsageAndAssignment(t *testing.T) {
	up := &crossConnect{}
	d, err := New(Config{PMDCores: []int{-1, -1}, MemBytes: 8 << 20}, up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	frame := udpFrame([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}, 0x0a000001, 0x0a000002, 1, 2, 64)
	busy := &memPort{name: "busy", templates: [][]byte{frame}, burst: 32}
	sink := &memPort{name: "sink"}
	up.a, _ = d.AddPort(busy)
	up.b, _ = d.AddPort(sink)
	for _, n := range []string{"idle1", "idle2"} {
		if _, err := d.AddPort(&memPort{name: n}); err != nil {
			t.Fatal(err)
		}
	}
	pmdOf := func() map[uint32]int {
		m := map[uint32]int{}
		for _, q := range d.Rxqs() {
			m[q.Port] = q.PMD
		}
		return m
	}
	// Nothing measured yet: queues alternate between the PMDs.
	if m := pmdOf(); m[1] != 0 || m[2] != 1 || m[3] != 0 || m[4] != 1 {
		t.Fatalf("initial assignment %v, want ports 1,3 on PMD 0 and 2,4 on PMD 1", m)
	}
	for _, q := range d.Rxqs() {
		if q.Usage != -1 {
			t.Fatalf("port %d: usage %.1f before any measurement, want -1", q.Port, q.Usage)
		}
	}
	d.Start()
	deadline := time.Now().Add(10 * time.Second)
	for sink.txPackets.Load() < 100000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if sink.txPackets.Load() < 100000 {
		t.Fatalf("only %d packets forwarded", sink.txPackets.Load())
	}
	time.Sleep(200 * time.Millisecond)
	d.sampleLoads(time.Now())
	for _, q := range d.Rxqs() {
		switch {
		case q.Port == 1 && q.Usage < 5:
			t.Errorf("busy port: usage %.2f%%, want a real share of its PMD", q.Usage)
		case q.Port != 1 && q.Usage != 0:
			t.Errorf("idle port %d: usage %.2f%%, want 0", q.Port, q.Usage)
		}
		t.Logf("port %d queue %d pmd %d usage %.1f%%", q.Port, q.Queue, q.PMD, q.Usage)
	}
	d.Rebalance()
	if m := pmdOf(); m[2] == m[1] || m[3] == m[1] || m[4] == m[1] {
		t.Fatalf("cycles assignment %v: the busy port 1 should have a PMD of its own", m)
	}
	d.SetRxqAssign(AssignRoundRobin)
	if m := pmdOf(); m[1] != 0 || m[2] != 1 || m[3] != 0 || m[4] != 1 {
		t.Fatalf("roundrobin assignment %v, want ports 1,3 on PMD 0 and 2,4 on PMD 1", m)
	}
	before := sink.txPackets.Load()
	time.Sleep(100 * time.Millisecond)
	if sink.txPackets.Load() == before {
		t.Fatal("forwarding stopped after reassignment")
	}
}

func TestParseRxqAssign(t *testing.T) {
	for in, want := range map[string]RxqAssign{"": AssignCycles, "cycles": AssignCycles, "group": AssignCycles, "roundrobin": AssignRoundRobin} {
		if got, err := ParseRxqAssign(in); err != nil || got != want {
			t.Errorf("ParseRxqAssign(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseRxqAssign("fastest"); err == nil {
		t.Error("ParseRxqAssign(fastest): no error")
	}
}
