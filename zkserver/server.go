package zkserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
)

// Defaults, ZooKeeper 3.8's.
const (
	DefaultTickTime         = 2 * time.Second       // tickTime
	DefaultMaxConnsPerIP    = 60                    // maxClientCnxns
	DefaultMaxFrame         = jute.DefaultMaxBuffer // jute.maxbuffer: 1 MiB - 1
	DefaultHandshakeTimeout = 10 * time.Second      // zookeeper.nio.sessionlessCnxnTimeout
)

// Per-connection flow control.
const (
	// outHighWater: a connection whose unsent replies exceed this stops
	// reading requests until its client has read them.
	outHighWater = 1 << 20
	// outHardLimit: a client that lets this much pile up (notifications
	// are never held back) is disconnected, as ZooKeeper closes a client
	// that falls too far behind; it reconnects and sets its watches again.
	// Replies stop at outHighWater, so this bounds a connection's memory
	// at about 2*outHighWater plus this, however many watches fire.
	outHardLimit = 8 << 20
	// maxQueued bounds the requests a connection holds behind a write
	// before it stops reading (ZooKeeper's globalOutstandingLimit is 1000
	// per server).
	maxQueued = 1000
)

type config struct {
	tick             time.Duration
	minTimeout       time.Duration
	maxTimeout       time.Duration
	maxConnsPerIP    int
	maxFrame         int
	handshakeTimeout time.Duration
	log              *slog.Logger
}

// Option configures a Server.
type Option func(*config)

// WithTickTime sets ZooKeeper's tickTime (2 s), whose multiples are the
// default session timeout bounds: 2 ticks to 20 ticks (4 s to 40 s).
func WithTickTime(d time.Duration) Option { return func(c *config) { c.tick = d } }

// WithSessionTimeouts sets the bounds that requested session timeouts are
// clamped to (ZooKeeper's minSessionTimeout and maxSessionTimeout); zero
// keeps a bound's default. The member's own Options.MinSessionTimeout and
// MaxSessionTimeout clamp as well, and clients are told the result.
func WithSessionTimeouts(lo, hi time.Duration) Option {
	return func(c *config) { c.minTimeout, c.maxTimeout = lo, hi }
}

// WithMaxConnsPerIP limits the connections one client address may hold
// (ZooKeeper's maxClientCnxns, 60); 0 means no limit. Connections over the
// limit are closed at once, as ZooKeeper does.
func WithMaxConnsPerIP(n int) Option { return func(c *config) { c.maxConnsPerIP = n } }

// WithMaxFrame sets the largest request accepted, in bytes after the length
// prefix (ZooKeeper's jute.maxbuffer, 1 MiB - 1). A client that sends more
// is disconnected, as ZooKeeper does.
func WithMaxFrame(n int) Option { return func(c *config) { c.maxFrame = n } }

// WithHandshakeTimeout bounds how long a new connection may take to send
// its ConnectRequest (10 s).
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) { c.handshakeTimeout = d }
}

// WithLogger sets where the server logs; nil discards.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

