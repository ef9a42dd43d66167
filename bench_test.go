package coord

// Benchmarks of the workloads of the project's ZooKeeper comparison
// (BENCH.md, kept outside this repository), through the Go API
// with three members in this process. Run them one at a time on a quiet
// machine, e.g.:
//
//	go test -run '^$' -bench 'BenchmarkSeqSet|BenchmarkSet48' -benchtime 3000x .
//	go test -run '^$' -bench BenchmarkRestart200k -benchtime 1x .
//
// Each reports its figures with b.ReportMetric (p50/p99 in µs, ops/s).

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// latencies summarises durations.
type latencies []time.Duration

func (l latencies) report(b *testing.B, prefix string) {
	if len(l) == 0 {
		return
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	b.ReportMetric(float64(l[len(l)/2].Microseconds()), prefix+"p50_µs")
	b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), prefix+"p99_µs")
}

func benchCluster(b *testing.B, tweak func(*Options)) *testCluster {
	b.Helper()
	tc := newTestCluster(b, 3, tweak)
	tc.leader()
	return tc
}

// BenchmarkSeqSet: one goroutine, Set of 64 bytes through a follower (as
// zkbench's client 1 would most often be), then through the leader.
func BenchmarkSeqSet(b *testing.B) {
	for _, where := range []string{"follower", "leader"} {
		b.Run(where, func(b *testing.B) {
			tc := benchCluster(b, nil)
			id := tc.follower()
			if where == "leader" {
				id = tc.leader()
			}
			s := tc.get(id).Session()
			ctx := context.Background()
			if _, err := s.Create(ctx, "/seq", nil, Persistent); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 64)
			lat := make(latencies, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := s.Set(ctx, "/seq", data, -1); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			lat.report(b, "")
		})
	}
}

// BenchmarkSet48: 48 goroutines spread over the three members, each setting
// its own node.
func BenchmarkSet48(b *testing.B) {
	tc := benchCluster(b, nil)
	ctx := context.Background()
	const clients = 48
	for i := 0; i < clients; i++ {
		if _, err := tc.get(uint64(i%3+1)).Session().Create(ctx, fmt.Sprintf("/w%d", i), nil, Persistent); err != nil {
			b.Fatal(err)
		}
	}
	for id := uint64(1); id <= 3; id++ {
		tc.get(id).Session().Sync(ctx, "/")
	}
	data := make([]byte, 64)
	var next atomic.Int64
	var mu sync.Mutex
	var all latencies
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tc.get(uint64(i%3 + 1)).Session()
			p := fmt.Sprintf("/w%d", i)
			var lat latencies
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := s.Set(ctx, p, data, -1); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "ops/s")
	all.report(b, "")
}

// BenchmarkGet: local reads of random nodes among 1000, sequential latency
// and 48-goroutine throughput.
func BenchmarkGet(b *testing.B) {
	tc := benchCluster(b, nil)
	ctx := context.Background()
	s := tc.get(1).Session()
	for i := 0; i < 1000; i++ {
		if _, err := s.Create(ctx, fmt.Sprintf("/r%03d", i), make([]byte, 64), Persistent); err != nil {
			b.Fatal(err)
		}
	}
	for id := uint64(1); id <= 3; id++ {
		tc.get(id).Session().Sync(ctx, "/")
	}
	b.Run("seq", func(b *testing.B) {
		s := tc.get(2).Session()
		lat := make(latencies, 0, b.N)
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, _, err := s.Get(ctx, fmt.Sprintf("/r%03d", i%1000)); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		lat.report(b, "")
	})
	b.Run("48", func(b *testing.B) {
		var next atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for i := 0; i < 48; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := tc.get(uint64(i%3 + 1)).Session()
				for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
					if _, _, err := s.Get(ctx, fmt.Sprintf("/r%03d", n%1000)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	})
}

// BenchmarkWatchLatency: Set through member 1, one-shot data watch on
// member 3; latency from the start of Set to the event.
func BenchmarkWatchLatency(b *testing.B) {
	tc := benchCluster(b, nil)
	ctx := context.Background()
	w, r := tc.get(1).Session(), tc.get(3).Session()
	if _, err := w.Create(ctx, "/watch", nil, Persistent); err != nil {
		b.Fatal(err)
	}
	r.Sync(ctx, "/")
	lat := make(latencies, 0, b.N)
	for i := 0; i < b.N; i++ {
		_, _, ch, err := r.GetW(ctx, "/watch")
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := w.Set(ctx, "/watch", []byte{byte(i)}, -1); err != nil {
			b.Fatal(err)
		}
		recv(b, ch)
		lat = append(lat, time.Since(t0))
	}
	lat.report(b, "")
}

// BenchmarkSessionCreateClose: open and close sessions, 16 at a time,
// spread over the members.
func BenchmarkSessionCreateClose(b *testing.B) {
	tc := benchCluster(b, nil)
	ctx := context.Background()
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := tc.get(uint64(g%3 + 1))
			for next.Add(1) <= int64(b.N) {
				s, err := c.NewSession(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sessions/s")
}

// BenchmarkHeartbeats10kSessions opens 10,000 sessions over the three
// members and counts the log entries appended per second while they sit
// idle: the cost of keeping them alive.
func BenchmarkHeartbeats10kSessions(b *testing.B) {
	tc := benchCluster(b, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 30; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := tc.get(uint64(g%3 + 1))
			for i := g; i < 10000; i += 30 {
				if _, err := c.NewSession(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := tc.get(1).LastZxid()
		time.Sleep(5 * time.Second)
		after := tc.get(1).LastZxid()
		b.ReportMetric(float64(after-before)/5, "entries/s")
	}
	b.ReportMetric(float64(tc.get(1).Stats().Sessions), "sessions")
}

// BenchmarkRestart200k fills the tree with 200,000 znodes of 32 bytes,
// then restarts a follower and times until it answers a read of the last
// node.
func BenchmarkRestart200k(b *testing.B) {
	tc := benchCluster(b, nil)
	ctx := context.Background()
	const total = 200000
	s := tc.get(1).Session()
	if _, err := s.Create(ctx, "/m", nil, Persistent); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	fill := time.Now()
	for g := 0; g < 96; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tc.get(uint64(g%3 + 1)).Session()
			for n := next.Add(1); n <= total; n = next.Add(1) {
				if _, err := s.Create(ctx, fmt.Sprintf("/m/%08d", n), make([]byte, 32), Persistent); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	createRate := float64(total) / time.Since(fill).Seconds()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	disk := tc.get(1).Stats().DiskBytes
	last := fmt.Sprintf("/m/%08d", total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := tc.follower()
		tc.stop(f)
		t0 := time.Now()
		c := tc.restart(f)
		for {
			if _, _, err := c.Session().Get(ctx, last); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "restart_ms")
	}
	b.ReportMetric(createRate, "creates/s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20)/3, "heapMiB/member")
	b.ReportMetric(float64(disk)/(1<<20), "treeDiskMiB/member")
}
