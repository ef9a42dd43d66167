package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.TempDir(), Options{CacheSize: 1 << 20, MemTableSize: 1 << 20})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func put(t *testing.T, db *DB, kv ...string) {
	t.Helper()
	b := db.NewBatch()
	for i := 0; i < len(kv); i += 2 {
		b.Set([]byte(kv[i]), []byte(kv[i+1]))
	}
	require.NoError(t, b.Commit(false))
}

func get(t *testing.T, r Reader, key string) (string, bool) {
	t.Helper()
	v, ok, err := r.Get([]byte(key))
	require.NoError(t, err)
	return string(v), ok
}

// all returns every key and value in r under prefix, in order.
func all(t *testing.T, r Reader, prefix string) []string {
	t.Helper()
	var out []string
	require.NoError(t, r.Scan([]byte(prefix), func(k, v []byte) bool {
		out = append(out, string(k)+"="+string(v))
		return true
	}))
	return out
}

func TestGet(t *testing.T) {
	db := openTest(t)
	_, ok := get(t, db, "a")
	require.False(t, ok)

	put(t, db, "a", "1", "empty", "")
	v, ok := get(t, db, "a")
	require.True(t, ok)
	require.Equal(t, "1", v)

	// An empty value is present, not absent.
	v, ok = get(t, db, "empty")
	require.True(t, ok)
	require.Equal(t, "", v)

	// Get returns a copy: changing it does not change the store.
	raw, _, err := db.Get([]byte("a"))
	require.NoError(t, err)
	raw[0] = 'X'
	v, _ = get(t, db, "a")
	require.Equal(t, "1", v)
}

func TestBatchSemantics(t *testing.T) {
	db := openTest(t)
	put(t, db, "a", "1", "b", "2")

	// Nothing is visible before Commit; Set copies its arguments.
	b := db.NewBatch()
	key, val := []byte("c"), []byte("3")
	b.Set(key, val)
	key[0], val[0] = 'z', '9'
	b.Delete([]byte("a"))
	require.Greater(t, b.Len(), 0)
	_, ok := get(t, db, "c")
	require.False(t, ok)
	_, ok = get(t, db, "a")
	require.True(t, ok)
	require.NoError(t, b.Commit(true))
	require.Equal(t, []string{"b=2", "c=3"}, all(t, db, ""))

	// Later writes in a batch win over earlier ones.
	b = db.NewBatch()
	b.Set([]byte("d"), []byte("first"))
	b.Set([]byte("d"), []byte("second"))
	b.Set([]byte("b"), []byte("gone"))
	b.Delete([]byte("b"))
	require.NoError(t, b.Commit(false))
	require.Equal(t, []string{"c=3", "d=second"}, all(t, db, ""))

	// An aborted batch changes nothing.
	b = db.NewBatch()
	b.Set([]byte("e"), []byte("5"))
	b.Delete([]byte("c"))
	b.Abort()
	require.Equal(t, []string{"c=3", "d=second"}, all(t, db, ""))

	// Deleting an absent key is fine.
	b = db.NewBatch()
	b.Delete([]byte("nope"))
	require.NoError(t, b.Commit(false))
	require.NoError(t, db.Sync())
}

func TestBatchDeleteAllKeepsLocalKeys(t *testing.T) {
	db := openTest(t)
	put(t, db, "\x00", "lowest", "a", "1", "\xfe\xff\xff", "high", "\xff", "local", "\xff\xff", "local2", "\xffapplied", "7")
	b := db.NewBatch()
	b.DeleteAll()
	b.Set([]byte("new"), []byte("n"))
	require.NoError(t, b.Commit(false))
	require.Equal(t, []string{"new=n", "\xff=local", "\xffapplied=7", "\xff\xff=local2"}, all(t, db, ""))
}

