package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// Config configures a run. Zero fields take the defaults in brackets.
type Config struct {
	// Cluster is the ensemble, already started; Run does not stop it.
	Cluster Cluster
	// Duration is the fault period after the quiet start [25s].
	Duration time.Duration
	// Seed drives the fault schedule and the clients' choices.
	Seed uint64
	// OutDir receives history.jsonl, faults.log, timeline.txt,
	// summary.txt and clients.log; empty: no files.
	OutDir string
	// Out receives the report lines [os.Stdout].
	Out io.Writer
	// Schedule is the nemesis's timing [see Schedule].
	Schedule Schedule
	// MaxGap is the longest stretch without an acknowledged write that the
	// availability check accepts [10s].
	MaxGap time.Duration
	// OpTimeout: an operation without an answer this long has an unknown
	// outcome and its session is replaced [10s].
	OpTimeout time.Duration
	// SessionTimeout requested by every client [6s].
	SessionTimeout time.Duration
	// ServeTimeout: after the faults every member must serve within this [30s].
	ServeTimeout time.Duration
	// CheckBudget bounds the linearizability check in all, CheckPerKey per
	// key [60s, 10s].
	CheckBudget time.Duration
	CheckPerKey time.Duration
	// Clients per workload [registers 9, durable 3, lock 6, ephemerals 6].
	Registers, Durable, Lock, Ephemerals int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Duration, 25*time.Second)
	def(&c.MaxGap, 10*time.Second)
	def(&c.OpTimeout, 10*time.Second)
	def(&c.SessionTimeout, 6*time.Second)
	def(&c.ServeTimeout, 30*time.Second)
	def(&c.CheckBudget, 60*time.Second)
	def(&c.CheckPerKey, 10*time.Second)
	defInt := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defInt(&c.Registers, 9)
	defInt(&c.Durable, 3)
	defInt(&c.Lock, 6)
	defInt(&c.Ephemerals, 6)
	if c.Out == nil {
		c.Out = os.Stdout
	}
	c.Schedule = c.Schedule.withDefaults()
	return c
}

// Report is the outcome of a run.
type Report struct {
	Run    string // the run's name, also its znode directory /chaos/<run>
	Seed   uint64
	OutDir string
	Checks []CheckResult
}

// Failed returns the checks that failed.
func (r *Report) Failed() []CheckResult {
	var out []CheckResult
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return len(r.Failed()) == 0 && len(r.Checks) > 0 }

// partitionReasoner is implemented by clusters that can say why they cannot
// partition.
type partitionReasoner interface{ PartitionReason() string }

