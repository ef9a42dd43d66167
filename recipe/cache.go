package recipe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coordkit/coord"
)

// Node is a znode as a Cache holds it. Its Data is shared: do not modify
// it.
type Node struct {
	Path string
	Data []byte
	Stat coord.Stat
}

// CacheEvent reports one change the Cache applied, in the order of the
// ensemble's log. Node is the node after the change (nil after a delete).
type CacheEvent struct {
	Type coord.EventType // NodeCreated, NodeDataChanged or NodeDeleted
	Path string
	Zxid int64
	Node *Node
}

// CacheOption configures NewCache.
type CacheOption func(*cacheConfig)

type cacheConfig struct {
	listener func(CacheEvent)
	maxQueue int // events held unapplied at most [maxCacheQueue]
}

// WithCacheListener makes fn receive every change the cache applies after
// its initial load, in log order. fn runs on the cache's goroutine: while it
// runs, the cache does not advance; a listener so slow that more than 65536
// changes queue up makes the cache drop them and read the subtree again,
// and fn then misses the changes in between.
func WithCacheListener(fn func(CacheEvent)) CacheOption {
	return func(c *cacheConfig) { c.listener = fn }
}

// Cache keeps a copy of a subtree (root and every node below it) current
// through one persistent recursive watch, and serves it as immutable
// snapshots.
//
// Each Snapshot is consistent: it is the subtree exactly as it stood after
// the write with zxid Snapshot.Zxid, never a mix of older and newer states
// (a Multi that changes two nodes is seen whole or not at all). The cache
// gets there because coord hands a change's events to the cache's session
// before the change is readable: the cache opens its own session whose
// events go straight into the cache's queue (coord.WithWatchFunc), re-reads
// a node for each event, notes the newest zxid it has read, and publishes
// only when its queue is empty and it has applied the events up to that
// zxid.
//
// If the cache's session expires (its member was cut off for longer than
// the session timeout), the cache opens a new one and loads the subtree
// again. A Cache owns one goroutine and one session, which end at Close.
type Cache struct {
	src  SessionSource
	root string
	cfg  cacheConfig
	stop chan struct{}
	done chan struct{}
	wake chan struct{} // the sink queued an event

	closeOnce sync.Once

	mu    sync.Mutex
	snap  *Snapshot
	err   error
	ready chan struct{} // closed at the first snapshot
	queue []coord.Event // filled by the session's watch function
	lost  bool          // the queue overflowed: read the subtree again

	// Owned by the cache's goroutine (and NewCache before it starts).
	s       *coord.Session
	nodes   map[string]*Node
	last    int64           // zxid of the last event applied
	horizon int64           // newest zxid seen in a read
	gone    map[string]bool // read as absent while an event says present
	dirty   bool            // changed since the last snapshot
}

