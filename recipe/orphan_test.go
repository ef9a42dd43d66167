package recipe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord"
)

// lostReply is what coord returns when a write's context ends before its
// reply: the write may still apply.
func lostReply(cause error) error { return fmt.Errorf("%w: %w", coord.ErrNoQuorum, cause) }

// TestLostReplyAdopted: the create applies but its reply is lost while the
// call's context is still live. The lock adopts the node carrying its guid
// instead of creating a second one.
func TestLostReplyAdopted(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	dir := root + "/lost/adopted"
	s := cl.session(t, 2, 4*time.Second)
	m := NewMutex(s, dir)
	var created, found atomic.Int32
	m.c.create = func(ctx context.Context, s *coord.Session, path string, data []byte, mode coord.CreateMode) (string, *coord.Stat, error) {
		if _, _, err := createNode(context.Background(), s, path, data, mode); err != nil {
			return "", nil, err // the directory is missing at first
		}
		created.Add(1)
		return "", nil, lostReply(context.DeadlineExceeded)
	}
	m.c.onResolve = func(f bool, err error) {
		assert.NoError(t, err)
		if f {
			found.Add(1)
		}
	}
	l, err := m.Lock(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, created.Load(), "the create was retried")
	require.EqualValues(t, 1, found.Load())
	kids := children(t, s, dir)
	require.Equal(t, []string{baseName(l.Path())}, kids)
	require.NoError(t, m.Unlock(ctx))
	require.Empty(t, children(t, s, dir))
}

