// Command registry shows service discovery with recipe.Group: instances of
// a service register under /examples/services/api with ephemeral nodes, and
// a client watches the list.
//
//   - Three instances, one on each member, join.
//
//   - One updates its entry (it starts draining).
//
//   - One leaves cleanly: it disappears at once.
//
//   - One loses its session (a long pause or a partition: nobody renews it).
//     The ensemble expires the session after its timeout, which removes the
//     entry; the registration then comes back by itself with a new session.
//
//   - Everyone leaves and the program exits.
//
//     go run ./examples/registry
//
// With -id and -members each process is one member of an ensemble (run it in
// three terminals, with ids 1, 2 and 3); each registers one instance for
// -stay and watches the others come and go:
//
//	go run ./examples/registry -id 1 -members 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
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
	stay := flag.Duration("stay", 5*time.Second, "with -members: how long the instance stays registered")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *id, *members, *data, *stay); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

const service = "/examples/services/api"

func run(ctx context.Context, id uint64, members, data string, stay time.Duration) error {
	ms, stop, err := ensemble.Start(ctx, id, members, data)
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Printf("%6.3fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	// The client: print the list whenever it changes.
	wctx, wstop := context.WithCancel(ctx)
	defer wstop()
	list, err := recipe.NewGroup(ms[len(ms)-1], service).Watch(wctx)
	if err != nil {
		return err
	}
	var watching sync.WaitGroup
	watching.Add(1)
	go func() {
		defer watching.Done()
		for members := range list {
			var b strings.Builder
			for _, m := range members {
				fmt.Fprintf(&b, " %s=%s", m.Name, m.Data)
			}
			logf("client sees %d instance(s):%s", len(members), b.String())
		}
	}()
	settle := func() { time.Sleep(100 * time.Millisecond) } // let the client print
	defer func() {
		settle()
		wstop()
		watching.Wait()
	}()

	register := func(m *coord.Coord, name, addr string) (*recipe.Registration, error) {
		r, err := recipe.NewGroup(m, service).Register(ctx, name, []byte(addr), coord.WithSessionTimeout(2*time.Second))
		if err == nil {
			logf("%s registers at %s", name, addr)
		}
		return r, err
	}

	if members != "" {
		r, err := register(ms[0], fmt.Sprintf("instance-%d", id), fmt.Sprintf("10.0.0.%d:8080", id))
		if err != nil {
			return err
		}
		time.Sleep(stay)
		logf("instance-%d leaves", id)
		return r.Close()
	}

	var regs []*recipe.Registration
	for i, m := range ms {
		r, err := register(m, fmt.Sprintf("instance-%d", i+1), fmt.Sprintf("10.0.0.%d:8080", i+1))
		if err != nil {
			return err
		}
		regs = append(regs, r)
		settle()
	}

	logf("instance-2 starts draining")
	if err := regs[1].Update(ctx, []byte("10.0.0.2:8080;draining")); err != nil {
		return err
	}
	settle()

	logf("instance-1 leaves")
	if err := regs[0].Close(); err != nil {
		return err
	}
	settle()

	old := regs[2].Session()
	logf("instance-3 loses its session 0x%x (nobody renews it any more)", old.ID())
	if err := old.Detach(ctx); err != nil {
		return err
	}
	// Wait until it is back in a new session.
	for regs[2].Session() == old {
		time.Sleep(10 * time.Millisecond)
	}
	<-regs[2].Registered()
	logf("instance-3 is registered again in session 0x%x", regs[2].Session().ID())
	settle()

	logf("everyone leaves")
	return errors.Join(regs[1].Close(), regs[2].Close())
}
