package coord

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/coordkit/coord/internal/wire"
)

// SessionState is the health of a session as its member sees it.
type SessionState int

// Session states.
const (
	// Connected: the member reaches a quorum and keeps the session alive.
	Connected SessionState = iota + 1
	// Suspended: the member cannot reach a quorum. The session may have been
	// expired by the others; anything that depends on it (locks,
	// leadership) must be treated as possibly lost until Connected again.
	Suspended
	// Expired: the ensemble ended the session because it was not renewed in
	// time. Its ephemeral nodes are gone. Final.
	Expired
	// Closed: the session was closed by Close. Final.
	Closed
)

func (s SessionState) String() string {
	switch s {
	case Connected:
		return "Connected"
	case Suspended:
		return "Suspended"
	case Expired:
		return "Expired"
	case Closed:
		return "Closed"
	}
	return fmt.Sprintf("SessionState(%d)", int(s))
}

// SessionOption configures NewSession.
type SessionOption func(*sessionConfig)

type sessionConfig struct {
	timeout time.Duration
	ids     []wire.AuthID
	sink    func(Event)
}

// WithWatchFunc makes fn receive every watch event of the session, in the
// order the member applies the changes, instead of the channels: ExistsW,
// GetW and ChildrenW then return nil channels and AddWatch a Watcher whose
// C is nil. fn runs on the member's apply path, before the change is
// readable: it must return quickly and never block. It is meant for servers
// that put events and replies on one ordered connection.
func WithWatchFunc(fn func(Event)) SessionOption {
	return func(c *sessionConfig) { c.sink = fn }
}

// WithSessionTimeout requests a session timeout; the member clamps it into
// [Options.MinSessionTimeout, Options.MaxSessionTimeout].
func WithSessionTimeout(d time.Duration) SessionOption {
	return func(c *sessionConfig) { c.timeout = d }
}

// WithClientIP gives the session the ip identity of a client address, for
// ACLs with the ip scheme. Servers that accept sessions over the network use
// it with the address the connection comes from.
func WithClientIP(addr netip.Addr) SessionOption {
	return func(c *sessionConfig) {
		c.ids = append(c.ids, wire.AuthID{Scheme: "ip", ID: addr.Unmap().String()})
	}
}

// Session is a ZooKeeper session hosted by this member: the identity that
// owns ephemeral nodes and watches and carries authentication. Its methods
// are safe for concurrent use.
type Session struct {
	c        *Coord
	id       int64
	timeout  time.Duration
	password []byte
	sink     func(Event)

	mu    sync.Mutex
	state SessionState
	subs  []chan SessionState
	done  chan struct{}
}

// NewSession opens a session hosted by this member.
func (c *Coord) NewSession(ctx context.Context, opts ...SessionOption) (*Session, error) {
	var cfg sessionConfig
	for _, o := range opts {
		o(&cfg)
	}
	if c.isClosed() {
		return nil, ErrClosed
	}
	timeout := c.opts.clampTimeout(cfg.timeout)
	password := make([]byte, 16)
	rand.Read(password)
	res, err := c.propose(ctx, &wire.Command{
		Kind: wire.KindCreateSession, Member: c.hostID,
		Timeout: int32(timeout.Milliseconds()), Password: password, Auth: cfg.ids,
	})
	if err != nil {
		return nil, fmt.Errorf("coord: new session: %w", err)
	}
	return c.host(res.Value, timeout, password, cfg.sink), nil
}

// host registers a session as hosted here.
func (c *Coord) host(id int64, timeout time.Duration, password []byte, sink func(Event)) *Session {
	s := &Session{c: c, id: id, timeout: timeout, password: password, sink: sink, state: Connected, done: make(chan struct{})}
	if c.suspended.Load() {
		s.state = Suspended
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		s.end(Closed)
		return s
	}
	c.sessions[id] = s
	c.mu.Unlock()
	return s
}

