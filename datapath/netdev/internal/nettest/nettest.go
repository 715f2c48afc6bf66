// Package nettest builds the kernel fixtures the netdev backend tests need:
// network namespaces, veth pairs and raw packet sockets, each removed by
// t.Cleanup even when the test fails. It needs root.
package nettest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"vswitch/datapath"
)

// RequireRoot skips the test unless it runs as root. Under CI=true a
// missing privilege is a failure, not a skip.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (network namespaces, veth, AF_PACKET)")
	}
	t.Skip("needs root")
}

// Suffix returns 4 random hex digits for unique object names.
func Suffix() string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// IP runs the ip command and fails the test on error.
func IP(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

// NS is a named network namespace.
type NS struct {
	Name   string
	handle netns.NsHandle
}

// NewNS creates a network namespace with its loopback up; t.Cleanup
// deletes it.
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	name := prefix + Suffix()
	IP(t, "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	ns := &NS{Name: name, handle: h}
	IP(t, "-n", name, "link", "set", "lo", "up")
	return ns
}

// Do runs f on an OS thread that has entered the namespace. Sockets and
// devices f creates belong to the namespace and stay usable from any thread
// afterwards.
func (ns *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked: if restoring the namespace failed
		// it must die with the goroutine rather than serve others.
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns.handle); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns.Name, err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("leave netns %s: %w", ns.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Veth creates a veth pair: host stays in the caller's namespace, peer goes
// into ns (or stays on the host if ns is nil). Both ends are brought up
// with IPv6 address generation off, so the kernel sends little of its own.
// t.Cleanup deletes the pair.
func Veth(t testing.TB, host, peer string, ns *NS) {
	t.Helper()
	if ns != nil {
		IP(t, "link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns.Name)
	} else {
		IP(t, "link", "add", host, "type", "veth", "peer", "name", peer)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	IP(t, "link", "set", host, "addrgenmode", "none")
	IP(t, "link", "set", host, "up")
	pargs := []string{}
	if ns != nil {
		pargs = append(pargs, "-n", ns.Name)
	}
	IP(t, append(pargs, "link", "set", peer, "addrgenmode", "none")...)
	IP(t, append(pargs, "link", "set", peer, "up")...)
}

// RawSocket opens an AF_PACKET socket bound to ifname (in ns, or on the
// host if ns is nil) receiving every protocol; t.Cleanup closes it.
func RawSocket(t testing.TB, ns *NS, ifname string) int {
	t.Helper()
	fd := -1
	open := func() error {
		ifi, err := ifindex(ifname)
		if err != nil {
			return err
		}
		s, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(s, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi}); err != nil {
			unix.Close(s)
			return err
		}
		fd = s
		return nil
	}
	var err error
	if ns != nil {
		err = ns.Do(open)
	} else {
		err = open()
	}
	if err != nil {
		t.Fatalf("raw socket on %s: %v", ifname, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// Send writes one frame on a bound raw socket.
func Send(t testing.TB, fd int, frame []byte) {
	t.Helper()
	if _, err := unix.Write(fd, frame); err != nil {
		t.Fatalf("send %d-byte frame: %v", len(frame), err)
	}
}

// Recv reads frames from a raw socket until match accepts one or the
// timeout passes; it returns the matching frame or nil.
func Recv(fd int, timeout time.Duration, match func([]byte) bool) []byte {
	buf := make([]byte, 65536)
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, int(left.Milliseconds())+1); err != nil || n == 0 {
			continue
		}
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		if match(buf[:n]) {
			return append([]byte(nil), buf[:n]...)
		}
	}
}

func ifindex(name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(s)
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("ifindex of %s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// RxMatch polls port queue 0 until match accepts a received packet or the
// timeout passes, and returns a copy of that packet (nil on timeout). Every
// received packet is freed through c.
func RxMatch(p datapath.Port, c *datapath.Cache, timeout time.Duration, match func([]byte) bool) []byte {
	var b datapath.Batch
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(p.PollFD(0)), Events: unix.POLLIN}}
		_, _ = unix.Poll(pfd, 20)
		p.Rx(0, &b, c)
		var found []byte
		for _, pk := range b.Packets() {
			if found == nil && match(pk.Data()) {
				found = append([]byte(nil), pk.Data()...)
			}
		}
		c.PutBatch(&b)
		if found != nil {
			return found
		}
	}
	return nil
}

// Frame builds an Ethernet frame: dst, src, then the ethertype(s) and
// payload given as raw bytes after the addresses.
func Frame(dst, src [6]byte, rest ...[]byte) []byte {
	f := append(append([]byte{}, dst[:]...), src[:]...)
	for _, r := range rest {
		f = append(f, r...)
	}
	return f
}

// NewPool returns a pool over a fresh 8 MiB arena; t.Cleanup unmaps it.
func NewPool(t testing.TB) *datapath.Pool {
	t.Helper()
	a, err := datapath.NewArena(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return datapath.NewPool(a)
}

// VnetTap creates a tap device whose fd takes frames with a virtio-net
// header in front (IFF_VNET_HDR): writing a GSO super-frame to it makes the
// kernel receive one on the tap, the way a veth hands one over. The tap is
// brought up; t.Cleanup closes the fd, which removes it.
func VnetTap(t testing.TB, name string) int {
	t.Helper()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/net/tun: %v", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		t.Fatalf("TUNSETIFF %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	IP(t, "link", "set", name, "addrgenmode", "none")
	IP(t, "link", "set", name, "up")
	return fd
}
