package zkserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
)

// request is one decoded request frame.
type request struct {
	xid    int32
	op     jute.OpCode
	body   jute.Record
	code   jute.ErrCode // set when the frame could not be decoded
	fatal  bool         // close the connection after answering (unknown opcode)
	inline bool         // run by the reader, which sends the reply
	start  time.Time
}

// result is how a request is answered.
type result struct {
	code  jute.ErrCode
	body  jute.Record // sent only with CodeOK
	zxid  int64
	zset  bool       // zxid is set; otherwise the member's last zxid is used
	after afterReply // what to do with the connection afterwards
}

type afterReply uint8

const (
	keepOpen   afterReply = iota
	closeAfter            // send the reply, then close
	dropNow               // close without replying: the outcome is unknown to us, so the client must see a lost connection
)

// conn is one client connection. Its reader goroutine decodes requests and
// answers local reads itself; a request that must go through Raft (a write,
// sync, auth, closeSession) goes to a worker goroutine, and every request
// read after it waits in queue until the worker gets to it, so requests are
// answered in order and see the effect of the writes before them (see
// dispatch). Replies and notifications leave through the outbox, whose
// writer goroutine the connection owns.
type conn struct {
	srv    *Server
	nc     net.Conn
	ip     netip.Addr
	remote string
	est    time.Time
	ctx    context.Context // ends when the server stops: abandons requests
	br     *bufio.Reader
	out    *outbox

	// sess is set by the handshake before the connection's other
	// goroutines start and before the connection is registered as the
	// session's holder, which is how they and reattach see it. Other
	// connections' goroutines (cons, wchs) read attached instead.
	sess     *coord.Session
	attached atomic.Pointer[coord.Session]

	// Requests waiting behind one that runs on the worker.
	mu       sync.Mutex
	busy     bool
	stopping bool // the reader is gone: run nothing more
	queue    []*request
	qlen     atomic.Int32
	qwait    chan struct{} // poked when the queue shrinks
	worker   sync.WaitGroup

	recv        atomic.Int64 // packets received
	bytesIn     atomic.Int64
	outstanding atomic.Int64

	closing       chan struct{}
	closeOnce     sync.Once
	writerDone    chan struct{}
	sessionClosed bool // closeSession succeeded: nothing to detach
}

func newConn(ctx context.Context, s *Server, nc net.Conn, ip netip.Addr) *conn {
	return &conn{
		srv: s, nc: nc, ip: ip, remote: nc.RemoteAddr().String(), est: time.Now(), ctx: ctx,
		br:      bufio.NewReaderSize(nc, 16<<10),
		out:     newOutbox(nc, outHighWater, outHardLimit),
		qwait:   make(chan struct{}, 1),
		closing: make(chan struct{}),
	}
}

// kill closes the connection; everything working for it stops.
func (c *conn) kill() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.out.shut()
		c.nc.Close()
	})
}

func (c *conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// serve runs the connection until it closes.
func (c *conn) serve() {
	defer c.teardown()
	if !c.handshake() {
		return
	}
	c.writerDone = make(chan struct{})
	go c.writeLoop()
	c.readLoop()
}

func (c *conn) teardown() {
	// Requests still queued are abandoned; the one running finishes, and
	// what is queued for the client is sent before the connection closes
	// (ZooKeeper answers the ConnectRequest before it reads further, so a
	// client that follows it with garbage still gets its session).
	c.mu.Lock()
	c.stopping = true
	dropped := len(c.queue)
	c.queue = nil
	c.qlen.Store(0)
	c.mu.Unlock()
	c.outstanding.Add(-int64(dropped))
	c.worker.Wait()
	if c.writerDone != nil {
		c.out.seal()
		<-c.writerDone
	}
	c.kill()
	if c.sess != nil && !c.sessionClosed {
		c.detach()
	}
	c.srv.forget(c)
}

// writeLoop is the writer goroutine: it sends what the outbox holds for it
// until the connection closes or is done.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	c.out.run(c.closing, c.sess.Done())
	c.kill()
}

// send writes what is queued from the calling goroutine (see
// outbox.flush) and closes the connection when that was its end.
func (c *conn) send() {
	if !c.out.flush() {
		c.kill()
	}
}

