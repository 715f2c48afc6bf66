package vhostuser

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/datapath"
	"vswitch/datapath/netdev/vnethdr"
)

// Split-ring flags.
const (
	descFNext         = 1
	descFWrite        = 2
	descFIndirect     = 4
	usedFNoNotify     = 1
	availFNoInterrupt = 1

	descSize = 16
	// maxQueueSize is the largest split ring (virtio 1.x: 32768).
	maxQueueSize = 32768
	// maxIndirect bounds an indirect table (Linux never makes one larger
	// than the ring; DPDK refuses more than its own limit too).
	maxIndirect = 1024
	// maxGSOFrame is the largest guest super-frame accepted (64 KiB of IP
	// plus Ethernet and two VLAN tags).
	maxGSOFrame = 65535 + 14 + 8
	// armAfter is how many empty polls of a guest TX ring pass before the
	// device asks the guest to kick again (so a parking PMD can sleep on the
	// kick fd). Busy rings stay notification-free.
	armAfter = 256
	// brokenAfter consecutive bad chains mark a ring broken.
	brokenAfter = 64
)

// Chain errors: each one drops the packet and counts an error.
var (
	errHead        = errors.New("descriptor head index out of range")
	errNext        = errors.New("descriptor next index out of range")
	errLoop        = errors.New("descriptor chain longer than the queue (loop?)")
	errAddr        = errors.New("descriptor address outside guest memory")
	errIndirect    = errors.New("indirect descriptor not negotiated")
	errNested      = errors.New("indirect descriptor inside an indirect table")
	errIndirectLen = errors.New("indirect table length invalid")
	errDirection   = errors.New("descriptor direction wrong for this queue")
	errTooShort    = errors.New("packet shorter than the virtio-net header")
	errTooLong     = errors.New("packet longer than the largest frame")
	errNoRoom      = errors.New("guest buffer too small for the packet")
	errSmallBuf    = errors.New("guest buffer too small for the virtio-net header")
)

var one = [8]byte{1}

// vring is one split virtqueue. The fields above cfg are the live state a
// PMD uses between Device.enter and exit; the protocol goroutine changes them
// only while the device is stopped (Device.stop).
type vring struct {
	// inUse counts PMDs inside this ring (or using it as their Tx guard
	// slot); it has its own cache line since one PMD bumps it per call.
	inUse atomic.Int32
	_     [60]byte

	// mu serialises Tx on a guest RX ring that two PMDs map to.
	mu sync.Mutex

	ready    bool // polled by PMDs
	broken   bool // set on persistent nonsense or a fault; cleared by reconfiguration
	mem      *memTable
	desc     []byte // 16*size bytes
	avail    []byte // 4 + 2*size + 2 bytes
	used     []byte // 4 + 8*size + 2 bytes
	size     uint16
	mask     uint16
	eventIdx bool
	indirect bool
	mrg      bool
	hdrLen   int
	maxFrame int // largest frame delivered to the guest (0: no limit)

	lastAvail uint16
	usedIdx   uint16
	usedFlags uint16
	callFD    int
	kickFD    int
	armed     bool
	idle      uint32
	badRun    int

	// Guest super-frames are copied here whole, then segmented into pool
	// packets, possibly across several Rx calls.
	seg       vnethdr.Segmenter
	segActive bool
	scratch   []byte

	cnt   *counters
	dev   *Device
	idx   int
	fence atomic.Uint32

	cfg vringConfig
}

// vringConfig is what the front end set up, kept by the protocol goroutine.
type vringConfig struct {
	num     uint32
	addr    vringAddr
	addrSet bool
	base    uint16
	enabled bool
	started bool // kick fd received, no GET_VRING_BASE since
	kickFD  int
	callFD  int
	errFD   int
}

// counters are a ring's share of the port counters.
type counters struct {
	datapath.Counters
	_ [64]byte
}

// bump adds n to a counter that only the caller writes: a guest TX ring's
// are written by the one PMD polling it, a guest RX ring's under vq.mu.
// Readers load atomically; a plain store spares a locked add per burst.
func bump(c *atomic.Uint64, n uint64) { c.Store(c.Load() + n) }

// chain walks one descriptor chain, direct or through one indirect table.
type chain struct {
	table    []byte
	n        uint32
	idx      uint32
	left     uint32
	more     bool
	indirect bool
	first    bool
}

// start begins the chain at head.
func (vq *vring) start(c *chain, head uint16) error {
	if head >= vq.size {
		return errHead
	}
	*c = chain{table: vq.desc, n: uint32(vq.size), idx: uint32(head), left: uint32(vq.size), more: true, first: true}
	return nil
}

