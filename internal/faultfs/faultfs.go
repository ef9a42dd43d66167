// Package faultfs injects disk errors into the two file systems a member
// writes through: Dragonboat's (the Raft log and snapshots, github.com/lni/vfs)
// and Pebble's (the tree store). Tests arm an Injector to make writes or
// fsyncs fail, with any error (ENOSPC for a full disk), and check that the
// member never acknowledges what did not reach its disk.
package faultfs

import (
	"io"
	"os"
	"sync/atomic"

	pvfs "github.com/cockroachdb/pebble/vfs"
	lvfs "github.com/lni/vfs"
)

// Op is a kind of file operation an Injector can fail.
type Op uint8

// Operations. Write covers creating, writing, renaming and removing files.
const (
	Read Op = 1 << iota
	Write
	Sync
)

// Injector decides which operations fail. The zero value fails nothing;
// it is safe for concurrent use.
type Injector struct {
	ops   atomic.Uint32
	err   atomic.Pointer[error]
	after atomic.Int64 // operations of the armed kinds that still succeed
	hits  atomic.Int64
}

// Arm makes the armed kinds of operation fail with err once after more of
// them have succeeded, and every time after that.
func (i *Injector) Arm(ops Op, err error, after int64) {
	i.err.Store(&err)
	i.after.Store(after)
	i.ops.Store(uint32(ops))
}

// Disarm makes every operation succeed again.
func (i *Injector) Disarm() { i.ops.Store(0) }

// Hits reports how many operations failed.
func (i *Injector) Hits() int64 { return i.hits.Load() }

func (i *Injector) check(op Op) error {
	if i == nil || Op(i.ops.Load())&op == 0 {
		return nil
	}
	if i.after.Add(-1) >= 0 {
		return nil
	}
	i.hits.Add(1)
	return *i.err.Load()
}

// MaybeError implements lni/vfs's Injector.
func (i *Injector) MaybeError(op lvfs.Op) error {
	switch op {
	case lvfs.OpRead:
		return i.check(Read)
	case lvfs.OpWrite:
		return i.check(Write)
	case lvfs.OpSync:
		return i.check(Sync)
	}
	return nil
}

// Raft wraps Dragonboat's file system: the Raft log and snapshots. The
// result is not an *lni/vfs.ErrorFS, whose type Dragonboat recognizes to
// switch to a test mode that catches a failing worker's panic and leaves
// the member wedged; a member under test must fail as it would in
// production.
func Raft(fs lvfs.FS, i *Injector) lvfs.FS { return raftFS{lvfs.Wrap(fs, i)} }

type raftFS struct{ lvfs.FS }

// Pebble wraps Pebble's file system: the tree store.
func Pebble(fs pvfs.FS, i *Injector) pvfs.FS { return &pebbleFS{FS: fs, inj: i} }

type pebbleFS struct {
	pvfs.FS
	inj *Injector
}

func (fs *pebbleFS) wrap(f pvfs.File, err error) (pvfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &pebbleFile{File: f, inj: fs.inj}, nil
}

func (fs *pebbleFS) Create(name string) (pvfs.File, error) {
	if err := fs.inj.check(Write); err != nil {
		return nil, err
	}
	return fs.wrap(fs.FS.Create(name))
}

func (fs *pebbleFS) Open(name string, opts ...pvfs.OpenOption) (pvfs.File, error) {
	if err := fs.inj.check(Read); err != nil {
		return nil, err
	}
	return fs.wrap(fs.FS.Open(name, opts...))
}

func (fs *pebbleFS) ReuseForWrite(oldname, newname string) (pvfs.File, error) {
	if err := fs.inj.check(Write); err != nil {
		return nil, err
	}
	return fs.wrap(fs.FS.ReuseForWrite(oldname, newname))
}

func (fs *pebbleFS) Rename(oldname, newname string) error {
	if err := fs.inj.check(Write); err != nil {
		return err
	}
	return fs.FS.Rename(oldname, newname)
}

func (fs *pebbleFS) Link(oldname, newname string) error {
	if err := fs.inj.check(Write); err != nil {
		return err
	}
	return fs.FS.Link(oldname, newname)
}

func (fs *pebbleFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := fs.inj.check(Write); err != nil {
		return err
	}
	return fs.FS.MkdirAll(dir, perm)
}

func (fs *pebbleFS) Lock(name string) (io.Closer, error) { return fs.FS.Lock(name) }

type pebbleFile struct {
	pvfs.File
	inj *Injector
}

func (f *pebbleFile) Write(p []byte) (int, error) {
	if err := f.inj.check(Write); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *pebbleFile) Read(p []byte) (int, error) {
	if err := f.inj.check(Read); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *pebbleFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.inj.check(Read); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *pebbleFile) Sync() error {
	if err := f.inj.check(Sync); err != nil {
		return err
	}
	return f.File.Sync()
}
