package chaos

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// Session fates in the ephemerals workload.
const (
	fateClosed    = "closed"    // the client closed the session (closeSession)
	fateAbandoned = "abandoned" // the client cut the TCP connection and never came back
	fateKept      = "kept"      // open until the end of the run
)

// ephemerals is workload 4: clients open sessions one after another, create
// a few ephemeral nodes in each, then close the session, abandon it (the
// servers must expire it) or keep it to the end. Some clients keep one
// session for the whole run.
type ephemerals struct {
	e          *env
	perSession int
	holdMin    time.Duration
	holdMax    time.Duration
	abandoned  chan<- expiryWatch // to the expiry observer (nil: none)
}

// ephSession is what the workload knows about one session.
type ephSession struct {
	client  int
	index   int
	sid     int64
	timeout time.Duration
	fate    string
	start   int64 // ns since the run's start
	end     int64 // closed or abandoned at (0 while kept)
	nodes   map[string]Status
	sess    *session // kept sessions only, closed after the check
	c       *client
	expired bool // go-zookeeper saw the session expire
}

func (w *ephemerals) dir() string { return w.e.root + "/eph" }

func (w *ephemerals) setup(conn *zk.Conn) error { return createAll(conn, []string{w.dir()}) }

// run cycles sessions (keeper: one session for the whole run) and returns
// the sessions it made.
func (w *ephemerals) run(ctx context.Context, c *client, keeper bool) []*ephSession {
	var out []*ephSession
	for k := 0; ctx.Err() == nil; k++ {
		s, _ := c.dial(ctx, c.env.servers)
		if s == nil {
			c.pause(ctx, time.Second)
			continue
		}
		c.sess = s
		es := &ephSession{client: c.id, index: k, sid: s.conn.SessionID(), start: c.env.now(), nodes: map[string]Status{}, c: c}
		out = append(out, es)
		for i := 0; i < w.perSession && !s.closed.Load(); i++ {
			path := fmt.Sprintf("%s/c%d-s%d-%d", w.dir(), c.id, k, i)
			op := Op{Kind: KindEphCreate, Key: path}
			_ = c.do(&op, func(conn *zk.Conn) error { // the outcome is in op (Status, Err)
				_, err := conn.Create(path, []byte("e"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
				return err
			})
			c.record(op)
			es.nodes[path] = op.Status
			if op.Status == OK && es.sid == 0 {
				es.sid = op.Session
			}
		}
		hold := w.holdMin + time.Duration(c.rng.Int64N(int64(w.holdMax-w.holdMin)+1))
		if keeper {
			<-ctx.Done()
		} else {
			sleepCtx(ctx, hold)
		}
		es.timeout = time.Duration(s.timeoutMs.Load()) * time.Millisecond
		if es.timeout == 0 {
			es.timeout = c.env.sessionTimeout
		}
		if ctx.Err() != nil && !s.closed.Load() {
			es.fate, es.sess = fateKept, s
			return out
		}
		es.expired = s.expired.Load() > 0
		if s.closed.Load() || c.rng.IntN(2) == 0 {
			es.fate = fateClosed
			es.end = c.env.now()
			s.close()
			continue
		}
		es.fate = fateAbandoned
		undisturbed := s.disturbed.Load() == 0
		s.dial.abandon()
		es.end = c.env.now()
		if w.abandoned != nil {
			for path, st := range es.nodes {
				if st == OK {
					x := expiryWatch{path: path, sid: es.sid, client: c.id, cut: es.end, timeout: es.timeout, undisturbed: undisturbed}
					select {
					case w.abandoned <- x:
					case <-ctx.Done():
					}
					break
				}
			}
		}
		// Let go-zookeeper notice the cut before Close: with the dialer off
		// its close request can never be sent.
		waitState(ctx, s.conn, 5*time.Second)
		s.close()
	}
	return out
}

// waitState waits until conn is no longer connected, at most d.
func waitState(ctx context.Context, conn *zk.Conn, d time.Duration) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		switch conn.State() {
		case zk.StateHasSession, zk.StateConnected, zk.StateSyncConnected:
		default:
			return
		}
		select {
		case <-t.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// verifyKept confirms that each kept session is still the same live session
// (an operation on it succeeds); a session that is not counts as ended now.
func verifyKept(sessions []*ephSession, e *env) {
	for _, es := range sessions {
		if es.fate != fateKept {
			continue
		}
		s := es.sess
		es.expired = s.expired.Load() > 0
		op := Op{Kind: KindEphCheck, Key: e.root}
		es.c.sess = s
		_ = es.c.do(&op, func(conn *zk.Conn) error { // the outcome is in op (Status, Err)
			_, _, err := conn.Exists(e.root)
			return err
		})
		es.c.record(op)
		if op.Status != OK || op.Session != es.sid || es.expired || s.closed.Load() {
			es.expired = true
			es.end = e.now()
		}
	}
}

// ephExpectation is, per node, whether it must exist, must be gone, or may
// be either, and by when absence is due.
type ephExpectation struct {
	mustExist map[string]*ephSession
	mustGo    map[string]*ephSession
	mayExist  map[string]*ephSession
	goneBy    map[string]time.Time
}

// expectations derives what the final listing must show. Sessions that
// ended (closed, abandoned, or kept but found dead) must have lost their
// nodes by the end of the session plus its timeout plus slack, counted from
// the later of the end and healed (a new leader grants every session a
// fresh timeout); kept live sessions must still have their acknowledged
// nodes.
func expectations(sessions []*ephSession, start time.Time, healed int64, slack time.Duration) ephExpectation {
	x := ephExpectation{mustExist: map[string]*ephSession{}, mustGo: map[string]*ephSession{}, mayExist: map[string]*ephSession{}, goneBy: map[string]time.Time{}}
	for _, es := range sessions {
		live := es.fate == fateKept && !es.expired
		due := start.Add(time.Duration(max(es.end, healed)) + es.timeout + slack)
		for path, st := range es.nodes {
			switch {
			case live && st == OK:
				x.mustExist[path] = es
			case live && st == Unknown:
				x.mayExist[path] = es
			case live: // certainly failed: must not exist
				x.mustGo[path] = es
				x.goneBy[path] = time.Time{}
			case es.fate == fateKept && es.expired:
				// The Conn may have made a new session and created later
				// nodes in it: those are live. Only the listing can tell;
				// accept either.
				x.mayExist[path] = es
			default:
				x.mustGo[path] = es
				if st == Fail {
					x.goneBy[path] = time.Time{}
				} else {
					x.goneBy[path] = due
				}
			}
		}
	}
	return x
}

// ephListing is one poll of every member: node -> ephemeral owner, per member.
type ephListing struct {
	member int
	addr   string
	owners map[string]int64
	err    error
}

// ephProblems compares one poll with the expectations at time now; a node
// that should be gone but whose deadline has not passed is pending, not a
// problem.
func ephProblems(x ephExpectation, lists []ephListing, now time.Time) (problems []string, pending int) {
	for _, l := range lists {
		if l.err != nil {
			problems = append(problems, fmt.Sprintf("member %d (%s): cannot list: %v", l.member, l.addr, l.err))
			continue
		}
		for _, path := range sortedOwners(x.mustExist) {
			es := x.mustExist[path]
			owner, ok := l.owners[path]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("member %d: ephemeral %s of live session %#x (client %d) is missing", l.member, path, es.sid, es.client))
			case owner != es.sid:
				problems = append(problems, fmt.Sprintf("member %d: ephemeral %s belongs to session %#x, not its creator %#x", l.member, path, owner, es.sid))
			}
		}
		for _, path := range sortedOwners(x.mustGo) {
			es := x.mustGo[path]
			if _, ok := l.owners[path]; !ok {
				continue
			}
			if due := x.goneBy[path]; now.Before(due) {
				pending++
				continue
			}
			problems = append(problems, fmt.Sprintf("member %d: ephemeral %s of %s session %#x (client %d, ended t=%.3fs, timeout %v) still exists",
				l.member, path, es.fate, es.sid, es.client, secs(es.end), es.timeout))
		}
		for path := range l.owners {
			if x.mustExist[path] == nil && x.mustGo[path] == nil && x.mayExist[path] == nil {
				problems = append(problems, fmt.Sprintf("member %d: ephemeral %s was never created by a client", l.member, path))
			}
		}
	}
	return problems, pending
}

func sortedOwners(m map[string]*ephSession) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// listEphemerals syncs and lists dir on one member and reads each node's
// owner.
func listEphemerals(ctx context.Context, conn *zk.Conn, dir string) (map[string]int64, error) {
	owners := map[string]int64{}
	err := callCtx(ctx, conn, func() error {
		if _, err := conn.Sync(dir); err != nil {
			return fmt.Errorf("sync %s: %w", dir, err)
		}
		kids, _, err := conn.Children(dir)
		if err != nil {
			return fmt.Errorf("children %s: %w", dir, err)
		}
		for _, k := range kids {
			ok, st, err := conn.Exists(dir + "/" + k)
			if err != nil {
				return fmt.Errorf("exists %s/%s: %w", dir, k, err)
			}
			if ok {
				owners[dir+"/"+k] = st.EphemeralOwner
			}
		}
		return nil
	})
	return owners, err
}

// ephStats summarises the sessions for the check line.
func ephStats(res *CheckResult, sessions []*ephSession) {
	n := map[string]int{}
	keptExpired := 0
	for _, es := range sessions {
		n[es.fate]++
		if es.fate == fateKept && es.expired {
			keptExpired++
		}
		for _, st := range es.nodes {
			res.Ops++
			if st == Unknown {
				res.Unknown++
			}
		}
	}
	res.kv("sessions", len(sessions))
	res.kv("closed", n[fateClosed])
	res.kv("abandoned", n[fateAbandoned])
	res.kv("kept", n[fateKept])
	res.kv("kept_expired", keptExpired)
}

// expiryWatch asks the observer to time the expiry of an abandoned session
// through one of its nodes.
type expiryWatch struct {
	path        string
	sid         int64
	client      int
	cut         int64 // when the client cut the connection (ns since start)
	timeout     time.Duration
	undisturbed bool  // the session had never been disconnected before the cut
	deleted     int64 // when the observer learnt the node was gone; 0: never
	gone        bool  // already gone when the watch was set (deleted is an upper bound)
}

// expiryObserver watches one node of every abandoned session from a
// session of its own and records when it is deleted, so that the check can
// tell how long after the cut the session expired, and that it was not
// before its time.
type expiryObserver struct {
	c       *client
	in      chan expiryWatch
	mu      sync.Mutex
	seen    []expiryWatch
	wg      sync.WaitGroup
	pending atomic.Int64 // watches set and not yet fired
}

func newExpiryObserver(c *client) *expiryObserver {
	return &expiryObserver{c: c, in: make(chan expiryWatch, 64)}
}

// run sets a watch for each abandoned session until ctx ends; the watches'
// goroutines end with their event, or when ctx ends (the caller then closes
// the session).
func (o *expiryObserver) run(ctx context.Context) {
	defer o.wg.Wait()
	for {
		var x expiryWatch
		select {
		case x = <-o.in:
		case <-ctx.Done():
			return
		}
		if !o.c.ensure(ctx) {
			o.add(x)
			continue
		}
		op := Op{Kind: KindEphWatch, Key: x.path}
		var exists bool
		var ch <-chan zk.Event
		_ = o.c.do(&op, func(conn *zk.Conn) error { // the outcome is in op (Status, Err)
			// Without the sync a lagging member could answer "no such
			// node" for a node it has not applied yet.
			if _, err := conn.Sync(x.path); err != nil {
				return err
			}
			var err error
			exists, _, ch, err = conn.ExistsW(x.path)
			return err
		})
		if op.Status == OK {
			op.Value = map[bool]string{true: "exists", false: "absent"}[exists]
		}
		o.c.record(op)
		switch {
		case op.Status != OK:
			o.add(x)
		case !exists:
			x.deleted, x.gone = op.Return, true
			o.add(x)
		default:
			o.wg.Add(1)
			o.pending.Add(1)
			go func() {
				defer o.wg.Done()
				defer o.pending.Add(-1)
				select {
				case ev := <-ch:
					if ev.Type == zk.EventNodeDeleted {
						x.deleted = o.c.env.now()
					}
				case <-ctx.Done():
				}
				o.add(x)
			}()
		}
	}
}

// settle waits until every watch has fired (the nodes are known to be
// gone, the events may still be on their way), at most d.
func (o *expiryObserver) settle(d time.Duration) {
	deadline := time.Now().Add(d)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for o.pending.Load() > 0 && time.Now().Before(deadline) {
		<-t.C
	}
}

func (o *expiryObserver) add(x expiryWatch) {
	o.mu.Lock()
	o.seen = append(o.seen, x)
	o.mu.Unlock()
}

func (o *expiryObserver) results() []expiryWatch {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]expiryWatch(nil), o.seen...)
}

