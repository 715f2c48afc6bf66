package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "vswitch/proto/vswitch/v1"
)

func TestTCPConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  TCPConfig
		want string // "" accepts; else a part of the one-line error
	}{
		{"nothing", TCPConfig{}, ""},
		{"tls", TCPConfig{Listen: "tcp:0.0.0.0:6641", CertFile: "c", KeyFile: "k"}, ""},
		{"tls with client CA", TCPConfig{Listen: "tcp:[::]:6641", CertFile: "c", KeyFile: "k", CAFile: "ca"}, ""},
		{"loopback insecure", TCPConfig{Listen: "tcp:127.0.0.1:6641", Insecure: true}, ""},
		{"loopback v6 insecure", TCPConfig{Listen: "tcp:[::1]:6641", Insecure: true}, ""},
		{"bare host:port", TCPConfig{Listen: "127.0.0.1:6641", Insecure: true}, ""},
		{"plaintext refused", TCPConfig{Listen: "tcp:192.0.2.1:6641"}, "plaintext TCP is refused; give --tls-cert FILE --tls-key FILE"},
		{"plaintext loopback without --insecure", TCPConfig{Listen: "tcp:127.0.0.1:6641"}, "or bind to 127.0.0.1 and add --insecure"},
		{"insecure on all addresses", TCPConfig{Listen: "tcp:0.0.0.0:6641", Insecure: true}, "only allowed on a loopback address"},
		{"insecure on empty host", TCPConfig{Listen: "tcp::6641", Insecure: true}, "only allowed on a loopback address"},
		{"cert without key", TCPConfig{Listen: "tcp:0.0.0.0:6641", CertFile: "c"}, "--tls-cert and --tls-key go together"},
		{"ca without cert", TCPConfig{Listen: "tcp:0.0.0.0:6641", CAFile: "ca", Insecure: true}, "--tls-ca needs --tls-cert"},
		{"insecure with tls", TCPConfig{Listen: "tcp:0.0.0.0:6641", CertFile: "c", KeyFile: "k", Insecure: true}, "--insecure contradicts"},
		{"tls flags without listen", TCPConfig{CertFile: "c", KeyFile: "k"}, "--listen tcp:HOST:PORT, which is not given"},
		{"no port", TCPConfig{Listen: "tcp:127.0.0.1", Insecure: true}, "want tcp:HOST:PORT"},
		{"bad port", TCPConfig{Listen: "tcp:127.0.0.1:99999", Insecure: true}, "not a number in 0..65535"},
		{"unix", TCPConfig{Listen: "unix:/tmp/x"}, "use tcp:HOST:PORT"},
	} {
		err := tc.cfg.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: accepted, want %q", tc.name, tc.want)
		case err != nil && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %q does not contain %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: not one line: %q", tc.name, err)
		}
	}
}

// testPKI is a CA with a server and a client certificate, as PEM files.
type testPKI struct {
	dir                                                  string
	caFile, serverCert, serverKey, clientCert, clientKey string
	ca                                                   *x509.Certificate
	caKey                                                *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T, dir, name string) *testPKI {
	t.Helper()
	p := &testPKI{dir: dir}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = caKey
	p.caFile = writePEM(t, filepath.Join(dir, name+"-ca.pem"), "CERTIFICATE", der)
	p.serverCert, p.serverKey = p.issue(t, name+"-server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = p.issue(t, name+"-client", x509.ExtKeyUsageClientAuth)
	return p
}

func (p *testPKI) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, filepath.Join(p.dir, name+".pem"), "CERTIFICATE", der),
		writePEM(t, filepath.Join(p.dir, name+"-key.pem"), "PRIVATE KEY", kder)
}

func writePEM(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The TCP listener serves gRPC over TLS and, with a CA, only to clients
// holding a certificate that CA signed.
func TestListenTCPClientCertificates(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir, "good")
	other := newTestPKI(t, dir, "other")
	ln, err := ListenTCP(TCPConfig{Listen: "tcp:127.0.0.1:0", CertFile: pki.serverCert, KeyFile: pki.serverKey, CAFile: pki.caFile})
	if err != nil {
		t.Fatal(err)
	}
	f := newFake()
	srv := newServer(f)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	addr := ln.Addr().String()

	roots := x509.NewCertPool()
	roots.AddCert(pki.ca)
	call := func(creds credentials.TransportCredentials) error {
		cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = pb.NewVswitchClient(cc).AddBridge(ctx, &pb.AddBridgeRequest{Name: "br0", MayExist: true})
		return err
	}
	load := func(cert, key string) []tls.Certificate {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	tlsCreds := func(certs []tls.Certificate) credentials.TransportCredentials {
		return credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: certs})
	}

	if err := call(tlsCreds(load(pki.clientCert, pki.clientKey))); err != nil {
		t.Fatalf("client with a certificate from the CA: %v", err)
	}
	for name, creds := range map[string]credentials.TransportCredentials{
		"no client certificate": tlsCreds(nil),
		"certificate from another CA": credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1",
			// Sent even though the server asks for its own CAs: Go would
			// otherwise quietly send none.
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &load(other.clientCert, other.clientKey)[0], nil
			}}),
		"plaintext":                    insecure.NewCredentials(),
		"server not trusted by client": credentials.NewTLS(&tls.Config{ServerName: "127.0.0.1", Certificates: load(pki.clientCert, pki.clientKey)}),
	} {
		if err := call(creds); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}
	if n := strings.Count(strings.Join(f.callLog(), "\n"), "AddBridge"); n != 1 {
		t.Errorf("AddBridge reached the switch %d times, want once (only the good client)", n)
	}

	// Reload keeps serving with the files re-read; a broken file is refused
	// and the previous configuration stays.
	if err := ln.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	os.WriteFile(pki.serverKey, []byte("garbage"), 0o600)
	if err := ln.Reload(); err == nil {
		t.Fatal("reload of a broken key accepted")
	}
	if err := call(tlsCreds(load(pki.clientCert, pki.clientKey))); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}
