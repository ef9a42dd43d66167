package jute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Frame size limits.
//
// ZooKeeper bounds every packet by the jute.maxbuffer system property,
// 0xfffff bytes (1 MiB - 1) by default. Its server compares the frame length
// against jute.maxbuffer itself, but it checks each buffer and string inside
// a record against jute.maxbuffer plus an extra allowance (historically 1024
// bytes; zookeeper.jute.maxbuffer.extrasize in newer releases), so that a
// znode holding close to jute.maxbuffer bytes can still be written together
// with its path and headers. DefaultMaxFrame follows the field rule for the
// whole frame: jute.maxbuffer plus a FrameMargin of 1024 bytes for the request
// header, path, ACL and the other fields around the payload. It accepts
// everything ZooKeeper accepts and a little more, never a lot more.
const (
	DefaultMaxBuffer = 0xfffff
	FrameMargin      = 1024
	DefaultMaxFrame  = DefaultMaxBuffer + FrameMargin
)

// frameChunk bounds how much ReadFrame allocates ahead of the bytes that have
// actually arrived, so that a peer cannot make the server allocate a full
// maxLen buffer by sending nothing but a 4-byte length.
const frameChunk = 64 << 10

// FrameLengthError is returned by ReadFrame when the 4-byte length prefix is
// negative or larger than the allowed maximum. The connection cannot be
// resynchronised afterwards and should be closed.
type FrameLengthError struct {
	Length int32 // the length prefix as read
	Max    int   // the limit it was checked against
}

func (e *FrameLengthError) Error() string {
	if w, ok := FourLetterWord(e.Length); ok {
		return fmt.Sprintf("jute: frame length %d (0x%08x) out of range [0, %d]; it spells the four-letter command %q", e.Length, uint32(e.Length), e.Max, w)
	}
	return fmt.Sprintf("jute: frame length %d out of range [0, %d]", e.Length, e.Max)
}

// ErrFrameLength is matched by errors.Is for every *FrameLengthError.
var ErrFrameLength = errors.New("jute: frame length out of range")

// Is makes errors.Is(err, ErrFrameLength) true.
func (e *FrameLengthError) Is(target error) bool { return target == ErrFrameLength }

// ReadFrame reads one length-prefixed packet from r: a 4-byte big-endian
// length n followed by n payload bytes. It returns the payload, stored in
// buf's backing array when cap(buf) is large enough (callers can keep the
// returned slice and pass it back in to reuse its memory; the previous
// payload is overwritten).
//
// A length below 0 or above maxLen yields a *FrameLengthError (maxLen <= 0
// means DefaultMaxFrame). io.EOF is returned only when r ends cleanly before
// a new frame; a frame cut short yields io.ErrUnexpectedEOF. Large frames are
// read in chunks, so memory grows with the bytes received rather than with
// the announced length.
//
// Before the session is established ZooKeeper servers interpret the first
// four bytes of a connection as a four-letter admin command ("ruok", "srvr",
// ...) when they spell one; use FourLetterWord on FrameLengthError.Length to
// offer the same.
func ReadFrame(r io.Reader, buf []byte, maxLen int) ([]byte, error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxFrame
	}
	if cap(buf) < 4 {
		buf = make([]byte, 0, 512)
	}
	hdr := buf[:4]
	if _, err := io.ReadFull(r, hdr); err != nil {
		return buf[:0], err
	}
	n32 := int32(binary.BigEndian.Uint32(hdr))
	if n32 < 0 || int64(n32) > int64(maxLen) {
		return buf[:0], &FrameLengthError{Length: n32, Max: maxLen}
	}
	n := int(n32)
	if n <= cap(buf) {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return buf[:0], unexpected(err)
		}
		return buf, nil
	}
	// Grow as data arrives.
	buf = buf[:0]
	for len(buf) < n {
		step := min(n-len(buf), max(frameChunk, len(buf)))
		if cap(buf)-len(buf) < step {
			nb := make([]byte, len(buf), len(buf)+step)
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf[:0], unexpected(err)
		}
	}
	return buf, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// FourLetterWord reports whether a frame length read from the first four
