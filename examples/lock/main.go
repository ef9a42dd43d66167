// Command lock shows recipe.Mutex: workers on three members take one
// distributed lock in turn. Each holder writes to a resource guarded by
// fencing tokens: the resource remembers the newest token it accepted and
// refuses older ones, so a holder that lost the lock without noticing (a
// long pause, a partition) cannot corrupt it. Then a wait that is cancelled
// cleans up after itself.
//
// With no flags it forms a local three-member ensemble in this process and
// exits when done:
//
//	go run ./examples/lock
//
// With -id and -members each process is one member of an ensemble (run it in
// three terminals, with ids 1, 2 and 3) and its workers contend with the
// other processes' workers:
//
//	go run ./examples/lock -id 1 -members 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
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
	workers := flag.Int("workers", 2, "workers per member")
	rounds := flag.Int("rounds", 3, "acquisitions per worker")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *id, *members, *data, *workers, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "lock:", err)
		os.Exit(1)
	}
}

const lockDir = "/examples/lock"

// fencedStore is the resource the lock guards. It accepts a write only with
// a token at least as new as the newest it has seen.
type fencedStore struct {
	mu     sync.Mutex
	newest int64
	value  int
	tokens []int64 // every accepted token, in order
}

var errStale = errors.New("stale fencing token")

func (f *fencedStore) increment(token int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token < f.newest {
		return 0, fmt.Errorf("%w %d (newest %d)", errStale, token, f.newest)
	}
	f.newest = token
	f.tokens = append(f.tokens, token)
	f.value++
	return f.value, nil
}

func run(ctx context.Context, id uint64, members, data string, workers, rounds int) error {
	ms, stop, err := ensemble.Start(ctx, id, members, data)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("%d member(s) up; %d workers each take %s %d times\n", len(ms), workers*len(ms), lockDir, rounds)

	var store fencedStore
	var wg sync.WaitGroup
	errs := make(chan error, workers*len(ms))
	for _, m := range ms {
		for w := range workers {
			s, err := m.NewSession(ctx, coord.WithSessionTimeout(3*time.Second))
			if err != nil {
				return err
			}
			defer s.Close()
			name := fmt.Sprintf("member %d worker %d", m.ID(), w+1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				mu := recipe.NewMutex(s, lockDir) // one Mutex per holder
				for range rounds {
					lease, err := mu.Lock(ctx)
					if err != nil {
						errs <- err
						return
					}
					n, err := store.increment(lease.Token())
					if err != nil {
						errs <- err
					}
					fmt.Printf("  %s holds the lock, token %d, counter %d\n", name, lease.Token(), n)
					time.Sleep(5 * time.Millisecond)
					if err := mu.Unlock(ctx); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if !slices.IsSorted(store.tokens) || len(slices.Compact(slices.Clone(store.tokens))) != len(store.tokens) {
		return fmt.Errorf("tokens not strictly increasing: %v", store.tokens)
	}
	fmt.Printf("counter %d after %d acquisitions; the tokens strictly increased\n", store.value, workers*len(ms)*rounds)

	// A holder that comes back with an old token is refused.
	if _, err := store.increment(store.newest - 1); err != nil {
		fmt.Println("a stale holder is refused:", err)
	}

	// A cancelled wait leaves nothing behind.
	s := ms[0].Session()
	holder := recipe.NewMutex(s, lockDir)
	if _, err := holder.Lock(ctx); err != nil {
		return err
	}
	wctx, wcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = recipe.NewMutex(ms[len(ms)-1].Session(), lockDir).Lock(wctx)
	wcancel()
	if err := s.Sync(ctx, "/"); err != nil {
		return err
	}
	kids, _, _ := s.Children(ctx, lockDir)
	fmt.Printf("a wait cancelled after 200ms returned %q; nodes in %s: %d (the holder's)\n", err, lockDir, len(kids))
	return holder.Unlock(ctx)
}
