package vxlan

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Route is an underlay route from the kernel's main table.
type Route struct {
	Dst netip.Prefix
	// Gateway is the next-hop router, invalid for an on-link route.
	Gateway netip.Addr
	// NextHop is the address to resolve to a MAC: Gateway, or, for an
	// on-link route, the destination Lookup was asked about. Only
	// Lookup's result has it.
	NextHop netip.Addr
	// Src is the route's preferred source, or else the first address of
	// the same family on the output device (preferring one whose subnet
	// holds the next hop).
	Src     netip.Addr
	OutDev  string
	Ifindex int
	Metric  int
	// Type is the kernel route type (unix.RTN_UNICAST, RTN_BLACKHOLE, ...).
	Type int
}

// TypeName returns the route type as ip-route prints it.
func (r *Route) TypeName() string {
	switch r.Type {
	case unix.RTN_UNICAST:
		return "unicast"
	case unix.RTN_BLACKHOLE:
		return "blackhole"
	case unix.RTN_UNREACHABLE:
		return "unreachable"
	case unix.RTN_PROHIBIT:
		return "prohibit"
	case unix.RTN_THROW:
		return "throw"
	}
	return fmt.Sprintf("type%d", r.Type)
}

// NeighState is a kernel neighbour state (NUD_* bits).
type NeighState uint16

// Usable reports whether a neighbour in this state has a MAC packets may
// be sent to (the kernel itself sends in STALE, DELAY and PROBE too).
func (s NeighState) Usable() bool {
	return s&(unix.NUD_REACHABLE|unix.NUD_STALE|unix.NUD_DELAY|unix.NUD_PROBE|unix.NUD_PERMANENT|unix.NUD_NOARP) != 0
}

func (s NeighState) String() string {
	switch {
	case s&unix.NUD_PERMANENT != 0:
		return "permanent"
	case s&unix.NUD_NOARP != 0:
		return "noarp"
	case s&unix.NUD_REACHABLE != 0:
		return "reachable"
	case s&unix.NUD_STALE != 0:
		return "stale"
	case s&unix.NUD_DELAY != 0:
		return "delay"
	case s&unix.NUD_PROBE != 0:
		return "probe"
	case s&unix.NUD_INCOMPLETE != 0:
		return "incomplete"
	case s&unix.NUD_FAILED != 0:
		return "failed"
	}
	return "none"
}

// Neigh is one neighbour binding, from the kernel or learned by the switch.
type Neigh struct {
	IP      netip.Addr
	MAC     [6]byte
	HasMAC  bool
	Ifindex int
	Dev     string
	State   NeighState
	// Learned is true for bindings the switch learned from packets it
	// saw; Age is how long ago (zero for kernel entries).
	Learned bool
	Age     time.Duration
}

// MACString formats the MAC like ip-neigh does, "" without one.
func (n *Neigh) MACString() string {
	if !n.HasMAC {
		return ""
	}
	return net.HardwareAddr(n.MAC[:]).String()
}

type neighKey struct {
	ifindex int
	ip      netip.Addr
}

type ifAddr struct {
	ifindex int
	prefix  netip.Prefix
}

// TableOptions configure a Table.
type TableOptions struct {
	// Namespace, when set, reads that network namespace instead of the
	// process's.
	Namespace *netns.NsHandle
	// Notify is called (from the table's goroutine, without locks held)
	// after every change to routes, addresses or neighbours: the slow path
	// revalidates its templates then.
	Notify func()
	Logger *slog.Logger
}

// Table mirrors the kernel's underlay routes (main table only: policy
// routing and VRFs are not followed), local addresses and neighbours.
// Route, address and link events trigger a coalesced re-read of routes and
// addresses, since the kernel's route identity rules (replace, multipath
// append, routes flushed silently with their device) make mirroring
// individual events error-prone and underlay tables are small; neighbour
// events are applied one by one. Lookups are for the slow path: a linear
// longest-prefix scan.
type Table struct {
	h      *netlink.Handle
	opts   TableOptions
	log    *slog.Logger
	done   chan struct{}
	closed sync.Once
	wg     sync.WaitGroup
	gen    atomic.Uint64

	mu     sync.RWMutex
	routes []Route // longest prefix first, then lowest metric
	addrs  []ifAddr
	links  map[int]string
	neigh  map[neighKey]Neigh
}

