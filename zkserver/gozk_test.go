package zkserver

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/jute"
)

var openACL = zk.WorldACL(zk.PermAll)

// TestGoZookeeper runs go-zookeeper against a three-member ensemble: every
// node type, every error code, watches of each kind, multi, ACLs with digest
// auth and the session lifecycle.
func TestGoZookeeper(t *testing.T) {
	e := newEnsemble(t, 3)
	addr := func(id uint64) []string { return []string{e.member(id).addr} }
	const to = 4 * time.Second

	t.Run("NodeTypes", func(t *testing.T) {
		a, _ := connect(t, addr(1), to)
		b, _ := connect(t, addr(2), to)
		_, err := a.Create("/nt", []byte("p"), zk.FlagPersistent, openACL)
		require.NoError(t, err)
		_, st0, err := a.Get("/nt")
		require.NoError(t, err)
		assert.Equal(t, st0.Czxid, st0.Mzxid)
		assert.Equal(t, st0.Czxid, st0.Pzxid)
		assert.Equal(t, st0.Ctime, st0.Mtime)
		assert.Equal(t, int32(1), st0.DataLength)
		assert.Zero(t, st0.EphemeralOwner)

		p, err := a.Create("/nt/eph", nil, zk.FlagEphemeral, openACL)
		require.NoError(t, err)
		require.Equal(t, "/nt/eph", p)
		_, st, err := a.Exists(p)
		require.NoError(t, err)
		assert.Equal(t, a.SessionID(), st.EphemeralOwner)

		for i := 0; i < 3; i++ {
			p, err = a.Create("/nt/seq-", []byte{byte(i)}, zk.FlagSequence, openACL)
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("/nt/seq-%010d", i+1), p)
		}
		p, err = a.Create("/nt/es-", nil, zk.FlagEphemeralSequential, openACL)
		require.NoError(t, err)
		assert.Equal(t, "/nt/es-0000000004", p)

		p, err = a.CreateContainer("/nt/cont", nil, zk.FlagContainer, openACL)
		require.NoError(t, err)
		assert.Equal(t, "/nt/cont", p)
		p, err = a.CreateTTL("/nt/ttl", nil, zk.FlagTTL, openACL, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, "/nt/ttl", p)
		p, err = a.CreateTTL("/nt/ttls-", nil, zk.FlagPersistentSequentialWithTTL, openACL, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, "/nt/ttls-0000000007", p)

		// Another member sees them all after sync.
		_, err = b.Sync("/nt")
		require.NoError(t, err)
		kids, st, err := b.Children("/nt")
		require.NoError(t, err)
		sort.Strings(kids)
		assert.Equal(t, []string{"cont", "eph", "es-0000000004", "seq-0000000001", "seq-0000000002",
			"seq-0000000003", "ttl", "ttls-0000000007"}, kids)
		assert.Equal(t, int32(8), st.NumChildren)
		assert.Equal(t, int32(8), st.Cversion)
		assert.Greater(t, st.Pzxid, st0.Pzxid)

		// set and versions
		st, err = b.Set("/nt", []byte("pp"), 0)
		require.NoError(t, err)
		assert.Equal(t, int32(1), st.Version)
		assert.Greater(t, st.Mzxid, st0.Mzxid)
		assert.Equal(t, int32(2), st.DataLength)
		_, err = a.Sync("/nt")
		require.NoError(t, err)
		data, st2, err := a.Get("/nt")
		require.NoError(t, err)
		assert.Equal(t, "pp", string(data))
		assert.Equal(t, *st, *st2)

		// delete
		require.NoError(t, b.Delete("/nt/seq-0000000001", 0))
		_, err = a.Sync("/")
		require.NoError(t, err)
		ok, _, err := a.Exists("/nt/seq-0000000001")
		require.NoError(t, err)
		assert.False(t, ok)

		// ephemerals go with the session
		a.Close()
		_, err = b.Sync("/")
		require.NoError(t, err)
		for _, p := range []string{"/nt/eph", "/nt/es-0000000004"} {
			ok, _, err := b.Exists(p)
			require.NoError(t, err)
			assert.False(t, ok, p)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		a, _ := connect(t, addr(1), to)
		_, err := a.Create("/er", nil, 0, openACL)
		require.NoError(t, err)
		_, err = a.Create("/er/c", nil, 0, openACL)
		require.NoError(t, err)
		_, err = a.Create("/er/eph", nil, zk.FlagEphemeral, openACL)
		require.NoError(t, err)

		_, _, err = a.Get("/er/none")
		assert.ErrorIs(t, err, zk.ErrNoNode)
		_, err = a.Set("/er/none", nil, -1)
		assert.ErrorIs(t, err, zk.ErrNoNode)
		assert.ErrorIs(t, a.Delete("/er/none", -1), zk.ErrNoNode)
		_, _, err = a.Children("/er/none")
		assert.ErrorIs(t, err, zk.ErrNoNode)
		_, err = a.Create("/er/none/x", nil, 0, openACL)
		assert.ErrorIs(t, err, zk.ErrNoNode)
		_, err = a.Create("/er/c", nil, 0, openACL)
		assert.ErrorIs(t, err, zk.ErrNodeExists)
		_, err = a.Set("/er/c", nil, 7)
		assert.ErrorIs(t, err, zk.ErrBadVersion)
		assert.ErrorIs(t, a.Delete("/er/c", 7), zk.ErrBadVersion)
		_, err = a.SetACL("/er/c", openACL, 7)
		assert.ErrorIs(t, err, zk.ErrBadVersion)
		assert.ErrorIs(t, a.Delete("/er", -1), zk.ErrNotEmpty)
		_, err = a.Create("/er/eph/x", nil, 0, openACL)
		assert.ErrorIs(t, err, zk.ErrNoChildrenForEphemerals)
		_, err = a.Create("/er/noacl", nil, 0, nil)
		assert.ErrorIs(t, err, zk.ErrInvalidACL)
		_, err = a.Create("/er/badacl", nil, 0, []zk.ACL{{Perms: zk.PermAll, Scheme: "world", ID: "someone"}})
		assert.ErrorIs(t, err, zk.ErrInvalidACL)
		_, err = a.CreateTTL("/er/ttl0", nil, zk.FlagTTL, openACL, 0)
		assert.ErrorIs(t, err, zk.ErrBadArguments)
		_, err = a.Create("/er/ro", nil, 0, zk.WorldACL(zk.PermRead))
		require.NoError(t, err)
		_, err = a.Create("/er/ro/x", nil, 0, openACL)
		assert.ErrorIs(t, err, zk.ErrNoAuth)
		_, err = a.Set("/er/ro", nil, -1)
		assert.ErrorIs(t, err, zk.ErrNoAuth)
		_, err = a.Multi(&zk.CreateRequest{Path: "/er/m1", Acl: openACL}, &zk.CheckVersionRequest{Path: "/er/c", Version: 5})
		assert.ErrorIs(t, err, zk.ErrBadVersion)
		_, err = a.IncrementalReconfig(nil, []string{"3"}, -1)
		assert.ErrorIs(t, err, zk.ErrReconfigDisabled)

		// Raw codes go-zookeeper cannot produce, as ZooKeeper 3.8 gives them.
		r := dialRaw(t, e.member(2).addr, 4000)
		require.Equal(t, jute.CodeOK, r.call(jute.OpSync, &jute.SyncRequest{Path: "/"}, nil))
		codes := []struct {
			name string
			op   jute.OpCode
			body jute.Record
			want jute.ErrCode
		}{
			{"create without slash", jute.OpCreate, &jute.CreateRequest{Path: "a", ACL: toACL(nil)}, jute.CodeInvalidACL},
			{"create a", jute.OpCreate, &jute.CreateRequest{Path: "a", ACL: []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}}, jute.CodeBadArguments},
			{"create a/b", jute.OpCreate, &jute.CreateRequest{Path: "a/b", ACL: []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}}, jute.CodeNoNode},
			{"create /er/", jute.OpCreate, &jute.CreateRequest{Path: "/er/", ACL: []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}}, jute.CodeBadArguments},
			{"create /er/./x", jute.OpCreate, &jute.CreateRequest{Path: "/er/./x", ACL: []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}}, jute.CodeNoNode},
			{"create /", jute.OpCreate, &jute.CreateRequest{Path: "/", ACL: []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}}, jute.CodeNodeExists},
			{"create flag 7", jute.OpCreate2, &jute.CreateRequest{Path: "/er/f7", Flags: 7, ACL: []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}}, jute.CodeBadArguments},
			{"create2 TTL flag", jute.OpCreate2, &jute.CreateRequest{Path: "/er/f5", Flags: 5, ACL: []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}}, jute.CodeBadArguments},
			{"createTTL persistent", jute.OpCreateTTL, &jute.CreateTTLRequest{Path: "/er/t0", Flags: 0, TTL: 5000, ACL: []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}}, jute.CodeBadArguments},
			{"createTTL 2^40", jute.OpCreateTTL, &jute.CreateTTLRequest{Path: "/er/t1", Flags: 5, TTL: 1 << 40, ACL: []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}}, jute.CodeBadArguments},
			{"delete a", jute.OpDelete, &jute.DeleteRequest{Path: "a", Version: -1}, jute.CodeBadArguments},
			{"delete /er/", jute.OpDelete, &jute.DeleteRequest{Path: "/er/", Version: -1}, jute.CodeNoNode},
			{"delete /", jute.OpDelete, &jute.DeleteRequest{Path: "/", Version: -1}, jute.CodeBadArguments},
			{"exists a", jute.OpExists, &jute.ExistsRequest{Path: "a"}, jute.CodeNoNode},
			{"exists ''", jute.OpExists, &jute.ExistsRequest{Path: ""}, jute.CodeOK},
			{"getData /er/", jute.OpGetData, &jute.GetDataRequest{Path: "/er/"}, jute.CodeNoNode},
			{"setData /er/", jute.OpSetData, &jute.SetDataRequest{Path: "/er/", Version: -1}, jute.CodeBadArguments},
			{"getChildren2 //a", jute.OpGetChildren2, &jute.GetChildren2Request{Path: "//a"}, jute.CodeNoNode},
			{"getACL none", jute.OpGetACL, &jute.GetACLRequest{Path: "/er/none"}, jute.CodeNoNode},
			{"sync bad path", jute.OpSync, &jute.SyncRequest{Path: "a/b"}, jute.CodeOK},
			{"getAllChildrenNumber none", jute.OpGetAllChildrenNumber, &jute.GetAllChildrenNumberRequest{Path: "/er/none"}, jute.CodeNoNode},
			{"removeWatches none", jute.OpRemoveWatches, &jute.RemoveWatchesRequest{Path: "/er", Type: jute.WatcherTypeAny}, jute.CodeNoWatcher},
			{"checkWatches none", jute.OpCheckWatches, &jute.CheckWatchesRequest{Path: "/er", Type: jute.WatcherTypeData}, jute.CodeNoWatcher},
			{"removeWatches type 4", jute.OpRemoveWatches, &jute.RemoveWatchesRequest{Path: "/er", Type: 4}, jute.CodeMarshallingError},
			{"addWatch mode 2", jute.OpAddWatch, &jute.AddWatchRequest{Path: "/er", Mode: 2}, jute.CodeMarshallingError},
			{"reconfig", jute.OpReconfig, &jute.ReconfigRequest{CurConfigID: -1}, jute.CodeReconfigDisabled},
			{"truncated body", jute.OpGetData, nil, jute.CodeMarshallingError},
			{"read op in multi", jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{{Type: jute.OpGetData, Op: &jute.GetDataRequest{Path: "/er"}}}}, jute.CodeMarshallingError},
		}
		for _, tc := range codes {
			assert.Equal(t, tc.want, r.call(tc.op, tc.body, nil), tc.name)
		}
		// An unknown opcode is answered Unimplemented, then the connection closes.
		assert.Equal(t, jute.CodeUnimplemented, r.call(jute.OpCode(99), nil, nil))
		assert.True(t, r.closed(5*time.Second))

		// A failed auth is answered AuthFailed (zxid 0), then the connection closes.
		r = dialRaw(t, e.member(2).addr, 4000)
		xid := r.send(jute.OpAuth, &jute.AuthPacket{Scheme: "foo", Auth: []byte("x")})
		h, _, err := r.read(xid)
		require.NoError(t, err)
		assert.Equal(t, jute.CodeAuthFailed, h.Err)
		assert.Zero(t, h.Zxid)
		assert.True(t, r.closed(5*time.Second))
		// ... and the session lives on: it may reconnect.
		r2, resp, err := tryRaw(t, e.member(3).addr, jute.ConnectRequest{TimeOut: 4000, SessionID: r.sid, Passwd: r.passwd})
		require.NoError(t, err)
		assert.Equal(t, r.sid, resp.SessionID)
		assert.Equal(t, jute.CodeOK, r2.call(jute.OpExists, &jute.ExistsRequest{Path: "/er"}, nil))

		// A wrong password and an unknown session are refused.
		bad := append([]byte(nil), r.passwd...)
		bad[0] ^= 1
		r3, resp, err := tryRaw(t, e.member(1).addr, jute.ConnectRequest{TimeOut: 4000, SessionID: r.sid, Passwd: bad})
		require.NoError(t, err)
		assert.Zero(t, resp.SessionID)
		assert.Zero(t, resp.TimeOut)
		assert.Equal(t, make([]byte, 16), resp.Passwd)
		assert.True(t, r3.closed(5*time.Second))
		r4, resp, err := tryRaw(t, e.member(1).addr, jute.ConnectRequest{TimeOut: 4000, SessionID: 0x7777, Passwd: make([]byte, 16)})
		require.NoError(t, err)
		assert.Zero(t, resp.SessionID)
		assert.True(t, r4.closed(5*time.Second))
		// The session r2 holds was not disturbed by the wrong password.
		assert.Equal(t, jute.CodeOK, r2.call(jute.OpExists, &jute.ExistsRequest{Path: "/er"}, nil))

		// A closed session cannot be resumed.
		require.Equal(t, jute.CodeOK, r2.call(jute.OpCloseSession, nil, nil))
		_, resp, err = tryRaw(t, e.member(3).addr, jute.ConnectRequest{TimeOut: 4000, SessionID: r.sid, Passwd: r.passwd})
		require.NoError(t, err)
		assert.Zero(t, resp.SessionID, "closed session resumed")
	})

	t.Run("Timeouts", func(t *testing.T) {
		for _, tc := range []struct{ ask, want int32 }{
			{1, int32(2 * testTick / time.Millisecond)},
			{4000, 4000},
			{100000, int32(20 * testTick / time.Millisecond)},
		} {
			r := dialRaw(t, e.member(1).addr, tc.ask)
			assert.Equal(t, tc.want, r.to, "asked %d", tc.ask)
			r.call(jute.OpCloseSession, nil, nil)
		}
	})

	t.Run("Watches", func(t *testing.T) { testWatches(t, e) })
	t.Run("Multi", func(t *testing.T) { testMulti(t, e) })
	t.Run("ACL", func(t *testing.T) { testACL(t, e) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, e) })
	t.Run("Misc", func(t *testing.T) { testMisc(t, e) })
	t.Run("PipelinedWrites", func(t *testing.T) { testPipelinedWrites(t, e) })
	t.Run("FourLetterWords", func(t *testing.T) { testFourLetterWords(t, e) })
}

