package coord

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/faultnet"
)

// dumpTree reads every znode under root through s: path -> data and Stat.
type znode struct {
	Data string
	Stat Stat
}

func dumpTree(t testing.TB, s *Session, root string) map[string]znode {
	t.Helper()
	ctx := ctxT(t)
	out := map[string]znode{}
	var walk func(p string)
	walk = func(p string) {
		data, st, err := s.Get(ctx, p)
		require.NoError(t, err)
		out[p] = znode{string(data), *st}
		kids, _, err := s.Children(ctx, p)
		require.NoError(t, err)
		for _, k := range kids {
			if p == "/" {
				walk("/" + k)
			} else {
				walk(p + "/" + k)
			}
		}
	}
	walk(root)
	return out
}

func TestWriteOnOneReadOnOthers(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s1 := tc.get(1).Session()
	_, err := s1.Create(ctx, "/app", []byte("v1"), Persistent)
	require.NoError(t, err)
	p, err := s1.Create(ctx, "/app/job-", []byte("x"), PersistentSequential)
	require.NoError(t, err)
	require.Equal(t, "/app/job-0000000000", p)
	st1, err := s1.Set(ctx, "/app", []byte("v2"), 0)
	require.NoError(t, err)
	for _, id := range []uint64{2, 3} {
		s := tc.get(id).Session()
		require.NoError(t, s.Sync(ctx, "/app"))
		data, st, err := s.Get(ctx, "/app")
		require.NoError(t, err)
		assert.Equal(t, "v2", string(data))
		assert.Equal(t, *st1, *st, "Stat on member %d", id)
		kids, _, err := s.Children(ctx, "/app")
		require.NoError(t, err)
		assert.Equal(t, []string{"job-0000000000"}, kids)
	}
	// The writer reads its own write without Sync.
	_, err = s1.Create(ctx, "/app/mine", nil, Persistent)
	require.NoError(t, err)
	ok, _, err := s1.Exists(ctx, "/app/mine")
	require.NoError(t, err)
	require.True(t, ok)
}

func TestConcurrentVersionedSetLosesNothing(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	_, err := tc.get(1).Session().Create(ctx, "/counter", []byte("0"), Persistent)
	require.NoError(t, err)
	const perWorker = 25
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for w := 0; w < 9; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tc.get(uint64(w%3 + 1)).Session()
			if !assert.NoError(t, s.Sync(ctx, "/counter")) {
				return
			}
			for done := 0; done < perWorker; {
				data, st, err := s.Get(ctx, "/counter")
				if !assert.NoError(t, err) {
					return
				}
				var n int
				fmt.Sscan(string(data), &n)
				_, err = s.Set(ctx, "/counter", []byte(fmt.Sprint(n+1)), st.Version)
				if errors.Is(err, ErrBadVersion) {
					conflicts.Add(1)
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				done++
			}
		}()
	}
	wg.Wait()
	s := tc.get(2).Session()
	require.NoError(t, s.Sync(ctx, "/"))
	data, st, err := s.Get(ctx, "/counter")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(9*perWorker), string(data))
	assert.Equal(t, int32(9*perWorker), st.Version)
	t.Logf("version conflicts retried: %d", conflicts.Load())
}

func TestRestartAllMembersKeepsTree(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s := tc.get(1).Session()
	_, err := s.Create(ctx, "/a", []byte("1"), Persistent)
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		_, err := s.Create(ctx, "/a/seq-", []byte(fmt.Sprint(i)), PersistentSequential)
		require.NoError(t, err)
	}
	require.NoError(t, s.Delete(ctx, "/a/seq-0000000003", -1))
	_, err = s.Set(ctx, "/a", []byte("2"), -1)
	require.NoError(t, err)
	_, err = s.SetACL(ctx, "/a/seq-0000000004", ReadACL, -1)
	require.NoError(t, err)
	_, err = s.Multi(ctx, CreateOp("/m", nil, Persistent), CreateOp("/m/1", []byte("x"), Persistent), SetOp("/a", []byte("3"), -1))
	require.NoError(t, err)

	before := map[uint64]map[string]znode{}
	for id := uint64(1); id <= 3; id++ {
		ss := tc.get(id).Session()
		require.NoError(t, ss.Sync(ctx, "/"))
		before[id] = dumpTree(t, ss, "/")
	}
	require.Equal(t, before[1], before[2])
	require.Equal(t, before[1], before[3])

	tc.closeAll()
	tc.startAll(1, 2, 3)
	for id := uint64(1); id <= 3; id++ {
		after := dumpTree(t, tc.get(id).Session(), "/")
		assert.Equal(t, before[1], after, "member %d after restart", id)
	}
	// Writes continue where they left off: the sequence counter persisted.
	p, err := tc.get(2).Session().Create(ctx, "/a/seq-", nil, PersistentSequential)
	require.NoError(t, err)
	assert.Equal(t, "/a/seq-0000000020", p)
}

