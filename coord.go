// Package coord gives a set of Go processes ZooKeeper-class coordination
// without a separate server: every process that opens a Coord is a member of
// a Raft ensemble (Dragonboat v4), and a deterministic state machine holds a
// znode tree with ZooKeeper's data model, sessions, ephemeral nodes, watches
// and ACLs.
//
// # How the pieces fit
//
// A write (Create, Set, Delete, Multi, ...) is validated on the member that
// receives it, encoded (internal/wire) and proposed to the Raft log. Once
// committed, every member applies it in the same order with the state
// machine (fsm.go), which runs the pure tree operations (tree.go) and ACL
// checks (acl.go) against its Pebble store (internal/store) and commits the
// result together with the applied index. The call returns when the
// proposing member has applied the entry, so a session reads its own writes
// on its member. Reads are served by the local replica; Sync catches it up
// with the leader first.
//
// Sessions (session.go) are replicated too: creating, authenticating and
// closing one are log entries. Each member renews every session it hosts with
// one heartbeat entry per interval; the leader proposes the expiry of
// sessions whose owner stopped renewing them, and applying the expiry
// deletes their ephemeral nodes. Watches (watch.go) are kept by the member of
// the session that set them and fire as that member applies the change,
// before the change is readable there.
//
// # Guarantees
//
// A write that returned without error is on a majority of members and
// survives any minority crashing, restarting or being cut off. All members
// apply writes in one order (linearizable writes); reads on one member see a
// prefix of that order that never goes backwards (sequential consistency),
// as in ZooKeeper.
package coord

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/client"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/coordkit/coord/internal/logdb"
	"github.com/coordkit/coord/internal/raftlog"
	"github.com/coordkit/coord/internal/store"
	"github.com/coordkit/coord/internal/transport"
	"github.com/coordkit/coord/internal/wire"
)

// treeShard is the Raft shard that holds the tree. The state machine takes
// the shard id as a parameter so more trees can become more shards later.
const treeShard = 1

// Coord is a running member of an ensemble.
type Coord struct {
	opts    Options
	log     *slog.Logger
	hostID  uint64 // this process's incarnation of the member; owns its sessions
	nh      *dragonboat.NodeHost
	fsm     *fsm
	noop    *client.Session
	watches *watchRegistry
	unlog   func()

	logStats logdb.Stats     // how the Raft log's reads were served
	peers    transport.Peers // what the Raft transport heard from whom

	mu       sync.Mutex
	closed   bool
	sessions map[int64]*Session // sessions this member hosts
	def      *Session

	reqs requestIDs

	leaderID     atomic.Uint64
	leaderMu     sync.Mutex
	leaderChange chan struct{} // closed and replaced when the leader changes
	quorumAt     atomic.Int64  // unix ns of the last heartbeat this member saw committed
	suspended    atomic.Bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// dataDirMark records which member and ensemble a DataDir belongs to.
type dataDirMark struct {
	Member   uint64 `json:"member"`
	Ensemble string `json:"ensemble"`
}

const markFile = "COORD"

// Open starts a member: it forms a new ensemble from opts.Members, restarts
// from opts.DataDir, or joins a running ensemble (opts.Join). It returns once
// the member knows a leader and has opened its default session, or when ctx
// ends.
func Open(ctx context.Context, opts Options) (*Coord, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := claimDataDir(opts); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(discardHandler{})
	}
	c := &Coord{
		opts:         opts,
		log:          log.With("member", opts.ID),
		hostID:       randomUint64(),
		sessions:     make(map[int64]*Session),
		stop:         make(chan struct{}),
		leaderChange: make(chan struct{}),
	}
	c.watches = newWatchRegistry(c)
	c.unlog = raftlog.Attach(opts.Logger)
	c.fsm = newFSM(filepath.Join(opts.DataDir, "tree"), store.Options{
		CacheSize: opts.CacheSize, Logger: opts.Logger,
	}, c.watches)

	nhc := config.NodeHostConfig{
		DeploymentID:      deploymentID(opts.Ensemble),
		NodeHostDir:       filepath.Join(opts.DataDir, "raft"),
		RTTMillisecond:    uint64(max(1, opts.TickInterval.Milliseconds())),
		RaftAddress:       opts.Addr,
		ListenAddress:     opts.ListenAddr,
		RaftEventListener: leaderListener{c},
		Expert: config.ExpertConfig{
			Engine: config.EngineConfig{ExecShards: 1, CommitShards: 1, ApplyShards: 1, SnapshotShards: 1, CloseShards: 1},
			LogDB:  logDBConfig(),
			// The Raft log, without fsyncs of commit-only updates, with
			// its recent entries in memory.
			LogDBFactory: logdb.Factory{Stats: &c.logStats},
		},
	}
	nhc.Expert.TransportFactory = transport.Factory{Peers: &c.peers}
	if opts.transport != nil {
		nhc.Expert.TransportFactory = opts.transport
	}
	if opts.TLS.enabled() {
		nhc.MutualTLS = true
		nhc.CAFile, nhc.CertFile, nhc.KeyFile = opts.TLS.CAFile, opts.TLS.CertFile, opts.TLS.KeyFile
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		c.unlog()
		return nil, fmt.Errorf("coord: starting member %d: %w", opts.ID, err)
	}
	c.nh = nh
	rc := config.Config{
		ReplicaID:          opts.ID,
		ShardID:            treeShard,
		CheckQuorum:        true,
		PreVote:            true,
		ElectionRTT:        uint64(opts.ElectionTicks),
		HeartbeatRTT:       uint64(opts.HeartbeatTicks),
		SnapshotEntries:    opts.SnapshotEntries,
		CompactionOverhead: opts.CompactionOverhead,
		IsNonVoting:        opts.Observer,
		WaitReady:          false,
	}
	initial := make(map[uint64]dragonboat.Target)
	if !opts.Join {
		for id, addr := range opts.Members {
			initial[id] = addr
		}
	}
	create := func(shardID, replicaID uint64) sm.IOnDiskStateMachine { return c.fsm }
	if err := nh.StartOnDiskReplica(initial, opts.Join, create, rc); err != nil {
		nh.Close()
		c.unlog()
		return nil, fmt.Errorf("coord: starting member %d: %w", opts.ID, err)
	}
	c.noop = nh.GetNoOPSession(treeShard)
	if err := c.waitLeader(ctx); err != nil {
		c.shutdown()
		return nil, err
	}
	c.quorumAt.Store(time.Now().UnixNano())
	def, err := c.NewSession(ctx)
	if err != nil {
		why := c.unreachable()
		c.shutdown()
		return nil, fmt.Errorf("coord: opening the default session: %w (%s)", err, why)
	}
	c.def = def
	c.wg.Add(2)
	go c.heartbeatLoop()
	go c.leaderLoop()
	c.log.Debug("member started", "addr", opts.Addr, "leader", c.leaderID.Load())
	return c, nil
}