func testWatches(t *testing.T, e *ensemble) {
	const to = 4 * time.Second
	w, _ := connect(t, []string{e.member(3).addr}, to)
	m, _ := connect(t, []string{e.member(1).addr}, to)
	_, err := m.Create("/w", nil, 0, openACL)
	require.NoError(t, err)
	_, err = m.Create("/w/a", nil, 0, openACL)
	require.NoError(t, err)
	_, err = w.Sync("/w")
	require.NoError(t, err)

	// Data watch: fires once, on change.
	_, _, gch, err := w.GetW("/w/a")
	require.NoError(t, err)
	_, _, ech, err := w.ExistsW("/w/a")
	require.NoError(t, err)
	_, err = m.Set("/w/a", []byte("1"), -1)
	require.NoError(t, err)
	for _, ch := range []<-chan zk.Event{gch, ech} {
		ev := waitEvent(t, ch, 5*time.Second)
		assert.Equal(t, zk.EventNodeDataChanged, ev.Type)
		assert.Equal(t, "/w/a", ev.Path)
	}
	// Exist watch on a missing node fires on creation.
	ok, _, ech, err := w.ExistsW("/w/b")
	require.NoError(t, err)
	require.False(t, ok)
	_, err = m.Create("/w/b", nil, zk.FlagEphemeral, openACL)
	require.NoError(t, err)
	assert.Equal(t, zk.EventNodeCreated, waitEvent(t, ech, 5*time.Second).Type)
	// Child watch: children change, then the node goes.
	_, _, cch, err := w.ChildrenW("/w")
	require.NoError(t, err)
	require.NoError(t, m.Delete("/w/b", -1))
	ev := waitEvent(t, cch, 5*time.Second)
	assert.Equal(t, zk.EventNodeChildrenChanged, ev.Type)
	assert.Equal(t, "/w", ev.Path)
	_, _, cch, err = w.ChildrenW("/w/a")
	require.NoError(t, err)
	_, _, gch, err = w.GetW("/w/a")
	require.NoError(t, err)
	require.NoError(t, m.Delete("/w/a", -1))
	assert.Equal(t, zk.EventNodeDeleted, waitEvent(t, cch, 5*time.Second).Type)
	assert.Equal(t, zk.EventNodeDeleted, waitEvent(t, gch, 5*time.Second).Type)
	// A failed write fires nothing.
	_, _, gch, err = w.GetW("/w")
	require.NoError(t, err)
	_, err = m.Set("/w", nil, 42)
	require.ErrorIs(t, err, zk.ErrBadVersion)
	noEvent(t, gch, 300*time.Millisecond)

	// Raw: one event per change on the wire, persistent and recursive
	// watches, removal, and events before the reply of the write causing them.
	r := dialRaw(t, e.member(2).addr, 4000)
	ok200 := func(code jute.ErrCode) { t.Helper(); require.Equal(t, jute.CodeOK, code) }
	acl := []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	ok200(r.call(jute.OpCreate, &jute.CreateRequest{Path: "/w/r", ACL: acl}, nil))
	ok200(r.call(jute.OpGetData, &jute.GetDataRequest{Path: "/w/r", Watch: true}, nil))
	ok200(r.call(jute.OpExists, &jute.ExistsRequest{Path: "/w/r", Watch: true}, nil))
	ok200(r.call(jute.OpGetChildren, &jute.GetChildrenRequest{Path: "/w/r", Watch: true}, nil))
	ok200(r.call(jute.OpCheckWatches, &jute.CheckWatchesRequest{Path: "/w/r", Type: jute.WatcherTypeData}, nil))
	ok200(r.call(jute.OpCheckWatches, &jute.CheckWatchesRequest{Path: "/w/r", Type: jute.WatcherTypeChildren}, nil))
	r.order = nil
	xid := r.send(jute.OpDelete, &jute.DeleteRequest{Path: "/w/r", Version: -1})
	h, _, err := r.read(xid)
	require.NoError(t, err)
	require.Equal(t, jute.CodeOK, h.Err)
	assert.Equal(t, []string{"event:/w/r", fmt.Sprintf("reply:%d", xid)}, r.order, "one NodeDeleted, before the delete's reply")
	assert.Equal(t, "NodeDeleted /w/r", evString(r.waitEvents(1, time.Second)))
	assert.Equal(t, jute.CodeNoWatcher, r.call(jute.OpCheckWatches, &jute.CheckWatchesRequest{Path: "/w/r", Type: jute.WatcherTypeAny}, nil))

	ok200(r.call(jute.OpAddWatch, &jute.AddWatchRequest{Path: "/w/p", Mode: jute.AddWatchModePersistent}, &jute.ErrorResponse{}))
	ok200(r.call(jute.OpAddWatch, &jute.AddWatchRequest{Path: "/w/q", Mode: jute.AddWatchModePersistentRecursive}, nil))
	for _, op := range []func() error{
		func() error { _, err := m.Create("/w/p", nil, 0, openACL); return err },
		func() error { _, err := m.Set("/w/p", []byte("x"), -1); return err },
		func() error { _, err := m.Create("/w/p/c", nil, 0, openACL); return err },
		func() error { _, err := m.Set("/w/p/c", []byte("x"), -1); return err },
		func() error { return m.Delete("/w/p/c", -1) },
		func() error { return m.Delete("/w/p", -1) },
		func() error { _, err := m.Create("/w/q", nil, 0, openACL); return err },
		func() error { _, err := m.Create("/w/q/a", nil, 0, openACL); return err },
		func() error { _, err := m.Create("/w/q/a/b", nil, 0, openACL); return err },
		func() error { _, err := m.Set("/w/q/a/b", []byte("x"), -1); return err },
		func() error { return m.Delete("/w/q/a/b", -1) },
	} {
		require.NoError(t, op())
	}
	assert.Equal(t, "NodeCreated /w/p, NodeDataChanged /w/p, NodeChildrenChanged /w/p, NodeChildrenChanged /w/p, NodeDeleted /w/p, "+
		"NodeCreated /w/q, NodeCreated /w/q/a, NodeCreated /w/q/a/b, NodeDataChanged /w/q/a/b, NodeDeleted /w/q/a/b",
		evString(r.waitEvents(10, 5*time.Second)))
	ok200(r.call(jute.OpRemoveWatches, &jute.RemoveWatchesRequest{Path: "/w/p", Type: jute.WatcherTypeAny}, nil))
	ok200(r.call(jute.OpRemoveWatches, &jute.RemoveWatchesRequest{Path: "/w/q", Type: jute.WatcherTypeAny}, nil))
	_, err = m.Create("/w/p", nil, 0, openACL)
	require.NoError(t, err)
	_, err = m.Set("/w/q/a", []byte("y"), -1)
	require.NoError(t, err)
	assert.Empty(t, r.waitEvents(1, 300*time.Millisecond), "events after removeWatches")

	// Re-registered watches (setWatches) fire at once for what was missed.
	_, err = m.Create("/w/sw", nil, 0, openACL)
	require.NoError(t, err)
	rel := e.member(2).c.LastZxid()
	_, err = m.Set("/w/sw", []byte("changed"), -1)
	require.NoError(t, err)
	_, err = m.Create("/w/swnew", nil, 0, openACL)
	require.NoError(t, err)
	ok200(r.call(jute.OpSync, &jute.SyncRequest{Path: "/"}, nil))
	ok200(r.call(jute.OpSetWatches, &jute.SetWatches{RelativeZxid: rel,
		DataWatches: []string{"/w/sw", "/w/swgone"}, ExistWatches: []string{"/w/swnew", "/w/swlater"}, ChildWatches: []string{"/w"}}, nil))
	assert.Equal(t, "NodeDataChanged /w/sw, NodeDeleted /w/swgone, NodeCreated /w/swnew, NodeChildrenChanged /w",
		evString(r.waitEvents(4, 5*time.Second)))
	_, err = m.Create("/w/swlater", nil, 0, openACL)
	require.NoError(t, err)
	assert.Equal(t, "NodeCreated /w/swlater", evString(r.waitEvents(1, 5*time.Second)))
	_, err = m.Set("/w/sw", nil, -1)
	require.NoError(t, err)
	assert.Empty(t, r.waitEvents(1, 300*time.Millisecond), "a watch that fired at setWatches fired again")
	ok200(r.call(jute.OpSetWatches2, &jute.SetWatches2{RelativeZxid: e.member(2).c.LastZxid(),
		PersistentRecursiveWatches: []string{"/w/sw"}}, nil))
	_, err = m.Set("/w/sw", nil, -1)
	require.NoError(t, err)
	assert.Equal(t, "NodeDataChanged /w/sw", evString(r.waitEvents(1, 5*time.Second)))

	// go-zookeeper re-registers its watches after moving to another member.
	mv, mvEvents := connect(t, []string{e.member(1).addr, e.member(2).addr}, to)
	_, _, gch, err = mv.GetW("/w/sw")
	require.NoError(t, err)
	dropped := false
	for id := uint64(1); id <= 2; id++ {
		// Drop its connection; the session stays and moves.
		dropped = e.member(id).srv.dropSession(mv.SessionID()) || dropped
	}
	require.True(t, dropped)
	waitState(t, mvEvents, zk.StateDisconnected, 10*time.Second)
	waitState(t, mvEvents, zk.StateHasSession, 10*time.Second)
	_, err = m.Set("/w/sw", []byte("after move"), -1)
	require.NoError(t, err)
	ev = waitEvent(t, gch, 10*time.Second)
	assert.Equal(t, zk.EventNodeDataChanged, ev.Type)
}

