package recipe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/coordkit/coord"
)

const leaseMark = "lease-"

// Semaphore hands out up to N leases at a time, in arrival order (a waiter
// is never overtaken by a later one). Every process using the same
// directory must agree on N.
//
// Acquirers queue as ephemeral-sequential nodes; the first N hold leases.
// Waiters watch the directory, since any holder's release can admit them.
// A Semaphore value may hold several leases; its methods are safe for
// concurrent use.
type Semaphore struct {
	c client
	n int

	mu   sync.Mutex
	held map[*Lease]string // lease -> node name
}

// NewSemaphore returns the semaphore with n leases whose queue is the
// directory dir, used through session s. n must be at least 1.
func NewSemaphore(s *coord.Session, dir string, n int) *Semaphore {
	return &Semaphore{c: newClient(s, dir), n: max(n, 1), held: make(map[*Lease]string)}
}

// Acquire blocks until a lease is granted and returns it. If ctx ends
// first, Acquire deletes its node and returns the context's error.
func (sem *Semaphore) Acquire(ctx context.Context) (*Lease, error) {
	n, err := sem.c.createProtected(ctx, leaseMark, nil, coord.EphemeralSequential)
	if err != nil {
		return nil, err
	}
	if err := sem.c.waitTurn(ctx, n.name, sem.turn, leaseMark); err != nil {
		sem.c.withdraw(ctx, n.name)
		return nil, err
	}
	l, err := sem.c.granted(ctx, n)
	if err != nil {
		return nil, err
	}
	sem.mu.Lock()
	sem.held[l] = n.name
	sem.mu.Unlock()
	return l, nil
}

func (sem *Semaphore) turn(ctx context.Context, preds []contender) ([]contender, <-chan coord.Event, error) {
	if len(preds) < sem.n {
		return preds, nil, nil
	}
	kids, _, ch, err := sem.c.s.ChildrenW(ctx, sem.c.dir)
	if err != nil {
		return preds, nil, err
	}
	present := make(map[string]bool, len(kids))
	for _, k := range kids {
		present[k] = true
	}
	preds = slices.DeleteFunc(preds, func(c contender) bool { return !present[c.name] })
	if len(preds) < sem.n {
		sem.c.s.StopWatch(ch)
		return preds, nil, nil
	}
	return preds, ch, nil
}

// Release returns a lease acquired from sem. If the delete cannot be
// confirmed before ctx ends, the node is deleted by the next call on sem (or
// goes with the session) and the error is reported.
func (sem *Semaphore) Release(ctx context.Context, l *Lease) error {
	sem.mu.Lock()
	name, ok := sem.held[l]
	delete(sem.held, l)
	sem.mu.Unlock()
	if !ok {
		return ErrNotHeld
	}
	l.end(ErrReleased)
	if err := sem.c.deleteNode(ctx, name); err != nil {
		if !errors.Is(err, coord.ErrSessionExpired) {
			sem.c.addOrphan(name)
		}
		return fmt.Errorf("recipe: release %s: %w", l.path, err)
	}
	return nil
}
