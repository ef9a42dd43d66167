package recipe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coordkit/coord"
)

// Benchmarks (figures and the commands that produce them are in the
// package's closing note; they never decide pass or fail):
//
//	go test -run '^$' -bench 'Mutex|Bare' -benchtime 3000x ./recipe/
//	go test -run '^$' -bench 'Failover' -benchtime 3x ./recipe/

// BenchmarkMutex12Contenders is BENCH.md's lock workload in process: 12
// contenders (4 per member, each with its own session) take the lock in
// turn; the holder increments a counter znode with a versioned Set (a
// refused Set would be a lost update). It reports acquisitions per second
// and the acquire latency (Lock call to grant) at p50 and p99.
func BenchmarkMutex12Contenders(b *testing.B) {
	benchMutex(b, 12, nil, false)
}

// BenchmarkMutex12ContendersUnlockWith is the same workload with the
// holder's versioned Set and the release in one write (Mutex.UnlockWith):
// one round trip on the critical path instead of two.
func BenchmarkMutex12ContendersUnlockWith(b *testing.B) {
	benchMutex(b, 12, nil, true)
}

// BenchmarkBareLock12Contenders is the same workload with zkbench's plain
// ZooKeeper lock recipe written directly on coord's API (no guid, no Lease,
// no cleanup), to show what the recipe costs on top.
func BenchmarkBareLock12Contenders(b *testing.B) {
	benchMutex(b, 12, bareLock, false)
}

// bareLock acquires the lock in dir like zkbench's acquire and returns the
// function that releases it.
func bareLock(ctx context.Context, s *coord.Session, dir string) (func() error, error) {
	me, err := s.Create(ctx, dir+"/lock-", nil, coord.EphemeralSequential)
	if errors.Is(err, coord.ErrNoNode) {
		if err := ensurePath(ctx, s, dir, coord.Persistent); err != nil {
			return nil, err
		}
		me, err = s.Create(ctx, dir+"/lock-", nil, coord.EphemeralSequential)
	}
	if err != nil {
		return nil, err
	}
	release := func() error { return s.Delete(ctx, me, -1) }
	name := baseName(me)
	for {
		kids, _, err := s.Children(ctx, dir)
		if err != nil {
			return nil, err
		}
		slices.Sort(kids)
		i := slices.Index(kids, name)
		if i == 0 {
			return release, nil
		}
		ok, _, ch, err := s.ExistsW(ctx, dir+"/"+kids[i-1])
		if err != nil {
			return nil, err
		}
		if ok {
			select {
			case <-ch:
			case <-ctx.Done():
				s.StopWatch(ch)
				return nil, ctx.Err()
			}
		}
	}
}

// BenchmarkMutex1Contender measures an uncontended acquire and release.
func BenchmarkMutex1Contender(b *testing.B) {
	benchMutex(b, 1, nil, false)
}

func benchMutex(b *testing.B, contenders int, bare func(context.Context, *coord.Session, string) (func() error, error), fused bool) {
	cl := testCluster(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	base := fmt.Sprintf("/bench/lock-%d-%d", contenders, time.Now().UnixNano())
	dir, counter := base+"/lock", base+"/counter"
	if err := ensurePath(ctx, cl.member(1).Session(), counter, coord.Persistent); err != nil {
		b.Fatal(err)
	}
	sessions := make([]*coord.Session, contenders)
	for i := range sessions {
		sessions[i] = cl.session(b, uint64(i%3+1), 10*time.Second)
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var lost, errs atomic.Int64
	lat := make([][]time.Duration, contenders)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMutex(s, dir)
			unlock := func() error { return m.Unlock(ctx) }
			for left.Add(-1) >= 0 {
				t0 := time.Now()
				var err error
				if bare != nil {
					unlock, err = bare(ctx, s, dir)
				} else {
					_, err = m.Lock(ctx)
				}
				if err != nil {
					errs.Add(1)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
				data, st, err := s.Get(ctx, counter)
				if err != nil {
					errs.Add(1)
					return
				}
				n, _ := strconv.Atoi(string(data))
				next := []byte(strconv.Itoa(n + 1))
				if fused {
					_, err = m.UnlockWith(ctx, coord.SetOp(counter, next, st.Version))
				} else {
					_, err = s.Set(ctx, counter, next, st.Version)
				}
				if errors.Is(err, coord.ErrBadVersion) {
					lost.Add(1)
				}
				if err != nil {
					errs.Add(1)
				}
				if !fused {
					if err := unlock(); err != nil {
						errs.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 || errs.Load() > 0 || lost.Load() > 0 {
		b.Fatalf("acquisitions %d, errors %d, lost updates %d", len(all), errs.Load(), lost.Load())
	}
	b.ReportMetric(float64(len(all))/el.Seconds(), "acq/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lost.Load()), "lost")
}

// BenchmarkElectionFailover: the leader is a member in a child process with
// a 2 s session; it is SIGKILLed and the time until a candidate on another
// member leads is measured (session timeout + expiry detection + the next
// candidate's grant). Each iteration starts a new child (about 3 s).
func BenchmarkElectionFailover(b *testing.B) {
	cl := testCluster(b)
	const timeout = 2 * time.Second
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		d := failoverOnce(b, cl, timeout, i)
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "failover-ms")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
	b.ReportMetric(float64(timeout.Milliseconds()), "timeout-ms")
}

// failoverOnce starts a child leader, kills it, and returns how long after
// the kill a candidate here leads.
func failoverOnce(b *testing.B, cl *cluster, timeout time.Duration, i int) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := fmt.Sprintf("/bench/failover-%d-%d", time.Now().UnixNano(), i)
	ch := cl.startChild(b, "elect", "RECIPE_PATH="+dir, "RECIPE_SESSION_TIMEOUT="+timeout.String())
	defer ch.remove(b)
	ch.expect(b, "TOKEN ", 30*time.Second)
	s, err := cl.member(uint64(i%3+1)).NewSession(ctx, coord.WithSessionTimeout(timeout))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := NewElection(s, dir, "candidate")
	won := make(chan time.Time, 1)
	go func() {
		if _, err := e.Campaign(ctx); err == nil {
			won <- time.Now()
		}
		close(won)
	}()
	time.Sleep(200 * time.Millisecond) // the candidate is queued
	b.StartTimer()
	killed := ch.kill()
	var at time.Time
	var ok bool
	select {
	case at, ok = <-won:
	case <-time.After(time.Minute):
		b.Fatal("no candidate won")
	}
	b.StopTimer()
	if !ok {
		b.Fatal("the candidate never led")
	}
	return at.Sub(killed)
}
