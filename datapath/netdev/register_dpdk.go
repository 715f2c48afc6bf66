//go:build dpdk

package netdev

import (
	"fmt"
	"strconv"
	"strings"

	"vswitch/datapath"
	"vswitch/datapath/netdev/dpdk"
)

// dpdk: a DPDK ethdev (PCI NIC or vdev) driven through cgo; only in
// binaries built with -tags dpdk. The options are OVS's; mtu_request is
// the interface's MTU column.
func init() {
	Register("dpdk", Kind{Options: dpdkOptions, Open: openDPDK, Check: checkDPDK})
}

// DPDKBuilt reports whether this binary has the dpdk port type.
const DPDKBuilt = true

// InitDPDK initialises DPDK's EAL from --dpdk-eal-args; once, at start-up.
func InitDPDK(args string) error { return dpdk.Init(args) }

// dpdkConfig parses a dpdk interface's options.
func dpdkConfig(name string, o map[string]string) (dpdk.Config, error) {
	c := dpdk.Config{Name: name, Devargs: strings.TrimSpace(o["dpdk-devargs"])}
	who := strings.TrimSpace("dpdk " + name)
	if c.Devargs == "" {
		return c, fmt.Errorf("%s: options:dpdk-devargs is required (a PCI address such as 0000:01:00.0, or a vdev such as net_null0)", who)
	}
	if strings.ContainsAny(c.Devargs, " \t\n") || strings.HasPrefix(c.Devargs, ",") || strings.Contains(c.Devargs, ",,") || strings.HasSuffix(c.Devargs, ",") {
		return c, fmt.Errorf("%s: dpdk-devargs %q is malformed: want NAME[,key=value...] without blanks or empty fields", who, c.Devargs)
	}
	num := func(key string, lo, hi int, dst *int) error {
		s, ok := o[key]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%s: %s %q must be an integer from %d to %d", who, key, s, lo, hi)
		}
		*dst = n
		return nil
	}
	for _, f := range []struct {
		key    string
		lo, hi int
		dst    *int
	}{
		{"n_rxq", 1, dpdk.MaxQueues, &c.RxQueues},
		{"n_txq", 1, dpdk.MaxQueues, &c.TxQueues},
		{"n_rxq_desc", dpdk.MinDesc, dpdk.MaxDesc, &c.RxDesc},
		{"n_txq_desc", dpdk.MinDesc, dpdk.MaxDesc, &c.TxDesc},
	} {
		if err := num(f.key, f.lo, f.hi, f.dst); err != nil {
			return c, err
		}
	}
	switch b := o["dpdk-buffers"]; b {
	case "", dpdk.BuffersMbuf, dpdk.BuffersCopy:
		c.Buffers = b
	default:
		return c, fmt.Errorf("%s: dpdk-buffers %q must be %s or %s", who, b, dpdk.BuffersMbuf, dpdk.BuffersCopy)
	}
	for _, d := range []int{c.RxDesc, c.TxDesc} {
		if d&(d-1) != 0 {
			return c, fmt.Errorf("%s: descriptor count %d must be a power of two", who, d)
		}
	}
	return c, nil
}

// checkDPDK refuses bad options, and a device that cannot be probed or
// lacks the queues asked for, before the bridge stores the interface.
func checkDPDK(o map[string]string) error {
	c, err := dpdkConfig("", o)
	if err != nil {
		return err
	}
	return dpdk.Check(c)
}

func openDPDK(cfg Config) (datapath.Port, error) {
	c, err := dpdkConfig(cfg.Name, cfg.Options)
	if err != nil {
		return nil, err
	}
	c.MTU, c.Pool = cfg.MTU, cfg.Pool
	p, err := dpdk.Open(c)
	if err != nil {
		return nil, err
	}
	return p, nil
}
