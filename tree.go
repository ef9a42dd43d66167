package coord

import (
	"errors"
	"fmt"
	"strings"

	"github.com/coordkit/coord/internal/wire"
	"github.com/coordkit/coord/internal/zkpath"
)

// Stat is a znode's metadata, with ZooKeeper's fields and meanings. Zxids are
// the Raft log indexes of the entries that made the change; times are
// milliseconds since the Unix epoch, taken from the proposing member's clock
// and kept monotonic by the state machine.
type Stat struct {
	Czxid          int64 // zxid of the create
	Mzxid          int64 // zxid of the last data change
	Pzxid          int64 // zxid of the last change to the children
	Ctime          int64 // creation time
	Mtime          int64 // last data change time
	Version        int32 // number of data changes
	Cversion       int32 // number of changes to the children
	Aversion       int32 // number of ACL changes
	EphemeralOwner int64 // owning session of an ephemeral; ZooKeeper's markers for containers and TTL nodes
	DataLength     int32
	NumChildren    int32
}

// CreateMode is how a znode lives and is named; values are ZooKeeper's
// create flags.
type CreateMode int32

// Create modes.
const (
	// Persistent nodes live until deleted.
	Persistent CreateMode = 0
	// Ephemeral nodes are deleted when their creating session ends and
	// cannot have children.
	Ephemeral CreateMode = 1
	// PersistentSequential appends a ten-digit, zero-padded counter from
	// the parent to the name.
	PersistentSequential CreateMode = 2
	// EphemeralSequential is Ephemeral with a sequential name.
	EphemeralSequential CreateMode = 3
	// Container nodes are deleted by the ensemble once they have had
	// children and the last one is gone.
	Container CreateMode = 4
	// PersistentWithTTL nodes are deleted once they have gone unmodified
	// for their TTL and have no children. Create them with CreateTTL.
	PersistentWithTTL CreateMode = 5
	// PersistentSequentialWithTTL is PersistentWithTTL with a sequential name.
	PersistentSequentialWithTTL CreateMode = 6
)

func (m CreateMode) String() string {
	switch m {
	case Persistent:
		return "persistent"
	case Ephemeral:
		return "ephemeral"
	case PersistentSequential:
		return "persistent-sequential"
	case EphemeralSequential:
		return "ephemeral-sequential"
	case Container:
		return "container"
	case PersistentWithTTL:
		return "persistent-ttl"
	case PersistentSequentialWithTTL:
		return "persistent-sequential-ttl"
	}
	return fmt.Sprintf("mode(%d)", int32(m))
}

func (m CreateMode) valid() bool { return m >= Persistent && m <= PersistentSequentialWithTTL }

// Sequential reports whether the mode appends a sequence number.
func (m CreateMode) Sequential() bool {
	return m == PersistentSequential || m == EphemeralSequential || m == PersistentSequentialWithTTL
}

// nodeMode is the stored lifetime of a node created with m.
func (m CreateMode) nodeMode() uint8 {
	switch m {
	case Ephemeral, EphemeralSequential:
		return wire.ModeEphemeral
	case Container:
		return wire.ModeContainer
	case PersistentWithTTL, PersistentSequentialWithTTL:
		return wire.ModeTTL
	}
	return wire.ModePersistent
}

func (m CreateMode) isTTL() bool { return m == PersistentWithTTL || m == PersistentSequentialWithTTL }

// MaxTTL is the largest TTL ZooKeeper can represent (40 bits of
// milliseconds, about 34 years).
const MaxTTL = 0xFFFFFFFFFF

func statOf(n *wire.Node) *Stat {
	s := &Stat{
		Czxid: n.Czxid, Mzxid: n.Mzxid, Pzxid: n.Pzxid,
		Ctime: n.Ctime, Mtime: n.Mtime,
		Version: n.Version, Cversion: n.Cversion, Aversion: n.Aversion,
		DataLength: int32(len(n.Data)), NumChildren: n.NumChildren,
	}
	// ZooKeeper marks containers and TTL nodes in its stored
	// ephemeralOwner but shows clients 0 for them; only ephemerals show
	// their owning session.
	if n.Mode == wire.ModeEphemeral {
		s.EphemeralOwner = n.Owner
	}
	return s
}

// sequenceNumber is the suffix a sequential child of parent gets:
// ZooKeeper counts the creates under a parent, which is (cversion +
// numChildren) / 2 since every create and every delete bumps cversion.
func sequenceNumber(parent *wire.Node) int64 {
	return (int64(parent.Cversion) + int64(parent.NumChildren)) / 2
}

func (s *Stat) wire() *wire.Stat {
	if s == nil {
		return nil
	}
	w := wire.Stat(*s)
	return &w
}

func statFromWire(w *wire.Stat) *Stat {
	if w == nil {
		return nil
	}
	s := Stat(*w)
	return &s
}

