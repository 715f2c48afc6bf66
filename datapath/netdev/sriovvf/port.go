// Package sriovvf is the datapath side of an sriov-vf port: it wraps the
// AF_XDP or AF_PACKET port on a VF's netdev and adds what a VF needs to
// act as a switch port. A VF receives unicast only for its own MAC and for
// the MACs programmed on it as unicast filters, so the MACs the bridge
// learns on its other ports are programmed here (SetPeerMACs, called off
// the PMD threads). The NIC's embedded switch reflects some frames the
// switch sent out of the VF back into it; a frame arriving with a source
// MAC the switch programs (or wants to program) on this VF is such a
// reflection and is dropped and counted in Rx, before the bridge could
// learn it on the wrong port.
package sriovvf

import (
	"errors"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"vswitch/datapath"
	"vswitch/sriov"
)

// maxFilters bounds the MACs a VF port programs (igbvf holds 3; other
// VFs more). The reflection check scans this many at most.
const maxFilters = 32

// The source MACs of frames the switch sent out of the VF are kept in a
// small direct-mapped table, written by the PMDs as they transmit: a frame
// coming back with such a source within reflectWindow is a reflection even
// when the bridge has not yet learned (and programmed) that MAC — the NIC
// hands a flooded broadcast back at once, long before the bridge's
// watcher runs.
const (
	sentSlots     = 1024
	reflectWindow = int64(2 * time.Second)
)

type sentMAC struct {
	mac atomic.Uint64 // macKey of the source, 0 if empty
	at  atomic.Int64  // when it was last sent (UnixNano)
}

// macKey packs a unicast MAC into a nonzero word.
func macKey(b []byte) uint64 {
	_ = b[5]
	return 1<<63 | uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}

func sentSlot(k uint64) int { return int((k * 0x9e3779b97f4a7c15) >> 54) } // top 10 bits: 1024 slots

// macSet is an immutable set the PMD reads through an atomic pointer.
type macSet struct {
	n    int
	macs [maxFilters][6]byte
}

func (s *macSet) has(b []byte) bool {
	for i := 0; i < s.n; i++ {
		m := &s.macs[i]
		if m[0] == b[0] && m[1] == b[1] && m[2] == b[2] && m[3] == b[3] && m[4] == b[4] && m[5] == b[5] {
			return true
		}
	}
	return false
}

// Port is a VF's netdev as a switch port.
type Port struct {
	datapath.Port // the afxdp or afpacket backend on Netdev
	name          string
	Netdev        string
	PF            string
	VF            int
	PCI           string
	Backend       string

	programmed atomic.Pointer[macSet]
	reflected  atomic.Uint64
	sent       [sentSlots]sentMAC

	mu       sync.Mutex
	closed   bool
	filters  map[[6]byte]bool // programmed on the netdev
	overflow map[[6]byte]bool // refused: the filter table is full
	overN    uint64           // refusals counted (each MAC once per refusal episode)
	status   map[string]string
	onClose  func()
	release  ReleaseFunc
	limit    int // filters the VF driver holds (igbvf: 3)
}

// New wraps inner (opened on netdev) as the switch port name. status is
// shown beside the counters (VF settings, drift); onClose runs once when
// the port closes (releases the VF's claim).
func New(name string, inner datapath.Port, backend, netdev, pf string, vf int, pci string, status map[string]string, onClose func()) *Port {
	p := &Port{Port: inner, name: name, Netdev: netdev, PF: pf, VF: vf, PCI: pci, Backend: backend,
		filters: map[[6]byte]bool{}, overflow: map[[6]byte]bool{}, status: status, onClose: onClose, limit: maxFilters}
	p.programmed.Store(&macSet{})
	return p
}

// EswitchGroup names the NIC switch the VF sits behind (its PF): the
// bridge does not program MACs learned on sibling VFs (see bridge.MACWatcher).
func (p *Port) EswitchGroup() string { return p.PF }

// Name is the port name as configured (not the VF's netdev).
func (p *Port) Name() string { return p.name }

