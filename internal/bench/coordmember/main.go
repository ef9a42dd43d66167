// Command coordmember runs one coord member that serves ZooKeeper's client
// protocol (zkserver), for benchmarking coord with ZooKeeper's own clients.
// internal/bench/cluster-coord.sh starts three of them.
//
//	coordmember -id 1 -members 1=127.0.0.1:21821,2=127.0.0.1:21822,3=127.0.0.1:21823 \
//	    -dir /tmp/zkbench-coord/m1/data -zk 127.0.0.1:21811
//
// SIGTERM or SIGINT stops it gracefully: the ZooKeeper port closes (client
// sessions are detached, so they can move to another member), then the
// member closes.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/zkserver"
)

func main() {
	var (
		id         = flag.Uint64("id", 0, "member id (> 0)")
		members    = flag.String("members", "", "initial members: id=host:port,... (Raft addresses)")
		dir        = flag.String("dir", "", "data directory")
		zkAddr     = flag.String("zk", "127.0.0.1:2181", "ZooKeeper client address to serve")
		tick       = flag.Duration("tick", zkserver.DefaultTickTime, "ZooKeeper tickTime (session timeouts: 2 to 20 ticks)")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile here until the member stops")
		logLevel   = flag.String("log", "warn", "log level: debug, info, warn, error")
		debugAddr  = flag.String("debug", "", "serve net/http/pprof on this address (goroutine dumps of a stuck member)")
	)
	flag.Parse()
	if *debugAddr != "" {
		ln, err := net.Listen("tcp", *debugAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "coordmember: -debug:", err)
			os.Exit(1)
		}
		// Serves for the process's lifetime; net/http/pprof registers on the
		// default mux. Losing it does not stop the member, so say so and go on.
		go func() {
			if err := http.Serve(ln, nil); err != nil {
				fmt.Fprintln(os.Stderr, "coordmember: -debug:", err)
			}
		}()
	}
	if err := run(*id, *members, *dir, *zkAddr, *tick, *cpuprofile, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "coordmember:", err)
		os.Exit(1)
	}
}

func run(id uint64, memberList, dir, zkAddr string, tick time.Duration, cpuprofile, logLevel string) error {
	ms, err := coord.ParseMembers(memberList)
	if err != nil {
		return fmt.Errorf("-members: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log: %v", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	c, err := coord.Open(octx, coord.Options{ID: id, Members: ms, DataDir: dir, Logger: log})
	cancel()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", zkAddr)
	if err != nil {
		c.Close()
		return err
	}
	log.Info("member serving", "id", id, "zk", zkAddr)
	err = zkserver.Serve(ctx, c, ln, zkserver.WithTickTime(tick), zkserver.WithLogger(log))
	c.Close()
	return err
}