// loadWriters creates nodes through every live member until stop is closed
// and records the paths whose creation was acknowledged.
type loadWriters struct {
	mu    sync.Mutex
	acked []string
	wg    sync.WaitGroup
	stop  chan struct{}
}

func startLoad(t *testing.T, tc *testCluster, ids []uint64) *loadWriters {
	lw := &loadWriters{stop: make(chan struct{})}
	for i, id := range ids {
		c := tc.get(id)
		for g := 0; g < 2; g++ {
			lw.wg.Add(1)
			go func() {
				defer lw.wg.Done()
				s := c.Session()
				for n := 0; ; n++ {
					select {
					case <-lw.stop:
						return
					default:
					}
					p := fmt.Sprintf("/load/w%d-%d-%d", i, g, n)
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					_, err := s.Create(ctx, p, []byte(p), Persistent)
					cancel()
					if err == nil {
						lw.mu.Lock()
						lw.acked = append(lw.acked, p)
						lw.mu.Unlock()
					} else if errors.Is(err, ErrClosed) || errors.Is(err, ErrSessionExpired) {
						return
					}
				}
			}()
		}
	}
	return lw
}

func (lw *loadWriters) finish() []string {
	close(lw.stop)
	lw.wg.Wait()
	return lw.acked
}

func checkAcked(t *testing.T, tc *testCluster, acked []string) {
	t.Helper()
	ctx := ctxT(t)
	for _, c := range tc.live() {
		s := c.Session()
		require.NoError(t, s.Sync(ctx, "/"))
		missing := 0
		for _, p := range acked {
			if ok, _, err := s.Exists(ctx, p); err != nil || !ok {
				missing++
			}
		}
		assert.Zero(t, missing, "member %d lost %d of %d acknowledged writes", c.ID(), missing, len(acked))
	}
}

func testCrashMidLoad(t *testing.T, crashLeader bool) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	_, err := tc.get(1).Session().Create(ctx, "/load", nil, Persistent)
	require.NoError(t, err)
	victim := tc.leader()
	if !crashLeader {
		victim = tc.follower()
	}
	var survivors []uint64
	for id := uint64(1); id <= 3; id++ {
		if id != victim {
			survivors = append(survivors, id)
		}
	}
	lw := startLoad(t, tc, survivors)
	time.Sleep(500 * time.Millisecond)
	tc.crash(victim)
	time.Sleep(time.Second)
	tc.restart(victim)
	time.Sleep(500 * time.Millisecond)
	acked := lw.finish()
	require.NotEmpty(t, acked)
	t.Logf("%d writes acknowledged across the crash of member %d", len(acked), victim)
	checkAcked(t, tc, acked)
}

func TestLeaderCrashMidLoadLosesNothing(t *testing.T)   { testCrashMidLoad(t, true) }
func TestFollowerCrashMidLoadLosesNothing(t *testing.T) { testCrashMidLoad(t, false) }

func TestLaggingMemberCatchesUpBySnapshot(t *testing.T) {
	tc := newTestCluster(t, 3, func(o *Options) {
		o.SnapshotEntries = 40
		o.CompactionOverhead = 5
	})
	ctx := ctxT(t)
	lag := tc.follower()
	tc.stop(lag)
	var writer *Coord
	for id := uint64(1); id <= 3; id++ {
		if id != lag {
			writer = tc.get(id)
			break
		}
	}
	s := writer.Session()
	_, err := s.Create(ctx, "/snap", nil, Persistent)
	require.NoError(t, err)
	for i := 0; i < 300; i++ {
		_, err := s.Create(ctx, fmt.Sprintf("/snap/n%03d", i), []byte(fmt.Sprint(i)), Persistent)
		require.NoError(t, err)
	}
	want := dumpTree(t, s, "/snap")
	c := tc.restart(lag)
	require.Eventually(t, func() bool {
		ok, _, _ := c.Session().Exists(ctx, "/snap/n299")
		return ok
	}, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, c.Session().Sync(ctx, "/"))
	assert.Equal(t, want, dumpTree(t, c.Session(), "/snap"))
	c.fsm.mu.RLock()
	recovered := c.fsm.stats.snapshotsRecovered
	c.fsm.mu.RUnlock()
	assert.Positive(t, recovered, "the lagging member should have caught up from a snapshot")
	// And it keeps working afterwards.
	_, err = c.Session().Create(ctx, "/snap/after", nil, Persistent)
	require.NoError(t, err)
}

