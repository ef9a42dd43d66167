package recipe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord"
)

// TestElectionFailover: the leader is a member in a child process; it is
// SIGKILLed and one of three candidates (one per member) takes over within
// the session timeout plus election time, with a higher token. A sampler
// checks throughout that no two candidates ever both lead with Connected
// sessions. Then the new leader resigns and the next one takes over.
func TestElectionFailover(t *testing.T) {
	cl := testCluster(t)
	ctx := ctxT(t, time.Minute)
	const timeout = 2 * time.Second
	dir := fmt.Sprintf("/t/election/%d", time.Now().UnixNano())
	ch := cl.startChild(t, "elect", "RECIPE_PATH="+dir, "RECIPE_SESSION_TIMEOUT="+timeout.String())
	childToken := atoi64(t, ch.expect(t, "TOKEN ", 30*time.Second)[0])

	observer := NewElection(cl.member(3).Session(), dir, "")
	obs := observer.Observe(ctx)
	require.NoError(t, cl.member(3).Session().Sync(ctx, "/"))
	waitLeader(t, obs, func(l Leader) bool { return l.ID == "child" })

	type cand struct {
		e *Election
		s *coord.Session
	}
	var cands []cand
	for i := range 3 {
		s := cl.session(t, uint64(i+1), timeout)
		cands = append(cands, cand{NewElection(s, dir, fmt.Sprintf("c%d", i+1)), s})
	}
	// Sample leadership every few milliseconds: never two live leaders.
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	var maxLeaders int
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			n := 0
			for _, c := range cands {
				if l := c.e.Term(); l != nil && l.Err() == nil && c.s.CurrentState() == coord.Connected {
					n++
				}
			}
			maxLeaders = max(maxLeaders, n)
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	type won struct {
		i    int
		term *Lease
		at   time.Time
	}
	wins := make(chan won, 3)
	campaign := func(i int) {
		term, err := cands[i].e.Campaign(ctx)
		if assert.NoError(t, err) {
			wins <- won{i, term, time.Now()}
		}
	}
	for i := range cands {
		go campaign(i)
	}
	select {
	case w := <-wins:
		t.Fatalf("candidate %d leads while the child does", w.i)
	case <-time.After(300 * time.Millisecond):
	}

	killed := ch.kill()
	first := recvT(t, wins)
	failover := first.at.Sub(killed)
	t.Logf("failover: c%d leads %v after the leader's SIGKILL (session timeout %v)", first.i+1, failover, timeout)
	require.Greater(t, first.term.Token(), childToken)
	require.GreaterOrEqual(t, failover, timeout-300*time.Millisecond, "leadership moved before the session could expire")
	require.Less(t, failover, timeout+3*time.Second)
	waitLeader(t, obs, func(l Leader) bool { return l.ID == fmt.Sprintf("c%d", first.i+1) && l.Token == first.term.Token() })

	select {
	case w := <-wins:
		t.Fatalf("c%d leads too", w.i+1)
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, cands[first.i].e.Resign(ctx))
	require.ErrorIs(t, first.term.Err(), ErrReleased)
	second := recvT(t, wins)
	require.Greater(t, second.term.Token(), first.term.Token())
	require.NoError(t, cands[second.i].e.Resign(ctx))
	third := recvT(t, wins)
	require.Greater(t, third.term.Token(), second.term.Token())
	require.NoError(t, cands[third.i].e.Resign(ctx))

	close(stop)
	sampler.Wait()
	require.Equal(t, 1, maxLeaders, "two candidates led at once")
	waitLeader(t, obs, func(l Leader) bool { return l == Leader{} })
	_, err := observer.Leader(ctx)
	require.ErrorIs(t, err, ErrNoLeader)
}

func waitLeader(t *testing.T, obs <-chan Leader, ok func(Leader) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, open := <-obs:
			require.True(t, open, "observer closed")
			if ok(l) {
				return
			}
		case <-deadline:
			t.Fatal("observer did not see the expected leader")
		}
	}
}

// TestElectionLead: Lead runs the callback as leader, cancels its context
// when leadership is lost, and resigns afterwards.
func TestElectionLead(t *testing.T) {
	cl := testCluster(t)
	root := testRoot(t)
	ctx := ctxT(t, 30*time.Second)
	dir := root + "/lead"
	s1 := cl.session(t, 1, 4*time.Second)
	e := NewElection(s1, dir, "a")
	ran := false
	require.NoError(t, e.Lead(ctx, func(ctx context.Context, term *Lease) error {
		ran = true
		l, err := e.Leader(ctx)
		require.NoError(t, err)
		require.Equal(t, Leader{ID: "a", Token: term.Token(), Session: s1.ID()}, l)
		return nil
	}))
	require.True(t, ran)
	require.Nil(t, e.Term())
	require.Empty(t, children(t, s1, dir))

	// Leadership lost while leading: the callback's context ends. Here a
	// second session deletes the leader's node (an operator's hand).
	admin := cl.member(2).Session()
	err := e.Lead(ctx, func(lctx context.Context, term *Lease) error {
		require.NoError(t, admin.Sync(ctx, "/"))
		require.NoError(t, admin.Delete(ctx, term.Path(), -1))
		select {
		case <-lctx.Done():
		case <-time.After(30 * time.Second):
			return errors.New("the term did not end with its node")
		}
		return context.Cause(lctx)
	})
	require.ErrorIs(t, err, ErrNodeGone)
}
