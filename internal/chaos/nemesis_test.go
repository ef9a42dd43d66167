package chaos

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sleepCluster is a fake cluster whose members are sleep processes, so that
// the nemesis's signals and restarts act on real processes.
type sleepCluster struct {
	t       *testing.T
	mu      sync.Mutex
	procs   [3]*exec.Cmd
	done    [3]chan struct{}
	isolate []int
	heals   int
	part    bool
}

func newSleepCluster(t *testing.T, partition bool) *sleepCluster {
	c := &sleepCluster{t: t, part: partition}
	for n := 1; n <= 3; n++ {
		if err := c.Restart(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func (c *sleepCluster) Servers() []string                   { return []string{"a:1", "b:2", "c:3"} }
func (c *sleepCluster) Start(context.Context) error         { return nil }
func (c *sleepCluster) Leader(context.Context) (int, error) { return 2, nil }
func (c *sleepCluster) CanPartition() bool                  { return c.part }
func (c *sleepCluster) Describe() string                    { return "sleep processes" }

func (c *sleepCluster) Stop() error {
	for n := 1; n <= 3; n++ {
		c.Kill(context.Background(), n)
	}
	return nil
}

func (c *sleepCluster) running(n int) bool {
	if c.procs[n-1] == nil {
		return false
	}
	select {
	case <-c.done[n-1]:
		return false
	default:
		return true
	}
}

func (c *sleepCluster) Kill(ctx context.Context, n int) error {
	c.mu.Lock()
	if !c.running(n) {
		c.mu.Unlock()
		return errors.New("not running")
	}
	c.procs[n-1].Process.Kill()
	done := c.done[n-1]
	c.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *sleepCluster) Restart(ctx context.Context, n int) error {
	if c.Pid(n) != 0 {
		c.Kill(ctx, n)
	}
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.mu.Lock()
	c.procs[n-1], c.done[n-1] = cmd, done
	c.mu.Unlock()
	return nil
}

func (c *sleepCluster) Pid(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running(n) {
		return 0
	}
	return c.procs[n-1].Process.Pid
}

func (c *sleepCluster) Isolate(n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.isolate = append(c.isolate, n)
	return nil
}

func (c *sleepCluster) Heal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.heals++
	return nil
}

// procState is the state letter of /proc/PID/stat (T: stopped).
func procState(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

func fastSchedule() Schedule {
	ms := time.Millisecond
	return Schedule{Quiet: 50 * ms, EveryMin: 250 * ms, EveryMax: 300 * ms, KillDownMin: 50 * ms, KillDownMax: 100 * ms,
		PauseMin: 50 * ms, PauseMax: 100 * ms, IsolateMin: 50 * ms, IsolateMax: 100 * ms, Settle: 20 * ms, Restart: 5 * time.Second}
}

var lineRE = regexp.MustCompile(`^nemesis t=\d+\.\d{3}s wall=\d\d:\d\d:\d\d\.\d{3} kind=[a-z-]+ `)

func TestNemesisSchedule(t *testing.T) {
	cl := newSleepCluster(t, true)
	var out, flog bytes.Buffer
	n := newNemesis(cl, fastSchedule(), 42, time.Now(), &out, &flog)
	n.run(context.Background(), 3*time.Second)
	n.healAll(10 * time.Second)

	if out.String() != flog.String() {
		t.Fatalf("report and faults.log differ:\n%s\n---\n%s", out.String(), flog.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	kinds := map[string]int{}
	active := ""
	for _, l := range lines {
		if !lineRE.MatchString(l) {
			t.Errorf("badly formed line: %s", l)
		}
		kind := regexp.MustCompile(`kind=(\S+)`).FindStringSubmatch(l)[1]
		action := regexp.MustCompile(`action=(\S+)`).FindStringSubmatch(l)[1]
		switch action {
		case "kill", "stop", "isolate":
			if active != "" {
				t.Errorf("fault %s starts while %s is active: %s", kind, active, l)
			}
			active = kind
			kinds[kind]++
			if !strings.Contains(l, " for=") {
				t.Errorf("no duration: %s", l)
			}
		case "restarted", "cont", "heal":
			if kind != "heal-all" {
				active = ""
			}
		}
	}
	if active != "" {
		t.Errorf("fault %s never healed", active)
	}
	if len(kinds) < 4 {
		t.Errorf("only fault kinds %v in %d lines:\n%s", kinds, len(lines), out.String())
	}
	if !strings.Contains(lines[len(lines)-1], "kind=heal-all action=done") {
		t.Errorf("last line: %s", lines[len(lines)-1])
	}
	for m := 1; m <= 3; m++ {
		pid := cl.Pid(m)
		if pid == 0 {
			t.Errorf("member %d not running after healAll", m)
		} else if st := procState(pid); st == "T" {
			t.Errorf("member %d (pid %d) still stopped after healAll", m, pid)
		}
	}
	for _, m := range cl.isolate {
		if m < 1 || m > 3 {
			t.Errorf("isolated member %d", m)
		}
	}
	// The follower faults never hit the leader (member 2).
	for _, l := range lines {
		if strings.Contains(l, "-follower member=2 ") {
			t.Errorf("follower fault on the leader: %s", l)
		}
		if strings.Contains(l, "-leader member=") && !strings.Contains(l, "-leader member=2 ") {
			t.Errorf("leader fault on a follower: %s", l)
		}
	}
}

func TestNemesisSameSeedSameSchedule(t *testing.T) {
	plan := func() string {
		cl := newSleepCluster(t, false)
		var out bytes.Buffer
		n := newNemesis(cl, fastSchedule(), 7, time.Now(), &out, nil)
		n.run(context.Background(), 1500*time.Millisecond)
		n.healAll(10 * time.Second)
		var kinds []string
		for _, l := range strings.Split(out.String(), "\n") {
			if m := regexp.MustCompile(`kind=(\S+) member=(\d)`).FindStringSubmatch(l); m != nil && strings.Contains(l, " for=") {
				kinds = append(kinds, m[1]+"/"+m[2])
			}
			if strings.Contains(l, "isolate") {
				t.Errorf("partition fault although the cluster cannot partition: %s", l)
			}
		}
		return strings.Join(kinds, " ")
	}
	a, b := plan(), plan()
	if a != b || a == "" {
		t.Fatalf("same seed, different schedules:\n%s\n%s", a, b)
	}
}

func TestScriptClusterProbesPartitions(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "cluster.sh")
	body := `#!/bin/sh
case "$1" in
start|stop) exit 0 ;;
servers) echo "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3" ;;
leader) echo 2 ;;
pids) echo "1 0"; echo "2 4242"; echo "3 0" ;;
describe) echo "fake ensemble" ;;
heal) [ -n "$PARTITIONS" ] || exit 2 ;;
isolate) [ -n "$PARTITIONS" ] || exit 2; echo "$2" >>"$(dirname "$0")/isolated" ;;
*) echo "usage" >&2; exit 2 ;;
esac
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, part := range []bool{false, true} {
		if part {
			t.Setenv("PARTITIONS", "1")
		}
		c, err := NewScriptCluster(script)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c.CanPartition(); got != part {
			t.Errorf("partitions=%v: CanPartition %v", part, got)
		}
		if s := c.Servers(); len(s) != 3 || s[2] != "127.0.0.1:3" {
			t.Errorf("servers %v", s)
		}
		if l, err := c.Leader(ctx); l != 2 || err != nil {
			t.Errorf("leader %d %v", l, err)
		}
		if p := c.Pid(2); p != 4242 {
			t.Errorf("pid %d", p)
		}
		if d := c.Describe(); d != "fake ensemble" {
			t.Errorf("describe %q", d)
		}
		err = c.Isolate(3)
		if (err == nil) != part {
			t.Errorf("partitions=%v: isolate: %v", part, err)
		}
		if err := c.Kill(ctx, 1); err == nil {
			t.Errorf("kill is not in the fake script, want an error")
		}
		cancel()
	}
}