func TestScan(t *testing.T) {
	db := openTest(t)
	put(t, db,
		"a", "0", "a/", "1", "a/b", "2", "a/c", "3", "a0", "4", "b", "5",
		"p\xff", "6", "p\xff\x00", "7", "p\xff\xff", "8", "q", "9",
		"\xff", "l1", "\xff\xff", "l2", "\xff\xff\x01", "l3")

	require.Equal(t, []string{"a/=1", "a/b=2", "a/c=3"}, all(t, db, "a/"))
	require.Equal(t, []string{"a=0", "a/=1", "a/b=2", "a/c=3", "a0=4"}, all(t, db, "a"))
	require.Empty(t, all(t, db, "zz"))
	require.Empty(t, all(t, db, "a/b/"))
	require.Equal(t, []string{"p\xff=6", "p\xff\x00=7", "p\xff\xff=8"}, all(t, db, "p\xff"))
	require.Equal(t, []string{"p\xff\xff=8"}, all(t, db, "p\xff\xff"))
	// Prefixes made of 0xff bytes have no upper bound but still only match
	// their own keys.
	require.Equal(t, []string{"\xff=l1", "\xff\xff=l2", "\xff\xff\x01=l3"}, all(t, db, "\xff"))
	require.Equal(t, []string{"\xff\xff=l2", "\xff\xff\x01=l3"}, all(t, db, "\xff\xff"))
	// The empty prefix is every key.
	require.Len(t, all(t, db, ""), 13)

	// fn returning false stops the scan.
	var seen []string
	require.NoError(t, db.Scan([]byte("a"), func(k, _ []byte) bool {
		seen = append(seen, string(k))
		return len(seen) < 2
	}))
	require.Equal(t, []string{"a", "a/"}, seen)
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct{ in, want []byte }{
		{nil, nil},
		{[]byte{}, nil},
		{[]byte("a"), []byte("b")},
		{[]byte("a/"), []byte("a0")},
		{[]byte{0x00}, []byte{0x01}},
		{[]byte{0xfe}, []byte{0xff}},
		{[]byte{0xff}, nil},
		{[]byte{0xff, 0xff, 0xff}, nil},
		{[]byte{0x01, 0xff}, []byte{0x02}},
		{[]byte{0x01, 0xff, 0xff}, []byte{0x02}},
		{[]byte{0x01, 0xfe, 0xff}, []byte{0x01, 0xff}},
		{[]byte{0x00, 0xff}, []byte{0x01}},
	} {
		in := bytes.Clone(c.in)
		got := prefixEnd(in)
		require.Equal(t, c.want, got, "prefixEnd(%x)", c.in)
		require.Equal(t, c.in, in, "prefixEnd must not modify its argument")
	}
}

func TestSnapshotIsFrozen(t *testing.T) {
	db := openTest(t)
	put(t, db, "a", "1", "b", "2")
	snap := db.Snapshot()
	defer snap.Close()
	put(t, db, "a", "changed", "c", "3")
	b := db.NewBatch()
	b.Delete([]byte("b"))
	require.NoError(t, b.Commit(false))

	v, ok := get(t, snap, "a")
	require.True(t, ok)
	require.Equal(t, "1", v)
	_, ok = get(t, snap, "c")
	require.False(t, ok)
	require.Equal(t, []string{"a=1", "b=2"}, all(t, snap, ""))
	require.Equal(t, []string{"a=changed", "c=3"}, all(t, db, ""))
}

// snapshotOf returns the stream WriteTo writes for db's current state.
func snapshotOf(t *testing.T, db *DB) []byte {
	t.Helper()
	snap := db.Snapshot()
	defer snap.Close()
	var buf bytes.Buffer
	require.NoError(t, snap.WriteTo(&buf, nil))
	return buf.Bytes()
}

func seedReplicated(t *testing.T, db *DB) {
	b := db.NewBatch()
	b.Set([]byte{0x00}, []byte("lowest"))
	b.Set([]byte{0x00, 0x00}, []byte{})
	for i := 0; i < 3000; i++ { // more than one stop-check interval
		b.Set(fmt.Appendf(nil, "n/%05d", i), bytes.Repeat([]byte{byte(i)}, i%50))
	}
	b.Set([]byte{0xfe, 0xff, 0xff}, []byte("highest replicated"))
	b.Set([]byte{0xff}, []byte("local of source"))
	b.Set([]byte{0xff, 'x'}, []byte("local of source"))
	require.NoError(t, b.Commit(false))
}

