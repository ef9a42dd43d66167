// Package jute implements the ZooKeeper client wire protocol as spoken by
// ZooKeeper 3.8 clients: jute's binary encoding, length-prefixed framing,
// the protocol constants, and every record a client sends or receives.
//
// It is written for the server side (zkserver): decode requests, encode
// replies and watch notifications. Every record also encodes and decodes in
// the other direction, so tests can act as a client.
//
// # Encoding
//
// Jute is big-endian and untagged. int is 4 bytes, long 8, boolean 1 (any
// non-zero byte reads as true). A buffer or ustring is a 4-byte length and
// the bytes, length -1 meaning null. A vector is a 4-byte count and the
// elements. Records are their fields in declaration order, with no framing
// of their own. Decoder and Encoder implement these primitives; every
// record type has Decode(*Decoder) error and Encode(*Encoder) methods and
// satisfies Record. A Decoder keeps the first error it meets and ignores
// the reads after it, so a record decodes as the list of its fields and
// one check at the end, in the order zookeeper.jute declares them.
//
// Decoders never panic and never trust a length: each one is checked
// against the bytes that remain, so no input can make them allocate more
// than a small multiple of its own size. Decoded byte slices are copies, so
// a frame buffer can be reused while the decoded request is still in use.
//
// # Connection lifecycle, server side
//
// Every packet in both directions is a frame: a 4-byte big-endian length
// and that many bytes (ReadFrame, Encoder.BeginFrame/EndFrame,
// AppendFrame). ZooKeeper closes the connection on a length below 0 or
// above jute.maxbuffer; see DefaultMaxFrame for the limit used here.
//
//  1. The first four bytes may instead spell a four-letter admin command
//     ("ruok", "srvr", "mntr", ...). ZooKeeper checks for that only before
//     the session is set up; FourLetterWord recognises them.
//  2. The first frame is a ConnectRequest with no RequestHeader. Clients
//     since 3.4 append a readOnly byte that is not in the jute record;
//     go-zookeeper and older clients omit it. ConnectRequest.OmitReadOnly
//     records which, and the ConnectResponse must mirror it (ZooKeeper
//     appends readOnly only for clients that sent it).
//  3. The reply is a ConnectResponse frame, again without header. To refuse
//     a session (unknown or expired id, bad password) send TimeOut 0,
//     SessionID 0 and a zeroed 16-byte Passwd, then close. ZooKeeper also
//     refuses a client whose LastZxidSeen is ahead of the server's own last
//     zxid (the client has seen a newer state; it will try another server).
//  4. Every later frame from the client is a RequestHeader{Xid, Type}
//     followed by the body for Type (ParseRequest, DecodeRequest,
//     NewRequest). Every frame to the client is a ReplyHeader{Xid, Zxid,
//     Err} followed by the reply body (WriteReplyFrame, NewResponse).
//
// # Replies
//
//   - Xid echoes the request's xid, whatever it is. Replies must leave in
//     request order: the Java client matches each reply against the oldest
//     outstanding request and drops the connection on "Xid out of order".
//     Watch notifications may be interleaved anywhere, but ZooKeeper sends
//     a notification before the reply to any later request (and before the
//     reply to the write that caused it), so that a client sees the event
//     before it can read the new state.
//   - Zxid is the server's last processed zxid (for every reply, reads
//     included); clients track it and send it as LastZxidSeen and as the
//     RelativeZxid of setWatches after reconnecting.
//   - A reply with Err != CodeOK carries no body. Bodies of successful
//     replies are listed at NewResponse; several are header-only (delete,
//     setWatches, setWatches2, auth, checkWatches, removeWatches, ping,
//     closeSession). addWatch is the odd one: ZooKeeper replies with an
//     ErrorResponse{CodeOK} body, four zero bytes.
//   - exists on a missing node is answered CodeNoNode, yet a requested
//     watch is still registered (it fires on creation).
//   - create replies CreateResponse (path only); create2, createContainer
//     and createTTL reply Create2Response (path and Stat).
//   - A body that does not decode is answered CodeMarshallingError; an
//     unknown opcode (ErrUnsupportedOp) CodeUnimplemented.
//   - auth: on failure reply CodeAuthFailed and close the connection.
//     closeSession: reply with a bare header, then close.
//
// # Special xids
//
// Clients pick xids. The Java client reserves XidPing (-2) for pings and
// XidAuth (-4) for auth packets (also when it replays them after a
// reconnect); the C client (and older Java clients) send their reconnect
// setWatches with XidSetWatches (-8), while 3.8's Java client and
// go-zookeeper use ordinary xids for it, and go-zookeeper for auth too. A
// server echoes what it got and needs no special cases, except that pings
// are answered at once with ReplyHeader{-2, lastZxid, 0}. ZooKeeper answers auth with Zxid 0. The
// server itself originates only XidNotification (-1): a notification is
// ReplyHeader{-1, -1, 0} followed by a WatcherEvent (WriteNotificationFrame).
//
// Ordering as observed with ZooKeeper 3.8: the notifications a write
// triggers on the writer's own connection are sent before that write's
// reply, and on closeSession the events caused by deleting the session's
// ephemerals precede the closeSession reply.
//
// # Multi
//
// A multi (OpMulti, a transaction of create/create2/createContainer/
// createTTL/delete/setData/check) or multiRead (OpMultiRead, independent
// getChildren/getData) request is a list of {MultiHeader{Type, false, -1},
// body} closed by MultiHeader{-1, true, -1}; MultiRequest decodes it into
// typed MultiOps. The two kinds cannot be mixed.
//
// The response (MultiResponse) is one result per op in order, each a
// MultiHeader{Type, false, Err} and a body, closed by MultiHeader{-1, true,
// -1}. A successful create reports OpCreate and its path; container and TTL
// creates report OpCreate2 with path and Stat; delete and check have no
// body; setData has a Stat; getChildren a child list; getData data and
// Stat. A failed op is {OpError, false, code} followed by ErrorResponse
// {code} (the code appears twice). When a multi transaction fails,
// ZooKeeper still replies with ReplyHeader.Err = CodeOK, and every op
// gets an error result: CodeOK for ops before the failing one, its code for
// the failing op, CodeRuntimeInconsistency after it (FailedMultiResults).
// In multiRead each op succeeds or fails on its own.
package jute