// Rx receives from the backend and drops reflections: frames whose source
// MAC the switch programmed on this VF or recently sent out of it. No
// allocation.
func (p *Port) Rx(q int, b *datapath.Batch, c *datapath.Cache) int {
	start := b.N
	n := p.Port.Rx(q, b, c)
	if n == 0 {
		return n
	}
	set := p.programmed.Load()
	now := time.Now().UnixNano()
	w := start
	for i := start; i < b.N; i++ {
		pk := b.Pkts[i]
		if d := pk.Data(); len(d) >= 12 && (set.has(d[6:12]) || p.sentRecently(d[6:12], now)) {
			c.Put(pk)
			p.reflected.Add(1)
			continue
		}
		b.Pkts[w] = pk
		w++
	}
	dropped := b.N - w
	for i := w; i < b.N; i++ {
		b.Pkts[i] = nil
	}
	b.N = w
	return n - dropped
}

// Tx notes each frame's unicast source MAC as sent out of the VF, then
// hands the batch to the backend.
func (p *Port) Tx(q int, b *datapath.Batch, c *datapath.Cache) {
	if b.N > 0 {
		now := time.Now().UnixNano()
		for _, pk := range b.Packets() {
			d := pk.Data()
			if len(d) < 12 || d[6]&1 != 0 {
				continue
			}
			k := macKey(d[6:12])
			sl := &p.sent[sentSlot(k)]
			if sl.mac.Load() != k {
				sl.mac.Store(k)
			}
			// Refreshed at most once a millisecond: fewer stores to a
			// line other PMDs may read.
			if sl.at.Load() < now-int64(time.Millisecond) {
				sl.at.Store(now)
			}
		}
	}
	p.Port.Tx(q, b, c)
}

// sentRecently reports whether a frame from src left through this VF
// within reflectWindow of now.
func (p *Port) sentRecently(src []byte, now int64) bool {
	if src[0]&1 != 0 {
		return false
	}
	k := macKey(src)
	sl := &p.sent[sentSlot(k)]
	return sl.mac.Load() == k && now-sl.at.Load() < reflectWindow
}

// SlowPoll forwards the backend's answer (AF_PACKET polls by syscall).
func (p *Port) SlowPoll() bool {
	if sp, ok := p.Port.(datapath.SlowPoller); ok {
		return sp.SlowPoll()
	}
	return false
}

// Stats adds the reflections dropped here to the backend's rx drops.
func (p *Port) Stats() datapath.PortStats {
	s := p.Port.Stats()
	s.RxDropped += p.reflected.Load()
	return s
}

// Reflected is how many reflected frames Rx dropped.
func (p *Port) Reflected() uint64 { return p.reflected.Load() }

// Status shows the VF, its filters and the reflection count.
func (p *Port) Status() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for k, v := range p.status {
		out[k] = v
	}
	if sr, ok := p.Port.(datapath.StatusReporter); ok {
		for k, v := range sr.Status() {
			out[k] = v
		}
	}
	out["sriov_backend"] = p.Backend
	out["sriov_netdev"] = p.Netdev
	out["sriov_pf"] = p.PF
	out["sriov_vf"] = strconv.Itoa(p.VF)
	out["sriov_pci"] = p.PCI
	out["sriov_filters"] = strconv.Itoa(len(p.filters))
	out["sriov_filter_list"] = macList(p.filters)
	out["sriov_filter_overflow"] = strconv.FormatUint(p.overN, 10)
	out["sriov_reflected_drops"] = strconv.FormatUint(p.reflected.Load(), 10)
	return out
}

func macList(m map[[6]byte]bool) string {
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, net.HardwareAddr(k[:]).String())
	}
	sort.Strings(s)
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

