package vhostuser

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vswitch/datapath"
)

// Mode says which side of the socket the switch is.
type Mode int

const (
	// Server: the switch listens (dpdkvhostuser); QEMU connects.
	Server Mode = iota
	// Client: the switch dials the front end's socket (dpdkvhostuserclient)
	// and redials every RedialInterval until it answers.
	Client
)

func (m Mode) String() string {
	if m == Client {
		return "client"
	}
	return "server"
}

// RedialInterval is how often a client-mode port retries its socket.
const RedialInterval = time.Second

// maxSockPath is sun_path's usable length.
const maxSockPath = 107

// Config configures a port.
type Config struct {
	Name string
	Mode Mode
	// Path is the socket path.
	Path string
	// QueuePairs is the number of queue pairs offered (1 to MaxQueuePairs);
	// it is also the port's rx queue count.
	QueuePairs int
	// SockMode, SockUID, SockGID set the server socket's permissions
	// (-1 ids leave them alone). SockMode 0 means 0660.
	SockMode         os.FileMode
	SockUID, SockGID int
	// MTU, when set, drops frames to the guest longer than MTU+18.
	MTU int
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Port is a vhost-user port: a datapath.Port whose queues are the rings of
// whichever front end is connected. It stays configured across
// disconnects; its rings simply stop.
type Port struct {
	cfg Config
	dev *Device
	log *slog.Logger

	mu     sync.Mutex
	ln     *net.UnixListener
	conn   *net.UnixConn
	closed bool
	wg     sync.WaitGroup
	done   chan struct{}

	idle datapath.Counters // drops while no front end is connected
}

// New opens a port: a server port listens at once, a client port starts
// dialling in the background.
func New(cfg Config) (*Port, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.QueuePairs == 0 {
		cfg.QueuePairs = 1
	}
	if cfg.SockMode == 0 {
		cfg.SockMode = 0o660
	}
	if cfg.Path == "" {
		return nil, fmt.Errorf("vhost-user %s: no socket path", cfg.Name)
	}
	if len(cfg.Path) > maxSockPath {
		return nil, fmt.Errorf("vhost-user %s: socket path %q is %d bytes, longer than the %d a unix socket allows", cfg.Name, cfg.Path, len(cfg.Path), maxSockPath)
	}
	maxFrame := 0
	if cfg.MTU > 0 {
		maxFrame = cfg.MTU + 18
	}
	log := cfg.Log.With("port", cfg.Name)
	dev, err := newDevice(cfg.Name, cfg.QueuePairs, maxFrame, log)
	if err != nil {
		return nil, fmt.Errorf("vhost-user %s: %w", cfg.Name, err)
	}
	p := &Port{cfg: cfg, dev: dev, log: log, done: make(chan struct{})}
	dev.info.Mode, dev.info.Path = cfg.Mode.String(), cfg.Path
	if cfg.Mode == Server {
		if err := p.listen(); err != nil {
			dev.closeEpoll()
			return nil, err
		}
		p.setState("listening")
		p.wg.Add(1)
		go p.acceptLoop()
	} else {
		p.setState("connecting")
		p.wg.Add(1)
		go p.dialLoop()
	}
	return p, nil
}

func (p *Port) setState(s string) {
	p.dev.infoMu.Lock()
	p.dev.info.State = s
	p.dev.infoMu.Unlock()
}

// listen creates the server socket. A leftover socket file is removed only
// when nothing answers on it (ECONNREFUSED), so a second daemon cannot steal
// a live one's socket.
func (p *Port) listen() error {
	path := p.cfg.Path
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("vhost-user %s: %s exists and is not a socket", p.cfg.Name, path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("vhost-user %s: socket %s is in use by another process", p.cfg.Name, path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("vhost-user %s: probe stale socket %s: %w", p.cfg.Name, path, err)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("vhost-user %s: remove stale socket: %w", p.cfg.Name, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("vhost-user %s: socket directory: %w", p.cfg.Name, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("vhost-user %s: listen: %w", p.cfg.Name, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, p.cfg.SockMode); err != nil {
		ln.Close()
		return fmt.Errorf("vhost-user %s: chmod socket: %w", p.cfg.Name, err)
	}
	if p.cfg.SockUID >= 0 || p.cfg.SockGID >= 0 {
		if err := os.Chown(path, p.cfg.SockUID, p.cfg.SockGID); err != nil {
			ln.Close()
			return fmt.Errorf("vhost-user %s: chown socket: %w", p.cfg.Name, err)
		}
	}
	p.ln = ln
	return nil
}

func (p *Port) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.AcceptUnix()
		if err != nil {
			if p.isClosed() {
				return
			}
			p.log.Warn("vhost-user: accept failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		// One front end at a time: a second connection would fight the
		// first over the same rings.
		p.serve(c)
		if p.isClosed() {
			return
		}
		p.setState("listening")
	}
}

func (p *Port) dialLoop() {
	defer p.wg.Done()
	logged := false
	for !p.isClosed() {
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: p.cfg.Path, Net: "unix"})
		if err != nil {
			if !logged {
				p.log.Info("vhost-user: front end not reachable yet; redialling every second", "path", p.cfg.Path, "err", err)
				logged = true
			}
			select {
			case <-p.done:
				return
			case <-time.After(RedialInterval):
			}
			continue
		}
		logged = false
		p.serve(c)
		p.setState("connecting")
	}
}

func (p *Port) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// serve runs one connection's message loop until it ends, then stops the
// rings and forgets the connection's state (the port stays configured).
func (p *Port) serve(c *net.UnixConn) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conn = c
	p.mu.Unlock()
	p.log.Info("vhost-user: front end connected", "mode", p.cfg.Mode.String(), "path", p.cfg.Path)
	p.setState("connected")
	d := p.dev
	d.stop()
	d.connected = true
	d.activate()
	err := p.session(c)
	d.stop()
	d.connected = false
	d.reset()
	d.activate()
	p.mu.Lock()
	p.conn = nil
	p.mu.Unlock()
	c.Close()
	if !errors.Is(err, io.EOF) && !p.isClosed() {
		p.log.Warn("vhost-user: connection ended", "err", err)
	} else {
		p.log.Info("vhost-user: front end disconnected")
	}
}

// session reads and handles messages until the connection fails.
func (p *Port) session(c *net.UnixConn) error {
	m := new(msg)
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	var hdr [hdrSize]byte
	out := make([]byte, 0, hdrSize+64)
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(hdr[:], oob)
		m.nfds = 0
		if oobn > 0 {
			p.parseFDs(m, oob[:oobn])
		}
		if err == nil && n == 0 {
			err = io.EOF
		}
		if err == nil && n < hdrSize {
			_, err = io.ReadFull(c, hdr[n:])
		}
		if err != nil {
			m.closeFDs()
			return err
		}
		m.req, m.flags, m.size, err = decodeHeader(hdr[:])
		if err == nil && m.size > 0 {
			_, err = io.ReadFull(c, m.payload[:m.size])
		}
		if err != nil {
			m.closeFDs()
			return err
		}
		reply, herr := p.dev.handle(m)
		m.closeFDs()
		if herr != nil {
			p.log.Warn("vhost-user: request failed", "request", reqName(m.req), "err", herr)
		} else {
			p.log.Debug("vhost-user: request", "request", reqName(m.req), "size", m.size)
		}
		switch {
		case replies[m.req]:
			out = encodeReply(out, m.req, reply)
		case m.flags&flagNeedReply != 0:
			var ack uint64
			if herr != nil {
				ack = 1
			}
			out = encodeReply(out, m.req, le64(ack))
		default:
			continue
		}
		if _, err := c.Write(out); err != nil {
			return err
		}
	}
}

func (p *Port) parseFDs(m *msg, oob []byte) {
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, cm := range cms {
		fds, err := unix.ParseUnixRights(&cm)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if m.nfds < maxFDs {
				m.fds[m.nfds] = fd
				m.nfds++
			} else {
				unix.Close(fd)
			}
		}
	}
}