// validatePath applies ZooKeeper's path rules (internal/zkpath). A
// sequential create may end in a slash since the counter completes the name.
func validatePath(path string, sequential bool) error {
	if sequential {
		return zkpath.ValidateSequential(path)
	}
	return zkpath.Validate(path)
}

// systemNode reports whether path is one of the nodes every ensemble has
// and ZooKeeper refuses to delete.
func systemNode(path string) bool {
	switch path {
	case "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config":
		return true
	}
	return false
}

// parentOf returns the parent of a valid, non-root path.
func parentOf(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/"
	}
	return path[:i]
}

// nameOf returns the last segment of a valid path.
func nameOf(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// EventType says what changed.
type EventType int32

// Event types, with ZooKeeper's values.
const (
	NodeCreated         EventType = 1
	NodeDeleted         EventType = 2
	NodeDataChanged     EventType = 3
	NodeChildrenChanged EventType = 4
	// NotWatching is the last event of a watch that ended without firing:
	// its session closed or expired, or it was removed. Event.Err says why.
	NotWatching EventType = -2
	// EventsLost tells a persistent Watcher whose reader fell too far
	// behind (Options.MaxWatcherEvents) that the events it had not yet
	// received, up to the change with Event.Zxid, were dropped: read the
	// watched nodes again. Events of later changes follow it.
	EventsLost EventType = -3
)

func (t EventType) String() string {
	switch t {
	case NodeCreated:
		return "NodeCreated"
	case NodeDeleted:
		return "NodeDeleted"
	case NodeDataChanged:
		return "NodeDataChanged"
	case NodeChildrenChanged:
		return "NodeChildrenChanged"
	case NotWatching:
		return "NotWatching"
	case EventsLost:
		return "EventsLost"
	case DataWatchRemoved:
		return "DataWatchRemoved"
	case ChildWatchRemoved:
		return "ChildWatchRemoved"
	case PersistentWatchRemoved:
		return "PersistentWatchRemoved"
	}
	return fmt.Sprintf("EventType(%d)", int32(t))
}

// change is a tree change that watches may be waiting for.
type change struct {
	Type EventType
	Path string
	Zxid int64
}

// treeReader reads znodes as of some state; absent nodes are nil.
type treeReader interface {
	node(path string) (*wire.Node, error)
}

// txn applies tree operations against a base state, keeping its changes to
// itself until the caller takes them; dropping a txn undoes everything it did.
// It is deterministic: its output depends only on the base state and its
// inputs.
type txn struct {
	base    treeReader
	zxid    int64
	now     int64                 // ms since the epoch
	session int64                 // issuing session, 0 for the ensemble itself
	ids     []wire.AuthID         // identities of the issuing session
	maxData int                   // data size limit in bytes
	nodes   map[string]*wire.Node // pending writes; nil deletes
	changes []change
}

func newTxn(base treeReader, zxid, now int64, maxData int) *txn {
	return &txn{base: base, zxid: zxid, now: now, maxData: maxData, nodes: make(map[string]*wire.Node)}
}

// get returns the node at path as the txn sees it. The result is shared: copy
// before changing.
func (t *txn) get(path string) (*wire.Node, error) {
	if n, ok := t.nodes[path]; ok {
		return n, nil
	}
	return t.base.node(path)
}

func (t *txn) put(path string, n *wire.Node) { t.nodes[path] = n }

// reset drops every pending change.
func (t *txn) reset() {
	clear(t.nodes)
	t.changes = t.changes[:0]
}

// opError is a failed operation: the sentinel and what was wrong.
type opError struct {
	err    error
	detail string
}

func (e *opError) Error() string {
	if e.detail == "" {
		return e.err.Error()
	}
	return e.err.Error() + " (" + e.detail + ")"
}
func (e *opError) Unwrap() error { return e.err }

func fail(err error) error { return &opError{err: err} }
func failf(err error, format string, args ...any) error {
	return &opError{err: err, detail: fmt.Sprintf(format, args...)}
}

// apply performs one operation. It returns the created path for creates, and
// the node's new Stat for operations that change a node.
func (t *txn) apply(op *wire.Op) (string, *Stat, error) {
	switch op.Kind {
	case wire.KindCreate:
		return t.create(op)
	case wire.KindDelete:
		return "", nil, t.delete(op.Path, op.Version)
	case wire.KindSetData:
		s, err := t.setData(op)
		return "", s, err
	case wire.KindSetACL:
		s, err := t.setACL(op)
		return "", s, err
	case wire.KindCheck:
		return "", nil, t.check(op)
	}
	return "", nil, failf(ErrUnimplemented, "operation %v", op.Kind)
}

func (t *txn) checkData(data []byte) error {
	if len(data) > t.maxData {
		return failf(ErrBadArguments, "data is %d bytes, the limit is %d", len(data), t.maxData)
	}
	return nil
}

func (t *txn) create(op *wire.Op) (string, *Stat, error) {
	mode := CreateMode(op.Mode)
	if !mode.valid() {
		return "", nil, failf(ErrBadArguments, "unknown create mode %d", op.Mode)
	}
	if err := validatePath(op.Path, mode.Sequential()); err != nil {
		return "", nil, failf(ErrBadArguments, "%v", err)
	}
	if err := t.checkData(op.Data); err != nil {
		return "", nil, err
	}
	switch {
	case mode.isTTL() && (op.TTL <= 0 || op.TTL > MaxTTL):
		return "", nil, failf(ErrBadArguments, "TTL %d ms is outside 1..%d", op.TTL, int64(MaxTTL))
	case !mode.isTTL() && op.TTL != 0:
		return "", nil, failf(ErrBadArguments, "TTL given for %v node", mode)
	case mode.nodeMode() == wire.ModeEphemeral && t.session == 0:
		return "", nil, failf(ErrBadArguments, "ephemeral node without a session")
	}
	if op.Path == "/" && !mode.Sequential() {
		return "", nil, fail(ErrNodeExists)
	}
	acl, err := t.fixACL(op.ACL)
	if err != nil {
		return "", nil, err
	}
	parentPath := parentOf(op.Path)
	parent, err := t.get(parentPath)
	if err != nil {
		return "", nil, err
	}
	if parent == nil {
		return "", nil, failf(ErrNoNode, "parent %s does not exist", parentPath)
	}
	if !allowed(parent.ACL, PermCreate, t.ids) {
		return "", nil, failf(ErrNoAuth, "no create permission on %s", parentPath)
	}
	path := op.Path
	if mode.Sequential() {
		path = fmt.Sprintf("%s%010d", path, sequenceNumber(parent))
	}
	if existing, err := t.get(path); err != nil {
		return "", nil, err
	} else if existing != nil {
		return "", nil, fail(ErrNodeExists)
	}
	if parent.Mode == wire.ModeEphemeral {
		return "", nil, failf(ErrNoChildrenForEphemerals, "parent %s is ephemeral", parentPath)
	}
	n := &wire.Node{
		Data: op.Data, ACL: acl,
		Czxid: t.zxid, Mzxid: t.zxid, Pzxid: t.zxid,
		Ctime: t.now, Mtime: t.now,
		Mode: mode.nodeMode(), TTL: op.TTL,
	}
	if n.Mode == wire.ModeEphemeral {
		n.Owner = t.session
	}
	p := *parent
	p.Cversion++
	p.NumChildren++
	p.Pzxid = t.zxid
	t.put(parentPath, &p)
	t.put(path, n)
	t.changes = append(t.changes, change{NodeCreated, path, t.zxid}, change{NodeChildrenChanged, parentPath, t.zxid})
	return path, statOf(n), nil
}

// fixACL validates an ACL and resolves it for storage; see toWireACL.
func (t *txn) fixACL(acl []wire.ACL) ([]wire.ACL, error) {
	out, err := toWireACL(fromWireACL(acl), t.ids)
	if err != nil {
		return nil, &opError{err: ErrInvalidACL, detail: strings.TrimPrefix(err.Error(), ErrInvalidACL.Error()+": ")}
	}
	return out, nil
}

func checkVersion(want, have int32) error {
	if want != -1 && want != have {
		return failf(ErrBadVersion, "expected version %d, node is at %d", want, have)
	}
	return nil
}

// existing validates path and returns its node, or ErrNoNode.
func (t *txn) existing(path string) (*wire.Node, error) {
	if err := validatePath(path, false); err != nil {
		return nil, failf(ErrBadArguments, "%v", err)
	}
	n, err := t.get(path)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, fail(ErrNoNode)
	}
	return n, nil
}

