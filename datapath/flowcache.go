package datapath

import "vswitch/flowtable"

// flowCache is a PMD's exact-match flow cache: key -> datapath actions.
// Storage is pointer-free (entries and an action slab), invalidated in O(1)
// by bumping a generation. The classifier issue puts an EMC and megaflows here.
type flowCache struct {
	entries []cacheEntry
	mask    uint32
	acts    []Action // slab; entries refer to it by offset
	used    int
	gen     uint32
}

type cacheEntry struct {
	key    flowtable.Key
	hash   uint32
	gen    uint32 // valid while equal to flowCache.gen
	actOff uint32
	actLen uint32
}

const (
	cacheEntries = 8192
	cacheActions = 64 << 10
)

func newFlowCache() *flowCache {
	return &flowCache{
		entries: make([]cacheEntry, cacheEntries),
		mask:    cacheEntries - 1,
		acts:    make([]Action, cacheActions),
		gen:     1,
	}
}

// lookup returns the actions for k, or ok=false on a miss.
func (c *flowCache) lookup(k *flowtable.Key, h uint32) (acts []Action, ok bool) {
	for i := uint32(0); i < 2; i++ {
		e := &c.entries[(h+i*0x9e37)&c.mask]
		if e.gen == c.gen && e.hash == h && e.key == *k {
			return c.acts[e.actOff : e.actOff+e.actLen], true
		}
	}
	return nil, false
}

// insert stores acts for k; on a full action slab the whole cache is flushed.
func (c *flowCache) insert(k *flowtable.Key, h uint32, acts []Action) {
	if len(acts) > len(c.acts) {
		return
	}
	if c.used+len(acts) > len(c.acts) {
		c.flush()
	}
	slot := &c.entries[h&c.mask]
	if alt := &c.entries[(h+0x9e37)&c.mask]; slot.gen == c.gen && alt.gen != c.gen {
		slot = alt
	}
	off := c.used
	c.used += copy(c.acts[off:], acts)
	*slot = cacheEntry{key: *k, hash: h, gen: c.gen, actOff: uint32(off), actLen: uint32(len(acts))}
}

// flush invalidates every entry.
func (c *flowCache) flush() {
	c.gen++
	if c.gen == 0 { // wrapped: clear for real so no stale entry matches
		clear(c.entries)
		c.gen = 1
	}
	c.used = 0
}
