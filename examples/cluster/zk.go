package main

import (
	"context"
	"net"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/zkserver"
)

// serveZK serves the ZooKeeper client protocol for c on ln until ctx ends.
func serveZK(ctx context.Context, c *coord.Coord, ln net.Listener) error {
	return zkserver.Serve(ctx, c, ln)
}