// NewTable reads the kernel's tables and subscribes to their changes until
// Close.
func NewTable(opts TableOptions) (*Table, error) {
	t := &Table{opts: opts, log: opts.Logger, done: make(chan struct{}), neigh: map[neighKey]Neigh{}}
	if t.log == nil {
		t.log = slog.Default()
	}
	var err error
	if opts.Namespace != nil {
		t.h, err = netlink.NewHandleAt(*opts.Namespace)
	} else {
		t.h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("underlay table: open netlink: %w", err)
	}
	subs, err := t.subscribe()
	if err != nil {
		t.h.Close()
		return nil, err
	}
	// Read after subscribing so no change falls between the two.
	if err := t.resyncAll(); err != nil {
		subs.stop()
		t.h.Close()
		return nil, err
	}
	t.wg.Add(1)
	go t.run(subs)
	return t, nil
}

// Close stops following the kernel.
func (t *Table) Close() {
	t.closed.Do(func() {
		close(t.done)
		t.wg.Wait()
		t.h.Close()
	})
}

// Generation changes whenever the table does; cache it beside anything
// built from lookups to know when to rebuild.
func (t *Table) Generation() uint64 { return t.gen.Load() }

type subscriptions struct {
	done   chan struct{}
	routes chan netlink.RouteUpdate
	addrs  chan netlink.AddrUpdate
	links  chan netlink.LinkUpdate
	neighs chan netlink.NeighUpdate
}

// stop ends the subscriptions. netlink's readers block sending to a full
// channel without watching done, so each started subscription's channel is
// drained until its reader closes it (its socket closed, Receive fails).
func (s *subscriptions) stop() {
	close(s.done)
	if s.routes != nil {
		go func() {
			for range s.routes {
			}
		}()
	}
	if s.addrs != nil {
		go func() {
			for range s.addrs {
			}
		}()
	}
	if s.links != nil {
		go func() {
			for range s.links {
			}
		}()
	}
	if s.neighs != nil {
		go func() {
			for range s.neighs {
			}
		}()
	}
}

// subscribe starts the four subscriptions; a channel is set in the result
// only once its subscription started.
func (t *Table) subscribe() (*subscriptions, error) {
	s := &subscriptions{done: make(chan struct{})}
	onErr := func(err error) {
		select {
		case <-s.done: // closing the socket on Close makes Receive fail: not news
		default:
			t.log.Warn("underlay table: netlink subscription", "err", err)
		}
	}
	const rcvbuf = 1 << 20
	ns := t.opts.Namespace
	routes := make(chan netlink.RouteUpdate, 256)
	err := netlink.RouteSubscribeWithOptions(routes, s.done, netlink.RouteSubscribeOptions{
		Namespace: ns, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf})
	if err == nil {
		s.routes = routes
		addrs := make(chan netlink.AddrUpdate, 64)
		err = netlink.AddrSubscribeWithOptions(addrs, s.done, netlink.AddrSubscribeOptions{
			Namespace: ns, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf})
		if err == nil {
			s.addrs = addrs
		}
	}
	if err == nil {
		links := make(chan netlink.LinkUpdate, 64)
		err = netlink.LinkSubscribeWithOptions(links, s.done, netlink.LinkSubscribeOptions{
			Namespace: ns, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf})
		if err == nil {
			s.links = links
		}
	}
	if err == nil {
		neighs := make(chan netlink.NeighUpdate, 256)
		err = netlink.NeighSubscribeWithOptions(neighs, s.done, netlink.NeighSubscribeOptions{
			Namespace: ns, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf})
		if err == nil {
			s.neighs = neighs
		}
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("underlay table: subscribe to netlink: %w", err)
	}
	return s, nil
}

// run applies events until Close. A subscription that fails (its channel
// closes, e.g. after a receive buffer overrun lost events) is replaced and
// everything re-read.
func (t *Table) run(s *subscriptions) {
	defer t.wg.Done()
	for {
		if !t.follow(s) {
			s.stop()
			return
		}
		s.stop()
		for {
			select {
			case <-t.done:
				return
			case <-time.After(200 * time.Millisecond):
			}
			var err error
			if s, err = t.subscribe(); err == nil {
				if err = t.resyncAll(); err == nil {
					break
				}
				s.stop()
			}
			t.log.Warn("underlay table: resubscribe", "err", err)
		}
	}
}

