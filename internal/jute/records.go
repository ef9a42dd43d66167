package jute

// This file holds the records of zookeeper.jute (ZooKeeper 3.8) that the
// client protocol uses, field for field in jute order. Each record decodes
// with Decode(*Decoder) error and encodes with Encode(*Encoder). Typed
// int fields (opcodes, error codes, modes) are read through a pointer
// conversion to *int32, which their underlying type allows.

// Stat is the znode metadata returned by most read and write replies
// (org.apache.zookeeper.data.Stat), 68 bytes on the wire.
type Stat struct {
	Czxid          int64 // zxid of the change that created the node
	Mzxid          int64 // zxid of the last data change
	Ctime          int64 // creation time, ms since the epoch
	Mtime          int64 // last modification time, ms since the epoch
	Version        int32 // number of data changes
	Cversion       int32 // number of child list changes
	Aversion       int32 // number of ACL changes
	EphemeralOwner int64 // owning session id for ephemeral nodes, else 0
	DataLength     int32 // length of the data
	NumChildren    int32 // number of children
	Pzxid          int64 // zxid of the last child list change
}

// StatSize is the encoded size of a Stat.
const StatSize = 8*4 + 4*3 + 8 + 4*2 + 8

// Decode implements Record.
func (s *Stat) Decode(d *Decoder) error {
	d.need("Stat", StatSize)
	d.Int64(&s.Czxid)
	d.Int64(&s.Mzxid)
	d.Int64(&s.Ctime)
	d.Int64(&s.Mtime)
	d.Int32(&s.Version)
	d.Int32(&s.Cversion)
	d.Int32(&s.Aversion)
	d.Int64(&s.EphemeralOwner)
	d.Int32(&s.DataLength)
	d.Int32(&s.NumChildren)
	d.Int64(&s.Pzxid)
	return d.Err()
}

// Encode implements Record.
func (s *Stat) Encode(e *Encoder) {
	e.WriteInt64(s.Czxid)
	e.WriteInt64(s.Mzxid)
	e.WriteInt64(s.Ctime)
	e.WriteInt64(s.Mtime)
	e.WriteInt32(s.Version)
	e.WriteInt32(s.Cversion)
	e.WriteInt32(s.Aversion)
	e.WriteInt64(s.EphemeralOwner)
	e.WriteInt32(s.DataLength)
	e.WriteInt32(s.NumChildren)
	e.WriteInt64(s.Pzxid)
}

// ID is an authentication identity (org.apache.zookeeper.data.Id), e.g.
// {"world", "anyone"} or {"digest", "user:base64(sha1)"}.
type ID struct {
	Scheme string
	ID     string
}

// Decode implements Record.
func (r *ID) Decode(d *Decoder) error {
	d.String(&r.Scheme)
	d.String(&r.ID)
	return d.Err()
}

// Encode implements Record.
func (r *ID) Encode(e *Encoder) {
	e.WriteString(r.Scheme)
	e.WriteString(r.ID)
}

// ACL is one access control entry (org.apache.zookeeper.data.ACL). The jute
// record nests an Id; it is flattened here, which does not change the bytes:
// perms, scheme, id.
type ACL struct {
	Perms  int32 // PermRead | PermWrite | ...
	Scheme string
	ID     string
}

// aclMinSize is the smallest encoding of an ACL: perms and two empty strings.
const aclMinSize = 12

// Decode implements Record.
func (r *ACL) Decode(d *Decoder) error {
	d.Int32(&r.Perms)
	d.String(&r.Scheme)
	d.String(&r.ID)
	return d.Err()
}

// Encode implements Record.
func (r *ACL) Encode(e *Encoder) {
	e.WriteInt32(r.Perms)
	e.WriteString(r.Scheme)
	e.WriteString(r.ID)
}

// readACLs reads a vector<ACL> into *p; null and empty decode to nil.
func readACLs(d *Decoder, p *[]ACL) {
	n := d.VectorLen(aclMinSize)
	if d.err != nil {
		return
	}
	var v []ACL
	if n > 0 {
		v = make([]ACL, n)
		for i := range v {
			if v[i].Decode(d) != nil {
				break // d keeps the error
			}
		}
	}
	if d.err == nil {
		*p = v
	}
}

