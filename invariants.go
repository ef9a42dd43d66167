package coord

import "github.com/coordkit/coord/internal/wire"

// verifyLocked checks the invariants that tie the stored tree, its indexes
// and the in-memory tables together: every node but the root has a parent,
// each node's NumChildren is its number of children, the node count and
// the ephemeral count are right, the ephemeral index lists exactly the
// ephemeral nodes under their owners, every owner is a live session, and
// the reap index lists exactly the containers and TTL nodes. It reads the
// whole store; the caller holds mu. Builds with the invariants tag run it
// after every applied batch.
func (f *fsm) verifyLocked() error {
	children := make(map[string]int32)
	nodes := make(map[string]*wire.Node)
	var digest uint64
	var ferr error
	err := f.db.Scan(nodesPrefix(), func(k, v []byte) bool {
		path, ok := parseNodeKey(k)
		if !ok {
			ferr = corruptf("node key %q is malformed", k)
			return false
		}
		n, err := wire.DecodeNode(v)
		if err != nil {
			ferr = corruptf("node %s: %v", path, err)
			return false
		}
		nodes[path] = n
		digest += nodeDigest(path, n)
		if path != "/" {
			children[parentOf(path)]++
		}
		return true
	})
	if err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	if int64(len(nodes)) != f.count {
		return corruptf("%d nodes stored, the count says %d", len(nodes), f.count)
	}
	if digest != f.digest {
		return corruptf("the nodes hash to %016x, the digest kept is %016x", digest, f.digest)
	}
	wantEphemerals := make(map[string]bool)
	wantReap := make(map[string]bool)
	for path, n := range nodes {
		if path != "/" && nodes[parentOf(path)] == nil {
			return corruptf("%s has no parent", path)
		}
		if n.NumChildren != children[path] {
			return corruptf("%s has %d children, NumChildren says %d", path, children[path], n.NumChildren)
		}
		switch n.Mode {
		case wire.ModeEphemeral:
			if f.sessions[n.Owner] == nil {
				return corruptf("ephemeral %s belongs to session 0x%x, which does not exist", path, n.Owner)
			}
			wantEphemerals[string(ephemeralKey(n.Owner, path))] = true
		case wire.ModeContainer, wire.ModeTTL:
			wantReap[path] = true
		}
	}
	if int64(len(wantEphemerals)) != f.ephemerals {
		return corruptf("%d ephemeral nodes, the count says %d", len(wantEphemerals), f.ephemerals)
	}
	if err := f.verifyIndex(allEphemeralsPrefix(), func(k []byte) string { return string(k) }, wantEphemerals, "ephemeral index"); err != nil {
		return err
	}
	return f.verifyIndex(reapPrefix(), reapPath, wantReap, "reap index")
}

// verifyIndex checks that the keys under prefix name exactly want.
func (f *fsm) verifyIndex(prefix []byte, name func([]byte) string, want map[string]bool, what string) error {
	seen := 0
	var bad string
	err := f.db.Scan(prefix, func(k, _ []byte) bool {
		if !want[name(k)] {
			bad = name(k)
			return false
		}
		seen++
		return true
	})
	switch {
	case err != nil:
		return err
	case bad != "":
		return corruptf("the %s lists %q, which it should not", what, bad)
	case seen != len(want):
		return corruptf("the %s has %d entries, the tree needs %d", what, seen, len(want))
	}
	return nil
}
