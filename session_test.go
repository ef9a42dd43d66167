package coord

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/faultnet"
	"github.com/coordkit/coord/internal/testenv"
	"github.com/coordkit/coord/internal/wire"
)

// recv waits for one value; tests never receive from a channel without a
// deadline.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		require.True(t, ok, "channel closed without a value")
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10s")
	}
	var zero T
	return zero
}

// collect drains what a channel delivers within d.
func collect(ch <-chan Event, d time.Duration) []string {
	var out []string
	timer := time.After(d)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev.Type.String()+" "+ev.Path)
		case <-timer:
			return out
		}
	}
}

// watchSet registers one watch of a kind through s and returns a channel
// with its events.
type watchSpec struct {
	name string
	set  func(t *testing.T, s *Session, path string) <-chan Event
}

var watchKindsUnderTest = []watchSpec{
	{"exists", func(t *testing.T, s *Session, p string) <-chan Event {
		_, _, ch, err := s.ExistsW(ctxT(t), p)
		require.NoError(t, err)
		return ch
	}},
	{"get", func(t *testing.T, s *Session, p string) <-chan Event {
		_, _, ch, err := s.GetW(ctxT(t), p)
		if errors.Is(err, ErrNoNode) {
			return nil
		}
		require.NoError(t, err)
		return ch
	}},
	{"children", func(t *testing.T, s *Session, p string) <-chan Event {
		_, _, ch, err := s.ChildrenW(ctxT(t), p)
		if errors.Is(err, ErrNoNode) {
			return nil
		}
		require.NoError(t, err)
		return ch
	}},
	{"persistent", func(t *testing.T, s *Session, p string) <-chan Event {
		w, err := s.AddWatch(ctxT(t), p, false)
		require.NoError(t, err)
		t.Cleanup(w.Remove)
		return w.C
	}},
	{"recursive", func(t *testing.T, s *Session, p string) <-chan Event {
		w, err := s.AddWatch(ctxT(t), p, true)
		require.NoError(t, err)
		t.Cleanup(w.Remove)
		return w.C
	}},
}

