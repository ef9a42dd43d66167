package zkserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
	"github.com/coordkit/coord/internal/testenv"
)

// The member a session lives on is killed: the client must move to another
// member with its session, ephemeral nodes and watches.
//
// Coord.Close closes the sessions its member hosts, which is not what a
// crash does, so the member to kill runs in a child process (this test
// binary, re-executed by testenv.StartChild in role "member") that gets
// SIGKILL: its sockets close at once, its sessions stop being renewed,
// nothing is cleaned up.

// runChild is the child process: as role "member" it runs one member and
// serves its ZooKeeper port (argument ZK) until it is killed.
func runChild(role string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
		return 1
	}
	if role != "member" {
		return fail(fmt.Errorf("unknown role"))
	}
	spec, err := testenv.ChildSpec(coord.ParseMembers)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, err := coord.Open(ctx, coord.Options{ID: spec.ID, Members: spec.Members, DataDir: spec.Dir, Logger: testLogger()})
	cancel()
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", testenv.Arg("ZK"))
	if err != nil {
		return fail(err)
	}
	fmt.Println("CHILD READY")
	if err := Serve(context.Background(), c, ln, WithTickTime(testTick)); err != nil {
		return fail(err)
	}
	return 0
}

// inOrder is a go-zookeeper HostProvider that tries its servers in order
// (go-zookeeper shuffles the ones given to Connect), so the test knows where
// the session starts.
type inOrder struct {
	servers []string
	i       int
}

func (p *inOrder) Init([]string) error { return nil }
func (p *inOrder) Len() int            { return len(p.servers) }
func (p *inOrder) Connected()          {}
func (p *inOrder) Next() (string, bool) {
	s := p.servers[p.i%len(p.servers)]
	p.i++
	return s, p.i%len(p.servers) == 0
}

func TestSessionMoveAfterKill(t *testing.T) {
	addrs := freeAddrs(t, 4)
	raft := map[uint64]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
	childZK := addrs[3]
	dir := t.TempDir()

	// Member 3 in a child process, 1 and 2 here; all start together.
	args := testenv.Spec{ID: 3, Members: raft, Addr: raft[3], Dir: filepath.Join(dir, "m3")}.Args(coord.FormatMembers)
	args["ZK"] = childZK
	child := testenv.StartChild(t, testenv.ChildConfig{Role: "member", Args: args})
	e := startEnsemble(t, dir, raft, []uint64{1, 2})
	child.Expect(t, "CHILD READY", 30*time.Second)

	const timeout = 2 * time.Second
	servers := []string{childZK, e.member(1).addr, e.member(2).addr}
	conn, events, err := zk.Connect(servers, timeout, zk.WithLogger(quietLogger{}), zk.WithHostProvider(&inOrder{servers: servers}))
	require.NoError(t, err)
	defer conn.Close()
	waitState(t, events, zk.StateHasSession, 10*time.Second)
	require.Equal(t, childZK, conn.Server())
	sid := conn.SessionID()

	_, err = conn.Create("/move", nil, 0, openACL)
	require.NoError(t, err)
	_, err = conn.Create("/move/eph", []byte("mine"), zk.FlagEphemeral, openACL)
	require.NoError(t, err)
	_, _, dataW, err := conn.GetW("/move/eph")
	require.NoError(t, err)
	_, _, childW, err := conn.ChildrenW("/move")
	require.NoError(t, err)
	okExists, _, existW, err := conn.ExistsW("/move/later")
	require.NoError(t, err)
	require.False(t, okExists)

	other, _ := connect(t, []string{e.member(1).addr}, 4*time.Second)
	_, err = other.Sync("/")
	require.NoError(t, err)
	_, _, gone, err := other.ExistsW("/move/eph")
	require.NoError(t, err)

	// Kill the member that hosts the session.
	require.NoError(t, child.Kill())
	killed := time.Now()
	require.NoError(t, child.Wait(30*time.Second))
	waitState(t, events, zk.StateHasSession, 10*time.Second)
	moved := time.Since(killed)
	assert.Equal(t, sid, conn.SessionID(), "the session changed")
	assert.NotEqual(t, childZK, conn.Server())
	t.Logf("session 0x%x moved to %s %v after the kill", sid, conn.Server(), moved)

	// Longer than the session timeout later, the session and its ephemeral
	// node are still there: the new member keeps it alive.
	time.Sleep(timeout + time.Second)
	select {
	case ev := <-gone:
		t.Fatalf("the ephemeral node went: %+v", ev)
	default:
	}
	data, st, err := other.Get("/move/eph")
	require.NoError(t, err)
	assert.Equal(t, "mine", string(data))
	assert.Equal(t, sid, st.EphemeralOwner)
	for _, ev := range drain(events) {
		assert.NotEqual(t, zk.StateExpired, ev.State, "session expired")
	}

	// Its watches were set again on the new member and fire.
	_, err = other.Set("/move/eph", []byte("changed"), -1)
	require.NoError(t, err)
	assert.Equal(t, zk.EventNodeDataChanged, waitEvent(t, dataW, 5*time.Second).Type)
	assert.Equal(t, zk.EventNodeDataChanged, waitEvent(t, gone, 5*time.Second).Type)
	_, _, gone, err = other.ExistsW("/move/eph")
	require.NoError(t, err)
	_, err = other.Create("/move/later", nil, 0, openACL)
	require.NoError(t, err)
	assert.Equal(t, zk.EventNodeCreated, waitEvent(t, existW, 5*time.Second).Type)
	assert.Equal(t, zk.EventNodeChildrenChanged, waitEvent(t, childW, 5*time.Second).Type)

	// Closing it on the new member removes the ephemeral at once.
	conn.Close()
	ev := waitEvent(t, gone, 5*time.Second)
	assert.Equal(t, zk.EventNodeDeleted, ev.Type)
}

func drain(ch <-chan zk.Event) []zk.Event {
	var out []zk.Event
	for {
		select {
		case ev := <-ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// TestDetachWithoutQuorum: a client leaves while its member has no quorum,
// so the detach cannot commit. The member keeps the session alive and
// retries; once the quorum is back the session expires as it should,
// instead of living on forever.
func TestDetachWithoutQuorum(t *testing.T) {
	e := newEnsemble(t, 3)
	// The session lives on a follower, so its detach entries are dropped
	// rather than kept in a leader's log.
	leader, ok := e.member(1).c.Leader()
	require.True(t, ok)
	f := leader%3 + 1
	r := dialRaw(t, e.member(f).addr, 1000)
	acl := []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	require.Equal(t, jute.CodeOK, r.call(jute.OpCreate, &jute.CreateRequest{Path: "/q", ACL: acl}, nil))
	require.Equal(t, jute.CodeOK, r.call(jute.OpCreate, &jute.CreateRequest{Path: "/q/e", ACL: acl, Flags: jute.ModeEphemeral}, nil))
	var others []uint64
	for id := uint64(1); id <= 3; id++ {
		if id != f {
			others = append(others, id)
			e.stop(id)
		}
	}
	r.nc.Close()
	time.Sleep(7 * time.Second) // the first detach attempt times out
	for _, id := range others {
		require.NoError(t, e.start(id))
	}
	c, _ := connect(t, []string{e.member(others[0]).addr}, 4*time.Second)
	require.Eventually(t, func() bool {
		if _, err := c.Sync("/"); err != nil {
			return false
		}
		ok, _, err := c.Exists("/q/e")
		return err == nil && !ok
	}, 20*time.Second, 100*time.Millisecond, "the ephemeral of a client that left never went")
}
