package vxlan

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// rawSocket is an AF_PACKET socket bound to one device of a namespace.
type rawSocket struct {
	fd      int
	ifindex int
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openRaw opens an AF_PACKET socket on dev inside namespace ns: the socket
// stays in the namespace it was created in.
func openRaw(t *testing.T, ns netns.NsHandle, dev string) *rawSocket {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	link, err := netlink.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatal(err)
	}
	s := &rawSocket{fd: fd, ifindex: link.Attrs().Index}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: s.ifindex}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *rawSocket) send(t *testing.T, frame []byte) {
	t.Helper()
	if err := unix.Sendto(s.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: s.ifindex}); err != nil {
		t.Fatal(err)
	}
}

// recvUntil reads incoming frames until match accepts one (true) or the
// timeout passes (false).
func (s *rawSocket) recvUntil(timeout time.Duration, match func([]byte) bool) bool {
	buf := make([]byte, 9000)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n, from, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			continue // receive timeout: poll again until the deadline
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if match(buf[:n]) {
			return true
		}
	}
	return false
}

// icmpEcho builds an inner Ethernet/IPv4/ICMP echo request.
func icmpEcho(srcMAC, dstMAC [6]byte, src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	f := make([]byte, EthLen+IPv4Len+8+len(payload))
	copy(f[0:6], dstMAC[:])
	copy(f[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv4)
	ip := f[EthLen:]
	ip[0], ip[8], ip[9] = 0x45, 64, 1
	binary.BigEndian.PutUint16(ip[2:], uint16(IPv4Len+8+len(payload)))
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], rfc1071(ip[:IPv4Len]))
	icmp := ip[IPv4Len:]
	icmp[0] = 8
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	copy(icmp[8:], payload)
	binary.BigEndian.PutUint16(icmp[2:], rfc1071(icmp))
	return f
}

func linkMAC(t *testing.T, ns netns.NsHandle, dev string) [6]byte {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	return [6]byte(l.Attrs().HardwareAddr)
}