// claimDataDir creates DataDir or checks that it belongs to this member of
// this ensemble.
func claimDataDir(o Options) error {
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return optErr("DataDir", "%v", err)
	}
	path := filepath.Join(o.DataDir, markFile)
	want := dataDirMark{Member: o.ID, Ensemble: o.Ensemble}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		entries, _ := os.ReadDir(o.DataDir)
		if len(entries) > 0 {
			return optErr("DataDir", "%s is not empty and is not a coord data directory", o.DataDir)
		}
		b, _ = json.Marshal(want)
		return os.WriteFile(path, append(b, '\n'), 0o644)
	case err != nil:
		return optErr("DataDir", "%v", err)
	}
	var have dataDirMark
	if err := json.Unmarshal(b, &have); err != nil {
		return optErr("DataDir", "%s: unreadable %s: %v", o.DataDir, markFile, err)
	}
	if have != want {
		return &OptionError{Field: "DataDir", Reason: fmt.Sprintf("%v: %s holds member %d of ensemble %q, not member %d of %q",
			errDataDirOwner, o.DataDir, have.Member, have.Ensemble, o.ID, o.Ensemble)}
	}
	return nil
}

func deploymentID(ensemble string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, ensemble)
	return h.Sum64() | 1
}

func randomUint64() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// logDBConfig sizes Dragonboat's log store (tan) for one shard.
func logDBConfig() config.LogDBConfig {
	c := config.GetTinyMemLogDBConfig()
	c.Shards = 1
	// tan keeps sixteen encode buffers of this size, live for the life of
	// the member; it grows one when an update needs more.
	c.KVWriteBufferSize = 256 << 10
	return c
}

type leaderListener struct{ c *Coord }

func (l leaderListener) LeaderUpdated(info raftio.LeaderInfo) {
	if info.ShardID != treeShard {
		return
	}
	c := l.c
	c.leaderID.Store(info.LeaderID)
	c.leaderMu.Lock()
	close(c.leaderChange)
	c.leaderChange = make(chan struct{})
	c.leaderMu.Unlock()
}

