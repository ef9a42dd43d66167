// Command cluster shows coord working as an ensemble of three processes.
//
// With no flags it starts three members as three child processes on
// loopback ports, shows which one leads, writes through one member and reads
// through another, kills the leader with SIGKILL and shows writes
// continuing, restarts the killed member and shows it caught up, then shuts
// everything down:
//
//	go run ./examples/cluster
//
// With -zk it gives each member a ZooKeeper client port; with -serve it keeps
// serving until interrupted (SIGINT or SIGTERM stops all three), so that
// ZooKeeper tools can connect:
//
//	go run ./examples/cluster -zk 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183 -serve
//	zkCli.sh -server 127.0.0.1:2181
//
// With -id it runs one member in the foreground, so three terminals can form
// an ensemble by hand; type "help" at its prompt:
//
//	go run ./examples/cluster -id 1 -members 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 -data /tmp/coord1
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/examples/internal/ensemble"
)

func main() {
	id := flag.Uint64("id", 0, "run one member with this id (1..n) instead of the demo")
	members := flag.String("members", "", "with -id: the initial members, id=host:port,...")
	data := flag.String("data", "", "with -id: this member's data directory; without: where the demo keeps its members (default: a temporary directory)")
	zk := flag.String("zk", "", "ZooKeeper client address(es): one host:port with -id, or one per member for the demo")
	serve := flag.Bool("serve", false, "keep the three members serving until interrupted instead of running the demo")
	control := flag.Bool("control", false, "with -id: print 'ready' and answer commands on stdin without a prompt (the demo drives its members this way)")
	verbose := flag.Bool("v", false, "log coord's messages to stderr")
	flag.Parse()

	var err error
	if *id != 0 {
		err = runMember(*id, *members, *data, *zk, *control, *verbose)
	} else {
		err = runDemo(*data, *zk, *serve, *verbose)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// ---- one member ----

func runMember(id uint64, membersFlag, dir, zkAddr string, control, verbose bool) error {
	if membersFlag == "" || dir == "" {
		return fmt.Errorf("-id needs -members and -data")
	}
	members, err := ensemble.ParseMembers(membersFlag)
	if err != nil {
		return err
	}
	opts := coord.Options{ID: id, Members: members, DataDir: dir}
	if verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !control {
		fmt.Printf("member %d: starting at %s, waiting for a quorum...\n", id, members[id])
	}
	c, err := coord.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	if zkAddr != "" {
		ln, err := net.Listen("tcp", zkAddr)
		if err != nil {
			return fmt.Errorf("ZooKeeper port: %w", err)
		}
		go func() {
			if err := serveZK(ctx, c, ln); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "member %d: ZooKeeper port: %v\n", id, err)
			}
		}()
	}
	if control {
		fmt.Println("ready")
	} else {
		leader, _ := c.Leader()
		fmt.Printf("member %d: running; leader is member %d. Type help.\n", id, leader)
		if zkAddr != "" {
			fmt.Printf("member %d: ZooKeeper clients can connect to %s\n", id, zkAddr)
		}
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		if !control {
			fmt.Print("> ")
		}
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				// stdin closed: keep serving until a signal, unless driven.
				if control {
					return nil
				}
				<-ctx.Done()
				return nil
			}
			if quit := command(ctx, c, line); quit {
				return nil
			}
		}
	}
}

