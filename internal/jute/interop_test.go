package jute

// Interoperability with the real thing: TestZooKeeper38Interop runs Apache
// ZooKeeper 3.8's own server and Java client (testdata/interop/ZK38Client.java)
// through a recording proxy and checks that every frame, in both
// directions, decodes with this package and re-encodes to the same bytes.
// It needs java, javac and the ZooKeeper jar, so it only runs with
// COORD_ZK_INTEROP=1 (ZOOKEEPER_JAR overrides the jar's path; -jute.update
// rewrites the transcript). TestZooKeeper38Transcript replays the recorded
// transcript (testdata/zk38-java.transcript) on every run, without Java.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateTranscript = flag.Bool("jute.update", false, "rewrite testdata/zk38-java.transcript from a live interop run")

const transcriptPath = "testdata/zk38-java.transcript"

// tframe is one recorded frame payload: C from client to server, S back.
type tframe struct {
	conn    int
	dir     byte
	payload []byte
}

type recorder struct {
	mu     sync.Mutex
	frames []tframe
}

func (r *recorder) add(conn int, dir byte, p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, tframe{conn: conn, dir: dir, payload: bytes.Clone(p)})
}

func writeTranscript(w io.Writer, frames []tframe) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "# ZooKeeper 3.8.0 Java client <-> server frames (payloads without length prefix), recorded by interop_test.go")
	last := 0
	for _, f := range frames {
		if f.conn != last {
			fmt.Fprintf(bw, "# conn %d\n", f.conn)
			last = f.conn
		}
		fmt.Fprintf(bw, "%c %x\n", f.dir, f.payload)
	}
	return bw.Flush()
}

func readTranscript(t *testing.T, path string) []tframe {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var frames []tframe
	conn := 0
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "# conn "):
			_, err := fmt.Sscanf(line, "# conn %d", &conn)
			require.NoError(t, err)
		case strings.HasPrefix(line, "C "), strings.HasPrefix(line, "S "):
			p, err := hex.DecodeString(line[2:])
			require.NoError(t, err)
			frames = append(frames, tframe{conn: conn, dir: line[0], payload: p})
		}
	}
	return frames
}

// transcriptStats is what checkTranscript saw, for coverage assertions.
type transcriptStats struct {
	requests      map[OpCode]int
	replies       map[OpCode]int
	errors        map[ErrCode]int
	events        map[EventType]int
	multiResults  map[OpCode]int
	connects      int
	readOnlyFlags int
}