// TestWatchEventMatrix sets each kind of watch on /w/n through member 3 and
// makes each change through member 1, then checks exactly which events
// arrive, as ZooKeeper would deliver them.
func TestWatchEventMatrix(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	writer := tc.get(1).Session()
	watcher := tc.get(3).Session()
	_, err := writer.Create(ctx, "/w", nil, Persistent)
	require.NoError(t, err)

	type op struct {
		name    string
		exists  bool // whether /w/n exists before the change
		child   bool // whether /w/n/c exists before the change
		change  func(t *testing.T)
		expects map[string][]string // watch kind -> events (nil: none; "-": cannot be set)
	}
	n, c := "/w/n", "/w/n/c"
	ops := []op{
		{"create", false, false, func(t *testing.T) {
			_, err := writer.Create(ctx, n, nil, Persistent)
			require.NoError(t, err)
		}, map[string][]string{
			"exists": {"NodeCreated " + n}, "get": {"-"}, "children": {"-"},
			"persistent": {"NodeCreated " + n}, "recursive": {"NodeCreated " + n},
		}},
		{"delete", true, false, func(t *testing.T) {
			require.NoError(t, writer.Delete(ctx, n, -1))
		}, map[string][]string{
			"exists": {"NodeDeleted " + n}, "get": {"NodeDeleted " + n}, "children": {"NodeDeleted " + n},
			"persistent": {"NodeDeleted " + n}, "recursive": {"NodeDeleted " + n},
		}},
		{"set", true, false, func(t *testing.T) {
			_, err := writer.Set(ctx, n, []byte("x"), -1)
			require.NoError(t, err)
		}, map[string][]string{
			"exists": {"NodeDataChanged " + n}, "get": {"NodeDataChanged " + n}, "children": nil,
			"persistent": {"NodeDataChanged " + n}, "recursive": {"NodeDataChanged " + n},
		}},
		{"setACL", true, false, func(t *testing.T) {
			_, err := writer.SetACL(ctx, n, OpenACL, -1)
			require.NoError(t, err)
		}, map[string][]string{
			"exists": nil, "get": nil, "children": nil, "persistent": nil, "recursive": nil,
		}},
		{"child create", true, false, func(t *testing.T) {
			_, err := writer.Create(ctx, c, nil, Persistent)
			require.NoError(t, err)
		}, map[string][]string{
			"exists": nil, "get": nil, "children": {"NodeChildrenChanged " + n},
			"persistent": {"NodeChildrenChanged " + n}, "recursive": {"NodeCreated " + c},
		}},
		{"child delete", true, true, func(t *testing.T) {
			require.NoError(t, writer.Delete(ctx, c, -1))
		}, map[string][]string{
			"exists": nil, "get": nil, "children": {"NodeChildrenChanged " + n},
			"persistent": {"NodeChildrenChanged " + n}, "recursive": {"NodeDeleted " + c},
		}},
		{"child set", true, true, func(t *testing.T) {
			_, err := writer.Set(ctx, c, []byte("y"), -1)
			require.NoError(t, err)
		}, map[string][]string{
			"exists": nil, "get": nil, "children": nil, "persistent": nil, "recursive": {"NodeDataChanged " + c},
		}},
		{"multi", true, false, func(t *testing.T) {
			_, err := writer.Multi(ctx, SetOp(n, []byte("m1"), -1), CreateOp(c, nil, Persistent), SetOp(n, []byte("m2"), -1))
			require.NoError(t, err)
		}, map[string][]string{
			"exists": {"NodeDataChanged " + n}, "get": {"NodeDataChanged " + n}, "children": {"NodeChildrenChanged " + n},
			"persistent": {"NodeDataChanged " + n, "NodeChildrenChanged " + n, "NodeDataChanged " + n},
			"recursive":  {"NodeDataChanged " + n, "NodeCreated " + c, "NodeDataChanged " + n},
		}},
		{"failed multi", true, false, func(t *testing.T) {
			_, err := writer.Multi(ctx, SetOp(n, []byte("m1"), -1), CreateOp(n, nil, Persistent))
			require.ErrorIs(t, err, ErrNodeExists)
		}, map[string][]string{
			"exists": nil, "get": nil, "children": nil, "persistent": nil, "recursive": nil,
		}},
		{"ephemeral expiry", false, false, nil, map[string][]string{
			"exists": {"NodeDeleted " + n}, "get": {"NodeDeleted " + n}, "children": {"NodeDeleted " + n},
			"persistent": {"NodeDeleted " + n}, "recursive": {"NodeDeleted " + n},
		}},
	}
	for _, o := range ops {
		for _, wk := range watchKindsUnderTest {
			t.Run(o.name+"/"+wk.name, func(t *testing.T) {
				// Reset the node to the state the operation expects.
				for _, p := range []string{c, n} {
					if err := writer.Delete(ctx, p, -1); err != nil && !errors.Is(err, ErrNoNode) {
						require.NoError(t, err)
					}
				}
				if o.exists {
					_, err := writer.Create(ctx, n, nil, Persistent)
					require.NoError(t, err)
				}
				if o.child {
					_, err := writer.Create(ctx, c, nil, Persistent)
					require.NoError(t, err)
				}
				var owner *Session
				if o.change == nil {
					// An ephemeral node of a session that then expires.
					var err error
					owner, err = tc.get(2).NewSession(ctx, WithSessionTimeout(time.Second))
					require.NoError(t, err)
					_, err = owner.Create(ctx, n, nil, Ephemeral)
					require.NoError(t, err)
				}
				require.NoError(t, watcher.Sync(ctx, "/"))
				ch := wk.set(t, watcher, n)
				want := o.expects[wk.name]
				if len(want) == 1 && want[0] == "-" {
					require.Nil(t, ch, "a %s watch cannot be set on a missing node", wk.name)
					return
				}
				if o.change != nil {
					o.change(t)
				} else {
					// Its member stops renewing it, and the leader
					// expires it after its timeout.
					require.NoError(t, owner.Detach(ctx))
				}
				wait := 300 * time.Millisecond
				if o.change == nil {
					wait = 4 * time.Second
				}
				got := collect(ch, wait)
				assert.Equal(t, want, got)
			})
		}
	}
}

