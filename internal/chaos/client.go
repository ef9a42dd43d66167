package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// env is what every client of a run shares; read-only once the run starts
// (the log writer locks itself).
type env struct {
	servers        []string
	start          time.Time
	opTimeout      time.Duration
	sessionTimeout time.Duration
	root           string // /chaos/<run>
	zkLog          *lockedWriter
}

// now is the time since the start of the run, in nanoseconds.
func (e *env) now() int64 { return int64(time.Since(e.start)) }

// lockedWriter serialises writes of whole lines from many goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	if l == nil || l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

// session is one zk.Conn and what its callbacks observed. go-zookeeper
// replaces an expired session with a new one on the same Conn; expired
// counts how often that happened.
type session struct {
	conn      *zk.Conn
	dial      *switchDialer
	disturbed atomic.Int64 // Disconnected or Expired events
	expired   atomic.Int64
	timeoutMs atomic.Int64 // negotiated session timeout (from the client's log)
	ready     chan struct{}
	readyOnce sync.Once
	closed    atomic.Bool // Close called (the client must reconnect)
}

func (s *session) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	switch ev.State {
	case zk.StateDisconnected:
		s.disturbed.Add(1)
	case zk.StateExpired:
		s.disturbed.Add(1)
		s.expired.Add(1)
	case zk.StateHasSession:
		s.readyOnce.Do(func() { close(s.ready) })
	}
}

func (s *session) close() {
	s.closed.Store(true)
	s.conn.Close()
}

// zkLogger feeds go-zookeeper's log lines into the run's client log and
// picks the negotiated session timeout out of them.
type zkLogger struct {
	client int
	s      *session
	e      *env
}

func (l zkLogger) Printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if rest, ok := strings.CutPrefix(line, "authenticated: "); ok {
		if _, t, ok := strings.Cut(rest, "timeout="); ok {
			if ms, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64); err == nil {
				l.s.timeoutMs.Store(ms)
			}
		}
	}
	l.e.zkLog.printf("t=%.3f client=%d %s\n", secs(l.e.now()), l.client, line)
}

// switchDialer dials until switched off; abandon then also closes the
// connection it made last, so that the session is cut without a
// closeSession request and must expire on the servers.
type switchDialer struct {
	mu   sync.Mutex
	off  bool
	last net.Conn
}

var errDialerOff = errors.New("chaos: dialer switched off")

func (d *switchDialer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.off {
		return nil, errDialerOff
	}
	nd := net.Dialer{Timeout: timeout}
	c, err := nd.Dial(network, addr)
	if err == nil {
		d.last = c
	}
	return c, err
}

func (d *switchDialer) abandon() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.off = true
	if d.last != nil {
		d.last.Close()
	}
}

// client is one workload client: its own session (replaced when it breaks),
// its own random source and its own history, appended in program order.
type client struct {
	id       int
	workload string
	env      *env
	rng      *rand.Rand
	sess     *session
	ops      []Op
}

func newClient(e *env, id int, workload string, seed uint64) *client {
	return &client{id: id, workload: workload, env: e, rng: rand.New(rand.NewPCG(seed, uint64(id)+1))}
}

// dial opens a new session to servers and waits (up to the operation
// deadline) until it is established.
func (c *client) dial(ctx context.Context, servers []string) (*session, error) {
	s := &session{dial: &switchDialer{}, ready: make(chan struct{})}
	conn, _, err := zk.Connect(servers, c.env.sessionTimeout,
		zk.WithDialer(s.dial.dial),
		zk.WithEventCallback(s.onEvent),
		zk.WithLogger(zkLogger{client: c.id, s: s, e: c.env}),
	)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	t := time.NewTimer(c.env.opTimeout)
	defer t.Stop()
	select {
	case <-s.ready:
		return s, nil
	case <-t.C:
		return s, fmt.Errorf("no session within %v", c.env.opTimeout)
	case <-ctx.Done():
		return s, ctx.Err()
	}
}

