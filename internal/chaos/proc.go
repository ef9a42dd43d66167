package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CoordMemberPackage is the program ProcCluster runs as its members.
const CoordMemberPackage = "github.com/coordkit/coord/internal/bench/coordmember"

// ProcConfig configures a ProcCluster.
type ProcConfig struct {
	// Binary is a built coordmember. Empty: NewProcCluster builds one with
	// "go build" (the working directory must be inside the coord module).
	Binary string
	// Dir holds the members' data directories. Empty: a temporary directory
	// that Stop removes.
	Dir string
	// LogDir receives m1.log, m2.log, m3.log (each member's stdout and
	// stderr). Empty: Dir.
	LogDir string
	// RaftIPs are the members' Raft IPs, one per member; they must be
	// distinct so that a partition can tell the members apart. Default
	// 127.0.0.11, 127.0.0.12, 127.0.0.13.
	RaftIPs []string
	// Args are extra coordmember flags for every member (default "-log info").
	Args []string
}

// ProcCluster is a coord ensemble of coordmember processes on this machine:
// client (ZooKeeper protocol) ports on 127.0.0.1, Raft on one loopback IP
// per member, so that iptables rules can partition them.
type ProcCluster struct {
	bin     string
	base    string
	ownBase bool
	logDir  string
	args    []string
	members []*procMember
	fw      *firewall
	fwErr   error

	mu      sync.Mutex // guards members' processes
	stopped bool
}

type procMember struct {
	n        int
	zkAddr   string
	raftAddr string
	dataDir  string
	logPath  string

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// NewProcCluster prepares (and if needed builds) a three-member ensemble;
// Start starts it.
func NewProcCluster(ctx context.Context, cfg ProcConfig) (*ProcCluster, error) {
	ips := cfg.RaftIPs
	if len(ips) == 0 {
		ips = []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}
	}
	p := &ProcCluster{base: cfg.Dir, args: cfg.Args}
	if p.args == nil {
		p.args = []string{"-log", "info"}
	}
	if p.base == "" {
		d, err := os.MkdirTemp("", "coordchaos-")
		if err != nil {
			return nil, err
		}
		p.base, p.ownBase = d, true
	}
	p.logDir = cfg.LogDir
	if p.logDir == "" {
		p.logDir = p.base
	}
	if err := os.MkdirAll(p.logDir, 0o755); err != nil {
		p.cleanupBase()
		return nil, err
	}
	p.bin = cfg.Binary
	if p.bin == "" {
		bin, err := buildCoordMember(ctx, filepath.Join(p.base, "bin"))
		if err != nil {
			p.cleanupBase()
			return nil, err
		}
		p.bin = bin
	}
	zk, err := freePorts("127.0.0.1", len(ips))
	if err != nil {
		p.cleanupBase()
		return nil, err
	}
	for i, ip := range ips {
		raft, err := freePorts(ip, 1)
		if err != nil {
			p.cleanupBase()
			return nil, fmt.Errorf("raft address on %s: %w", ip, err)
		}
		n := i + 1
		p.members = append(p.members, &procMember{
			n:        n,
			zkAddr:   zk[i],
			raftAddr: raft[0],
			dataDir:  filepath.Join(p.base, fmt.Sprintf("m%d", n), "data"),
			logPath:  filepath.Join(p.logDir, fmt.Sprintf("m%d.log", n)),
		})
	}
	var suffix [2]byte
	rand.Read(suffix[:])
	p.fw, p.fwErr = newFirewall(chainName(hex.EncodeToString(suffix[:])), ips)
	return p, nil
}

// buildCoordMember builds coordmember into dir.
func buildCoordMember(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build coordmember: no go command in PATH (or pass a built binary): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "coordmember")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, CoordMemberPackage)
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s (run inside the coord module, or pass a built binary): %w: %s",
			CoordMemberPackage, err, strings.TrimSpace(msg.String()))
	}
	return out, nil
}

