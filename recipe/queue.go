package recipe

import (
	"context"
	"errors"
	"fmt"

	"github.com/coordkit/coord"
)

const itemMark = "item-"

// Queue is a distributed FIFO queue with competing consumers, each item
// consumed exactly once.
//
// Items are persistent-sequential nodes in dir/items. A consumer claims the
// oldest unclaimed item by creating dir/claims/<item> (ephemeral, in one
// Multi that checks the item still exists), processes it, and acknowledges
// it by deleting item and claim in one Multi. A consumer that dies
// mid-item loses its claim with its session, and another consumer takes the
// item; its acknowledgement can no longer succeed, since an ended session's
// writes are refused. So every item is acknowledged exactly once. Its
// processing may start more than once (the first attempt's consumer died);
// the claim's fencing token (Item.Token) lets the side effects refuse the
// older attempt.
//
// Put never duplicates an item: a Put whose reply was lost is settled (the
// item adopted, or created again if it never was), and a Put whose context
// ended leaves no item. Its methods are safe for concurrent use.
type Queue struct {
	items  client
	claims client
}

// NewQueue returns the queue held in the directory dir, used through
// session s.
func NewQueue(s *coord.Session, dir string) *Queue {
	c := newClient(s, dir)
	return &Queue{items: newClient(s, c.path("items")), claims: newClient(s, c.path("claims"))}
}

// Put appends an item. If it returns an error, the item was not queued,
// unless the error wraps ErrUnknownOutcome.
func (q *Queue) Put(ctx context.Context, data []byte) error {
	_, err := q.items.createProtected(ctx, itemMark, data, coord.PersistentSequential)
	if err != nil {
		return fmt.Errorf("recipe: put to %s: %w", q.items.dir, err)
	}
	return nil
}

// Item is a claimed item: consume it with Ack, or give it back with
// Release.
type Item struct {
	Data  []byte
	Token int64 // fencing token of this claim (the claim node's Czxid)
	Name  string

	q *Queue
}

// Take claims the oldest unclaimed item, waiting for one if there is none.
// If ctx ends first it returns the context's error and holds no claim.
func (q *Queue) Take(ctx context.Context) (*Item, error) {
	for {
		it, chs, err := q.tryTake(ctx)
		if it != nil || err != nil {
			return it, err
		}
		select {
		case ev, ok := <-chs[0]:
			err = watchErr(ev, ok)
		case ev, ok := <-chs[1]:
			err = watchErr(ev, ok)
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			return nil, err
		}
	}
}

// TryTake claims the oldest unclaimed item, or returns nil if there is none.
func (q *Queue) TryTake(ctx context.Context) (*Item, error) {
	it, _, err := q.tryTake(ctx)
	return it, err
}

// tryTake claims an item, or returns watches that fire when the items or
// the claims change.
func (q *Queue) tryTake(ctx context.Context) (*Item, [2]<-chan coord.Event, error) {
	var chs [2]<-chan coord.Event
	items, ch, err := q.list(ctx, &q.items)
	if err != nil {
		return nil, chs, err
	}
	chs[0] = ch
	claimed, ch, err := q.list(ctx, &q.claims)
	if err != nil {
		return nil, chs, err
	}
	chs[1] = ch
	taken := make(map[string]bool, len(claimed))
	for _, c := range claimed {
		taken[c] = true
	}
	for _, c := range sortedContenders(items, itemMark) {
		if taken[c.name] {
			continue
		}
		it, err := q.claim(ctx, c.name)
		if it != nil || err != nil {
			return it, chs, err
		}
	}
	return nil, chs, nil
}

// list returns the children of c's directory and a watch on them; a missing
// directory is empty (and watched for its creation).
func (q *Queue) list(ctx context.Context, c *client) ([]string, <-chan coord.Event, error) {
	for {
		kids, _, ch, err := c.s.ChildrenW(ctx, c.dir)
		if !errors.Is(err, coord.ErrNoNode) {
			return kids, ch, err
		}
		ok, _, ch, err := c.s.ExistsW(ctx, c.dir)
		if err != nil || !ok {
			return nil, ch, err
		}
		c.s.StopWatch(ch) // created meanwhile: list it
	}
}

