package coord

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
