package zkserver

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/coordkit/coord/internal/jute"
)

// frameWriter is where an outbox writes: the client's connection.
type frameWriter interface {
	Write(p []byte) (int, error)
	SetWriteDeadline(t time.Time) error
}

// maxSpare bounds the buffer an outbox keeps for reuse after a write, so
// that one burst does not pin its memory for the life of the connection.
const maxSpare = 256 << 10

// outbox is a connection's output: replies and watch notifications share
// one ordered buffer, so the client receives them in the order they were
// queued, and that order is what ZooKeeper's guarantee rests on. The
// member's apply path queues a notification (notify) before the change is
// readable, and a reply is queued only after its request ran, so a
// notification always precedes the reply of any request that could
// observe its change.
//
// Any goroutine may flush; whoever finds the buffer unclaimed writes it
// all in one Write, while the others return at once and leave what they
// queued to that writer, which loops until nothing is left. So the reader
// can hold back the replies of pipelined reads and send them in one
// write, and a reply needs no hand-over to another goroutine.
//
// The apply path calls notify under the state machine's lock, so no method
// may call into coord, and nothing outside these methods takes mu; this
// file does not import coord.
type outbox struct {
	w         frameWriter
	highWater int // queued bytes above which the reader stops reading
	hardLimit int // queued bytes at which the client is given up

	// queued mirrors len(buf) for flow control without the lock.
	queued  atomic.Int64
	wake    chan struct{} // poked when run has something to write
	drained chan struct{} // poked after each write

	mu             sync.Mutex
	buf            []byte // queued frames, not yet written
	spare          []byte // the other buffer, reused while buf is written
	enc            jute.Encoder
	timeout        time.Duration // write deadline, from start
	writing        bool          // a goroutine is writing
	finish         bool          // close once what is queued is written
	closed         bool          // queue nothing more
	closingSession bool          // closeSession is under way: its end is expected
	stats          counters
	last           lastRequest
}

func newOutbox(w frameWriter, highWater, hardLimit int) *outbox {
	o := &outbox{
		w: w, highWater: highWater, hardLimit: hardLimit,
		wake:    make(chan struct{}, 1),
		drained: make(chan struct{}, 1),
	}
	o.stats.reset()
	return o
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// start queues the first frame (the ConnectResponse, which has no reply
// header) and sets the write deadline of every later write: a client that
// reads nothing for its session timeout is gone.
func (o *outbox) start(first jute.Record, writeTimeout time.Duration) {
	o.mu.Lock()
	o.timeout = writeTimeout
	o.enc.Reset(o.buf)
	o.enc.WriteRecordFrame(first)
	o.queuedLocked()
	o.mu.Unlock()
	poke(o.wake)
}

// reply queues the reply to a request of type op that arrived at start;
// last marks the final frame, after which the connection closes.
func (o *outbox) reply(op jute.OpCode, h jute.ReplyHeader, body jute.Record, start time.Time, last bool) {
	now := time.Now()
	lat := now.Sub(start)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	n := len(o.buf)
	o.enc.Reset(o.buf)
	o.enc.WriteReplyFrame(h, body)
	if op != jute.OpPing || h.Xid != jute.XidPing {
		o.stats.latency(lat)
	}
	o.stats.response(o.enc.Len() - n - 4)
	o.last = lastRequest{op: op, xid: h.Xid, zxid: h.Zxid, lat: lat, at: now}
	o.queuedLocked()
	if last {
		o.finish, o.closed = true, true
	}
}

// notify queues a watch notification for the writer goroutine. It runs on
// the member's apply path, so it only appends: a client that lets
// hardLimit bytes pile up is given up rather than memory.
func (o *outbox) notify(ev *jute.WatcherEvent) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.enc.Reset(o.buf)
	o.enc.WriteNotificationFrame(ev)
	o.queuedLocked()
	if len(o.buf) > o.hardLimit {
		o.buf = o.buf[:0]
		o.queued.Store(0)
		o.finish, o.closed = true, true
	}
	o.mu.Unlock()
	poke(o.wake)
}

// queuedLocked takes the encoder's output as the buffer and counts the
// frame.
func (o *outbox) queuedLocked() {
	o.buf = o.enc.Bytes()
	o.stats.sent++
	o.queued.Store(int64(len(o.buf)))
}

// seal queues nothing more and has the connection close once what is
// queued has been written.
func (o *outbox) seal() {
	o.mu.Lock()
	o.finish, o.closed = true, true
	o.mu.Unlock()
	poke(o.wake)
}

// shut queues nothing more: the connection is closing without waiting.
func (o *outbox) shut() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
}

// expectSessionEnd tells the outbox that closeSession is closing the
// session, so that sessionEnded leaves the connection open for its reply.
func (o *outbox) expectSessionEnd() {
	o.mu.Lock()
	o.closingSession = true
	o.mu.Unlock()
}

// sessionEnded seals the outbox when the session ended under the
// connection (expired, or moved and closed elsewhere): what is queued goes
// out and the connection closes, so the client reconnects and learns.
func (o *outbox) sessionEnded() {
	o.mu.Lock()
	if !o.closingSession {
		o.finish, o.closed = true, true
	}
	o.mu.Unlock()
}

// run is the body of the writer goroutine: it writes what nobody else
// will (notifications, the connect response, frames queued while another
// goroutine was writing) until stop is closed or the connection is done.
// sessionDone is closed when the session ends.
func (o *outbox) run(stop, sessionDone <-chan struct{}) {
	for {
		select {
		case <-o.wake:
		case <-stop:
			return
		case <-sessionDone:
			sessionDone = nil
			o.sessionEnded()
		}
		if !o.flush() {
			return
		}
	}
}

// flush writes what is queued from the calling goroutine, unless another
// goroutine is writing: that one sees the new frames when its write
// returns. It returns false when the connection must close: a write
// failed, or the last frame has been written.
func (o *outbox) flush() bool {
	for {
		o.mu.Lock()
		if o.writing || (len(o.buf) == 0 && !o.finish) {
			o.mu.Unlock()
			return true
		}
		o.writing = true
		buf := o.buf
		o.buf, o.spare = o.spare[:0], nil
		finish := o.finish
		timeout := o.timeout
		o.queued.Store(0)
		o.mu.Unlock()
		var err error
		if len(buf) > 0 {
			_ = o.w.SetWriteDeadline(time.Now().Add(timeout)) // a failure shows in the Write
			_, err = o.w.Write(buf)
		}
		o.mu.Lock()
		o.writing = false
		if cap(buf) <= maxSpare {
			o.spare = buf[:0]
		}
		// A finish set during the write is this writer's to act on too:
		// the goroutine that set it found the buffer claimed.
		more := len(o.buf) > 0 || o.finish
		o.mu.Unlock()
		poke(o.drained)
		if err != nil || finish {
			return false
		}
		if !more {
			return true
		}
	}
}

// full reports whether the client has so much unread that the reader
// should stop reading requests until a write drains it.
func (o *outbox) full() bool { return o.queued.Load() > int64(o.highWater) }

// mayHold reports whether the reader may go on holding back replies to
// batch them: not once they reach half the high-water mark.
func (o *outbox) mayHold() bool { return o.queued.Load() <= int64(o.highWater/2) }

// written receives after a write, for a reader waiting while full.
func (o *outbox) written() <-chan struct{} { return o.drained }

// counters returns the connection's statistics and its last request.
func (o *outbox) counters() (counters, lastRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats, o.last
}

// resetStats starts the statistics again (srst, crst).
func (o *outbox) resetStats() {
	o.mu.Lock()
	o.stats.reset()
	o.mu.Unlock()
}
