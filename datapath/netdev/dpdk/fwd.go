//go:build dpdk

package dpdk

/*
#include "shim.h"
#include <rte_lcore.h>

static int vs_lcore(void) { unsigned l = rte_lcore_id(); return l == LCORE_ID_ANY ? -1 : (int)l; }
static int vs_cache_len(struct rte_mempool *mp, int lcore) {
	struct rte_mempool_cache *c = rte_mempool_default_cache(mp, (unsigned)lcore);
	return c ? (int)c->len : -1;
}
*/
import "C"

// Helpers for the benchmarks and tests (cgo cannot be used in _test files).

// fwdMbuf moves one burst from rx to tx as mbufs (queue 0 each), for the
// buffer-strategy benchmark.
func fwdMbuf(rx, tx *Port) uint16 {
	return uint16(C.vs_fwd_mbuf(rx.id, 0, tx.id, 0))
}

// threadLcore returns the calling thread's DPDK lcore id, -1 for none.
func threadLcore() int { return int(C.vs_lcore()) }

// threadExit runs the PMD exit hook's work on the calling thread.
func threadExit() { C.vs_thread_exit() }

// cacheLen returns how many mbufs of p's pool lcore's cache holds.
func cacheLen(p *Port, lcore int) int { return int(C.vs_cache_len(p.mp, C.int(lcore))) }
