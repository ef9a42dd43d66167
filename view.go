package coord

import (
	"cmp"
	"slices"
	"time"

	"github.com/coordkit/coord/internal/wire"
)

// view reads the state machine's committed state. A view is valid only
// inside the function it was passed to (fsm.view), which holds the state
// machine's read lock: everything read through one view is one state, and
// no watch event of a later change can be delivered while it is in use, so
// a watch registered through it sees every change after the state it read.
// Nodes and sessions it returns are shared: do not modify them.
type view struct{ f *fsm }

// view runs fn with a view of the committed state.
func (f *fsm) view(fn func(v view) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	return fn(view{f})
}

// peek runs fn with a view of the committed state, unless the state
// machine is closed (the member is stopping), when there is nothing to
// read.
func (f *fsm) peek(fn func(v view)) {
	_ = f.view(func(v view) error {
		fn(v)
		return nil
	})
}

// appliedIndex is the log index of the last applied entry: the zxid of the
// state the view shows.
func (v view) appliedIndex() int64 { return int64(v.f.applied) }

// treeDigest is the digest of the tree the view shows (digest.go).
func (v view) treeDigest() uint64 { return v.f.digest }

// node returns the node at path, nil if absent.
func (v view) node(path string) (*wire.Node, error) { return v.f.storedNode(path) }

// children lists the names of path's children in byte order; hint is how
// many there are, if known.
func (v view) children(path string, hint int) ([]string, error) {
	f := v.f
	if names, ok := f.kids.list(path); ok {
		return names, nil
	}
	prefix := childrenPrefix(path)
	names := make([]string, 0, max(hint, 0))
	err := f.db.Scan(prefix, func(k, _ []byte) bool {
		names = append(names, childName(prefix, k))
		return true
	})
	if err == nil {
		f.kids.fill(path, names)
	}
	return names, err
}

// descendants counts the nodes below path, at any depth.
func (v view) descendants(path string) (int, error) {
	if path == "/" {
		return int(v.f.count) - 1, nil
	}
	n := 0
	count := func(_, _ []byte) bool { n++; return true }
	if err := v.f.db.Scan(childrenPrefix(path), count); err != nil {
		return 0, err
	}
	err := v.f.db.Scan(deepPrefix(path), count)
	return n, err
}

// session returns a session's record, nil if it does not exist.
func (v view) session(id int64) *wire.Session { return v.f.sessions[id] }

// ephemerals lists the ephemeral nodes of a session whose paths start with
// prefix, in path order.
func (v view) ephemerals(session int64, prefix string) ([]string, error) {
	var paths []string
	err := v.f.db.Scan(ephemeralsPrefix(session, prefix), func(k, _ []byte) bool {
		paths = append(paths, ephemeralPath(k))
		return true
	})
	return paths, err
}

// treeCounts is the size of the replicated state.
type treeCounts struct {
	znodes, ephemerals int64
	sessions           int
	diskBytes          uint64
}

func (v view) counts() treeCounts {
	return treeCounts{znodes: v.f.count, ephemerals: v.f.ephemerals, sessions: len(v.f.sessions), diskBytes: v.f.db.DiskUsage()}
}

// orphans lists the attached sessions that incarnation hosts in the
// replicated table but that hosted does not know, last renewed on their own
// before olderThan.
func (v view) orphans(incarnation uint64, hosted func(int64) bool, olderThan time.Time) []wire.SessionRef {
	var refs []wire.SessionRef
	for id, s := range v.f.sessions {
		if s.Incarnation == incarnation && !s.Detached && !hosted(id) && v.f.seen[id].Before(olderThan) {
			refs = append(refs, wire.SessionRef{ID: id})
		}
	}
	return refs
}

// expired lists the sessions whose last renewal, as this member saw it, is
// older than their timeout. Renewals seen before since (when this member
// became leader) count as seen at since. Attached sessions get slack more:
// their host may have been alive for up to one heartbeat interval after
// its last heartbeat.
func (v view) expired(now, since time.Time, slack time.Duration) []wire.SessionRef {
	f := v.f
	var refs []wire.SessionRef
	for id, s := range f.sessions {
		seen, idx, grace := f.seen[id], s.RenewIndex, time.Duration(0)
		if !s.Detached {
			grace = slack
			if hb, ok := f.heartbeats[s.Incarnation]; ok {
				idx = max(idx, hb)
				if t := f.heard[s.Incarnation]; t.After(seen) {
					seen = t
				}
			}
		}
		if since.After(seen) {
			seen = since
		}
		if now.Sub(seen) > time.Duration(s.Timeout)*time.Millisecond+grace {
			refs = append(refs, wire.SessionRef{ID: id, RenewIndex: idx})
		}
	}
	slices.SortFunc(refs, func(a, b wire.SessionRef) int { return cmp.Compare(a.ID, b.ID) })
	return refs
}

// reapable lists up to limit containers that have had children and have
// none left, and TTL nodes without children unmodified for their TTL at
// time now (ms).
func (v view) reapable(now int64, limit int) []string {
	var paths []string
	// A failed scan reaps less this round; the next one looks again.
	_ = v.f.db.Scan(reapPrefix(), func(k, _ []byte) bool {
		path := reapPath(k)
		n, err := v.f.storedNode(path)
		if err != nil || n == nil || n.NumChildren > 0 {
			return true
		}
		if (n.Mode == wire.ModeContainer && n.Cversion > 0) || (n.Mode == wire.ModeTTL && now-n.Mtime > n.TTL) {
			paths = append(paths, path)
		}
		return len(paths) < limit
	})
	return paths
}
