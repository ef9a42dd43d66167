package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ScriptCluster drives an ensemble through a script with zkbench's cluster
// script interface (start, stop, kill N, restart N, leader, pids, servers,
// describe). It can partition only if the script also answers "isolate N"
// and "heal"; Start probes "heal" once to find out.
type ScriptCluster struct {
	script string

	mu        sync.Mutex
	servers   []string
	partition bool
	describe  string
}

// NewScriptCluster returns a cluster driven by the script at path.
func NewScriptCluster(path string) (*ScriptCluster, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(abs); err != nil {
		return nil, fmt.Errorf("cluster script: %w", err)
	}
	return &ScriptCluster{script: abs}, nil
}

// run runs the script with args and returns its standard output.
func (s *ScriptCluster) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.script, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second // members inherit no pipes, but be sure
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 400 {
			msg = "..." + msg[len(msg)-400:]
		}
		if msg != "" {
			return stdout.String(), fmt.Errorf("%s %s: %w: %s", filepath.Base(s.script), strings.Join(args, " "), err, msg)
		}
		return stdout.String(), fmt.Errorf("%s %s: %w", filepath.Base(s.script), strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

// Start runs "start", reads "servers" and "describe" and probes "heal".
func (s *ScriptCluster) Start(ctx context.Context) error {
	if _, err := s.run(ctx, "start"); err != nil {
		return err
	}
	out, err := s.run(ctx, "servers")
	if err != nil {
		return err
	}
	var servers []string
	for _, a := range strings.Split(strings.TrimSpace(out), ",") {
		if a = strings.TrimSpace(a); a != "" {
			servers = append(servers, a)
		}
	}
	if len(servers) == 0 {
		return fmt.Errorf("%s servers printed no address", filepath.Base(s.script))
	}
	desc, err := s.run(ctx, "describe")
	if err != nil || strings.TrimSpace(desc) == "" {
		desc = "cluster script " + filepath.Base(s.script)
	}
	_, herr := s.run(ctx, "heal")
	s.mu.Lock()
	s.servers = servers
	s.describe = strings.TrimSpace(desc)
	s.partition = herr == nil
	s.mu.Unlock()
	return nil
}

// Servers returns the addresses "servers" printed at Start.
func (s *ScriptCluster) Servers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.servers...)
}

// Stop runs "stop".
func (s *ScriptCluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var healErr error
	if s.CanPartition() {
		// Stop regardless; a failed heal may leave rules behind, so it is
		// reported too.
		_, healErr = s.run(ctx, "heal")
	}
	_, err := s.run(ctx, "stop")
	return errors.Join(healErr, err)
}

// Wipe runs "wipe" (stop and delete all state).
func (s *ScriptCluster) Wipe(ctx context.Context) error {
	_, err := s.run(ctx, "wipe")
	return err
}

// Kill runs "kill N".
func (s *ScriptCluster) Kill(ctx context.Context, n int) error {
	_, err := s.run(ctx, "kill", strconv.Itoa(n))
	return err
}

// Restart runs "restart N", which returns once member N serves.
func (s *ScriptCluster) Restart(ctx context.Context, n int) error {
	_, err := s.run(ctx, "restart", strconv.Itoa(n))
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("member %d does not serve: %w (%v)", n, ctx.Err(), err)
	}
	return err
}

// Pid parses "pids".
func (s *ScriptCluster) Pid(n int) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.run(ctx, "pids")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == strconv.Itoa(n) {
			pid, _ := strconv.Atoi(f[1])
			return pid
		}
	}
	return 0
}

// Leader runs "leader".
func (s *ScriptCluster) Leader(ctx context.Context) (int, error) {
	out, err := s.run(ctx, "leader")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return 0, fmt.Errorf("leader printed %q", strings.TrimSpace(out))
	}
	return n, nil
}

// CanPartition reports whether the script answered "heal" at Start.
func (s *ScriptCluster) CanPartition() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.partition
}

// Isolate runs "isolate N".
func (s *ScriptCluster) Isolate(n int) error {
	if !s.CanPartition() {
		return errors.New("the cluster script cannot partition")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.run(ctx, "isolate", strconv.Itoa(n))
	return err
}

// Heal runs "heal".
func (s *ScriptCluster) Heal() error {
	if !s.CanPartition() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.run(ctx, "heal")
	return err
}

// Describe returns what "describe" printed at Start.
func (s *ScriptCluster) Describe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.describe == "" {
		return "cluster script " + s.script
	}
	return s.describe
}
