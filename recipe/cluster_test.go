package recipe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/testenv"
)

// The tests share one three-member ensemble, started by the first test that
// needs it and closed by TestMain. Each test works under its own path.
// Tests that kill a member re-execute this test binary as a child process
// (see runChild) that joins the ensemble as a fourth member.

func TestMain(m *testing.M) {
	if role := testenv.Role(); role != "" {
		os.Exit(runChild(role))
	}
	code := m.Run()
	sharedCluster.close()
	os.Exit(code)
}

var sharedCluster lazyCluster

type lazyCluster struct {
	once sync.Once
	c    *cluster
	err  error
	dir  string
}

func (l *lazyCluster) get(t testing.TB) *cluster {
	t.Helper()
	l.once.Do(func() {
		l.dir, l.err = os.MkdirTemp("", "recipe-test-")
		if l.err == nil {
			l.c, l.err = startCluster(l.dir, 3, nil)
		}
	})
	require.NoError(t, l.err)
	return l.c
}

func (l *lazyCluster) close() {
	if l.c != nil {
		l.c.close()
	}
	if l.dir != "" {
		os.RemoveAll(l.dir)
	}
}

// testCluster returns the shared ensemble.
func testCluster(t testing.TB) *cluster { return sharedCluster.get(t) }

// cluster is an ensemble of members in this process.
type cluster struct {
	e *testenv.Ensemble[*coord.Coord]
}

// startCluster starts n members concurrently (Open blocks until a leader
// exists), with their data directories in dir.
func startCluster(dir string, n int, tweak func(*coord.Options)) (*cluster, error) {
	e, err := testenv.NewSharedEnsemble(testenv.Config[*coord.Coord]{
		N:           n,
		Dir:         dir,
		OpenTimeout: time.Minute,
		Open: func(ctx context.Context, s testenv.Spec) (*coord.Coord, error) {
			o := coord.Options{ID: s.ID, Members: s.Members, DataDir: s.Dir, Logger: testenv.Logger()}
			if tweak != nil {
				tweak(&o)
			}
			return coord.Open(ctx, o)
		},
		// Sessions first, while there is a quorum to close them.
		Drain: func(m *coord.Coord) { m.Session().Close() },
	})
	if err != nil {
		return nil, err
	}
	c := &cluster{e: e}
	ids := make([]uint64, 0, n)
	for id := range e.Members() {
		ids = append(ids, id)
	}
	if err := e.Start(ids...); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *cluster) member(id uint64) *coord.Coord {
	m, _ := c.e.Get(id)
	return m
}

// stop closes one member (gracefully: its sessions close).
func (c *cluster) stop(id uint64) {
	_ = c.e.Stop(id) // it stops even if its sessions could not close
}

func (c *cluster) close() {
	_ = c.e.CloseAll() // members stop even if their sessions could not close
}

// session opens a session on member id (1..3) with timeout, closed when the
// test ends.
func (c *cluster) session(t testing.TB, id uint64, timeout time.Duration) *coord.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := c.member(id).NewSession(ctx, coord.WithSessionTimeout(timeout))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// recvT receives one value, failing the test instead of hanging.
func recvT[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("nothing received within 30s")
	}
	var zero T
	return zero
}

// ctxT returns a context that ends with the test or after d.
func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// children lists dir after syncing s's member; a missing dir is empty.
func children(t testing.TB, s *coord.Session, dir string) []string {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	require.NoError(t, s.Sync(ctx, "/"))
	kids, _, err := s.Children(ctx, dir)
	if err != nil {
		require.ErrorIs(t, err, coord.ErrNoNode)
		return nil
	}
	return kids
}

// ---- child processes ----

// child is this test binary re-executed as a member that joins the
// ensemble and plays a role; the test SIGKILLs it.
type child struct {
	*testenv.Child
	id   uint64
	once sync.Once
	c    *cluster
}

// startChild adds a member to the ensemble and starts it in a child
// process with role and extra environment (KEY=VALUE, KEY one of
// RECIPE_PATH and RECIPE_SESSION_TIMEOUT). The member is removed from the
// ensemble when the test ends.
func (c *cluster) startChild(t testing.TB, role string, env ...string) *child {
	t.Helper()
	id, addr, err := c.e.Reserve()
	require.NoError(t, err)
	ctx := ctxT(t, 30*time.Second)
	require.NoError(t, c.member(1).AddMember(ctx, id, addr))
	spec := testenv.Spec{ID: id, Addr: addr, Dir: filepath.Join(t.TempDir(), "child"), Join: true}
	args := spec.Args(coord.FormatMembers)
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, "child environment %q is not KEY=VALUE", kv)
		args[strings.TrimPrefix(k, "RECIPE_")] = v
	}
	ch := &child{Child: testenv.StartChild(t, testenv.ChildConfig{Role: role, Args: args}), id: id, c: c}
	t.Cleanup(func() { ch.remove(t) })
	return ch
}

// remove kills the child if it still runs and removes its member from the
// ensemble, so that later tests keep a quorum of live members.
func (ch *child) remove(t testing.TB) {
	ch.once.Do(func() {
		ch.kill()
		if err := ch.Wait(30 * time.Second); err != nil {
			t.Fatal("the killed child did not exit")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := ch.c.member(1).RemoveMember(ctx, ch.id); err != nil {
			t.Logf("removing child member %d: %v", ch.id, err)
		}
	})
}

// expect waits for a line that starts with prefix and returns its fields
// after the prefix.
func (ch *child) expect(t testing.TB, prefix string, timeout time.Duration) []string {
	t.Helper()
	return ch.Expect(t, prefix, timeout)
}

// kill SIGKILLs the child and returns when.
func (ch *child) kill() time.Time {
	at := time.Now()
	_ = ch.Kill() // fails only if it has exited already
	return at
}

func atoi64(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}

// runChild is the child process: it joins the ensemble, plays its role,
// prints what the parent waits for and then blocks until it is killed.
func runChild(role string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
		return 1
	}
	spec, err := testenv.ChildSpec(coord.ParseMembers)
	if err != nil {
		return fail(err)
	}
	timeout, _ := time.ParseDuration(testenv.Arg("SESSION_TIMEOUT"))
	path := testenv.Arg("PATH")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := coord.Open(ctx, coord.Options{ID: spec.ID, Join: spec.Join, Addr: spec.Addr, DataDir: spec.Dir, Logger: testenv.Logger()})
	if err != nil {
		return fail(err)
	}
	s, err := c.NewSession(ctx, coord.WithSessionTimeout(timeout))
	if err != nil {
		return fail(err)
	}
	switch role {
	case "lock":
		l, err := NewMutex(s, path).Lock(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Printf("TOKEN %d %d\n", l.Token(), s.ID())
	case "elect":
		l, err := NewElection(s, path, "child").Campaign(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Printf("TOKEN %d %d\n", l.Token(), s.ID())
	case "queue":
		it, err := NewQueue(s, path).Take(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Printf("ITEM %s %d\n", it.Name, it.Token)
	default:
		return fail(fmt.Errorf("unknown role"))
	}
	select {} // until SIGKILL
}

// testRoot returns a path of the test's own in the shared ensemble, new
// for every run (go test -count).
func testRoot(t testing.TB) string {
	return fmt.Sprintf("/t/%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}
