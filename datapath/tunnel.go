package datapath

import (
	"sync"
	"sync/atomic"

	"vswitch/vxlan"
)

// Tunnels: encapsulation pushes a header the slow path prepared into the
// packet's headroom; decapsulation strips it and recirculates the inner
// frame from the tunnel's datapath port with the outer addresses as
// tunnel metadata, so the inner frame is classified (and cached) like any
// other packet.

// TunnelMeta is what a decapsulated packet carries from its outer header.
type TunnelMeta struct {
	Valid    bool
	ID       uint64 // VNI
	Src, Dst [4]byte
}

// TunnelHeader is an encapsulation: the outer header template and the
// underlay MTU the encapsulated packet must fit.
type TunnelHeader struct {
	Tmpl vxlan.Template
	MTU  int
}

// maxRecirc bounds decapsulations per packet (a tunnel in a tunnel in ...).
const maxRecirc = 4

type tunnelTable struct {
	mu   sync.Mutex
	idx  map[TunnelHeader]uint64
	list atomic.Pointer[[]TunnelHeader]
}

// TunnelHeaderID interns h and returns the Arg of an ActTunnelPush that
// pushes it. Headers are few (one per remote endpoint and next hop).
func (d *Datapath) TunnelHeaderID(h TunnelHeader) uint64 {
	t := &d.tunnels
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idx == nil {
		t.idx = map[TunnelHeader]uint64{}
	}
	if id, ok := t.idx[h]; ok {
		return id
	}
	var old []TunnelHeader
	if l := t.list.Load(); l != nil {
		old = *l
	}
	id := uint64(len(old))
	next := append(old[:len(old):len(old)], h)
	t.list.Store(&next)
	t.idx[h] = id
	return id
}

func (d *Datapath) tunnelHeader(id uint64) *TunnelHeader {
	l := d.tunnels.list.Load()
	if l == nil || id >= uint64(len(*l)) {
		return nil
	}
	return &(*l)[id]
}

// TunnelPop returns the action decapsulating VXLAN to UDP port dstPort and
// recirculating from datapath port vport.
func TunnelPop(vport uint32, dstPort uint16, flags vxlan.DecapFlags) Action {
	return Action{Kind: ActTunnelPop, Port: vport, Arg: uint64(dstPort) | uint64(flags)<<16}
}

// TunnelPush returns the action sending a copy encapsulated with header id
// out of datapath port out.
func TunnelPush(id uint64, out uint32) Action { return Action{Kind: ActTunnelPush, Arg: id, Port: out} }

// encap pushes header h onto pkt. It reports false (the caller drops) when
// the result would not fit the underlay MTU or the buffer.
func encap(h *TunnelHeader, pkt *Packet, hash uint32, ipid uint16) bool {
	return h != nil && h.Tmpl.Fits(pkt.Len(), h.MTU) && push(h, pkt, hash, ipid)
}

// push writes h's outer header in front of pkt (the MTU already checked).
func push(h *TunnelHeader, pkt *Packet, hash uint32, ipid uint16) bool {
	var m vxlan.Meta
	m.Hash, m.IPID = hash, ipid
	m.TOS, m.TTL = innerTOSTTL(pkt.Data())
	if _, err := pkt.Push(h.Tmpl.Len()); err != nil {
		return false
	}
	return vxlan.Encap(pkt.Data(), &h.Tmpl, m) == nil
}

// innerTOSTTL reads an untagged inner IPv4/IPv6 packet's TOS and TTL, which
// the outer header may inherit; zero otherwise.
func innerTOSTTL(d []byte) (tos, ttl uint8) {
	if len(d) < 14+20 {
		return 0, 0
	}
	switch uint16(d[12])<<8 | uint16(d[13]) {
	case 0x0800:
		return d[15], d[22]
	case 0x86dd:
		if len(d) >= 14+40 {
			return d[14]<<4 | d[15]>>4, d[21]
		}
	}
	return 0, 0
}

