package flowtable

import (
	"math/bits"
	"slices"
)

// Classifier is a megaflow classifier (OVS's dpcls): tuple-space search
// with one hash table per distinct mask. It is written and read by one PMD
// only. Entries live in flat pointer-free arrays (masked key words and
// values), so a million megaflows cost the garbage collector nothing.
type Classifier struct {
	subs   []*subtable // by id; nil when retired
	order  []int       // subtable ids, most hit first
	byMask map[Key]int
	count  int
}

// Handle names an entry: subtable id in the high half, entry index in the low.
type Handle uint64

// NoHandle is the zero Handle (never returned by Insert).
const NoHandle Handle = 0

type subtable struct {
	id    int
	mask  Key
	words [KeyWords]uint8 // indices of the mask's non-zero words
	maskw [KeyWords]uint64
	nw    int
	hits  uint64

	slots  []uint64 // hash<<32 | entry index+1; 0 empty; tomb marks a deleted slot
	tombs  int
	keys   []uint64 // masked key words, nw per entry
	hashes []uint32
	values []uint32
	slotOf []uint32 // entry -> slot, for removal
	free   []uint32
	live   int
}

const tomb = uint64(^uint32(0))

// Len returns the number of entries.
func (c *Classifier) Len() int { return c.count }

// Subtables returns the number of live subtables (distinct masks).
func (c *Classifier) Subtables() int { return len(c.order) }

// Insert adds key under mask with value and returns its handle. The caller
// ensures no entry with the same mask and masked key exists.
func (c *Classifier) Insert(mask, key *Key, value uint32) Handle {
	st := c.subtable(mask)
	var mk [KeyWords]uint64
	kw := key.Words()
	for i := 0; i < st.nw; i++ {
		mk[i] = kw[st.words[i]] & st.maskw[i]
	}
	h := st.hash(kw)
	var e uint32
	if n := len(st.free); n > 0 {
		e = st.free[n-1]
		st.free = st.free[:n-1]
		copy(st.keys[int(e)*st.nw:], mk[:st.nw])
		st.hashes[e], st.values[e] = h, value
	} else {
		e = uint32(len(st.values))
		st.keys = append(st.keys, mk[:st.nw]...)
		st.hashes = append(st.hashes, h)
		st.values = append(st.values, value)
		st.slotOf = append(st.slotOf, 0)
	}
	if (st.live+st.tombs+1)*4 > len(st.slots)*3 {
		size := len(st.slots)
		if (st.live+1)*2 > size {
			size *= 2
		}
		st.rehash(size)
	}
	st.place(e, h)
	st.live++
	c.count++
	return Handle(uint64(st.id+1)<<32 | uint64(e))
}

// Remove deletes the entry h. A subtable left empty is retired.
func (c *Classifier) Remove(h Handle) {
	id := int(h>>32) - 1
	if id < 0 || id >= len(c.subs) || c.subs[id] == nil {
		return
	}
	st := c.subs[id]
	e := uint32(h)
	if int(e) >= len(st.values) || uint32(st.slots[st.slotOf[e]]) != e+1 {
		return
	}
	st.slots[st.slotOf[e]] = tomb
	st.tombs++
	st.live--
	st.free = append(st.free, e)
	c.count--
	if st.live == 0 {
		delete(c.byMask, st.mask)
		c.subs[id] = nil
		c.order = slices.DeleteFunc(c.order, func(x int) bool { return x == id })
	}
}

// Value returns the value stored under h.
func (c *Classifier) Value(h Handle) uint32 {
	return c.subs[int(h>>32)-1].values[uint32(h)]
}

// Mask returns the mask of the entry h.
func (c *Classifier) Mask(h Handle) Key { return c.subs[int(h>>32)-1].mask }

// Key returns the masked key of the entry h.
func (c *Classifier) Key(h Handle) Key {
	st := c.subs[int(h>>32)-1]
	var k Key
	kw := k.Words()
	e := int(uint32(h))
	for i := 0; i < st.nw; i++ {
		kw[st.words[i]] = st.keys[e*st.nw+i]
	}
	return k
}

// Lookup finds the entry matching k, searching subtables in rank order.
func (c *Classifier) Lookup(k *Key) (Handle, bool) {
	kw := k.Words()
	for _, id := range c.order {
		st := c.subs[id]
		if e, ok := st.find(kw); ok {
			st.hits++
			return Handle(uint64(id+1)<<32 | uint64(e)), true
		}
	}
	return NoHandle, false
}

