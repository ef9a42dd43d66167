package coord

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/coordkit/coord/internal/store"
	"github.com/coordkit/coord/internal/wire"
)

// Keys of the state machine's store. Every key below 0xff is replicated
// state and travels in snapshots; keys from 0xff up are this member's own.
var (
	keyApplied    = []byte("mi")      // uint64 BE: last applied log index
	keyTime       = []byte("mt")      // int64 BE: the tree's clock, ms
	keyCount      = []byte("mc")      // uint64 BE: number of znodes
	prefixNode    = []byte("n")       // n<parent>\x00<name> -> wire.Node
	prefixSession = []byte("s")       // s<id BE> -> wire.Session
	prefixEphem   = []byte("e")       // e<session BE><path> -> empty
	prefixReap    = []byte("x")       // x<path> -> empty: containers and TTL nodes
	prefixMember  = []byte("h")       // h<member BE> -> uint64 BE: index of its last heartbeat
	prefixReq     = []byte("q")       // q<member BE> -> wire.Requests: a proposer's idempotent results
	keyRecovering = []byte("\xffrec") // set while a snapshot is being loaded
)

// maxStoredData is the state machine's own bound on znode data. Members
// enforce their configured MaxDataSize before proposing; this bound only
// keeps a malformed proposal from storing absurd values, and must be the
// same on every member, so it is not configurable.
const maxStoredData = 64 << 20

func nodeKey(path string) []byte {
	if path == "/" {
		return []byte("n\x00")
	}
	i := bytes.LastIndexByte([]byte(path), '/')
	k := make([]byte, 0, len(path)+2)
	k = append(k, 'n')
	if i == 0 {
		k = append(k, '/')
	} else {
		k = append(k, path[:i]...)
	}
	k = append(k, 0)
	return append(k, path[i+1:]...)
}

