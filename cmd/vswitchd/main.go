// Command vswitchd is the vswitch daemon: it opens the configuration store,
// starts the PMDs, reconciles the datapath to the store and serves gRPC.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"vswitch/api"
	"vswitch/bridge"
	"vswitch/datapath"
	"vswitch/datapath/netdev"
	"vswitch/metrics"
	"vswitch/store"
)

type options struct {
	db, runDir, pmdCores, mem, pmdPoll, socketGroup, logLevel string
	emcInvProb, metricsAddr                                   string
	rxqAssign                                                 string
	dpdkEAL                                                   string // EAL arguments; DPDK is off when empty

	// API over TCP (api/tls.go), request limits and the log file.
	tcp                 api.TCPConfig
	maxRequest, logFile string
	callTimeout         time.Duration
}

// The main goroutine keeps the process's main thread, so no PMD (which
// renames and pins its thread) ever lands on it: ps and top keep showing
// "vswitchd" for the process.
func init() { runtime.LockOSThread() }

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	flag.StringVar(&o.db, "db", "/var/lib/vswitch/conf.db", "configuration store (bbolt file)")
	flag.StringVar(&o.runDir, "run-dir", "/run/vswitch", "directory for the control socket and every other per-instance path")
	flag.StringVar(&o.pmdCores, "pmd-cores", "", "CPUs to run PMD threads on, e.g. 1 or 2,3 or 2-5 (default: the last CPU)")
	flag.StringVar(&o.mem, "mem", "256M", "packet buffer arena size (K, M, G suffixes)")
	flag.StringVar(&o.pmdPoll, "pmd-poll", "auto", "auto: PMDs park on epoll when idle; always: PMDs poll without pause")
	flag.StringVar(&o.socketGroup, "socket-group", "", "group owning the control socket (mode 0660)")
	flag.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	flag.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on ADDR (HOST:PORT; a bare PORT means 127.0.0.1); off when empty")
	flag.StringVar(&o.emcInvProb, "emc-insert-inv-prob", "100", "a megaflow hit enters the exact-match cache with probability 1/N; 0 disables the EMC")
	flag.StringVar(&o.rxqAssign, "pmd-rxq-assign", "cycles", "how rx queues are spread over PMDs: cycles (busiest first, to the least loaded PMD) or roundrobin")
	flag.StringVar(&o.dpdkEAL, "dpdk-eal-args", "", "initialise DPDK with these EAL arguments (e.g. \"--in-memory -l 0\") so dpdk ports can be added; needs a binary built with -tags dpdk")
	flag.StringVar(&o.tcp.Listen, "listen", "", "also serve the API on tcp:HOST:PORT, with TLS (--tls-cert, --tls-key); plaintext only on loopback with --insecure")
	flag.StringVar(&o.tcp.CertFile, "tls-cert", "", "TLS server certificate (PEM) for --listen")
	flag.StringVar(&o.tcp.KeyFile, "tls-key", "", "private key (PEM) of --tls-cert")
	flag.StringVar(&o.tcp.CAFile, "tls-ca", "", "CA bundle (PEM): --listen clients must present a certificate signed by it")
	flag.BoolVar(&o.tcp.Insecure, "insecure", false, "allow plaintext --listen on a loopback address (127.0.0.1, ::1)")
	flag.StringVar(&o.maxRequest, "max-request-size", "8M", "largest API request accepted (K, M suffixes); larger ones get ResourceExhausted")
	flag.DurationVar(&o.callTimeout, "call-timeout", api.DefaultCallTimeout, "longest a unary API call may take (streams are not bounded); 0 means no limit")
	flag.StringVar(&o.logFile, "log-file", "", "write logs to FILE instead of stderr; SIGHUP reopens it (for logrotate)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see vswitchd -h)", flag.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", o.logLevel)
	}
	// Refuse an unsafe or incomplete --listen before anything is opened.
	if err := o.tcp.Check(); err != nil {
		return err
	}
	maxRequest, err := datapath.ParseSize(o.maxRequest)
	if err != nil {
		return fmt.Errorf("--max-request-size %q: %w", o.maxRequest, err)
	}
	if o.callTimeout < 0 {
		return fmt.Errorf("--call-timeout %s: must not be negative (0 means no limit)", o.callTimeout)
	}
	var logOut io.Writer = os.Stderr
	var logF *logFile
	if o.logFile != "" {
		if logF, err = openLogFile(o.logFile); err != nil {
			return err
		}
		defer logF.Close()
		logOut = logF
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})))

	st, err := store.Open(o.db, time.Second)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := o.applyStored(st); err != nil {
		return err
	}
	if err := collectOrphans(st); err != nil { // netnsgc.go
		return fmt.Errorf("remove ports of vanished network namespaces: %w", err)
	}
	cores, err := datapath.ParseCPUList(o.pmdCores)
	if err != nil {
		return fmt.Errorf("--pmd-cores %q: %w", o.pmdCores, err)
	}
	mem, err := datapath.ParseSize(o.mem)
	if err != nil {
		return fmt.Errorf("--mem %q: %w", o.mem, err)
	}
	pollAlways, err := datapath.ParsePMDPoll(o.pmdPoll)
	if err != nil {
		return fmt.Errorf("--pmd-poll %q: %w", o.pmdPoll, err)
	}
	// DPDK's EAL before any port opens (stored dpdk ports open in bridge.New).
	if o.dpdkEAL != "" {
		if err := netdev.InitDPDK(o.dpdkEAL); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(o.runDir, 0o755); err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	sockPath := filepath.Join(o.runDir, "vswitchd.sock")
	lis, err := api.Listen(sockPath, o.socketGroup)
	if err != nil {
		return err
	}
	var tcpLis *api.TCPListener
	if o.tcp.Listen != "" {
		if tcpLis, err = api.ListenTCP(o.tcp); err != nil {
			lis.Close()
			return err
		}
		defer tcpLis.Close()
	}

	emc := bridge.EMCInsertInvProb(o.emcInvProb)
	if emc == 0 {
		emc = datapath.EMCDisabled
	}
	assign, err := datapath.ParseRxqAssign(o.rxqAssign)
	if err != nil {
		lis.Close()
		return err
	}
	dp, err := datapath.New(datapath.Config{PMDCores: cores, MemBytes: mem, PollAlways: pollAlways, EMCInsertInvProb: emc, RxqAssign: assign}, nil)
	if err != nil {
		lis.Close()
		return err
	}
	pages := "ordinary pages (no free hugepages; MADV_HUGEPAGE requested)"
	if dp.Arena().Huge() {
		pages = "2 MiB hugepages"
	}
	slog.Info("packet arena mapped", "bytes", dp.Arena().Size(), "frames", dp.Arena().Frames(), "backing", pages)
	sw, err := bridge.New(st, dp, bridge.Options{RunDir: o.runDir})
	if err != nil {
		lis.Close()
		dp.Stop()
		return err
	}
	dp.Start()
	pidFile := filepath.Join(o.runDir, "vswitchd.pid")
	os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)

	if o.metricsAddr != "" {
		ml, err := metrics.Serve(o.metricsAddr, sw)
		if err != nil {
			lis.Close()
			sw.Close()
			dp.Stop()
			return err
		}
		defer ml.Close()
		slog.Info("metrics served", "addr", ml.Addr().String())
	}
	srv := api.NewServer(sw, api.WithMaxRequestBytes(maxRequest), api.WithCallTimeout(o.callTimeout))
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(lis) }()
	if tcpLis != nil {
		go func() { serveErr <- srv.Serve(tcpLis) }()
		tlsOn, clientCerts := tcpLis.TLS()
		slog.Info("api served on tcp", "addr", tcpLis.Addr().String(), "tls", tlsOn, "client_certs_required", clientCerts)
	}
	slog.Info("vswitchd ready", "socket", sockPath, "db", st.Path(), "pmd_cores", cores, "pmd_poll", o.pmdPoll, "gomaxprocs", runtime.GOMAXPROCS(0))
	if err := sdNotify("READY=1"); err != nil {
		slog.Warn("systemd notification failed", "err", err)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				reopen(logF, tcpLis)
				continue
			}
			slog.Info("stopping", "signal", s.String())
		case err = <-serveErr:
			slog.Error("grpc server stopped", "err", err)
		}
		break wait
	}
	sdNotify("STOPPING=1")
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		srv.Stop()
	}
	sw.Close()
	dp.Stop()
	os.Remove(sockPath)
	os.Remove(pidFile)
	return err
}