// Run runs the workloads against cfg.Cluster while the nemesis faults it,
// then heals it and checks the histories. An error means the run could not
// be carried out (or was interrupted); failed checks are in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if cfg.Cluster == nil {
		return nil, errors.New("chaos: no cluster")
	}
	start := time.Now()
	rep := &Report{Run: fmt.Sprintf("%s-s%d", start.Format("20060102T150405"), cfg.Seed), Seed: cfg.Seed, OutDir: cfg.OutDir}
	out := cfg.Out
	faultsLog, clientsLog := io.Discard, io.Discard // io.Writers
	if cfg.OutDir != "" {
		if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
			return nil, err
		}
		fl, err := os.Create(filepath.Join(cfg.OutDir, "faults.log"))
		if err != nil {
			return nil, err
		}
		defer fl.Close()
		cl, err := os.Create(filepath.Join(cfg.OutDir, "clients.log"))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		faultsLog, clientsLog = fl, cl
	}
	cl := cfg.Cluster
	servers := cl.Servers()
	header := []string{
		fmt.Sprintf("# chaos run=%s seed=%d duration=%v servers=%s", rep.Run, cfg.Seed, cfg.Duration, strings.Join(servers, ",")),
		fmt.Sprintf("# cluster: %s", cl.Describe()),
	}
	if cl.CanPartition() {
		header = append(header, "# partitions: yes (isolate-leader, isolate-follower are in the schedule)")
	} else {
		reason := "the cluster cannot partition"
		if pr, ok := cl.(partitionReasoner); ok && pr.PartitionReason() != "" {
			reason = pr.PartitionReason()
		}
		header = append(header, fmt.Sprintf("# partitions: no (%s); the schedule has no partitions", reason))
	}
	if cfg.OutDir != "" {
		header = append(header, "# output: "+cfg.OutDir)
	}
	for _, h := range header {
		fmt.Fprintln(out, h)
	}

	e := &env{
		servers: servers, start: start, opTimeout: cfg.OpTimeout, sessionTimeout: cfg.SessionTimeout,
		root: "/chaos/" + rep.Run, zkLog: &lockedWriter{w: clientsLog},
	}
	period := cfg.Schedule.Quiet + cfg.Duration
	reg := &registers{e: e, epochLen: 5 * time.Second, keysPerEpoch: 5, think: 20 * time.Millisecond}
	reg.epochs = int((period+3*cfg.ServeTimeout+cfg.OpTimeout)/reg.epochLen) + 2
	dur := &durable{e: e, dirs: 16, think: 40 * time.Millisecond}
	lck := &lockCounter{e: e, waitMax: 5 * time.Second, think: 10 * time.Millisecond}
	eph := &ephemerals{e: e, perSession: 3, holdMin: 500 * time.Millisecond, holdMax: 2 * time.Second}
	observer := newExpiryObserver(newClient(e, 1000, "ephemerals-observer", cfg.Seed))
	eph.abandoned = observer.in

	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err := setup(sctx, e, func(conn *zk.Conn) error {
		for _, f := range []func(*zk.Conn) error{reg.setup, dur.setup, lck.setup, eph.setup} {
			if err := f(conn); err != nil {
				return err
			}
		}
		return nil
	})
	cancel()
	if err != nil {
		return rep, fmt.Errorf("chaos: setup: %w", err)
	}
	// Time 0 of the histories and of the schedule: the workloads start now.
	start = time.Now()
	e.start = start
	t0 := fmt.Sprintf("# t=0 (workloads start) wall=%s; faults from t=%.1fs to t=%.1fs",
		start.Format("15:04:05.000"), cfg.Schedule.Quiet.Seconds(), (cfg.Schedule.Quiet + cfg.Duration).Seconds())
	fmt.Fprintln(out, t0)
	header = append(header, t0)

	// Workloads.
	wctx, stopWorkloads := context.WithCancel(ctx)
	defer stopWorkloads()
	var wg sync.WaitGroup
	var clients []*client
	var ephMu sync.Mutex
	var ephSessions []*ephSession
	id := 0
	spawn := func(n int, name string, f func(context.Context, *client)) {
		for range n {
			c := newClient(e, id, name, cfg.Seed)
			id++
			clients = append(clients, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				f(wctx, c)
			}()
		}
	}
	spawn(cfg.Registers, "registers", reg.run)
	spawn(cfg.Durable, "durable", dur.run)
	spawn(cfg.Lock, "lock", func(ctx context.Context, c *client) { lck.run(ctx, c); c.close() })
	keepers := max(1, cfg.Ephemerals/3)
	for i := 0; i < cfg.Ephemerals; i++ {
		keeper := i < keepers
		spawn(1, "ephemerals", func(ctx context.Context, c *client) {
			ss := eph.run(ctx, c, keeper)
			ephMu.Lock()
			ephSessions = append(ephSessions, ss...)
			ephMu.Unlock()
		})
	}
	// The expiry observer outlives the workloads: abandoned sessions expire
	// after the fault period.
	octx, stopObserver := context.WithCancel(ctx)
	defer stopObserver()
	var owg sync.WaitGroup
	owg.Add(1)
	go func() {
		defer owg.Done()
		observer.run(octx)
	}()
	stopObserving := func() []expiryWatch {
		stopObserver()
		owg.Wait()
		observer.c.close()
		return observer.results()
	}
	defer stopObserving()

	// The register, durable and lock clients close their sessions when they
	// stop; kept ephemeral sessions stay open until they are checked.
	closeAll := func() {
		for _, c := range clients {
			if c.workload != "ephemerals" {
				c.close()
			}
		}
	}

	// Faults.
	nem := newNemesis(cl, cfg.Schedule, cfg.Seed, start, out, faultsLog)
	nem.run(ctx, period)
	faultEnd := e.now()
	nem.healAll(cfg.ServeTimeout)
	harness := serveCheck(e, cfg.ServeTimeout)
	stopWorkloads()
	wg.Wait()
	closeAll()
	defer func() {
		for _, es := range ephSessions {
			if es.sess != nil {
				es.sess.close()
			}
		}
	}()

	var ops []Op
	perClient := make([][]Op, len(clients))
	for i, c := range clients {
		perClient[i] = c.ops
		ops = append(ops, c.ops...)
	}
	if ctx.Err() != nil {
		sortOps(ops)
		if cfg.OutDir != "" {
			if err := writeHistory(filepath.Join(cfg.OutDir, "history.jsonl"), ops); err != nil {
				fmt.Fprintln(out, "chaos: history not saved:", err)
			}
		}
		fmt.Fprintln(out, "chaos: interrupted; histories not checked")
		return rep, fmt.Errorf("chaos: interrupted: %w", ctx.Err())
	}

	// Final checks.
	conns := openMembers(e, 15*time.Second) // they served a moment ago (or the harness check failed)
	defer func() {
		for _, m := range conns {
			if m.conn != nil {
				m.conn.Close()
			}
		}
	}()
	var checks []CheckResult
	var regRes, ephRes CheckResult
	var cwg sync.WaitGroup
	cwg.Add(2)
	go func() {
		defer cwg.Done()
		regRes = checkRegisters(ops, cfg.CheckPerKey, cfg.CheckBudget, cfg.OutDir).finish()
	}()
	go func() {
		defer cwg.Done()
		r := checkEphemeralsLive(e, conns, eph, ephSessions, nem.healed, cfg.SessionTimeout)
		observer.settle(2 * time.Second)
		checkExpiry(&r, stopObserving())
		ephRes = r.finish()
	}()
	durRes := checkDurable(ops, listMembers(e, conns, dur)).finish()
	lockRes := checkLock(ops, readMembers(e, conns, lck.counter())).finish()
	sessRes := checkSessionOrder(perClient).finish()
	orderRes := checkWriteOrder(ops).finish()
	cwg.Wait()
	ops = append(ops, observer.c.ops...) // observer.run has ended
	avail := computeAvailability(ops, servers, 0, faultEnd)
	checks = append(checks, regRes, sessRes, orderRes, durRes, lockRes, ephRes, avail.check(cfg.MaxGap).finish(), harness.finish())
	rep.Checks = checks

	// Report.
	sortOps(ops)
	var summary strings.Builder
	for _, h := range header {
		summary.WriteString(h + "\n")
	}
	for _, l := range avail.lines() {
		fmt.Fprintln(out, l)
		summary.WriteString(l + "\n")
	}
	passed := 0
	for _, c := range checks {
		fmt.Fprintln(out, c.Line())
		summary.WriteString(c.Line() + "\n")
		for _, v := range c.Violations {
			summary.WriteString("    " + v + "\n")
		}
		if c.OK {
			passed++
		}
	}
	final := fmt.Sprintf("chaos: %d passed, %d failed", passed, len(checks)-passed)
	fmt.Fprintln(out, final)
	summary.WriteString(final + "\n")
	if cfg.OutDir != "" {
		var errs []error
		errs = append(errs, writeHistory(filepath.Join(cfg.OutDir, "history.jsonl"), ops))
		errs = append(errs, writeFile(cfg.OutDir, "timeline.txt", timeline(ops, servers, nem.eventsCopy(), e.now(), 500*time.Millisecond)))
		errs = append(errs, writeFile(cfg.OutDir, "summary.txt", summary.String()))
		if err := errors.Join(errs...); err != nil {
			return rep, fmt.Errorf("chaos: writing the report: %w", err)
		}
	}
	return rep, nil
}