func TestMembershipAddRemoveObserver(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s := tc.get(1).Session()
	_, err := s.Create(ctx, "/m", []byte("before"), Persistent)
	require.NoError(t, err)

	extra := freeAddrs(t, 2)
	require.NoError(t, tc.get(1).AddMember(ctx, 4, extra[0]))
	o4 := tc.options(4)
	o4.Members, o4.Addr, o4.Join = nil, extra[0], true
	c4, err := Open(ctx, o4)
	require.NoError(t, err)
	defer c4.Close()
	require.Eventually(t, func() bool {
		data, _, err := c4.Session().Get(ctx, "/m")
		return err == nil && string(data) == "before"
	}, 10*time.Second, 20*time.Millisecond)
	members, err := tc.get(2).Members(ctx)
	require.NoError(t, err)
	assert.Len(t, members, 4)
	assert.Equal(t, extra[0], members[4])

	_, err = c4.Session().Set(ctx, "/m", []byte("from4"), -1)
	require.NoError(t, err)

	require.NoError(t, tc.get(1).AddObserver(ctx, 5, extra[1]))
	o5 := tc.options(5)
	o5.Members, o5.Addr, o5.Join, o5.Observer = nil, extra[1], true, true
	c5, err := Open(ctx, o5)
	require.NoError(t, err)
	defer c5.Close()
	require.NoError(t, c5.Session().Sync(ctx, "/"))
	data, _, err := c5.Session().Get(ctx, "/m")
	require.NoError(t, err)
	assert.Equal(t, "from4", string(data))
	obs, err := c5.Observers(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[uint64]string{5: extra[1]}, obs)
	_, err = c5.Session().Create(ctx, "/m/from-observer", nil, Persistent)
	require.NoError(t, err, "observers forward writes")

	victim := uint64(3)
	if l := tc.leader(); l == victim {
		victim = 2
	}
	require.NoError(t, tc.get(1).RemoveMember(ctx, victim))
	tc.stop(victim)
	members, err = tc.get(1).Members(ctx)
	require.NoError(t, err)
	assert.NotContains(t, members, victim)
	assert.Len(t, members, 3)
	err = tc.get(1).AddMember(ctx, victim, tc.members[victim])
	require.ErrorIs(t, err, ErrBadArguments, "a removed member's id cannot come back")
	_, err = s.Set(ctx, "/m", []byte("after-remove"), -1)
	require.NoError(t, err)
}

func TestPartitionedMinorityCannotWriteMajorityCan(t *testing.T) {
	nw := faultnet.New()
	tc := newTestCluster(t, 3, func(o *Options) { o.transport = nw.Factory() })
	ctx := ctxT(t)
	l := tc.leader()
	nw.Isolate(tc.members[l])
	other := tc.follower()
	if other == l {
		t.Fatal("follower is leader")
	}
	// The majority elects a new leader and keeps writing.
	require.Eventually(t, func() bool {
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		_, err := tc.get(other).Session().Create(wctx, "/majority", nil, Persistent)
		return err == nil || errors.Is(err, ErrNodeExists)
	}, 10*time.Second, 50*time.Millisecond)
	// The isolated member cannot commit.
	wctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	_, err := tc.get(l).Session().Create(wctx, "/minority", nil, Persistent)
	cancel()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrNoQuorum)
	nw.Heal()
	require.Eventually(t, func() bool {
		ok, _, _ := tc.get(l).Session().Exists(ctx, "/majority")
		return ok
	}, 10*time.Second, 20*time.Millisecond)
}

func TestOptionsErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	base := func() Options {
		return Options{ID: 1, Members: map[uint64]string{1: "127.0.0.1:7001", 2: "127.0.0.1:7002", 3: "127.0.0.1:7003"},
			DataDir: filepath.Join(dir, "x")}
	}
	cases := []struct {
		name  string
		edit  func(*Options)
		field string
	}{
		{"no id", func(o *Options) { o.ID = 0 }, "ID"},
		{"no dir", func(o *Options) { o.DataDir = "" }, "DataDir"},
		{"no members", func(o *Options) { o.Members = nil }, "Members"},
		{"id not in members", func(o *Options) { o.ID = 9 }, "Members"},
		{"duplicate address", func(o *Options) { o.Members[2] = o.Members[3] }, "Members"},
		{"bad address", func(o *Options) { o.Members[2] = "nohostport" }, "Members"},
		{"zero member id", func(o *Options) { o.Members[0] = "127.0.0.1:7009" }, "Members"},
		{"addr differs", func(o *Options) { o.Addr = "127.0.0.1:7999" }, "Addr"},
		{"join without addr", func(o *Options) { o.Members = nil; o.Join = true }, "Addr"},
		{"negative timeout", func(o *Options) { o.SessionTimeout = -time.Second }, "SessionTimeout"},
		{"min above max", func(o *Options) { o.MinSessionTimeout = time.Minute; o.MaxSessionTimeout = time.Second }, "MinSessionTimeout"},
		{"heartbeat too slow", func(o *Options) { o.HeartbeatInterval = 800 * time.Millisecond }, "HeartbeatInterval"},
		{"election vs heartbeat", func(o *Options) { o.ElectionTicks = 3; o.HeartbeatTicks = 2 }, "ElectionTicks"},
		{"huge data limit", func(o *Options) { o.MaxDataSize = 1 << 30 }, "MaxDataSize"},
		{"bad super digest", func(o *Options) { o.SuperDigest = "super" }, "SuperDigest"},
		{"partial tls", func(o *Options) { o.TLS.CAFile = "ca.pem" }, "TLS"},
		{"observer forming", func(o *Options) { o.Observer = true }, "Observer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base()
			c.edit(&o)
			_, err := Open(context.Background(), o)
			var oe *OptionError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, c.field, oe.Field, "error: %v", err)
		})
	}
}

