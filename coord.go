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

	pvfs "github.com/cockroachdb/pebble/vfs"
	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
	lvfs "github.com/lni/vfs"

	"github.com/coordkit/coord/internal/faultfs"
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
//
// Inside, a member is: the state machine (fsm.go, apply.go, view.go, with
// its key schema in schema.go), which only Raft drives; the proposer
// (propose.go), the exactly-once client every write goes through; the
// session host (host.go), which owns the Session values of this process
// and observes what the state machine applies; the watch registry
// (watch.go); and the upkeep loops (upkeep.go).
type Coord struct {
	opts Options
	log  *slog.Logger
	// incarnation is this process's instance of the member: a random id
	// drawn by Open, distinct from the replica id opts.ID, which survives
	// restarts. The sessions a member hosts belong to its incarnation.
	incarnation uint64
	nh          *dragonboat.NodeHost
	fsm         *fsm
	proposer    *proposer
	host        *sessionHost
	watches     *watchRegistry
	unlog       func()

	logStats logdb.Stats     // how the Raft log's reads were served
	peers    transport.Peers // what the Raft transport heard from whom

	def      *Session     // the default session, opened by Open
	quorumAt atomic.Int64 // unix ns of the last heartbeat this member saw committed

	closeOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
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
		log = slog.New(slog.DiscardHandler)
	}
	c := &Coord{
		opts:        opts,
		log:         log.With("member", opts.ID),
		incarnation: randomUint64(),
		watches:     newWatchRegistry(),
		stop:        make(chan struct{}),
	}
	c.host = newSessionHost(c.watches)
	c.unlog = raftlog.Attach(opts.Logger)
	treeOpts := store.Options{CacheSize: opts.CacheSize, Logger: opts.Logger}
	if opts.treeFaults != nil {
		treeOpts.FS = faultfs.Pebble(pvfs.Default, opts.treeFaults)
	}
	c.fsm = newFSM(filepath.Join(opts.DataDir, "tree"), treeOpts, c.host, opts.ID)
	c.fsm.onDiverged = c.diverged
	leader := newLeaderWatch()

	nh, err := dragonboat.NewNodeHost(c.nodeHostConfig(leader))
	if err != nil {
		c.unlog()
		return nil, fmt.Errorf("coord: starting member %d: %w", opts.ID, err)
	}
	c.nh = nh
	rc := replicaConfig(opts)
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
	c.proposer = &proposer{
		nh: nh, noop: nh.GetNoOPSession(treeShard), incarnation: c.incarnation,
		tick: opts.TickInterval, election: opts.TickInterval * time.Duration(opts.ElectionTicks),
		timeout: opts.RequestTimeout, stop: c.stop, leader: leader,
	}
	if err := c.waitLeader(ctx); err != nil {
		c.shutdown()
		return nil, err
	}
	c.quorumAt.Store(time.Now().UnixNano())
	c.countOthers()
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
	if opts.VerifyInterval > 0 {
		c.wg.Add(1)
		go c.verifyLoop()
	}
	if opts.DigestInterval > 0 {
		c.wg.Add(1)
		go c.digestLoop()
	}
	c.log.Debug("member started", "addr", opts.Addr, "leader", leader.id.Load())
	return c, nil
}

