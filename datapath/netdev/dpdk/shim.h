// The C shim between the dpdk port and DPDK: one call per burst or per
// control operation. Definitions are in shim.go's cgo preamble.
#ifndef VSWITCH_DPDK_SHIM_H
#define VSWITCH_DPDK_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>

struct vs_info {
	uint16_t max_rxq, max_txq;
	uint64_t rss_offloads;
	char driver[64];
	char name[RTE_ETH_NAME_MAX_LEN];
	int socket;
};

// vs_mb describes one received mbuf for the datapath (see vs_rx_mbuf).
// Addresses are integers so cgo's pointer check has nothing to scan.
struct vs_mb {
	uintptr_t m, buf;
	uint16_t buf_len, off, len, pad;
};

// vs_txe is one frame to send: an mbuf (mbuf=1) or bytes to copy.
struct vs_txe {
	uintptr_t p;
	uint16_t off, len, mbuf, pad;
};

struct vs_link {
	uint32_t speed;
	uint16_t up, duplex;
};

int vs_eal_init(int argc, char **argv);
const char *vs_strerror(int e);
int vs_errno(void);
int vs_probe(const char *devargs);
int vs_info(uint16_t port, struct vs_info *vi);
int vs_setup(uint16_t port, uint16_t nrxq, uint16_t ntxq, uint16_t *nrxd, uint16_t *ntxd,
	     uint16_t mtu, struct rte_mempool *mp, int *stage);
void vs_close(uint16_t port, int started);
struct rte_mempool *vs_pool(const char *name, unsigned n, int socket);
void vs_pool_free(struct rte_mempool *mp);
uint16_t vs_rx(uint16_t port, uint16_t q, uintptr_t *dst, uint32_t room, uint32_t *lens,
	       uint16_t n, uint32_t *big);
uint16_t vs_rx_mbuf(uint16_t port, uint16_t q, uintptr_t *rel, uint16_t nrel, struct vs_mb *out,
		    uint16_t n, uint32_t room, uint32_t *big);
void vs_free_bulk(uintptr_t *m, unsigned n);
uint16_t vs_tx_mix(uint16_t port, uint16_t q, struct rte_mempool *mp, struct vs_txe *e, uint16_t n,
		   uint32_t *nombuf);
void vs_thread_exit(void);
uint16_t vs_fwd_mbuf(uint16_t rx, uint16_t rxq, uint16_t tx, uint16_t txq);
int vs_link(uint16_t port, struct vs_link *l);
int vs_stats(uint16_t port, struct rte_eth_stats *s);
int vs_xstats_count(uint16_t port);
int vs_xstats(uint16_t port, struct rte_eth_xstat_name *names, uint64_t *vals, int n);

#endif