// ensure gives the client a usable session, replacing a closed one, and
// reports whether it has one (without an established session yet, its
// operations wait or time out).
func (c *client) ensure(ctx context.Context) bool {
	if c.sess != nil && !c.sess.closed.Load() {
		return true
	}
	s, err := c.dial(ctx, c.env.servers)
	if s == nil {
		c.env.zkLog.printf("t=%.3f client=%d connect: %v\n", secs(c.env.now()), c.id, err)
		c.sess = nil
		return false
	}
	c.sess = s
	return true
}

// reset closes the client's session; the next ensure opens a new one.
func (c *client) reset() {
	if c.sess != nil {
		c.sess.close()
	}
}

func (c *client) close() { c.reset() }

// call runs f on the session's connection with the per-operation deadline.
// go-zookeeper has no per-request deadline (a request to a member that
// answers pings but not the request waits forever), so on the deadline the
// connection is closed, which makes f return, and the session is replaced
// by the next ensure.
func (c *client) call(s *session, f func(*zk.Conn) error) error {
	done := make(chan error, 1)
	go func() { done <- f(s.conn) }() // joined below: Close makes f return
	t := time.NewTimer(c.env.opTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
	}
	s.close()
	backstop := time.NewTimer(30 * time.Second)
	defer backstop.Stop()
	select {
	case err := <-done:
		_ = err // f's own error is moot: the operation timed out
	case <-backstop.C:
		// Not expected: go-zookeeper returns queued requests at Close.
		c.env.zkLog.printf("t=%.3f client=%d operation still running 30s after Close\n", secs(c.env.now()), c.id)
	}
	return errOpTimeout
}

// do runs f as one operation of the history: op gets its times, session,
// server, status and error; the caller fills in the outputs and records it.
func (c *client) do(op *Op, f func(*zk.Conn) error) error {
	s := c.sess
	op.Client, op.Workload = c.id, c.workload
	sid := s.conn.SessionID()
	op.Invoke = c.env.now()
	err := c.call(s, f)
	op.Return = c.env.now()
	if s.conn.SessionID() == sid {
		op.Session = sid
	}
	op.Server = s.conn.Server()
	op.Status = classify(err)
	if err != nil {
		op.Err = err.Error()
	}
	return err
}

func (c *client) record(op Op) { c.ops = append(c.ops, op) }

// pause sleeps up to longest (uniformly), or until ctx ends.
func (c *client) pause(ctx context.Context, longest time.Duration) {
	if longest <= 0 {
		return
	}
	sleepCtx(ctx, time.Duration(c.rng.Int64N(int64(longest))))
}

// sleepCtx waits d or until ctx ends; false if ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dialOne opens a session to one server only and waits until it is
// established or ctx ends.
func dialOne(ctx context.Context, addr string, timeout time.Duration, log *lockedWriter) (*zk.Conn, error) {
	ready := make(chan struct{})
	var once sync.Once
	conn, _, err := zk.Connect([]string{addr}, timeout,
		zk.WithEventCallback(func(ev zk.Event) {
			if ev.Type == zk.EventSession && ev.State == zk.StateHasSession {
				once.Do(func() { close(ready) })
			}
		}),
		zk.WithLogger(checkLogger{addr: addr, w: log}),
	)
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
		return conn, nil
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("no session with %s: %w", addr, ctx.Err())
	}
}

type checkLogger struct {
	addr string
	w    *lockedWriter
}

func (l checkLogger) Printf(format string, args ...any) {
	l.w.printf("checker %s: %s\n", l.addr, fmt.Sprintf(format, args...))
}

// callCtx runs f (blocking zk calls) and gives up when ctx ends by closing
// conn, which makes f return.
func callCtx(ctx context.Context, conn *zk.Conn, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }() // joined below
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	conn.Close()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case err := <-done:
		_ = err // f's own error is moot: ctx ended first
	case <-t.C:
	}
	return ctx.Err()
}
