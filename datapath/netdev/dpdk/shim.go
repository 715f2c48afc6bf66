//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_memcpy.h>
#include "shim.h"

#define VS_BURST 32

int vs_eal_init(int argc, char **argv) {
	int r = rte_eal_init(argc, argv);
	return r < 0 ? -rte_errno : r;
}

const char *vs_strerror(int e) { return rte_strerror(e); }

int vs_errno(void) { return rte_errno; }

void vs_pool_free(struct rte_mempool *mp) { rte_mempool_free(mp); }

// vs_register gives a PMD thread an lcore id the first time it polls, so
// mempool per-lcore caches work for it. One try per thread: when the ids
// run out the thread keeps working without a cache.
// initial-exec: the shim is linked into the executable, so the flag is a
// plain %fs-relative load, not a __tls_get_addr call on every poll.
static __thread int vs_tried __attribute__((tls_model("initial-exec")));
static inline void vs_register(void) {
	if (unlikely(!vs_tried)) {
		vs_tried = 1;
		if (rte_lcore_id() == LCORE_ID_ANY)
			rte_thread_register();
	}
}

static void vs_flush_cache(struct rte_mempool *mp, void *arg) {
	(void)arg;
	rte_mempool_cache_flush(NULL, mp);
}

// vs_thread_exit gives back what an exiting PMD thread holds: the mbufs in
// its per-lcore cache of every pool, and its lcore id.
void vs_thread_exit(void) {
	if (!vs_tried)
		return;
	vs_tried = 0;
	if (rte_lcore_id() == LCORE_ID_ANY)
		return;
	rte_mempool_walk(vs_flush_cache, NULL);
	rte_thread_unregister();
}

// vs_probe probes devargs (a vdev string or a PCI address) and returns the
// first ethdev port it made, or a negative errno.
int vs_probe(const char *devargs) {
	int r = rte_dev_probe(devargs);
	if (r < 0 && r != -EEXIST)
		return r;
	struct rte_dev_iterator it;
	uint16_t port;
	RTE_ETH_FOREACH_MATCHING_DEV(port, devargs, &it) {
		rte_eth_iterator_cleanup(&it);
		return port;
	}
	return -ENODEV;
}

int vs_info(uint16_t port, struct vs_info *vi) {
	struct rte_eth_dev_info di;
	int r = rte_eth_dev_info_get(port, &di);
	if (r < 0)
		return r;
	vi->max_rxq = di.max_rx_queues;
	vi->max_txq = di.max_tx_queues;
	vi->rss_offloads = di.flow_type_rss_offloads;
	snprintf(vi->driver, sizeof(vi->driver), "%s", di.driver_name ? di.driver_name : "");
	rte_eth_dev_get_name_by_port(port, vi->name);
	vi->socket = rte_eth_dev_socket_id(port);
	if (vi->socket < 0)
		vi->socket = SOCKET_ID_ANY;
	return 0;
}

// vs_setup configures, sets up the queues of and starts a port. *stage
// says which step failed.
int vs_setup(uint16_t port, uint16_t nrxq, uint16_t ntxq, uint16_t *nrxd, uint16_t *ntxd,
		    uint16_t mtu, struct rte_mempool *mp, int *stage) {
	struct rte_eth_dev_info di;
	struct rte_eth_conf conf;
	int r, sock = rte_eth_dev_socket_id(port);
	if (sock < 0)
		sock = SOCKET_ID_ANY;
	memset(&conf, 0, sizeof(conf));
	*stage = 0;
	if ((r = rte_eth_dev_info_get(port, &di)) < 0)
		return r;
	uint64_t rss = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & di.flow_type_rss_offloads;
	if (nrxq > 1 && rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss;
	}
	// No RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE: it promises every mbuf on a tx
	// queue comes from one pool, and a port sends other ports' mbufs.
	*stage = 1;
	if ((r = rte_eth_dev_configure(port, nrxq, ntxq, &conf)) < 0)
		return r;
	*stage = 2;
	if ((r = rte_eth_dev_adjust_nb_rx_tx_desc(port, nrxd, ntxd)) < 0)
		return r;
	if (mtu) {
		*stage = 3;
		if ((r = rte_eth_dev_set_mtu(port, mtu)) < 0)
			return r;
	}
	*stage = 4;
	for (uint16_t q = 0; q < nrxq; q++)
		if ((r = rte_eth_rx_queue_setup(port, q, *nrxd, sock, NULL, mp)) < 0)
			return r;
	*stage = 5;
	for (uint16_t q = 0; q < ntxq; q++)
		if ((r = rte_eth_tx_queue_setup(port, q, *ntxd, sock, NULL)) < 0)
			return r;
	// A switch port sees every destination; drivers without it are fine.
	rte_eth_promiscuous_enable(port);
	*stage = 6;
	return rte_eth_dev_start(port);
}