// TestKernelInterop proves byte-level interoperability with Linux's own
// VXLAN: frames built by Encap go into a namespace whose kernel vxlan
// devices (VNI 100 over IPv4, VNI 200 over IPv6) decapsulate them and
// answer an inner ping; the answers, captured on the underlay veth, pass
// Decap. Next hops are resolved with our ARP request and neighbour
// solicitation, parsed from the kernel's replies with ParseNeighbour.
func TestKernelInterop(t *testing.T) {
	requireRoot(t)
	nsA, hA := newNetns(t) // us: a raw socket on ua, no addresses
	nsB, hB := newNetns(t) // the kernel VTEP
	ipA := func(args ...string) { sh(t, append([]string{"ip", "-n", nsA}, args...)...) }
	ipB := func(args ...string) { sh(t, append([]string{"ip", "-n", nsB}, args...)...) }
	ipA("link", "add", "ua", "type", "veth", "peer", "name", "ub", "netns", nsB)
	sh(t, "ip", "netns", "exec", nsA, "sysctl", "-qw", "net.ipv6.conf.ua.disable_ipv6=1")
	ipA("link", "set", "ua", "up")
	ipB("addr", "add", "172.31.0.2/24", "dev", "ub")
	ipB("-6", "addr", "add", "fd31::2/64", "dev", "ub", "nodad")
	// Without tx checksum offload the kernel completes the outer UDP
	// checksum itself, so what we capture is what a wire would carry.
	sh(t, "ip", "netns", "exec", nsB, "ethtool", "-K", "ub", "tx", "off")
	ipB("link", "set", "ub", "up")
	for _, vx := range []struct{ name, vni, local, remote, mac, addr, peer string }{
		{"vx4", "100", "172.31.0.2", "172.31.0.1", "02:00:00:00:01:04", "10.200.0.2/24", "10.200.0.1"},
		{"vx6", "200", "fd31::2", "fd31::1", "02:00:00:00:01:06", "10.201.0.2/24", "10.201.0.1"},
	} {
		ipB("link", "add", vx.name, "type", "vxlan", "id", vx.vni, "dstport", "4789",
			"local", vx.local, "remote", vx.remote, "dev", "ub")
		// No IPv6 on the overlay devices: their DAD and router
		// solicitations would only add noise to the capture.
		sh(t, "ip", "netns", "exec", nsB, "sysctl", "-qw", "net.ipv6.conf."+vx.name+".disable_ipv6=1")
		ipB("link", "set", vx.name, "address", vx.mac, "up")
		ipB("addr", "add", vx.addr, "dev", vx.name)
		ipB("neigh", "add", vx.peer, "lladdr", "0a:00:00:00:00:01", "dev", vx.name)
	}
	t.Logf("kernel VTEP: %s", strings.TrimSpace(sh(t, "ip", "-n", nsB, "-d", "-br", "link", "show", "vx4")))

	sock := openRaw(t, hA, "ua")
	ourMAC := linkMAC(t, hA, "ua")
	ubMAC := linkMAC(t, hB, "ub")
	innerMAC := [6]byte{0x0a, 0, 0, 0, 0, 1}

	for _, tc := range []struct {
		name       string
		local, vtp netip.Addr
		vni        uint32
		vxMAC      [6]byte
		src, dst   netip.Addr
		csum       bool
	}{
		{"ipv4-csum", netip.MustParseAddr("172.31.0.1"), netip.MustParseAddr("172.31.0.2"), 100,
			[6]byte{2, 0, 0, 0, 1, 4}, netip.MustParseAddr("10.200.0.1"), netip.MustParseAddr("10.200.0.2"), true},
		{"ipv4-nocsum", netip.MustParseAddr("172.31.0.1"), netip.MustParseAddr("172.31.0.2"), 100,
			[6]byte{2, 0, 0, 0, 1, 4}, netip.MustParseAddr("10.200.0.1"), netip.MustParseAddr("10.200.0.2"), false},
		{"ipv6", netip.MustParseAddr("fd31::1"), netip.MustParseAddr("fd31::2"), 200,
			[6]byte{2, 0, 0, 0, 1, 6}, netip.MustParseAddr("10.201.0.1"), netip.MustParseAddr("10.201.0.2"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Resolve the kernel VTEP's MAC the way the switch will.
			req := make([]byte, 128)
			var n int
			var err error
			if tc.vtp.Is4() {
				n, err = ARPRequest(req, ourMAC, tc.local, tc.vtp)
			} else {
				n, err = NeighborSolicitation(req, ourMAC, tc.local, tc.vtp)
			}
			if err != nil {
				t.Fatal(err)
			}
			var vtepMAC [6]byte
			for try := 0; vtepMAC == ([6]byte{}); try++ {
				if try == 3 {
					t.Fatal("kernel never answered our ARP/NS")
				}
				sock.send(t, req[:n])
				sock.recvUntil(time.Second, func(f []byte) bool {
					ip, mac, ok := ParseNeighbour(f)
					if ok && ip == tc.vtp {
						vtepMAC = mac
					}
					return ok && ip == tc.vtp
				})
			}
			if vtepMAC != ubMAC {
				t.Fatalf("resolved %s to %x, the device has %x", tc.vtp, vtepMAC, ubMAC)
			}

			tmpl, err := BuildTemplate(TemplateConfig{SrcMAC: ourMAC, DstMAC: vtepMAC, SrcIP: tc.local, DstIP: tc.vtp,
				DF: true, VNI: tc.vni, Csum: tc.csum})
			if err != nil {
				t.Fatal(err)
			}
			payload := bytes.Repeat([]byte("vxlan-interop!"), 8)
			for seq := uint16(1); seq <= 3; seq++ {
				inner := icmpEcho(innerMAC, tc.vxMAC, tc.src, tc.dst, 0x4242, seq, payload)
				buf := make([]byte, 256+len(inner))
				copy(buf[256:], inner)
				frame := buf[256-tmpl.Len():]
				if err := Encap(frame, &tmpl, Meta{Hash: uint32(seq) * 977, TTL: 64}); err != nil {
					t.Fatal(err)
				}
				sock.send(t, frame)
				got := sock.recvUntil(3*time.Second, func(f []byte) bool {
					info, r := Decap(f, DefaultPort, 0)
					if r != DropNone {
						return false
					}
					if info.VNI != tc.vni || info.DstAddr() != tc.local || info.SrcAddr() != tc.vtp || !info.Csum {
						t.Errorf("reply outer: vni %d %s -> %s csum %v", info.VNI, info.SrcAddr(), info.DstAddr(), info.Csum)
					}
					in := f[info.InnerOff : info.InnerOff+info.InnerLen]
					ip := in[EthLen:]
					if !bytes.Equal(in[0:6], innerMAC[:]) || binary.BigEndian.Uint16(in[12:]) != etherTypeIPv4 ||
						ip[9] != 1 || rfc1071(ip[:IPv4Len]) != 0 {
						return false
					}
					icmp := ip[IPv4Len:binary.BigEndian.Uint16(ip[2:])]
					ok := icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == 0x4242 &&
						binary.BigEndian.Uint16(icmp[6:]) == seq && bytes.Equal(icmp[8:], payload) && rfc1071(icmp) == 0
					if ok && seq == 1 {
						t.Logf("reply: %s:%d -> %s:%d vni %d ttl %d, inner %s -> %s",
							info.SrcAddr(), info.SrcPort, info.DstAddr(), DefaultPort, info.VNI, info.TTL,
							net.IP(ip[12:16]), net.IP(ip[16:20]))
					}
					return ok
				})
				if !got {
					t.Fatalf("seq %d: no encapsulated echo reply within 3s", seq)
				}
			}
			if !tc.csum {
				return
			}
			// Negative control: the kernel verifies our UDP checksum, so a
			// corrupted one is counted as an error and gets no answer.
			before := udpCsumErrors(t, nsB, tc.vtp.Is6())
			inner := icmpEcho(innerMAC, tc.vxMAC, tc.src, tc.dst, 0x4242, 99, payload)
			frame := make([]byte, tmpl.Len()+len(inner))
			copy(frame[tmpl.Len():], inner)
			if err := Encap(frame, &tmpl, Meta{Hash: 1, TTL: 64}); err != nil {
				t.Fatal(err)
			}
			frame[tmpl.Len()-HdrLen-2]++ // the UDP checksum's low byte
			sock.send(t, frame)
			if sock.recvUntil(500*time.Millisecond, func(f []byte) bool {
				info, r := Decap(f, DefaultPort, 0)
				if r != DropNone || info.VNI != tc.vni {
					return false
				}
				in := f[info.InnerOff : info.InnerOff+info.InnerLen]
				return len(in) >= EthLen+IPv4Len+8 && binary.BigEndian.Uint16(in[12:]) == etherTypeIPv4 &&
					in[EthLen+9] == 1 && binary.BigEndian.Uint16(in[EthLen+IPv4Len+6:]) == 99
			}) {
				t.Fatal("kernel answered a packet with a corrupted UDP checksum")
			}
			if after := udpCsumErrors(t, nsB, tc.vtp.Is6()); after != before+1 {
				t.Fatalf("kernel UDP checksum errors %d -> %d, want +1", before, after)
			}
		})
	}
}

// udpCsumErrors reads the namespace's UDP (or UDP6) InCsumErrors counter.
func udpCsumErrors(t *testing.T, ns string, v6 bool) int {
	t.Helper()
	if v6 {
		for _, l := range strings.Split(sh(t, "ip", "netns", "exec", ns, "cat", "/proc/net/snmp6"), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "Udp6InCsumErrors" {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
		t.Fatal("no Udp6InCsumErrors in /proc/net/snmp6")
	}
	var names []string
	for _, l := range strings.Split(sh(t, "ip", "netns", "exec", ns, "cat", "/proc/net/snmp"), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "InCsumErrors" && i < len(f) {
				n, _ := strconv.Atoi(f[i])
				return n
			}
		}
	}
	t.Fatal("no Udp InCsumErrors in /proc/net/snmp")
	return 0
}