func TestOneShotWatchFiresOnce(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s := tc.get(2).Session()
	_, err := tc.get(1).Session().Create(ctx, "/once", nil, Persistent)
	require.NoError(t, err)
	require.NoError(t, s.Sync(ctx, "/"))
	_, _, ch, err := s.GetW(ctx, "/once")
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err := tc.get(1).Session().Set(ctx, "/once", []byte{byte(i)}, -1)
		require.NoError(t, err)
	}
	ev := recv(t, ch)
	assert.Equal(t, NodeDataChanged, ev.Type)
	select {
	case _, ok := <-ch:
		assert.False(t, ok, "a one-shot channel closes after its event")
	case <-time.After(10 * time.Second):
		t.Fatal("a one-shot channel stays open after its event")
	}
}

// TestEventBeforeReadable checks that a watcher that sees an event can read
// the change at once on its member, and that a read made after the event
// never shows the old value.
func TestEventBeforeReadable(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	_, err := tc.get(1).Session().Create(ctx, "/ebr", []byte("0"), Persistent)
	require.NoError(t, err)
	s := tc.get(3).Session()
	require.NoError(t, s.Sync(ctx, "/"))
	for i := 1; i <= 50; i++ {
		_, _, ch, err := s.GetW(ctx, "/ebr")
		require.NoError(t, err)
		_, err = tc.get(1).Session().Set(ctx, "/ebr", []byte(fmt.Sprint(i)), -1)
		require.NoError(t, err)
		ev := recv(t, ch)
		data, st, err := s.Get(ctx, "/ebr")
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), string(data))
		require.Equal(t, ev.Zxid, st.Mzxid)
	}
}

