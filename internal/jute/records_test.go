package jute

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleStat(seed int64) Stat {
	return Stat{
		Czxid: 0x100000001 + seed, Mzxid: 0x100000002 + seed, Ctime: 1700000000000 + seed, Mtime: 1700000000500 + seed,
		Version: 3, Cversion: 4, Aversion: 5, EphemeralOwner: 0x7123456789abcdef, DataLength: 6, NumChildren: 7,
		Pzxid: 0x100000008 + seed,
	}
}

var sampleACL = []ACL{
	{Perms: PermAll, Scheme: "world", ID: "anyone"},
	{Perms: PermRead | PermAdmin, Scheme: "digest", ID: "user:XqVDZnHnE3wq0sNpA8V8yQ2FeSk="},
}

// sampleRecords returns one populated value of every record type in the
// package (and a few variants), keyed by a descriptive name.
func sampleRecords() map[string]Record {
	st := sampleStat(0)
	return map[string]Record{
		"Stat":                         &st,
		"ID":                           &ID{Scheme: "ip", ID: "10.0.0.0/8"},
		"ACL":                          &sampleACL[1],
		"ConnectRequest":               &ConnectRequest{ProtocolVersion: 0, LastZxidSeen: 0x2a, TimeOut: 30000, SessionID: 0x1234, Passwd: make([]byte, 16), ReadOnly: true},
		"ConnectRequest/old":           &ConnectRequest{TimeOut: 10000, Passwd: []byte{1, 2, 3}, OmitReadOnly: true},
		"ConnectResponse":              &ConnectResponse{TimeOut: 6000, SessionID: -5, Passwd: []byte("0123456789abcdef")},
		"ConnectResponse/old":          &ConnectResponse{TimeOut: 6000, SessionID: 9, Passwd: []byte{}, OmitReadOnly: true},
		"RequestHeader":                &RequestHeader{Xid: 17, Type: OpCreate2},
		"ReplyHeader":                  &ReplyHeader{Xid: 17, Zxid: 0x300000001, Err: CodeNodeExists},
		"Empty":                        &Empty{},
		"CreateRequest":                &CreateRequest{Path: "/a/b", Data: []byte("data"), ACL: sampleACL, Flags: ModeEphemeralSequential},
		"CreateRequest/nil":            &CreateRequest{Path: "/n", Flags: ModeContainer},
		"CreateTTLRequest":             &CreateTTLRequest{Path: "/ttl", Data: []byte{}, ACL: sampleACL[:1], Flags: ModePersistentWithTTL, TTL: 60000},
		"CreateResponse":               &CreateResponse{Path: "/a/b0000000001"},
		"Create2Response":              &Create2Response{Path: "/c", Stat: sampleStat(1)},
		"DeleteRequest":                &DeleteRequest{Path: "/d", Version: -1},
		"CheckVersionRequest":          &CheckVersionRequest{Path: "/chk", Version: 12},
		"ExistsRequest":                &ExistsRequest{Path: "/e", Watch: true},
		"ExistsResponse":               &ExistsResponse{Stat: sampleStat(2)},
		"GetDataRequest":               &GetDataRequest{Path: "/g", Watch: true},
		"GetDataResponse":              &GetDataResponse{Data: []byte("payload"), Stat: sampleStat(3)},
		"GetDataResponse/nil":          &GetDataResponse{Stat: sampleStat(4)},
		"SetDataRequest":               &SetDataRequest{Path: "/s", Data: []byte("new"), Version: 3},
		"SetDataResponse":              &SetDataResponse{Stat: sampleStat(5)},
		"GetACLRequest":                &GetACLRequest{Path: "/acl"},
		"GetACLResponse":               &GetACLResponse{ACL: sampleACL, Stat: sampleStat(6)},
		"SetACLRequest":                &SetACLRequest{Path: "/acl", ACL: sampleACL, Version: 2},
		"SetACLResponse":               &SetACLResponse{Stat: sampleStat(7)},
		"GetChildrenRequest":           &GetChildrenRequest{Path: "/", Watch: true},
		"GetChildrenResponse":          &GetChildrenResponse{Children: []string{"zookeeper", "app", ""}},
		"GetChildren2Request":          &GetChildren2Request{Path: "/p", Watch: false},
		"GetChildren2Response":         &GetChildren2Response{Children: []string{"x"}, Stat: sampleStat(8)},
		"SyncRequest":                  &SyncRequest{Path: "/sync"},
		"SyncResponse":                 &SyncResponse{Path: "/sync"},
		"GetAllChildrenNumberRequest":  &GetAllChildrenNumberRequest{Path: "/all"},
		"GetAllChildrenNumberResponse": &GetAllChildrenNumberResponse{TotalNumber: 42},
		"GetEphemeralsRequest":         &GetEphemeralsRequest{PrefixPath: "/eph"},
		"GetEphemeralsResponse":        &GetEphemeralsResponse{Ephemerals: []string{"/eph/1", "/eph/2"}},
		"SetWatches":                   &SetWatches{RelativeZxid: 99, DataWatches: []string{"/d1", "/d2"}, ExistWatches: []string{"/e"}, ChildWatches: []string{"/c"}},
		"SetWatches2":                  &SetWatches2{RelativeZxid: 100, DataWatches: []string{"/d"}, ExistWatches: nil, ChildWatches: []string{"/c"}, PersistentWatches: []string{"/p"}, PersistentRecursiveWatches: []string{"/r", "/r2"}},
		"AddWatchRequest":              &AddWatchRequest{Path: "/w", Mode: AddWatchModePersistentRecursive},
		"RemoveWatchesRequest":         &RemoveWatchesRequest{Path: "/w", Type: WatcherTypeAny},
		"CheckWatchesRequest":          &CheckWatchesRequest{Path: "/w", Type: WatcherTypeData},
		"AuthPacket":                   &AuthPacket{Type: 0, Scheme: "digest", Auth: []byte("user:secret")},
		"ClientInfo":                   &ClientInfo{AuthScheme: "ip", User: "127.0.0.1"},
		"WhoAmIResponse":               &WhoAmIResponse{ClientInfo: []ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"}, {AuthScheme: "digest", User: "bob"}}},
		"GetSASLRequest":               &GetSASLRequest{Token: []byte{0x60, 0x82}},
		"SetSASLResponse":              &SetSASLResponse{Token: []byte{1}},
		"ReconfigRequest":              &ReconfigRequest{JoiningServers: "server.4=h4:2888:3888;2181", LeavingServers: "3", CurConfigID: -1},
		"WatcherEvent":                 &WatcherEvent{Type: EventNodeChildrenChanged, State: StateSyncConnected, Path: "/parent"},
		"ErrorResponse":                &ErrorResponse{Err: CodeBadVersion},
		"MultiHeader":                  &MultiHeader{Type: OpCheck, Done: false, Err: -1},
		"MultiRequest":                 sampleMulti(),
		"MultiRequest/read":            sampleMultiRead(),
		"MultiRequest/empty":           &MultiRequest{},
		"MultiResponse":                sampleMultiResponse(),
		"MultiResponse/failed":         &MultiResponse{Results: FailedMultiResults(3, 1, CodeNoNode)},
	}
}

func sampleMulti() *MultiRequest {
	return &MultiRequest{Ops: []MultiOp{
		{Type: OpCreate, Op: &CreateRequest{Path: "/m/a", Data: []byte("1"), ACL: sampleACL[:1], Flags: ModePersistent}},
		{Type: OpCreate2, Op: &CreateRequest{Path: "/m/b", ACL: sampleACL[:1], Flags: ModeEphemeral}},
		{Type: OpCreateContainer, Op: &CreateRequest{Path: "/m/c", Data: []byte{}, ACL: sampleACL, Flags: ModeContainer}},
		{Type: OpCreateTTL, Op: &CreateTTLRequest{Path: "/m/t", Data: []byte("t"), ACL: sampleACL[:1], Flags: ModePersistentSequentialWithTTL, TTL: 1000}},
		{Type: OpDelete, Op: &DeleteRequest{Path: "/m/d", Version: 4}},
		{Type: OpSetData, Op: &SetDataRequest{Path: "/m/s", Data: []byte("s"), Version: -1}},
		{Type: OpCheck, Op: &CheckVersionRequest{Path: "/m", Version: 7}},
	}}
}

func sampleMultiRead() *MultiRequest {
	return &MultiRequest{Read: true, Ops: []MultiOp{
		{Type: OpGetChildren, Op: &GetChildrenRequest{Path: "/m"}},
		{Type: OpGetData, Op: &GetDataRequest{Path: "/m/a"}},
	}}
}

func sampleMultiResponse() *MultiResponse {
	return &MultiResponse{Results: []MultiResult{
		{Type: OpCreate, Path: "/m/a"},
		{Type: OpCreate2, Path: "/m/b", Stat: sampleStat(10)},
		{Type: OpDelete},
		{Type: OpSetData, Stat: sampleStat(11)},
		{Type: OpCheck},
		{Type: OpGetChildren, Children: []string{"a", "b"}},
		{Type: OpGetData, Data: []byte("data"), Stat: sampleStat(12)},
		{Type: OpGetData, Stat: sampleStat(13)},
		ErrorResult(CodeNoNode),
	}}
}

// newLike returns a fresh zero record of r's type, carrying over the
// decode-time configuration (MultiRequest.Read).
func newLike(r Record) Record {
	n := reflect.New(reflect.TypeOf(r).Elem()).Interface().(Record)
	if m, ok := r.(*MultiRequest); ok {
		n.(*MultiRequest).Read = m.Read
	}
	return n
}

func TestRecordsRoundTrip(t *testing.T) {
	for name, r := range sampleRecords() {
		t.Run(name, func(t *testing.T) {
			b := Marshal(nil, r)
			got := newLike(r)
			d := NewDecoder(b)
			require.NoError(t, got.Decode(d))
			assert.Equal(t, r, got)
			assert.Equal(t, 0, d.Len(), "decoder must consume the whole encoding")
			// Encoding is deterministic and appends.
			assert.Equal(t, append([]byte{1, 2}, b...), Marshal([]byte{1, 2}, got))
		})
	}
}

// optionalTail lists records whose encoding may legitimately stop early:
// prefix length -> true.
func optionalTail(r Record, full int) map[int]bool {
	switch v := r.(type) {
	case *ConnectRequest:
		if !v.OmitReadOnly {
			return map[int]bool{full - 1: true}
		}
	case *ConnectResponse:
		if !v.OmitReadOnly {
			return map[int]bool{full - 1: true}
		}
	}
	return nil
}

func TestRecordsTruncated(t *testing.T) {
	for name, r := range sampleRecords() {
		t.Run(name, func(t *testing.T) {
			b := Marshal(nil, r)
			ok := optionalTail(r, len(b))
			for n := 0; n < len(b); n++ {
				if ok[n] {
					continue
				}
				got := newLike(r)
				err := got.Decode(NewDecoder(b[:n]))
				require.Error(t, err, "prefix of %d/%d bytes decoded", n, len(b))
				assert.True(t, errors.Is(err, ErrTruncated) || errors.Is(err, ErrInvalidLength),
					"prefix %d: unexpected error %v", n, err)
			}
		})
	}
}

func TestConnectRequestOptionalReadOnly(t *testing.T) {
	base := unhex(t, `
		00000000                 # protocolVersion
		0000000000000010         # lastZxidSeen
		00007530                 # timeOut 30000
		0000000000000abc         # sessionId
		00000002 0102            # passwd`)
	var old ConnectRequest
	require.NoError(t, Unmarshal(base, &old))
	assert.Equal(t, ConnectRequest{LastZxidSeen: 16, TimeOut: 30000, SessionID: 0xabc, Passwd: []byte{1, 2}, OmitReadOnly: true}, old)
	assert.Equal(t, base, Marshal(nil, &old))

	withRO := append(append([]byte{}, base...), 1)
	var cur ConnectRequest
	require.NoError(t, Unmarshal(withRO, &cur))
	assert.Equal(t, ConnectRequest{LastZxidSeen: 16, TimeOut: 30000, SessionID: 0xabc, Passwd: []byte{1, 2}, ReadOnly: true}, cur)
	assert.Equal(t, withRO, Marshal(nil, &cur))

	// Decoding into a reused record resets both flags.
	require.NoError(t, Unmarshal(base, &cur))
	assert.True(t, cur.OmitReadOnly)
	assert.False(t, cur.ReadOnly)
}

func TestConnectResponseOptionalReadOnly(t *testing.T) {
	r := ConnectResponse{TimeOut: 4000, SessionID: 1, Passwd: make([]byte, 16)}
	b := Marshal(nil, &r)
	assert.Len(t, b, 4+4+8+4+16+1)
	r.OmitReadOnly = true
	assert.Len(t, Marshal(nil, &r), 4+4+8+4+16)
	var got ConnectResponse
	require.NoError(t, Unmarshal(b[:len(b)-1], &got))
	assert.True(t, got.OmitReadOnly)
	require.NoError(t, Unmarshal(b, &got))
	assert.False(t, got.OmitReadOnly)
}

// Golden byte layouts, written from zookeeper.jute by hand.
func TestGoldenLayouts(t *testing.T) {
	cases := []struct {
		name string
		rec  Record
		hex  string
	}{
		{"Stat", &Stat{Czxid: 1, Mzxid: 2, Ctime: 3, Mtime: 4, Version: 5, Cversion: 6, Aversion: 7, EphemeralOwner: 8, DataLength: 9, NumChildren: 10, Pzxid: 11}, `
			0000000000000001 0000000000000002 0000000000000003 0000000000000004
			00000005 00000006 00000007 0000000000000008 00000009 0000000a 000000000000000b`},
		{"ConnectRequest", &ConnectRequest{TimeOut: 10000, Passwd: make([]byte, 16)}, `
			00000000 0000000000000000 00002710 0000000000000000
			00000010 00000000000000000000000000000000 00`},
		{"ConnectResponse", &ConnectResponse{TimeOut: 4000, SessionID: 0x1000000a1b2c3, Passwd: []byte{0xaa, 0xbb}, ReadOnly: true}, `
			00000000 00000fa0 0001000000a1b2c3 00000002 aabb 01`},
		{"RequestHeader", &RequestHeader{Xid: 1, Type: OpCreate}, "00000001 00000001"},
		{"ping", &RequestHeader{Xid: XidPing, Type: OpPing}, "fffffffe 0000000b"},
		{"closeSession", &RequestHeader{Xid: 9, Type: OpCloseSession}, "00000009 fffffff5"},
		{"ReplyHeader", &ReplyHeader{Xid: XidNotification, Zxid: -1, Err: CodeOK}, "ffffffff ffffffffffffffff 00000000"},
		{"CreateRequest", &CreateRequest{Path: "/a", Data: []byte("x"), ACL: []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}}, Flags: ModeEphemeral}, `
			00000002 2f61 00000001 78
			00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65
			00000001`},
		{"CreateTTLRequest", &CreateTTLRequest{Path: "/t", Flags: ModePersistentWithTTL, TTL: 1000}, `
			00000002 2f74 ffffffff 00000000 00000005 00000000000003e8`},
		{"GetDataRequest", &GetDataRequest{Path: "/g", Watch: true}, "00000002 2f67 01"},
		{"SetWatches", &SetWatches{RelativeZxid: 5, DataWatches: []string{"/d"}}, `
			0000000000000005 00000001 00000002 2f64 00000000 00000000`},
		{"SetWatches2", &SetWatches2{RelativeZxid: 5, PersistentRecursiveWatches: []string{"/r"}}, `
			0000000000000005 00000000 00000000 00000000 00000000 00000001 00000002 2f72`},
		{"AddWatchRequest", &AddWatchRequest{Path: "/w", Mode: AddWatchModePersistentRecursive}, "00000002 2f77 00000001"},
		{"RemoveWatchesRequest", &RemoveWatchesRequest{Path: "/w", Type: WatcherTypeAny}, "00000002 2f77 00000003"},
		{"AuthPacket", &AuthPacket{Scheme: "digest", Auth: []byte("u:p")}, "00000000 00000006 646967657374 00000003 753a70"},
		{"WatcherEvent", &WatcherEvent{Type: EventNodeDeleted, State: StateSyncConnected, Path: "/x"}, "00000002 00000003 00000002 2f78"},
		{"WhoAmIResponse", &WhoAmIResponse{ClientInfo: []ClientInfo{{AuthScheme: "ip", User: "::1"}}}, "00000001 00000002 6970 00000003 3a3a31"},
		{"MultiRequest", &MultiRequest{Ops: []MultiOp{
			{Type: OpDelete, Op: &DeleteRequest{Path: "/a", Version: -1}},
			{Type: OpCheck, Op: &CheckVersionRequest{Path: "/b", Version: 2}},
		}}, `
			00000002 00 ffffffff  00000002 2f61 ffffffff
			0000000d 00 ffffffff  00000002 2f62 00000002
			ffffffff 01 ffffffff`},
		{"MultiResponse", &MultiResponse{Results: []MultiResult{
			{Type: OpCreate, Path: "/a"},
			{Type: OpDelete},
			ErrorResult(CodeBadVersion),
		}}, `
			00000001 00 00000000  00000002 2f61
			00000002 00 00000000
			ffffffff 00 ffffff99  ffffff99
			ffffffff 01 ffffffff`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := unhex(t, c.hex)
			assert.Equal(t, fmt.Sprintf("%x", want), fmt.Sprintf("%x", Marshal(nil, c.rec)))
			got := newLike(c.rec)
			require.NoError(t, Unmarshal(want, got))
			assert.Equal(t, c.rec, got)
		})
	}
}