// next returns the next buffer of the chain (nil, nil at its end). Each
// descriptor is read once into locals, so a guest rewriting it meanwhile
// cannot make a checked value differ from a used one.
func (vq *vring) next(c *chain, write bool) ([]byte, error) {
	for c.more {
		if c.left == 0 {
			return nil, errLoop
		}
		c.left--
		d := c.table[c.idx*descSize : c.idx*descSize+descSize]
		addr := binary.LittleEndian.Uint64(d)
		n := binary.LittleEndian.Uint32(d[8:])
		flags := binary.LittleEndian.Uint16(d[12:])
		nxt := binary.LittleEndian.Uint16(d[14:])
		if flags&descFIndirect != 0 {
			switch {
			case c.indirect:
				return nil, errNested
			case !vq.indirect:
				return nil, errIndirect
			case !c.first || flags&descFNext != 0 || n == 0 || n%descSize != 0 || n/descSize > maxIndirect:
				return nil, errIndirectLen
			}
			t := vq.mem.gpa(addr, n)
			if t == nil {
				return nil, errAddr
			}
			*c = chain{table: t, n: n / descSize, left: n / descSize, more: true, indirect: true}
			continue
		}
		c.first = false
		if (flags&descFWrite != 0) != write {
			return nil, errDirection
		}
		b := vq.mem.gpa(addr, n)
		if b == nil {
			return nil, errAddr
		}
		if flags&descFNext != 0 {
			if uint32(nxt) >= c.n {
				return nil, errNext
			}
			c.idx = uint32(nxt)
		} else {
			c.more = false
		}
		return b, nil
	}
	return nil, nil
}

// availIdx reads the avail ring's {flags, idx} word atomically (the driver
// owns both 16-bit fields; Go has no 16-bit atomics).
func (vq *vring) availWord() uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&vq.avail[0])))
}

// publish makes the used ring's {flags, idx} visible to the driver. The
// store is a full barrier on amd64, ordering the used entries before it.
func (vq *vring) publish() {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&vq.used[0])), uint32(vq.usedFlags)|uint32(vq.usedIdx)<<16)
}

// putUsed writes a used element at the current used index and advances it.
func (vq *vring) putUsed(head uint16, n uint32) {
	e := vq.used[4+8*int(vq.usedIdx&vq.mask):]
	binary.LittleEndian.PutUint32(e, uint32(head))
	binary.LittleEndian.PutUint32(e[4:], n)
	vq.usedIdx++
}

// setUsedLen rewrites the length of the used element at index i.
func (vq *vring) setUsedLen(i uint16, n uint32) {
	binary.LittleEndian.PutUint32(vq.used[4+8*int(i&vq.mask)+4:], n)
}

// notify signals the call fd after the used index moved from old, if the
// driver asked for it (used_event with EVENT_IDX, else avail flags).
func (vq *vring) notify(old uint16) {
	if vq.callFD < 0 || old == vq.usedIdx {
		return
	}
	if vq.eventIdx {
		ev := binary.LittleEndian.Uint16(vq.avail[4+2*int(vq.size):])
		if vq.usedIdx-ev-1 >= vq.usedIdx-old {
			return
		}
	} else if uint16(vq.availWord())&availFNoInterrupt != 0 {
		return
	}
	unix.Write(vq.callFD, one[:])
}

// arm asks the driver to kick when it adds buffers and drains the kick fd,
// so a parked PMD sleeps until then. It returns true if buffers arrived in
// the meantime (the caller polls again instead of parking).
func (vq *vring) arm() bool {
	if vq.eventIdx {
		binary.LittleEndian.PutUint16(vq.used[4+8*int(vq.size):], vq.lastAvail)
	} else {
		vq.usedFlags &^= usedFNoNotify
		vq.publish()
	}
	vq.fence.Add(1) // full fence: avail_event store before the idx re-check
	vq.armed = true
	if vq.kickFD >= 0 {
		var b [8]byte
		unix.Read(vq.kickFD, b[:])
	}
	return uint16(vq.availWord()>>16) != vq.lastAvail
}

// disarm stops kicks while the PMD is polling anyway. With EVENT_IDX the
// stale avail_event already suppresses them.
func (vq *vring) disarm() {
	vq.armed = false
	vq.idle = 0
	if !vq.eventIdx {
		vq.usedFlags |= usedFNoNotify
	}
}

// bad counts a dropped chain; persistent nonsense breaks the ring.
func (vq *vring) bad(err error, rx bool) {
	if rx {
		vq.cnt.RxErrors.Add(1)
	} else {
		vq.cnt.TxErrors.Add(1)
	}
	vq.badRun++
	if vq.badRun >= brokenAfter {
		vq.fail(err)
	}
}

// fail marks the ring broken: the PMDs skip it until the front end sets it
// up again. Logged once per break.
func (vq *vring) fail(err error) {
	if !vq.broken {
		vq.broken = true
		vq.dev.log.Error("vhost-user: guest ring broken, ignoring it until it is set up again",
			"vring", vq.idx, "err", err)
	}
}

