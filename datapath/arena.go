package datapath

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Arena is one preallocated, bounded region cut into FrameSize frames. It is
// mmap'd outside the Go heap, page aligned, so it can later be registered as
// an AF_XDP UMEM or a DPDK external memory region.
type Arena struct {
	mem  []byte
	huge bool
}

// NewArena maps size bytes (rounded down to whole frames). It tries
// MAP_HUGETLB first and falls back to ordinary pages with MADV_HUGEPAGE.
func NewArena(size int) (*Arena, error) {
	size -= size % FrameSize
	if size < FrameSize*64 {
		return nil, fmt.Errorf("arena: %d bytes is too small (need at least %d)", size, FrameSize*64)
	}
	const prot = unix.PROT_READ | unix.PROT_WRITE
	const flags = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_POPULATE
	const hugeSize = 2 << 20
	if size%hugeSize == 0 {
		if mem, err := unix.Mmap(-1, 0, size, prot, flags|unix.MAP_HUGETLB); err == nil {
			return &Arena{mem: mem, huge: true}, nil
		}
	}
	mem, err := unix.Mmap(-1, 0, size, prot, flags)
	if err != nil {
		return nil, fmt.Errorf("arena: mmap %d bytes: %w", size, err)
	}
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	return &Arena{mem: mem}, nil
}

// Huge reports whether the arena is backed by hugetlb pages.
func (a *Arena) Huge() bool { return a.huge }

// Size returns the arena size in bytes.
func (a *Arena) Size() int { return len(a.mem) }

// Frames returns the number of frames in the arena.
func (a *Arena) Frames() int { return len(a.mem) / FrameSize }

// Mem returns the whole arena (for UMEM registration).
func (a *Arena) Mem() []byte { return a.mem }

// Frame returns frame i.
func (a *Arena) Frame(i int) []byte {
	return a.mem[i*FrameSize : (i+1)*FrameSize : (i+1)*FrameSize]
}

// Close unmaps the arena. No packet of it may be used afterwards.
func (a *Arena) Close() error {
	if a.mem == nil {
		return nil
	}
	err := unix.Munmap(a.mem)
	a.mem = nil
	return err
}