func testMulti(t *testing.T, e *ensemble) {
	a, _ := connect(t, []string{e.member(1).addr}, 4*time.Second)
	_, err := a.Create("/m", nil, 0, openACL)
	require.NoError(t, err)
	_, err = a.Create("/m/x", []byte("x"), 0, openACL)
	require.NoError(t, err)
	res, err := a.Multi(
		&zk.CheckVersionRequest{Path: "/m/x", Version: 0},
		&zk.SetDataRequest{Path: "/m/x", Data: []byte("y"), Version: 0},
		&zk.CreateRequest{Path: "/m/b", Acl: openACL},
		&zk.CreateRequest{Path: "/m/s-", Acl: openACL, Flags: zk.FlagSequence},
		&zk.DeleteRequest{Path: "/m/b", Version: -1},
	)
	require.NoError(t, err)
	require.Len(t, res, 5)
	assert.Equal(t, int32(1), res[1].Stat.Version)
	assert.Equal(t, "/m/b", res[2].String)
	assert.Equal(t, "/m/s-0000000002", res[3].String)
	// A failure: earlier ops report OK, the failing one its code, later
	// ones RuntimeInconsistency, and nothing applied.
	res, err = a.Multi(
		&zk.CreateRequest{Path: "/m/a", Acl: openACL},
		&zk.CreateRequest{Path: "/m/x", Acl: openACL},
		&zk.SetDataRequest{Path: "/m/x", Version: -1},
	)
	require.ErrorIs(t, err, zk.ErrNodeExists)
	require.Len(t, res, 3)
	assert.NoError(t, res[0].Error)
	assert.ErrorIs(t, res[1].Error, zk.ErrNodeExists)
	assert.Error(t, res[2].Error)
	ok, _, err := a.Exists("/m/a")
	require.NoError(t, err)
	assert.False(t, ok)

	// Raw: result layouts for container, TTL and create2, invalid paths,
	// and multiRead.
	r := dialRaw(t, e.member(1).addr, 4000)
	acl := []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	var mr jute.MultiResponse
	require.Equal(t, jute.CodeOK, r.call(jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreateContainer, Op: &jute.CreateRequest{Path: "/m/cont", ACL: acl, Flags: jute.ModeContainer}},
		{Type: jute.OpCreateTTL, Op: &jute.CreateTTLRequest{Path: "/m/ttl", ACL: acl, Flags: jute.ModePersistentWithTTL, TTL: 60000}},
		{Type: jute.OpCreate2, Op: &jute.CreateRequest{Path: "/m/c2", ACL: acl}},
		{Type: jute.OpCreate, Op: &jute.CreateRequest{Path: "/m/eph", ACL: acl, Flags: jute.ModeEphemeral}},
	}}, &mr))
	require.Len(t, mr.Results, 4)
	assert.Equal(t, jute.OpCreate2, mr.Results[0].Type)
	assert.Equal(t, "/m/cont", mr.Results[0].Path)
	assert.NotZero(t, mr.Results[0].Stat.Czxid)
	assert.Equal(t, jute.OpCreate2, mr.Results[1].Type)
	assert.Equal(t, jute.OpCreate, mr.Results[2].Type)
	assert.Equal(t, jute.OpCreate, mr.Results[3].Type)
	mr = jute.MultiResponse{}
	require.Equal(t, jute.CodeOK, r.call(jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Op: &jute.CreateRequest{Path: "/m/v", ACL: acl}},
		{Type: jute.OpCreate, Op: &jute.CreateRequest{Path: "m/bad", ACL: acl}},
	}}, &mr))
	assert.Equal(t, jute.FailedMultiResults(2, 1, jute.CodeNoNode), mr.Results)
	mr = jute.MultiResponse{}
	require.Equal(t, jute.CodeOK, r.call(jute.OpMulti, &jute.MultiRequest{}, &mr))
	assert.Empty(t, mr.Results)
	mr = jute.MultiResponse{}
	require.Equal(t, jute.CodeOK, r.call(jute.OpMultiRead, &jute.MultiRequest{Read: true, Ops: []jute.MultiOp{
		{Type: jute.OpGetData, Op: &jute.GetDataRequest{Path: "/m/x"}},
		{Type: jute.OpGetChildren, Op: &jute.GetChildrenRequest{Path: "/m/cont"}},
		{Type: jute.OpGetData, Op: &jute.GetDataRequest{Path: "/m/none"}},
		{Type: jute.OpGetChildren, Op: &jute.GetChildrenRequest{Path: "m"}},
	}}, &mr))
	require.Len(t, mr.Results, 4)
	assert.Equal(t, "y", string(mr.Results[0].Data))
	assert.Equal(t, int32(1), mr.Results[0].Stat.Version)
	assert.Equal(t, jute.OpGetChildren, mr.Results[1].Type)
	assert.Equal(t, jute.ErrorResult(jute.CodeNoNode), mr.Results[2])
	assert.Equal(t, jute.ErrorResult(jute.CodeNoNode), mr.Results[3])
}

