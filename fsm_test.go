package coord

import (
	"bytes"
	"maps"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/store"
	"github.com/coordkit/coord/internal/wire"
)

// The state machine tested as a state machine: encoded commands fed to
// Update directly, without Raft, and the state read back.

// machine is a state machine under test with its next log index.
type machine struct {
	t    *testing.T
	f    *fsm
	next uint64
	obs  *recordingObserver
}

// recordingObserver records what the state machine tells its observer.
type recordingObserver struct {
	changes    []change
	ended      []endedSession
	recoveries int
}

func (r *recordingObserver) applied(c []change, e []endedSession) {
	r.changes = append(r.changes, c...)
	r.ended = append(r.ended, e...)
}
func (r *recordingObserver) recovered(view) { r.recoveries++ }

func newMachine(t *testing.T) *machine {
	t.Helper()
	obs := &recordingObserver{}
	f := newFSM(t.TempDir(), store.Options{CacheSize: 1 << 20}, obs, 1)
	applied, err := f.Open(nil)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return &machine{t: t, f: f, next: applied + 1, obs: obs}
}

// apply feeds the commands as one batch and returns their results.
func (m *machine) apply(cmds ...*wire.Command) []*wire.Result {
	m.t.Helper()
	entries := make([]sm.Entry, len(cmds))
	for i, c := range cmds {
		if c.Time == 0 {
			c.Time = 1_000_000
		}
		entries[i] = sm.Entry{Index: m.next, Cmd: wire.AppendCommand(nil, c)}
		m.next++
	}
	out, err := m.f.Update(entries)
	require.NoError(m.t, err)
	res := make([]*wire.Result, len(out))
	for i, e := range out {
		r, err := wire.DecodeResult(e.Result.Data)
		require.NoError(m.t, err)
		res[i] = r
	}
	return res
}

func (m *machine) node(path string) *wire.Node {
	m.t.Helper()
	var n *wire.Node
	require.NoError(m.t, m.f.view(func(v view) error {
		var err error
		n, err = v.node(path)
		return err
	}))
	return n
}

func (m *machine) session(id int64) *wire.Session {
	var s *wire.Session
	m.f.view(func(v view) error { s = v.session(id); return nil })
	return s
}

const (
	incA = 0xA1 // a member process
	incB = 0xB2 // another one
)

func createSession(inc uint64, reqID uint64) *wire.Command {
	return &wire.Command{Kind: wire.KindCreateSession, Incarnation: inc, ReqID: reqID, Timeout: 4000, Password: []byte("pw")}
}

func createNode(inc uint64, session int64, reqID uint64, path string, mode CreateMode) *wire.Command {
	return &wire.Command{Kind: wire.KindCreate, Incarnation: inc, Session: session, ReqID: reqID,
		Ops: []wire.Op{CreateOp(path, []byte("d"), mode).wire()}}
}

func TestMachineRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, m *machine)
	}{
		{"a duplicated request id is answered with the first result", func(t *testing.T, m *machine) {
			sid := m.apply(createSession(incA, 1))[0].Value
			first := m.apply(createNode(incA, sid, 2, "/q-", PersistentSequential))[0]
			require.Zero(t, first.Code)
			again := m.apply(createNode(incA, sid, 2, "/q-", PersistentSequential))[0]
			assert.Equal(t, first, again)
			assert.Nil(t, m.node("/q-0000000001"), "the retry must not create a second node")
			// The same id from another incarnation is another request.
			other := m.apply(createSession(incB, 2))[0]
			assert.NotEqual(t, first.Value, other.Value)
		}},
		{"a retry below the acknowledged id is not applied", func(t *testing.T, m *machine) {
			sid := m.apply(createSession(incA, 1))[0].Value
			m.apply(createNode(incA, sid, 2, "/a", Persistent))
			ack := createNode(incA, sid, 5, "/b", Persistent)
			ack.Ack = 5
			m.apply(ack)
			stale := m.apply(createNode(incA, sid, 3, "/c", Persistent))[0]
			assert.Equal(t, ErrRuntimeInconsistency.Code, stale.Code)
			assert.Nil(t, m.node("/c"))
			var reqs *wire.Requests
			m.f.view(func(view) error { reqs = m.f.reqs[incA]; return nil })
			assert.Equal(t, uint64(5), reqs.Ack)
			assert.NotContains(t, reqs.Results, uint64(2), "results below the ack are forgotten")
		}},
		{"an expiry that races a renewal does nothing", func(t *testing.T, m *machine) {
			sid := m.apply(createSession(incA, 1))[0].Value
			m.apply(createNode(incA, sid, 2, "/e", Ephemeral))
			seen := m.session(sid).RenewIndex
			// The leader looked at the session at seen; a heartbeat of its
			// host commits before the expiry does.
			m.apply(&wire.Command{Kind: wire.KindHeartbeat, Incarnation: incA},
				&wire.Command{Kind: wire.KindExpireSessions, Sessions: []wire.SessionRef{{ID: sid, RenewIndex: seen}}})
			require.NotNil(t, m.session(sid), "a session renewed after the leader looked must live")
			require.NotNil(t, m.node("/e"))
			// Without a renewal since, it expires, and its ephemeral goes.
			hb := m.next - 2
			m.apply(&wire.Command{Kind: wire.KindExpireSessions, Sessions: []wire.SessionRef{{ID: sid, RenewIndex: hb}}})
			assert.Nil(t, m.session(sid))
			assert.Nil(t, m.node("/e"))
			require.Len(t, m.obs.ended, 1)
			assert.Equal(t, endedSession{id: sid, incarnation: incA, expired: true}, m.obs.ended[0])
		}},
		{"a heartbeat from an unknown incarnation renews nobody else", func(t *testing.T, m *machine) {
			sid := m.apply(createSession(incA, 1))[0].Value
			seen := m.session(sid).RenewIndex
			m.apply(&wire.Command{Kind: wire.KindHeartbeat, Incarnation: 0xDEAD})
			m.apply(&wire.Command{Kind: wire.KindExpireSessions, Sessions: []wire.SessionRef{{ID: sid, RenewIndex: seen}}})
			assert.Nil(t, m.session(sid), "another incarnation's heartbeat must not renew the session")
			var known bool
			m.f.view(func(view) error { _, known = m.f.heartbeats[0xDEAD]; return nil })
			assert.True(t, known, "the heartbeat is recorded")
		}},
		{"a session moved away rejects its former host", func(t *testing.T, m *machine) {
			sid := m.apply(createSession(incA, 1))[0].Value
			require.Zero(t, m.apply(&wire.Command{Kind: wire.KindAttachSession, Incarnation: incB, Session: sid})[0].Code)
			assert.Equal(t, ErrSessionMoved.Code, m.apply(createNode(incA, sid, 2, "/x", Persistent))[0].Code)
			assert.Equal(t, ErrSessionMoved.Code, m.apply(&wire.Command{Kind: wire.KindDetachSession, Incarnation: incA, Session: sid})[0].Code)
			assert.Zero(t, m.apply(createNode(incB, sid, 1, "/x", Persistent))[0].Code)
		}},
		{"an undecodable command is an error result", func(t *testing.T, m *machine) {
			out, err := m.f.Update([]sm.Entry{{Index: m.next, Cmd: []byte{0xff, 1, 2}}})
			require.NoError(t, err)
			r, err := wire.DecodeResult(out[0].Result.Data)
			require.NoError(t, err)
			assert.Equal(t, ErrMarshallingError.Code, r.Code)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			tc.run(t, m)
			require.NoError(t, m.f.view(func(view) error { return m.f.verifyLocked() }))
		})
	}
}

// dump reads everything a snapshot carries, decoded where it matters.
type machineState struct {
	nodes    map[string]wire.Node
	sessions map[int64]wire.Session
	reqs     map[uint64]string // encoded, so maps of results compare
	applied  int64
	count    int64
	ephem    int64
}

func (m *machine) dump() machineState {
	m.t.Helper()
	st := machineState{nodes: map[string]wire.Node{}, sessions: map[int64]wire.Session{}, reqs: map[uint64]string{}}
	require.NoError(m.t, m.f.view(func(v view) error {
		st.applied, st.count, st.ephem = v.appliedIndex(), m.f.count, m.f.ephemerals
		for id, s := range m.f.sessions {
			st.sessions[id] = *s
		}
		for inc, r := range m.f.reqs {
			st.reqs[inc] = string(wire.AppendRequests(nil, r))
		}
		return m.f.db.Scan(nodesPrefix(), func(k, val []byte) bool {
			p, _ := parseNodeKey(k)
			n, err := wire.DecodeNode(val)
			require.NoError(m.t, err)
			st.nodes[p] = *n
			return true
		})
	}))
	return st
}

