// Command chaos runs the nemesis suite of package internal/chaos against an
// ensemble driven by a zkbench cluster script, or against a coord ensemble
// of coordmember processes that it manages itself (-proc).
//
//	go run ./internal/chaos/cmd/chaos -cluster internal/bench/cluster-coord.sh -duration 10m -seed 7 -out /tmp/x
//	go run ./internal/chaos/cmd/chaos -cluster "$ZKBENCH/cluster.sh" -duration 60s # $ZKBENCH: a zkbench checkout
//	go run ./internal/chaos/cmd/chaos -proc -duration 2m
//
// It prints the nemesis actions, then one line per check and
// "chaos: P passed, F failed". Exit status: 0 all checks passed, 1 a check
// failed, 2 the run could not be carried out. SIGINT stops the run, heals
// and stops the ensemble.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coordkit/coord/internal/chaos"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		script     = flag.String("cluster", "", "cluster script with zkbench's interface (start|stop|kill N|restart N|leader|pids|servers|describe)")
		proc       = flag.Bool("proc", false, "run a coord ensemble of coordmember processes (partitions with iptables when root)")
		member     = flag.String("coordmember", "", "with -proc: a built coordmember binary (default: go build it)")
		memberArgs = flag.String("member-args", "-log info", "with -proc: extra coordmember flags for every member")
		duration   = flag.Duration("duration", 60*time.Second, "fault period")
		seed       = flag.Uint64("seed", 0, "schedule seed (0: time-based, printed)")
		outDir     = flag.String("out", "", "output directory (default: a new directory under the system temp dir)")
		maxGap     = flag.Duration("max-gap", 10*time.Second, "longest write gap the availability check accepts")
		keep       = flag.Bool("keep", false, "with -cluster: leave the ensemble running at the end")
		wipe       = flag.Bool("wipe", false, "with -cluster: run the script's wipe before start (fresh state)")
		checkTime  = flag.Duration("check-time", 2*time.Minute, "total time the linearizability check may take")
		opTimeout  = flag.Duration("op-timeout", 10*time.Second, "an operation without an answer this long has an unknown outcome")
		sessionTTL = flag.Duration("session-timeout", 6*time.Second, "session timeout the clients request")
		partitions = flag.Bool("partitions", true, "put partitions in the schedule where the cluster can make them (false: the schedule a cluster without them gets, to compare)")
	)
	flag.Parse()
	if (*script == "") == !*proc {
		fmt.Fprintln(os.Stderr, "chaos: give exactly one of -cluster SCRIPT or -proc")
		flag.Usage()
		return 2
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano()%1_000_000_000) + 1
	}
	if *outDir == "" {
		d, err := os.MkdirTemp("", fmt.Sprintf("chaos-s%d-", *seed))
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
		*outDir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // a second signal kills at once
		<-ctx.Done()
		stop()
	}()

	var cl chaos.Cluster
	if *proc {
		pc, err := chaos.NewProcCluster(ctx, chaos.ProcConfig{Binary: *member, LogDir: filepath.Join(*outDir, "members"), Args: strings.Fields(*memberArgs)})
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
		cl = pc
	} else {
		sc, err := chaos.NewScriptCluster(*script)
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
		if *wipe {
			if err := sc.Wipe(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "chaos:", err)
				return 2
			}
		}
		cl = sc
	}
	stopCluster := func() {
		if *keep && !*proc {
			fmt.Fprintln(os.Stderr, "chaos: -keep: the ensemble is left running")
			return
		}
		if err := cl.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: stop:", err)
		}
	}
	fmt.Printf("# chaos: seed=%d out=%s\n", *seed, *outDir)
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err := cl.Start(sctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: start:", err)
		if err := cl.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: stop:", err)
		}
		return 2
	}
	runCl := cl
	if !*partitions {
		runCl = noPartitions{cl}
	}
	rep, err := chaos.Run(ctx, chaos.Config{
		Cluster: runCl, Duration: *duration, Seed: *seed, OutDir: *outDir, MaxGap: *maxGap,
		CheckBudget: *checkTime, OpTimeout: *opTimeout, SessionTimeout: *sessionTTL,
	})
	if pc, ok := cl.(*chaos.ProcCluster); ok {
		defer fmt.Printf("# member logs: %s\n", filepath.Dir(pc.LogFiles()[0]))
	}
	stopCluster()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	fmt.Printf("# output: %s\n", *outDir)
	if !rep.OK() {
		return 1
	}
	return 0
}

// noPartitions is a cluster whose partitions the schedule leaves out.
type noPartitions struct{ chaos.Cluster }

func (noPartitions) CanPartition() bool { return false }
