package coord

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/wire"
)

func TestChildCache(t *testing.T) {
	var c childCache
	_, ok := c.list("/a")
	require.False(t, ok)
	c.fill("/a", []string{"x", "y"})
	c.apply([]childChange{{"/a", "b", true}, {"/a", "y", false}, {"/other", "z", true}})
	got, ok := c.list("/a")
	require.True(t, ok)
	assert.Equal(t, []string{"b", "x"}, got)
	_, ok = c.list("/other")
	assert.False(t, ok, "only listed directories are cached")

	// A deleted child's own listing goes with it.
	c.fill("/a/x", nil)
	c.apply([]childChange{{"/a", "x", false}})
	_, ok = c.list("/a/x")
	assert.False(t, ok)

	// Big directories are not cached.
	big := make([]string, maxCachedChildren+1)
	for i := range big {
		big[i] = fmt.Sprint(i)
	}
	c.fill("/big", big)
	_, ok = c.list("/big")
	assert.False(t, ok)
	c.reset()
	_, ok = c.list("/a")
	assert.False(t, ok)
}

// TestChildrenStayCurrent lists a directory, changes it through another
// member, and lists it again on every member.
func TestChildrenStayCurrent(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s1, s3 := tc.get(1).Session(), tc.get(3).Session()
	_, err := s1.Create(ctx, "/dir", nil, Persistent)
	require.NoError(t, err)
	require.NoError(t, s3.Sync(ctx, "/"))
	want := []string{}
	for i := 0; i < 30; i++ {
		kids, _, err := s3.Children(ctx, "/dir")
		require.NoError(t, err)
		require.Equal(t, want, kids, "round %d", i)
		name := fmt.Sprintf("c%02d", i)
		_, err = s1.Create(ctx, "/dir/"+name, nil, Persistent)
		require.NoError(t, err)
		want = append(want, name)
		if i%3 == 2 {
			require.NoError(t, s1.Delete(ctx, "/dir/"+want[0], -1))
			want = want[1:]
		}
		require.NoError(t, s3.Sync(ctx, "/"))
	}
}

func TestNodeCacheGenerations(t *testing.T) {
	var c nodeCache
	n := &wire.Node{Data: []byte("x")}
	c.put("/a", n)
	c.put("/gone", nil)
	got, ok := c.get("/a")
	require.True(t, ok)
	assert.Same(t, n, got)
	got, ok = c.get("/gone")
	require.True(t, ok, "absence is cached too")
	assert.Nil(t, got)
	_, ok = c.get("/never")
	assert.False(t, ok)
	// Fill two generations: /a survives one rotation if it is used.
	for i := 0; i < nodeCacheEntries; i++ {
		c.put(fmt.Sprintf("/f%d", i), nil)
	}
	_, ok = c.get("/a")
	require.True(t, ok, "found in the old generation and promoted")
	for i := 0; i < nodeCacheEntries; i++ {
		c.put(fmt.Sprintf("/g%d", i), nil)
	}
	_, ok = c.get("/a")
	assert.True(t, ok)
	_, ok = c.get("/f1")
	assert.False(t, ok, "two rotations without use: evicted")
	c.reset()
	_, ok = c.get("/a")
	assert.False(t, ok)
}

func TestChildCacheIsBoundedInDirectories(t *testing.T) {
	var c childCache
	for i := range 3 * maxCachedDirs {
		c.fill(fmt.Sprintf("/d%d", i), []string{"a"})
	}
	assert.LessOrEqual(t, len(c.parents), maxCachedDirs)
	names, ok := c.list(fmt.Sprintf("/d%d", 3*maxCachedDirs-1))
	assert.True(t, ok, "the last directory filled is cached")
	assert.Equal(t, []string{"a"}, names)
}