func writeACLs(e *Encoder, v []ACL) {
	e.WriteVectorLen(len(v))
	for i := range v {
		v[i].Encode(e)
	}
}

// ConnectRequest is the first packet a client sends on a connection, framed
// but without a RequestHeader.
//
// ZooKeeper clients since 3.4 append a readOnly boolean that is not part of
// the jute record; older clients, and go-zookeeper, omit it. Decode accepts
// both and records which one it saw in OmitReadOnly; ZooKeeper then omits
// the flag from its ConnectResponse as well (set ConnectResponse.OmitReadOnly
// from it).
type ConnectRequest struct {
	ProtocolVersion int32
	LastZxidSeen    int64 // highest zxid the client has seen; 0 for a new session
	TimeOut         int32 // requested session timeout, ms
	SessionID       int64 // 0 for a new session, else the session to resume
	Passwd          []byte
	ReadOnly        bool // client accepts a read-only server
	OmitReadOnly    bool // the readOnly byte is absent (old clients, go-zookeeper)
}

// Decode implements Record.
func (r *ConnectRequest) Decode(d *Decoder) error {
	d.Int32(&r.ProtocolVersion)
	d.Int64(&r.LastZxidSeen)
	d.Int32(&r.TimeOut)
	d.Int64(&r.SessionID)
	d.Buffer(&r.Passwd)
	readOnlyFlag(d, &r.ReadOnly, &r.OmitReadOnly)
	return d.Err()
}

// readOnlyFlag reads the readOnly byte that ends a ConnectRequest or
// ConnectResponse when the peer sends it, and records whether it did.
func readOnlyFlag(d *Decoder, readOnly, omitted *bool) {
	if d.err != nil {
		return
	}
	*readOnly, *omitted = false, d.Len() == 0
	if !*omitted {
		d.Bool(readOnly)
	}
}

// Encode implements Record.
func (r *ConnectRequest) Encode(e *Encoder) {
	e.WriteInt32(r.ProtocolVersion)
	e.WriteInt64(r.LastZxidSeen)
	e.WriteInt32(r.TimeOut)
	e.WriteInt64(r.SessionID)
	e.WriteBuffer(r.Passwd)
	if !r.OmitReadOnly {
		e.WriteBool(r.ReadOnly)
	}
}

// ConnectResponse answers a ConnectRequest, framed without a ReplyHeader.
// To refuse a session (expired or unknown id, wrong password) ZooKeeper
// sends TimeOut 0, SessionID 0 and a zero 16-byte Passwd, then closes the
// connection. ReadOnly (true when the server is in read-only mode) is
// appended unless OmitReadOnly is set, which a server should copy from the
// request's OmitReadOnly.
type ConnectResponse struct {
	ProtocolVersion int32
	TimeOut         int32 // negotiated session timeout, ms
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	OmitReadOnly    bool
}

// Decode implements Record.
func (r *ConnectResponse) Decode(d *Decoder) error {
	d.Int32(&r.ProtocolVersion)
	d.Int32(&r.TimeOut)
	d.Int64(&r.SessionID)
	d.Buffer(&r.Passwd)
	readOnlyFlag(d, &r.ReadOnly, &r.OmitReadOnly)
	return d.Err()
}

// Encode implements Record.
func (r *ConnectResponse) Encode(e *Encoder) {
	e.WriteInt32(r.ProtocolVersion)
	e.WriteInt32(r.TimeOut)
	e.WriteInt64(r.SessionID)
	e.WriteBuffer(r.Passwd)
	if !r.OmitReadOnly {
		e.WriteBool(r.ReadOnly)
	}
}

// RequestHeader starts every framed request after the ConnectRequest.
type RequestHeader struct {
	Xid  int32
	Type OpCode
}

// RequestHeaderSize is the encoded size of a RequestHeader.
const RequestHeaderSize = 8

// Decode implements Record.
func (r *RequestHeader) Decode(d *Decoder) error {
	d.need("RequestHeader", RequestHeaderSize)
	d.Int32(&r.Xid)
	d.Int32((*int32)(&r.Type))
	return d.Err()
}

