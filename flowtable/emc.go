package flowtable

// EMCEntries is the size of a PMD's exact-match cache.
const EMCEntries = 8192

// EMC is a PMD's exact-match cache in front of the megaflow classifier:
// full keys, two candidate slots per hash, values are megaflow references
// the caller validates (a dead megaflow's entry is never used).
type EMC struct {
	entries [EMCEntries]emcEntry
}

type emcEntry struct {
	key   Key
	hash  uint32
	value uint32 // caller's flow reference; 0 = empty
}

const emcMask = EMCEntries - 1

func emcAlt(h uint32) uint32 { return (h >> 13) ^ h*0x9e37 }

// Lookup returns the value cached for k (hash h), or 0.
func (c *EMC) Lookup(k *Key, h uint32) uint32 {
	e := &c.entries[h&emcMask]
	if e.value != 0 && e.hash == h && e.key == *k {
		return e.value
	}
	e = &c.entries[emcAlt(h)&emcMask]
	if e.value != 0 && e.hash == h && e.key == *k {
		return e.value
	}
	return 0
}

// Insert caches value (non-zero) for k: into an empty or matching slot of
// the two candidates, else replacing the first.
func (c *EMC) Insert(k *Key, h uint32, value uint32) {
	a := &c.entries[h&emcMask]
	b := &c.entries[emcAlt(h)&emcMask]
	slot := a
	switch {
	case a.value == 0 || (a.hash == h && a.key == *k):
	case b.value == 0 || (b.hash == h && b.key == *k):
		slot = b
	}
	slot.key, slot.hash, slot.value = *k, h, value
}

// Clear empties the cache.
func (c *EMC) Clear() { clear(c.entries[:]) }

// Drop empties every entry whose value dead reports true for.
func (c *EMC) Drop(dead func(value uint32) bool) {
	for i := range c.entries {
		if v := c.entries[i].value; v != 0 && dead(v) {
			c.entries[i] = emcEntry{}
		}
	}
}
