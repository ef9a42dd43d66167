package coord

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/wire"
)

// Tests of the pure tree layer (tree.go) against an in-memory treeReader.
// Expected ZooKeeper behaviour comes from ZooKeeper 3.8's documentation and
// source and from /tmp/zkref (ZooKeeper 3.8.0 measured on this machine).

// memTree is a treeReader over a map.
type memTree map[string]*wire.Node

func (m memTree) node(path string) (*wire.Node, error) { return m[path], nil }

// errTree fails reads of one path, like a broken store.
type errTree struct {
	memTree
	bad string
	err error
}

func (e errTree) node(path string) (*wire.Node, error) {
	if path == e.bad {
		return nil, e.err
	}
	return e.memTree.node(path)
}

var openWire = []wire.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}

const testMaxData = 100

// env is a tree plus the clock and identity of the session acting on it.
// Every txn takes the next zxid and a later time, as log entries do.
type env struct {
	tree    memTree
	zxid    int64
	now     int64
	session int64
	ids     []wire.AuthID
}

func newEnv() *env {
	return &env{tree: memTree{"/": {Data: []byte{}, ACL: openWire}}, zxid: 100, now: 1_000_000, session: 0x77}
}

func (e *env) txn() *txn {
	e.zxid++
	e.now += 10
	tx := newTxn(e.tree, e.zxid, e.now, testMaxData)
	tx.session, tx.ids = e.session, e.ids
	return tx
}

// commit writes a txn's pending nodes into the tree, as the state machine
// merges them into the store.
func (e *env) commit(tx *txn) {
	for p, n := range tx.nodes {
		if n == nil {
			delete(e.tree, p)
		} else {
			e.tree[p] = n
		}
	}
}

// do applies op in a txn of its own and commits it if it succeeded.
func (e *env) do(op *wire.Op) (string, *Stat, []change, error) {
	tx := e.txn()
	path, stat, err := tx.apply(op)
	if err == nil {
		e.commit(tx)
	}
	return path, stat, tx.changes, err
}

func (e *env) mustDo(t *testing.T, op *wire.Op) (string, *Stat) {
	t.Helper()
	p, s, _, err := e.do(op)
	require.NoError(t, err, "%v %s", op.Kind, op.Path)
	return p, s
}

func (e *env) stat(t *testing.T, path string) *Stat {
	t.Helper()
	n := e.tree[path]
	require.NotNil(t, n, "%s does not exist", path)
	return statOf(n)
}

func opCreate(path, data string, mode CreateMode) *wire.Op {
	return &wire.Op{Kind: wire.KindCreate, Path: path, Data: []byte(data), ACL: openWire, Mode: uint8(mode)}
}

func opCreateTTL(path string, mode CreateMode, ttl int64) *wire.Op {
	op := opCreate(path, "", mode)
	op.TTL = ttl
	return op
}

func opCreateACL(path string, acl ...wire.ACL) *wire.Op {
	return &wire.Op{Kind: wire.KindCreate, Path: path, ACL: acl}
}

func opDelete(path string, version int32) *wire.Op {
	return &wire.Op{Kind: wire.KindDelete, Path: path, Version: version}
}

func opSet(path, data string, version int32) *wire.Op {
	return &wire.Op{Kind: wire.KindSetData, Path: path, Data: []byte(data), Version: version}
}

func opSetACL(path string, version int32, acl ...wire.ACL) *wire.Op {
	return &wire.Op{Kind: wire.KindSetACL, Path: path, ACL: acl, Version: version}
}

func opCheck(path string, version int32) *wire.Op {
	return &wire.Op{Kind: wire.KindCheck, Path: path, Version: version}
}

// requireOpErr checks that err is the txn's own failure with sentinel want.
func requireOpErr(t *testing.T, err error, want *Error, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, want, msgAndArgs...)
	var oe *opError
	require.True(t, errors.As(err, &oe), "not an opError: %T %v", err, err)
	require.Equal(t, want.Code, ErrorCode(err))
}

func created(path, parent string, zxid int64) []change {
	return []change{{NodeCreated, path, zxid}, {NodeChildrenChanged, parent, zxid}}
}

func deleted(path, parent string, zxid int64) []change {
	return []change{{NodeDeleted, path, zxid}, {NodeChildrenChanged, parent, zxid}}
}

// ---- paths

func TestValidatePath(t *testing.T) {
	valid := []string{
		"/", "/a", "/a/b", "/a.b", "/a/.b", "/a/..b", "/a/b.", "/...", "/a b", "/日本", "/a\u00a0b", "/a\ud7ffb",
		"/a\uf900b", "/a\ufeffb", "/a-b_c:d@e", "/zookeeper",
	}
	for _, p := range valid {
		assert.NoError(t, validatePath(p, false), "%q", p)
		assert.NoError(t, validatePath(p, true), "%q sequential", p)
	}
	invalid := map[string]string{
		"":                "empty",
		"a":               "start with /",
		"a/b":             "start with /",
		"/a/":             "end with /",
		"//":              "end with /",
		"/a//b":           "empty node name",
		"//a":             "empty node name",
		"/a/./b":          "relative",
		"/a/../b":         "relative",
		"/a/.":            "relative",
		"/a/..":           "relative",
		"/.":              "relative",
		"/..":             "relative",
		"/./a":            "relative",
		"/a\x00b":         "NUL",
		"/a\x00":          "NUL",
		"/a\x01b":         "invalid character",
		"/a\x1fb":         "invalid character",
		"/a\tb":           "invalid character",
		"/a\nb":           "invalid character",
		"/a\x7fb":         "invalid character",
		"/a\u0080b":       "invalid character",
		"/a\u0085b":       "invalid character",
		"/a\u009fb":       "invalid character",
		"/a\ue000b":       "invalid character",
		"/a\uf8ffb":       "invalid character",
		"/a\ufff0b":       "invalid character",
		"/a\ufffdb":       "invalid character",
		"/a\uffffb":       "invalid character",
		"/a\xffb":         "UTF-8",
		"/a\xed\xa0\x80b": "UTF-8", // an encoded surrogate
	}
	for p, want := range invalid {
		err := validatePath(p, false)
		if assert.Error(t, err, "%q", p) {
			assert.Contains(t, err.Error(), want, "%q", p)
		}
	}
	// Sequential paths may end in a slash (the counter completes the name)
	// but every other rule still applies.
	for _, p := range []string{"/a/", "/"} {
		assert.NoError(t, validatePath(p, true), "%q sequential", p)
	}
	for _, p := range []string{"", "a", "a/", "/a//", "/a/./", "/a/../", "/a\x00/", "//"} {
		assert.Error(t, validatePath(p, true), "%q sequential", p)
	}
}

func TestValidatePathSupplementaryCharacters(t *testing.T) {
	// ZooKeeper checks UTF-16 code units, so a character outside the Basic
	// Multilingual Plane (a surrogate pair in Java) falls in the forbidden
	// \ud800-\uf8ff range and ZooKeeper 3.8 refuses "/😀" with
	// BadArguments. validatePath checks code points and accepts it.
	require.Error(t, validatePath("/\U0001F600", false))
}

func TestPathParentAndName(t *testing.T) {
	for _, c := range []struct{ path, parent, name string }{
		{"/", "/", ""},
		{"/a", "/", "a"},
		{"/a/b", "/a", "b"},
		{"/a/b/c", "/a/b", "c"},
		{"/a.b/c d", "/a.b", "c d"},
		{"/seq/", "/seq", ""},
		{"/日本/語", "/日本", "語"},
	} {
		assert.Equal(t, c.parent, parentOf(c.path), "parentOf(%q)", c.path)
		assert.Equal(t, c.name, nameOf(c.path), "nameOf(%q)", c.path)
	}
}

// ---- create