func (m *msg) closeFDs() {
	for i := 0; i < m.nfds; i++ {
		closeFD(m.fds[i])
		m.fds[i] = -1
	}
	m.nfds = 0
}

// Name implements datapath.Port.
func (p *Port) Name() string { return p.cfg.Name }

// RxQueues implements datapath.Port: one per queue pair offered. Queues
// the front end has not enabled just return nothing.
func (p *Port) RxQueues() int { return p.dev.pairs }

// PollFD implements datapath.Port. It is an epoll set the port owns for
// the pair's life, holding the guest TX ring's current kick eventfd (swapped
// on reconnect without the PMD noticing). It becomes readable when the guest
// kicks, which it does only after a ring has been idle for a while (the
// ring asks for kicks then; a busy ring runs notification-free).
func (p *Port) PollFD(q int) int {
	if q < 0 || q >= len(p.dev.epfd) {
		return -1
	}
	return p.dev.epfd[q]
}

// Rx implements datapath.Port: the guest's TX ring of pair q.
func (p *Port) Rx(q int, b *datapath.Batch, c *datapath.Cache) int {
	d := p.dev
	if uint(q) >= uint(d.pairs) {
		return 0
	}
	vq := &d.vqs[2*q+1]
	vq.inUse.Add(1)
	defer vq.inUse.Add(-1)
	if !d.running.Load() || !vq.ready || vq.broken {
		return 0
	}
	n0 := b.N
	defer func() {
		if r := recover(); r != nil {
			vq.cnt.RxErrors.Add(1)
			vq.fail(fmt.Errorf("fault reading guest memory: %v", r))
			for i := n0; i < b.N; i++ { // packets half-filled: drop them
				c.Put(b.Pkts[i])
				b.Pkts[i] = nil
			}
			b.N = n0
		}
	}()
	return vq.rxBurst(b, c)
}

