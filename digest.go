package coord

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/coordkit/coord/internal/store"
	"github.com/coordkit/coord/internal/wire"
)

// The tree digest lets members find out that their replicas diverged, as
// ZooKeeper 3.6+ does with its digest. It is the sum (mod 2^64) of a hash of
// every znode, so each applied change updates it in constant time: minus the
// old node's hash, plus the new one's. It is replicated state (keyDigest), so
// it travels in snapshots. The leader proposes its digest at an index every
// DigestInterval; each member compares it with its own at that index, and a
// member that differs stops serving. A background scan also recomputes the
// digest from the store, which finds a store damaged under the state
// machine.

// nodeDigest hashes a node's logical fields, not its encoding, so that a
// new storage format does not change digests between members of different
// versions.
func nodeDigest(path string, n *wire.Node) uint64 {
	h := fnv.New64a()
	var b [8]byte
	u := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	str := func(s string) {
		u(uint64(len(s)))
		h.Write([]byte(s))
	}
	str(path)
	u(uint64(len(n.Data)))
	h.Write(n.Data)
	u(uint64(len(n.ACL)))
	for _, a := range n.ACL {
		u(uint64(uint32(a.Perms)))
		str(a.Scheme)
		str(a.ID)
	}
	for _, v := range []int64{n.Czxid, n.Mzxid, n.Pzxid, n.Ctime, n.Mtime, int64(n.Version), int64(n.Cversion),
		int64(n.Aversion), int64(n.NumChildren), int64(n.Mode), n.Owner, n.TTL} {
		u(uint64(v))
	}
	return mix64(h.Sum64())
}

// mix64 scrambles a hash (splitmix64's finalizer) so that sums of node
// hashes do not cancel the way sums of related FNV values can.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// digestAdd folds a node change into a digest: old and n may be nil.
func digestAdd(d uint64, path string, old, n *wire.Node) uint64 {
	if old != nil {
		d -= nodeDigest(path, old)
	}
	if n != nil {
		d += nodeDigest(path, n)
	}
	return d
}

// scanDigest computes the digest of the tree in r from scratch. stop, when
// it closes, abandons the scan.
func scanDigest(r store.Reader, stop <-chan struct{}) (uint64, error) {
	var d uint64
	var ferr error
	n := 0
	err := r.Scan(nodesPrefix(), func(k, v []byte) bool {
		n++
		if n%4096 == 0 && stop != nil {
			select {
			case <-stop:
				ferr = ErrClosed
				return false
			default:
			}
		}
		path, ok := parseNodeKey(k)
		node, err := wire.DecodeNode(v)
		if !ok || err != nil {
			ferr = corruptf("node key %q: %v", k, err)
			return false
		}
		d += nodeDigest(path, node)
		return true
	})
	if err != nil {
		return 0, err
	}
	return d, ferr
}

// digestRing remembers the digest after each of the last applied entries,
// so that a digest proposed at an index can be checked when it applies a
// little later.
type digestRing struct {
	index, digest [digestRingSize]uint64
	next          int
}

const digestRingSize = 8192

func (r *digestRing) record(index, digest uint64) {
	r.index[r.next], r.digest[r.next] = index, digest
	r.next = (r.next + 1) % digestRingSize
}

// at returns the digest after index, if it is remembered.
func (r *digestRing) at(index uint64) (uint64, bool) {
	for i := range r.index {
		if r.index[i] == index && index != 0 {
			return r.digest[i], true
		}
	}
	return 0, false
}

// reset forgets everything: the state was replaced.
func (r *digestRing) reset() { *r = digestRing{} }

// judgeDigestsLocked decides from the other replicas' latest digest claims
// whether this replica is the one that differs: it is if a majority of the
// other members disagree with it. In an ensemble of three a replica that
// diverged sees both others disagree, while each of them sees only one, so
// only the odd one stops; with two members both would, since neither can
// tell which is right.
func (f *fsm) judgeDigestsLocked() {
	agree, disagree := 0, 0
	for _, ok := range f.verdicts {
		if ok {
			agree++
		} else {
			disagree++
		}
	}
	others := max(int(f.others.Load()), agree+disagree)
	if 2*disagree > others {
		f.diverge(fmt.Errorf("%w: %d of %d other members' digests differ from this member's (%s)",
			ErrDiverged, disagree, agree+disagree, f.lastMismatch))
	}
}

// divergence says whether, and why, this member stopped serving.
func (f *fsm) divergence() error {
	if p := f.diverged.Load(); p != nil {
		return *p
	}
	return nil
}

// diverge stops the member from serving with err, once.
func (f *fsm) diverge(err error) {
	if f.diverged.CompareAndSwap(nil, &err) && f.onDiverged != nil {
		f.onDiverged(err)
	}
}

// verifyStoredDigest recomputes the digest of a snapshot of the store and
// compares it with the digest the state machine kept; a difference means
// the store was changed under the state machine, and the member diverges.
func (f *fsm) verifyStoredDigest(stop <-chan struct{}) error {
	f.mu.RLock()
	if f.db == nil {
		f.mu.RUnlock()
		return ErrClosed
	}
	snap := f.db.Snapshot()
	f.mu.RUnlock()
	defer snap.Close()
	kept, err := snapshotUint(snap, keyDigest)
	if err != nil {
		return err
	}
	applied, err := snapshotUint(snap, keyApplied)
	if err != nil {
		return err
	}
	got, err := scanDigest(snap, stop)
	if errors.Is(err, errCorrupt) {
		f.diverge(fmt.Errorf("%w: %w", ErrDiverged, err))
		return err
	}
	if err != nil {
		return err
	}
	if got != kept {
		err := fmt.Errorf("%w: the store's nodes hash to %016x at index %d, the state machine kept %016x (the store was changed or damaged)",
			ErrDiverged, got, applied, kept)
		f.diverge(err)
		return err
	}
	return nil
}

func snapshotUint(r store.Reader, key []byte) (uint64, error) {
	v, ok, err := r.Get(key)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, nil
	case len(v) != 8:
		return 0, corruptf("stored %q is %d bytes, not 8", key, len(v))
	}
	return be64(v), nil
}