// Encode implements Record.
func (r *RequestHeader) Encode(e *Encoder) {
	e.WriteInt32(r.Xid)
	e.WriteInt32(int32(r.Type))
}

// ReplyHeader starts every framed reply and notification after the
// ConnectResponse. Xid echoes the request (XidNotification for watch
// events); Zxid is the server's last processed zxid (-1 in notifications).
type ReplyHeader struct {
	Xid  int32
	Zxid int64
	Err  ErrCode
}

// ReplyHeaderSize is the encoded size of a ReplyHeader.
const ReplyHeaderSize = 16

// Decode implements Record.
func (r *ReplyHeader) Decode(d *Decoder) error {
	d.need("ReplyHeader", ReplyHeaderSize)
	d.Int32(&r.Xid)
	d.Int64(&r.Zxid)
	d.Int32((*int32)(&r.Err))
	return d.Err()
}

// Encode implements Record.
func (r *ReplyHeader) Encode(e *Encoder) {
	e.WriteInt32(r.Xid)
	e.WriteInt64(r.Zxid)
	e.WriteInt32(int32(r.Err))
}

// Empty is the body of requests and replies that carry no fields (ping,
// closeSession, whoAmI requests; delete, setWatches, auth replies ...).
type Empty struct{}

// Decode implements Record.
func (*Empty) Decode(d *Decoder) error { return d.Err() }

// Encode implements Record.
func (*Empty) Encode(*Encoder) {}

// pathRecord, pathWatch and pathVersion are shapes that several records
// share; those records convert themselves to them to decode and encode.
type (
	pathRecord struct{ Path string }
	pathWatch  struct {
		Path  string
		Watch bool
	}
	pathVersion struct {
		Path    string
		Version int32
	}
)

func (r *pathRecord) decode(d *Decoder) error { d.String(&r.Path); return d.Err() }
func (r *pathRecord) encode(e *Encoder)       { e.WriteString(r.Path) }

func (r *pathWatch) decode(d *Decoder) error {
	d.String(&r.Path)
	d.Bool(&r.Watch)
	return d.Err()
}

func (r *pathWatch) encode(e *Encoder) {
	e.WriteString(r.Path)
	e.WriteBool(r.Watch)
}

func (r *pathVersion) decode(d *Decoder) error {
	d.String(&r.Path)
	d.Int32(&r.Version)
	return d.Err()
}

func (r *pathVersion) encode(e *Encoder) {
	e.WriteString(r.Path)
	e.WriteInt32(r.Version)
}

// CreateRequest is the body of create, create2 and createContainer, and of
// those ops inside a multi.
type CreateRequest struct {
	Path  string
	Data  []byte
	ACL   []ACL
	Flags CreateMode
}

// Decode implements Record.
func (r *CreateRequest) Decode(d *Decoder) error {
	d.String(&r.Path)
	d.Buffer(&r.Data)
	readACLs(d, &r.ACL)
	d.Int32((*int32)(&r.Flags))
	return d.Err()
}

// Encode implements Record.
func (r *CreateRequest) Encode(e *Encoder) {
	e.WriteString(r.Path)
	e.WriteBuffer(r.Data)
	writeACLs(e, r.ACL)
	e.WriteInt32(int32(r.Flags))
}

// CreateTTLRequest is the body of createTTL: a CreateRequest plus the TTL in
// milliseconds.
type CreateTTLRequest struct {
	Path  string
	Data  []byte
	ACL   []ACL
	Flags CreateMode
	TTL   int64 // ms
}

// Decode implements Record.
func (r *CreateTTLRequest) Decode(d *Decoder) error {
	d.String(&r.Path)
	d.Buffer(&r.Data)
	readACLs(d, &r.ACL)
	d.Int32((*int32)(&r.Flags))
	d.Int64(&r.TTL)
	return d.Err()
}

// Encode implements Record.
func (r *CreateTTLRequest) Encode(e *Encoder) {
	e.WriteString(r.Path)
	e.WriteBuffer(r.Data)
	writeACLs(e, r.ACL)
	e.WriteInt32(int32(r.Flags))
	e.WriteInt64(r.TTL)
}

