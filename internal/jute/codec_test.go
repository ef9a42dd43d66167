package jute

import (
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unhex decodes hex digits, ignoring white space and "#" comments that run
// to the end of the line.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var sb strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	require.NoError(t, err)
	return b
}

func TestPrimitivesRoundTrip(t *testing.T) {
	var e Encoder
	e.WriteInt32(-2)
	e.WriteInt64(math.MinInt64)
	e.WriteBool(true)
	e.WriteBool(false)
	e.WriteBuffer(nil)
	e.WriteBuffer([]byte{})
	e.WriteBuffer([]byte("ab"))
	e.WriteString("")
	e.WriteString("héllo")
	e.WriteStringVector(nil)
	e.WriteStringVector([]string{"a", ""})

	want := unhex(t, `
		fffffffe
		8000000000000000
		01 00
		ffffffff
		00000000
		00000002 6162
		00000000
		00000006 68c3a96c6c6f
		00000000
		00000002 00000001 61 00000000`)
	require.Equal(t, want, e.Bytes())
	require.Equal(t, len(want), e.Len())

	d := NewDecoder(e.Bytes())
	i32, err := d.ReadInt32()
	require.NoError(t, err)
	assert.Equal(t, int32(-2), i32)
	i64, err := d.ReadInt64()
	require.NoError(t, err)
	assert.Equal(t, int64(math.MinInt64), i64)
	b, err := d.ReadBool()
	require.NoError(t, err)
	assert.True(t, b)
	b, err = d.ReadBool()
	require.NoError(t, err)
	assert.False(t, b)
	buf, err := d.ReadBuffer()
	require.NoError(t, err)
	assert.Nil(t, buf)
	buf, err = d.ReadBuffer()
	require.NoError(t, err)
	assert.NotNil(t, buf)
	assert.Empty(t, buf)
	buf, err = d.ReadBuffer()
	require.NoError(t, err)
	assert.Equal(t, []byte("ab"), buf)
	s, err := d.ReadString()
	require.NoError(t, err)
	assert.Equal(t, "", s)
	s, err = d.ReadString()
	require.NoError(t, err)
	assert.Equal(t, "héllo", s)
	v, err := d.ReadStringVector()
	require.NoError(t, err)
	assert.Nil(t, v)
	v, err = d.ReadStringVector()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", ""}, v)
	assert.Equal(t, 0, d.Len())
	assert.Equal(t, len(want), d.Offset())
}

func TestDecoderBoolAnyNonZeroIsTrue(t *testing.T) {
	d := NewDecoder([]byte{7})
	b, err := d.ReadBool()
	require.NoError(t, err)
	assert.True(t, b)
}

func TestDecoderNullString(t *testing.T) {
	d := NewDecoder(unhex(t, "ffffffff"))
	s, err := d.ReadString()
	require.NoError(t, err)
	assert.Equal(t, "", s)
	assert.Equal(t, 4, d.Offset())
}

func TestDecoderNullVector(t *testing.T) {
	d := NewDecoder(unhex(t, "ffffffff"))
	n, err := d.ReadVectorLen(4)
	require.NoError(t, err)
	assert.Equal(t, -1, n)
	d.Reset(unhex(t, "ffffffff"))
	v, err := d.ReadStringVector()
	require.NoError(t, err)
	assert.Nil(t, v)
}

func TestDecoderBufferDoesNotAlias(t *testing.T) {
	in := unhex(t, "00000003 616263")
	d := NewDecoder(in)
	b, err := d.ReadBuffer()
	require.NoError(t, err)
	in[4] = 'z'
	assert.Equal(t, []byte("abc"), b)
}

func TestDecoderTruncated(t *testing.T) {
	cases := []struct {
		name string
		in   string
		read func(d *Decoder) error
	}{
		{"int32", "000000", func(d *Decoder) error { _, err := d.ReadInt32(); return err }},
		{"int64", "00000000000000", func(d *Decoder) error { _, err := d.ReadInt64(); return err }},
		{"bool", "", func(d *Decoder) error { _, err := d.ReadBool(); return err }},
		{"buffer length", "0000", func(d *Decoder) error { _, err := d.ReadBuffer(); return err }},
		{"string length", "00", func(d *Decoder) error { _, err := d.ReadString(); return err }},
		{"vector length", "000000", func(d *Decoder) error { _, err := d.ReadVectorLen(1); return err }},
		{"vector element", "00000001 000000", func(d *Decoder) error { _, err := d.ReadStringVector(); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(unhex(t, c.in))
			err := c.read(d)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrTruncated) || errors.Is(err, ErrInvalidLength), "%v", err)
		})
	}
}

