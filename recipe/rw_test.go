package recipe

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord"
)

// granted starts a blocking acquisition and returns a channel that
// receives its Lease.
func granted(t *testing.T, ctx context.Context, lock func(context.Context) (*Lease, error)) <-chan *Lease {
	ch := make(chan *Lease, 1)
	go func() {
		l, err := lock(ctx)
		if assert.NoError(t, err) {
			ch <- l
		}
	}()
	return ch
}

func requireBlocked(t *testing.T, ch <-chan *Lease, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s was granted", what)
	case <-time.After(150 * time.Millisecond):
	}
}

func requireGranted(t *testing.T, ch <-chan *Lease, what string) *Lease {
	t.Helper()
	select {
	case l := <-ch:
		return l
	case <-time.After(5 * time.Second):
		t.Fatalf("%s was not granted", what)
		return nil
	}
}

// waitQueued waits until dir has n children as s sees them, so that the
// next contender queues behind them.
func waitQueued(t *testing.T, s *coord.Session, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(children(t, s, dir)) != n {
		require.True(t, time.Now().Before(deadline), "%s never had %d children", dir, n)
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRWMutex: readers share, a writer excludes, a reader that arrives
// after a waiting writer waits for it, and Downgrade lets the readers
// behind a writer in without letting the next writer in.
func TestRWMutex(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	dir := root + "/rw"
	s := []*coord.Session{cl.session(t, 1, 4*time.Second), cl.session(t, 2, 4*time.Second), cl.session(t, 3, 4*time.Second)}
	r1, r2 := NewRWMutex(s[0], dir), NewRWMutex(s[1], dir)
	l1, err := r1.RLock(ctx)
	require.NoError(t, err)
	l2, err := r2.RLock(ctx)
	require.NoError(t, err)
	require.Greater(t, l2.Token(), l1.Token())

	w := NewRWMutex(s[2], dir)
	wg := granted(t, ctx, w.Lock)
	waitQueued(t, s[2], dir, 3)
	requireBlocked(t, wg, "writer while readers hold")
	r3 := NewRWMutex(s[0], dir+"") // a second holder on session 1
	r3g := granted(t, ctx, r3.RLock)
	waitQueued(t, s[2], dir, 4)
	requireBlocked(t, r3g, "reader queued behind a writer")
	require.NoError(t, r1.RUnlock(ctx))
	requireBlocked(t, wg, "writer while one reader holds")
	require.NoError(t, r2.RUnlock(ctx))
	wl := requireGranted(t, wg, "writer")
	requireBlocked(t, r3g, "reader while the writer holds")

	// Queue a writer behind the reader, then downgrade: the reader gets in,
	// the writer does not.
	w2 := NewRWMutex(s[1], dir)
	w2g := granted(t, ctx, w2.Lock)
	waitQueued(t, s[2], dir, 3)
	require.NoError(t, w.Downgrade(ctx))
	require.NoError(t, wl.Err(), "downgrade ended the lease")
	r3l := requireGranted(t, r3g, "reader after downgrade")
	requireBlocked(t, w2g, "writer after downgrade")
	require.ErrorIs(t, w.Unlock(ctx), errMode)
	require.NoError(t, w.RUnlock(ctx))
	requireBlocked(t, w2g, "writer while a reader holds")
	require.NoError(t, r3.RUnlock(ctx))
	w2l := requireGranted(t, w2g, "second writer")
	require.Greater(t, w2l.Token(), r3l.Token())
	require.NoError(t, w2.Unlock(ctx))
	require.Empty(t, children(t, s[0], dir))
}

// TestSemaphore: at most N holders at a time, waiters served in arrival
// order.
func TestSemaphore(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	dir := root + "/sem"
	const n = 2
	var holding, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 6 {
		s := cl.session(t, uint64(i%3+1), 4*time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem := NewSemaphore(s, dir, n)
			for range 5 {
				l, err := sem.Acquire(ctx)
				if !assert.NoError(t, err) {
					return
				}
				h := holding.Add(1)
				for m := most.Load(); h > m && !most.CompareAndSwap(m, h); m = most.Load() {
				}
				time.Sleep(2 * time.Millisecond)
				holding.Add(-1)
				assert.NoError(t, sem.Release(ctx, l))
			}
		}()
	}
	wg.Wait()
	require.LessOrEqual(t, most.Load(), int32(n))
	require.Equal(t, int32(n), most.Load(), "never used both leases")

	// Fair order.
	s := cl.session(t, 1, 4*time.Second)
	holder := NewSemaphore(s, dir, n)
	a, err := holder.Acquire(ctx)
	require.NoError(t, err)
	b, err := holder.Acquire(ctx)
	require.NoError(t, err)
	var waits []<-chan *Lease
	for i := range 3 {
		waits = append(waits, granted(t, ctx, NewSemaphore(cl.session(t, uint64(i%3+1), 4*time.Second), dir, n).Acquire))
		waitQueued(t, s, dir, 3+i)
	}
	require.NoError(t, holder.Release(ctx, a))
	first := requireGranted(t, waits[0], "first waiter")
	requireBlocked(t, waits[1], "second waiter")
	require.NoError(t, holder.Release(ctx, b))
	second := requireGranted(t, waits[1], "second waiter")
	require.Greater(t, second.Token(), first.Token())
	requireBlocked(t, waits[2], "third waiter")
	// Free a lease: the third waiter gets in.
	require.NoError(t, cl.member(1).Session().Delete(ctx, first.Path(), -1))
	third := requireGranted(t, waits[2], "third waiter")
	require.Greater(t, third.Token(), second.Token())
	select {
	case <-first.Done():
		require.ErrorIs(t, first.Err(), ErrNodeGone)
	case <-time.After(5 * time.Second):
		t.Fatal("a lease whose node was deleted did not end")
	}
}

// TestLeaseLostOnSuspend: when a holder's member loses its quorum, its
// session goes Suspended and the Lease reports ErrMaybeLost long before
// anyone else could be granted the lock (the others must first expire the
// session). Runs its own ensemble, since it stops two members.
func TestLeaseLostOnSuspend(t *testing.T) {
	dir, err := os.MkdirTemp("", "recipe-suspend-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	cl, err := startCluster(dir, 3, nil)
	require.NoError(t, err)
	defer cl.close()
	ctx := ctxT(t, 30*time.Second)
	s := cl.session(t, 1, 10*time.Second)
	l, err := NewMutex(s, "/lock").Lock(ctx)
	require.NoError(t, err)
	term, err := NewElection(s, "/election", "a").Campaign(ctx)
	require.NoError(t, err)
	start := time.Now()
	cl.stop(2)
	cl.stop(3)
	for _, x := range []*Lease{l, term} {
		select {
		case <-x.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("lease not lost after the quorum went")
		}
		require.ErrorIs(t, x.Err(), ErrMaybeLost)
	}
	t.Logf("lease reported lost %v after the quorum went (session timeout 10s)", time.Since(start))
	require.Equal(t, coord.Suspended, s.CurrentState())
}

// TestBarriers: a Barrier holds waiters until removed; a DoubleBarrier makes
// three participants on three members enter and leave together.
func TestBarriers(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	s := []*coord.Session{cl.session(t, 1, 4*time.Second), cl.session(t, 2, 4*time.Second), cl.session(t, 3, 4*time.Second)}

	b := NewBarrier(s[0], root+"/barrier/gate")
	require.NoError(t, b.Set(ctx))
	released := make(chan error, 2)
	for _, ss := range s[1:] {
		require.NoError(t, ss.Sync(ctx, "/"))
		go func() { released <- NewBarrier(ss, root+"/barrier/gate").Wait(ctx) }()
	}
	select {
	case <-released:
		t.Fatal("waiter passed a raised barrier")
	case <-time.After(150 * time.Millisecond):
	}
	require.NoError(t, b.Remove(ctx))
	require.NoError(t, recvT(t, released))
	require.NoError(t, recvT(t, released))

	dir := root + "/barrier/double"
	var entered, left atomic.Int32
	phase := make(chan string, 6)
	var wg sync.WaitGroup
	for i, ss := range s {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond) // arrive one by one
			db := NewDoubleBarrier(ss, dir, 3)
			if !assert.NoError(t, db.Enter(ctx)) {
				return
			}
			phase <- fmt.Sprintf("entered with %d in", entered.Add(1))
			time.Sleep(time.Duration(2-i) * 100 * time.Millisecond) // leave one by one
			left.Add(1)
			if !assert.NoError(t, db.Leave(ctx)) {
				return
			}
			assert.EqualValues(t, 3, left.Load(), "left before everyone had left")
		}()
	}
	wg.Wait()
	close(phase)
	require.EqualValues(t, 3, entered.Load())
	require.Empty(t, children(t, s[0], dir), "double barrier left nodes")
}