// setup creates /chaos/<run> and lets f create the workloads' nodes, on a
// session to all servers.
func setup(ctx context.Context, e *env, f func(*zk.Conn) error) error {
	c := newClient(e, -1, "setup", 0)
	s, err := c.dial(ctx, e.servers)
	if s == nil {
		return err
	}
	defer s.close()
	if err != nil {
		return err
	}
	return callCtx(ctx, s.conn, func() error {
		for _, p := range []string{"/chaos", e.root} {
			if _, err := s.conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
				return fmt.Errorf("create %s: %w", p, err)
			}
		}
		return f(s.conn)
	})
}

// memberConn is a session to one member only, for the final checks.
type memberConn struct {
	n    int
	addr string
	conn *zk.Conn
	err  error
}

func openMembers(e *env, timeout time.Duration) []*memberConn {
	out := make([]*memberConn, len(e.servers))
	var wg sync.WaitGroup
	for i, addr := range e.servers {
		out[i] = &memberConn{n: i + 1, addr: addr}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			out[i].conn, out[i].err = dialOne(ctx, addr, e.sessionTimeout, e.zkLog)
		}()
	}
	wg.Wait()
	return out
}

// serveCheck is the harness check: after the faults are healed, every
// member must answer a sync and a write on a session of its own within
// timeout.
func serveCheck(e *env, timeout time.Duration) CheckResult {
	res := CheckResult{Name: "harness", Ops: len(e.servers)}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	probe := e.root + "/probe"
	took := make([]time.Duration, len(e.servers))
	errs := make([]error, len(e.servers))
	var wg sync.WaitGroup
	began := time.Now()
	for i, addr := range e.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = probeMember(ctx, e, addr, probe)
			took[i] = time.Since(began)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		res.kv(fmt.Sprintf("m%d_serves_after_s", i+1), took[i])
		if err != nil {
			res.violation("member %d (%s) does not serve after %v: %v", i+1, e.servers[i], timeout, err)
		}
	}
	return res
}

