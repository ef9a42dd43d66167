package chaos

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	chaosDuration = flag.Duration("chaos.duration", 25*time.Second, "TestChaos: fault period")
	chaosSeed     = flag.Uint64("chaos.seed", 0, "TestChaos: schedule seed (0: time-based, printed)")
	chaosOut      = flag.String("chaos.out", "", "TestChaos: output directory (default: a temporary directory, kept and printed on failure)")
	chaosBinary   = flag.String("chaos.coordmember", "", "TestChaos: a built coordmember (default: go build it)")
)

// logWriter passes whole lines to t.Log.
type logWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

// TestChaos runs the whole suite against a three-process coord ensemble
// (ProcCluster): workloads under kills, pauses and, as root, partitions.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the nemesis suite takes about a minute; skipped with -short")
	}
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()%1_000_000_000) + 1
	}
	t.Logf("chaos seed=%d (rerun with -chaos.seed=%d)", seed, seed)
	out := *chaosOut
	if out == "" {
		d, err := os.MkdirTemp("", "chaos-test-")
		if err != nil {
			t.Fatal(err)
		}
		out = d
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("chaos output kept in %s", out)
				return
			}
			os.RemoveAll(out)
		})
	} else {
		t.Cleanup(func() { t.Logf("chaos output in %s", out) })
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	t.Cleanup(stop)
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-10*time.Second))
		t.Cleanup(cancel)
	}
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	pc, err := NewProcCluster(bctx, ProcConfig{Binary: *chaosBinary, LogDir: filepath.Join(out, "members")})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pc.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = pc.Start(sctx)
	cancel()
	if err != nil {
		t.Fatalf("start: %v (member logs in %s)", err, filepath.Join(out, "members"))
	}
	rep, err := Run(ctx, Config{
		Cluster:     pc,
		Duration:    *chaosDuration,
		Seed:        seed,
		OutDir:      out,
		Out:         &logWriter{t: t},
		CheckBudget: 20 * time.Second,
		CheckPerKey: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Failed() {
		t.Errorf("%s", c.Line())
	}
}
