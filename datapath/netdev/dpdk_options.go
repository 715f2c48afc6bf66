package netdev

// dpdkOptions are the dpdk interface type's options (OVS's names, plus
// dpdk-buffers: mbuf or copy, see docs/dpdk.md), known
// with or without the dpdk build tag so both builds validate keys alike.
var dpdkOptions = []string{"dpdk-devargs", "n_rxq", "n_txq", "n_rxq_desc", "n_txq_desc", "dpdk-buffers"}