// AttachSession moves an existing session to this member: the session id and
// password must match. It is how a network client whose member went away
// keeps its session (and ephemeral nodes) on another member. Watches do not
// move; set them again.
func (c *Coord) AttachSession(ctx context.Context, id int64, password []byte, opts ...SessionOption) (*Session, error) {
	var cfg sessionConfig
	for _, o := range opts {
		o(&cfg)
	}
	var timeout time.Duration
	lookup := func() error {
		s := c.fsm.sessions[id]
		if s == nil {
			return ErrSessionExpired
		}
		if subtle.ConstantTimeCompare(s.Password, password) != 1 {
			return ErrAuthFailed
		}
		timeout = time.Duration(s.Timeout) * time.Millisecond
		return nil
	}
	err := c.fsm.read(lookup)
	if errors.Is(err, ErrSessionExpired) {
		// This member may not have applied the session's creation yet.
		if err = c.sync(ctx); err == nil {
			err = c.fsm.read(lookup)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("coord: attach session 0x%x: %w", id, err)
	}
	res, err := c.propose(ctx, &wire.Command{Kind: wire.KindAttachSession, Session: id, Member: c.hostID})
	if err == nil && res.Code != 0 {
		err = errorForCode(res.Code)
	}
	if err != nil {
		return nil, fmt.Errorf("coord: attach session 0x%x: %w", id, err)
	}
	c.mu.Lock()
	old := c.sessions[id]
	c.mu.Unlock()
	if old != nil && !old.isEnded() {
		return old, nil
	}
	return c.host(id, timeout, bytes.Clone(password), cfg.sink), nil
}

// ID returns the session id.
func (s *Session) ID() int64 { return s.id }

// Timeout returns the negotiated session timeout.
func (s *Session) Timeout() time.Duration { return s.timeout }

// Password returns the secret that AttachSession requires.
func (s *Session) Password() []byte { return bytes.Clone(s.password) }

// State returns a channel that receives the session's current state and then
// every change. After Expired or Closed it is closed. Each call returns a
// new channel; a slow reader may miss intermediate states but always
// receives the latest.
func (s *Session) State() <-chan SessionState {
	return s.subscribe()
}

// StateContext is State for a watcher that stops: when ctx ends, the
// channel is closed and the subscription dropped, so code that watches the
// state for a while (a held lock, a leadership term) leaves nothing behind.
func (s *Session) StateContext(ctx context.Context) <-chan SessionState {
	ch := s.subscribe()
	if ctx.Done() != nil {
		context.AfterFunc(ctx, func() { s.unsubscribe(ch) })
	}
	return ch
}

func (s *Session) subscribe() chan SessionState {
	ch := make(chan SessionState, 4)
	s.mu.Lock()
	defer s.mu.Unlock()
	ch <- s.state
	if s.state == Expired || s.state == Closed {
		close(ch)
		return ch
	}
	s.subs = append(s.subs, ch)
	return ch
}

// unsubscribe drops and closes ch unless the session's end closed it.
func (s *Session) unsubscribe(ch chan SessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.subs {
		if c == ch {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			close(ch)
			return
		}
	}
}

// CurrentState returns the session's state now.
func (s *Session) CurrentState() SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Done is closed when the session has expired or closed.
func (s *Session) Done() <-chan struct{} { return s.done }

func (s *Session) isEnded() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// setState moves a live session to Connected or Suspended.
func (s *Session) setState(st SessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == st || s.state == Expired || s.state == Closed {
		return
	}
	s.state = st
	for _, ch := range s.subs {
		sendLatest(ch, st)
	}
}

// end moves the session to a final state.
func (s *Session) end(st SessionState) {
	s.mu.Lock()
	if s.state == Expired || s.state == Closed {
		s.mu.Unlock()
		return
	}
	s.state = st
	for _, ch := range s.subs {
		sendLatest(ch, st)
		close(ch)
	}
	s.subs = nil
	close(s.done)
	s.mu.Unlock()
	err := error(ErrClosed)
	if st == Expired {
		err = ErrSessionExpired
	}
	s.c.watches.endSession(s.id, err)
}

// sendLatest sends st, dropping the oldest queued state if the reader is
// behind, so the newest state always arrives.
func sendLatest(ch chan SessionState, st SessionState) {
	for {
		select {
		case ch <- st:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// ended returns the error for calls on a session that is over.
func (s *Session) ended() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case Expired:
		return ErrSessionExpired
	case Closed:
		return ErrClosed
	}
	return nil
}

// Close closes the session: its ephemeral nodes are deleted and its watches
// end. Closing a closed or expired session does nothing.
func (s *Session) Close() error {
	if s.ended() != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.c.opts.RequestTimeout)
	defer cancel()
	_, err := s.c.propose(ctx, &wire.Command{Kind: wire.KindCloseSessions, Sessions: []wire.SessionRef{{ID: s.id}}})
	s.c.unhost(s.id)
	s.end(Closed)
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("coord: close session 0x%x: %w", s.id, err)
	}
	return nil
}

// Detach tells the ensemble that the client of this session went away
// without closing it: the member stops renewing it, so it expires after its
// timeout unless AttachSession brings it back first. The Session value
// ends here (Closed) but the session lives on. If the detach cannot be
// committed (no quorum before ctx ends), the member still hosts and renews
// the session and Detach may be called again.
func (s *Session) Detach(ctx context.Context) error {
	if err := s.ended(); err != nil {
		return err
	}
	_, err := s.c.propose(ctx, &wire.Command{Kind: wire.KindDetachSession, Session: s.id})
	if err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	s.c.unhost(s.id)
	s.end(Closed)
	return err
}

