package wire

import "fmt"

// CommandVersion is the version byte of every encoded Command.
const CommandVersion = 1

// Kind names what a command or an operation does.
type Kind uint8

// Command and operation kinds. Values are part of the log format: never
// renumber, only append.
const (
	KindCreate         Kind = 1  // Op: create a znode
	KindDelete         Kind = 2  // Op: delete a znode
	KindSetData        Kind = 3  // Op: replace a znode's data
	KindSetACL         Kind = 4  // Op: replace a znode's ACL
	KindCheck          Kind = 5  // Op: check a znode's version
	KindMulti          Kind = 6  // Command: Ops applied all or none
	KindCreateSession  Kind = 7  // Command: open a session hosted by Incarnation
	KindCloseSessions  Kind = 8  // Command: the owner closes Sessions
	KindExpireSessions Kind = 9  // Command: the leader expires Sessions
	KindHeartbeat      Kind = 10 // Command: Incarnation renews every session it hosts
	KindAttachSession  Kind = 11 // Command: Session moves to Incarnation (and is live)
	KindDetachSession  Kind = 12 // Command: Session's client went away from Incarnation, its host
	KindAddAuth        Kind = 13 // Command: Session gains Auth
	KindReap           Kind = 14 // Command: the leader removes expired containers and TTL nodes
	KindDigest         Kind = 15 // Command: a member's tree digest at DigestIndex, for every member to compare
)

