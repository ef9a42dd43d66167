package jute

// These tests run the go-zookeeper client against a tiny in-test server
// built on this package: everything the real client sends is decoded here
// and must re-encode to the very same bytes, and every reply encoded here
// must be understood by the client.

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type captured struct {
	Header RequestHeader
	Body   Record
	Raw    []byte
}

type fakeZK struct {
	t         *testing.T
	ln        net.Listener
	sessionID int64
	passwd    []byte
	timeoutMs int32

	mu         sync.Mutex
	connects   []ConnectRequest
	connectRaw [][]byte
	errFor     map[string]ErrCode
	zxid       int64
	lastZxid   int64 // zxid of the last non-ping reply
	conn       net.Conn
	wmu        sync.Mutex // serialises writes to conn
	pings      int

	reqs chan captured
	done chan struct{}
}

func newFakeZK(t *testing.T) *fakeZK {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &fakeZK{
		t: t, ln: ln, sessionID: 0x1000000abcdef, passwd: []byte("0123456789abcdef"), timeoutMs: 1500,
		errFor: map[string]ErrCode{}, zxid: 0x100000000, reqs: make(chan captured, 256), done: make(chan struct{}),
	}
	go s.accept()
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.mu.Unlock()
	})
	return s
}

func (s *fakeZK) addr() string { return s.ln.Addr().String() }

func (s *fakeZK) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn = c
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *fakeZK) setErr(path string, code ErrCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errFor[path] = code
}

func (s *fakeZK) write(c net.Conn, b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, _ = c.Write(b)
}

func (s *fakeZK) serve(c net.Conn) {
	defer c.Close()
	var buf []byte
	buf, err := ReadFrame(c, buf, DefaultMaxFrame)
	if err != nil {
		return
	}
	var creq ConnectRequest
	if err := Unmarshal(buf, &creq); err != nil {
		s.t.Errorf("connect request: %v", err)
		return
	}
	s.mu.Lock()
	s.connects = append(s.connects, creq)
	s.connectRaw = append(s.connectRaw, bytes.Clone(buf))
	s.mu.Unlock()
	resp := ConnectResponse{TimeOut: s.timeoutMs, SessionID: s.sessionID, Passwd: s.passwd, OmitReadOnly: creq.OmitReadOnly}
	s.write(c, AppendRecordFrame(nil, &resp))

	var e Encoder
	for {
		buf, err = ReadFrame(c, buf, DefaultMaxFrame)
		if err != nil {
			return
		}
		h, body, err := ParseRequest(buf)
		if err != nil {
			s.t.Errorf("request %x: %v", buf, err)
			return
		}
		if h.Type == OpPing {
			s.mu.Lock()
			s.pings++
			zxid := s.zxid
			s.mu.Unlock()
			s.write(c, AppendReply(nil, ReplyHeader{Xid: h.Xid, Zxid: zxid}, nil))
			continue
		}
		s.reqs <- captured{Header: h, Body: body, Raw: bytes.Clone(buf)}
		rh, rbody := s.respond(h, body)
		e.Reset(e.Bytes()[:0])
		e.WriteReplyFrame(rh, rbody)
		s.write(c, e.Bytes())
		if h.Type == OpCloseSession {
			return
		}
	}
}

func statFor(path string) Stat { return sampleStat(int64(len(path))) }

