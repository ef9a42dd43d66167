package jute

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleRequests returns a populated body for every client opcode.
func sampleRequests() map[OpCode]Record {
	st := sampleRecords()
	return map[OpCode]Record{
		OpCreate:               st["CreateRequest"],
		OpCreate2:              &CreateRequest{Path: "/c2", Data: []byte("2"), ACL: sampleACL, Flags: ModePersistentSequential},
		OpCreateContainer:      &CreateRequest{Path: "/cc", ACL: sampleACL[:1], Flags: ModeContainer},
		OpCreateTTL:            st["CreateTTLRequest"],
		OpDelete:               st["DeleteRequest"],
		OpExists:               st["ExistsRequest"],
		OpGetData:              st["GetDataRequest"],
		OpSetData:              st["SetDataRequest"],
		OpGetACL:               st["GetACLRequest"],
		OpSetACL:               st["SetACLRequest"],
		OpGetChildren:          st["GetChildrenRequest"],
		OpGetChildren2:         st["GetChildren2Request"],
		OpSync:                 st["SyncRequest"],
		OpPing:                 &Empty{},
		OpCheck:                st["CheckVersionRequest"],
		OpMulti:                sampleMulti(),
		OpMultiRead:            sampleMultiRead(),
		OpReconfig:             st["ReconfigRequest"],
		OpCheckWatches:         st["CheckWatchesRequest"],
		OpRemoveWatches:        st["RemoveWatchesRequest"],
		OpAuth:                 st["AuthPacket"],
		OpSetWatches:           st["SetWatches"],
		OpSASL:                 st["GetSASLRequest"],
		OpGetEphemerals:        st["GetEphemeralsRequest"],
		OpGetAllChildrenNumber: st["GetAllChildrenNumberRequest"],
		OpSetWatches2:          st["SetWatches2"],
		OpAddWatch:             st["AddWatchRequest"],
		OpWhoAmI:               &Empty{},
		OpCloseSession:         &Empty{},
	}
}

func requestFrame(xid int32, op OpCode, body Record) []byte {
	h := RequestHeader{Xid: xid, Type: op}
	b := Marshal(nil, &h)
	if body != nil {
		b = Marshal(b, body)
	}
	return b
}

func TestParseRequestEveryOpcode(t *testing.T) {
	for op, body := range sampleRequests() {
		t.Run(op.String(), func(t *testing.T) {
			payload := requestFrame(77, op, body)
			h, got, err := ParseRequest(payload)
			require.NoError(t, err)
			assert.Equal(t, RequestHeader{Xid: 77, Type: op}, h)
			assert.Equal(t, body, got)

			fresh, err := NewRequest(op)
			require.NoError(t, err)
			assert.Equal(t, reflect.TypeOf(body), reflect.TypeOf(fresh))
			require.NoError(t, Unmarshal(payload[RequestHeaderSize:], fresh))
			assert.Equal(t, body, fresh)

			// Every strict prefix of a request with a body fails.
			for n := RequestHeaderSize; n < len(payload); n++ {
				_, _, err := ParseRequest(payload[:n])
				assert.Error(t, err, "prefix %d of %d", n, len(payload))
			}
		})
	}
}

func TestParseRequestUnsupported(t *testing.T) {
	for _, op := range []OpCode{OpNotification, OpError, OpCreateSession, OpDeleteContainer, 10, 23, 99, 108, -12} {
		h, body, err := ParseRequest(requestFrame(5, op, &SyncRequest{Path: "/x"}))
		assert.ErrorIs(t, err, ErrUnsupportedOp, "%v", op)
		assert.Nil(t, body)
		assert.Equal(t, RequestHeader{Xid: 5, Type: op}, h, "the header is returned for the error reply")
		_, err = NewRequest(op)
		assert.ErrorIs(t, err, ErrUnsupportedOp)
		assert.Nil(t, NewResponse(op))
	}
}