// readLoop reads and dispatches requests until the connection fails, the
// client goes silent for its session timeout, or something closes it.
func (c *conn) readLoop() {
	var buf []byte
	idle := c.sess.Timeout()
	var deadlineAt time.Time
	now := time.Now() // when the last frame arrived
	for {
		// Replies to the reads answered here go out together once the
		// client has no complete request waiting: a client that pipelines
		// gets them in few writes, one that waits gets its reply at once.
		if !c.frameBuffered() || !c.out.mayHold() {
			c.send()
		}
		if !c.waitRoom() {
			return
		}
		// A client pings every third of its timeout; one that sends nothing
		// for the whole timeout has gone, as its ZooKeeper server would
		// conclude.
		if now.Sub(deadlineAt) > idle/8 {
			c.nc.SetReadDeadline(now.Add(idle + idle/8))
			deadlineAt = now
		}
		frame, err := jute.ReadFrame(c.br, buf, c.srv.cfg.maxFrame)
		if err != nil {
			if !c.isClosing() && !errors.Is(err, io.EOF) {
				c.srv.log.Debug("connection read", "remote", c.remote, "session", sidString(c.sess.ID()), "err", err)
			}
			return
		}
		now = time.Now()
		c.recv.Add(1)
		c.bytesIn.Add(int64(len(frame)) + 4)
		r := c.parse(frame, now)
		if cap(frame) > 64<<10 {
			buf = nil
		} else {
			buf = frame
		}
		if r == nil {
			return // not even a request header
		}
		c.dispatch(r)
	}
}

// waitRoom blocks while the client has too many replies unread or too many
// requests waiting; it returns false when the connection closes.
func (c *conn) waitRoom() bool {
	for c.out.full() || c.qlen.Load() >= maxQueued {
		select {
		case <-c.out.written():
		case <-c.qwait:
		case <-c.closing:
			return false
		}
	}
	return !c.isClosing()
}

// frameBuffered reports whether a whole request frame is already buffered.
func (c *conn) frameBuffered() bool {
	b := c.br.Buffered()
	if b < 4 {
		return false
	}
	h, _ := c.br.Peek(4)
	n := int64(int32(binary.BigEndian.Uint32(h)))
	return n >= 0 && int64(b) >= 4+n
}

func (c *conn) parse(frame []byte, now time.Time) *request {
	if len(frame) < jute.RequestHeaderSize {
		return nil
	}
	h, body, err := jute.ParseRequest(frame)
	r := &request{xid: h.Xid, op: h.Type, body: body, start: now}
	if err != nil {
		if errors.Is(err, jute.ErrUnsupportedOp) {
			// ZooKeeper answers an unknown opcode and closes.
			r.code, r.fatal = jute.CodeUnimplemented, true
		} else {
			r.code = jute.CodeMarshallingError
		}
	}
	c.outstanding.Add(1)
	return r
}

// execute runs r and queues its reply.
func (c *conn) execute(r *request) {
	var res result
	if r.code != jute.CodeOK {
		res.code = r.code
		if r.fatal {
			res.after = closeAfter
		}
	} else {
		res = c.run(r)
	}
	c.reply(r, &res)
}

// reply queues r's reply. The zxid is read from coord here, outside the
// outbox, which must not call into coord.
func (c *conn) reply(r *request, res *result) {
	c.outstanding.Add(-1)
	if res.after == dropNow {
		c.kill()
		return
	}
	zxid := res.zxid
	if !res.zset {
		zxid = c.srv.c.LastZxid()
	}
	body := res.body
	if res.code != jute.CodeOK {
		body = nil
	}
	c.out.reply(r.op, jute.ReplyHeader{Xid: r.xid, Zxid: zxid, Err: res.code}, body, r.start, res.after == closeAfter)
	if !r.inline || res.after != keepOpen {
		c.send() // the reader sends its replies before it reads on
	}
}

// onEvent is the session's watch function: it runs on the member's apply
// path, before the change is readable, and only queues the notification.
func (c *conn) onEvent(ev coord.Event) {
	if ev.Type < coord.NodeCreated || ev.Type > coord.NodeChildrenChanged {
		return // watch ends and removals: ZooKeeper's server sends nothing
	}
	c.out.notify(&jute.WatcherEvent{Type: jute.EventType(ev.Type), State: jute.StateSyncConnected, Path: ev.Path})
}
