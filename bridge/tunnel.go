package bridge

// VXLAN tunnel ports, as OVS's userspace datapath does them: output to a
// tunnel port encapsulates in the datapath (a header template built here
// from the kernel's underlay routes and neighbours) and continues in the
// underlay bridge that owns the route's device, as if sent from its LOCAL
// port; a packet that an underlay bridge would hand to its LOCAL port but
// is addressed to a local tunnel endpoint is decapsulated instead and
// recirculated from the tunnel's datapath port with its tunnel metadata.

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"vswitch/datapath"
	"vswitch/datapath/netdev/udptunnel"
	"vswitch/flowtable"
	"vswitch/openflow"
	"vswitch/vxlan"
)

// tunnels is the switch's tunnel state, made with the first tunnel port.
type tunnels struct {
	table    *vxlan.Table
	resolver *vxlan.Resolver
	vports   map[uint16]*vport // by UDP destination port
	kports   map[uint16]*kport // underlay=kernel sockets, by UDP port
	probes   chan probe
	done     chan struct{}
	wg       sync.WaitGroup
}

// vport is the datapath port decapsulated packets of one UDP port
// recirculate from (OVS's vxlan_sys_4789); every tunnel port using that
// UDP port shares it.
type vport struct {
	dstPort uint16
	dpNo    uint32
	dev     *tunnelDev
	users   int
}

// kport is an underlay=kernel tunnel socket: the datapath port its
// tunnel ports' packets leave by and arrive on.
type kport struct {
	dpNo  uint32
	dev   *udptunnel.Port
	users int
}

// probe asks for an ARP request for an unresolved next hop.
type probe struct {
	bridge      string
	srcMAC      [6]byte
	src, target netip.Addr
}

// tunnelDev is a vport's datapath port: nothing to poll, nothing to send.
type tunnelDev struct{ name string }

func (d *tunnelDev) Name() string                                   { return d.name }
func (d *tunnelDev) RxQueues() int                                  { return 0 }
func (d *tunnelDev) Rx(int, *datapath.Batch, *datapath.Cache) int   { return 0 }
func (d *tunnelDev) Tx(_ int, b *datapath.Batch, c *datapath.Cache) { c.PutBatch(b) }
func (d *tunnelDev) PollFD(int) int                                 { return -1 }
func (d *tunnelDev) Stats() datapath.PortStats                      { return datapath.PortStats{} }
func (d *tunnelDev) Close() error                                   { return nil }

// ensureTunnels starts following the kernel's routes and neighbours.
// Caller holds s.mu.
func (s *Switch) ensureTunnels() error {
	if s.tnl != nil {
		return nil
	}
	table, err := vxlan.NewTable(vxlan.TableOptions{Notify: s.dp.Invalidate, Logger: slog.Default()})
	if err != nil {
		return fmt.Errorf("tunnels: read underlay routes: %w", err)
	}
	t := &tunnels{table: table, resolver: vxlan.NewResolver(table, 5*time.Minute),
		vports: map[uint16]*vport{}, kports: map[uint16]*kport{}, probes: make(chan probe, 64), done: make(chan struct{})}
	t.wg.Add(1)
	go s.prober(t)
	s.tnl = t
	return nil
}

// closeTunnels stops the route follower and the prober.
func (s *Switch) closeTunnels() {
	if s.tnl == nil {
		return
	}
	close(s.tnl.done)
	s.tnl.wg.Wait()
	s.tnl.table.Close()
}

