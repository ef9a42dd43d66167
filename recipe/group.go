package recipe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/coordkit/coord"
)

// Member is one member of a Group.
type Member struct {
	Name    string
	Data    []byte
	Session int64 // the session that holds its node
}

// Group is a membership list or service registry: every member is an
// ephemeral node dir/<name> whose data describes it (an address, say).
// Register adds a member and keeps it there; Members and Watch read the
// list. Its methods are safe for concurrent use.
type Group struct {
	c   *coord.Coord
	dir string
}

// NewGroup returns the group held in the directory dir of the ensemble c
// belongs to.
func NewGroup(c *coord.Coord, dir string) *Group {
	return &Group{c: c, dir: dir}
}

// Register adds the member name with data and keeps it registered until
// the Registration is closed (see Registration). opts configure the
// sessions it opens, for example coord.WithSessionTimeout. It returns once
// the member's node exists, or when ctx ends.
func (g *Group) Register(ctx context.Context, name string, data []byte, opts ...coord.SessionOption) (*Registration, error) {
	return register(ctx, g.c, g.dir, name, data, opts...)
}

// Members returns the members as this member's replica has them, sorted
// by name.
func (g *Group) Members(ctx context.Context) ([]Member, error) {
	s := g.c.Session()
	kids, _, err := s.Children(ctx, g.dir)
	if errors.Is(err, coord.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(kids))
	for _, k := range kids {
		data, st, err := s.Get(ctx, joinPath(g.dir, k))
		if errors.Is(err, coord.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Member{Name: k, Data: data, Session: st.EphemeralOwner})
	}
	return out, nil
}

// Watch reports the members: the channel receives the current list and
// then every change (joins, leaves and data updates; always the latest list
// for a slow reader) until ctx ends, and is then closed. Each list is the
// group at one moment (it comes from a Cache, which runs until ctx ends).
func (g *Group) Watch(ctx context.Context) (<-chan []Member, error) {
	cache, err := NewCache(ctx, g.c, g.dir)
	if err != nil {
		return nil, err
	}
	out := make(chan []Member, 1)
	go func() {
		defer close(out)
		defer cache.Close()
		var last []Member
		for snap := cache.Snapshot(); ; snap = cache.Snapshot() {
			if ms := membersOf(snap, g.dir); last == nil || !slices.EqualFunc(ms, last, sameMember) {
				last = ms
				sendLatest(out, ms)
			}
			select {
			case <-snap.Changed():
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func sameMember(a, b Member) bool {
	return a.Name == b.Name && a.Session == b.Session && bytes.Equal(a.Data, b.Data)
}

func membersOf(s *Snapshot, dir string) []Member {
	names := s.Children(dir)
	out := make([]Member, 0, len(names))
	for _, name := range names {
		n, _ := s.Get(joinPath(dir, name))
		out = append(out, Member{Name: name, Data: n.Data, Session: n.Stat.EphemeralOwner})
	}
	return out
}

// SessionSource opens sessions; *coord.Coord is one.
type SessionSource interface {
	NewSession(ctx context.Context, opts ...coord.SessionOption) (*coord.Session, error)
}

// Registration keeps one member in a Group: it owns a session (opened from
// a SessionSource) and an ephemeral node dir/<name> in it. If the node is
// deleted it is created again; if the session ends (expired after a
// partition, or closed under it) a new session is opened and the node
// created in it. Close removes the member.
//
// A Registration owns one goroutine, which stops at Close.
type Registration struct {
	src  SessionSource
	path string
	opts []coord.SessionOption
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	data    []byte
	s       *coord.Session
	present chan struct{} // closed while the node exists in s; replaced when it goes
	changed chan struct{} // signals the goroutine that data changed
}

// register adds the member name with data to the group in dir and keeps it
// registered until Close.
func register(ctx context.Context, src SessionSource, dir, name string, data []byte, opts ...coord.SessionOption) (*Registration, error) {
	r := &Registration{
		src: src, path: joinPath(dir, name), opts: opts, data: data,
		stop: make(chan struct{}), done: make(chan struct{}),
		present: make(chan struct{}), changed: make(chan struct{}, 1),
	}
	s, err := src.NewSession(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("recipe: register %s: %w", r.path, err)
	}
	r.s = s
	present := r.present
	go r.run()
	select {
	case <-present:
		return r, nil
	case <-ctx.Done():
		r.Close()
		return nil, ctx.Err()
	}
}

// Path returns the member's node.
func (r *Registration) Path() string { return r.path }

// Session returns the session that currently holds the member's node.
func (r *Registration) Session() *coord.Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s
}

// Registered returns a channel that is closed while the member's node
// exists (as this member last saw it). After the node goes, a new call
// returns a new channel.
func (r *Registration) Registered() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.present
}

// Update changes the member's data.
func (r *Registration) Update(ctx context.Context, data []byte) error {
	r.mu.Lock()
	r.data = data
	s := r.s
	r.mu.Unlock()
	_, err := s.Set(ctx, r.path, data, -1)
	if err != nil && !errors.Is(err, coord.ErrNoNode) {
		return fmt.Errorf("recipe: update %s: %w", r.path, err)
	}
	// If the node was missing, the goroutine creates it with the new data.
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

// Close removes the member (closes its session, which deletes the node)
// and stops the goroutine.
func (r *Registration) Close() error {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
	return r.Session().Close()
}

// run keeps the node present.
func (r *Registration) run() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		s := r.Session()
		err := r.keep(ctx, s)
		if ctx.Err() != nil {
			return
		}
		r.setAbsent()
		if sessionErr(s) != nil {
			ns, nerr := r.src.NewSession(ctx, r.opts...)
			if nerr == nil {
				r.mu.Lock()
				r.s = ns
				r.mu.Unlock()
				backoff = 10 * time.Millisecond
				continue
			}
			err = nerr
		}
		if err != nil {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, time.Second)
		}
	}
}

// keep creates the node in s and waits while it exists; it returns when
// the node is gone (nil: create it again) or s ended.
func (r *Registration) keep(ctx context.Context, s *coord.Session) error {
	for {
		ok, st, ch, err := s.ExistsW(ctx, r.path)
		if err != nil {
			return err
		}
		switch {
		case ok && st.EphemeralOwner == s.ID():
			r.setPresent()
		case ok:
			// Someone else's (our previous session's, until it expires):
			// wait for it to go.
			r.setAbsent()
		default:
			r.mu.Lock()
			data := r.data
			r.mu.Unlock()
			_, err := s.Create(ctx, r.path, data, coord.Ephemeral)
			s.StopWatch(ch) // looked at again below
			if err != nil && !errors.Is(err, coord.ErrNodeExists) && !errors.Is(err, coord.ErrNoNode) {
				return err
			}
			if errors.Is(err, coord.ErrNoNode) {
				if err := ensurePath(ctx, s, parentOf(r.path), coord.Container); err != nil {
					return err
				}
			}
			continue // look again (and watch it)
		}
		select {
		case ev, ok := <-ch:
			if err := watchErr(ev, ok); err != nil {
				return err
			}
		case <-r.changed:
			// New data: if the node is ours it has it already (Update set
			// it); if it is missing, it is created with it.
			s.StopWatch(ch)
		case <-ctx.Done():
			s.StopWatch(ch)
			return ctx.Err()
		}
	}
}

func (r *Registration) setPresent() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.present:
	default:
		close(r.present)
	}
}

func (r *Registration) setAbsent() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.present:
		r.present = make(chan struct{})
	default:
	}
}
