package recipe

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord"
)

// The tests share one three-member ensemble, started by the first test that
// needs it and closed by TestMain. Each test works under its own path.
// Tests that kill a member re-execute this test binary as a child process
// (see runChild) that joins the ensemble as a fourth member.

func TestMain(m *testing.M) {
	if role := os.Getenv("RECIPE_CHILD"); role != "" {
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
	dir   string
	addrs map[uint64]string
	tweak func(*coord.Options)

	mu      sync.Mutex
	members map[uint64]*coord.Coord
	nextID  uint64
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func testLogger() *slog.Logger {
	if os.Getenv("COORD_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startCluster starts n members concurrently (Open blocks until a leader
// exists).
func startCluster(dir string, n int, tweak func(*coord.Options)) (*cluster, error) {
	c := &cluster{dir: dir, addrs: map[uint64]string{}, tweak: tweak, members: map[uint64]*coord.Coord{}, nextID: uint64(n) + 1}
	for i := 1; i <= n; i++ {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		c.addrs[uint64(i)] = a
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for id := range c.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := coord.Options{ID: id, Members: c.addrs, DataDir: filepath.Join(dir, fmt.Sprintf("m%d", id)), Logger: testLogger()}
			if tweak != nil {
				tweak(&o)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			m, err := coord.Open(ctx, o)
			if err != nil {
				errs <- err
				return
			}
			c.mu.Lock()
			c.members[id] = m
			c.mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *cluster) member(id uint64) *coord.Coord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id]
}

// stop closes one member (gracefully: its sessions close).
func (c *cluster) stop(id uint64) {
	c.mu.Lock()
	m := c.members[id]
	delete(c.members, id)
	c.mu.Unlock()
	if m != nil {
		m.Close()
	}
}

func (c *cluster) close() {
	c.mu.Lock()
	ms := c.members
	c.members = map[uint64]*coord.Coord{}
	c.mu.Unlock()
	// Sessions first, while there is a quorum to close them.
	for _, step := range []func(*coord.Coord){
		func(m *coord.Coord) { m.Session().Close() },
		func(m *coord.Coord) { m.Close() },
	} {
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				step(m)
			}()
		}
		wg.Wait()
	}
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
	id    uint64
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	once  sync.Once
	c     *cluster
}

// startChild adds a member to the ensemble and starts it in a child
// process with role and extra environment (KEY=VALUE). The member is
// removed from the ensemble when the test ends.
func (c *cluster) startChild(t testing.TB, role string, env ...string) *child {
	t.Helper()
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.mu.Unlock()
	addr, err := freeAddr()
	require.NoError(t, err)
	ctx := ctxT(t, 30*time.Second)
	require.NoError(t, c.member(1).AddMember(ctx, id, addr))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"RECIPE_CHILD="+role,
		fmt.Sprintf("RECIPE_ID=%d", id),
		"RECIPE_ADDR="+addr,
		"RECIPE_DIR="+filepath.Join(t.TempDir(), "child"),
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ch := &child{id: id, cmd: cmd, lines: make(chan string, 16), done: make(chan struct{}), c: c}
	go func() {
		defer close(ch.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ch.lines <- sc.Text()
		}
	}()
	go func() {
		cmd.Wait()
		close(ch.done)
	}()
	t.Cleanup(func() { ch.remove(t) })
	return ch
}

// remove kills the child if it still runs and removes its member from the
// ensemble, so that later tests keep a quorum of live members.
func (ch *child) remove(t testing.TB) {
	ch.once.Do(func() {
		ch.kill()
		select {
		case <-ch.done:
		case <-time.After(30 * time.Second):
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
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-ch.lines:
			if !ok {
				t.Fatalf("child exited before printing %q", prefix)
			}
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return strings.Fields(rest)
			}
		case <-deadline:
			t.Fatalf("child printed no %q within %v", prefix, timeout)
		}
	}
}

// kill SIGKILLs the child and returns when.
func (ch *child) kill() time.Time {
	at := time.Now()
	if ch.cmd.Process != nil {
		ch.cmd.Process.Signal(syscall.SIGKILL)
	}
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
	id, _ := strconv.ParseUint(os.Getenv("RECIPE_ID"), 10, 64)
	timeout, _ := time.ParseDuration(os.Getenv("RECIPE_SESSION_TIMEOUT"))
	path := os.Getenv("RECIPE_PATH")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := coord.Open(ctx, coord.Options{ID: id, Join: true, Addr: os.Getenv("RECIPE_ADDR"), DataDir: os.Getenv("RECIPE_DIR"), Logger: testLogger()})
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
