package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Cluster is a three-member ensemble that the suite can fault. Members are
// numbered 1..len(Servers()).
type Cluster interface {
	// Servers returns the members' client addresses (host:port); index i is
	// member i+1.
	Servers() []string
	// Start starts every member and returns once all of them serve.
	Start(ctx context.Context) error
	// Stop stops every member and removes whatever Start set up (firewall
	// rules included). It is safe to call more than once.
	Stop() error
	// Kill sends SIGKILL to member n and returns once the process is gone.
	Kill(ctx context.Context, n int) error
	// Restart starts member n again (stopping it first if it runs) and
	// returns once it serves, or an error saying why it does not.
	Restart(ctx context.Context, n int) error
	// Pid returns member n's process id, 0 if it does not run. The nemesis
	// pauses members by sending SIGSTOP and SIGCONT to this pid.
	Pid(n int) int
	// Leader returns the member that leads right now.
	Leader(ctx context.Context) (int, error)
	// CanPartition reports whether Isolate and Heal work.
	CanPartition() bool
	// Isolate cuts member n off from the other members (their peer traffic;
	// clients can still reach it).
	Isolate(n int) error
	// Heal removes every cut that Isolate made.
	Heal() error
	// Describe names the implementation and its settings in one line.
	Describe() string
}

var modeRE = regexp.MustCompile(`(?m)^Mode: ([a-z]+)`)

// fourLetter sends a ZooKeeper four-letter word to addr and returns the
// answer (the server closes the connection after it).
func fourLetter(ctx context.Context, addr, word string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, word); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// memberMode returns "leader", "follower", ... or "" when the member at
// addr does not serve.
func memberMode(ctx context.Context, addr string) string {
	out, err := fourLetter(ctx, addr, "srvr", time.Second)
	if err != nil && out == "" {
		return ""
	}
	if m := modeRE.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// modes asks every member for its mode at once.
func modes(ctx context.Context, servers []string) []string {
	out := make([]string, len(servers))
	var wg sync.WaitGroup
	for i, a := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = memberMode(ctx, a)
		}()
	}
	wg.Wait()
	return out
}

// leaderByMode returns the member whose srvr answer says leader.
func leaderByMode(ctx context.Context, servers []string) (int, error) {
	ms := modes(ctx, servers)
	for i, m := range ms {
		if m == "leader" {
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("no member reports Mode: leader (modes %s)", strings.Join(ms, ","))
}

// serving reports whether every listed member (1-based) answers srvr as a
// leader or follower and some member leads.
func serving(ctx context.Context, servers []string, members ...int) bool {
	ms := modes(ctx, servers)
	leader := false
	for _, m := range ms {
		leader = leader || m == "leader"
	}
	for _, n := range members {
		if m := ms[n-1]; m != "leader" && m != "follower" {
			return false
		}
	}
	return leader
}

// waitServing polls until serving holds or ctx ends.
func waitServing(ctx context.Context, servers []string, members ...int) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if serving(ctx, servers, members...) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("members %v do not serve: %w (modes %s)", members, ctx.Err(),
				strings.Join(modes(context.Background(), servers), ","))
		case <-t.C:
		}
	}
}
