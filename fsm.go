package coord

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/coordkit/coord/internal/logdb"
	"github.com/coordkit/coord/internal/store"
	"github.com/coordkit/coord/internal/wire"
)

// maxStoredData is the state machine's own bound on znode data. Members
// enforce their configured MaxDataSize before proposing; this bound only
// keeps a malformed proposal from storing absurd values, and must be the
// same on every member, so it is not configurable.
const maxStoredData = 64 << 20

// endedSession is a session the state machine closed in an applied batch.
type endedSession struct {
	id          int64
	incarnation uint64 // the process that hosted it
	expired     bool   // by the leader's decision rather than by its host
}

// applyObserver learns what each applied batch did, before the new state is
// readable. Implementations must not block; they run under the state
// machine's write lock and may read the state only through the view given.
type applyObserver interface {
	applied(changes []change, ended []endedSession)
	// recovered is called after the state was replaced by a snapshot.
	recovered(v view)
}

// fsm is the replicated state machine: a Dragonboat on-disk state machine
// whose state is the znode tree and session table in a Pebble store (the
// key schema is in schema.go). Update stages each batch of entries in
// memory and a Pebble batch (apply.go), then, under mu, tells the observer
// and commits; readers take a view under mu shared (view.go), so a reader
// that saw a watch event also sees the change behind it.
type fsm struct {
	dir      string
	storeOpt store.Options
	observer applyObserver

	mu           sync.RWMutex
	db           *store.DB
	applied      uint64
	lastZxid     atomic.Int64              // applied, readable without the lock
	clock        int64                     // ms; max of proposers' clocks
	count        int64                     // znodes in the tree
	ephemerals   int64                     // ephemeral znodes, counted at load and kept current
	sessions     map[int64]*wire.Session   // replicated session table
	heartbeats   map[uint64]uint64         // incarnation -> index of its last heartbeat
	seen         map[int64]time.Time       // local time a session last renewed itself
	heard        map[uint64]time.Time      // local time of an incarnation's last heartbeat
	reqs         map[uint64]*wire.Requests // incarnation -> idempotent results kept
	kids         childCache                // children of directories listed lately
	cache        nodeCache                 // znodes read or written lately
	stats        fsmStats
	digest       uint64          // the tree digest at applied
	digests      digestRing      // the digest after each recent entry
	verdicts     map[uint64]bool // other replica -> whether its last digest claim matched ours
	lastMismatch string          // the last claim that did not
	replica      uint64          // this member's replica id, to skip its own claims
	others       atomic.Int64    // how many other members the ensemble has, as last seen

	diverged   atomic.Pointer[error] // why this replica stopped serving; nil: it serves
	onDiverged func(error)           // told once when it stops
	// digestSkew is added to the digest by the next Update: tests model a
	// non-deterministic apply with it, on the apply goroutine, so that no
	// staged update overwrites it.
	digestSkew atomic.Uint64
}

type fsmStats struct {
	snapshotsSaved     int
	snapshotsRecovered int
}

func newFSM(dir string, opt store.Options, obs applyObserver, replica uint64) *fsm {
	return &fsm{dir: dir, storeOpt: opt, observer: obs, replica: replica}
}

var _ sm.IOnDiskStateMachine = (*fsm)(nil)

// Open opens the store, creating the initial tree when it is new, and returns
// the last applied index.
func (f *fsm) Open(stop <-chan struct{}) (uint64, error) {
	db, err := store.Open(f.dir, f.storeOpt)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.db = db
	if _, rec, err := db.Get(keyRecovering); err != nil {
		return 0, err
	} else if rec {
		// A snapshot load was interrupted: what is here is partial. Start
		// empty; Dragonboat loads the snapshot again.
		b := db.NewBatch()
		b.DeleteAll()
		if err := b.Commit(true); err != nil {
			return 0, err
		}
	}
	if err := f.initTree(); err != nil {
		return 0, err
	}
	if err := f.loadLocked(); err != nil {
		return 0, err
	}
	return f.applied, nil
}

