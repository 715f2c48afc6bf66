package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// os-vif (OpenStack's VIF library, Debian's python3-os-vif) plugs and
// unplugs a VIFVHostUser and a VIFOpenVSwitch with its real ovs plugin,
// whose deprecated-but-present vsctl OVSDB driver runs `ovs-vsctl`: a PATH
// shim of that name logs each command line and runs vsctl. Then the same
// command forms are checked one by one against vsctl, over the Unix
// socket and over --db=tcp:HOST:PORT.
func TestOSVIFPlugUnplug(t *testing.T) {
	requireE2E(t)
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import os_vif, vif_plug_ovs.ovsdb.impl_vsctl").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("python3-os-vif not importable (make deps installs it): %v %s", err, out)
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	d := newDaemon(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := l.Addr().String()
	l.Close()
	d.Extra = []string{"--listen", "tcp:" + tcpAddr, "--insecure"}
	d.Start()
	br := uniq("bros", 6)
	d.trackLink(br)

	shim := t.TempDir()
	cmdLog := filepath.Join(shim, "commands.log")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\nexec %s \"$@\"\n", cmdLog, vsctlBin)
	if err := os.WriteFile(filepath.Join(shim, "ovs-vsctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	osvif := func(args ...string) {
		t.Helper()
		cmd := exec.Command(py, append([]string{"osvif/osvif_vif.py"}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+shim+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			log, _ := os.ReadFile(cmdLog)
			t.Fatalf("os-vif %v: %v\n%s\nvsctl command lines:\n%s", args, err, out, log)
		}
	}
	db := "unix:" + d.Sock

	vhuID := "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"
	vhuPort := "vhu" + vhuID[:11]
	sock := filepath.Join(shim, "vm1.sock")
	osvif("plug", "vhostuser", br, vhuID, db, sock)

	ovsID := "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	tap := uniq("tap", 8)
	run(t, "ip", "link", "add", tap, "type", "veth", "peer", "name", tap+"p")
	t.Cleanup(func() { exec.Command("ip", "link", "del", tap).Run() })
	osvif("plug", "ovs", br, ovsID, db, tap)

	log, _ := os.ReadFile(cmdLog)
	t.Logf("os-vif's vsctl command lines:\n%s", log)
	show := d.Vsctl("show")
	t.Logf("show after plug:\n%s", show)
	for _, want := range []string{
		"datapath_type: netdev",
		"Port " + vhuPort, "type: dpdkvhostuserclient", `vhost-server-path="` + sock + `"`,
		`attached-mac="ca:fe:de:ad:be:ef"`, "iface-id=\"" + vhuID + "\"", "iface-status=active",
		"vm-uuid=d5f2a3e6-8f9c-4c7b-9d6e-1a2b3c4d5e6f",
		"Port " + tap, "iface-id=\"" + ovsID + "\"",
	} {
		if !strings.Contains(show, want) {
			t.Fatalf("show lacks %q after os-vif plug:\n%s", want, show)
		}
	}
	if got := strings.TrimSpace(d.Vsctl("get", "Interface", vhuPort, "mtu_request")); got != "1450" {
		t.Fatalf("os-vif's mtu_request on %s: got %q, want 1450", vhuPort, got)
	}
	if l := run(t, "ip", "-o", "link", "show", tap); !strings.Contains(l, "mtu 1450") {
		t.Fatalf("os-vif set no MTU on %s:\n%s", tap, l)
	}

	// Stored: a restart brings back datapath_type and the external_ids.
	if err := d.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	d.Start()
	if again := d.Vsctl("show"); !strings.Contains(again, "datapath_type: netdev") || !strings.Contains(again, "iface-id=\""+vhuID+"\"") {
		t.Fatalf("datapath_type or external_ids lost in a restart:\n%s", again)
	}

	osvif("unplug", "vhostuser", br, vhuID, db, sock)
	osvif("unplug", "ovs", br, ovsID, db, tap)
	if ports := strings.TrimSpace(d.Vsctl("list-ports", br)); ports != "" {
		t.Fatalf("ports left after os-vif unplug: %s", ports)
	}
	if _, err := runErr("ip", "link", "show", tap); err == nil {
		t.Fatalf("os-vif unplug did not delete %s", tap)
	}

	// The same command forms, directly, with their outputs.
	opts := []string{"--timeout=10", "--oneline", "--format=json", "--db=" + db}
	vsctl := func(args ...string) string {
		t.Helper()
		return d.Vsctl(append(append([]string{}, opts...), args...)...)
	}
	port := uniq("vhu", 8)
	out := vsctl("--", "--may-exist", "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev",
		"--", "--may-exist", "add-port", br, port, "--", "set", "Interface", port,
		"external_ids:iface-id=abc", "external_ids:iface-status=active", "external_ids:attached-mac=02:00:00:00:00:01",
		"external_ids:vm-uuid=vm-1", "type=dpdkvhostuserclient", "options:vhost-server-path="+sock, "mtu_request=1500")
	if out != "\n\n\n\n" {
		t.Fatalf("--oneline: want one (empty) line per command, got %q", out)
	}
	out = vsctl("--", "--columns=name,external_ids,type", "list", "Interface", port)
	var table struct {
		Headings []string `json:"headings"`
		Data     [][]any  `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &table); err != nil || len(table.Data) != 1 || table.Data[0][0] != port {
		t.Fatalf("list --columns --format=json: %v\n%s", err, out)
	}
	if ids := fmt.Sprint(table.Data[0][1]); !strings.Contains(ids, "iface-id abc") || !strings.Contains(ids, "vm-uuid vm-1") {
		t.Fatalf("external_ids in list: %s", out)
	}
	if out := vsctl("--", "--columns=name", "find", "Interface", "external_ids:iface-id=abc"); !strings.Contains(out, `"`+port+`"`) {
		t.Fatalf("find by external_ids: %s", out)
	}
	if out := vsctl("--", "iface-to-br", port, "--", "list-ifaces", br); out != br+"\n"+port+"\n" {
		t.Fatalf("iface-to-br + list-ifaces with --oneline: %q", out)
	}
	vsctl("--", "add", "Interface", port, "external_ids", "extra=1", "iface-id=ignored")
	if got := d.Vsctl("get", "Interface", port, "external_ids:iface-id"); strings.TrimSpace(got) != "abc" {
		t.Fatalf("add replaced an existing key: iface-id %s", got)
	}
	if got := d.Vsctl("get", "Interface", port, "external_ids:extra"); strings.TrimSpace(got) != `"1"` && strings.TrimSpace(got) != "1" {
		t.Fatalf("add did not add extra=1: %s", got)
	}
	vsctl("--", "clear", "Interface", port, "external_ids")
	if got := strings.TrimSpace(d.Vsctl("get", "Interface", port, "external_ids")); got != "{}" {
		t.Fatalf("clear external_ids: %s", got)
	}
	if got := strings.TrimSpace(d.Vsctl("--db=tcp:"+tcpAddr, "get", "Bridge", br, "datapath_type")); got != "netdev" {
		t.Fatalf("--db=tcp: get Bridge datapath_type: %q", got)
	}
	r := d.VsctlErr(append(opts, "--", "--id=@m", "create", "Manager", "target=ptcp:6640")...)
	if r.Code == 0 || !strings.Contains(r.Stderr, "Manager") {
		t.Fatalf("create Manager: want a clear refusal, got %+v", r)
	}
	vsctl("--", "destroy", "Interface", port)
	vsctl("--", "--if-exists", "del-port", port)
	vsctl("--", "--if-exists", "destroy", "Interface", port)
	if ports := strings.TrimSpace(d.Vsctl("list-ports", br)); ports != "" {
		t.Fatalf("destroy left ports: %s", ports)
	}
}
