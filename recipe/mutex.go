package recipe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/coordkit/coord"
)

// A Locker is a lock that MultiLock can combine: Mutex, RWMutex and
// RWMutex.RLocker.
type Locker interface {
	Lock(ctx context.Context) (*Lease, error)
	Unlock(ctx context.Context) error
}

// holder serialises the calls of one lock value and counts its reentrant
// holds. Its zero value is not usable; see newHolder.
type holder struct {
	sem chan struct{} // one token: whoever has it may change the hold

	mu    sync.Mutex // guards the rest, for readers without the token
	lease *Lease
	name  string // our node in the directory
	count int
}

// current returns the lease held, or nil.
func (h *holder) current() *Lease {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lease
}

// set records a new hold, or none.
func (h *holder) set(l *Lease, name string, count int) {
	h.mu.Lock()
	h.lease, h.name, h.count = l, name, count
	h.mu.Unlock()
}

func newHolder() holder { return holder{sem: make(chan struct{}, 1)} }

func (h *holder) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *holder) release() { <-h.sem }

// reenter takes one more hold of a held lease; it returns nil, nil when
// nothing is held.
func (h *holder) reenter() (*Lease, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lease == nil {
		return nil, nil
	}
	if err := h.lease.Err(); err != nil {
		return nil, fmt.Errorf("recipe: the hold of %s was lost (%w); release it first", h.lease.path, err)
	}
	h.count++
	return h.lease, nil
}

// Mutex is a distributed mutual-exclusion lock: ZooKeeper's lock recipe
// without the herd effect. Contenders queue as ephemeral-sequential nodes
// under the lock's directory; the first holds the lock, and each waiter
// watches only the node just before it.
//
// A Mutex value is one holder. Lock on a Mutex that already holds the lock
// is reentrant: it returns the same Lease and needs one more Unlock.
// Goroutines or processes that must exclude each other use one Mutex value
// each (they may share a session). Its methods are safe for concurrent use.
type Mutex struct {
	c client
	h holder
}

// NewMutex returns the lock whose queue is the directory dir, used through
// session s. Every contender names the same dir.
func NewMutex(s *coord.Session, dir string) *Mutex {
	return &Mutex{c: newClient(s, dir), h: newHolder()}
}

const lockMark = "lock-"

// Lock blocks until the lock is held, and returns its Lease (with the
// fencing token). If ctx ends first, Lock deletes its node and returns the
// context's error. If the session ends first, it returns the session's
// error. Lock on a Mutex whose Lease was lost returns that Lease's error:
// call Unlock first.
func (m *Mutex) Lock(ctx context.Context) (*Lease, error) {
	if err := m.h.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.h.release()
	if l, err := m.h.reenter(); l != nil || err != nil {
		return l, err
	}
	n, err := m.c.createProtected(ctx, lockMark, nil, coord.EphemeralSequential)
	if err != nil {
		return nil, err
	}
	if err := m.c.waitTurn(ctx, n.name, m.c.exclusive, lockMark); err != nil {
		m.c.withdraw(ctx, n.name)
		return nil, err
	}
	l, err := m.c.granted(ctx, n)
	if err != nil {
		return nil, err
	}
	m.h.set(l, n.name, 1)
	return l, nil
}

// Unlock releases one hold; the last one deletes the lock node, which
// passes the lock to the next contender. If the delete cannot be confirmed
// before ctx ends, the node is deleted by the next call on m (or goes with
// the session) and Unlock reports the error. Unlock of a lost Lease just
// deletes what is left of it.
func (m *Mutex) Unlock(ctx context.Context) error {
	if err := m.h.acquire(ctx); err != nil {
		return err
	}
	defer m.h.release()
	return m.c.unlock(ctx, &m.h)
}

// unlock drops one hold of h and, with the last one, deletes its node.
func (c *client) unlock(ctx context.Context, h *holder) error {
	h.mu.Lock()
	l, name := h.lease, h.name
	if l == nil {
		h.mu.Unlock()
		return ErrNotHeld
	}
	if h.count--; h.count > 0 {
		h.mu.Unlock()
		return nil
	}
	h.lease, h.name = nil, ""
	h.mu.Unlock()
	l.end(ErrReleased)
	if err := c.deleteNode(ctx, name); err != nil {
		if !errors.Is(err, coord.ErrSessionExpired) {
			c.addOrphan(name)
		}
		return fmt.Errorf("recipe: unlock %s: %w", c.dir, err)
	}
	return nil
}