// TestLostReplyCancelled: the create applies, its reply is lost and the
// call's context ends. Lock returns the context's error and deletes the
// node, so another contender is not blocked.
func TestLostReplyCancelled(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	dir := root + "/lost/cancelled"
	s := cl.session(t, 3, 4*time.Second)
	m := NewMutex(s, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.c.create = func(_ context.Context, s *coord.Session, path string, data []byte, mode coord.CreateMode) (string, *coord.Stat, error) {
		if _, _, err := createNode(context.Background(), s, path, data, mode); err != nil {
			return "", nil, err
		}
		cancel()
		return "", nil, lostReply(context.Canceled)
	}
	_, err := m.Lock(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, children(t, s, dir), "orphan lock node")

	other := NewMutex(cl.session(t, 1, 4*time.Second), dir)
	octx := ctxT(t, 5*time.Second)
	_, err = other.Lock(octx)
	require.NoError(t, err)
	require.NoError(t, other.Unlock(octx))
}

// TestLostRequestRetried: the create never reached the log. After the
// fence proves it never will, the lock creates again (once).
func TestLostRequestRetried(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	dir := root + "/lost/request"
	s := cl.session(t, 1, 4*time.Second)
	m := NewMutex(s, dir)
	var lostOne, created atomic.Int32
	m.c.create = func(ctx context.Context, s *coord.Session, path string, data []byte, mode coord.CreateMode) (string, *coord.Stat, error) {
		if lostOne.Add(1) == 1 {
			return "", nil, lostReply(context.DeadlineExceeded)
		}
		p, st, err := createNode(ctx, s, path, data, mode)
		if err == nil {
			created.Add(1)
		}
		return p, st, err
	}
	_, err := m.Lock(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, created.Load())
	require.Len(t, children(t, s, dir), 1)
	require.NoError(t, m.Unlock(ctx))
}

// TestQueuePutLostReply: a Put whose reply is lost is not duplicated.
func TestQueuePutLostReply(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	s := cl.session(t, 2, 4*time.Second)
	q := NewQueue(s, root+"/lost/queue")
	q.items.create = func(ctx context.Context, s *coord.Session, path string, data []byte, mode coord.CreateMode) (string, *coord.Stat, error) {
		if _, _, err := createNode(ctx, s, path, data, mode); err != nil {
			return "", nil, err
		}
		return "", nil, lostReply(context.DeadlineExceeded)
	}
	require.NoError(t, q.Put(ctx, []byte("once")))
	n, err := q.Len(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	it, err := q.Take(ctx)
	require.NoError(t, err)
	require.Equal(t, "once", string(it.Data))
	require.NoError(t, it.Ack(ctx))
}

// TestRandomDeadlinesLeaveNoOrphans drives the real unknown-outcome path:
// contenders on two members call Lock and give up after 0-4 ms, so many
// creates are cut off mid-proposal and some of them apply after their
// caller gave up. Meanwhile a holder on another member takes and releases
// the lock. At the end no lock node is left and the lock still works.
func TestRandomDeadlinesLeaveNoOrphans(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, time.Minute)
	dir := root + "/lost/random"
	attempts := 300
	if testing.Short() {
		attempts = 100
	}
	var uncertainCreates, found, acquired atomic.Int32
	stop := make(chan struct{})
	var holder sync.WaitGroup
	holder.Add(1)
	go func() {
		defer holder.Done()
		m := NewMutex(cl.session(t, 1, 4*time.Second), dir)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := m.Lock(ctx)
			if !assert.NoError(t, err) {
				return
			}
			time.Sleep(time.Millisecond)
			assert.NoError(t, m.Unlock(ctx))
		}
	}()
	var wg sync.WaitGroup
	for w := range 3 {
		s := cl.session(t, uint64(w%2+2), 4*time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMutex(s, dir)
			m.c.create = func(ctx context.Context, s *coord.Session, path string, data []byte, mode coord.CreateMode) (string, *coord.Stat, error) {
				p, st, err := createNode(ctx, s, path, data, mode)
				if uncertain(err) {
					uncertainCreates.Add(1)
				}
				return p, st, err
			}
			m.c.onResolve = func(f bool, err error) {
				assert.NoError(t, err)
				if f {
					found.Add(1)
				}
			}
			for range attempts / 3 {
				// Cancel (rather than a deadline: Dragonboat refuses
				// deadlines under one tick before proposing anything).
				actx, cancel := context.WithCancel(ctx)
				timer := time.AfterFunc(time.Duration(rand.Int64N(int64(4*time.Millisecond))), cancel)
				_, err := m.Lock(actx)
				timer.Stop()
				cancel()
				if err == nil {
					acquired.Add(1)
					assert.NoError(t, m.Unlock(ctx))
					continue
				}
				assert.True(t, errors.Is(err, context.Canceled) || errors.Is(err, coord.ErrNoQuorum), "%v", err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	holder.Wait()
	t.Logf("%d attempts: %d acquired, %d creates cut off mid-proposal, %d of them had applied (found and deleted)",
		attempts, acquired.Load(), uncertainCreates.Load(), found.Load())
	require.Positive(t, uncertainCreates.Load(), "no create was cut off; the test proves nothing")
	for id := uint64(1); id <= 3; id++ {
		require.Empty(t, children(t, cl.member(id).Session(), dir), "orphans seen from member %d", id)
	}
	m := NewMutex(cl.session(t, 3, 4*time.Second), dir)
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := m.Lock(lctx)
	require.NoError(t, err, "the lock is blocked")
	require.NoError(t, m.Unlock(ctx))
}

// TestCancelledWaitsLeaveNoNodes: every blocking call returns promptly
// when its context ends and deletes what it created.
func TestCancelledWaitsLeaveNoNodes(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, time.Minute)
	holderS := cl.session(t, 1, 4*time.Second)
	waiterS := cl.session(t, 2, 4*time.Second)
	const wait = 200 * time.Millisecond

	// cancelled runs a call that must block, with a short deadline, and
	// checks it returns the deadline's error promptly.
	cancelled := func(t *testing.T, name string, call func(ctx context.Context) error) {
		t.Helper()
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		err := call(wctx)
		took := time.Since(start)
		require.ErrorIs(t, err, context.DeadlineExceeded, name)
		require.Less(t, took, wait+time.Second, "%s returned %v after its deadline", name, took-wait)
	}

	t.Run("Mutex", func(t *testing.T) {
		dir := root + "/cancel/mutex"
		h := NewMutex(holderS, dir)
		_, err := h.Lock(ctx)
		require.NoError(t, err)
		for i := range 3 {
			cancelled(t, "Mutex.Lock", func(ctx context.Context) error {
				_, err := NewMutex(waiterS, dir).Lock(ctx)
				return err
			})
			require.Len(t, children(t, waiterS, dir), 1, "round %d", i)
		}
		require.NoError(t, h.Unlock(ctx))
		require.Empty(t, children(t, waiterS, dir))
	})
	t.Run("RWMutex", func(t *testing.T) {
		dir := root + "/cancel/rw"
		h := NewRWMutex(holderS, dir)
		_, err := h.Lock(ctx)
		require.NoError(t, err)
		cancelled(t, "RWMutex.RLock", func(ctx context.Context) error {
			_, err := NewRWMutex(waiterS, dir).RLock(ctx)
			return err
		})
		require.NoError(t, h.Unlock(ctx))
		_, err = h.RLock(ctx)
		require.NoError(t, err)
		cancelled(t, "RWMutex.Lock", func(ctx context.Context) error {
			_, err := NewRWMutex(waiterS, dir).Lock(ctx)
			return err
		})
		require.Len(t, children(t, waiterS, dir), 1)
		require.NoError(t, h.RUnlock(ctx))
		require.Empty(t, children(t, waiterS, dir))
	})
	t.Run("Semaphore", func(t *testing.T) {
		dir := root + "/cancel/sem"
		h := NewSemaphore(holderS, dir, 2)
		l1, err := h.Acquire(ctx)
		require.NoError(t, err)
		l2, err := h.Acquire(ctx)
		require.NoError(t, err)
		cancelled(t, "Semaphore.Acquire", func(ctx context.Context) error {
			_, err := NewSemaphore(waiterS, dir, 2).Acquire(ctx)
			return err
		})
		require.Len(t, children(t, waiterS, dir), 2)
		require.NoError(t, h.Release(ctx, l1))
		require.NoError(t, h.Release(ctx, l2))
		require.Empty(t, children(t, waiterS, dir))
	})
	t.Run("Election", func(t *testing.T) {
		dir := root + "/cancel/election"
		h := NewElection(holderS, dir, "h")
		_, err := h.Campaign(ctx)
		require.NoError(t, err)
		cancelled(t, "Election.Campaign", func(ctx context.Context) error {
			_, err := NewElection(waiterS, dir, "w").Campaign(ctx)
			return err
		})
		require.Len(t, children(t, waiterS, dir), 1)
		require.NoError(t, h.Resign(ctx))
		require.Empty(t, children(t, waiterS, dir))
	})
	t.Run("DoubleBarrier", func(t *testing.T) {
		dir := root + "/cancel/dbarrier"
		cancelled(t, "DoubleBarrier.Enter", func(ctx context.Context) error {
			return NewDoubleBarrier(waiterS, dir, 3).Enter(ctx)
		})
		require.Empty(t, children(t, waiterS, dir))
	})
	t.Run("Barrier", func(t *testing.T) {
		b := NewBarrier(holderS, root+"/cancel/barrier")
		require.NoError(t, b.Set(ctx))
		require.NoError(t, waiterS.Sync(ctx, "/"))
		cancelled(t, "Barrier.Wait", NewBarrier(waiterS, root+"/cancel/barrier").Wait)
		require.NoError(t, b.Remove(ctx))
	})
	t.Run("Queue", func(t *testing.T) {
		q := NewQueue(waiterS, root+"/cancel/queue")
		cancelled(t, "Queue.Take", func(ctx context.Context) error {
			_, err := q.Take(ctx)
			return err
		})
		require.Empty(t, children(t, waiterS, root+"/cancel/queue/claims"))
	})
}