func TestMachineSnapshotRoundTrip(t *testing.T) {
	src := newMachine(t)
	sid := src.apply(createSession(incA, 1))[0].Value
	other := src.apply(createSession(incB, 1))[0].Value
	src.apply(
		createNode(incA, sid, 2, "/dir", Persistent),
		createNode(incA, sid, 3, "/dir/e", Ephemeral),
		createNode(incB, other, 2, "/dir/s-", EphemeralSequential),
		createNode(incA, sid, 4, "/c", Container),
		&wire.Command{Kind: wire.KindHeartbeat, Incarnation: incA},
		&wire.Command{Kind: wire.KindAddAuth, Incarnation: incA, Session: sid, ReqID: 5,
			Auth: []wire.AuthID{{Scheme: "digest", ID: "u:x"}}},
	)
	want := src.dump()

	ctx, err := src.f.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, src.f.SaveSnapshot(ctx, &buf, nil))

	dst := newMachine(t)
	dst.apply(createNode(0, 0, 0, "/stale", Persistent)) // replaced by the snapshot
	require.NoError(t, dst.f.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), nil))
	got := dst.dump()
	assert.Equal(t, want.nodes, got.nodes, "tree")
	assert.Equal(t, want.sessions, got.sessions, "session table")
	assert.Equal(t, want.reqs, got.reqs, "request table")
	assert.Equal(t, want.applied, got.applied)
	assert.Equal(t, want.count, got.count)
	assert.Equal(t, want.ephem, got.ephem)
	assert.Equal(t, 1, dst.obs.recoveries)
	require.NoError(t, dst.f.view(func(view) error { return dst.f.verifyLocked() }))
	assert.True(t, maps.Equal(src.f.heartbeats, dst.f.heartbeats), "heartbeats")

	// It goes on from there exactly as the source does.
	next := func(m *machine) *wire.Result {
		m.next = uint64(want.applied) + 1
		return m.apply(createNode(incA, sid, 6, "/dir/q-", PersistentSequential))[0]
	}
	assert.Equal(t, next(src), next(dst))
	assert.Equal(t, src.dump(), dst.dump())
}

// A store that breaks an invariant is found out.
func TestMachineVerifyFindsInconsistencies(t *testing.T) {
	m := newMachine(t)
	sid := m.apply(createSession(incA, 1))[0].Value
	m.apply(createNode(incA, sid, 2, "/p", Persistent), createNode(incA, sid, 3, "/p/e", Ephemeral))
	require.NoError(t, m.f.view(func(view) error { return m.f.verifyLocked() }))
	p := m.node("/p")
	for _, tc := range []struct {
		name    string
		corrupt func(b *store.Batch)
	}{
		{"a child count", func(b *store.Batch) {
			n := *p
			n.NumChildren = 5
			b.Set(nodeKey("/p"), wire.AppendNode(nil, &n))
		}},
		{"an orphan", func(b *store.Batch) {
			b.Set(nodeKey("/nowhere/x"), wire.AppendNode(nil, &wire.Node{}))
		}},
		{"the ephemeral index", func(b *store.Batch) { b.Delete(ephemeralKey(sid, "/p/e")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m.f.mu.Lock()
			defer m.f.mu.Unlock()
			snap := m.f.db.Snapshot()
			defer snap.Close()
			b := m.f.db.NewBatch()
			tc.corrupt(b)
			require.NoError(t, b.Commit(false))
			m.f.cache.reset()
			require.ErrorIs(t, m.f.verifyLocked(), errCorrupt)
			// Put it back.
			var restore bytes.Buffer
			require.NoError(t, snap.WriteTo(&restore, nil))
			require.NoError(t, m.f.db.ReplaceFrom(&restore, nil))
			m.f.cache.reset()
			require.NoError(t, m.f.verifyLocked())
		})
	}
}