// probeMember retries sync + setData on addr until it works or ctx ends.
func probeMember(ctx context.Context, e *env, addr, probe string) error {
	var last error
	for ctx.Err() == nil {
		conn, err := dialOne(ctx, addr, e.sessionTimeout, e.zkLog)
		if err != nil {
			last = err
			continue
		}
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = callCtx(octx, conn, func() error {
			if _, err := conn.Sync(probe); err != nil {
				return err
			}
			_, err := conn.Set(probe, []byte(addr), -1)
			if errors.Is(err, zk.ErrNoNode) {
				_, err = conn.Create(probe, []byte(addr), 0, zk.WorldACL(zk.PermAll))
				if errors.Is(err, zk.ErrNodeExists) {
					err = nil
				}
			}
			return err
		})
		cancel()
		conn.Close()
		if err == nil {
			return nil
		}
		last = err
		sleepCtx(ctx, 200*time.Millisecond)
	}
	if last == nil {
		last = ctx.Err()
	}
	return last
}

// listMembers lists the durable workload's directories on every member.
func listMembers(e *env, conns []*memberConn, d *durable) []memberListing {
	dirs := make([]string, d.dirs)
	for i := range dirs {
		dirs[i] = d.dir(i)
	}
	out := make([]memberListing, len(conns))
	for i, m := range conns {
		out[i] = memberListing{member: m.n, addr: m.addr, err: m.err}
		if m.conn == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		nodes := map[string]bool{}
		out[i].err = callCtx(ctx, m.conn, func() error {
			for _, dir := range dirs {
				if _, err := m.conn.Sync(dir); err != nil {
					return fmt.Errorf("sync %s: %w", dir, err)
				}
				kids, _, err := m.conn.Children(dir)
				if err != nil {
					return fmt.Errorf("children %s: %w", dir, err)
				}
				for _, k := range kids {
					nodes[dir+"/"+k] = true
				}
			}
			return nil
		})
		cancel()
		out[i].nodes = nodes
	}
	return out
}

// readMembers reads path on every member after a sync.
func readMembers(e *env, conns []*memberConn, path string) []memberValue {
	out := make([]memberValue, len(conns))
	for i, m := range conns {
		out[i] = memberValue{member: m.n, addr: m.addr, err: m.err}
		if m.conn == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var data []byte
		out[i].err = callCtx(ctx, m.conn, func() error {
			if _, err := m.conn.Sync(path); err != nil {
				return err
			}
			var err error
			data, _, err = m.conn.Get(path)
			return err
		})
		cancel()
		out[i].value = string(data)
	}
	return out
}

// checkEphemeralsLive verifies the kept sessions, then polls every member
// until each ended session's nodes are gone and each live session's nodes
// are there, or until the last deadline (end of session + timeout + slack)
// has passed.
func checkEphemeralsLive(e *env, conns []*memberConn, w *ephemerals, sessions []*ephSession, healed int64, sessionTimeout time.Duration) CheckResult {
	res := CheckResult{Name: "ephemerals"}
	verifyKept(sessions, e)
	ephStats(&res, sessions)
	slack := max(5*time.Second, sessionTimeout/2)
	x := expectations(sessions, e.start, healed, slack)
	last := time.Now()
	for _, due := range x.goneBy {
		if due.After(last) {
			last = due
		}
	}
	began := time.Now()
	var problems []string
	pending := 0
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		lists := make([]ephListing, len(conns))
		for i, m := range conns {
			lists[i] = ephListing{member: m.n, addr: m.addr, err: m.err}
			if m.conn == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			lists[i].owners, lists[i].err = listEphemerals(ctx, m.conn, w.dir())
			cancel()
		}
		now := time.Now()
		problems, pending = ephProblems(x, lists, now)
		if len(problems) == 0 && pending == 0 {
			break
		}
		if now.After(last) {
			break
		}
		<-t.C
	}
	res.kv("must_exist", len(x.mustExist))
	res.kv("must_go", len(x.mustGo))
	res.kv("waited_s", time.Since(began))
	res.Violations = append(res.Violations, problems...)
	// A poll that kept failing (e.g. on a member that does not serve) would
	// otherwise show only its last error.
	if pending > 0 {
		res.violation("%d ephemerals still pending after the last deadline", pending)
	}
	return res
}