func (c *Coord) unhost(id int64) {
	c.mu.Lock()
	delete(c.sessions, id)
	c.mu.Unlock()
}

// sessionEnded is called when an applied entry ended a session.
func (c *Coord) sessionEnded(id int64, st SessionState) {
	c.mu.Lock()
	s := c.sessions[id]
	delete(c.sessions, id)
	c.mu.Unlock()
	if s != nil {
		s.end(st)
	}
}

// sessionsRecovered expires hosted sessions that a snapshot says are gone.
// The state machine's write lock is held.
func (c *Coord) sessionsRecovered() {
	c.mu.Lock()
	var gone []*Session
	for id, s := range c.sessions {
		if _, ok := c.fsm.sessions[id]; !ok {
			gone = append(gone, s)
			delete(c.sessions, id)
		}
	}
	c.mu.Unlock()
	for _, s := range gone {
		s.end(Expired)
	}
}

// ---- writes ----

// write proposes a tree command for the session and turns a failed result
// into an error naming op and path.
func (s *Session) write(ctx context.Context, op, path string, cmd *wire.Command) (*wire.Result, error) {
	if err := s.ended(); err != nil {
		return nil, pathErr(op, path, err)
	}
	cmd.Session = s.id
	res, err := s.c.propose(ctx, cmd)
	if err != nil {
		return nil, pathErr(op, path, err)
	}
	if res.Code != 0 && cmd.Kind != wire.KindMulti {
		return res, pathErr(op, path, errorForCode(res.Code))
	}
	return res, nil
}

// identities returns the session's proven identities from the local replica.
func (s *Session) identities() []wire.AuthID {
	var ids []wire.AuthID
	s.c.fsm.read(func() error {
		if r := s.c.fsm.sessions[s.id]; r != nil {
			ids = r.Auth
		}
		return nil
	})
	return ids
}

// checkCreate validates a create before it is proposed, so that bad input is
// refused with a precise reason.
func (s *Session) checkCreate(op *Op) error {
	if !op.mode.valid() {
		return pathErrf("create", op.path, ErrBadArguments, "unknown create mode %d", op.mode)
	}
	if err := validatePath(op.path, op.mode.Sequential()); err != nil {
		return pathErrf("create", op.path, ErrBadArguments, "%v", err)
	}
	if len(op.data) > s.c.opts.MaxDataSize {
		return pathErrf("create", op.path, ErrBadArguments, "data is %d bytes, the limit is %d", len(op.data), s.c.opts.MaxDataSize)
	}
	if op.mode.isTTL() {
		if op.ttl <= 0 || op.ttl.Milliseconds() > MaxTTL || op.ttl.Milliseconds() <= 0 {
			return pathErrf("create", op.path, ErrBadArguments, "TTL %v is outside 1ms..%dms", op.ttl, int64(MaxTTL))
		}
	} else if op.ttl != 0 {
		return pathErrf("create", op.path, ErrBadArguments, "a TTL needs mode PersistentWithTTL or PersistentSequentialWithTTL, not %v", op.mode)
	}
	if _, err := toWireACL(op.acl, s.identities()); err != nil {
		return &PathError{Op: "create", Path: op.path, Err: ErrInvalidACL, Detail: trimSentinel(err, ErrInvalidACL)}
	}
	return nil
}

func trimSentinel(err error, sentinel *Error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}

func (s *Session) checkData(op string, path string, data []byte) error {
	if err := validatePath(path, false); err != nil {
		return pathErrf(op, path, ErrBadArguments, "%v", err)
	}
	if len(data) > s.c.opts.MaxDataSize {
		return pathErrf(op, path, ErrBadArguments, "data is %d bytes, the limit is %d", len(data), s.c.opts.MaxDataSize)
	}
	return nil
}

// Create creates a znode and returns its path (with the sequence number for
// sequential modes). With no acl the node gets OpenACL. Use CreateTTL for
// the TTL modes.
func (s *Session) Create(ctx context.Context, path string, data []byte, mode CreateMode, acl ...ACL) (string, error) {
	return s.create(ctx, CreateOp(path, data, mode, acl...))
}