// leaderChanged returns a channel that is closed at the next leader change.
func (c *Coord) leaderChanged() <-chan struct{} {
	c.leaderMu.Lock()
	defer c.leaderMu.Unlock()
	return c.leaderChange
}

func (c *Coord) waitLeader(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if _, ok := c.Leader(); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("coord: member %d found no leader: %w (%s)", c.opts.ID, ctx.Err(), c.unreachable())
		case <-t.C:
		}
	}
}

// unreachable describes, for the error of a member that cannot find or
// reach a quorum, the members it knows of, which of them it has heard from,
// and the leader it knows.
func (c *Coord) unreachable() string {
	known := make(map[uint64]string)
	for id, a := range c.opts.Members {
		known[id] = a
	}
	if info := c.nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true}); info != nil {
		for _, sh := range info.ShardInfoList {
			if sh.ShardID == treeShard && len(sh.Replicas) > 0 {
				known = sh.Replicas
			}
		}
	}
	var addrs []string
	for id, a := range known {
		if id != c.opts.ID {
			addrs = append(addrs, a)
		}
	}
	var b strings.Builder
	if len(addrs) == 0 {
		b.WriteString("no other member known")
	} else if c.opts.transport != nil {
		fmt.Fprintf(&b, "members %v", addrs)
	} else {
		b.WriteString("peers: ")
		b.WriteString(c.peers.Report(addrs, time.Now()))
	}
	if id, ok := c.Leader(); ok {
		fmt.Fprintf(&b, "; leader %d; applied index %d", id, c.fsm.lastZxid.Load())
	} else {
		b.WriteString("; no leader known")
	}
	return b.String()
}

// ID returns this member's replica id.
func (c *Coord) ID() uint64 { return c.opts.ID }

// Session returns the member's default session, opened by Open and closed
// by Close.
func (c *Coord) Session() *Session { return c.def }

// Leader returns the id of the current leader, as this member knows it.
func (c *Coord) Leader() (id uint64, ok bool) {
	id, _, ok, err := c.nh.GetLeaderID(treeShard)
	if err != nil || !ok || id == 0 {
		return 0, false
	}
	return id, true
}

// withDeadline gives ctx the default request deadline if it has none;
// Dragonboat's calls need one.
func (c *Coord) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.opts.RequestTimeout)
}

// errAttemptTimedOut marks an attempt of an idempotent request that may
// have been lost; sending it again is safe.
var errAttemptTimedOut = errors.New("coord: attempt timed out")

// retryable reports whether an attempt may be repeated: Dragonboat dropped
// the request before it reached the log, or an idempotent proposal timed out.
func retryable(err error) bool {
	return errors.Is(err, dragonboat.ErrShardNotReady) || errors.Is(err, dragonboat.ErrSystemBusy) ||
		errors.Is(err, errAttemptTimedOut)
}

// retry runs fn until it succeeds, fails for good, or ctx ends.
func (c *Coord) retry(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	backoff := time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || !retryable(err) {
			return c.mapRaftErr(ctx, err)
		}
		select {
		case <-ctx.Done():
			return c.mapRaftErr(ctx, err)
		case <-c.stop:
			return ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 50*time.Millisecond)
	}
}

func (c *Coord) mapRaftErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dragonboat.ErrClosed), errors.Is(err, dragonboat.ErrShardClosed):
		return ErrClosed
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrNoQuorum, ctx.Err())
	case errors.Is(err, dragonboat.ErrTimeout), errors.Is(err, dragonboat.ErrCanceled):
		return fmt.Errorf("%w: %w", ErrNoQuorum, context.DeadlineExceeded)
	case retryable(err):
		return fmt.Errorf("%w: %v", ErrNoQuorum, err)
	case errors.Is(err, dragonboat.ErrPayloadTooBig):
		return fmt.Errorf("%w: request too large for the log", ErrBadArguments)
	}
	return err
}

// requestIDs numbers this member's proposals so that the state machine
// applies each once however often it is sent, and tracks which are still
// waiting so the state machine can forget the results of the others.
type requestIDs struct {
	mu      sync.Mutex
	next    uint64
	waiting map[uint64]struct{}
}

// begin allocates an id and returns it with the lowest id still waiting.
func (r *requestIDs) begin() (id, ack uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waiting == nil {
		r.waiting = make(map[uint64]struct{})
	}
	r.next++
	id, ack = r.next, r.next
	for w := range r.waiting {
		ack = min(ack, w)
	}
	r.waiting[id] = struct{}{}
	return id, ack
}

// end forgets id, answered or abandoned. An abandoned proposal that commits
// after a later one has acknowledged past it is not applied.
func (r *requestIDs) end(id uint64) {
	r.mu.Lock()
	delete(r.waiting, id)
	r.mu.Unlock()
}

