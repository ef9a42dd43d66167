package coord

// Hooks for servers that speak ZooKeeper's client protocol (zkserver): what
// such a server needs beyond the client API to answer as ZooKeeper does.

import (
	"context"
	"fmt"

	"github.com/coordkit/coord/internal/wire"
)

// LastZxid returns the log index of the last entry this member has applied:
// ZooKeeper's "last processed zxid", which servers put in reply headers and
// clients send back when they reconnect. It is cheap enough to call for
// every reply.
func (c *Coord) LastZxid() int64 { return c.fsm.lastApplied() }

// watchKinds are the watch kinds a WatcherType selects.
func watchKinds(which WatcherType) []watchKind {
	switch which {
	case WatchChildren:
		return []watchKind{watchChild}
	case WatchData:
		return []watchKind{watchData}
	case WatchAny:
		return []watchKind{watchData, watchChild, watchPersistent, watchRecursive}
	case WatchPersistent:
		return []watchKind{watchPersistent}
	case WatchPersistentRecursive:
		return []watchKind{watchRecursive}
	}
	return nil
}

// HasWatches reports whether the session has a watch of the given type on
// path, with the types RemoveWatches uses. It is ZooKeeper's checkWatches.
func (s *Session) HasWatches(path string, which WatcherType) bool {
	return len(s.c.watches.find(s.id, path, watchKinds(which))) > 0
}

// WatchCount returns how many watches the session has on this member.
func (s *Session) WatchCount() int { return s.c.watches.sessionCount(s.id) }

// RestoreWatches sets again the watches a ZooKeeper client held before it
// reconnected, as ZooKeeper's setWatches does. relZxid is the last zxid the
// client saw. A one-shot watch whose event the client missed since then fires
// at once instead of being set: a data watch (data) with NodeDeleted or
// NodeDataChanged, an exist watch (exist: a data watch set while the node
// was missing) with NodeCreated, a child watch (child) with NodeDeleted or
// NodeChildrenChanged. The others, and the persistent and recursive watches,
// are set. Reading the tree and setting the watches is one atomic step, so
// no change falls between them.
//
// The session must have been opened with WithWatchFunc, which receives the
// events, before any event of a later change.
func (s *Session) RestoreWatches(ctx context.Context, relZxid int64, data, exist, child, persistent, recursive []string) error {
	if s.sink == nil {
		return fmt.Errorf("coord: restoreWatches: %w: the session has no WatchFunc", ErrBadArguments)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.serving(); err != nil {
		return fmt.Errorf("coord: restoreWatches: %w", err)
	}
	err := s.c.fsm.view(func(v view) error {
		if v.session(s.id) == nil {
			return ErrSessionExpired
		}
		set := func(kind watchKind, existed bool, paths []string) error {
			for _, p := range paths {
				valid := validatePath(p, false) == nil
				var n *wire.Node
				if valid {
					var err error
					if n, err = v.node(p); err != nil {
						return err
					}
				}
				w := &watch{kind: kind, path: p, session: s.id, zxid: relZxid, existed: existed, sink: s.sink}
				if kind == watchData || kind == watchChild {
					if ch, ok := missedChange(w, n); ok {
						s.sink(Event{Type: ch.Type, Path: p, Zxid: ch.Zxid})
						continue
					}
				}
				if !valid {
					continue // such a watch could never fire
				}
				w.zxid = v.appliedIndex()
				if kind == watchPersistent || kind == watchRecursive {
					w.existed = n != nil
				}
				s.c.watches.add(w)
			}
			return nil
		}
		for _, l := range []struct {
			kind    watchKind
			existed bool
			paths   []string
		}{
			{watchData, true, data}, {watchData, false, exist}, {watchChild, true, child},
			{watchPersistent, false, persistent}, {watchRecursive, false, recursive},
		} {
			if err := set(l.kind, l.existed, l.paths); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("coord: restoreWatches: %w", err)
	}
	return nil
}
