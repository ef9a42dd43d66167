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
	subs  []stateSub // weak: see statesub.go
	done  chan struct{}
}

// NewSession opens a session hosted by this member.
func (c *Coord) NewSession(ctx context.Context, opts ...SessionOption) (*Session, error) {
	var cfg sessionConfig
	for _, o := range opts {
		o(&cfg)
	}
	if c.host.isClosed() {
		return nil, ErrClosed
	}
	if err := c.fsm.divergence(); err != nil {
		return nil, fmt.Errorf("coord: new session: %w", ErrDiverged)
	}
	timeout := c.opts.clampTimeout(cfg.timeout)
	password := make([]byte, 16)
	rand.Read(password)
	res, err := c.proposer.propose(ctx, &wire.Command{
		Kind: wire.KindCreateSession, Timeout: int32(timeout.Milliseconds()), Password: password, Auth: cfg.ids,
	})
	if err != nil {
		return nil, fmt.Errorf("coord: new session: %w", err)
	}
	return c.hostSession(res.Value, timeout, password, cfg.sink), nil
}

// hostSession makes the Session value of a session this member now hosts.
func (c *Coord) hostSession(id int64, timeout time.Duration, password []byte, sink func(Event)) *Session {
	s := &Session{c: c, id: id, timeout: timeout, password: password, sink: sink, state: Connected, done: make(chan struct{})}
	if !c.host.add(s) {
		s.end(Closed)
	}
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
	if err := c.fsm.divergence(); err != nil {
		return nil, fmt.Errorf("coord: attach session 0x%x: %w", id, ErrDiverged)
	}
	var timeout time.Duration
	lookup := func(v view) error {
		s := v.session(id)
		if s == nil {
			return ErrSessionExpired
		}
		if subtle.ConstantTimeCompare(s.Password, password) != 1 {
			return ErrAuthFailed
		}
		timeout = time.Duration(s.Timeout) * time.Millisecond
		return nil
	}
	err := c.fsm.view(lookup)
	if errors.Is(err, ErrSessionExpired) {
		// This member may not have applied the session's creation yet.
		if err = c.proposer.sync(ctx); err == nil {
			err = c.fsm.view(lookup)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("coord: attach session 0x%x: %w", id, err)
	}
	res, err := c.proposer.propose(ctx, &wire.Command{Kind: wire.KindAttachSession, Session: id})
	if err == nil && res.Code != 0 {
		err = errorForCode(res.Code)
	}
	if err != nil {
		return nil, fmt.Errorf("coord: attach session 0x%x: %w", id, err)
	}
	if old := c.host.lookup(id); old != nil && !old.isEnded() {
		return old, nil
	}
	return c.hostSession(id, timeout, bytes.Clone(password), cfg.sink), nil
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
// receives the latest. The session does not keep the channel alive: one
// its reader drops costs nothing after the next collection.
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
	s.subs, _ = liveSubs(s.subs)
	s.subs = append(s.subs, newStateSub(ch))
	return ch
}

// unsubscribe drops and closes ch unless the session's end closed it.
func (s *Session) unsubscribe(ch chan SessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sub := range s.subs {
		if sub.channel() == ch {
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
	var chans []chan SessionState
	s.subs, chans = liveSubs(s.subs)
	for _, ch := range chans {
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
	_, chans := liveSubs(s.subs)
	for _, ch := range chans {
		sendLatest(ch, st)
		close(ch)
	}
	s.subs = nil
	close(s.done)
	s.mu.Unlock()
	err := ErrClosed
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

// serving returns the error for calls that need the session live and its
// member's replica sound.
func (s *Session) serving() error {
	if err := s.ended(); err != nil {
		return err
	}
	if s.c.fsm.divergence() != nil {
		return ErrDiverged
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
	_, err := s.c.proposer.propose(ctx, &wire.Command{Kind: wire.KindCloseSessions, Sessions: []wire.SessionRef{{ID: s.id}}})
	s.c.host.remove(s.id)
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
	_, err := s.c.proposer.propose(ctx, &wire.Command{Kind: wire.KindDetachSession, Session: s.id})
	if err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	s.c.host.remove(s.id)
	s.end(Closed)
	return err
}

// ---- writes ----

// write proposes a tree command for the session and turns a failed result
// into an error naming op and path.
func (s *Session) write(ctx context.Context, op, path string, cmd *wire.Command) (*wire.Result, error) {
	if err := s.serving(); err != nil {
		return nil, pathErr(op, path, err)
	}
	cmd.Session = s.id
	res, err := s.c.proposer.propose(ctx, cmd)
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
	s.c.fsm.peek(func(v view) {
		if r := v.session(s.id); r != nil {
			ids = r.Auth
		}
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
	if err := s.serving(); err != nil {
		return fmt.Errorf("coord: addAuth: %w", err)
	}
	res, err := s.c.proposer.propose(ctx, &wire.Command{Kind: wire.KindAddAuth, Session: s.id, Auth: ids})
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
	if err := s.serving(); err != nil {
		return pathErr("sync", path, err)
	}
	return pathErr("sync", path, s.c.proposer.sync(ctx))
}

// ---- reads ----

// readNode runs fn on a view of the local replica with the node at path
// and the session's identities.
func (s *Session) readNode(ctx context.Context, op, path string, fn func(v view, n *wire.Node, ids []wire.AuthID) error) error {
	if err := ctx.Err(); err != nil {
		return pathErr(op, path, err)
	}
	if err := validatePath(path, false); err != nil {
		return pathErrf(op, path, ErrBadArguments, "%v", err)
	}
	if err := s.serving(); err != nil {
		return pathErr(op, path, err)
	}
	return pathErr(op, path, s.c.fsm.view(func(v view) error {
		rec := v.session(s.id)
		if rec == nil {
			return ErrSessionExpired
		}
		n, err := v.node(path)
		if err != nil {
			return err
		}
		return fn(v, n, rec.Auth)
	}))
}

// Exists reports whether a znode exists, with its Stat.
func (s *Session) Exists(ctx context.Context, path string) (bool, *Stat, error) {
	var stat *Stat
	err := s.readNode(ctx, "exists", path, func(v view, n *wire.Node, _ []wire.AuthID) error {
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
	err := s.readNode(ctx, "get", path, func(v view, n *wire.Node, ids []wire.AuthID) error {
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
	err := s.readNode(ctx, "children", path, func(v view, n *wire.Node, ids []wire.AuthID) error {
		if n == nil {
			return ErrNoNode
		}
		if !allowed(n.ACL, PermRead, ids) {
			return ErrNoAuth
		}
		stat = statOf(n)
		var err error
		names, err = v.children(path, int(n.NumChildren))
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
	err := s.readNode(ctx, "getACL", path, func(v view, n *wire.Node, ids []wire.AuthID) error {
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

// oneShot registers a one-shot watch set by a read of v.
func (s *Session) oneShot(v view, kind watchKind, path string, n *wire.Node) <-chan Event {
	w := &watch{kind: kind, path: path, session: s.id, zxid: v.appliedIndex(), existed: n != nil, sink: s.sink}
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
	err := s.readNode(ctx, "exists", path, func(v view, n *wire.Node, _ []wire.AuthID) error {
		if n != nil {
			stat = statOf(n)
		}
		ch = s.oneShot(v, watchData, path, n)
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
	err := s.readNode(ctx, "get", path, func(v view, n *wire.Node, ids []wire.AuthID) error {
		if n == nil {
			return ErrNoNode
		}
		if !allowed(n.ACL, PermRead, ids) {
			return ErrNoAuth
		}
		data, stat = bytes.Clone(n.Data), statOf(n) // the node is shared with the cache
		ch = s.oneShot(v, watchData, path, n)
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
	err := s.readNode(ctx, "children", path, func(v view, n *wire.Node, ids []wire.AuthID) error {
		if n == nil {
			return ErrNoNode
		}
		if !allowed(n.ACL, PermRead, ids) {
			return ErrNoAuth
		}
		stat = statOf(n)
		var err error
		if names, err = v.children(path, int(n.NumChildren)); err != nil {
			return err
		}
		ch = s.oneShot(v, watchChild, path, n)
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
	err := s.readNode(ctx, "addWatch", path, func(v view, n *wire.Node, _ []wire.AuthID) error {
		w := &watch{kind: kind, path: path, session: s.id, zxid: v.appliedIndex(), existed: n != nil, sink: s.sink}
		x = newWatcher(s.c.watches, w, s.c.opts.MaxWatcherEvents)
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

// Ephemerals lists the session's ephemeral nodes whose paths start with
// prefix ("/" for all), in path order.
func (s *Session) Ephemerals(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if prefix == "" || prefix[0] != '/' {
		return nil, pathErrf("getEphemerals", prefix, ErrBadArguments, "prefix must start with /")
	}
	if err := s.serving(); err != nil {
		return nil, pathErr("getEphemerals", prefix, err)
	}
	var paths []string
	err := s.c.fsm.view(func(v view) error {
		if v.session(s.id) == nil {
			return ErrSessionExpired
		}
		var err error
		paths, err = v.ephemerals(s.id, prefix)
		return err
	})
	if err != nil {
		return nil, pathErr("getEphemerals", prefix, err)
	}
	return paths, nil
}

// AllChildrenNumber returns how many nodes are below path, at any depth.
func (s *Session) AllChildrenNumber(ctx context.Context, path string) (int, error) {
	n := 0
	err := s.readNode(ctx, "getAllChildrenNumber", path, func(v view, node *wire.Node, ids []wire.AuthID) error {
		if node == nil {
			return ErrNoNode
		}
		if !allowed(node.ACL, PermRead, ids) {
			return ErrNoAuth
		}
		var err error
		n, err = v.descendants(path)
		return err
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
