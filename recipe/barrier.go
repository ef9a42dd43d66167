package recipe

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/coordkit/coord"
)

// Barrier holds processes back until it is removed: while its node exists,
// Wait blocks. Its methods are safe for concurrent use.
type Barrier struct {
	s    *coord.Session
	path string
}

// NewBarrier returns the barrier whose node is path, used through session
// s.
func NewBarrier(s *coord.Session, path string) *Barrier {
	return &Barrier{s: s, path: path}
}

// Set raises the barrier (creates its node, and missing parents as
// containers). Raising a raised barrier does nothing.
func (b *Barrier) Set(ctx context.Context) error {
	if err := ensurePath(ctx, b.s, b.path, coord.Persistent); err != nil {
		return fmt.Errorf("recipe: set barrier %s: %w", b.path, err)
	}
	return nil
}

// Remove lowers the barrier and lets every waiter through. Removing a
// lowered barrier does nothing.
func (b *Barrier) Remove(ctx context.Context) error {
	err := b.s.Delete(ctx, b.path, -1)
	if err != nil && !errors.Is(err, coord.ErrNoNode) {
		return fmt.Errorf("recipe: remove barrier %s: %w", b.path, err)
	}
	return nil
}

// Wait blocks until the barrier is lowered (or was never raised), ctx ends,
// or the session does.
func (b *Barrier) Wait(ctx context.Context) error {
	for {
		ok, _, ch, err := b.s.ExistsW(ctx, b.path)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if err := waitEvent(ctx, b.s, ch); err != nil {
			return err
		}
	}
}

const (
	participantMark = "p-"
	readyName       = "ready"
)

// DoubleBarrier makes N participants start and finish a computation
// together: Enter blocks until N have entered, Leave until all of them have
// left. Each participant is an ephemeral-sequential node in the barrier's
// directory; the N-th to enter creates a "ready" node that releases the
// others, and the last to leave deletes it, so the directory can be used
// again by a new round once everyone has left.
//
// A DoubleBarrier value is one participant. Its methods are safe for
// concurrent use, but Enter and Leave must alternate.
type DoubleBarrier struct {
	c client
	n int

	mu   sync.Mutex
	name string // our node while we are in
}

// NewDoubleBarrier returns a participant of the double barrier for n
// processes held in the directory dir, through session s.
func NewDoubleBarrier(s *coord.Session, dir string, n int) *DoubleBarrier {
	return &DoubleBarrier{c: newClient(s, dir), n: max(n, 1)}
}

// Enter joins the barrier and blocks until n participants have joined. If
// ctx ends first, Enter withdraws (deletes its node) and returns the
// context's error; participants that already counted it are not recalled.
func (b *DoubleBarrier) Enter(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.name != "" {
		return fmt.Errorf("recipe: already entered %s", b.c.dir)
	}
	n, err := b.c.createProtected(ctx, participantMark, nil, coord.EphemeralSequential)
	if err != nil {
		return err
	}
	if err := b.waitReady(ctx); err != nil {
		b.c.withdraw(ctx, n.name)
		return err
	}
	b.name = n.name
	return nil
}

func (b *DoubleBarrier) waitReady(ctx context.Context) error {
	ready := b.c.path(readyName)
	for {
		ok, _, ch, err := b.c.s.ExistsW(ctx, ready)
		if err != nil || ok {
			return err
		}
		kids, _, err := b.c.s.Children(ctx, b.c.dir)
		if err != nil {
			return err
		}
		if len(sortedContenders(kids, participantMark)) >= b.n {
			_, err := b.c.s.Create(ctx, ready, nil, coord.Ephemeral)
			if err == nil || errors.Is(err, coord.ErrNodeExists) {
				return nil
			}
			return err
		}
		if err := waitEvent(ctx, b.c.s, ch); err != nil {
			return err
		}
	}
}

// Leave leaves the barrier and blocks until every participant has left. If
// ctx ends first, Leave returns the context's error; its node is gone by
// then or is deleted on the way out, so the others are not held up.
func (b *DoubleBarrier) Leave(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.name == "" {
		return ErrNotHeld
	}
	me := b.name
	err := b.leave(ctx, me)
	if err != nil {
		b.c.withdraw(ctx, me)
	}
	b.name = ""
	return err
}

// leave is ZooKeeper's double-barrier exit: the lowest participant waits for
// the highest to go, every other deletes itself and waits for the lowest,
// and the last one deletes the ready node with its own.
func (b *DoubleBarrier) leave(ctx context.Context, me string) error {
	for {
		kids, _, err := b.c.s.Children(ctx, b.c.dir)
		if errors.Is(err, coord.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		cs := sortedContenders(kids, participantMark)
		i := indexOf(cs, me)
		var wait string
		switch {
		case len(cs) == 0:
			return nil
		case len(cs) == 1 && i == 0:
			_, err := b.c.s.Multi(ctx, coord.DeleteOp(b.c.path(me), -1), coord.DeleteOp(b.c.path(readyName), -1))
			if err != nil {
				err = b.c.deleteNode(ctx, me)
			}
			return err
		case i == 0:
			wait = cs[len(cs)-1].name
		case i > 0:
			if err := b.c.deleteNode(ctx, me); err != nil {
				return err
			}
			continue
		default:
			wait = cs[0].name
		}
		ch, err := watchNode(ctx, b.c.s, b.c.path(wait))
		if err != nil {
			return err
		}
		if ch == nil {
			continue
		}
		if err := waitEvent(ctx, b.c.s, ch); err != nil {
			return err
		}
	}
}