func testACL(t *testing.T, e *ensemble) {
	alice, _ := connect(t, []string{e.member(1).addr}, 4*time.Second)
	anon, _ := connect(t, []string{e.member(2).addr}, 4*time.Second)
	require.NoError(t, alice.AddAuth("digest", []byte("alice:alice-pw")))
	_, err := alice.Create("/acl", nil, 0, zk.DigestACL(zk.PermAll, "alice", "alice-pw"))
	require.NoError(t, err)
	_, err = alice.Create("/acl/r", []byte("r"), 0, append(zk.WorldACL(zk.PermRead), zk.DigestACL(zk.PermAll, "alice", "alice-pw")...))
	require.NoError(t, err)
	_, err = alice.Create("/acl/auth", nil, 0, zk.AuthACL(zk.PermRead|zk.PermAdmin))
	require.NoError(t, err)
	_, err = anon.Sync("/acl")
	require.NoError(t, err)

	_, _, err = anon.Get("/acl")
	assert.ErrorIs(t, err, zk.ErrNoAuth)
	_, _, err = anon.Children("/acl")
	assert.ErrorIs(t, err, zk.ErrNoAuth)
	ok, _, err := anon.Exists("/acl") // exists needs no permission
	require.NoError(t, err)
	assert.True(t, ok)
	data, _, err := anon.Get("/acl/r")
	require.NoError(t, err)
	assert.Equal(t, "r", string(data))
	_, err = anon.Set("/acl/r", nil, -1)
	assert.ErrorIs(t, err, zk.ErrNoAuth)
	acl, _, err := anon.GetACL("/acl/r")
	require.NoError(t, err)
	assert.Equal(t, []zk.ACL{{Perms: zk.PermRead, Scheme: "world", ID: "anyone"}, {Perms: zk.PermAll, Scheme: "digest", ID: "alice:x"}}, acl)
	acl, _, err = alice.GetACL("/acl/auth")
	require.NoError(t, err)
	assert.Equal(t, []zk.ACL{{Perms: zk.PermRead | zk.PermAdmin, Scheme: "digest", ID: "alice:" + digestOf("alice:alice-pw")}}, acl)

	require.NoError(t, anon.AddAuth("digest", []byte("alice:alice-pw")))
	_, err = anon.Set("/acl/r", []byte("rr"), -1)
	require.NoError(t, err)
	_, err = anon.SetACL("/acl/r", openACL, -1)
	require.NoError(t, err)

	r := dialRaw(t, e.member(3).addr, 4000)
	require.Equal(t, jute.CodeOK, r.call(jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte("bob:pw")}, nil))
	require.Equal(t, jute.CodeOK, r.call(jute.OpAuth, &jute.AuthPacket{Scheme: "ip", Auth: []byte("10.1.1.1")}, nil))
	var who jute.WhoAmIResponse
	require.Equal(t, jute.CodeOK, r.call(jute.OpWhoAmI, nil, &who))
	assert.Equal(t, []jute.ClientInfo{{AuthScheme: "digest", User: "bob"}, {AuthScheme: "ip", User: "127.0.0.1"}}, who.ClientInfo)
}