func TestDecoderInvalidLengths(t *testing.T) {
	cases := []struct {
		name string
		in   string
		read func(d *Decoder) error
	}{
		{"buffer -2", "fffffffe", func(d *Decoder) error { _, err := d.ReadBuffer(); return err }},
		{"buffer min int32", "80000000", func(d *Decoder) error { _, err := d.ReadBuffer(); return err }},
		{"buffer longer than input", "00000005 61626364", func(d *Decoder) error { _, err := d.ReadBuffer(); return err }},
		{"string huge", "7fffffff 61", func(d *Decoder) error { _, err := d.ReadString(); return err }},
		{"string -5", "fffffffb", func(d *Decoder) error { _, err := d.ReadString(); return err }},
		{"vector -2", "fffffffe", func(d *Decoder) error { _, err := d.ReadVectorLen(4); return err }},
		{"vector count beyond input", "00000003 00000000 00000000", func(d *Decoder) error { _, err := d.ReadVectorLen(4); return err }},
		{"vector huge", "7fffffff", func(d *Decoder) error { _, err := d.ReadStringVector(); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := unhex(t, c.in)
			d := NewDecoder(in)
			err := c.read(d)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidLength)
			assert.Equal(t, 0, d.Offset(), "a rejected length must not be consumed")
		})
	}
}

func TestDecoderVectorLenBound(t *testing.T) {
	// 2 elements of at least 4 bytes need 8 bytes; 7 are not enough.
	d := NewDecoder(unhex(t, "00000002 00000000 000000"))
	_, err := d.ReadVectorLen(4)
	assert.ErrorIs(t, err, ErrInvalidLength)
	d = NewDecoder(unhex(t, "00000002 00000000 00000000"))
	n, err := d.ReadVectorLen(4)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	// A zero or negative minimum element size is treated as 1.
	d = NewDecoder(unhex(t, "00000002 0000"))
	n, err = d.ReadVectorLen(0)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}

func TestDecoderHostileLengthsDoNotAllocate(t *testing.T) {
	inputs := [][]byte{
		unhex(t, "7fffffff"),
		unhex(t, "7fffffff 00000000"),
	}
	for _, in := range inputs {
		allocs := testing.AllocsPerRun(100, func() {
			d := Decoder{buf: in}
			_, _ = d.ReadVectorLen(1)
			d.Reset(in)
			_, _ = d.ReadBuffer()
		})
		// Only the error values are allocated.
		assert.LessOrEqual(t, allocs, 12.0)
	}
}

func TestDecoderRest(t *testing.T) {
	d := NewDecoder([]byte{0, 0, 0, 1, 9, 8})
	_, err := d.ReadInt32()
	require.NoError(t, err)
	assert.Equal(t, []byte{9, 8}, d.Rest())
	assert.Equal(t, 2, d.Len())
	var zero Decoder
	assert.Equal(t, 0, zero.Len())
	_, err = zero.ReadInt32()
	assert.ErrorIs(t, err, ErrTruncated)
}

func TestEncoderReset(t *testing.T) {
	buf := make([]byte, 0, 64)
	e := NewEncoder(buf)
	e.WriteInt32(1)
	first := e.Bytes()
	e.Reset(first[:0])
	e.WriteInt32(2)
	assert.Equal(t, []byte{0, 0, 0, 2}, e.Bytes())
	assert.Equal(t, &buf[:1][0], &e.Bytes()[0], "Reset must reuse the caller's buffer")
}

func TestMarshalUnmarshal(t *testing.T) {
	h := ReplyHeader{Xid: 7, Zxid: 0x100000002, Err: CodeNoNode}
	b := Marshal([]byte{0xaa}, &h)
	assert.Equal(t, unhex(t, "aa 00000007 0000000100000002 ffffff9b"), b)
	var got ReplyHeader
	require.NoError(t, Unmarshal(b[1:], &got))
	assert.Equal(t, h, got)
}

func TestDecoderErrorSticks(t *testing.T) {
	d := NewDecoder(unhex(t, "00000001 fffffffe 00000007"))
	var a, b, c int32
	var s string
	d.Int32(&a)
	d.String(&s) // length -2: refused, offset stays at the prefix
	first := d.Err()
	require.ErrorIs(t, first, ErrInvalidLength)
	assert.Equal(t, 4, d.Offset())
	b, c = 5, 6
	d.Int32(&b)
	d.Int32(&c)
	assert.Equal(t, []int32{1, 5, 6}, []int32{a, b, c}, "reads after an error store nothing")
	assert.Equal(t, 4, d.Offset(), "reads after an error consume nothing")
	assert.Same(t, first, d.Err(), "the first error is kept")
	_, err := d.ReadInt32()
	assert.Same(t, first, err, "the Read methods report the first error")

	d.Reset(unhex(t, "00000009"))
	require.NoError(t, d.Err(), "Reset forgets the error")
	d.Int32(&a)
	require.NoError(t, d.Err())
	assert.Equal(t, int32(9), a)
}

func TestDecoderFailedReadStoresNothing(t *testing.T) {
	data := []byte("keep")
	str := "keep"
	vec := []string{"keep"}
	var i64 int64 = 3
	ok := true
	d := NewDecoder(nil)
	d.Buffer(&data)
	d.String(&str)
	d.StringVector(&vec)
	d.Int64(&i64)
	d.Bool(&ok)
	require.ErrorIs(t, d.Err(), ErrTruncated)
	assert.Equal(t, []byte("keep"), data)
	assert.Equal(t, "keep", str)
	assert.Equal(t, []string{"keep"}, vec)
	assert.Equal(t, int64(3), i64)
	assert.True(t, ok)
	assert.Equal(t, 0, d.VectorLen(1), "a failed count reads as 0")
}
