package vhostuser

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The prefaulter populates exactly the pages the front end touched: a memfd
// with 3 of its 64 pages written through another mapping (as a driver's
// buffers would be) gets 3 pages populated and stays 3 pages resident.
func TestPrefaultTouchedPagesOnly(t *testing.T) {
	fd, err := unix.MemfdCreate("prefault-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	const size = 64 * 4096
	if err := unix.Ftruncate(fd, size); err != nil {
		t.Fatal(err)
	}
	front, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(front)
	for _, pg := range []int{1, 2, 40} {
		front[pg*4096+7] = 0xab
	}
	m, err := mapRegions([]memRegion{{gpa: 0x1000, size: size, uaddr: 0x1000, offset: 0}}, []int{fd})
	if err != nil {
		t.Fatal(err)
	}
	defer m.unmap()
	pf := startPrefault(&m)
	<-pf.done
	if got := pf.pages.Load(); got != 3 {
		t.Fatalf("populated %d pages, want the 3 the front end touched", got)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 != 3*4096 {
		t.Fatalf("memfd holds %d bytes after prefaulting, want %d (untouched pages must stay unallocated)", st.Blocks*512, 3*4096)
	}
	// Writing the touched pages through our mapping takes no page fault.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var r0, r1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &r0)
	for _, pg := range []uint64{1, 2, 40} {
		b := m.gpa(0x1000+pg*4096+7, 1)
		if b == nil || b[0] != 0xab {
			t.Fatalf("page %d: mapped byte %v, want 0xab", pg, b)
		}
		b[0] = 0xcd
	}
	unix.Getrusage(unix.RUSAGE_THREAD, &r1)
	if n := r1.Minflt - r0.Minflt; n != 0 {
		t.Fatalf("%d page faults writing 3 prefaulted pages, want 0", n)
	}
	if front[40*4096+7] != 0xcd {
		t.Fatal("write through our mapping not seen by the front end")
	}
	pf.wait()
}