func testSessions(t *testing.T, e *ensemble) {
	watcher, _ := connect(t, []string{e.member(1).addr}, 4*time.Second)
	_, err := watcher.Create("/s", nil, 0, openACL)
	require.NoError(t, err)

	// Close: ephemerals go at once; the events precede the close reply
	// for the closing session's own watches.
	r := dialRaw(t, e.member(2).addr, 4000)
	acl := []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	require.Equal(t, jute.CodeOK, r.call(jute.OpCreate, &jute.CreateRequest{Path: "/s/e1", ACL: acl, Flags: jute.ModeEphemeral}, nil))
	require.Equal(t, jute.CodeOK, r.call(jute.OpCreate, &jute.CreateRequest{Path: "/s/e2", ACL: acl, Flags: jute.ModeEphemeral}, nil))
	var eph jute.GetEphemeralsResponse
	require.Equal(t, jute.CodeOK, r.call(jute.OpGetEphemerals, &jute.GetEphemeralsRequest{PrefixPath: "/s/e"}, &eph))
	assert.Equal(t, []string{"/s/e1", "/s/e2"}, eph.Ephemerals)
	require.Equal(t, jute.CodeOK, r.call(jute.OpExists, &jute.ExistsRequest{Path: "/s/e1", Watch: true}, nil))
	_, err = watcher.Sync("/")
	require.NoError(t, err)
	_, _, wch, err := watcher.GetW("/s/e2")
	require.NoError(t, err)
	r.order = nil
	xid := r.send(jute.OpCloseSession, nil)
	_, _, err = r.read(xid)
	require.NoError(t, err)
	assert.Equal(t, []string{"event:/s/e1", fmt.Sprintf("reply:%d", xid)}, r.order)
	assert.True(t, r.closed(5*time.Second))
	assert.Equal(t, zk.EventNodeDeleted, waitEvent(t, wch, 5*time.Second).Type)

	// Expiry: a client whose connection drops loses its ephemerals after
	// its timeout, not before.
	r = dialRaw(t, e.member(3).addr, 1000)
	require.Equal(t, int32(1000), r.to)
	require.Equal(t, jute.CodeOK, r.call(jute.OpCreate, &jute.CreateRequest{Path: "/s/exp", ACL: acl, Flags: jute.ModeEphemeral}, nil))
	_, err = watcher.Sync("/")
	require.NoError(t, err)
	_, _, wch, err = watcher.GetW("/s/exp")
	require.NoError(t, err)
	dropped := time.Now()
	r.nc.Close()
	ev := waitEvent(t, wch, 10*time.Second)
	gone := time.Since(dropped)
	assert.Equal(t, zk.EventNodeDeleted, ev.Type)
	assert.GreaterOrEqual(t, gone, 1000*time.Millisecond, "expired early")
	assert.Less(t, gone, 3*time.Second)
	_, resp, err := tryRaw(t, e.member(1).addr, jute.ConnectRequest{TimeOut: 1000, SessionID: r.sid, Passwd: r.passwd})
	require.NoError(t, err)
	assert.Zero(t, resp.SessionID, "expired session resumed")

	// A client that keeps its connection open but never pings is
	// disconnected after its timeout, and its session then expires.
	r = dialRaw(t, e.member(3).addr, 1000)
	require.Equal(t, jute.CodeOK, r.call(jute.OpCreate, &jute.CreateRequest{Path: "/s/idle", ACL: acl, Flags: jute.ModeEphemeral}, nil))
	start := time.Now()
	assert.True(t, r.closed(5*time.Second), "idle connection kept")
	assert.GreaterOrEqual(t, time.Since(start), 1000*time.Millisecond)
	require.Eventually(t, func() bool {
		ok, _, err := watcher.Exists("/s/idle")
		return err == nil && !ok
	}, 10*time.Second, 50*time.Millisecond)

	// A second connection resuming a live session takes it over: the old
	// connection closes, the ephemerals stay.
	r = dialRaw(t, e.member(2).addr, 4000)
	require.Equal(t, jute.CodeOK, r.call(jute.OpCreate, &jute.CreateRequest{Path: "/s/keep", ACL: acl, Flags: jute.ModeEphemeral}, nil))
	r2, resp, err := tryRaw(t, e.member(2).addr, jute.ConnectRequest{TimeOut: 4000, SessionID: r.sid, Passwd: r.passwd})
	require.NoError(t, err)
	require.Equal(t, r.sid, resp.SessionID)
	assert.True(t, r.closed(5*time.Second), "old connection kept")
	require.Equal(t, jute.CodeOK, r2.call(jute.OpExists, &jute.ExistsRequest{Path: "/s/keep"}, nil))
	// Then to another member while r2 is still connected.
	r3, resp, err := tryRaw(t, e.member(1).addr, jute.ConnectRequest{TimeOut: 4000, SessionID: r.sid, Passwd: r.passwd})
	require.NoError(t, err)
	require.Equal(t, r.sid, resp.SessionID)
	require.Equal(t, jute.CodeOK, r3.call(jute.OpExists, &jute.ExistsRequest{Path: "/s/keep"}, nil))
	// The connection on member 2 no longer holds the session: its writes
	// are refused as SessionMoved and it closes.
	assert.Equal(t, jute.CodeSessionMoved, r2.call(jute.OpSetData, &jute.SetDataRequest{Path: "/s/keep", Version: -1}, nil))
	assert.True(t, r2.closed(5*time.Second))
	require.Equal(t, jute.CodeOK, r3.call(jute.OpCloseSession, nil, nil))
	ok, _, err := watcher.Exists("/s/keep")
	require.NoError(t, err)
	assert.False(t, ok)
}