func TestPersistentWatchKeepsEveryEventInOrder(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	_, err := tc.get(1).Session().Create(ctx, "/pw", nil, Persistent)
	require.NoError(t, err)
	ws := tc.get(3).Session()
	require.NoError(t, ws.Sync(ctx, "/"))
	w, err := ws.AddWatch(ctx, "/pw", false)
	require.NoError(t, err)
	defer w.Remove()

	// Many writers through member 1, as fast as they go; nobody reads the
	// watch until they are done, so its queue must hold everything.
	var mu sync.Mutex
	var zxids []int64
	var wg sync.WaitGroup
	const writers = 16
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tc.get(1).Session()
			for i := g; i < n; i += writers {
				st, err := s.Set(context.Background(), "/pw", []byte(fmt.Sprint(i)), -1)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				zxids = append(zxids, st.Mzxid)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, zxids, n)
	sort.Slice(zxids, func(i, j int) bool { return zxids[i] < zxids[j] })
	for i := 0; i < n; i++ {
		ev := recv(t, w.C)
		require.Equal(t, NodeDataChanged, ev.Type)
		require.Equal(t, zxids[i], ev.Zxid, "event %d out of order or missing", i)
	}
	select {
	case ev := <-w.C:
		t.Fatalf("an extra event: %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestSessionCloseDeletesEphemeralsAndEndsWatches(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s, err := tc.get(2).NewSession(ctx)
	require.NoError(t, err)
	_, err = s.Create(ctx, "/eph", nil, Ephemeral)
	require.NoError(t, err)
	p, err := s.Create(ctx, "/eseq-", nil, EphemeralSequential)
	require.NoError(t, err)
	_, err = s.Create(ctx, "/eph/child", nil, Persistent)
	require.ErrorIs(t, err, ErrNoChildrenForEphemerals)
	_, st, err := s.Exists(ctx, "/eph")
	require.NoError(t, err)
	assert.Equal(t, s.ID(), st.EphemeralOwner)

	_, _, own, err := s.ExistsW(ctx, "/nothing")
	require.NoError(t, err)
	other := tc.get(1).Session()
	require.NoError(t, other.Sync(ctx, "/"))
	_, _, gone, err := other.ExistsW(ctx, "/eph")
	require.NoError(t, err)
	states := s.State()
	require.Equal(t, Connected, recv(t, states))

	require.NoError(t, s.Close())
	ev := recv(t, gone)
	assert.Equal(t, Event{Type: NodeDeleted, Path: "/eph", Zxid: ev.Zxid}, ev)
	ok, _, err := other.Exists(ctx, p)
	require.NoError(t, err)
	assert.False(t, ok)
	ev = recv(t, own)
	assert.Equal(t, NotWatching, ev.Type)
	assert.ErrorIs(t, ev.Err, ErrClosed)
	assert.Equal(t, Closed, recv(t, states))
	_, err = s.Create(ctx, "/after", nil, Persistent)
	assert.ErrorIs(t, err, ErrClosed)
}

func TestCoordCloseClosesHostedSessions(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	_, err := tc.get(3).Session().Create(ctx, "/byclose", nil, Ephemeral)
	require.NoError(t, err)
	s := tc.get(1).Session()
	require.NoError(t, s.Sync(ctx, "/"))
	_, _, ch, err := s.ExistsW(ctx, "/byclose")
	require.NoError(t, err)
	start := time.Now()
	tc.stop(3)
	ev := recv(t, ch)
	assert.Equal(t, NodeDeleted, ev.Type)
	assert.Less(t, time.Since(start), 3*time.Second, "Close deletes ephemerals at once, not after the timeout")
}

func TestSessionTimeoutNegotiation(t *testing.T) {
	tc := newTestCluster(t, 3, func(o *Options) {
		o.MinSessionTimeout = 2 * time.Second
		o.MaxSessionTimeout = 20 * time.Second
	})
	ctx := ctxT(t)
	for _, c := range []struct{ ask, want time.Duration }{
		{0, DefaultSessionTimeout}, {time.Millisecond, 2 * time.Second}, {5 * time.Second, 5 * time.Second}, {time.Hour, 20 * time.Second},
	} {
		s, err := tc.get(1).NewSession(ctx, WithSessionTimeout(c.ask))
		require.NoError(t, err)
		assert.Equal(t, c.want, s.Timeout(), "asked %v", c.ask)
		require.NoError(t, s.Close())
	}
}

// TestPartitionedMemberSessionsSuspendThenExpire cuts one member off: its
// sessions go Suspended, the majority expires them after their timeout,
// and when the partition heals the member learns they Expired and new
// sessions on it work.
func TestPartitionedMemberSessionsSuspendThenExpire(t *testing.T) {
	nw := faultnet.New()
	tc := newTestCluster(t, 3, func(o *Options) { o.transport = nw.Factory() })
	ctx := ctxT(t)
	cut := tc.follower()
	s, err := tc.get(cut).NewSession(ctx, WithSessionTimeout(2*time.Second))
	require.NoError(t, err)
	_, err = s.Create(ctx, "/cut-eph", nil, Ephemeral)
	require.NoError(t, err)
	states := s.State()
	require.Equal(t, Connected, recv(t, states))

	var majority *Coord
	for id := uint64(1); id <= 3; id++ {
		if id != cut {
			majority = tc.get(id)
		}
	}
	require.NoError(t, majority.Session().Sync(ctx, "/"))
	_, _, gone, err := majority.Session().ExistsW(ctx, "/cut-eph")
	require.NoError(t, err)

	cutAt := time.Now()
	nw.Isolate(tc.members[cut])
	require.Equal(t, Suspended, recv(t, states))
	t.Logf("suspended %v after the cut", time.Since(cutAt).Round(time.Millisecond))
	ev := recv(t, gone)
	assert.Equal(t, NodeDeleted, ev.Type)
	expiredAfter := time.Since(cutAt)
	t.Logf("majority expired the session %v after the cut", expiredAfter.Round(time.Millisecond))
	assert.GreaterOrEqual(t, expiredAfter, 2*time.Second-tc.get(cut).opts.HeartbeatInterval)

	nw.Heal()
	select {
	case st := <-states:
		assert.Equal(t, Expired, st)
	case <-time.After(15 * time.Second):
		t.Fatal("the cut-off member never learned its session expired")
	}
	_, err = s.Create(ctx, "/x", nil, Persistent)
	assert.ErrorIs(t, err, ErrSessionExpired)

	fresh, err := tc.get(cut).NewSession(ctx)
	require.NoError(t, err)
	_, err = fresh.Create(ctx, "/after-heal", nil, Ephemeral)
	require.NoError(t, err)
}

// TestSuspendedSessionRecovers cuts a member off for less than the session
// timeout: the session goes Suspended and comes back Connected, with its
// ephemeral node intact.
func TestSuspendedSessionRecovers(t *testing.T) {
	nw := faultnet.New()
	tc := newTestCluster(t, 3, func(o *Options) { o.transport = nw.Factory() })
	ctx := ctxT(t)
	cut := tc.follower()
	s, err := tc.get(cut).NewSession(ctx, WithSessionTimeout(5*time.Second))
	require.NoError(t, err)
	_, err = s.Create(ctx, "/short-cut", nil, Ephemeral)
	require.NoError(t, err)
	states := s.State()
	require.Equal(t, Connected, recv(t, states))
	nw.Isolate(tc.members[cut])
	require.Equal(t, Suspended, recv(t, states))
	time.Sleep(time.Second)
	nw.Heal()
	require.Equal(t, Connected, recv(t, states))
	ok, _, err := s.Exists(ctx, "/short-cut")
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestSessionsSurviveLeaderCrash(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	f := tc.follower()
	s, err := tc.get(f).NewSession(ctx, WithSessionTimeout(3*time.Second))
	require.NoError(t, err)
	_, err = s.Create(ctx, "/survivor", nil, Ephemeral)
	require.NoError(t, err)
	l := tc.leader()
	tc.crash(l)
	// Well past the session timeout: the new leader must have granted it a
	// fresh timeout and its member's heartbeats keep it alive.
	time.Sleep(5 * time.Second)
	assert.Equal(t, Connected, s.CurrentState())
	require.NoError(t, s.Sync(ctx, "/"))
	ok, _, err := s.Exists(ctx, "/survivor")
	require.NoError(t, err)
	assert.True(t, ok)
	_, err = s.Create(ctx, "/survivor-2", nil, Ephemeral)
	require.NoError(t, err)
}

func TestContainerAndTTLNodesAreReaped(t *testing.T) {
	tc := newTestCluster(t, 3, func(o *Options) { o.CleanupInterval = 100 * time.Millisecond })
	ctx := ctxT(t)
	s := tc.get(1).Session()
	_, err := s.Create(ctx, "/cont", nil, Container)
	require.NoError(t, err)
	_, err = s.Create(ctx, "/unused-cont", nil, Container)
	require.NoError(t, err)
	_, err = s.Create(ctx, "/cont/c", nil, Persistent)
	require.NoError(t, err)
	_, err = s.CreateTTL(ctx, "/ttl", nil, PersistentWithTTL, 300*time.Millisecond)
	require.NoError(t, err)
	_, err = s.CreateTTL(ctx, "/ttl-parent", nil, PersistentWithTTL, 300*time.Millisecond)
	require.NoError(t, err)
	_, err = s.Create(ctx, "/ttl-parent/c", nil, Persistent)
	require.NoError(t, err)
	_, err = s.CreateTTL(ctx, "/ttl-long", nil, PersistentWithTTL, time.Hour)
	require.NoError(t, err)

	_, _, ttlGone, err := s.ExistsW(ctx, "/ttl")
	require.NoError(t, err)
	ev := recv(t, ttlGone)
	assert.Equal(t, NodeDeleted, ev.Type)

	time.Sleep(500 * time.Millisecond)
	for _, p := range []string{"/cont", "/unused-cont", "/ttl-parent", "/ttl-long"} {
		ok, _, err := s.Exists(ctx, p)
		require.NoError(t, err)
		assert.True(t, ok, "%s must stay", p)
	}
	_, _, contGone, err := s.ExistsW(ctx, "/cont")
	require.NoError(t, err)
	require.NoError(t, s.Delete(ctx, "/cont/c", -1))
	ev = recv(t, contGone)
	assert.Equal(t, NodeDeleted, ev.Type)

	_, err = s.Create(ctx, "/ttl-bad", nil, PersistentWithTTL)
	assert.ErrorIs(t, err, ErrBadArguments)
	_, err = s.CreateTTL(ctx, "/ttl-bad", nil, Persistent, time.Second)
	assert.ErrorIs(t, err, ErrBadArguments)
	_, err = s.CreateTTL(ctx, "/ttl-bad", nil, PersistentWithTTL, 0)
	assert.ErrorIs(t, err, ErrBadArguments)
}

// ---- a member in its own process, for SIGKILL ----

// helperMember is the "member" role of a child process, for tests that
// kill it: it opens its member, creates /victim in a session with the
// timeout TIMEOUT, prints "ready" and runs until it is killed.
func helperMember(spec testenv.Spec) int {
	d, _ := time.ParseDuration(testenv.Arg("TIMEOUT"))
	c, err := Open(context.Background(), Options{ID: spec.ID, Members: spec.Members, DataDir: spec.Dir})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	s, err := c.NewSession(context.Background(), WithSessionTimeout(d))
	if err == nil {
		_, err = s.Create(context.Background(), "/victim", nil, Ephemeral)
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready")
	select {} // until killed
}

// TestSigkilledMembersEphemeralsExpire runs one of three members in a child
// process, creates an ephemeral node there, SIGKILLs the process, and times
// how long until another member sees the node gone: not before the session
// timeout, and not much after it.
func TestSigkilledMembersEphemeralsExpire(t *testing.T) {
	const timeout = 2 * time.Second
	tc := allocTestCluster(t, 3, nil)
	child := tc.startHelper("member", 3, map[string]string{"TIMEOUT": timeout.String()})
	tc.startAll(1, 2)
	child.Expect(t, "ready", 30*time.Second)
	ctx := ctxT(t)
	s := tc.get(1).Session()
	require.NoError(t, s.Sync(ctx, "/"))
	ok, _, gone, err := s.ExistsW(ctx, "/victim")
	require.NoError(t, err)
	require.True(t, ok)

	killed := time.Now()
	require.NoError(t, child.Kill())
	ev := recv(t, gone)
	took := time.Since(killed)
	assert.Equal(t, NodeDeleted, ev.Type)
	t.Logf("ephemeral gone %v after SIGKILL (session timeout %v)", took.Round(time.Millisecond), timeout)
	assert.GreaterOrEqual(t, took, timeout, "expired before the session timeout")
	assert.Less(t, took, timeout+1500*time.Millisecond, "expired much later than the session timeout")
}

// TestOrphanedSessionsAreClosed makes a session whose Close never
// committed: its member still owns it but nothing hosts it, so the member's
// heartbeats would keep it alive forever. The member closes it.
func TestOrphanedSessionsAreClosed(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	c := tc.get(2)
	s, err := c.NewSession(ctx)
	require.NoError(t, err)
	_, err = s.Create(ctx, "/orphan", nil, Ephemeral)
	require.NoError(t, err)
	// What a Close that timed out leaves: the value is gone, the session
	// is not.
	c.host.remove(s.ID())
	s.end(Closed)
	refs := c.orphanSessions(time.Now().Add(time.Second))
	require.Equal(t, []int64{s.ID()}, func() (ids []int64) {
		for _, r := range refs {
			ids = append(ids, r.ID)
		}
		return
	}())
	assert.Empty(t, c.orphanSessions(time.Now().Add(-time.Hour)), "young sessions are left alone")
	c.proposeBackground(&wire.Command{Kind: wire.KindCloseSessions, Sessions: refs})
	require.NoError(t, tc.get(1).Session().Sync(ctx, "/"))
	ok, _, err := tc.get(1).Session().Exists(ctx, "/orphan")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, c.orphanSessions(time.Now().Add(time.Second)))
}

// helperWriter is the "writer" role of a child process: it opens its
// member, writes znodes as fast as it can and prints each path once its
// write is acknowledged, until it is killed.
func helperWriter(spec testenv.Spec) int {
	c, err := Open(context.Background(), Options{ID: spec.ID, Members: spec.Members, DataDir: spec.Dir})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	s := c.Session()
	_, _ = s.Create(context.Background(), "/acked", nil, Persistent) // one of the three makes it
	out := bufio.NewWriter(os.Stdout)
	for n := 0; ; n++ {
		p := fmt.Sprintf("/acked/m%d-%06d", spec.ID, n)
		if _, err := s.Create(context.Background(), p, nil, Persistent); err == nil {
			fmt.Fprintln(out, p)
			out.Flush()
		}
	}
}

// TestKillEveryMemberLosesNoAcknowledgedWrite runs the three members in
// child processes that write continuously, SIGKILLs all three at once,
// reopens them from their data directories and checks that every write a
// child saw acknowledged is there, on every member.
func TestKillEveryMemberLosesNoAcknowledgedWrite(t *testing.T) {
	tc := allocTestCluster(t, 3, nil)
	var mu sync.Mutex
	var acked []string
	var children []*testenv.Child
	for id := uint64(1); id <= 3; id++ {
		children = append(children, testenv.StartChild(t, testenv.ChildConfig{
			Role: "writer",
			Args: tc.e.Spec(id).Args(FormatMembers),
			OnLine: func(line string) {
				if strings.HasPrefix(line, "/acked/") {
					mu.Lock()
					acked = append(acked, line)
					mu.Unlock()
				}
			},
		}))
	}
	// Let them write for a while once they have started.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > 300
	}, 60*time.Second, 10*time.Millisecond)
	for _, c := range children {
		require.NoError(t, c.Kill())
	}
	for _, c := range children {
		require.NoError(t, c.Wait(30*time.Second)) // and every line it printed is in acked
	}
	mu.Lock()
	t.Logf("%d writes acknowledged before all three members were killed", len(acked))
	mu.Unlock()

	tc.startAll(1, 2, 3)
	checkAcked(t, tc, acked)
}

// A State subscription whose reader dropped its channel does not stay for
// the life of the session; one that is read keeps working.
func TestAbandonedStateSubscriptionsAreCollected(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	s, err := tc.get(1).NewSession(ctxT(t))
	require.NoError(t, err)
	kept := s.State()
	require.Equal(t, Connected, recv(t, kept))
	for range 1000 {
		_ = s.State()
	}
	require.Eventually(t, func() bool {
		runtime.GC()
		s.subscribe() // prunes, and is dropped itself
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.subs) <= 3
	}, 10*time.Second, 10*time.Millisecond, "dropped State channels stay subscribed")
	s.setState(Suspended)
	require.Equal(t, Suspended, recv(t, kept))
	runtime.KeepAlive(kept)
}

