package zkserver

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/jute"
)

// fakeWire records what an outbox writes. With a gate, each Write waits
// until the test lets it return, so a test can hold a write in progress.
type fakeWire struct {
	gate    chan struct{} // nil: writes return at once
	entered chan struct{} // receives when a Write starts
	err     error

	mu        sync.Mutex
	writes    [][]byte
	deadlines []time.Time
}

func newFakeWire(gated bool) *fakeWire {
	w := &fakeWire{entered: make(chan struct{}, 1)}
	if gated {
		w.gate = make(chan struct{})
	}
	return w
}

func (w *fakeWire) Write(p []byte) (int, error) {
	poke(w.entered)
	if w.gate != nil {
		select {
		case <-w.gate:
		case <-time.After(10 * time.Second):
			return 0, errors.New("fakeWire: the test never released the write")
		}
	}
	w.mu.Lock()
	w.writes = append(w.writes, bytes.Clone(p))
	w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

func (w *fakeWire) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	w.deadlines = append(w.deadlines, t)
	w.mu.Unlock()
	return nil
}

func (w *fakeWire) written() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.writes...)
}

// frames names the frames in b: "connect" (a ConnectResponse, the first
// frame when connected is set), "event:<path>" or "reply:<xid>".
func frames(t *testing.T, b []byte, connected bool) []string {
	t.Helper()
	var names []string
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		f, err := jute.ReadFrame(r, nil, 64<<20)
		require.NoError(t, err)
		if connected && len(names) == 0 {
			var resp jute.ConnectResponse
			require.NoError(t, jute.Unmarshal(f, &resp))
			names = append(names, "connect")
			continue
		}
		d := jute.NewDecoder(f)
		var h jute.ReplyHeader
		require.NoError(t, h.Decode(d))
		if h.Xid == jute.XidNotification {
			var ev jute.WatcherEvent
			require.NoError(t, ev.Decode(d))
			names = append(names, "event:"+ev.Path)
			continue
		}
		names = append(names, "reply:"+strconv.Itoa(int(h.Xid)))
	}
	return names
}

func allFrames(t *testing.T, writes [][]byte, connected bool) []string {
	t.Helper()
	return frames(t, bytes.Join(writes, nil), connected)
}

// within runs fn in a goroutine and returns a channel that receives its
// result; await fails the test if it does not come in time.
func within[T any](fn func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	return ch
}

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// release lets the Write in progress return.
func release(t *testing.T, w *fakeWire) {
	t.Helper()
	select {
	case w.gate <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatal("no write to release")
	}
}

func waitEntered(t *testing.T, w *fakeWire) {
	t.Helper()
	select {
	case <-w.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no write started")
	}
}

func queueReply(o *outbox, xid int32, last bool) {
	o.reply(jute.OpGetData, jute.ReplyHeader{Xid: xid, Zxid: 7}, &jute.GetDataResponse{Data: []byte("d")}, time.Now(), last)
}

func queueEvent(o *outbox, path string) {
	o.notify(&jute.WatcherEvent{Type: jute.EventNodeDataChanged, State: jute.StateSyncConnected, Path: path})
}

func TestOutboxKeepsQueueOrderInOneWrite(t *testing.T) {
	w := newFakeWire(false)
	o := newOutbox(w, outHighWater, outHardLimit)
	o.start(&jute.ConnectResponse{TimeOut: 4000, SessionID: 1, Passwd: make([]byte, 16)}, time.Second)
	queueEvent(o, "/a")
	queueReply(o, 1, false)
	queueEvent(o, "/b")
	queueReply(o, 2, false)
	queueReply(o, 3, false)
	start := time.Now()
	require.True(t, o.flush())
	writes := w.written()
	require.Len(t, writes, 1, "what is queued leaves in one write")
	assert.Equal(t, []string{"connect", "event:/a", "reply:1", "event:/b", "reply:2", "reply:3"}, frames(t, writes[0], true))
	require.Len(t, w.deadlines, 1)
	assert.WithinDuration(t, start.Add(time.Second), w.deadlines[0], time.Second, "the deadline is the write timeout from start")

	require.True(t, o.flush(), "nothing queued")
	assert.Len(t, w.written(), 1, "an empty outbox writes nothing")
}

// While one goroutine writes, others only queue: the writer picks up what
// they queued when its write returns, so frames never overtake each other.
func TestOutboxOneWriterAtATime(t *testing.T) {
	w := newFakeWire(true)
	o := newOutbox(w, outHighWater, outHardLimit)
	queueReply(o, 1, false)
	first := within(o.flush)
	waitEntered(t, w)

	queueEvent(o, "/x")
	queueReply(o, 2, false)
	assert.True(t, await(t, within(o.flush), "a second flush"), "a second flush returns while the first writes")
	select {
	case <-w.entered:
		t.Fatal("a second goroutine wrote while the first was writing")
	default:
	}

	release(t, w) // the first write returns; its flush writes the rest
	waitEntered(t, w)
	release(t, w)
	assert.True(t, await(t, first, "the first flush"))
	writes := w.written()
	require.Len(t, writes, 2)
	assert.Equal(t, []string{"reply:1"}, frames(t, writes[0], false))
	assert.Equal(t, []string{"event:/x", "reply:2"}, frames(t, writes[1], false))
}

