package coord

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/client"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/coordkit/coord/internal/wire"
)

// proposer is the exactly-once proposal client of one member process: it
// numbers proposals with request ids under the process's incarnation,
// proposes them to the tree shard, waits for their results, sends them
// again when Raft may have dropped them, and maps Dragonboat's errors to
// coord's. The state machine applies each (incarnation, request id) once,
// which is what makes the retries safe.
type proposer struct {
	nh          *dragonboat.NodeHost
	noop        *client.Session
	incarnation uint64
	tick        time.Duration
	election    time.Duration // election timeout
	timeout     time.Duration // default deadline of a call without one
	stop        <-chan struct{}
	leader      *leaderWatch
	reqs        requestIDs
}

// leaderWatch follows the leader of the tree shard, as Dragonboat reports
// it, and lets waiters notice a change.
type leaderWatch struct {
	id      atomic.Uint64
	mu      sync.Mutex
	changed chan struct{} // closed and replaced when the leader changes
}

func newLeaderWatch() *leaderWatch { return &leaderWatch{changed: make(chan struct{})} }

// LeaderUpdated implements raftio.IRaftEventListener.
func (l *leaderWatch) LeaderUpdated(info raftio.LeaderInfo) {
	if info.ShardID != treeShard {
		return
	}
	l.id.Store(info.LeaderID)
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// next returns a channel that is closed at the next leader change.
func (l *leaderWatch) next() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// withDeadline gives ctx the default request deadline if it has none;
// Dragonboat's calls need one.
func (p *proposer) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.timeout)
}

// errAttemptTimedOut marks an attempt of an idempotent request that may
// have been lost; sending it again is safe.
var errAttemptTimedOut = errors.New("coord: attempt timed out")

// retryable reports whether an attempt may be repeated: Dragonboat dropped
// the request before it reached the log, or an idempotent proposal timed out.
func retryable(err error) bool {
	return errors.Is(err, dragonboat.ErrShardNotReady) || errors.Is(err, dragonboat.ErrSystemBusy) ||
		errors.Is(err, errAttemptTimedOut)
}

// retry runs fn until it succeeds, fails for good, or ctx ends.
func (p *proposer) retry(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := p.withDeadline(ctx)
	defer cancel()
	backoff := time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || !retryable(err) {
			return mapRaftErr(ctx, err)
		}
		select {
		case <-ctx.Done():
			return mapRaftErr(ctx, err)
		case <-p.stop:
			return ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 50*time.Millisecond)
	}
}

// mapRaftErr turns Dragonboat's errors into coord's.
func mapRaftErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dragonboat.ErrClosed), errors.Is(err, dragonboat.ErrShardClosed):
		return ErrClosed
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrNoQuorum, ctx.Err())
	case errors.Is(err, dragonboat.ErrTimeout), errors.Is(err, dragonboat.ErrCanceled):
		return fmt.Errorf("%w: %w", ErrNoQuorum, context.DeadlineExceeded)
	case retryable(err):
		return fmt.Errorf("%w: %v", ErrNoQuorum, err)
	case errors.Is(err, dragonboat.ErrPayloadTooBig):
		return fmt.Errorf("%w: request too large for the log", ErrBadArguments)
	}
	return err
}

// requestIDs numbers a process's proposals so that the state machine
// applies each once however often it is sent, and tracks which are still
// waiting so the state machine can forget the results of the others.
type requestIDs struct {
	mu      sync.Mutex
	next    uint64
	waiting map[uint64]struct{}
}

// begin allocates an id and returns it with the lowest id still waiting.
func (r *requestIDs) begin() (id, ack uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waiting == nil {
		r.waiting = make(map[uint64]struct{})
	}
	r.next++
	id, ack = r.next, r.next
	for w := range r.waiting {
		ack = min(ack, w)
	}
	r.waiting[id] = struct{}{}
	return id, ack
}