// vs_close stops and closes a port and detaches its device, so the same
// devargs can be probed again.
void vs_close(uint16_t port, int started) {
	struct rte_eth_dev_info di;
	struct rte_device *dev = NULL;
	if (rte_eth_dev_info_get(port, &di) == 0)
		dev = di.device;
	if (started)
		rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	if (dev)
		rte_dev_remove(dev);
}

struct rte_mempool *vs_pool(const char *name, unsigned n, int socket) {
	return rte_pktmbuf_pool_create(name, n, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
}

// vs_rx receives one burst and copies each frame into dst[i] (room bytes
// each), writing its length to lens[i]; mbufs go back to their pool in bulk.
// Frames larger than room are dropped and counted in *big. Returns the
// frames delivered.
uint16_t vs_rx(uint16_t port, uint16_t q, uintptr_t *dst, uint32_t room, uint32_t *lens,
		      uint16_t n, uint32_t *big) {
	struct rte_mbuf *m[VS_BURST];
	vs_register();
	uint16_t got = rte_eth_rx_burst(port, q, m, n), out = 0;
	*big = 0;
	for (uint16_t i = 0; i < got; i++) {
		struct rte_mbuf *mb = m[i];
		uint32_t len = rte_pktmbuf_pkt_len(mb);
		if (len > room) {
			(*big)++;
			continue;
		}
		char *d = (char *)dst[out];
		if (likely(mb->nb_segs == 1)) {
			rte_memcpy(d, rte_pktmbuf_mtod(mb, void *), len);
		} else {
			for (struct rte_mbuf *s = mb; s; s = s->next) {
				rte_memcpy(d, rte_pktmbuf_mtod(s, void *), s->data_len);
				d += s->data_len;
			}
		}
		lens[out++] = len;
	}
	if (got)
		rte_pktmbuf_free_bulk(m, got);
	return out;
}

// vs_rx_mbuf first frees, in one bulk call, the nrel mbufs the datapath
// released since the last poll, then receives up to n frames and
// describes each single-segment mbuf in out[] for the datapath to wrap as
// a packet, without copying. A frame longer than room or in several
// segments is freed and counted in *big, as the copying rx would.
uint16_t vs_rx_mbuf(uint16_t port, uint16_t q, uintptr_t *rel, uint16_t nrel, struct vs_mb *out,
		    uint16_t n, uint32_t room, uint32_t *big) {
	struct rte_mbuf *m[VS_BURST];
	vs_register();
	if (nrel)
		rte_pktmbuf_free_bulk((struct rte_mbuf **)rel, nrel);
	*big = 0;
	if (!n)
		return 0;
	uint16_t got = rte_eth_rx_burst(port, q, m, n), o = 0;
	for (uint16_t i = 0; i < got; i++) {
		struct rte_mbuf *mb = m[i];
		if (unlikely(mb->nb_segs != 1 || mb->data_len > room)) {
			rte_pktmbuf_free(mb);
			(*big)++;
			continue;
		}
		out[o].m = (uintptr_t)mb;
		out[o].buf = (uintptr_t)mb->buf_addr;
		out[o].buf_len = mb->buf_len;
		out[o].off = mb->data_off;
		out[o].len = mb->data_len;
		o++;
	}
	return o;
}

void vs_free_bulk(uintptr_t *m, unsigned n) {
	if (n)
		rte_pktmbuf_free_bulk((struct rte_mbuf **)m, n);
}

// vs_tx_mix sends n frames in one burst. An entry with mbuf set is an mbuf
// the datapath received (from any dpdk port) whose data now sits at
// [off, off+len) of its buffer: it is sent as it is. The others are copied
// into mbufs from mp; *nombuf counts those that found none. Whatever the
// queue refuses is freed. Returns the frames sent.
uint16_t vs_tx_mix(uint16_t port, uint16_t q, struct rte_mempool *mp, struct vs_txe *e, uint16_t n,
		   uint32_t *nombuf) {
	struct rte_mbuf *m[VS_BURST], *c[VS_BURST];
	uint16_t ncopy = 0, k = 0, ci = 0;
	*nombuf = 0;
	for (uint16_t i = 0; i < n; i++)
		ncopy += !e[i].mbuf;
	if (ncopy && rte_pktmbuf_alloc_bulk(mp, c, ncopy) != 0) {
		*nombuf = ncopy;
		ncopy = 0;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mb;
		if (e[i].mbuf) {
			mb = (struct rte_mbuf *)e[i].p;
			mb->data_off = e[i].off;
			mb->data_len = e[i].len;
			mb->pkt_len = e[i].len;
			// Receive flags mean nothing on transmit; keep only how the
			// buffer is attached.
			mb->ol_flags &= RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT;
		} else {
			if (ci == ncopy)
				continue;
			mb = c[ci++];
			rte_memcpy(rte_pktmbuf_mtod(mb, void *), (void *)e[i].p, e[i].len);
			mb->data_len = e[i].len;
			mb->pkt_len = e[i].len;
		}
		m[k++] = mb;
	}
	uint16_t sent = k ? rte_eth_tx_burst(port, q, m, k) : 0;
	if (sent < k)
		rte_pktmbuf_free_bulk(m + sent, k - sent);
	return sent;
}

// vs_fwd_mbuf moves one burst from (rx, rxq) to (tx, txq) as mbufs, with
// no copy: the floor of an mbuf-end-to-end datapath, for the benchmark
// that chose the buffer strategy (see docs/dpdk.md).
uint16_t vs_fwd_mbuf(uint16_t rx, uint16_t rxq, uint16_t tx, uint16_t txq) {
	struct rte_mbuf *m[VS_BURST];
	vs_register();
	uint16_t got = rte_eth_rx_burst(rx, rxq, m, VS_BURST);
	if (!got)
		return 0;
	uint16_t sent = rte_eth_tx_burst(tx, txq, m, got);
	if (sent < got)
		rte_pktmbuf_free_bulk(m + sent, got - sent);
	return got;
}

int vs_link(uint16_t port, struct vs_link *l) {
	struct rte_eth_link lk;
	int r = rte_eth_link_get_nowait(port, &lk);
	if (r < 0)
		return r;
	l->speed = lk.link_speed;
	l->up = lk.link_status;
	l->duplex = lk.link_duplex;
	return 0;
}

int vs_stats(uint16_t port, struct rte_eth_stats *s) { return rte_eth_stats_get(port, s); }

int vs_xstats_count(uint16_t port) { return rte_eth_xstats_get(port, NULL, 0); }

// vs_xstats fills up to n names and values; returns how many.
int vs_xstats(uint16_t port, struct rte_eth_xstat_name *names, uint64_t *vals, int n) {
	struct rte_eth_xstat xs[n];
	int r = rte_eth_xstats_get_names(port, names, n);
	if (r < 0 || r > n)
		return r < 0 ? r : -ENOSPC;
	int v = rte_eth_xstats_get(port, xs, n);
	if (v < 0 || v > n)
		return v < 0 ? v : -ENOSPC;
	for (int i = 0; i < n; i++)
		vals[i] = 0;
	for (int i = 0; i < v; i++)
		if (xs[i].id < (uint64_t)r)
			vals[xs[i].id] = xs[i].value;
	return r;
}
*/
import "C"