func testMisc(t *testing.T, e *ensemble) {
	r := dialRaw(t, e.member(1).addr, 4000)
	acl := []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	for _, p := range []string{"/gc", "/gc/a", "/gc/a/b", "/gc/c"} {
		require.Equal(t, jute.CodeOK, r.call(jute.OpCreate, &jute.CreateRequest{Path: p, ACL: acl}, nil))
	}
	var n jute.GetAllChildrenNumberResponse
	require.Equal(t, jute.CodeOK, r.call(jute.OpGetAllChildrenNumber, &jute.GetAllChildrenNumberRequest{Path: "/gc"}, &n))
	assert.Equal(t, int32(3), n.TotalNumber)
	var sr jute.SyncResponse
	require.Equal(t, jute.CodeOK, r.call(jute.OpSync, &jute.SyncRequest{Path: "/missing"}, &sr))
	assert.Equal(t, "/missing", sr.Path)
	var c2 jute.Create2Response
	require.Equal(t, jute.CodeOK, r.call(jute.OpCreate2, &jute.CreateRequest{Path: "/gc/d", Data: []byte("12345"), ACL: acl}, &c2))
	assert.Equal(t, "/gc/d", c2.Path)
	assert.Equal(t, int32(5), c2.Stat.DataLength)
	assert.Equal(t, c2.Stat.Czxid, c2.Stat.Mzxid)
	// A leaf has an empty list of children, not a null one.
	xid := r.send(jute.OpGetChildren2, &jute.GetChildren2Request{Path: "/gc/d"})
	_, rest, err := r.read(xid)
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 0, 0, 0}, rest[:4])
	// Reply zxids never go backwards and follow writes.
	xid = r.send(jute.OpSetData, &jute.SetDataRequest{Path: "/gc/d", Version: -1})
	h1, rest, err := r.read(xid)
	require.NoError(t, err)
	var sd jute.SetDataResponse
	require.NoError(t, jute.Unmarshal(rest, &sd))
	assert.GreaterOrEqual(t, h1.Zxid, sd.Stat.Mzxid)
	xid = r.send(jute.OpPing, nil)
	h2, _, err := r.read(xid)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, h2.Zxid, h1.Zxid)

	// Pipelined requests come back in order, reads seeing earlier writes.
	var xids []int32
	for i := 0; i < 50; i++ {
		xids = append(xids, r.send(jute.OpSetData, &jute.SetDataRequest{Path: "/gc/d", Data: []byte(fmt.Sprint(i)), Version: -1}))
		xids = append(xids, r.send(jute.OpGetData, &jute.GetDataRequest{Path: "/gc/d"}))
	}
	for i, xid := range xids {
		h, rest, err := r.read(xid)
		require.NoError(t, err)
		require.Equal(t, jute.CodeOK, h.Err)
		if i%2 == 1 {
			var gd jute.GetDataResponse
			require.NoError(t, jute.Unmarshal(rest, &gd))
			require.Equal(t, fmt.Sprint(i/2), string(gd.Data))
		}
	}
}