// nodeHostConfig is the Dragonboat NodeHost of the member: coord's Raft
// log store and transport, one worker of each kind for the one shard.
func (c *Coord) nodeHostConfig(leader *leaderWatch) config.NodeHostConfig {
	opts := c.opts
	nhc := config.NodeHostConfig{
		DeploymentID:      deploymentID(opts.Ensemble),
		NodeHostDir:       filepath.Join(opts.DataDir, "raft"),
		RTTMillisecond:    uint64(max(1, opts.TickInterval.Milliseconds())),
		RaftAddress:       opts.Addr,
		ListenAddress:     opts.ListenAddr,
		RaftEventListener: leader,
		Expert: config.ExpertConfig{
			Engine: config.EngineConfig{ExecShards: 1, CommitShards: 1, ApplyShards: 1, SnapshotShards: 1, CloseShards: 1},
			LogDB:  logDBConfig(),
			// The Raft log, without fsyncs of commit-only updates, with
			// its recent entries in memory.
			LogDBFactory:     logdb.Factory{Stats: &c.logStats},
			TransportFactory: transport.Factory{Peers: &c.peers},
		},
	}
	if opts.transport != nil {
		nhc.Expert.TransportFactory = opts.transport
	}
	if opts.raftFaults != nil {
		nhc.Expert.FS = faultfs.Raft(lvfs.Default, opts.raftFaults)
	}
	if opts.TLS.enabled() {
		nhc.MutualTLS = true
		nhc.CAFile, nhc.CertFile, nhc.KeyFile = opts.TLS.CAFile, opts.TLS.CertFile, opts.TLS.KeyFile
	}
	return nhc
}

// replicaConfig is the Raft configuration of the tree shard's replica.
// PreVote and CheckQuorum keep a member that was cut off or paused from
// deposing a working leader when it comes back.
func replicaConfig(opts Options) config.Config {
	return config.Config{
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
	_, _ = io.WriteString(h, ensemble) // a hash does not fail
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
		fmt.Fprintf(&b, "; leader %d; applied index %d", id, c.fsm.lastApplied())
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
	err := c.proposer.retry(ctx, func(ctx context.Context) error {
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
	return memberChange(id, c.proposer.retry(ctx, func(ctx context.Context) error {
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
	return memberChange(id, c.proposer.retry(ctx, func(ctx context.Context) error {
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
	return memberChange(id, c.proposer.retry(ctx, func(ctx context.Context) error {
		return c.nh.SyncRequestDeleteReplica(ctx, treeShard, id, 0)
	}))
}

// Close closes every session this member hosts (their ephemeral nodes go at
// once) and stops the member. Its data stays in DataDir for a restart.
func (c *Coord) Close() error {
	if c.host.isClosed() {
		return nil
	}
	if ids := c.host.close(); len(ids) > 0 {
		refs := make([]wire.SessionRef, len(ids))
		for i, id := range ids {
			refs[i] = wire.SessionRef{ID: id}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.proposer.propose(ctx, &wire.Command{Kind: wire.KindCloseSessions, Sessions: refs})
		cancel()
		if err != nil {
			c.log.Warn("closing sessions on shutdown failed; they will expire", "err", err)
		}
	}
	c.shutdown()
	return nil
}

// shutdown stops the background work and the node host, once.
func (c *Coord) shutdown() {
	c.closeOnce.Do(func() {
		close(c.stop)
		c.wg.Wait()
		c.nh.Close()
		c.host.endAll()
		c.unlog()
	})
}

// Err reports why the member does not serve, or nil while it does: its
// replica of the tree diverged from the ensemble's (ErrDiverged, wrapped
// with what was found), or it is closed.
func (c *Coord) Err() error {
	if c.host.isClosed() {
		return ErrClosed
	}
	return c.fsm.divergence()
}

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
	Digest         uint64 // the tree digest at LastZxid (equal on every member at one index)
	Diverged       string // why the member stopped serving; empty while it serves
}

// Stats reports the member's state as its local replica sees it.
func (c *Coord) Stats() Stats {
	st := Stats{ID: c.opts.ID, Observer: c.opts.Observer}
	st.Leader, _ = c.Leader()
	c.fsm.peek(func(v view) {
		st.LastZxid = v.appliedIndex()
		n := v.counts()
		st.Znodes, st.Ephemerals, st.Sessions, st.DiskBytes = n.znodes, n.ephemerals, n.sessions, n.diskBytes
		st.Digest = v.treeDigest()
	})
	st.HostedSessions = c.host.count()
	if err := c.fsm.divergence(); err != nil {
		st.Diverged = err.Error()
	}
	st.Watches, st.WatchedPaths = c.watches.counts()
	return st
}
