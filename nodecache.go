package coord

import (
	"sync"

	"github.com/coordkit/coord/internal/wire"
)

// nodeCache keeps decoded znodes that were read or written lately, so that
// hot nodes are neither looked up in Pebble nor decoded again: a read of a
// node, and each write, otherwise pay for both. It holds the committed
// state only. The state machine writes through it while it holds its write
// lock; readers fill it while they hold the read lock, so an entry is
// never older than what the store holds. Cached nodes are shared and must
// not be modified.
//
// Eviction keeps two generations: when the current one fills up, it
// becomes the old one and the old one is dropped. A hit in the old
// generation moves the node to the current one.
type nodeCache struct {
	mu       sync.Mutex
	cur, old map[string]*wire.Node // nil value: known absent
	bytes    int                   // data held by cur
}

const (
	nodeCacheEntries = 16384   // per generation
	nodeCacheBytes   = 8 << 20 // data per generation
)

func (c *nodeCache) get(path string) (*wire.Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.cur[path]; ok {
		return n, true
	}
	if n, ok := c.old[path]; ok {
		c.putLocked(path, n)
		return n, true
	}
	return nil, false
}

// put records path's committed node (nil: absent).
func (c *nodeCache) put(path string, n *wire.Node) {
	c.mu.Lock()
	c.putLocked(path, n)
	c.mu.Unlock()
}

func (c *nodeCache) putLocked(path string, n *wire.Node) {
	if c.cur == nil || len(c.cur) >= nodeCacheEntries || c.bytes >= nodeCacheBytes {
		c.old, c.cur, c.bytes = c.cur, make(map[string]*wire.Node), 0
	}
	c.cur[path] = n
	if n != nil {
		c.bytes += len(n.Data)
	}
	delete(c.old, path)
}

// reset forgets everything, after the state was replaced by a snapshot.
func (c *nodeCache) reset() {
	c.mu.Lock()
	c.cur, c.old, c.bytes = nil, nil, 0
	c.mu.Unlock()
}
