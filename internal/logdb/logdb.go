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
	return &db{ILogDB: inner, persisted: make(map[node]pb.State), latest: make(map[node]pb.State)}, nil
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
			if last, ok := d.persisted[n]; ok && last.Term == u.State.Term && last.Vote == u.State.Vote {
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
	return d.ILogDB.SaveRaftState(keep, worker)
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
			return err
		}
	}
	return d.ILogDB.SaveSnapshots(updates)
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
}

// ImportSnapshot implements raftio.ILogDB: it rewrites the node's state, so
// what was last persisted is no longer known here.
func (d *db) ImportSnapshot(ss pb.Snapshot, replicaID uint64) error {
	d.forget(node{ss.ShardID, replicaID})
	return d.ILogDB.ImportSnapshot(ss, replicaID)
}
