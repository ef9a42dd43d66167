package zkserver

import (
	"bufio"
	"context"
	"crypto/subtle"
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
// answered in order and see the effect of the writes before them. Replies
// and notifications share one ordered output buffer, out. The goroutine that
// queued a reply writes it (the reader holds back the replies of the reads
// it answers until no complete request is waiting, so pipelined reads leave
// in one write); notifications, which the member's apply path queues
// (onEvent) before the change is readable, are written by a writer
// goroutine. So a notification always precedes the reply of any request
// that could observe its change.
type conn struct {
	srv    *Server
	nc     net.Conn
	ip     netip.Addr
	remote string
	est    time.Time
	ctx    context.Context // ends when the server stops: abandons requests
	br     *bufio.Reader

	// Set by the handshake.
	sess    *coord.Session
	sid     int64
	timeout time.Duration

	// Requests waiting behind one that runs on the worker.
	mu       sync.Mutex
	busy     bool
	stopping bool // the reader is gone: run nothing more
	queue    []*request
	qlen     atomic.Int32
	qwait    chan struct{} // poked when the queue shrinks
	worker   sync.WaitGroup

	// Outbound, guarded by outMu. Nothing that takes outMu may call into
	// coord: onEvent runs under the state machine's lock.
	outMu          sync.Mutex
	out            []byte
	enc            jute.Encoder
	outLen         atomic.Int64
	finish         bool // close once out is written
	dead           bool // queue nothing more
	closingSession bool
	writing        bool   // a goroutine is writing to the socket
	spare          []byte // the other output buffer
	stats          counters
	last           lastRequest
	wake           chan struct{}
	drained        chan struct{}

	recv        atomic.Int64 // packets received
	bytesIn     atomic.Int64
	outstanding atomic.Int64

	closing       chan struct{}
	closeOnce     sync.Once
	writerDone    chan struct{}
	sessionClosed bool // closeSession succeeded: nothing to detach
}

func newConn(ctx context.Context, s *Server, nc net.Conn, ip netip.Addr) *conn {
	c := &conn{
		srv: s, nc: nc, ip: ip, remote: nc.RemoteAddr().String(), est: time.Now(), ctx: ctx,
		br:      bufio.NewReaderSize(nc, 16<<10),
		qwait:   make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
		drained: make(chan struct{}, 1),
		closing: make(chan struct{}),
	}
	c.stats.reset()
	return c
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// kill closes the connection; everything working for it stops.
func (c *conn) kill() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.outMu.Lock()
		c.dead = true
		c.outMu.Unlock()
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
		c.outMu.Lock()
		c.finish, c.dead = true, true
		c.outMu.Unlock()
		poke(c.wake)
		<-c.writerDone
	}
	c.kill()
	if c.sess != nil && !c.sessionClosed {
		c.detach()
	}
	c.srv.forget(c)
}

