package e2e

import (
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches the metrics endpoint and parses it with Prometheus's own
// text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// metricValue sums the samples of family name whose labels include want.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			ok := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					ok = true
				}
			}
			if !ok {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum, found
}

// TestMetrics scrapes --metrics-addr before and after traffic: port, PMD
// and bridge counters are there and move.
func TestMetrics(t *testing.T) {
	requireE2E(t, "ping")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d := newDaemon(t)
	d.Extra = []string{"--metrics-addr", addr}
	d.Start()
	br := d.AddBridge("brme")
	h1 := newHost(t, "10.77.9.1/24")
	h2 := newHost(t, "10.77.9.2/24")
	attach(d, br, h1)
	attach(d, br, h2)

	before := scrape(t, addr)
	if n, ok := metricValue(before, "vswitch_bridge_flows", map[string]string{"bridge": br}); !ok || n != 1 {
		t.Fatalf("vswitch_bridge_flows{bridge=%q} = %v (present %v), want 1", br, n, ok)
	}
	rx0, _ := metricValue(before, "vswitch_port_rx_packets_total", map[string]string{"port": h1.Port})
	pmd0, _ := metricValue(before, "vswitch_pmd_packets_total", nil)
	pingOK(t, h1, h2.IP)
	after := scrape(t, addr)
	rx1, ok := metricValue(after, "vswitch_port_rx_packets_total", map[string]string{"port": h1.Port, "bridge": br})
	if !ok || rx1 < rx0+5 {
		t.Fatalf("rx packets of %s: %v -> %v (present %v), want +5 after pings", h1.Port, rx0, rx1, ok)
	}
	pmd1, _ := metricValue(after, "vswitch_pmd_packets_total", nil)
	hits, _ := metricValue(after, "vswitch_pmd_hits_total", nil)
	if pmd1 < pmd0+10 || hits == 0 {
		t.Fatalf("PMD packets %v -> %v, hits %v", pmd0, pmd1, hits)
	}
	if _, ok := metricValue(after, "process_resident_memory_bytes", nil); !ok {
		t.Fatal("no process metrics")
	}
	for _, reason := range []string{"malformed", "upcall_limit", "no_port"} {
		if _, ok := metricValue(after, "vswitch_pmd_dropped_total", map[string]string{"reason": reason}); !ok {
			t.Fatalf("no vswitch_pmd_dropped_total{reason=%q}", reason)
		}
	}
	t.Logf("metrics at %s: %s rx %v -> %v packets, PMD packets %v -> %v, cache hits %v", addr, h1.Port, rx0, rx1, pmd0, pmd1, hits)

	// curl during a transfer: the byte counters move between scrapes.
	stop := make(chan struct{})
	samples := make(chan []float64, 1)
	go func() {
		var got []float64
		for {
			select {
			case <-stop:
				samples <- got
				return
			case <-time.After(100 * time.Millisecond):
			}
			out, err := exec.Command("curl", "-sf", "--max-time", "5", "http://"+addr+"/metrics").Output()
			if err != nil {
				continue
			}
			parser := expfmt.NewTextParser(model.UTF8Validation)
			fams, err := parser.TextToMetricFamilies(bytes.NewReader(out))
			if err != nil {
				continue
			}
			if v, ok := metricValue(fams, "vswitch_port_tx_bytes_total", map[string]string{"port": h2.Port}); ok {
				got = append(got, v)
			}
		}
	}()
	mbps := transfer(t, h1, h2, 256<<20)
	close(stop)
	got := <-samples
	rising := 0
	for i := 1; i < len(got); i++ {
		if got[i] > got[i-1] {
			rising++
		}
	}
	if len(got) < 3 || rising < 2 {
		t.Fatalf("curl scrapes during a %.0f Mbit/s transfer: tx bytes %v; want at least 2 rises", mbps, got)
	}
	final := scrape(t, addr)
	polling, ok1 := metricValue(final, "vswitch_pmd_idle_seconds_total", map[string]string{"kind": "polling"})
	parked, ok2 := metricValue(final, "vswitch_pmd_idle_seconds_total", map[string]string{"kind": "parked"})
	busy, _ := metricValue(final, "vswitch_pmd_busy_seconds_total", nil)
	if !ok1 || !ok2 || polling+parked <= 0 || busy <= 0 {
		t.Fatalf("PMD time: busy %v, idle polling %v (%v), parked %v (%v)", busy, polling, ok1, parked, ok2)
	}
	t.Logf("PMD time so far: busy %.3fs, idle polling %.3fs, parked %.3fs", busy, polling, parked)
	t.Logf("curl during a 256 MiB transfer (%.0f Mbit/s): %d scrapes, tx bytes of %s rose %d times, %.0f -> %.0f",
		mbps, len(got), h2.Port, rising, got[0], got[len(got)-1])
}