func (t *txn) delete(path string, version int32) error {
	if systemNode(path) {
		return failf(ErrBadArguments, "%s cannot be deleted", path)
	}
	// ZooKeeper's order: the parent, its DELETE permission, then the node.
	if err := validatePath(path, false); err != nil {
		return failf(ErrBadArguments, "%v", err)
	}
	parentPath := parentOf(path)
	parent, err := t.get(parentPath)
	if err != nil {
		return err
	}
	if parent == nil {
		return fail(ErrNoNode)
	}
	if !allowed(parent.ACL, PermDelete, t.ids) {
		return failf(ErrNoAuth, "no delete permission on %s", parentPath)
	}
	n, err := t.existing(path)
	if err != nil {
		return err
	}
	if err := checkVersion(version, n.Version); err != nil {
		return err
	}
	if n.NumChildren > 0 {
		return failf(ErrNotEmpty, "%d children", n.NumChildren)
	}
	t.remove(path, parentPath, parent)
	return nil
}

// remove deletes a childless node, updating its parent as ZooKeeper does.
func (t *txn) remove(path, parentPath string, parent *wire.Node) {
	p := *parent
	p.Cversion++
	p.NumChildren--
	p.Pzxid = t.zxid
	t.put(parentPath, &p)
	t.put(path, nil)
	t.changes = append(t.changes, change{NodeDeleted, path, t.zxid}, change{NodeChildrenChanged, parentPath, t.zxid})
}

