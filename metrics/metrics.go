// Package metrics exposes the switch's counters to Prometheus: per port,
// per PMD and per bridge, read at scrape time (nothing is counted twice and
// the datapath pays nothing between scrapes), plus Go process metrics.
package metrics

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vswitch/bridge"
	"vswitch/vxlan"
)

// collector reads the switch at scrape time.
type collector struct {
	sw *bridge.Switch

	rxPackets, rxBytes, txPackets, txBytes, drops, errors *prometheus.Desc
	pmdPackets, pmdHits, pmdUpcalls, pmdBusy, pmdIdle     *prometheus.Desc
	pmdMegaflows, pmdLost, pmdRevalidations               *prometheus.Desc
	bridgeFlows, portUp                                   *prometheus.Desc
	packetIns, controllers, pmdIdleSecs                   *prometheus.Desc
	portXstats                                            *prometheus.Desc
}

func newCollector(sw *bridge.Switch) *collector {
	port := []string{"bridge", "port", "type"}
	pmd := []string{"pmd", "core"}
	return &collector{
		sw:               sw,
		rxPackets:        prometheus.NewDesc("vswitch_port_rx_packets_total", "Packets received on a port.", port, nil),
		rxBytes:          prometheus.NewDesc("vswitch_port_rx_bytes_total", "Bytes received on a port.", port, nil),
		txPackets:        prometheus.NewDesc("vswitch_port_tx_packets_total", "Packets sent on a port.", port, nil),
		txBytes:          prometheus.NewDesc("vswitch_port_tx_bytes_total", "Bytes sent on a port.", port, nil),
		drops:            prometheus.NewDesc("vswitch_port_dropped_total", "Packets a port dropped, by direction and reason.", append(port, "direction", "reason"), nil),
		errors:           prometheus.NewDesc("vswitch_port_errors_total", "Packet errors on a port, by direction.", append(port, "direction"), nil),
		portUp:           prometheus.NewDesc("vswitch_port_up", "1 when the port is in the datapath, 0 when it is waiting (its error says why).", port, nil),
		pmdPackets:       prometheus.NewDesc("vswitch_pmd_packets_total", "Packets received by a PMD.", pmd, nil),
		pmdHits:          prometheus.NewDesc("vswitch_pmd_hits_total", "Packets a PMD classified without an upcall, by cache.", append(pmd, "cache"), nil),
		pmdUpcalls:       prometheus.NewDesc("vswitch_pmd_upcalls_total", "Misses translated by the slow path.", pmd, nil),
		pmdLost:          prometheus.NewDesc("vswitch_pmd_dropped_total", "Packets a PMD dropped, by reason.", append(pmd, "reason"), nil),
		pmdRevalidations: prometheus.NewDesc("vswitch_pmd_revalidations_total", "Megaflows re-translated after a change.", pmd, nil),
		pmdBusy:          prometheus.NewDesc("vswitch_pmd_busy_seconds_total", "Time a PMD spent in iterations that moved packets.", pmd, nil),
		pmdIdle:          prometheus.NewDesc("vswitch_pmd_idle_iterations_total", "PMD iterations that found no packet, and parks on epoll.", append(pmd, "kind"), nil),
		pmdMegaflows:     prometheus.NewDesc("vswitch_pmd_megaflows", "Megaflows installed in a PMD.", pmd, nil),
		bridgeFlows:      prometheus.NewDesc("vswitch_bridge_flows", "OpenFlow rules in a bridge.", []string{"bridge"}, nil),
		packetIns:        prometheus.NewDesc("vswitch_packet_ins_total", "Packets controller actions sent to controllers, by controller and result (sent; dropped: its queue was full; no_controller: none connected).", []string{"bridge", "controller", "result"}, nil),
		controllers:      prometheus.NewDesc("vswitch_controllers", "Controllers connected to a bridge.", []string{"bridge"}, nil),
		pmdIdleSecs:      prometheus.NewDesc("vswitch_pmd_idle_seconds_total", "Time a PMD spent idle: polling without packets, or parked on epoll.", append(pmd, "kind"), nil),
		portXstats:       prometheus.NewDesc("vswitch_port_xstats", "A device's own extended statistics by name (DPDK rte_eth_xstats of dpdk ports; non-zero ones).", append(port, "name"), nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rxPackets, c.rxBytes, c.txPackets, c.txBytes, c.drops, c.errors, c.portUp,
		c.pmdPackets, c.pmdHits, c.pmdUpcalls, c.pmdLost, c.pmdRevalidations, c.pmdBusy, c.pmdIdle, c.pmdMegaflows, c.bridgeFlows,
		c.packetIns, c.controllers, c.pmdIdleSecs, c.portXstats} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, b := range c.sw.Show() {
		for _, p := range b.Ports {
			typ := p.Type
			if typ == "" {
				typ = "system"
			}
			l := []string{b.Name, p.Name, typ}
			s := p.Stats
			counter(c.rxPackets, s.RxPackets, l...)
			counter(c.rxBytes, s.RxBytes, l...)
			counter(c.txPackets, s.TxPackets, l...)
			counter(c.txBytes, s.TxBytes, l...)
			counter(c.drops, s.RxDropped-min(s.RxTruncated, s.RxDropped), append(l, "rx", "queue_full")...)
			counter(c.drops, s.RxTruncated, append(l, "rx", "truncated")...)
			counter(c.drops, s.TxDropped, append(l, "tx", "tx_queue_full")...)
			counter(c.errors, s.RxErrors, append(l, "rx")...)
			counter(c.errors, s.TxErrors, append(l, "tx")...)
			up := 1.0
			if p.Ofport < 0 {
				up = 0
			}
			gauge(c.portUp, up, l...)
			// Ports reporting device statistics put them in their status
			// as xstat_NAME (dpdk ports).
			for k, v := range p.Status {
				if name, ok := strings.CutPrefix(k, "xstat_"); ok {
					if n, err := strconv.ParseUint(v, 10, 64); err == nil {
						ch <- prometheus.MustNewConstMetric(c.portXstats, prometheus.GaugeValue, float64(n), append(l, name)...)
					}
				}
			}
		}
	}
	for _, p := range c.sw.PMDStats() {
		l := []string{strconv.Itoa(p.ID), strconv.Itoa(p.Core)}
		counter(c.pmdPackets, p.Packets, l...)
		counter(c.pmdHits, p.EMCHits, append(l, "emc")...)
		counter(c.pmdHits, p.MegaflowHits, append(l, "megaflow")...)
		counter(c.pmdUpcalls, p.Upcalls, l...)
		counter(c.pmdLost, p.UpcallsLost, append(l, "upcall_limit")...)
		counter(c.pmdLost, p.Malformed, append(l, "malformed")...)
		counter(c.pmdLost, p.TxDropped, append(l, "no_port")...)
		counter(c.pmdLost, p.TunnelMTUDrops, append(l, "tunnel_mtu")...)
		for r, n := range p.TunnelDrops {
			name := "tunnel_nested_or_full"
			if r < int(vxlan.NumDropReasons) {
				name = "tunnel_" + vxlan.DropReason(r).String()
			}
			if r != int(vxlan.DropNone) {
				counter(c.pmdLost, n, append(l, name)...)
			}
		}
		counter(c.pmdRevalidations, p.Revalidations, l...)
		ch <- prometheus.MustNewConstMetric(c.pmdBusy, prometheus.CounterValue, time.Duration(p.BusyNanos).Seconds(), l...)
		ch <- prometheus.MustNewConstMetric(c.pmdIdleSecs, prometheus.CounterValue, time.Duration(p.IdleNanos).Seconds(), append(l, "polling")...)
		ch <- prometheus.MustNewConstMetric(c.pmdIdleSecs, prometheus.CounterValue, time.Duration(p.ParkedNanos).Seconds(), append(l, "parked")...)
		counter(c.pmdIdle, p.Iterations, append(l, "iterations")...)
		counter(c.pmdIdle, p.Parks, append(l, "parks")...)
		gauge(c.pmdMegaflows, float64(p.Megaflows), l...)
	}
	connected := map[string]int{}
	if infos, err := c.sw.ControllerStatus(""); err == nil {
		for _, ci := range infos {
			connected[ci.Bridge]++
			counter(c.packetIns, ci.PacketInsSent, ci.Bridge, ci.Name, "sent")
			counter(c.packetIns, ci.PacketInsDropped, ci.Bridge, ci.Name, "dropped")
		}
	}
	for br, n := range c.sw.FlowCounts() {
		gauge(c.bridgeFlows, float64(n), br)
		gauge(c.controllers, float64(connected[br]), br)
		counter(c.packetIns, c.sw.PacketInsWithoutController(br), br, "", "no_controller")
	}
}

// Addr turns a --metrics-addr value into a listen address: a bare port
// means loopback only.
func Addr(s string) string {
	if _, err := strconv.Atoi(s); err == nil {
		return net.JoinHostPort("127.0.0.1", s)
	}
	return s
}

// Serve exposes /metrics on addr until the listener fails.
func Serve(addr string, sw *bridge.Switch) (net.Listener, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(sw), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	lis, err := net.Listen("tcp", Addr(addr))
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && err != http.ErrServerClosed {
			slog.Warn("metrics server stopped", "err", err)
		}
	}()
	return lis, nil
}