func TestTreeCreateModes(t *testing.T) {
	const sid = 0x0100_0015_e7b7_0000
	cases := []struct {
		mode      CreateMode
		path      string
		ttl       int64
		want      string // created path
		nodeMode  uint8
		owner     int64 // stored Owner
		statOwner int64 // Stat.EphemeralOwner
	}{
		{Persistent, "/p", 0, "/p", wire.ModePersistent, 0, 0},
		{Ephemeral, "/p", 0, "/p", wire.ModeEphemeral, sid, sid},
		{PersistentSequential, "/p-", 0, "/p-0000000003", wire.ModePersistent, 0, 0},
		{EphemeralSequential, "/p-", 0, "/p-0000000003", wire.ModeEphemeral, sid, sid},
		{Container, "/p", 0, "/p", wire.ModeContainer, 0, 0},
		{PersistentWithTTL, "/p", 5000, "/p", wire.ModeTTL, 0, 0},
		{PersistentSequentialWithTTL, "/p-", 1, "/p-0000000003", wire.ModeTTL, 0, 0},
		{PersistentWithTTL, "/p", MaxTTL, "/p", wire.ModeTTL, 0, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%d", c.mode, c.ttl), func(t *testing.T) {
			e := newEnv()
			e.session = sid
			// Three creates and no deletes so far: the next suffix is 3.
			e.tree["/"].Cversion = 3
			e.tree["/"].NumChildren = 3
			root := *e.tree["/"]
			op := opCreate(c.path, "data", c.mode)
			op.TTL = c.ttl
			path, stat, changes, err := e.do(op)
			require.NoError(t, err)
			require.Equal(t, c.want, path)
			require.Equal(t, created(c.want, "/", e.zxid), changes)

			n := e.tree[c.want]
			require.NotNil(t, n)
			assert.Equal(t, c.nodeMode, n.Mode)
			assert.Equal(t, c.owner, n.Owner)
			assert.Equal(t, c.ttl, n.TTL)
			assert.Equal(t, []byte("data"), n.Data)
			assert.Equal(t, openWire, n.ACL)
			want := &Stat{Czxid: e.zxid, Mzxid: e.zxid, Pzxid: e.zxid, Ctime: e.now, Mtime: e.now,
				EphemeralOwner: c.statOwner, DataLength: 4}
			assert.Equal(t, want, stat)
			assert.Equal(t, want, statOf(n))

			// The parent gains a child: cversion, numChildren and pzxid
			// change, nothing else does.
			root.Cversion++
			root.NumChildren++
			root.Pzxid = e.zxid
			assert.Equal(t, &root, e.tree["/"])
		})
	}
}

func TestTreeStatHidesContainerAndTTLMarkers(t *testing.T) {
	// ZooKeeper 3.8's DataNode.copyStat reports ephemeralOwner 0 for
	// container and TTL nodes (getClientEphemeralOwner); measured in
	// /tmp/zkref: "container ... ephemeralOwner=0", "TTL ... ephemeralOwner=0".
	assert.Zero(t, statOf(&wire.Node{Mode: wire.ModeContainer}).EphemeralOwner)
	assert.Zero(t, statOf(&wire.Node{Mode: wire.ModeTTL, TTL: 5000}).EphemeralOwner)
}

func TestTreeCreateNestedAndData(t *testing.T) {
	e := newEnv()
	e.mustDo(t, opCreate("/a", "", Persistent))
	p, s := e.mustDo(t, opCreate("/a/b", "", Container))
	require.Equal(t, "/a/b", p)
	require.Equal(t, int32(0), s.DataLength)
	p, _ = e.mustDo(t, opCreate("/a/b/c", "x", Persistent)) // containers and TTL nodes take children
	require.Equal(t, "/a/b/c", p)
	e.mustDo(t, opCreateTTL("/t", PersistentWithTTL, 10))
	e.mustDo(t, opCreate("/t/c", "", Ephemeral))

	// Data up to the limit is fine, empty and nil data too.
	_, s = e.mustDo(t, opCreate("/big", string(make([]byte, testMaxData)), Persistent))
	require.Equal(t, int32(testMaxData), s.DataLength)
	op := opCreate("/nil", "", Persistent)
	op.Data = nil
	_, s = e.mustDo(t, op)
	require.Equal(t, int32(0), s.DataLength)
	require.Equal(t, int32(4), e.stat(t, "/").NumChildren) // /a, /t, /big, /nil
}

func TestTreeSequentialNames(t *testing.T) {
	// Mirrors the "Sequential nodes" table measured on ZooKeeper 3.8.0.
	e := newEnv()
	e.mustDo(t, opCreate("/seq", "", Persistent))
	for i := 0; i < 3; i++ {
		p, _ := e.mustDo(t, opCreate("/seq/n-", "", PersistentSequential))
		require.Equal(t, fmt.Sprintf("/seq/n-%010d", i), p)
	}
	e.mustDo(t, opDelete("/seq/n-0000000001", -1))
	require.Equal(t, int32(4), e.stat(t, "/seq").Cversion, "deletes count in cversion")
	p, _ := e.mustDo(t, opCreate("/seq/n-", "", PersistentSequential))
	require.Equal(t, "/seq/n-0000000003", p, "the suffix counts creates only")
	e.mustDo(t, opCreate("/seq/plain", "", Persistent))
	p, _ = e.mustDo(t, opCreate("/seq/x-", "", PersistentSequential))
	require.Equal(t, "/seq/x-0000000005", p)

	// Data and ACL changes of the parent do not move the counter.
	e.mustDo(t, opSet("/seq", "d", -1))
	e.mustDo(t, opSetACL("/seq", -1, openWire...))
	p, _ = e.mustDo(t, opCreate("/seq/n-", "", PersistentSequential))
	require.Equal(t, "/seq/n-0000000006", p)

	// A name ending in a slash is just the counter.
	p, _ = e.mustDo(t, opCreate("/seq/", "", PersistentSequential))
	require.Equal(t, "/seq/0000000007", p)
	p, _ = e.mustDo(t, opCreate("/seq/", "", EphemeralSequential))
	require.Equal(t, "/seq/0000000008", p)
	p, _ = e.mustDo(t, opCreateTTL("/seq/", PersistentSequentialWithTTL, 100))
	require.Equal(t, "/seq/0000000009", p)
	_, _, _, err := e.do(opCreate("/seq/", "", Persistent))
	requireOpErr(t, err, ErrBadArguments, "a non-sequential name may not end in /")

	// A sequential child of the root.
	p, _ = e.mustDo(t, opCreate("/", "", PersistentSequential))
	require.Equal(t, "/0000000001", p)

	// A hand-made name that the counter reaches later: NodeExists, and the
	// failed create leaves the counter where it was.
	st := e.stat(t, "/seq")
	next := (int64(st.Cversion)+int64(st.NumChildren))/2 + 1 // counts the hand-made create
	e.mustDo(t, opCreate(fmt.Sprintf("/seq/k-%010d", next), "", Persistent))
	cv := e.stat(t, "/seq").Cversion
	for range 2 {
		_, _, _, err = e.do(opCreate("/seq/k-", "", PersistentSequential))
		requireOpErr(t, err, ErrNodeExists)
		require.Equal(t, cv, e.stat(t, "/seq").Cversion)
	}

	// A failed sequential create under a missing parent.
	_, _, _, err = e.do(opCreate("/nope/s-", "", PersistentSequential))
	requireOpErr(t, err, ErrNoNode)
}

func TestTreeSequentialCounterCountsCreatesOnly(t *testing.T) {
	// ZooKeeper 3.8 keeps two counters apart: the stored cversion counts
	// only creates and is the sequence suffix, while the Stat it reports is
	// 2*creates-numChildren (DataNode.copyStat), i.e. creates+deletes.
	// Measured on 3.8.0: after n-0..n-2 and deleting n-1 the reported
	// cversion is 4 but the next name is n-0000000003, then plain and x-
	// give x-0000000005. txn.create uses the reported cversion (creates and
	// deletes); sequenceNumber derives the creates from it.
	e := newEnv()
	e.mustDo(t, opCreate("/seq", "", Persistent))
	for range 3 {
		e.mustDo(t, opCreate("/seq/n-", "", PersistentSequential))
	}
	e.mustDo(t, opDelete("/seq/n-0000000001", -1))
	require.Equal(t, int32(4), e.stat(t, "/seq").Cversion)
	p, _ := e.mustDo(t, opCreate("/seq/n-", "", PersistentSequential))
	require.Equal(t, "/seq/n-0000000003", p)
}

