//go:build dpdk

package dpdk

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"vswitch/datapath"
)

// The EAL can be initialised once per process: TestMain does it without
// hugepages, with its own file prefix, and removes its runtime dir.
func TestMain(m *testing.M) {
	b := make([]byte, 4)
	rand.Read(b)
	prefix := "vsdpdkut" + hex.EncodeToString(b)
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		fmt.Println("dpdk unit tests need root; skipped")
		os.Exit(0)
	}
	err := Init(testEAL(prefix))
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "dpdk: EAL init:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(filepath.Join("/var/run/dpdk", prefix))
	os.Exit(code)
}

func testEAL(prefix string) string {
	return "--no-huge -m 256 --no-shconf --no-pci --no-telemetry -l 0 --file-prefix " + prefix
}

func newPool(t *testing.T) *datapath.Pool {
	t.Helper()
	a, err := datapath.NewArena(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return datapath.NewPool(a)
}

func mustOpen(t *testing.T, cfg Config) *Port {
	t.Helper()
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// frame builds a test frame of n bytes whose payload encodes i.
func frame(i, n int) []byte {
	f := make([]byte, n)
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
	for j := 14; j < n; j++ {
		f[j] = byte(i + j)
	}
	return f
}

// bothBuffers runs f once per buffer strategy.
func bothBuffers(t *testing.T, f func(t *testing.T, buffers string)) {
	for _, b := range []string{BuffersMbuf, BuffersCopy} {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

// A net_ring vdev's rx and tx queues share one ring: what Tx sends, Rx
// receives, byte for byte, and the ethdev counters say so.
func TestRingLoopback(t *testing.T) { bothBuffers(t, testRingLoopback) }

func testRingLoopback(t *testing.T, buffers string) {
	pool := newPool(t)
	c := pool.NewCache()
	defer c.Flush()
	p := mustOpen(t, Config{Name: "r0", Devargs: "net_ring" + uniq(), RxQueues: 1, TxQueues: 1, Pool: pool, Buffers: buffers})
	const rounds, sizes = 10, 3
	var sent [][]byte
	var sentBytes uint64
	for r := 0; r < rounds; r++ {
		var b datapath.Batch
		for i := 0; i < datapath.BatchSize; i++ {
			pk := c.Get()
			f := frame(r*100+i, []int{60, 512, 1514}[i%sizes])
			if err := pk.CopyFrom(f); err != nil {
				t.Fatal(err)
			}
			b.Add(pk)
			sent = append(sent, f)
			sentBytes += uint64(len(f))
		}
		p.Tx(0, &b, c)
		if b.N != 0 {
			t.Fatalf("Tx left %d packets in the batch", b.N)
		}
	}
	var got [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(sent) && time.Now().Before(deadline) {
		var b datapath.Batch
		n := p.Rx(0, &b, c)
		for i := 0; i < n; i++ {
			got = append(got, bytes.Clone(b.Pkts[i].Data()))
		}
		c.PutBatch(&b)
	}
	if len(got) != len(sent) {
		t.Fatalf("received %d frames, sent %d", len(got), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("frame %d differs: got %d bytes, sent %d", i, len(got[i]), len(sent[i]))
		}
	}
	s := p.Stats()
	n := uint64(len(sent))
	if s.TxPackets != n || s.RxPackets != n || s.TxDropped != 0 || s.RxDropped != 0 {
		t.Fatalf("stats %+v, want %d packets each way and no drops", s, n)
	}
	if s.TxBytes != 0 && s.TxBytes != sentBytes { // net_ring counts bytes only in newer DPDKs
		t.Fatalf("tx bytes %d, want %d", s.TxBytes, sentBytes)
	}
	st := p.Status()
	if st["driver"] != "net_ring" || st["link_state"] != "up" || st["dpdk_buffers"] != buffers {
		t.Fatalf("status %v: want driver net_ring, link up, dpdk_buffers %s", st, buffers)
	}
	if x := p.XStats(); x["rx_good_packets"] != n || x["tx_good_packets"] != n {
		t.Fatalf("xstats rx_good_packets=%d tx_good_packets=%d, want %d", x["rx_good_packets"], x["tx_good_packets"], n)
	}
}

// A net_null port's rx counters are what Rx delivered; its tx counters
// what Tx sent.
func TestNullCounts(t *testing.T) { bothBuffers(t, testNullCounts) }

func testNullCounts(t *testing.T, buffers string) {
	pool := newPool(t)
	c := pool.NewCache()
	defer c.Flush()
	p := mustOpen(t, Config{Name: "n", Devargs: "net_null" + uniq() + ",size=128", RxQueues: 2, TxQueues: 2, Pool: pool, Buffers: buffers})
	var got uint64
	for i := 0; i < 50; i++ {
		var b datapath.Batch
		n := p.Rx(i%2, &b, c)
		for j := 0; j < n; j++ {
			if b.Pkts[j].Len() != 128 {
				t.Fatalf("frame of %d bytes, want 128", b.Pkts[j].Len())
			}
		}
		got += uint64(n)
		p.Tx(i%2, &b, c)
	}
	s := p.Stats()
	if got == 0 || s.RxPackets != got || s.TxPackets != got || s.RxErrors != 0 || s.RxDropped != 0 || s.TxDropped != 0 {
		t.Fatalf("stats %+v after %d frames each way", s, got)
	}
}

// In mbuf mode a received mbuf is what tx sends: no copy, the bytes
// (rewritten in place, grown into the headroom) arrive, and the rx port's
// pool outlives the port while its mbufs sit on another port's tx ring.
// Packets other ports drop or copy give their mbufs back on the next poll.
func TestMbufHandover(t *testing.T) {
	pool := newPool(t)
	c := pool.NewCache()
	defer c.Flush()
	src, err := Open(Config{Name: "src", Devargs: "net_ring" + uniq(), RxQueues: 1, TxQueues: 1, Pool: pool, Buffers: BuffersMbuf})
	if err != nil {
		t.Fatal(err)
	}
	dst := mustOpen(t, Config{Name: "dst", Devargs: "net_ring" + uniq(), RxQueues: 1, TxQueues: 1, Pool: pool, Buffers: BuffersMbuf})
	// Load src's ring with copies of arena packets.
	var b datapath.Batch
	for i := 0; i < datapath.BatchSize; i++ {
		pk := c.Get()
		pk.CopyFrom(frame(i, 100))
		b.Add(pk)
	}
	src.Tx(0, &b, c)
	if n := src.Rx(0, &b, c); n != datapath.BatchSize {
		t.Fatalf("src received %d, want %d", n, datapath.BatchSize)
	}
	var ptrs []uintptr
	for i := 0; i < b.N; i++ {
		pk := b.Pkts[i]
		if _, ok := pk.Ext.(*mbufQ); !ok || pk.Headroom() < 64 {
			t.Fatalf("packet %d: Ext %T, headroom %d: want an mbuf with headroom", i, pk.Ext, pk.Headroom())
		}
		h, err := pk.Push(4) // as a VLAN push would
		if err != nil {
			t.Fatal(err)
		}
		copy(h, []byte{0xde, 0xad, 0xbe, byte(i)})
		ptrs = append(ptrs, uintptr(unsafe.Pointer(&pk.Data()[0])))
	}
	// Half go to dst as mbufs, half are dropped (released).
	var drop datapath.Batch
	for b.N > datapath.BatchSize/2 {
		b.N--
		drop.Add(b.Pkts[b.N])
		b.Pkts[b.N] = nil
	}
	c.PutBatch(&drop)
	if m := src.rxqs[0].mq; m.nrel != datapath.BatchSize/2 || m.nfree != rxDescs-datapath.BatchSize/2 {
		t.Fatalf("after the drops: %d mbufs to free, %d descriptors free", m.nrel, m.nfree)
	}
	dst.Tx(0, &b, c)
	if m := src.rxqs[0].mq; m.nfree != rxDescs {
		t.Fatalf("after tx: %d of %d descriptors free", m.nfree, rxDescs)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	var pending int
	onCtl(func() { pending = len(draining) })
	if pending != 1 {
		t.Fatalf("%d pools draining after closing src with mbufs on dst's ring, want 1", pending)
	}
	if n := dst.Rx(0, &b, c); n != datapath.BatchSize/2 {
		t.Fatalf("dst received %d, want %d", n, datapath.BatchSize/2)
	}
	for i := 0; i < b.N; i++ {
		d := b.Pkts[i].Data()
		want := append([]byte{0xde, 0xad, 0xbe, byte(i)}, frame(i, 100)...)
		if !bytes.Equal(d, want) {
			t.Fatalf("frame %d: got % x, want % x", i, d[:8], want[:8])
		}
		if uintptr(unsafe.Pointer(&d[0])) != ptrs[i] {
			t.Fatalf("frame %d was copied: data at %#x, sent from %#x", i, uintptr(unsafe.Pointer(&d[0])), ptrs[i])
		}
	}
	c.PutBatch(&b)
	if s := dst.Stats(); s.TxPackets != datapath.BatchSize/2 || s.TxDropped != 0 {
		t.Fatalf("dst stats %+v", s)
	}
	// The last dpdk port closing frees every pool kept.
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	onCtl(func() { pending = len(draining) })
	if pending != 0 {
		t.Fatalf("%d pools still kept after the last dpdk port closed", pending)
	}
}

// A copy-mode port's pool is freed at once; a frame longer than a datapath
// buffer is refused in mbuf mode as in copy mode.
func TestMbufOversizedAndCopyPoolFreed(t *testing.T) {
	pool := newPool(t)
	c := pool.NewCache()
	defer c.Flush()
	cp, err := Open(Config{Name: "cp", Devargs: "net_null" + uniq() + ",no-rx=1", Pool: pool, Buffers: BuffersCopy})
	if err != nil {
		t.Fatal(err)
	}
	keep := mustOpen(t, Config{Name: "keep", Devargs: "net_null" + uniq() + ",no-rx=1", Pool: pool})
	if err := cp.Close(); err != nil {
		t.Fatal(err)
	}
	var pending int
	onCtl(func() { pending = len(draining) })
	if pending != 0 {
		t.Fatalf("a copy-mode port's pool kept after close (%d kept)", pending)
	}
	_ = keep
	big := mustOpen(t, Config{Name: "big", Devargs: "net_null" + uniq() + ",size=2000", RxQueues: 1, TxQueues: 1, Pool: pool, Buffers: BuffersMbuf})
	var b datapath.Batch
	if n := big.Rx(0, &b, c); n != 0 {
		t.Fatalf("%d frames of 2000 bytes delivered, want none (largest is %d)", n, datapath.MaxData)
	}
	if s := big.Stats(); s.RxTruncated == 0 || s.RxTruncated != s.RxDropped {
		t.Fatalf("stats %+v: want the 2000-byte frames counted as truncated", s)
	}
}

// A PMD thread that exits gives back the mbufs in its per-lcore cache and
// its lcore id: nothing stays stranded in a cache no thread uses, and more
// threads than DPDK has lcore ids come and go.
func TestPMDExitReturnsCache(t *testing.T) {
	pool := newPool(t)
	p := mustOpen(t, Config{Name: "x", Devargs: "net_null" + uniq(), RxQueues: 1, TxQueues: 1, Pool: pool, Buffers: BuffersMbuf})
	for round := 0; round < 150; round++ {
		var lcore, before, after int
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread() // an exiting PMD's thread dies with it
			c := pool.NewCache()
			var b datapath.Batch
			for i := 0; i < 100; i++ {
				p.Rx(0, &b, c)
				p.Tx(0, &b, c)
			}
			c.Flush()
			lcore = threadLcore()
			before = cacheLen(p, max(lcore, 0))
			threadExit() // what the datapath's PMD exit hook runs
			after = cacheLen(p, max(lcore, 0))
		}()
		<-done
		if lcore < 0 {
			t.Fatalf("round %d: the polling thread got no lcore id", round)
		}
		if before <= 0 || after != 0 {
			t.Fatalf("round %d: lcore %d's cache held %d mbufs before the exit hook and %d after, want some and none", round, lcore, before, after)
		}
	}
}

// Packets a queue keeps between polls go back to the pool on Close: none
// is lost.
func TestStashReturnedOnClose(t *testing.T) {
	pool := newPool(t)
	c := pool.NewCache()
	p, err := Open(Config{Name: "n0", Devargs: "net_null" + uniq() + ",no-rx=1", Pool: pool, Buffers: BuffersCopy})
	if err != nil {
		t.Fatal(err)
	}
	var b datapath.Batch
	for i := 0; i < 100; i++ {
		if n := p.Rx(0, &b, c); n != 0 {
			t.Fatalf("no-rx null port received %d", n)
		}
	}
	c.Flush()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for pool.Get() != nil {
		n++
	}
	if n != pool.Size() {
		t.Fatalf("%d of %d packets back in the pool after Close", n, pool.Size())
	}
}

// Bad devargs, a missing PCI device and too many queues are refused by
// Check and Open with a clear error, and leave no device behind: the same
// vdev name can be opened afterwards.
func TestBadInput(t *testing.T) {
	pool := newPool(t)
	ring := "net_ring" + uniq()
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "b0", Devargs: "net_nosuchdriver0"}, "cannot probe the device"},
		{Config{Name: "b1", Devargs: "net_null" + uniq() + ",nosuchkey=1"}, "cannot probe the device"},
		{Config{Name: "b2", Devargs: "0000:7f:1f.7"}, "cannot probe the device"},
		{Config{Name: "b3", Devargs: ring, RxQueues: MaxQueues}, fmt.Sprintf("n_rxq %d: device %s (net_ring) has at most", MaxQueues, ring)},
		{Config{Name: "b4", Devargs: ring, TxQueues: MaxQueues}, fmt.Sprintf("n_txq %d: device %s (net_ring) has at most", MaxQueues, ring)},
		{Config{Name: "b5", Devargs: ring, Buffers: "zerocopy"}, `dpdk-buffers "zerocopy": want mbuf or copy`},
	}
	for _, tc := range cases {
		tc.cfg.Pool = pool
		if err := Check(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%s): %v, want an error containing %q", tc.cfg.Devargs, err, tc.want)
		}
		if p, err := Open(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			if p != nil {
				p.Close()
			}
			t.Errorf("Open(%s): %v, want an error containing %q", tc.cfg.Devargs, err, tc.want)
		}
	}
	p := mustOpen(t, Config{Name: "ok", Devargs: ring, Pool: pool})
	if p.RxQueues() != 1 || p.TxQueues() < 1 {
		t.Fatalf("queues %d/%d, want 1 rx queue and at least one tx queue", p.RxQueues(), p.TxQueues())
	}
	if _, err := Open(Config{Name: "dup", Devargs: ring, Pool: pool}); err == nil || !strings.Contains(err.Error(), "already used by interface ok") {
		t.Fatalf("second open of %s: %v, want already used", ring, err)
	}
}

func TestHugepageHint(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"-l 0", "reserve 512 hugepages"},
		{"-l 0 -m 256", "reserve 128 hugepages"},
		{"--socket-mem 512,512", "reserve 512 hugepages"},
		{"--socket-mem=100", "reserve 50 hugepages"},
	} {
		if got := hugepageHint(tc.args); !strings.Contains(got, tc.want) {
			t.Errorf("hugepageHint(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func uniq() string {
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprint(int(b[0])<<16 | int(b[1])<<8 | int(b[2]))
}