func (s *fakeZK) respond(h RequestHeader, body Record) (ReplyHeader, Record) {
	s.mu.Lock()
	s.zxid++
	s.lastZxid = s.zxid
	rh := ReplyHeader{Xid: h.Xid, Zxid: s.zxid}
	errFor := func(path string) ErrCode { return s.errFor[path] }
	defer s.mu.Unlock()

	pathOf := func(r Record) string {
		switch r := r.(type) {
		case *CreateRequest:
			return r.Path
		case *CreateTTLRequest:
			return r.Path
		case *DeleteRequest:
			return r.Path
		case *SetDataRequest:
			return r.Path
		case *CheckVersionRequest:
			return r.Path
		case *GetDataRequest:
			return r.Path
		case *ExistsRequest:
			return r.Path
		case *GetChildren2Request:
			return r.Path
		case *GetACLRequest:
			return r.Path
		case *SetACLRequest:
			return r.Path
		}
		return ""
	}
	if code := errFor(pathOf(body)); code != CodeOK {
		rh.Err = code
		return rh, nil
	}
	switch r := body.(type) {
	case *CreateRequest:
		if h.Type == OpCreate {
			return rh, &CreateResponse{Path: r.Path}
		}
		return rh, &Create2Response{Path: r.Path, Stat: statFor(r.Path)}
	case *CreateTTLRequest:
		return rh, &Create2Response{Path: r.Path, Stat: statFor(r.Path)}
	case *ExistsRequest:
		return rh, &ExistsResponse{Stat: statFor(r.Path)}
	case *GetDataRequest:
		return rh, &GetDataResponse{Data: []byte("data@" + r.Path), Stat: statFor(r.Path)}
	case *SetDataRequest:
		st := statFor(r.Path)
		st.Version = r.Version + 1
		return rh, &SetDataResponse{Stat: st}
	case *GetACLRequest:
		return rh, &GetACLResponse{ACL: sampleACL, Stat: statFor(r.Path)}
	case *SetACLRequest:
		return rh, &SetACLResponse{Stat: statFor(r.Path)}
	case *GetChildren2Request:
		return rh, &GetChildren2Response{Children: []string{"a", "b"}, Stat: statFor(r.Path)}
	case *SyncRequest:
		return rh, &SyncResponse{Path: r.Path}
	case *ReconfigRequest:
		return rh, &GetDataResponse{Data: []byte("server.1=h1:2888:3888:participant;0.0.0.0:2181"), Stat: statFor("/zookeeper/config")}
	case *MultiRequest:
		for i, op := range r.Ops {
			if code := errFor(pathOf(op.Op)); code != CodeOK {
				return rh, &MultiResponse{Results: FailedMultiResults(len(r.Ops), i, code)}
			}
		}
		res := make([]MultiResult, len(r.Ops))
		for i, op := range r.Ops {
			switch o := op.Op.(type) {
			case *CreateRequest:
				res[i] = MultiResult{Type: OpCreate, Path: o.Path}
			case *SetDataRequest:
				res[i] = MultiResult{Type: OpSetData, Stat: statFor(o.Path)}
			case *DeleteRequest:
				res[i] = MultiResult{Type: OpDelete}
			case *CheckVersionRequest:
				res[i] = MultiResult{Type: OpCheck}
			default:
				res[i] = ErrorResult(CodeUnimplemented)
			}
		}
		return rh, &MultiResponse{Results: res}
	}
	return rh, nil // delete, auth, setWatches, closeSession
}

// next returns the next non-ping request the client sent.
func (s *fakeZK) next(t *testing.T) captured {
	t.Helper()
	select {
	case c := <-s.reqs:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a request")
		return captured{}
	}
}

// notify pushes a watch event to the current connection.
func (s *fakeZK) notify(ev WatcherEvent) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	s.write(c, AppendNotification(nil, &ev))
}

func (s *fakeZK) dropConnection() {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	c.Close()
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...interface{}) {}

// assertReencodes checks that decoding the raw request and encoding it again
// gives back exactly what the client sent.
func assertReencodes(t *testing.T, c captured) {
	t.Helper()
	again := Marshal(Marshal(nil, &c.Header), c.Body)
	assert.Equal(t, c.Raw, again, "%v request does not re-encode to the client's bytes", c.Header.Type)
}