// openTunnel attaches a vxlan port to its vport. Caller holds s.mu.
func (s *Switch) openTunnel(p *port) {
	o, err := vxlan.ParseOptions(p.cfg.Interface.Options)
	if err == nil {
		err = s.ensureTunnels()
	}
	if err != nil {
		p.err = err.Error()
		return
	}
	if o.KernelUnderlay {
		kp := s.tnl.kports[o.DstPort]
		if kp == nil {
			dev, err := udptunnel.Open(fmt.Sprintf("vxlan_udp_%d", o.DstPort), o.DstPort)
			if err != nil {
				p.err = err.Error()
				return
			}
			no, err := s.dp.AddPort(dev)
			if err != nil {
				dev.Close()
				p.err = err.Error()
				return
			}
			kp = &kport{dpNo: no, dev: dev}
			s.tnl.kports[o.DstPort] = kp
		}
		kp.users++
		p.dev, p.err = kp.dev, ""
		return
	}
	vp := s.tnl.vports[o.DstPort]
	if vp == nil {
		dev := &tunnelDev{name: fmt.Sprintf("vxlan_sys_%d", o.DstPort)}
		no, err := s.dp.AddPort(dev)
		if err != nil {
			p.err = err.Error()
			return
		}
		vp = &vport{dstPort: o.DstPort, dpNo: no, dev: dev}
		s.tnl.vports[o.DstPort] = vp
	}
	vp.users++
	p.dev, p.err = vp.dev, ""
}

// closeTunnel detaches a vxlan port, removing its vport with its last user.
func (s *Switch) closeTunnel(p *port) {
	if p.dev == nil || s.tnl == nil {
		return
	}
	for dst, kp := range s.tnl.kports {
		if datapath.Port(kp.dev) != p.dev {
			continue
		}
		if kp.users--; kp.users == 0 {
			if err := s.dp.RemovePort(kp.dpNo); err != nil {
				slog.Warn("remove tunnel socket port", "port", kp.dev.Name(), "err", err)
			}
			delete(s.tnl.kports, dst)
		}
	}
	for dst, vp := range s.tnl.vports {
		if vp.dev != p.dev {
			continue
		}
		if vp.users--; vp.users == 0 {
			if err := s.dp.RemovePort(vp.dpNo); err != nil {
				slog.Warn("remove tunnel port", "port", vp.dev.name, "err", err)
			}
			delete(s.tnl.vports, dst)
		}
	}
	p.dev = nil
}

// xtunnels is a snapshot's tunnel view.
type xtunnels struct {
	t      *tunnels
	dp     *datapath.Datapath
	ports  []*xport          // every vxlan port
	vports map[uint32]uint16 // vport datapath number -> UDP port
	byUDP  map[uint16]uint32 // UDP port -> vport datapath number
	kernel map[uint16]uint32 // UDP port -> underlay=kernel socket port
}

// buildTunnels fills the tunnel view of a snapshot. Caller holds s.mu.
func (s *Switch) buildTunnels(xs *xsnap, xports map[string]*xport) {
	if s.tnl == nil {
		return
	}
	xt := &xtunnels{t: s.tnl, dp: s.dp, vports: map[uint32]uint16{}, byUDP: map[uint16]uint32{}, kernel: map[uint16]uint32{}}
	for dst, vp := range s.tnl.vports {
		xt.vports[vp.dpNo], xt.byUDP[dst] = dst, vp.dpNo
	}
	for dst, kp := range s.tnl.kports {
		xt.vports[kp.dpNo], xt.kernel[dst] = dst, kp.dpNo
	}
	for name, xp := range xports {
		p := s.ports[name]
		if p.cfg.Interface.Type != "vxlan" {
			continue
		}
		if o, err := vxlan.ParseOptions(p.cfg.Interface.Options); err == nil {
			xp.tun = &o
			xt.ports = append(xt.ports, xp)
		}
	}
	// Underlay bridges: their LOCAL port is the kernel device routes name.
	for _, xb := range xs.bridges {
		if ifi, err := net.InterfaceByName(xb.name); err == nil {
			copy(xb.mac[:], ifi.HardwareAddr)
			xb.mtu, xb.ifindex = ifi.MTU, ifi.Index
		}
	}
	xs.tnl = xt
}

