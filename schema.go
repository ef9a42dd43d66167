package coord

import "encoding/binary"

// The tree store's key schema: every key the state machine keeps in Pebble
// is built and parsed here and nowhere else. Keys below prefixLocal are
// replicated state, identical on every member at one applied index, and
// travel in snapshots; keys from prefixLocal up are this member's own.
//
// The byte values are part of the on-disk and snapshot format: never
// change one, only add.
const (
	prefixMeta      byte = 'm'  // m<name>: the scalars below
	prefixNode      byte = 'n'  // n<parent>\x00<name> -> wire.Node
	prefixSession   byte = 's'  // s<session id BE> -> wire.Session
	prefixEphemeral byte = 'e'  // e<session id BE><path> -> empty: a session's ephemeral nodes
	prefixReap      byte = 'x'  // x<path> -> empty: containers and TTL nodes, which the leader reaps
	prefixHeartbeat byte = 'h'  // h<incarnation BE> -> uint64 BE: index of its last heartbeat
	prefixRequests  byte = 'q'  // q<incarnation BE> -> wire.Requests: a proposer's idempotent results
	prefixLocal     byte = 0xff // \xff<name>: this member's own markers
)

// Scalars of the replicated state, and local markers.
var (
	keyApplied    = []byte{prefixMeta, 'i'}            // uint64 BE: last applied log index
	keyTime       = []byte{prefixMeta, 't'}            // int64 BE: the tree's clock, ms
	keyCount      = []byte{prefixMeta, 'c'}            // uint64 BE: number of znodes
	keyDigest     = []byte{prefixMeta, 'd'}            // uint64 BE: the tree digest (digest.go)
	keyRecovering = []byte{prefixLocal, 'r', 'e', 'c'} // set while a snapshot is being loaded
)

// idLen is the length of the big-endian id after a one-byte prefix.
const idLen = 8

func withID(prefix byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, id)
}

// parseID returns the id of a key built by withID.
func parseID(prefix byte, key []byte) (uint64, bool) {
	if len(key) != 1+idLen || key[0] != prefix {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[1:]), true
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// ---- znodes ----

// nodeKey is the key of the node at path: its parent, a NUL, its name, so
// that a node's children are one contiguous key range (childrenPrefix) in
// name order.
func nodeKey(path string) []byte {
	if path == "/" {
		return []byte{prefixNode, 0}
	}
	parent, name := parentOf(path), nameOf(path)
	k := make([]byte, 0, len(path)+2)
	k = append(k, prefixNode)
	k = append(k, parent...)
	k = append(k, 0)
	return append(k, name...)
}

// childrenPrefix is the key prefix of path's children.
func childrenPrefix(path string) []byte {
	k := make([]byte, 0, len(path)+2)
	k = append(k, prefixNode)
	k = append(k, path...)
	return append(k, 0)
}

// childName returns the name in a key that starts with prefix, a
// childrenPrefix.
func childName(prefix, key []byte) string { return string(key[len(prefix):]) }

// deepPrefix is the key prefix of the nodes two or more levels below path:
// those whose parent lies under path. With childrenPrefix it covers every
// descendant.
func deepPrefix(path string) []byte {
	k := make([]byte, 0, len(path)+2)
	k = append(k, prefixNode)
	if path != "/" {
		k = append(k, path...)
	}
	return append(k, '/')
}

// ---- sessions ----

func sessionKey(id int64) []byte { return withID(prefixSession, uint64(id)) }

// sessionsPrefix is the key prefix of the session table.
func sessionsPrefix() []byte { return []byte{prefixSession} }

// ephemeralKey is the index entry of an ephemeral node of a session.
func ephemeralKey(session int64, path string) []byte {
	return append(withID(prefixEphemeral, uint64(session)), path...)
}

// ephemeralsPrefix is the key prefix of a session's ephemeral nodes whose
// paths start with pathPrefix ("" for all).
func ephemeralsPrefix(session int64, pathPrefix string) []byte {
	return ephemeralKey(session, pathPrefix)
}

// allEphemeralsPrefix is the key prefix of the whole ephemeral index.
func allEphemeralsPrefix() []byte { return []byte{prefixEphemeral} }

// ephemeralPath returns the path in an ephemeral index key.
func ephemeralPath(key []byte) string { return string(key[1+idLen:]) }

// ---- upkeep ----

func reapKey(path string) []byte { return append([]byte{prefixReap}, path...) }

func reapPrefix() []byte { return []byte{prefixReap} }

// reapPath returns the path in a reap key.
func reapPath(key []byte) string { return string(key[1:]) }

func heartbeatKey(incarnation uint64) []byte { return withID(prefixHeartbeat, incarnation) }

func heartbeatsPrefix() []byte { return []byte{prefixHeartbeat} }

func parseHeartbeatKey(key []byte) (uint64, bool) { return parseID(prefixHeartbeat, key) }

func requestsKey(incarnation uint64) []byte { return withID(prefixRequests, incarnation) }

func requestsPrefix() []byte { return []byte{prefixRequests} }

func parseRequestsKey(key []byte) (uint64, bool) { return parseID(prefixRequests, key) }

// parseNodeKey returns the path of a node key.
func parseNodeKey(key []byte) (string, bool) {
	if len(key) < 2 || key[0] != prefixNode {
		return "", false
	}
	rest := key[1:]
	for i, b := range rest {
		if b == 0 {
			parent, name := string(rest[:i]), string(rest[i+1:])
			if parent == "" {
				return "/", name == ""
			}
			return joinPath(parent, name), true
		}
	}
	return "", false
}

// nodesPrefix is the key prefix of every znode.
func nodesPrefix() []byte { return []byte{prefixNode} }
