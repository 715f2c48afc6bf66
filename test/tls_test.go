package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pki is a CA with a server and a client certificate in PEM files, made
// here with crypto/x509 so the test needs no openssl.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T, dir, name string) pki {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := pki{ca: writePEMFile(t, filepath.Join(dir, name+"-ca.pem"), "CERTIFICATE", caDER)}
	issue := func(cn string, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		tmpl := &x509.Certificate{
			SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return writePEMFile(t, filepath.Join(dir, cn+".pem"), "CERTIFICATE", der),
			writePEMFile(t, filepath.Join(dir, cn+"-key.pem"), "PRIVATE KEY", kder)
	}
	p.serverCert, p.serverKey = issue(name+"-server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(name+"-client", x509.ExtKeyUsageClientAuth)
	return p
}

func writePEMFile(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePort returns a TCP port on 127.0.0.1 nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// vsctlRaw runs vsctl with exactly args (no --server added).
func vsctlRaw(args ...string) VsctlResult { return runVsctl("", args...) }

// vswitchd with --listen on TCP, TLS and a client CA: vsctl with a client
// certificate from that CA drives it; without one, with one from another
// CA, or in plaintext it is refused and nothing changes.
func TestTLSClientCertificates(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	good := newPKI(t, dir, "good")
	other := newPKI(t, dir, "other")
	port := freePort(t)
	server := "tcp:127.0.0.1:" + port
	d := newDaemon(t)
	d.Extra = []string{"--listen", server, "--tls-cert", good.serverCert, "--tls-key", good.serverKey, "--tls-ca", good.ca}
	d.Start()

	br := uniq("tls", 6)
	d.trackLink(br)
	withCert := []string{"--server", server, "--tls-ca", good.ca, "--tls-cert", good.clientCert, "--tls-key", good.clientKey}
	if r := vsctlRaw(append(withCert, "add-br", br)...); r.Code != 0 {
		t.Fatalf("add-br over TLS with a client certificate: exit %d: %s", r.Code, r.Stderr)
	}
	r := vsctlRaw(append(withCert, "show")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Bridge "+br) {
		t.Fatalf("show over TLS: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	// The same bridge through the Unix socket: one daemon, two listeners.
	if out := d.Vsctl("list-br"); !strings.Contains(out, br) {
		t.Fatalf("list-br over the Unix socket = %q, want %s", out, br)
	}
	t.Logf("with a client certificate: add-br %s, show lists it", br)

	before := d.Vsctl("show")
	bad := uniq("tlsx", 6)
	d.trackLink(bad)
	for _, c := range []struct {
		name string
		args []string
		want string // in the one-line error
	}{
		{"no client certificate", []string{"--server", server, "--tls-ca", good.ca}, "certificate"},
		{"certificate from another CA", []string{"--server", server, "--tls-ca", good.ca, "--tls-cert", other.clientCert, "--tls-key", other.clientKey}, "certificate"},
		{"server certificate not trusted", []string{"--server", server, "--tls-ca", other.ca, "--tls-cert", good.clientCert, "--tls-key", good.clientKey}, "--tls-ca"},
		{"plaintext", []string{"--server", server}, server},
	} {
		r := vsctlRaw(append(c.args, "--timeout", "10", "add-br", bad)...)
		msg := strings.TrimRight(r.Stderr, "\n")
		t.Logf("%s: exit %d: %s", c.name, r.Code, msg)
		if r.Code != 1 {
			t.Errorf("%s: exit %d, want 1", c.name, r.Code)
		}
		if !strings.HasPrefix(msg, "vsctl: ") || strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: stderr %q: want one line \"vsctl: …\" mentioning %q", c.name, msg, c.want)
		}
	}
	if after := d.Vsctl("show"); after != before && strings.Contains(after, bad) {
		t.Errorf("a refused client added bridge %s", bad)
	}
	if out := d.Vsctl("list-br"); strings.Contains(out, bad) {
		t.Errorf("list-br = %q: a refused client added %s", out, bad)
	}
	log := d.logTail(200)
	if n := strings.Count(log, "TLS handshake refused"); n < 2 {
		t.Errorf("daemon log shows %d refused handshakes, want at least 2 (no and foreign certificate):\n%s", n, log)
	}
}

// Plaintext TCP is refused at start-up unless the address is loopback and
// --insecure is given; the refusal is one line that says how to fix it.
func TestPlaintextTCPRefused(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	port := freePort(t)
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"all addresses", []string{"--listen", "tcp:0.0.0.0:" + port}, []string{"plaintext TCP is refused", "--tls-cert", "--tls-key", "--insecure"}},
		{"all addresses with --insecure", []string{"--listen", "tcp:0.0.0.0:" + port, "--insecure"}, []string{"loopback", "--tls-cert", "tcp:127.0.0.1:" + port}},
		{"non-loopback address with --insecure", []string{"--listen", "tcp:192.0.2.1:" + port, "--insecure"}, []string{"loopback", "--tls-cert"}},
		{"loopback without --insecure", []string{"--listen", "tcp:127.0.0.1:" + port}, []string{"--insecure"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := append([]string{"--db", filepath.Join(dir, "conf.db"), "--run-dir", filepath.Join(dir, "run"), "--mem", "16M"}, c.args...)
		cmd := exec.CommandContext(ctx, vswitchdBin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		msg := strings.TrimRight(stderr.String(), "\n")
		t.Logf("vswitchd %s: %v: %s", strings.Join(c.args, " "), err, msg)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("%s: vswitchd did not fail (%v)", c.name, err)
		}
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "vswitchd: ") {
			t.Errorf("%s: stderr is not one line \"vswitchd: …\": %q", c.name, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not mention %q", c.name, msg, w)
			}
		}
		// Refused before anything was opened.
		if _, err := os.Stat(filepath.Join(dir, "conf.db")); err == nil {
			t.Errorf("%s: the store was created before the refusal", c.name)
		}
	}
}

// Loopback + --insecure serves plaintext gRPC on TCP.
func TestInsecureLoopback(t *testing.T) {
	requireE2E(t)
	server := "tcp:127.0.0.1:" + freePort(t)
	d := newDaemon(t)
	d.Extra = []string{"--listen", server, "--insecure"}
	d.Start()
	br := uniq("ins", 6)
	d.trackLink(br)
	if r := vsctlRaw("--server", server, "add-br", br); r.Code != 0 {
		t.Fatalf("add-br over plaintext loopback TCP: exit %d: %s", r.Code, r.Stderr)
	}
	if r := vsctlRaw("--server", server, "list-br"); r.Code != 0 || !strings.Contains(r.Stdout, br) {
		t.Fatalf("list-br over TCP: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	// VSWITCH_SERVER names a TCP server too.
	cmd := exec.Command(vsctlBin, "br-exists", br)
	cmd.Env = append(os.Environ(), "VSWITCH_SERVER="+server)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("VSWITCH_SERVER=%s vsctl br-exists %s: %v: %s", server, br, err, out)
	}
}

// --log-file with logrotate's move-and-signal: after the file is moved
// away and SIGHUP sent, vswitchd creates the file afresh and new lines go
// there, not to the moved file.
func TestLogFileReopenOnSIGHUP(t *testing.T) {
	requireE2E(t)
	d := newDaemon(t)
	logPath := filepath.Join(filepath.Dir(d.Dir), "vswitchd-own.log")
	d.Extra = []string{"--log-file", logPath}
	d.Start()
	first := d.AddBridge("lga")
	waitFileContains(t, logPath, "bridge="+first)

	rotated := logPath + ".1"
	if err := os.Rename(logPath, rotated); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(d.PID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFileContains(t, logPath, "log file reopened")
	second := d.AddBridge("lgb")
	waitFileContains(t, logPath, "bridge="+second)
	old, _ := os.ReadFile(rotated)
	if strings.Contains(string(old), second) {
		t.Errorf("the moved file still receives lines: it mentions %s", second)
	}
	if !strings.Contains(string(old), first) {
		t.Errorf("the moved file lost its lines: no %s", first)
	}
	if !d.Running() {
		t.Fatal("vswitchd exited on SIGHUP")
	}
	cur, _ := os.ReadFile(logPath)
	t.Logf("new log file: %d bytes, %d lines; moved file: %d bytes", len(cur), strings.Count(string(cur), "\n"), len(old))
}

func waitFileContains(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not contain %q after 10s (err %v):\n%s", path, want, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
