package main

import (
	"context"
	"errors"
	"net"

	"github.com/coordkit/coord"
)

// serveZK serves the ZooKeeper client protocol for c on ln until ctx ends.
func serveZK(ctx context.Context, c *coord.Coord, ln net.Listener) error {
	ln.Close()
	return errors.New("the ZooKeeper front end (package zkserver) is not built yet")
}
