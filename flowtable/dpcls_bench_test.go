package flowtable

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchClassifier fills a classifier with nflows megaflows spread over
// nsub masks (in_port, dl_type, nw_dst/32 and a different nw_src prefix or
// tp_dst per mask) and looks up batches of 32 keys that all hit.
func benchClassifier(b *testing.B, nsub, nflows int) {
	var c Classifier
	masks := make([]Key, nsub)
	for i := range masks {
		m := &masks[i]
		m.InPort, m.DlType = ^uint32(0), 0xffff
		copy(m.NwDst[:4], []byte{0xff, 0xff, 0xff, 0xff})
		binary.BigEndian.PutUint32(m.NwSrc[:4], ^uint32(0)<<(i%32))
		if i >= 32 {
			m.TpDst = 0xffff
			m.NwProto = 0xff
		}
	}
	keys := make([]Key, 0, 4096)
	for i := 0; i < nflows; i++ {
		m := &masks[i%nsub]
		k := Key{InPort: 1, DlType: 0x0800, NwProto: 17, TpDst: uint16(i % 7)}
		binary.BigEndian.PutUint32(k.NwDst[:4], uint32(i))
		binary.BigEndian.PutUint32(k.NwSrc[:4], uint32(i*2654435761))
		mk := k
		ApplyMask(&mk, m)
		c.Insert(m, &mk, uint32(i))
		if len(keys) < cap(keys) {
			keys = append(keys, k)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 1))
	rnd.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	var out [32]Handle
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := (i * 32) % (len(keys) - 32)
		if miss := c.LookupBatch(keys[off:off+32], ^uint64(0)>>32, out[:]); miss != 0 {
			b.Fatalf("missed %x", miss)
		}
		if i&1023 == 0 {
			c.Rank()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*32), "ns/lookup")
}

func BenchmarkClassifierHit(b *testing.B) {
	for _, nsub := range []int{1, 4, 16, 64} {
		for _, n := range []int{1000, 100000, 1000000} {
			b.Run(fmt.Sprintf("subtables=%d/megaflows=%d", nsub, n), func(b *testing.B) { benchClassifier(b, nsub, n) })
		}
	}
}

func BenchmarkEMCHit(b *testing.B) {
	var e EMC
	keys := make([]Key, 1024)
	hashes := make([]uint32, len(keys))
	for i := range keys {
		keys[i] = Key{InPort: 1, DlType: 0x0800, TpDst: uint16(i)}
		hashes[i] = keys[i].Hash()
		e.Insert(&keys[i], hashes[i], uint32(i+1))
	}
	b.ReportAllocs()
	b.ResetTimer()
	hits := 0
	for i := 0; i < b.N; i++ {
		j := i & 1023
		if e.Lookup(&keys[j], hashes[j]) != 0 {
			hits++
		}
	}
	if hits < b.N*9/10 {
		b.Fatalf("only %d of %d hit", hits, b.N)
	}
}

func BenchmarkKeyHash(b *testing.B) {
	k := Key{InPort: 1, DlType: 0x0800, TpDst: 80}
	b.ReportAllocs()
	var h uint32
	for i := 0; i < b.N; i++ {
		k.TpSrc = uint16(i)
		h ^= k.Hash()
	}
	_ = h
}
