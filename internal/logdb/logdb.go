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
// reaches the disk with the next entries. Coord's state machine persists
// what it applied in its own store, so a member that restarts with a
// stale commit index has nothing to replay twice.
package logdb

import (
	"sync"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// Factory creates the log store of a NodeHost.
type Factory struct{}

var _ config.LogDBFactory = Factory{}

// Create implements config.LogDBFactory.
func (Factory) Create(cfg config.NodeHostConfig, cb config.LogDBCallback, dirs, wals []string) (raftio.ILogDB, error) {
	inner, err := tan.Factory.Create(cfg, cb, dirs, wals)
	if err != nil {
		return nil, err
	}
	return &db{ILogDB: inner, persisted: make(map[node]pb.State)}, nil
}

// Name is tan's: the data on disk is tan's, and Dragonboat refuses to open
// a directory with a store of another name.
func (Factory) Name() string { return tan.Factory.Name() }

type node struct{ shard, replica uint64 }

type db struct {
	raftio.ILogDB
	mu        sync.Mutex
	persisted map[node]pb.State // the last term and vote written per node
}

// SaveRaftState implements raftio.ILogDB.
func (d *db) SaveRaftState(updates []pb.Update, shardID uint64) error {
	keep := updates[:0:0]
	d.mu.Lock()
	for _, u := range updates {
		n := node{u.ShardID, u.ReplicaID}
		if len(u.EntriesToSave) == 0 && pb.IsEmptySnapshot(u.Snapshot) {
			if pb.IsEmptyState(u.State) {
				continue
			}
			if last, ok := d.persisted[n]; ok && last.Term == u.State.Term && last.Vote == u.State.Vote {
				continue // only the commit index moved
			}
		}
		if !pb.IsEmptyState(u.State) {
			d.persisted[n] = u.State
		}
		keep = append(keep, u)
	}
	d.mu.Unlock()
	if len(keep) == 0 {
		return nil
	}
	return d.ILogDB.SaveRaftState(keep, shardID)
}

// RemoveNodeData implements raftio.ILogDB.
func (d *db) RemoveNodeData(shardID, replicaID uint64) error {
	d.mu.Lock()
	delete(d.persisted, node{shardID, replicaID})
	d.mu.Unlock()
	return d.ILogDB.RemoveNodeData(shardID, replicaID)
}

// ImportSnapshot implements raftio.ILogDB: it rewrites the node's state, so
// what was last persisted is no longer known here.
func (d *db) ImportSnapshot(ss pb.Snapshot, replicaID uint64) error {
	d.mu.Lock()
	delete(d.persisted, node{ss.ShardID, replicaID})
	d.mu.Unlock()
	return d.ILogDB.ImportSnapshot(ss, replicaID)
}