// CreateResponse is the reply body of create (path only).
type CreateResponse struct {
	Path string // the created path, with the sequence suffix if any
}

// Decode implements Record.
func (r *CreateResponse) Decode(d *Decoder) error { return (*pathRecord)(r).decode(d) }

// Encode implements Record.
func (r *CreateResponse) Encode(e *Encoder) { (*pathRecord)(r).encode(e) }

// Create2Response is the reply body of create2, createContainer and
// createTTL.
type Create2Response struct {
	Path string
	Stat Stat
}

// Decode implements Record.
func (r *Create2Response) Decode(d *Decoder) error {
	d.String(&r.Path)
	return r.Stat.Decode(d) // d's error is sticky: this is d.Err()
}

// Encode implements Record.
func (r *Create2Response) Encode(e *Encoder) {
	e.WriteString(r.Path)
	r.Stat.Encode(e)
}

// DeleteRequest is the body of delete. Version -1 matches any version.
type DeleteRequest struct {
	Path    string
	Version int32
}

// Decode implements Record.
func (r *DeleteRequest) Decode(d *Decoder) error { return (*pathVersion)(r).decode(d) }

// Encode implements Record.
func (r *DeleteRequest) Encode(e *Encoder) { (*pathVersion)(r).encode(e) }

// CheckVersionRequest is the body of check (inside multi). Version -1
// matches any version.
type CheckVersionRequest struct {
	Path    string
	Version int32
}

// Decode implements Record.
func (r *CheckVersionRequest) Decode(d *Decoder) error { return (*pathVersion)(r).decode(d) }

// Encode implements Record.
func (r *CheckVersionRequest) Encode(e *Encoder) { (*pathVersion)(r).encode(e) }

// ExistsRequest is the body of exists. Watch sets a data watch, which
// ZooKeeper registers even when the node does not exist (so that it fires
// on creation).
type ExistsRequest struct {
	Path  string
	Watch bool
}

// Decode implements Record.
func (r *ExistsRequest) Decode(d *Decoder) error { return (*pathWatch)(r).decode(d) }

// Encode implements Record.
func (r *ExistsRequest) Encode(e *Encoder) { (*pathWatch)(r).encode(e) }

// ExistsResponse is the reply body of exists when the node exists; a
// missing node is reported as a header-only reply with CodeNoNode.
type ExistsResponse struct{ Stat Stat }

// Decode implements Record.
func (r *ExistsResponse) Decode(d *Decoder) error { return r.Stat.Decode(d) }

// Encode implements Record.
func (r *ExistsResponse) Encode(e *Encoder) { r.Stat.Encode(e) }

// GetDataRequest is the body of getData (and of getData inside multiRead,
// where Watch is always false).
type GetDataRequest struct {
	Path  string
	Watch bool
}

// Decode implements Record.
func (r *GetDataRequest) Decode(d *Decoder) error { return (*pathWatch)(r).decode(d) }

// Encode implements Record.
func (r *GetDataRequest) Encode(e *Encoder) { (*pathWatch)(r).encode(e) }

// GetDataResponse is the reply body of getData and reconfig.
type GetDataResponse struct {
	Data []byte
	Stat Stat
}

// Decode implements Record.
func (r *GetDataResponse) Decode(d *Decoder) error {
	d.Buffer(&r.Data)
	return r.Stat.Decode(d) // d's error is sticky: this is d.Err()
}

// Encode implements Record.
func (r *GetDataResponse) Encode(e *Encoder) {
	e.WriteBuffer(r.Data)
	r.Stat.Encode(e)
}

// SetDataRequest is the body of setData. Version -1 matches any version.
type SetDataRequest struct {
	Path    string
	Data    []byte
	Version int32
}

// Decode implements Record.
func (r *SetDataRequest) Decode(d *Decoder) error {
	d.String(&r.Path)
	d.Buffer(&r.Data)
	d.Int32(&r.Version)
	return d.Err()
}

// Encode implements Record.
func (r *SetDataRequest) Encode(e *Encoder) {
	e.WriteString(r.Path)
	e.WriteBuffer(r.Data)
	e.WriteInt32(r.Version)
}

