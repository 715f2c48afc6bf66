package vxlan

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseOptionsDefaults(t *testing.T) {
	o, err := ParseOptions(map[string]string{"remote_ip": "192.168.77.2"})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{RemoteIP: netip.MustParseAddr("192.168.77.2"), DstPort: 4789, TTL: 64, DF: true}
	if o != want {
		t.Fatalf("got %+v, want %+v", o, want)
	}
}

func TestParseOptionsAll(t *testing.T) {
	o, err := ParseOptions(map[string]string{
		"remote_ip": "flow", "local_ip": "fd00::1", "key": "0xffffff", "dst_port": "8472",
		"tos": "inherit", "ttl": "inherit", "df_default": "false", "csum": "true", "underlay": "kernel",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{RemoteFlow: true, LocalIP: netip.MustParseAddr("fd00::1"), Key: MaxVNI, DstPort: 8472,
		TOSInherit: true, TTL: 64, TTLInherit: true, Csum: true, KernelUnderlay: true}
	if o != want {
		t.Fatalf("got %+v, want %+v", o, want)
	}
	o, err = ParseOptions(map[string]string{"remote_ip": "::ffff:10.0.0.1", "key": "flow", "tos": "0xb8", "ttl": "255"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.RemoteIP.Is4() || !o.KeyFlow || o.TOS != 0xb8 || o.TTL != 255 {
		t.Fatalf("got %+v", o)
	}
	cfg := o.TemplateConfig(o.RemoteIP, netip.MustParseAddr("10.0.0.9"), 7)
	if cfg.SrcIP != netip.MustParseAddr("10.0.0.9") || cfg.VNI != 7 || cfg.TOS != 0xb8 || !cfg.DF || cfg.DstPort != 4789 {
		t.Fatalf("template config %+v", cfg)
	}
	if _, err := BuildTemplate(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{}, `options:remote_ip is required`},
		{map[string]string{"remote_ip": "1.2.3"}, `options:remote_ip="1.2.3": not an IP address`},
		{map[string]string{"remote_ip": "224.0.0.1"}, `want a unicast address`},
		{map[string]string{"remote_ip": "0.0.0.0"}, `want a unicast address`},
		{map[string]string{"remote_ip": "fe80::1%eth0"}, `zone`},
		{map[string]string{"remote_ip": "10.0.0.1", "local_ip": "fd00::1"}, `different address families`},
		{map[string]string{"remote_ip": "10.0.0.1", "key": "16777216"}, `options:key="16777216": want a VNI from 0 to 16777215 or "flow"`},
		{map[string]string{"remote_ip": "10.0.0.1", "key": "-1"}, `want a VNI`},
		{map[string]string{"remote_ip": "10.0.0.1", "dst_port": "0"}, `options:dst_port="0": want a UDP port from 1 to 65535`},
		{map[string]string{"remote_ip": "10.0.0.1", "dst_port": "65536"}, `want a UDP port`},
		{map[string]string{"remote_ip": "10.0.0.1", "tos": "256"}, `want a number from 0 to 255`},
		{map[string]string{"remote_ip": "10.0.0.1", "tos": "1"}, `ECN bits`},
		{map[string]string{"remote_ip": "10.0.0.1", "ttl": "0"}, `options:ttl="0": want a number from 1 to 255`},
		{map[string]string{"remote_ip": "10.0.0.1", "df_default": "yes"}, `want true or false`},
		{map[string]string{"remote_ip": "10.0.0.1", "csum": "1"}, `want true or false`},
		{map[string]string{"remote_ip": "10.0.0.1", "underlay": "dpdk"}, `want "switch" or "kernel"`},
		{map[string]string{"remote_ip": "10.0.0.1", "remote_port": "1"}, `unknown option "remote_port"`},
	} {
		_, err := ParseOptions(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line containing %q", tc.opts, err, tc.want)
		}
	}
}
