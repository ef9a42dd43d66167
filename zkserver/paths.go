package zkserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/coordkit/coord/internal/jute"
)

// validPath applies ZooKeeper's PathUtils.validatePath. coord applies the
// same rules; the server needs them to pick the error code ZooKeeper gives
// for an invalid path, which depends on the operation.
func validPath(p string) error {
	switch {
	case p == "":
		return errors.New("path length must be > 0")
	case p[0] != '/':
		return errors.New("path must start with / character")
	case p == "/":
		return nil
	case p[len(p)-1] == '/':
		return errors.New("path must not end with / character")
	}
	for _, seg := range strings.Split(p[1:], "/") {
		switch seg {
		case "":
			return errors.New("empty node name specified")
		case ".", "..":
			return errors.New("relative paths not allowed")
		}
	}
	for i, r := range p {
		switch {
		case r == 0:
			return fmt.Errorf("null character not allowed @%d", i)
		case r == utf8.RuneError, r > 0 && r <= 0x1f, r >= 0x7f && r <= 0x9f,
			r >= 0xd800 && r <= 0xf8ff, r >= 0xfff0:
			// Java strings hold UTF-16: characters beyond the BMP are
			// surrogates, which ZooKeeper refuses.
			return fmt.Errorf("invalid character @%d", i)
		}
	}
	return nil
}

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
