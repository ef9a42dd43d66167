package zkserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/coordkit/coord/internal/jute"
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

// createPathCode is ZooKeeper's code for a create whose path is invalid: it
// looks up the parent before it validates the full path, so a path without
// a slash (or with a NUL) is BadArguments, a missing parent NoNode, and only
// then BadArguments.
func (c *conn) createPathCode(ctx context.Context, path string, sequential bool) jute.ErrCode {
	full := path
	if sequential {
		full += "0000000000"
	}
	if validPath(full) == nil {
		return jute.CodeBadArguments // invalid for another reason
	}
	i := strings.LastIndexByte(path, '/')
	if i < 0 || strings.IndexByte(path, 0) >= 0 {
		return jute.CodeBadArguments
	}
	parent := path[:i]
	if parent == "" {
		parent = "/"
	}
	if validPath(parent) != nil {
		return jute.CodeNoNode
	}
	if found, _, err := c.sess.Exists(ctx, parent); err != nil || !found {
		return jute.CodeNoNode
	}
	return jute.CodeBadArguments
}

// deletePathCode is ZooKeeper's code for a delete of an invalid path: it
// looks the node up, so only a path without a slash or with a NUL is
// BadArguments.
func deletePathCode(path string) jute.ErrCode {
	if validPath(path) == nil || path == "/" {
		return jute.CodeBadArguments // invalid for another reason (the root)
	}
	if !strings.Contains(path, "/") || strings.IndexByte(path, 0) >= 0 {
		return jute.CodeBadArguments
	}
	return jute.CodeNoNode
}

func sidString(id int64) string { return fmt.Sprintf("0x%x", uint64(id)) }
