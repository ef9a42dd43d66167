package zkserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
	"github.com/coordkit/coord/internal/testenv"
)

// testTick makes session timeouts in tests 1 s..10 s (2 and 20 ticks).
const testTick = 500 * time.Millisecond

// TestMain runs the tests, or a member when this binary was started as a
// child process (testenv.StartChild) by a test that kills it.
func TestMain(m *testing.M) {
	if role := testenv.Role(); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

func freeAddrs(t testing.TB, n int) []string { return testenv.FreeAddrs(t, n) }

func testLogger() *slog.Logger { return testenv.Logger() }

// member is one coord member of a test ensemble with its ZooKeeper port.
type member struct {
	id     uint64
	c      *coord.Coord
	srv    *Server
	addr   string // ZooKeeper client address
	cancel context.CancelFunc
	done   chan error
}

// Close stops the member's server and closes the member. The error is
// Serve's, or says that Serve did not return.
func (m *member) Close() error {
	m.cancel()
	var err error
	select {
	case err = <-m.done:
	case <-time.After(20 * time.Second):
		err = fmt.Errorf("member %d: Serve did not return", m.id)
	}
	m.c.Close()
	return err
}

// ensemble runs coord members in this process, each serving ZooKeeper's
// protocol on a loopback port.
type ensemble struct {
	t    testing.TB
	e    *testenv.Ensemble[*member]
	raft map[uint64]string
	opts []Option
}

// newEnsemble starts n members (opened concurrently, as a real ensemble
// starts) and serves each on 127.0.0.1:0.
func newEnsemble(t testing.TB, n int, opts ...Option) *ensemble {
	t.Helper()
	raft := map[uint64]string{}
	var ids []uint64
	for i, a := range freeAddrs(t, n) {
		raft[uint64(i+1)] = a
		ids = append(ids, uint64(i+1))
	}
	return startEnsemble(t, t.TempDir(), raft, ids, opts...)
}

// startEnsemble starts the members ids (of the ensemble raft) in this
// process; the others run elsewhere. Their data directories are dir/m<id>.
func startEnsemble(t testing.TB, dir string, raft map[uint64]string, ids []uint64, opts ...Option) *ensemble {
	t.Helper()
	e := &ensemble{t: t, raft: raft, opts: append([]Option{WithTickTime(testTick)}, opts...)}
	e.e = testenv.NewEnsemble(t, testenv.Config[*member]{
		Members:     raft,
		Dir:         dir,
		Open:        e.open,
		StrictClose: true,
	})
	require.NoError(t, e.e.Start(ids...))
	return e
}

// open opens member s.ID and serves it on a free port.
func (e *ensemble) open(ctx context.Context, s testenv.Spec) (*member, error) {
	c, err := coord.Open(ctx, coord.Options{ID: s.ID, Members: s.Members, DataDir: s.Dir, Logger: testLogger()})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Close()
		return nil, err
	}
	m := &member{id: s.ID, c: c, addr: ln.Addr().String(), done: make(chan error, 1)}
	m.srv = New(c, append(e.opts, WithLogger(testLogger()))...)
	sctx, scancel := context.WithCancel(context.Background())
	m.cancel = scancel
	go func() { m.done <- m.srv.Serve(sctx, ln) }()
	return m, nil
}

// start starts member id again.
func (e *ensemble) start(id uint64) error {
	_, err := e.e.Restart(id)
	return err
}

func (e *ensemble) member(id uint64) *member {
	m, _ := e.e.Get(id)
	return m
}

// addrs returns the ZooKeeper addresses of the members that run, in id
// order.
func (e *ensemble) addrs() []string {
	var out []string
	for _, id := range e.e.IDs() {
		out = append(out, e.member(id).addr)
	}
	return out
}

// stop stops a member's server and closes the member.
func (e *ensemble) stop(id uint64) {
	require.NoError(e.t, e.e.Stop(id))
}

// ---- go-zookeeper helpers ----

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// connect opens a go-zookeeper session on the given servers and waits for it.
func connect(t testing.TB, servers []string, timeout time.Duration) (*zk.Conn, <-chan zk.Event) {
	t.Helper()
	conn, events, err := zk.Connect(servers, timeout, zk.WithLogger(quietLogger{}))
	require.NoError(t, err)
	t.Cleanup(conn.Close)
	waitState(t, events, zk.StateHasSession, 10*time.Second)
	return conn, events
}

func waitState(t testing.TB, events <-chan zk.Event, want zk.State, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-events:
			if ev.Type == zk.EventSession && ev.State == want {
				return
			}
		case <-deadline:
			t.Fatalf("session never reached %v", want)
		}
	}
}

func waitEvent(t testing.TB, ch <-chan zk.Event, within time.Duration) zk.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(within):
		t.Fatal("no watch event")
	}
	return zk.Event{}
}

func noEvent(t testing.TB, ch <-chan zk.Event, within time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(within):
	}
}

// ---- a raw protocol client, for what go-zookeeper cannot express ----

