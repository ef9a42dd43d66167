package jute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Sentinel errors returned (wrapped) by the Decoder. Match them with
// errors.Is; the wrapping message names the field kind and byte offset.
var (
	// ErrTruncated means the input ended before the value being read.
	ErrTruncated = errors.New("jute: truncated input")
	// ErrInvalidLength means a length prefix was negative (other than the
	// -1 that encodes null) or larger than the bytes that remain.
	ErrInvalidLength = errors.New("jute: invalid length")
)

// Decoder reads jute primitives from an in-memory byte slice.
//
// Every method checks bounds and returns an error instead of panicking.
// Length prefixes are validated against the number of bytes that remain, so
// a hostile length can never make the decoder allocate more than the input
// itself justifies. The zero Decoder reads from an empty input; use Reset or
// NewDecoder to point it at data. A Decoder is not safe for concurrent use.
type Decoder struct {
	buf []byte
	off int
}

// NewDecoder returns a Decoder reading b from its start.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Reset makes d read b from its start, so one Decoder can be reused.
func (d *Decoder) Reset(b []byte) {
	d.buf = b
	d.off = 0
}

// Offset returns how many bytes have been consumed.
func (d *Decoder) Offset() int { return d.off }

// Len returns how many bytes remain unread.
func (d *Decoder) Len() int { return len(d.buf) - d.off }

// Rest returns the unread bytes without consuming them. The slice aliases the
// Decoder's input.
func (d *Decoder) Rest() []byte { return d.buf[d.off:] }

func (d *Decoder) truncated(kind string, need int) error {
	return fmt.Errorf("%w: %s needs %d bytes at offset %d, %d left", ErrTruncated, kind, need, d.off, d.Len())
}

// ReadInt32 reads a big-endian 32-bit integer (jute int).
func (d *Decoder) ReadInt32() (int32, error) {
	if d.Len() < 4 {
		return 0, d.truncated("int", 4)
	}
	v := int32(binary.BigEndian.Uint32(d.buf[d.off:]))
	d.off += 4
	return v, nil
}

// ReadInt64 reads a big-endian 64-bit integer (jute long).
func (d *Decoder) ReadInt64() (int64, error) {
	if d.Len() < 8 {
		return 0, d.truncated("long", 8)
	}
	v := int64(binary.BigEndian.Uint64(d.buf[d.off:]))
	d.off += 8
	return v, nil
}

// ReadBool reads a one-byte boolean (jute boolean). As in Java's
// DataInput.readBoolean, any non-zero byte is true.
func (d *Decoder) ReadBool() (bool, error) {
	if d.Len() < 1 {
		return false, d.truncated("boolean", 1)
	}
	v := d.buf[d.off] != 0
	d.off++
	return v, nil
}

// readLen reads a length prefix for a value of the given kind and checks it
// against the remaining input: -1 (null) is returned as is, other negative
// values and values larger than what remains are errors.
func (d *Decoder) readLen(kind string) (int, error) {
	start := d.off
	n32, err := d.ReadInt32()
	if err != nil {
		return 0, err
	}
	n := int(n32)
	if n == -1 {
		return -1, nil
	}
	if n < 0 {
		d.off = start
		return 0, fmt.Errorf("%w: %s length %d at offset %d", ErrInvalidLength, kind, n, start)
	}
	if n > d.Len() {
		d.off = start
		return 0, fmt.Errorf("%w: %s length %d at offset %d exceeds the %d bytes left", ErrInvalidLength, kind, n, start, d.Len()-4)
	}
	return n, nil
}

// ReadBuffer reads a length-prefixed byte string (jute buffer). Length -1
// decodes to nil and length 0 to a non-nil empty slice, so the distinction
// ZooKeeper makes between null and empty data survives a round trip. The
// bytes are copied: the result never aliases the Decoder's input, which is
// typically a reused frame buffer.
func (d *Decoder) ReadBuffer() ([]byte, error) {
	n, err := d.readLen("buffer")
	if err != nil || n < 0 {
		return nil, err
	}
	b := make([]byte, n)
	copy(b, d.buf[d.off:d.off+n])
	d.off += n
	return b, nil
}

// ReadString reads a length-prefixed UTF-8 string (jute ustring). Length -1
// (null) decodes to "". The bytes are not validated as UTF-8; that is left
// to the caller (path validation rejects bad paths anyway).
func (d *Decoder) ReadString() (string, error) {
	n, err := d.readLen("string")
	if err != nil || n <= 0 {
		return "", err
	}
	s := string(d.buf[d.off : d.off+n])
	d.off += n
	return s, nil
}

