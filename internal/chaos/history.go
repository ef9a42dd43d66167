package chaos

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"time"

	"github.com/go-zookeeper/zk"
)

// Status is an operation's outcome as the client saw it.
type Status string

const (
	// OK: the server acknowledged the operation.
	OK Status = "ok"
	// Fail: the operation certainly had no effect (the server refused it,
	// or the client never sent it).
	Fail Status = "fail"
	// Unknown: no answer (connection loss, timeout, session expiry); a
	// write may or may not have taken effect.
	Unknown Status = "unknown"
)

// Operation kinds. Writes are the kinds whose success changes the tree.
const (
	KindSet        = "set"      // setData(key, unique value, -1)
	KindCAS        = "cas"      // setData(key, value, version read before)
	KindCheck      = "check"    // multi(check(key, version))
	KindSyncGet    = "sync-get" // sync(key) then getData(key)
	KindGet        = "get"      // getData(key), sequentially consistent only
	KindCreate     = "create"   // durable: create a persistent node
	KindLockCreate = "lock-create"
	KindLockList   = "lock-children"
	KindLockWatch  = "lock-exists-watch"
	KindLockDelete = "lock-delete"
	KindCounterGet = "counter-get"
	KindCounterSet = "counter-set"
	KindEphCreate  = "eph-create"
	KindEphCheck   = "eph-exists"
	KindEphWatch   = "eph-sync-exists-watch"
)

// isWrite reports whether an acknowledged operation of this kind went
// through the ensemble's write path (the log).
func isWrite(kind string) bool {
	switch kind {
	case KindSet, KindCAS, KindCheck, KindCreate, KindLockCreate, KindLockDelete, KindCounterSet, KindEphCreate:
		return true
	}
	return false
}

// Op is one client operation in the history.
type Op struct {
	Client   int    `json:"client"`
	Workload string `json:"workload"`
	Kind     string `json:"kind"`
	Key      string `json:"key,omitempty"`
	// Session is the session id during the whole operation; 0 if the
	// client's session changed while it ran (or it had none).
	Session int64  `json:"session,omitempty"`
	Server  string `json:"server,omitempty"` // the server the client was connected to when the op returned
	// Invoke and Return are nanoseconds since the start of the run.
	Invoke int64  `json:"invoke_ns"`
	Return int64  `json:"return_ns"`
	Status Status `json:"status"`
	Err    string `json:"err,omitempty"`
	// Input.
	InValue   string `json:"in_value,omitempty"`
	InVersion int32  `json:"in_version"`
	// Output (for ok operations that return them).
	Value   string `json:"value,omitempty"`
	Version int32  `json:"version"`
	Mzxid   int64  `json:"mzxid,omitempty"`
	// Disturbed: lock workload, the holder's session was disconnected or
	// expired while it held the lock.
	Disturbed bool `json:"disturbed,omitempty"`
}

// errOpTimeout is the outcome of an operation that did not return within
// the per-operation deadline.
var errOpTimeout = errors.New("chaos: no answer within the operation deadline")

// classify maps a client error to a status. Errors the server sends as an
// answer, and requests the client never sent, are certain failures;
// everything else may have been applied.
func classify(err error) Status {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNoNode), errors.Is(err, zk.ErrNodeExists),
		errors.Is(err, zk.ErrNotEmpty), errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrInvalidACL),
		errors.Is(err, zk.ErrBadArguments), errors.Is(err, zk.ErrNoChildrenForEphemerals),
		errors.Is(err, zk.ErrInvalidPath), errors.Is(err, zk.ErrInvalidFlags):
		return Fail
	case errors.Is(err, zk.ErrNoServer):
		// go-zookeeper flushes requests still in its send queue with
		// ErrNoServer: they were never written to a server.
		return Fail
	}
	return Unknown
}

// sortOps orders ops by invocation time (stable).
func sortOps(ops []Op) {
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Invoke < ops[j].Invoke })
}

// writeHistory writes ops as JSON lines.
func writeHistory(path string, ops []Op) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range ops {
		if err := enc.Encode(&ops[i]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readHistory reads a history written by writeHistory.
func readHistory(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []Op
	dec := json.NewDecoder(bufio.NewReader(f))
	for dec.More() {
		var op Op
		if err := dec.Decode(&op); err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// secs formats nanoseconds since the start as seconds.
func secs(ns int64) float64 { return float64(ns) / float64(time.Second) }
