package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A child process is this test binary run again with -test.run=^$ and its
// role in the environment. The package's TestMain dispatches on Role:
//
//	func TestMain(m *testing.M) {
//		if role := testenv.Role(); role != "" {
//			os.Exit(runRole(role)) // reads testenv.Arg(...)
//		}
//		os.Exit(m.Run())
//	}
const (
	roleEnv   = "TESTENV_ROLE"
	argPrefix = "TESTENV_ARG_"
)

var argKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// Role returns the role this process was started in as a Child, or "" in
// the test process itself.
func Role() string { return os.Getenv(roleEnv) }

// Arg returns the argument key that the parent passed in ChildConfig.Args
// ("" if none).
func Arg(key string) string { return os.Getenv(argPrefix + key) }

// Args returns s as child arguments (ID, ADDR, DIR, JOIN, MEMBERS) for
// ChildSpec in the child; format writes the member list
// (coord.FormatMembers). Add the role's own arguments to the map.
func (s Spec) Args(format func(map[uint64]string) string) map[string]string {
	args := map[string]string{
		"ID":   strconv.FormatUint(s.ID, 10),
		"ADDR": s.Addr,
		"DIR":  s.Dir,
		"JOIN": strconv.FormatBool(s.Join),
	}
	if len(s.Members) > 0 {
		args["MEMBERS"] = format(s.Members)
	}
	return args
}

// ChildSpec reads back, in a child, the Spec its parent passed with
// Spec.Args; parse reads the member list (coord.ParseMembers).
func ChildSpec(parse func(string) (map[uint64]string, error)) (Spec, error) {
	var s Spec
	var err error
	if s.ID, err = strconv.ParseUint(Arg("ID"), 10, 64); err != nil {
		return s, fmt.Errorf("testenv: child argument ID: %w", err)
	}
	s.Addr, s.Dir = Arg("ADDR"), Arg("DIR")
	if s.Join, err = strconv.ParseBool(Arg("JOIN")); err != nil {
		return s, fmt.Errorf("testenv: child argument JOIN: %w", err)
	}
	if list := Arg("MEMBERS"); list != "" {
		if s.Members, err = parse(list); err != nil {
			return s, fmt.Errorf("testenv: child argument MEMBERS: %w", err)
		}
	}
	return s, nil
}

// ChildConfig says what a Child runs.
type ChildConfig struct {
	// Role is what the child does; Role() returns it there. Required.
	Role string
	// Args are the child's arguments, Arg(key) there. Keys are upper case
	// letters, digits and '_'.
	Args map[string]string
	// OnLine, if set, receives every line the child prints on stdout, on
	// the goroutine that reads them; Line and Expect then get none.
	// Otherwise lines queue (without bound: a child never blocks on its
	// output) until Line or Expect takes them.
	OnLine func(line string)
	// Stderr receives the child's stderr (os.Stderr when nil). Read it
	// only once Wait has returned nil.
	Stderr io.Writer
}

// Child is a child process started by StartChild. It is killed and waited
// for when the test ends.
type Child struct {
	role string
	cmd  *exec.Cmd

	done    chan struct{} // closed once the process has exited
	exitErr error         // how it exited; set before done closes
	drained chan struct{} // closed once its stdout is read to the end

	mu    sync.Mutex
	lines []string      // printed, not yet taken
	eof   bool          // stdout closed
	more  chan struct{} // poked when a line arrives or stdout closes
}

// StartChild starts the test binary in cfg.Role. Its stderr goes to the
// test's stderr.
func StartChild(t testing.TB, cfg ChildConfig) *Child {
	t.Helper()
	if cfg.Role == "" {
		t.Fatal("testenv: a child needs a role")
	}
	env := make([]string, 0, len(os.Environ())+len(cfg.Args)+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, roleEnv+"=") && !strings.HasPrefix(kv, argPrefix) {
			env = append(env, kv)
		}
	}
	env = append(env, roleEnv+"="+cfg.Role)
	for k, v := range cfg.Args {
		if !argKey.MatchString(k) {
			t.Fatalf("testenv: child argument %q: keys are upper case letters, digits and '_'", k)
		}
		env = append(env, argPrefix+k+"="+v)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = env
	cmd.Stderr = cfg.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	// The child writes into a pipe of its own, so that Wait does not wait
	// for (or cut short) the reading.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("testenv: child %s: %v", cfg.Role, err)
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("testenv: child %s: %v", cfg.Role, err)
	}
	c := &Child{role: cfg.Role, cmd: cmd, done: make(chan struct{}), drained: make(chan struct{}),
		more: make(chan struct{}, 1)}
	go c.read(r, cfg.OnLine)
	go func() {
		c.exitErr = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = c.Kill() // fails only if it has exited, which Wait sees
		if err := c.Wait(30 * time.Second); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return c
}

