package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// dialFlags are the options that say where vswitchd is and how to reach
// it: --server unix:PATH | tcp:HOST:PORT | ssl:HOST:PORT and the TLS
// files for TCP. They are taken off the command line before the commands
// are parsed, so the command parser never needs to know about them.
type dialFlags struct {
	server         string // "" (default socket), a Unix path, or tcp:/ssl:HOST:PORT
	cert, key, ca  string
	serverExplicit bool
}

// takeDialFlags removes the dial options from args (as --opt VALUE or
// --opt=VALUE, wherever they stand, as the command parser accepts its
// global options anywhere) and returns them with the remaining arguments;
// the last of a repeated option wins. A TCP VSWITCH_SERVER is taken here
// too; a Unix one is left to the caller.
func takeDialFlags(args []string, getenv func(string) string) (dialFlags, []string, error) {
	var f dialFlags
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		dst := f.field(name)
		if dst == nil {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) || args[i+1] == "--" {
				return f, nil, syntaxf("option %s needs a value", name)
			}
			i++
			val = args[i]
		}
		if val == "" {
			return f, nil, usagef("option %s: empty value", name)
		}
		*dst = val
		if name == "--server" || name == "--db" {
			f.serverExplicit = true
		}
	}
	if !f.serverExplicit {
		if env := getenv("VSWITCH_SERVER"); isTCPTarget(env) {
			f.server = env
		}
	}
	return f, rest, f.check()
}

func (f *dialFlags) field(name string) *string {
	switch name {
	case "--server", "--db": // ovs-vsctl's --db=unix:PATH|tcp:HOST:PORT (os-vif passes it)
		return &f.server
	case "--tls-cert":
		return &f.cert
	case "--tls-key":
		return &f.key
	case "--tls-ca":
		return &f.ca
	}
	return nil
}

func isTCPTarget(s string) bool {
	return strings.HasPrefix(s, "tcp:") || strings.HasPrefix(s, "ssl:")
}

func (f *dialFlags) check() error {
	tlsFiles := f.cert != "" || f.key != "" || f.ca != ""
	switch {
	case f.server != "" && isTCPTarget(f.server):
		hostport := f.server[len("tcp:"):]
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			return usagef("server %q: want tcp:HOST:PORT or ssl:HOST:PORT", f.server)
		}
	case f.server != "":
		path, err := serverPath(f.server)
		if err != nil {
			return usagef("server %q: use unix:PATH, a socket PATH or tcp:HOST:PORT", f.server)
		}
		f.server = path
		if tlsFiles {
			return usagef("--tls-cert, --tls-key and --tls-ca apply to a tcp:HOST:PORT server, not the Unix socket %s", path)
		}
	case tlsFiles:
		return usagef("--tls-cert, --tls-key and --tls-ca need --server tcp:HOST:PORT")
	}
	if (f.cert == "") != (f.key == "") {
		return usagef("--tls-cert and --tls-key go together: give the client certificate and its private key")
	}
	return nil
}

// dialServer connects to the daemon named by --server (f.server, if given)
// or by path (the Unix socket chosen by the caller).
func dialServer(path string, f dialFlags) (*client, error) {
	if f.server == "" || !isTCPTarget(f.server) {
		return dial(path)
	}
	return dialTCP(f)
}

// dialTCP connects over TCP: with TLS for ssl: or when any TLS file is
// given, plaintext otherwise (a loopback vswitchd started with --insecure).
func dialTCP(f dialFlags) (*client, error) {
	hostport := f.server[len("tcp:"):]
	host, _, _ := net.SplitHostPort(hostport)
	cl := &client{path: f.server}
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", hostport)
		cl.setDialErr(err)
		if err != nil {
			return nil, err
		}
		return &alertConn{Conn: c, cl: cl, plain: true}, nil
	}
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if strings.HasPrefix(f.server, "ssl:") || f.cert != "" || f.ca != "" {
		cfg, err := clientTLS(f, host)
		if err != nil {
			return nil, err
		}
		creds = &recordingCreds{TransportCredentials: credentials.NewTLS(cfg), cl: cl}
	}
	conn, err := grpc.NewClient("passthrough:///"+hostport,
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(dialer))
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", f.server, err)
	}
	cl.conn = conn
	return cl, nil
}

