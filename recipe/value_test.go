package recipe

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord"
)

// TestCounter: concurrent Adds from three members lose nothing;
// CompareAndSet refuses a stale version; Watch sees the final value.
func TestCounter(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	path := root + "/counter/n"
	w := NewCounter(cl.session(t, 3, 4*time.Second), path)
	watch := w.Watch(ctx)
	require.Equal(t, Count{Version: -1}, recvT(t, watch))

	var wg sync.WaitGroup
	for i := range 6 {
		s := cl.session(t, uint64(i%3+1), 4*time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewCounter(s, path)
			for range 20 {
				_, err := c.Add(ctx, 1)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, w.v.s.Sync(ctx, "/"))
	cur, err := w.Get(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 120, cur.N)

	_, err = w.CompareAndSet(ctx, cur.Version-1, 0)
	require.ErrorIs(t, err, coord.ErrBadVersion)
	next, err := w.CompareAndSet(ctx, cur.Version, 1000)
	require.NoError(t, err)
	require.Equal(t, Count{N: 1000, Version: cur.Version + 1}, next)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case c := <-watch:
			if c.N == 1000 {
				return
			}
		case <-deadline:
			t.Fatal("watch never saw 1000")
		}
	}
}

// TestValueWatch: a watched value reports creation, changes and deletion,
// and CompareAndSet with version -1 creates only once.
func TestValueWatch(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	path := root + "/value/config"
	reader := NewValue(cl.session(t, 2, 4*time.Second), path)
	wctx, stop := context.WithCancel(ctx)
	ch := reader.Watch(wctx)
	require.False(t, recvT(t, ch).Exists())

	writer := NewValue(cl.session(t, 1, 4*time.Second), path)
	v0, err := writer.CompareAndSet(ctx, -1, []byte("a"))
	require.NoError(t, err)
	_, err = writer.CompareAndSet(ctx, -1, []byte("b"))
	require.ErrorIs(t, err, coord.ErrBadVersion)
	next := func() Versioned {
		select {
		case v := <-ch:
			return v
		case <-time.After(5 * time.Second):
			t.Fatal("no change reported")
			return Versioned{}
		}
	}
	v := next()
	require.Equal(t, "a", string(v.Data))
	require.Equal(t, v0.Zxid, v.Zxid)
	_, err = writer.Set(ctx, []byte("b"))
	require.NoError(t, err)
	require.Equal(t, "b", string(next().Data))
	require.NoError(t, writer.s.Delete(ctx, path, -1))
	require.False(t, next().Exists())
	stop()
	for range ch {
	}
}

// TestCacheConsistentSnapshots: a writer keeps changing two nodes together
// (one Multi) and creating and deleting children while a cache on another
// member follows. Every snapshot the cache publishes, including the first
// one taken in the middle of the churn, shows the two nodes equal, and the
// cache ends equal to the tree.
func TestCacheConsistentSnapshots(t *testing.T) {
	cl := testCluster(t)
	ctx := ctxT(t, time.Minute)
	root := fmt.Sprintf("/t/cache/%d", time.Now().UnixNano())
	ws := cl.session(t, 1, 4*time.Second)
	require.NoError(t, ensurePath(ctx, ws, root+"/a", coord.Persistent))
	require.NoError(t, ensurePath(ctx, ws, root+"/b", coord.Persistent))

	var writes atomic.Int64
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	var stopOnce sync.Once
	stopWriter := func() {
		stopOnce.Do(func() { close(stop) })
		recvT(t, writerDone)
	}
	defer stopWriter()
	go func() {
		defer close(writerDone)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := []byte(strconv.Itoa(i))
			ops := []coord.Op{coord.SetOp(root+"/a", v, -1), coord.SetOp(root+"/b", v, -1)}
			if i%3 == 0 {
				ops = append(ops, coord.CreateOp(fmt.Sprintf("%s/a/k%d", root, i), v, coord.Persistent))
			}
			if i%3 == 0 && i > 3 {
				ops = append(ops, coord.DeleteOp(fmt.Sprintf("%s/a/k%d", root, i-3), -1))
			}
			_, err := ws.Multi(ctx, ops...)
			if !assert.NoError(t, err) {
				return
			}
			writes.Add(1)
		}
	}()
	require.Eventually(t, func() bool { return writes.Load() > 0 }, 10*time.Second, time.Millisecond, "the writer does not write")

	var events atomic.Int64
	rs := cl.session(t, 3, 4*time.Second)
	cache, err := NewCache(ctx, cl.member(3), root, WithCacheListener(func(CacheEvent) { events.Add(1) }))
	require.NoError(t, err)
	defer cache.Close()
	check := func(s *Snapshot) {
		a, okA := s.Get(root + "/a")
		b, okB := s.Get(root + "/b")
		require.True(t, okA && okB)
		require.Equal(t, string(a.Data), string(b.Data), "torn snapshot at zxid %d", s.Zxid())
		// Exactly one child k<n> with n the last multiple of 3 written.
		n, _ := strconv.Atoi(string(a.Data))
		kids := s.Children(root + "/a")
		if n >= 3 {
			require.Equal(t, []string{fmt.Sprintf("k%d", n-n%3)}, kids, "at %s", a.Data)
		}
		require.EqualValues(t, len(kids), a.Stat.NumChildren, "stale parent Stat")
	}
	snaps := 0
	for s := cache.Snapshot(); ; {
		check(s)
		snaps++
		if snaps == 200 || writes.Load() > 400 {
			break
		}
		select {
		case <-s.Changed():
			s = cache.Snapshot()
		case <-time.After(5 * time.Second):
			t.Fatal("no new snapshot")
		}
	}
	stopWriter()
	require.NoError(t, rs.Sync(ctx, "/"))
	want, err := cache.walk(ctx, rs)
	require.NoError(t, err)
	deadline := time.After(5 * time.Second)
	for s := cache.Snapshot(); ; s = cache.Snapshot() {
		if sameStamps(s.nodes, want) {
			check(s)
			break
		}
		select {
		case <-s.Changed():
		case <-deadline:
			t.Fatalf("cache did not converge: %d nodes at zxid %d, tree has %d", s.Len(), s.Zxid(), len(want))
		}
	}
	t.Logf("%d writes, %d snapshots checked, %d events", writes.Load(), snaps, events.Load())
	cache.Close()
	require.ErrorIs(t, cache.Err(), coord.ErrClosed)
}

