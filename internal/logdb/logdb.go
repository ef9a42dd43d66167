// Package logdb stores the Raft log with Dragonboat's tan engine, without
// making every change of the commit index wait for the disk.
//
// Raft must persist a member's log entries, its term and its vote before
// the member answers for them; the commit index it may keep in memory: a
// member that restarts with an older one learns the current one from the
// leader. Dragonboat hands its log store a state update each time the
// commit index moves, and its stores fsync those too. For a lone write
// that is a second fsync on the leader and on each follower between the
// write's own entry reaching the disk and its result, and it holds up the
// next write's entry behind it: about half of a sequential write's latency
// on a local disk.
//
// This package forwards everything to tan except updates that carry
// nothing but a new commit index (no entries, no snapshot, the same term
// and vote as last persisted); those are dropped. The commit index still
// reaches the disk with the next entries, and before any snapshot record,
// since Dragonboat requires it to be at least the snapshot's index. Coord's state machine persists
// what it applied in its own store, so a member that restarts with a
// stale commit index has nothing to replay twice.
package logdb

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// DefaultCacheBytes is how much of each node's recent log is kept in
// memory when Factory.CacheBytes is zero.
const DefaultCacheBytes = 16 << 20

// maxReadBytes bounds what one read of the log returns (at least one
// entry). Dragonboat asks for up to 64 MiB to build one Replicate message;
// a follower that is far behind then gets its backlog in pieces, each one
// acknowledged before the next, instead of as one message the leader reads,
// encodes and sends again after every heartbeat it is not acknowledged.
const maxReadBytes = 1 << 20

// Factory creates the log store of a NodeHost.
type Factory struct {
	// CacheBytes bounds the recent log entries each node keeps in memory
	// (DefaultCacheBytes when zero).
	CacheBytes uint64
	// Stats, when set, counts the reads the store served.
	Stats *Stats
}

// Stats counts how reads of the log were served. Its fields are updated
// atomically while the store runs.
type Stats struct {
	CacheReads  atomic.Uint64 // reads served from memory
	DiskReads   atomic.Uint64 // reads that went to the disk
	DiskEntries atomic.Uint64 // entries those returned
	TornTails   atomic.Uint64 // logs whose torn last record was dropped when the store opened
}

var _ config.LogDBFactory = Factory{}

// Create implements config.LogDBFactory.
func (f Factory) Create(cfg config.NodeHostConfig, cb config.LogDBCallback, dirs, wals []string) (raftio.ILogDB, error) {
	for _, d := range dirs {
		repaired, err := repairTornTails(d)
		if err != nil {
			return nil, err
		}
		if f.Stats != nil {
			f.Stats.TornTails.Add(uint64(len(repaired)))
		}
	}
	inner, err := tan.Factory.Create(cfg, cb, dirs, wals)
	if err != nil {
		return nil, err
	}
	d := newDB(inner, f)
	d.dir = cfg.NodeHostDir
	return d, nil
}

// writeFailed explains a failed write of the log. Dragonboat stops the
// process on it: once a write may not have reached the disk, acknowledging
// anything else could acknowledge what is not there.
func (d *db) writeFailed(err error) error {
	return DiskError("the Raft log", d.dir, err)
}

// DiskError is the error of a store that could not write: what failed,
// where, why, and that the member stops.
func DiskError(what, dir string, err error) error {
	why := ""
	if errors.Is(err, syscall.ENOSPC) {
		why = " (the disk is full)"
	}
	return fmt.Errorf("coord: %s in %s cannot be written%s; this member stops so that it never acknowledges a write that is not on its disk: %w",
		what, dir, why, err)
}

func newDB(inner raftio.ILogDB, f Factory) *db {
	if f.CacheBytes == 0 {
		f.CacheBytes = DefaultCacheBytes
	}
	if f.Stats == nil {
		f.Stats = new(Stats)
	}
	return &db{ILogDB: inner, persisted: make(map[node]pb.State), latest: make(map[node]pb.State),
		cacheBytes: f.CacheBytes, stats: f.Stats, caches: make(map[node]*entryCache)}
}

// Name is tan's: the data on disk is tan's, and Dragonboat refuses to open
// a directory with a store of another name.
func (Factory) Name() string { return tan.Factory.Name() }

type node struct{ shard, replica uint64 }

type db struct {
	raftio.ILogDB
	mu        sync.Mutex
	persisted map[node]pb.State // the last state written per node
	latest    map[node]pb.State // the last state seen per node, written or not
	worker    uint64            // the step worker of the last SaveRaftState

	dir        string // where the log lives, for errors
	cacheBytes uint64
	stats      *Stats
	cmu        sync.Mutex // guards caches; never held across a store call
	caches     map[node]*entryCache
}

// cache returns the entry cache of n, creating it if create is set.
func (d *db) cache(n node, create bool) *entryCache {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	c := d.caches[n]
	if c == nil && create {
		c = newEntryCache(d.cacheBytes)
		d.caches[n] = c
	}
	return c
}

func (d *db) dropCache(n node) {
	d.cmu.Lock()
	delete(d.caches, n)
	d.cmu.Unlock()
}

