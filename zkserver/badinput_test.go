package zkserver

import (
	"bytes"
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/jute"
)

// connectFrame is a valid ConnectRequest frame for a new session.
func connectFrame(timeoutMs int32) []byte {
	return jute.AppendRecordFrame(nil, &jute.ConnectRequest{TimeOut: timeoutMs, Passwd: make([]byte, 16)})
}

func requestFrame(xid int32, op jute.OpCode, body jute.Record) []byte {
	h := jute.RequestHeader{Xid: xid, Type: op}
	if body == nil {
		return jute.AppendRecordFrame(nil, &h)
	}
	return jute.AppendRecordFrame(nil, &h, body)
}

// exchange writes raw bytes on a new connection and returns what the server
// sent back before it closed the connection (or the time ran out, closed
// false).
func exchange(t testing.TB, addr string, in []byte, within time.Duration) (out []byte, closed bool) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(within))
	if len(in) > 0 {
		if _, err := nc.Write(in); err != nil {
			return nil, true
		}
		// The client sends nothing more: the server sees the end of its
		// input (a frame cut short, or a clean end after the last one).
		nc.(*net.TCPConn).CloseWrite()
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(nc)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return buf.Bytes(), false
	}
	return buf.Bytes(), true
}

// replies decodes the frames a server sent after its ConnectResponse.
func replies(t testing.TB, out []byte) (jute.ConnectResponse, []jute.ReplyHeader) {
	t.Helper()
	r := bytes.NewReader(out)
	var resp jute.ConnectResponse
	frame, err := jute.ReadFrame(r, nil, 0)
	if err != nil {
		return resp, nil
	}
	require.NoError(t, jute.Unmarshal(frame, &resp))
	var hs []jute.ReplyHeader
	for {
		frame, err := jute.ReadFrame(r, nil, 0)
		if err != nil {
			return resp, hs
		}
		var h jute.ReplyHeader
		require.NoError(t, jute.Unmarshal(frame, &h))
		hs = append(hs, h)
	}
}

