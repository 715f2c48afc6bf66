//go:build dpdk

package dpdk

/*
#include "shim.h"
*/
import "C"

// fwdMbuf moves one burst from rx to tx as mbufs (queue 0 each), for the
// buffer-strategy benchmark.
func fwdMbuf(rx, tx *Port) uint16 {
	return uint16(C.vs_fwd_mbuf(rx.id, 0, tx.id, 0))
}