// initTree writes the tree every ensemble starts with, if the store is
// empty: the root, /zookeeper, /zookeeper/quota and a read-only
// /zookeeper/config, all at zxid 0. Their cversions are ZooKeeper's (it
// reports -1 for the root and -2 for /zookeeper), so that sequence numbers
// under them come out as ZooKeeper's do.
func (f *fsm) initTree() error {
	if _, ok, err := f.db.Get(nodeKey("/")); err != nil || ok {
		return err
	}
	b := f.db.NewBatch()
	open := []wire.ACL{{Perms: int32(PermAll), Scheme: "world", ID: "anyone"}}
	read := []wire.ACL{{Perms: int32(PermRead), Scheme: "world", ID: "anyone"}}
	put := func(path string, n *wire.Node) { b.Set(nodeKey(path), wire.AppendNode(nil, n)) }
	put("/", &wire.Node{ACL: open, NumChildren: 1, Cversion: -1})
	put("/zookeeper", &wire.Node{ACL: open, NumChildren: 2, Cversion: -2})
	put("/zookeeper/quota", &wire.Node{ACL: open})
	put("/zookeeper/config", &wire.Node{ACL: read, Aversion: -1})
	// The digest is left to loadDigestLocked, which computes it.
	b.Set(keyApplied, u64(0))
	b.Set(keyCount, u64(4))
	return b.Commit(true)
}

// loadLocked rebuilds the in-memory tables from the store.
func (f *fsm) loadLocked() error {
	var err error
	if f.applied, err = f.loadUint(keyApplied); err != nil {
		return err
	}
	f.lastZxid.Store(int64(f.applied))
	clock, err := f.loadUint(keyTime)
	if err != nil {
		return err
	}
	f.clock = int64(clock)
	count, err := f.loadUint(keyCount)
	if err != nil {
		return err
	}
	f.count = int64(count)
	now := time.Now()
	f.sessions = make(map[int64]*wire.Session)
	f.seen = make(map[int64]time.Time)
	err = f.scanDecoded(sessionsPrefix(), func(_, v []byte) error {
		s, err := wire.DecodeSession(v)
		if err != nil {
			return fmt.Errorf("coord: stored session: %w", err)
		}
		f.sessions[s.ID] = s
		f.seen[s.ID] = now
		return nil
	})
	if err != nil {
		return err
	}
	f.heartbeats = make(map[uint64]uint64)
	f.heard = make(map[uint64]time.Time)
	err = f.scanDecoded(heartbeatsPrefix(), func(k, v []byte) error {
		inc, ok := parseHeartbeatKey(k)
		if !ok || len(v) != 8 {
			return fmt.Errorf("coord: stored heartbeat %x: malformed", k)
		}
		f.heartbeats[inc] = be64(v)
		f.heard[inc] = now
		return nil
	})
	if err != nil {
		return err
	}
	f.reqs = make(map[uint64]*wire.Requests)
	err = f.scanDecoded(requestsPrefix(), func(k, v []byte) error {
		inc, ok := parseRequestsKey(k)
		r, err := wire.DecodeRequests(v)
		if !ok || err != nil {
			return fmt.Errorf("coord: stored request results %x: %v", k, err)
		}
		f.reqs[inc] = r
		return nil
	})
	if err != nil {
		return err
	}
	f.ephemerals = 0
	if err := f.db.Scan(allEphemeralsPrefix(), func(_, _ []byte) bool {
		f.ephemerals++
		return true
	}); err != nil {
		return err
	}
	return f.loadDigestLocked()
}

// loadDigestLocked reads the tree digest, computing it once for a store
// written before digests were kept.
func (f *fsm) loadDigestLocked() error {
	f.digests.reset()
	f.verdicts = nil
	v, ok, err := f.db.Get(keyDigest)
	if err != nil {
		return err
	}
	if ok && len(v) == 8 {
		f.digest = be64(v)
		return nil
	}
	if f.digest, err = scanDigest(f.db, nil); err != nil {
		return err
	}
	b := f.db.NewBatch()
	b.Set(keyDigest, u64(f.digest))
	return b.Commit(true)
}

// loadUint reads a uint64 scalar; an absent key is 0.
func (f *fsm) loadUint(key []byte) (uint64, error) {
	v, ok, err := f.db.Get(key)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, nil
	case len(v) != 8:
		return 0, fmt.Errorf("coord: stored %q is %d bytes, not 8", key, len(v))
	}
	return be64(v), nil
}

// scanDecoded calls fn for each key with prefix until fn fails.
func (f *fsm) scanDecoded(prefix []byte, fn func(k, v []byte) error) error {
	var ferr error
	err := f.db.Scan(prefix, func(k, v []byte) bool {
		ferr = fn(k, v)
		return ferr == nil
	})
	if err != nil {
		return err
	}
	return ferr
}