func childrenPrefix(path string) []byte {
	k := make([]byte, 0, len(path)+2)
	k = append(k, 'n')
	k = append(k, path...)
	return append(k, 0)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func sessionKey(id int64) []byte { return append([]byte("s"), u64(uint64(id))...) }

func ephemKey(session int64, path string) []byte {
	k := append([]byte("e"), u64(uint64(session))...)
	return append(k, path...)
}

func reapKey(path string) []byte { return append([]byte("x"), path...) }

func memberKey(id uint64) []byte { return append([]byte("h"), u64(id)...) }

func reqKey(member uint64) []byte { return append([]byte("q"), u64(member)...) }

// endedSession is a session the state machine closed in an applied batch.
type endedSession struct {
	id      int64
	owner   uint64
	expired bool // by the leader's decision rather than by its owner
}

// applyObserver learns what each applied batch did, before the new state is
// readable. Implementations must not block.
type applyObserver interface {
	applied(changes []change, ended []endedSession)
	// recovered is called after the state was replaced by a snapshot.
	recovered()
}

// fsm is the replicated state machine: a Dragonboat on-disk state machine
// whose state is the znode tree and session table in a Pebble store. Update
// stages each batch of entries in memory and a Pebble batch, then, under mu,
// tells the observer and commits; readers hold mu shared, so a reader that
// saw a watch event also sees the change behind it.
type fsm struct {
	dir      string
	storeOpt store.Options
	observer applyObserver

	mu       sync.RWMutex
	db       *store.DB
	applied  uint64
	lastZxid atomic.Int64              // applied, readable without the lock
	clock    int64                     // ms; max of proposers' clocks
	count    int64                     // znodes in the tree
	sessions map[int64]*wire.Session   // replicated session table
	members  map[uint64]uint64         // member -> index of its last heartbeat
	seen     map[int64]time.Time       // local time a session last renewed itself
	hbSeen   map[uint64]time.Time      // local time of a member's last heartbeat
	reqs     map[uint64]*wire.Requests // proposer -> idempotent results kept
	kids     childCache                // children of directories listed lately
	cache    nodeCache                 // znodes read or written lately
	stats    fsmStats
}

type fsmStats struct {
	snapshotsSaved     int
	snapshotsRecovered int
}

func newFSM(dir string, opt store.Options, obs applyObserver) *fsm {
	return &fsm{dir: dir, storeOpt: opt, observer: obs}
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
	b.Set(keyApplied, u64(0))
	b.Set(keyCount, u64(4))
	return b.Commit(true)
}

// loadLocked rebuilds the in-memory tables from the store.
func (f *fsm) loadLocked() error {
	f.applied, f.clock = 0, 0
	if v, ok, err := f.db.Get(keyApplied); err != nil {
		return err
	} else if ok && len(v) == 8 {
		f.applied = binary.BigEndian.Uint64(v)
	}
	f.lastZxid.Store(int64(f.applied))
	if v, ok, err := f.db.Get(keyTime); err != nil {
		return err
	} else if ok && len(v) == 8 {
		f.clock = int64(binary.BigEndian.Uint64(v))
	}
	f.count = 0
	if v, ok, err := f.db.Get(keyCount); err != nil {
		return err
	} else if ok && len(v) == 8 {
		f.count = int64(binary.BigEndian.Uint64(v))
	}
	now := time.Now()
	f.sessions = make(map[int64]*wire.Session)
	f.seen = make(map[int64]time.Time)
	var derr error
	err := f.db.Scan(prefixSession, func(_, v []byte) bool {
		s, err := wire.DecodeSession(v)
		if err != nil {
			derr = err
			return false
		}
		f.sessions[s.ID] = s
		f.seen[s.ID] = now
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("coord: loading sessions: %w", err)
	}
	f.members = make(map[uint64]uint64)
	f.hbSeen = make(map[uint64]time.Time)
	err = f.db.Scan(prefixMember, func(k, v []byte) bool {
		if len(k) == 9 && len(v) == 8 {
			id := binary.BigEndian.Uint64(k[1:])
			f.members[id] = binary.BigEndian.Uint64(v)
			f.hbSeen[id] = now
		}
		return true
	})
	if err != nil {
		return err
	}
	f.reqs = make(map[uint64]*wire.Requests)
	var rerr error
	err = f.db.Scan(prefixReq, func(k, v []byte) bool {
		r, err := wire.DecodeRequests(v)
		if err != nil || len(k) != 9 {
			rerr = fmt.Errorf("coord: stored request results %x: %v", k, err)
			return false
		}
		f.reqs[binary.BigEndian.Uint64(k[1:])] = r
		return true
	})
	if err == nil {
		err = rerr
	}
	return err
}

// Update applies a batch of committed entries.
func (f *fsm) Update(entries []sm.Entry) ([]sm.Entry, error) {
	u := &update{
		f:        f,
		batch:    f.db.NewBatch(),
		nodes:    make(map[string]*wire.Node),
		sessions: make(map[int64]*wire.Session),
		members:  make(map[uint64]uint64),
		ephem:    make(map[string]bool),
		reqs:     make(map[uint64]*wire.Requests),
		clock:    f.clock,
		count:    f.count,
	}
	for i := range entries {
		entries[i].Result = u.applyLogged(entries[i].Index, entries[i].Cmd)
	}
	if u.err != nil {
		u.batch.Abort()
		return nil, fmt.Errorf("coord: applying entries %d..%d: %w", entries[0].Index, entries[len(entries)-1].Index, u.err)
	}
	for m, r := range u.reqs {
		u.batch.Set(reqKey(m), wire.AppendRequests(nil, r))
	}
	last := entries[len(entries)-1].Index
	u.batch.Set(keyApplied, u64(last))
	u.batch.Set(keyTime, u64(uint64(u.clock)))
	if u.count != f.count {
		u.batch.Set(keyCount, u64(uint64(u.count)))
	}

	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.observer != nil && (len(u.changes) > 0 || len(u.ended) > 0) {
		f.observer.applied(u.changes, u.ended)
	}
	if err := u.batch.Commit(false); err != nil {
		return nil, fmt.Errorf("coord: committing applied entries: %w", err)
	}
	f.kids.apply(u.kids)
	for path, n := range u.nodes {
		f.cache.put(path, n)
	}
	for id, s := range u.sessions {
		if s == nil {
			delete(f.sessions, id)
			delete(f.seen, id)
		} else {
			f.sessions[id] = s
		}
	}
	for _, id := range u.renewed {
		if _, ok := f.sessions[id]; ok {
			f.seen[id] = now
		}
	}
	for m, idx := range u.members {
		f.members[m] = idx
		f.hbSeen[m] = now
	}
	for m, r := range u.reqs {
		f.reqs[m] = r
	}
	f.applied = last
	f.lastZxid.Store(int64(last))
	f.clock = u.clock
	f.count = u.count
	return entries, nil
}

// update is the staging area of one Update call.
type update struct {
	f        *fsm
	batch    *store.Batch
	nodes    map[string]*wire.Node     // staged tree writes; nil deletes
	sessions map[int64]*wire.Session   // staged session writes; nil deletes
	members  map[uint64]uint64         // staged heartbeats
	ephem    map[string]bool           // staged ephemeral index: key -> present
	renewed  []int64                   // sessions that renewed themselves
	reqs     map[uint64]*wire.Requests // staged request tables of the proposers seen
	count    int64                     // znodes after the staged writes
	changes  []change
	ended    []endedSession
	clock    int64
	err      error // a storage failure; see storageFailure
	kids     []childChange
}

// node implements treeReader over the committed store plus staged writes.
func (u *update) node(path string) (*wire.Node, error) {
	if n, ok := u.nodes[path]; ok {
		return n, nil
	}
	return u.f.storedNode(path)
}

// storedNode returns the committed node at path (nil if absent). The
// node is shared with the cache: do not modify it.
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

func (u *update) session(id int64) *wire.Session {
	if s, ok := u.sessions[id]; ok {
		return s
	}
	return u.f.sessions[id]
}

// putSession stages a session record; s must not be shared with the
// committed table.
func (u *update) putSession(s *wire.Session) {
	u.sessions[s.ID] = s
	u.batch.Set(sessionKey(s.ID), wire.AppendSession(nil, s))
}

// merge moves a successful txn's writes into the update, maintaining the
// ephemeral and reap indexes.
func (u *update) merge(t *txn) error {
	for path, n := range t.nodes {
		old, err := u.node(path)
		if err != nil {
			return err
		}
		u.nodes[path] = n
		if n == nil {
			u.batch.Delete(nodeKey(path))
		} else {
			u.batch.Set(nodeKey(path), wire.AppendNode(nil, n))
		}
		switch {
		case old == nil && n != nil:
			u.count++
			u.kids = append(u.kids, childChange{parentOf(path), nameOf(path), true})
		case old != nil && n == nil:
			u.count--
			u.kids = append(u.kids, childChange{parentOf(path), nameOf(path), false})
		}
		if old != nil && old.Mode == wire.ModeEphemeral && (n == nil || n.Owner != old.Owner) {
			k := ephemKey(old.Owner, path)
			u.ephem[string(k)] = false
			u.batch.Delete(k)
		}
		if n != nil && n.Mode == wire.ModeEphemeral && (old == nil || old.Owner != n.Owner) {
			k := ephemKey(n.Owner, path)
			u.ephem[string(k)] = true
			u.batch.Set(k, nil)
		}
		reaped := func(x *wire.Node) bool {
			return x != nil && (x.Mode == wire.ModeContainer || x.Mode == wire.ModeTTL)
		}
		switch {
		case reaped(old) && !reaped(n):
			u.batch.Delete(reapKey(path))
		case reaped(n) && !reaped(old):
			u.batch.Set(reapKey(path), nil)
		}
	}
	u.changes = append(u.changes, t.changes...)
	return nil
}

// ephemerals lists a session's ephemeral nodes in path order.
func (u *update) ephemerals(id int64) ([]string, error) {
	prefix := ephemKey(id, "")
	set := make(map[string]bool)
	err := u.f.db.Scan(prefix, func(k, _ []byte) bool {
		set[string(k[len(prefix):])] = true
		return true
	})
	if err != nil {
		return nil, err
	}
	for k, present := range u.ephem {
		if len(k) >= len(prefix) && k[:len(prefix)] == string(prefix) {
			set[k[len(prefix):]] = present
		}
	}
	var paths []string
	for p, present := range set {
		if present {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return paths, nil
}

func codeResult(err error) *wire.Result { return &wire.Result{Code: ErrorCode(err)} }

// storageFailure records an error reading or writing the store. Applying
// cannot go on deterministically after one, so Update stops the member
// with it rather than hand the proposer a result other members may not
// have reached.
func (u *update) storageFailure(err error) *wire.Result {
	if u.err == nil {
		u.err = err
	}
	return codeResult(ErrSystemError)
}

// errStaleRetry answers a retry of a command whose result its proposer has
// already acknowledged; nobody waits for it.
var errStaleRetry = ErrRuntimeInconsistency

// applyLogged applies one log entry, once per (proposer, request id) for
// idempotent commands, and returns its encoded result.
func (u *update) applyLogged(index uint64, data []byte) sm.Result {
	cmd, err := wire.DecodeCommand(data)
	if err != nil {
		return encodeResult(codeResult(ErrMarshallingError))
	}
	if cmd.ReqID == 0 {
		return encodeResult(u.apply(index, cmd))
	}
	reqs := u.requests(cmd.Member)
	if cmd.ReqID < reqs.Ack {
		return encodeResult(codeResult(errStaleRetry))
	}
	if prev, ok := reqs.Results[cmd.ReqID]; ok {
		return sm.Result{Data: prev}
	}
	res := encodeResult(u.apply(index, cmd))
	reqs.Results[cmd.ReqID] = res.Data
	if cmd.Ack > reqs.Ack {
		// The proposer has every result below Ack: forget them.
		reqs.Ack = cmd.Ack
		for id := range reqs.Results {
			if id < cmd.Ack {
				delete(reqs.Results, id)
			}
		}
	}
	return res
}

func encodeResult(r *wire.Result) sm.Result {
	return sm.Result{Value: uint64(r.Value), Data: wire.AppendResult(nil, r)}
}

// requests returns the staged request table of a proposer, copying the
// committed one on first use.
func (u *update) requests(member uint64) *wire.Requests {
	if r, ok := u.reqs[member]; ok {
		return r
	}
	r := &wire.Requests{Results: make(map[uint64][]byte)}
	if c := u.f.reqs[member]; c != nil {
		r.Ack = c.Ack
		for id, res := range c.Results {
			r.Results[id] = res
		}
	}
	u.reqs[member] = r
	return r
}

// apply applies one command and returns its result. Errors that the
// proposer should see are results; only storage failures stop the member,
// and those surface from the commit.
func (u *update) apply(index uint64, cmd *wire.Command) *wire.Result {
	if cmd.Time > u.clock {
		u.clock = cmd.Time
	}
	zxid := int64(index)
	switch cmd.Kind {
	case wire.KindCreate, wire.KindDelete, wire.KindSetData, wire.KindSetACL, wire.KindCheck, wire.KindMulti:
		return u.applyOps(zxid, cmd)
	case wire.KindCreateSession:
		s := &wire.Session{ID: zxid, Timeout: cmd.Timeout, Owner: cmd.Member,
			Password: cmd.Password, Auth: cmd.Auth, RenewIndex: index}
		u.putSession(s)
		u.renewed = append(u.renewed, s.ID)
		return &wire.Result{Value: s.ID}
	case wire.KindCloseSessions:
		for _, ref := range cmd.Sessions {
			if err := u.closeSession(zxid, ref.ID, false); err != nil {
				return u.storageFailure(err)
			}
		}
		return &wire.Result{}
	case wire.KindExpireSessions:
		for _, ref := range cmd.Sessions {
			s := u.session(ref.ID)
			if s == nil || u.renewIndex(s) > ref.RenewIndex {
				continue // gone already, or renewed since the leader looked
			}
			if err := u.closeSession(zxid, ref.ID, true); err != nil {
				return u.storageFailure(err)
			}
		}
		return &wire.Result{}
	case wire.KindHeartbeat:
		u.members[cmd.Member] = index
		u.batch.Set(memberKey(cmd.Member), u64(index))
		return &wire.Result{}
	case wire.KindAttachSession, wire.KindDetachSession:
		s := u.session(cmd.Session)
		if s == nil {
			return codeResult(ErrSessionExpired)
		}
		detach := cmd.Kind == wire.KindDetachSession
		if detach && s.Owner != cmd.Member {
			return codeResult(ErrSessionMoved) // a late detach from a former owner
		}
		c := *s
		c.Owner, c.Detached, c.RenewIndex = cmd.Member, detach, index
		u.putSession(&c)
		u.renewed = append(u.renewed, c.ID)
		return &wire.Result{}
	case wire.KindAddAuth:
		s := u.session(cmd.Session)
		if s == nil {
			return codeResult(ErrSessionExpired)
		}
		c := *s
		c.Auth = slices.Clone(s.Auth)
		for _, id := range cmd.Auth {
			if !slices.Contains(c.Auth, id) {
				c.Auth = append(c.Auth, id)
			}
		}
		u.putSession(&c)
		return &wire.Result{}
	case wire.KindReap:
		t := newTxn(u, zxid, u.clock, maxStoredData)
		for _, p := range cmd.Paths {
			if _, err := t.reap(p); err != nil {
				return u.storageFailure(err)
			}
		}
		if err := u.merge(t); err != nil {
			return u.storageFailure(err)
		}
		return &wire.Result{}
	}
	return codeResult(ErrUnimplemented)
}

// renewIndex is the log index of a session's latest renewal: its own, or its
// owner's heartbeat while it is attached.
func (u *update) renewIndex(s *wire.Session) uint64 {
	idx := s.RenewIndex
	if !s.Detached {
		hb, ok := u.members[s.Owner]
		if !ok {
			hb = u.f.members[s.Owner]
		}
		idx = max(idx, hb)
	}
	return idx
}

func (u *update) applyOps(zxid int64, cmd *wire.Command) *wire.Result {
	t := newTxn(u, zxid, u.clock, maxStoredData)
	if cmd.Session != 0 {
		s := u.session(cmd.Session)
		if s == nil {
			return codeResult(ErrSessionExpired)
		}
		if s.Owner != cmd.Member {
			return codeResult(ErrSessionMoved)
		}
		t.session, t.ids = s.ID, s.Auth
	}
	res := &wire.Result{Ops: make([]wire.OpResult, len(cmd.Ops))}
	if cmd.Kind == wire.KindMulti && len(cmd.Ops) == 0 {
		return res
	}
	for i := range cmd.Ops {
		path, stat, err := t.apply(&cmd.Ops[i])
		if err != nil {
			var oe *opError
			if !errors.As(err, &oe) {
				return u.storageFailure(err)
			}
			res.Code = ErrorCode(err)
			res.Ops = multiFailure(len(cmd.Ops), i, err)
			return res
		}
		res.Ops[i] = wire.OpResult{Path: path, Stat: stat.wire()}
	}
	if err := u.merge(t); err != nil {
		return u.storageFailure(err)
	}
	return res
}

// closeSession ends a session: its ephemerals go in the same step.
func (u *update) closeSession(zxid, id int64, expired bool) error {
	s := u.session(id)
	if s == nil {
		return nil
	}
	paths, err := u.ephemerals(id)
	if err != nil {
		return err
	}
	t := newTxn(u, zxid, u.clock, maxStoredData)
	for _, p := range paths {
		if err := t.removeEphemeral(p); err != nil {
			return err
		}
	}
	if err := u.merge(t); err != nil {
		return err
	}
	u.sessions[id] = nil
	u.batch.Delete(sessionKey(id))
	u.ended = append(u.ended, endedSession{id: id, owner: s.Owner, expired: expired})
	return nil
}

// read runs fn with the state machine's read lock held, so that what fn
// reads is one consistent state and no watch event for a later change can be
// delivered before fn returns.
func (f *fsm) read(fn func() error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	return fn()
}

// children lists the names of path's children in byte order. The caller
// holds the read lock.
func (f *fsm) children(path string, hint int) ([]string, error) {
	if names, ok := f.kids.list(path); ok {
		return names, nil
	}
	prefix := childrenPrefix(path)
	names := make([]string, 0, max(hint, 0))
	err := f.db.Scan(prefix, func(k, _ []byte) bool {
		names = append(names, string(k[len(prefix):]))
		return true
	})
	if err == nil {
		f.kids.fill(path, names)
	}
	return names, err
}

// expired lists the sessions whose last renewal, as this member saw it, is
// older than their timeout. Renewals seen before since (when this member
// became leader) count as seen at since. Attached sessions get slack more:
// their member may have been alive for up to one heartbeat interval after
// its last heartbeat.
func (f *fsm) expired(now, since time.Time, slack time.Duration) []wire.SessionRef {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var refs []wire.SessionRef
	for id, s := range f.sessions {
		seen, idx, grace := f.seen[id], s.RenewIndex, time.Duration(0)
		if !s.Detached {
			grace = slack
			if hb, ok := f.members[s.Owner]; ok {
				idx = max(idx, hb)
				if t := f.hbSeen[s.Owner]; t.After(seen) {
					seen = t
				}
			}
		}
		if since.After(seen) {
			seen = since
		}
		if now.Sub(seen) > time.Duration(s.Timeout)*time.Millisecond+grace {
			refs = append(refs, wire.SessionRef{ID: id, RenewIndex: idx})
		}
	}
	slices.SortFunc(refs, func(a, b wire.SessionRef) int { return cmpInt64(a.ID, b.ID) })
	return refs
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// reapable lists up to limit containers that have had children and have
// none left, and TTL nodes without children unmodified for their TTL at
// time now (ms).
func (f *fsm) reapable(now int64, limit int) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil
	}
	var paths []string
	f.db.Scan(prefixReap, func(k, _ []byte) bool {
		path := string(k[len(prefixReap):])
		n, err := f.storedNode(path)
		if err != nil || n == nil || n.NumChildren > 0 {
			return true
		}
		if (n.Mode == wire.ModeContainer && n.Cversion > 0) || (n.Mode == wire.ModeTTL && now-n.Mtime > n.TTL) {
			paths = append(paths, path)
		}
		return len(paths) < limit
	})
	return paths
}

// Lookup serves Dragonboat's read path. coord reads the store directly;
// this only answers the empty query that SyncRead uses to wait for the
// local replica to catch up.
func (f *fsm) Lookup(q interface{}) (interface{}, error) {
	return nil, nil
}

// Sync makes every applied entry durable.
func (f *fsm) Sync() error { return f.db.Sync() }

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
	if f.observer != nil {
		f.observer.recovered()
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
