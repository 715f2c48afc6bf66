package vhostuser

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"golang.org/x/sys/unix"

	"vswitch/datapath"
)

// Synthetic guest memory: one region of guestSize bytes at guest-physical
// (and front-end-virtual) address guestGPA, with PROT_NONE guard pages on
// both sides, so any access outside the region faults instead of silently
// reading a neighbour.
const (
	guestGPA  = 0x100000
	guestSize = 1 << 20
	pageSize  = 4096

	// Layout inside the region, per ring r (0 = guest RX, 1 = guest TX).
	ringArea = 0x10000 // each ring's desc/avail/used within its own 64 KiB
	bufArea  = 0x40000 // packet buffers from here
)

type guest struct {
	tb   testing.TB
	raw  []byte // the whole reservation, guards included
	mem  []byte // the region
	dev  *Device
	port *Port
	size uint16
	next [2]uint16 // next avail idx per ring
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newGuest builds a connected device with 1 queue pair over synthetic
// memory, both rings set up and enabled, with the given features.
func newGuest(tb testing.TB, size uint16, features uint64) *guest {
	tb.Helper()
	raw, err := unix.Mmap(-1, 0, guestSize+2*pageSize, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		tb.Fatal(err)
	}
	if err := unix.Mprotect(raw[pageSize:pageSize+guestSize], unix.PROT_READ|unix.PROT_WRITE); err != nil {
		tb.Fatal(err)
	}
	d, err := newDevice("guest", 1, 0, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	g := &guest{tb: tb, raw: raw, mem: raw[pageSize : pageSize+guestSize], dev: d, size: size}
	g.port = &Port{dev: d, log: quiet}
	d.mem.r[0] = region{gpa: guestGPA, uaddr: guestGPA, size: guestSize, mem: g.mem}
	d.mem.n = 1
	d.connected = true
	d.features = features
	for r := 0; r < 2; r++ {
		c := &d.vqs[r].cfg
		c.num = uint32(size)
		base := uint64(guestGPA + r*ringArea)
		c.addr = vringAddr{index: uint32(r), desc: base, avail: base + 16*uint64(size), used: base + 0x8000}
		c.addrSet, c.started, c.enabled = true, true, true
	}
	d.activate()
	tb.Cleanup(func() {
		d.stop()
		d.closeEpoll()
		unix.Munmap(raw)
	})
	return g
}

func (g *guest) ringBase(r int) int { return r * ringArea }

// desc writes descriptor i of ring r's table.
func (g *guest) desc(r int, i uint16, addr uint64, n uint32, flags, next uint16) {
	d := g.mem[g.ringBase(r)+16*int(i):]
	binary.LittleEndian.PutUint64(d, addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
}

// rawDesc writes a descriptor at an arbitrary guest offset (indirect tables).
func (g *guest) rawDesc(off int, addr uint64, n uint32, flags, next uint16) {
	d := g.mem[off:]
	binary.LittleEndian.PutUint64(d, addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
}

// offer puts head on ring r's avail ring and publishes it.
func (g *guest) offer(r int, head uint16) {
	av := g.mem[g.ringBase(r)+16*int(g.size):]
	binary.LittleEndian.PutUint16(av[4+2*int(g.next[r]%g.size):], head)
	g.next[r]++
	binary.LittleEndian.PutUint16(av[2:], g.next[r])
}

// setAvailIdx publishes an arbitrary avail index.
func (g *guest) setAvailIdx(r int, idx uint16) {
	binary.LittleEndian.PutUint16(g.mem[g.ringBase(r)+16*int(g.size)+2:], idx)
}

func (g *guest) usedIdx(r int) uint16 {
	return binary.LittleEndian.Uint16(g.mem[g.ringBase(r)+0x8000+2:])
}

func (g *guest) usedElem(r int, i uint16) (id, n uint32) {
	e := g.mem[g.ringBase(r)+0x8000+4+8*int(i%g.size):]
	return binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:])
}

// buf returns the guest address and bytes of buffer k (2 KiB each).
func (g *guest) buf(k int) (uint64, []byte) {
	off := bufArea + 2048*k
	return guestGPA + uint64(off), g.mem[off : off+2048]
}

// pool makes a small packet pool and cache.
func newPool(tb testing.TB) (*datapath.Pool, *datapath.Cache) {
	a, err := datapath.NewArena(4 << 20)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	p := datapath.NewPool(a)
	return p, p.NewCache()
}

// frame builds an Ethernet/IPv4/UDP frame of n bytes.
func frame(n int) []byte {
	f := make([]byte, n)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0})
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(n-14))
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 1000)
	binary.BigEndian.PutUint16(udp[2:], 2000)
	binary.BigEndian.PutUint16(udp[4:], uint16(n-34))
	for i := 42; i < n; i++ {
		f[i] = byte(i)
	}
	return f
}