// NewCache opens a session from src, loads the subtree at root and keeps it
// current until Close. It returns once the first snapshot is ready, or when
// ctx ends. opts configure the cache; the session gets the source's default
// options.
func NewCache(ctx context.Context, src SessionSource, root string, opts ...CacheOption) (*Cache, error) {
	c := &Cache{
		src: src, root: root, stop: make(chan struct{}), done: make(chan struct{}),
		wake: make(chan struct{}, 1), ready: make(chan struct{}),
	}
	c.cfg.maxQueue = maxCacheQueue
	for _, o := range opts {
		o(&c.cfg)
	}
	if err := c.start(ctx); err != nil {
		return nil, fmt.Errorf("recipe: cache %s: %w", root, err)
	}
	go c.run()
	select {
	case <-c.ready:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("recipe: cache %s: %w", root, c.Err())
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
}

// sink receives the session's watch events on the member's apply path: it
// must not block, and must not call into coord.
func (c *Cache) sink(ev coord.Event) {
	c.mu.Lock()
	if len(c.queue) >= c.cfg.maxQueue {
		// The cache does not keep up (its listener is slow): rather than
		// grow without bound, drop the events and read the subtree anew.
		c.queue, c.lost = nil, true
	} else if !c.lost {
		c.queue = append(c.queue, ev)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// maxCacheQueue bounds the events a cache holds that it has not applied.
const maxCacheQueue = 1 << 16

// errEventsLost ends a session's run of a cache that fell behind; it
// starts over with a fresh read.
var errEventsLost = errors.New("recipe: cache fell behind its events")

// next takes the oldest queued event; after an overflow it returns an
// EventsLost event.
func (c *Cache) next() (coord.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		return coord.Event{Type: coord.EventsLost}, true
	}
	if len(c.queue) == 0 {
		return coord.Event{}, false
	}
	ev := c.queue[0]
	c.queue = c.queue[1:]
	return ev, true
}

// start opens a session, sets the watch and reads the subtree.
func (c *Cache) start(ctx context.Context) error {
	c.mu.Lock()
	c.queue, c.lost = nil, false
	c.mu.Unlock()
	s, err := c.src.NewSession(ctx, coord.WithWatchFunc(c.sink))
	if err != nil {
		return err
	}
	if _, err := s.AddWatch(ctx, c.root, true); err != nil {
		s.Close()
		return err
	}
	nodes, err := c.walk(ctx, s)
	if err != nil {
		s.Close()
		return err
	}
	// Every change after the watch was set has its event queued before it
	// was readable, so the read reflects the watch's moment plus the queued
	// events' changes; applying those brings the copy to one moment.
	c.s, c.nodes, c.gone = s, nodes, map[string]bool{}
	c.last = maxZxid(nodes)
	c.horizon = c.last
	c.dirty = true
	return nil
}

// walk reads every node of the subtree.
func (c *Cache) walk(ctx context.Context, s *coord.Session) (map[string]*Node, error) {
	out := map[string]*Node{}
	var visit func(p string) error
	visit = func(p string) error {
		data, st, err := s.Get(ctx, p)
		if errors.Is(err, coord.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		out[p] = &Node{Path: p, Data: data, Stat: *st}
		if st.NumChildren == 0 {
			return nil
		}
		kids, _, err := s.Children(ctx, p)
		if errors.Is(err, coord.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := visit(joinPath(p, k)); err != nil {
				return err
			}
		}
		return nil
	}
	return out, visit(c.root)
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func maxZxid(nodes map[string]*Node) int64 {
	var z int64
	for _, n := range nodes {
		z = max(z, n.Stat.Czxid, n.Stat.Mzxid, n.Stat.Pzxid)
	}
	return z
}

// run applies events until Close; it starts over with a new session when
// the session ends.
func (c *Cache) run() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		// However following ended (the session expired, the watch was
		// lost, a read failed), the remedy is the same: a new session and
		// a fresh load, or the end at Close.
		_ = c.follow(ctx)
		c.s.Close()
		if ctx.Err() != nil {
			c.finish(coord.ErrClosed)
			return
		}
		// The session ended under us: start over.
		backoff := 10 * time.Millisecond
		for {
			if err := c.start(ctx); err == nil {
				break
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				c.finish(coord.ErrClosed)
				return
			}
			backoff = min(2*backoff, time.Second)
		}
	}
}

// follow applies events and publishes snapshots until the session ends or
// ctx does.
func (c *Cache) follow(ctx context.Context) error {
	for {
		for {
			ev, ok := c.next()
			if !ok {
				break
			}
			if ev.Type == coord.NotWatching {
				return watchErr(ev, true)
			}
			if ev.Type == coord.EventsLost {
				return errEventsLost
			}
			if err := c.apply(ctx, ev); err != nil {
				return err
			}
		}
		// The queue is empty and the last event was followed by a read, so
		// every event of the changes this copy reflects has been applied.
		c.publish()
		select {
		case <-c.wake:
		case <-c.s.Done():
			if _, ok := c.peek(); !ok {
				return sessionErr(c.s)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Cache) peek() (coord.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return coord.Event{}, false
	}
	return c.queue[0], true
}

// apply brings the copy up to date with one event. It always reads, so
// that every event of the same write is queued by the time it returns.
func (c *Cache) apply(ctx context.Context, ev coord.Event) error {
	if ev.Zxid > c.last {
		c.last = ev.Zxid
	}
	c.dirty = true
	p := ev.Path
	var node *Node
	switch ev.Type {
	case coord.NodeDeleted:
		delete(c.nodes, p)
		delete(c.gone, p)
		if err := c.refreshParent(ctx, p); err != nil {
			return err
		}
	case coord.NodeCreated, coord.NodeDataChanged:
		var err error
		node, err = c.read(ctx, p)
		if err != nil {
			return err
		}
		if ev.Type == coord.NodeCreated {
			if err := c.refreshParent(ctx, p); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	if c.cfg.listener != nil {
		c.cfg.listener(CacheEvent{Type: ev.Type, Path: p, Zxid: ev.Zxid, Node: node})
	}
	return nil
}

// read re-reads one node into the copy.
func (c *Cache) read(ctx context.Context, p string) (*Node, error) {
	data, st, err := c.s.Get(ctx, p)
	if errors.Is(err, coord.ErrNoNode) {
		// Deleted since: its NodeDeleted event is queued.
		delete(c.nodes, p)
		c.gone[p] = true
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n := &Node{Path: p, Data: data, Stat: *st}
	c.nodes[p] = n
	c.horizon = max(c.horizon, st.Czxid, st.Mzxid, st.Pzxid)
	return n, nil
}

// refreshParent re-reads the Stat of p's parent (its children changed) if
// the parent is in the copy, or the root's otherwise (a read is needed
// anyway; see apply).
func (c *Cache) refreshParent(ctx context.Context, p string) error {
	parent := parentOf(p)
	old, ok := c.nodes[parent]
	if p == c.root || !ok {
		_, _, err := c.s.Exists(ctx, c.root)
		return err
	}
	_, st, err := c.s.Exists(ctx, parent)
	if err != nil {
		return err
	}
	if st == nil {
		delete(c.nodes, parent)
		c.gone[parent] = true
		return nil
	}
	n := *old
	n.Stat = *st
	c.nodes[parent] = &n
	c.horizon = max(c.horizon, st.Czxid, st.Mzxid, st.Pzxid)
	return nil
}

// publish makes a new snapshot if the copy is consistent and has changed.
func (c *Cache) publish() {
	if !c.dirty || c.horizon > c.last || len(c.gone) > 0 {
		return
	}
	c.dirty = false
	s := &Snapshot{zxid: c.last, nodes: make(map[string]*Node, len(c.nodes)), changed: make(chan struct{})}
	for p, n := range c.nodes {
		s.nodes[p] = n
	}
	c.mu.Lock()
	old := c.snap
	c.snap = s
	c.mu.Unlock()
	if old == nil {
		close(c.ready)
	} else {
		close(old.changed)
	}
}

func (c *Cache) finish(err error) {
	c.mu.Lock()
	c.err = err
	if c.snap != nil {
		close(c.snap.changed)
	}
	c.mu.Unlock()
}

// Snapshot returns the newest consistent snapshot.
func (c *Cache) Snapshot() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}

// Close stops the cache. Snapshots taken stay readable.
func (c *Cache) Close() {
	c.closeOnce.Do(func() { close(c.stop) })
	<-c.done
}

// Done is closed when the cache has stopped, after Close.
func (c *Cache) Done() <-chan struct{} { return c.done }

// Err returns coord.ErrClosed once the cache has stopped, nil while it
// runs.
func (c *Cache) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Snapshot is an immutable view of a cached subtree at one zxid.
type Snapshot struct {
	zxid    int64
	nodes   map[string]*Node
	changed chan struct{}
}

// Zxid returns the zxid of the last write the snapshot reflects.
func (s *Snapshot) Zxid() int64 { return s.zxid }

// Get returns the node at path.
func (s *Snapshot) Get(path string) (*Node, bool) {
	n, ok := s.nodes[path]
	return n, ok
}

// Len returns the number of nodes.
func (s *Snapshot) Len() int { return len(s.nodes) }

// Paths returns the paths of every node, sorted.
func (s *Snapshot) Paths() []string {
	out := make([]string, 0, len(s.nodes))
	for p := range s.nodes {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Children returns the names of path's children, sorted. It scans the
// snapshot.
func (s *Snapshot) Children(path string) []string {
	var out []string
	prefix := path + "/"
	if path == "/" {
		prefix = "/"
	}
	for p := range s.nodes {
		if p != "/" && strings.HasPrefix(p, prefix) && !strings.Contains(p[len(prefix):], "/") {
			out = append(out, p[len(prefix):])
		}
	}
	slices.Sort(out)
	return out
}

// Changed returns a channel that is closed when a newer snapshot is
// published, or the cache stops.
func (s *Snapshot) Changed() <-chan struct{} { return s.changed }
