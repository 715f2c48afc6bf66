package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestVXLANKernelInterop joins a namespace host on vswitch's br-int to a
// Linux kernel VXLAN device (VNI 100, UDP 4789) in another namespace over
// a veth underlay on br-phy, whose LOCAL port holds the tunnel endpoint
// address, as OVS-DPDK users set it up. Ping and TCP (bytes verified)
// cross the overlay; tcpdump on the remote's underlay sees VXLAN frames.
func TestVXLANKernelInterop(t *testing.T) {
	requireE2E(t, "ping", "tcpdump")
	d := startDaemon(t)
	brPhy := d.AddBridge("bph")
	brInt := d.AddBridge("bin")
	o := subnet() // underlay
	v := subnet() // overlay

	// The remote VTEP: a namespace whose eth0 is the underlay.
	remote := newHost(t, o+".2/24")
	attach(d, brPhy, remote)
	run(t, "ip", "addr", "add", o+".1/24", "dev", brPhy)
	run(t, "ip", "link", "set", brPhy, "up")
	// AF_PACKET cannot carry UDP-tunnel GSO packets (the kernel drops
	// them at the socket), so the VTEP's underlay veth segments them in
	// software, as any kernel VTEP facing a userspace switch must.
	remote.MustExec("ethtool", "-K", "eth0", "tx-udp_tnl-segmentation", "off", "tx-udp_tnl-csum-segmentation", "off")
	remote.MustExec("ip", "link", "add", "vx0", "type", "vxlan", "id", "100", "local", o+".2", "remote", o+".1", "dstport", "4789", "dev", "eth0")
	remote.MustExec("ip", "addr", "add", v+".2/24", "dev", "vx0")
	remote.MustExec("ip", "link", "set", "vx0", "up")
	rv := &Host{t: t, NS: remote.NS, IP: v + ".2"}

	// The local overlay host, MTU lowered for the 50 bytes of VXLAN.
	h1 := newHost(t, v+".1/24")
	h1.MustExec("ip", "link", "set", "eth0", "mtu", "1450")
	attach(d, brInt, h1)
	d.Vsctl("add-port", brInt, "vx100", "--", "set", "Interface", "vx100", "type=vxlan",
		"options:remote_ip="+o+".2", "options:key=100")

	dump := startTcpdump(t, remote, "udp port 4789")
	// A verbose capture of the first frames checks the outer checksums:
	// tcpdump verifies the IPv4 header checksum and any nonzero UDP one.
	verbose := startBG(t, remote, "tcpdump", "-i", "eth0", "-n", "-vv", "-c", "12", "udp", "port", "4789", "and", "src", o+".1")
	pingOK(t, h1, rv.IP)
	for _, size := range []string{"1000", "1422"} { // 1422 + 28 = the overlay MTU
		if out, err := h1.Exec("ping", "-c", "2", "-W", "2", "-M", "do", "-s", size, rv.IP); err != nil {
			t.Fatalf("ping -s %s across the overlay: %v\n%s", size, err, out)
		}
	}
	mbps := transfer(t, h1, rv, 20<<20)
	back := transfer(t, rv, h1, 20<<20)
	t.Logf("overlay TCP 20 MiB each way: %.0f Mbit/s to the kernel VTEP, %.0f Mbit/s back", mbps, back)
	lines := dump.stop()
	var vx, fromUs int
	for _, l := range lines {
		if strings.Contains(l, "VXLAN") && strings.Contains(l, "vni 100") && strings.Contains(l, "flags [I]") {
			vx++
			if strings.Contains(l, o+".1.") && strings.Contains(l, "> "+o+".2.4789") {
				fromUs++
			}
		}
	}
	if vx == 0 || fromUs == 0 {
		t.Fatalf("tcpdump saw %d VXLAN frames (vni 100), %d from vswitch; first lines:\n%s", vx, fromUs, strings.Join(lines[:min(len(lines), 10)], "\n"))
	}
	t.Logf("underlay capture: %d VXLAN frames with VNI 100, %d of them encapsulated by vswitch", vx, fromUs)
	vv, _ := verbose.wait(10 * time.Second)
	if strings.Count(vv, "VXLAN, flags [I] (0x08), vni 100") < 12 || strings.Contains(vv, "bad cksum") || strings.Contains(vv, "bad udp cksum") ||
		strings.Count(vv, "[no cksum]") < 12 || strings.Count(vv, "proto UDP (17)") < 12 {
		t.Fatalf("verbose capture of vswitch's VXLAN frames:\n%s", vv)
	}
	t.Log("12 frames encapsulated by vswitch: IPv4 header checksums verified by tcpdump, UDP checksum 0 (options:csum=false), VNI 100, I flag")

	// Corrupt and truncated VXLAN on the underlay: dropped and counted.
	remote.MustExec(nettoolBin, "udpsend", "-to", o+".1:4789", "-payload", "AAAAAAAAAAAAAAAAAAAAAAAA", "-n", "5")
	remote.MustExec(nettoolBin, "udpsend", "-to", o+".1:4789", "-payload", "A", "-n", "3")
	var stats string
	waitFor(5*time.Second, func() bool {
		stats = d.Vsctl("pmd-stats-show")
		return strings.Contains(stats, "tunnel drops bad_flags: 5") && strings.Contains(stats, "tunnel drops truncated: 3")
	})
	if !strings.Contains(stats, "tunnel drops bad_flags: 5") || !strings.Contains(stats, "tunnel drops truncated: 3") {
		t.Fatalf("corrupt VXLAN not counted:\n%s", stats)
	}
	pingOK(t, h1, rv.IP)
	routes, arp, ports := d.Vsctl("tnl/route/show"), d.Vsctl("tnl/arp/show"), d.Vsctl("tnl/ports/show")
	if !strings.Contains(routes, o+".0/24 dev "+brPhy) || !strings.Contains(arp, o+".2 ") ||
		!strings.Contains(ports, "vxlan_sys_4789 (4789) ref_cnt=1") || !strings.Contains(ports, "remote_ip="+o+".2, key=100") {
		t.Fatalf("tunnel tables:\n%s\n%s\n%s", routes, arp, ports)
	}
	t.Logf("tnl/route/show:\n%s\ntnl/arp/show:\n%s\ntnl/ports/show:\n%s", routes, arp, ports)

	// Bad tunnel options: one-line errors, nothing stored.
	before := stableShow(d.Vsctl("show"))
	for _, opt := range []string{"options:remote_ip=300.1.1.1", "options:key=16777216", "options:dst_port=0", "options:remote_ip=flow-ish", "options:bogus=1"} {
		r := d.VsctlErr("add-port", brInt, "vxbad", "--", "set", "Interface", "vxbad", "type=vxlan", "options:remote_ip=1.2.3.4", opt)
		if r.Code == 0 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Fatalf("add-port with %s: exit %d, stderr %q", opt, r.Code, r.Stderr)
		}
		t.Logf("%s: %s", opt, strings.TrimSpace(r.Stderr))
	}
	if after := stableShow(d.Vsctl("show")); after != before {
		t.Fatalf("bad tunnel ports changed the configuration:\n%s", after)
	}
	t.Logf("pmd-stats-show after 5 corrupt and 3 truncated VXLAN packets:\n%s", stats)
}

