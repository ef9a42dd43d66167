package coord

import (
	"slices"
	"sync"
)

// childCache remembers the child names of directories that were listed, so
// that listing a busy directory again does not iterate the store. A store
// scan steps over every child deleted since the last compaction: a lock or
// queue directory that sees thousands of creates and deletes makes each
// listing cost thousands of steps, while its live children are few.
//
// The state machine keeps the cache current as it applies changes, under
// its write lock; readers fill it under the read lock, so a filled entry
// always matches the state it was read from.
type childCache struct {
	mu      sync.Mutex
	parents map[string]*childSet
}

// childSet is the children of one directory. sorted is the names in byte
// order, rebuilt when a listing finds it stale.
type childSet struct {
	names  map[string]struct{}
	sorted []string
	stale  bool
}

// maxCachedChildren bounds the directories the cache takes: bigger ones
// are scanned each time, which costs little next to returning that many
// names.
const maxCachedChildren = 4096

// maxCachedDirs bounds how many directories the cache holds; filling one
// more evicts one at random.
const maxCachedDirs = 1024

// list returns the cached children of path, or false.
func (c *childCache) list(path string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.parents[path]
	if set == nil {
		return nil, false
	}
	if set.stale {
		set.sorted = set.sorted[:0]
		for n := range set.names {
			set.sorted = append(set.sorted, n)
		}
		slices.Sort(set.sorted)
		set.stale = false
	}
	return slices.Clone(set.sorted), true
}

// fill caches a listing read from the store. The caller holds the state
// machine's read lock, so no change can be applied in between.
func (c *childCache) fill(path string, names []string) {
	if len(names) > maxCachedChildren {
		return
	}
	set := &childSet{names: make(map[string]struct{}, len(names)), sorted: slices.Clone(names)}
	for _, n := range names {
		set.names[n] = struct{}{}
	}
	c.mu.Lock()
	if c.parents == nil {
		c.parents = make(map[string]*childSet)
	}
	if _, ok := c.parents[path]; !ok && len(c.parents) >= maxCachedDirs {
		for p := range c.parents {
			delete(c.parents, p)
			break
		}
	}
	c.parents[path] = set
	c.mu.Unlock()
}

// childChange is a child added to or removed from a directory.
type childChange struct {
	parent, name string
	added        bool
}

// apply records applied changes; the caller holds the state machine's
// write lock.
func (c *childCache) apply(changes []childChange) {
	if len(changes) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		set := c.parents[ch.parent]
		if set == nil {
			continue
		}
		if ch.added {
			set.names[ch.name] = struct{}{}
		} else {
			delete(set.names, ch.name)
			delete(c.parents, joinPath(ch.parent, ch.name)) // the child's own listing, if any
		}
		set.stale = true
		if len(set.names) > maxCachedChildren {
			delete(c.parents, ch.parent)
		}
	}
}

// reset forgets everything, after the state was replaced by a snapshot.
func (c *childCache) reset() {
	c.mu.Lock()
	c.parents = nil
	c.mu.Unlock()
}

func joinPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}