// TestBadInput: malformed input from the network gets ZooKeeper's answer
// (an error reply or a closed connection) and never harms the member,
// which keeps serving everyone else.
func TestBadInput(t *testing.T) {
	e := newEnsemble(t, 1, WithMaxConnsPerIP(40), WithHandshakeTimeout(500*time.Millisecond))
	addr := e.member(1).addr
	srv := e.member(1).srv
	good, _ := connect(t, []string{addr}, 4*time.Second)
	_, err := good.Create("/bad", []byte("ok"), 0, openACL)
	require.NoError(t, err)
	healthy := func() {
		t.Helper()
		data, _, err := good.Get("/bad")
		require.NoError(t, err)
		require.Equal(t, "ok", string(data))
	}
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

	cases := []struct {
		name string
		in   []byte
		// want: number of replies and their codes after the ConnectResponse
		codes     []jute.ErrCode
		noConnect bool // the server must not answer at all
	}{
		{name: "nothing", in: nil, noConnect: true},
		{name: "negative length", in: be32(0xffffffff), noConnect: true},
		{name: "huge length", in: be32(1 << 30), noConnect: true},
		{name: "truncated connect", in: connectFrame(4000)[:20], noConnect: true},
		{name: "short connect", in: jute.AppendFrame(nil, []byte{0, 0, 0, 0, 1}), noConnect: true},
		{name: "request before connect", in: requestFrame(1, jute.OpGetData, &jute.GetDataRequest{Path: "/bad"}), noConnect: true},
		{name: "frame over jute.maxbuffer", in: append(connectFrame(4000),
			requestFrame(1, jute.OpSetData, &jute.SetDataRequest{Path: "/bad", Data: make([]byte, 1<<20), Version: -1})...)},
		{name: "negative length after connect", in: append(connectFrame(4000), be32(0x80000000)...)},
		{name: "header cut short", in: append(connectFrame(4000), jute.AppendFrame(nil, []byte{0, 0, 0, 1, 0})...)},
		{name: "truncated frame", in: append(connectFrame(4000), requestFrame(1, jute.OpGetData, &jute.GetDataRequest{Path: "/bad"})[:9]...)},
		{name: "undecodable body", in: append(connectFrame(4000), jute.AppendFrame(nil, append(
			jute.Marshal(nil, &jute.RequestHeader{Xid: 1, Type: jute.OpCreate}), 0x7f, 0xff, 0xff, 0xff))...),
			codes: []jute.ErrCode{jute.CodeMarshallingError}},
		{name: "unknown opcode", in: append(append(connectFrame(4000), requestFrame(1, 77, nil)...),
			requestFrame(2, jute.OpGetData, &jute.GetDataRequest{Path: "/bad"})...),
			codes: []jute.ErrCode{jute.CodeUnimplemented}},
		{name: "deleteContainer from a client", in: append(connectFrame(4000), requestFrame(1, jute.OpDeleteContainer, nil)...),
			codes: []jute.ErrCode{jute.CodeUnimplemented}},
		{name: "garbage multi", in: append(connectFrame(4000), jute.AppendFrame(nil, append(
			jute.Marshal(nil, &jute.RequestHeader{Xid: 1, Type: jute.OpMulti}), 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff))...),
			codes: []jute.ErrCode{jute.CodeMarshallingError}},
		{name: "create with a 1e9-element ACL", in: append(connectFrame(4000), jute.AppendFrame(nil, append(append(
			jute.Marshal(nil, &jute.RequestHeader{Xid: 1, Type: jute.OpCreate}),
			jute.Marshal(nil, &jute.SyncRequest{Path: "/x"})...), 0, 0, 0, 0, 0x3b, 0x9a, 0xca, 0))...),
			codes: []jute.ErrCode{jute.CodeMarshallingError}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, closed := exchange(t, addr, tc.in, 5*time.Second)
			assert.True(t, closed, "connection left open")
			resp, hs := replies(t, out)
			if tc.noConnect {
				assert.Empty(t, out)
			} else {
				assert.NotZero(t, resp.SessionID)
				var codes []jute.ErrCode
				for _, h := range hs {
					codes = append(codes, h.Err)
				}
				assert.Equal(t, tc.codes, codes)
			}
			healthy()
		})
	}

	t.Run("idle before connect", func(t *testing.T) {
		start := time.Now()
		out, closed := exchange(t, addr, nil, 5*time.Second)
		assert.True(t, closed)
		assert.Empty(t, out)
		assert.Less(t, time.Since(start), 3*time.Second)
		healthy()
	})

	t.Run("too many connections", func(t *testing.T) {
		// Only the go-zookeeper client's connection remains from before.
		require.Eventually(t, func() bool { return srv.Stats().Connections == 1 }, 5*time.Second, 10*time.Millisecond)
		base := srv.Stats()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		refused := 0
		for i := 0; i < 100; i++ {
			nc, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			conns = append(conns, nc)
		}
		// Refused ones are closed at once; accepted ones would be closed
		// only by the 500 ms handshake timeout.
		time.Sleep(200 * time.Millisecond)
		for _, nc := range conns {
			nc.SetReadDeadline(time.Now().Add(time.Millisecond))
			var b [1]byte
			if _, err := nc.Read(b[:]); err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					refused++
				}
			}
		}
		// 40 per address; the go-zookeeper client already holds one.
		assert.Equal(t, 100-(40-base.Connections), refused)
		assert.EqualValues(t, refused, srv.Stats().Rejected-base.Rejected)
		healthy()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		require.Eventually(t, func() bool { return srv.Stats().Connections == base.Connections }, 5*time.Second, 20*time.Millisecond)
	})

	t.Run("many sessions", func(t *testing.T) {
		// Clients that open sessions and vanish do not leak goroutines.
		before := runtime.NumGoroutine()
		var wg sync.WaitGroup
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in := append(connectFrame(1000), requestFrame(1, jute.OpExists, &jute.ExistsRequest{Path: "/bad", Watch: true})...)
				exchange(t, addr, in, 300*time.Millisecond)
			}()
		}
		wg.Wait()
		healthy()
		require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+5 }, 10*time.Second, 50*time.Millisecond,
			"goroutines: %d before, %d after", before, runtime.NumGoroutine())
	})

	t.Run("largest request", func(t *testing.T) {
		// ZooKeeper's limit exactly: a 1048575-byte request passes, one byte
		// more closes the connection.
		largest := jute.DefaultMaxBuffer - (8 + 4 + len("/bad") + 4 + 4) // header, path, data length, version
		_, err := good.Set("/bad", make([]byte, largest), -1)
		require.NoError(t, err)
		r := dialRaw(t, addr, 4000)
		xid := r.send(jute.OpSetData, &jute.SetDataRequest{Path: "/bad", Data: make([]byte, largest+1), Version: -1})
		_, _, err = r.read(xid)
		require.Error(t, err)
		assert.True(t, r.closed(time.Second))
		_, err = good.Set("/bad", []byte("ok"), -1)
		require.NoError(t, err)
		healthy()
	})

	// go-zookeeper still works on that member.
	_, err = good.Create("/bad/after", nil, zk.FlagEphemeral, openACL)
	require.NoError(t, err)
}
