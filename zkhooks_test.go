package coord

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

func (l *eventLog) take() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.evs
	l.evs = nil
	var kept []Event
	for _, ev := range out {
		if ev.Type >= NodeCreated && ev.Type <= NodeChildrenChanged {
			ev.Zxid = 0
			kept = append(kept, ev)
		}
	}
	return kept
}

func TestWatchFuncHooks(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	c := tc.get(1)
	ctx := ctxT(t)
	var log eventLog
	s, err := c.NewSession(ctx, WithWatchFunc(log.add))
	require.NoError(t, err)
	m := c.Session()
	_, err = m.Create(ctx, "/a", nil, Persistent)
	require.NoError(t, err)

	// Several watches on one path, set twice: one event per change.
	_, _, ch, err := s.GetW(ctx, "/a")
	require.NoError(t, err)
	require.Nil(t, ch)
	_, _, _, err = s.GetW(ctx, "/a")
	require.NoError(t, err)
	_, _, _, err = s.ExistsW(ctx, "/a")
	require.NoError(t, err)
	_, err = s.AddWatch(ctx, "/a", false)
	require.NoError(t, err)
	_, err = s.AddWatch(ctx, "/", true)
	require.NoError(t, err)
	require.True(t, s.HasWatches("/a", WatchData))
	require.False(t, s.HasWatches("/a", WatchChildren))
	require.True(t, s.HasWatches("/a", WatchPersistent))
	require.Equal(t, 3, s.WatchCount())
	_, err = m.Set(ctx, "/a", []byte("x"), -1)
	require.NoError(t, err)
	require.Equal(t, []Event{{Type: NodeDataChanged, Path: "/a"}}, log.take())
	require.False(t, s.HasWatches("/a", WatchData))
	// Two changes of one multi are two events for a persistent watch.
	_, err = m.Multi(ctx, SetOp("/a", nil, -1), SetOp("/a", nil, -1))
	require.NoError(t, err)
	require.Len(t, log.take(), 2)
	require.NoError(t, s.RemoveWatches(ctx, "/a", WatchPersistent))
	require.NoError(t, s.RemoveWatches(ctx, "/", WatchPersistentRecursive))
	require.Empty(t, log.take())

	// RestoreWatches fires what was missed and sets the rest.
	rel := c.LastZxid()
	_, err = m.Create(ctx, "/b", nil, Persistent)
	require.NoError(t, err)
	_, err = m.Create(ctx, "/a/c", nil, Persistent)
	require.NoError(t, err)
	require.NoError(t, s.RestoreWatches(ctx, rel,
		[]string{"/a", "/gone", "bad"}, []string{"/b", "/later"}, []string{"/a", "/"}, nil, nil))
	require.Equal(t, []Event{
		{Type: NodeDeleted, Path: "/gone"},
		{Type: NodeDeleted, Path: "bad"},
		{Type: NodeCreated, Path: "/b"},
		{Type: NodeChildrenChanged, Path: "/a"},
		{Type: NodeChildrenChanged, Path: "/"},
	}, log.take())
	require.True(t, s.HasWatches("/a", WatchData))
	require.True(t, s.HasWatches("/later", WatchData))
	_, err = m.Create(ctx, "/later", nil, Persistent)
	require.NoError(t, err)
	_, err = m.Set(ctx, "/a", nil, -1)
	require.NoError(t, err)
	evs := log.take()
	require.Len(t, evs, 2)
	require.Equal(t, NodeCreated, evs[0].Type)
	require.Equal(t, NodeDataChanged, evs[1].Type)

	// Channel watches still work.
	w, err := m.AddWatch(ctx, "/a", false)
	require.NoError(t, err)
	_, _, och, err := m.GetW(ctx, "/a")
	require.NoError(t, err)
	_, err = m.Set(ctx, "/a", nil, -1)
	require.NoError(t, err)
	for _, c := range []<-chan Event{w.C, och} {
		select {
		case ev := <-c:
			require.Equal(t, NodeDataChanged, ev.Type)
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
	}
	w.Remove()
}