func TestTreeCreateErrors(t *testing.T) {
	long := string(make([]byte, testMaxData+1))
	noCreate := []wire.ACL{{Perms: int32(PermAll &^ PermCreate), Scheme: "world", ID: "anyone"}}
	setup := func() *env {
		e := newEnv()
		e.mustDo(t, opCreate("/a", "", Persistent))
		e.mustDo(t, opCreate("/eph", "", Ephemeral))
		e.mustDo(t, opCreate("/locked", "", Persistent))
		e.mustDo(t, opCreate("/locked/c", "", Persistent))
		e.mustDo(t, opSetACL("/locked", -1, noCreate...))
		return e
	}
	cases := []struct {
		name    string
		op      *wire.Op
		session int64
		want    *Error
		detail  string
	}{
		{"missing parent", opCreate("/nope/x", "", Persistent), 1, ErrNoNode, "parent /nope does not exist"},
		{"missing parent, ephemeral sequential", opCreate("/nope/x", "", EphemeralSequential), 1, ErrNoNode, ""},
		{"missing parent under ephemeral", opCreate("/eph/x/y", "", Persistent), 1, ErrNoNode, ""},
		{"exists", opCreate("/a", "", Persistent), 1, ErrNodeExists, ""},
		{"exists, ephemeral", opCreate("/a", "", Ephemeral), 1, ErrNodeExists, ""},
		{"root", opCreate("/", "", Persistent), 1, ErrNodeExists, ""},
		{"root, container", opCreate("/", "", Container), 1, ErrNodeExists, ""},
		{"child of ephemeral", opCreate("/eph/x", "", Persistent), 1, ErrNoChildrenForEphemerals, "parent /eph is ephemeral"},
		{"ephemeral child of ephemeral", opCreate("/eph/x", "", Ephemeral), 1, ErrNoChildrenForEphemerals, ""},
		{"sequential child of ephemeral", opCreate("/eph/x", "", PersistentSequential), 1, ErrNoChildrenForEphemerals, ""},
		{"container child of ephemeral", opCreate("/eph/x", "", Container), 1, ErrNoChildrenForEphemerals, ""},
		{"TTL child of ephemeral", opCreateTTL("/eph/x", PersistentWithTTL, 10), 1, ErrNoChildrenForEphemerals, ""},
		{"no create permission", opCreate("/locked/n", "", Persistent), 1, ErrNoAuth, "no create permission on /locked"},
		{"no create permission, child exists", opCreate("/locked/c", "", Persistent), 1, ErrNoAuth, ""},
		{"no create permission, parent missing", opCreate("/locked/missing/x", "", Persistent), 1, ErrNoNode, ""},
		{"empty ACL", opCreateACL("/b"), 1, ErrInvalidACL, "empty ACL list"},
		{"unknown scheme", opCreateACL("/b", wire.ACL{Perms: 31, Scheme: "foo", ID: "bar"}), 1, ErrInvalidACL, `unknown scheme "foo"`},
		{"valid and invalid ACL", opCreateACL("/b", openWire[0], wire.ACL{Perms: 31, Scheme: "ip", ID: "300.1.1.1"}), 1, ErrInvalidACL, ""},
		{"auth without identity", opCreateACL("/b", wire.ACL{Perms: 31, Scheme: "auth"}), 1, ErrInvalidACL, "no authenticated identity"},
		{"invalid ACL beats missing parent", opCreateACL("/nope/b"), 1, ErrInvalidACL, ""},
		{"data over the limit", opCreate("/b", long, Persistent), 1, ErrBadArguments, fmt.Sprintf("data is %d bytes, the limit is %d", testMaxData+1, testMaxData)},
		{"mode 7", opCreate("/b", "", 7), 1, ErrBadArguments, "unknown create mode 7"},
		{"mode 255", opCreate("/b", "", 255), 1, ErrBadArguments, "unknown create mode 255"},
		{"TTL 0", opCreateTTL("/b", PersistentWithTTL, 0), 1, ErrBadArguments, "TTL 0 ms is outside 1..1099511627775"},
		{"TTL -1", opCreateTTL("/b", PersistentWithTTL, -1), 1, ErrBadArguments, ""},
		{"TTL 2^40", opCreateTTL("/b", PersistentWithTTL, MaxTTL+1), 1, ErrBadArguments, ""},
		{"sequential TTL 0", opCreateTTL("/b", PersistentSequentialWithTTL, 0), 1, ErrBadArguments, ""},
		{"TTL for persistent", opCreateTTL("/b", Persistent, 5000), 1, ErrBadArguments, "TTL given for persistent node"},
		{"TTL for ephemeral", opCreateTTL("/b", Ephemeral, 5000), 1, ErrBadArguments, ""},
		{"TTL for container", opCreateTTL("/b", Container, 5000), 1, ErrBadArguments, ""},
		{"TTL for sequential", opCreateTTL("/b", PersistentSequential, 5000), 1, ErrBadArguments, ""},
		{"ephemeral without session", opCreate("/b", "", Ephemeral), 0, ErrBadArguments, "ephemeral node without a session"},
		{"ephemeral sequential without session", opCreate("/b", "", EphemeralSequential), 0, ErrBadArguments, ""},
		// Argument errors come first, before anything is looked up.
		{"bad mode beats bad path", opCreate("bad", "", 9), 1, ErrBadArguments, "unknown create mode"},
		{"bad path beats big data", opCreate("bad", long, Persistent), 1, ErrBadArguments, "must start with /"},
		{"big data beats missing parent", opCreate("/nope/x", long, Persistent), 1, ErrBadArguments, "data is"},
	}
	for _, p := range []string{"", "a", "a/b", "/a/", "/a//b", "//a", "/a/./b", "/a/../b", "/a/.", "/a/..", "/.", "/..",
		"/a\x00b", "/a\x01b", "/a\x1fb", "/a\tb", "/a\x7fb", "/a\u0085b", "/a\ue000b", "/a\uf8ffb", "/a\ufff0b",
		"/a\uffffb", "/a\xffb"} {
		cases = append(cases, struct {
			name    string
			op      *wire.Op
			session int64
			want    *Error
			detail  string
		}{fmt.Sprintf("path %q", p), opCreate(p, "", Persistent), 1, ErrBadArguments, ""})
	}
	cases = append(cases, struct {
		name    string
		op      *wire.Op
		session int64
		want    *Error
		detail  string
	}{`sequential "/a//"`, opCreate("/a//", "", PersistentSequential), 1, ErrBadArguments, "empty node name"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := setup()
			e.session = c.session
			before := cloneTree(e.tree)
			tx := e.txn()
			path, stat, err := tx.apply(c.op)
			requireOpErr(t, err, c.want)
			if c.detail != "" {
				require.Contains(t, err.Error(), c.detail)
			}
			require.Empty(t, path)
			require.Nil(t, stat)
			require.Empty(t, tx.changes, "a failed op reports no changes")
			require.Empty(t, tx.nodes, "a failed create stages nothing")
			require.Equal(t, before, cloneTree(e.tree))
		})
	}
}

func cloneTree(m memTree) map[string]wire.Node {
	out := make(map[string]wire.Node, len(m))
	for k, v := range m {
		out[k] = *v
	}
	return out
}

func TestTreeCreateACL(t *testing.T) {
	alice := wire.AuthID{Scheme: "digest", ID: DigestID("alice:alice-pw")}
	bob := wire.AuthID{Scheme: "digest", ID: DigestID("bob:")}
	e := newEnv()
	e.ids = []wire.AuthID{{Scheme: "ip", ID: "127.0.0.1"}, alice, bob, superID}

	// auth is replaced by the session's digest identities; duplicates go.
	e.mustDo(t, opCreateACL("/auth", wire.ACL{Perms: 31, Scheme: "auth"}, wire.ACL{Perms: 31, Scheme: "auth", ID: "ignored"},
		wire.ACL{Perms: 1, Scheme: "world", ID: "anyone"}, wire.ACL{Perms: 1, Scheme: "world", ID: "anyone"}))
	require.Equal(t, []wire.ACL{{Perms: 31, Scheme: "digest", ID: alice.ID}, {Perms: 31, Scheme: "digest", ID: bob.ID},
		{Perms: 1, Scheme: "world", ID: "anyone"}}, e.tree["/auth"].ACL)

	// The parent's ACL decides creation, the new node's own ACL does not.
	e.ids = []wire.AuthID{alice}
	e.mustDo(t, opCreateACL("/auth/c", wire.ACL{Perms: 0, Scheme: "world", ID: "anyone"}))
	e.ids = []wire.AuthID{bob}
	e.mustDo(t, opCreate("/auth/d", "", Persistent))
	e.ids = nil
	_, _, _, err := e.do(opCreate("/auth/e", "", Persistent))
	requireOpErr(t, err, ErrNoAuth)
	// The super identity passes every check.
	e.ids = []wire.AuthID{superID}
	e.mustDo(t, opCreate("/auth/c/x", "", Persistent))
}