// tunnelPort finds the vxlan port a decapsulated packet belongs to:
// exact remote and key first, then flow-based ones.
func (xt *xtunnels) tunnelPort(dstPort uint16, k *flowtable.Key) *xport {
	var best *xport
	bestScore := -1
	src := netip.AddrFrom4(k.TunSrc)
	dst := netip.AddrFrom4(k.TunDst)
	for _, xp := range xt.ports {
		o := xp.tun
		// A kernel socket does not say which local address it was sent to.
		localOK := !o.LocalIP.IsValid() || o.LocalIP == dst || k.TunDst == [4]byte{}
		if o.DstPort != dstPort || (!o.RemoteFlow && o.RemoteIP != src) || !localOK || (!o.KeyFlow && uint64(o.Key) != k.TunID) {
			continue
		}
		score := 0
		if !o.RemoteFlow {
			score += 2
		}
		if !o.KeyFlow {
			score++
		}
		if score > bestScore {
			best, bestScore = xp, score
		}
	}
	return best
}

// vportOf reports whether datapath port no is a vport, and its UDP port.
func (xt *xtunnels) vportOf(no uint32) (uint16, bool) {
	if xt == nil {
		return 0, false
	}
	dst, ok := xt.vports[no]
	return dst, ok
}

// tunnelIngress resolves a packet recirculated from a vport to its tunnel
// port; the megaflow matches the tunnel metadata exactly.
func (snap *xsnap) tunnelIngress(k, wc *flowtable.Key) (*xport, bool) {
	if snap.tnl == nil {
		return nil, false
	}
	dst, ok := snap.tnl.vports[k.InPort]
	if !ok {
		return nil, false
	}
	wc.TunID = ^uint64(0)
	wc.TunSrc = [4]byte{0xff, 0xff, 0xff, 0xff}
	wc.TunDst = [4]byte{0xff, 0xff, 0xff, 0xff}
	return snap.tnl.tunnelPort(dst, k), true
}

// tunnelPop decides whether a packet bound for an underlay bridge's LOCAL
// port is tunnel traffic for this host, and if so decapsulates it.
func (x *xlate) tunnelPop() bool {
	xt := x.snap.tnl
	if xt == nil || len(xt.byUDP) == 0 {
		return false
	}
	k := &x.key
	x.wc.DlType = 0xffff
	if k.DlType != flowtable.EthTypeIPv4 {
		return false
	}
	x.wc.NwProto = 0xff
	if k.NwProto != 17 {
		return false
	}
	x.wc.TpDst = 0xffff
	vp, ok := xt.byUDP[k.TpDst]
	if !ok {
		return false
	}
	for i := 0; i < 4; i++ {
		x.wc.NwDst[i] = 0xff
	}
	if _, local := xt.t.table.IsLocal(netip.AddrFrom4([4]byte(k.NwDst[:4]))); !local {
		return false
	}
	x.acts = append(x.acts, datapath.TunnelPop(vp, k.TpDst, 0))
	x.note("tunnel: decapsulate (UDP port %d) and recirculate", k.TpDst)
	return true
}

