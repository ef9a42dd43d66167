package coord

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/coordkit/coord/internal/store"
	"github.com/coordkit/coord/internal/wire"
)

// update is the staging area of one Update call: the deterministic core of
// the state machine. It applies commands against the committed state plus
// what earlier commands of the batch staged, writes the result into a
// Pebble batch, and keeps the in-memory side of it for publishLocked. Its
// output depends only on the committed state and the entries.
type update struct {
	f          *fsm
	batch      *store.Batch
	nodes      map[string]*wire.Node     // staged tree writes; nil deletes
	sessions   map[int64]*wire.Session   // staged session writes; nil deletes
	heartbeats map[uint64]uint64         // staged heartbeats: incarnation -> index
	ephem      map[string]bool           // staged ephemeral index: key -> present
	renewed    []int64                   // sessions that renewed themselves
	reqs       map[uint64]*wire.Requests // staged request tables of the proposers seen
	count      int64                     // znodes after the staged writes
	ephemerals int64                     // ephemeral znodes after the staged writes
	changes    []change
	ended      []endedSession
	clock      int64
	digest     uint64          // the tree digest after the staged writes
	digests    [][2]uint64     // (index, digest) after each entry of the batch
	verdicts   map[uint64]bool // replica -> whether its digest claim matched ours
	mismatch   string          // the last digest claim that differed from ours
	lastIndex  uint64          // the batch's last entry, set by finish
	err        error           // a storage failure; see storageFailure
	kids       []childChange
}

func newUpdate(f *fsm) *update {
	return &update{
		f:          f,
		batch:      f.db.NewBatch(),
		nodes:      make(map[string]*wire.Node),
		sessions:   make(map[int64]*wire.Session),
		heartbeats: make(map[uint64]uint64),
		ephem:      make(map[string]bool),
		reqs:       make(map[uint64]*wire.Requests),
		clock:      f.clock,
		count:      f.count,
		ephemerals: f.ephemerals,
		digest:     f.digest + f.digestSkew.Swap(0),
	}
}

// finish stages the batch-wide scalars after the last entry, last.
func (u *update) finish(last uint64) {
	for inc, r := range u.reqs {
		u.batch.Set(requestsKey(inc), wire.AppendRequests(nil, r))
	}
	u.batch.Set(keyApplied, u64(last))
	u.batch.Set(keyTime, u64(uint64(u.clock)))
	if u.count != u.f.count {
		u.batch.Set(keyCount, u64(uint64(u.count)))
	}
	if u.digest != u.f.digest {
		u.batch.Set(keyDigest, u64(u.digest))
	}
	u.lastIndex = last
}

// publishLocked makes the committed batch the state readers see; the
// caller holds the write lock and has committed the Pebble batch.
func (u *update) publishLocked(now time.Time) {
	f := u.f
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
	for inc, idx := range u.heartbeats {
		f.heartbeats[inc] = idx
		f.heard[inc] = now
	}
	for inc, r := range u.reqs {
		f.reqs[inc] = r
	}
	f.applied = u.lastIndex
	f.lastZxid.Store(int64(u.lastIndex))
	f.clock = u.clock
	f.count = u.count
	f.ephemerals = u.ephemerals
	f.digest = u.digest
	for _, d := range u.digests {
		f.digests.record(d[0], d[1])
	}
	for r, ok := range u.verdicts {
		if f.verdicts == nil {
			f.verdicts = make(map[uint64]bool)
		}
		f.verdicts[r] = ok
	}
	if u.mismatch != "" {
		f.lastMismatch = u.mismatch
	}
}

