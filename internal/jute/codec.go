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
// The first error sticks: a read that fails records the error, stores
// nothing, and leaves the offset at the start of the value it could not
// read, and every read after it does nothing. So a record decodes as the
// plain list of its fields followed by one check of Err, the way
// zookeeper.jute declares them. Length prefixes are validated against the
// number of bytes that remain, so a hostile length can never make the
// decoder allocate more than the input itself justifies; no input makes it
// panic. The zero Decoder reads from an empty input; use Reset or
// NewDecoder to point it at data. A Decoder is not safe for concurrent use.
type Decoder struct {
	buf []byte
	off int
	err error
}

// NewDecoder returns a Decoder reading b from its start.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Reset makes d read b from its start and forgets any error, so one
// Decoder can be reused.
func (d *Decoder) Reset(b []byte) {
	d.buf = b
	d.off = 0
	d.err = nil
}

// Err returns the first error a read met, or nil.
func (d *Decoder) Err() error { return d.err }

// Offset returns how many bytes have been consumed.
func (d *Decoder) Offset() int { return d.off }

// Len returns how many bytes remain unread.
func (d *Decoder) Len() int { return len(d.buf) - d.off }

// Rest returns the unread bytes without consuming them. The slice aliases the
// Decoder's input.
func (d *Decoder) Rest() []byte { return d.buf[d.off:] }

// fail records err unless an earlier error is already kept.
func (d *Decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// need reports whether the decoder is still healthy and n more bytes
// remain for a value of the given kind; if they do not, it records
// ErrTruncated. Fixed-size records call it first so that a short input is
// reported as the record it cuts short.
func (d *Decoder) need(kind string, n int) bool {
	if d.err != nil {
		return false
	}
	if d.Len() < n {
		d.fail(fmt.Errorf("%w: %s needs %d bytes at offset %d, %d left", ErrTruncated, kind, n, d.off, d.Len()))
		return false
	}
	return true
}

// Int32 reads a big-endian 32-bit integer (jute int) into *p.
func (d *Decoder) Int32(p *int32) {
	if d.need("int", 4) {
		*p = int32(binary.BigEndian.Uint32(d.buf[d.off:]))
		d.off += 4
	}
}

// Int64 reads a big-endian 64-bit integer (jute long) into *p.
func (d *Decoder) Int64(p *int64) {
	if d.need("long", 8) {
		*p = int64(binary.BigEndian.Uint64(d.buf[d.off:]))
		d.off += 8
	}
}

// Bool reads a one-byte boolean (jute boolean) into *p. As in Java's
// DataInput.readBoolean, any non-zero byte is true.
func (d *Decoder) Bool(p *bool) {
	if d.need("boolean", 1) {
		*p = d.buf[d.off] != 0
		d.off++
	}
}

// length reads the length prefix of a value of the given kind and checks
// it against the remaining input. It returns -1 for null; other negative
// lengths and lengths beyond what remains fail (ok false) with the prefix
// left unread, so the error names the offset of the value.
func (d *Decoder) length(kind string) (n int, ok bool) {
	start := d.off
	var n32 int32
	d.Int32(&n32)
	if d.err != nil {
		return 0, false
	}
	switch n = int(n32); {
	case n == -1:
		return -1, true
	case n < 0:
		d.off = start
		d.fail(fmt.Errorf("%w: %s length %d at offset %d", ErrInvalidLength, kind, n, start))
		return 0, false
	case n > d.Len():
		d.off = start
		d.fail(fmt.Errorf("%w: %s length %d at offset %d exceeds the %d bytes left", ErrInvalidLength, kind, n, start, d.Len()-4))
		return 0, false
	}
	return n, true
}

// Buffer reads a length-prefixed byte string (jute buffer) into *p. Length
// -1 decodes to nil and length 0 to a non-nil empty slice, so the
// distinction ZooKeeper makes between null and empty data survives a round
// trip. The bytes are copied: the result never aliases the Decoder's input,
// which is typically a reused frame buffer.
func (d *Decoder) Buffer(p *[]byte) {
	n, ok := d.length("buffer")
	switch {
	case !ok:
	case n < 0:
		*p = nil
	default:
		b := make([]byte, n)
		copy(b, d.buf[d.off:])
		*p = b
		d.off += n
	}
}

// String reads a length-prefixed UTF-8 string (jute ustring) into *p.
// Length -1 (null) decodes to "". The bytes are not validated as UTF-8;
// that is left to the caller (path validation rejects bad paths anyway).
func (d *Decoder) String(p *string) {
	n, ok := d.length("string")
	switch {
	case !ok:
	case n <= 0:
		*p = ""
	default:
		*p = string(d.buf[d.off : d.off+n])
		d.off += n
	}
}

// VectorLen reads the element count of a jute vector. minElemSize is the
// smallest encoded size of one element (4 for a vector of strings); the
// count is refused when count*minElemSize exceeds the remaining input, so a
// caller may safely allocate a slice of the returned length. A null vector
// is returned as -1 (callers usually treat it like an empty one), and a
// failed read as 0.
func (d *Decoder) VectorLen(minElemSize int) int {
	start := d.off
	var n32 int32
	d.Int32(&n32)
	if d.err != nil {
		return 0
	}
	n := int(n32)
	if n == -1 {
		return -1
	}
	minElemSize = max(minElemSize, 1)
	if n < 0 || n > d.Len()/minElemSize {
		d.off = start
		d.fail(fmt.Errorf("%w: vector count %d at offset %d does not fit in the %d bytes left", ErrInvalidLength, n, start, d.Len()-4))
		return 0
	}
	return n
}

// StringVector reads a vector<ustring> into *p. A null or empty vector
// decodes to nil.
func (d *Decoder) StringVector(p *[]string) {
	n := d.VectorLen(4)
	if d.err != nil {
		return
	}
	var v []string
	if n > 0 {
		v = make([]string, n)
		for i := range v {
			d.String(&v[i])
		}
	}
	if d.err == nil {
		*p = v
	}
}

// The Read methods are the field readers for callers that want each value
// and the error at once, as a client decoding a reply by hand does. They
// report the Decoder's first error, which may be older than the call.

// ReadInt32 reads a jute int; see Int32.
func (d *Decoder) ReadInt32() (v int32, err error) { d.Int32(&v); return v, d.err }

// ReadInt64 reads a jute long; see Int64.
func (d *Decoder) ReadInt64() (v int64, err error) { d.Int64(&v); return v, d.err }

// ReadBool reads a jute boolean; see Bool.
func (d *Decoder) ReadBool() (v bool, err error) { d.Bool(&v); return v, d.err }

// ReadBuffer reads a jute buffer; see Buffer.
func (d *Decoder) ReadBuffer() (v []byte, err error) { d.Buffer(&v); return v, d.err }

// ReadString reads a jute ustring; see String.
func (d *Decoder) ReadString() (v string, err error) { d.String(&v); return v, d.err }

// ReadVectorLen reads a vector's element count; see VectorLen.
func (d *Decoder) ReadVectorLen(minElemSize int) (int, error) { return d.VectorLen(minElemSize), d.err }

// ReadStringVector reads a vector<ustring>; see StringVector.
func (d *Decoder) ReadStringVector() (v []string, err error) { d.StringVector(&v); return v, d.err }

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
// the record's fields in jute order and returns the Decoder's error (or a
// wrapped form of it); Encode appends them.
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