// detach detaches the session of a connection whose client went away
// without closing it: the session expires after its timeout unless the
// client reconnects, here or to another member. Until the detach commits
// (the member may have lost its quorum) the member keeps renewing the
// session, so it is retried; the connection stays registered as the
// session's meanwhile, so a reconnect here takes over from it.
func (c *conn) detach() {
	for {
		unlock := c.srv.lockSession(c.sid)
		c.srv.mu.Lock()
		mine := c.srv.sessions[c.sid] == c
		c.srv.mu.Unlock()
		if !mine {
			unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.sess.Detach(ctx)
		cancel()
		if err == nil || errors.Is(err, coord.ErrClosed) || c.ctx.Err() != nil {
			c.srv.mu.Lock()
			if c.srv.sessions[c.sid] == c {
				delete(c.srv.sessions, c.sid)
			}
			c.srv.mu.Unlock()
			unlock()
			if err != nil && !errors.Is(err, coord.ErrClosed) {
				c.srv.log.Warn("session not detached; this member keeps it alive", "session", sidString(c.sid), "err", err)
			}
			return
		}
		unlock()
		c.srv.log.Info("detaching a session failed; retrying", "session", sidString(c.sid), "err", err)
		select {
		case <-time.After(time.Second):
		case <-c.ctx.Done():
		}
	}
}

// handshake reads the ConnectRequest (or a four-letter word) and opens or
// resumes the session. It returns false when the connection is done.
func (c *conn) handshake() bool {
	srv := c.srv
	c.nc.SetReadDeadline(time.Now().Add(srv.cfg.handshakeTimeout))
	head, err := c.br.Peek(4)
	if err != nil {
		return false
	}
	if w, ok := jute.FourLetterWord(int32(binary.BigEndian.Uint32(head))); ok {
		c.br.Discard(4)
		c.recv.Add(1)
		c.fourLetter(w)
		return false
	}
	frame, err := jute.ReadFrame(c.br, nil, srv.cfg.maxFrame)
	if err != nil {
		srv.log.Debug("no connect request", "remote", c.remote, "err", err)
		return false
	}
	c.recv.Add(1)
	c.bytesIn.Add(int64(len(frame)) + 4)
	var req jute.ConnectRequest
	if err := jute.Unmarshal(frame, &req); err != nil {
		srv.log.Debug("malformed connect request", "remote", c.remote, "err", err)
		return false
	}
	if _, ok := srv.c.Leader(); !ok {
		// Not serving: like a ZooKeeper server without a quorum, let the
		// client try another member.
		return false
	}
	timeout := srv.negotiate(req.TimeOut)
	ctx, cancel := context.WithTimeout(c.ctx, max(timeout, 2*time.Second))
	defer cancel()
	if req.LastZxidSeen > srv.c.LastZxid() {
		// The client has seen a newer state than this member has applied.
		// ZooKeeper refuses it; catch up first, and refuse only if that
		// does not suffice.
		srv.c.Session().Sync(ctx, "/")
		if last := srv.c.LastZxid(); req.LastZxidSeen > last {
			srv.log.Info("refusing a client that has seen a newer zxid", "remote", c.remote,
				"client_zxid", req.LastZxidSeen, "last_zxid", last)
			return false
		}
	}
	opts := []coord.SessionOption{coord.WithSessionTimeout(timeout), coord.WithWatchFunc(c.onEvent)}
	if c.ip.IsValid() {
		opts = append(opts, coord.WithClientIP(c.ip))
	}
	var sess *coord.Session
	if req.SessionID == 0 {
		sess, err = srv.c.NewSession(ctx, opts...)
		if err == nil {
			srv.mu.Lock()
			srv.sessions[sess.ID()] = c
			srv.mu.Unlock()
		}
	} else {
		sess, err = srv.reattach(ctx, c, req.SessionID, req.Passwd, opts)
	}
	if err != nil {
		if errors.Is(err, coord.ErrSessionExpired) || errors.Is(err, coord.ErrAuthFailed) {
			// ZooKeeper's answer to an expired or unknown session and to a
			// wrong password: timeout 0, session 0, then close.
			srv.log.Debug("refusing session", "remote", c.remote, "session", sidString(req.SessionID), "err", err)
			c.writeNow(&jute.ConnectResponse{Passwd: make([]byte, jute.SessionPasswdLen), OmitReadOnly: req.OmitReadOnly})
			return false
		}
		srv.log.Debug("cannot open session", "remote", c.remote, "err", err)
		return false
	}
	resp := jute.ConnectResponse{
		TimeOut:      int32(sess.Timeout().Milliseconds()),
		SessionID:    sess.ID(),
		Passwd:       sess.Password(),
		OmitReadOnly: req.OmitReadOnly,
	}
	c.outMu.Lock()
	c.sess, c.sid, c.timeout = sess, sess.ID(), sess.Timeout()
	c.enc.Reset(c.out)
	c.enc.WriteRecordFrame(&resp)
	c.out = c.enc.Bytes()
	c.stats.sent++
	c.outLen.Store(int64(len(c.out)))
	c.outMu.Unlock()
	poke(c.wake)
	return true
}

// writeNow writes one record frame directly (before the writer runs).
func (c *conn) writeNow(r jute.Record) {
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.nc.Write(jute.AppendRecordFrame(nil, r))
}

// reattach resumes session id on this member for c. A connection of this
// server that still holds the session is closed first, as ZooKeeper closes
// the old connection of a session that reconnects.
func (s *Server) reattach(ctx context.Context, c *conn, id int64, passwd []byte, opts []coord.SessionOption) (*coord.Session, error) {
	unlock := s.lockSession(id)
	defer unlock()
	s.mu.Lock()
	old := s.sessions[id]
	s.mu.Unlock()
	if old != nil {
		if subtle.ConstantTimeCompare(old.sess.Password(), passwd) != 1 {
			return nil, coord.ErrAuthFailed
		}
		s.mu.Lock()
		delete(s.sessions, id)
		s.mu.Unlock()
		old.kill()
		// Ends the old connection's Session value and its watches; the
		// client sets them again on this connection.
		if err := old.sess.Detach(ctx); err != nil && !errors.Is(err, coord.ErrClosed) {
			s.mu.Lock()
			if s.sessions[id] == nil {
				s.sessions[id] = old
			}
			s.mu.Unlock()
			return nil, err
		}
	}
	sess, err := s.c.AttachSession(ctx, id, passwd, opts...)
	if errors.Is(err, coord.ErrSessionExpired) {
		// This member may not have applied the session's creation yet:
		// catch up with the leader before calling it unknown.
		if serr := s.c.Session().Sync(ctx, "/"); serr == nil {
			sess, err = s.c.AttachSession(ctx, id, passwd, opts...)
		}
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.sessions[id] = c
	s.mu.Unlock()
	return sess, nil
}

// readLoop reads and dispatches requests until the connection fails, the
// client goes silent for its session timeout, or something closes it.
func (c *conn) readLoop() {
	var buf []byte
	idle := c.timeout
	var deadlineAt time.Time
	now := time.Now() // when the last frame arrived
	for {
		// Replies to the reads answered here go out together once the
		// client has no complete request waiting: a client that pipelines
		// gets them in few writes, one that waits gets its reply at once.
		if !c.frameBuffered() || c.outLen.Load() > outHighWater/2 {
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
				c.srv.log.Debug("connection read", "remote", c.remote, "session", sidString(c.sid), "err", err)
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
	for c.outLen.Load() > outHighWater || c.qlen.Load() >= maxQueued {
		select {
		case <-c.drained:
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

// viaWorker reports whether a request waits on Raft (writes, sync, auth,
// closeSession): it runs on the worker so the reader keeps reading.
func viaWorker(r *request) bool {
	if r.code != jute.CodeOK {
		return false
	}
	switch r.op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL, jute.OpDelete,
		jute.OpSetData, jute.OpSetACL, jute.OpMulti, jute.OpCheck, jute.OpSync, jute.OpAuth,
		jute.OpCloseSession:
		return true
	}
	return false
}

// dispatch runs r now if nothing is ahead of it and it is local, hands it
// to a worker if it waits on Raft, or queues it behind the running one.
func (c *conn) dispatch(r *request) {
	c.mu.Lock()
	if c.busy {
		c.queue = append(c.queue, r)
		c.qlen.Store(int32(len(c.queue)))
		c.mu.Unlock()
		return
	}
	if viaWorker(r) {
		c.busy = true
		c.mu.Unlock()
		c.worker.Add(1)
		go c.work(r)
		return
	}
	c.mu.Unlock()
	r.inline = true
	c.execute(r)
}

// work runs r and then every request queued behind it, in order. A run of
// writes that queued up behind a write goes to Raft as one batch (see
// runBatch).
func (c *conn) work(r *request) {
	defer c.worker.Done()
	batch := []*request{r}
	for {
		if len(batch) == 1 {
			c.execute(batch[0])
		} else {
			c.runBatch(batch)
		}
		c.mu.Lock()
		if len(c.queue) == 0 || c.stopping || c.isClosing() {
			c.busy = false
			c.mu.Unlock()
			return
		}
		batch = c.takeLocked(batch[:0])
		c.mu.Unlock()
		poke(c.qwait)
	}
}

// Batches of pipelined writes.
const (
	maxBatch      = 128
	maxBatchBytes = 512 << 10
)

// takeLocked takes the next request off the queue, or the longest run of
// batchable writes at its head.
func (c *conn) takeLocked(batch []*request) []*request {
	n, size := 0, 0
	for n < len(c.queue) && n < maxBatch {
		sz, ok := batchable(c.queue[n])
		if !ok || (n > 0 && size+sz > maxBatchBytes) {
			break
		}
		size += sz
		n++
	}
	n = max(n, 1)
	batch = append(batch, c.queue[:n]...)
	clear(c.queue[:n])
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	c.qlen.Store(int32(len(c.queue)))
	return batch
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

// reply queues r's reply.
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
	now := time.Now()
	lat := now.Sub(r.start)
	c.outMu.Lock()
	if c.dead {
		c.outMu.Unlock()
		return
	}
	n := len(c.out)
	c.enc.Reset(c.out)
	c.enc.WriteReplyFrame(jute.ReplyHeader{Xid: r.xid, Zxid: zxid, Err: res.code}, body)
	c.out = c.enc.Bytes()
	if r.op != jute.OpPing || r.xid != jute.XidPing {
		c.stats.latency(lat)
	}
	c.stats.sent++
	c.stats.response(len(c.out) - n - 4)
	c.last = lastRequest{op: r.op, xid: r.xid, zxid: zxid, lat: lat, at: now}
	if res.after == closeAfter {
		c.finish, c.dead = true, true
	}
	c.outLen.Store(int64(len(c.out)))
	c.outMu.Unlock()
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
	c.outMu.Lock()
	if c.dead {
		c.outMu.Unlock()
		return
	}
	c.enc.Reset(c.out)
	c.enc.WriteNotificationFrame(&jute.WatcherEvent{Type: jute.EventType(ev.Type), State: jute.StateSyncConnected, Path: ev.Path})
	c.out = c.enc.Bytes()
	c.stats.sent++
	if len(c.out) > outHardLimit {
		// The client does not read: give up on it rather than on memory.
		c.out = c.out[:0]
		c.finish, c.dead = true, true
	}
	c.outLen.Store(int64(len(c.out)))
	c.outMu.Unlock()
	poke(c.wake)
}

// writeLoop sends what others queue in out (notifications from the apply
// path, and whatever arrives while another goroutine is writing) until the
// connection closes or a batch marked finish has gone out.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	sessDone := c.sess.Done()
	for {
		select {
		case <-c.wake:
		case <-c.closing:
			return
		case <-sessDone:
			// The session ended under the connection (expired, or moved and
			// closed elsewhere): send what is queued and close, so the
			// client reconnects and learns.
			sessDone = nil
			c.outMu.Lock()
			if !c.closingSession {
				c.finish, c.dead = true, true
			}
			c.outMu.Unlock()
		}
		c.send()
	}
}

// send writes what is queued in out from the calling goroutine, unless
// another goroutine is writing (it then sees the new data when it is done).
// The reader and the worker call it after queuing a reply, which spares a
// hand-over to the writer goroutine for each reply.
func (c *conn) send() {
	for {
		c.outMu.Lock()
		if c.writing || (len(c.out) == 0 && !c.finish) {
			c.outMu.Unlock()
			return
		}
		c.writing = true
		buf := c.out
		c.out, c.spare = c.spare[:0], nil
		finish := c.finish
		c.outLen.Store(0)
		c.outMu.Unlock()
		var err error
		if len(buf) > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
			_, err = c.nc.Write(buf)
		}
		c.outMu.Lock()
		c.writing = false
		if cap(buf) <= 256<<10 {
			c.spare = buf[:0]
		}
		more := len(c.out) > 0
		c.outMu.Unlock()
		poke(c.drained)
		if err != nil || finish {
			c.kill()
			return
		}
		if !more {
			return
		}
	}
}
