package jute

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func frame(payload []byte) []byte { return AppendFrame(nil, payload) }

func TestReadFrame(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame([]byte("hello")))
	in.Write(frame(nil))
	in.Write(frame(bytes.Repeat([]byte{7}, 3000)))

	buf := make([]byte, 0, 16)
	p, err := ReadFrame(&in, buf, 4096)
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), p)
	assert.Equal(t, &buf[:1][0], &p[0], "payload must reuse buf when it fits")

	p, err = ReadFrame(&in, p, 4096)
	require.NoError(t, err)
	assert.Empty(t, p)

	p, err = ReadFrame(&in, p, 4096)
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{7}, 3000), p)

	_, err = ReadFrame(&in, p, 4096)
	assert.Equal(t, io.EOF, err, "a clean end between frames is io.EOF")
}

func TestReadFrameOneByteReader(t *testing.T) {
	payload := bytes.Repeat([]byte("abc"), 100000) // larger than the growth chunk
	r := iotest.OneByteReader(bytes.NewReader(frame(payload)))
	p, err := ReadFrame(r, nil, len(payload))
	require.NoError(t, err)
	assert.Equal(t, payload, p)
	assert.Equal(t, len(payload), cap(p), "a grown buffer must not exceed the frame")
}

func TestReadFrameTruncated(t *testing.T) {
	full := frame([]byte("payload"))
	for n := 1; n < len(full); n++ {
		_, err := ReadFrame(bytes.NewReader(full[:n]), nil, 100)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "prefix %d", n)
	}
	// Truncated inside a large (chunked) frame.
	big := frame(make([]byte, 200000))
	_, err := ReadFrame(bytes.NewReader(big[:150000]), nil, DefaultMaxFrame)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestReadFrameLengthLimits(t *testing.T) {
	cases := []struct {
		length int32
		max    int
		ok     bool
	}{
		{0, 10, true},
		{10, 10, true},
		{11, 10, false},
		{-1, 10, false},
		{-2147483648, 10, false},
		{DefaultMaxFrame, 0, true},
		{DefaultMaxFrame + 1, 0, false},
		{0x7fffffff, DefaultMaxFrame, false},
	}
	for _, c := range cases {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(c.length))
		in := append(hdr[:], make([]byte, max(0, min(int(c.length), DefaultMaxFrame+1)))...)
		p, err := ReadFrame(bytes.NewReader(in), nil, c.max)
		if c.ok {
			require.NoError(t, err, "length %d", c.length)
			assert.Len(t, p, int(c.length))
			continue
		}
		var fe *FrameLengthError
		require.True(t, errors.As(err, &fe), "length %d: %v", c.length, err)
		assert.Equal(t, c.length, fe.Length)
		assert.ErrorIs(t, err, ErrFrameLength)
		assert.Contains(t, err.Error(), "out of range")
	}
}

func TestReadFrameHugeLengthDoesNotAllocate(t *testing.T) {
	// A peer announcing a large frame and then stalling must not cost a
	// buffer of the announced size.
	in := []byte{0x00, 0x0f, 0xff, 0xff, 1, 2, 3}
	var r bytes.Reader
	allocs := testing.AllocsPerRun(50, func() {
		r.Reset(in)
		_, err := ReadFrame(&r, nil, DefaultMaxFrame)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 3.0)
}

func TestFourLetterWords(t *testing.T) {
	for _, w := range []string{"ruok", "srvr", "stat", "mntr", "cons", "conf", "dump", "envi", "wchs", "isro"} {
		got, ok := FourLetterWord(int32(binary.BigEndian.Uint32([]byte(w))))
		assert.True(t, ok, w)
		assert.Equal(t, w, got)
	}
	for _, w := range []string{"abcd", "RUOK", "\x00\x00\x01\x00"} {
		_, ok := FourLetterWord(int32(binary.BigEndian.Uint32([]byte(w))))
		assert.False(t, ok, w)
	}
	_, err := ReadFrame(bytes.NewReader([]byte("ruok")), nil, DefaultMaxFrame)
	var fe *FrameLengthError
	require.ErrorAs(t, err, &fe)
	w, ok := FourLetterWord(fe.Length)
	assert.True(t, ok)
	assert.Equal(t, "ruok", w)
	assert.Contains(t, err.Error(), `"ruok"`)
}

func TestFrameWriters(t *testing.T) {
	h := ReplyHeader{Xid: 3, Zxid: 0x10, Err: CodeOK}
	body := &GetDataResponse{Data: []byte("d"), Stat: sampleStat(0)}
	want := frame(append(Marshal(nil, &h), Marshal(nil, body)...))

	assert.Equal(t, want, AppendReply(nil, h, body))
	assert.Equal(t, append([]byte("x"), want...), AppendReply([]byte("x"), h, body))

	var e Encoder
	e.WriteReplyFrame(h, body)
	assert.Equal(t, want, e.Bytes())

	// Header-only reply.
	hb := frame(Marshal(nil, &ReplyHeader{Xid: 4, Zxid: 5, Err: CodeNoNode}))
	assert.Equal(t, hb, AppendReply(nil, ReplyHeader{Xid: 4, Zxid: 5, Err: CodeNoNode}, nil))
	assert.Len(t, hb, 4+ReplyHeaderSize)

	// Notification.
	ev := &WatcherEvent{Type: EventNodeCreated, State: StateSyncConnected, Path: "/n"}
	n := AppendNotification(nil, ev)
	assert.Equal(t, unhex(t, "0000001e ffffffff ffffffffffffffff 00000000 00000001 00000003 00000002 2f6e"), n)
	e.Reset(nil)
	e.WriteNotificationFrame(ev)
	assert.Equal(t, n, e.Bytes())

	// Header-less record frame (ConnectResponse).
	cr := &ConnectResponse{TimeOut: 1, SessionID: 2, Passwd: []byte{3}}
	assert.Equal(t, frame(Marshal(nil, cr)), AppendRecordFrame(nil, cr))
	assert.Equal(t, frame(nil), AppendRecordFrame(nil, nil))

	// Manual framing.
	e.Reset(nil)
	start := e.BeginFrame()
	e.WriteInt32(42)
	e.EndFrame(start)
	assert.Equal(t, unhex(t, "00000004 0000002a"), e.Bytes())
	assert.Equal(t, []byte{1}, EndFrame([]byte{1}, 0), "a bad offset is ignored")

	// Writing and reading back through ReadFrame.
	p, err := ReadFrame(bytes.NewReader(want), nil, 0)
	require.NoError(t, err)
	var gh ReplyHeader
	var gb GetDataResponse
	d := NewDecoder(p)
	require.NoError(t, gh.Decode(d))
	require.NoError(t, gb.Decode(d))
	assert.Equal(t, h, gh)
	assert.Equal(t, *body, gb)
}

func TestEncoderFrameMethodsDoNotAllocate(t *testing.T) {
	e := Encoder{buf: make([]byte, 0, 4096)}
	body := &GetDataResponse{Data: []byte("data"), Stat: sampleStat(0)}
	ev := &WatcherEvent{Type: EventNodeDataChanged, State: StateSyncConnected, Path: "/p"}
	allocs := testing.AllocsPerRun(100, func() {
		e.Reset(e.buf[:0])
		e.WriteReplyFrame(ReplyHeader{Xid: 1, Zxid: 2}, body)
		e.WriteNotificationFrame(ev)
	})
	assert.Zero(t, allocs)
}