// testPipelinedWrites: writes a client sends without waiting are batched
// into one Raft entry, yet each gets the reply sequential execution gives.
func testPipelinedWrites(t *testing.T, e *ensemble) {
	r := dialRaw(t, e.member(2).addr, 4000)
	acl := []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	require.Equal(t, jute.CodeOK, r.call(jute.OpCreate, &jute.CreateRequest{Path: "/pw", ACL: acl}, nil))
	before := e.member(2).srv.Stats()
	type sent struct {
		xid  int32
		op   jute.OpCode
		want jute.ErrCode
	}
	var reqs []sent
	created := 0
	add := func(op jute.OpCode, body jute.Record, want jute.ErrCode) {
		reqs = append(reqs, sent{r.send(op, body), op, want})
	}
	for i := 0; i < 300; i++ {
		switch {
		case i == 100:
			add(jute.OpCreate, &jute.CreateRequest{Path: "/pw", ACL: acl}, jute.CodeNodeExists)
		case i == 150:
			add(jute.OpSetData, &jute.SetDataRequest{Path: "/pw", Data: []byte("v"), Version: 77}, jute.CodeBadVersion)
		case i == 200:
			add(jute.OpCreate2, &jute.CreateRequest{Path: "/pw/bad", ACL: acl, Flags: 9}, jute.CodeBadArguments)
		case i%10 == 5:
			add(jute.OpSetData, &jute.SetDataRequest{Path: "/pw", Data: []byte(fmt.Sprint(i)), Version: -1}, jute.CodeOK)
		case i%10 == 7:
			add(jute.OpDelete, &jute.DeleteRequest{Path: fmt.Sprintf("/pw/n-%010d", created-1), Version: -1}, jute.CodeOK)
		default:
			add(jute.OpCreate2, &jute.CreateRequest{Path: "/pw/n-", ACL: acl, Flags: jute.ModePersistentSequential}, jute.CodeOK)
			created++
		}
	}
	add(jute.OpGetData, &jute.GetDataRequest{Path: "/pw"}, jute.CodeOK)
	seq := int64(0)
	version := int32(0)
	for i, s := range reqs {
		h, rest, err := r.read(s.xid)
		require.NoError(t, err, "request %d", i)
		require.Equal(t, s.want, h.Err, "request %d (%v)", i, s.op)
		switch {
		case s.op == jute.OpCreate2 && h.Err == jute.CodeOK:
			var cr jute.Create2Response
			require.NoError(t, jute.Unmarshal(rest, &cr))
			// The suffix counts the creates under /pw, as ZooKeeper's does.
			require.Equal(t, fmt.Sprintf("/pw/n-%010d", seq), cr.Path, "request %d", i)
			seq++
		case s.op == jute.OpSetData && h.Err == jute.CodeOK:
			var sd jute.SetDataResponse
			require.NoError(t, jute.Unmarshal(rest, &sd))
			version++
			require.Equal(t, version, sd.Stat.Version, "request %d", i)
		case s.op == jute.OpGetData:
			var gd jute.GetDataResponse
			require.NoError(t, jute.Unmarshal(rest, &gd))
			require.Equal(t, "295", string(gd.Data))
		}
	}
	after := e.member(2).srv.Stats()
	assert.Greater(t, after.Batched-before.Batched, 2*(after.Batches-before.Batches), "writes were not batched")
	t.Logf("%d writes in %d batches", after.Batched-before.Batched, after.Batches-before.Batches)
}

