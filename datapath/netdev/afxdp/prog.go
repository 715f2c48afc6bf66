package afxdp

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Mode is how the XDP program is attached and the sockets bound.
type Mode string

const (
	// BestEffort tries NativeZeroCopy, then Native, then Generic (the
	// default, as OVS's xdp-mode=best-effort).
	BestEffort Mode = "best-effort"
	// NativeZeroCopy runs the program in the driver and lets the NIC DMA
	// straight into the arena.
	NativeZeroCopy Mode = "native-with-zerocopy"
	// Native runs the program in the driver; the kernel copies frames
	// into the arena.
	Native Mode = "native"
	// Generic runs the program on the skb after the driver (any device,
	// veth included). Frames larger than a UMEM chunk (MaxData bytes, e.g.
	// GSO super-frames) are dropped, so the sending side of a veth should
	// have its offloads off: ethtool -K IF tx off tso off gso off.
	Generic Mode = "generic"
)

// Modes lists the accepted modes.
var Modes = []Mode{BestEffort, NativeZeroCopy, Native, Generic}

// ParseMode validates an xdp-mode option ("" is BestEffort).
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return BestEffort, nil
	}
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown xdp-mode %q (valid: best-effort, native-with-zerocopy, native, generic)", s)
}

// xdpMdRxQueueIndex is offsetof(struct xdp_md, rx_queue_index): data,
// data_end, data_meta, ingress_ifindex come first, 4 bytes each.
const xdpMdRxQueueIndex = 16

// redirectProgram builds
//
//	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
//
// The low bits of the flags argument are the action when the map has no
// socket for the queue, so queues without a socket keep reaching the
// kernel stack.
func redirectProgram(xsks *ebpf.Map) (*ebpf.Program, error) {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, xdpMdRxQueueIndex, asm.Word),
		asm.LoadMapPtr(asm.R1, xsks.FD()),
		asm.Mov.Imm(asm.R3, 2), // XDP_PASS
		asm.FnRedirectMap.Call(),
		asm.Return(),
	}
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "vswitch_xsk",
		Type:         ebpf.XDP,
		Instructions: insns,
		License:      "Dual MIT/GPL",
	})
}

// newXSKMap makes the queue index → socket map.
func newXSKMap(queues int) (*ebpf.Map, error) {
	return ebpf.NewMap(&ebpf.MapSpec{
		Name:       "vswitch_xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(queues),
	})
}

// attach links prog to the device. The link is a file descriptor: when
// the process dies, however it dies, the kernel detaches the program, so
// nothing keeps redirecting into sockets that no longer exist.
func attach(prog *ebpf.Program, ifindex int, native bool) (link.Link, error) {
	flags := link.XDPGenericMode
	if native {
		flags = link.XDPDriverMode
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	if err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("%w (the device already has an XDP program: another afxdp port, or one attached by other software; see ip link show)", err)
		}
		return nil, err
	}
	return l, nil
}
