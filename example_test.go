package coord_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/coordkit/coord"
)

// freeAddr returns a loopback address nobody listens on, for the examples'
// one-member ensembles. Real members use fixed, configured addresses.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// openExample opens a one-member ensemble in a temporary directory.
func openExample(ctx context.Context) (*coord.Coord, func()) {
	dir, err := os.MkdirTemp("", "coord-example-")
	if err != nil {
		log.Fatal(err)
	}
	c, err := coord.Open(ctx, coord.Options{
		ID:      1,
		Members: map[uint64]string{1: freeAddr()},
		DataDir: dir,
	})
	if err != nil {
		log.Fatal(err)
	}
	return c, func() {
		c.Close()
		os.RemoveAll(dir)
	}
}

// Every process of a service opens its member with the same Members and
// its own ID; Open returns once the member has found a leader and opened
// its default session. Here the ensemble has a single member.
func ExampleOpen() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "coord-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	c, err := coord.Open(ctx, coord.Options{
		ID:      1,
		Members: map[uint64]string{1: freeAddr()}, // e.g. {1: "10.0.0.1:7001", 2: ..., 3: ...}
		DataDir: dir,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	s := c.Session()
	if _, err := s.Create(ctx, "/config", []byte("v1"), coord.Persistent); err != nil {
		log.Fatal(err)
	}
	data, stat, err := s.Get(ctx, "/config")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s version %d\n", data, stat.Version)
	// Output: v1 version 0
}

// A watched read returns the data and a channel that receives one event
// when the node changes; read again (and watch again) to follow it.
func ExampleSession_GetW() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, done := openExample(ctx)
	defer done()
	s := c.Session()
	if _, err := s.Create(ctx, "/feature", []byte("off"), coord.Persistent); err != nil {
		log.Fatal(err)
	}

	data, _, changed, err := s.GetW(ctx, "/feature")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("now %s\n", data)

	// Another process (here the same one) changes it.
	if _, err := s.Set(ctx, "/feature", []byte("on"), -1); err != nil {
		log.Fatal(err)
	}
	select {
	case ev := <-changed:
		data, _, err := s.Get(ctx, ev.Path)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%v: now %s\n", ev.Type, data)
	case <-ctx.Done():
		log.Fatal("no event")
	}
	// Output:
	// now off
	// NodeDataChanged: now on
}

// Ephemeral nodes live as long as the session that created them: a
// service registers itself, and its registration goes when it does.
func ExampleSession_ChildrenW() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, done := openExample(ctx)
	defer done()
	s := c.Session()
	if _, err := s.Create(ctx, "/services", nil, coord.Persistent); err != nil {
		log.Fatal(err)
	}
	names, _, changed, err := s.ChildrenW(ctx, "/services")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("instances:", names)

	worker, err := c.NewSession(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := worker.Create(ctx, "/services/api-1", []byte("10.0.0.5:8080"), coord.Ephemeral); err != nil {
		log.Fatal(err)
	}
	<-changed
	names, _, _ = s.Children(ctx, "/services")
	fmt.Println("instances:", names)

	worker.Close() // or the process dies and its session expires
	names, _, _ = s.Children(ctx, "/services")
	fmt.Println("instances:", names)
	// Output:
	// instances: []
	// instances: [api-1]
	// instances: []
}