// UnlockWith applies ops and releases the lock in one atomic write: a coord
// Multi of ops followed by the deletion of the lock node. The critical
// section's result is published and the next contender let in with one
// round trip instead of two, and the ops apply only if the lock is still
// held when they do (the deletion fails otherwise). If an op fails, nothing
// applies, the lock is still held and the error is that op's. Under a
// reentrant hold the ops apply guarded by Lease.Check and one hold is
// released. The results are those of ops; they are nil if the reply was
// lost but the write is known to have applied.
func (m *Mutex) UnlockWith(ctx context.Context, ops ...coord.Op) ([]coord.OpResult, error) {
	if err := m.h.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.h.release()
	h, c := &m.h, &m.c
	h.mu.Lock()
	l, name, count := h.lease, h.name, h.count
	h.mu.Unlock()
	if l == nil {
		return nil, ErrNotHeld
	}
	if count > 1 {
		res, err := c.s.Multi(ctx, append([]coord.Op{l.Check()}, ops...)...)
		if len(res) > 0 {
			res = res[1:]
		}
		if err == nil {
			h.mu.Lock()
			h.count--
			h.mu.Unlock()
		}
		return res, err
	}
	l.releasing.Store(true)
	res, err := c.s.Multi(ctx, append(slices.Clip(ops), coord.DeleteOp(c.path(name), -1))...)
	if err != nil && uncertain(err) {
		// After a fence, the write applied iff the lock node is gone.
		cctx, cancel := c.cleanupContext(ctx)
		defer cancel()
		if ferr := c.fence(cctx, name); ferr != nil {
			err = errors.Join(err, fmt.Errorf("%w: %w", ErrUnknownOutcome, ferr))
		} else if ok, _, xerr := c.s.Exists(cctx, c.path(name)); xerr == nil && !ok {
			res, err = nil, nil
		}
	}
	if err != nil {
		l.releasing.Store(false)
		if len(res) > len(ops) {
			res = res[:len(ops)]
		}
		return res, fmt.Errorf("recipe: unlock %s: %w", c.dir, err)
	}
	h.set(nil, "", 0)
	l.end(ErrReleased)
	if len(res) > len(ops) {
		res = res[:len(ops)]
	}
	return res, nil
}

// Lease returns the current hold, or nil if m does not hold the lock.
func (m *Mutex) Lease() *Lease { return m.h.current() }

// MultiLock holds several locks at once, all or none: Lock acquires them in
// the order given and, if one fails, releases those it holds. To avoid
// deadlock, every process must list shared locks in the same order (for
// example, sorted by path).
type MultiLock struct {
	locks []Locker
}

// NewMultiLock combines locks.
func NewMultiLock(locks ...Locker) *MultiLock {
	return &MultiLock{locks: locks}
}

// Lock acquires every lock and returns their Leases in order. If one fails
// or ctx ends, the locks acquired so far are released and the error is
// returned.
func (ml *MultiLock) Lock(ctx context.Context) ([]*Lease, error) {
	leases := make([]*Lease, 0, len(ml.locks))
	for _, l := range ml.locks {
		lease, err := l.Lock(ctx)
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
			defer cancel()
			errs := []error{err}
			for i := len(leases) - 1; i >= 0; i-- {
				errs = append(errs, ml.locks[i].Unlock(cctx))
			}
			return nil, errors.Join(errs...)
		}
		leases = append(leases, lease)
	}
	return leases, nil
}

// Unlock releases every lock, in reverse order, and returns their errors
// joined.
func (ml *MultiLock) Unlock(ctx context.Context) error {
	var errs []error
	for i := len(ml.locks) - 1; i >= 0; i-- {
		errs = append(errs, ml.locks[i].Unlock(ctx))
	}
	return errors.Join(errs...)
}