// bytes of a connection spells one of ZooKeeper 3.8's four-letter admin
// commands, and returns the word. ZooKeeper only checks this for the first
// packet of a connection, before the ConnectRequest.
func FourLetterWord(length int32) (string, bool) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(length))
	w := string(b[:])
	switch w {
	case "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro",
		"mntr", "ruok", "srst", "srvr", "stat", "stmk", "wchc", "wchp", "wchs":
		return w, true
	}
	return "", false
}

// BeginFrame appends a 4-byte length placeholder to dst and returns the
// extended slice and the placeholder's offset, for EndFrame.
func BeginFrame(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0), len(dst)
}

// EndFrame fills in the length placeholder written by BeginFrame at offset
// start with the number of bytes appended after it.
func EndFrame(buf []byte, start int) []byte {
	if start < 0 || start+4 > len(buf) {
		return buf
	}
	n := len(buf) - start - 4
	binary.BigEndian.PutUint32(buf[start:], uint32(clampLen(n)))
	return buf
}

// BeginFrame appends a 4-byte length placeholder and returns its offset,
// to be passed to EndFrame once the frame's records have been encoded.
func (e *Encoder) BeginFrame() int {
	var start int
	e.buf, start = BeginFrame(e.buf)
	return start
}

// EndFrame fills in the length placeholder written by BeginFrame.
func (e *Encoder) EndFrame(start int) { e.buf = EndFrame(e.buf, start) }

// AppendFrame appends payload to dst with its 4-byte length prefix.
func AppendFrame(dst, payload []byte) []byte {
	n := len(payload)
	if n > math.MaxInt32 {
		n = math.MaxInt32
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	return append(dst, payload[:n]...)
}

// WriteRecordFrame appends one length-prefixed frame holding the records
// in order (for example a ConnectResponse, which has no header). nil
// records are skipped.
func (e *Encoder) WriteRecordFrame(recs ...Record) {
	start := e.BeginFrame()
	for _, r := range recs {
		if r != nil {
			r.Encode(e)
		}
	}
	e.EndFrame(start)
}

// WriteReplyFrame appends one framed reply: the ReplyHeader followed by
// body. Pass a nil body for replies that carry only the header: every reply
// whose Err is not CodeOK, and the successful replies to delete, setWatches,
// setWatches2, auth, checkWatches, removeWatches, ping and closeSession (see
// NewResponse for the body of every other opcode).
func (e *Encoder) WriteReplyFrame(h ReplyHeader, body Record) {
	start := e.BeginFrame()
	h.Encode(e)
	if body != nil {
		body.Encode(e)
	}
	e.EndFrame(start)
}

// WriteNotificationFrame appends one framed watch notification: a
// ReplyHeader with xid XidNotification, zxid -1 and err 0 (exactly what
// ZooKeeper 3.8 sends) followed by the event.
func (e *Encoder) WriteNotificationFrame(ev *WatcherEvent) {
	start := e.BeginFrame()
	h := ReplyHeader{Xid: XidNotification, Zxid: -1, Err: CodeOK}
	h.Encode(e)
	ev.Encode(e)
	e.EndFrame(start)
}

// AppendRecordFrame is WriteRecordFrame for a plain byte slice: it appends
// the frame to dst and returns the extended slice. The Encoder methods avoid
// the small allocation this convenience costs (a long-lived Encoder, e.g.
// one per connection, does not escape per call).
func AppendRecordFrame(dst []byte, recs ...Record) []byte {
	e := Encoder{buf: dst}
	e.WriteRecordFrame(recs...)
	return e.buf
}

// AppendReply is WriteReplyFrame for a plain byte slice.
func AppendReply(dst []byte, h ReplyHeader, body Record) []byte {
	e := Encoder{buf: dst}
	e.WriteReplyFrame(h, body)
	return e.buf
}

// AppendNotification is WriteNotificationFrame for a plain byte slice.
func AppendNotification(dst []byte, ev *WatcherEvent) []byte {
	e := Encoder{buf: dst}
	e.WriteNotificationFrame(ev)
	return e.buf
}
