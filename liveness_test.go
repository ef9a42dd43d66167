package coord

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeGaps runs one writer on c until stop closes and reports the longest
// time a single write took (a write that fails counts until the next one
// succeeds).
func writeGaps(t *testing.T, c *Coord, path string, stop <-chan struct{}) (longest func() time.Duration) {
	t.Helper()
	s := c.Session()
	_, err := s.Create(context.Background(), path, nil, Persistent)
	require.NoError(t, err)
	var mu sync.Mutex
	var worst time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := s.Set(ctx, path, []byte("x"), -1)
			cancel()
			if err != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			worst = max(worst, now.Sub(last))
			mu.Unlock()
			last = now
		}
	}()
	return func() time.Duration {
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Fatal("writer did not stop")
		}
		mu.Lock()
		defer mu.Unlock()
		return worst
	}
}

// A follower that comes back far behind must catch up without stalling the
// leader. Dragonboat's leader reads a lagging follower's whole backlog (up
// to 64 MiB) from the log store on its only step goroutine, once per
// heartbeat response while the follower has not acknowledged, and the log
// store reads one file record per saved batch: with a few thousand entries
// behind, the leader stopped heartbeating, committing and voting for
// seconds at a time, and a healthy majority stopped serving for as long as
// the lagging member was up (issue 9). The log store now serves recent
// entries from memory and bounds what one read returns.
func TestLaggingFollowerDoesNotStallLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a backlog of thousands of entries")
	}
	tc := newTestCluster(t, 3, func(o *Options) {
		// Catch up from the log, not from a snapshot.
		o.SnapshotEntries = 1 << 20
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lag := tc.follower()
	tc.crash(lag)
	leader := tc.get(tc.leader())

	// A backlog of single-entry batches, as sequential clients make.
	s := leader.Session()
	_, err := s.Create(ctx, "/backlog", nil, Persistent)
	require.NoError(t, err)
	const writers, each = 2, 3000
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fmt.Sprintf("/backlog/w%d", w)
			if _, err := s.Create(ctx, p, nil, Persistent); err != nil {
				errs <- err
				return
			}
			for i := 0; i < each; i++ {
				if _, err := s.Set(ctx, p, []byte(fmt.Sprint(i)), -1); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	stop := make(chan struct{})
	longest := writeGaps(t, leader, "/during-catch-up", stop)
	diskBefore := leader.logStats.DiskEntries.Load()
	start := time.Now()
	c := tc.restart(lag)
	require.Eventually(t, func() bool {
		ok, _, _ := c.Session().Exists(ctx, fmt.Sprintf("/backlog/w%d", writers-1))
		return ok && c.LastZxid() >= leader.LastZxid()-100
	}, 60*time.Second, 20*time.Millisecond, "the lagging member did not catch up")
	// And it writes through the leader.
	for i := 0; i < 50; i++ {
		_, err := c.Session().Set(ctx, "/backlog/w0", nil, -1)
		require.NoError(t, err)
	}
	close(stop)
	worst := longest()
	t.Logf("caught up in %v; longest write on the leader meanwhile %v", time.Since(start), worst)
	require.Zero(t, leader.logStats.DiskEntries.Load()-diskBefore,
		"the leader read the lagging member's backlog from the disk")
	// The bound is liveness, not speed: an election takes well under a
	// second here, the stall took several.
	require.Less(t, worst, 2*time.Second, "the leader stopped serving while a follower caught up")
}

// A member that cannot find its ensemble says which peers it heard from.
func TestOpenWithoutQuorumSaysWhichPeersAnswered(t *testing.T) {
	addrs := freeAddrs(t, 3)
	members := map[uint64]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := Open(ctx, Options{ID: 1, Members: members, DataDir: t.TempDir()})
	require.Error(t, err)
	msg := err.Error()
	t.Log(msg)
	require.Contains(t, msg, "found no leader")
	require.Contains(t, msg, addrs[1]+" never heard from")
	require.Contains(t, msg, addrs[2]+" never heard from")
	require.Contains(t, msg, "connection refused")
}
