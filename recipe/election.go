package recipe

import (
	"context"
	"errors"

	"github.com/coordkit/coord"
)

const candidateMark = "n_"

// ErrNoLeader is returned by Election.Leader when nobody leads.
var ErrNoLeader = errors.New("recipe: no leader")

// Leader describes who leads an election.
type Leader struct {
	ID      string // what the leader passed to NewElection
	Token   int64  // its term's fencing token
	Session int64  // the session it campaigns with
}

// Election elects one leader among the contenders that campaign in a
// directory, in arrival order: each candidate is an ephemeral-sequential
// node, the first one leads, and each of the others watches only the
// candidate just before it. When the leader's session ends (its process
// died and the session expired, or it closed), its node goes and the next
// candidate leads.
//
// A term is a Lease. Its token strictly increases from one term to the next,
// and Done is closed when leadership ends or may have ended: Resign, the
// session Suspended (the member lost its quorum, and the others may already
// have elected someone else), Expired or Closed. A leader must stop acting
// as leader when Done is closed, then Resign or Campaign again.
//
// Observers need not campaign: Leader and Observe report who leads. The
// methods of an Election are safe for concurrent use.
type Election struct {
	c  client
	id string
	h  holder
}

// NewElection returns a candidate (or observer) for the election held in
// the directory dir, through session s. id identifies the candidate to
// observers (a host name, an address).
func NewElection(s *coord.Session, dir, id string) *Election {
	return &Election{c: newClient(s, dir), id: id, h: newHolder()}
}

// Campaign blocks until e leads and returns the term's Lease. If e already
// leads, it returns the current term. If e's previous term was lost, its
// node is deleted first and e queues again. If ctx ends first, Campaign
// withdraws (deletes its node) and returns the context's error.
func (e *Election) Campaign(ctx context.Context) (*Lease, error) {
	if err := e.h.acquire(ctx); err != nil {
		return nil, err
	}
	defer e.h.release()
	if l := e.h.current(); l != nil {
		if l.Err() == nil {
			return l, nil
		}
		if err := e.c.unlock(ctx, &e.h); err != nil {
			return nil, err
		}
	}
	n, err := e.c.createProtected(ctx, candidateMark, []byte(e.id), coord.EphemeralSequential)
	if err != nil {
		return nil, err
	}
	if err := e.c.waitTurn(ctx, n.name, e.c.exclusive, candidateMark); err != nil {
		e.c.withdraw(ctx, n.name)
		return nil, err
	}
	l, err := e.c.granted(ctx, n)
	if err != nil {
		return nil, err
	}
	e.h.set(l, n.name, 1)
	return l, nil
}

// Resign ends e's term (or withdraws a lost one): its node is deleted and
// the next candidate leads. Resigning when not leading returns ErrNotHeld.
func (e *Election) Resign(ctx context.Context) error {
	if err := e.h.acquire(ctx); err != nil {
		return err
	}
	defer e.h.release()
	return e.c.unlock(ctx, &e.h)
}

// Term returns e's current term, or nil if e does not lead.
func (e *Election) Term() *Lease { return e.h.current() }

// Lead campaigns, runs fn as leader and resigns when fn returns, returning
// fn's error. fn's context is cancelled (with cause the Lease's Err) as soon
// as leadership may be lost, so fn must return promptly when it is. If ctx
// ends before e leads, Lead returns the context's error.
func (e *Election) Lead(ctx context.Context, fn func(ctx context.Context, term *Lease) error) error {
	term, err := e.Campaign(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancelCause(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-term.Done():
			cancel(term.Err())
		case <-lctx.Done():
		}
	}()
	ferr := fn(lctx, term)
	cancel(ErrReleased)
	<-stopped
	rctx, rcancel := e.c.cleanupContext(ctx)
	defer rcancel()
	if err := e.Resign(rctx); err != nil && !errors.Is(err, ErrNotHeld) {
		return errors.Join(ferr, err)
	}
	return ferr
}

// Leader returns who leads now, as this session's member sees it, or
// ErrNoLeader.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	kids, _, err := e.c.s.Children(ctx, e.c.dir)
	if errors.Is(err, coord.ErrNoNode) {
		return Leader{}, ErrNoLeader
	}
	if err != nil {
		return Leader{}, err
	}
	return e.first(ctx, kids)
}

// first returns the leader among the children kids.
func (e *Election) first(ctx context.Context, kids []string) (Leader, error) {
	for _, c := range sortedContenders(kids, candidateMark) {
		data, st, err := e.c.s.Get(ctx, e.c.path(c.name))
		if errors.Is(err, coord.ErrNoNode) {
			continue // it just left; the next one leads
		}
		if err != nil {
			return Leader{}, err
		}
		return Leader{ID: string(data), Token: st.Czxid, Session: st.EphemeralOwner}, nil
	}
	return Leader{}, ErrNoLeader
}

// Observe reports who leads: the channel receives the current leader (the
// zero Leader when there is none) and then every change, always the latest
// one for a slow reader. It is closed when ctx ends or the session does.
// The goroutine that feeds it stops then.
func (e *Election) Observe(ctx context.Context) <-chan Leader {
	out := make(chan Leader, 1)
	go func() {
		defer close(out)
		var last Leader
		sent := false
		for {
			kids, _, ch, err := e.c.s.ChildrenW(ctx, e.c.dir)
			if errors.Is(err, coord.ErrNoNode) {
				// The directory (a container) was removed: wait for it.
				var ok bool
				ok, _, ch, err = e.c.s.ExistsW(ctx, e.c.dir)
				if err == nil && ok {
					e.c.s.StopWatch(ch)
					continue
				}
			}
			if err != nil {
				return
			}
			l, err := e.first(ctx, kids)
			if err != nil && !errors.Is(err, ErrNoLeader) {
				e.c.s.StopWatch(ch)
				return
			}
			if !sent || l != last {
				last, sent = l, true
				sendLatest(out, l)
			}
			if waitEvent(ctx, e.c.s, ch) != nil {
				return
			}
		}
	}()
	return out
}

// sendLatest puts v on a one-slot channel, replacing a value the reader has
// not taken yet.
func sendLatest[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
