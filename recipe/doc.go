// Package recipe builds the coordination patterns services import a
// coordination library for on coord's native znode API: locks, leader
// election, barriers, queues, counters, caches and group membership.
//
// # How the pieces fit
//
// Most recipes are values bound to a *coord.Session and a directory (a
// znode path). The session is the identity that holds things: lock and
// leadership nodes are ephemeral, so they go when the session ends, and the
// session's state (coord.Session.StateContext) tells a holder when what it
// holds may be lost. Cache, Group and Registration open sessions of their
// own, so they take the member (*coord.Coord, a SessionSource) instead.
//
//   - Mutex, RWMutex, Semaphore and Election queue contenders as
//     ephemeral-sequential children of their directory and grant in
//     sequence order. Each waiter watches only the node that blocks it (its
//     predecessor, or for a reader the nearest writer before it), so a
//     release wakes one waiter, not all of them. Semaphore waiters watch the
//     directory instead, since any of N holders can free a lease.
//   - An acquisition or a leadership term is a Lease: a fencing token (the
//     Czxid of the node that won, a Raft log index, so strictly increasing
//     in acquisition order), and Done/Err, which report that the hold ended
//     or may have ended (released, session Suspended, Expired or Closed, or
//     the node deleted). Pass the token to the resource you guard and let it
//     refuse tokens older than the newest it has seen. For state kept in the
//     tree itself, Lease.Check makes a Multi apply only while the hold
//     stands, and Mutex.UnlockWith publishes a critical section's writes and
//     releases the lock in one atomic write.
//   - MultiLock combines Lockers (Mutex, RWMutex.RLocker) all or none.
//   - Barrier blocks until a node is removed; DoubleBarrier makes N
//     participants enter and leave together.
//   - Queue stores items as persistent-sequential nodes; a consumer claims
//     one with an ephemeral claim node and removes item and claim in one
//     Multi when it acknowledges it, so each item is consumed once even when
//     consumers die mid-item (the claim goes with the session).
//   - Value is a watched shared byte value with compare-and-set; Counter is
//     an int64 Value with atomic Add (versioned Set, retried on conflict).
//   - Cache mirrors a subtree with a persistent recursive watch and serves
//     immutable, consistent snapshots of it.
//   - Group lists and watches the members of a directory; Registration keeps
//     a member's ephemeral node present, re-creating it with a new session
//     after its session is lost.
//
// # Failure behaviour
//
// Every blocking call takes a context and returns promptly when it ends,
// deleting the nodes it created on the way (with a short, separate deadline
// for the cleanup writes).
//
// A coord write whose context ends before its reply arrives has an unknown
// outcome: it may still apply, once. Recipes name the nodes they create
// "_c_<guid>-<name>" (Curator's protected mode). On an unknown outcome they
// first propose a fence (a delete of a path that never exists) through the
// same session. A member forwards its proposals to the leader in the order
// they were made, a proposal Raft dropped does not come back, and coord
// refuses a stale retry once a later request of the member was
// acknowledged; so once the fence has applied, the lost create has either
// applied before it or never will. The recipe then lists the
// directory and adopts the node carrying its guid (the call still runs) or
// deletes it (the call was cancelled). A lost reply therefore never leaves a
// sequential node that would block a lock forever. If even the fence cannot
// commit, the guid is remembered and its node removed at the start of the
// next call on the same value.
//
// Directories are created on demand as container nodes, which the ensemble
// removes once their last child is gone.
//
// Every recipe value is safe for concurrent use. A lock value (Mutex,
// RWMutex) or an Election is one holder: Lock on a held Mutex is reentrant,
// so goroutines that must exclude each other use one value each (they may
// share a session). Values hold no goroutine of their own except where
// documented (a held Lease watches its node and session until it ends;
// Cache, Registration and the Watch/Observe channels have one each, stopped
// by Close or by their context).
package recipe