// Tx implements datapath.Port: into the guest RX ring of pair q modulo the
// enabled pairs. Several PMDs may share a ring, so it is locked (an
// uncontended lock per batch).
func (p *Port) Tx(q int, b *datapath.Batch, c *datapath.Cache) {
	defer c.PutBatch(b)
	d := p.dev
	// Any ring's inUse works as this PMD's guard: stop waits for all.
	slot := &d.vqs[2*(uint(q)%uint(d.pairs))]
	slot.inUse.Add(1)
	defer slot.inUse.Add(-1)
	if !d.running.Load() || d.nTx == 0 {
		p.idle.TxDropped.Add(uint64(b.N))
		return
	}
	vq := &d.vqs[d.txMap[uint(q)%uint(d.nTx)]]
	if vq.broken {
		vq.cnt.TxDropped.Add(uint64(b.N))
		return
	}
	vq.mu.Lock()
	defer vq.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			vq.cnt.TxErrors.Add(uint64(b.N))
			vq.fail(fmt.Errorf("fault writing guest memory: %v", r))
		}
	}()
	vq.txBurst(b)
}

// Stats implements datapath.Port.
func (p *Port) Stats() datapath.PortStats {
	s := p.idle.Snapshot()
	for i := range p.dev.cnts {
		s = s.Add(p.dev.cnts[i].Snapshot())
	}
	return s
}

// Info returns the port's connection state and negotiated features.
func (p *Port) Info() Info {
	p.dev.infoMu.Lock()
	defer p.dev.infoMu.Unlock()
	return p.dev.info
}

// Close implements datapath.Port: it drops the connection, stops the
// goroutines, unmaps the front end's memory and removes a server socket.
func (p *Port) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	if p.ln != nil {
		p.ln.Close()
	}
	if p.conn != nil {
		p.conn.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	p.dev.stop()
	p.dev.reset()
	p.dev.closeEpoll()
	return nil
}

// ParseOwner resolves a user name or numeric id (for vhost-sock-owner).
func ParseOwner(s string) (int, error) {
	if id, err := strconv.Atoi(s); err == nil {
		return id, nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(u.Uid)
}

// ParseGroup resolves a group name or numeric id (for vhost-sock-group).
func ParseGroup(s string) (int, error) {
	if id, err := strconv.Atoi(s); err == nil {
		return id, nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(g.Gid)
}

// Status implements datapath.StatusReporter for vsctl show and gRPC.
func (p *Port) Status() map[string]string {
	in := p.Info()
	st := map[string]string{
		"mode":            in.Mode,
		"socket":          in.Path,
		"state":           in.State,
		"features":        fmt.Sprintf("0x%x", in.Features),
		"queue_pairs":     fmt.Sprint(in.QueuePairs),
		"max_queue_pairs": fmt.Sprint(in.MaxQueuePairs),
	}
	if in.MTU > 0 {
		st["mtu"] = fmt.Sprint(in.MTU)
	}
	if in.Broken {
		st["broken"] = "true"
	}
	return st
}
