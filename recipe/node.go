package recipe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coordkit/coord"
)

// Errors reported by recipes, besides coord's own.
var (
	// ErrReleased is a Lease's Err after it was released (Unlock, Release,
	// Resign).
	ErrReleased = errors.New("recipe: released")
	// ErrMaybeLost is a Lease's Err after its session was Suspended: the
	// member lost its quorum, and the rest of the ensemble may already have
	// expired the session and granted the lock to someone else.
	ErrMaybeLost = errors.New("recipe: session suspended; the hold may be lost")
	// ErrNodeGone means the node that held a lock, lease or candidacy was
	// deleted by someone else.
	ErrNodeGone = errors.New("recipe: node deleted")
	// ErrNotHeld is returned when releasing what is not held.
	ErrNotHeld = errors.New("recipe: not held")
	// ErrUnknownOutcome wraps the error of a write whose outcome could not
	// be settled (not even a fence could commit). Its node, if any, is
	// removed by the next call on the same value, or goes with the session.
	ErrUnknownOutcome = errors.New("recipe: outcome unknown")
)

// protectedPrefix starts the names of nodes created with a guid.
const protectedPrefix = "_c_"

// unlockTimeout bounds the releases that undo a failed MultiLock.Lock.
const unlockTimeout = 5 * time.Second

// seqLen is the length of the sequence suffix coord appends.
const seqLen = 10

// createFunc creates a node and returns its path and Stat. It is
// client.create's seam for tests that lose replies on purpose.
type createFunc func(ctx context.Context, s *coord.Session, path string, data []byte, mode coord.CreateMode) (string, *coord.Stat, error)

// client is what every recipe value shares: its session, the directory it
// works in, and guids whose nodes still have to be cleaned up.
type client struct {
	s      *coord.Session
	dir    string
	create createFunc // nil: createNode

	// onResolve, when set, learns how each unknown outcome was settled
	// (tests).
	onResolve func(found bool, err error)

	mu      sync.Mutex
	orphans []string // name prefixes ("_c_<guid>-") of nodes to delete
}

func newClient(s *coord.Session, dir string) client {
	return client{s: s, dir: strings.TrimSuffix(dir, "/")}
}

func (c *client) path(name string) string {
	if c.dir == "" {
		return "/" + name
	}
	return c.dir + "/" + name
}

// createNode creates one node through a Multi so that its Stat (and so its
// Czxid, the fencing token) comes back with the reply.
func createNode(ctx context.Context, s *coord.Session, path string, data []byte, mode coord.CreateMode) (string, *coord.Stat, error) {
	res, err := s.Multi(ctx, coord.CreateOp(path, data, mode))
	if err != nil {
		return "", nil, err
	}
	return res[0].Path, res[0].Stat, nil
}

func (c *client) doCreate(ctx context.Context, path string, data []byte, mode coord.CreateMode) (string, *coord.Stat, error) {
	if c.create != nil {
		return c.create(ctx, c.s, path, data, mode)
	}
	return createNode(ctx, c.s, path, data, mode)
}

// uncertain reports whether a write that failed with err may still apply.
func uncertain(err error) bool {
	return errors.Is(err, coord.ErrNoQuorum) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// newGUID returns 32 random hex digits.
func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cleanupTimeout bounds the writes that undo a cancelled call.
func (c *client) cleanupTimeout() time.Duration {
	return min(max(c.s.Timeout(), 2*time.Second), 10*time.Second)
}

// cleanupContext is a context for undoing work after ctx ended: it keeps
// ctx's values but not its cancellation.
func (c *client) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.cleanupTimeout())
}

// node is a created node: its name in the directory and its Stat.
type node struct {
	name string
	stat *coord.Stat
}

