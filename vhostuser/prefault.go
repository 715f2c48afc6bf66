package vhostuser

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The front end's memory is mapped lazily: each 4 KiB page a PMD first
// touches costs a page fault, and with small pages (a memfd, DPDK's
// --no-huge) a driver cycling through thousands of buffers keeps the PMD
// faulting for seconds, at several microseconds a fault. So after a memory
// table is mapped, a background goroutine asks the kernel to fill in the
// page tables (MADV_POPULATE_WRITE) for the pages the front end has already
// touched (mincore), and only those: pages it never touched stay
// unallocated, so a guest's memory is not made resident behind its back.
// Huge-page mappings fault a few hundred times at most and are left alone.

// prefaultChunk bounds one mincore call (and the time to notice a stop).
const prefaultChunk = 64 << 20

type prefaulter struct {
	stop atomic.Bool
	done chan struct{}
	// pages counts the pages populated (for tests and logs).
	pages atomic.Uint64
}

// startPrefault starts populating the small-page regions of m.
func startPrefault(m *memTable) *prefaulter {
	var maps [][]byte
	for i := 0; i < m.n; i++ {
		if m.r[i].mapping != nil && !m.r[i].huge {
			maps = append(maps, m.r[i].mapping)
		}
	}
	pf := &prefaulter{done: make(chan struct{})}
	if len(maps) == 0 {
		close(pf.done)
		return pf
	}
	go func() {
		defer close(pf.done)
		vec := make([]byte, prefaultChunk/4096)
		for _, b := range maps {
			for off := 0; off < len(b) && !pf.stop.Load(); off += prefaultChunk {
				pf.populate(b[off:min(off+prefaultChunk, len(b))], vec)
			}
		}
	}()
	return pf
}

// populate fills in the page tables for the resident pages of b.
func (pf *prefaulter) populate(b, vec []byte) {
	n := (len(b) + 4095) / 4096
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return
	}
	for i := 0; i < n; {
		if vec[i]&1 == 0 {
			i++
			continue
		}
		j := i
		for j < n && vec[j]&1 != 0 {
			j++
		}
		if unix.Madvise(b[i*4096:min(j*4096, len(b))], unix.MADV_POPULATE_WRITE) != nil {
			return // an old kernel (before 5.14), or the region went away
		}
		pf.pages.Add(uint64(j - i))
		i = j
	}
}

// wait stops the prefaulter and returns once it no longer touches the
// mappings (call it before unmapping them).
func (pf *prefaulter) wait() {
	if pf == nil {
		return
	}
	pf.stop.Store(true)
	<-pf.done
}
