package recipe_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/recipe"
)

// openMember opens a one-member ensemble in a temporary directory; real
// services open one member per process with the same Members.
func openMember(ctx context.Context) (*coord.Coord, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir, err := os.MkdirTemp("", "recipe-example-")
	if err != nil {
		log.Fatal(err)
	}
	c, err := coord.Open(ctx, coord.Options{ID: 1, Members: map[uint64]string{1: addr}, DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	return c, func() { c.Close(); os.RemoveAll(dir) }
}

// A Mutex is held through a session; the Lease it returns carries a
// fencing token and ends if the session may have lost the lock. Writes
// made while holding it can be made conditional on still holding it with
// Lease.Check in a Multi.
func ExampleMutex() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, done := openMember(ctx)
	defer done()
	s := c.Session()
	if _, err := s.Create(ctx, "/balance", []byte("100"), coord.Persistent); err != nil {
		log.Fatal(err)
	}

	m := recipe.NewMutex(s, "/locks/balance")
	lease, err := m.Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// Only while the lock is ours: the Multi fails if the lease's node is
	// gone (the session expired and someone else took the lock).
	if _, err := s.Multi(ctx, lease.Check(), coord.SetOp("/balance", []byte("90"), -1)); err != nil {
		log.Fatal(err)
	}
	if err := m.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	data, _, _ := s.Get(ctx, "/balance")
	// The token grows with every grant of the lock: a store that remembers
	// the highest token it saw refuses a holder that lost the lock.
	fmt.Printf("balance %s, fencing token issued: %t\n", data, lease.Token() > 0)
	// Output: balance 90, fencing token issued: true
}

// Candidates campaign; one leads until it resigns or its session ends, and
// everyone can observe who leads.
func ExampleElection() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, done := openMember(ctx)
	defer done()

	a := recipe.NewElection(c.Session(), "/election/scheduler", "host-a")
	term, err := a.Campaign(ctx)
	if err != nil {
		log.Fatal(err)
	}
	other, err := c.NewSession(ctx)
	if err != nil {
		log.Fatal(err)
	}
	leader, err := recipe.NewElection(other, "/election/scheduler", "host-b").Leader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader:", leader.ID)

	// The leader works until its term ends; here it resigns.
	if err := a.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	<-term.Done()
	fmt.Println("term over:", term.Err())
	// Output:
	// leader: host-a
	// term over: recipe: released
}
