package datapath

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
)

func newTestPool(t testing.TB, size int) *Pool {
	a, err := NewArena(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return NewPool(a)
}

func TestPoolGetPutExhaust(t *testing.T) {
	p := newTestPool(t, 1<<20)
	n := p.Size()
	if n != (1<<20)/FrameSize {
		t.Fatalf("pool size %d, want %d", n, (1<<20)/FrameSize)
	}
	c := p.NewCache()
	seen := map[*Packet]bool{}
	var got []*Packet
	for {
		pk := c.Get()
		if pk == nil {
			break
		}
		if seen[pk] {
			t.Fatalf("packet handed out twice")
		}
		if pk.Headroom() != Headroom || pk.Len() != 0 || pk.Tailroom() != FrameSize-Headroom {
			t.Fatalf("fresh packet: headroom %d len %d tailroom %d", pk.Headroom(), pk.Len(), pk.Tailroom())
		}
		seen[pk] = true
		got = append(got, pk)
	}
	if len(got) != n {
		t.Fatalf("got %d packets before exhaustion, want %d", len(got), n)
	}
	// Frames must not overlap: write each packet's index into its frame.
	for i, pk := range got {
		binary.BigEndian.PutUint32(pk.Frame()[0:], uint32(i))
		binary.BigEndian.PutUint32(pk.Frame()[FrameSize-4:], uint32(i))
	}
	for i, pk := range got {
		if binary.BigEndian.Uint32(pk.Frame()[0:]) != uint32(i) || binary.BigEndian.Uint32(pk.Frame()[FrameSize-4:]) != uint32(i) {
			t.Fatalf("frame %d overlaps another", i)
		}
		c.Put(pk)
	}
	c.Flush()
	if p.Available() != n {
		t.Fatalf("after returning all, %d available, want %d", p.Available(), n)
	}
}

func TestPoolConcurrentCaches(t *testing.T) {
	p := newTestPool(t, 2<<20)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := p.NewCache()
			var held []*Packet
			for i := 0; i < 20000; i++ {
				if pk := c.Get(); pk != nil {
					pk.Frame()[Headroom] = byte(i)
					held = append(held, pk)
				}
				if len(held) > 300 || (i%7 == 0 && len(held) > 0) {
					for _, pk := range held {
						c.Put(pk)
					}
					held = held[:0]
				}
			}
			for _, pk := range held {
				c.Put(pk)
			}
			c.Flush()
		}()
	}
	wg.Wait()
	p.shared.Flush()
	if p.Available() != p.Size() {
		t.Fatalf("%d of %d packets back in the ring", p.Available(), p.Size())
	}
}