// command runs one control line and prints "ok ..." or "err ...".
func command(ctx context.Context, c *coord.Coord, line string) (quit bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s := c.Session()
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	var out string
	var err error
	switch f[0] {
	case "quit", "exit":
		return true
	case "help":
		out = "commands: leader | members | create PATH [DATA] | set PATH DATA | get PATH | ls PATH | delete PATH | sync | quit"
	case "leader":
		l, ok := c.Leader()
		out = fmt.Sprintf("%d %v", l, ok)
	case "members":
		var m map[uint64]string
		if m, err = c.Members(ctx); err == nil {
			ids := make([]int, 0, len(m))
			for id := range m {
				ids = append(ids, int(id))
			}
			sort.Ints(ids)
			for _, id := range ids {
				out += fmt.Sprintf("%d=%s ", id, m[uint64(id)])
			}
		}
	case "create":
		out, err = s.Create(ctx, arg(1), []byte(strings.Join(f[min(2, len(f)):], " ")), coord.Persistent)
	case "set":
		var st *coord.Stat
		if st, err = s.Set(ctx, arg(1), []byte(strings.Join(f[min(2, len(f)):], " ")), -1); err == nil {
			out = fmt.Sprintf("version %d", st.Version)
		}
	case "get":
		var b []byte
		if b, _, err = s.Get(ctx, arg(1)); err == nil {
			out = string(b)
		}
	case "ls":
		var kids []string
		if kids, _, err = s.Children(ctx, arg(1)); err == nil {
			out = strings.Join(kids, " ")
		}
	case "delete":
		err = s.Delete(ctx, arg(1), -1)
	case "sync":
		err = s.Sync(ctx, "/")
	default:
		err = fmt.Errorf("unknown command %q (try help)", f[0])
	}
	if err != nil {
		fmt.Println("err", err)
	} else {
		fmt.Println("ok", out)
	}
	return false
}

// ---- the demo: three members as three processes ----

// child is one member process driven over stdin/stdout.
type child struct {
	id   uint64
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	mu   sync.Mutex
	dead bool
}

func startChild(id uint64, members, dir, zkAddr string, verbose bool) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-id", fmt.Sprint(id), "-members", members, "-data", dir, "-control"}
	if zkAddr != "" {
		args = append(args, "-zk", zkAddr)
	}
	if verbose {
		args = append(args, "-v")
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // a terminal's ^C goes to the parent only
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &child{id: id, cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}, nil
}

// waitReady waits for the child's "ready" line.
func (ch *child) waitReady() error {
	if !ch.out.Scan() {
		return fmt.Errorf("member %d exited before it was ready", ch.id)
	}
	if ch.out.Text() != "ready" {
		return fmt.Errorf("member %d: %s", ch.id, ch.out.Text())
	}
	return nil
}