// rxBurst moves packets from the guest's TX ring into b. Returns how many.
func (vq *vring) rxBurst(b *datapath.Batch, c *datapath.Cache) int {
	start := b.N
	if vq.segActive {
		vq.drainSegments(b, c)
		if b.Full() {
			return b.N - start
		}
	}
	availIdx := uint16(vq.availWord() >> 16)
	pending := availIdx - vq.lastAvail
	if pending == 0 {
		if !vq.armed {
			vq.idle++
			if vq.idle >= armAfter {
				vq.arm()
			}
		}
		return b.N - start
	}
	if pending > vq.size {
		vq.cnt.RxErrors.Add(1)
		vq.fail(errors.New("avail index jumped by more than the queue size"))
		return b.N - start
	}
	if vq.armed {
		vq.disarm()
	}
	oldUsed := vq.usedIdx
	var bytes, dropped uint64
	if k := vq.fastRx(b, c, pending, &bytes); k > 0 {
		pending -= k
		vq.badRun = 0
	}
	for pending > 0 && !b.Full() && !vq.segActive {
		head := binary.LittleEndian.Uint16(vq.avail[4+2*int(vq.lastAvail&vq.mask):])
		if head >= vq.size {
			vq.cnt.RxErrors.Add(1)
			vq.fail(errHead)
			break
		}
		pk := c.Get()
		if pk == nil {
			break // pool exhausted: leave the rest in the ring
		}
		n, gso, err := vq.readChain(head, pk)
		vq.putUsed(head, 0)
		vq.lastAvail++
		pending--
		switch {
		case err == errTooLong:
			c.Put(pk)
			dropped++
			vq.cnt.RxTruncated.Add(1)
		case err != nil:
			c.Put(pk)
			vq.bad(err, true)
		case gso:
			c.Put(pk)
			vq.badRun = 0
			vq.drainSegments(b, c)
		default:
			vq.badRun = 0
			b.Add(pk)
			bytes += uint64(n)
		}
	}
	if vq.usedIdx != oldUsed {
		vq.publish()
		vq.notify(oldUsed)
	}
	got := b.N - start
	bump(&vq.cnt.RxPackets, uint64(got))
	bump(&vq.cnt.RxBytes, bytes)
	if dropped != 0 {
		vq.cnt.RxDropped.Add(dropped)
	}
	return got
}

// readChain copies the packet of chain head into pk (stripping the
// virtio-net header, completing a partial checksum), or, for a GSO
// super-frame, into vq.scratch and starts the segmenter (gso true).
func (vq *vring) readChain(head uint16, pk *datapath.Packet) (n int, gso bool, err error) {
	var c chain
	if err := vq.start(&c, head); err != nil {
		return 0, false, err
	}
	var hb [12]byte
	hfill := 0
	frame := pk.Frame()
	dst := frame[datapath.Headroom:]
	total := 0
	var h vnethdr.Hdr
	for {
		buf, err := vq.next(&c, false)
		if err != nil {
			return 0, false, err
		}
		if buf == nil {
			break
		}
		if hfill < vq.hdrLen {
			k := copy(hb[hfill:vq.hdrLen], buf)
			hfill += k
			buf = buf[k:]
			if hfill == vq.hdrLen {
				h = vnethdr.Decode(hb[:])
				if h.IsGSO() {
					if vq.scratch == nil {
						return 0, false, errTooLong
					}
					gso = true
					dst = vq.scratch
				}
			}
		}
		if total+len(buf) > len(dst) {
			return 0, false, errTooLong
		}
		total += copy(dst[total:], buf)
	}
	if hfill < vq.hdrLen || total < 14 {
		return 0, false, errTooShort
	}
	if gso {
		if err := vq.seg.Start(vq.scratch[:total], h); err != nil {
			return 0, false, err
		}
		vq.segActive = true
		return total, true, nil
	}
	pk.SetData(datapath.Headroom, total)
	if h.NeedsCsum() {
		if err := vnethdr.Complete(pk.Data(), h); err != nil {
			return 0, false, err
		}
	}
	return total, false, nil
}

// drainSegments moves pending GSO segments into b.
func (vq *vring) drainSegments(b *datapath.Batch, c *datapath.Cache) {
	var bytes uint64
	for vq.seg.Active() && !b.Full() {
		pk := c.Get()
		if pk == nil {
			break
		}
		n, err := vq.seg.Next(pk.Frame()[datapath.Headroom:])
		if err != nil {
			c.Put(pk)
			vq.cnt.RxDropped.Add(uint64(vq.seg.Segments()))
			vq.seg.Abort()
			break
		}
		pk.SetData(datapath.Headroom, n)
		b.Add(pk)
		bytes += uint64(n)
	}
	bump(&vq.cnt.RxBytes, bytes)
	if !vq.seg.Active() {
		vq.segActive = false
	}
}

