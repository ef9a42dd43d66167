// Command slowconsumer measures a member's memory with many sessions and
// watches, and while consumers stop reading: a Go persistent Watcher whose
// channel nobody reads, and a ZooKeeper client that stops reading its
// socket, through -duration of writes to the watched node.
//
//	go run ./internal/bench/slowconsumer -sessions 10000 -watches 100000 -duration 60s
//	go run ./internal/bench/slowconsumer -duration 60s -unbounded   # MaxWatcherEvents huge, for contrast
//
// It prints heap in use (runtime.MemStats.HeapInuse, after a GC) at each
// step; one member in this process holds the tree.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
	"github.com/coordkit/coord/zkserver"
)

func main() {
	sessions := flag.Int("sessions", 10000, "sessions to open")
	watches := flag.Int("watches", 100000, "one-shot watches set over those sessions")
	duration := flag.Duration("duration", 60*time.Second, "writes to the watched node while its consumers stall")
	unbounded := flag.Bool("unbounded", false, "set MaxWatcherEvents so high that the Go watcher never overflows")
	flag.Parse()
	if err := run(*sessions, *watches, *duration, *unbounded); err != nil {
		log.Fatal(err)
	}
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

func run(sessions, watches int, duration time.Duration, unbounded bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "slowconsumer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	raft := ln.Addr().String()
	ln.Close()
	opts := coord.Options{ID: 1, Members: map[uint64]string{1: raft}, DataDir: dir}
	if unbounded {
		opts.MaxWatcherEvents = 1 << 30
	}
	c, err := coord.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	s := c.Session()
	if _, err := s.Create(ctx, "/w", nil, coord.Persistent); err != nil {
		return err
	}
	base := heapMB()
	fmt.Printf("step=open heap_mb=%.1f\n", base)

	start := time.Now()
	open := make([]*coord.Session, 0, sessions)
	for range sessions {
		x, err := c.NewSession(ctx)
		if err != nil {
			return err
		}
		open = append(open, x)
	}
	withSessions := heapMB()
	fmt.Printf("step=sessions sessions=%d heap_mb=%.1f bytes_per_session=%.0f took_s=%.1f\n",
		sessions, withSessions, (withSessions-base)*(1<<20)/float64(max(sessions, 1)), time.Since(start).Seconds())
	start = time.Now()
	for i := range watches {
		x := open[i%len(open)]
		if _, _, _, err := x.ExistsW(ctx, fmt.Sprintf("/w/n%d", i)); err != nil {
			return err
		}
	}
	withWatches := heapMB()
	fmt.Printf("step=watches watches=%d heap_mb=%.1f bytes_per_watch=%.0f took_s=%.1f\n",
		watches, withWatches, (withWatches-withSessions)*(1<<20)/float64(max(watches, 1)), time.Since(start).Seconds())

	// The stalled consumers: a Watcher nobody reads and a ZooKeeper client
	// that sets a persistent watch and then reads nothing.
	if _, err := s.Create(ctx, "/hot", nil, coord.Persistent); err != nil {
		return err
	}
	w, err := s.AddWatch(ctx, "/hot", false)
	if err != nil {
		return err
	}
	defer w.Remove()
	zl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		if err := zkserver.Serve(sctx, c, zl); err != nil {
			fmt.Fprintln(os.Stderr, "slowconsumer: serve:", err)
		}
	}()
	zc, err := stalledClient(zl.Addr().String(), "/hot")
	if err != nil {
		return err
	}
	defer zc.Close()

	stalled := heapMB()
	fmt.Printf("step=stalled heap_mb=%.1f\n", stalled)
	data := make([]byte, 64)
	end := time.Now().Add(duration)
	next := time.Now().Add(5 * time.Second)
	writes, peak := 0, stalled
	for time.Now().Before(end) {
		if _, err := s.Set(ctx, "/hot", data, -1); err != nil {
			return err
		}
		writes++
		if time.Now().After(next) {
			next = next.Add(5 * time.Second)
			h := heapMB()
			peak = max(peak, h)
			fmt.Printf("step=writing writes=%d heap_mb=%.1f zk_client_open=%t\n", writes, h, connOpen(zc))
		}
	}
	h := heapMB()
	fmt.Printf("step=done writes=%d heap_mb=%.1f peak_mb=%.1f growth_mb=%.1f zk_client_open=%t unbounded=%t\n",
		writes, h, max(peak, h), max(peak, h)-stalled, connOpen(zc), unbounded)
	return nil
}

// stalledClient opens a ZooKeeper session on addr, sets a persistent watch
// on path and never reads again.
func stalledClient(addr, path string) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		// Let the server's queue, not the kernel's, hold the backlog.
		if err := tc.SetReadBuffer(4 << 10); err != nil {
			nc.Close()
			return nil, err
		}
	}
	req := jute.AppendRecordFrame(nil, &jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), OmitReadOnly: true})
	req = jute.AppendRecordFrame(req, &jute.RequestHeader{Xid: 1, Type: jute.OpAddWatch},
		&jute.AddWatchRequest{Path: path, Mode: jute.AddWatchModePersistent})
	if _, err := nc.Write(req); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// connOpen reports whether the server still has the connection open: a
// write succeeds until the server has closed it and the client noticed.
func connOpen(nc net.Conn) bool {
	nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := nc.Write(jute.AppendRecordFrame(nil, &jute.RequestHeader{Xid: -2, Type: jute.OpPing}))
	return err == nil
}