// SetDataResponse is the reply body of setData (and, in ZooKeeper, of a
// standalone check).
type SetDataResponse struct{ Stat Stat }

// Decode implements Record.
func (r *SetDataResponse) Decode(d *Decoder) error { return r.Stat.Decode(d) }

// Encode implements Record.
func (r *SetDataResponse) Encode(e *Encoder) { r.Stat.Encode(e) }

// GetACLRequest is the body of getACL.
type GetACLRequest struct{ Path string }

// Decode implements Record.
func (r *GetACLRequest) Decode(d *Decoder) error { return (*pathRecord)(r).decode(d) }

// Encode implements Record.
func (r *GetACLRequest) Encode(e *Encoder) { (*pathRecord)(r).encode(e) }

// GetACLResponse is the reply body of getACL.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

// Decode implements Record.
func (r *GetACLResponse) Decode(d *Decoder) error {
	readACLs(d, &r.ACL)
	return r.Stat.Decode(d) // d's error is sticky: this is d.Err()
}

// Encode implements Record.
func (r *GetACLResponse) Encode(e *Encoder) {
	writeACLs(e, r.ACL)
	r.Stat.Encode(e)
}

// SetACLRequest is the body of setACL. Version is compared with the node's
// Aversion; -1 matches any.
type SetACLRequest struct {
	Path    string
	ACL     []ACL
	Version int32
}

// Decode implements Record.
func (r *SetACLRequest) Decode(d *Decoder) error {
	d.String(&r.Path)
	readACLs(d, &r.ACL)
	d.Int32(&r.Version)
	return d.Err()
}

// Encode implements Record.
func (r *SetACLRequest) Encode(e *Encoder) {
	e.WriteString(r.Path)
	writeACLs(e, r.ACL)
	e.WriteInt32(r.Version)
}

// SetACLResponse is the reply body of setACL.
type SetACLResponse struct{ Stat Stat }

// Decode implements Record.
func (r *SetACLResponse) Decode(d *Decoder) error { return r.Stat.Decode(d) }

// Encode implements Record.
func (r *SetACLResponse) Encode(e *Encoder) { r.Stat.Encode(e) }

// GetChildrenRequest is the body of getChildren (and of getChildren inside
// multiRead, where Watch is always false).
type GetChildrenRequest struct {
	Path  string
	Watch bool
}

// Decode implements Record.
func (r *GetChildrenRequest) Decode(d *Decoder) error { return (*pathWatch)(r).decode(d) }

// Encode implements Record.
func (r *GetChildrenRequest) Encode(e *Encoder) { (*pathWatch)(r).encode(e) }

// GetChildrenResponse is the reply body of getChildren. Children are names
// relative to the parent, in no particular order.
type GetChildrenResponse struct{ Children []string }

// Decode implements Record.
func (r *GetChildrenResponse) Decode(d *Decoder) error {
	d.StringVector(&r.Children)
	return d.Err()
}

// Encode implements Record.
func (r *GetChildrenResponse) Encode(e *Encoder) { e.WriteStringVector(r.Children) }

// GetChildren2Request is the body of getChildren2 (children plus Stat).
type GetChildren2Request struct {
	Path  string
	Watch bool
}

// Decode implements Record.
func (r *GetChildren2Request) Decode(d *Decoder) error { return (*pathWatch)(r).decode(d) }

// Encode implements Record.
func (r *GetChildren2Request) Encode(e *Encoder) { (*pathWatch)(r).encode(e) }

// GetChildren2Response is the reply body of getChildren2.
type GetChildren2Response struct {
	Children []string
	Stat     Stat
}

// Decode implements Record.
func (r *GetChildren2Response) Decode(d *Decoder) error {
	d.StringVector(&r.Children)
	return r.Stat.Decode(d) // d's error is sticky: this is d.Err()
}

// Encode implements Record.
func (r *GetChildren2Response) Encode(e *Encoder) {
	e.WriteStringVector(r.Children)
	r.Stat.Encode(e)
}

// SyncRequest is the body of sync.
type SyncRequest struct{ Path string }