func connectGoZK(t *testing.T, s *fakeZK) (*zk.Conn, <-chan zk.Event) {
	t.Helper()
	conn, events, err := zk.Connect([]string{s.addr()}, 4*time.Second, zk.WithLogger(quietLogger{}))
	require.NoError(t, err)
	t.Cleanup(conn.Close)
	deadline := time.After(10 * time.Second)
	for conn.State() != zk.StateHasSession {
		select {
		case <-events:
		case <-deadline:
			t.Fatalf("no session, state %v", conn.State())
		}
	}
	return conn, events
}

func TestGoZKSessionAndPing(t *testing.T) {
	s := newFakeZK(t)
	conn, _ := connectGoZK(t, s)
	assert.Equal(t, s.sessionID, conn.SessionID())

	s.mu.Lock()
	creq, raw := s.connects[0], s.connectRaw[0]
	s.mu.Unlock()
	want := ConnectRequest{ProtocolVersion: 0, LastZxidSeen: 0, TimeOut: 4000, SessionID: 0, Passwd: make([]byte, 16), OmitReadOnly: true}
	assert.Equal(t, want, creq, "go-zookeeper sends the pre-3.4 ConnectRequest without readOnly")
	assert.Equal(t, unhex(t, `
		00000000 0000000000000000 00000fa0 0000000000000000
		00000010 00000000000000000000000000000000`), raw)
	assert.Equal(t, raw, Marshal(nil, &creq))

	// The negotiated 1.5 s timeout makes the client ping every 500 ms.
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pings > 0
	}, 5*time.Second, 20*time.Millisecond)
}