// end forgets id, answered or abandoned. An abandoned proposal that commits
// after a later one has acknowledged past it is not applied.
func (r *requestIDs) end(id uint64) {
	r.mu.Lock()
	delete(r.waiting, id)
	r.mu.Unlock()
}

// attemptTimeout is how long one attempt of a proposal waits before it is
// sent again; Raft may drop a proposal (a leader change, a broken
// connection) without saying so.
func (p *proposer) attemptTimeout() time.Duration {
	return max(time.Second, 5*p.election)
}

// propose commits cmd exactly once and returns the state machine's result.
// Attempts that time out are retried until ctx ends; a context that ends
// first leaves the outcome unknown: the write may still apply, once.
func (p *proposer) propose(ctx context.Context, cmd *wire.Command) (*wire.Result, error) {
	if cmd.Time == 0 {
		cmd.Time = time.Now().UnixMilli()
	}
	if cmd.Incarnation == 0 {
		cmd.Incarnation = p.incarnation
	}
	id, ack := p.reqs.begin()
	defer p.reqs.end(id)
	cmd.ReqID, cmd.Ack = id, ack
	data := wire.AppendCommand(nil, cmd)
	var out sm.Result
	err := p.retry(ctx, func(ctx context.Context) error {
		r, err := p.attempt(ctx, data)
		out = r
		return err
	})
	if err != nil {
		return nil, err
	}
	res, err := wire.DecodeResult(out.Data)
	if err != nil {
		return nil, fmt.Errorf("coord: undecodable result: %w", err)
	}
	return res, nil
}

// proposeOnce proposes data without waiting for more than timeout and
// without retries: member upkeep (heartbeats) that is sent again anyway.
func (p *proposer) proposeOnce(data []byte, timeout time.Duration) (*dragonboat.RequestState, error) {
	return p.nh.Propose(p.noop, data, timeout)
}

// attempt proposes data once and waits for its result. It gives up early,
// with an error that allows a retry, when the attempt may have been lost: it
// timed out, or the leader changed while it was pending.
func (p *proposer) attempt(ctx context.Context, data []byte) (sm.Result, error) {
	return p.await(ctx, func(timeout time.Duration) (*dragonboat.RequestState, error) {
		return p.nh.Propose(p.noop, data, timeout)
	})
}

// await starts a Raft request with start and waits for it, turning the
// ways a request can be lost into errors that allow a retry.
func (p *proposer) await(ctx context.Context, start func(time.Duration) (*dragonboat.RequestState, error)) (sm.Result, error) {
	changed := p.leader.next()
	timeout := p.attemptTimeout()
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout < p.tick {
		<-ctx.Done() // too little time left to try; Dragonboat refuses it
		return sm.Result{}, ctx.Err()
	}
	rs, err := start(timeout)
	if errors.Is(err, dragonboat.ErrTimeoutTooSmall) {
		<-ctx.Done()
		return sm.Result{}, ctx.Err()
	}
	if err != nil {
		return sm.Result{}, err
	}
	select {
	case r := <-rs.AppliedC():
		switch {
		case r.Completed():
			res := r.GetResult()
			rs.Release()
			return res, nil
		case r.Timeout() && ctx.Err() == nil:
			return sm.Result{}, errAttemptTimedOut
		case r.Timeout():
			return sm.Result{}, ctx.Err()
		case r.Dropped():
			return sm.Result{}, dragonboat.ErrShardNotReady
		case r.Terminated():
			return sm.Result{}, dragonboat.ErrShardClosed
		}
		return sm.Result{}, dragonboat.ErrAborted
	case <-changed:
		return sm.Result{}, errAttemptTimedOut
	case <-ctx.Done():
		return sm.Result{}, ctx.Err()
	}
}

// sync waits until this member has applied every write committed before the
// call (a Raft ReadIndex round).
func (p *proposer) sync(ctx context.Context) error {
	return p.retry(ctx, func(ctx context.Context) error {
		_, err := p.await(ctx, func(timeout time.Duration) (*dragonboat.RequestState, error) {
			return p.nh.ReadIndex(treeShard, timeout)
		})
		return err
	})
}
