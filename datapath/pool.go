package datapath

import (
	"log/slog"
	"runtime"
	"sync"
)

// CacheSize is the number of packets a per-PMD cache holds before it spills
// half of them back to the shared ring.
const CacheSize = 512

// Pool hands out the packets of one Arena. The free list is a shared
// lock-free ring; each PMD takes and returns packets through its own Cache
// so the ring is touched once per half-cache, as a DPDK mempool does.
type Pool struct {
	arena *Arena
	pkts  []Packet
	free  *Ring

	mu     sync.Mutex // guards shared, the cache for non-PMD callers
	shared *Cache
}

// NewPool makes a pool of every frame in arena.
func NewPool(a *Arena) *Pool {
	n := a.Frames()
	// Twice the packets: a ring exactly as large as what it holds looks
	// full to a Put that reaches a slot whose Get has moved head but not
	// yet marked the slot free, and that packet would be lost.
	p := &Pool{arena: a, pkts: make([]Packet, n), free: NewRing(2 * n)}
	for i := range p.pkts {
		pk := &p.pkts[i]
		pk.frame = a.Frame(i)
		pk.pool = p
		pk.index = uint32(i)
		pk.Reset()
		p.free.Put(uint32(i))
	}
	p.shared = p.NewCache()
	return p
}

// Arena returns the pool's arena.
func (p *Pool) Arena() *Arena { return p.arena }

// Size returns the number of packets in the pool.
func (p *Pool) Size() int { return len(p.pkts) }

// Available returns the approximate number of packets free in the shared ring
// (packets held in caches are not counted).
func (p *Pool) Available() int { return p.free.Len() }

// Packet returns the pool's i-th packet (for AF_XDP frame addressing).
func (p *Pool) Packet(i uint32) *Packet { return &p.pkts[i] }

// Get takes one packet through a locked shared cache; for control-plane
// callers (packet-out, tests). PMDs use their own Cache.
func (p *Pool) Get() *Packet {
	p.mu.Lock()
	pk := p.shared.Get()
	p.mu.Unlock()
	return pk
}

// Put returns a packet taken with Get.
func (p *Pool) Put(pk *Packet) {
	p.mu.Lock()
	p.shared.Put(pk)
	p.mu.Unlock()
}

// Cache is a per-thread stack of free packets in front of a pool's ring.
// A Cache must be used by one goroutine at a time.
type Cache struct {
	pool  *Pool
	n     int
	stack [CacheSize]uint32
}

// NewCache returns an empty cache over p.
func (p *Pool) NewCache() *Cache { return &Cache{pool: p} }

// Pool returns the pool behind the cache.
func (c *Cache) Pool() *Pool { return c.pool }

// Get returns a reset packet, or nil when the pool is exhausted.
func (c *Cache) Get() *Packet {
	if c.n == 0 {
		c.refill()
		if c.n == 0 {
			return nil
		}
	}
	c.n--
	pk := &c.pool.pkts[c.stack[c.n]]
	pk.Reset()
	return pk
}

// GetBulk fills dst with packets and returns how many it got.
func (c *Cache) GetBulk(dst []*Packet) int {
	for i := range dst {
		pk := c.Get()
		if pk == nil {
			return i
		}
		dst[i] = pk
	}
	return len(dst)
}

// Put frees a packet: to its External owner, or to this cache (spilling to
// the packet's pool when the packet belongs to another pool).
func (c *Cache) Put(pk *Packet) {
	if pk.Ext != nil {
		pk.Ext.Release(pk)
		return
	}
	if pk.pool != c.pool {
		pk.pool.Put(pk)
		return
	}
	if c.n == CacheSize {
		c.spill()
	}
	c.stack[c.n] = pk.index
	c.n++
}

// PutBatch frees every packet of b and empties it.
func (c *Cache) PutBatch(b *Batch) {
	for i := 0; i < b.N; i++ {
		c.Put(b.Pkts[i])
		b.Pkts[i] = nil
	}
	b.N = 0
}

// Flush returns every cached packet to the shared ring.
func (c *Cache) Flush() {
	for c.n > 0 {
		c.n--
		c.pool.give(c.stack[c.n])
	}
}

func (c *Cache) refill() {
	for c.n < CacheSize/2 {
		v, ok := c.pool.free.Get()
		if !ok {
			return
		}
		c.stack[c.n] = v
		c.n++
	}
}

func (c *Cache) spill() {
	for c.n > CacheSize/2 {
		c.n--
		c.pool.give(c.stack[c.n])
	}
}

// give returns packet i to the shared ring. The ring has room for every
// packet twice, so a full answer is transient (a Get preempted while
// freeing the slot): retry. Only a packet freed twice could fill it for
// good; then the packet is dropped and the bug logged, not a PMD hung.
func (p *Pool) give(i uint32) {
	for try := 0; !p.free.Put(i); try++ {
		if try == 1<<20 {
			slog.Error("datapath: packet pool ring full: a packet was freed twice", "packet", i)
			return
		}
		runtime.Gosched()
	}
}
