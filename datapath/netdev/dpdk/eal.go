//go:build dpdk

// Package dpdk is the "dpdk" port type: a DPDK ethdev (a PCI NIC bound to a
// DPDK driver, or a vdev such as net_tap, net_af_packet, net_ring, net_null)
// driven through cgo. The cgo boundary is crossed once per burst: the C shim
// receives or sends a whole burst. Received mbufs become datapath packets
// without a copy and a dpdk tx sends the same mbufs (options:dpdk-buffers=copy
// copies instead; docs/dpdk.md has the measurements that chose the default).
package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	mu      sync.Mutex
	inited  bool
	ctlJobs chan func()
	ealArgs string // for the hugepage hint of a later allocation failure
)

// ErrNotInitialized is returned when a dpdk port is opened but vswitchd was
// started without --dpdk-eal-args.
var ErrNotInitialized = errors.New("DPDK is not initialised: start vswitchd with --dpdk-eal-args (e.g. \"--in-memory -l 0\")")

// Initialized reports whether Init succeeded.
func Initialized() bool {
	mu.Lock()
	defer mu.Unlock()
	return inited
}

// Init initialises the EAL once with args (split on blanks, as a shell
// would without quotes). rte_eal_init pins the calling thread to the main
// lcore's CPU, so it runs on a goroutine locked to its own thread whose
// affinity is put back afterwards; that thread then stays DPDK's control
// thread: every port configuration call runs on it.
func Init(args string) error {
	mu.Lock()
	defer mu.Unlock()
	if inited {
		return errors.New("dpdk: EAL already initialised")
	}
	argv := append([]string{"vswitchd"}, strings.Fields(args)...)
	res := make(chan error, 1)
	jobs := make(chan func())
	go func() {
		runtime.LockOSThread() // never unlocked: this thread is DPDK's main lcore
		var saved unix.CPUSet
		haveSaved := unix.SchedGetaffinity(0, &saved) == nil
		cargs := make([]*C.char, len(argv))
		for i, a := range argv {
			cargs[i] = C.CString(a)
		}
		// rte_eal_init may keep pointers into argv: the strings stay.
		carr := (**C.char)(C.malloc(C.size_t(len(cargs)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
		copy(unsafe.Slice(carr, len(cargs)), cargs)
		r := C.vs_eal_init(C.int(len(cargs)), carr)
		if haveSaved {
			if err := unix.SchedSetaffinity(0, &saved); err != nil {
				slog.Warn("dpdk: cannot restore the EAL thread's CPU affinity", "err", err)
			}
		}
		if r < 0 {
			res <- ealError(-int(r), args)
			return
		}
		res <- nil
		for j := range jobs {
			j()
		}
	}()
	if err := <-res; err != nil {
		return err
	}
	inited, ctlJobs, ealArgs = true, jobs, args
	slog.Info("dpdk: EAL initialised", "args", args)
	return nil
}

// ealError explains a failed rte_eal_init; a memory failure says how many
// hugepages to reserve.
func ealError(errno int, args string) error {
	msg := C.GoString(C.vs_strerror(C.int(errno)))
	e := unix.Errno(errno)
	if e == unix.ENOMEM || e == unix.EACCES || e == unix.ENOSPC {
		return fmt.Errorf("dpdk: EAL init failed (%s): DPDK could not get memory; %s", msg, hugepageHint(args))
	}
	return fmt.Errorf("dpdk: EAL init failed with --dpdk-eal-args %q: %s (the EAL's own message is in the log above)", args, msg)
}

// hugepageHint says how many 2 MiB hugepages the EAL args need (their -m or
// --socket-mem, else 1 GiB) and the alternative of --no-huge.
func hugepageHint(args string) string {
	mb := 1024
	f := strings.Fields(args)
	for i, a := range f {
		v := ""
		switch {
		case (a == "-m" || a == "--socket-mem") && i+1 < len(f):
			v = f[i+1]
		case strings.HasPrefix(a, "--socket-mem="):
			v = strings.TrimPrefix(a, "--socket-mem=")
		case strings.HasPrefix(a, "-m") && len(a) > 2:
			v = a[2:]
		}
		if v == "" {
			continue
		}
		total := 0
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(s)
			if err == nil {
				total += n
			}
		}
		if total > 0 {
			mb = total
		}
	}
	pages := (mb + 1) / 2
	return fmt.Sprintf("reserve %d hugepages of 2 MiB (echo %d > /proc/sys/vm/nr_hugepages; mount -t hugetlbfs none /dev/hugepages), or run without them: --dpdk-eal-args \"--no-huge -m %d --no-shconf ...\" (not with --in-memory)", pages, pages, mb)
}

// onCtl runs f on the EAL control thread and waits for it.
func onCtl(f func()) error {
	mu.Lock()
	jobs, ok := ctlJobs, inited
	mu.Unlock()
	if !ok {
		return ErrNotInitialized
	}
	done := make(chan struct{})
	jobs <- func() { f(); close(done) }
	<-done
	return nil
}

func strerror(r C.int) string {
	if r < 0 {
		r = -r
	}
	return C.GoString(C.vs_strerror(r))
}