// Decode implements Record.
func (r *SyncRequest) Decode(d *Decoder) error { return (*pathRecord)(r).decode(d) }

// Encode implements Record.
func (r *SyncRequest) Encode(e *Encoder) { (*pathRecord)(r).encode(e) }

// SyncResponse is the reply body of sync; Path echoes the request.
type SyncResponse struct{ Path string }

// Decode implements Record.
func (r *SyncResponse) Decode(d *Decoder) error { return (*pathRecord)(r).decode(d) }

// Encode implements Record.
func (r *SyncResponse) Encode(e *Encoder) { (*pathRecord)(r).encode(e) }

// GetAllChildrenNumberRequest is the body of getAllChildrenNumber.
type GetAllChildrenNumberRequest struct{ Path string }

// Decode implements Record.
func (r *GetAllChildrenNumberRequest) Decode(d *Decoder) error { return (*pathRecord)(r).decode(d) }

// Encode implements Record.
func (r *GetAllChildrenNumberRequest) Encode(e *Encoder) { (*pathRecord)(r).encode(e) }

// GetAllChildrenNumberResponse is the reply body of getAllChildrenNumber:
// the number of descendants of the path, not counting the path itself.
type GetAllChildrenNumberResponse struct{ TotalNumber int32 }

// Decode implements Record.
func (r *GetAllChildrenNumberResponse) Decode(d *Decoder) error {
	d.Int32(&r.TotalNumber)
	return d.Err()
}

// Encode implements Record.
func (r *GetAllChildrenNumberResponse) Encode(e *Encoder) { e.WriteInt32(r.TotalNumber) }

// GetEphemeralsRequest is the body of getEphemerals: the session's
// ephemeral nodes whose path starts with PrefixPath ("" or "/" for all).
type GetEphemeralsRequest struct{ PrefixPath string }

// Decode implements Record.
func (r *GetEphemeralsRequest) Decode(d *Decoder) error {
	d.String(&r.PrefixPath)
	return d.Err()
}

// Encode implements Record.
func (r *GetEphemeralsRequest) Encode(e *Encoder) { e.WriteString(r.PrefixPath) }

// GetEphemeralsResponse is the reply body of getEphemerals (full paths).
type GetEphemeralsResponse struct{ Ephemerals []string }

// Decode implements Record.
func (r *GetEphemeralsResponse) Decode(d *Decoder) error {
	d.StringVector(&r.Ephemerals)
	return d.Err()
}

// Encode implements Record.
func (r *GetEphemeralsResponse) Encode(e *Encoder) { e.WriteStringVector(r.Ephemerals) }

// SetWatches is the body of setWatches, which clients send after
// reconnecting to re-register their one-shot watches. RelativeZxid is the
// last zxid the client saw; the server fires at once every watch whose node
// changed after it (or appeared, or vanished).
type SetWatches struct {
	RelativeZxid int64
	DataWatches  []string
	ExistWatches []string
	ChildWatches []string
}

// Decode implements Record.
func (r *SetWatches) Decode(d *Decoder) error {
	d.Int64(&r.RelativeZxid)
	d.StringVector(&r.DataWatches)
	d.StringVector(&r.ExistWatches)
	d.StringVector(&r.ChildWatches)
	return d.Err()
}

// Encode implements Record.
func (r *SetWatches) Encode(e *Encoder) {
	e.WriteInt64(r.RelativeZxid)
	e.WriteStringVector(r.DataWatches)
	e.WriteStringVector(r.ExistWatches)
	e.WriteStringVector(r.ChildWatches)
}

// SetWatches2 is the body of setWatches2, the 3.6+ form of setWatches that
// also re-registers persistent and persistent-recursive watches.
type SetWatches2 struct {
	RelativeZxid               int64
	DataWatches                []string
	ExistWatches               []string
	ChildWatches               []string
	PersistentWatches          []string
	PersistentRecursiveWatches []string
}

// Decode implements Record.
func (r *SetWatches2) Decode(d *Decoder) error {
	d.Int64(&r.RelativeZxid)
	d.StringVector(&r.DataWatches)
	d.StringVector(&r.ExistWatches)
	d.StringVector(&r.ChildWatches)
	d.StringVector(&r.PersistentWatches)
	d.StringVector(&r.PersistentRecursiveWatches)
	return d.Err()
}