func (k Kind) String() string {
	switch k {
	case KindCreate:
		return "create"
	case KindDelete:
		return "delete"
	case KindSetData:
		return "setData"
	case KindSetACL:
		return "setACL"
	case KindCheck:
		return "check"
	case KindMulti:
		return "multi"
	case KindCreateSession:
		return "createSession"
	case KindCloseSessions:
		return "closeSessions"
	case KindExpireSessions:
		return "expireSessions"
	case KindHeartbeat:
		return "heartbeat"
	case KindAttachSession:
		return "attachSession"
	case KindDetachSession:
		return "detachSession"
	case KindAddAuth:
		return "addAuth"
	case KindReap:
		return "reap"
	case KindDigest:
		return "digest"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// isOp reports whether k is a single tree operation.
func (k Kind) isOp() bool { return k >= KindCreate && k <= KindCheck }

// ACL is one access control entry as stored and replicated.
type ACL struct {
	Perms  int32
	Scheme string
	ID     string
}

// AuthID is an identity a session has proven (scheme "digest", "ip", ...).
type AuthID struct {
	Scheme string
	ID     string
}

// Op is one tree operation. Which fields matter depends on Kind.
type Op struct {
	Kind    Kind
	Path    string
	Data    []byte
	ACL     []ACL
	Mode    uint8 // create mode, in ZooKeeper's numbering (CreateMode flags)
	TTL     int64 // milliseconds, for TTL create modes
	Version int32 // expected version; -1 matches any
}

// SessionRef names a session, with the renewal the proposer last observed;
// an expiry is ignored if the session was renewed after that point.
type SessionRef struct {
	ID         int64
	RenewIndex uint64
}

// Command is what a member proposes to the Raft log.
type Command struct {
	Kind    Kind
	Time    int64 // proposer's wall clock, ms since the epoch
	Session int64 // issuing session; 0 for member-level commands

	// ReqID, when not 0, makes the command idempotent: the state machine
	// applies a command with a given (Incarnation, ReqID) once and answers a
	// retry with the first result. Ack tells it that the proposer has every
	// result below that id, so it can forget them.
	ReqID uint64
	Ack   uint64

	Ops []Op // tree commands: exactly one for an op kind, any number for KindMulti

	// Incarnation is the proposing member process: a random id each
	// process that opens a member draws, distinct from the member's
	// replica id, which survives restarts. Sessions belong to it.
	Incarnation uint64
	Timeout     int32        // CreateSession: negotiated timeout in ms
	Password    []byte       // CreateSession: secret a client shows to reattach
	Sessions    []SessionRef // CloseSessions, ExpireSessions
	Auth        []AuthID     // AddAuth: the identity added; CreateSession: initial identities
	Paths       []string     // Reap

	DigestIndex   uint64 // Digest: the log index the digest is of
	Digest        uint64 // Digest: the proposer's tree digest at DigestIndex
	DigestReplica uint64 // Digest: the proposer's replica id
}

// AppendCommand appends the encoding of c to b.
func AppendCommand(b []byte, c *Command) []byte {
	e := encoder{b: b}
	e.byte(CommandVersion)
	e.byte(byte(c.Kind))
	e.varint(c.Time)
	e.varint(c.Session)
	e.uvarint(c.Incarnation)
	e.uvarint(c.ReqID)
	e.uvarint(c.Ack)
	switch {
	case c.Kind.isOp():
		if len(c.Ops) == 1 {
			encodeOp(&e, &c.Ops[0])
		} else {
			encodeOp(&e, &Op{Kind: c.Kind})
		}
	case c.Kind == KindMulti:
		e.uvarint(uint64(len(c.Ops)))
		for i := range c.Ops {
			e.byte(byte(c.Ops[i].Kind))
			encodeOp(&e, &c.Ops[i])
		}
	case c.Kind == KindCreateSession:
		e.varint(int64(c.Timeout))
		e.bytes(c.Password)
		encodeAuth(&e, c.Auth)
	case c.Kind == KindCloseSessions || c.Kind == KindExpireSessions:
		e.uvarint(uint64(len(c.Sessions)))
		for _, s := range c.Sessions {
			e.varint(s.ID)
			e.uvarint(s.RenewIndex)
		}
	case c.Kind == KindHeartbeat, c.Kind == KindAttachSession, c.Kind == KindDetachSession:
	case c.Kind == KindAddAuth:
		encodeAuth(&e, c.Auth)
	case c.Kind == KindReap:
		e.uvarint(uint64(len(c.Paths)))
		for _, p := range c.Paths {
			e.string(p)
		}
	case c.Kind == KindDigest:
		e.uvarint(c.DigestIndex)
		e.uvarint(c.Digest)
		e.uvarint(c.DigestReplica)
	}
	return e.b
}

// op fields are encoded without their kind when the kind is implied.
func encodeOp(e *encoder, op *Op) {
	e.string(op.Path)
	switch op.Kind {
	case KindCreate:
		e.bytes(op.Data)
		encodeACLs(e, op.ACL)
		e.byte(op.Mode)
		e.varint(op.TTL)
	case KindDelete, KindCheck:
		e.varint(int64(op.Version))
	case KindSetData:
		e.bytes(op.Data)
		e.varint(int64(op.Version))
	case KindSetACL:
		encodeACLs(e, op.ACL)
		e.varint(int64(op.Version))
	}
}

func encodeACLs(e *encoder, acl []ACL) {
	e.uvarint(uint64(len(acl)))
	for _, a := range acl {
		e.varint(int64(a.Perms))
		e.string(a.Scheme)
		e.string(a.ID)
	}
}

func decodeOp(d *decoder, kind Kind) Op {
	op := Op{Kind: kind, Path: d.string()}
	switch kind {
	case KindCreate:
		op.Data = d.bytes()
		op.ACL = decodeACLs(d)
		op.Mode = d.byte()
		op.TTL = d.varint()
	case KindDelete, KindCheck:
		op.Version = d.int32()
	case KindSetData:
		op.Data = d.bytes()
		op.Version = d.int32()
	case KindSetACL:
		op.ACL = decodeACLs(d)
		op.Version = d.int32()
	default:
		d.fail(fmt.Errorf("%w: %v is not a tree operation", ErrCorrupt, kind))
	}
	return op
}

func decodeACLs(d *decoder) []ACL {
	n := d.count(3)
	if n == 0 {
		return nil
	}
	acl := make([]ACL, n)
	for i := range acl {
		acl[i] = ACL{Perms: d.int32(), Scheme: d.string(), ID: d.string()}
	}
	return acl
}

// DecodeCommand decodes a command encoded by AppendCommand.
func DecodeCommand(b []byte) (*Command, error) {
	d := decoder{b: b}
	d.version("command", CommandVersion)
	c := &Command{Kind: Kind(d.byte())}
	c.Time = d.varint()
	c.Session = d.varint()
	c.Incarnation = d.uvarint()
	c.ReqID = d.uvarint()
	c.Ack = d.uvarint()
	switch {
	case d.err != nil:
	case c.Kind.isOp():
		c.Ops = []Op{decodeOp(&d, c.Kind)}
	case c.Kind == KindMulti:
		n := d.count(2)
		c.Ops = make([]Op, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			k := Kind(d.byte())
			c.Ops = append(c.Ops, decodeOp(&d, k))
		}
	case c.Kind == KindCreateSession:
		c.Timeout = d.int32()
		c.Password = d.bytes()
		c.Auth = decodeAuth(&d)
	case c.Kind == KindCloseSessions || c.Kind == KindExpireSessions:
		n := d.count(2)
		c.Sessions = make([]SessionRef, n)
		for i := range c.Sessions {
			c.Sessions[i] = SessionRef{ID: d.varint(), RenewIndex: d.uvarint()}
		}
	case c.Kind == KindHeartbeat, c.Kind == KindAttachSession, c.Kind == KindDetachSession:
	case c.Kind == KindAddAuth:
		c.Auth = decodeAuth(&d)
	case c.Kind == KindReap:
		n := d.count(1)
		c.Paths = make([]string, n)
		for i := range c.Paths {
			c.Paths[i] = d.string()
		}
	case c.Kind == KindDigest:
		c.DigestIndex = d.uvarint()
		c.Digest = d.uvarint()
		c.DigestReplica = d.uvarint()
	default:
		d.fail(fmt.Errorf("%w: unknown command %v", ErrCorrupt, c.Kind))
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

func encodeAuth(e *encoder, ids []AuthID) {
	e.uvarint(uint64(len(ids)))
	for _, a := range ids {
		e.string(a.Scheme)
		e.string(a.ID)
	}
}

func decodeAuth(d *decoder) []AuthID {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	ids := make([]AuthID, n)
	for i := range ids {
		ids[i] = AuthID{Scheme: d.string(), ID: d.string()}
	}
	return ids
}