// ReadVectorLen reads the element count of a jute vector. minElemSize is the
// smallest encoded size of one element (4 for a vector of strings); the count
// is rejected when count*minElemSize exceeds the remaining input, so a caller
// may safely allocate a slice of the returned length. A null vector (-1) is
// returned as -1; callers usually treat it like an empty one.
func (d *Decoder) ReadVectorLen(minElemSize int) (int, error) {
	start := d.off
	n32, err := d.ReadInt32()
	if err != nil {
		return 0, err
	}
	n := int(n32)
	if n == -1 {
		return -1, nil
	}
	if minElemSize < 1 {
		minElemSize = 1
	}
	if n < 0 || n > d.Len()/minElemSize {
		d.off = start
		return 0, fmt.Errorf("%w: vector count %d at offset %d does not fit in the %d bytes left", ErrInvalidLength, n, start, d.Len()-4)
	}
	return n, nil
}

// ReadStringVector reads a vector<ustring>. A null or empty vector decodes
// to nil.
func (d *Decoder) ReadStringVector() ([]string, error) {
	n, err := d.ReadVectorLen(4)
	if err != nil || n <= 0 {
		return nil, err
	}
	v := make([]string, n)
	for i := range v {
		if v[i], err = d.ReadString(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Encoder appends jute primitives to a byte slice. The zero Encoder is ready
// to use; Reset lets a connection reuse one buffer for every reply. Encoding
// cannot fail: lengths are written as int32 and the caller is responsible
// for keeping values within jute's limits (anything larger than a frame
// could not be sent anyway).
type Encoder struct {
	buf []byte
}

// NewEncoder returns an Encoder that appends to buf.
func NewEncoder(buf []byte) *Encoder { return &Encoder{buf: buf} }

// Reset makes e append to buf (typically buf[:0] of a reused buffer).
func (e *Encoder) Reset(buf []byte) { e.buf = buf }

// Bytes returns the encoded bytes.
func (e *Encoder) Bytes() []byte { return e.buf }

// Len returns the number of encoded bytes.
func (e *Encoder) Len() int { return len(e.buf) }

// WriteInt32 appends a big-endian 32-bit integer.
func (e *Encoder) WriteInt32(v int32) { e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v)) }

// WriteInt64 appends a big-endian 64-bit integer.
func (e *Encoder) WriteInt64(v int64) { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v)) }

// WriteBool appends a boolean as one byte, 1 or 0.
func (e *Encoder) WriteBool(v bool) {
	var b byte
	if v {
		b = 1
	}
	e.buf = append(e.buf, b)
}

func clampLen(n int) int32 {
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(n)
}

// WriteBuffer appends a length-prefixed byte string; nil is written as the
// null buffer (length -1), a non-nil empty slice as length 0.
func (e *Encoder) WriteBuffer(b []byte) {
	if b == nil {
		e.WriteInt32(-1)
		return
	}
	e.WriteInt32(clampLen(len(b)))
	e.buf = append(e.buf, b...)
}

// WriteString appends a length-prefixed string. Go has no null string, so ""
// is written with length 0.
func (e *Encoder) WriteString(s string) {
	e.WriteInt32(clampLen(len(s)))
	e.buf = append(e.buf, s...)
}

// WriteVectorLen appends a vector element count. Callers write the elements
// next. nil slices are written as empty (0), never as null (-1): Java clients
// do not expect null lists in replies.
func (e *Encoder) WriteVectorLen(n int) { e.WriteInt32(clampLen(n)) }

// WriteStringVector appends a vector<ustring>.
func (e *Encoder) WriteStringVector(v []string) {
	e.WriteVectorLen(len(v))
	for _, s := range v {
		e.WriteString(s)
	}
}

// Record is implemented by every jute record in this package. Decode reads
// the record's fields in jute order; Encode appends them.
type Record interface {
	Decode(d *Decoder) error
	Encode(e *Encoder)
}

// Marshal appends the encoding of r to dst and returns the extended slice.
func Marshal(dst []byte, r Record) []byte {
	e := Encoder{buf: dst}
	r.Encode(&e)
	return e.buf
}

// Unmarshal decodes r from b. Bytes after the record are ignored, as
// ZooKeeper ignores them; use a Decoder to learn how much was consumed.
func Unmarshal(b []byte, r Record) error {
	d := Decoder{buf: b}
	return r.Decode(&d)
}
