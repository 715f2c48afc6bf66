package vhostuser

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// region is one mapped piece of front-end memory. mem covers exactly
// [gpa, gpa+size) (and, seen from the front end, [uaddr, uaddr+size)).
type region struct {
	gpa, uaddr, size uint64
	mem              []byte
	mapping          []byte // the whole mmap, for munmap; nil for test memory
	huge             bool   // backed by huge pages (hugetlbfs)
}

// memTable translates guest-physical and front-end-virtual addresses into
// mapped bytes. Every lookup checks that the whole range lies inside one
// region, so a descriptor can never reach outside the front end's memory.
type memTable struct {
	n int
	r [maxRegions]region
}

// gpa returns the n bytes at guest-physical address addr, or nil when they
// are not wholly inside one region (or overflow).
func (m *memTable) gpa(addr uint64, n uint32) []byte {
	for i := 0; i < m.n; i++ {
		r := &m.r[i]
		off := addr - r.gpa
		if addr >= r.gpa && off < r.size && uint64(n) <= r.size-off {
			return r.mem[off : off+uint64(n) : off+uint64(n)]
		}
	}
	return nil
}

// uva is gpa for front-end virtual addresses (the ring addresses of
// SET_VRING_ADDR).
func (m *memTable) uva(addr uint64, n uint64) []byte {
	for i := 0; i < m.n; i++ {
		r := &m.r[i]
		off := addr - r.uaddr
		if addr >= r.uaddr && off < r.size && n <= r.size-off {
			return r.mem[off : off+n : off+n]
		}
	}
	return nil
}

// mapRegions maps every region from its fd. On error nothing stays mapped.
// The fds are not closed (the caller closes them: a mapping outlives its fd).
func mapRegions(rs []memRegion, fds []int) (memTable, error) {
	var m memTable
	if len(fds) != len(rs) {
		return m, fmt.Errorf("%d memory regions but %d fds", len(rs), len(fds))
	}
	for i, r := range rs {
		var st unix.Stat_t
		if err := unix.Fstat(fds[i], &st); err != nil {
			m.unmap()
			return memTable{}, fmt.Errorf("region %d: fstat: %w", i, err)
		}
		need := r.offset + r.size
		// hugetlbfs mappings must be a whole number of pages; st_blksize is
		// the huge page size there (4 KiB for memfd/tmpfs).
		blk := uint64(st.Blksize)
		if blk == 0 || blk&(blk-1) != 0 {
			blk = 4096
		}
		length := (need + blk - 1) &^ (blk - 1)
		if st.Mode&unix.S_IFMT == unix.S_IFREG && uint64(st.Size) < need {
			m.unmap()
			return memTable{}, fmt.Errorf("region %d: file is %d bytes, region needs %d", i, st.Size, need)
		}
		if length > 1<<46 {
			m.unmap()
			return memTable{}, fmt.Errorf("region %d: %d bytes is too large", i, length)
		}
		b, err := unix.Mmap(fds[i], 0, int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			m.unmap()
			return memTable{}, fmt.Errorf("region %d: mmap %d bytes: %w", i, length, err)
		}
		m.r[m.n] = region{gpa: r.gpa, uaddr: r.uaddr, size: r.size, mem: b[r.offset : r.offset+r.size], mapping: b, huge: blk > 4096}
		m.n++
	}
	return m, nil
}

// unmap releases every mapping. Only call it when no PMD can be inside the
// rings (see Device.stop).
func (m *memTable) unmap() {
	for i := 0; i < m.n; i++ {
		if m.r[i].mapping != nil {
			unix.Munmap(m.r[i].mapping)
		}
		m.r[i] = region{}
	}
	m.n = 0
}