// SetPeerMACs makes the VF's unicast filters the given MACs (those the
// bridge learned on its other ports). It runs netlink requests, so the
// bridge calls it from its own goroutine, never from a PMD.
//
// The reflection check covers every MAC the switch wants on this VF,
// published before the (slow) netlink requests: the NIC hands back the
// switch's own broadcast from such a MAC at once, and a reflection that
// slipped through would move the MAC onto this port.
func (p *Port) SetPeerMACs(macs [][6]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	want := make(map[[6]byte]bool, len(macs))
	for _, m := range macs {
		if m[0]&1 == 0 {
			want[m] = true
		}
	}
	p.publish(want)
	for m := range p.filters {
		if !want[m] {
			delete(p.filters, m)
			if err := sriov.DelUnicastFilter(p.Netdev, net.HardwareAddr(m[:])); err != nil {
				slog.Warn("sriov-vf: remove unicast filter", "port", p.name, "err", err)
			}
		}
	}
	for m := range p.overflow {
		if !want[m] {
			delete(p.overflow, m)
		}
	}
	keys := make([][6]byte, 0, len(want))
	for m := range want {
		if !p.filters[m] && !p.overflow[m] {
			keys = append(keys, m)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return string(keys[i][:]) < string(keys[j][:]) })
	for _, m := range keys {
		mac := net.HardwareAddr(m[:])
		if len(p.filters) >= p.limit {
			p.refuse(m, "the VF driver's filter table is full")
			continue
		}
		if err := sriov.AddUnicastFilter(p.Netdev, mac); err != nil {
			if errors.Is(err, sriov.ErrFilterFull) {
				p.refuse(m, "the VF's filter table is full")
				continue
			}
			slog.Warn("sriov-vf: add unicast filter", "port", p.name, "mac", mac.String(), "err", err)
			continue
		}
		p.filters[m] = true
		slog.Info("sriov-vf: unicast filter added", "port", p.name, "netdev", p.Netdev, "mac", mac.String())
	}
}

func (p *Port) refuse(m [6]byte, why string) {
	p.overflow[m] = true
	p.overN++
	slog.Warn("sriov-vf: unicast filter overflow: frames to this MAC will not reach the VF",
		"port", p.name, "netdev", p.Netdev, "mac", net.HardwareAddr(m[:]).String(), "why", why, "programmed", len(p.filters))
}

// publish hands the PMD a fresh copy of the MACs whose frames arriving
// here are reflections. Caller holds mu.
func (p *Port) publish(macs map[[6]byte]bool) {
	s := &macSet{}
	for m := range macs {
		if s.n < maxFilters {
			s.macs[s.n] = m
			s.n++
		}
	}
	p.programmed.Store(s)
}

// Close removes the filters this port programmed and closes the backend.
// The VF's settings stay (a restarting switch re-applies them); deleting
// the port resets them through the bridge's release hook.
func (p *Port) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for m := range p.filters {
			_ = sriov.DelUnicastFilter(p.Netdev, net.HardwareAddr(m[:]))
		}
		p.filters = map[[6]byte]bool{}
		p.publish(nil)
	}
	onClose := p.onClose
	p.onClose = nil
	p.mu.Unlock()
	err := p.Port.Close()
	if onClose != nil {
		onClose()
	}
	return err
}

// ReleaseFunc, when set, runs on Release.
type ReleaseFunc func() error

// SetFilterLimit caps the unicast filters programmed (at most maxFilters).
// Some VF drivers accept more addresses than they can filter and drop the
// rest silently: igbvf holds 3 and fails only in its rx-mode callback.
func (p *Port) SetFilterLimit(n int) {
	p.mu.Lock()
	p.limit = min(max(n, 0), maxFilters)
	p.mu.Unlock()
}

// SetRelease sets what Release does (reset the VF's settings).
func (p *Port) SetRelease(f ReleaseFunc) {
	p.mu.Lock()
	p.release = f
	p.mu.Unlock()
}

// Release undoes what the port changed on the VF; the bridge calls it
// when the port is deleted (after Close), not when the switch stops.
func (p *Port) Release() error {
	p.mu.Lock()
	f := p.release
	p.release = nil
	p.mu.Unlock()
	if f == nil {
		return nil
	}
	return f()
}