// tunnelPush runs an ActTunnelPush on a PMD: pkt (the caller's copy, or
// the packet itself for a last action) is encapsulated and queued, or
// dropped and counted.
func (p *pmd) tunnelPush(a *Action, pkt *Packet) {
	p.ipid++
	h := p.dp.tunnelHeader(a.Arg)
	if h != nil && !h.Tmpl.Fits(pkt.Len(), h.MTU) {
		p.local.TunnelMTUDrops++
		p.fragNeeded(h, pkt)
		p.cache.Put(pkt)
		return
	}
	if h == nil || !push(h, pkt, pkt.hash, p.ipid) {
		p.local.TunnelMTUDrops++
		p.cache.Put(pkt)
		return
	}
	p.local.TunnelPushes++
	p.queue(a.Port, pkt)
}

// fragNeeded answers an IPv4 packet with DF set that is too big for its
// tunnel with an ICMP "fragmentation needed" from the tunnel endpoint's
// address, out of the port it came in on, at most 100 a second per PMD.
func (p *pmd) fragNeeded(h *TunnelHeader, pkt *Packet) {
	if !p.icmpInit {
		p.icmpLimit, p.icmpInit = vxlan.NewLimiter(100, 20), true
	}
	if h.Tmpl.IPv6() || !p.icmpLimit.Allow(p.now) {
		return
	}
	out := p.cache.Get()
	if out == nil {
		return
	}
	n, err := vxlan.FragNeeded(out.Frame()[Headroom:], pkt.Data(), h.Tmpl.InnerMTU(h.MTU), h.Tmpl.SrcIP(), 64)
	if err != nil {
		p.cache.Put(out)
		return
	}
	out.SetData(Headroom, n)
	p.local.TunnelFragNeeded++
	p.queue(pkt.InPort, out)
}

// tunnelPop runs an ActTunnelPop: the packet is decapsulated into the
// recirculation batch, or dropped and counted by reason. It always
// consumes pkt.
func (p *pmd) tunnelPop(a *Action, pkt *Packet) {
	info, why := vxlan.Decap(pkt.Data(), uint16(a.Arg), vxlan.DecapFlags(a.Arg>>16))
	if why != vxlan.DropNone || info.IPv6 || p.recircDepth >= maxRecirc || p.recirc.Full() {
		if why == vxlan.DropNone {
			why = vxlan.NumDropReasons // not ours to carry on: counted apart
		}
		p.local.TunnelDrops[min(why, vxlan.NumDropReasons)]++
		p.cache.Put(pkt)
		return
	}
	if pkt.Pull(info.InnerOff) != nil || pkt.SetLen(info.InnerLen) != nil {
		p.local.TunnelDrops[vxlan.DropTruncated]++
		p.cache.Put(pkt)
		return
	}
	pkt.Tun = TunnelMeta{Valid: true, ID: uint64(info.VNI)}
	copy(pkt.Tun.Src[:], info.Src[:4])
	copy(pkt.Tun.Dst[:], info.Dst[:4])
	pkt.InPort = a.Port
	p.local.TunnelPops++
	p.recirc.Add(pkt)
}

// recirculate classifies the decapsulated packets of the batch just run,
// one in_port at a time (the classifier is per in_port).
func (p *pmd) recirculate() {
	p.recircDepth++
	defer func() { p.recircDepth-- }()
	for p.recirc.N > 0 {
		in := p.recirc.Pkts[0].InPort
		var rest Batch
		p.rx.N = 0
		for _, pkt := range p.recirc.Packets() {
			if pkt.InPort == in {
				p.rx.Add(pkt)
			} else {
				rest.Add(pkt)
			}
		}
		p.recirc = rest
		var port *dpPort
		if int(in) < len(p.snap.ports) {
			port = p.snap.ports[in]
		}
		if port == nil {
			for _, pkt := range p.rx.Packets() {
				p.cache.Put(pkt)
			}
			p.local.TxDropped += uint64(p.rx.N)
			p.rx.Clear()
			continue
		}
		p.process(port)
	}
}
