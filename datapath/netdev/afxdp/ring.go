package afxdp

import (
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is one of a socket's four mmapped single-producer/single-consumer
// rings. The kernel and this process share the producer and consumer
// indices; each side keeps a private copy of its own index and a cached
// copy of the other side's, so the shared words are touched once per batch.
// Indices run freely and are masked on use.
type ring struct {
	mem   []byte
	prod  *uint32 // shared producer index (in mem)
	cons  *uint32 // shared consumer index (in mem)
	flags *uint32 // XDP_RING_NEED_WAKEUP lives here
	mask  uint32
	size  uint32

	// For a ring this process produces into (fill, tx): local is our
	// producer index, cached the last consumer index read.
	// For a ring this process consumes (rx, completion): local is our
	// consumer index, cached the last producer index read.
	local, cached uint32

	addrs []uint64       // fill and completion rings
	descs []unix.XDPDesc // rx and tx rings
}

// mapRing mmaps a ring of size entries of entrySize bytes at pgoff.
// consumer says whether this process consumes the ring (rx, completion).
func mapRing(fd int, off *unix.XDPRingOffset, size uint32, entrySize uintptr, pgoff int64, consumer bool) (ring, error) {
	length := int(off.Desc) + int(size)*int(entrySize)
	mem, err := unix.Mmap(fd, pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return ring{}, err
	}
	r := ring{
		mem:   mem,
		prod:  (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		cons:  (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags: (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		mask:  size - 1,
		size:  size,
	}
	if entrySize == 8 {
		r.addrs = unsafe.Slice((*uint64)(unsafe.Pointer(&mem[off.Desc])), size)
	} else {
		r.descs = unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&mem[off.Desc])), size)
	}
	if consumer {
		r.local = atomic.LoadUint32(r.cons)
		r.cached = atomic.LoadUint32(r.prod)
	} else {
		r.local = atomic.LoadUint32(r.prod)
		r.cached = atomic.LoadUint32(r.cons)
	}
	return r, nil
}

func (r *ring) unmap() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	*r = ring{}
	return err
}

// free returns how many entries a producer may add, up to want; it reads
// the shared consumer index only when the cached one shows too little room.
func (r *ring) free(want uint32) uint32 {
	n := r.size - (r.local - r.cached)
	if n >= want {
		return want
	}
	r.cached = atomic.LoadUint32(r.cons)
	n = r.size - (r.local - r.cached)
	return min(n, want)
}

// submit publishes n produced entries to the kernel. The atomic store
// orders the entry writes before the index (release).
func (r *ring) submit(n uint32) {
	r.local += n
	atomic.StoreUint32(r.prod, r.local)
}

// pending reports whether entries this process produced are still
// unconsumed by the kernel.
func (r *ring) pending() bool { return atomic.LoadUint32(r.cons) != r.local }

// avail returns how many entries a consumer may take, up to want.
func (r *ring) avail(want uint32) uint32 {
	n := r.cached - r.local
	if n == 0 {
		// The atomic load orders the entry reads after it (acquire).
		r.cached = atomic.LoadUint32(r.prod)
		n = r.cached - r.local
	}
	return min(n, want)
}

// release hands n consumed entries back to the kernel.
func (r *ring) release(n uint32) {
	r.local += n
	atomic.StoreUint32(r.cons, r.local)
}

// needWakeup reports whether the kernel asked to be kicked (sendto for tx,
// recvfrom/poll for fill) before it processes this ring.
func (r *ring) needWakeup() bool { return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0 }

// bitmap marks which arena frames a socket holds: frames on its fill ring
// or in the kernel, and frames on its tx ring or in flight. Close returns
// exactly those to the pool, since the kernel never reports them back once
// the socket is gone.
type bitmap []uint64

func newBitmap(n int) bitmap    { return make(bitmap, (n+63)/64) }
func (b bitmap) set(i uint32)   { b[i>>6] |= 1 << (i & 63) }
func (b bitmap) clear(i uint32) { b[i>>6] &^= 1 << (i & 63) }

// each calls f for every set bit and clears the bitmap.
func (b bitmap) each(f func(i uint32)) {
	for w, v := range b {
		for v != 0 {
			bit := uint32(bits.TrailingZeros64(v))
			v &^= 1 << bit
			f(uint32(w)*64 + bit)
		}
		b[w] = 0
	}
}

// setsockoptPtr and getsockoptPtr pass a struct to SOL_XDP options
// (x/sys/unix has no typed helpers for them).
func setsockoptPtr(fd, opt int, p unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), size, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockoptPtr(fd, opt int, p unsafe.Pointer, size uintptr) error {
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	if uintptr(l) != size {
		return fmt.Errorf("getsockopt %d: kernel returned %d bytes, want %d", opt, l, size)
	}
	return nil
}
