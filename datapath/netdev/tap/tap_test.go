package tap

import (
	"bytes"
	"encoding/binary"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"vswitch/datapath"
	"vswitch/datapath/netdev/internal/link"
	"vswitch/datapath/netdev/internal/nettest"
	"vswitch/datapath/netdev/vnethdr"
)

var (
	macPort = [6]byte{0x02, 0xcc, 0, 0, 0, 1}
	macHost = [6]byte{0x02, 0xdd, 0, 0, 0, 2}
	bcast   = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func open(t *testing.T, name string, kind Kind) *Port {
	t.Helper()
	p, err := Open(name, kind)
	if err != nil {
		t.Fatalf("Open(%s, %v): %v", name, kind, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func isUp(t *testing.T, name string) bool {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l.Attrs().Flags&net.FlagUp != 0
}

func waitGone(name string) bool {
	for i := 0; i < 100; i++ {
		if !link.Exists(name) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestInternalLifecycle(t *testing.T) {
	nettest.RequireRoot(t)
	name := "vsint" + nettest.Suffix()
	p := open(t, name, Internal)
	if !link.Exists(name) || !p.Created() {
		t.Fatalf("device %s not created", name)
	}
	if isUp(t, name) {
		t.Fatalf("new internal port %s is up; OVS leaves it down", name)
	}
	// Down: writes fail and are counted as dropped.
	pool := nettest.NewPool(t)
	c := pool.NewCache()
	var b datapath.Batch
	for i := 0; i < 3; i++ {
		pk := c.Get()
		_ = pk.CopyFrom(nettest.Frame(bcast, macPort, []byte{0x88, 0xb5}, []byte("down")))
		b.Add(pk)
	}
	p.Tx(0, &b, c)
	if st := p.Stats(); st.TxDropped != 3 || st.TxPackets != 0 || st.TxErrors != 0 {
		t.Fatalf("tx on a down tap: %+v, want TxDropped 3", st)
	}
	c.Flush()
	if pool.Available() != pool.Size() {
		t.Fatalf("packets leaked: %d of %d free", pool.Available(), pool.Size())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if !waitGone(name) {
		t.Fatalf("device %s still exists after Close", name)
	}
}

func TestInternalTakesOverPersistentTap(t *testing.T) {
	nettest.RequireRoot(t)
	name := "vspers" + nettest.Suffix()
	nettest.IP(t, "tuntap", "add", "mode", "tap", "name", name)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", name).Run() })
	p := open(t, name, Internal)
	if p.Created() {
		t.Fatal("Created() = true for an existing tap")
	}
	p.Close()
	if !waitGone(name) {
		t.Fatalf("internal port left %s behind", name)
	}
}

func TestNamedTap(t *testing.T) {
	nettest.RequireRoot(t)
	t.Run("attach-persistent", func(t *testing.T) {
		name := "vstap" + nettest.Suffix()
		nettest.IP(t, "tuntap", "add", "mode", "tap", "name", name)
		t.Cleanup(func() { _ = exec.Command("ip", "link", "del", name).Run() })
		p := open(t, name, Named)
		if p.Created() {
			t.Fatal("Created() = true for an existing tap")
		}
		p.Close()
		time.Sleep(50 * time.Millisecond)
		if !link.Exists(name) {
			t.Fatal("closing the port removed a persistent tap it did not create")
		}
	})
	t.Run("create", func(t *testing.T) {
		name := "vstap" + nettest.Suffix()
		p := open(t, name, Named)
		if !p.Created() || !link.Exists(name) {
			t.Fatal("tap not created")
		}
		p.Close()
		if !waitGone(name) {
			t.Fatal("tap the port created survived Close")
		}
	})
	t.Run("not-a-tap", func(t *testing.T) {
		sfx := nettest.Suffix()
		nettest.Veth(t, "vsv"+sfx, "vsw"+sfx, nil)
		_, err := Open("vsv"+sfx, Named)
		if err == nil || !strings.Contains(err.Error(), "not a tap") {
			t.Fatalf("Open on a veth: err = %v", err)
		}
		t.Logf("error: %v", err)
	})
	t.Run("attached-elsewhere", func(t *testing.T) {
		name := "vstap" + nettest.Suffix()
		open(t, name, Named)
		_, err := Open(name, Named)
		if err == nil {
			t.Fatal("second Open of an attached tap succeeded")
		}
		t.Logf("error: %v", err)
	})
}

func TestRxTxByteExact(t *testing.T) {
	nettest.RequireRoot(t)
	name := "vsint" + nettest.Suffix()
	p := open(t, name, Internal)
	nettest.IP(t, "link", "set", name, "addrgenmode", "none")
	nettest.IP(t, "link", "set", name, "up")
	raw := nettest.RawSocket(t, nil, name)
	c := nettest.NewPool(t).NewCache()

	// Host -> port: the host transmits on the tap, the port receives.
	for _, f := range [][]byte{
		nettest.Frame(macPort, macHost, []byte{0x88, 0xb5}, []byte("tap-rx-small")),
		nettest.Frame(macPort, macHost, []byte{0x81, 0x00, 0x00, 0x05, 0x88, 0xb5}, []byte("tap-rx-vlan")),
		nettest.Frame(macPort, macHost, []byte{0x88, 0xb5}, []byte("tap-rx-max"), make([]byte, 1500-2-10)),
	} {
		nettest.Send(t, raw, f)
		got := nettest.RxMatch(p, c, 2*time.Second, func(b []byte) bool { return bytes.Equal(b, f) })
		if got == nil {
			t.Fatalf("frame of %d bytes sent by the host not received", len(f))
		}
	}
	// Port -> host.
	f := nettest.Frame(macHost, macPort, []byte{0x88, 0xb5}, []byte("tap-tx"))
	var b datapath.Batch
	pk := c.Get()
	_ = pk.CopyFrom(f)
	b.Add(pk)
	p.Tx(0, &b, c)
	if got := nettest.Recv(raw, 2*time.Second, func(b []byte) bool { return bytes.Equal(b, f) }); got == nil {
		t.Fatal("frame sent by the port not seen on the host")
	}
	st := p.Stats()
	t.Logf("stats: %+v", st)
	if st.RxPackets < 3 || st.TxPackets != 1 || st.TxBytes != uint64(len(f)) || st.RxErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestHostStack talks to the kernel's IP stack through the tap, as a VM on
// an internal port would: ARP for the host's address, then ping it.
func TestHostStack(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNS(t, "tapns")
	name := "vsint" + nettest.Suffix()
	var p *Port
	if err := ns.Do(func() (err error) { p, err = Open(name, Internal); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	nettest.IP(t, "-n", ns.Name, "addr", "add", "10.252.0.1/24", "dev", name)
	nettest.IP(t, "-n", ns.Name, "link", "set", name, "up")
	c := nettest.NewPool(t).NewCache()
	hostIP, myIP := []byte{10, 252, 0, 1}, []byte{10, 252, 0, 2}

	tx := func(f []byte) {
		var b datapath.Batch
		pk := c.Get()
		_ = pk.CopyFrom(f)
		b.Add(pk)
		p.Tx(0, &b, c)
	}
	// ARP request: who has 10.252.0.1, tell 10.252.0.2.
	arp := []byte{0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1}
	arp = append(append(append(append(arp, macPort[:]...), myIP...), make([]byte, 6)...), hostIP...)
	tx(nettest.Frame(bcast, macPort, arp))
	reply := nettest.RxMatch(p, c, 2*time.Second, func(b []byte) bool {
		return len(b) >= 42 && b[12] == 0x08 && b[13] == 0x06 && b[21] == 2 && bytes.Equal(b[28:32], hostIP)
	})
	if reply == nil {
		t.Fatal("no ARP reply from the host stack")
	}
	hostMAC := [6]byte(reply[22:28])
	if !bytes.Equal(reply[0:6], macPort[:]) {
		t.Fatalf("ARP reply to %x, want %x", reply[0:6], macPort)
	}

	// ICMP echo request.
	icmp := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1}
	icmp = append(icmp, []byte("vswitch tap ping")...)
	binary.BigEndian.PutUint16(icmp[2:], vnethdr.Checksum(icmp))
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0}
	ip = append(append(ip, myIP...), hostIP...)
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(icmp)))
	binary.BigEndian.PutUint16(ip[10:], vnethdr.Checksum(ip))
	tx(nettest.Frame(hostMAC, macPort, []byte{0x08, 0x00}, ip, icmp))
	echo := nettest.RxMatch(p, c, 2*time.Second, func(b []byte) bool {
		return len(b) >= 42 && b[12] == 0x08 && b[13] == 0x00 && b[23] == 1 && b[34] == 0 &&
			bytes.Equal(b[26:30], hostIP) && bytes.Contains(b, []byte("vswitch tap ping"))
	})
	if echo == nil {
		t.Fatal("no ICMP echo reply from the host stack")
	}
}

func BenchmarkTx(b *testing.B) {
	nettest.RequireRoot(b)
	name := "vsbt" + nettest.Suffix()
	p, err := Open(name, Internal)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	nettest.IP(b, "link", "set", name, "addrgenmode", "none")
	nettest.IP(b, "link", "set", name, "up")
	c := nettest.NewPool(b).NewCache()
	f := nettest.Frame(macHost, macPort, []byte{0x88, 0xb5}, make([]byte, 46))
	var batch datapath.Batch
	b.ReportAllocs()
	b.SetBytes(int64(len(f) * datapath.BatchSize))
	for b.Loop() {
		for i := 0; i < datapath.BatchSize; i++ {
			pk := c.Get()
			_ = pk.CopyFrom(f)
			batch.Pkts[i] = pk
		}
		batch.N = datapath.BatchSize
		p.Tx(0, &batch, c)
	}
}

func BenchmarkRxEmpty(b *testing.B) {
	nettest.RequireRoot(b)
	name := "vsbr" + nettest.Suffix()
	p, err := Open(name, Internal)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c := nettest.NewPool(b).NewCache()
	var batch datapath.Batch
	b.ReportAllocs()
	for b.Loop() {
		p.Rx(0, &batch, c)
		c.PutBatch(&batch)
	}
}
