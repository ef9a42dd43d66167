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
	d := newDB(rec, Factory{})
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

// store is an ILogDB holding entries in a map, counting reads, for tests of
// what the wrapper asks of the store.
type store struct {
	raftio.ILogDB
	entries map[uint64]pb.Entry
	reads   int
}

func newStore() *store { return &store{entries: map[uint64]pb.Entry{}} }

func (s *store) SaveRaftState(us []pb.Update, _ uint64) error {
	for _, u := range us {
		for _, e := range u.EntriesToSave {
			s.entries[e.Index] = e
		}
	}
	return nil
}

func (s *store) IterateEntries(ents []pb.Entry, size, _, _, low, high, maxSize uint64) ([]pb.Entry, uint64, error) {
	s.reads++
	for i := low; i < high; i++ {
		e, ok := s.entries[i]
		if !ok {
			break
		}
		ents = append(ents, e)
		size += uint64(e.SizeUpperLimit())
		if maxSize > 0 && size > maxSize {
			break
		}
	}
	return ents, size, nil
}

func (s *store) RemoveEntriesTo(_, _, index uint64) error {
	for i := range s.entries {
		if i <= index {
			delete(s.entries, i)
		}
	}
	return nil
}

func entries(from, to, term uint64, size int) []pb.Entry {
	var es []pb.Entry
	for i := from; i <= to; i++ {
		es = append(es, pb.Entry{Index: i, Term: term, Cmd: make([]byte, size)})
	}
	return es
}

func indexes(es []pb.Entry) (out []uint64) {
	for _, e := range es {
		out = append(out, e.Index)
	}
	return out
}

func TestRecentEntriesAreReadFromMemory(t *testing.T) {
	st := newStore()
	d := newDB(st, Factory{})
	save := func(es []pb.Entry) {
		t.Helper()
		require.NoError(t, d.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, EntriesToSave: es}}, 1))
	}
	// Single-entry batches, as sequential writes save them.
	for i := uint64(1); i <= 5000; i++ {
		save(entries(i, i, 1, 100))
	}
	got, _, err := d.IterateEntries(nil, 0, 1, 1, 10, 5001, 64<<20)
	require.NoError(t, err)
	assert.Equal(t, 0, st.reads, "recent entries must not be read from the store")
	assert.Equal(t, uint64(10), got[0].Index)
	assert.Equal(t, uint64(1), d.stats.CacheReads.Load())

	// The read stops after the entry that crosses maxSize, as the store's.
	one := uint64(entries(1, 1, 1, 100)[0].SizeUpperLimit())
	got, size, err := d.IterateEntries(nil, 0, 1, 1, 1, 5001, 4*one)
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 2, 3, 4, 5}, indexes(got))
	assert.Equal(t, 5*one, size)

	// Another node's entries are not this one's: they come from the store.
	_, _, err = d.IterateEntries(nil, 0, 1, 2, 1, 10, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, st.reads)
}

func TestLargeReadsArePartial(t *testing.T) {
	st := newStore()
	d := newDB(st, Factory{})
	require.NoError(t, d.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, EntriesToSave: entries(1, 3000, 1, 1000)}}, 1))
	got, size, err := d.IterateEntries(nil, 0, 1, 1, 1, 3001, 64<<20)
	require.NoError(t, err)
	var bytes uint64
	for _, e := range got[:len(got)-1] {
		bytes += uint64(e.SizeUpperLimit())
	}
	assert.LessOrEqual(t, bytes, uint64(maxReadBytes), "one read returns about maxReadBytes")
	assert.Less(t, len(got), 3000)
	assert.Greater(t, size, uint64(64<<20), "a partial read reports a size past the caller's limit, as the store does")
	assert.Equal(t, []uint64{1, 2, 3}, indexes(got[:3]))
}

func TestCacheFollowsTheSavedLog(t *testing.T) {
	st := newStore()
	d := newDB(st, Factory{})
	save := func(u pb.Update) {
		t.Helper()
		u.ShardID, u.ReplicaID = 1, 1
		require.NoError(t, d.SaveRaftState([]pb.Update{u}, 1))
	}
	read := func(low, high uint64) []pb.Entry {
		t.Helper()
		got, _, err := d.IterateEntries(nil, 0, 1, 1, low, high, 0)
		require.NoError(t, err)
		return got
	}
	save(pb.Update{EntriesToSave: entries(1, 10, 1, 10)})
	// A new leader's entries replace an uncommitted suffix.
	save(pb.Update{EntriesToSave: entries(8, 12, 2, 10)})
	got, _, err := d.IterateEntries(nil, 0, 1, 1, 6, 13, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, []uint64{6, 7, 8, 9, 10, 11, 12}, indexes(got))
	assert.Equal(t, []uint64{1, 1, 2, 2, 2, 2, 2}, func() (terms []uint64) {
		for _, e := range got {
			terms = append(terms, e.Term)
		}
		return
	}())
	reads := st.reads
	// Compaction drops the front: those are read from the store (which
	// has dropped them too) and not served from memory.
	require.NoError(t, d.RemoveEntriesTo(1, 1, 5))
	assert.Empty(t, read(3, 6))
	assert.Equal(t, reads+1, st.reads)
	// A snapshot restarts the log: the next entries follow a gap.
	save(pb.Update{Snapshot: pb.Snapshot{Index: 100, Term: 3}})
	save(pb.Update{EntriesToSave: entries(101, 103, 3, 10)})
	reads = st.reads
	assert.Equal(t, []uint64{101, 102, 103}, indexes(read(101, 104)))
	assert.Equal(t, reads, st.reads)
	// Entries before the cache come from the store.
	assert.Equal(t, []uint64{6, 7}, indexes(read(6, 8)))
	assert.Equal(t, reads+1, st.reads)
}

func TestCacheStaysWithinItsBound(t *testing.T) {
	st := newStore()
	d := newDB(st, Factory{CacheBytes: 64 << 10})
	for i := uint64(1); i <= 1000; i++ {
		require.NoError(t, d.SaveRaftState([]pb.Update{{ShardID: 1, ReplicaID: 1, EntriesToSave: entries(i, i, 1, 1000)}}, 1))
	}
	c := d.cache(node{1, 1}, false)
	assert.LessOrEqual(t, c.bytes, uint64(64<<10))
	assert.Equal(t, uint64(1000), c.entries[len(c.entries)-1].Index)
	// The oldest entries come from the store; the newest from memory.
	_, _, err := d.IterateEntries(nil, 0, 1, 1, 1, 3, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, st.reads)
	_, _, err = d.IterateEntries(nil, 0, 1, 1, 999, 1001, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, st.reads)
}