// ---- delete

func TestTreeDelete(t *testing.T) {
	e := newEnv()
	e.mustDo(t, opCreate("/a", "", Persistent))
	e.mustDo(t, opCreate("/a/b", "", Persistent))
	e.mustDo(t, opSet("/a/b", "x", -1))
	parent := *e.tree["/a"]

	for _, c := range []struct {
		name    string
		path    string
		version int32
		want    *Error
	}{
		{"missing", "/nope", -1, ErrNoNode},
		{"missing with version", "/nope", 5, ErrNoNode},
		{"missing parent", "/nope/x", -1, ErrNoNode},
		{"root", "/", -1, ErrBadArguments},
		{"bad version", "/a/b", 3, ErrBadVersion},
		{"version -2", "/a/b", -2, ErrBadVersion},
		{"version 0 after a set", "/a/b", 0, ErrBadVersion},
		{"not empty", "/a", -1, ErrNotEmpty},
		{"not empty, matching version", "/a", 0, ErrNotEmpty},
		{"not empty, bad version: version is checked first", "/a", 7, ErrBadVersion},
		{"empty path", "", -1, ErrBadArguments},
		{"relative path", "a", -1, ErrBadArguments},
		{"trailing slash", "/a/", -1, ErrBadArguments},
		{"NUL", "/a\x00", -1, ErrBadArguments},
	} {
		_, _, changes, err := e.do(opDelete(c.path, c.version))
		requireOpErr(t, err, c.want, c.name)
		require.Empty(t, changes, c.name)
	}
	require.Contains(t, e.tree, "/a/b")

	_, stat, changes, err := e.do(opDelete("/a/b", 1))
	require.NoError(t, err)
	require.Nil(t, stat)
	require.Equal(t, deleted("/a/b", "/a", e.zxid), changes)
	require.NotContains(t, e.tree, "/a/b")
	parent.Cversion++
	parent.NumChildren--
	parent.Pzxid = e.zxid
	require.Equal(t, &parent, e.tree["/a"], "only cversion, numChildren and pzxid of the parent change")

	_, _, _, err = e.do(opDelete("/a/b", -1))
	requireOpErr(t, err, ErrNoNode)
	e.mustDo(t, opDelete("/a", 0))
	require.Equal(t, memTree{"/": e.tree["/"]}, e.tree)
	require.Equal(t, int32(2), e.tree["/"].Cversion)
	require.Equal(t, int32(0), e.tree["/"].NumChildren)
}

func TestTreeDeletePermissions(t *testing.T) {
	alice := wire.AuthID{Scheme: "digest", ID: DigestID("alice:pw")}
	e := newEnv()
	e.mustDo(t, opCreate("/p", "", Persistent))
	e.mustDo(t, opCreate("/p/c", "", Persistent))
	e.mustDo(t, opCreate("/p/c/g", "", Persistent))
	e.mustDo(t, opSetACL("/p", -1, wire.ACL{Perms: int32(PermDelete), Scheme: "digest", ID: alice.ID}))
	e.mustDo(t, opSetACL("/p/c", -1, wire.ACL{Perms: 0, Scheme: "world", ID: "anyone"}))

	// The parent's DELETE permission decides; it is checked before the
	// version and the children.
	_, _, _, err := e.do(opDelete("/p/c", 99))
	requireOpErr(t, err, ErrNoAuth)
	_, _, _, err = e.do(opDelete("/p/c", -1))
	requireOpErr(t, err, ErrNoAuth)
	e.ids = []wire.AuthID{alice}
	_, _, _, err = e.do(opDelete("/p/c", 99))
	requireOpErr(t, err, ErrBadVersion)
	_, _, _, err = e.do(opDelete("/p/c", -1))
	requireOpErr(t, err, ErrNotEmpty)
	// The node's own ACL (no permissions at all) does not matter, nor does
	// its parent's lack of anything but DELETE.
	e.ids = []wire.AuthID{superID}
	e.mustDo(t, opDelete("/p/c/g", -1))
	e.ids = []wire.AuthID{alice}
	e.mustDo(t, opDelete("/p/c", -1))
	// Deleting /p needs DELETE on the root, which everyone has.
	e.ids = nil
	e.mustDo(t, opDelete("/p", -1))
}

func TestTreeDeleteMissingChildWithoutPermission(t *testing.T) {
	// ZooKeeper 3.8 checks the parent's DELETE permission before it looks
	// for the node (PrepRequestProcessor: parent, checkACL, node), so
	// deleting a missing child of a parent the session may not delete from
	// is NoAuth; measured: "delete missing child p/zz=NoAuth(-102)".
	e := newEnv()
	e.mustDo(t, opCreate("/p", "", Persistent))
	e.mustDo(t, opSetACL("/p", -1, wire.ACL{Perms: int32(PermRead), Scheme: "world", ID: "anyone"}))
	_, _, _, err := e.do(opDelete("/p/zz", -1))
	requireOpErr(t, err, ErrNoAuth)
	_, _, _, err = e.do(opDelete("/p/zz/y", -1))
	requireOpErr(t, err, ErrNoNode, "a missing parent is still NoNode")
}

// ---- setData

func TestTreeSetData(t *testing.T) {
	e := newEnv()
	e.mustDo(t, opCreate("/a", "v0", Persistent))
	e.mustDo(t, opCreate("/a/c", "", Persistent))
	czxid, ctime := e.tree["/a"].Czxid, e.tree["/a"].Ctime
	before := *e.tree["/a"]

	_, stat, changes, err := e.do(opSet("/a", "v1", 0))
	require.NoError(t, err)
	require.Equal(t, []change{{NodeDataChanged, "/a", e.zxid}}, changes)
	want := &Stat{Czxid: czxid, Mzxid: e.zxid, Pzxid: before.Pzxid, Ctime: ctime, Mtime: e.now, Version: 1,
		Cversion: 1, NumChildren: 1, DataLength: 2}
	require.Equal(t, want, stat)
	require.Equal(t, want, e.stat(t, "/a"))
	require.Equal(t, []byte("v1"), e.tree["/a"].Data)

	// -1 matches any version; the same bytes still count as a change.
	_, stat, _, err = e.do(opSet("/a", "v1", -1))
	require.NoError(t, err)
	require.Equal(t, int32(2), stat.Version)
	require.Equal(t, e.zxid, stat.Mzxid)
	require.Equal(t, e.now, stat.Mtime)

	// Empty data.
	_, stat, _, err = e.do(opSet("/a", "", 2))
	require.NoError(t, err)
	require.Equal(t, int32(0), stat.DataLength)
	require.Equal(t, int32(3), stat.Version)

	// The children and the parent are untouched.
	require.Equal(t, int32(0), e.stat(t, "/a/c").Version)
	require.Equal(t, int32(1), e.stat(t, "/").Cversion)

	noWrite := []wire.ACL{{Perms: int32(PermAll &^ PermWrite), Scheme: "world", ID: "anyone"}}
	e.mustDo(t, opCreateACL("/ro", noWrite...))
	for _, c := range []struct {
		name string
		op   *wire.Op
		want *Error
	}{
		{"missing", opSet("/nope", "", -1), ErrNoNode},
		{"bad version", opSet("/a", "", 0), ErrBadVersion},
		{"version -2", opSet("/a", "", -2), ErrBadVersion},
		{"data over the limit", opSet("/a", string(make([]byte, testMaxData+1)), -1), ErrBadArguments},
		{"no write permission", opSet("/ro", "", -1), ErrNoAuth},
		{"no write permission beats bad version", opSet("/ro", "", 99), ErrNoAuth},
		{"empty path", opSet("", "", -1), ErrBadArguments},
		{"relative path", opSet("a", "", -1), ErrBadArguments},
		{"trailing slash", opSet("/a/", "", -1), ErrBadArguments},
		{"double slash", opSet("/a//c", "", -1), ErrBadArguments},
		{"dot", opSet("/a/./c", "", -1), ErrBadArguments},
	} {
		_, stat, changes, err := e.do(c.op)
		requireOpErr(t, err, c.want, c.name)
		require.Nil(t, stat, c.name)
		require.Empty(t, changes, c.name)
	}
	require.Equal(t, int32(3), e.stat(t, "/a").Version)

	// The root can be written.
	_, stat, _, err = e.do(opSet("/", "r", -1))
	require.NoError(t, err)
	require.Equal(t, int32(1), stat.Version)
	// Data of exactly the limit is fine.
	e.mustDo(t, opSet("/a", string(make([]byte, testMaxData)), -1))
}

