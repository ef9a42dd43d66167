package recipe

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/coordkit/coord"
)

// A Lease is one hold of a lock, a semaphore lease or a leadership term.
//
// Token is the fencing token: the Czxid of the node that won, a Raft log
// index, which strictly increases in the order holds are granted. Hand it
// to the resource the hold guards and let the resource refuse any token
// smaller than the largest it has accepted; a holder that lost its hold
// without noticing (a long pause, a partition) is then refused instead of
// corrupting what the new holder protects.
//
// Done is closed when the hold ends or may have ended, and Err says why:
// ErrReleased, ErrMaybeLost (its session was Suspended), ErrNodeGone,
// coord.ErrSessionExpired or coord.ErrClosed. A Lease that is Done stays
// Done even if its session becomes Connected again; release it and acquire
// anew. The zero Lease is not usable; recipes hand out Leases.
type Lease struct {
	path  string
	token int64
	done  chan struct{}
	stop  context.CancelFunc

	// releasing is set while a write that deletes the node on purpose
	// (Mutex.UnlockWith) is in flight, so its deletion reads as a release.
	releasing atomic.Bool

	mu  sync.Mutex
	err error
}

// Token returns the fencing token.
func (l *Lease) Token() int64 { return l.token }

// Path returns the node that holds the lease.
func (l *Lease) Path() string { return l.path }

// Check returns an operation that makes a coord Multi fail (with
// coord.ErrNoNode) unless the hold still stands when the Multi applies. Put
// it first in a Multi to make writes to the tree conditional on holding the
// lock: a fence the ensemble itself enforces, with no race between the
// check and the write.
func (l *Lease) Check() coord.Op { return coord.CheckOp(l.path, -1) }

// Done returns a channel that is closed when the hold ends or may have
// ended.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err returns nil while the hold stands, and why it ended once Done is
// closed.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// end records why the hold ended; the first reason wins.
func (l *Lease) end(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.err = err
	close(l.done)
	l.stop()
}

// newLease starts watching a node that was just granted: the lease ends when
// the session stops being Connected or the node is deleted. The watching
// goroutine belongs to the lease and stops when it ends.
func newLease(s *coord.Session, path string, stat *coord.Stat) *Lease {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lease{path: path, token: stat.Czxid, done: make(chan struct{}), stop: cancel}
	states := s.StateContext(ctx)
	ok, _, ev, err := s.ExistsW(ctx, path)
	switch {
	case err != nil:
		l.end(err)
		return l
	case !ok:
		l.end(ErrNodeGone)
		return l
	}
	go l.watch(ctx, s, states, ev)
	return l
}

func (l *Lease) watch(ctx context.Context, s *coord.Session, states <-chan coord.SessionState, ev <-chan coord.Event) {
	defer func() { s.StopWatch(ev) }() // the one left when the lease ends otherwise
	for {
		select {
		case <-ctx.Done():
			return
		case st, ok := <-states:
			switch {
			case !ok:
				if err := sessionErr(s); err != nil {
					l.end(err)
				}
				return
			case st == coord.Suspended:
				l.end(ErrMaybeLost)
				return
			case st == coord.Expired:
				l.end(coord.ErrSessionExpired)
				return
			case st == coord.Closed:
				l.end(coord.ErrClosed)
				return
			}
		case e, ok := <-ev:
			if err := watchErr(e, ok); err != nil {
				l.end(err)
				return
			}
			if e.Type == coord.NodeDeleted {
				if l.releasing.Load() {
					l.end(ErrReleased)
				} else {
					l.end(ErrNodeGone)
				}
				return
			}
			// The data changed (RWMutex.Downgrade): watch again.
			var exists bool
			var err error
			exists, _, ev, err = s.ExistsW(ctx, l.path)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				l.end(err)
				return
			case !exists:
				l.end(ErrNodeGone)
				return
			}
		}
	}
}