func TestParseRequestShortHeader(t *testing.T) {
	for n := 0; n < RequestHeaderSize; n++ {
		_, _, err := ParseRequest(make([]byte, n))
		assert.ErrorIs(t, err, ErrTruncated)
	}
}

func TestParseRequestIgnoresTrailingBytes(t *testing.T) {
	payload := append(requestFrame(1, OpSync, &SyncRequest{Path: "/a"}), 0xde, 0xad)
	_, body, err := ParseRequest(payload)
	require.NoError(t, err)
	assert.Equal(t, &SyncRequest{Path: "/a"}, body)
}

func TestMultiKindsAreNotMixed(t *testing.T) {
	read := sampleMultiRead()
	_, _, err := ParseRequest(requestFrame(1, OpMulti, read))
	assert.ErrorIs(t, err, ErrBadMulti)
	assert.Contains(t, err.Error(), "not allowed in multi")

	write := sampleMulti()
	_, _, err = ParseRequest(requestFrame(1, OpMultiRead, write))
	assert.ErrorIs(t, err, ErrBadMulti)
	assert.Contains(t, err.Error(), "not allowed in multiRead")

	// Unknown op types and nested multis are refused too.
	for _, op := range []OpCode{OpMulti, OpExists, OpSync, OpError, 1000} {
		bad := &MultiRequest{Ops: []MultiOp{{Type: op, Op: &SyncRequest{Path: "/x"}}}}
		_, _, err = ParseRequest(requestFrame(1, OpMulti, bad))
		assert.ErrorIs(t, err, ErrBadMulti, "%v", op)
	}
}

func TestMultiRequestDoneHeaderEndsList(t *testing.T) {
	// ZooKeeper stops at the first header with done set, whatever its type.
	e := Encoder{}
	(&MultiHeader{Type: OpDelete, Err: -1}).Encode(&e)
	(&DeleteRequest{Path: "/a", Version: 1}).Encode(&e)
	(&MultiHeader{Type: 1234, Done: true, Err: 0}).Encode(&e)
	var m MultiRequest
	require.NoError(t, Unmarshal(e.Bytes(), &m))
	assert.Equal(t, []MultiOp{{Type: OpDelete, Op: &DeleteRequest{Path: "/a", Version: 1}}}, m.Ops)

	// Without a closing header the request is truncated.
	_, _, err := ParseRequest(requestFrame(1, OpMulti, nil))
	assert.ErrorIs(t, err, ErrTruncated)
}

func TestMultiRequestOpErrorsNameTheOp(t *testing.T) {
	payload := requestFrame(1, OpMulti, sampleMulti())
	_, _, err := ParseRequest(payload[:len(payload)-12])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "multi op")
}

func TestNewResponseTypes(t *testing.T) {
	want := map[OpCode]Record{
		OpCreate: &CreateResponse{}, OpCreate2: &Create2Response{}, OpCreateContainer: &Create2Response{},
		OpCreateTTL: &Create2Response{}, OpExists: &ExistsResponse{}, OpGetData: &GetDataResponse{},
		OpReconfig: &GetDataResponse{}, OpSetData: &SetDataResponse{}, OpCheck: &SetDataResponse{},
		OpGetACL: &GetACLResponse{}, OpSetACL: &SetACLResponse{}, OpGetChildren: &GetChildrenResponse{},
		OpGetChildren2: &GetChildren2Response{}, OpSync: &SyncResponse{}, OpMulti: &MultiResponse{},
		OpMultiRead: &MultiResponse{}, OpSASL: &SetSASLResponse{}, OpGetEphemerals: &GetEphemeralsResponse{},
		OpGetAllChildrenNumber: &GetAllChildrenNumberResponse{}, OpAddWatch: &ErrorResponse{},
		OpWhoAmI: &WhoAmIResponse{},
		OpDelete: nil, OpPing: nil, OpCloseSession: nil, OpAuth: nil, OpSetWatches: nil, OpSetWatches2: nil,
		OpCheckWatches: nil, OpRemoveWatches: nil,
	}
	for op, r := range want {
		got := NewResponse(op)
		if r == nil {
			assert.Nil(t, got, "%v", op)
			continue
		}
		assert.Equal(t, r, got, "%v", op)
	}
	// Every client request opcode is covered.
	for op := range sampleRequests() {
		_, ok := want[op]
		assert.True(t, ok, "%v missing from the table", op)
	}
}