type rawClient struct {
	t      testing.TB
	nc     net.Conn
	br     *bufio.Reader
	xid    int32
	sid    int64
	passwd []byte
	to     int32
	events []jute.WatcherEvent
	order  []string // "event:<path>" and "reply:<xid>" in arrival order
}

// dialRaw connects and opens (or resumes) a session.
func dialRaw(t testing.TB, addr string, timeoutMs int32) *rawClient {
	t.Helper()
	c, resp, err := tryRaw(t, addr, jute.ConnectRequest{TimeOut: timeoutMs, Passwd: make([]byte, 16)})
	require.NoError(t, err)
	require.NotZero(t, resp.SessionID, "session refused")
	return c
}

func tryRaw(t testing.TB, addr string, req jute.ConnectRequest) (*rawClient, jute.ConnectResponse, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, jute.ConnectResponse{}, err
	}
	c := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := nc.Write(jute.AppendRecordFrame(nil, &req)); err != nil {
		return c, jute.ConnectResponse{}, err
	}
	frame, err := jute.ReadFrame(c.br, nil, 0)
	if err != nil {
		return c, jute.ConnectResponse{}, err
	}
	var resp jute.ConnectResponse
	if err := jute.Unmarshal(frame, &resp); err != nil {
		return c, resp, err
	}
	resp.OmitReadOnly = req.OmitReadOnly
	c.sid, c.passwd, c.to = resp.SessionID, resp.Passwd, resp.TimeOut
	return c, resp, nil
}

// send writes one request and returns its xid.
func (c *rawClient) send(op jute.OpCode, body jute.Record) int32 {
	c.xid++
	h := jute.RequestHeader{Xid: c.xid, Type: op}
	recs := []jute.Record{&h}
	if body != nil {
		recs = append(recs, body)
	}
	// A write error (the server closed the connection) shows when the
	// reply is read.
	c.nc.Write(jute.AppendRecordFrame(nil, recs...))
	return c.xid
}

// read reads frames until the reply to xid and returns its header and body
// bytes; notifications on the way are kept.
func (c *rawClient) read(xid int32) (jute.ReplyHeader, []byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		frame, err := jute.ReadFrame(c.br, nil, 0)
		if err != nil {
			return jute.ReplyHeader{}, nil, err
		}
		d := jute.NewDecoder(frame)
		var h jute.ReplyHeader
		require.NoError(c.t, h.Decode(d))
		if h.Xid == jute.XidNotification {
			var ev jute.WatcherEvent
			require.NoError(c.t, ev.Decode(d))
			c.events = append(c.events, ev)
			c.order = append(c.order, "event:"+ev.Path)
			continue
		}
		c.order = append(c.order, fmt.Sprintf("reply:%d", h.Xid))
		if h.Xid != xid {
			return h, nil, fmt.Errorf("reply xid %d, want %d", h.Xid, xid)
		}
		return h, d.Rest(), nil
	}
}

// call sends a request and decodes the reply into resp (if OK and non-nil).
func (c *rawClient) call(op jute.OpCode, body, resp jute.Record) jute.ErrCode {
	c.t.Helper()
	xid := c.send(op, body)
	h, rest, err := c.read(xid)
	require.NoError(c.t, err)
	if h.Err == jute.CodeOK && resp != nil {
		require.NoError(c.t, jute.Unmarshal(rest, resp))
	}
	return h.Err
}

// waitEvents reads until n notifications are held (or the time is up) and
// returns and forgets them.
func (c *rawClient) waitEvents(n int, within time.Duration) []jute.WatcherEvent {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for len(c.events) < n && time.Now().Before(deadline) {
		c.nc.SetReadDeadline(deadline)
		frame, err := jute.ReadFrame(c.br, nil, 0)
		if err != nil {
			break
		}
		d := jute.NewDecoder(frame)
		var h jute.ReplyHeader
		require.NoError(c.t, h.Decode(d))
		require.Equal(c.t, jute.XidNotification, h.Xid, "unexpected reply")
		var ev jute.WatcherEvent
		require.NoError(c.t, ev.Decode(d))
		c.events = append(c.events, ev)
	}
	evs := c.events
	c.events = nil
	return evs
}

// closed reports whether the server closed the connection (reading gets EOF
// or a reset within the time given).
func (c *rawClient) closed(within time.Duration) bool {
	c.nc.SetReadDeadline(time.Now().Add(within))
	_, err := io.ReadAll(c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

func evString(evs []jute.WatcherEvent) string {
	var parts []string
	for _, ev := range evs {
		parts = append(parts, ev.Type.String()+" "+ev.Path)
	}
	return strings.Join(parts, ", ")
}

// fourLetter sends a four-letter word and returns the whole answer.
func fourLetter(t testing.TB, addr, word string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = nc.Write([]byte(word))
	require.NoError(t, err)
	b, err := io.ReadAll(nc)
	require.NoError(t, err)
	return string(b)
}

// dropSession closes the connection that holds session id, as a network
// failure would (the session is detached, not closed).
func (s *Server) dropSession(id int64) bool {
	s.mu.Lock()
	c := s.sessions[id]
	s.mu.Unlock()
	if c != nil {
		c.kill()
	}
	return c != nil
}