// txBurst copies the packets of b into the guest's RX ring. The caller frees
// the batch.
func (vq *vring) txBurst(b *datapath.Batch) {
	availIdx := uint16(vq.availWord() >> 16)
	room := availIdx - vq.lastAvail
	if room > vq.size {
		vq.cnt.TxErrors.Add(uint64(b.N))
		vq.fail(errors.New("avail index jumped by more than the queue size"))
		return
	}
	oldUsed := vq.usedIdx
	var sent, bytes, dropped, errs uint64
	i0 := vq.fastTx(b, room, &bytes)
	if i0 > 0 {
		room -= uint16(i0)
		sent = uint64(i0)
		vq.badRun = 0
	}
	for i := i0; i < b.N; i++ {
		pk := b.Pkts[i]
		if vq.maxFrame > 0 && pk.Len() > vq.maxFrame {
			dropped++
			continue
		}
		if room == 0 {
			// Re-read once: the guest may have refilled meanwhile.
			availIdx = uint16(vq.availWord() >> 16)
			room = availIdx - vq.lastAvail
			if room == 0 || room > vq.size {
				dropped += uint64(b.N - i)
				break
			}
		}
		used, err := vq.putPacket(pk.Data(), room)
		room -= used
		switch {
		case err == nil:
			vq.badRun = 0
			sent++
			bytes += uint64(pk.Len())
		case err == errNoRoom && used == 0:
			dropped++
			if vq.mrg {
				// The ring ran dry in the middle of this packet: the
				// rest will not fit either.
				dropped += uint64(b.N - i - 1)
				i = b.N
			}
		case err == errHead:
			errs++
			vq.fail(err)
			i = b.N
		default:
			errs++
			vq.badRun++
			if vq.badRun >= brokenAfter {
				vq.fail(err)
				i = b.N
			}
		}
	}
	if vq.usedIdx != oldUsed {
		vq.publish()
		vq.notify(oldUsed)
	}
	bump(&vq.cnt.TxPackets, sent)
	bump(&vq.cnt.TxBytes, bytes)
	if dropped != 0 {
		vq.cnt.TxDropped.Add(dropped)
	}
	if errs != 0 {
		vq.cnt.TxErrors.Add(errs)
	}
}

// putPacket writes one frame (after a virtio-net header) into as many guest
// buffers as it takes (one without MRG_RXBUF) and returns how many avail
// entries it consumed. On errNoRoom nothing is consumed; on a malformed
// chain the heads taken are returned to the guest with length 0 (which the
// guest drops as runts).
func (vq *vring) putPacket(data []byte, room uint16) (uint16, error) {
	var hdr [12]byte
	hlen := vq.hdrLen
	if hlen == 12 {
		hdr[10] = 1 // num_buffers, fixed up below for merged buffers
	}
	hoff, doff := 0, 0
	startUsed, startAvail := vq.usedIdx, vq.lastAvail
	var numBuf []byte // where num_buffers lives in the first buffer
	heads := uint16(0)
	for hoff < hlen || doff < len(data) {
		if heads == room || (heads == 1 && !vq.mrg) {
			vq.usedIdx, vq.lastAvail = startUsed, startAvail
			return 0, errNoRoom
		}
		head := binary.LittleEndian.Uint16(vq.avail[4+2*int(vq.lastAvail&vq.mask):])
		var c chain
		if err := vq.start(&c, head); err != nil {
			vq.usedIdx, vq.lastAvail = startUsed, startAvail
			return 0, err
		}
		written := uint32(0)
		var err error
		for {
			var buf []byte
			buf, err = vq.next(&c, true)
			if err != nil || buf == nil {
				break
			}
			if hoff < hlen {
				if heads == 0 && hoff == 0 && len(buf) >= hlen {
					numBuf = buf[10:12:12]
				}
				k := copy(buf, hdr[hoff:hlen])
				hoff += k
				written += uint32(k)
				buf = buf[k:]
			}
			k := copy(buf, data[doff:])
			doff += k
			written += uint32(k)
			if hoff == hlen && doff == len(data) {
				break
			}
		}
		vq.putUsed(head, written)
		vq.lastAvail++
		heads++
		if err != nil {
			// Hand back every head of this packet empty.
			for i := startUsed; i != vq.usedIdx; i++ {
				vq.setUsedLen(i, 0)
			}
			return heads, err
		}
		if vq.mrg && heads == 1 && numBuf == nil && hlen == 12 {
			// The first buffer cannot hold the header: num_buffers would
			// have nowhere to go.
			vq.setUsedLen(startUsed, 0)
			return heads, errSmallBuf
		}
	}
	if vq.mrg && hlen == 12 {
		binary.LittleEndian.PutUint16(numBuf, heads)
	}
	return heads, nil
}