// Update applies a batch of committed entries.
func (f *fsm) Update(entries []sm.Entry) ([]sm.Entry, error) {
	u := newUpdate(f)
	for i := range entries {
		entries[i].Result = u.applyLogged(entries[i].Index, entries[i].Cmd)
		u.digests = append(u.digests, [2]uint64{entries[i].Index, u.digest})
	}
	if u.err != nil {
		u.batch.Abort()
		return nil, fmt.Errorf("coord: applying entries %d..%d: %w", entries[0].Index, entries[len(entries)-1].Index, u.err)
	}
	u.finish(entries[len(entries)-1].Index)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.observer != nil && (len(u.changes) > 0 || len(u.ended) > 0) {
		f.observer.applied(u.changes, u.ended)
	}
	if err := u.batch.Commit(false); err != nil {
		return nil, logdb.DiskError("the tree store", f.dir, err)
	}
	u.publishLocked(time.Now())
	if len(u.verdicts) > 0 {
		f.judgeDigestsLocked()
	}
	if invariantChecks {
		if err := f.verifyLocked(); err != nil {
			return nil, fmt.Errorf("coord: after applying entries %d..%d: %w", entries[0].Index, entries[len(entries)-1].Index, err)
		}
	}
	return entries, nil
}

// storedNode returns the committed node at path (nil if absent). The
// node is shared with the cache: do not modify it. The caller holds mu.
func (f *fsm) storedNode(path string) (*wire.Node, error) {
	if n, ok := f.cache.get(path); ok {
		return n, nil
	}
	v, ok, err := f.db.Get(nodeKey(path))
	if err != nil {
		return nil, err
	}
	var n *wire.Node
	if ok {
		if n, err = wire.DecodeNode(v); err != nil {
			return nil, fmt.Errorf("coord: stored node %s: %w", path, err)
		}
	}
	f.cache.put(path, n)
	return n, nil
}

// lastApplied is the last applied index, without the lock.
func (f *fsm) lastApplied() int64 { return f.lastZxid.Load() }

// Lookup serves Dragonboat's read path. coord reads the store directly;
// this only answers the empty query that SyncRead uses to wait for the
// local replica to catch up.
func (f *fsm) Lookup(q interface{}) (interface{}, error) {
	return nil, nil
}

// Sync makes every applied entry durable.
func (f *fsm) Sync() error {
	if err := f.db.Sync(); err != nil {
		return logdb.DiskError("the tree store", f.dir, err)
	}
	return nil
}

// PrepareSnapshot freezes the current state for SaveSnapshot.
func (f *fsm) PrepareSnapshot() (interface{}, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.Snapshot(), nil
}

// SaveSnapshot streams the frozen state.
func (f *fsm) SaveSnapshot(ctx interface{}, w io.Writer, stop <-chan struct{}) error {
	snap := ctx.(*store.Snapshot)
	defer snap.Close()
	err := snap.WriteTo(w, stop)
	if errors.Is(err, store.ErrStopped) {
		return sm.ErrSnapshotStopped
	}
	if err == nil {
		f.mu.Lock()
		f.stats.snapshotsSaved++
		f.mu.Unlock()
	}
	return err
}

// RecoverFromSnapshot replaces the state with a snapshot's.
func (f *fsm) RecoverFromSnapshot(r io.Reader, stop <-chan struct{}) error {
	// Readers wait: a half-loaded tree must never be visible.
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.db.NewBatch()
	b.Set(keyRecovering, nil)
	if err := b.Commit(true); err != nil {
		return err
	}
	if err := f.db.ReplaceFrom(r, stop); err != nil {
		if errors.Is(err, store.ErrStopped) {
			return sm.ErrSnapshotStopped
		}
		return err
	}
	b = f.db.NewBatch()
	b.Delete(keyRecovering)
	if err := b.Commit(true); err != nil {
		return err
	}
	if err := f.loadLocked(); err != nil {
		return err
	}
	f.kids.reset()
	f.cache.reset()
	f.stats.snapshotsRecovered++
	if invariantChecks {
		if err := f.verifyLocked(); err != nil {
			return fmt.Errorf("coord: after recovering a snapshot: %w", err)
		}
	}
	if f.observer != nil {
		f.observer.recovered(view{f})
	}
	return nil
}

// Close closes the store.
func (f *fsm) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		return nil
	}
	err := f.db.Close()
	f.db = nil
	return err
}
