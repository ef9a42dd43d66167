package recipe

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueueExactlyOnce: three consumers on three members compete for 60
// items while a fourth consumer, a member in a child process, claims an
// item and is SIGKILLed mid-item. Every item is acknowledged exactly once;
// the killed consumer's item is taken over after its session expires, with
// a higher fencing token.
func TestQueueExactlyOnce(t *testing.T) {
	cl := testCluster(t)
	ctx := ctxT(t, time.Minute)
	const items = 60
	dir := fmt.Sprintf("/t/queue/%d", time.Now().UnixNano())
	ch := cl.startChild(t, "queue", "RECIPE_PATH="+dir, "RECIPE_SESSION_TIMEOUT=2s")

	producer := NewQueue(cl.session(t, 1, 4*time.Second), dir)
	for i := range items {
		require.NoError(t, producer.Put(ctx, []byte(fmt.Sprintf("item-%02d", i))))
	}
	f := ch.expect(t, "ITEM ", 30*time.Second)
	killedItem, killedToken := f[0], atoi64(t, f[1])
	killed := ch.kill()

	var mu sync.Mutex
	acked := map[string]int{}
	var takeover time.Duration
	var takeoverToken int64
	var done atomic.Int32
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for c := range 3 {
		s := cl.session(t, uint64(c+1), 4*time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := NewQueue(s, dir)
			for {
				it, err := q.Take(cctx)
				if cctx.Err() != nil {
					return
				}
				if !assert.NoError(t, err) {
					return
				}
				time.Sleep(time.Millisecond) // process it
				if !assert.NoError(t, it.Ack(ctx)) {
					continue
				}
				mu.Lock()
				acked[string(it.Data)]++
				if it.Name == killedItem {
					takeover, takeoverToken = time.Since(killed), it.Token
				}
				mu.Unlock()
				if done.Add(1) == items {
					stop()
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, acked, items)
	for data, n := range acked {
		require.Equal(t, 1, n, "%s acknowledged %d times", data, n)
	}
	t.Logf("the killed consumer's item was taken over %v after SIGKILL", takeover)
	require.Greater(t, takeoverToken, killedToken)
	require.GreaterOrEqual(t, takeover, 2*time.Second-300*time.Millisecond)
	require.NoError(t, producer.items.s.Sync(ctx, "/"))
	n, err := producer.Len(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Empty(t, children(t, producer.items.s, dir+"/claims"))
}

// TestQueueAckAfterClaimLost: a consumer whose session ends mid-item cannot
// acknowledge it; another consumer gets it once the session expired.
func TestQueueAckAfterClaimLost(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	dir := root + "/queue-lost"
	sa, sb := cl.session(t, 1, 2*time.Second), cl.session(t, 2, 2*time.Second)
	qa, qb := NewQueue(sa, dir), NewQueue(sb, dir)
	require.NoError(t, qa.Put(ctx, []byte("x")))
	a, err := qa.Take(ctx)
	require.NoError(t, err)
	// a's client goes away: its member stops renewing the session.
	require.NoError(t, sa.Detach(ctx))
	require.NoError(t, sb.Sync(ctx, "/"))
	it, err := qb.TryTake(ctx)
	require.NoError(t, err)
	require.Nil(t, it, "claimed item handed out twice")
	b, err := qb.Take(ctx)
	require.NoError(t, err)
	require.Equal(t, "x", string(b.Data))
	require.Greater(t, b.Token, a.Token)
	require.Error(t, a.Ack(ctx))
	require.NoError(t, b.Ack(ctx))
}

// TestQueueFIFO: one consumer sees items in the order they were put;
// Release gives an item back at its place.
func TestQueueFIFO(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	s := cl.session(t, 3, 4*time.Second)
	q := NewQueue(s, root+"/fifo")
	for i := range 5 {
		require.NoError(t, q.Put(ctx, []byte{byte('a' + i)}))
	}
	first, err := q.Take(ctx)
	require.NoError(t, err)
	require.Equal(t, "a", string(first.Data))
	require.NoError(t, first.Release(ctx))
	var got string
	for range 5 {
		it, err := q.Take(ctx)
		require.NoError(t, err)
		got += string(it.Data)
		require.NoError(t, it.Ack(ctx))
	}
	require.Equal(t, "abcde", got)
	it, err := q.TryTake(ctx)
	require.NoError(t, err)
	require.Nil(t, it)
}
