package coord

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSmoke(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s1 := tc.get(1).Session()
	p, err := s1.Create(ctx, "/a", []byte("hello"), Persistent)
	require.NoError(t, err)
	require.Equal(t, "/a", p)
	data, st, err := s1.Get(ctx, "/a")
	require.NoError(t, err)
	require.Equal(t, "hello", string(data))
	t.Logf("stat %+v", st)
	s2 := tc.get(2).Session()
	require.NoError(t, s2.Sync(ctx, "/"))
	data, _, err = s2.Get(ctx, "/a")
	require.NoError(t, err)
	require.Equal(t, "hello", string(data))
}