// attemptTimeout is how long one attempt of a proposal waits before it is
// sent again; Raft may drop a proposal (a leader change, a broken
// connection) without saying so.
func (c *Coord) attemptTimeout() time.Duration {
	return max(time.Second, 5*c.opts.TickInterval*time.Duration(c.opts.ElectionTicks))
}

// propose commits cmd exactly once and returns the state machine's result.
// Attempts that time out are retried until ctx ends; a context that ends
// first leaves the outcome unknown: the write may still apply, once.
func (c *Coord) propose(ctx context.Context, cmd *wire.Command) (*wire.Result, error) {
	if cmd.Time == 0 {
		cmd.Time = time.Now().UnixMilli()
	}
	if cmd.Member == 0 {
		cmd.Member = c.hostID
	}
	id, ack := c.reqs.begin()
	defer c.reqs.end(id)
	cmd.ReqID, cmd.Ack = id, ack
	data := wire.AppendCommand(nil, cmd)
	var out sm.Result
	err := c.retry(ctx, func(ctx context.Context) error {
		r, err := c.attempt(ctx, data)
		out = r
		return err
	})
	if err != nil {
		return nil, err
	}
	res, err := wire.DecodeResult(out.Data)
	if err != nil {
		return nil, fmt.Errorf("coord: undecodable result: %w", err)
	}
	return res, nil
}

// attempt proposes data once and waits for its result. It gives up early,
// with an error that allows a retry, when the attempt may have been lost: it
// timed out, or the leader changed while it was pending.
func (c *Coord) attempt(ctx context.Context, data []byte) (sm.Result, error) {
	return c.await(ctx, func(timeout time.Duration) (*dragonboat.RequestState, error) {
		return c.nh.Propose(c.noop, data, timeout)
	})
}

// await starts a Raft request with start and waits for it, turning the
// ways a request can be lost into errors that allow a retry.
func (c *Coord) await(ctx context.Context, start func(time.Duration) (*dragonboat.RequestState, error)) (sm.Result, error) {
	changed := c.leaderChanged()
	timeout := c.attemptTimeout()
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout < c.opts.TickInterval {
		<-ctx.Done() // too little time left to try; Dragonboat refuses it
		return sm.Result{}, ctx.Err()
	}
	rs, err := start(timeout)
	if errors.Is(err, dragonboat.ErrTimeoutTooSmall) {
		<-ctx.Done()
		return sm.Result{}, ctx.Err()
	}
	if err != nil {
		return sm.Result{}, err
	}
	select {
	case r := <-rs.AppliedC():
		switch {
		case r.Completed():
			res := r.GetResult()
			rs.Release()
			return res, nil
		case r.Timeout() && ctx.Err() == nil:
			return sm.Result{}, errAttemptTimedOut
		case r.Timeout():
			return sm.Result{}, ctx.Err()
		case r.Dropped():
			return sm.Result{}, dragonboat.ErrShardNotReady
		case r.Terminated():
			return sm.Result{}, dragonboat.ErrShardClosed
		}
		return sm.Result{}, dragonboat.ErrAborted
	case <-changed:
		return sm.Result{}, errAttemptTimedOut
	case <-ctx.Done():
		return sm.Result{}, ctx.Err()
	}
}

// Sync waits until this member has applied every write committed before the
// call (a Raft ReadIndex round).
func (c *Coord) sync(ctx context.Context) error {
	return c.retry(ctx, func(ctx context.Context) error {
		_, err := c.await(ctx, func(timeout time.Duration) (*dragonboat.RequestState, error) {
			return c.nh.ReadIndex(treeShard, timeout)
		})
		return err
	})
}

// Members returns the voting members, id -> Raft address.
func (c *Coord) Members(ctx context.Context) (map[uint64]string, error) {
	m, err := c.membership(ctx)
	if err != nil {
		return nil, err
	}
	return m.Nodes, nil
}

// Observers returns the non-voting members, id -> Raft address.
func (c *Coord) Observers(ctx context.Context) (map[uint64]string, error) {
	m, err := c.membership(ctx)
	if err != nil {
		return nil, err
	}
	return m.NonVotings, nil
}

func (c *Coord) membership(ctx context.Context) (*dragonboat.Membership, error) {
	var m *dragonboat.Membership
	err := c.retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = c.nh.SyncGetShardMembership(ctx, treeShard)
		return err
	})
	return m, err
}

