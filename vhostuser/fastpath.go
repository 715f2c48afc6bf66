package vhostuser

import (
	"encoding/binary"

	"vswitch/datapath"
)

// The fast paths below move a burst of single-descriptor packets without
// offloads (what a polling driver such as DPDK's virtio PMD posts) in three
// passes: every avail entry of the burst, then every descriptor, then the
// data. Each pass's loads are independent of one another, so the cache misses
// on lines the other core just wrote overlap instead of queueing one behind
// the next, as they do when each packet walks its own chain. They stop at
// the first packet that needs the general path (chains, indirect tables,
// offloads, anything odd), which then handles it and reports any error.
// Descriptors are read once into locals, as in next.

// burst holds one fast-path burst's ring reads.
type burst struct {
	heads [datapath.BatchSize]uint16
	addrs [datapath.BatchSize]uint64
	lens  [datapath.BatchSize]uint32
	flags [datapath.BatchSize]uint16
}

// load reads up to n avail entries from lastAvail on and their descriptors,
// stopping before an out-of-range head. It returns how many it read.
func (vq *vring) load(f *burst, n int) int {
	avail := vq.avail
	for i := 0; i < n; i++ {
		f.heads[i] = binary.LittleEndian.Uint16(avail[4+2*int((vq.lastAvail+uint16(i))&vq.mask):])
	}
	desc := vq.desc
	for i := 0; i < n; i++ {
		h := int(f.heads[i])
		if h >= int(vq.size) {
			return i
		}
		d := desc[h*descSize : h*descSize+descSize]
		f.addrs[i] = binary.LittleEndian.Uint64(d)
		f.lens[i] = binary.LittleEndian.Uint32(d[8:])
		f.flags[i] = binary.LittleEndian.Uint16(d[12:])
	}
	return n
}

// fastRx moves up to pending packets of the guest's TX ring into b and
// returns how many ring entries it consumed (all of them now in b).
func (vq *vring) fastRx(b *datapath.Batch, c *datapath.Cache, pending uint16, bytes *uint64) uint16 {
	var f burst
	var bufs [datapath.BatchSize][]byte
	n := vq.load(&f, min(int(pending), datapath.BatchSize-b.N))
	hl := vq.hdrLen
	// Map every buffer and read its first header bytes: one independent
	// load per packet, which brings the frames in while the loop runs on.
	for i := 0; i < n; i++ {
		if f.flags[i] != 0 || int(f.lens[i]) < hl+14 {
			n = i
			break
		}
		buf := vq.mem.gpa(f.addrs[i], f.lens[i])
		// Offloads (partial checksum, GSO) take the general path.
		if buf == nil || buf[0]|buf[1] != 0 {
			n = i
			break
		}
		bufs[i] = buf
	}
	done := 0
	for ; done < n; done++ {
		pk := c.Get()
		if pk == nil {
			break
		}
		dst := pk.Frame()[datapath.Headroom:]
		data := bufs[done][hl:]
		if len(data) > len(dst) {
			c.Put(pk)
			break
		}
		k := copy(dst, data)
		pk.SetData(datapath.Headroom, k)
		b.Add(pk)
		*bytes += uint64(k)
		vq.putUsed(f.heads[done], 0)
		vq.lastAvail++
	}
	return uint16(done)
}

// fastTx copies packets of b, from the first on, into the guest's RX ring,
// one buffer each, and returns how many it delivered (room bounds it).
func (vq *vring) fastTx(b *datapath.Batch, room uint16, bytes *uint64) int {
	var f burst
	var bufs [datapath.BatchSize][]byte
	n := vq.load(&f, min(b.N, int(room)))
	hl := vq.hdrLen
	// Map every buffer and write its header first: independent stores
	// whose cache misses overlap. A buffer written here but not used
	// below is still the guest's to refill: nothing was published.
	for i := 0; i < n; i++ {
		need := hl + b.Pkts[i].Len()
		if f.flags[i] != descFWrite || int(f.lens[i]) < need ||
			(vq.maxFrame > 0 && need-hl > vq.maxFrame) {
			n = i
			break
		}
		buf := vq.mem.gpa(f.addrs[i], uint32(need))
		if buf == nil {
			n = i
			break
		}
		// No offloads; num_buffers (bytes 10-11 of a 12-byte header) is 1.
		binary.LittleEndian.PutUint64(buf, 0)
		if hl == 12 {
			binary.LittleEndian.PutUint32(buf[8:], 1<<16)
		} else {
			binary.LittleEndian.PutUint16(buf[8:], 0)
		}
		bufs[i] = buf
	}
	for i := 0; i < n; i++ {
		data := b.Pkts[i].Data()
		copy(bufs[i][hl:], data)
		vq.putUsed(f.heads[i], uint32(hl+len(data)))
		vq.lastAvail++
		*bytes += uint64(len(data))
	}
	return n
}