func newConfig(opts []Option) config {
	cfg := config{
		tick:             DefaultTickTime,
		maxConnsPerIP:    DefaultMaxConnsPerIP,
		maxFrame:         DefaultMaxFrame,
		handshakeTimeout: DefaultHandshakeTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.tick <= 0 {
		cfg.tick = DefaultTickTime
	}
	if cfg.minTimeout <= 0 {
		cfg.minTimeout = 2 * cfg.tick
	}
	if cfg.maxTimeout <= 0 {
		cfg.maxTimeout = 20 * cfg.tick
	}
	cfg.maxTimeout = max(cfg.maxTimeout, cfg.minTimeout)
	if cfg.maxFrame <= 0 {
		cfg.maxFrame = DefaultMaxFrame
	}
	if cfg.handshakeTimeout <= 0 {
		cfg.handshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.maxConnsPerIP < 0 {
		cfg.maxConnsPerIP = 0
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Server serves ZooKeeper's client protocol for one coord member. Create it
// with New; it may serve several listeners at once.
type Server struct {
	c     *coord.Coord
	cfg   config
	log   *slog.Logger
	start time.Time

	mu       sync.Mutex
	conns    map[*conn]struct{}
	perIP    map[netip.Addr]int
	sessions map[int64]*conn // the connection holding each session
	locks    map[int64]*sessionLock
	totals   counters // of closed connections

	authFailed atomic.Int64
	rejected   atomic.Int64
	batches    atomic.Int64 // Multis made of pipelined writes
	batched    atomic.Int64 // writes in them
}

// New returns a server for member c.
func New(c *coord.Coord, opts ...Option) *Server {
	cfg := newConfig(opts)
	s := &Server{
		c: c, cfg: cfg, log: cfg.log, start: time.Now(),
		conns:    make(map[*conn]struct{}),
		perIP:    make(map[netip.Addr]int),
		sessions: make(map[int64]*conn),
		locks:    make(map[int64]*sessionLock),
	}
	s.totals.reset()
	return s
}

// Serve serves ZooKeeper's client protocol for member c on ln until ctx
// ends; see Server.Serve.
func Serve(ctx context.Context, c *coord.Coord, ln net.Listener, opts ...Option) error {
	return New(c, opts...).Serve(ctx, ln)
}

// ListenAndServe listens on addr (host:port) and serves ZooKeeper's client
// protocol for member c until ctx ends. It returns the listen error at once,
// or nil after ctx ended and every connection was closed.
func ListenAndServe(ctx context.Context, c *coord.Coord, addr string, opts ...Option) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("zkserver: %w", err)
	}
	return New(c, opts...).Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection it accepted (their sessions are detached, not closed: they
// expire after their timeout unless the clients reconnect to another
// member) and returns nil once they are all gone. It returns early only if
// ln fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		mine  = make(map[*conn]struct{})
		ended bool
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		ended = true
		for c := range mine {
			c.kill()
		}
		mu.Unlock()
	})
	defer stop()
	var err error
	backoff := 5 * time.Millisecond
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(aerr, &ne) && ne.Timeout() || isTemporary(aerr) {
				// Out of file descriptors and the like: wait, as net/http does.
				s.log.Warn("accept failed; retrying", "err", aerr, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			err = fmt.Errorf("zkserver: accept: %w", aerr)
			break
		}
		backoff = 5 * time.Millisecond
		c := s.admit(ctx, nc)
		if c == nil {
			continue
		}
		mu.Lock()
		if ended {
			mu.Unlock()
			c.kill()
		} else {
			mine[c] = struct{}{}
			mu.Unlock()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.serve()
			mu.Lock()
			delete(mine, c)
			mu.Unlock()
		}()
	}
	cancel()
	ln.Close()
	mu.Lock()
	ended = true
	for c := range mine {
		c.kill()
	}
	mu.Unlock()
	wg.Wait()
	return err
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// admit registers a new connection, or closes it when its address holds
// too many.
func (s *Server) admit(ctx context.Context, nc net.Conn) *conn {
	var ip netip.Addr
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr().Unmap()
	}
	s.mu.Lock()
	if s.cfg.maxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.maxConnsPerIP {
		s.mu.Unlock()
		s.rejected.Add(1)
		s.log.Warn("too many connections from one address", "addr", ip, "max", s.cfg.maxConnsPerIP)
		nc.Close()
		return nil
	}
	c := newConn(ctx, s, nc, ip)
	s.perIP[ip]++
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c
}

// forget unregisters a closed connection and keeps its counters.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
	st, _ := c.out.counters()
	s.totals.add(&st)
	s.totals.recv += c.recv.Load()
	s.totals.bytesIn += c.bytesIn.Load()
}

// negotiate clamps a requested session timeout as ZooKeeper does.
func (s *Server) negotiate(ms int32) time.Duration {
	d := time.Duration(ms) * time.Millisecond
	return min(max(d, s.cfg.minTimeout), s.cfg.maxTimeout)
}

// sessionLock serialises attaching and detaching one session on this
// server, so that a reconnect and the teardown of the connection it
// replaces cannot interleave.
type sessionLock struct {
	mu   sync.Mutex
	refs int
}

func (s *Server) lockSession(id int64) func() {
	s.mu.Lock()
	l := s.locks[id]
	if l == nil {
		l = &sessionLock{}
		s.locks[id] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, id)
		}
		s.mu.Unlock()
	}
}

// liveConns returns the open connections, for figures that visit each.
func (s *Server) liveConns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveConnsLocked()
}

// liveConnsLocked is liveConns for a caller that holds s.mu, so that the
// list agrees with the totals of closed connections read alongside it.
func (s *Server) liveConnsLocked() []*conn {
	live := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		live = append(live, c)
	}
	return live
}
