package recipe

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord"
)

// The soak test runs only when asked for, for as long as asked:
//
//	go test -run TestSoak -recipe.soak 2m ./recipe/
var soakFor = flag.Duration("recipe.soak", 0, "run TestSoak for this long (0 skips it)")

// TestSoak mixes, for -recipe.soak: 12 lock contenders on three members (one
// Lock call in four is cancelled after 0-5 ms), holders that increment a
// counter with a versioned Set, and a queue with three producers and three
// consumers. At the end: no two holders overlapped, no update was lost,
// tokens rose in acquisition order, no lock node was left behind, and every
// item put was acknowledged exactly once.
func TestSoak(t *testing.T) {
	if *soakFor == 0 {
		t.Skip("set -recipe.soak (for example 2m) to run it")
	}
	cl := testCluster(t)
	ctx := ctxT(t, *soakFor+time.Minute)
	base := fmt.Sprintf("/t/soak/%d", time.Now().UnixNano())
	lockDir, counter, queueDir := base+"/lock", base+"/counter", base+"/queue"
	admin := cl.member(1).Session()
	require.NoError(t, ensurePath(ctx, admin, counter, coord.Persistent))
	deadline := time.Now().Add(*soakFor)

	var inside atomic.Bool
	var overlaps, lost, acquired, cancelled atomic.Int64
	var tokMu sync.Mutex
	var lastToken int64
	var wg sync.WaitGroup
	for i := range 12 {
		s := cl.session(t, uint64(i%3+1), 4*time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMutex(s, lockDir)
			for time.Now().Before(deadline) {
				lctx, cancel := context.WithCancel(ctx)
				if rand.IntN(4) == 0 {
					time.AfterFunc(time.Duration(rand.Int64N(int64(5*time.Millisecond))), cancel)
				}
				l, err := m.Lock(lctx)
				cancel()
				if err != nil {
					if !assert.True(t, errors.Is(err, context.Canceled) || errors.Is(err, coord.ErrNoQuorum), "%v", err) {
						return
					}
					cancelled.Add(1)
					continue
				}
				if !inside.CompareAndSwap(false, true) {
					overlaps.Add(1)
				}
				tokMu.Lock()
				assert.Greater(t, l.Token(), lastToken)
				lastToken = l.Token()
				tokMu.Unlock()
				data, st, err := s.Get(ctx, counter)
				if assert.NoError(t, err) {
					n, _ := strconv.Atoi(string(data))
					if _, err := s.Set(ctx, counter, []byte(strconv.Itoa(n+1)), st.Version); errors.Is(err, coord.ErrBadVersion) {
						lost.Add(1)
					}
				}
				acquired.Add(1)
				inside.Store(false)
				assert.NoError(t, m.Unlock(ctx))
			}
		}()
	}

	var put, acked atomic.Int64
	var ackMu sync.Mutex
	seen := map[string]int{}
	stopConsumers := make(chan struct{})
	var consumers sync.WaitGroup
	for i := range 3 {
		ps := cl.session(t, uint64(i+1), 4*time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := NewQueue(ps, queueDir)
			for n := 0; time.Now().Before(deadline); n++ {
				for put.Load()-acked.Load() > 100 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond) // keep the backlog short
				}
				if assert.NoError(t, q.Put(ctx, []byte(fmt.Sprintf("p%d-%d", i, n)))) {
					put.Add(1)
				}
			}
		}()
		cs := cl.session(t, uint64((i+1)%3+1), 4*time.Second)
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			q := NewQueue(cs, queueDir)
			for {
				it, err := q.TryTake(ctx)
				if !assert.NoError(t, err) {
					return
				}
				if it == nil {
					select {
					case <-stopConsumers:
						return
					case <-time.After(5 * time.Millisecond):
						continue
					}
				}
				if assert.NoError(t, it.Ack(ctx)) {
					ackMu.Lock()
					seen[string(it.Data)]++
					ackMu.Unlock()
					acked.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// Drain the queue, then stop the consumers.
	for acked.Load() < put.Load() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	close(stopConsumers)
	consumers.Wait()

	t.Logf("%v: %d acquisitions, %d cancelled Lock calls, %d items", *soakFor, acquired.Load(), cancelled.Load(), put.Load())
	assert.Zero(t, overlaps.Load(), "holders overlapped")
	assert.Zero(t, lost.Load(), "lost updates")
	require.NoError(t, admin.Sync(ctx, "/"))
	data, _, err := admin.Get(ctx, counter)
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(acquired.Load(), 10), string(data))
	assert.Empty(t, children(t, admin, lockDir), "lock nodes left behind")
	assert.Equal(t, put.Load(), acked.Load())
	for item, n := range seen {
		assert.Equal(t, 1, n, "%s acknowledged %d times", item, n)
	}
}
