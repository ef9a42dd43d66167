package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if role := Role(); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

func runRole(role string) int {
	switch role {
	case "echo": // prints its arguments and a spec, then waits to be killed
		spec, err := ChildSpec(parseMembers)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("noise")
		fmt.Printf("SPEC %d %s %s %v %s\n", spec.ID, spec.Addr, spec.Dir, spec.Join, formatMembers(spec.Members))
		fmt.Println("WORD", Arg("WORD"))
		select {}
	case "count": // prints 1..N and exits 3
		for i := 1; i <= 5000; i++ {
			fmt.Println(i)
		}
		return 3
	}
	return 2
}

// Stand-ins for coord.FormatMembers and coord.ParseMembers.
func formatMembers(m map[uint64]string) string {
	var parts []string
	for id := uint64(1); id <= 9; id++ {
		if a, ok := m[id]; ok {
			parts = append(parts, fmt.Sprintf("%d=%s", id, a))
		}
	}
	return strings.Join(parts, ",")
}

func parseMembers(s string) (map[uint64]string, error) {
	m := map[uint64]string{}
	for _, p := range strings.Split(s, ",") {
		var id uint64
		var addr string
		if _, err := fmt.Sscanf(strings.Replace(p, "=", " ", 1), "%d %s", &id, &addr); err != nil {
			return nil, err
		}
		m[id] = addr
	}
	return m, nil
}

func TestChildLinesArgsAndKill(t *testing.T) {
	spec := Spec{ID: 3, Members: map[uint64]string{1: "127.0.0.1:1", 3: "127.0.0.1:3"}, Addr: "127.0.0.1:3", Dir: "/tmp/x"}
	args := spec.Args(formatMembers)
	args["WORD"] = "hello"
	c := StartChild(t, ChildConfig{Role: "echo", Args: args})
	if got := c.Expect(t, "SPEC ", 30*time.Second); strings.Join(got, " ") != "3 127.0.0.1:3 /tmp/x false 1=127.0.0.1:1,3=127.0.0.1:3" {
		t.Fatalf("spec in the child: %q", got)
	}
	if line, err := c.Line(10 * time.Second); err != nil || line != "WORD hello" {
		t.Fatalf("Line: %q, %v", line, err)
	}
	if _, err := c.Line(100 * time.Millisecond); err == nil || errors.Is(err, errChildGone) {
		t.Fatalf("Line of a silent child: %v", err)
	}
	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(200 * time.Millisecond); err == nil {
		t.Fatal("a paused child exited")
	}
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if c.ExitErr() == nil {
		t.Fatal("a killed child exited cleanly")
	}
	if _, err := c.Line(time.Second); !errors.Is(err, errChildGone) {
		t.Fatalf("Line after exit: %v", err)
	}
}

func TestChildOnLineSeesEverything(t *testing.T) {
	var mu sync.Mutex
	n := 0
	c := StartChild(t, ChildConfig{Role: "count", OnLine: func(string) { mu.Lock(); n++; mu.Unlock() }})
	if err := c.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 5000 {
		t.Fatalf("OnLine saw %d lines, want 5000", n)
	}
	if c.ExitErr() == nil {
		t.Fatal("exit status 3 reported as success")
	}
}

type fake struct {
	id     uint64
	s      Spec
	closed chan struct{}
}

func (f *fake) Close() error {
	close(f.closed)
	if f.id == 2 {
		return errors.New("boom")
	}
	return nil
}

func TestEnsemble(t *testing.T) {
	var mu sync.Mutex
	opened := map[uint64]int{}
	drained := 0
	e := NewEnsemble(t, Config[*fake]{
		N: 3,
		Open: func(ctx context.Context, s Spec) (*fake, error) {
			if _, ok := ctx.Deadline(); !ok {
				return nil, errors.New("no deadline")
			}
			mu.Lock()
			opened[s.ID]++
			mu.Unlock()
			return &fake{id: s.ID, s: s, closed: make(chan struct{})}, nil
		},
		Drain:  func(*fake) { mu.Lock(); drained++; mu.Unlock() },
		Leader: func(*fake) (uint64, bool) { return 2, true },
	})
	if len(e.Members()) != 3 {
		t.Fatalf("members: %v", e.Members())
	}
	if err := e.Start(1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if ids := e.IDs(); fmt.Sprint(ids) != "[1 2 3]" {
		t.Fatalf("IDs: %v", ids)
	}
	f1, _ := e.Get(1)
	if f1.s.Addr != e.Members()[1] || f1.s.Dir != e.DataDir(1) || f1.s.Join {
		t.Fatalf("spec: %+v", f1.s)
	}
	if l, err := e.Leader(time.Second); err != nil || l != 2 {
		t.Fatalf("Leader: %d, %v", l, err)
	}
	if err := e.Stop(2); err == nil {
		t.Fatal("Stop lost Close's error")
	}
	if _, err := e.Leader(50 * time.Millisecond); err == nil {
		t.Fatal("a leader that does not run here was returned")
	}
	e.Crash(3) // no Crash func: closes
	if _, ok := e.Get(3); ok {
		t.Fatal("crashed member still tracked")
	}
	if _, err := e.Restart(3); err != nil {
		t.Fatal(err)
	}
	id, addr, err := e.Reserve()
	if err != nil || id != 4 || addr == "" {
		t.Fatalf("Reserve: %d %q %v", id, addr, err)
	}
	if err := e.CloseAll(); err != nil {
		t.Fatal(err)
	}
	if drained != 2 || len(e.IDs()) != 0 {
		t.Fatalf("CloseAll: drained %d, left %v", drained, e.IDs())
	}
	if opened[3] != 2 {
		t.Fatalf("member 3 opened %d times", opened[3])
	}
}