// A client that does not read: the reader stops holding replies back at
// half the high-water mark and stops reading above it, until a write
// drains the outbox.
func TestOutboxFlowControlWithSlowReader(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	const high = 1000
	o := newOutbox(server, high, 1<<20)
	o.start(&jute.ConnectResponse{Passwd: make([]byte, 16)}, 5*time.Second)
	assert.True(t, o.mayHold())
	assert.False(t, o.full())
	n := 0
	for o.mayHold() {
		n++
		queueReply(o, int32(n), false)
	}
	assert.False(t, o.full(), "half the high-water mark is not full")
	for !o.full() {
		n++
		queueReply(o, int32(n), false)
	}

	// net.Pipe has no buffer: the write blocks until the client reads.
	flushed := within(o.flush)
	select {
	case <-flushed:
		t.Fatal("the write finished although the client read nothing")
	case <-time.After(50 * time.Millisecond):
	}
	assert.False(t, o.full(), "what a writer took is no longer queued")

	got := within(func() []string {
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		var names []string
		if _, err := jute.ReadFrame(client, nil, 0); err != nil { // the ConnectResponse
			return []string{err.Error()}
		}
		for len(names) < n {
			f, err := jute.ReadFrame(client, nil, 0)
			if err != nil {
				return append(names, err.Error())
			}
			var h jute.ReplyHeader
			jute.Unmarshal(f, &h)
			names = append(names, strconv.Itoa(int(h.Xid)))
			time.Sleep(time.Millisecond / 10) // a slow reader
		}
		return names
	})
	assert.True(t, await(t, flushed, "the flush"))
	await(t, o.written(), "the written signal")
	names := await(t, got, "the client's reads")
	require.Len(t, names, n)
	for i, name := range names {
		require.Equal(t, strconv.Itoa(i+1), name, "reply %d", i)
	}
	assert.True(t, o.mayHold())
}

// Notifications are never held back, so a client that reads nothing is
// given up at the hard limit rather than memory: what is queued is
// dropped and the connection closes.
func TestOutboxHardLimitGivesUp(t *testing.T) {
	w := newFakeWire(false)
	o := newOutbox(w, 100, 500) // a notification here is 36 bytes
	for i := 0; i < 10; i++ {
		queueEvent(o, fmt.Sprintf("/%03d", i))
	}
	assert.True(t, o.full(), "notifications are queued past the high-water mark")
	require.True(t, o.flush(), "below the hard limit")
	require.Len(t, allFrames(t, w.written(), false), 10)

	w.writes = nil
	for i := 0; i < 20; i++ {
		queueEvent(o, fmt.Sprintf("/%03d", i))
	}
	assert.False(t, o.full(), "the dropped queue no longer counts")
	assert.False(t, o.flush(), "the connection closes")
	assert.Empty(t, w.written(), "the queue is dropped, not written")
	queueReply(o, 2, false)
	queueEvent(o, "/late")
	assert.False(t, o.flush())
	assert.Empty(t, w.written(), "nothing is queued after giving up")
	select {
	case <-o.wake:
	default:
		t.Fatal("the writer goroutine was not woken to close the connection")
	}
}

func TestOutboxLastReplyFinishes(t *testing.T) {
	w := newFakeWire(false)
	o := newOutbox(w, outHighWater, outHardLimit)
	queueEvent(o, "/before")
	queueReply(o, 1, true)
	queueReply(o, 2, false)
	queueEvent(o, "/after")
	assert.False(t, o.flush(), "the last reply closes the connection once written")
	assert.Equal(t, []string{"event:/before", "reply:1"}, allFrames(t, w.written(), false))
}

func TestOutboxSealWithNothingQueued(t *testing.T) {
	w := newFakeWire(false)
	o := newOutbox(w, outHighWater, outHardLimit)
	o.seal()
	assert.False(t, o.flush())
	assert.Empty(t, w.written())
	queueReply(o, 1, false)
	assert.False(t, o.flush())
	assert.Empty(t, w.written(), "a sealed outbox takes nothing more")
}

// A seal while another goroutine writes is that writer's to act on: the
// goroutine that sealed found the buffer claimed.
func TestOutboxSealDuringWrite(t *testing.T) {
	w := newFakeWire(true)
	o := newOutbox(w, outHighWater, outHardLimit)
	queueReply(o, 1, false)
	first := within(o.flush)
	waitEntered(t, w)
	o.seal()
	assert.True(t, await(t, within(o.flush), "a second flush"), "the writer is busy: nothing to do here")
	release(t, w)
	assert.False(t, await(t, first, "the first flush"), "the writer closes the connection after its write")
	assert.Equal(t, []string{"reply:1"}, allFrames(t, w.written(), false))
}

func TestOutboxWriteErrorCloses(t *testing.T) {
	w := newFakeWire(false)
	w.err = io.ErrClosedPipe
	o := newOutbox(w, outHighWater, outHardLimit)
	queueReply(o, 1, false)
	assert.False(t, o.flush())
}

