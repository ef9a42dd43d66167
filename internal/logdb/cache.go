package logdb

import (
	"sync"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// entryCache keeps the tail of one node's saved log in memory, so that
// reads of recent entries never touch the disk.
//
// Why: Dragonboat's leader builds the Replicate message for a follower that
// is behind on its single step goroutine, reading every entry from the
// follower's next index to the end of the log (up to 64 MiB) from the log
// store, again after each heartbeat response until the follower has
// acknowledged. tan reads such a range one saved batch at a time, opening
// the log file and seeking to the batch for each one; a backlog of a few
// thousand single-entry batches (a follower paused or restarted for a few
// seconds under load) took seconds to read, during which the leader neither
// heartbeated nor committed nor voted. Its healthy followers stopped
// serving with it, for as long as the lagging member kept asking.
//
// The cache holds the saved entries of the node, contiguous and in index
// order, from first to first+len(entries)-1, trimmed from the front to stay
// within maxBytes. It is the log as saved: an append that overwrites a
// suffix (a new leader's entries replacing uncommitted ones) replaces it
// here too, and compaction and snapshots drop what they drop in the store.
type entryCache struct {
	mu       sync.Mutex
	entries  []pb.Entry
	bytes    uint64
	maxBytes uint64
}

func newEntryCache(maxBytes uint64) *entryCache { return &entryCache{maxBytes: maxBytes} }

func (c *entryCache) firstLocked() uint64 {
	if len(c.entries) == 0 {
		return 0
	}
	return c.entries[0].Index
}

// append records entries just saved to the store. They are contiguous;
// the first may be at or below the cached tail, in which case it replaces
// the cached entries from its index on, as it does in the store.
func (c *entryCache) append(ents []pb.Entry) {
	if len(ents) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first := ents[0].Index
	switch {
	case len(c.entries) == 0:
	case first < c.entries[0].Index:
		c.dropLocked(len(c.entries))
	case first <= c.entries[len(c.entries)-1].Index+1:
		c.truncateLocked(int(first - c.entries[0].Index))
	default:
		// A gap: the log continues after a snapshot. What is cached
		// belongs to the log before it.
		c.dropLocked(len(c.entries))
	}
	for _, e := range ents {
		c.entries = append(c.entries, e)
		c.bytes += uint64(e.SizeUpperLimit())
	}
	for c.bytes > c.maxBytes && len(c.entries) > 0 {
		c.dropLocked(1)
	}
}

// truncateLocked keeps the first n entries.
func (c *entryCache) truncateLocked(n int) {
	for _, e := range c.entries[n:] {
		c.bytes -= uint64(e.SizeUpperLimit())
	}
	clear(c.entries[n:])
	c.entries = c.entries[:n]
}

// dropLocked removes the first n entries.
func (c *entryCache) dropLocked(n int) {
	for _, e := range c.entries[:n] {
		c.bytes -= uint64(e.SizeUpperLimit())
	}
	clear(c.entries[:n])
	c.entries = c.entries[n:]
	if len(c.entries) == 0 {
		c.entries = nil // let the backing array go
	}
}

// compact drops the entries at or below index.
func (c *entryCache) compact(index uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.firstLocked()
	if len(c.entries) == 0 || index < first {
		return
	}
	c.dropLocked(int(min(index-first+1, uint64(len(c.entries)))))
}

// reset forgets everything: the node's log was replaced.
func (c *entryCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(len(c.entries))
}

// read appends the entries from low up to high (exclusive) to ents, as the
// store's IterateEntries does: size accumulates SizeUpperLimit of each entry
// appended and the read stops after the entry that takes it past maxSize
// (0: no limit). ok is false when low is not cached; nothing is read then.
func (c *entryCache) read(ents []pb.Entry, size, low, high, maxSize uint64) (_ []pb.Entry, _ uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 || low < c.entries[0].Index || low > c.entries[len(c.entries)-1].Index {
		return ents, size, false
	}
	for i := low - c.entries[0].Index; i < uint64(len(c.entries)); i++ {
		e := c.entries[i]
		if e.Index >= high {
			break
		}
		ents = append(ents, e)
		size += uint64(e.SizeUpperLimit())
		if maxSize > 0 && size > maxSize {
			break
		}
	}
	return ents, size, true
}