// clientTLS verifies the server against --tls-ca (the system roots
// without it) under the name in --server, and presents the client
// certificate when one is given.
func clientTLS(f dialFlags, host string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if f.cert != "" {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", f.cert, f.key, err)
		}
		// Always present it, even when the server asks for other CAs, so
		// a wrong certificate is refused as such rather than as missing.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in the file", f.ca)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func (cl *client) setDialErr(err error) {
	cl.mu.Lock()
	cl.dialErr = err
	cl.mu.Unlock()
}

// recordingCreds remembers why TLS failed, so explain can say "cannot
// connect: tls: …" with a hint instead of gRPC's transport wording. With
// TLS 1.3 the server judges the client's certificate after the client's
// handshake is done: its refusal arrives as an alert on the first read.
type recordingCreds struct {
	credentials.TransportCredentials
	cl *client
}

func (r *recordingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, info, err := r.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		r.cl.setDialErr(err)
		return c, info, err
	}
	if ac, ok := conn.(*alertConn); ok {
		ac.plain = false // the TLS layer above reports from now on
	}
	return &alertConn{Conn: c, cl: r.cl}, info, nil
}

func (r *recordingCreds) Clone() credentials.TransportCredentials {
	return &recordingCreds{TransportCredentials: r.TransportCredentials.Clone(), cl: r.cl}
}

type alertConn struct {
	net.Conn
	cl       *client
	plain    bool        // no TLS: a TLS server hangs up on our first bytes
	answered atomic.Bool // the server has sent something
}

func (c *alertConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.answered.Store(true)
	}
	c.failed(err)
	return n, err
}

func (c *alertConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.failed(err)
	return n, err
}

// failed records an error before the server's first word: its alert when
// it arrived, else the bare fact that it hung up, which after a completed
// handshake means it did not accept our certificate.
func (c *alertConn) failed(err error) {
	switch {
	case err == nil || c.answered.Load():
	case c.plain:
		c.cl.setDialErr(fmt.Errorf("vswitchd closed the plaintext connection before answering (%v)", unwrapOp(err)))
	case strings.Contains(err.Error(), "tls: "):
		c.cl.setDialErr(err)
	default:
		c.cl.setDialErr(fmt.Errorf("vswitchd closed the TLS connection before answering (%v)", unwrapOp(err)))
	}
}

// dialHint says what to do about a failed connection.
func dialHint(err error) string {
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	switch {
	case errors.Is(err, unix.EACCES):
		return "(run as root or as a member of vswitchd's --socket-group)"
	case errors.As(err, &uerr):
		return "(give --tls-ca with the CA that signed vswitchd's certificate)"
	case errors.As(err, &herr):
		return "(name the server in --server as its certificate does)"
	case strings.Contains(msg, "closed the TLS connection before answering"):
		return "(vswitchd wants a client certificate signed by its --tls-ca: check --tls-cert and --tls-key)"
	case strings.Contains(msg, "closed the plaintext connection before answering"):
		return "(it serves TLS: give --tls-ca, and --tls-cert and --tls-key if it asks for a client certificate)"
	case strings.Contains(msg, "certificate required"):
		return "(vswitchd requires a client certificate: give --tls-cert and --tls-key)"
	case strings.Contains(msg, "tls: unknown certificate authority"), strings.Contains(msg, "tls: bad certificate"):
		return "(vswitchd does not trust this client certificate: use one signed by its --tls-ca)"
	case strings.Contains(msg, "tls: "), strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "(check that vswitchd's --listen serves TLS and that --tls-ca, --tls-cert and --tls-key are right)"
	}
	return "(is vswitchd running?)"
}

// usageExit is the exit status for a command-line error: 2 for a syntax
// error, 1 for a bad value.
func usageExit(err error) int {
	var ue *usageError
	if errors.As(err, &ue) && ue.syntax {
		return 2
	}
	return 1
}