// follow consumes events; it returns false on Close and true when a
// subscription broke.
func (t *Table) follow(s *subscriptions) bool {
	for {
		dirty, changed := false, false
		select {
		case <-t.done:
			return false
		case _, ok := <-s.routes:
			if !ok {
				return true
			}
			dirty = true
		case _, ok := <-s.addrs:
			if !ok {
				return true
			}
			dirty = true
		case _, ok := <-s.links:
			if !ok {
				return true
			}
			dirty = true
		case u, ok := <-s.neighs:
			if !ok {
				return true
			}
			changed = t.applyNeigh(u)
		}
		// Coalesce a burst (a link going down removes many routes).
	drain:
		for {
			select {
			case _, ok := <-s.routes:
				if !ok {
					return true
				}
				dirty = true
			case _, ok := <-s.addrs:
				if !ok {
					return true
				}
				dirty = true
			case _, ok := <-s.links:
				if !ok {
					return true
				}
				dirty = true
			case u, ok := <-s.neighs:
				if !ok {
					return true
				}
				changed = t.applyNeigh(u) || changed
			default:
				break drain
			}
		}
		if dirty {
			if err := t.resyncRoutes(); err != nil {
				t.log.Warn("underlay table: re-read routes", "err", err)
			}
			changed = true
		}
		if changed {
			t.changed()
		}
	}
}

func (t *Table) changed() {
	t.gen.Add(1)
	if t.opts.Notify != nil {
		t.opts.Notify()
	}
}

func (t *Table) resyncAll() error {
	if err := t.resyncRoutes(); err != nil {
		return err
	}
	ns, err := t.h.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("underlay table: list neighbours: %w", err)
	}
	m := make(map[neighKey]Neigh, len(ns))
	t.mu.RLock()
	links := t.links
	t.mu.RUnlock()
	for i := range ns {
		if n, ok := convNeigh(&ns[i], links); ok {
			m[neighKey{n.Ifindex, n.IP}] = n
		}
	}
	t.mu.Lock()
	t.neigh = m
	t.mu.Unlock()
	t.changed()
	return nil
}

// resyncRoutes re-reads links, addresses and the main routing table.
func (t *Table) resyncRoutes() error {
	ll, err := t.h.LinkList()
	if err != nil {
		return fmt.Errorf("underlay table: list links: %w", err)
	}
	links := make(map[int]string, len(ll))
	for _, l := range ll {
		links[l.Attrs().Index] = l.Attrs().Name
	}
	al, err := t.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("underlay table: list addresses: %w", err)
	}
	addrs := make([]ifAddr, 0, len(al))
	for _, a := range al {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.IPNet == nil {
			continue
		}
		ones, _ := a.Mask.Size()
		addrs = append(addrs, ifAddr{a.LinkIndex, netip.PrefixFrom(ip.Unmap(), ones)})
	}
	rl, err := t.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("underlay table: list routes: %w", err)
	}
	routes := make([]Route, 0, len(rl))
	for i := range rl {
		if r, ok := convRoute(&rl[i], links, addrs); ok {
			routes = append(routes, r)
		}
	}
	slices.SortStableFunc(routes, func(a, b Route) int {
		if c := cmp.Compare(b.Dst.Bits(), a.Dst.Bits()); c != 0 {
			return c
		}
		return cmp.Compare(a.Metric, b.Metric)
	})
	t.mu.Lock()
	t.links, t.addrs, t.routes = links, addrs, routes
	for k, n := range t.neigh {
		n.Dev = links[n.Ifindex]
		t.neigh[k] = n
	}
	t.mu.Unlock()
	return nil
}

