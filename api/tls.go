package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TCPConfig is how the daemon serves the API on TCP (--listen and the
// --tls-* flags). TCP is TLS unless the address is loopback and Insecure
// is set: anybody who can reach the port could otherwise reconfigure the
// switch.
type TCPConfig struct {
	Listen   string // tcp:HOST:PORT (or HOST:PORT)
	CertFile string // server certificate chain (PEM)
	KeyFile  string // its private key (PEM)
	CAFile   string // when set, clients must present a certificate signed by one of these CAs
	Insecure bool   // plaintext, allowed on loopback addresses only
}

// Addr is the HOST:PORT part of Listen.
func (c TCPConfig) Addr() string {
	return strings.TrimPrefix(c.Listen, "tcp:")
}

// Check validates the combination of flags without touching the network,
// so vswitchd refuses a bad one at start-up, before it opens anything. Each
// error is one line that says how to fix it.
func (c TCPConfig) Check() error {
	if c.Listen == "" {
		if c.CertFile != "" || c.KeyFile != "" || c.CAFile != "" || c.Insecure {
			return errors.New("--tls-cert, --tls-key, --tls-ca and --insecure apply to --listen tcp:HOST:PORT, which is not given")
		}
		return nil
	}
	if strings.HasPrefix(c.Listen, "unix:") || strings.HasPrefix(c.Listen, "ssl:") {
		return fmt.Errorf("--listen %q: use tcp:HOST:PORT (the Unix socket is always served, under --run-dir)", c.Listen)
	}
	host, port, err := net.SplitHostPort(c.Addr())
	if err != nil {
		return fmt.Errorf("--listen %q: want tcp:HOST:PORT, e.g. tcp:192.0.2.1:6641 or tcp:[::1]:6641", c.Listen)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("--listen %q: port %q is not a number in 0..65535", c.Listen, port)
	}
	tlsOn := c.CertFile != "" || c.KeyFile != ""
	switch {
	case tlsOn && (c.CertFile == "" || c.KeyFile == ""):
		return errors.New("--tls-cert and --tls-key go together: give both, the certificate and its private key")
	case tlsOn && c.Insecure:
		return errors.New("--insecure contradicts --tls-cert/--tls-key: drop --insecure to serve TLS")
	case !tlsOn && c.CAFile != "":
		return errors.New("--tls-ca needs --tls-cert and --tls-key: the server must present a certificate to ask for one")
	case !tlsOn && !c.Insecure:
		return fmt.Errorf("--listen %s: plaintext TCP is refused; give --tls-cert FILE --tls-key FILE (and --tls-ca FILE to require client certificates), or bind to 127.0.0.1 and add --insecure", c.Listen)
	case !tlsOn && !isLoopback(host):
		return fmt.Errorf("--listen %s: plaintext TCP is only allowed on a loopback address; give --tls-cert FILE --tls-key FILE, or use --listen tcp:127.0.0.1:%s --insecure", c.Listen, port)
	}
	return nil
}

// isLoopback reports whether host names only loopback addresses. An empty
// host or 0.0.0.0 binds every address, so it is not.
func isLoopback(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	if host != "localhost" {
		return false
	}
	ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false
		}
	}
	return true
}

// TCPListener is the API's TCP listener. With TLS, Reload re-reads the
// certificate, key and CA files (vswitchd does on SIGHUP), so certificates
// can be renewed without a restart; connections already open keep theirs.
type TCPListener struct {
	net.Listener
	cfg TCPConfig
	tls atomic.Pointer[tls.Config] // nil: plaintext
}

// ListenTCP checks c and listens on its address, with TLS unless c is a
// loopback --insecure one.
func ListenTCP(c TCPConfig) (*TCPListener, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	l := &TCPListener{cfg: c}
	if c.CertFile != "" {
		if err := l.Reload(); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", c.Addr())
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", c.Listen, unwrapOp(err))
	}
	l.Listener = ln
	return l, nil
}

// TLS reports whether the listener serves TLS, and whether it requires
// client certificates.
func (l *TCPListener) TLS() (on, clientCerts bool) {
	return l.cfg.CertFile != "", l.cfg.CAFile != ""
}

// Reload (re)reads the TLS files; on error the previous ones stay in use.
func (l *TCPListener) Reload() error {
	if l.cfg.CertFile == "" {
		return nil
	}
	cfg, err := loadServerTLS(l.cfg)
	if err != nil {
		return err
	}
	l.tls.Store(cfg)
	return nil
}

func loadServerTLS(c TCPConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", c.CertFile, c.KeyFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// gRPC clients insist on HTTP/2 being negotiated by ALPN.
		NextProtos: []string{"h2"},
	}
	if c.CAFile != "" {
		pool, err := loadCAs(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca %s: %w", c.CAFile, err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// loadCAs reads a PEM bundle of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in the file")
	}
	return pool, nil
}

// Accept wraps each connection in TLS with the current configuration. The
// handshake runs on the connection's first read or write, in the gRPC
// server's per-connection goroutine, so a slow client cannot hold up Accept.
func (l *TCPListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cfg := l.tls.Load()
	if cfg == nil {
		return c, nil
	}
	return &serverTLSConn{Conn: tls.Server(c, cfg)}, nil
}

// serverTLSConn logs a refused handshake (no or a bad client certificate)
// once, with the client's address: gRPC itself only drops the connection.
type serverTLSConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

// handshakeTimeout bounds a client that connects and says nothing.
const handshakeTimeout = 10 * time.Second

func (c *serverTLSConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if err := c.HandshakeContext(ctx); err != nil {
			c.err = err
			slog.Warn("api: TLS handshake refused", "remote", c.RemoteAddr().String(), "err", err)
		}
	})
	return c.err
}

func (c *serverTLSConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverTLSConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
