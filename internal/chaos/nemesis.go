package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Fault kinds.
const (
	FaultKillLeader      = "kill-leader"
	FaultKillFollower    = "kill-follower"
	FaultPauseLeader     = "pause-leader"
	FaultPauseFollower   = "pause-follower"
	FaultIsolateLeader   = "isolate-leader"
	FaultIsolateFollower = "isolate-follower"
)

// Schedule is the nemesis's timing. The zero value means the defaults.
type Schedule struct {
	Quiet       time.Duration // before the first fault (2 s)
	EveryMin    time.Duration // between the starts of two faults (5-8 s)
	EveryMax    time.Duration
	KillDownMin time.Duration // a killed member stays down (2-4 s)
	KillDownMax time.Duration
	PauseMin    time.Duration // SIGSTOP to SIGCONT (3-6 s)
	PauseMax    time.Duration
	IsolateMin  time.Duration // isolate to heal (3-6 s)
	IsolateMax  time.Duration
	Settle      time.Duration // at least this between a heal and the next fault (1 s)
	Restart     time.Duration // a restart must serve within this (60 s)
}

func (s Schedule) withDefaults() Schedule {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&s.Quiet, 2*time.Second)
	def(&s.EveryMin, 5*time.Second)
	def(&s.EveryMax, 8*time.Second)
	def(&s.KillDownMin, 2*time.Second)
	def(&s.KillDownMax, 4*time.Second)
	def(&s.PauseMin, 3*time.Second)
	def(&s.PauseMax, 6*time.Second)
	def(&s.IsolateMin, 3*time.Second)
	def(&s.IsolateMax, 6*time.Second)
	def(&s.Settle, time.Second)
	def(&s.Restart, 60*time.Second)
	return s
}

// faultEvent is one logged nemesis action.
type faultEvent struct {
	t    int64 // ns since the start of the run
	line string
}

// nemesis injects one fault at a time into a cluster, from a seeded random
// schedule, and logs every action.
type nemesis struct {
	cl    Cluster
	sched Schedule
	rng   *rand.Rand
	start time.Time
	out   io.Writer // report (stdout)
	flog  io.Writer // faults.log

	mu     sync.Mutex // guards events (read by the report while running)
	events []faultEvent

	paused map[int]int // member -> pid stopped
	down   map[int]bool
	healed int64 // when the last fault was healed (ns since start)
	faults int
}

func newNemesis(cl Cluster, sched Schedule, seed uint64, start time.Time, out, flog io.Writer) *nemesis {
	return &nemesis{
		cl: cl, sched: sched.withDefaults(), rng: rand.New(rand.NewPCG(seed, 0x6e656d65736973)),
		start: start, out: out, flog: flog, paused: map[int]int{}, down: map[int]bool{},
	}
}

func (n *nemesis) now() int64 { return int64(time.Since(n.start)) }

// logf logs one action: "nemesis t=... wall=... " + the formatted rest.
func (n *nemesis) logf(format string, args ...any) {
	t := n.now()
	line := fmt.Sprintf("nemesis t=%.3fs wall=%s ", secs(t), time.Now().Format("15:04:05.000")) + fmt.Sprintf(format, args...)
	n.mu.Lock()
	n.events = append(n.events, faultEvent{t: t, line: line})
	n.mu.Unlock()
	if n.out != nil {
		fmt.Fprintln(n.out, line)
	}
	if n.flog != nil {
		fmt.Fprintln(n.flog, line)
	}
}

func (n *nemesis) eventsCopy() []faultEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]faultEvent(nil), n.events...)
}

func (n *nemesis) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(n.rng.Int64N(int64(hi-lo)))
}

func (n *nemesis) kinds() []string {
	k := []string{FaultKillLeader, FaultKillFollower, FaultPauseLeader, FaultPauseFollower}
	if n.cl.CanPartition() {
		k = append(k, FaultIsolateLeader, FaultIsolateFollower)
	}
	return k
}

// run injects faults from the end of the quiet start until end (since the
// start of the run): a new fault every EveryMin-EveryMax (start to start),
// but never sooner than Settle after the previous one was healed. A fault
// still active at end is healed then. It does not heal everything; healAll
// does.
func (n *nemesis) run(ctx context.Context, end time.Duration) {
	if !sleepCtx(ctx, time.Until(n.start.Add(n.sched.Quiet))) {
		return
	}
	deadline := n.start.Add(end)
	for ctx.Err() == nil {
		begin := time.Now()
		if deadline.Sub(begin) < time.Second {
			return
		}
		kinds := n.kinds()
		n.fault(ctx, kinds[n.rng.IntN(len(kinds))], deadline)
		next := begin.Add(n.between(n.sched.EveryMin, n.sched.EveryMax))
		if settled := time.Now().Add(n.sched.Settle); next.Before(settled) {
			next = settled
		}
		if next.After(deadline) {
			sleepCtx(ctx, time.Until(deadline))
			return
		}
		if !sleepCtx(ctx, time.Until(next)) {
			return
		}
	}
}

// target picks the member for a fault: the leader, or a random follower.
func (n *nemesis) target(ctx context.Context, leaderFault bool) (member int, note string) {
	members := len(n.cl.Servers())
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	l, err := n.cl.Leader(lctx)
	cancel()
	if err != nil || l < 1 || l > members {
		return 1 + n.rng.IntN(members), " leader=unknown picked=random"
	}
	if leaderFault {
		return l, ""
	}
	m := 1 + n.rng.IntN(members-1)
	if m >= l {
		m++
	}
	return m, fmt.Sprintf(" leader=%d", l)
}

