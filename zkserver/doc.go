// Package zkserver serves ZooKeeper's client protocol for a coord member,
// so that programs and tools written for ZooKeeper (the Java client and
// zkCli.sh, Curator, kazoo, go-zookeeper/zk, the C client) work against an
// application that embeds coord.
//
//	go zkserver.ListenAndServe(ctx, c, "127.0.0.1:2181")
//
// Every member can serve; a client may list several members in its
// connection string and move between them with its session.
//
// # What is served
//
// Every request a ZooKeeper 3.8 client sends: connect (new sessions, and
// reconnects with session id and password, to this member or another),
// ping, closeSession, create, create2, createContainer, createTTL, delete,
// exists, getData, setData, getChildren, getChildren2, getACL, setACL,
// multi, multiRead, check, sync, setWatches, setWatches2, addWatch,
// removeWatches, checkWatches, getAllChildrenNumber, getEphemerals, auth
// (digest; ip is accepted and ignored, as ZooKeeper does) and whoAmI.
// reconfig is answered ReconfigDisabled and SASL AuthFailed. Error codes,
// Stat fields, reply layouts and zxids in reply headers follow ZooKeeper
// 3.8, including its per-operation codes for invalid paths. The four-letter
// words ruok, isro, srvr, stat, mntr, conf, cons, wchs, envi, srst and crst
// are answered on the same port; others get ZooKeeper's "not in the
// whitelist" answer.
//
// # Sessions
//
// A connect without a session id opens a coord session with the negotiated
// timeout (clamped to [2, 20] ticks of WithTickTime, 4 s to 40 s by default,
// or WithSessionTimeouts; the member's own bounds clamp too) and the
// client's address as its ip identity. A reconnect resumes the session with
// AttachSession, on this member or after moving from another; a wrong
// password or an expired session gets ZooKeeper's refusal (timeout 0,
// session 0) and the connection closes. A connection that drops without
// closeSession detaches its session, which then expires after its timeout
// unless the client comes back. A client that sends nothing (not even a
// ping) for its session timeout is disconnected the same way. closeSession
// closes the session: its ephemeral nodes go at once.
//
// # Ordering
//
// Requests of a connection are answered in the order they arrive, and each
// sees the effects of the requests before it (ZooKeeper's FIFO client
// order). Local reads run as soon as they arrive when no earlier request is
// pending; a request that needs Raft (a write, sync, auth, closeSession)
// runs on a worker while the connection keeps reading, and everything that
// arrives meanwhile waits for it. A connection has one Raft proposal in
// flight at a time: coord does not promise that two proposals of one member
// apply in the order they were made once an attempt is lost and retried, so
// issuing them concurrently could break ZooKeeper's per-session order.
// Instead, the writes a client pipelines (creates, deletes and setData that
// queued up behind the write in flight, with no other request between them)
// go to Raft together as one coord Multi: they apply in request order, each
// gets the reply sequential execution gives it, and a failing one is split
// out so it fails alone. What a client can tell is that such writes share
// one zxid, as the ops of a ZooKeeper multi do. Clients that keep one
// request outstanding see no difference.
//
// Watch notifications are queued by the member's apply path, before the
// change is readable and before the write's proposer gets its result, so a
// client receives a notification before the reply of any request that could
// observe the change, its own write included, as ZooKeeper sends them. A
// connection's session holds one watch of each kind per path and gets one
// event per change, as ZooKeeper's watch tables give; a watch set again is
// not set twice. (ZooKeeper 3.8 lets a later registration change the mode of
// an earlier one on the same path, ZOOKEEPER-4466; here each kind keeps its
// own semantics.)
//
// A write whose outcome is unknown (no quorum before its deadline, the
// member closing) is not answered: the connection closes and the client sees
// a lost connection, which ZooKeeper clients treat as "outcome unknown".
//
// # Limits
//
// Requests are limited to ZooKeeper's jute.maxbuffer (1 MiB - 1 bytes,
// WithMaxFrame); a larger frame, a negative length or an undecodable header
// closes the connection, an undecodable body is answered MarshallingError
// and an unknown opcode Unimplemented before closing, all as ZooKeeper does.
// A client address may hold 60 connections (WithMaxConnsPerIP); a new
// connection must send its ConnectRequest within 10 s. A client that does
// not read its replies stops being read from once 1 MiB is unsent, and is
// disconnected if 64 MiB pile up.
package zkserver