// do sends one command and returns its answer.
func (ch *child) do(format string, args ...any) (string, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if _, err := fmt.Fprintf(ch.in, format+"\n", args...); err != nil {
		return "", fmt.Errorf("member %d: %w", ch.id, err)
	}
	if !ch.out.Scan() {
		return "", fmt.Errorf("member %d stopped answering", ch.id)
	}
	line := ch.out.Text()
	if rest, ok := strings.CutPrefix(line, "ok"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("member %d: %s", ch.id, strings.TrimPrefix(line, "err "))
}

func (ch *child) stop() {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.dead {
		return
	}
	ch.dead = true
	fmt.Fprintln(ch.in, "quit")
	ch.in.Close()
	done := make(chan struct{})
	go func() {
		// A member that was told to quit may still exit non-zero (its
		// ensemble already gone); the demo is shutting down either way.
		_ = ch.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = ch.cmd.Process.Kill() // fails only if it exited meanwhile; done says when
		<-done
	}
}

func (ch *child) kill() {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.dead = true
	// Kill fails only if the process already exited, and Wait then reports
	// the kill ("signal: killed"), which is what was asked for.
	_ = ch.cmd.Process.Kill()
	_ = ch.cmd.Wait()
}

func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

func runDemo(dir, zk string, serve, verbose bool) error {
	var zkAddrs []string
	if zk != "" {
		zkAddrs = strings.Split(zk, ",")
		if len(zkAddrs) != 3 {
			return fmt.Errorf("-zk needs three comma-separated addresses, one per member")
		}
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "coord-cluster-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	addrs, err := freePorts(3)
	if err != nil {
		return err
	}
	var spec []string
	for i, a := range addrs {
		spec = append(spec, fmt.Sprintf("%d=%s", i+1, a))
	}
	members := strings.Join(spec, ",")
	zkFor := func(id uint64) string {
		if zkAddrs == nil {
			return ""
		}
		return zkAddrs[id-1]
	}

	fmt.Printf("starting three members as three processes: %s\n", members)
	children := map[uint64]*child{}
	defer func() {
		var wg sync.WaitGroup
		for _, ch := range children {
			wg.Add(1)
			go func() { defer wg.Done(); ch.stop() }()
		}
		wg.Wait()
	}()
	start := time.Now()
	for id := uint64(1); id <= 3; id++ {
		ch, err := startChild(id, members, filepath.Join(dir, fmt.Sprintf("m%d", id)), zkFor(id), verbose)
		if err != nil {
			return err
		}
		children[id] = ch
	}
	for _, ch := range children {
		if err := ch.waitReady(); err != nil {
			return err
		}
	}
	fmt.Printf("ensemble formed in %v\n", time.Since(start).Round(time.Millisecond))

	if serve {
		for id := uint64(1); id <= 3; id++ {
			if a := zkFor(id); a != "" {
				fmt.Printf("member %d serves ZooKeeper clients on %s\n", id, a)
			}
		}
		fmt.Println("serving; press Ctrl-C (or send SIGTERM) to stop all three")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		fmt.Println("stopping")
		return nil
	}

	leader, err := leaderOf(children)
	if err != nil {
		return err
	}
	fmt.Printf("member %d leads\n", leader)
	writer, reader := others(leader)
	if _, err := children[writer].do("create /demo hello from member %d", writer); err != nil {
		return err
	}
	fmt.Printf("member %d wrote /demo\n", writer)
	if _, err := children[reader].do("sync"); err != nil {
		return err
	}
	got, err := children[reader].do("get /demo")
	if err != nil {
		return err
	}
	fmt.Printf("member %d reads /demo = %q\n", reader, got)

	fmt.Printf("killing the leader, member %d, with SIGKILL\n", leader)
	killed := time.Now()
	children[leader].kill()
	var recovered time.Duration
	for {
		if _, err := children[writer].do("set /demo written after the leader died"); err == nil {
			recovered = time.Since(killed)
			break
		}
		if time.Since(killed) > 30*time.Second {
			return fmt.Errorf("no write succeeded within 30s of the leader's death")
		}
	}
	newLeader, err := leaderOf(map[uint64]*child{writer: children[writer], reader: children[reader]})
	if err != nil {
		return err
	}
	fmt.Printf("writes continue: member %d wrote %v after the kill; member %d leads now\n",
		writer, recovered.Round(time.Millisecond), newLeader)
	if _, err := children[reader].do("sync"); err != nil {
		return err
	}
	got, err = children[reader].do("get /demo")
	if err != nil {
		return err
	}
	fmt.Printf("member %d reads /demo = %q\n", reader, got)

	fmt.Printf("restarting member %d from its data directory\n", leader)
	ch, err := startChild(leader, members, filepath.Join(dir, fmt.Sprintf("m%d", leader)), zkFor(leader), verbose)
	if err != nil {
		return err
	}
	children[leader] = ch
	if err := ch.waitReady(); err != nil {
		return err
	}
	if _, err := ch.do("sync"); err != nil {
		return err
	}
	got, err = ch.do("get /demo")
	if err != nil {
		return err
	}
	fmt.Printf("member %d caught up: /demo = %q\n", leader, got)
	fmt.Println("shutting down")
	return nil
}

// leaderOf asks the members who leads until one answers with a leader.
func leaderOf(children map[uint64]*child) (uint64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, ch := range children {
			ans, err := ch.do("leader")
			if err != nil {
				continue
			}
			var id uint64
			var ok bool
			if _, err := fmt.Sscan(ans, &id, &ok); err != nil {
				continue // an answer we cannot read is no leader; ask again
			}
			if ok && id != 0 {
				if _, live := children[id]; live {
					return id, nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("no leader")
}

// others returns the two member ids that are not id.
func others(id uint64) (uint64, uint64) {
	var out []uint64
	for m := uint64(1); m <= 3; m++ {
		if m != id {
			out = append(out, m)
		}
	}
	return out[0], out[1]
}
