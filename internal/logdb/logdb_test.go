package logdb

import (
	"testing"

	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is an ILogDB that records what reaches it.
type recorder struct {
	raftio.ILogDB
	saved     []pb.Update
	snapshots []pb.Update
}

func (r *recorder) SaveRaftState(u []pb.Update, _ uint64) error {
	r.saved = append(r.saved, u...)
	return nil
}

func (r *recorder) SaveSnapshots(u []pb.Update) error {
	r.snapshots = append(r.snapshots, u...)
	return nil
}

func TestCommitOnlyUpdatesWaitForEntriesOrSnapshots(t *testing.T) {
	rec := &recorder{}
	d := &db{ILogDB: rec, persisted: map[node]pb.State{}, latest: map[node]pb.State{}}
	st := func(term, vote, commit uint64) pb.State { return pb.State{Term: term, Vote: vote, Commit: commit} }
	entry := []pb.Entry{{Index: 5, Term: 2}}

	// The first state is written; entries always are.
	require.NoError(t, d.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, State: st(2, 1, 4), EntriesToSave: entry}}, 1))
	require.Len(t, rec.saved, 1)
	// Only the commit index moves: dropped.
	require.NoError(t, d.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, State: st(2, 1, 5)}}, 1))
	require.Len(t, rec.saved, 1)
	// A new term or vote is always written at once.
	require.NoError(t, d.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, State: st(3, 0, 5)}}, 1))
	require.Len(t, rec.saved, 2)
	require.NoError(t, d.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, State: st(3, 2, 5)}}, 1))
	require.Len(t, rec.saved, 3)
	require.NoError(t, d.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, State: st(3, 2, 7)}}, 1))
	require.Len(t, rec.saved, 3)

	// A snapshot record is preceded by the commit index it needs.
	snap := pb.Snapshot{Index: 7, Term: 3}
	require.NoError(t, d.SaveSnapshots([]pb.Update{{ShardID: 1, ReplicaID: 1, Snapshot: snap}}))
	require.Len(t, rec.saved, 4)
	assert.Equal(t, st(3, 2, 7), rec.saved[3].State)
	require.Len(t, rec.snapshots, 1)
	// Nothing new to flush before the next one.
	require.NoError(t, d.SaveSnapshots([]pb.Update{{ShardID: 1, ReplicaID: 1, Snapshot: snap}}))
	require.Len(t, rec.saved, 4)
	// Other nodes are tracked apart.
	require.NoError(t, d.SaveRaftState([]pb.Update{{ShardID: 2, ReplicaID: 1, State: st(3, 2, 1)}}, 1))
	require.Len(t, rec.saved, 5, "the first state of a node is written")
}
