// Package wire holds coord's binary formats: the commands proposed to Raft,
// the results the state machine hands back to the proposer, and the records
// the state machine stores (znodes and sessions).
//
// Every format starts with a version byte so that a member can refuse data
// written by a newer release instead of misreading it. Integers are varints,
// byte strings are length-prefixed. Decoders never panic and never allocate
// more than their input justifies: a length is checked against the bytes
// that remain before anything is allocated for it.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrTruncated reports input that ends in the middle of a field.
var ErrTruncated = errors.New("wire: truncated input")

// ErrCorrupt reports input whose fields are malformed.
var ErrCorrupt = errors.New("wire: corrupt input")

// encoder appends fields to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(v []byte) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *encoder) string(v string) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *encoder) bool(v bool) {
	if v {
		e.byte(1)
	} else {
		e.byte(0)
	}
}

// decoder reads fields from a byte slice; the first error sticks and every
// later read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(ErrTruncated)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		if n == 0 {
			d.fail(ErrTruncated)
		} else {
			d.fail(fmt.Errorf("%w: varint overflows 64 bits", ErrCorrupt))
		}
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		if n == 0 {
			d.fail(ErrTruncated)
		} else {
			d.fail(fmt.Errorf("%w: varint overflows 64 bits", ErrCorrupt))
		}
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int32() int32 {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail(fmt.Errorf("%w: %d does not fit in 32 bits", ErrCorrupt, v))
		return 0
	}
	return int32(v)
}

// count reads a length or element count and checks that at least
// minEach*count bytes remain, so a forged count cannot make the caller
// allocate more than the input holds.
func (d *decoder) count(minEach int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if minEach < 1 {
		minEach = 1
	}
	if n > uint64(len(d.b)/minEach) {
		d.fail(ErrTruncated)
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(ErrTruncated)
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(ErrTruncated)
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail(fmt.Errorf("%w: bad boolean", ErrCorrupt))
		return false
	}
}

// version checks the leading format version byte.
func (d *decoder) version(what string, want byte) {
	v := d.byte()
	if d.err == nil && v != want {
		d.fail(fmt.Errorf("%w: %s format version %d, this release reads %d", ErrCorrupt, what, v, want))
	}
}

// finish reports the sticky error, or trailing bytes.
func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return nil
}
