package vxlan

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Resolver defaults.
const (
	// DefaultNeighAge is how long a learned binding is trusted without
	// being seen again.
	DefaultNeighAge = 5 * time.Minute
	// DefaultMaxLearned bounds the learned bindings so a flood of ARP
	// from the underlay cannot grow the table without end.
	DefaultMaxLearned = 4096
	// ProbeInterval is the least time between two requests the switch
	// sends for the same next hop.
	ProbeInterval = time.Second
)

type learned struct {
	mac [6]byte
	at  time.Time
}

// Resolver answers "which MAC for this next hop" from bindings the switch
// learned itself (ARP replies and neighbour advertisements seen on the
// underlay, handed to Learn) and, failing that, from the kernel's table.
// Learned bindings age out after maxAge. It is safe for concurrent use.
type Resolver struct {
	table  *Table // may be nil: learned bindings only
	maxAge time.Duration
	max    int
	now    func() time.Time

	mu      sync.Mutex
	learned map[neighKey]learned
	probed  map[neighKey]time.Time
}

// NewResolver returns a resolver over table (nil for none) whose learned
// bindings live maxAge (DefaultNeighAge when zero).
func NewResolver(table *Table, maxAge time.Duration) *Resolver {
	if maxAge <= 0 {
		maxAge = DefaultNeighAge
	}
	return &Resolver{
		table: table, maxAge: maxAge, max: DefaultMaxLearned, now: time.Now,
		learned: map[neighKey]learned{}, probed: map[neighKey]time.Time{},
	}
}

// Learn records that ip on interface ifindex is at mac (from an ARP or NA
// the switch saw; see ParseNeighbour). It reports whether the binding is
// new or changed, i.e. whether templates built from it need rebuilding.
func (r *Resolver) Learn(ip netip.Addr, mac [6]byte, ifindex int) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || !usableBinding(ip, mac) {
		return false
	}
	k := neighKey{ifindex, ip}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.learned[k]
	if !had && len(r.learned) >= r.max {
		r.expireLocked(now)
		if len(r.learned) >= r.max {
			return false
		}
	}
	r.learned[k] = learned{mac, now}
	delete(r.probed, k)
	return !had || old.mac != mac
}

// Resolve returns the MAC for ip on ifindex: a fresh learned binding
// first, else a usable kernel entry.
func (r *Resolver) Resolve(ifindex int, ip netip.Addr) ([6]byte, bool) {
	ip = ip.Unmap()
	k := neighKey{ifindex, ip}
	r.mu.Lock()
	l, ok := r.learned[k]
	if ok && r.now().Sub(l.at) > r.maxAge {
		delete(r.learned, k)
		ok = false
	}
	r.mu.Unlock()
	if ok {
		return l.mac, true
	}
	if r.table != nil {
		if mac, _, ok := r.table.Neighbour(ifindex, ip); ok {
			return mac, true
		}
	}
	return [6]byte{}, false
}

// ShouldProbe reports whether the caller should send an ARP request or
// neighbour solicitation for ip now: at most one per ProbeInterval per
// next hop, so a burst of packets to an unresolved hop sends one request.
func (r *Resolver) ShouldProbe(ifindex int, ip netip.Addr) bool {
	k := neighKey{ifindex, ip.Unmap()}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if last, ok := r.probed[k]; ok && now.Sub(last) < ProbeInterval {
		return false
	}
	if len(r.probed) >= r.max {
		for pk, at := range r.probed {
			if now.Sub(at) >= ProbeInterval {
				delete(r.probed, pk)
			}
		}
	}
	r.probed[k] = now
	return true
}

// Expire drops learned bindings older than maxAge and returns how many.
// Call it now and then (Resolve also ignores stale ones).
func (r *Resolver) Expire() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expireLocked(r.now())
}

func (r *Resolver) expireLocked(now time.Time) int {
	n := 0
	for k, l := range r.learned {
		if now.Sub(l.at) > r.maxAge {
			delete(r.learned, k)
			n++
		}
	}
	for k, at := range r.probed {
		if now.Sub(at) >= ProbeInterval {
			delete(r.probed, k)
		}
	}
	return n
}

// Flush forgets every learned binding (tnl/neigh/flush).
func (r *Resolver) Flush() {
	r.mu.Lock()
	clear(r.learned)
	clear(r.probed)
	r.mu.Unlock()
}

// Neighbours lists learned bindings and the kernel's entries (for
// tnl/arp/show); where both know an address the learned one is listed.
func (r *Resolver) Neighbours() []Neigh {
	now := r.now()
	var out []Neigh
	seen := map[neighKey]bool{}
	r.mu.Lock()
	for k, l := range r.learned {
		if now.Sub(l.at) > r.maxAge {
			continue
		}
		seen[k] = true
		out = append(out, Neigh{IP: k.ip, MAC: l.mac, HasMAC: true, Ifindex: k.ifindex,
			State: unix.NUD_REACHABLE, Learned: true, Age: now.Sub(l.at)})
	}
	r.mu.Unlock()
	if r.table != nil {
		for i := range out {
			out[i].Dev = r.table.IfName(out[i].Ifindex)
		}
		for _, n := range r.table.Neighbours() {
			if !seen[neighKey{n.Ifindex, n.IP}] {
				out = append(out, n)
			}
		}
	}
	sortNeighs(out)
	return out
}