func TestSnapshotWriteToReplaceFrom(t *testing.T) {
	src := openTest(t)
	seedReplicated(t, src)
	stream := snapshotOf(t, src)
	require.True(t, bytes.HasPrefix(stream, []byte("coordsnap\x01")))
	require.NotContains(t, string(stream), "local of source", "keys from 0xff up must not be streamed")

	dst := openTest(t)
	put(t, dst, "n/99999", "stale", "a", "stale", "\xff", "local of dst", "\xff\xff\xff", "local2 of dst")
	require.NoError(t, dst.ReplaceFrom(bytes.NewReader(stream), nil))

	// Identical replicated keys, stale ones gone, local keys untouched.
	require.Equal(t, replicated(t, src), replicated(t, dst))
	require.Len(t, replicated(t, dst), 3003)
	require.Equal(t, []string{"\xff=local of dst", "\xff\xff\xff=local2 of dst"}, all(t, dst, "\xff"))

	// Replacing again from the same stream is idempotent, and an empty
	// store's snapshot empties the replicated range.
	require.NoError(t, dst.ReplaceFrom(bytes.NewReader(stream), nil))
	require.Equal(t, replicated(t, src), replicated(t, dst))
	empty := snapshotOf(t, openTest(t))
	require.Equal(t, []byte("coordsnap\x01\x00\x00"), empty)
	require.NoError(t, dst.ReplaceFrom(bytes.NewReader(empty), nil))
	require.Empty(t, replicated(t, dst))
	require.Equal(t, []string{"\xff=local of dst", "\xff\xff\xff=local2 of dst"}, all(t, dst, "\xff"))
}

func TestReplaceFromLargeStreamCommitsInParts(t *testing.T) {
	// More than the 4 MiB batch threshold, so ReplaceFrom commits in parts.
	src := openTest(t)
	b := src.NewBatch()
	val := bytes.Repeat([]byte("v"), 64<<10)
	for i := 0; i < 100; i++ {
		b.Set(fmt.Appendf(nil, "big/%03d", i), val)
	}
	require.NoError(t, b.Commit(false))
	stream := snapshotOf(t, src)
	dst := openTest(t)
	require.NoError(t, dst.ReplaceFrom(bytes.NewReader(stream), nil))
	require.Equal(t, replicated(t, src), replicated(t, dst))
}

func replicated(t *testing.T, db *DB) []string {
	var out []string
	require.NoError(t, db.Scan(nil, func(k, v []byte) bool {
		if k[0] != 0xff {
			out = append(out, fmt.Sprintf("%x=%x", k, v))
		}
		return true
	}))
	return out
}

// stream builds a snapshot stream by hand.
func stream(version byte, records [][2][]byte, trailer uint64) []byte {
	b := append([]byte("coordsnap"), version)
	for _, r := range records {
		b = binary.AppendUvarint(b, uint64(len(r[0])))
		b = append(b, r[0]...)
		b = binary.AppendUvarint(b, uint64(len(r[1])))
		b = append(b, r[1]...)
	}
	b = append(b, 0)
	return binary.AppendUvarint(b, trailer)
}

func TestReplaceFromHandBuiltStream(t *testing.T) {
	db := openTest(t)
	rec := [][2][]byte{{[]byte("k1"), []byte("v1")}, {[]byte("k2"), {}}}
	require.NoError(t, db.ReplaceFrom(bytes.NewReader(stream(1, rec, 2)), nil))
	require.Equal(t, []string{"k1=v1", "k2="}, all(t, db, ""))
}

func TestReplaceFromRejectsTruncatedStreams(t *testing.T) {
	src := openTest(t)
	put(t, src, "a", "1", "bb", "22", "ccc", "", "\xfe", "x")
	full := snapshotOf(t, src)
	dst := openTest(t)
	put(t, dst, "keep", "me")
	for n := 0; n < len(full); n++ {
		err := dst.ReplaceFrom(bytes.NewReader(full[:n]), nil)
		require.Error(t, err, "prefix of %d of %d bytes", n, len(full))
	}
	require.NoError(t, dst.ReplaceFrom(bytes.NewReader(full), nil))
	require.Equal(t, replicated(t, src), replicated(t, dst))
}

