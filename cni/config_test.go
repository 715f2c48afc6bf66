package cni

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// Every bad config is a CNI error with the spec's code and a message that
// names the field; a good one gets its defaults.
func TestParseConf(t *testing.T) {
	for _, c := range []struct {
		in   string
		code uint
		msg  string
	}{
		{`{"bridge":`, types.ErrDecodingFailure, "not valid JSON"},
		{`{"bridge":"br0","mode":"tap"}`, types.ErrInvalidNetworkConfig, `mode "tap"`},
		{`{"mode":"veth"}`, types.ErrInvalidNetworkConfig, "bridge is missing"},
		{`{"bridge":"br0","vlan":4096}`, types.ErrInvalidNetworkConfig, "vlan 4096"},
		{`{"bridge":"br0","mtu":20}`, types.ErrInvalidNetworkConfig, "mtu 20"},
		{`{"bridge":"br0","hostPortType":"tap"}`, types.ErrInvalidNetworkConfig, "hostPortType"},
		{`{"bridge":"br0","mode":"sriov"}`, types.ErrInvalidNetworkConfig, "needs pf"},
		{`{"bridge":"br0","socketDir":"rel"}`, types.ErrInvalidNetworkConfig, "absolute"},
		{`{"bridge":"br0","upTimeout":"soon"}`, types.ErrInvalidNetworkConfig, "upTimeout"},
		{`{"bridge":"br0","runtimeConfig":{"mac":"zz"}}`, types.ErrInvalidNetworkConfig, "not a MAC"},
	} {
		_, err := ParseConf([]byte(c.in))
		var te *types.Error
		if !errors.As(err, &te) || te.Code != c.code || !strings.Contains(te.Msg, c.msg) {
			t.Errorf("%s: got %v, want code %d with %q", c.in, err, c.code, c.msg)
		}
	}
	c, err := ParseConf([]byte(`{"cniVersion":"1.1.0","name":"n","bridge":"br0"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeVeth || c.Server != DefaultServer || c.HostPortType != "afxdp" || c.upTimeout != DefaultUpTimeout {
		t.Fatalf("defaults: %+v", c)
	}
}

// Port names fit IFNAMSIZ and are stable; socket paths are refused at
// 108 bytes and accepted below.
func TestNames(t *testing.T) {
	a, b := PortName("c1", "eth0"), PortName("c1", "eth0")
	if a != b || len(a) > 15 || PortName("c1", "net1") == a {
		t.Fatalf("PortName: %q %q", a, b)
	}
	c := &NetConf{SocketDir: "/run/" + strings.Repeat("x", 80)}
	if _, _, err := c.SocketPath("c1", "eth0"); err != nil {
		t.Fatalf("short enough: %v", err)
	}
	c.SocketDir += strings.Repeat("y", 10)
	if _, _, err := c.SocketPath("c1", "eth0"); err == nil || !strings.Contains(err.Error(), "under 108") {
		t.Fatalf("too long: %v", err)
	}
}