// Encode implements Record.
func (r *SetWatches2) Encode(e *Encoder) {
	e.WriteInt64(r.RelativeZxid)
	e.WriteStringVector(r.DataWatches)
	e.WriteStringVector(r.ExistWatches)
	e.WriteStringVector(r.ChildWatches)
	e.WriteStringVector(r.PersistentWatches)
	e.WriteStringVector(r.PersistentRecursiveWatches)
}

// AddWatchRequest is the body of addWatch. ZooKeeper replies with an
// ErrorResponse{Err: CodeOK} body (4 zero bytes), not with a bare header.
type AddWatchRequest struct {
	Path string
	Mode AddWatchMode
}

// Decode implements Record.
func (r *AddWatchRequest) Decode(d *Decoder) error {
	d.String(&r.Path)
	d.Int32((*int32)(&r.Mode))
	return d.Err()
}

// Encode implements Record.
func (r *AddWatchRequest) Encode(e *Encoder) {
	e.WriteString(r.Path)
	e.WriteInt32(int32(r.Mode))
}

// RemoveWatchesRequest is the body of removeWatches. ZooKeeper replies
// CodeNoWatcher when nothing matched.
type RemoveWatchesRequest struct {
	Path string
	Type WatcherType
}

// Decode implements Record.
func (r *RemoveWatchesRequest) Decode(d *Decoder) error {
	d.String(&r.Path)
	d.Int32((*int32)(&r.Type))
	return d.Err()
}

// Encode implements Record.
func (r *RemoveWatchesRequest) Encode(e *Encoder) {
	e.WriteString(r.Path)
	e.WriteInt32(int32(r.Type))
}

// CheckWatchesRequest is the body of checkWatches (same layout as
// RemoveWatchesRequest). ZooKeeper replies CodeNoWatcher when no watch
// matches.
type CheckWatchesRequest struct {
	Path string
	Type WatcherType
}

// Decode implements Record.
func (r *CheckWatchesRequest) Decode(d *Decoder) error {
	return (*RemoveWatchesRequest)(r).Decode(d)
}

// Encode implements Record.
func (r *CheckWatchesRequest) Encode(e *Encoder) { (*RemoveWatchesRequest)(r).Encode(e) }

// AuthPacket is the body of auth (addAuthInfo). Type is always 0. The reply
// is header-only; on failure ZooKeeper replies CodeAuthFailed and closes
// the connection.
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

// Decode implements Record.
func (r *AuthPacket) Decode(d *Decoder) error {
	d.Int32(&r.Type)
	d.String(&r.Scheme)
	d.Buffer(&r.Auth)
	return d.Err()
}

// Encode implements Record.
func (r *AuthPacket) Encode(e *Encoder) {
	e.WriteInt32(r.Type)
	e.WriteString(r.Scheme)
	e.WriteBuffer(r.Auth)
}

// ClientInfo is one identity of a session, as returned by whoAmI.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// Decode implements Record.
func (r *ClientInfo) Decode(d *Decoder) error {
	d.String(&r.AuthScheme)
	d.String(&r.User)
	return d.Err()
}

// Encode implements Record.
func (r *ClientInfo) Encode(e *Encoder) {
	e.WriteString(r.AuthScheme)
	e.WriteString(r.User)
}

// WhoAmIResponse is the reply body of whoAmI (whose request has no body).
type WhoAmIResponse struct{ ClientInfo []ClientInfo }

// Decode implements Record.
func (r *WhoAmIResponse) Decode(d *Decoder) error {
	n := d.VectorLen(8)
	if d.err != nil {
		return d.err
	}
	var v []ClientInfo
	if n > 0 {
		v = make([]ClientInfo, n)
		for i := range v {
			if v[i].Decode(d) != nil {
				break // d keeps the error
			}
		}
	}
	if d.err != nil {
		v = nil
	}
	r.ClientInfo = v
	return d.Err()
}