func TestStatSize(t *testing.T) {
	st := sampleStat(0)
	assert.Len(t, Marshal(nil, &st), StatSize)
	assert.Equal(t, 68, StatSize)
	rh := ReplyHeader{}
	assert.Len(t, Marshal(nil, &rh), ReplyHeaderSize)
	qh := RequestHeader{}
	assert.Len(t, Marshal(nil, &qh), RequestHeaderSize)
	mh := MultiHeader{}
	assert.Len(t, Marshal(nil, &mh), MultiHeaderSize)
}

func TestCreateModeHelpers(t *testing.T) {
	type flags struct{ valid, eph, seq, container, ttl bool }
	want := map[CreateMode]flags{
		ModePersistent:                  {valid: true},
		ModeEphemeral:                   {valid: true, eph: true},
		ModePersistentSequential:        {valid: true, seq: true},
		ModeEphemeralSequential:         {valid: true, eph: true, seq: true},
		ModeContainer:                   {valid: true, container: true},
		ModePersistentWithTTL:           {valid: true, ttl: true},
		ModePersistentSequentialWithTTL: {valid: true, seq: true, ttl: true},
		-1:                              {},
		7:                               {},
	}
	for m, f := range want {
		got := flags{m.Valid(), m.IsEphemeral(), m.IsSequential(), m.IsContainer(), m.IsTTL()}
		assert.Equal(t, f, got, "mode %d", m)
	}
}