func TestPacketPushPull(t *testing.T) {
	p := newTestPool(t, 1<<20)
	pk := p.Get()
	defer p.Put(pk)
	if err := pk.CopyFrom([]byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	h, err := pk.Push(2)
	if err != nil {
		t.Fatal(err)
	}
	h[0], h[1] = 9, 8
	if !bytes.Equal(pk.Data(), []byte{9, 8, 1, 2, 3, 4}) {
		t.Fatalf("after push: % x", pk.Data())
	}
	if err := pk.Pull(3); err != nil || !bytes.Equal(pk.Data(), []byte{2, 3, 4}) {
		t.Fatalf("after pull: % x (%v)", pk.Data(), err)
	}
	if _, err := pk.Push(Headroom + 10); err != ErrNoRoom {
		t.Fatalf("push beyond headroom: %v", err)
	}
	if err := pk.Pull(10); err != ErrNoRoom {
		t.Fatalf("pull beyond data: %v", err)
	}
	if err := pk.CopyFrom(make([]byte, MaxData+1)); err != ErrNoRoom {
		t.Fatalf("oversized copy: %v", err)
	}
}

func TestBatch(t *testing.T) {
	var b Batch
	p := &Packet{}
	for i := 0; i < BatchSize; i++ {
		if !b.Add(p) {
			t.Fatalf("add %d refused", i)
		}
	}
	if b.Add(p) || !b.Full() || len(b.Packets()) != BatchSize {
		t.Fatalf("full batch accepted more")
	}
	b.Clear()
	if b.N != 0 || b.Pkts[0] != nil {
		t.Fatalf("clear left packets")
	}
}

func TestVLANActions(t *testing.T) {
	p := newTestPool(t, 1<<20)
	pk := p.Get()
	defer p.Put(pk)
	frame := udpFrame(macA, macB, 0x0a000001, 0x0a000002, 1, 2, 64)
	pk.CopyFrom(frame)
	push := PushVLAN(0x8100, 10|3<<13)
	if !apply(&push, pk) {
		t.Fatal("push refused")
	}
	d := pk.Data()
	if len(d) != 68 || !bytes.Equal(d[:12], frame[:12]) || binary.BigEndian.Uint16(d[12:]) != 0x8100 ||
		binary.BigEndian.Uint16(d[14:]) != 10|3<<13 || !bytes.Equal(d[16:], frame[12:]) {
		t.Fatalf("pushed frame wrong: % x", d[:20])
	}
	set := SetVLAN(20)
	apply(&set, pk)
	if binary.BigEndian.Uint16(pk.Data()[14:]) != 20 {
		t.Fatalf("set vlan: % x", pk.Data()[:18])
	}
	pop := PopVLAN()
	apply(&pop, pk)
	if !bytes.Equal(pk.Data(), frame) {
		t.Fatalf("pop did not restore the frame")
	}
	if apply(&set, pk) {
		t.Fatalf("set vlan on an untagged frame must fail")
	}
}

func newTestDatapath(t testing.TB, up Upcaller) *Datapath {
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 8 << 20}, up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// TestPMDForwards runs a real PMD goroutine between two in-memory ports.
func TestPMDForwards(t *testing.T) {
	up := &crossConnect{}
	d := newTestDatapath(t, up)
	a := &memPort{name: "a"}
	b := &memPort{name: "b", keep: true}
	up.a, _ = d.AddPort(a)
	up.b, _ = d.AddPort(b)
	if up.a != 1 || up.b != 2 {
		t.Fatalf("port numbers %d %d, want 1 2", up.a, up.b)
	}
	d.Start()
	f1 := udpFrame(macA, macB, 0x0a000001, 0x0a000002, 1000, 2000, 100)
	f2 := udpFrame(macA, macB, 0x0a000001, 0x0a000002, 1001, 2000, 200)
	for i := 0; i < 50; i++ {
		a.send(f1, f2)
	}
	a.send([]byte{1, 2, 3})                                           // too short: counted and dropped
	a.send(udpFrame([6]byte{1, 0, 0, 0, 0, 1}, macB, 1, 2, 3, 4, 64)) // multicast source: dropped
	waitFor(t, func() bool { return b.txPackets.Load() == 100 })
	b.mu.Lock()
	for i, f := range b.sent {
		want := f1
		if i%2 == 1 {
			want = f2
		}
		if !bytes.Equal(f, want) {
			b.mu.Unlock()
			t.Fatalf("frame %d differs", i)
		}
	}
	b.mu.Unlock()
	waitFor(t, func() bool { st, _ := d.PortStats(up.a); return st.RxErrors == 2 })
	ps := d.PMDStats()[0]
	if ps.Upcalls != 2 || ps.CacheHits != 98 || ps.Malformed != 2 || ps.Packets != 102 {
		t.Fatalf("pmd stats %+v: want 2 upcalls, 98 hits, 2 malformed, 102 packets", ps)
	}
	// A change invalidates cached flows: the next packets upcall again.
	d.Invalidate()
	d.mu.Lock()
	d.synchronize() // the PMD has started an iteration since: it saw the change
	d.mu.Unlock()
	a.send(f1)
	waitFor(t, func() bool { return b.txPackets.Load() == 101 })
	if got := up.calls.Load(); got != 3 {
		t.Fatalf("upcalls after invalidate: %d, want 3", got)
	}
	// Removing a port waits for the PMD and closes it.
	if err := d.RemovePort(up.b); err != nil {
		t.Fatal(err)
	}
	if !b.closed.Load() {
		t.Fatal("removed port not closed")
	}
	a.send(f1)
	waitFor(t, func() bool { return d.PMDStats()[0].TxDropped == 1 })
}

// TestPMDParksWhenIdle checks that an idle PMD parks and still wakes for work.
func TestPMDParksWhenIdle(t *testing.T) {
	up := &crossConnect{}
	d := newTestDatapath(t, up)
	a := &memPort{name: "a"}
	b := &memPort{name: "b"}
	up.a, _ = d.AddPort(a)
	up.b, _ = d.AddPort(b)
	d.Start()
	waitFor(t, func() bool { return d.PMDStats()[0].Parks > 3 })
	a.send(udpFrame(macA, macB, 1, 2, 3, 4, 64))
	waitFor(t, func() bool { return b.txPackets.Load() == 1 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPMDPinned(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("affinity test needs a known CPU set")
	}
	up := &crossConnect{}
	d, err := New(Config{PMDCores: []int{0}, MemBytes: 4 << 20}, up)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	d.Start()
	var found string
	waitFor(t, func() bool {
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			comm, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/comm")
			if strings.TrimSpace(string(comm)) != "pmd-c00" {
				continue
			}
			status, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
			for _, line := range strings.Split(string(status), "\n") {
				if strings.HasPrefix(line, "Cpus_allowed_list:") {
					found = strings.TrimSpace(strings.TrimPrefix(line, "Cpus_allowed_list:"))
				}
			}
			return true
		}
		return false
	})
	if found != "0" {
		t.Fatalf("pmd thread Cpus_allowed_list = %q, want 0", found)
	}
	fmt.Println("pmd-c00 Cpus_allowed_list:", found)
}

// TestArenaHugepages reserves 2 MiB hugepages for the test, checks the arena
// lands on them, and gives them back.
func TestArenaHugepages(t *testing.T) {
	const knob = "/proc/sys/vm/nr_hugepages"
	old, err := os.ReadFile(knob)
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs root and %s: %v", knob, err)
		}
		t.Skip("needs root")
	}
	var n int
	fmt.Sscan(string(old), &n)
	t.Cleanup(func() { os.WriteFile(knob, old, 0o644) })
	if err := os.WriteFile(knob, []byte(fmt.Sprint(n+8)), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := NewArena(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.Huge() {
		t.Skip("kernel granted no hugepages (memory too fragmented); the fallback path is covered by every other test")
	}
	p := NewPool(a)
	if p.Size() != 8192 {
		t.Fatalf("pool of %d packets, want 8192", p.Size())
	}
	pk := p.Get()
	pk.CopyFrom([]byte{1, 2, 3})
	p.Put(pk)
}