// reopen handles SIGHUP: a new log file (after logrotate moved the old
// one) and fresh TLS files (after a certificate renewal).
func reopen(lf *logFile, tcpLis *api.TCPListener) {
	if lf != nil {
		if err := lf.Reopen(); err != nil {
			slog.Error("SIGHUP: log file not reopened", "err", err)
		} else {
			slog.Info("SIGHUP: log file reopened", "path", lf.path)
		}
	}
	if tcpLis != nil {
		if on, _ := tcpLis.TLS(); on {
			if err := tcpLis.Reload(); err != nil {
				slog.Error("SIGHUP: TLS files not reloaded; the previous ones stay in use", "err", err)
			} else {
				slog.Info("SIGHUP: TLS certificate, key and CA reloaded")
			}
		}
	}
}

// applyStored fills options not given on the command line from the store's
// Open_vSwitch other_config: flags win, otherwise the store wins.
func (o *options) applyStored(st *store.Store) error {
	c, err := st.Load()
	if err != nil {
		return err
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for key, dst := range map[string]*string{"pmd-cores": &o.pmdCores, "mem": &o.mem, "pmd-poll": &o.pmdPoll, "emc-insert-inv-prob": &o.emcInvProb, "pmd-rxq-assign": &o.rxqAssign} {
		if v, ok := c.Settings[key]; ok && !set[key] {
			*dst = v
		}
	}
	return nil
}
