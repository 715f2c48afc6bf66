//go:build dpdk

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A dpdk build of these tests builds (or expects in VSWITCH_BIN_DIR) a
// vswitchd with the dpdk port type.
func init() { e2eBuildTags = append(e2eBuildTags, "-tags", "dpdk") }

// startDPDKDaemon starts vswitchd with DPDK initialised without hugepages,
// under its own EAL file prefix (its runtime dir is removed afterwards).
func startDPDKDaemon(t *testing.T, extra ...string) *Daemon {
	t.Helper()
	d := newDaemon(t)
	d.Extra = append(d.Extra, extra...)
	prefix := uniq("vse2e", 8)
	d.Extra = append(d.Extra, "--dpdk-eal-args", dpdkTestEAL(prefix))
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/var/run/dpdk", prefix)) })
	d.Start()
	return d
}

func dpdkTestEAL(prefix string) string {
	return "--no-huge -m 256 --no-shconf --no-pci --no-telemetry -l 0 --file-prefix " + prefix
}

// vdev returns a unique DPDK vdev name for driver (e.g. net_null).
func vdev(driver string) string { return driver + uniq("", 6) }

// addDPDK adds a dpdk port with devargs and waits for it to come up.
func addDPDK(d *Daemon, br, name, devargs string, opts ...string) int {
	d.t.Helper()
	args := []string{"add-port", br, name, "--", "set", "Interface", name, "type=dpdk", "options:dpdk-devargs=" + devargs}
	for _, o := range opts {
		args = append(args, "options:"+o)
	}
	d.Vsctl(args...)
	d.WaitPortUp(name)
	return d.Ofport(name)
}

// tapHost puts a net_tap vdev's kernel tap into a fresh namespace as that
// host's interface, with address cidr.
func tapHost(t *testing.T, tap, port, cidr string) *Host {
	t.Helper()
	ns := newNS(t)
	if !waitFor(5*time.Second, func() bool { return exec.Command("ip", "link", "show", tap).Run() == nil }) {
		t.Fatalf("net_tap did not create kernel device %s", tap)
	}
	run(t, "ip", "link", "set", tap, "netns", ns)
	run(t, "ip", "-n", ns, "link", "set", tap, "up")
	run(t, "ip", "-n", ns, "addr", "add", cidr, "dev", tap)
	h := &Host{t: t, NS: ns, Port: port}
	h.IP, _, _ = strings.Cut(cidr, "/")
	return h
}

// A host behind a net_tap vdev pings, and moves TCP to, a host behind an
// ordinary veth port through the switch; the dpdk port's counters show
// the traffic, its status the device and link.
func TestDPDKTap(t *testing.T) {
	requireE2E(t, "ping")
	d := startDPDKDaemon(t)
	br := d.AddBridge("brd")
	sub := subnet()
	tap := uniq("dtap", 8)
	addDPDK(d, br, "dt0", vdev("net_tap")+",iface="+tap)
	h1 := tapHost(t, tap, "dt0", sub+".1/24")
	h2 := newHost(t, sub+".2/24")
	attach(d, br, h2)

	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)
	transfer(t, h1, h2, 20<<20)
	transfer(t, h2, h1, 5<<20)
	// New PMD threads, twice: the old ones give back their DPDK lcore ids
	// and cached mbufs as they exit, and traffic goes on.
	d.Vsctl("set", "Open_vSwitch", ".", "other_config:pmd-cores=0,1")
	transfer(t, h1, h2, 2<<20)
	d.Vsctl("set", "Open_vSwitch", ".", "other_config:pmd-cores="+d.PMDCores)
	pingOK(t, h1, h2.IP)

	s := d.Stats("dt0")
	if s["rx_packets"] < 5000 || s["tx_packets"] < 5000 || s["rx_bytes"] < 20<<20 || s["tx_bytes"] < 5<<20 {
		t.Fatalf("dpdk tap port counters do not show the traffic: %v", s)
	}
	st := d.Show().Iface("dt0")
	raw := strings.Join(st.Lines, "\n")
	// net_tap reads its link through the tap's name in vswitchd's own
	// namespace, which the tap left: only that a state is shown is checked.
	for _, want := range []string{"driver=net_tap", "link_state=", "xstat_rx_good_packets="} {
		if !strings.Contains(raw, want) {
			t.Fatalf("show lacks %q for the dpdk port:\n%s", want, raw)
		}
	}
	// Deleting the port closes the vdev: its kernel tap goes away.
	d.Vsctl("del-port", br, "dt0")
	if !waitFor(5*time.Second, func() bool { _, err := h1.Exec("ip", "link", "show", tap); return err != nil }) {
		t.Fatalf("tap %s still exists after del-port", tap)
	}
}