// encap sends the packet through vxlan port p: find the route to the
// remote endpoint, its next hop's MAC and the underlay bridge, then
// translate the encapsulated packet in that bridge from its LOCAL port.
func (x *xlate) encap(p *xport) {
	xt := x.snap.tnl
	if xt == nil {
		return
	}
	o := p.tun
	remote := o.RemoteIP
	if o.RemoteFlow {
		x.wc.TunDst = [4]byte{0xff, 0xff, 0xff, 0xff}
		remote = netip.AddrFrom4(x.key.TunDst)
	}
	vni := o.Key
	if o.KeyFlow {
		x.wc.TunID = ^uint64(0)
		vni = uint32(x.key.TunID)
	}
	if !remote.Is4() || remote.IsUnspecified() {
		x.note("tunnel %s: no IPv4 remote endpoint", p.name)
		return
	}
	if o.KernelUnderlay {
		kp, ok := xt.kernel[o.DstPort]
		if !ok {
			return
		}
		x.commitVLAN()
		x.commitFields()
		r4 := remote.As4()
		x.acts = append(x.acts, datapath.Action{Kind: datapath.ActSetTunnel, Arg: uint64(vni),
			Arg2: uint64(r4[0])<<24 | uint64(r4[1])<<16 | uint64(r4[2])<<8 | uint64(r4[3])}, datapath.Output(kp))
		x.note("tunnel %s: to %s (VNI %d) through the kernel's UDP socket", p.name, remote, vni)
		return
	}
	rt, ok := xt.t.table.Lookup(remote)
	if !ok {
		x.note("tunnel %s: no route to %s", p.name, remote)
		return
	}
	under := x.snap.bridges[rt.OutDev]
	if under == nil || under.ports[ofportLocal] == nil {
		x.note("tunnel %s: route to %s leaves by %s, which is not a bridge of this switch", p.name, remote, rt.OutDev)
		return
	}
	src := rt.Src
	if o.LocalIP.IsValid() {
		src = o.LocalIP
	}
	mac, ok := xt.t.resolver.Resolve(rt.Ifindex, rt.NextHop)
	if !ok {
		if xt.t.resolver.ShouldProbe(rt.Ifindex, rt.NextHop) {
			select {
			case xt.t.probes <- probe{bridge: under.name, srcMAC: under.mac, src: src, target: rt.NextHop}:
			default:
			}
		}
		x.note("tunnel %s: next hop %s not resolved yet: dropped, ARP sent", p.name, rt.NextHop)
		return
	}
	cfg := o.TemplateConfig(remote, src, vni)
	cfg.SrcMAC, cfg.DstMAC = under.mac, mac
	tmpl, err := vxlan.BuildTemplate(cfg)
	if err != nil {
		x.note("tunnel %s: %v", p.name, err)
		return
	}
	mtu := under.mtu
	if mtu == 0 {
		mtu = 1500
	}
	x.commitVLAN()
	x.commitFields()
	id := xt.dp.TunnelHeaderID(datapath.TunnelHeader{Tmpl: tmpl, MTU: mtu})

	// The outer packet's path through the underlay bridge: its outputs
	// become encapsulated copies; what it consults is constant per
	// header, so it stays out of the megaflow's mask.
	saved, savedWC, savedActs, savedEmit, savedDirty, savedMod := x.key, x.wc, x.acts, x.emit, x.dirty, x.vlanMod
	var outer, scratch flowtable.Key
	outer.InPort = uint32(ofportLocal)
	outer.DlSrc, outer.DlDst, outer.DlType = cfg.SrcMAC, cfg.DstMAC, flowtable.EthTypeIPv4
	outer.NwProto, outer.NwTTL = 17, cfg.TTL
	copy(outer.NwSrc[:4], src.AsSlice())
	copy(outer.NwDst[:4], remote.AsSlice())
	outer.TpSrc, outer.TpDst = vxlan.SourcePort(0), o.DstPort
	x.key, x.wc, x.acts, x.emit, x.dirty, x.vlanMod = outer, &scratch, nil, 0, 0, false
	x.note("tunnel %s: encapsulate to %s (VNI %d) via %s, next hop %s", p.name, remote, vni, under.name, rt.NextHop)
	x.depth++
	x.table(under, 0)
	x.depth--
	underActs := x.acts
	x.key, x.wc, x.acts, x.emit, x.dirty, x.vlanMod = saved, savedWC, savedActs, savedEmit, savedDirty, savedMod
	for _, a := range underActs {
		if a.Kind != datapath.ActOutput {
			x.note("tunnel %s: the underlay bridge rewrites the outer header; not supported, dropped", p.name)
			return
		}
	}
	for _, a := range underActs {
		x.acts = append(x.acts, datapath.TunnelPush(id, a.Port))
	}
}

