// Package store is coord's durable key-value storage: a thin layer over
// Pebble that the state machine uses for the znode tree, the session table
// and the applied index. It knows nothing about znodes; keys and values are
// opaque bytes. It is the only package that imports Pebble.
package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// Options tunes the store. The zero value is usable.
type Options struct {
	// CacheSize is the block cache size in bytes (default 32 MiB).
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes (default 4 MiB).
	MemTableSize int
	// Logger receives Pebble's messages at debug level; nil discards them.
	Logger *slog.Logger
	// FS is the file system the store writes through (tests inject disk
	// faults with it); nil is the operating system's.
	FS vfs.FS
}

// DB is an open store.
type DB struct {
	db *pebble.DB
}

// Open opens or creates the store in dir.
func Open(dir string, opts Options) (*DB, error) {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 32 << 20
	}
	if opts.MemTableSize <= 0 {
		opts.MemTableSize = 4 << 20
	}
	cache := pebble.NewCache(opts.CacheSize)
	po := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                opts.MemTableSize,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		MaxConcurrentCompactions:    func() int { return 1 },
		Logger:                      pebbleLogger{opts.Logger},
		FormatMajorVersion:          pebble.FormatNewest,
		FS:                          opts.FS,
	}
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		po.Levels[i].BlockSize = 16 << 10
		po.Levels[i].Compression = pebble.SnappyCompression
		po.Levels[i].TargetFileSize = 8 << 20
	}
	db, err := pebble.Open(dir, po)
	cache.Unref() // the DB holds its own reference
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return &DB{db: db}, nil
}

// Close closes the store.
func (s *DB) Close() error { return s.db.Close() }

// Get returns a copy of the value stored at key, or nil and false.
func (s *DB) Get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := make([]byte, len(v))
	copy(out, v)
	closer.Close()
	return out, true, nil
}

// Reader is a consistent view for reads: the live DB or a snapshot.
type Reader interface {
	Get(key []byte) ([]byte, bool, error)
	// Scan calls fn for each key with the prefix, in key order, until fn
	// returns false. Key and value are only valid during the call.
	Scan(prefix []byte, fn func(key, value []byte) bool) error
}

// Scan calls fn for each key that starts with prefix, in key order, until fn
// returns false. key and value are valid only during the call.
func (s *DB) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	return scan(s.db, prefix, fn)
}

type iterable interface {
	NewIter(*pebble.IterOptions) *pebble.Iterator
}

func scan(r iterable, prefix []byte, fn func(key, value []byte) bool) error {
	it := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	for ok := it.First(); ok; ok = it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Close()
}

// prefixEnd returns the smallest key greater than every key with the prefix,
// or nil when there is none.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// Batch collects writes that commit atomically.
type Batch struct{ b *pebble.Batch }

// NewBatch starts a write batch.
func (s *DB) NewBatch() *Batch { return &Batch{b: s.db.NewBatch()} }

// Set stores value at key. Both are copied.
func (b *Batch) Set(key, value []byte) { _ = b.b.Set(key, value, nil) }

// Delete removes key.
func (b *Batch) Delete(key []byte) { _ = b.b.Delete(key, nil) }

// replicatedStart and replicatedEnd bound the keys that are replicated
// state; keys from 0xff up belong to the member itself and are neither
// streamed in snapshots nor replaced by them.
var (
	replicatedStart = []byte{0x00}
	replicatedEnd   = []byte{0xff}
)

// DeleteAll removes every replicated key (all keys below 0xff).
func (b *Batch) DeleteAll() { _ = b.b.DeleteRange(replicatedStart, replicatedEnd, nil) }

// Len is the batch's encoded size in bytes.
func (b *Batch) Len() int { return b.b.Len() }

// Commit applies the batch. With sync the write is on stable storage before
// Commit returns; without it the write survives a process crash but a
// machine crash may lose a suffix of recent batches (never a middle one).
//
// Pebble panics when it cannot write its log (a write error leaves it in a
// state it cannot go on from); Commit returns that as an error, so that
// the caller can stop with an explanation. The store must not be used
// after it.
func (b *Batch) Commit(sync bool) (err error) {
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("store: %w", e)
			} else {
				err = fmt.Errorf("store: %v", r)
			}
		}
	}()
	defer b.b.Close()
	return b.b.Commit(opt)
}

// Abort discards the batch.
func (b *Batch) Abort() { b.b.Close() }

// Sync makes every committed batch durable.
func (s *DB) Sync() error {
	return s.db.LogData(nil, pebble.Sync)
}

// Snapshot is a frozen, consistent view of the store.
type Snapshot struct{ s *pebble.Snapshot }

// Snapshot captures the current state; Close it when done.
func (s *DB) Snapshot() *Snapshot { return &Snapshot{s: s.db.NewSnapshot()} }

// Close releases the snapshot.
func (s *Snapshot) Close() error { return s.s.Close() }

// Get reads key from the snapshot.
func (s *Snapshot) Get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.s.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, true, nil
}

