package coord

import (
	"context"
	"slices"
	"sync"

	"github.com/coordkit/coord/internal/wire"
)

// Event reports a change to a watched znode, or the end of a watch.
type Event struct {
	Type EventType
	Path string
	// Zxid is the log index of the write that caused the event (0 for
	// NotWatching).
	Zxid int64
	// Err says why a watch ended, for NotWatching: ErrSessionExpired,
	// ErrClosed.
	Err error
}

type watchKind uint8

const (
	watchData       watchKind = iota // GetW, ExistsW: one-shot
	watchChild                       // ChildrenW: one-shot
	watchPersistent                  // AddWatch(path, false)
	watchRecursive                   // AddWatch(path, true)
)

// watch is one registered watch.
type watch struct {
	kind    watchKind
	path    string
	session int64
	zxid    int64 // applied index when the watch was set
	existed bool  // data watches: whether the node existed then
	ch      chan Event
	w       *Watcher    // persistent kinds
	sink    func(Event) // the session's WatchFunc, which replaces ch and w
}

// deliver hands ev to the watch's consumer without blocking; last marks
// the watch's final event.
func (w *watch) deliver(ev Event, last bool) {
	switch {
	case w.sink != nil:
		w.sink(ev)
	case w.w != nil && last:
		w.w.finish(&ev)
	case w.w != nil:
		w.w.push(ev)
	default:
		w.ch <- ev
		close(w.ch)
	}
}

// firing is one change being delivered. A session with a WatchFunc gets
// each change once, however many of its watches the change triggers, as a
// ZooKeeper server sends a watcher one event per change; every triggered
// one-shot watch is consumed all the same.
type firing struct {
	ev   Event
	sent []int64 // sessions whose WatchFunc has ev
}

func (f *firing) deliver(w *watch, last bool) {
	if w.sink != nil {
		if slices.Contains(f.sent, w.session) {
			return
		}
		f.sent = append(f.sent, w.session)
	}
	w.deliver(f.ev, last)
}

// watchRegistry holds the watches of the sessions a member hosts and fires
// them as the member applies changes. Firing never blocks: one-shot watches
// have a one-slot channel that receives exactly one event, and persistent
// watchers queue without bound.
//
// It knows sessions only by id; the session host ends a session's watches
// when the session ends.
type watchRegistry struct {
	mu sync.Mutex
	// tables by path, one per kind
	tables    [4]map[string][]*watch
	bySession map[int64]map[*watch]struct{}
}

func newWatchRegistry() *watchRegistry {
	r := &watchRegistry{bySession: make(map[int64]map[*watch]struct{})}
	for i := range r.tables {
		r.tables[i] = make(map[string][]*watch)
	}
	return r
}

// add registers w. The caller holds the state machine's read lock, so no
// change can slip between the read that set the watch and its registration.
// A session with a WatchFunc has at most one watch of each kind on a path,
// as in a ZooKeeper server's watch tables: setting it again does nothing.
func (r *watchRegistry) add(w *watch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w.sink != nil {
		for _, x := range r.tables[w.kind][w.path] {
			if x.session == w.session {
				return
			}
		}
	}
	r.tables[w.kind][w.path] = append(r.tables[w.kind][w.path], w)
	set := r.bySession[w.session]
	if set == nil {
		set = make(map[*watch]struct{})
		r.bySession[w.session] = set
	}
	set[w] = struct{}{}
}

// removeLocked unregisters w.
func (r *watchRegistry) removeLocked(w *watch) {
	list := r.tables[w.kind][w.path]
	for i, x := range list {
		if x == w {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(r.tables[w.kind], w.path)
	} else {
		r.tables[w.kind][w.path] = list
	}
	if set := r.bySession[w.session]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(r.bySession, w.session)
		}
	}
}

func (r *watchRegistry) remove(w *watch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(w)
}

// fireOneShot delivers ev to every one-shot watch of kind on path and
// unregisters them.
func (r *watchRegistry) fireOneShot(kind watchKind, path string, f *firing) {
	list := r.tables[kind][path]
	if len(list) == 0 {
		return
	}
	delete(r.tables[kind], path)
	for _, w := range list {
		if set := r.bySession[w.session]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(r.bySession, w.session)
			}
		}
		f.deliver(w, true)
	}
}

func (r *watchRegistry) firePersistent(kind watchKind, path string, f *firing) {
	for _, w := range r.tables[kind][path] {
		f.deliver(w, false)
	}
}

