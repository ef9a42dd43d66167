package coord

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/testenv"
)

// TestMain runs the tests, or one helper role when this binary was started
// as a child process (testenv.StartChild) by a test that kills members.
func TestMain(m *testing.M) {
	if role := testenv.Role(); role != "" {
		os.Exit(runHelper(role))
	}
	os.Exit(m.Run())
}

// runHelper runs a child process's role and returns its exit code.
func runHelper(role string) int {
	spec, err := testenv.ChildSpec(ParseMembers)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	switch role {
	case "member":
		return helperMember(spec)
	case "writer":
		return helperWriter(spec)
	}
	fmt.Println("error: unknown role", role)
	return 2
}

// startHelper runs member id of tc in a child process in role, with the
// role's own arguments added to the member's.
func (tc *testCluster) startHelper(role string, id uint64, extra map[string]string) *testenv.Child {
	tc.t.Helper()
	args := tc.e.Spec(id).Args(FormatMembers)
	for k, v := range extra {
		args[k] = v
	}
	return testenv.StartChild(tc.t, testenv.ChildConfig{Role: role, Args: args})
}

func freeAddrs(t testing.TB, n int) []string { return testenv.FreeAddrs(t, n) }

// testCluster runs an ensemble of members in this process (some members
// may run in child processes instead).
type testCluster struct {
	t       testing.TB
	e       *testenv.Ensemble[*Coord]
	dir     string            // the members' data directories are dir/m<id>
	members map[uint64]string // id -> Raft address of every member
	tweak   func(*Options)
}

// newTestCluster starts n members and waits until all have opened.
func newTestCluster(t testing.TB, n int, tweak func(*Options)) *testCluster {
	t.Helper()
	tc := allocTestCluster(t, n, tweak)
	ids := make([]uint64, 0, n)
	for id := range tc.members {
		ids = append(ids, id)
	}
	tc.startAll(ids...)
	return tc
}

// allocTestCluster gives n members addresses and directories and starts
// none of them; all that run are closed when the test ends.
func allocTestCluster(t testing.TB, n int, tweak func(*Options)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, tweak: tweak}
	tc.e = testenv.NewEnsemble(t, testenv.Config[*Coord]{
		N: n,
		Open: func(ctx context.Context, s testenv.Spec) (*Coord, error) {
			o := tc.options(s.ID)
			o.Join = s.Join
			return Open(ctx, o)
		},
		Crash: func(c *Coord) {
			c.host.close()
			c.shutdown()
		},
		Leader: (*Coord).Leader,
	})
	tc.dir, tc.members = tc.e.Dir(), tc.e.Members()
	return tc
}

// startAll opens members at once (Open waits for a quorum) and fails the
// test if one does not open.
func (tc *testCluster) startAll(ids ...uint64) {
	tc.t.Helper()
	require.NoError(tc.t, tc.e.Start(ids...))
}

func (tc *testCluster) options(id uint64) Options {
	o := Options{
		ID:      id,
		Members: tc.members,
		DataDir: tc.e.DataDir(id),
		Logger:  testenv.Logger(),
	}
	if tc.tweak != nil {
		tc.tweak(&o)
	}
	return o
}

func (tc *testCluster) start(id uint64, join bool) (*Coord, error) {
	s := tc.e.Spec(id)
	s.Join = join
	return tc.e.Open(s)
}

func (tc *testCluster) get(id uint64) *Coord {
	c, _ := tc.e.Get(id)
	return c
}

// live returns the members that run.
func (tc *testCluster) live() []*Coord {
	var out []*Coord
	for _, id := range tc.e.IDs() {
		out = append(out, tc.get(id))
	}
	return out
}

// stop closes a member gracefully.
func (tc *testCluster) stop(id uint64) {
	require.NoError(tc.t, tc.e.Stop(id))
}

// crash stops a member the way a crash would: its sessions are not closed.
func (tc *testCluster) crash(id uint64) { tc.e.Crash(id) }

func (tc *testCluster) restart(id uint64) *Coord {
	tc.t.Helper()
	c, err := tc.start(id, false)
	require.NoError(tc.t, err)
	return c
}

// closeAll closes every member that runs, at once.
func (tc *testCluster) closeAll() {
	_ = tc.e.CloseAll() // members that cannot close their sessions still stop
}

// leader returns the member that leads, waiting for one.
func (tc *testCluster) leader() uint64 {
	tc.t.Helper()
	id, err := tc.e.Leader(10 * time.Second)
	if err != nil {
		tc.t.Fatal("no leader")
	}
	return id
}

// follower returns some live member that is not the leader.
func (tc *testCluster) follower() uint64 {
	l := tc.leader()
	for _, id := range tc.e.IDs() {
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
