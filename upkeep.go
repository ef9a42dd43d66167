package coord

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coordkit/coord/internal/wire"
	"github.com/lni/dragonboat/v4"
)

// Member-wide upkeep: the loops every member runs for the sessions it
// hosts (heartbeats, Suspended, orphaned sessions) and the duties of the
// leader (expiring sessions, reaping containers and TTL nodes). Open starts
// them; Close stops them.

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
	cmd := wire.AppendCommand(nil, &wire.Command{Kind: wire.KindHeartbeat, Incarnation: c.incarnation})
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
				c.host.setSuspended(false)
			}
		case <-t.C:
			// A diverged member stops renewing its sessions: they expire, and
			// the locks and registrations they hold go with them, while their
			// clients move to other members.
			if inflight < maxHeartbeatsInFlight && c.fsm.divergence() == nil {
				if rs, err := c.proposer.proposeOnce(cmd, c.suspendAfter()); err == nil {
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
			if time.Since(time.Unix(0, c.quorumAt.Load())) > c.suspendAfter() && c.host.setSuspended(true) {
				c.log.Warn("no quorum; sessions suspended", "leader", c.proposer.leader.id.Load(),
					"peers", c.unreachable())
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
	var refs []wire.SessionRef
	c.fsm.peek(func(v view) {
		refs = v.orphans(c.incarnation, c.host.hosts, olderThan)
	})
	return refs
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
		var expired []wire.SessionRef
		var reap []string
		c.fsm.peek(func(v view) {
			expired = v.expired(now, since, c.opts.HeartbeatInterval)
			if now.Sub(lastReap) >= c.opts.CleanupInterval {
				lastReap = now
				reap = v.reapable(now.UnixMilli(), 1000)
			}
		})
		if len(expired) > 0 {
			c.proposeBackground(&wire.Command{Kind: wire.KindExpireSessions, Sessions: expired})
		}
		if len(reap) > 0 {
			c.proposeBackground(&wire.Command{Kind: wire.KindReap, Paths: reap})
		}
	}
}

// digestLoop proposes this member's tree digest every DigestInterval (with
// jitter, so members do not all propose at once), for every other member to
// compare with its own (digest.go).
func (c *Coord) digestLoop() {
	defer c.wg.Done()
	for {
		jitter := time.Duration(randomUint64() % uint64(c.opts.DigestInterval/4+1))
		select {
		case <-c.stop:
			return
		case <-time.After(c.opts.DigestInterval - c.opts.DigestInterval/8 + jitter):
		}
		c.countOthers()
		var cmd *wire.Command
		c.fsm.peek(func(v view) {
			cmd = &wire.Command{Kind: wire.KindDigest, DigestIndex: uint64(v.appliedIndex()),
				Digest: v.treeDigest(), DigestReplica: c.opts.ID}
		})
		if cmd != nil && c.fsm.divergence() == nil {
			c.proposeBackground(cmd)
		}
	}
}

// countOthers tells the state machine how many other members there are, for
// its digest verdicts.
func (c *Coord) countOthers() {
	n := len(c.opts.Members) - 1
	if info := c.nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true}); info != nil {
		for _, sh := range info.ShardInfoList {
			if sh.ShardID == treeShard && len(sh.Replicas) > 0 {
				n = len(sh.Replicas) - 1
			}
		}
	}
	c.fsm.others.Store(int64(max(n, 0)))
}

// verifyLoop recomputes the tree digest from the store soon after Open and
// then every VerifyInterval; a store changed under the state machine stops
// the member (see digest.go).
func (c *Coord) verifyLoop() {
	defer c.wg.Done()
	wait := min(5*time.Second, c.opts.VerifyInterval)
	for {
		select {
		case <-c.stop:
			return
		case <-time.After(wait):
		}
		wait = c.opts.VerifyInterval
		start := time.Now()
		if err := c.fsm.verifyStoredDigest(c.stop); err != nil && !errors.Is(err, ErrClosed) {
			c.log.Debug("store verification", "err", err)
		} else {
			c.log.Debug("store verified", "took", time.Since(start))
		}
	}
}

// diverged stops the member from serving: its replica is not the
// ensemble's. It keeps taking part in Raft (its log is sound, and its vote
// and acknowledgements keep the quorum), but answers every call with
// ErrDiverged and stops renewing its sessions until an operator rebuilds
// it.
func (c *Coord) diverged(err error) {
	c.log.Error("this member's tree differs from the ensemble's; it stops serving until rebuilt from a healthy member",
		"err", err)
	c.host.setSuspended(true)
}

// proposeBackground proposes a command of the member's own upkeep.
func (c *Coord) proposeBackground(cmd *wire.Command) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.proposer.propose(ctx, cmd); err != nil && !errors.Is(err, ErrClosed) {
		c.log.Debug("upkeep proposal failed", "kind", cmd.Kind, "err", err)
	}
}
