// Command election shows recipe.Election: three candidates, one on each
// member, campaign for leadership while an observer reports who leads.
//
//   - The first leader resigns after a while: the next candidate leads at
//     once.
//   - The second leader's process "crashes" (its session is detached: nobody
//     renews it any more). It learns at once that its leadership may be
//     lost, but the next candidate takes over only when the ensemble has
//     expired the session, about one session timeout later, so there are
//     never two leaders.
//   - The last leader resigns and the program exits.
//
// Every term carries a fencing token that strictly increases.
//
//	go run ./examples/election
//
// With -id and -members each process is one member and one candidate of an
// ensemble (run it in three terminals, with ids 1, 2 and 3); each leads for
// -lead and resigns:
//
//	go run ./examples/election -id 1 -members 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/examples/internal/ensemble"
	"github.com/coordkit/coord/recipe"
)

func main() {
	id := flag.Uint64("id", 0, "with -members: this process's member id")
	members := flag.String("members", "", "join the ensemble id=host:port,... as member -id instead of forming a local one")
	data := flag.String("data", "", "with -members: this member's data directory")
	lead := flag.Duration("lead", 2*time.Second, "with -members: how long to lead before resigning")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *id, *members, *data, *lead); err != nil {
		fmt.Fprintln(os.Stderr, "election:", err)
		os.Exit(1)
	}
}

const dir = "/examples/election"

func run(ctx context.Context, id uint64, members, data string, lead time.Duration) error {
	ms, stop, err := ensemble.Start(ctx, id, members, data)
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Printf("%6.3fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	// The observer campaigns for nothing; it only watches.
	octx, ostop := context.WithCancel(ctx)
	defer ostop()
	var observed sync.WaitGroup
	observed.Add(1)
	go func() {
		defer observed.Done()
		for l := range recipe.NewElection(ms[0].Session(), dir, "").Observe(octx) {
			if l == (recipe.Leader{}) {
				logf("observer: nobody leads")
			} else {
				logf("observer: %s leads, term token %d", l.ID, l.Token)
			}
		}
	}()

	if members != "" {
		err := candidate(ctx, ms[0], fmt.Sprintf("member-%d", id), logf, func(ctx context.Context) string {
			select {
			case <-time.After(lead):
				return "resign"
			case <-ctx.Done():
				return ""
			}
		})
		ostop()
		observed.Wait()
		return err
	}

	// Local ensemble: one candidate per member; the nth leader to be
	// elected plays act n.
	var turn sync.Mutex
	n := 0
	acts := []string{"resign", "crash", "resign"}
	var wg sync.WaitGroup
	errs := make(chan error, len(ms))
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := candidate(ctx, m, fmt.Sprintf("candidate-%d", m.ID()), logf, func(ctx context.Context) string {
				turn.Lock()
				act := acts[n]
				n++
				turn.Unlock()
				select {
				case <-time.After(300 * time.Millisecond):
				case <-ctx.Done():
				}
				return act
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	time.Sleep(50 * time.Millisecond) // let the observer report the end
	ostop()
	observed.Wait()
	return nil
}

// candidate campaigns once through a session of its own and leads with
// lead, which returns "resign" to step down or "crash" to abandon its
// session as a crashed process would.
func candidate(ctx context.Context, m *coord.Coord, name string, logf func(string, ...any), lead func(context.Context) string) error {
	s, err := m.NewSession(ctx, coord.WithSessionTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer s.Close()
	e := recipe.NewElection(s, dir, name)
	err = e.Lead(ctx, func(ctx context.Context, term *recipe.Lease) error {
		logf("%s leads, term token %d", name, term.Token())
		switch lead(ctx) {
		case "crash":
			logf("%s crashes: nobody renews its session any more", name)
			if err := s.Detach(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			logf("%s is told its leadership may be lost (%v) and stops leading", name, context.Cause(ctx))
			return nil
		default:
			logf("%s resigns", name)
			return nil
		}
	})
	if errors.Is(err, coord.ErrClosed) {
		return nil // the crashed candidate cannot resign; the ensemble expires it
	}
	return err
}
