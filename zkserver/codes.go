package zkserver

import (
	"context"
	"errors"
	"strings"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
)

// This file decides which ZooKeeper error code an answer carries, where
// that takes more than passing on coord's code.

// failure turns an error from coord into ZooKeeper's answer. A write whose
// outcome is unknown (no quorum before the deadline, member closing) is not
// answered: the connection closes and the client sees a lost connection,
// which tells it the outcome is unknown, as ZooKeeper's clients expect. An
// ended session closes the connection after the reply.
func (c *conn) failure(err error) result {
	switch {
	case errors.Is(err, coord.ErrNoQuorum), errors.Is(err, coord.ErrClosed), errors.Is(err, coord.ErrDiverged),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// A member whose replica diverged serves nothing: the client moves
		// to another.
		return result{after: dropNow}
	case errors.Is(err, coord.ErrSessionExpired), errors.Is(err, coord.ErrSessionMoved):
		return result{code: jute.ErrCode(coord.ErrorCode(err)), after: closeAfter}
	}
	return fail(jute.ErrCode(coord.ErrorCode(err)))
}

// opFailure is failure for the write whose request body is op (alone or
// inside a multi). ZooKeeper answers an invalid path with a code that
// depends on the operation, where coord says BadArguments.
func (c *conn) opFailure(err error, op jute.Record) result {
	res := c.failure(err)
	if res.code != jute.CodeBadArguments {
		return res
	}
	switch b := op.(type) {
	case *jute.CreateRequest:
		res.code = c.createPathCode(b.Path, b.Flags.IsSequential())
	case *jute.CreateTTLRequest:
		res.code = c.createPathCode(b.Path, b.Flags.IsSequential())
	case *jute.DeleteRequest:
		res.code = deletePathCode(b.Path)
	}
	return res
}

// createPathCode is ZooKeeper's code for a create whose path is invalid: it
// looks up the parent before it validates the full path, so a path without
// a slash (or with a NUL) is BadArguments, a missing parent NoNode, and only
// then BadArguments.
func (c *conn) createPathCode(path string, sequential bool) jute.ErrCode {
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
	if found, _, err := c.sess.Exists(c.ctx, parent); err != nil || !found {
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

// watchesArgsCode is ZooKeeper's answer to the arguments of removeWatches
// and checkWatches: an unknown watcher type does not decode, and no watch
// can be set on an invalid path.
func watchesArgsCode(path string, typ jute.WatcherType) jute.ErrCode {
	if typ < jute.WatcherTypeChildren || typ > jute.WatcherTypeAny {
		return jute.CodeMarshallingError
	}
	if validPath(path) != nil {
		return jute.CodeNoWatcher
	}
	return jute.CodeOK
}
