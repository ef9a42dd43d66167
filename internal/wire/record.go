package wire

import (
	"fmt"
	"slices"
)

// Record format versions.
const (
	NodeVersion    = 1
	SessionVersion = 1
	ResultVersion  = 1
)

// Node modes, stored in Node.Mode: the lifetime of a znode, independent of
// whether its name was made sequential.
const (
	ModePersistent uint8 = 0
	ModeEphemeral  uint8 = 1
	ModeContainer  uint8 = 2
	ModeTTL        uint8 = 3
)

// Stat is ZooKeeper's znode metadata.
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Pzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
}

// Node is a stored znode. Owner is the owning session of an ephemeral node;
// TTL is in milliseconds for ModeTTL.
type Node struct {
	Data        []byte
	ACL         []ACL
	Czxid       int64
	Mzxid       int64
	Pzxid       int64
	Ctime       int64
	Mtime       int64
	Version     int32
	Cversion    int32
	Aversion    int32
	NumChildren int32
	Mode        uint8
	Owner       int64
	TTL         int64
}

// AppendNode appends the encoding of n to b.
func AppendNode(b []byte, n *Node) []byte {
	e := encoder{b: b}
	e.byte(NodeVersion)
	e.byte(n.Mode)
	e.varint(n.Czxid)
	e.varint(n.Mzxid)
	e.varint(n.Pzxid)
	e.varint(n.Ctime)
	e.varint(n.Mtime)
	e.varint(int64(n.Version))
	e.varint(int64(n.Cversion))
	e.varint(int64(n.Aversion))
	e.varint(int64(n.NumChildren))
	e.varint(n.Owner)
	e.varint(n.TTL)
	encodeACLs(&e, n.ACL)
	e.bytes(n.Data)
	return e.b
}

// DecodeNode decodes a node encoded by AppendNode.
func DecodeNode(b []byte) (*Node, error) {
	d := decoder{b: b}
	d.version("node", NodeVersion)
	n := &Node{Mode: d.byte()}
	n.Czxid = d.varint()
	n.Mzxid = d.varint()
	n.Pzxid = d.varint()
	n.Ctime = d.varint()
	n.Mtime = d.varint()
	n.Version = d.int32()
	n.Cversion = d.int32()
	n.Aversion = d.int32()
	n.NumChildren = d.int32()
	n.Owner = d.varint()
	n.TTL = d.varint()
	n.ACL = decodeACLs(&d)
	n.Data = d.bytes()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return n, nil
}

// Session is a stored session. RenewIndex is the log index of the last
// command that renewed it on its own (create, attach, detach); while it is
// attached, its owner's heartbeats renew it too.
type Session struct {
	ID          int64
	Timeout     int32  // ms
	Incarnation uint64 // the member process that hosts and renews it
	Password    []byte
	Auth        []AuthID
	Detached    bool
	RenewIndex  uint64
}

// AppendSession appends the encoding of s to b.
func AppendSession(b []byte, s *Session) []byte {
	e := encoder{b: b}
	e.byte(SessionVersion)
	e.varint(s.ID)
	e.varint(int64(s.Timeout))
	e.uvarint(s.Incarnation)
	e.bytes(s.Password)
	encodeAuth(&e, s.Auth)
	e.bool(s.Detached)
	e.uvarint(s.RenewIndex)
	return e.b
}

// DecodeSession decodes a session encoded by AppendSession.
func DecodeSession(b []byte) (*Session, error) {
	d := decoder{b: b}
	d.version("session", SessionVersion)
	s := &Session{ID: d.varint()}
	s.Timeout = d.int32()
	s.Incarnation = d.uvarint()
	s.Password = d.bytes()
	s.Auth = decodeAuth(&d)
	s.Detached = d.bool()
	s.RenewIndex = d.uvarint()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return s, nil
}

// OpResult is the outcome of one operation. Code is a ZooKeeper error code
// (0 for success).
type OpResult struct {
	Code int32
	Path string // created path, for creates
	Stat *Stat  // for creates, setData, setACL
}

// Result is what the state machine returns to the proposer of a command.
// Code is the outcome of the whole command; Ops holds one entry per
// operation of a tree command. Value carries a number some commands return
// (the id of a created session).
type Result struct {
	Code  int32
	Value int64
	Ops   []OpResult
}

// AppendResult appends the encoding of r to b.
func AppendResult(b []byte, r *Result) []byte {
	e := encoder{b: b}
	e.byte(ResultVersion)
	e.varint(int64(r.Code))
	e.varint(r.Value)
	e.uvarint(uint64(len(r.Ops)))
	for i := range r.Ops {
		o := &r.Ops[i]
		e.varint(int64(o.Code))
		e.string(o.Path)
		if o.Stat == nil {
			e.byte(0)
			continue
		}
		e.byte(1)
		s := o.Stat
		for _, v := range [...]int64{s.Czxid, s.Mzxid, s.Pzxid, s.Ctime, s.Mtime,
			int64(s.Version), int64(s.Cversion), int64(s.Aversion),
			s.EphemeralOwner, int64(s.DataLength), int64(s.NumChildren)} {
			e.varint(v)
		}
	}
	return e.b
}

// DecodeResult decodes a result encoded by AppendResult.
func DecodeResult(b []byte) (*Result, error) {
	d := decoder{b: b}
	d.version("result", ResultVersion)
	r := &Result{Code: d.int32(), Value: d.varint()}
	if n := d.count(3); n > 0 {
		r.Ops = make([]OpResult, n)
		for i := range r.Ops {
			o := &r.Ops[i]
			o.Code = d.int32()
			o.Path = d.string()
			switch d.byte() {
			case 0:
			case 1:
				o.Stat = &Stat{Czxid: d.varint(), Mzxid: d.varint(), Pzxid: d.varint(),
					Ctime: d.varint(), Mtime: d.varint(), Version: d.int32(),
					Cversion: d.int32(), Aversion: d.int32(), EphemeralOwner: d.varint(),
					DataLength: d.int32(), NumChildren: d.int32()}
			default:
				d.fail(fmt.Errorf("%w: bad stat marker", ErrCorrupt))
			}
		}
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// RequestsVersion is the version byte of an encoded Requests record.
const RequestsVersion = 1

// Requests is what the state machine remembers of one proposer's idempotent
// commands: Ack, below which the proposer has every result, and the
// results of the commands at or above it.
type Requests struct {
	Ack     uint64
	Results map[uint64][]byte // request id -> encoded Result
}

// AppendRequests appends the encoding of r to b, results in id order.
func AppendRequests(b []byte, r *Requests) []byte {
	e := encoder{b: b}
	e.byte(RequestsVersion)
	e.uvarint(r.Ack)
	ids := make([]uint64, 0, len(r.Results))
	for id := range r.Results {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	e.uvarint(uint64(len(ids)))
	for _, id := range ids {
		e.uvarint(id)
		e.bytes(r.Results[id])
	}
	return e.b
}

// DecodeRequests decodes a record encoded by AppendRequests.
func DecodeRequests(b []byte) (*Requests, error) {
	d := decoder{b: b}
	d.version("requests", RequestsVersion)
	r := &Requests{Ack: d.uvarint()}
	n := d.count(2)
	r.Results = make(map[uint64][]byte, n)
	for i := 0; i < n && d.err == nil; i++ {
		id := d.uvarint()
		r.Results[id] = d.bytes()
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}