// Scan is DB.Scan on the snapshot.
func (s *Snapshot) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	return scan(s.s, prefix, fn)
}

// snapshotMagic starts every streamed snapshot, followed by a format version.
var snapshotMagic = []byte("coordsnap")

const snapshotVersion = 1

// ErrStopped is returned when a snapshot transfer is abandoned because its
// stop channel closed.
var ErrStopped = errors.New("store: snapshot transfer stopped")

// WriteTo streams every replicated key and value of the snapshot to w: the magic and
// version, then (uvarint key length, key, uvarint value length, value)
// records, then a zero key length and the record count as a trailer.
func (s *Snapshot) WriteTo(w io.Writer, stop <-chan struct{}) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.Write(snapshotMagic)
	bw.WriteByte(snapshotVersion)
	var hdr [binary.MaxVarintLen64]byte
	it := s.s.NewIter(&pebble.IterOptions{LowerBound: replicatedStart, UpperBound: replicatedEnd})
	var count uint64
	for ok := it.First(); ok; ok = it.Next() {
		if count%1024 == 0 && stop != nil {
			select {
			case <-stop:
				it.Close()
				return ErrStopped
			default:
			}
		}
		k, v := it.Key(), it.Value()
		bw.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(k)))])
		bw.Write(k)
		bw.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(v)))])
		if _, err := bw.Write(v); err != nil {
			it.Close()
			return err
		}
		count++
	}
	if err := it.Close(); err != nil {
		return err
	}
	bw.WriteByte(0)
	bw.Write(hdr[:binary.PutUvarint(hdr[:], count)])
	return bw.Flush()
}

// maxRecordSize bounds a key or value read from a snapshot stream, so a
// corrupt stream cannot make us allocate without bound.
const maxRecordSize = 64 << 20

// ReplaceFrom discards every replicated key in the store and loads the stream written by
// Snapshot.WriteTo. The new contents are durable when it returns. On error
// the store may hold a partial load; the caller must not use it until a
// later ReplaceFrom succeeds.
func (s *DB) ReplaceFrom(r io.Reader, stop <-chan struct{}) error {
	br := bufio.NewReaderSize(r, 256<<10)
	head := make([]byte, len(snapshotMagic)+1)
	if _, err := io.ReadFull(br, head); err != nil {
		return fmt.Errorf("store: snapshot header: %w", err)
	}
	if !bytes.Equal(head[:len(snapshotMagic)], snapshotMagic) {
		return errors.New("store: not a coord snapshot")
	}
	if head[len(snapshotMagic)] != snapshotVersion {
		return fmt.Errorf("store: snapshot format version %d, this release reads %d", head[len(snapshotMagic)], snapshotVersion)
	}
	b := s.db.NewBatch()
	if err := b.DeleteRange(replicatedStart, replicatedEnd, nil); err != nil {
		b.Close()
		return err
	}
	var count uint64
	readBytes := func() ([]byte, error) {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, err
		}
		if n > maxRecordSize {
			return nil, fmt.Errorf("store: snapshot record of %d bytes exceeds the limit", n)
		}
		buf := make([]byte, n)
		_, err = io.ReadFull(br, buf)
		return buf, err
	}
	for {
		if count%1024 == 0 && stop != nil {
			select {
			case <-stop:
				b.Close()
				return ErrStopped
			default:
			}
		}
		k, err := readBytes()
		if err != nil {
			b.Close()
			return fmt.Errorf("store: snapshot record %d: %w", count, err)
		}
		if len(k) == 0 {
			break
		}
		if bytes.Compare(k, replicatedEnd) >= 0 {
			// WriteTo never streams these; loading one would overwrite
			// the member's own state.
			b.Close()
			return fmt.Errorf("store: snapshot record %d: key %x is outside the replicated range", count, k)
		}
		v, err := readBytes()
		if err != nil {
			b.Close()
			return fmt.Errorf("store: snapshot record %d: %w", count, err)
		}
		_ = b.Set(k, v, nil)
		count++
		if b.Len() > 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				b.Close()
				return err
			}
			b.Close()
			b = s.db.NewBatch()
		}
	}
	want, err := binary.ReadUvarint(br)
	if err != nil {
		b.Close()
		return fmt.Errorf("store: snapshot trailer: %w", err)
	}
	if want != count {
		b.Close()
		return fmt.Errorf("store: snapshot holds %d records, trailer says %d", count, want)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		b.Close()
		return err
	}
	return b.Close()
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...interface{}) {
	if p.l != nil {
		p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (p pebbleLogger) Fatalf(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	if p.l != nil {
		p.l.Error(msg, "component", "pebble")
	}
	// Pebble calls Fatalf only for unrecoverable corruption; it expects
	// not to continue.
	panic("pebble: " + msg)
}

// DiskUsage is the store's size on disk in bytes.
func (s *DB) DiskUsage() uint64 { return s.db.Metrics().DiskSpaceUsage() }