func TestReplaceFromRejectsCorruptStreams(t *testing.T) {
	rec := [][2][]byte{{[]byte("k1"), []byte("v1")}, {[]byte("k2"), []byte("v2")}}
	good := stream(1, rec, 2)
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"empty":            {nil, "header"},
		"bad magic":        {append([]byte("CoordSnap\x01"), good[10:]...), "not a coord snapshot"},
		"other format":     {stream(2, rec, 2), "format version 2"},
		"format 0":         {stream(0, rec, 2), "format version 0"},
		"trailer too high": {stream(1, rec, 3), "trailer says 3"},
		"trailer too low":  {stream(1, rec, 1), "trailer says 1"},
		"no trailer":       {good[:len(good)-1], "trailer"},
		"huge key length": {append(append([]byte("coordsnap\x01"), binary.AppendUvarint(nil, maxRecordSize+1)...), 'k'),
			"exceeds the limit"},
		"huge value length": {append(append([]byte("coordsnap\x01\x01k"), binary.AppendUvarint(nil, 1<<62)...), 'v'),
			"exceeds the limit"},
		"overlong varint": {append([]byte("coordsnap\x01"), bytes.Repeat([]byte{0xff}, 11)...), "overflow"},
		"length past end": {append([]byte("coordsnap\x01\x05ab"), 0), "unexpected EOF"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			db := openTest(t)
			err := db.ReplaceFrom(bytes.NewReader(c.b), nil)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

// A stream whose records lie outside the replicated range is corrupt: a
// valid WriteTo never writes one, and loading it would overwrite the
// member's own keys.
func TestReplaceFromRejectsLocalKeys(t *testing.T) {
	for _, key := range [][]byte{{0xff}, {0xff, 0x00}, {0xff, 0xff}} {
		db := openTest(t)
		put(t, db, "\xff", "mine", "\xff\x00", "mine", "\xff\xff", "mine")
		err := db.ReplaceFrom(bytes.NewReader(stream(1, [][2][]byte{{key, []byte("theirs")}}, 1)), nil)
		require.Error(t, err, "key %x", key)
		require.Equal(t, []string{"\xff=mine", "\xff\x00=mine", "\xff\xff=mine"}, all(t, db, "\xff"))
	}
}

func TestSnapshotTransfersStop(t *testing.T) {
	src := openTest(t)
	seedReplicated(t, src)
	stopped := make(chan struct{})
	close(stopped)

	snap := src.Snapshot()
	defer snap.Close()
	var buf bytes.Buffer
	require.ErrorIs(t, snap.WriteTo(&buf, stopped), ErrStopped)

	full := snapshotOf(t, src)
	dst := openTest(t)
	put(t, dst, "a", "kept")
	require.ErrorIs(t, dst.ReplaceFrom(bytes.NewReader(full), stopped), ErrStopped)
	v, ok := get(t, dst, "a")
	require.True(t, ok, "a stopped ReplaceFrom that committed nothing leaves the store as it was")
	require.Equal(t, "kept", v)

	// A stop that comes mid-stream (after the first check) also aborts.
	stop := make(chan struct{})
	r := &closeAfter{r: bytes.NewReader(full), n: 2000, stop: stop}
	require.ErrorIs(t, dst.ReplaceFrom(r, stop), ErrStopped)

	// WriteTo buffers 256 KiB before its writer sees anything, so the
	// source must be larger than that for the stop to come mid-stream.
	big := openTest(t)
	b := big.NewBatch()
	for i := 0; i < 8000; i++ {
		b.Set(fmt.Appendf(nil, "k/%05d", i), bytes.Repeat([]byte{'v'}, 100))
	}
	require.NoError(t, b.Commit(false))
	bigSnap := big.Snapshot()
	defer bigSnap.Close()
	w := &closeAfterWriter{n: 1, stop: make(chan struct{})}
	require.ErrorIs(t, bigSnap.WriteTo(w, w.stop), ErrStopped)
	require.Less(t, w.written, 8000*100, "WriteTo must stop before the end")
}

// closeAfter closes stop once n bytes have been read.
type closeAfter struct {
	r    io.Reader
	n    int
	stop chan struct{}
}

func (c *closeAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		select {
		case <-c.stop:
		default:
			close(c.stop)
		}
	}
	if len(p) > 100 {
		p = p[:100]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

// closeAfterWriter closes stop once n bytes have been written. WriteTo
// buffers its output, so the stop is seen at a later check.
type closeAfterWriter struct {
	n       int
	written int
	stop    chan struct{}
}

func (w *closeAfterWriter) Write(p []byte) (int, error) {
	w.n -= len(p)
	w.written += len(p)
	if w.n <= 0 {
		select {
		case <-w.stop:
		default:
			close(w.stop)
		}
	}
	return len(p), nil
}

func TestWriteToReportsWriteErrors(t *testing.T) {
	src := openTest(t)
	seedReplicated(t, src)
	snap := src.Snapshot()
	defer snap.Close()
	boom := errors.New("disk full")
	require.ErrorIs(t, snap.WriteTo(failingWriter{boom}, nil), boom)
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestReopenKeepsCommittedData(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	require.NoError(t, err)
	put(t, db, "a", "1")
	b := db.NewBatch()
	b.Set([]byte("b"), []byte("2"))
	require.NoError(t, b.Commit(true))
	require.NoError(t, db.Close())

	db, err = Open(dir, Options{})
	require.NoError(t, err)
	defer db.Close()
	require.Equal(t, []string{"a=1", "b=2"}, all(t, db, ""))
}