// snoopARP learns tunnel next hops from ARP packets crossing an underlay
// bridge; every sender is looked at (the megaflow matches ARP senders).
func (x *xlate) snoopARP(br *xbridge) {
	xt := x.snap.tnl
	if xt == nil || br.ifindex == 0 {
		return
	}
	k := &x.key
	x.wc.DlType = 0xffff
	if k.DlType != flowtable.EthTypeARP {
		return
	}
	x.wc.NwProto = 0xff
	for i := 0; i < 4; i++ {
		x.wc.NwSrc[i] = 0xff
	}
	for i := 0; i < 4; i++ {
		x.wc.NwDst[i] = 0xff
	}
	x.wc.ArpSha = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	spa := netip.AddrFrom4([4]byte(k.NwSrc[:4]))
	// Only ARP addressed to one of this host's addresses: the overlay's
	// own ARP crossing other bridges is none of the tunnels' business.
	if _, local := xt.t.table.IsLocal(netip.AddrFrom4([4]byte(k.NwDst[:4]))); !local {
		return
	}
	if (k.NwProto == 1 || k.NwProto == 2) && spa.IsValid() && !spa.IsUnspecified() && x.trace == nil {
		if xt.t.resolver.Learn(spa, k.ArpSha, br.ifindex) {
			xt.dp.Invalidate() // megaflows waiting for this neighbour
		}
	}
}

// prober sends the ARP requests encap asked for, from the underlay
// bridge's LOCAL port (flooded there by NORMAL).
func (s *Switch) prober(t *tunnels) {
	defer t.wg.Done()
	buf := make([]byte, 64)
	for {
		select {
		case <-t.done:
			return
		case pr := <-t.probes:
			n, err := vxlan.ARPRequest(buf, pr.srcMAC, pr.src, pr.target)
			if err == nil {
				err = s.packetOut(pr.bridge, int(openflow.PortLocal), "", buf[:n], "NORMAL")
			}
			if err != nil {
				slog.Warn("tunnel: ARP request", "bridge", pr.bridge, "target", pr.target, "err", err)
			} else {
				slog.Debug("tunnel: ARP request sent", "bridge", pr.bridge, "target", pr.target)
			}
		}
	}
}

// TunnelPortView is one vxlan port as tnl/ports/show lists it.
type TunnelPortView struct {
	Bridge, Port, RemoteIP, LocalIP, Key, VPort string
	DstPort                                     uint16
}

// TunnelShow returns the underlay routes, neighbours and tunnel ports.
func (s *Switch) TunnelShow() ([]vxlan.Route, []vxlan.Neigh, []TunnelPortView) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tnl == nil {
		return nil, nil, nil
	}
	var ports []TunnelPortView
	for _, p := range s.sortedPorts() {
		if p.cfg.Interface.Type != "vxlan" {
			continue
		}
		o, err := vxlan.ParseOptions(p.cfg.Interface.Options)
		if err != nil {
			continue
		}
		v := TunnelPortView{Bridge: p.br.name, Port: p.cfg.Name, RemoteIP: "flow", Key: "flow", DstPort: o.DstPort}
		if !o.RemoteFlow {
			v.RemoteIP = o.RemoteIP.String()
		}
		if o.LocalIP.IsValid() {
			v.LocalIP = o.LocalIP.String()
		}
		if !o.KeyFlow {
			v.Key = fmt.Sprint(o.Key)
		}
		if vp := s.tnl.vports[o.DstPort]; vp != nil && !o.KernelUnderlay {
			v.VPort = vp.dev.name
		}
		if kp := s.tnl.kports[o.DstPort]; kp != nil && o.KernelUnderlay {
			v.VPort = kp.dev.Name()
		}
		ports = append(ports, v)
	}
	return s.tnl.table.Routes(), s.tnl.resolver.Neighbours(), ports
}