// Encode implements Record.
func (r *WhoAmIResponse) Encode(e *Encoder) {
	e.WriteVectorLen(len(r.ClientInfo))
	for i := range r.ClientInfo {
		r.ClientInfo[i].Encode(e)
	}
}

// GetSASLRequest is the body of sasl: one SASL token from the client.
type GetSASLRequest struct{ Token []byte }

// Decode implements Record.
func (r *GetSASLRequest) Decode(d *Decoder) error { d.Buffer(&r.Token); return d.Err() }

// Encode implements Record.
func (r *GetSASLRequest) Encode(e *Encoder) { e.WriteBuffer(r.Token) }

// SetSASLResponse is the reply body of sasl: the server's SASL token.
type SetSASLResponse struct{ Token []byte }

// Decode implements Record.
func (r *SetSASLResponse) Decode(d *Decoder) error { d.Buffer(&r.Token); return d.Err() }

// Encode implements Record.
func (r *SetSASLResponse) Encode(e *Encoder) { e.WriteBuffer(r.Token) }

// ReconfigRequest is the body of reconfig. Either the incremental fields
// (JoiningServers, LeavingServers: comma-separated server specs) or
// NewMembers is set; CurConfigID -1 means "any current config". Clients send
// the unused fields as null strings, which decode to "": treat "" as
// absent. The reply is a GetDataResponse holding the new configuration.
type ReconfigRequest struct {
	JoiningServers string
	LeavingServers string
	NewMembers     string
	CurConfigID    int64
}

// Decode implements Record.
func (r *ReconfigRequest) Decode(d *Decoder) error {
	d.String(&r.JoiningServers)
	d.String(&r.LeavingServers)
	d.String(&r.NewMembers)
	d.Int64(&r.CurConfigID)
	return d.Err()
}

// Encode implements Record.
func (r *ReconfigRequest) Encode(e *Encoder) {
	e.WriteString(r.JoiningServers)
	e.WriteString(r.LeavingServers)
	e.WriteString(r.NewMembers)
	e.WriteInt64(r.CurConfigID)
}

// WatcherEvent is the body of a watch notification, which follows a
// ReplyHeader with Xid XidNotification. See AppendNotification.
type WatcherEvent struct {
	Type  EventType
	State KeeperState
	Path  string // absolute path; clients using a chroot expect it unstripped
}

// Decode implements Record.
func (r *WatcherEvent) Decode(d *Decoder) error {
	d.Int32((*int32)(&r.Type))
	d.Int32((*int32)(&r.State))
	d.String(&r.Path)
	return d.Err()
}

// Encode implements Record.
func (r *WatcherEvent) Encode(e *Encoder) {
	e.WriteInt32(int32(r.Type))
	e.WriteInt32(int32(r.State))
	e.WriteString(r.Path)
}

// ErrorResponse is a bare error code: the body of an error result inside a
// multi response, and the (always zero) reply body of addWatch.
type ErrorResponse struct{ Err ErrCode }

// Decode implements Record.
func (r *ErrorResponse) Decode(d *Decoder) error {
	d.Int32((*int32)(&r.Err))
	return d.Err()
}

// Encode implements Record.
func (r *ErrorResponse) Encode(e *Encoder) { e.WriteInt32(int32(r.Err)) }

// MultiHeader precedes each op in a multi request and each result in a
// multi response; a header with Done set ends the list. Requests carry
// Err -1; the closing header is {Type: -1, Done: true, Err: -1}.
type MultiHeader struct {
	Type OpCode
	Done bool
	Err  ErrCode
}

// MultiHeaderSize is the encoded size of a MultiHeader.
const MultiHeaderSize = 9

// Decode implements Record.
func (r *MultiHeader) Decode(d *Decoder) error {
	d.need("MultiHeader", MultiHeaderSize)
	d.Int32((*int32)(&r.Type))
	d.Bool(&r.Done)
	d.Int32((*int32)(&r.Err))
	return d.Err()
}

// Encode implements Record.
func (r *MultiHeader) Encode(e *Encoder) {
	e.WriteInt32(int32(r.Type))
	e.WriteBool(r.Done)
	e.WriteInt32(int32(r.Err))
}
