package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// Spec is what one member is opened with.
type Spec struct {
	ID      uint64
	Members map[uint64]string // the ensemble's members: id -> Raft address
	Addr    string            // this member's Raft address ("" if Members has it)
	Dir     string            // this member's data directory
	Join    bool              // join the running ensemble instead of forming it
}

// Config describes an Ensemble.
type Config[M io.Closer] struct {
	// Open opens one member; ctx bounds it (OpenTimeout). Required.
	Open func(ctx context.Context, s Spec) (M, error)
	// Members are the ensemble's members, id -> Raft address. When empty,
	// N fresh loopback addresses get the ids 1..N.
	Members map[uint64]string
	N       int
	// Dir holds the members' data directories, Dir/m<id>. NewEnsemble
	// defaults it to t.TempDir(); NewSharedEnsemble requires it.
	Dir string
	// OpenTimeout bounds each Open (30 s when zero).
	OpenTimeout time.Duration
	// Crash stops a member the way a crash would (nothing cleaned up);
	// nil: Crash closes it.
	Crash func(M)
	// Drain, if set, runs on every member at once before CloseAll closes
	// any of them: the step that needs the others still up (closing
	// sessions while there is a quorum).
	Drain func(M)
	// Leader reports whom a member takes for the leader; Ensemble.Leader
	// needs it.
	Leader func(M) (uint64, bool)
	// StrictClose makes an error from closing a member at test cleanup
	// fail the test; otherwise it is logged.
	StrictClose bool
}

// Ensemble is a set of members of one ensemble that run in this process.
// It knows every member's address and directory, whether or not that
// member runs here (some may run in child processes), and tracks the ones
// it opened by id. Its methods are safe for concurrent use.
type Ensemble[M io.Closer] struct {
	cfg     Config[M]
	members map[uint64]string
	dir     string

	mu     sync.Mutex
	live   map[uint64]M
	lastID uint64 // highest id handed out so far (members and Reserve)
}

// NewEnsemble makes an ensemble whose members live in t's temporary
// directory (unless cfg.Dir says otherwise) and are all closed, in
// parallel, when the test ends. It starts none of them: see Start.
func NewEnsemble[M io.Closer](t testing.TB, cfg Config[M]) *Ensemble[M] {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	e, err := NewSharedEnsemble(cfg)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := e.CloseAll(); err != nil {
			if cfg.StrictClose {
				t.Errorf("testenv: closing the ensemble: %v", err)
			} else {
				t.Logf("testenv: closing the ensemble: %v", err)
			}
		}
	})
	return e
}

// NewSharedEnsemble makes an ensemble that outlives any one test (TestMain
// closes it): cfg.Dir is required, and the caller calls CloseAll.
func NewSharedEnsemble[M io.Closer](cfg Config[M]) (*Ensemble[M], error) {
	if cfg.Open == nil {
		return nil, errors.New("testenv: Config.Open is nil")
	}
	if cfg.Dir == "" {
		return nil, errors.New("testenv: Config.Dir is empty")
	}
	members := cfg.Members
	if len(members) == 0 {
		addrs, err := freeAddrs(cfg.N)
		if err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		members = make(map[uint64]string, len(addrs))
		for i, a := range addrs {
			members[uint64(i+1)] = a
		}
	}
	e := &Ensemble[M]{cfg: cfg, members: members, dir: cfg.Dir, live: map[uint64]M{}}
	for id := range members {
		e.lastID = max(e.lastID, id)
	}
	return e, nil
}

// Members returns the ensemble's address book, id -> Raft address. It is
// the map every Spec carries: do not modify it.
func (e *Ensemble[M]) Members() map[uint64]string { return e.members }

// Dir returns the directory that holds the members' data directories.
func (e *Ensemble[M]) Dir() string { return e.dir }

// DataDir returns member id's data directory.
func (e *Ensemble[M]) DataDir(id uint64) string {
	return filepath.Join(e.dir, fmt.Sprintf("m%d", id))
}