func TestOutboxShutDropsWithoutClosing(t *testing.T) {
	w := newFakeWire(false)
	o := newOutbox(w, outHighWater, outHardLimit)
	queueReply(o, 1, false)
	o.shut()
	queueReply(o, 2, false)
	assert.True(t, o.flush(), "shut leaves closing to the caller")
	assert.Equal(t, []string{"reply:1"}, allFrames(t, w.written(), false), "what was queued before may still go")
}

func TestOutboxSessionEnd(t *testing.T) {
	t.Run("under the connection", func(t *testing.T) {
		w := newFakeWire(false)
		o := newOutbox(w, outHighWater, outHardLimit)
		queueEvent(o, "/e")
		o.sessionEnded()
		queueReply(o, 1, false)
		assert.False(t, o.flush(), "an ended session closes the connection")
		assert.Equal(t, []string{"event:/e"}, allFrames(t, w.written(), false))
	})
	t.Run("by closeSession", func(t *testing.T) {
		w := newFakeWire(false)
		o := newOutbox(w, outHighWater, outHardLimit)
		o.expectSessionEnd()
		queueEvent(o, "/eph")
		o.sessionEnded()
		queueReply(o, 1, true)
		assert.False(t, o.flush())
		assert.Equal(t, []string{"event:/eph", "reply:1"}, allFrames(t, w.written(), false),
			"closeSession's events and reply go out before the close")
	})
}

func TestOutboxRun(t *testing.T) {
	w := newFakeWire(false)
	o := newOutbox(w, outHighWater, outHardLimit)
	stop, sessDone := make(chan struct{}), make(chan struct{})
	done := within(func() struct{} { o.run(stop, sessDone); return struct{}{} })
	o.start(&jute.ConnectResponse{Passwd: make([]byte, 16)}, time.Second)
	waitEntered(t, w)
	queueEvent(o, "/n")
	waitEntered(t, w)
	close(sessDone)
	await(t, done, "run to return after the session ended")
	assert.Equal(t, []string{"connect", "event:/n"}, allFrames(t, w.written(), true))

	o = newOutbox(newFakeWire(false), outHighWater, outHardLimit)
	stop = make(chan struct{})
	done = within(func() struct{} { o.run(stop, nil); return struct{}{} })
	close(stop)
	await(t, done, "run to return when stopped")
}

func TestOutboxCounters(t *testing.T) {
	o := newOutbox(newFakeWire(false), outHighWater, outHardLimit)
	o.start(&jute.ConnectResponse{Passwd: make([]byte, 16)}, time.Second)
	o.reply(jute.OpPing, jute.ReplyHeader{Xid: jute.XidPing, Zxid: 3}, nil, time.Now().Add(-time.Hour), false)
	queueEvent(o, "/c")
	start := time.Now().Add(-20 * time.Millisecond)
	o.reply(jute.OpGetData, jute.ReplyHeader{Xid: 9, Zxid: 5}, &jute.GetDataResponse{Data: []byte("abc")}, start, false)
	st, last := o.counters()
	assert.EqualValues(t, 4, st.sent, "connect response, replies and notifications are sent packets")
	assert.EqualValues(t, 1, st.latCount, "pings are not timed")
	assert.GreaterOrEqual(t, st.latMin, 20*time.Millisecond)
	assert.Less(t, st.latMax, time.Hour)
	assert.EqualValues(t, jute.ReplyHeaderSize+4+3+jute.StatSize, st.respLast)
	assert.EqualValues(t, jute.ReplyHeaderSize, st.respMin, "the ping's reply is a bare header")
	assert.Equal(t, jute.OpGetData, last.op)
	assert.Equal(t, int32(9), last.xid)
	assert.Equal(t, int64(5), last.zxid)

	o.resetStats()
	st, _ = o.counters()
	assert.Zero(t, st.sent)
	assert.EqualValues(t, -1, st.latMin)
}

// TestOutboxIsolation enforces the lock rule in the source: the outbox
// cannot call into coord (its file does not import it), and no other
// file reaches into its fields, so nothing else can take its lock.
func TestOutboxIsolation(t *testing.T) {
	fset := token.NewFileSet()
	ob, err := parser.ParseFile(fset, "outbox.go", nil, parser.ImportsOnly)
	require.NoError(t, err)
	for _, imp := range ob.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		assert.NotEqual(t, "github.com/coordkit/coord", path, "outbox.go must not import coord")
	}

	ob, err = parser.ParseFile(fset, "outbox.go", nil, 0)
	require.NoError(t, err)
	fields := map[string]bool{}
	ast.Inspect(ob, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.Name == "outbox" {
			for _, f := range ts.Type.(*ast.StructType).Fields.List {
				for _, name := range f.Names {
					fields[name.Name] = true
				}
			}
		}
		return true
	})
	require.Contains(t, fields, "mu")

	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, name := range files {
		if name == "outbox.go" || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok || !fields[sel.Sel.Name] {
				return true
			}
			if inner, ok := sel.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "out" {
				t.Errorf("%s: %s reaches into the outbox's field %s", name, fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
