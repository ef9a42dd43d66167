package recipe

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/coordkit/coord"
)

// Versioned is a Value's content at one version.
type Versioned struct {
	Data    []byte
	Version int32 // the node's data version; -1 when it does not exist
	Zxid    int64 // zxid of the change that made this version (0 if absent)
}

// Exists reports whether the value's node exists.
func (v Versioned) Exists() bool { return v.Version >= 0 }

// Value is a shared byte value in one znode, read and watched by many
// processes and changed with compare-and-set. Its methods are safe for
// concurrent use.
type Value struct {
	s    *coord.Session
	path string
}

// NewValue returns the value stored in the node path, used through
// session s.
func NewValue(s *coord.Session, path string) *Value {
	return &Value{s: s, path: path}
}

// Get returns the value as this session's member has it (Version -1 if the
// node does not exist). Call Sync on the session first to see every write
// acknowledged anywhere.
func (v *Value) Get(ctx context.Context) (Versioned, error) {
	data, st, err := v.s.Get(ctx, v.path)
	if errors.Is(err, coord.ErrNoNode) {
		return Versioned{Version: -1}, nil
	}
	if err != nil {
		return Versioned{}, err
	}
	return Versioned{Data: data, Version: st.Version, Zxid: st.Mzxid}, nil
}

// Set stores data whatever the current version, creating the node (and
// missing parents, as containers) if needed.
func (v *Value) Set(ctx context.Context, data []byte) (Versioned, error) {
	for {
		st, err := v.s.Set(ctx, v.path, data, -1)
		if err == nil {
			return Versioned{Data: data, Version: st.Version, Zxid: st.Mzxid}, nil
		}
		if !errors.Is(err, coord.ErrNoNode) {
			return Versioned{}, err
		}
		nv, err := v.CompareAndSet(ctx, -1, data)
		if !errors.Is(err, coord.ErrBadVersion) {
			return nv, err
		}
	}
}

// CompareAndSet stores data if the value is still at version (-1: the
// node must not exist yet; it is created, with missing parents as
// containers). It returns the new version, or an error matching
// coord.ErrBadVersion if the value moved on.
func (v *Value) CompareAndSet(ctx context.Context, version int32, data []byte) (Versioned, error) {
	if version >= 0 {
		st, err := v.s.Set(ctx, v.path, data, version)
		if errors.Is(err, coord.ErrNoNode) {
			return Versioned{}, fmt.Errorf("%w: %s does not exist", coord.ErrBadVersion, v.path)
		}
		if err != nil {
			return Versioned{}, err
		}
		return Versioned{Data: data, Version: st.Version, Zxid: st.Mzxid}, nil
	}
	for tries := 0; ; tries++ {
		res, err := v.s.Multi(ctx, coord.CreateOp(v.path, data, coord.Persistent))
		switch {
		case err == nil:
			return Versioned{Data: data, Version: 0, Zxid: res[0].Stat.Czxid}, nil
		case errors.Is(err, coord.ErrNodeExists):
			return Versioned{}, fmt.Errorf("%w: %s exists", coord.ErrBadVersion, v.path)
		case errors.Is(err, coord.ErrNoNode) && tries < 10:
			if err := ensurePath(ctx, v.s, parentOf(v.path), coord.Container); err != nil {
				return Versioned{}, err
			}
		default:
			return Versioned{}, err
		}
	}
}

// Watch reports the value: the channel receives the current value and then
// every change (always the latest one for a slow reader) until ctx ends or
// the session does; then it is closed, and the goroutine that feeds it
// stops.
func (v *Value) Watch(ctx context.Context) <-chan Versioned {
	out := make(chan Versioned, 1)
	go func() {
		defer close(out)
		last := Versioned{Version: -2}
		for {
			data, st, ch, err := v.s.GetW(ctx, v.path)
			cur := Versioned{Version: -1}
			switch {
			case errors.Is(err, coord.ErrNoNode):
				var ok bool
				ok, _, ch, err = v.s.ExistsW(ctx, v.path)
				if err == nil && ok {
					v.s.StopWatch(ch)
					continue // created meanwhile
				}
			case err == nil:
				cur = Versioned{Data: data, Version: st.Version, Zxid: st.Mzxid}
			}
			if err != nil {
				return
			}
			if cur.Version != last.Version || cur.Zxid != last.Zxid {
				last = cur
				sendLatest(out, cur)
			}
			if waitEvent(ctx, v.s, ch) != nil {
				return
			}
		}
	}()
	return out
}

// Counter is a shared int64 (stored as decimal text in one znode) with
// atomic Add, compare-and-set and a watch. Its methods are safe for
// concurrent use.
type Counter struct {
	v Value
}

// NewCounter returns the counter stored in the node path, used through
// session s. A missing node counts as 0.
func NewCounter(s *coord.Session, path string) *Counter {
	return &Counter{v: Value{s: s, path: path}}
}

// Count is a Counter's value at one version.
type Count struct {
	N       int64
	Version int32 // -1 when the node does not exist (N is 0)
}

func parseCount(v Versioned) (Count, error) {
	if !v.Exists() || len(v.Data) == 0 {
		return Count{Version: v.Version}, nil
	}
	n, err := strconv.ParseInt(string(v.Data), 10, 64)
	if err != nil {
		return Count{}, fmt.Errorf("recipe: counter holds %q: %w", v.Data, err)
	}
	return Count{N: n, Version: v.Version}, nil
}

// Get returns the counter as this session's member has it.
func (c *Counter) Get(ctx context.Context) (Count, error) {
	v, err := c.v.Get(ctx)
	if err != nil {
		return Count{}, err
	}
	return parseCount(v)
}

// Add adds delta atomically and returns the new value. It reads, then
// writes with the version it read, and starts again if someone else wrote
// in between. If ctx ends while a write is in flight, that write may still
// apply (the error then matches coord.ErrNoQuorum or a context error).
func (c *Counter) Add(ctx context.Context, delta int64) (int64, error) {
	for {
		cur, err := c.Get(ctx)
		if err != nil {
			return 0, err
		}
		n := cur.N + delta
		_, err = c.v.CompareAndSet(ctx, cur.Version, []byte(strconv.FormatInt(n, 10)))
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, coord.ErrBadVersion) {
			return 0, err
		}
		// Our member has applied the write that beat us by now (it applied
		// our refused one after it), so the next read sees it.
	}
}

// CompareAndSet sets the counter to n if it is still at version (-1: does
// not exist yet); otherwise the error matches coord.ErrBadVersion.
func (c *Counter) CompareAndSet(ctx context.Context, version int32, n int64) (Count, error) {
	v, err := c.v.CompareAndSet(ctx, version, []byte(strconv.FormatInt(n, 10)))
	if err != nil {
		return Count{}, err
	}
	return Count{N: n, Version: v.Version}, nil
}

// Watch reports the counter like Value.Watch. Values that do not parse are
// skipped.
func (c *Counter) Watch(ctx context.Context) <-chan Count {
	in := c.v.Watch(ctx)
	out := make(chan Count, 1)
	go func() {
		defer close(out)
		for v := range in {
			if n, err := parseCount(v); err == nil {
				sendLatest(out, n)
			}
		}
	}()
	return out
}