// sameStamps reports whether two reads of a tree agree on every node's
// zxids.
func sameStamps(a, b map[string]*Node) bool {
	if len(a) != len(b) {
		return false
	}
	for p, n := range a {
		m, ok := b[p]
		if !ok || n.Stat.Czxid != m.Stat.Czxid || n.Stat.Mzxid != m.Stat.Mzxid || n.Stat.Pzxid != m.Stat.Pzxid {
			return false
		}
	}
	return true
}

// TestGroup: members register on three members, a watcher sees joins,
// updates and leaves, and a member whose session is lost comes back with a
// new session.
func TestGroup(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	dir := root + "/group/api"
	g := NewGroup(cl.member(2), dir)
	watch, err := g.Watch(ctx)
	require.NoError(t, err)
	waitMembers := func(ok func([]Member) bool) []Member {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ms := <-watch:
				if ok(ms) {
					return ms
				}
			case <-deadline:
				t.Fatal("watch did not report the expected members")
			}
		}
	}
	waitMembers(func(ms []Member) bool { return len(ms) == 0 })

	var regs []*Registration
	for i := range 3 {
		r, err := NewGroup(cl.member(uint64(i+1)), dir).Register(ctx, fmt.Sprintf("node-%d", i+1), []byte(fmt.Sprintf("10.0.0.%d:80", i+1)), coord.WithSessionTimeout(2*time.Second))
		require.NoError(t, err)
		regs = append(regs, r)
	}
	ms := waitMembers(func(ms []Member) bool { return len(ms) == 3 })
	require.Equal(t, "node-1", ms[0].Name)
	require.Equal(t, "10.0.0.1:80", string(ms[0].Data))

	require.NoError(t, regs[0].Update(ctx, []byte("10.0.0.9:80")))
	waitMembers(func(ms []Member) bool { return len(ms) == 3 && string(ms[0].Data) == "10.0.0.9:80" })

	require.NoError(t, regs[1].Close())
	waitMembers(func(ms []Member) bool { return len(ms) == 2 })

	// node-3's session is lost (its client went away without closing it):
	// once the ensemble expires it, the registration is back in a new
	// session.
	old := regs[2].Session()
	require.NoError(t, old.Detach(ctx))
	ms = waitMembers(func(ms []Member) bool {
		return len(ms) == 2 && ms[1].Name == "node-3" && ms[1].Session != old.ID()
	})
	require.Equal(t, regs[2].Session().ID(), ms[1].Session)
	list, err := g.Members(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.NoError(t, regs[0].Close())
	require.NoError(t, regs[2].Close())
	waitMembers(func(ms []Member) bool { return len(ms) == 0 })
}

// A cache whose listener does not keep up does not queue events without
// bound: it drops them and reads the subtree again, and ends up current.
func TestCacheThatFallsBehindStartsOver(t *testing.T) {
	cl := testCluster(t)
	ctx := ctxT(t, time.Minute)
	root := fmt.Sprintf("/t/cache-behind/%d", time.Now().UnixNano())
	ws := cl.session(t, 1, 4*time.Second)
	require.NoError(t, ensurePath(ctx, ws, root+"/v", coord.Persistent))
	release := make(chan struct{})
	var once sync.Once
	slow := func(CacheEvent) { <-release } // stuck until released
	small := func(cfg *cacheConfig) { cfg.maxQueue = 10 }
	cache, err := NewCache(ctx, cl.member(1), root, WithCacheListener(slow), small)
	require.NoError(t, err)
	defer cache.Close()
	defer once.Do(func() { close(release) })
	for i := range 100 {
		_, err := ws.Set(ctx, root+"/v", []byte(strconv.Itoa(i)), -1)
		require.NoError(t, err)
		cache.mu.Lock()
		queued := len(cache.queue)
		cache.mu.Unlock()
		require.LessOrEqual(t, queued, 10, "the cache's queue grows past its bound")
	}
	once.Do(func() { close(release) })
	require.Eventually(t, func() bool {
		n, ok := cache.Snapshot().Get(root + "/v")
		return ok && string(n.Data) == "99"
	}, 30*time.Second, 10*time.Millisecond, "the cache did not catch up")
}