// ---- setACL

func TestTreeSetACL(t *testing.T) {
	alice := wire.AuthID{Scheme: "digest", ID: DigestID("alice:pw")}
	e := newEnv()
	e.mustDo(t, opCreate("/a", "d", Persistent))
	e.mustDo(t, opCreate("/a/c", "", Persistent))
	before := *e.tree["/a"]

	readOnly := wire.ACL{Perms: int32(PermRead), Scheme: "world", ID: "anyone"}
	_, stat, changes, err := e.do(opSetACL("/a", 0, readOnly))
	require.NoError(t, err)
	require.Empty(t, changes, "ACL changes trigger no watches")
	after := before
	after.ACL = []wire.ACL{readOnly}
	after.Aversion = 1
	require.Equal(t, &after, e.tree["/a"], "only the ACL and aversion change; mzxid and mtime do not")
	require.Equal(t, statOf(&after), stat)

	// The node is now read-only: no ADMIN, so setACL itself is refused.
	_, _, _, err = e.do(opSetACL("/a", -1, openWire...))
	requireOpErr(t, err, ErrNoAuth)
	_, _, _, err = e.do(opSetACL("/a", 99, openWire...))
	requireOpErr(t, err, ErrNoAuth, "no admin permission beats a bad version")

	// ADMIN for alice only.
	e.ids = []wire.AuthID{superID}
	e.mustDo(t, opSetACL("/a", 1, wire.ACL{Perms: int32(PermAdmin), Scheme: "digest", ID: alice.ID}))
	e.ids = []wire.AuthID{alice}
	for _, c := range []struct {
		name string
		op   *wire.Op
		want *Error
	}{
		{"missing", opSetACL("/nope", -1, openWire...), ErrNoNode},
		{"bad aversion", opSetACL("/a", 0, openWire...), ErrBadVersion},
		{"aversion -2", opSetACL("/a", -2, openWire...), ErrBadVersion},
		{"data version is not the ACL version", opSetACL("/a", before.Version, openWire...), ErrBadVersion},
		{"empty ACL", opSetACL("/a", -1), ErrInvalidACL},
		{"world:someone", opSetACL("/a", -1, wire.ACL{Perms: 31, Scheme: "world", ID: "someone"}), ErrInvalidACL},
		{"bad path", opSetACL("/a/", -1, openWire...), ErrBadArguments},
	} {
		_, stat, _, err := e.do(c.op)
		requireOpErr(t, err, c.want, c.name)
		require.Nil(t, stat, c.name)
	}
	_, stat, _, err = e.do(opSetACL("/a", 2, wire.ACL{Perms: 31, Scheme: "auth"}))
	require.NoError(t, err)
	require.Equal(t, int32(3), stat.Aversion)
	require.Equal(t, []wire.ACL{{Perms: 31, Scheme: "digest", ID: alice.ID}}, e.tree["/a"].ACL)
	_, stat, _, err = e.do(opSetACL("/a", -1, openWire...))
	require.NoError(t, err)
	require.Equal(t, int32(4), stat.Aversion)
	require.Equal(t, before.Mzxid, stat.Mzxid)
	require.Equal(t, before.Version, stat.Version)
}

func TestTreeSetACLErrorOrder(t *testing.T) {
	// ZooKeeper 3.8 validates the new ACL before it looks at the node
	// (PrepRequestProcessor setACL: validatePath, fixupACL, getRecordForPath,
	// checkACL ADMIN, checkAndIncVersion).
	e := newEnv()
	e.mustDo(t, opCreateACL("/ro", wire.ACL{Perms: int32(PermRead), Scheme: "world", ID: "anyone"}))
	for _, c := range []struct {
		name string
		op   *wire.Op
		want *Error
	}{
		{"bad path beats invalid ACL", opSetACL("a", -1), ErrBadArguments},
		{"invalid ACL beats missing node", opSetACL("/nope", -1), ErrInvalidACL},
		{"invalid ACL beats no admin permission", opSetACL("/ro", -1), ErrInvalidACL},
		{"invalid ACL beats bad version", opSetACL("/ro", 7, wire.ACL{Perms: 31, Scheme: "super"}), ErrInvalidACL},
		{"auth without identity beats missing node", opSetACL("/nope", -1, wire.ACL{Perms: 31, Scheme: "auth"}), ErrInvalidACL},
		{"missing node beats everything else", opSetACL("/nope", 7, openWire...), ErrNoNode},
		{"no admin permission beats bad version", opSetACL("/ro", 7, openWire...), ErrNoAuth},
	} {
		_, _, _, err := e.do(c.op)
		requireOpErr(t, err, c.want, c.name)
	}
}

// ---- check

func TestTreeCheck(t *testing.T) {
	e := newEnv()
	e.mustDo(t, opCreate("/a", "", Persistent))
	e.mustDo(t, opSet("/a", "x", -1))
	e.mustDo(t, opCreateACL("/w", wire.ACL{Perms: int32(PermWrite), Scheme: "world", ID: "anyone"}))
	before := cloneTree(e.tree)
	for _, v := range []int32{1, -1} {
		path, stat, changes, err := e.do(opCheck("/a", v))
		require.NoError(t, err)
		require.Empty(t, path)
		require.Nil(t, stat)
		require.Empty(t, changes)
	}
	for _, c := range []struct {
		name string
		op   *wire.Op
		want *Error
	}{
		{"bad version", opCheck("/a", 0), ErrBadVersion},
		{"version -2", opCheck("/a", -2), ErrBadVersion},
		{"missing", opCheck("/nope", -1), ErrNoNode},
		{"bad path", opCheck("a", -1), ErrBadArguments},
		{"no read permission", opCheck("/w", 0), ErrNoAuth},
	} {
		_, _, _, err := e.do(c.op)
		requireOpErr(t, err, c.want, c.name)
	}
	require.Equal(t, before, cloneTree(e.tree), "check changes nothing")
}

func TestTreeUnknownOp(t *testing.T) {
	e := newEnv()
	for _, k := range []wire.Kind{0, wire.KindMulti, wire.KindReap, 99} {
		_, _, _, err := e.do(&wire.Op{Kind: k, Path: "/"})
		requireOpErr(t, err, ErrUnimplemented)
	}
}

// ---- stat bookkeeping over a node's life