// A persistent watcher nobody reads does not grow without bound: beyond
// MaxWatcherEvents its undelivered events are replaced by one EventsLost,
// and events of later changes follow it.
func TestStalledWatcherIsBounded(t *testing.T) {
	tc := newTestCluster(t, 1, func(o *Options) { o.MaxWatcherEvents = 50 })
	ctx := ctxT(t)
	s := tc.get(1).Session()
	_, err := s.Create(ctx, "/stalled", nil, Persistent)
	require.NoError(t, err)
	w, err := s.AddWatch(ctx, "/stalled", false)
	require.NoError(t, err)
	defer w.Remove()
	var last *Stat
	for i := range 1000 {
		last, err = s.Set(ctx, "/stalled", []byte{byte(i)}, -1)
		require.NoError(t, err)
		w.mu.Lock()
		queued := len(w.queue)
		w.mu.Unlock()
		require.LessOrEqual(t, queued, 50, "the watcher's queue grows past its bound")
	}
	var got []Event
	for {
		ev := recv(t, w.C)
		got = append(got, ev)
		if ev.Zxid == last.Mzxid && ev.Type == NodeDataChanged {
			break
		}
	}
	lost := 0
	for _, ev := range got {
		if ev.Type == EventsLost {
			lost++
			assert.Equal(t, "/stalled", ev.Path)
		}
	}
	assert.Positive(t, lost, "the reader is not told it lost events")
	assert.LessOrEqual(t, len(got), 2*50+2)
	t.Logf("%d events received for 1000 changes, %d EventsLost", len(got), lost)
}
