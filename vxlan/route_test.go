package vxlan

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// requireRoot fails under CI (where the tests must run) and skips
// elsewhere when not root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root for network namespaces")
	}
	t.Skip("needs root for network namespaces")
}

func uniqName(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns creates a network namespace deleted when the test ends (with
// every device in it), and returns its name and a handle.
func newNetns(t *testing.T) (string, netns.NsHandle) {
	t.Helper()
	name := uniqName("vxt")
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name, h
}

// within polls cond for up to a second and returns how long it took.
func within(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > time.Second {
			t.Fatalf("%s: not seen within 1s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	d := time.Since(start)
	t.Logf("%s: %v", what, d.Round(time.Microsecond))
	return d
}

func TestTableFollowsKernel(t *testing.T) {
	requireRoot(t)
	ns, h := newNetns(t)
	ip := func(args ...string) { sh(t, append([]string{"ip", "-n", ns}, args...)...) }
	ip("link", "add", "u0", "type", "veth", "peer", "name", "u1")
	ip("addr", "add", "192.0.2.1/24", "dev", "u0")
	ip("-6", "addr", "add", "fd42::1/64", "dev", "u0", "nodad")
	ip("link", "set", "u0", "up")
	ip("link", "set", "u1", "up")

	var notified atomic.Int64
	tbl, err := NewTable(TableOptions{Namespace: &h, Notify: func() { notified.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	u0 := func() int {
		for _, r := range tbl.Routes() {
			if r.OutDev == "u0" {
				return r.Ifindex
			}
		}
		return 0
	}
	var ifindex int
	within(t, "connected route", func() bool { ifindex = u0(); return ifindex != 0 })

	r, ok := tbl.Lookup(netip.MustParseAddr("192.0.2.7"))
	if !ok || r.OutDev != "u0" || r.NextHop != netip.MustParseAddr("192.0.2.7") || r.Src != netip.MustParseAddr("192.0.2.1") || r.Gateway.IsValid() {
		t.Fatalf("on-link lookup: %+v %v", r, ok)
	}
	if idx, ok := tbl.IsLocal(netip.MustParseAddr("192.0.2.1")); !ok || idx != ifindex {
		t.Fatalf("IsLocal: %d %v", idx, ok)
	}
	if _, ok := tbl.Lookup(netip.MustParseAddr("203.0.113.1")); ok {
		t.Fatal("lookup without a route succeeded")
	}

	gen := tbl.Generation()
	ip("route", "add", "198.51.100.0/24", "via", "192.0.2.254")
	far := netip.MustParseAddr("198.51.100.9")
	within(t, "route add", func() bool {
		r, ok := tbl.Lookup(far)
		return ok && r.NextHop == netip.MustParseAddr("192.0.2.254") && r.OutDev == "u0" && r.Ifindex == ifindex
	})
	if tbl.Generation() == gen || notified.Load() == 0 {
		t.Fatal("generation or notify did not move")
	}
	ip("route", "add", "198.51.100.128/25", "via", "192.0.2.253")
	ip("route", "add", "blackhole", "198.51.100.64/26")
	within(t, "longest prefix", func() bool {
		r, ok := tbl.Lookup(netip.MustParseAddr("198.51.100.200"))
		return ok && r.NextHop == netip.MustParseAddr("192.0.2.253")
	})
	if r, ok := tbl.Lookup(far); !ok || r.NextHop != netip.MustParseAddr("192.0.2.254") {
		t.Fatalf("shorter prefix lost: %+v", r)
	}
	// The blackhole is its own netlink event: wait for it too.
	within(t, "blackhole", func() bool { _, ok := tbl.Lookup(netip.MustParseAddr("198.51.100.70")); return !ok })
	ip("route", "del", "198.51.100.0/24")
	within(t, "route del", func() bool { _, ok := tbl.Lookup(far); return !ok })

	ip("route", "add", "default", "via", "192.0.2.254", "metric", "100")
	within(t, "default route", func() bool {
		r, ok := tbl.Lookup(netip.MustParseAddr("8.8.8.8"))
		return ok && r.NextHop == netip.MustParseAddr("192.0.2.254") && r.Dst.Bits() == 0
	})

	ip("-6", "route", "add", "2001:db8::/32", "via", "fd42::fe")
	within(t, "IPv6 route", func() bool {
		r, ok := tbl.Lookup(netip.MustParseAddr("2001:db8::5"))
		return ok && r.NextHop == netip.MustParseAddr("fd42::fe") && r.Src == netip.MustParseAddr("fd42::1")
	})

	ip("addr", "add", "192.0.2.77/24", "dev", "u0")
	within(t, "address add", func() bool { _, ok := tbl.IsLocal(netip.MustParseAddr("192.0.2.77")); return ok })

	gw := netip.MustParseAddr("192.0.2.254")
	mac := [6]byte{2, 0, 0, 0, 0, 0xfe}
	ip("neigh", "add", "192.0.2.254", "lladdr", "02:00:00:00:00:fe", "dev", "u0", "nud", "permanent")
	within(t, "neigh add", func() bool { m, _, ok := tbl.Neighbour(ifindex, gw); return ok && m == mac })
	if _, st, _ := tbl.Neighbour(ifindex, gw); st.String() != "permanent" {
		t.Fatalf("state %v", st)
	}
	ip("neigh", "replace", "192.0.2.254", "lladdr", "02:00:00:00:00:fd", "dev", "u0", "nud", "reachable")
	within(t, "neigh replace", func() bool {
		m, st, ok := tbl.Neighbour(ifindex, gw)
		return ok && m == [6]byte{2, 0, 0, 0, 0, 0xfd} && st&unix.NUD_REACHABLE != 0
	})
	ip("-6", "neigh", "add", "fd42::fe", "lladdr", "02:00:00:00:00:fc", "dev", "u0")
	within(t, "IPv6 neigh add", func() bool {
		m, _, ok := tbl.Neighbour(ifindex, netip.MustParseAddr("fd42::fe"))
		return ok && m == [6]byte{2, 0, 0, 0, 0, 0xfc}
	})
	res := NewResolver(tbl, 0)
	if m, ok := res.Resolve(ifindex, gw); !ok || m != [6]byte{2, 0, 0, 0, 0, 0xfd} {
		t.Fatalf("resolver over the kernel table: %x %v", m, ok)
	}
	res.Learn(gw, mac, ifindex)
	if m, _ := res.Resolve(ifindex, gw); m != mac {
		t.Fatal("learned binding does not win over the kernel's")
	}
	found := false
	for _, n := range res.Neighbours() {
		found = found || n.IP == gw && n.Learned && n.Dev == "u0"
	}
	if !found {
		t.Fatalf("learned binding not listed: %+v", res.Neighbours())
	}
	ip("neigh", "del", "192.0.2.254", "dev", "u0")
	within(t, "neigh del", func() bool { _, _, ok := tbl.Neighbour(ifindex, gw); return !ok })
	if len(tbl.Neighbours()) == 0 || len(tbl.Routes()) < 4 {
		t.Fatalf("snapshots: %d neighbours, %d routes", len(tbl.Neighbours()), len(tbl.Routes()))
	}

	// The kernel flushes IPv4 routes of a downed device without RTM_DELROUTE
	// notifications; the link event must still bring the table up to date.
	ip("link", "set", "u0", "down")
	within(t, "link down", func() bool {
		_, ok := tbl.Lookup(netip.MustParseAddr("198.51.100.200"))
		return !ok
	})
}

// TestTableClose checks Close returns promptly and is idempotent.
func TestTableClose(t *testing.T) {
	requireRoot(t)
	_, h := newNetns(t)
	tbl, err := NewTable(TableOptions{Namespace: &h})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { tbl.Close(); tbl.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
}
