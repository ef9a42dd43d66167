package zkserver

import (
	"fmt"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/zkpath"
)

// validPath applies ZooKeeper's path rules. The server needs them to pick
// the error code ZooKeeper gives for an invalid path, which depends on the
// operation.
func validPath(p string) error { return zkpath.Validate(p) }

// readPath resolves a read's path as ZooKeeper's node lookup does: the root
// is also known as "" (ZooKeeper keys it so), and an invalid path names no
// node.
func readPath(p string) (string, bool) {
	if p == "" {
		return "/", true
	}
	return p, validPath(p) == nil
}

// lookupPath is readPath for reads answered like a missing node when the
// path is invalid: such a path fails with coord.ErrNoNode.
func lookupPath(p string) (string, error) {
	if p, valid := readPath(p); valid {
		return p, nil
	}
	return "", coord.ErrNoNode
}

func sidString(id int64) string { return fmt.Sprintf("0x%x", uint64(id)) }