func TestGoZKOperations(t *testing.T) {
	s := newFakeZK(t)
	conn, _ := connectGoZK(t, s)
	acl := zk.WorldACL(zk.PermAll)
	wantACL := []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}}

	t.Run("create", func(t *testing.T) {
		p, err := conn.Create("/app/node", []byte("v1"), zk.FlagEphemeral, acl)
		require.NoError(t, err)
		assert.Equal(t, "/app/node", p)
		c := s.next(t)
		assert.Equal(t, OpCreate, c.Header.Type)
		assert.Equal(t, &CreateRequest{Path: "/app/node", Data: []byte("v1"), ACL: wantACL, Flags: ModeEphemeral}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("create nil data", func(t *testing.T) {
		_, err := conn.Create("/app/empty", nil, zk.FlagSequence, acl)
		require.NoError(t, err)
		c := s.next(t)
		assert.Equal(t, &CreateRequest{Path: "/app/empty", ACL: wantACL, Flags: ModePersistentSequential}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("createContainer", func(t *testing.T) {
		p, err := conn.CreateContainer("/app/box", []byte("c"), zk.FlagContainer, acl)
		require.NoError(t, err)
		assert.Equal(t, "/app/box", p)
		c := s.next(t)
		assert.Equal(t, OpCreateContainer, c.Header.Type)
		assert.Equal(t, &CreateRequest{Path: "/app/box", Data: []byte("c"), ACL: wantACL, Flags: ModeContainer}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("createTTL", func(t *testing.T) {
		p, err := conn.CreateTTL("/app/ttl", []byte("t"), zk.FlagTTL, acl, 90*time.Second)
		require.NoError(t, err)
		assert.Equal(t, "/app/ttl", p)
		c := s.next(t)
		assert.Equal(t, OpCreateTTL, c.Header.Type)
		assert.Equal(t, &CreateTTLRequest{Path: "/app/ttl", Data: []byte("t"), ACL: wantACL, Flags: ModePersistentWithTTL, TTL: 90000}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("get", func(t *testing.T) {
		data, st, err := conn.Get("/app/node")
		require.NoError(t, err)
		assert.Equal(t, []byte("data@/app/node"), data)
		assertStat(t, statFor("/app/node"), st)
		c := s.next(t)
		assert.Equal(t, &GetDataRequest{Path: "/app/node"}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("set", func(t *testing.T) {
		st, err := conn.Set("/app/node", []byte("v2"), 6)
		require.NoError(t, err)
		assert.Equal(t, int32(7), st.Version)
		c := s.next(t)
		assert.Equal(t, &SetDataRequest{Path: "/app/node", Data: []byte("v2"), Version: 6}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("children", func(t *testing.T) {
		kids, st, err := conn.Children("/app")
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, kids)
		assertStat(t, statFor("/app"), st)
		c := s.next(t)
		assert.Equal(t, OpGetChildren2, c.Header.Type)
		assert.Equal(t, &GetChildren2Request{Path: "/app"}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("exists", func(t *testing.T) {
		ok, st, err := conn.Exists("/app/node")
		require.NoError(t, err)
		assert.True(t, ok)
		assertStat(t, statFor("/app/node"), st)
		c := s.next(t)
		assert.Equal(t, &ExistsRequest{Path: "/app/node"}, c.Body)
		assertReencodes(t, c)

		s.setErr("/missing", CodeNoNode)
		ok, _, err = conn.Exists("/missing")
		require.NoError(t, err)
		assert.False(t, ok, "a header-only NoNode reply means 'does not exist'")
		s.next(t)
	})
	t.Run("errors", func(t *testing.T) {
		s.setErr("/busy", CodeNotEmpty)
		err := conn.Delete("/busy", -1)
		assert.ErrorIs(t, err, zk.ErrNotEmpty)
		c := s.next(t)
		assert.Equal(t, &DeleteRequest{Path: "/busy", Version: -1}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("delete", func(t *testing.T) {
		require.NoError(t, conn.Delete("/app/node", 3))
		c := s.next(t)
		assert.Equal(t, &DeleteRequest{Path: "/app/node", Version: 3}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("acl", func(t *testing.T) {
		got, st, err := conn.GetACL("/app")
		require.NoError(t, err)
		assert.Equal(t, []zk.ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}, {Perms: PermRead | PermAdmin, Scheme: "digest", ID: sampleACL[1].ID}}, got)
		assertStat(t, statFor("/app"), st)
		c := s.next(t)
		assert.Equal(t, &GetACLRequest{Path: "/app"}, c.Body)
		assertReencodes(t, c)

		digest := zk.DigestACL(zk.PermRead|zk.PermWrite, "user", "pw")
		_, err = conn.SetACL("/app", digest, 2)
		require.NoError(t, err)
		c = s.next(t)
		assert.Equal(t, &SetACLRequest{Path: "/app", ACL: []ACL{{Perms: 3, Scheme: "digest", ID: digest[0].ID}}, Version: 2}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("sync", func(t *testing.T) {
		p, err := conn.Sync("/app")
		require.NoError(t, err)
		assert.Equal(t, "/app", p)
		c := s.next(t)
		assert.Equal(t, &SyncRequest{Path: "/app"}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("auth", func(t *testing.T) {
		require.NoError(t, conn.AddAuth("digest", []byte("user:pw")))
		c := s.next(t)
		assert.Equal(t, OpAuth, c.Header.Type)
		assert.Positive(t, c.Header.Xid, "go-zookeeper uses an ordinary xid, not XidAuth")
		assert.Equal(t, &AuthPacket{Type: 0, Scheme: "digest", Auth: []byte("user:pw")}, c.Body)
		assertReencodes(t, c)
	})
	t.Run("reconfig", func(t *testing.T) {
		st, err := conn.IncrementalReconfig([]string{"server.4=h4:2888:3888:participant;2181"}, []string{"3"}, -1)
		require.NoError(t, err)
		assertStat(t, statFor("/zookeeper/config"), st)
		c := s.next(t)
		assert.Equal(t, OpReconfig, c.Header.Type)
		assert.Equal(t, &ReconfigRequest{JoiningServers: "server.4=h4:2888:3888:participant;2181", LeavingServers: "3", CurConfigID: -1}, c.Body)
		// go-zookeeper sends the absent NewMembers as a null string (-1),
		// which decodes to "" and re-encodes with length 0.
		assert.Equal(t, unhex(t, "ffffffff ffffffffffffffff"), c.Raw[len(c.Raw)-12:])
	})
}

func assertStat(t *testing.T, want Stat, got *zk.Stat) {
	t.Helper()
	require.NotNil(t, got)
	assert.Equal(t, zk.Stat{
		Czxid: want.Czxid, Mzxid: want.Mzxid, Ctime: want.Ctime, Mtime: want.Mtime, Version: want.Version,
		Cversion: want.Cversion, Aversion: want.Aversion, EphemeralOwner: want.EphemeralOwner,
		DataLength: want.DataLength, NumChildren: want.NumChildren, Pzxid: want.Pzxid,
	}, *got)
}

func TestGoZKMulti(t *testing.T) {
	s := newFakeZK(t)
	conn, _ := connectGoZK(t, s)
	acl := zk.WorldACL(zk.PermAll)

	res, err := conn.Multi(
		&zk.CreateRequest{Path: "/m/a", Data: []byte("1"), Acl: acl, Flags: zk.FlagEphemeral},
		&zk.SetDataRequest{Path: "/m/b", Data: []byte("2"), Version: 5},
		&zk.DeleteRequest{Path: "/m/c", Version: -1},
		&zk.CheckVersionRequest{Path: "/m", Version: 9},
	)
	require.NoError(t, err)
	require.Len(t, res, 4)
	assert.Equal(t, "/m/a", res[0].String)
	assertStat(t, statFor("/m/b"), res[1].Stat)
	for _, r := range res {
		assert.NoError(t, r.Error)
	}

	c := s.next(t)
	assert.Equal(t, OpMulti, c.Header.Type)
	wantACL := []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}}
	assert.Equal(t, &MultiRequest{Ops: []MultiOp{
		{Type: OpCreate, Op: &CreateRequest{Path: "/m/a", Data: []byte("1"), ACL: wantACL, Flags: ModeEphemeral}},
		{Type: OpSetData, Op: &SetDataRequest{Path: "/m/b", Data: []byte("2"), Version: 5}},
		{Type: OpDelete, Op: &DeleteRequest{Path: "/m/c", Version: -1}},
		{Type: OpCheck, Op: &CheckVersionRequest{Path: "/m", Version: 9}},
	}}, c.Body)
	assertReencodes(t, c)

	// A failing transaction: the reply header says OK and the results carry
	// the error, the way ZooKeeper reports it.
	s.setErr("/m/bad", CodeBadVersion)
	res, err = conn.Multi(
		&zk.CreateRequest{Path: "/m/x", Data: nil, Acl: acl},
		&zk.SetDataRequest{Path: "/m/bad", Data: []byte("2"), Version: 1},
		&zk.DeleteRequest{Path: "/m/y", Version: -1},
	)
	assert.ErrorIs(t, err, zk.ErrBadVersion)
	require.Len(t, res, 3)
	assert.NoError(t, res[0].Error)
	assert.ErrorIs(t, res[1].Error, zk.ErrBadVersion)
	assert.Error(t, res[2].Error)
	c = s.next(t)
	assertReencodes(t, c)

	// An empty multi is just the closing header.
	res, err = conn.Multi()
	require.NoError(t, err)
	assert.Empty(t, res)
	c = s.next(t)
	assert.Equal(t, unhex(t, "ffffffff 01 ffffffff"), c.Raw[RequestHeaderSize:])
	assert.Equal(t, &MultiRequest{}, c.Body)
}

func TestGoZKWatchesAndSetWatches(t *testing.T) {
	s := newFakeZK(t)
	conn, _ := connectGoZK(t, s)

	_, _, dataW, err := conn.GetW("/w/data")
	require.NoError(t, err)
	assert.Equal(t, &GetDataRequest{Path: "/w/data", Watch: true}, s.next(t).Body)

	_, _, childW, err := conn.ChildrenW("/w")
	require.NoError(t, err)
	c := s.next(t)
	assert.Equal(t, &GetChildren2Request{Path: "/w", Watch: true}, c.Body)
	assertReencodes(t, c)

	s.setErr("/w/later", CodeNoNode)
	ok, _, existW, err := conn.ExistsW("/w/later")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, &ExistsRequest{Path: "/w/later", Watch: true}, s.next(t).Body)

	// A notification encoded here reaches the right watcher.
	s.notify(WatcherEvent{Type: EventNodeChildrenChanged, State: StateSyncConnected, Path: "/w"})
	select {
	case ev := <-childW:
		assert.Equal(t, zk.EventNodeChildrenChanged, ev.Type)
		assert.Equal(t, "/w", ev.Path)
		assert.Equal(t, zk.StateSyncConnected, ev.State)
	case <-time.After(5 * time.Second):
		t.Fatal("child watch did not fire")
	}

	s.mu.Lock()
	lastZxid := s.lastZxid
	s.mu.Unlock()

	// Drop the connection: the client reconnects with its session and
	// re-registers the two watches that have not fired.
	s.dropConnection()
	var sw captured
	for sw.Body == nil {
		c := s.next(t)
		if c.Header.Type == OpSetWatches {
			sw = c
		}
	}
	assert.Equal(t, &SetWatches{
		RelativeZxid: lastZxid,
		DataWatches:  []string{"/w/data"},
		ExistWatches: []string{"/w/later"},
	}, sw.Body)
	assert.Positive(t, sw.Header.Xid, "go-zookeeper uses an ordinary xid, not XidSetWatches")
	assertReencodes(t, sw)

	s.mu.Lock()
	require.Len(t, s.connects, 2)
	re := s.connects[1]
	s.mu.Unlock()
	assert.Equal(t, s.sessionID, re.SessionID, "the reconnect resumes the session")
	assert.Equal(t, s.passwd, re.Passwd)
	assert.Equal(t, lastZxid, re.LastZxidSeen)

	s.notify(WatcherEvent{Type: EventNodeCreated, State: StateSyncConnected, Path: "/w/later"})
	select {
	case ev := <-existW:
		assert.Equal(t, zk.EventNodeCreated, ev.Type)
		assert.Equal(t, "/w/later", ev.Path)
	case <-time.After(5 * time.Second):
		t.Fatal("exist watch did not fire")
	}
	s.notify(WatcherEvent{Type: EventNodeDeleted, State: StateSyncConnected, Path: "/w/data"})
	select {
	case ev := <-dataW:
		assert.Equal(t, zk.EventNodeDeleted, ev.Type)
	case <-time.After(5 * time.Second):
		t.Fatal("data watch did not fire")
	}
}

func TestGoZKCloseSession(t *testing.T) {
	s := newFakeZK(t)
	conn, _ := connectGoZK(t, s)
	conn.Close()
	c := s.next(t)
	assert.Equal(t, OpCloseSession, c.Header.Type)
	assert.Equal(t, &Empty{}, c.Body)
	assert.Len(t, c.Raw, RequestHeaderSize)
}

func TestGoZKExpiredSession(t *testing.T) {
	// A ConnectResponse with session id 0 tells the client its session is
	// gone.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		p, err := ReadFrame(c, nil, 0)
		if err != nil {
			return
		}
		var req ConnectRequest
		if Unmarshal(p, &req) != nil {
			return
		}
		_, _ = c.Write(AppendRecordFrame(nil, &ConnectResponse{Passwd: make([]byte, SessionPasswdLen), OmitReadOnly: req.OmitReadOnly}))
		time.Sleep(time.Second)
	}()
	conn, events, err := zk.Connect([]string{ln.Addr().String()}, 4*time.Second, zk.WithLogger(quietLogger{}))
	require.NoError(t, err)
	defer conn.Close()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateExpired {
				return
			}
		case <-deadline:
			t.Fatal("client did not see the session as expired")
		}
	}
}