// fire delivers the events of applied changes, in order. The caller holds
// the state machine's write lock: the changes are not readable yet.
func (r *watchRegistry) fire(changes []change) {
	if len(changes) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var sent []int64
	for _, ch := range changes {
		f := &firing{ev: Event{Type: ch.Type, Path: ch.Path, Zxid: ch.Zxid}, sent: sent[:0]}
		switch ch.Type {
		case NodeCreated, NodeDataChanged:
			r.fireOneShot(watchData, ch.Path, f)
		case NodeDeleted:
			r.fireOneShot(watchData, ch.Path, f)
			r.fireOneShot(watchChild, ch.Path, f)
		case NodeChildrenChanged:
			r.fireOneShot(watchChild, ch.Path, f)
		}
		r.firePersistent(watchPersistent, ch.Path, f)
		if ch.Type != NodeChildrenChanged && len(r.tables[watchRecursive]) > 0 {
			for p := ch.Path; ; p = parentOf(p) {
				r.firePersistent(watchRecursive, p, f)
				if p == "/" {
					break
				}
			}
		}
		sent = f.sent
	}
}

// end unregisters w and tells its consumer it no longer watches.
func (r *watchRegistry) end(w *watch, err error) {
	r.endWith(w, Event{Type: NotWatching, Path: w.path, Err: err})
}

// endWith unregisters w and delivers ev as its last event.
func (r *watchRegistry) endWith(w *watch, ev Event) {
	r.mu.Lock()
	_, live := r.bySession[w.session][w]
	if live {
		r.removeLocked(w)
	}
	r.mu.Unlock()
	if !live {
		return
	}
	w.deliver(ev, true)
}

// endSession ends every watch of a session.
func (r *watchRegistry) endSession(id int64, err error) {
	r.mu.Lock()
	var ws []*watch
	for w := range r.bySession[id] {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	for _, w := range ws {
		r.end(w, err)
	}
}

// recovered checks each watch against a state loaded from a snapshot the
// way ZooKeeper checks re-registered watches, and fires those whose event
// happened meanwhile. Watches of sessions the state no longer has are left
// to the session host, which ends those sessions.
func (r *watchRegistry) recovered(v view) {
	r.mu.Lock()
	var all []*watch
	for _, set := range r.bySession {
		for w := range set {
			all = append(all, w)
		}
	}
	r.mu.Unlock()
	var changes []change
	for _, w := range all {
		if v.session(w.session) == nil {
			continue
		}
		n, err := v.node(w.path)
		if err != nil {
			continue
		}
		if ch, ok := missedChange(w, n); ok {
			changes = append(changes, ch)
		}
	}
	r.fire(changes)
}

// find returns the session's watches on path of the given kinds.
func (r *watchRegistry) find(session int64, path string, kinds []watchKind) []*watch {
	r.mu.Lock()
	defer r.mu.Unlock()
	var found []*watch
	for _, k := range kinds {
		for _, w := range r.tables[k][path] {
			if w.session == session {
				found = append(found, w)
			}
		}
	}
	return found
}

// stopOneShot unregisters the session's one-shot watch that delivers on
// ch, if it has not fired.
func (r *watchRegistry) stopOneShot(session int64, ch <-chan Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for w := range r.bySession[session] {
		if w.ch != nil && (<-chan Event)(w.ch) == ch {
			r.removeLocked(w)
			return true
		}
	}
	return false
}

// sessionCount returns how many watches a session has.
func (r *watchRegistry) sessionCount(session int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bySession[session])
}

// missedChange says which event a watch set at w.zxid would have seen,
// given the node's state now (nil: absent).
func missedChange(w *watch, n *wire.Node) (change, bool) {
	switch {
	case n == nil && (w.existed || w.kind == watchChild):
		return change{NodeDeleted, w.path, 0}, true
	case n == nil:
		return change{}, false
	case !w.existed && w.kind == watchData:
		return change{NodeCreated, w.path, n.Czxid}, true
	case w.kind == watchChild && n.Pzxid > w.zxid:
		return change{NodeChildrenChanged, w.path, n.Pzxid}, true
	case n.Mzxid > w.zxid && w.kind != watchChild:
		return change{NodeDataChanged, w.path, n.Mzxid}, true
	}
	return change{}, false
}

// Watcher is a persistent watch set with AddWatch. Its events arrive on C
// in the order the changes were applied. A reader that falls more than
// Options.MaxWatcherEvents behind gets one EventsLost event in place of the
// events it had not received, and should read the watched nodes again. C
// is closed after Remove, or after a NotWatching event when the session
// ends.
type Watcher struct {
	C <-chan Event

	c      chan Event
	reg    *watchRegistry
	w      *watch
	max    int // events queued at most
	mu     sync.Mutex
	queue  []Event
	final  *Event // NotWatching to deliver last; nil until the watch ends
	ended  bool
	wake   chan struct{}
	remove chan struct{}
	once   sync.Once
}

