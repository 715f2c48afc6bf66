package vhostuser

import (
	"encoding/binary"
	"runtime/debug"
	"testing"

	"vswitch/datapath"
)

func appendMsg(b []byte, req uint32, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, req)
	b = binary.LittleEndian.AppendUint32(b, flagVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// FuzzMessage decodes a stream of messages and applies them to a device
// over synthetic guest memory (no fds, so no new mem table can be mapped;
// ring addresses and sizes are whatever the input says), polling the rings
// after each message. Nothing may panic or touch memory outside the region.
func FuzzMessage(f *testing.F) {
	var seed []byte
	seed = appendMsg(seed, reqSetFeatures, u64(allFeatures))
	seed = appendMsg(seed, reqSetVringNum, le32pair(1, 256))
	seed = appendMsg(seed, reqSetVringBase, le32pair(1, 0))
	addr := make([]byte, 40)
	binary.LittleEndian.PutUint32(addr, 1)
	binary.LittleEndian.PutUint64(addr[8:], guestGPA+ringArea)
	binary.LittleEndian.PutUint64(addr[16:], guestGPA+ringArea+0x8000)
	binary.LittleEndian.PutUint64(addr[24:], guestGPA+ringArea+16*256)
	seed = appendMsg(seed, reqSetVringAddr, addr)
	seed = appendMsg(seed, reqSetVringKick, u64(1|vringNoFD))
	seed = appendMsg(seed, reqSetVringEnable, le32pair(1, 1))
	f.Add(seed)
	f.Add(appendMsg(appendMsg(nil, reqSetStatus, u64(0)), reqGetVringBase, le32pair(1, 0)))
	f.Add(appendMsg(nil, reqSetMemTable, make([]byte, 40)))
	f.Add(appendMsg(nil, reqGetVringBase, []byte{9}))
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		debug.SetPanicOnFault(true)
		g := newGuest(t, 256, allFeatures)
		_, c := newPool(t)
		m := new(msg)
		for len(data) >= hdrSize {
			req, flags, size, err := decodeHeader(data)
			if err != nil {
				return
			}
			data = data[hdrSize:]
			if int(size) > len(data) {
				return
			}
			m.req, m.flags, m.size = req, flags, size
			copy(m.payload[:], data[:size])
			data = data[size:]
			g.dev.handle(m)
			var b datapath.Batch
			for i := range g.dev.vqs {
				vq := &g.dev.vqs[i]
				if !g.dev.running.Load() || !vq.ready || vq.broken {
					continue
				}
				if i%2 == 1 {
					vq.rxBurst(&b, c)
					c.PutBatch(&b)
				} else {
					fill(t, c, &b, frame(100))
					vq.txBurst(&b)
					c.PutBatch(&b)
				}
			}
		}
	})
}

// FuzzChain fills the guest TX and RX rings' descriptor tables and avail
// rings with the input and runs both paths over memory fenced by guard
// pages.
func FuzzChain(f *testing.F) {
	// Seeds: a good single descriptor, a loop, an indirect table.
	good := make([]byte, 0, 64)
	good = binary.LittleEndian.AppendUint64(good, guestGPA+bufArea)
	good = binary.LittleEndian.AppendUint32(good, 76)
	good = binary.LittleEndian.AppendUint16(good, 0)
	good = binary.LittleEndian.AppendUint16(good, 0)
	f.Add(good, uint16(1), []byte{0, 0})
	loop := binary.LittleEndian.AppendUint64(nil, guestGPA+bufArea)
	loop = binary.LittleEndian.AppendUint32(loop, 1)
	loop = binary.LittleEndian.AppendUint16(loop, descFNext)
	loop = binary.LittleEndian.AppendUint16(loop, 0)
	f.Add(loop, uint16(1), []byte{0, 0})
	ind := binary.LittleEndian.AppendUint64(nil, guestGPA+bufArea)
	ind = binary.LittleEndian.AppendUint32(ind, 32)
	ind = binary.LittleEndian.AppendUint16(ind, descFIndirect)
	ind = binary.LittleEndian.AppendUint16(ind, 0)
	f.Add(ind, uint16(3), []byte{0, 0, 0, 0, 0, 0})
	f.Add(good, uint16(40000), []byte{255, 255})
	f.Fuzz(func(t *testing.T, descs []byte, availIdx uint16, ring []byte) {
		debug.SetPanicOnFault(true)
		g := newGuest(t, 16, allFeatures)
		pool, c := newPool(t)
		for r := 0; r < 2; r++ {
			copy(g.mem[g.ringBase(r):g.ringBase(r)+16*16], descs)
			av := g.mem[g.ringBase(r)+16*16:]
			copy(av[4:4+2*16], ring)
			binary.LittleEndian.PutUint16(av[2:], availIdx)
		}
		// Buffers hold something header-like; the indirect seed's table too.
		copy(g.mem[bufArea:], descs)
		var b datapath.Batch
		for i := 0; i < 3; i++ {
			g.dev.vqs[1].rxBurst(&b, c)
			if b.N > datapath.BatchSize {
				t.Fatal("batch overflow")
			}
			c.PutBatch(&b)
		}
		fill(t, c, &b, frame(100), frame(1500), frame(60))
		g.port.Tx(0, &b, c)
		if b.N != 0 {
			t.Fatal("Tx left packets in the batch")
		}
		g.dev.vqs[1].seg.Abort()
		c.Flush()
		if pool.Available() != pool.Size() {
			t.Fatalf("packets leaked: %d of %d free", pool.Available(), pool.Size())
		}
	})
}