// SaveRaftState implements raftio.ILogDB. Calls are serialized, so that a
// commit index flushed for a snapshot can never overtake a newer state.
func (d *db) SaveRaftState(updates []pb.Update, worker uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.worker = worker
	keep := updates[:0:0]
	for _, u := range updates {
		n := node{u.ShardID, u.ReplicaID}
		if !pb.IsEmptyState(u.State) {
			d.latest[n] = u.State
		}
		if len(u.EntriesToSave) == 0 && pb.IsEmptySnapshot(u.Snapshot) {
			if pb.IsEmptyState(u.State) {
				continue
			}
			if last, ok := d.persisted[n]; ok && last.Term == u.Term && last.Vote == u.Vote {
				continue // only the commit index moved
			}
		}
		if !pb.IsEmptyState(u.State) {
			d.persisted[n] = u.State
		}
		keep = append(keep, u)
	}
	if len(keep) == 0 {
		return nil
	}
	if err := d.ILogDB.SaveRaftState(keep, worker); err != nil {
		return d.writeFailed(err)
	}
	for _, u := range keep {
		n := node{u.ShardID, u.ReplicaID}
		if !pb.IsEmptySnapshot(u.Snapshot) {
			// The log restarts after the snapshot.
			if c := d.cache(n, false); c != nil {
				c.reset()
			}
		}
		if len(u.EntriesToSave) > 0 {
			d.cache(n, true).append(u.EntriesToSave)
		}
	}
	return nil
}

// IterateEntries implements raftio.ILogDB: recent entries come from memory,
// and one read returns at most about maxReadBytes.
func (d *db) IterateEntries(ents []pb.Entry, size, shardID, replicaID, low, high, maxSize uint64) ([]pb.Entry, uint64, error) {
	limit := maxSize
	if limit == 0 || limit > maxReadBytes {
		limit = maxReadBytes
	}
	if maxSize == math.MaxUint64 {
		limit = maxSize // a caller that needs the whole range
	}
	start := len(ents)
	var ok bool
	if c := d.cache(node{shardID, replicaID}, false); c != nil {
		ents, size, ok = c.read(ents, size, low, high, limit)
	}
	if ok {
		d.stats.CacheReads.Add(1)
	} else {
		var err error
		if ents, size, err = d.ILogDB.IterateEntries(ents, size, shardID, replicaID, low, high, limit); err != nil {
			return ents, size, err
		}
		d.stats.DiskReads.Add(1)
		d.stats.DiskEntries.Add(uint64(len(ents) - start))
	}
	if size > limit && limit < maxSize {
		// Stopped short of maxSize: say so the way the store does, by a
		// size past the caller's limit, so the caller takes what came as
		// a partial read rather than a gap.
		size = maxSize + 1
	}
	return ents, size, nil
}

// RemoveEntriesTo implements raftio.ILogDB.
func (d *db) RemoveEntriesTo(shardID, replicaID, index uint64) error {
	if c := d.cache(node{shardID, replicaID}, false); c != nil {
		c.compact(index)
	}
	return d.ILogDB.RemoveEntriesTo(shardID, replicaID, index)
}

// SaveSnapshots implements raftio.ILogDB. A snapshot is taken at an
// applied, so committed, index; Dragonboat refuses to restart a node whose
// persisted commit index is below its latest snapshot's. The commit index
// dropped since the last write is written first, so it reaches the disk
// with the snapshot record.
func (d *db) SaveSnapshots(updates []pb.Update) error {
	var flush []pb.Update
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range updates {
		n := node{u.ShardID, u.ReplicaID}
		if pb.IsEmptySnapshot(u.Snapshot) {
			continue
		}
		latest, ok := d.latest[n]
		if ok && latest != d.persisted[n] {
			flush = append(flush, pb.Update{ShardID: u.ShardID, ReplicaID: u.ReplicaID, State: latest})
			d.persisted[n] = latest
		}
	}
	if len(flush) > 0 {
		// tan keys its buffers by the calling step worker; the calls are
		// serialized here, so the last worker's are free.
		if err := d.ILogDB.SaveRaftState(flush, max(d.worker, 1)); err != nil {
			return d.writeFailed(err)
		}
	}
	if err := d.ILogDB.SaveSnapshots(updates); err != nil {
		return d.writeFailed(err)
	}
	return nil
}

// RemoveNodeData implements raftio.ILogDB.
func (d *db) RemoveNodeData(shardID, replicaID uint64) error {
	d.forget(node{shardID, replicaID})
	return d.ILogDB.RemoveNodeData(shardID, replicaID)
}

func (d *db) forget(n node) {
	d.mu.Lock()
	delete(d.persisted, n)
	delete(d.latest, n)
	d.mu.Unlock()
	d.dropCache(n)
}

// ImportSnapshot implements raftio.ILogDB: it rewrites the node's state, so
// what was last persisted is no longer known here.
func (d *db) ImportSnapshot(ss pb.Snapshot, replicaID uint64) error {
	d.forget(node{ss.ShardID, replicaID})
	return d.ILogDB.ImportSnapshot(ss, replicaID)
}