// CreateTTL creates a node in mode PersistentWithTTL or
// PersistentSequentialWithTTL: the ensemble deletes it once it has gone
// unmodified for ttl and has no children.
func (s *Session) CreateTTL(ctx context.Context, path string, data []byte, mode CreateMode, ttl time.Duration, acl ...ACL) (string, error) {
	if !mode.isTTL() {
		return "", pathErrf("create", path, ErrBadArguments, "CreateTTL needs mode PersistentWithTTL or PersistentSequentialWithTTL, not %v", mode)
	}
	return s.create(ctx, CreateTTLOp(path, data, mode, ttl, acl...))
}

func (s *Session) create(ctx context.Context, op Op) (string, error) {
	if op.mode.isTTL() && op.ttl == 0 {
		return "", pathErrf("create", op.path, ErrBadArguments, "mode %v needs CreateTTL", op.mode)
	}
	if err := s.checkCreate(&op); err != nil {
		return "", err
	}
	res, err := s.write(ctx, "create", op.path, &wire.Command{Kind: wire.KindCreate, Ops: []wire.Op{op.wire()}})
	if err != nil {
		return "", err
	}
	return res.Ops[0].Path, nil
}

// Delete deletes a childless znode whose version matches (-1: any version).
func (s *Session) Delete(ctx context.Context, path string, version int32) error {
	if err := validatePath(path, false); err != nil {
		return pathErrf("delete", path, ErrBadArguments, "%v", err)
	}
	_, err := s.write(ctx, "delete", path, &wire.Command{Kind: wire.KindDelete, Ops: []wire.Op{DeleteOp(path, version).wire()}})
	return err
}

// Set replaces a znode's data if its version matches (-1: any version) and
// returns the new Stat.
func (s *Session) Set(ctx context.Context, path string, data []byte, version int32) (*Stat, error) {
	if err := s.checkData("set", path, data); err != nil {
		return nil, err
	}
	res, err := s.write(ctx, "set", path, &wire.Command{Kind: wire.KindSetData, Ops: []wire.Op{SetOp(path, data, version).wire()}})
	if err != nil {
		return nil, err
	}
	return statFromWire(res.Ops[0].Stat), nil
}

// SetACL replaces a znode's ACL if its ACL version (Stat.Aversion) matches
// (-1: any).
func (s *Session) SetACL(ctx context.Context, path string, acl []ACL, version int32) (*Stat, error) {
	if err := validatePath(path, false); err != nil {
		return nil, pathErrf("setACL", path, ErrBadArguments, "%v", err)
	}
	if _, err := toWireACL(acl, s.identities()); err != nil {
		return nil, &PathError{Op: "setACL", Path: path, Err: ErrInvalidACL, Detail: trimSentinel(err, ErrInvalidACL)}
	}
	res, err := s.write(ctx, "setACL", path, &wire.Command{Kind: wire.KindSetACL, Ops: []wire.Op{{
		Kind: wire.KindSetACL, Path: path, ACL: aclToWire(acl), Version: version}}})
	if err != nil {
		return nil, err
	}
	return statFromWire(res.Ops[0].Stat), nil
}

// AddAuth proves an identity for the session: scheme "digest" with
// credentials "user:password". Every member checks later writes against it.
func (s *Session) AddAuth(ctx context.Context, scheme string, cred []byte) error {
	ids, err := authIdentity(scheme, cred, s.c.opts.SuperDigest)
	if err != nil {
		return fmt.Errorf("coord: addAuth: %w", err)
	}
	if err := s.ended(); err != nil {
		return fmt.Errorf("coord: addAuth: %w", err)
	}
	res, err := s.c.propose(ctx, &wire.Command{Kind: wire.KindAddAuth, Session: s.id, Auth: ids})
	if err == nil && res.Code != 0 {
		err = errorForCode(res.Code)
	}
	if err != nil {
		return fmt.Errorf("coord: addAuth: %w", err)
	}
	return nil
}

// Sync waits until this member has applied every write committed anywhere
// before the call, so that reads that follow see them. path is validated as
// ZooKeeper does but does not limit what is synced.
func (s *Session) Sync(ctx context.Context, path string) error {
	if err := validatePath(path, false); err != nil {
		return pathErrf("sync", path, ErrBadArguments, "%v", err)
	}
	if err := s.ended(); err != nil {
		return pathErr("sync", path, err)
	}
	return pathErr("sync", path, s.c.sync(ctx))
}

// ---- reads ----

