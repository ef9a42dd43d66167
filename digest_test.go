package coord

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/store"
	"github.com/coordkit/coord/internal/wire"
)

// digestAt returns a member's digest after index, if it remembers it.
func digestAt(c *Coord, index uint64) (uint64, bool) {
	c.fsm.mu.RLock()
	defer c.fsm.mu.RUnlock()
	return c.fsm.digests.at(index)
}

func TestReplicasAgreeOnTheDigest(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s := tc.get(1).Session()
	e, err := tc.get(2).NewSession(ctx)
	require.NoError(t, err)
	_, err = s.Create(ctx, "/d", []byte("x"), Persistent)
	require.NoError(t, err)
	for i := range 20 {
		_, err := s.Create(ctx, fmt.Sprintf("/d/n%d", i), []byte{byte(i)}, PersistentSequential)
		require.NoError(t, err)
		_, err = e.Create(ctx, fmt.Sprintf("/d/e%d", i), nil, Ephemeral)
		require.NoError(t, err)
	}
	_, err = s.Multi(ctx, SetOp("/d", []byte("y"), -1), DeleteOp("/d/e3", -1))
	require.NoError(t, err)
	require.NoError(t, e.Close()) // its ephemerals go
	_, err = s.SetACL(ctx, "/d", []ACL{{Perms: PermRead, Scheme: "world", ID: "anyone"}}, -1)
	require.NoError(t, err)

	for id := uint64(1); id <= 3; id++ {
		require.NoError(t, tc.get(id).Session().Sync(ctx, "/"))
	}
	index := uint64(tc.get(1).LastZxid())
	var want uint64
	for id := uint64(1); id <= 3; id++ {
		c := tc.get(id)
		var d uint64
		require.Eventually(t, func() bool {
			var ok bool
			d, ok = digestAt(c, index)
			return ok
		}, 10*time.Second, 5*time.Millisecond)
		if id == 1 {
			want = d
		}
		assert.Equal(t, want, d, "member %d's digest at %d", id, index)
		require.NoError(t, c.fsm.verifyStoredDigest(nil), "member %d's store", id)
		require.NoError(t, c.Err())
	}
}

// A member whose replica diverges (here: its digest is knocked off, as a
// non-deterministic apply would) is found out by the others' digests and
// stops serving; the others go on.
func TestDivergedMemberStopsServing(t *testing.T) {
	tc := newTestCluster(t, 3, func(o *Options) { o.DigestInterval = 100 * time.Millisecond })
	ctx := ctxT(t)
	bad := tc.get(2)
	bad.fsm.digestSkew.Add(1)
	require.Eventually(t, func() bool { return errors.Is(bad.Err(), ErrDiverged) }, 20*time.Second, 10*time.Millisecond,
		"the diverged member still serves")
	t.Log(bad.Err())
	assert.Contains(t, bad.Stats().Diverged, "digests differ")
	_, _, err := bad.Session().Get(ctx, "/")
	assert.ErrorIs(t, err, ErrDiverged)
	_, err = bad.NewSession(ctx)
	assert.ErrorIs(t, err, ErrDiverged)

	// The others neither diverge nor stop.
	time.Sleep(500 * time.Millisecond) // several more rounds of digests
	for _, id := range []uint64{1, 3} {
		require.NoError(t, tc.get(id).Err(), "member %d", id)
		_, err := tc.get(id).Session().Create(ctx, fmt.Sprintf("/after-%d", id), nil, Persistent)
		require.NoError(t, err)
	}
}

// A store changed under the state machine (a damaged disk, a hand edit) is
// found by the background verification and the member stops serving.
func TestDamagedStoreIsFound(t *testing.T) {
	tc := newTestCluster(t, 3, func(o *Options) { o.VerifyInterval = 100 * time.Millisecond })
	ctx := ctxT(t)
	_, err := tc.get(1).Session().Create(ctx, "/victim", []byte("good"), Persistent)
	require.NoError(t, err)
	require.NoError(t, tc.get(3).Session().Sync(ctx, "/"))
	tc.stop(3)

	db, err := store.Open(filepath.Join(tc.dir, "m3", "tree"), store.Options{})
	require.NoError(t, err)
	v, ok, err := db.Get(nodeKey("/victim"))
	require.NoError(t, err)
	require.True(t, ok)
	n, err := wire.DecodeNode(v)
	require.NoError(t, err)
	n.Data = []byte("evil")
	b := db.NewBatch()
	b.Set(nodeKey("/victim"), wire.AppendNode(nil, n))
	require.NoError(t, b.Commit(true))
	require.NoError(t, db.Close())

	c := tc.restart(3)
	require.Eventually(t, func() bool { return errors.Is(c.Err(), ErrDiverged) }, 20*time.Second, 10*time.Millisecond,
		"the damaged store was not found")
	assert.Contains(t, c.Err().Error(), "changed or damaged")
	_, _, err = c.Session().Get(ctx, "/victim")
	assert.ErrorIs(t, err, ErrDiverged)
	require.NoError(t, tc.get(1).Err())
	_, err = tc.get(1).Session().Set(ctx, "/victim", []byte("still fine"), -1)
	require.NoError(t, err)
}

// The sessions a diverged member hosts expire, with their ephemerals.
func TestDivergedMembersSessionsExpire(t *testing.T) {
	tc := newTestCluster(t, 3, func(o *Options) { o.DigestInterval = 100 * time.Millisecond })
	ctx := ctxT(t)
	bad := tc.get(2)
	s, err := bad.NewSession(ctx, WithSessionTimeout(time.Second))
	require.NoError(t, err)
	_, err = s.Create(ctx, "/registered", nil, Ephemeral)
	require.NoError(t, err)
	bad.fsm.digestSkew.Add(1)
	require.Eventually(t, func() bool {
		ok, _, err := tc.get(1).Session().Exists(ctx, "/registered")
		return err == nil && !ok
	}, 30*time.Second, 20*time.Millisecond, "the diverged member's ephemeral stays")
	require.ErrorIs(t, bad.Err(), ErrDiverged)
}