// claim tries to claim one item; nil, nil means someone else has it or it
// is gone.
func (q *Queue) claim(ctx context.Context, name string) (*Item, error) {
	item, claim := q.items.path(name), q.claims.path(name)
	for tries := 0; ; tries++ {
		res, err := q.claims.s.Multi(ctx, coord.CheckOp(item, -1), coord.CreateOp(claim, nil, coord.Ephemeral))
		switch {
		case err == nil:
			return q.claimed(ctx, name, res[1].Stat)
		case uncertain(err):
			return q.settleClaim(ctx, name, err)
		case errors.Is(err, coord.ErrNoNode) && res != nil && res[0].Err == nil && tries < 3:
			// The item is there but the claims directory is not.
			if err := q.claims.ensureDir(ctx); err != nil {
				return nil, err
			}
		case errors.Is(err, coord.ErrNoNode), errors.Is(err, coord.ErrNodeExists):
			return nil, nil
		default:
			return nil, err
		}
	}
}

// settleClaim finds out whether a claim whose reply was lost was made, and
// keeps it (ctx live) or gives it back (ctx ended).
func (q *Queue) settleClaim(ctx context.Context, name string, cause error) (*Item, error) {
	cctx, cancel := q.claims.cleanupContext(ctx)
	defer cancel()
	if err := q.claims.fence(cctx, name); err != nil {
		if errors.Is(err, coord.ErrSessionExpired) {
			return nil, err
		}
		return nil, errors.Join(cause, fmt.Errorf("%w: %w", ErrUnknownOutcome, err))
	}
	_, st, err := q.claims.s.Exists(cctx, q.claims.path(name))
	if err != nil {
		return nil, err
	}
	if st == nil || st.EphemeralOwner != q.claims.s.ID() {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil
	}
	if ctx.Err() != nil {
		q.claims.withdraw(ctx, name)
		return nil, ctx.Err()
	}
	return q.claimed(ctx, name, st)
}

// claimed reads a freshly claimed item.
func (q *Queue) claimed(ctx context.Context, name string, claim *coord.Stat) (*Item, error) {
	data, _, err := q.items.s.Get(ctx, q.items.path(name))
	if err != nil {
		q.claims.withdraw(ctx, name)
		if errors.Is(err, coord.ErrNoNode) {
			return nil, nil
		}
		return nil, err
	}
	return &Item{Data: data, Token: claim.Czxid, Name: name, q: q}, nil
}

// Ack consumes the item: it and its claim are deleted together. It fails
// (with coord.ErrSessionExpired, for one) if the claim was lost, in which
// case someone else consumes the item.
func (it *Item) Ack(ctx context.Context) error {
	q := it.q
	_, err := q.items.s.Multi(ctx, coord.DeleteOp(q.claims.path(it.Name), -1), coord.DeleteOp(q.items.path(it.Name), -1))
	if err != nil && uncertain(err) {
		// Settle it: after a fence, the item is gone iff the ack applied
		// (only an ack deletes items).
		cctx, cancel := q.items.cleanupContext(ctx)
		defer cancel()
		if ferr := q.items.fence(cctx, it.Name); ferr != nil {
			err = errors.Join(err, fmt.Errorf("%w: %w", ErrUnknownOutcome, ferr))
		} else if ok, _, xerr := q.items.s.Exists(cctx, q.items.path(it.Name)); xerr == nil && !ok {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("recipe: ack %s: %w", q.items.path(it.Name), err)
	}
	return nil
}

// Release gives the item back unconsumed, for another Take.
func (it *Item) Release(ctx context.Context) error {
	if err := it.q.claims.deleteNode(ctx, it.Name); err != nil {
		return fmt.Errorf("recipe: release %s: %w", it.q.items.path(it.Name), err)
	}
	return nil
}

// Len returns the number of items queued, claimed or not.
func (q *Queue) Len(ctx context.Context) (int, error) {
	kids, _, err := q.items.s.Children(ctx, q.items.dir)
	if errors.Is(err, coord.ErrNoNode) {
		return 0, nil
	}
	return len(sortedContenders(kids, itemMark)), err
}
