package e2e

import (
	"fmt"
	"testing"
)

// vtep is one host of the two-host overlay: a vswitchd in its own network
// namespace with an underlay bridge (tunnel endpoint on its LOCAL port)
// and one overlay bridge per VNI, each with a namespace host.
type vtep struct {
	d     *Daemon
	ns    string
	hosts map[int]*Host // by VNI
}

func newVTEP(t *testing.T, ns, underlay, endpoint, remote string, overlay map[int]string) *vtep {
	t.Helper()
	d := newDaemon(t)
	d.NS = ns
	d.Start()
	v := &vtep{d: d, ns: ns, hosts: map[int]*Host{}}
	phy := d.AddBridge("bp")
	run(t, "ip", "-n", ns, "addr", "add", endpoint+"/24", "dev", phy)
	run(t, "ip", "-n", ns, "link", "set", phy, "up")
	d.Vsctl("add-port", phy, underlay)
	d.WaitPortUp(underlay)
	for vni, cidr := range overlay {
		br := d.AddBridge(fmt.Sprintf("bo%d", vni/100))
		h := newHost(t, cidr)
		h.MustExec("ip", "link", "set", "eth0", "mtu", "1450")
		run(t, "ip", "link", "set", h.Port, "netns", ns)
		run(t, "ip", "-n", ns, "link", "set", h.Port, "up")
		d.Vsctl("add-port", br, h.Port)
		d.WaitPortUp(h.Port)
		// VNI 200 carries outer UDP checksums (verified on receipt).
		d.Vsctl("add-port", br, fmt.Sprintf("vx%d", vni), "--", "set", "Interface", fmt.Sprintf("vx%d", vni), "type=vxlan",
			"options:remote_ip="+remote, fmt.Sprintf("options:key=%d", vni), fmt.Sprintf("options:csum=%v", vni == 200))
		v.hosts[vni] = h
	}
	return v
}

// TestVXLANTwoHosts runs two vswitchd instances, each in its own network
// namespace with its own store and socket, joined by a veth underlay.
// Hosts on VNI 100 reach each other, as do hosts on VNI 200; across VNIs
// nothing passes.
func TestVXLANTwoHosts(t *testing.T) {
	requireE2E(t, "ping")
	nsA, nsB := newNS(t), newNS(t)
	ulA, ulB := uniq("ua", 8), uniq("ub", 8)
	run(t, "ip", "link", "add", ulA, "netns", nsA, "type", "veth", "peer", "name", ulB, "netns", nsB)
	run(t, "ip", "-n", nsA, "link", "set", ulA, "up")
	run(t, "ip", "-n", nsB, "link", "set", ulB, "up")
	o, v := subnet(), subnet()
	a := newVTEP(t, nsA, ulA, o+".1", o+".2", map[int]string{100: v + ".11/24", 200: v + ".12/24"})
	b := newVTEP(t, nsB, ulB, o+".2", o+".1", map[int]string{100: v + ".21/24", 200: v + ".22/24"})

	pingOK(t, a.hosts[100], b.hosts[100].IP)
	pingOK(t, b.hosts[200], a.hosts[200].IP)
	mbps := transfer(t, a.hosts[100], b.hosts[100], 8<<20)
	t.Logf("VNI 100 across two vswitchd: ping ok, 8 MiB TCP at %.0f Mbit/s", mbps)
	pingFails(t, a.hosts[100], b.hosts[200].IP)
	pingFails(t, a.hosts[200], b.hosts[100].IP)
	t.Log("VNI 100 and VNI 200 are isolated from each other")

	// Flow-based tunnel on A (remote_ip=flow, key=flow), as a controller
	// sets one up: flows pick the endpoint and VNI 300 per destination.
	bf := a.d.AddBridge("bf")
	hf := newHost(t, v+".13/24")
	hf.MustExec("ip", "link", "set", "eth0", "mtu", "1450")
	run(t, "ip", "link", "set", hf.Port, "netns", nsA)
	run(t, "ip", "-n", nsA, "link", "set", hf.Port, "up")
	a.d.Vsctl("add-port", bf, hf.Port)
	a.d.WaitPortUp(hf.Port)
	a.d.Vsctl("add-port", bf, "vxf", "--", "set", "Interface", "vxf", "type=vxlan", "options:remote_ip=flow", "options:key=flow")
	a.d.Vsctl("del-flows", bf)
	a.d.Vsctl("add-flow", bf, fmt.Sprintf("priority=10,in_port=%s,actions=set_field:%s->tun_dst,set_tunnel:300,output:vxf", hf.Port, o+".2"))
	a.d.Vsctl("add-flow", bf, fmt.Sprintf("priority=10,in_port=vxf,tun_id=300,actions=output:%s", hf.Port))
	h3 := newHost(t, v+".23/24")
	h3.MustExec("ip", "link", "set", "eth0", "mtu", "1450")
	run(t, "ip", "link", "set", h3.Port, "netns", nsB)
	run(t, "ip", "-n", nsB, "link", "set", h3.Port, "up")
	b3 := b.d.AddBridge("bo3")
	b.d.Vsctl("add-port", b3, h3.Port)
	b.d.WaitPortUp(h3.Port)
	b.d.Vsctl("add-port", b3, "vx300", "--", "set", "Interface", "vx300", "type=vxlan", "options:remote_ip="+o+".1", "options:key=300")
	pingOK(t, hf, h3.IP)
	t.Logf("flow-based tunnel: set_field tun_dst + set_tunnel:300 reach B's VNI 300; dump-flows:\n%s", a.d.Vsctl("dump-flows", bf))
	pingFails(t, hf, b.hosts[100].IP)
}