// Spec returns what member id forms the ensemble with (Join false).
func (e *Ensemble[M]) Spec(id uint64) Spec {
	return Spec{ID: id, Members: e.members, Addr: e.members[id], Dir: e.DataDir(id)}
}

// Reserve returns an id that no member of the ensemble has had and a free
// loopback address, for a member that joins later.
func (e *Ensemble[M]) Reserve() (uint64, string, error) {
	addrs, err := freeAddrs(1)
	if err != nil {
		return 0, "", fmt.Errorf("testenv: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastID++
	return e.lastID, addrs[0], nil
}

// Start opens the members ids at once, as a real ensemble starts (Open
// typically waits for a quorum), each with its Spec. The error names every
// member that did not open.
func (e *Ensemble[M]) Start(ids ...uint64) error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.Open(e.Spec(id)); err != nil {
				errs[i] = fmt.Errorf("member %d: %w", id, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Open opens one member with s and tracks it under s.ID.
func (e *Ensemble[M]) Open(s Spec) (M, error) {
	timeout := e.cfg.OpenTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := e.cfg.Open(ctx, s)
	if err != nil {
		var zero M
		return zero, err
	}
	e.mu.Lock()
	e.live[s.ID] = m
	e.lastID = max(e.lastID, s.ID)
	e.mu.Unlock()
	return m, nil
}

// Restart opens member id again from its data directory.
func (e *Ensemble[M]) Restart(id uint64) (M, error) { return e.Open(e.Spec(id)) }

// Get returns member id if it runs here.
func (e *Ensemble[M]) Get(id uint64) (M, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.live[id]
	return m, ok
}

// Live returns the members that run here, by id.
func (e *Ensemble[M]) Live() map[uint64]M {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[uint64]M, len(e.live))
	for id, m := range e.live {
		out[id] = m
	}
	return out
}

// IDs returns the ids of the members that run here, in order.
func (e *Ensemble[M]) IDs() []uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]uint64, 0, len(e.live))
	for id := range e.live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Forget stops tracking member id without closing it and returns it.
func (e *Ensemble[M]) Forget(id uint64) (M, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.live[id]
	delete(e.live, id)
	return m, ok
}

// Stop closes member id (gracefully); nil if it does not run here.
func (e *Ensemble[M]) Stop(id uint64) error {
	m, ok := e.Forget(id)
	if !ok {
		return nil
	}
	return m.Close()
}

// Crash stops member id with Config.Crash (Close without one).
func (e *Ensemble[M]) Crash(id uint64) {
	m, ok := e.Forget(id)
	if !ok {
		return
	}
	if e.cfg.Crash != nil {
		e.cfg.Crash(m)
		return
	}
	_ = m.Close() // a crash reports nothing
}

// CloseAll closes every member that runs here, all at once (after
// Config.Drain on all of them), and forgets them; the ensemble can be
// started again. The error names each member whose Close failed.
func (e *Ensemble[M]) CloseAll() error {
	e.mu.Lock()
	live := e.live
	e.live = map[uint64]M{}
	e.mu.Unlock()
	each := func(f func(id uint64, m M)) {
		var wg sync.WaitGroup
		for id, m := range live {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f(id, m)
			}()
		}
		wg.Wait()
	}
	if e.cfg.Drain != nil {
		each(func(_ uint64, m M) { e.cfg.Drain(m) })
	}
	var mu sync.Mutex
	var errs []error
	each(func(id uint64, m M) {
		if err := m.Close(); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("member %d: %w", id, err))
			mu.Unlock()
		}
	})
	return errors.Join(errs...)
}

// Leader waits up to within for a member that runs here to name a leader
// that also runs here, and returns the leader's id.
func (e *Ensemble[M]) Leader(within time.Duration) (uint64, error) {
	if e.cfg.Leader == nil {
		return 0, errors.New("testenv: Config.Leader is nil")
	}
	deadline := time.Now().Add(within)
	for {
		live := e.Live()
		for _, m := range live {
			if id, ok := e.cfg.Leader(m); ok {
				if _, here := live[id]; here {
					return id, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("testenv: no leader among members %v within %v", e.IDs(), within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