// checkExpiry adds the expiry times of abandoned sessions to res and flags
// an expiry well before the session's timeout: a session whose connection
// was never disturbed was last heard of at most a ping interval (a third of
// the timeout) before the cut, so the servers may expire it no sooner than
// two thirds of the timeout after the cut (less half a second for
// scheduling).
func checkExpiry(res *CheckResult, xs []expiryWatch) {
	var lat []time.Duration
	unobserved := 0
	for _, x := range xs {
		if x.deleted == 0 {
			unobserved++
			continue
		}
		d := time.Duration(x.deleted - x.cut)
		if !x.gone {
			lat = append(lat, d)
		}
		if early := x.timeout*2/3 - 500*time.Millisecond; x.undisturbed && d < early {
			res.violation("abandoned session %#x (client %d) expired %.3fs after its connection was cut, before %.3fs (timeout %v)",
				x.sid, x.client, d.Seconds(), early.Seconds(), x.timeout)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.kv("expiries_timed", len(lat))
	if len(lat) > 0 {
		res.kv("expiry_min_s", lat[0])
		res.kv("expiry_med_s", lat[len(lat)/2])
		res.kv("expiry_max_s", lat[len(lat)-1])
	}
	if unobserved > 0 {
		res.kv("expiries_unobserved", unobserved)
	}
}