func TestConstantValues(t *testing.T) {
	ops := map[OpCode]int32{
		OpNotification: 0, OpCreate: 1, OpDelete: 2, OpExists: 3, OpGetData: 4, OpSetData: 5, OpGetACL: 6,
		OpSetACL: 7, OpGetChildren: 8, OpSync: 9, OpPing: 11, OpGetChildren2: 12, OpCheck: 13, OpMulti: 14,
		OpCreate2: 15, OpReconfig: 16, OpCheckWatches: 17, OpRemoveWatches: 18, OpCreateContainer: 19,
		OpDeleteContainer: 20, OpCreateTTL: 21, OpMultiRead: 22, OpAuth: 100, OpSetWatches: 101, OpSASL: 102,
		OpGetEphemerals: 103, OpGetAllChildrenNumber: 104, OpSetWatches2: 105, OpAddWatch: 106, OpWhoAmI: 107,
		OpCreateSession: -10, OpCloseSession: -11, OpError: -1,
	}
	for op, v := range ops {
		assert.Equal(t, v, int32(op))
		assert.NotContains(t, op.String(), "OpCode(", "op %d has no name", v)
	}
	assert.Equal(t, "OpCode(10)", OpCode(10).String())

	codes := map[ErrCode]int32{
		CodeOK: 0, CodeSystemError: -1, CodeRuntimeInconsistency: -2, CodeDataInconsistency: -3,
		CodeConnectionLoss: -4, CodeMarshallingError: -5, CodeUnimplemented: -6, CodeOperationTimeout: -7,
		CodeBadArguments: -8, CodeUnknownSession: -12, CodeNewConfigNoQuorum: -13, CodeReconfigInProgress: -14,
		CodeAPIError: -100, CodeNoNode: -101, CodeNoAuth: -102, CodeBadVersion: -103,
		CodeNoChildrenForEphemerals: -108, CodeNodeExists: -110, CodeNotEmpty: -111, CodeSessionExpired: -112,
		CodeInvalidCallback: -113, CodeInvalidACL: -114, CodeAuthFailed: -115, CodeSessionMoved: -118,
		CodeNotReadOnly: -119, CodeEphemeralOnLocalSession: -120, CodeNoWatcher: -121, CodeRequestTimeout: -122,
		CodeReconfigDisabled: -123, CodeSessionClosedRequireSASLAuth: -124, CodeQuotaExceeded: -125, CodeThrottled: -127,
	}
	for c, v := range codes {
		assert.Equal(t, v, int32(c))
		assert.NotContains(t, c.String(), "ErrCode(", "code %d has no name", v)
	}
	assert.Equal(t, "ErrCode(-126)", ErrCode(-126).String())

	events := map[EventType]int32{
		EventNone: -1, EventNodeCreated: 1, EventNodeDeleted: 2, EventNodeDataChanged: 3, EventNodeChildrenChanged: 4,
		EventDataWatchRemoved: 5, EventChildWatchRemoved: 6, EventPersistentWatchRemoved: 7,
	}
	for e, v := range events {
		assert.Equal(t, v, int32(e))
		assert.NotContains(t, e.String(), "EventType(")
	}
	assert.Equal(t, "EventType(0)", EventType(0).String())

	states := map[KeeperState]int32{
		StateDisconnected: 0, StateSyncConnected: 3, StateAuthFailed: 4, StateConnectedReadOnly: 5,
		StateSaslAuthenticated: 6, StateExpired: -112, StateClosed: 7,
	}
	for s, v := range states {
		assert.Equal(t, v, int32(s))
		assert.NotContains(t, s.String(), "KeeperState(")
	}
	assert.Equal(t, "KeeperState(1)", KeeperState(1).String())

	assert.Equal(t, []int32{-1, -2, -4, -8}, []int32{XidNotification, XidPing, XidAuth, XidSetWatches})
	assert.Equal(t, []int32{0, 1}, []int32{int32(AddWatchModePersistent), int32(AddWatchModePersistentRecursive)})
	assert.Equal(t, []int32{1, 2, 3}, []int32{int32(WatcherTypeChildren), int32(WatcherTypeData), int32(WatcherTypeAny)})
	assert.Equal(t, []int32{1, 2, 4, 8, 16, 31}, []int32{PermRead, PermWrite, PermCreate, PermDelete, PermAdmin, PermAll})
	assert.Equal(t, []CreateMode{0, 1, 2, 3, 4, 5, 6}, []CreateMode{ModePersistent, ModeEphemeral, ModePersistentSequential,
		ModeEphemeralSequential, ModeContainer, ModePersistentWithTTL, ModePersistentSequentialWithTTL})
}