// createProtected creates dir/_c_<guid>-<name> (plus a sequence suffix for
// sequential modes), creating the directory if needed. On an unknown
// outcome it settles what happened (see resolve): if the node exists and
// ctx is still live it is adopted, if ctx has ended it is deleted; if it
// does not exist and ctx is live the create is tried again.
func (c *client) createProtected(ctx context.Context, name string, data []byte, mode coord.CreateMode) (node, error) {
	c.reapOrphans(ctx)
	prefix := protectedPrefix + newGUID() + "-"
	full := c.path(prefix + name)
	for tries := 0; ; tries++ {
		if err := ctx.Err(); err != nil {
			return node{}, err
		}
		p, st, err := c.doCreate(ctx, full, data, mode)
		switch {
		case err == nil:
			return node{name: baseName(p), stat: st}, nil
		case errors.Is(err, coord.ErrNoNode) && tries < 10:
			if err := c.ensureDir(ctx); err != nil {
				return node{}, err
			}
			continue
		case !uncertain(err):
			return node{}, err
		}
		n, rerr := c.resolve(ctx, prefix, mode)
		if c.onResolve != nil {
			c.onResolve(n.name != "", rerr)
		}
		if rerr != nil {
			c.addOrphan(prefix)
			return node{}, errors.Join(err, fmt.Errorf("%w: %w", ErrUnknownOutcome, rerr))
		}
		if n.name != "" {
			if ctx.Err() == nil {
				return n, nil
			}
			if derr := c.deleteCleanup(ctx, n.name); derr != nil {
				return node{}, errors.Join(err, fmt.Errorf("%w: created, and not deleted: %w", ErrUnknownOutcome, derr))
			}
			return node{}, err
		}
		if ctx.Err() != nil {
			return node{}, err
		}
		// Not created, and it never will be: try again.
	}
}

// resolve settles the outcome of a create of a node named prefix...: it
// proposes a fence through the same session, after which the create has
// either applied or never will, then looks for the node.
func (c *client) resolve(ctx context.Context, prefix string, mode coord.CreateMode) (node, error) {
	cctx, cancel := c.cleanupContext(ctx)
	defer cancel()
	if err := c.fence(cctx, prefix); err != nil {
		if errors.Is(err, coord.ErrSessionExpired) && (mode == coord.Ephemeral || mode == coord.EphemeralSequential) {
			// The session is gone and its ephemerals with it; a late create
			// of it would be refused.
			return node{}, nil
		}
		return node{}, err
	}
	kids, _, err := c.s.Children(cctx, c.dir)
	if errors.Is(err, coord.ErrNoNode) {
		return node{}, nil
	}
	if err != nil {
		return node{}, err
	}
	for _, k := range kids {
		if strings.HasPrefix(k, prefix) {
			_, st, err := c.s.Exists(cctx, c.path(k))
			if err != nil {
				return node{}, err
			}
			if st == nil {
				return node{}, nil
			}
			return node{name: k, stat: st}, nil
		}
	}
	return node{}, nil
}

// fence proposes a write that always fails (the delete of a node that never
// exists) and returns once it has applied on this member. Any write this
// member proposed before it has applied by then, or never will.
func (c *client) fence(ctx context.Context, prefix string) error {
	err := c.s.Delete(ctx, c.path(prefix+"fence"), -1)
	var ce *coord.Error
	switch {
	case err == nil, errors.Is(err, coord.ErrNoNode):
		return nil
	case errors.Is(err, coord.ErrSessionExpired):
		return err
	case errors.As(err, &ce):
		return nil // refused by the state machine, so it was in the log
	}
	return err
}

// deleteCleanup deletes dir/name after ctx ended, bounded by the cleanup
// deadline; if that fails too the node is left to reapOrphans.
func (c *client) deleteCleanup(ctx context.Context, name string) error {
	cctx, cancel := c.cleanupContext(ctx)
	defer cancel()
	err := c.deleteNode(cctx, name)
	if err != nil && !errors.Is(err, coord.ErrSessionExpired) {
		c.addOrphan(name)
	}
	return err
}