// node implements treeReader over the committed store plus staged writes.
func (u *update) node(path string) (*wire.Node, error) {
	if n, ok := u.nodes[path]; ok {
		return n, nil
	}
	return u.f.storedNode(path)
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

// heartbeat returns the index of an incarnation's last heartbeat.
func (u *update) heartbeat(incarnation uint64) (uint64, bool) {
	if idx, ok := u.heartbeats[incarnation]; ok {
		return idx, true
	}
	idx, ok := u.f.heartbeats[incarnation]
	return idx, ok
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
		u.digest = digestAdd(u.digest, path, old, n)
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
			k := ephemeralKey(old.Owner, path)
			u.ephem[string(k)] = false
			u.batch.Delete(k)
			u.ephemerals--
		}
		if n != nil && n.Mode == wire.ModeEphemeral && (old == nil || old.Owner != n.Owner) {
			k := ephemeralKey(n.Owner, path)
			u.ephem[string(k)] = true
			u.batch.Set(k, nil)
			u.ephemerals++
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

// sessionEphemerals lists a session's ephemeral nodes in path order, as
// staged.
func (u *update) sessionEphemerals(id int64) ([]string, error) {
	prefix := ephemeralsPrefix(id, "")
	set := make(map[string]bool)
	err := u.f.db.Scan(prefix, func(k, _ []byte) bool {
		set[ephemeralPath(k)] = true
		return true
	})
	if err != nil {
		return nil, err
	}
	for k, present := range u.ephem {
		if len(k) >= len(prefix) && k[:len(prefix)] == string(prefix) {
			set[ephemeralPath([]byte(k))] = present
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

// storageFailure records an error reading or writing the store, or an
// impossible state found in it. Applying cannot go on deterministically
// after one, so Update stops the member with it rather than hand the
// proposer a result other members may not have reached.
func (u *update) storageFailure(err error) *wire.Result {
	if u.err == nil {
		u.err = err
	}
	return codeResult(ErrSystemError)
}

// errStaleRetry answers a retry of a command whose result its proposer has
// already acknowledged; nobody waits for it.
var errStaleRetry = ErrRuntimeInconsistency

// applyLogged applies one log entry, once per (incarnation, request id)
// for idempotent commands, and returns its encoded result.
func (u *update) applyLogged(index uint64, data []byte) sm.Result {
	cmd, err := wire.DecodeCommand(data)
	if err != nil {
		return encodeResult(codeResult(ErrMarshallingError))
	}
	if cmd.ReqID == 0 {
		return encodeResult(u.apply(index, cmd))
	}
	reqs := u.requests(cmd.Incarnation)
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
func (u *update) requests(incarnation uint64) *wire.Requests {
	if r, ok := u.reqs[incarnation]; ok {
		return r
	}
	r := &wire.Requests{Results: make(map[uint64][]byte)}
	if c := u.f.reqs[incarnation]; c != nil {
		r.Ack = c.Ack
		for id, res := range c.Results {
			r.Results[id] = res
		}
	}
	u.reqs[incarnation] = r
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
		s := &wire.Session{ID: zxid, Timeout: cmd.Timeout, Incarnation: cmd.Incarnation,
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
		return u.expireSessions(zxid, cmd.Sessions)
	case wire.KindHeartbeat:
		u.heartbeats[cmd.Incarnation] = index
		u.batch.Set(heartbeatKey(cmd.Incarnation), u64(index))
		return &wire.Result{}
	case wire.KindAttachSession, wire.KindDetachSession:
		return u.moveSession(index, cmd)
	case wire.KindAddAuth:
		return u.addAuth(cmd)
	case wire.KindReap:
		return u.reap(zxid, cmd.Paths)
	case wire.KindDigest:
		u.checkDigest(cmd.DigestReplica, cmd.DigestIndex, cmd.Digest)
		return &wire.Result{}
	}
	return codeResult(ErrUnimplemented)
}

// expireSessions closes the sessions the leader found unrenewed, unless
// they were renewed after the leader looked.
func (u *update) expireSessions(zxid int64, refs []wire.SessionRef) *wire.Result {
	for _, ref := range refs {
		s := u.session(ref.ID)
		if s == nil || u.renewIndex(s) > ref.RenewIndex {
			continue // gone already, or renewed since the leader looked
		}
		if err := u.closeSession(zxid, ref.ID, true); err != nil {
			return u.storageFailure(err)
		}
	}
	return &wire.Result{}
}

// moveSession attaches a session to the proposing incarnation, or detaches
// it from its host.
func (u *update) moveSession(index uint64, cmd *wire.Command) *wire.Result {
	s := u.session(cmd.Session)
	if s == nil {
		return codeResult(ErrSessionExpired)
	}
	detach := cmd.Kind == wire.KindDetachSession
	if detach && s.Incarnation != cmd.Incarnation {
		return codeResult(ErrSessionMoved) // a late detach from a former host
	}
	c := *s
	c.Incarnation, c.Detached, c.RenewIndex = cmd.Incarnation, detach, index
	u.putSession(&c)
	u.renewed = append(u.renewed, c.ID)
	return &wire.Result{}
}

func (u *update) addAuth(cmd *wire.Command) *wire.Result {
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
}

func (u *update) reap(zxid int64, paths []string) *wire.Result {
	t := newTxn(u, zxid, u.clock, maxStoredData)
	for _, p := range paths {
		if _, err := t.reap(p); err != nil {
			return u.storageFailure(err)
		}
	}
	if err := u.merge(t); err != nil {
		return u.storageFailure(err)
	}
	return &wire.Result{}
}

// checkDigest compares another replica's digest at index with this one's,
// when it still knows its own (it may have loaded a snapshot since), and
// records the verdict. The command's result is the same on every member;
// what each concludes is its own (see fsm.judgeDigests).
func (u *update) checkDigest(replica, index, claimed uint64) {
	if replica == u.f.replica || replica == 0 {
		return
	}
	var have uint64
	found := false
	for _, d := range u.digests {
		if d[0] == index {
			have, found = d[1], true
		}
	}
	if !found {
		have, found = u.f.digests.at(index)
	}
	if !found {
		return
	}
	if u.verdicts == nil {
		u.verdicts = make(map[uint64]bool)
	}
	u.verdicts[replica] = have == claimed
	if have != claimed {
		u.mismatch = fmt.Sprintf("at index %d replica %d's tree hashes to %016x, this member's to %016x", index, replica, claimed, have)
	}
}

// renewIndex is the log index of a session's latest renewal: its own, or its
// host's heartbeat while it is attached.
func (u *update) renewIndex(s *wire.Session) uint64 {
	idx := s.RenewIndex
	if !s.Detached {
		if hb, ok := u.heartbeat(s.Incarnation); ok {
			idx = max(idx, hb)
		}
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
		if s.Incarnation != cmd.Incarnation {
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
	paths, err := u.sessionEphemerals(id)
	if err != nil {
		return err
	}
	t := newTxn(u, zxid, u.clock, maxStoredData)
	for _, p := range paths {
		if err := t.removeEphemeral(p, id); err != nil {
			return err
		}
	}
	if err := u.merge(t); err != nil {
		return err
	}
	u.sessions[id] = nil
	u.batch.Delete(sessionKey(id))
	u.ended = append(u.ended, endedSession{id: id, incarnation: s.Incarnation, expired: expired})
	return nil
}

func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