// readNode runs fn on the local replica with the node at path and the
// session's identities, holding the state machine's read lock.
func (s *Session) readNode(ctx context.Context, op, path string, fn func(n *wire.Node, ids []wire.AuthID) error) error {
	if err := ctx.Err(); err != nil {
		return pathErr(op, path, err)
	}
	if err := validatePath(path, false); err != nil {
		return pathErrf(op, path, ErrBadArguments, "%v", err)
	}
	if err := s.ended(); err != nil {
		return pathErr(op, path, err)
	}
	return pathErr(op, path, s.c.fsm.read(func() error {
		rec := s.c.fsm.sessions[s.id]
		if rec == nil {
			return ErrSessionExpired
		}
		n, err := s.c.fsm.storedNode(path)
		if err != nil {
			return err
		}
		return fn(n, rec.Auth)
	}))
}

// Exists reports whether a znode exists, with its Stat.
func (s *Session) Exists(ctx context.Context, path string) (bool, *Stat, error) {
	var stat *Stat
	err := s.readNode(ctx, "exists", path, func(n *wire.Node, _ []wire.AuthID) error {
		if n != nil {
			stat = statOf(n)
		}
		return nil
	})
	return stat != nil, stat, err
}

// Get returns a znode's data and Stat.
func (s *Session) Get(ctx context.Context, path string) ([]byte, *Stat, error) {
	var data []byte
	var stat *Stat
	err := s.readNode(ctx, "get", path, func(n *wire.Node, ids []wire.AuthID) error {
		if n == nil {
			return ErrNoNode
		}
		if !allowed(n.ACL, PermRead, ids) {
			return ErrNoAuth
		}
		data, stat = bytes.Clone(n.Data), statOf(n) // the node is shared with the cache
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return data, stat, nil
}

// Children returns the names of a znode's children in byte order, and its
// Stat.
func (s *Session) Children(ctx context.Context, path string) ([]string, *Stat, error) {
	var names []string
	var stat *Stat
	err := s.readNode(ctx, "children", path, func(n *wire.Node, ids []wire.AuthID) error {
		if n == nil {
			return ErrNoNode
		}
		if !allowed(n.ACL, PermRead, ids) {
			return ErrNoAuth
		}
		stat = statOf(n)
		var err error
		names, err = s.c.fsm.children(path, int(n.NumChildren))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return names, stat, nil
}

// GetACL returns a znode's ACL and Stat. As in ZooKeeper it needs READ or
// ADMIN permission, and without ADMIN the digests of digest ids are hidden
// ("user:x").
func (s *Session) GetACL(ctx context.Context, path string) ([]ACL, *Stat, error) {
	var acl []ACL
	var stat *Stat
	err := s.readNode(ctx, "getACL", path, func(n *wire.Node, ids []wire.AuthID) error {
		if n == nil {
			return ErrNoNode
		}
		if !allowed(n.ACL, PermRead|PermAdmin, ids) {
			return ErrNoAuth
		}
		acl, stat = fromWireACL(n.ACL), statOf(n)
		if !allowed(n.ACL, PermAdmin, ids) {
			for i := range acl {
				if acl[i].Scheme == "digest" {
					user, _, _ := strings.Cut(acl[i].ID, ":")
					acl[i].ID = user + ":x"
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return acl, stat, nil
}

// ---- watches ----

func (s *Session) oneShot(kind watchKind, path string, n *wire.Node) <-chan Event {
	w := &watch{kind: kind, path: path, session: s.id, zxid: int64(s.c.fsm.applied), existed: n != nil, sink: s.sink}
	if s.sink == nil {
		w.ch = make(chan Event, 1)
	}
	s.c.watches.add(w)
	if w.ch == nil {
		return nil
	}
	return w.ch
}

// ExistsW is Exists that also sets a one-shot watch: it fires NodeCreated,
// NodeDeleted or NodeDataChanged for path, once.
func (s *Session) ExistsW(ctx context.Context, path string) (bool, *Stat, <-chan Event, error) {
	var stat *Stat
	var ch <-chan Event
	err := s.readNode(ctx, "exists", path, func(n *wire.Node, _ []wire.AuthID) error {
		if n != nil {
			stat = statOf(n)
		}
		ch = s.oneShot(watchData, path, n)
		return nil
	})
	if err != nil {
		return false, nil, nil, err
	}
	return stat != nil, stat, ch, nil
}

// GetW is Get that also sets a one-shot watch: it fires NodeDataChanged or
// NodeDeleted for path, once.
func (s *Session) GetW(ctx context.Context, path string) ([]byte, *Stat, <-chan Event, error) {
	var data []byte
	var stat *Stat
	var ch <-chan Event
	err := s.readNode(ctx, "get", path, func(n *wire.Node, ids []wire.AuthID) error {
		if n == nil {
			return ErrNoNode
		}
		if !allowed(n.ACL, PermRead, ids) {
			return ErrNoAuth
		}
		data, stat = bytes.Clone(n.Data), statOf(n) // the node is shared with the cache
		ch = s.oneShot(watchData, path, n)
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return data, stat, ch, nil
}

// ChildrenW is Children that also sets a one-shot watch: it fires
// NodeChildrenChanged when a child is created or deleted, or NodeDeleted
// when the node goes, once.
func (s *Session) ChildrenW(ctx context.Context, path string) ([]string, *Stat, <-chan Event, error) {
	var names []string
	var stat *Stat
	var ch <-chan Event
	err := s.readNode(ctx, "children", path, func(n *wire.Node, ids []wire.AuthID) error {
		if n == nil {
			return ErrNoNode
		}
		if !allowed(n.ACL, PermRead, ids) {
			return ErrNoAuth
		}
		stat = statOf(n)
		var err error
		if names, err = s.c.fsm.children(path, int(n.NumChildren)); err != nil {
			return err
		}
		ch = s.oneShot(watchChild, path, n)
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return names, stat, ch, nil
}

// AddWatch sets a persistent watch on path, which need not exist. It fires
// NodeCreated, NodeDeleted, NodeDataChanged and NodeChildrenChanged for
// path; with recursive, NodeCreated, NodeDeleted and NodeDataChanged for
// path and every node below it (and no NodeChildrenChanged). It stays until
// Remove or the end of the session.
func (s *Session) AddWatch(ctx context.Context, path string, recursive bool) (*Watcher, error) {
	kind := watchPersistent
	if recursive {
		kind = watchRecursive
	}
	var x *Watcher
	err := s.readNode(ctx, "addWatch", path, func(n *wire.Node, _ []wire.AuthID) error {
		w := &watch{kind: kind, path: path, session: s.id, zxid: int64(s.c.fsm.applied), existed: n != nil, sink: s.sink}
		x = newWatcher(s.c.watches, w)
		s.c.watches.add(w)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.sink != nil {
		x.C, x.c = nil, nil
		return x, nil
	}
	s.c.wg.Add(1)
	go func() {
		defer s.c.wg.Done()
		x.run(s.c.stop)
	}()
	return x, nil
}

// ---- multi ----

// Op is one operation of a Multi. Build it with CreateOp, CreateTTLOp,
// DeleteOp, SetOp or CheckOp.
type Op struct {
	kind    wire.Kind
	path    string
	data    []byte
	mode    CreateMode
	ttl     time.Duration
	acl     []ACL
	version int32
}

// CreateOp creates a node (see Session.Create).
func CreateOp(path string, data []byte, mode CreateMode, acl ...ACL) Op {
	if len(acl) == 0 {
		acl = OpenACL
	}
	return Op{kind: wire.KindCreate, path: path, data: data, mode: mode, acl: acl}
}

// CreateTTLOp creates a TTL node (see Session.CreateTTL).
func CreateTTLOp(path string, data []byte, mode CreateMode, ttl time.Duration, acl ...ACL) Op {
	op := CreateOp(path, data, mode, acl...)
	op.ttl = ttl
	return op
}

// DeleteOp deletes a node if its version matches (-1: any).
func DeleteOp(path string, version int32) Op {
	return Op{kind: wire.KindDelete, path: path, version: version}
}

// SetOp sets a node's data if its version matches (-1: any).
func SetOp(path string, data []byte, version int32) Op {
	return Op{kind: wire.KindSetData, path: path, data: data, version: version}
}

// CheckOp fails the Multi unless the node's version matches (-1: any, which
// still requires the node to exist).
func CheckOp(path string, version int32) Op {
	return Op{kind: wire.KindCheck, path: path, version: version}
}

func (op Op) wire() wire.Op {
	return wire.Op{Kind: op.kind, Path: op.path, Data: op.data, ACL: aclToWire(op.acl),
		Mode: uint8(op.mode), TTL: op.ttl.Milliseconds(), Version: op.version}
}

func aclToWire(acl []ACL) []wire.ACL {
	out := make([]wire.ACL, len(acl))
	for i, a := range acl {
		out[i] = wire.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

// OpResult is the outcome of one operation of a Multi.
type OpResult struct {
	Path string // created path, for creates
	Stat *Stat  // new Stat, for creates and sets
	Err  error  // nil on success
}

// Multi applies ops atomically: all of them or none. If one fails, the
// error is that op's (a *PathError), and the results say, as ZooKeeper does,
// which op failed: those before it report success, the failed one its
// error, those after it ErrRuntimeInconsistency.
func (s *Session) Multi(ctx context.Context, ops ...Op) ([]OpResult, error) {
	wops := make([]wire.Op, len(ops))
	for i := range ops {
		op := &ops[i]
		var err error
		switch op.kind {
		case wire.KindCreate:
			err = s.checkCreate(op)
		case wire.KindSetData:
			err = s.checkData("set", op.path, op.data)
		case wire.KindDelete, wire.KindCheck:
			if verr := validatePath(op.path, false); verr != nil {
				err = pathErrf(op.kind.String(), op.path, ErrBadArguments, "%v", verr)
			}
		default:
			err = pathErrf("multi", op.path, ErrBadArguments, "op %d is not built by an Op constructor", i)
		}
		if err != nil {
			return opResults(ops, multiFailure(len(ops), i, err)), err
		}
		wops[i] = op.wire()
	}
	res, err := s.write(ctx, "multi", "", &wire.Command{Kind: wire.KindMulti, Ops: wops})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 && len(res.Ops) == 0 {
		return nil, pathErr("multi", "", errorForCode(res.Code))
	}
	out := opResults(ops, res.Ops)
	for _, r := range out {
		if r.Err != nil && !errors.Is(r.Err, ErrRuntimeInconsistency) {
			return out, r.Err
		}
	}
	return out, nil
}

func opResults(ops []Op, res []wire.OpResult) []OpResult {
	out := make([]OpResult, len(res))
	for i, r := range res {
		out[i] = OpResult{Path: r.Path, Stat: statFromWire(r.Stat)}
		if r.Code != 0 {
			out[i].Err = pathErr(ops[i].kind.String(), ops[i].path, errorForCode(r.Code))
		}
	}
	return out
}

// ---- member-level session upkeep ----

// suspendAfter is how long a member goes without a committed heartbeat
// before its sessions are Suspended.
func (c *Coord) suspendAfter() time.Duration {
	election := c.opts.TickInterval * time.Duration(c.opts.ElectionTicks)
	return max(3*c.opts.HeartbeatInterval, 4*election)
}

// maxHeartbeatsInFlight bounds the heartbeats a member has proposed and not
// yet seen committed.
const maxHeartbeatsInFlight = 4

// heartbeatLoop renews every session this member hosts with one log entry
// per interval, and moves them between Connected and Suspended as the
// entries commit or fail to. A heartbeat is proposed every interval even
// while earlier ones are still in flight, so that a slow commit does not
// stretch the gap between renewals the leader sees: the leader expires a
// session one interval after its timeout counted from the last renewal, and
// a longer gap could expire it before its member had been gone that long.
func (c *Coord) heartbeatLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.HeartbeatInterval)
	defer t.Stop()
	cmd := wire.AppendCommand(nil, &wire.Command{Kind: wire.KindHeartbeat, Member: c.hostID})
	results := make(chan bool, maxHeartbeatsInFlight)
	inflight := 0
	lastSweep := time.Now()
	var waiters sync.WaitGroup
	defer waiters.Wait()
	for {
		select {
		case <-c.stop:
			return
		case ok := <-results:
			inflight--
			if ok {
				c.quorumAt.Store(time.Now().UnixNano())
				if c.suspended.Swap(false) {
					c.setHostedState(Connected)
				}
			}
		case <-t.C:
			if inflight < maxHeartbeatsInFlight {
				if rs, err := c.nh.Propose(c.noop, cmd, c.suspendAfter()); err == nil {
					inflight++
					waiters.Add(1)
					go func() {
						defer waiters.Done()
						var ok bool
						select {
						case r := <-rs.AppliedC():
							ok = r.Completed()
							rs.Release()
						case <-c.stop:
						}
						results <- ok
					}()
				}
			}
			if time.Since(time.Unix(0, c.quorumAt.Load())) > c.suspendAfter() && !c.suspended.Swap(true) {
				c.log.Warn("no quorum; sessions suspended")
				c.setHostedState(Suspended)
			}
			if time.Since(lastSweep) >= orphanAge {
				lastSweep = time.Now()
				if refs := c.orphanSessions(lastSweep.Add(-orphanAge)); len(refs) > 0 {
					c.log.Debug("closing orphaned sessions", "count", len(refs))
					c.proposeBackground(&wire.Command{Kind: wire.KindCloseSessions, Sessions: refs})
				}
			}
		}
	}
}

// orphanAge is how long a session this member owns but does not host may
// stay before the member closes it.
const orphanAge = 10 * time.Second

// orphanSessions lists sessions that this member's heartbeats renew but that
// no Session value here stands for, last renewed on their own before
// olderThan: their creation or attachment committed after its caller had
// given up, or their Close did not commit. Left alone, they would live as
// long as the member.
func (c *Coord) orphanSessions(olderThan time.Time) []wire.SessionRef {
	c.mu.Lock()
	hosted := make(map[int64]bool, len(c.sessions))
	for id := range c.sessions {
		hosted[id] = true
	}
	c.mu.Unlock()
	var refs []wire.SessionRef
	c.fsm.read(func() error {
		for id, s := range c.fsm.sessions {
			if s.Owner == c.hostID && !s.Detached && !hosted[id] && c.fsm.seen[id].Before(olderThan) {
				refs = append(refs, wire.SessionRef{ID: id})
			}
		}
		return nil
	})
	return refs
}

func (c *Coord) setHostedState(st SessionState) {
	c.mu.Lock()
	hosted := make([]*Session, 0, len(c.sessions))
	for _, s := range c.sessions {
		hosted = append(hosted, s)
	}
	c.mu.Unlock()
	for _, s := range hosted {
		s.setState(st)
	}
}

// leaderLoop does the leader's duties while this member leads: it expires
// sessions that were not renewed in time and removes empty containers and
// expired TTL nodes. A new leader first gives every session a full timeout.
func (c *Coord) leaderLoop() {
	defer c.wg.Done()
	t := time.NewTicker(min(50*time.Millisecond, c.opts.HeartbeatInterval/2))
	defer t.Stop()
	var term uint64
	var since, lastReap time.Time
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		id, tm, ok, err := c.nh.GetLeaderID(treeShard)
		if err != nil || !ok || id != c.opts.ID {
			term = 0
			continue
		}
		now := time.Now()
		if tm != term {
			term, since = tm, now
			continue
		}
		if refs := c.fsm.expired(now, since, c.opts.HeartbeatInterval); len(refs) > 0 {
			c.proposeBackground(&wire.Command{Kind: wire.KindExpireSessions, Sessions: refs})
		}
		if now.Sub(lastReap) >= c.opts.CleanupInterval {
			lastReap = now
			if paths := c.fsm.reapable(now.UnixMilli(), 1000); len(paths) > 0 {
				c.proposeBackground(&wire.Command{Kind: wire.KindReap, Paths: paths})
			}
		}
	}
}

// proposeBackground proposes a command of the member's own upkeep.
func (c *Coord) proposeBackground(cmd *wire.Command) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.propose(ctx, cmd); err != nil && !errors.Is(err, ErrClosed) {
		c.log.Debug("upkeep proposal failed", "kind", cmd.Kind, "err", err)
	}
}

// Ephemerals lists the session's ephemeral nodes whose paths start with
// prefix ("/" for all), in path order.
func (s *Session) Ephemerals(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if prefix == "" || prefix[0] != '/' {
		return nil, pathErrf("getEphemerals", prefix, ErrBadArguments, "prefix must start with /")
	}
	if err := s.ended(); err != nil {
		return nil, pathErr("getEphemerals", prefix, err)
	}
	var paths []string
	err := s.c.fsm.read(func() error {
		if s.c.fsm.sessions[s.id] == nil {
			return ErrSessionExpired
		}
		return s.c.fsm.db.Scan(ephemKey(s.id, prefix), func(k, _ []byte) bool {
			paths = append(paths, string(k[9:]))
			return true
		})
	})
	if err != nil {
		return nil, pathErr("getEphemerals", prefix, err)
	}
	return paths, nil
}

// AllChildrenNumber returns how many nodes are below path, at any depth.
func (s *Session) AllChildrenNumber(ctx context.Context, path string) (int, error) {
	n := 0
	err := s.readNode(ctx, "getAllChildrenNumber", path, func(node *wire.Node, ids []wire.AuthID) error {
		if node == nil {
			return ErrNoNode
		}
		if !allowed(node.ACL, PermRead, ids) {
			return ErrNoAuth
		}
		if path == "/" {
			n = int(s.c.fsm.count) - 1
			return nil
		}
		count := func(_, _ []byte) bool { n++; return true }
		if err := s.c.fsm.db.Scan(childrenPrefix(path), count); err != nil {
			return err
		}
		return s.c.fsm.db.Scan(append(append([]byte("n"), path...), '/'), count)
	})
	return n, err
}

// Identity is an identity a session has proven.
type Identity struct {
	Scheme string // "digest", "ip", "super"
	ID     string // the scheme's id, e.g. a digest id user:base64(sha1)
}

// Identities returns what the session has proven: its client address for
// network sessions, digests added with AddAuth. It is ZooKeeper's whoAmI.
func (s *Session) Identities() []Identity {
	var out []Identity
	for _, id := range s.identities() {
		out = append(out, Identity{Scheme: id.Scheme, ID: id.ID})
	}
	return out
}
