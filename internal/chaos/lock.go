package chaos

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// lockCounter is workload 3: ZooKeeper's lock recipe (ephemeral-sequential
// child, wait for the predecessor to go, delete to release), and under the
// lock a read-modify-write of a counter with a versioned setData. Any
// trouble with the session (connection loss, expiry, no answer) makes the
// client give up the round and close the session, so its node goes.
type lockCounter struct {
	e       *env
	waitMax time.Duration // re-check the queue at least this often
	think   time.Duration
}

func (l *lockCounter) dir() string     { return l.e.root + "/lock" }
func (l *lockCounter) counter() string { return l.e.root + "/counter" }

func (l *lockCounter) setup(conn *zk.Conn) error {
	if err := createAll(conn, []string{l.dir()}); err != nil {
		return err
	}
	if _, err := conn.Create(l.counter(), []byte("0"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		return fmt.Errorf("create %s: %w", l.counter(), err)
	}
	return nil
}

func (l *lockCounter) run(ctx context.Context, c *client) {
	for round := 0; ctx.Err() == nil; round++ {
		if !c.ensure(ctx) {
			c.pause(ctx, time.Second)
			continue
		}
		if !l.round(ctx, c, round) {
			c.reset()
		}
		c.pause(ctx, l.think)
	}
}

// seqOf is the sequence suffix of a sequential node's name.
func seqOf(name string) string {
	if len(name) < 10 {
		return name
	}
	return name[len(name)-10:]
}

// round takes the lock once, increments the counter and releases the lock.
// It returns false if the session must be given up.
func (l *lockCounter) round(ctx context.Context, c *client, round int) bool {
	s := c.sess
	prefix := fmt.Sprintf("c%d-r%d-", c.id, round)
	op := Op{Kind: KindLockCreate, Key: l.dir() + "/" + prefix}
	var path string
	_ = c.do(&op, func(conn *zk.Conn) error { // the outcome is in op (Status, Err)
		var err error
		path, err = conn.Create(l.dir()+"/"+prefix, []byte(strconv.Itoa(c.id)), zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
		return err
	})
	op.Value = path
	c.record(op)
	switch op.Status {
	case Fail:
		return true // never applied
	case Unknown:
		// The node may exist; if the session is intact it is ours to find.
		if op.Session == 0 || s.closed.Load() {
			return false
		}
		kids, ok := l.children(c)
		if !ok {
			return false
		}
		for _, k := range kids {
			if strings.HasPrefix(k, prefix) {
				path = l.dir() + "/" + k
			}
		}
		if path == "" {
			return true
		}
	}
	me := path[len(l.dir())+1:]
	for {
		if ctx.Err() != nil {
			return l.release(c, path)
		}
		kids, ok := l.children(c)
		if !ok {
			return false
		}
		sort.Slice(kids, func(i, j int) bool { return seqOf(kids[i]) < seqOf(kids[j]) })
		idx := -1
		for i, k := range kids {
			if k == me {
				idx = i
			}
		}
		if idx < 0 {
			return false // our node is gone: the session expired
		}
		if idx == 0 {
			break
		}
		pred := l.dir() + "/" + kids[idx-1]
		wop := Op{Kind: KindLockWatch, Key: pred}
		var exists bool
		var ch <-chan zk.Event
		err := c.do(&wop, func(conn *zk.Conn) error {
			var err error
			exists, _, ch, err = conn.ExistsW(pred)
			return err
		})
		c.record(wop)
		if err != nil {
			return false
		}
		if !exists {
			continue
		}
		t := time.NewTimer(l.waitMax)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	// Held.
	d0 := s.disturbed.Load()
	gop := Op{Kind: KindCounterGet, Key: l.counter()}
	var data []byte
	var st *zk.Stat
	err := c.do(&gop, func(conn *zk.Conn) error {
		var err error
		data, st, err = conn.Get(l.counter())
		return err
	})
	if err == nil {
		gop.Value, gop.Version, gop.Mzxid = string(data), st.Version, st.Mzxid
	}
	c.record(gop)
	if err != nil {
		return false
	}
	if s.disturbed.Load() != d0 {
		return false // the session wobbled while holding: give up the round
	}
	v, err := strconv.Atoi(string(data))
	if err != nil {
		return l.release(c, path)
	}
	next := strconv.Itoa(v + 1)
	sop := Op{Kind: KindCounterSet, Key: l.counter(), InValue: next, InVersion: st.Version}
	var st2 *zk.Stat
	err = c.do(&sop, func(conn *zk.Conn) error {
		var err error
		st2, err = conn.Set(l.counter(), []byte(next), st.Version)
		return err
	})
	if err == nil {
		sop.Value, sop.Version, sop.Mzxid = next, st2.Version, st2.Mzxid
	}
	sop.Disturbed = s.disturbed.Load() != d0
	c.record(sop)
	if sop.Status == Unknown {
		return false
	}
	return l.release(c, path)
}

func (l *lockCounter) children(c *client) ([]string, bool) {
	op := Op{Kind: KindLockList, Key: l.dir()}
	var kids []string
	err := c.do(&op, func(conn *zk.Conn) error {
		var err error
		kids, _, err = conn.Children(l.dir())
		return err
	})
	c.record(op)
	return kids, err == nil
}

func (l *lockCounter) release(c *client, path string) bool {
	op := Op{Kind: KindLockDelete, Key: path}
	err := c.do(&op, func(conn *zk.Conn) error { return conn.Delete(path, -1) })
	c.record(op)
	return err == nil
}

// checkLock checks the counter history and the final counter value(s) read
// from each member after a sync: acknowledged increments produce distinct
// values, the final value lies between the acknowledged increments and
// those plus the unknown ones, and a version conflict while holding the
// lock (an overlap of two holders) happens only to a holder whose session
// was disconnected or expired during the hold.
func checkLock(ops []Op, finals []memberValue) CheckResult {
	res := CheckResult{Name: "lock"}
	seen := map[string]Op{}
	acked, unknown, overlaps, allowed, rounds := 0, 0, 0, 0, 0
	maxAcked := 0
	badVersion := zk.ErrBadVersion.Error()
	for _, op := range ops {
		if op.Kind == KindLockCreate && op.Status == OK {
			rounds++
		}
		if op.Kind != KindCounterSet {
			continue
		}
		res.Ops++
		switch {
		case op.Status == OK:
			acked++
			if prev, dup := seen[op.Value]; dup {
				res.violation("counter value %s acknowledged twice: client %d at t=%.3fs and client %d at t=%.3fs",
					op.Value, prev.Client, secs(prev.Return), op.Client, secs(op.Return))
			}
			seen[op.Value] = op
			if v, err := strconv.Atoi(op.Value); err == nil {
				maxAcked = max(maxAcked, v)
			}
		case op.Status == Unknown:
			unknown++
			res.Unknown++
		case op.Err == badVersion:
			overlaps++
			if op.Disturbed {
				allowed++
			} else {
				res.violation("client %d held the lock with an undisturbed session and its setData(counter, version %d) at t=%.3fs got a version conflict: another holder wrote meanwhile",
					op.Client, op.InVersion, secs(op.Invoke))
			}
		}
	}
	res.kv("rounds", rounds)
	res.kv("acked", acked)
	res.kv("overlaps", overlaps)
	res.kv("allowed_overlaps", allowed)
	for _, f := range finals {
		if f.err != nil {
			res.violation("member %d (%s): cannot read the counter: %v", f.member, f.addr, f.err)
			continue
		}
		v, err := strconv.Atoi(f.value)
		if err != nil {
			res.violation("member %d: counter holds %q", f.member, f.value)
			continue
		}
		res.kv(fmt.Sprintf("m%d_final", f.member), v)
		if v < acked || v > acked+unknown {
			res.violation("member %d: final counter %d is outside [acked %d, acked+unknown %d]", f.member, v, acked, acked+unknown)
		}
		if v < maxAcked {
			res.violation("member %d: final counter %d is below the acknowledged value %d", f.member, v, maxAcked)
		}
	}
	return res
}

// memberValue is a node's value read from one member after a sync.
type memberValue struct {
	member int
	addr   string
	value  string
	err    error
}
