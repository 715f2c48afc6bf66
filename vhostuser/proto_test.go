package vhostuser

import (
	"encoding/binary"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"

	"vswitch/datapath"
)

func mkmsg(req uint32, flags uint32, payload []byte, fds ...int) *msg {
	m := &msg{req: req, flags: flagVersion | flags, size: uint32(len(payload))}
	copy(m.payload[:], payload)
	copy(m.fds[:], fds)
	m.nfds = len(fds)
	return m
}

func u64(v uint64) []byte { return le64(v) }

func eventfd(t *testing.T) int {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// replay plays a recorded front-end sequence into d, closing fds the
// handler did not take, and returns the last reply.
func replay(t *testing.T, d *Device, ms ...*msg) []byte {
	t.Helper()
	var last []byte
	for _, m := range ms {
		r, err := d.handle(m)
		m.closeFDs()
		if err != nil {
			t.Fatalf("%s: %v", reqName(m.req), err)
		}
		last = r
	}
	return last
}

// bootQEMU72 is what QEMU 7.2 sent at guest boot (peers/vm README), over a
// memfd standing in for guest RAM at gpa 0 / uaddr ua.
func bootQEMU72(t *testing.T, d *Device, memfd int, ua uint64) {
	feat := uint64(0x17020e783) & d.offered()
	mt := make([]byte, 8+32)
	binary.LittleEndian.PutUint32(mt, 1)
	binary.LittleEndian.PutUint64(mt[8:], 0)          // gpa
	binary.LittleEndian.PutUint64(mt[16:], guestSize) // size
	binary.LittleEndian.PutUint64(mt[24:], ua)        // uaddr
	replay(t, d,
		mkmsg(reqGetFeatures, 0, nil), mkmsg(reqGetProtocolFeatures, 0, nil),
		mkmsg(reqSetProtocolFeatures, 0, u64(offeredProto)), mkmsg(reqGetQueueNum, 0, nil),
		mkmsg(reqSetOwner, 0, nil), mkmsg(reqGetFeatures, 0, nil),
		mkmsg(reqSetVringCall, 0, u64(0), eventfd(t)), mkmsg(reqSetVringErr, 0, u64(0), eventfd(t)),
		mkmsg(reqSetVringCall, 0, u64(1), eventfd(t)), mkmsg(reqSetVringErr, 0, u64(1), eventfd(t)),
		mkmsg(reqSetVringEnable, 0, le32pair(0, 1)), mkmsg(reqSetVringEnable, 0, le32pair(1, 1)),
		mkmsg(reqSetVringEnable, 0, le32pair(0, 1)), mkmsg(reqSetVringEnable, 0, le32pair(1, 1)),
		mkmsg(reqSetFeatures, 0, u64(feat)), mkmsg(reqGetStatus, 0, nil), mkmsg(reqSetStatus, 0, u64(8)),
		mkmsg(reqSetMemTable, flagNeedReply, mt, dup(t, memfd)),
	)
	for r := uint32(0); r < 2; r++ {
		base := ua + uint64(r)*ringArea
		addr := make([]byte, 40)
		binary.LittleEndian.PutUint32(addr, r)
		binary.LittleEndian.PutUint64(addr[8:], base)
		binary.LittleEndian.PutUint64(addr[16:], base+0x8000)
		binary.LittleEndian.PutUint64(addr[24:], base+16*256)
		replay(t, d, mkmsg(reqSetVringNum, 0, le32pair(r, 256)), mkmsg(reqSetVringBase, 0, le32pair(r, 0)),
			mkmsg(reqSetVringAddr, 0, addr), mkmsg(reqSetVringKick, 0, u64(uint64(r)), eventfd(t)),
			mkmsg(reqSetVringCall, 0, u64(uint64(r)), eventfd(t)))
	}
	replay(t, d, mkmsg(reqGetStatus, 0, nil), mkmsg(reqSetStatus, 0, u64(0xf)))
}

func dup(t *testing.T, fd int) int {
	n, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPowerOffOrders replays both orders QEMU uses at guest power-off
// (7.2: SET_STATUS 0 then GET_VRING_BASE; 10.0 the reverse): each must stop
// the rings, return the ring positions, and allow a clean boot after.
func TestPowerOffOrders(t *testing.T) {
	debug.SetPanicOnFault(true)
	memfd, err := unix.MemfdCreate("vhu-guest", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(memfd)
	if err := unix.Ftruncate(memfd, guestSize); err != nil {
		t.Fatal(err)
	}
	d, err := newDevice("replay", 1, 0, quiet)
	if err != nil {
		t.Fatal(err)
	}
	p := &Port{dev: d, log: quiet}
	defer func() { d.stop(); d.reset(); d.closeEpoll() }()
	d.connected = true
	const ua = 0x7f0000000000
	_, c := newPool(t)

	for _, order := range []string{"qemu-7.2", "qemu-10.0"} {
		bootQEMU72(t, d, memfd, ua)
		if !d.running.Load() || d.ringsReadyCount() != 2 {
			t.Fatalf("%s: rings not running after boot", order)
		}
		// Send one packet from the guest so the TX ring has moved.
		mem := d.mem.r[0].mem
		g := &guest{mem: mem, size: 256}
		g.next[1] = uint16(binary.LittleEndian.Uint32(mem[ringArea+16*256:]) >> 16)
		f := frame(64)
		copy(mem[bufArea+12:], f)
		clear(mem[bufArea : bufArea+12])
		g.desc(1, 0, uint64(bufArea), 76, 0, 0)
		g.offer(1, 0)
		var b datapath.Batch
		if n := p.Rx(0, &b, c); n != 1 {
			t.Fatalf("%s: rx %d packets", order, n)
		}
		c.PutBatch(&b)
		want := d.vqs[1].lastAvail

		var r0, r1 []byte
		if order == "qemu-7.2" {
			replay(t, d, mkmsg(reqSetStatus, 0, u64(0)))
			r0 = replay(t, d, mkmsg(reqGetVringBase, 0, le32pair(0, 0)))
			r1 = replay(t, d, mkmsg(reqGetVringBase, 0, le32pair(1, 0)))
		} else {
			r0 = replay(t, d, mkmsg(reqGetVringBase, 0, le32pair(0, 0)))
			r1 = replay(t, d, mkmsg(reqGetVringBase, 0, le32pair(1, 0)))
			replay(t, d, mkmsg(reqSetStatus, 0, u64(0)))
		}
		replay(t, d, mkmsg(reqSetVringEnable, 0, le32pair(0, 1)), mkmsg(reqSetVringEnable, 0, le32pair(1, 1)))
		if binary.LittleEndian.Uint32(r0) != 0 || binary.LittleEndian.Uint32(r1) != 1 {
			t.Errorf("%s: GET_VRING_BASE replies for the wrong rings: %x %x", order, r0, r1)
		}
		if got := uint16(binary.LittleEndian.Uint32(r1[4:])); got != want {
			t.Errorf("%s: GET_VRING_BASE(1) = %d, want %d", order, got, want)
		}
		if d.running.Load() || d.ringsReadyCount() != 0 {
			t.Errorf("%s: rings still running after power-off", order)
		}
		if n := p.Rx(0, &b, c); n != 0 {
			t.Errorf("%s: rx after power-off", order)
		}
	}
}

func (d *Device) ringsReadyCount() (n int) {
	for i := range d.vqs {
		if d.vqs[i].ready {
			n++
		}
	}
	return n
}

// TestUnknownRequests: unsupported requests are refused with an error (the
// session turns that into an error ack when a reply is wanted).
func TestUnknownRequests(t *testing.T) {
	d, err := newDevice("unknown", 1, 0, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer d.closeEpoll()
	for _, req := range []uint32{reqSetLogBase, reqGetConfig, reqIOTLBMsg, 77, 0} {
		if _, err := d.handle(mkmsg(req, flagNeedReply, nil)); err == nil {
			t.Errorf("%s accepted", reqName(req))
		}
	}
	if _, err := d.handle(mkmsg(reqSetFeatures, 0, u64(1<<40))); err == nil {
		t.Errorf("SET_FEATURES with bits never offered accepted")
	}
	if _, err := d.handle(mkmsg(reqSetVringNum, 0, le32pair(5, 256))); err == nil {
		t.Errorf("vring index out of range accepted")
	}
	if _, err := d.handle(mkmsg(reqSetVringNum, 0, le32pair(0, 100))); err == nil {
		t.Errorf("non-power-of-two ring accepted")
	}
}
