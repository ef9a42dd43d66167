package jute

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime/metrics"
	"testing"
)

// allocBytes returns the bytes allocated on the heap so far. Small objects
// are accounted a span at a time, so deltas are only meaningful with slack;
// large allocations are counted exactly.
func allocBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// allocSlack absorbs span-granular accounting of small objects.
const allocSlack = 1 << 20

// maxAllocPerInputByte bounds how much a decoder may allocate per input byte:
// a 9-byte multi header plus a minimal op body (a few bytes) yields a
// MultiOp, a record and an empty string, about 100 bytes of heap.
const maxAllocPerInputByte = 64

// withinAllocBound runs fn and reports whether it allocated no more than the
// bound for an input of the given size. The heap counter is process-wide,
// so an excess is measured a second time before it counts.
func withinAllocBound(t *testing.T, input int, fn func()) {
	t.Helper()
	bound := allocSlack + uint64(maxAllocPerInputByte*input)
	var used uint64
	for range 2 {
		before := allocBytes()
		fn()
		if used = allocBytes() - before; used <= bound {
			return
		}
	}
	t.Fatalf("decoding %d bytes allocated %d bytes", input, used)
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frame([]byte("hello")), 100)
	f.Add(frame(nil), 0)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 10)
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 1}, DefaultMaxFrame)
	f.Add([]byte("ruok"), -1)
	f.Add(append(frame(bytes.Repeat([]byte{1}, 600)), 0, 0), 1<<20)
	f.Fuzz(func(t *testing.T, data []byte, maxLen int) {
		var p []byte
		var err error
		withinAllocBound(t, len(data), func() { p, err = ReadFrame(bytes.NewReader(data), nil, maxLen) })
		limit := maxLen
		if limit <= 0 {
			limit = DefaultMaxFrame
		}
		if err != nil {
			var fe *FrameLengthError
			switch {
			case errors.As(err, &fe):
				if fe.Length >= 0 && int64(fe.Length) <= int64(limit) {
					t.Fatalf("length %d within [0, %d] refused", fe.Length, limit)
				}
			case err == io.EOF:
				if len(data) != 0 {
					t.Fatalf("io.EOF after %d bytes", len(data))
				}
			case err == io.ErrUnexpectedEOF:
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		n := int(binary.BigEndian.Uint32(data))
		if n > limit || len(p) != n || !bytes.Equal(p, data[4:4+n]) {
			t.Fatalf("payload of %d bytes for length %d (limit %d)", len(p), n, limit)
		}
	})
}

// FuzzDecodeRequest decodes arbitrary bytes as a request frame payload (a
// header then the body for its opcode). It must never panic, never allocate
// more than the input justifies, and whatever decodes must re-encode to a
// form that decodes to the same request.
func FuzzDecodeRequest(f *testing.F) {
	for op, body := range sampleRequests() {
		f.Add(requestFrame(int32(op)+1000, op, body))
	}
	f.Add(requestFrame(1, OpMulti, &MultiRequest{}))
	f.Add(requestFrame(1, OpMultiRead, sampleMulti()))
	f.Add(requestFrame(1, OpDeleteContainer, &SyncRequest{Path: "/c"}))
	f.Add(unhex(f, "00000001 00000001 7fffffff"))
	f.Add(unhex(f, "00000001 00000065 0000000000000000 7fffffff"))
	f.Add(unhex(f, "00000001 0000000e 00000001 00 ffffffff 00000001 2f ffffffff 00000000 00000000"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h RequestHeader
		var body Record
		var err error
		withinAllocBound(t, len(data), func() { h, body, err = ParseRequest(data) })
		if err != nil {
			if body != nil {
				t.Fatalf("error %v with a body", err)
			}
			return
		}
		if body == nil {
			t.Fatal("nil body without error")
		}
		again := requestFrame(h.Xid, h.Type, body)
		h2, body2, err := ParseRequest(again)
		if err != nil {
			t.Fatalf("re-encoded %v request does not decode: %v", h.Type, err)
		}
		if h2 != h || !reflect.DeepEqual(body, body2) {
			t.Fatalf("%v request changed in a round trip:\n%#v\n%#v", h.Type, body, body2)
		}
		if !bytes.Equal(again, requestFrame(h2.Xid, h2.Type, body2)) {
			t.Fatalf("%v request encoding is not stable", h.Type)
		}
	})
}

// FuzzDecodeResponse decodes arbitrary bytes as the reply body of an
// opcode, as a client would, and as a ConnectRequest/ConnectResponse.
func FuzzDecodeResponse(f *testing.F) {
	st := sampleRecords()
	f.Add(int32(OpMulti), Marshal(nil, st["MultiResponse"]))
	f.Add(int32(OpMultiRead), Marshal(nil, st["MultiResponse/failed"]))
	f.Add(int32(OpGetData), Marshal(nil, st["GetDataResponse"]))
	f.Add(int32(OpGetChildren2), Marshal(nil, st["GetChildren2Response"]))
	f.Add(int32(OpGetACL), Marshal(nil, st["GetACLResponse"]))
	f.Add(int32(OpWhoAmI), Marshal(nil, st["WhoAmIResponse"]))
	f.Add(int32(OpCreateSession), Marshal(nil, st["ConnectRequest"]))
	f.Add(int32(OpCreateSession), Marshal(nil, st["ConnectResponse"]))
	f.Fuzz(func(t *testing.T, op int32, data []byte) {
		recs := []Record{NewResponse(OpCode(op)), new(ConnectRequest), new(ConnectResponse), new(WatcherEvent), new(ReplyHeader)}
		for _, r := range recs {
			if r == nil {
				continue
			}
			withinAllocBound(t, len(data), func() { _ = Unmarshal(data, newLike(r)) })
			err := Unmarshal(data, r)
			if err != nil {
				continue
			}
			b := Marshal(nil, r)
			r2 := newLike(r)
			if err := Unmarshal(b, r2); err != nil {
				t.Fatalf("%T re-encoding does not decode: %v", r, err)
			}
			if !reflect.DeepEqual(r, r2) {
				t.Fatalf("%T changed in a round trip:\n%#v\n%#v", r, r, r2)
			}
		}
	})
}