// wait sleeps d, but not past deadline; it reports whether it was cut short.
func waitUntil(ctx context.Context, d time.Duration, deadline time.Time) (cut bool) {
	if until := time.Until(deadline); until < d {
		sleepCtx(ctx, max(until, 0))
		return true
	}
	return !sleepCtx(ctx, d)
}

// fault injects one fault and heals it.
func (n *nemesis) fault(ctx context.Context, kind string, deadline time.Time) {
	n.faults++
	leaderFault := strings.HasSuffix(kind, "-leader")
	m, note := n.target(ctx, leaderFault)
	pid := n.cl.Pid(m)
	switch kind {
	case FaultKillLeader, FaultKillFollower:
		down := n.between(n.sched.KillDownMin, n.sched.KillDownMax)
		n.logf("kind=%s member=%d pid=%d action=kill for=%.1fs%s", kind, m, pid, down.Seconds(), note)
		kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := n.cl.Kill(kctx, m)
		cancel()
		if err != nil {
			n.logf("kind=%s member=%d pid=%d action=kill error=%q", kind, m, pid, err.Error())
		}
		n.down[m] = true
		cut := waitUntil(ctx, down, deadline)
		n.restart(ctx, kind, m, cut)
	case FaultPauseLeader, FaultPauseFollower:
		if pid == 0 {
			n.logf("kind=%s member=%d pid=0 action=skip reason=\"not running\"%s", kind, m, note)
			return
		}
		d := n.between(n.sched.PauseMin, n.sched.PauseMax)
		n.logf("kind=%s member=%d pid=%d action=stop for=%.1fs%s", kind, m, pid, d.Seconds(), note)
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			n.logf("kind=%s member=%d pid=%d action=stop error=%q", kind, m, pid, err.Error())
			return
		}
		n.paused[m] = pid
		cut := waitUntil(ctx, d, deadline)
		err := syscall.Kill(pid, syscall.SIGCONT)
		delete(n.paused, m)
		n.healed = n.now()
		n.logf("kind=%s member=%d pid=%d action=cont%s%s", kind, m, pid, n.cutNote(ctx, cut), errNote(err))
	case FaultIsolateLeader, FaultIsolateFollower:
		d := n.between(n.sched.IsolateMin, n.sched.IsolateMax)
		n.logf("kind=%s member=%d pid=%d action=isolate for=%.1fs%s", kind, m, pid, d.Seconds(), note)
		if err := n.cl.Isolate(m); err != nil {
			n.logf("kind=%s member=%d action=isolate error=%q", kind, m, err.Error())
			// Undo whatever part of the cut was made.
			if err := n.cl.Heal(); err != nil {
				n.logf("kind=%s member=%d action=heal error=%q", kind, m, err.Error())
			}
			return
		}
		cut := waitUntil(ctx, d, deadline)
		err := n.cl.Heal()
		n.healed = n.now()
		n.logf("kind=%s member=%d pid=%d action=heal%s%s", kind, m, pid, n.cutNote(ctx, cut), errNote(err))
	}
}

// restart starts a killed member again and logs how long that took.
func (n *nemesis) restart(ctx context.Context, kind string, m int, cut bool) {
	n.logf("kind=%s member=%d action=restart%s", kind, m, n.cutNote(ctx, cut))
	began := time.Now()
	rctx, cancel := context.WithTimeout(ctx, n.sched.Restart)
	err := n.cl.Restart(rctx, m)
	cancel()
	n.healed = n.now()
	if err != nil {
		n.logf("kind=%s member=%d action=restarted ok=false took=%.1fs error=%q", kind, m, time.Since(began).Seconds(), err.Error())
		return
	}
	delete(n.down, m)
	n.logf("kind=%s member=%d pid=%d action=restarted ok=true took=%.1fs", kind, m, n.cl.Pid(m), time.Since(began).Seconds())
}

func (n *nemesis) cutNote(ctx context.Context, cut bool) string {
	switch {
	case ctx.Err() != nil:
		return " cut=interrupted"
	case cut:
		return " cut=end-of-period"
	}
	return ""
}

func errNote(err error) string {
	if err != nil {
		return fmt.Sprintf(" error=%q", err.Error())
	}
	return ""
}

// healAll resumes paused members, heals partitions and restarts members
// that do not run. It uses its own deadline so that it also cleans up
// after the run was interrupted.
func (n *nemesis) healAll(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for m, pid := range n.paused {
		syscall.Kill(pid, syscall.SIGCONT)
		delete(n.paused, m)
	}
	members := len(n.cl.Servers())
	for m := 1; m <= members; m++ {
		if pid := n.cl.Pid(m); pid != 0 {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	if n.cl.CanPartition() {
		if err := n.cl.Heal(); err != nil {
			n.logf("kind=heal-all action=heal error=%q", err.Error())
		}
	}
	for m := 1; m <= members; m++ {
		if n.cl.Pid(m) != 0 {
			continue
		}
		began := time.Now()
		err := n.cl.Restart(ctx, m)
		if err != nil {
			n.logf("kind=heal-all member=%d action=restarted ok=false took=%.1fs error=%q", m, time.Since(began).Seconds(), err.Error())
			continue
		}
		delete(n.down, m)
		n.logf("kind=heal-all member=%d pid=%d action=restarted ok=true took=%.1fs", m, n.cl.Pid(m), time.Since(began).Seconds())
	}
	n.healed = n.now()
	n.logf("kind=heal-all action=done faults=%d", n.faults)
}