func TestTreeStatLifecycle(t *testing.T) {
	// The "Stat lifecycle" table measured on ZooKeeper 3.8.0, zxid by zxid.
	e := newEnv()
	B, T := e.zxid, e.now // each txn: zxid+1, time+10
	at := func(i int64) (int64, int64) { return B + i, T + 10*i }

	z1, t1 := at(1)
	p, s := e.mustDo(t, opCreate("/st", "p", Persistent))
	require.Equal(t, "/st", p)
	parent := Stat{Czxid: z1, Mzxid: z1, Pzxid: z1, Ctime: t1, Mtime: t1, DataLength: 1}
	require.Equal(t, &parent, s)
	require.Equal(t, &parent, e.stat(t, "/st"))

	z2, t2 := at(2)
	e.mustDo(t, opCreate("/st/c", "c", Persistent))
	parent.Pzxid, parent.Cversion, parent.NumChildren = z2, 1, 1
	child := Stat{Czxid: z2, Mzxid: z2, Pzxid: z2, Ctime: t2, Mtime: t2, DataLength: 1}
	require.Equal(t, &parent, e.stat(t, "/st"))
	require.Equal(t, &child, e.stat(t, "/st/c"))

	z3, t3 := at(3)
	_, s = e.mustDo(t, opSet("/st/c", "cc", -1))
	child.Mzxid, child.Mtime, child.Version, child.DataLength = z3, t3, 1, 2
	require.Equal(t, &child, s)
	require.Equal(t, &child, e.stat(t, "/st/c"))
	require.Equal(t, &parent, e.stat(t, "/st"))

	z4, t4 := at(4)
	_, s = e.mustDo(t, opSet("/st/c", "cc", 1))
	child.Mzxid, child.Mtime, child.Version = z4, t4, 2
	require.Equal(t, &child, s)

	at(5)
	_, s = e.mustDo(t, opSetACL("/st/c", -1, openWire...))
	child.Aversion = 1
	require.Equal(t, &child, s)
	require.Equal(t, &child, e.stat(t, "/st/c"))
	require.Equal(t, &parent, e.stat(t, "/st"))

	z6, t6 := at(6)
	_, s = e.mustDo(t, opSet("/st", "pp", -1))
	parent.Mzxid, parent.Mtime, parent.Version, parent.DataLength = z6, t6, 1, 2
	require.Equal(t, &parent, s)
	require.Equal(t, &child, e.stat(t, "/st/c"))

	z7, _ := at(7)
	e.mustDo(t, opDelete("/st/c", -1))
	parent.Pzxid, parent.Cversion, parent.NumChildren = z7, 2, 0
	require.Equal(t, &parent, e.stat(t, "/st"))

	z8, t8 := at(8)
	_, s = e.mustDo(t, opCreate("/st/c", "again", Persistent))
	require.Equal(t, &Stat{Czxid: z8, Mzxid: z8, Pzxid: z8, Ctime: t8, Mtime: t8, DataLength: 5}, s)
	parent.Pzxid, parent.Cversion, parent.NumChildren = z8, 3, 1
	require.Equal(t, &parent, e.stat(t, "/st"))

	// A child's own children move its pzxid and cversion, not its parent's.
	z9, _ := at(9)
	e.mustDo(t, opCreate("/st/c/g", "", Persistent))
	require.Equal(t, z9, e.stat(t, "/st/c").Pzxid)
	require.Equal(t, int32(1), e.stat(t, "/st/c").Cversion)
	require.Equal(t, &parent, e.stat(t, "/st"))
}

func TestTreeStatOf(t *testing.T) {
	n := &wire.Node{Data: []byte("abc"), Czxid: 1, Mzxid: 2, Pzxid: 3, Ctime: 4, Mtime: 5, Version: 6, Cversion: 7,
		Aversion: 8, NumChildren: 9, Owner: 10, TTL: 11}
	want := Stat{Czxid: 1, Mzxid: 2, Pzxid: 3, Ctime: 4, Mtime: 5, Version: 6, Cversion: 7, Aversion: 8,
		DataLength: 3, NumChildren: 9}
	for _, c := range []struct {
		mode  uint8
		owner int64
	}{
		{wire.ModePersistent, 0},
		{wire.ModeEphemeral, 10},
		{wire.ModeContainer, 0},
		{wire.ModeTTL, 0},
	} {
		n.Mode = c.mode
		w := want
		w.EphemeralOwner = c.owner
		require.Equal(t, &w, statOf(n), "mode %d", c.mode)
	}

	// Stat and wire.Stat convert both ways, nil to nil.
	s := statOf(n)
	require.Equal(t, s, statFromWire(s.wire()))
	require.Nil(t, (*Stat)(nil).wire())
	require.Nil(t, statFromWire(nil))
}

// ---- multi: several ops on one txn

func TestMultiOpsSeeEarlierOps(t *testing.T) {
	e := newEnv()
	e.mustDo(t, opCreate("/m", "", Persistent))
	e.mustDo(t, opCreate("/m/x", "x", Persistent))
	e.mustDo(t, opSet("/m/x", "x1", -1))
	m := *e.tree["/m"]
	tx := e.txn()
	z := e.zxid

	type result struct {
		path    string
		version int32
	}
	ops := []struct {
		op   *wire.Op
		want result
	}{
		{opCheck("/m/x", 1), result{}},
		{opCreate("/m/p", "", Persistent), result{"/m/p", 0}},
		{opCreate("/m/p/c", "", Persistent), result{"/m/p/c", 0}}, // child of a node created in this multi
		{opCreate("/m/p/c/d", "", Persistent), result{"/m/p/c/d", 0}},
		{opSet("/m/x", "a", 1), result{"", 2}},
		{opSet("/m/x", "b", 2), result{"", 3}}, // sees the previous set
		{opDelete("/m/x", 3), result{}},
		{opCreate("/m/x", "new", Persistent), result{"/m/x", 0}}, // delete then re-create
		{opCreate("/m/s-", "", PersistentSequential), result{"/m/s-0000000003", 0}},
		{opCreate("/m/s-", "", PersistentSequential), result{"/m/s-0000000004", 0}},
		{opCheck("/m/x", 0), result{}},
	}
	for i, o := range ops {
		path, stat, err := tx.apply(o.op)
		require.NoError(t, err, "op %d", i)
		require.Equal(t, o.want.path, path, "op %d", i)
		if stat != nil {
			require.Equal(t, o.want.version, stat.Version, "op %d", i)
			require.Equal(t, z, stat.Mzxid, "op %d: every op of a multi has the multi's zxid", i)
		}
	}
	require.Equal(t, []change{
		{NodeCreated, "/m/p", z}, {NodeChildrenChanged, "/m", z},
		{NodeCreated, "/m/p/c", z}, {NodeChildrenChanged, "/m/p", z},
		{NodeCreated, "/m/p/c/d", z}, {NodeChildrenChanged, "/m/p/c", z},
		{NodeDataChanged, "/m/x", z},
		{NodeDataChanged, "/m/x", z},
		{NodeDeleted, "/m/x", z}, {NodeChildrenChanged, "/m", z},
		{NodeCreated, "/m/x", z}, {NodeChildrenChanged, "/m", z},
		{NodeCreated, "/m/s-0000000003", z}, {NodeChildrenChanged, "/m", z},
		{NodeCreated, "/m/s-0000000004", z}, {NodeChildrenChanged, "/m", z},
	}, tx.changes)

	// Nothing reaches the base until the caller merges.
	require.Equal(t, m, *e.tree["/m"])
	require.NotContains(t, e.tree, "/m/p")
	e.commit(tx)
	got := e.stat(t, "/m")
	require.Equal(t, m.Cversion+5, got.Cversion)       // create p, delete x, create x, s-4, s-5
	require.Equal(t, m.NumChildren+3, got.NumChildren) // p, s-4, s-5 new; x re-created
	require.Equal(t, z, got.Pzxid)
	require.Equal(t, m.Mzxid, got.Mzxid)
	require.Equal(t, &Stat{Czxid: z, Mzxid: z, Pzxid: z, Ctime: e.now, Mtime: e.now, DataLength: 3}, e.stat(t, "/m/x"))
	require.Equal(t, &Stat{Czxid: z, Mzxid: z, Pzxid: z, Ctime: e.now, Mtime: e.now, Cversion: 1, NumChildren: 1}, e.stat(t, "/m/p"))
}