// AddMember adds a voting member. Start it afterwards with Options.Join.
func (c *Coord) AddMember(ctx context.Context, id uint64, addr string) error {
	if err := checkAddMember(id, addr); err != nil {
		return err
	}
	return memberChange(id, c.retry(ctx, func(ctx context.Context) error {
		return c.nh.SyncRequestAddReplica(ctx, treeShard, id, addr, 0)
	}))
}

// memberChange explains a membership change the ensemble refused.
func memberChange(id uint64, err error) error {
	if errors.Is(err, dragonboat.ErrRejected) {
		return fmt.Errorf("%w: member %d: the ensemble refused the change (ids of removed members cannot be reused; an id already in use cannot be added again)", ErrBadArguments, id)
	}
	return err
}

// AddObserver adds a non-voting member that replicates the tree and serves
// reads and sessions but does not count towards the quorum. Start it with
// Options.Join and Options.Observer.
func (c *Coord) AddObserver(ctx context.Context, id uint64, addr string) error {
	if err := checkAddMember(id, addr); err != nil {
		return err
	}
	return memberChange(id, c.retry(ctx, func(ctx context.Context) error {
		return c.nh.SyncRequestAddNonVoting(ctx, treeShard, id, addr, 0)
	}))
}

func checkAddMember(id uint64, addr string) error {
	if id == 0 {
		return fmt.Errorf("%w: member id must be > 0", ErrBadArguments)
	}
	if err := checkHostPort(addr); err != nil {
		return fmt.Errorf("%w: %v", ErrBadArguments, err)
	}
	return nil
}

// RemoveMember removes a member (voting or observer). Its id cannot be used
// again.
func (c *Coord) RemoveMember(ctx context.Context, id uint64) error {
	if id == 0 {
		return fmt.Errorf("%w: member id must be > 0", ErrBadArguments)
	}
	return memberChange(id, c.retry(ctx, func(ctx context.Context) error {
		return c.nh.SyncRequestDeleteReplica(ctx, treeShard, id, 0)
	}))
}

// Close closes every session this member hosts (their ephemeral nodes go at
// once) and stops the member. Its data stays in DataDir for a restart.
func (c *Coord) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var refs []wire.SessionRef
	for id := range c.sessions {
		refs = append(refs, wire.SessionRef{ID: id})
	}
	c.mu.Unlock()
	if len(refs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.propose(ctx, &wire.Command{Kind: wire.KindCloseSessions, Sessions: refs})
		cancel()
		if err != nil {
			c.log.Warn("closing sessions on shutdown failed; they will expire", "err", err)
		}
	}
	c.shutdown()
	return nil
}

// shutdown stops the background work and the node host.
func (c *Coord) shutdown() {
	close(c.stop)
	c.wg.Wait()
	c.nh.Close()
	c.mu.Lock()
	hosted := make([]*Session, 0, len(c.sessions))
	for _, s := range c.sessions {
		hosted = append(hosted, s)
	}
	c.sessions = map[int64]*Session{}
	c.closed = true
	c.mu.Unlock()
	for _, s := range hosted {
		s.end(Closed)
	}
	c.unlog()
}

func (c *Coord) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// discardHandler is a slog handler that drops everything.
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }

// Stats is a snapshot of a member's state, for monitoring.
type Stats struct {
	ID             uint64 // this member
	Leader         uint64 // the leader this member knows of; 0 if none
	Observer       bool   // this member does not vote
	LastZxid       int64  // last log index applied here
	Znodes         int64  // znodes in the tree
	Ephemerals     int64  // ephemeral znodes in the tree
	Sessions       int    // sessions in the ensemble
	HostedSessions int    // sessions this member hosts
	Watches        int    // watches set through this member
	WatchedPaths   int    // distinct paths those watches are on
	DiskBytes      uint64 // the tree store's size on disk
}

// Stats reports the member's state as its local replica sees it.
func (c *Coord) Stats() Stats {
	st := Stats{ID: c.opts.ID, Observer: c.opts.Observer}
	st.Leader, _ = c.Leader()
	c.fsm.read(func() error {
		st.LastZxid = c.fsm.lastZxid.Load()
		st.Znodes = c.fsm.count
		st.Sessions = len(c.fsm.sessions)
		st.DiskBytes = c.fsm.db.DiskUsage()
		c.fsm.db.Scan(prefixEphem, func(_, _ []byte) bool {
			st.Ephemerals++
			return true
		})
		return nil
	})
	c.mu.Lock()
	st.HostedSessions = len(c.sessions)
	c.mu.Unlock()
	st.Watches, st.WatchedPaths = c.watches.counts()
	return st
}