// withdraw is deleteCleanup on a path that already returns another error:
// a node it cannot delete is recorded for reapOrphans, which is all there
// is to do about it, so its error is not the caller's to report.
func (c *client) withdraw(ctx context.Context, name string) {
	_ = c.deleteCleanup(ctx, name)
}

// deleteNode deletes dir/name; a node already gone is fine.
func (c *client) deleteNode(ctx context.Context, name string) error {
	err := c.s.Delete(ctx, c.path(name), -1)
	if err == nil || errors.Is(err, coord.ErrNoNode) {
		return nil
	}
	return err
}

func (c *client) addOrphan(prefix string) {
	c.mu.Lock()
	if !slices.Contains(c.orphans, prefix) {
		c.orphans = append(c.orphans, prefix)
	}
	c.mu.Unlock()
}

// reapOrphans deletes nodes left behind by earlier calls whose cleanup could
// not complete. It is best effort: what it cannot delete stays listed.
func (c *client) reapOrphans(ctx context.Context) {
	c.mu.Lock()
	prefixes := c.orphans
	c.orphans = nil
	c.mu.Unlock()
	if len(prefixes) == 0 {
		return
	}
	var left []string
	for _, p := range prefixes {
		if err := c.fence(ctx, p); err != nil {
			left = append(left, p)
			continue
		}
		kids, _, err := c.s.Children(ctx, c.dir)
		if err != nil && !errors.Is(err, coord.ErrNoNode) {
			left = append(left, p)
			continue
		}
		for _, k := range kids {
			if strings.HasPrefix(k, p) {
				if err := c.deleteNode(ctx, k); err != nil {
					left = append(left, p)
				}
			}
		}
	}
	for _, p := range left {
		c.addOrphan(p)
	}
}

// ensureDir creates the directory and its missing ancestors as containers.
func (c *client) ensureDir(ctx context.Context) error {
	return ensurePath(ctx, c.s, c.dir, coord.Container)
}