func TestMultiFailures(t *testing.T) {
	for _, c := range []struct {
		name   string
		ops    []*wire.Op
		failed int
		want   *Error
	}{
		{"op 2 of 3: exists", []*wire.Op{opCreate("/m/a", "", Persistent), opCreate("/m/x", "", Persistent), opSet("/m/x", "", -1)}, 1, ErrNodeExists},
		{"op 2 of 3: check", []*wire.Op{opCreate("/m/a", "", Persistent), opCheck("/m/x", 5), opSet("/m/x", "", -1)}, 1, ErrBadVersion},
		{"op 1 of 3", []*wire.Op{opSet("/nope", "", -1), opCreate("/m/a", "", Persistent), opDelete("/m/x", -1)}, 0, ErrNoNode},
		{"op 3 of 3: not empty", []*wire.Op{opCreate("/m/a", "", Persistent), opSet("/m/x", "", -1), opDelete("/m", -1)}, 2, ErrNotEmpty},
		{"ops 1 and 3 both bad", []*wire.Op{opCheck("/nope", -1), opCreate("/m/a", "", Persistent), opCreate("/m/x", "", Persistent)}, 0, ErrNoNode},
		{"child before parent", []*wire.Op{opCreate("/m/q/c", "", Persistent), opCreate("/m/q", "", Persistent)}, 0, ErrNoNode},
		{"delete then set", []*wire.Op{opDelete("/m/x", -1), opSet("/m/x", "", -1)}, 1, ErrNoNode},
		{"created twice", []*wire.Op{opCreate("/m/d", "", Persistent), opCreate("/m/d", "", Persistent)}, 1, ErrNodeExists},
		{"stale version after a set", []*wire.Op{opSet("/m/x", "", 0), opSet("/m/x", "", 0)}, 1, ErrBadVersion},
		{"invalid path", []*wire.Op{opCreate("/m/v", "", Persistent), opCreate("m/bad", "", Persistent)}, 1, ErrBadArguments},
		{"invalid ACL", []*wire.Op{opCreate("/m/v", "", Persistent), opCreateACL("/m/w")}, 1, ErrInvalidACL},
		{"no auth", []*wire.Op{opCreate("/m/y", "", Persistent), opCreate("/m/locked/c", "", Persistent)}, 1, ErrNoAuth},
		{"child of ephemeral made in the multi", []*wire.Op{opCreate("/m/e", "", Ephemeral), opCreate("/m/e/c", "", Persistent)}, 1, ErrNoChildrenForEphemerals},
		{"delete parent made non-empty in the multi", []*wire.Op{opCreate("/m/x/c", "", Persistent), opDelete("/m/x", -1)}, 1, ErrNotEmpty},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv()
			e.mustDo(t, opCreate("/m", "", Persistent))
			e.mustDo(t, opCreate("/m/x", "", Persistent))
			e.mustDo(t, opCreateACL("/m/locked", wire.ACL{Perms: int32(PermRead), Scheme: "world", ID: "anyone"}))
			before := cloneTree(e.tree)
			tx := e.txn()
			var err error
			i := 0
			for ; i < len(c.ops); i++ {
				if _, _, err = tx.apply(c.ops[i]); err != nil {
					break
				}
			}
			require.Equal(t, c.failed, i, "failing op")
			requireOpErr(t, err, c.want)

			res := multiFailure(len(c.ops), i, err)
			require.Len(t, res, len(c.ops))
			for j, r := range res {
				switch {
				case j < i:
					require.Equal(t, int32(0), r.Code, "op %d", j)
				case j == i:
					require.Equal(t, c.want.Code, r.Code, "op %d", j)
				default:
					require.Equal(t, int32(-2), r.Code, "op %d", j)
				}
				require.Empty(t, r.Path)
				require.Nil(t, r.Stat)
			}
			// The caller drops the txn: the tree is as it was.
			require.Equal(t, before, cloneTree(e.tree))
			tx.reset()
			require.Empty(t, tx.nodes)
			require.Empty(t, tx.changes)
		})
	}
}

func TestMultiFailureCodes(t *testing.T) {
	codes := func(rs []wire.OpResult) []int32 {
		out := make([]int32, len(rs))
		for i, r := range rs {
			out[i] = r.Code
		}
		return out
	}
	require.Equal(t, []int32{-110, -2, -2}, codes(multiFailure(3, 0, ErrNodeExists)))
	require.Equal(t, []int32{0, -103, -2}, codes(multiFailure(3, 1, failf(ErrBadVersion, "x"))))
	require.Equal(t, []int32{0, 0, -111}, codes(multiFailure(3, 2, &PathError{Op: "delete", Path: "/m", Err: ErrNotEmpty})))
	require.Equal(t, []int32{-1}, codes(multiFailure(1, 0, errors.New("not a zookeeper error"))))
	require.Equal(t, []int32{-8, -2, -2, -2, -2}, codes(multiFailure(5, 0, fail(ErrBadArguments))))
	require.Empty(t, multiFailure(0, 0, ErrNoNode))
}

func TestTxnReset(t *testing.T) {
	e := newEnv()
	tx := e.txn()
	_, _, err := tx.apply(opCreate("/a", "", Persistent))
	require.NoError(t, err)
	n, err := tx.get("/a")
	require.NoError(t, err)
	require.NotNil(t, n)
	tx.reset()
	n, err = tx.get("/a")
	require.NoError(t, err)
	require.Nil(t, n)
	require.Empty(t, tx.changes)
	// The txn is usable again and starts from the base.
	p, _, err := tx.apply(opCreate("/b-", "", PersistentSequential))
	require.NoError(t, err)
	require.Equal(t, "/b-0000000000", p)
}

func TestTxnDoesNotModifyBase(t *testing.T) {
	e := newEnv()
	e.mustDo(t, opCreate("/a", "d", Persistent))
	e.mustDo(t, opCreate("/a/b", "d", Persistent))
	before := cloneTree(e.tree)
	tx := e.txn()
	for _, op := range []*wire.Op{opSet("/a", "x", -1), opCreate("/a/c", "", Persistent), opDelete("/a/b", -1),
		opCreate("/z", "", Container), opSetACL("/a", -1, wire.ACL{Perms: 1, Scheme: "world", ID: "anyone"})} {
		_, _, err := tx.apply(op)
		require.NoError(t, err)
	}
	_, err := tx.reap("/z")
	require.NoError(t, err)
	require.Equal(t, before, cloneTree(e.tree), "txn wrote through to its base")
}

func TestTxnStorageErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	e := newEnv()
	e.mustDo(t, opCreate("/a", "", Persistent))
	e.mustDo(t, opCreate("/a/b", "", Container))
	e.mustDo(t, opCreate("/a/b/c", "", Persistent))
	e.mustDo(t, opDelete("/a/b/c", -1))
	for _, c := range []struct {
		bad string
		op  *wire.Op
	}{
		{"/a", opCreate("/a/x", "", Persistent)},   // parent read
		{"/a/x", opCreate("/a/x", "", Persistent)}, // existence check
		{"/a/s-0000000001", opCreate("/a/s-", "", PersistentSequential)},
		{"/a/b", opDelete("/a/b", -1)},
		{"/a", opDelete("/a/b", -1)},
		{"/a", opSet("/a", "", -1)},
		{"/a", opSetACL("/a", -1, openWire...)},
		{"/a", opCheck("/a", -1)},
	} {
		tx := newTxn(errTree{e.tree, c.bad, boom}, 1000, 1, testMaxData)
		tx.session = 1
		_, _, err := tx.apply(c.op)
		require.ErrorIs(t, err, boom, "%v %s with %s unreadable", c.op.Kind, c.op.Path, c.bad)
		var oe *opError
		require.False(t, errors.As(err, &oe), "a storage failure must not look like an op failure")
	}
	for _, bad := range []string{"/a/b", "/a"} {
		tx := newTxn(errTree{e.tree, bad, boom}, 1000, 1, testMaxData)
		ok, err := tx.reap("/a/b")
		require.ErrorIs(t, err, boom)
		require.False(t, ok)
		require.ErrorIs(t, tx.removeEphemeral("/a/b", 1), boom)
	}
}

// ---- reap

