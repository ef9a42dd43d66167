package recipe

import (
	"context"
	"errors"
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

// TestMutexContention: 12 contenders on three members, each with its own
// session, take the lock in turn. The holder checks an "inside" flag and
// increments a counter znode with a versioned Set: no two holders overlap,
// no update is lost, and the fencing tokens strictly increase in the order
// the lock was granted.
func TestMutexContention(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, time.Minute)
	const contenders, rounds = 12, 8
	dir, counter := root+"/contention/lock", root+"/contention/counter"
	admin := cl.member(1).Session()
	require.NoError(t, ensurePath(ctx, admin, counter, coord.Persistent))

	var inside atomic.Bool
	var overlaps, lost atomic.Int64
	var mu sync.Mutex
	var tokens []int64 // in acquisition order: appended while holding the lock
	var wg sync.WaitGroup
	for i := range contenders {
		s := cl.session(t, uint64(i%3+1), 4*time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMutex(s, dir)
			for range rounds {
				l, err := m.Lock(ctx)
				if !assert.NoError(t, err) {
					return
				}
				if !inside.CompareAndSwap(false, true) {
					overlaps.Add(1)
				}
				mu.Lock()
				tokens = append(tokens, l.Token())
				mu.Unlock()
				data, st, err := s.Get(ctx, counter)
				if assert.NoError(t, err) {
					n, _ := strconv.Atoi(string(data))
					if _, err := s.Set(ctx, counter, []byte(strconv.Itoa(n+1)), st.Version); errors.Is(err, coord.ErrBadVersion) {
						lost.Add(1)
					} else {
						assert.NoError(t, err)
					}
				}
				assert.NoError(t, l.Err(), "lease lost while held")
				inside.Store(false)
				assert.NoError(t, m.Unlock(ctx))
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, overlaps.Load(), "holders overlapped")
	assert.Zero(t, lost.Load(), "lost updates")
	require.NoError(t, admin.Sync(ctx, "/"))
	data, _, err := admin.Get(ctx, counter)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(contenders*rounds), string(data))
	require.Len(t, tokens, contenders*rounds)
	for i := 1; i < len(tokens); i++ {
		assert.Greater(t, tokens[i], tokens[i-1], "token %d not above the previous one", i)
	}
	assert.Empty(t, children(t, admin, dir), "lock nodes left behind")
}

// TestMutexReentrant: a Mutex value is one holder; Lock again returns the
// same Lease, and only the last Unlock releases.
func TestMutexReentrant(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	dir := root + "/reentrant"
	s1, s2 := cl.session(t, 1, 4*time.Second), cl.session(t, 2, 4*time.Second)
	a, b := NewMutex(s1, dir), NewMutex(s2, dir)
	l1, err := a.Lock(ctx)
	require.NoError(t, err)
	l2, err := a.Lock(ctx)
	require.NoError(t, err)
	require.Same(t, l1, l2)
	require.Len(t, children(t, s1, dir), 1)

	got := make(chan *Lease, 1)
	go func() {
		l, err := b.Lock(ctx)
		assert.NoError(t, err)
		got <- l
	}()
	require.NoError(t, a.Unlock(ctx))
	select {
	case <-got:
		t.Fatal("lock passed on before the last Unlock")
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, l1.Err())
	require.NoError(t, a.Unlock(ctx))
	require.ErrorIs(t, l1.Err(), ErrReleased)
	lb := recvT(t, got)
	require.Greater(t, lb.Token(), l1.Token())
	require.ErrorIs(t, a.Unlock(ctx), ErrNotHeld)
	require.NoError(t, b.Unlock(ctx))
}

// TestMutexHolderKilled: the holder is a member in a child process that is
// SIGKILLed. The lock passes to the waiting contender only once the
// holder's session has expired, and the new token is above the old one.
func TestMutexHolderKilled(t *testing.T) {
	cl := testCluster(t)
	ctx := ctxT(t, time.Minute)
	const timeout = 2 * time.Second
	dir := fmt.Sprintf("/t/killed/%d", time.Now().UnixNano())
	ch := cl.startChild(t, "lock", "RECIPE_PATH="+dir, "RECIPE_SESSION_TIMEOUT="+timeout.String())
	f := ch.expect(t, "TOKEN ", 30*time.Second)
	oldToken, childSession := atoi64(t, f[0]), atoi64(t, f[1])

	s := cl.session(t, 2, timeout)
	m := NewMutex(s, dir)
	got := make(chan *Lease, 1)
	go func() {
		l, err := m.Lock(ctx)
		assert.NoError(t, err)
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("lock granted while the child holds it")
	case <-time.After(300 * time.Millisecond):
	}
	killed := ch.kill()
	l := recvT(t, got)
	waited := time.Since(killed)
	t.Logf("lock passed %v after SIGKILL (session timeout %v)", waited, timeout)
	require.NotNil(t, l)
	require.Greater(t, l.Token(), oldToken)
	// The child's session is gone, and it did not go early: the ensemble
	// waits a full timeout after the last renewal, which was at most one
	// heartbeat interval (250 ms) before the kill.
	require.GreaterOrEqual(t, waited, timeout-300*time.Millisecond)
	require.Less(t, waited, timeout+3*time.Second)
	eph, err := s.Ephemerals(ctx, "/")
	require.NoError(t, err)
	require.Len(t, eph, 1)
	_, st, err := s.Exists(ctx, l.Path())
	require.NoError(t, err)
	require.NotEqual(t, childSession, st.EphemeralOwner)
	require.NoError(t, m.Unlock(ctx))
}

// TestMultiLock: all or none.
func TestMultiLock(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	s1, s2 := cl.session(t, 1, 4*time.Second), cl.session(t, 3, 4*time.Second)
	a, b := root+"/multi/a", root+"/multi/b"
	other := NewMutex(s2, b)
	_, err := other.Lock(ctx)
	require.NoError(t, err)

	ml := NewMultiLock(NewMutex(s1, a), NewMutex(s1, b))
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = ml.Lock(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Empty(t, children(t, s1, a), "a stayed locked after a failed MultiLock")
	require.Len(t, children(t, s1, b), 1)

	require.NoError(t, other.Unlock(ctx))
	leases, err := ml.Lock(ctx)
	require.NoError(t, err)
	require.Len(t, leases, 2)
	require.Len(t, children(t, s1, a), 1)
	require.Len(t, children(t, s1, b), 1)
	require.NoError(t, ml.Unlock(ctx))
	require.Empty(t, children(t, s1, a))
	require.Empty(t, children(t, s1, b))
}

// TestLeaseCheckGuardsWrites: a Multi guarded by Lease.Check applies while
// the lock is held and is refused once it is not, even if the old holder
// has not noticed yet.
func TestLeaseCheckGuardsWrites(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	s := cl.session(t, 1, 4*time.Second)
	path := root + "/guarded/value"
	require.NoError(t, ensurePath(ctx, s, path, coord.Persistent))
	m := NewMutex(s, root+"/guarded/lock")
	l, err := m.Lock(ctx)
	require.NoError(t, err)
	_, err = s.Multi(ctx, l.Check(), coord.SetOp(path, []byte("holder"), -1))
	require.NoError(t, err)
	// The lock is taken away (an operator deletes the node); a write still
	// in flight from the old holder is refused by the ensemble.
	require.NoError(t, cl.member(2).Session().Sync(ctx, "/"))
	require.NoError(t, cl.member(2).Session().Delete(ctx, l.Path(), -1))
	_, err = s.Multi(ctx, l.Check(), coord.SetOp(path, []byte("stale"), -1))
	require.ErrorIs(t, err, coord.ErrNoNode)
	data, _, err := s.Get(ctx, path)
	require.NoError(t, err)
	require.Equal(t, "holder", string(data))
	recvT(t, l.Done())
	require.ErrorIs(t, l.Err(), ErrNodeGone)
	require.NoError(t, m.Unlock(ctx))
}

// TestMutexUnlockWith: the critical section's write and the release are one
// atomic write; a failing op leaves the lock held; a reentrant hold keeps
// the lock.
func TestMutexUnlockWith(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	s1, s2 := cl.session(t, 1, 4*time.Second), cl.session(t, 2, 4*time.Second)
	dir, value := root+"/lock", root+"/value"
	require.NoError(t, ensurePath(ctx, s1, value, coord.Persistent))
	a, b := NewMutex(s1, dir), NewMutex(s2, dir)

	l, err := a.Lock(ctx)
	require.NoError(t, err)
	got := granted(t, ctx, b.Lock)
	waitQueued(t, s1, dir, 2)

	// A failing op: nothing applies and the lock is still held.
	_, err = a.UnlockWith(ctx, coord.SetOp(value, []byte("x"), 7))
	require.ErrorIs(t, err, coord.ErrBadVersion)
	require.NoError(t, l.Err())
	requireBlocked(t, got, "lock after a failed UnlockWith")

	// Reentrant: the op applies, one hold is released, the lock stays.
	_, err = a.Lock(ctx)
	require.NoError(t, err)
	res, err := a.UnlockWith(ctx, coord.SetOp(value, []byte("1"), 0))
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.EqualValues(t, 1, res[0].Stat.Version)
	requireBlocked(t, got, "lock under a reentrant hold")

	res, err = a.UnlockWith(ctx, coord.SetOp(value, []byte("2"), 1))
	require.NoError(t, err)
	require.Len(t, res, 1)
	lb := requireGranted(t, got, "lock after UnlockWith")
	require.ErrorIs(t, l.Err(), ErrReleased)
	require.Greater(t, lb.Token(), l.Token())
	require.NoError(t, s2.Sync(ctx, "/"))
	data, _, err := s2.Get(ctx, value)
	require.NoError(t, err)
	require.Equal(t, "2", string(data))
	require.Nil(t, a.Lease())
	require.NoError(t, b.Unlock(ctx))
}

// A wait given up (its context ended) leaves no watch on the session:
// a contender that times out again and again must not pile watches on its
// predecessor, and an Observe or a Barrier wait that ends keeps none.
func TestCancelledWaitsLeaveNoWatches(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, time.Minute)
	holder := cl.session(t, 1, 4*time.Second)
	waiter := cl.session(t, 2, 4*time.Second)
	dir := root + "/cancelled/lock"
	l, err := NewMutex(holder, dir).Lock(ctx)
	require.NoError(t, err)
	m := NewMutex(waiter, dir)
	for range 5 {
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := m.Lock(wctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	assert.Zero(t, waiter.WatchCount(), "timed-out lock waits left watches")

	b := NewBarrier(waiter, root+"/cancelled/barrier")
	require.NoError(t, NewBarrier(holder, root+"/cancelled/barrier").Set(ctx))
	require.NoError(t, waiter.Sync(ctx, "/")) // the waiter's member sees the barrier
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	require.ErrorIs(t, b.Wait(wctx), context.DeadlineExceeded)
	cancel()
	assert.Zero(t, waiter.WatchCount(), "a timed-out barrier wait left a watch")

	octx, stop := context.WithCancel(ctx)
	leaders := NewElection(waiter, root+"/cancelled/election", "w").Observe(octx)
	select {
	case <-leaders:
	case <-time.After(10 * time.Second):
		t.Fatal("Observe sent nothing")
	}
	stop()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-leaders:
			return !ok
		default:
			return false
		}
	}, 10*time.Second, 5*time.Millisecond, "Observe did not end")
	assert.Zero(t, waiter.WatchCount(), "a stopped Observe left a watch")
	require.NoError(t, l.Err())
}