func (c *Child) read(r *os.File, onLine func(string)) {
	defer close(c.drained)
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			if onLine != nil {
				onLine(line)
			} else {
				c.mu.Lock()
				c.lines = append(c.lines, line)
				c.mu.Unlock()
				c.poke()
			}
		}
		if err != nil { // io.EOF once the child (and whoever shares its stdout) is gone
			c.mu.Lock()
			c.eof = true
			c.mu.Unlock()
			c.poke()
			return
		}
	}
}

func (c *Child) poke() {
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// Pid returns the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Signal sends sig to the child; after it has exited that fails with
// os.ErrProcessDone.
func (c *Child) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }

// Kill sends SIGKILL.
func (c *Child) Kill() error { return c.Signal(syscall.SIGKILL) }

// Done is closed once the child has exited (its last lines may still be
// on their way to OnLine; Wait waits for those too).
func (c *Child) Done() <-chan struct{} { return c.done }

// Wait waits up to timeout for the child to exit and for everything it
// printed to be read (handed to OnLine, or queued for Line). It returns nil
// then, however the child ended (ExitErr says how), and an error if it
// still runs.
func (c *Child) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for _, ch := range []<-chan struct{}{c.done, c.drained} {
		select {
		case <-ch:
		case <-t.C:
			return fmt.Errorf("child %s (pid %d) still runs after %v", c.role, c.Pid(), timeout)
		}
	}
	return nil
}

// ExitErr returns how the child exited, as exec.Cmd.Wait reports it (nil
// for exit status 0), or nil while it runs.
func (c *Child) ExitErr() error {
	select {
	case <-c.done:
		return c.exitErr
	default:
		return nil
	}
}

// errChildGone is wrapped by Line's error once the child's stdout closed.
var errChildGone = errors.New("closed its output")

// Line returns the next line the child printed on stdout, waiting up to
// timeout for one. Its error says whether the child exited or was silent.
// One goroutine at a time may read lines.
func (c *Child) Line(timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		c.mu.Lock()
		if len(c.lines) > 0 {
			line := c.lines[0]
			c.lines = c.lines[1:]
			c.mu.Unlock()
			return line, nil
		}
		eof := c.eof
		c.mu.Unlock()
		if eof {
			return "", c.goneErr()
		}
		select {
		case <-c.more:
		case <-t.C:
			return "", fmt.Errorf("child %s printed nothing within %v", c.role, timeout)
		}
	}
}

// goneErr describes a child whose stdout closed, with its exit status if
// it comes within a moment.
func (c *Child) goneErr() error {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-c.done:
		if c.exitErr != nil {
			return fmt.Errorf("child %s %w: %v", c.role, errChildGone, c.exitErr)
		}
		return fmt.Errorf("child %s %w: exited", c.role, errChildGone)
	case <-t.C:
		return fmt.Errorf("child %s %w", c.role, errChildGone)
	}
}

// Expect waits up to timeout for a line that starts with prefix, skipping
// others, and returns the fields after the prefix. It fails t if none
// comes, quoting what the child printed instead.
func (c *Child) Expect(t testing.TB, prefix string, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var skipped []string
	for {
		line, err := c.Line(time.Until(deadline))
		if err != nil {
			msg := fmt.Sprintf("testenv: no line %q: %v", prefix, err)
			if len(skipped) > 0 {
				msg += "; it printed:\n" + strings.Join(skipped, "\n")
			}
			t.Fatal(msg)
			return nil
		}
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return strings.Fields(rest)
		}
		if skipped = append(skipped, line); len(skipped) > 10 {
			skipped = skipped[1:]
		}
	}
}