// LookupBatch classifies keys[i] for every bit i set in pending, one
// subtable at a time over the whole batch, storing handles and clearing the
// bits of keys found. It returns the bits still unresolved.
func (c *Classifier) LookupBatch(keys []Key, pending uint64, out []Handle) uint64 {
	for _, id := range c.order {
		if pending == 0 {
			break
		}
		st := c.subs[id]
		for m := pending; m != 0; m &= m - 1 {
			i := trailingZeros(m)
			if e, ok := st.find(keys[i].Words()); ok {
				out[i] = Handle(uint64(id+1)<<32 | uint64(e))
				pending &^= 1 << i
				st.hits++
			}
		}
	}
	return pending
}

// Rank re-sorts subtables by hits since the last Rank, most hit first, as
// dpcls does periodically, and resets the counts.
func (c *Classifier) Rank() {
	slices.SortStableFunc(c.order, func(a, b int) int {
		ha, hb := c.subs[a].hits, c.subs[b].hits
		switch {
		case ha > hb:
			return -1
		case ha < hb:
			return 1
		}
		return 0
	})
	for _, id := range c.order {
		c.subs[id].hits = 0
	}
}

// Clear removes every entry and subtable.
func (c *Classifier) Clear() {
	*c = Classifier{}
}

// Each calls fn for every entry.
func (c *Classifier) Each(fn func(h Handle, value uint32)) {
	for _, id := range c.order {
		st := c.subs[id]
		for _, s := range st.slots {
			if s != 0 && s != tomb {
				e := uint32(s) - 1
				fn(Handle(uint64(id+1)<<32|uint64(e)), st.values[e])
			}
		}
	}
}

func (c *Classifier) subtable(mask *Key) *subtable {
	if c.byMask == nil {
		c.byMask = map[Key]int{}
	}
	if id, ok := c.byMask[*mask]; ok {
		return c.subs[id]
	}
	st := &subtable{mask: *mask, slots: make([]uint64, 16)}
	for i, w := range mask.Words() {
		if w != 0 {
			st.words[st.nw] = uint8(i)
			st.maskw[st.nw] = w
			st.nw++
		}
	}
	st.id = slices.Index(c.subs, nil)
	if st.id < 0 {
		st.id = len(c.subs)
		c.subs = append(c.subs, st)
	} else {
		c.subs[st.id] = st
	}
	c.byMask[*mask] = st.id
	c.order = append(c.order, st.id)
	return st
}

// hash hashes the masked words of kw, the same way Key.Hash does whole keys.
func (st *subtable) hash(kw *[KeyWords]uint64) uint32 {
	var sum uint64
	for i := 0; i < st.nw; i++ {
		w := st.words[i]
		sum += (kw[w]&st.maskw[i] ^ hashSeed[w]) * hashMul[w]
	}
	return finish(sum)
}

// find probes for the masked key of kw.
func (st *subtable) find(kw *[KeyWords]uint64) (uint32, bool) {
	h := st.hash(kw)
	mask := uint32(len(st.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := st.slots[i]
		if s == 0 {
			return 0, false
		}
		if s == tomb || uint32(s>>32) != h {
			continue
		}
		e := uint32(s) - 1
		stored := st.keys[int(e)*st.nw : int(e+1)*st.nw]
		same := true
		for j := range stored {
			if stored[j] != kw[st.words[j]]&st.maskw[j] {
				same = false
				break
			}
		}
		if same {
			return e, true
		}
	}
}

func (st *subtable) place(e, h uint32) {
	mask := uint32(len(st.slots) - 1)
	i := h & mask
	for st.slots[i] != 0 && st.slots[i] != tomb {
		i = (i + 1) & mask
	}
	if st.slots[i] == tomb {
		st.tombs--
	}
	st.slots[i] = uint64(h)<<32 | uint64(e+1)
	st.slotOf[e] = i
}

func (st *subtable) rehash(size int) {
	old := st.slots
	st.slots = make([]uint64, size)
	st.tombs = 0
	for _, s := range old {
		if s != 0 && s != tomb {
			st.place(uint32(s)-1, uint32(s>>32))
		}
	}
}

func trailingZeros(x uint64) int { return bits.TrailingZeros64(x) }