func TestReapContainers(t *testing.T) {
	e := newEnv()
	e.mustDo(t, opCreate("/c", "", Container))
	e.mustDo(t, opCreate("/p", "", Persistent))
	e.mustDo(t, opCreate("/p/c", "", Container))

	reap := func(path string) (bool, []change) {
		tx := e.txn()
		ok, err := tx.reap(path)
		require.NoError(t, err)
		e.commit(tx)
		return ok, tx.changes
	}

	// Never had children: kept (ZooKeeper deletes only containers whose
	// cversion is above 0).
	ok, changes := reap("/c")
	require.False(t, ok)
	require.Empty(t, changes)

	// Has children: kept.
	e.mustDo(t, opCreate("/c/x", "", Persistent))
	ok, _ = reap("/c")
	require.False(t, ok)

	// Had children, has none: reaped, like a delete.
	e.mustDo(t, opDelete("/c/x", -1))
	root := *e.tree["/"]
	ok, changes = reap("/c")
	require.True(t, ok)
	require.Equal(t, deleted("/c", "/", e.zxid), changes)
	require.NotContains(t, e.tree, "/c")
	root.Cversion++
	root.NumChildren--
	root.Pzxid = e.zxid
	require.Equal(t, &root, e.tree["/"])

	// Gone already, or never there: nothing to do.
	ok, changes = reap("/c")
	require.False(t, ok)
	require.Empty(t, changes)

	// A nested container whose last child was an ephemeral.
	e.mustDo(t, opCreate("/p/c/x", "", Ephemeral))
	e.mustDo(t, opDelete("/p/c/x", -1))
	ok, changes = reap("/p/c")
	require.True(t, ok)
	require.Equal(t, deleted("/p/c", "/p", e.zxid), changes)

	// Not containers: never reaped however they look.
	e.mustDo(t, opCreate("/plain", "", Persistent))
	e.mustDo(t, opCreate("/plain/x", "", Persistent))
	e.mustDo(t, opDelete("/plain/x", -1))
	e.mustDo(t, opCreate("/eph", "", Ephemeral))
	for _, p := range []string{"/plain", "/eph", "/", "", "relative", "/a//b", "/nope"} {
		ok, changes := reap(p)
		require.False(t, ok, p)
		require.Empty(t, changes, p)
	}
}

func TestReapTTL(t *testing.T) {
	e := newEnv()
	e.mustDo(t, opCreateTTL("/t", PersistentWithTTL, 1000))
	mtime := e.tree["/t"].Mtime

	reapAt := func(path string, now int64) bool {
		tx := newTxn(e.tree, e.zxid+1, now, testMaxData)
		ok, err := tx.reap(path)
		require.NoError(t, err)
		if ok {
			e.zxid++
			e.commit(tx)
			require.Equal(t, deleted(path, parentOf(path), e.zxid), tx.changes)
		} else {
			require.Empty(t, tx.changes)
		}
		return ok
	}

	// Deleted only once unmodified for more than the TTL.
	require.False(t, reapAt("/t", mtime+500))
	require.False(t, reapAt("/t", mtime+1000), "exactly the TTL is not yet expired")
	// Children keep it.
	e.mustDo(t, opCreate("/t/c", "", Persistent))
	require.False(t, reapAt("/t", mtime+5000))
	e.mustDo(t, opDelete("/t/c", -1))
	// Child changes do not count as modifications (mtime stays).
	require.Equal(t, mtime, e.tree["/t"].Mtime)
	// A data change restarts the clock.
	e.mustDo(t, opSet("/t", "x", -1))
	mtime = e.tree["/t"].Mtime
	require.False(t, reapAt("/t", mtime+1000))
	// An ACL change does not.
	e.mustDo(t, opSetACL("/t", -1, openWire...))
	require.Equal(t, mtime, e.tree["/t"].Mtime)
	require.True(t, reapAt("/t", mtime+1001))
	require.NotContains(t, e.tree, "/t")

	// A sequential TTL node, a TTL node that never had children.
	p, _ := e.mustDo(t, opCreateTTL("/ts-", PersistentSequentialWithTTL, 1))
	require.True(t, reapAt(p, e.now+2))
	// A persistent node is never reaped.
	e.mustDo(t, opCreate("/p", "", Persistent))
	require.False(t, reapAt("/p", math.MaxInt64/2))
	// A TTL node in a clock that went backwards is not reaped.
	e.mustDo(t, opCreateTTL("/t2", PersistentWithTTL, 10))
	require.False(t, reapAt("/t2", 0))
}

func TestTreeRemoveEphemeral(t *testing.T) {
	e := newEnv()
	e.mustDo(t, opCreate("/p", "", Persistent))
	e.mustDo(t, opCreate("/p/e", "", Ephemeral))
	e.mustDo(t, opCreate("/p/s-", "", EphemeralSequential))
	// No permission is needed: the ensemble removes them.
	e.mustDo(t, opSetACL("/p", -1, wire.ACL{Perms: 0, Scheme: "world", ID: "anyone"}))
	e.ids = nil
	p := *e.tree["/p"]
	tx := e.txn()
	require.NoError(t, tx.removeEphemeral("/p/e", e.session))
	require.NoError(t, tx.removeEphemeral("/p/s-0000000001", e.session))
	// The ephemeral index never lists a node that is gone or another's:
	// finding one is corruption, which stops the member.
	require.ErrorIs(t, tx.removeEphemeral("/p/gone", e.session), errCorrupt)
	require.ErrorIs(t, tx.removeEphemeral("/nope/x", e.session), errCorrupt)
	require.ErrorIs(t, tx.removeEphemeral("/p", e.session), errCorrupt)
	e.commit(tx)
	z := e.zxid
	require.Equal(t, append(deleted("/p/e", "/p", z), deleted("/p/s-0000000001", "/p", z)...), tx.changes)
	p.Cversion += 2
	p.NumChildren -= 2
	p.Pzxid = z
	require.Equal(t, &p, e.tree["/p"])
	require.NotContains(t, e.tree, "/p/e")
}

// ---- small types

func TestTreeCreateModeHelpers(t *testing.T) {
	for _, c := range []struct {
		mode       CreateMode
		name       string
		sequential bool
		ttl        bool
		nodeMode   uint8
	}{
		{Persistent, "persistent", false, false, wire.ModePersistent},
		{Ephemeral, "ephemeral", false, false, wire.ModeEphemeral},
		{PersistentSequential, "persistent-sequential", true, false, wire.ModePersistent},
		{EphemeralSequential, "ephemeral-sequential", true, false, wire.ModeEphemeral},
		{Container, "container", false, false, wire.ModeContainer},
		{PersistentWithTTL, "persistent-ttl", false, true, wire.ModeTTL},
		{PersistentSequentialWithTTL, "persistent-sequential-ttl", true, true, wire.ModeTTL},
	} {
		assert.Equal(t, c.name, c.mode.String())
		assert.True(t, c.mode.valid(), "%v", c.mode)
		assert.Equal(t, c.sequential, c.mode.Sequential(), "%v", c.mode)
		assert.Equal(t, c.ttl, c.mode.isTTL(), "%v", c.mode)
		assert.Equal(t, c.nodeMode, c.mode.nodeMode(), "%v", c.mode)
	}
	// ZooKeeper's flag values.
	assert.Equal(t, []CreateMode{0, 1, 2, 3, 4, 5, 6}, []CreateMode{Persistent, Ephemeral, PersistentSequential,
		EphemeralSequential, Container, PersistentWithTTL, PersistentSequentialWithTTL})
	for _, m := range []CreateMode{-1, 7, 100, math.MaxInt32} {
		assert.False(t, m.valid(), "%v", m)
		assert.Equal(t, fmt.Sprintf("mode(%d)", int32(m)), m.String())
	}
	assert.Equal(t, int64(1<<40-1), int64(MaxTTL))
}

func TestTreeEventTypeString(t *testing.T) {
	assert.Equal(t, EventType(1), NodeCreated)
	assert.Equal(t, EventType(2), NodeDeleted)
	assert.Equal(t, EventType(3), NodeDataChanged)
	assert.Equal(t, EventType(4), NodeChildrenChanged)
	for ev, s := range map[EventType]string{NodeCreated: "NodeCreated", NodeDeleted: "NodeDeleted",
		NodeDataChanged: "NodeDataChanged", NodeChildrenChanged: "NodeChildrenChanged", NotWatching: "NotWatching",
		0: "EventType(0)", 99: "EventType(99)"} {
		assert.Equal(t, s, ev.String())
	}
}

func TestTreeOpErrorFormatting(t *testing.T) {
	err := fail(ErrNodeExists)
	assert.Equal(t, "node already exists", err.Error())
	assert.ErrorIs(t, err, ErrNodeExists)
	err = failf(ErrBadArguments, "path %s", "x")
	assert.Equal(t, "bad arguments (path x)", err.Error())
	assert.ErrorIs(t, err, ErrBadArguments)
	assert.Equal(t, int32(-8), ErrorCode(err))

	// InvalidACL details do not repeat the sentinel's text.
	e := newEnv()
	_, _, _, err = e.do(opCreateACL("/a"))
	assert.Equal(t, "invalid ACL (empty ACL list)", err.Error())
}