// TestVXLANKernelUnderlay is the fallback for hosts where the switch owns
// no underlay port (options:underlay=kernel): encapsulated packets go
// through a kernel UDP socket in batches, to a Linux VXLAN VTEP in a
// namespace reached over the host's own routing.
func TestVXLANKernelUnderlay(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	brInt := d.AddBridge("bik")
	o, v := subnet(), subnet()
	remote := newHost(t, o+".2/24")
	run(t, "ip", "addr", "add", o+".1/24", "dev", remote.Port)
	remote.MustExec("ethtool", "-K", "eth0", "tx-udp_tnl-segmentation", "off", "tx-udp_tnl-csum-segmentation", "off")
	remote.MustExec("ip", "link", "add", "vx0", "type", "vxlan", "id", "100", "local", o+".2", "remote", o+".1", "dstport", "4789", "dev", "eth0")
	remote.MustExec("ip", "addr", "add", v+".2/24", "dev", "vx0")
	remote.MustExec("ip", "link", "set", "vx0", "up")
	// A veth hands the host's UDP socket inner checksums still partial
	// (a NIC would have filled them on the wire): compute them in the
	// remote's stack instead.
	remote.MustExec("ethtool", "-K", "vx0", "tx", "off")
	rv := &Host{t: t, NS: remote.NS, IP: v + ".2"}

	h1 := newHost(t, v+".1/24")
	h1.MustExec("ip", "link", "set", "eth0", "mtu", "1450")
	attach(d, brInt, h1)
	d.Vsctl("add-port", brInt, "vxk", "--", "set", "Interface", "vxk", "type=vxlan",
		"options:remote_ip="+o+".2", "options:key=100", "options:underlay=kernel")
	d.WaitPortUp("vxk")
	pingOK(t, h1, rv.IP)
	mbps := transfer(t, h1, rv, 20<<20)
	back := transfer(t, rv, h1, 20<<20)
	ports := d.Vsctl("tnl/ports/show")
	if !strings.Contains(ports, "vxlan_udp_4789 (4789) ref_cnt=1") {
		t.Fatalf("tnl/ports/show:\n%s", ports)
	}
	t.Logf("underlay=kernel: ping ok, 20 MiB TCP %.0f Mbit/s to the kernel VTEP, %.0f Mbit/s back\n%s", mbps, back, ports)
}