func TestDataDirBelongsToOneMember(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	tc.stop(3)
	o := tc.options(3)
	o.ID = 2 // member 2 pointed at member 3's directory
	o.Addr = ""
	_, err := Open(ctxT(t), o.withDefaults())
	var oe *OptionError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "DataDir", oe.Field)
	assert.True(t, strings.Contains(err.Error(), "member 3"), err.Error())

	o = tc.options(3)
	o.Ensemble = "other"
	_, err = Open(ctxT(t), o)
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "DataDir", oe.Field)
}

func TestErrorsAreSentinelsWithPath(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s := tc.get(1).Session()
	_, err := s.Create(ctx, "/missing/child", nil, Persistent)
	require.ErrorIs(t, err, ErrNoNode)
	var pe *PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "/missing/child", pe.Path)
	assert.Equal(t, int32(-101), ErrorCode(err))

	_, err = s.Create(ctx, "/bad/", nil, Persistent)
	require.ErrorIs(t, err, ErrBadArguments)
	assert.Contains(t, err.Error(), "must not end with /")

	_, err = s.Create(ctx, "/big", make([]byte, DefaultMaxDataSize+1), Persistent)
	require.ErrorIs(t, err, ErrBadArguments)
	assert.Contains(t, err.Error(), "limit")

	_, err = s.Create(ctx, "/x", nil, Persistent, ACL{Perms: PermAll, Scheme: "nope", ID: "x"})
	require.ErrorIs(t, err, ErrInvalidACL)
	assert.Contains(t, err.Error(), "unknown scheme")

	_, err = s.Create(ctx, "/v", nil, Persistent)
	require.NoError(t, err)
	_, err = s.Set(ctx, "/v", nil, 7)
	require.ErrorIs(t, err, ErrBadVersion)
	require.ErrorIs(t, s.Delete(ctx, "/", -1), ErrBadArguments)
	_, err = s.Create(ctx, "/v/c", nil, Persistent)
	require.NoError(t, err)
	require.ErrorIs(t, s.Delete(ctx, "/v", -1), ErrNotEmpty)

	res, err := s.Multi(ctx, CreateOp("/mm", nil, Persistent), CheckOp("/v", 5), CreateOp("/mm2", nil, Persistent))
	require.ErrorIs(t, err, ErrBadVersion)
	require.Len(t, res, 3)
	assert.NoError(t, res[0].Err)
	assert.ErrorIs(t, res[1].Err, ErrBadVersion)
	assert.ErrorIs(t, res[2].Err, ErrRuntimeInconsistency)
	ok, _, err := s.Exists(ctx, "/mm")
	require.NoError(t, err)
	assert.False(t, ok, "a failed multi applies nothing")
}

// sortedKeys is a helper for stable failure messages.

func TestParseMembers(t *testing.T) {
	m, err := ParseMembers(" 1=127.0.0.1:7001, 2=[::1]:7002,3=db-3:7003")
	require.NoError(t, err)
	assert.Equal(t, map[uint64]string{1: "127.0.0.1:7001", 2: "[::1]:7002", 3: "db-3:7003"}, m)
	assert.Equal(t, "1=127.0.0.1:7001,2=[::1]:7002,3=db-3:7003", FormatMembers(m))
	for _, bad := range []string{"", "1", "0=h:1", "x=h:1", "1=h", "1=h:0", "1=:7", "1=h:1,1=g:2", "1=h:1,2=h:1"} {
		_, err := ParseMembers(bad)
		assert.Error(t, err, "%q", bad)
	}
}