// checkTranscript decodes every frame of a client/server conversation and
// requires each to re-encode byte for byte.
func checkTranscript(t *testing.T, frames []tframe) transcriptStats {
	t.Helper()
	st := transcriptStats{requests: map[OpCode]int{}, replies: map[OpCode]int{}, errors: map[ErrCode]int{},
		events: map[EventType]int{}, multiResults: map[OpCode]int{}}
	type connState struct {
		sawConnect, sawConnectResp bool
		pending                    map[int32]OpCode
	}
	conns := map[int]*connState{}
	for i, f := range frames {
		cs := conns[f.conn]
		if cs == nil {
			cs = &connState{pending: map[int32]OpCode{}}
			conns[f.conn] = cs
		}
		where := fmt.Sprintf("frame %d (conn %d, %c): %x", i, f.conn, f.dir, f.payload)
		switch {
		case f.dir == 'C' && !cs.sawConnect:
			cs.sawConnect = true
			st.connects++
			var r ConnectRequest
			d := NewDecoder(f.payload)
			require.NoError(t, r.Decode(d), where)
			assert.Zero(t, d.Len(), where)
			assert.Equal(t, f.payload, Marshal(nil, &r), where)
			if !r.OmitReadOnly {
				st.readOnlyFlags++
			}
		case f.dir == 'S' && !cs.sawConnectResp:
			cs.sawConnectResp = true
			var r ConnectResponse
			d := NewDecoder(f.payload)
			require.NoError(t, r.Decode(d), where)
			assert.Zero(t, d.Len(), where)
			assert.Equal(t, f.payload, Marshal(nil, &r), where)
			assert.Len(t, r.Passwd, SessionPasswdLen, where)
		case f.dir == 'C':
			h, body, err := ParseRequest(f.payload)
			require.NoError(t, err, where)
			assert.Equal(t, f.payload, Marshal(Marshal(nil, &h), body), where)
			st.requests[h.Type]++
			cs.pending[h.Xid] = h.Type
		default:
			d := NewDecoder(f.payload)
			var h ReplyHeader
			require.NoError(t, h.Decode(d), where)
			switch h.Xid {
			case XidNotification:
				assert.Equal(t, int64(-1), h.Zxid, where)
				var ev WatcherEvent
				require.NoError(t, ev.Decode(d), where)
				assert.Zero(t, d.Len(), where)
				assert.Equal(t, f.payload, AppendNotification(nil, &ev)[4:], where)
				st.events[ev.Type]++
				continue
			}
			op, ok := cs.pending[h.Xid]
			require.True(t, ok, "%s: reply to unknown xid %d", where, h.Xid)
			delete(cs.pending, h.Xid)
			st.replies[op]++
			if h.Err != CodeOK {
				st.errors[h.Err]++
				assert.Zero(t, d.Len(), "%s: error replies have no body", where)
				continue
			}
			body := NewResponse(op)
			if body == nil {
				assert.Zero(t, d.Len(), "%s: %v reply should be header-only", where, op)
				continue
			}
			require.NoError(t, body.Decode(d), where)
			assert.Zero(t, d.Len(), "%s: %v reply has trailing bytes", where, op)
			assert.Equal(t, f.payload, AppendReply(nil, h, body)[4:], where)
			if m, ok := body.(*MultiResponse); ok {
				for _, r := range m.Results {
					st.multiResults[r.Type]++
					if r.Type == OpError {
						st.errors[r.Err]++
					}
				}
			}
		}
	}
	return st
}

func assertJavaCoverage(t *testing.T, st transcriptStats) {
	t.Helper()
	for _, op := range []OpCode{
		OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL, OpDelete, OpExists, OpGetData, OpSetData,
		OpGetACL, OpSetACL, OpGetChildren, OpGetChildren2, OpSync, OpPing, OpMulti, OpMultiRead,
		OpCheckWatches, OpRemoveWatches, OpAuth, OpSetWatches2, OpGetEphemerals, OpGetAllChildrenNumber,
		OpAddWatch, OpWhoAmI, OpCloseSession,
	} {
		assert.Positive(t, st.requests[op], "no %v request in the transcript", op)
	}
	for _, e := range []EventType{EventNodeDataChanged, EventNodeChildrenChanged, EventNodeCreated} {
		assert.Positive(t, st.events[e], "no %v notification", e)
	}
	for _, r := range []OpCode{OpCreate, OpCreate2, OpSetData, OpCheck, OpDelete, OpGetChildren, OpGetData, OpError} {
		assert.Positive(t, st.multiResults[r], "no %v multi result", r)
	}
	for _, c := range []ErrCode{CodeNoNode, CodeNodeExists, CodeNotEmpty, CodeBadVersion, CodeRuntimeInconsistency} {
		assert.Positive(t, st.errors[c], "no %v error", c)
	}
	assert.GreaterOrEqual(t, st.connects, 2, "the client should have reconnected once")
	assert.Equal(t, st.connects, st.readOnlyFlags, "the Java client always sends readOnly")
}

func TestZooKeeper38Transcript(t *testing.T) {
	if _, err := os.Stat(transcriptPath); err != nil {
		t.Skipf("no transcript: %v", err)
	}
	st := checkTranscript(t, readTranscript(t, transcriptPath))
	assertJavaCoverage(t, st)
}

