package datapath

import "testing"

// At the megaflow limit a miss is still translated and forwarded, only not
// installed: 10 distinct flows through a PMD limited to 4 megaflows all
// arrive, 4 megaflows exist, 6 packets are counted as flow limit hits.
func TestFlowLimitForwardsWithoutInstalling(t *testing.T) {
	up := &crossConnect{}
	d, err := New(Config{PMDCores: []int{-1}, MemBytes: 8 << 20, FlowLimit: 4, EMCInsertInvProb: EMCDisabled}, up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	in := &memPort{name: "in"}
	out := &memPort{name: "out", keep: true}
	up.a, _ = d.AddPort(in)
	up.b, _ = d.AddPort(out)
	// crossConnect consults only in_port: make each flow its own megaflow
	// by masking the whole IP destination too.
	exact := &maskingUpcaller{inner: up}
	d.SetUpcaller(exact)
	for i := 0; i < 10; i++ {
		in.send(udpFrame([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}, 0x0a000001, 0x0a000100+uint32(i), 1000, 2000, 64))
	}
	for i := 0; i < 4 && out.txPackets.Load() < 10; i++ {
		d.Poll()
	}
	st := d.PMDStats()[0]
	if got := out.txPackets.Load(); got != 10 {
		t.Fatalf("%d of 10 packets forwarded (stats %+v)", got, st)
	}
	if st.Megaflows != 4 || st.FlowLimitHits != 6 || st.Upcalls != 10 || st.UpcallsLost != 0 {
		t.Fatalf("megaflows %d, flow limit hits %d, upcalls %d, lost %d; want 4, 6, 10, 0",
			st.Megaflows, st.FlowLimitHits, st.Upcalls, st.UpcallsLost)
	}
}

// maskingUpcaller makes the megaflows exact on the IPv4 destination.
type maskingUpcaller struct{ inner Upcaller }

func (m *maskingUpcaller) Upcall(u *Upcall) error {
	for i := range u.Mask.NwDst {
		u.Mask.NwDst[i] = 0xff
	}
	return m.inner.Upcall(u)
}
