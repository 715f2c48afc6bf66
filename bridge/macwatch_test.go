package bridge

import (
	"slices"
	"testing"
	"time"

	"vswitch/datapath/dptest"
)

// vfPort is an in-memory port that records what the bridge hands a
// MACWatcher (an sriov-vf port programs those MACs as NIC filters).
type vfPort struct {
	dptest.MemPort
	group string
	got   [][6]byte
	calls int
}

func (p *vfPort) SetPeerMACs(m [][6]byte) { p.got, p.calls = m, p.calls+1 }
func (p *vfPort) EswitchGroup() string    { return p.group }

func TestSyncPeerMACs(t *testing.T) {
	s := &Switch{bridges: map[string]*bridge{}, macNotify: make(chan struct{}, 1)}
	b := &bridge{name: "br0", macs: newMACTable(nil)}
	b.macs.notify = s.macNotify
	s.bridges["br0"] = b
	vf1 := &vfPort{group: "eth0"}
	vf2 := &vfPort{group: "eth0"}
	vfOther := &vfPort{group: "eth9"}
	b.ports = []*port{
		{ofport: 1, dev: &dptest.MemPort{PortName: "veth"}},
		{ofport: 2, dev: vf1},
		{ofport: 3, dev: vf2},
		{ofport: 4, dev: vfOther},
	}
	now := time.Now()
	b.macs.learn(0, macA, 1, now) // behind the veth
	select {
	case <-s.macNotify:
	default:
		t.Fatal("learning a new MAC did not signal the watcher")
	}
	b.macs.learn(10, macA, 1, now) // same MAC on another VLAN: programmed once
	b.macs.learn(0, macB, 3, now)  // behind VF 2, a sibling of VF 1 on eth0
	b.macs.learn(0, macC, 2, now)  // behind VF 1 itself
	s.syncPeerMACs(now)

	sorted := func(m [][6]byte) [][6]byte {
		m = slices.Clone(m)
		slices.SortFunc(m, func(a, b [6]byte) int { return int(a[5]) - int(b[5]) })
		return m
	}
	if got := sorted(vf1.got); !slices.Equal(got, [][6]byte{macA}) {
		t.Errorf("VF 1 gets %x, want only A (B sits behind a sibling VF, C behind VF 1 itself)", got)
	}
	if got := sorted(vf2.got); !slices.Equal(got, [][6]byte{macA}) {
		t.Errorf("VF 2 gets %x, want only A", got)
	}
	if got := sorted(vfOther.got); !slices.Equal(got, [][6]byte{macA, macB, macC}) {
		t.Errorf("a VF of another PF gets %x, want A, B and C", got)
	}

	// Expiry drops the MAC from the filters.
	b.macs.configure(time.Second, defaultMACTableMax)
	later := now.Add(time.Minute)
	if !b.macs.expire(later) {
		t.Fatal("nothing expired")
	}
	s.syncPeerMACs(later)
	if len(vf1.got) != 0 || len(vfOther.got) != 0 {
		t.Errorf("after expiry: VF 1 %x, other %x, want none", vf1.got, vfOther.got)
	}
}