func convRoute(r *netlink.Route, links map[int]string, addrs []ifAddr) (Route, bool) {
	var out Route
	switch r.Family {
	case unix.AF_INET, unix.AF_INET6:
	default:
		return out, false
	}
	if r.Dst != nil {
		ip, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok {
			return out, false
		}
		ones, _ := r.Dst.Mask.Size()
		out.Dst = netip.PrefixFrom(ip.Unmap(), ones)
	} else if r.Family == unix.AF_INET {
		out.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	} else {
		out.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	out.Ifindex, out.Metric, out.Type = r.LinkIndex, r.Priority, r.Type
	gw := r.Gw
	if len(r.MultiPath) > 0 { // ECMP: the first path (documented limitation)
		out.Ifindex, gw = r.MultiPath[0].LinkIndex, r.MultiPath[0].Gw
	}
	if a, ok := netip.AddrFromSlice(gw); ok {
		out.Gateway = a.Unmap()
	}
	if a, ok := netip.AddrFromSlice(r.Src); ok {
		out.Src = a.Unmap()
	}
	out.OutDev = links[out.Ifindex]
	if !out.Src.IsValid() && out.Ifindex != 0 {
		out.Src = pickSrc(addrs, out.Ifindex, out.Dst.Addr().Is4(), out.Gateway)
	}
	return out, true
}

// pickSrc chooses a source address on ifindex: one whose subnet holds the
// gateway if there is one, else the first non-link-local, else any.
func pickSrc(addrs []ifAddr, ifindex int, v4 bool, gw netip.Addr) netip.Addr {
	var first, linkLocal netip.Addr
	for _, a := range addrs {
		ip := a.prefix.Addr()
		if a.ifindex != ifindex || ip.Is4() != v4 {
			continue
		}
		if gw.IsValid() && a.prefix.Contains(gw) && !ip.IsLinkLocalUnicast() {
			return ip
		}
		if ip.IsLinkLocalUnicast() {
			if !linkLocal.IsValid() {
				linkLocal = ip
			}
		} else if !first.IsValid() {
			first = ip
		}
	}
	if first.IsValid() {
		return first
	}
	return linkLocal
}

func convNeigh(n *netlink.Neigh, links map[int]string) (Neigh, bool) {
	if n.Family != unix.AF_INET && n.Family != unix.AF_INET6 {
		return Neigh{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return Neigh{}, false
	}
	out := Neigh{IP: ip.Unmap(), Ifindex: n.LinkIndex, Dev: links[n.LinkIndex], State: NeighState(n.State)}
	if len(n.HardwareAddr) == 6 {
		out.MAC = [6]byte(n.HardwareAddr)
		out.HasMAC = true
	}
	return out, true
}

func (t *Table) applyNeigh(u netlink.NeighUpdate) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := convNeigh(&u.Neigh, t.links)
	if !ok {
		return false
	}
	k := neighKey{n.Ifindex, n.IP}
	if u.Type == unix.RTM_DELNEIGH {
		delete(t.neigh, k)
		return true
	}
	if !n.HasMAC { // an update without lladdr keeps the MAC it had
		if old, ok := t.neigh[k]; ok && old.HasMAC && n.State&(unix.NUD_INCOMPLETE|unix.NUD_FAILED) == 0 {
			n.MAC, n.HasMAC = old.MAC, true
		}
	}
	t.neigh[k] = n
	return true
}

// Lookup returns the longest-prefix route to dst in the main table. It
// fails when no route matches or the best match is not unicast
// (blackhole, unreachable, prohibit).
func (t *Table) Lookup(dst netip.Addr) (Route, bool) {
	dst = dst.Unmap()
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := range t.routes {
		r := &t.routes[i]
		if r.Dst.Addr().Is4() != dst.Is4() || !r.Dst.Contains(dst) {
			continue
		}
		if r.Type != unix.RTN_UNICAST || r.Ifindex == 0 {
			return Route{}, false
		}
		out := *r
		out.NextHop = out.Gateway
		if !out.NextHop.IsValid() {
			out.NextHop = dst
		}
		return out, true
	}
	return Route{}, false
}

// Neighbour returns the kernel's binding for ip on ifindex. ok is true only
// when the entry has a MAC in a usable state; state is set whenever the
// kernel has an entry (INCOMPLETE, FAILED, ...).
func (t *Table) Neighbour(ifindex int, ip netip.Addr) (mac [6]byte, state NeighState, ok bool) {
	t.mu.RLock()
	n, found := t.neigh[neighKey{ifindex, ip.Unmap()}]
	t.mu.RUnlock()
	if !found {
		return mac, 0, false
	}
	return n.MAC, n.State, n.HasMAC && n.State.Usable()
}

// IsLocal reports whether ip is an address of this host and on which
// interface: decap accepts only packets to a local tunnel endpoint.
func (t *Table) IsLocal(ip netip.Addr) (ifindex int, ok bool) {
	ip = ip.Unmap()
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, a := range t.addrs {
		if a.prefix.Addr() == ip {
			return a.ifindex, true
		}
	}
	return 0, false
}

// IfName returns the name of interface ifindex ("" if unknown).
func (t *Table) IfName(ifindex int) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.links[ifindex]
}

// Routes returns a copy of the routes, IPv4 first, longest prefix first
// (for tnl/route/show).
func (t *Table) Routes() []Route {
	t.mu.RLock()
	out := slices.Clone(t.routes)
	t.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b Route) int {
		if a.Dst.Addr().Is4() != b.Dst.Addr().Is4() {
			if a.Dst.Addr().Is4() {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}

// Neighbours returns a copy of the kernel's IPv4/IPv6 neighbours sorted by
// interface and address.
func (t *Table) Neighbours() []Neigh {
	t.mu.RLock()
	out := make([]Neigh, 0, len(t.neigh))
	for _, n := range t.neigh {
		out = append(out, n)
	}
	t.mu.RUnlock()
	sortNeighs(out)
	return out
}

func sortNeighs(ns []Neigh) {
	slices.SortFunc(ns, func(a, b Neigh) int {
		if c := cmp.Compare(a.Ifindex, b.Ifindex); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
}