func TestOpCodeIsWrite(t *testing.T) {
	for _, op := range []OpCode{OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL, OpDelete, OpSetData, OpSetACL, OpMulti, OpCheck, OpCloseSession, OpCreateSession, OpReconfig} {
		assert.True(t, op.IsWrite(), "%v", op)
	}
	for _, op := range []OpCode{OpExists, OpGetData, OpGetChildren, OpGetChildren2, OpGetACL, OpSync, OpPing, OpMultiRead, OpSetWatches, OpAddWatch, OpAuth, OpWhoAmI} {
		assert.False(t, op.IsWrite(), "%v", op)
	}
}

// TestEveryRecordIsSampled keeps sampleRecords complete: every type of
// this package with a Decode method must have a sample, so that the round
// trip, truncation and fuzz tests cover it.
func TestEveryRecordIsSampled(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	sampled := map[string]bool{}
	for _, r := range sampleRecords() {
		sampled[reflect.TypeOf(r).Elem().Name()] = true
	}
	fset := token.NewFileSet()
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "Decode" {
				continue
			}
			star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			typ := star.X.(*ast.Ident).Name
			found++
			assert.True(t, sampled[typ], "%s has no sample in sampleRecords", typ)
		}
	}
	assert.GreaterOrEqual(t, found, 50, "the Decode methods were not found")
}
