package vhostuser_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vswitch/datapath/netdev"
	"vswitch/vhostuser"
)

// TestRegisteredTypes opens the port types through netdev as the bridge does.
func TestRegisteredTypes(t *testing.T) {
	dir := t.TempDir()
	p, err := netdev.Open(netdev.Config{Name: "vhu0", Type: "dpdkvhostuser", RunDir: dir,
		Options: map[string]string{"vhost-sock-mode": "0600", "n_rxq": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fi, err := os.Stat(filepath.Join(dir, "vhu0"))
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", fi, err)
	}
	if p.RxQueues() != 2 || p.PollFD(0) < 0 || p.PollFD(1) < 0 {
		t.Errorf("queues %d pollfds %d %d", p.RxQueues(), p.PollFD(0), p.PollFD(1))
	}
	if in := p.(*vhostuser.Port).Info(); in.State != "listening" || in.Mode != "server" {
		t.Errorf("info %+v", in)
	}
	// A second server on the same live socket is refused.
	if _, err := netdev.Open(netdev.Config{Name: "vhu0", Type: "vhostuser", RunDir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second server: %v", err)
	}
	long := "/tmp/" + strings.Repeat("x", 110)
	if _, err := netdev.Open(netdev.Config{Name: "v", Type: "dpdkvhostuser", Options: map[string]string{"vhost-server-path": long}}); err == nil {
		t.Errorf("path over 107 bytes accepted")
	}
	if _, err := netdev.Open(netdev.Config{Name: "v", Type: "dpdkvhostuserclient"}); err == nil {
		t.Errorf("client without vhost-server-path accepted")
	}
	c, err := netdev.Open(netdev.Config{Name: "vc", Type: "vhostuserclient", Options: map[string]string{"vhost-server-path": filepath.Join(dir, "nobody")}})
	if err != nil {
		t.Fatal(err)
	}
	if in := c.(*vhostuser.Port).Info(); in.State != "connecting" || in.Mode != "client" {
		t.Errorf("client info %+v", in)
	}
	c.Close()
	// A stale socket (nobody listening) is replaced.
	p.Close()
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := netdev.Open(netdev.Config{Name: "plain", Type: "dpdkvhostuser", RunDir: dir}); err == nil {
		t.Errorf("regular file at the socket path replaced")
	}
}
