package zkserver_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/zkserver"
)

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// A member serves ZooKeeper's client protocol on a listener of its own, so
// ZooKeeper's clients and tools (zkCli.sh, Curator, kazoo, go-zookeeper)
// work against it. Give every member one; a client lists them all.
func ExampleServe() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raft, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	raftAddr := raft.Addr().String()
	raft.Close()
	dir, err := os.MkdirTemp("", "zkserver-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, err := coord.Open(ctx, coord.Options{ID: 1, Members: map[uint64]string{1: raftAddr}, DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0") // e.g. ":2181"
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- zkserver.Serve(ctx, c, ln) }()

	// Any ZooKeeper client now connects.
	conn, _, err := zk.Connect([]string{ln.Addr().String()}, 10*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := conn.Create("/hello", []byte("from zk"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		log.Fatal(err)
	}
	conn.Close()
	data, _, err := c.Session().Get(ctx, "/hello")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", data)
	cancel() // stops Serve
	<-served
	// Output: from zk
}