func TestZooKeeper38Interop(t *testing.T) {
	if os.Getenv("COORD_ZK_INTEROP") == "" {
		t.Skip("set COORD_ZK_INTEROP=1 to run ZooKeeper 3.8's server and Java client (needs java, javac, zookeeper.jar)")
	}
	jar := os.Getenv("ZOOKEEPER_JAR")
	if jar == "" {
		jar = "/usr/share/java/zookeeper.jar"
	}
	for _, tool := range []string{"java", "javac"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err)
	}
	require.FileExists(t, jar)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	out, err := exec.CommandContext(ctx, "javac", "-cp", jar, "-d", dir, "testdata/interop/ZK38Client.java").CombinedOutput()
	require.NoError(t, err, "%s", out)

	// A standalone server; tickTime 500 lets the client's 2 s session
	// timeout stand (ZooKeeper's minimum is 2 ticks).
	port := freePort(t)
	cfg := filepath.Join(dir, "zoo.cfg")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil,
		"tickTime=500\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n",
		filepath.Join(dir, "data"), port), 0o644))
	var serverLog bytes.Buffer
	srv := exec.CommandContext(ctx, "java", "-Dzookeeper.extendedTypesEnabled=true", "-cp", jar,
		"org.apache.zookeeper.server.ZooKeeperServerMain", cfg)
	srv.Stdout, srv.Stderr = &serverLog, &serverLog
	require.NoError(t, srv.Start())
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	serverAddr := fmt.Sprintf("127.0.0.1:%d", port)
	require.Eventually(t, func() bool { return ruok(serverAddr) }, 60*time.Second, 200*time.Millisecond,
		"ZooKeeper did not start: %s", &serverLog)

	rec := &recorder{}
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer proxy.Close()
	go runProxy(t, proxy, serverAddr, rec)

	client := exec.CommandContext(ctx, "java", "-cp", jar+string(os.PathListSeparator)+dir, "ZK38Client", proxy.Addr().String())
	out, err = client.CombinedOutput()
	require.NoError(t, err, "client failed:\n%s\nserver:\n%s", out, &serverLog)
	require.Contains(t, string(out), "done")

	rec.mu.Lock()
	frames := append([]tframe(nil), rec.frames...)
	rec.mu.Unlock()
	st := checkTranscript(t, frames)
	assertJavaCoverage(t, st)
	t.Logf("requests: %v", sortedCounts(st.requests))

	if *updateTranscript && !t.Failed() {
		f, err := os.Create(transcriptPath)
		require.NoError(t, err)
		require.NoError(t, writeTranscript(f, frames))
		require.NoError(t, f.Close())
	}
}

func sortedCounts(m map[OpCode]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%v=%d ", OpCode(k), m[OpCode(k)])
	}
	return sb.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ruok sends the four-letter word to addr and reports whether it answered.
func ruok(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return false
	}
	b, _ := io.ReadAll(c)
	return string(b) == "imok"
}

// runProxy forwards client connections to the server frame by frame,
// recording every payload. A client exists("/__drop__") request is not
// forwarded: the proxy drops that connection instead, so the client has to
// reconnect and re-register its watches.
func runProxy(t *testing.T, l net.Listener, serverAddr string, rec *recorder) {
	connID := 0
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		connID++
		s, err := net.Dial("tcp", serverAddr)
		if err != nil {
			c.Close()
			continue
		}
		id := connID
		closeBoth := sync.OnceFunc(func() { c.Close(); s.Close() })
		go func() { // client -> server
			defer closeBoth()
			var buf []byte
			first := true
			for {
				p, err := ReadFrame(c, buf, DefaultMaxFrame)
				if err != nil {
					return
				}
				buf = p
				if !first {
					if _, body, err := ParseRequest(p); err == nil {
						if ex, ok := body.(*ExistsRequest); ok && ex.Path == "/__drop__" {
							return
						}
					}
				}
				first = false
				rec.add(id, 'C', p)
				if _, err := s.Write(AppendFrame(nil, p)); err != nil {
					return
				}
			}
		}()
		go func() { // server -> client
			defer closeBoth()
			var buf []byte
			for {
				p, err := ReadFrame(s, buf, 0)
				if err != nil {
					return
				}
				buf = p
				rec.add(id, 'S', p)
				if _, err := c.Write(AppendFrame(nil, p)); err != nil {
					return
				}
			}
		}()
	}
}