// ensurePath creates path with mode, and its missing ancestors as
// containers.
func ensurePath(ctx context.Context, s *coord.Session, path string, mode coord.CreateMode) error {
	if path == "" || path == "/" {
		return nil
	}
	for tries := 0; tries < 10; tries++ {
		ok, _, err := s.Exists(ctx, path)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		_, err = s.Create(ctx, path, nil, mode)
		switch {
		case err == nil, errors.Is(err, coord.ErrNodeExists):
			return nil
		case errors.Is(err, coord.ErrNoNode):
			parent := path[:strings.LastIndexByte(path, '/')]
			if err := ensurePath(ctx, s, parent, coord.Container); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return fmt.Errorf("recipe: creating %s: its parent keeps disappearing", path)
}

// baseName returns the last element of a znode path.
func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// parentOf returns the parent of a znode path ("/" for "/a").
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// seqOf returns the sequence number a sequential node's name ends with.
func seqOf(name string) (int64, bool) {
	if len(name) < seqLen {
		return 0, false
	}
	n, err := strconv.ParseInt(name[len(name)-seqLen:], 10, 64)
	return n, err == nil && n >= 0
}

// contender is a sequential node in a recipe's queue.
type contender struct {
	name string
	seq  int64
}

// sortedContenders returns the children named mark+sequence or
// <anything>-mark+sequence for one of marks (like "lock-"), in sequence
// order. Protected names ("_c_<guid>-lock-0000000007") and plain ones
// ("lock-0000000007", as other ZooKeeper clients make them) both count.
func sortedContenders(kids []string, marks ...string) []contender {
	out := make([]contender, 0, len(kids))
	for _, k := range kids {
		seq, ok := seqOf(k)
		if !ok {
			continue
		}
		base := k[:len(k)-seqLen]
		for _, m := range marks {
			if base == m || strings.HasSuffix(base, "-"+m) {
				out = append(out, contender{k, seq})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b contender) int {
		if a.seq != b.seq {
			if a.seq < b.seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

func indexOf(cs []contender, name string) int {
	for i, c := range cs {
		if c.name == name {
			return i
		}
	}
	return -1
}

// watchResult turns a watch's event into an error when the watch ended
// because the session did.
func watchErr(ev coord.Event, ok bool) error {
	if !ok {
		return coord.ErrClosed
	}
	if ev.Type == coord.NotWatching {
		if ev.Err != nil {
			return ev.Err
		}
		return coord.ErrClosed
	}
	return nil
}

// waitEvent waits for a one-shot watch of s to fire or ctx to end. A wait
// that ctx ends removes the watch, so abandoned waits leave nothing on the
// session.
func waitEvent(ctx context.Context, s *coord.Session, ch <-chan coord.Event) error {
	select {
	case ev, ok := <-ch:
		return watchErr(ev, ok)
	case <-ctx.Done():
		s.StopWatch(ch)
		return ctx.Err()
	}
}

// sessionErr returns why the session is over, or nil while it lives.
func sessionErr(s *coord.Session) error {
	switch s.CurrentState() {
	case coord.Expired:
		return coord.ErrSessionExpired
	case coord.Closed:
		return coord.ErrClosed
	}
	return nil
}

// turn decides whether our node has its turn, given the contenders queued
// before it (in sequence order). That list can only shrink: a node created
// later gets a higher sequence number. It returns the predecessors that
// still matter and a watch to wait on, or a nil watch when our turn has
// come.
type turn func(ctx context.Context, preds []contender) ([]contender, <-chan coord.Event, error)

// waitTurn blocks until decide grants our node its turn, ctx ends, or the
// session goes. It lists the directory once; after that it only reads the
// predecessors that are left, which stays cheap however many nodes came
// and went in the directory.
func (c *client) waitTurn(ctx context.Context, me string, decide turn, marks ...string) error {
	kids, _, err := c.s.Children(ctx, c.dir)
	if err != nil {
		return err
	}
	cs := sortedContenders(kids, marks...)
	i := indexOf(cs, me)
	if i < 0 {
		if err := sessionErr(c.s); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", ErrNodeGone, c.path(me))
	}
	preds := cs[:i]
	for {
		var ch <-chan coord.Event
		preds, ch, err = decide(ctx, preds)
		if err != nil || ch == nil {
			return err
		}
		if err := waitEvent(ctx, c.s, ch); err != nil {
			return err
		}
	}
}

// exclusive is the turn of a lock with one holder: ours comes when no
// predecessor is left; until then we watch only the nearest one.
func (c *client) exclusive(ctx context.Context, preds []contender) ([]contender, <-chan coord.Event, error) {
	for len(preds) > 0 {
		ch, err := watchNode(ctx, c.s, c.path(preds[len(preds)-1].name))
		if err != nil || ch != nil {
			return preds, ch, err
		}
		preds = preds[:len(preds)-1] // gone
	}
	return nil, nil, nil
}

// watchNode sets a watch on a node that exists, or returns a nil channel if
// it is gone. It uses GetW rather than ExistsW, which would leave a watch
// behind on a node that never comes back.
func watchNode(ctx context.Context, s *coord.Session, path string) (<-chan coord.Event, error) {
	_, _, ch, err := s.GetW(ctx, path)
	if errors.Is(err, coord.ErrNoNode) {
		return nil, nil
	}
	return ch, err
}

// granted starts the Lease of a node whose turn has come. If the hold is
// already lost (the session was suspended meanwhile, or the node deleted),
// it deletes the node and returns why.
func (c *client) granted(ctx context.Context, n node) (*Lease, error) {
	l := newLease(c.s, c.path(n.name), n.stat)
	if err := l.Err(); err != nil {
		c.withdraw(ctx, n.name)
		return nil, err
	}
	return l, nil
}