// net_af_packet on a veth: the DPDK driver reads the switch side of a
// host's veth; pings go through and both ports count them. This port copies
// frames (dpdk-buffers=copy); the other tests use the default, mbufs
// handed from rx to tx.
func TestDPDKAfPacket(t *testing.T) {
	requireE2E(t, "ping")
	d := startDPDKDaemon(t)
	br := d.AddBridge("brd")
	sub := subnet()
	h1 := newHost(t, sub+".1/24")
	h2 := newHost(t, sub+".2/24")
	addDPDK(d, br, "da0", vdev("net_af_packet")+",iface="+h1.Port, "dpdk-buffers=copy")
	attach(d, br, h2)
	pingOK(t, h1, h2.IP)
	pingOK(t, h2, h1.IP)
	s := d.Stats("da0")
	if s["rx_packets"] < 6 || s["tx_packets"] < 6 {
		t.Fatalf("af_packet dpdk port counters do not show the pings: %v", s)
	}
	if raw := strings.Join(d.Show().Iface("da0").Lines, "\n"); !strings.Contains(raw, "dpdk_buffers=copy") {
		t.Fatalf("show lacks dpdk_buffers=copy:\n%s", raw)
	}
}

// Exact counts through DPDK vdevs: a host sends N echo requests to a
// static neighbour; flows steer them host -> net_ring (whose tx loops back
// to its rx) -> net_null. Every port counts exactly N, in show and in the
// Prometheus metrics (port counters and the device's xstats).
func TestDPDKRingNullCounts(t *testing.T) {
	requireE2E(t, "ping")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := l.Addr().String()
	l.Close()
	d := startDPDKDaemon(t, "--metrics-addr", maddr)
	br := d.AddBridge("brd")
	sub := subnet()
	h := newHost(t, sub+".1/24")
	attach(d, br, h)
	ring := addDPDK(d, br, "dr0", vdev("net_ring"), "n_rxq=1", "n_txq=1")
	null := addDPDK(d, br, "dn0", vdev("net_null")+",no-rx=1", "n_rxq=2", "n_txq=2", "n_rxq_desc=256", "n_txq_desc=512")
	hp := d.Ofport(h.Port)
	d.Vsctl("del-flows", br)
	d.Vsctl("add-flow", br, fmt.Sprintf("in_port=%d,actions=output:%d", hp, ring))
	d.Vsctl("add-flow", br, fmt.Sprintf("in_port=%d,actions=output:%d", ring, null))
	h.MustExec("ip", "neigh", "add", sub+".9", "lladdr", "02:00:00:00:00:09", "dev", "eth0")
	before := map[string]map[string]uint64{}
	for _, p := range []string{h.Port, "dr0", "dn0"} {
		before[p] = d.Stats(p)
	}
	const n = 40
	h.Exec("ping", "-n", "-c", strconv.Itoa(n), "-i", "0.01", "-W", "1", sub+".9") // no replies: they fail
	const frame = 98                                                               // ICMP echo of 56 data bytes
	want := map[string][2]string{h.Port: {"rx_packets", ""}, "dr0": {"tx_packets", "rx_packets"}, "dn0": {"tx_packets", ""}}
	var got map[string]map[string]uint64
	ok := waitFor(5*time.Second, func() bool {
		got = map[string]map[string]uint64{}
		for p, keys := range want {
			got[p] = d.Stats(p)
			for _, k := range keys {
				if k != "" && got[p][k]-before[p][k] != n {
					return false
				}
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("want %d packets counted on every hop; before %v, after %v", n, before, got)
	}
	if b := got["dn0"]["tx_bytes"] - before["dn0"]["tx_bytes"]; b != 0 && b != n*frame {
		t.Fatalf("net_null tx_bytes grew by %d, want %d", b, n*frame)
	}
	for _, p := range []string{"dr0", "dn0"} {
		if got[p]["tx_dropped"] != 0 || got[p]["rx_dropped"] != 0 {
			t.Fatalf("%s dropped packets: %v", p, got[p])
		}
	}
	fams := scrape(t, maddr)
	if v, ok := metricValue(fams, "vswitch_port_tx_packets_total", map[string]string{"port": "dn0", "type": "dpdk"}); !ok || uint64(v) != got["dn0"]["tx_packets"] {
		t.Fatalf("vswitch_port_tx_packets_total{port=dn0} = %v (present %v), show says %d", v, ok, got["dn0"]["tx_packets"])
	}
	if v, ok := metricValue(fams, "vswitch_port_xstats", map[string]string{"port": "dr0", "name": "tx_good_packets"}); !ok || uint64(v) != got["dr0"]["tx_packets"] {
		t.Fatalf("vswitch_port_xstats{port=dr0,name=tx_good_packets} = %v (present %v), show says %d", v, ok, got["dr0"]["tx_packets"])
	}
}

// Bad dpdk interfaces are refused with a clear one-line error, nothing is
// stored, and the daemon keeps running and serving.
func TestDPDKBadInput(t *testing.T) {
	requireE2E(t)
	d := startDPDKDaemon(t)
	br := d.AddBridge("brd")
	ring := vdev("net_ring")
	cases := []struct {
		name string
		opts []string
		want string
	}{
		{"no devargs", nil, "dpdk-devargs is required"},
		{"malformed devargs", []string{"options:dpdk-devargs=net_null0,,size=64"}, "is malformed"},
		{"unknown driver", []string{"options:dpdk-devargs=" + vdev("net_nosuchpmd")}, "cannot probe the device"},
		{"bad vdev key", []string{"options:dpdk-devargs=" + vdev("net_null") + ",nosuchkey=1"}, "cannot probe the device"},
		{"missing pci device", []string{"options:dpdk-devargs=0000:7f:1f.7"}, "cannot probe the device"},
		{"too many rx queues", []string{"options:dpdk-devargs=" + ring, "options:n_rxq=64"}, "n_rxq 64: device " + ring + " (net_ring) has at most"},
		{"too many tx queues", []string{"options:dpdk-devargs=" + ring, "options:n_txq=64"}, "n_txq 64"},
		{"queues out of range", []string{"options:dpdk-devargs=" + ring, "options:n_rxq=0"}, "n_rxq \"0\" must be an integer from 1 to"},
		{"descriptors not a power of two", []string{"options:dpdk-devargs=" + ring, "options:n_rxq_desc=1000"}, "power of two"},
		{"unknown buffer strategy", []string{"options:dpdk-devargs=" + ring, "options:dpdk-buffers=zerocopy"}, "dpdk-buffers \"zerocopy\" must be mbuf or copy"},
		{"unknown option", []string{"options:dpdk-devargs=" + ring, "options:bogus=1"}, "unknown option \"bogus\""},
	}
	for _, tc := range cases {
		name := uniq("bd", 6)
		args := append([]string{"add-port", br, name, "--", "set", "Interface", name, "type=dpdk"}, tc.opts...)
		r := d.VsctlErr(args...)
		msg := strings.TrimSpace(r.Stderr)
		if r.Code == 0 || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want one line containing %q", tc.name, r.Code, msg, tc.want)
		}
		if out := d.Vsctl("list-ports", br); strings.Contains(out, name) {
			t.Errorf("%s: port %s stored despite the error:\n%s", tc.name, name, out)
		}
	}
	if !d.Running() {
		t.Fatal("vswitchd died on bad input")
	}
	// The device a refused command probed was detached: it opens now.
	addDPDK(d, br, "good", ring)
	// Changing a running port's options is checked against its device too:
	// refused, the port stays as it was; accepted, it reopens with them.
	if r := d.VsctlErr("set", "Interface", "good", "options:n_txq=64"); r.Code == 0 || !strings.Contains(r.Stderr, "n_txq 64") {
		t.Fatalf("set n_txq=64 on a running net_ring port: exit %d, stderr %q", r.Code, r.Stderr)
	}
	d.WaitPortUp("good")
	d.Vsctl("set", "Interface", "good", "options:n_rxq_desc=512")
	d.WaitPortUp("good")
	if raw := strings.Join(d.Show().Iface("good").Lines, "\n"); !strings.Contains(raw, `n_rxq_desc="512"`) {
		t.Fatalf("port did not reopen with 512 rx descriptors:\n%s", raw)
	}
	if err := d.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("vswitchd did not stop cleanly: %v", err)
	}
	d.Start() // the stored dpdk port reopens at start-up
	d.WaitPortUp("good")
}

// No memory for DPDK (hugepages looked for where there are none) stops
// start-up with an error saying how many hugepages to reserve.
func TestDPDKNoHugepages(t *testing.T) {
	requireE2E(t)
	d := newDaemon(t)
	prefix := uniq("vse2e", 8)
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/var/run/dpdk", prefix)) })
	empty := t.TempDir() // not a hugetlbfs mount: no pages there
	d.Extra = append(d.Extra, "--dpdk-eal-args", "--in-memory -m 128 --no-pci --no-telemetry -l 0 --huge-dir "+empty+" --file-prefix "+prefix)
	out, err := exec.Command(vswitchdBin, d.args()...).CombinedOutput()
	if err == nil {
		t.Fatalf("vswitchd started without DPDK memory:\n%s", out)
	}
	if !strings.Contains(string(out), "DPDK could not get memory; reserve 64 hugepages") {
		t.Fatalf("start-up error does not say how many hugepages to reserve:\n%s", out)
	}
}
