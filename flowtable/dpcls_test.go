package flowtable

import (
	"math/rand/v2"
	"testing"
)

type bfEntry struct {
	mask, key Key
	value     uint32
	h         Handle
}

func maskedEq(k, mask, key *Key) bool {
	kw, mw, ew := k.Words(), mask.Words(), key.Words()
	for i := range kw {
		if kw[i]&mw[i] != ew[i] {
			return false
		}
	}
	return true
}

func randMask(r *rand.Rand) Key {
	var m Key
	w := m.Words()
	for i := range w {
		if r.IntN(3) == 0 {
			w[i] = r.Uint64() | 1
		}
	}
	return m
}

// TestClassifierDifferential checks the classifier against a brute-force
// scan through inserts, removals and lookups (single and batched).
func TestClassifierDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 30; round++ {
		var c Classifier
		var all []bfEntry
		masks := make([]Key, 1+r.IntN(12))
		for i := range masks {
			masks[i] = randMask(r)
		}
		// Keys drawn from a small value space so lookups hit.
		randKey := func() Key {
			var k Key
			for i := range k.Words() {
				k.Words()[i] = uint64(r.IntN(4)) * 0x0101010101010101
			}
			return k
		}
		for op := 0; op < 600; op++ {
			switch {
			case r.IntN(4) > 0 || len(all) == 0:
				m := masks[r.IntN(len(masks))]
				k := randKey()
				mw, kw := m.Words(), k.Words()
				for i := range kw {
					kw[i] &= mw[i]
				}
				dup := false
				for _, e := range all {
					if e.mask == m && e.key == k {
						dup = true
					}
				}
				if dup {
					continue
				}
				v := uint32(op + 1)
				h := c.Insert(&m, &k, v)
				if c.Value(h) != v || c.Mask(h) != m || c.Key(h) != k {
					t.Fatalf("handle does not read back its entry")
				}
				all = append(all, bfEntry{m, k, v, h})
			default:
				i := r.IntN(len(all))
				c.Remove(all[i].h)
				all = append(all[:i], all[i+1:]...)
			}
			if c.Len() != len(all) {
				t.Fatalf("Len %d, want %d", c.Len(), len(all))
			}
			if op%50 == 0 {
				c.Rank()
			}
			var keys [64]Key
			var out [64]Handle
			for i := range keys {
				keys[i] = randKey()
			}
			pending := c.LookupBatch(keys[:], ^uint64(0), out[:])
			for i := range keys {
				h, ok := c.Lookup(&keys[i])
				var matching []uint32
				for _, e := range all {
					if maskedEq(&keys[i], &e.mask, &e.key) {
						matching = append(matching, e.value)
					}
				}
				if ok != (len(matching) > 0) || (pending&(1<<i) == 0) != ok {
					t.Fatalf("round %d op %d: lookup found=%v batch-found=%v, brute force %d matches", round, op, ok, pending&(1<<i) == 0, len(matching))
				}
				if ok && !containsU32(matching, c.Value(h)) || ok && !containsU32(matching, c.Value(out[i])) {
					t.Fatalf("lookup returned a non-matching entry")
				}
			}
		}
		n := 0
		c.Each(func(Handle, uint32) { n++ })
		if n != len(all) {
			t.Fatalf("Each visited %d, want %d", n, len(all))
		}
	}
}

func containsU32(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestClassifierRetiresEmptySubtables(t *testing.T) {
	var c Classifier
	m1, m2 := Key{InPort: ^uint32(0)}, Key{DlType: 0xffff}
	h1 := c.Insert(&m1, &Key{InPort: 1}, 1)
	h2 := c.Insert(&m2, &Key{DlType: 0x800}, 2)
	if c.Subtables() != 2 {
		t.Fatalf("%d subtables, want 2", c.Subtables())
	}
	c.Remove(h1)
	c.Remove(h1) // twice: no effect
	if c.Subtables() != 1 || c.Len() != 1 {
		t.Fatalf("after remove: %d subtables %d entries", c.Subtables(), c.Len())
	}
	if h, ok := c.Lookup(&Key{DlType: 0x800, InPort: 7}); !ok || h != h2 {
		t.Fatal("remaining entry not found")
	}
}

func TestEMC(t *testing.T) {
	var e EMC
	k1 := Key{InPort: 1, DlType: 0x800}
	k2 := Key{InPort: 2, DlType: 0x800}
	h1, h2 := k1.Hash(), k2.Hash()
	if e.Lookup(&k1, h1) != 0 {
		t.Fatal("empty EMC hit")
	}
	e.Insert(&k1, h1, 5)
	e.Insert(&k2, h2, 6)
	if e.Lookup(&k1, h1) != 5 || e.Lookup(&k2, h2) != 6 {
		t.Fatal("EMC lost an entry")
	}
	// Same hash, different key: never a false hit.
	if e.Lookup(&k2, h1) != 0 {
		t.Fatal("EMC returned an entry for a different key")
	}
	e.Insert(&k1, h1, 9)
	if e.Lookup(&k1, h1) != 9 {
		t.Fatal("EMC insert of an existing key must replace it")
	}
	e.Clear()
	if e.Lookup(&k1, h1) != 0 {
		t.Fatal("cleared EMC hit")
	}
}
