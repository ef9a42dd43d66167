package coord

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/testenv"
)

func freeAddrs(t testing.TB, n int) []string { return testenv.FreeAddrs(t, n) }

// testCluster runs an ensemble of members in this process.
type testCluster struct {
	t       testing.TB
	dir     string
	members map[uint64]string
	tweak   func(*Options)

	mu sync.Mutex
	m  map[uint64]*Coord
}

// newTestCluster starts n members and waits until all have opened.
func newTestCluster(t testing.TB, n int, tweak func(*Options)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, dir: t.TempDir(), members: map[uint64]string{}, tweak: tweak, m: map[uint64]*Coord{}}
	for i, a := range freeAddrs(t, n) {
		tc.members[uint64(i+1)] = a
	}
	t.Cleanup(tc.closeAll)
	ids := make([]uint64, 0, n)
	for id := range tc.members {
		ids = append(ids, id)
	}
	tc.startAll(ids...)
	return tc
}

// startAll opens members at once (Open waits for a quorum) and fails the
// test if one does not open.
func (tc *testCluster) startAll(ids ...uint64) {
	tc.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = tc.start(id, false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(tc.t, err)
	}
}

func (tc *testCluster) options(id uint64) Options {
	o := Options{
		ID:      id,
		Members: tc.members,
		DataDir: filepath.Join(tc.dir, fmt.Sprintf("m%d", id)),
	}
	if os.Getenv("COORD_TEST_LOG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if tc.tweak != nil {
		tc.tweak(&o)
	}
	return o
}

func (tc *testCluster) start(id uint64, join bool) (*Coord, error) {
	o := tc.options(id)
	o.Join = join
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Open(ctx, o)
	if err != nil {
		return nil, err
	}
	tc.mu.Lock()
	tc.m[id] = c
	tc.mu.Unlock()
	return c, nil
}

func (tc *testCluster) get(id uint64) *Coord {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.m[id]
}

// stop closes a member gracefully.
func (tc *testCluster) stop(id uint64) {
	tc.mu.Lock()
	c := tc.m[id]
	delete(tc.m, id)
	tc.mu.Unlock()
	if c != nil {
		require.NoError(tc.t, c.Close())
	}
}

// crash stops a member the way a crash would: its sessions are not closed.
func (tc *testCluster) crash(id uint64) {
	tc.mu.Lock()
	c := tc.m[id]
	delete(tc.m, id)
	tc.mu.Unlock()
	if c != nil {
		c.host.close()
		c.shutdown()
	}
}

func (tc *testCluster) restart(id uint64) *Coord {
	tc.t.Helper()
	c, err := tc.start(id, false)
	require.NoError(tc.t, err)
	return c
}

func (tc *testCluster) closeAll() {
	tc.mu.Lock()
	ms := tc.m
	tc.m = map[uint64]*Coord{}
	tc.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close()
		}()
	}
	wg.Wait()
}

// leader returns the member that leads, waiting for one.
func (tc *testCluster) leader() uint64 {
	tc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tc.mu.Lock()
		for _, c := range tc.m {
			if id, ok := c.Leader(); ok {
				if _, live := tc.m[id]; live {
					tc.mu.Unlock()
					return id
				}
			}
		}
		tc.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	tc.t.Fatal("no leader")
	return 0
}

// follower returns some live member that is not the leader.
func (tc *testCluster) follower() uint64 {
	l := tc.leader()
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for id := range tc.m {
		if id != l {
			return id
		}
	}
	tc.t.Fatal("no follower")
	return 0
}

// ctxT bounds a test's calls; generous, since -race and the invariants
// tag slow everything down.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