// freePorts returns n addresses on ip whose ports the OS just handed out.
func freePorts(ip string, n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

func (p *ProcCluster) cleanupBase() {
	if p.ownBase {
		os.RemoveAll(p.base)
	}
}

// Servers returns the client addresses.
func (p *ProcCluster) Servers() []string {
	out := make([]string, len(p.members))
	for i, m := range p.members {
		out[i] = m.zkAddr
	}
	return out
}

// LogFiles returns the members' log files.
func (p *ProcCluster) LogFiles() []string {
	out := make([]string, len(p.members))
	for i, m := range p.members {
		out[i] = m.logPath
	}
	return out
}

func (p *ProcCluster) membersFlag() string {
	var parts []string
	for _, m := range p.members {
		parts = append(parts, fmt.Sprintf("%d=%s", m.n, m.raftAddr))
	}
	return strings.Join(parts, ",")
}

func (p *ProcCluster) member(n int) (*procMember, error) {
	if n < 1 || n > len(p.members) {
		return nil, fmt.Errorf("no member %d (1..%d)", n, len(p.members))
	}
	return p.members[n-1], nil
}

// running reports whether m's process has not exited; p.mu held.
func (m *procMember) running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// launch starts member m's process; p.mu held.
func (p *ProcCluster) launch(m *procMember) error {
	if p.stopped {
		return errors.New("cluster stopped")
	}
	if m.running() {
		return nil
	}
	if err := os.MkdirAll(m.dataDir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	args := append([]string{
		"-id", strconv.Itoa(m.n), "-members", p.membersFlag(),
		"-dir", m.dataDir, "-zk", m.zkAddr,
	}, p.args...)
	fmt.Fprintf(logf, "=== chaos: start member %d at %s: %s %s\n", m.n,
		time.Now().Format("15:04:05.000"), p.bin, strings.Join(args, " "))
	cmd := exec.Command(p.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own session like the cluster scripts' setsid; die with this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start member %d: %w", m.n, err)
	}
	done := make(chan struct{})
	m.cmd, m.done = cmd, done
	go func() { // ends when the process exits; Stop makes sure it does
		// Members die by design here; how one ended is in its log and
		// in the nemesis log, not in the exit status.
		_ = cmd.Wait()
		close(done)
	}()
	return nil
}

// Start starts all members and waits until every one serves.
func (p *ProcCluster) Start(ctx context.Context) error {
	p.mu.Lock()
	for _, m := range p.members {
		if err := p.launch(m); err != nil {
			p.mu.Unlock()
			return err
		}
	}
	p.mu.Unlock()
	all := make([]int, len(p.members))
	for i := range all {
		all[i] = i + 1
	}
	return waitServing(ctx, p.Servers(), all...)
}

// signalMember sends sig to member n if it runs and returns its done channel.
func (p *ProcCluster) signalMember(n int, sigs ...syscall.Signal) (<-chan struct{}, int, error) {
	m, err := p.member(n)
	if err != nil {
		return nil, 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !m.running() {
		return nil, 0, nil
	}
	for _, sig := range sigs {
		// Fails only if the process has exited meanwhile, which done
		// reports to the caller.
		_ = m.cmd.Process.Signal(sig)
	}
	return m.done, m.cmd.Process.Pid, nil
}

// Kill sends SIGKILL to member n and waits until the process has exited.
func (p *ProcCluster) Kill(ctx context.Context, n int) error {
	done, pid, err := p.signalMember(n, syscall.SIGKILL)
	if err != nil {
		return err
	}
	if done == nil {
		return fmt.Errorf("member %d is not running", n)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("member %d (pid %d) did not die: %w", n, pid, ctx.Err())
	}
}

// stopMember stops member n gracefully (SIGTERM, after SIGCONT in case it
// is paused), then with SIGKILL after grace.
func (p *ProcCluster) stopMember(n int, grace time.Duration) error {
	done, pid, err := p.signalMember(n, syscall.SIGCONT, syscall.SIGTERM)
	if err != nil || done == nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	// Member n exists (the call above found it), so there is no error to
	// see; whether it dies is what the wait below checks.
	_, _, _ = p.signalMember(n, syscall.SIGKILL)
	t2 := time.NewTimer(10 * time.Second)
	defer t2.Stop()
	select {
	case <-done:
		return nil
	case <-t2.C:
		return fmt.Errorf("member %d (pid %d) does not die", n, pid)
	}
}

// Restart stops member n if it runs, starts it again and waits until it
// serves (and a leader exists) or ctx ends.
func (p *ProcCluster) Restart(ctx context.Context, n int) error {
	m, err := p.member(n)
	if err != nil {
		return err
	}
	if err := p.stopMember(n, 10*time.Second); err != nil {
		return err
	}
	p.mu.Lock()
	err = p.launch(m)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if err := waitServing(ctx, p.Servers(), n); err != nil {
		return fmt.Errorf("member %d restarted (log %s) but %w", n, m.logPath, err)
	}
	return nil
}

// Pid returns member n's pid, 0 if it does not run.
func (p *ProcCluster) Pid(n int) int {
	m, err := p.member(n)
	if err != nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !m.running() {
		return 0
	}
	return m.cmd.Process.Pid
}

// Leader asks every member for its mode (srvr) and returns the leader.
func (p *ProcCluster) Leader(ctx context.Context) (int, error) {
	return leaderByMode(ctx, p.Servers())
}

func (p *ProcCluster) firewall() (*firewall, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fw, p.fwErr
}

// CanPartition reports whether the iptables chain could be set up.
func (p *ProcCluster) CanPartition() bool {
	fw, _ := p.firewall()
	return fw != nil
}

// PartitionReason says why CanPartition is false.
func (p *ProcCluster) PartitionReason() string {
	if _, err := p.firewall(); err != nil {
		return err.Error()
	}
	return ""
}

// Isolate drops member n's Raft traffic to and from the other members.
func (p *ProcCluster) Isolate(n int) error {
	fw, err := p.firewall()
	if fw == nil {
		return fmt.Errorf("cannot partition: %v", err)
	}
	return fw.isolate(n)
}

// Heal removes all partitions.
func (p *ProcCluster) Heal() error {
	fw, _ := p.firewall()
	if fw == nil {
		return nil
	}
	return fw.heal()
}

// Stop stops every member, removes the iptables chain and, if NewProcCluster
// made it, the data directory. Safe to call more than once.
func (p *ProcCluster) Stop() error {
	var errs []error
	for _, m := range p.members {
		// All at once; m comes from p.members, so signalMember cannot fail,
		// and stopMember below waits for each.
		_, _, _ = p.signalMember(m.n, syscall.SIGCONT, syscall.SIGTERM)
	}
	for _, m := range p.members {
		if err := p.stopMember(m.n, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	p.mu.Lock()
	p.stopped = true
	fw := p.fw
	p.fw = nil
	if fw != nil && p.fwErr == nil {
		p.fwErr = errors.New("cluster stopped")
	}
	p.mu.Unlock()
	if fw != nil {
		if err := fw.remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.ownBase {
		// keep the logs if they live in the base directory
		for _, m := range p.members {
			os.RemoveAll(filepath.Dir(m.dataDir))
		}
		os.RemoveAll(filepath.Join(p.base, "bin"))
		if p.logDir != p.base {
			os.RemoveAll(p.base)
		}
	}
	return errors.Join(errs...)
}

// Describe names the ensemble.
func (p *ProcCluster) Describe() string {
	var raft []string
	for _, m := range p.members {
		raft = append(raft, m.raftAddr)
	}
	part := "none (" + p.PartitionReason() + ")"
	if fw, _ := p.firewall(); fw != nil {
		part = "iptables chain " + fw.chain
	}
	return fmt.Sprintf("coord ProcCluster: %d coordmember processes, clients %s, Raft %s, partitions %s",
		len(p.members), strings.Join(p.Servers(), ","), strings.Join(raft, ","), part)
}