func TestFailedMultiResults(t *testing.T) {
	got := FailedMultiResults(4, 2, CodeBadVersion)
	assert.Equal(t, []MultiResult{
		ErrorResult(CodeOK), ErrorResult(CodeOK), ErrorResult(CodeBadVersion), ErrorResult(CodeRuntimeInconsistency),
	}, got)
	assert.Equal(t, []MultiResult{ErrorResult(CodeNoNode)}, FailedMultiResults(1, 5, CodeNoNode))
	assert.Equal(t, ErrorResult(CodeNoNode), FailedMultiResults(2, -1, CodeNoNode)[0])
	assert.Nil(t, FailedMultiResults(0, 0, CodeNoNode))

	// On the wire an error result carries its code in the header and body.
	b := Marshal(nil, &MultiResponse{Results: got[2:3]})
	assert.Equal(t, unhex(t, "ffffffff 00 ffffff99 ffffff99  ffffffff 01 ffffffff"), b)
}

func TestMultiResponseBadResultType(t *testing.T) {
	e := Encoder{}
	(&MultiHeader{Type: OpExists, Err: 0}).Encode(&e)
	var m MultiResponse
	err := Unmarshal(e.Bytes(), &m)
	assert.ErrorIs(t, err, ErrBadMulti)
}

func TestParseRequestAllocations(t *testing.T) {
	cases := []struct {
		op     OpCode
		body   Record
		allocs float64 // the record plus its strings and slices
	}{
		{OpGetData, &GetDataRequest{Path: "/some/path", Watch: true}, 2},
		{OpExists, &ExistsRequest{Path: "/some/path"}, 2},
		{OpSetData, &SetDataRequest{Path: "/p", Data: []byte("x"), Version: 1}, 3},
		{OpPing, &Empty{}, 0},
		{OpCreate, &CreateRequest{Path: "/p", Data: []byte("x"), ACL: sampleACL[:1]}, 6},
	}
	for _, c := range cases {
		payload := requestFrame(1, c.op, c.body)
		allocs := testing.AllocsPerRun(200, func() {
			_, _, err := ParseRequest(payload)
			if err != nil {
				t.Fatal(err)
			}
		})
		assert.LessOrEqual(t, allocs, c.allocs, "%v", c.op)
	}
}

func TestErrorsAreDistinguishable(t *testing.T) {
	_, _, err := ParseRequest(requestFrame(1, OpGetData, &GetDataRequest{Path: "/p"})[:10])
	assert.True(t, errors.Is(err, ErrTruncated) || errors.Is(err, ErrInvalidLength))
	assert.False(t, errors.Is(err, ErrUnsupportedOp))
	assert.Contains(t, err.Error(), "getData request (xid 1)")
}

func BenchmarkParseGetData(b *testing.B) {
	payload := requestFrame(1, OpGetData, &GetDataRequest{Path: "/service/locks/lock-0000000042", Watch: true})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseRequest(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCreate(b *testing.B) {
	payload := requestFrame(1, OpCreate, &CreateRequest{Path: "/service/locks/lock-", Data: make([]byte, 128), ACL: sampleACL[:1], Flags: ModeEphemeralSequential})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseRequest(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteGetDataReply(b *testing.B) {
	e := Encoder{buf: make([]byte, 0, 4096)}
	body := &GetDataResponse{Data: make([]byte, 128), Stat: sampleStat(0)}
	b.ReportAllocs()
	for b.Loop() {
		e.Reset(e.buf[:0])
		e.WriteReplyFrame(ReplyHeader{Xid: 1, Zxid: 2}, body)
	}
}
