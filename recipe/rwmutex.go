package recipe

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/coordkit/coord"
)

const (
	readMark  = "read-"
	writeMark = "write-"
)

// downgraded is the data of a write node whose holder downgraded it to a
// read hold.
const downgraded = "read"

// RWMutex is a distributed reader/writer lock: any number of readers or one
// writer, granted in arrival order (a reader waits only for writers queued
// before it, so writers are not starved). A writer may Downgrade to a reader
// without letting anyone in between.
//
// As with Mutex, an RWMutex value is one holder and its holds are
// reentrant (RLock while holding a read lock, Lock while holding the write
// lock). Its methods are safe for concurrent use.
type RWMutex struct {
	c     client
	h     holder
	write bool // the hold is a write hold; guarded by h.sem
}

// NewRWMutex returns the reader/writer lock whose queue is the directory
// dir, used through session s.
func NewRWMutex(s *coord.Session, dir string) *RWMutex {
	return &RWMutex{c: newClient(s, dir), h: newHolder()}
}

// errMode reports a hold of the other kind.
var errMode = errors.New("recipe: the RWMutex is held in the other mode")

// RLock blocks until a read hold is granted and returns its Lease. See
// Mutex.Lock for cancellation and errors.
func (rw *RWMutex) RLock(ctx context.Context) (*Lease, error) {
	return rw.lock(ctx, false)
}

// Lock blocks until the write hold is granted and returns its Lease. See
// Mutex.Lock for cancellation and errors.
func (rw *RWMutex) Lock(ctx context.Context) (*Lease, error) {
	return rw.lock(ctx, true)
}

func (rw *RWMutex) lock(ctx context.Context, write bool) (*Lease, error) {
	if err := rw.h.acquire(ctx); err != nil {
		return nil, err
	}
	defer rw.h.release()
	if rw.h.current() != nil && rw.write != write {
		return nil, errMode
	}
	if l, err := rw.h.reenter(); l != nil || err != nil {
		return l, err
	}
	mark, decide := readMark, rw.readTurn
	if write {
		mark, decide = writeMark, rw.c.exclusive
	}
	n, err := rw.c.createProtected(ctx, mark, nil, coord.EphemeralSequential)
	if err != nil {
		return nil, err
	}
	if err := rw.c.waitTurn(ctx, n.name, decide, readMark, writeMark); err != nil {
		rw.c.withdraw(ctx, n.name)
		return nil, err
	}
	l, err := rw.c.granted(ctx, n)
	if err != nil {
		return nil, err
	}
	rw.write = write
	rw.h.set(l, n.name, 1)
	return l, nil
}

// readTurn grants a reader once no writer is queued before it. It watches
// the nearest writer before it; writers that downgraded count as readers.
func (rw *RWMutex) readTurn(ctx context.Context, preds []contender) ([]contender, <-chan coord.Event, error) {
	for i := len(preds) - 1; i >= 0; i-- {
		if !isWrite(preds[i].name) {
			continue
		}
		p := rw.c.path(preds[i].name)
		// A plain read first: a downgrade is final, so a downgraded writer
		// needs no watch.
		data, _, err := rw.c.s.Get(ctx, p)
		var ch <-chan coord.Event
		if err == nil && string(data) != downgraded {
			data, _, ch, err = rw.c.s.GetW(ctx, p)
		}
		switch {
		case errors.Is(err, coord.ErrNoNode) || err == nil && string(data) == downgraded:
			preds = slices.Delete(preds, i, i+1) // no longer blocks readers
		case err != nil:
			return preds, nil, err
		default:
			return preds, ch, nil
		}
	}
	return preds, nil, nil
}

func isWrite(name string) bool {
	cs := sortedContenders([]string{name}, writeMark)
	return len(cs) == 1
}

// RUnlock releases a read hold; see Mutex.Unlock.
func (rw *RWMutex) RUnlock(ctx context.Context) error {
	return rw.unlock(ctx, false)
}

// Unlock releases the write hold; see Mutex.Unlock.
func (rw *RWMutex) Unlock(ctx context.Context) error {
	return rw.unlock(ctx, true)
}

func (rw *RWMutex) unlock(ctx context.Context, write bool) error {
	if err := rw.h.acquire(ctx); err != nil {
		return err
	}
	defer rw.h.release()
	if rw.h.current() == nil {
		return ErrNotHeld
	}
	if rw.write != write {
		return errMode
	}
	return rw.c.unlock(ctx, &rw.h)
}

// Downgrade turns the write hold into a read hold without releasing it:
// readers queued behind it are let in, writers still wait. The Lease (and
// its token) stays the same. The write hold must not be held reentrantly.
func (rw *RWMutex) Downgrade(ctx context.Context) error {
	if err := rw.h.acquire(ctx); err != nil {
		return err
	}
	defer rw.h.release()
	rw.h.mu.Lock()
	l, name, count := rw.h.lease, rw.h.name, rw.h.count
	rw.h.mu.Unlock()
	switch {
	case l == nil || !rw.write:
		return ErrNotHeld
	case count != 1:
		return fmt.Errorf("recipe: downgrade of %s held %d times", rw.c.dir, count)
	}
	if err := l.Err(); err != nil {
		return err
	}
	if _, err := rw.c.s.Set(ctx, rw.c.path(name), []byte(downgraded), -1); err != nil {
		return fmt.Errorf("recipe: downgrade %s: %w", rw.c.dir, err)
	}
	rw.write = false
	return nil
}

// RLocker returns a Locker whose Lock and Unlock are rw's RLock and
// RUnlock.
func (rw *RWMutex) RLocker() Locker { return rlocker{rw} }

type rlocker struct{ rw *RWMutex }

func (r rlocker) Lock(ctx context.Context) (*Lease, error) { return r.rw.RLock(ctx) }
func (r rlocker) Unlock(ctx context.Context) error         { return r.rw.RUnlock(ctx) }