func newWatcher(reg *watchRegistry, w *watch, maxEvents int) *Watcher {
	ch := make(chan Event)
	x := &Watcher{C: ch, c: ch, reg: reg, w: w, max: maxEvents, wake: make(chan struct{}, 1), remove: make(chan struct{})}
	w.w = x
	return x
}

func (x *Watcher) push(ev Event) {
	x.mu.Lock()
	switch {
	case x.ended:
	case len(x.queue) >= x.max:
		// The reader fell behind: what it has not taken is dropped, and it
		// learns so, up to this change.
		x.queue = []Event{{Type: EventsLost, Path: x.w.path, Zxid: ev.Zxid}}
	default:
		x.queue = append(x.queue, ev)
	}
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// finish queues the final event; C closes after it is delivered.
func (x *Watcher) finish(ev *Event) {
	x.mu.Lock()
	if !x.ended {
		x.ended = true
		x.final = ev
	}
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// run delivers queued events to C until the watch ends, it is removed, or
// the member stops.
func (x *Watcher) run(stop <-chan struct{}) {
	defer close(x.c)
	for {
		x.mu.Lock()
		batch := x.queue
		x.queue = nil
		ended, final := x.ended, x.final
		x.mu.Unlock()
		for _, ev := range batch {
			select {
			case x.c <- ev:
			case <-x.remove:
				return
			case <-stop:
				return
			}
		}
		if ended && len(batch) == 0 {
			if final != nil {
				select {
				case x.c <- *final:
				case <-x.remove:
				case <-stop:
				}
			}
			return
		}
		select {
		case <-x.wake:
		case <-x.remove:
			return
		case <-stop:
			return
		}
	}
}

// Remove stops the watch. Events not yet received are dropped and C is
// closed.
func (x *Watcher) Remove() {
	x.once.Do(func() {
		x.reg.remove(x.w)
		x.mu.Lock()
		x.ended = true
		x.mu.Unlock()
		close(x.remove)
	})
}

// counts returns the number of watches and of distinct watched paths.
func (r *watchRegistry) counts() (watches, paths int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]struct{})
	for _, t := range r.tables {
		for p, ws := range t {
			watches += len(ws)
			seen[p] = struct{}{}
		}
	}
	return watches, len(seen)
}

// StopWatch removes the one-shot watch that delivers on ch (returned by
// ExistsW, GetW or ChildrenW), if it has not fired yet, and reports whether
// it did; ch then receives nothing. Call it when a wait on ch is abandoned
// (its context ended), so that the session does not keep the watch until
// the node changes.
func (s *Session) StopWatch(ch <-chan Event) bool {
	if ch == nil {
		return false
	}
	return s.c.watches.stopOneShot(s.id, ch)
}

// WatcherType selects watches for RemoveWatches, with ZooKeeper's values.
type WatcherType int32

// Watcher types.
const (
	WatchChildren            WatcherType = 1 // ChildrenW watches
	WatchData                WatcherType = 2 // GetW and ExistsW watches
	WatchAny                 WatcherType = 3 // all of the above and persistent ones
	WatchPersistent          WatcherType = 4 // AddWatch(path, false)
	WatchPersistentRecursive WatcherType = 5 // AddWatch(path, true)
)

// Event types a removed watch receives last, with ZooKeeper's values.
const (
	DataWatchRemoved       EventType = 5
	ChildWatchRemoved      EventType = 6
	PersistentWatchRemoved EventType = 7
)

// RemoveWatches removes the session's watches of the given type on path.
// Each receives a DataWatchRemoved, ChildWatchRemoved or
// PersistentWatchRemoved event and then its channel closes. It returns
// ErrNoWatcher if there was none.
func (s *Session) RemoveWatches(ctx context.Context, path string, which WatcherType) error {
	if err := validatePath(path, false); err != nil {
		return pathErrf("removeWatches", path, ErrBadArguments, "%v", err)
	}
	if which < WatchChildren || which > WatchPersistentRecursive {
		return pathErrf("removeWatches", path, ErrBadArguments, "unknown watcher type %d", which)
	}
	if err := s.serving(); err != nil {
		return pathErr("removeWatches", path, err)
	}
	found := s.c.watches.find(s.id, path, watchKinds(which))
	if len(found) == 0 {
		return pathErr("removeWatches", path, ErrNoWatcher)
	}
	for _, w := range found {
		typ := DataWatchRemoved
		switch w.kind {
		case watchChild:
			typ = ChildWatchRemoved
		case watchPersistent, watchRecursive:
			typ = PersistentWatchRemoved
		}
		s.c.watches.endWith(w, Event{Type: typ, Path: w.path})
	}
	return nil
}
