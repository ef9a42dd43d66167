package coord

import (
	"context"
	"errors"
	"fmt"
)

// Error is a ZooKeeper error condition. Each one coord can return is an
// exported sentinel (ErrNoNode, ErrBadVersion, ...); match them with
// errors.Is. Code is ZooKeeper's numeric code for the condition, so that
// servers speaking ZooKeeper's protocol can pass it on unchanged.
type Error struct {
	Code int32
	msg  string
}

func (e *Error) Error() string { return e.msg }

// ZooKeeper error conditions, with ZooKeeper's codes.
var (
	ErrSystemError             = &Error{-1, "system error"}
	ErrRuntimeInconsistency    = &Error{-2, "runtime inconsistency"}
	ErrDataInconsistency       = &Error{-3, "data inconsistency"}
	ErrConnectionLoss          = &Error{-4, "connection loss"}
	ErrMarshallingError        = &Error{-5, "marshalling error"}
	ErrUnimplemented           = &Error{-6, "unimplemented"}
	ErrOperationTimeout        = &Error{-7, "operation timeout"}
	ErrBadArguments            = &Error{-8, "bad arguments"}
	ErrUnknownSession          = &Error{-12, "unknown session"}
	ErrAPIError                = &Error{-100, "api error"}
	ErrNoNode                  = &Error{-101, "node does not exist"}
	ErrNoAuth                  = &Error{-102, "not authorized"}
	ErrBadVersion              = &Error{-103, "version does not match"}
	ErrNoChildrenForEphemerals = &Error{-108, "ephemeral nodes may not have children"}
	ErrNodeExists              = &Error{-110, "node already exists"}
	ErrNotEmpty                = &Error{-111, "node has children"}
	ErrSessionExpired          = &Error{-112, "session expired"}
	ErrInvalidACL              = &Error{-114, "invalid ACL"}
	ErrAuthFailed              = &Error{-115, "authentication failed"}
	ErrSessionMoved            = &Error{-118, "session moved to another member"}
	ErrNoWatcher               = &Error{-121, "no such watch"}
	ErrRequestTimeout          = &Error{-122, "request timeout"}
	ErrQuotaExceeded           = &Error{-125, "quota exceeded"}
	ErrThrottled               = &Error{-127, "operation throttled"}
)

// Errors that are not ZooKeeper conditions.
var (
	// ErrClosed is returned by calls on a closed Session or Coord.
	ErrClosed = errors.New("coord: closed")
	// ErrNoQuorum is returned when a write cannot reach a quorum of members
	// before its context ends.
	ErrNoQuorum = errors.New("coord: no quorum")
	// ErrDiverged is returned by every call on a member whose replica of
	// the tree is found to differ from the ensemble's (see
	// Options.DigestInterval): it serves nothing until it is rebuilt.
	ErrDiverged = errors.New("coord: this member's tree diverged from the ensemble's")
)

var errorsByCode = func() map[int32]*Error {
	m := make(map[int32]*Error)
	for _, e := range []*Error{ErrSystemError, ErrRuntimeInconsistency, ErrDataInconsistency,
		ErrConnectionLoss, ErrMarshallingError, ErrUnimplemented, ErrOperationTimeout,
		ErrBadArguments, ErrUnknownSession, ErrAPIError, ErrNoNode, ErrNoAuth, ErrBadVersion,
		ErrNoChildrenForEphemerals, ErrNodeExists, ErrNotEmpty, ErrSessionExpired,
		ErrInvalidACL, ErrAuthFailed, ErrSessionMoved, ErrNoWatcher, ErrRequestTimeout,
		ErrQuotaExceeded, ErrThrottled} {
		m[e.Code] = e
	}
	return m
}()

// errorForCode returns the sentinel for a ZooKeeper code; nil for 0.
func errorForCode(code int32) error {
	if code == 0 {
		return nil
	}
	if e, ok := errorsByCode[code]; ok {
		return e
	}
	return &Error{Code: code, msg: fmt.Sprintf("zookeeper error %d", code)}
}

// ErrorCode returns ZooKeeper's code for err: 0 for nil, the code of the
// *Error it wraps, ErrOperationTimeout's for an ended context or lost quorum,
// ErrConnectionLoss's for a closed member, ErrSystemError's otherwise.
func ErrorCode(err error) int32 {
	var e *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, ErrNoQuorum):
		return ErrOperationTimeout.Code
	case errors.Is(err, ErrClosed):
		return ErrConnectionLoss.Code
	}
	return ErrSystemError.Code
}

// PathError records an error and the operation and path that caused it.
type PathError struct {
	Op     string // "create", "delete", "get", ...
	Path   string
	Err    error  // a sentinel such as ErrNoNode
	Detail string // what exactly was wrong, when there is more to say
}

func (e *PathError) Error() string {
	s := "coord: " + e.Op + " " + e.Path + ": " + e.Err.Error()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

func (e *PathError) Unwrap() error { return e.Err }

func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &PathError{Op: op, Path: path, Err: err}
}

func pathErrf(op, path string, err error, format string, args ...any) error {
	return &PathError{Op: op, Path: path, Err: err, Detail: fmt.Sprintf(format, args...)}
}