func (t *txn) setData(op *wire.Op) (*Stat, error) {
	n, err := t.existing(op.Path)
	if err != nil {
		return nil, err
	}
	if err := t.checkData(op.Data); err != nil {
		return nil, err
	}
	if !allowed(n.ACL, PermWrite, t.ids) {
		return nil, failf(ErrNoAuth, "no write permission")
	}
	if err := checkVersion(op.Version, n.Version); err != nil {
		return nil, err
	}
	c := *n
	c.Data = op.Data
	c.Version++
	c.Mzxid = t.zxid
	c.Mtime = t.now
	t.put(op.Path, &c)
	t.changes = append(t.changes, change{NodeDataChanged, op.Path, t.zxid})
	return statOf(&c), nil
}

func (t *txn) setACL(op *wire.Op) (*Stat, error) {
	// ZooKeeper's order: the path, the new ACL, the node, ADMIN, the version.
	if err := validatePath(op.Path, false); err != nil {
		return nil, failf(ErrBadArguments, "%v", err)
	}
	acl, err := t.fixACL(op.ACL)
	if err != nil {
		return nil, err
	}
	n, err := t.existing(op.Path)
	if err != nil {
		return nil, err
	}
	if !allowed(n.ACL, PermAdmin, t.ids) {
		return nil, failf(ErrNoAuth, "no admin permission")
	}
	if op.Version != -1 && op.Version != n.Aversion {
		return nil, failf(ErrBadVersion, "expected ACL version %d, node is at %d", op.Version, n.Aversion)
	}
	c := *n
	c.ACL = acl
	c.Aversion++
	t.put(op.Path, &c)
	return statOf(&c), nil
}

func (t *txn) check(op *wire.Op) error {
	n, err := t.existing(op.Path)
	if err != nil {
		return err
	}
	if !allowed(n.ACL, PermRead, t.ids) {
		return failf(ErrNoAuth, "no read permission")
	}
	return checkVersion(op.Version, n.Version)
}

// reap removes path if it is still an empty container that has had children,
// or a childless TTL node unmodified for its TTL. It reports whether it did.
func (t *txn) reap(path string) (bool, error) {
	if validatePath(path, false) != nil || path == "/" {
		return false, nil
	}
	n, err := t.get(path)
	if err != nil || n == nil || n.NumChildren > 0 {
		return false, err // gone or busy since the leader looked
	}
	switch {
	case n.Mode == wire.ModeContainer && n.Cversion > 0:
	case n.Mode == wire.ModeTTL && t.now-n.Mtime > n.TTL:
	default:
		return false, nil
	}
	parentPath := parentOf(path)
	parent, err := t.get(parentPath)
	if err != nil {
		return false, err
	}
	if parent == nil {
		return false, corruptf("%s exists but its parent does not", path)
	}
	t.remove(path, parentPath, parent)
	return true, nil
}

// removeEphemeral deletes an ephemeral node of a closing session, which the
// ephemeral index lists.
func (t *txn) removeEphemeral(path string, session int64) error {
	n, err := t.get(path)
	if err != nil {
		return err
	}
	parentPath := parentOf(path)
	parent, err := t.get(parentPath)
	if err != nil {
		return err
	}
	if n == nil || n.Mode != wire.ModeEphemeral || n.Owner != session {
		return corruptf("the ephemeral index lists %s for session 0x%x, which owns no such node", path, session)
	}
	if parent == nil {
		return corruptf("%s exists but its parent does not", path)
	}
	t.remove(path, parentPath, parent)
	return nil
}

// errCorrupt marks a state the state machine can never produce: applying
// on from it would spread the damage, so it stops the member as a storage
// failure does.
var errCorrupt = errors.New("coord: the tree store is inconsistent")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
}

// multiResults is ZooKeeper's reply to a failed multi: operations before the
// failure report success, the failing one its error, later ones
// ErrRuntimeInconsistency.
func multiFailure(n, failed int, err error) []wire.OpResult {
	res := make([]wire.OpResult, n)
	for i := range res {
		switch {
		case i < failed:
			res[i].Code = 0
		case i == failed:
			res[i].Code = ErrorCode(err)
		default:
			res[i].Code = ErrRuntimeInconsistency.Code
		}
	}
	return res
}