func testFourLetterWords(t *testing.T, e *ensemble) {
	a, _ := connect(t, []string{e.member(1).addr}, 4*time.Second)
	_, _, _, err := a.GetW("/")
	require.NoError(t, err)
	leader, ok := e.member(1).c.Leader()
	require.True(t, ok)
	for id := uint64(1); id <= 3; id++ {
		addr := e.member(id).addr
		assert.Equal(t, "imok", fourLetter(t, addr, "ruok"))
		assert.Equal(t, "rw", fourLetter(t, addr, "isro"))
		srvr := fourLetter(t, addr, "srvr")
		mode := "follower"
		if id == leader {
			mode = "leader"
		}
		assert.Contains(t, srvr, "Zookeeper version: "+Version)
		assert.Contains(t, srvr, "Mode: "+mode+"\n")
		assert.Regexp(t, `Latency min/avg/max: \d+/[\d.]+/\d+\n`, srvr)
		assert.Regexp(t, `Zxid: 0x[0-9a-f]+\n`, srvr)
		assert.Regexp(t, `Node count: \d+\n`, srvr)
		mntr := fourLetter(t, addr, "mntr")
		assert.Contains(t, mntr, "zk_server_state\t"+mode+"\n")
		assert.Regexp(t, `zk_znode_count\t\d+\n`, mntr)
		conf := fourLetter(t, addr, "conf")
		assert.Contains(t, conf, fmt.Sprintf("serverId=%d\n", id))
		assert.Contains(t, conf, "tickTime=500\n")
		assert.Contains(t, conf, "minSessionTimeout=1000\nmaxSessionTimeout=10000\n")
		assert.Contains(t, fourLetter(t, addr, "dump"), "not in the whitelist")
	}
	stat := fourLetter(t, e.member(1).addr, "stat")
	assert.Contains(t, stat, "Clients:\n")
	assert.Regexp(t, fmt.Sprintf(`sid=0x%x,lop=GETD`, a.SessionID()), stat)
	cons := fourLetter(t, e.member(1).addr, "cons")
	assert.Contains(t, cons, fmt.Sprintf("sid=0x%x", a.SessionID()))
	assert.Contains(t, cons, "[0](queued=0,recved=1,sent=0)") // this very connection
	wchs := fourLetter(t, e.member(1).addr, "wchs")
	assert.Regexp(t, `^[1-9]\d* connections watching [1-9]\d* paths\nTotal watches:[1-9]\d*\n$`, wchs)
	// Figures mean what ZooKeeper's mean: received and sent move with traffic.
	before := e.member(1).srv.Stats()
	for i := 0; i < 5; i++ {
		_, _, err := a.Get("/")
		require.NoError(t, err)
	}
	after := e.member(1).srv.Stats()
	assert.GreaterOrEqual(t, after.Received-before.Received, int64(5))
	assert.GreaterOrEqual(t, after.Sent-before.Sent, int64(5))
	assert.Positive(t, after.MaxLatency)
}

func digestOf(userPassword string) string {
	id := zk.DigestACL(0, strings.SplitN(userPassword, ":", 2)[0], strings.SplitN(userPassword, ":", 2)[1])[0].ID
	return strings.SplitN(id, ":", 2)[1]
}

var _ = errors.New
