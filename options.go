package coord

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/coordkit/coord/internal/faultfs"
	"github.com/lni/dragonboat/v4/config"
)

// Options configures a member. Only ID, Members (or Join with Addr) and
// DataDir are required; every other field has a default suited to a LAN.
type Options struct {
	// ID is this member's replica id, > 0, unique in the ensemble and never
	// reused for a different member.
	ID uint64
	// Members are the initial voting members, id -> Raft address host:port.
	// Required when forming an ensemble; ignored when the member restarts
	// from existing state or joins.
	Members map[uint64]string
	// Join makes this member join a running ensemble that has already added
	// it with AddMember or AddObserver, instead of forming a new one.
	Join bool
	// Observer starts the member as a non-voting observer (use with Join
	// after AddObserver).
	Observer bool
	// Addr is this member's Raft address; defaults to Members[ID].
	Addr string
	// ListenAddr is the address the Raft transport listens on, when it
	// differs from Addr (behind NAT, or 0.0.0.0). Defaults to Addr.
	ListenAddr string
	// DataDir holds the Raft log, snapshots and the tree. One member per
	// directory; a directory remembers which member and ensemble it belongs
	// to and refuses any other.
	DataDir string
	// Ensemble names the ensemble. Members of different ensembles ignore
	// each other's messages, and a DataDir of one is refused by another.
	// Default "coord".
	Ensemble string

	// SessionTimeout is the default timeout of sessions this member opens
	// (10 s when zero). Requested timeouts are clamped to
	// [MinSessionTimeout, MaxSessionTimeout].
	SessionTimeout time.Duration
	// MinSessionTimeout is the shortest session timeout granted (1 s).
	MinSessionTimeout time.Duration
	// MaxSessionTimeout is the longest session timeout granted (60 s).
	MaxSessionTimeout time.Duration
	// HeartbeatInterval is how often this member renews all the sessions it
	// hosts with one log entry (250 ms, and at most a quarter of
	// MinSessionTimeout). Shorter intervals make expiry more precise.
	HeartbeatInterval time.Duration
	// CleanupInterval is how often the leader removes containers whose last
	// child is gone and expired TTL nodes (1 s).
	CleanupInterval time.Duration
	// MaxWatcherEvents bounds the events a persistent Watcher (AddWatch)
	// queues for a reader that does not keep up (10000): beyond it the
	// queued events are dropped for one EventsLost event, so a reader that
	// stops reading cannot make the member's memory grow without bound.
	MaxWatcherEvents int
	// DigestInterval is how often the leader proposes its tree digest for
	// every member to compare with its own (10 s; negative: never). A
	// member whose digest differs stops serving with ErrDiverged.
	DigestInterval time.Duration
	// VerifyInterval is how often a member recomputes its digest from its
	// store, which finds a store damaged under the state machine (an hour,
	// and once soon after Open; negative: never).
	VerifyInterval time.Duration

	// TickInterval is the Raft tick, the unit of the next two (10 ms).
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks (15); a leader is
	// replaced between ElectionTicks and twice that many ticks after it
	// fails.
	ElectionTicks int
	// HeartbeatTicks is the Raft heartbeat interval in ticks (2).
	HeartbeatTicks int
	// SnapshotEntries is how many log entries are kept before the log is
	// compacted behind a snapshot (10000).
	SnapshotEntries uint64
	// CompactionOverhead is how many entries are kept behind a snapshot so
	// slightly lagging members catch up from the log (5000).
	CompactionOverhead uint64

	// MaxDataSize is the largest znode data accepted, in bytes (1 MiB, at
	// most 16 MiB).
	MaxDataSize int
	// RequestTimeout bounds a write whose context has no deadline (10 s).
	RequestTimeout time.Duration
	// CacheSize is the tree store's block cache in bytes (16 MiB).
	CacheSize int64

	// SuperDigest, when set, is a digest id (user:base64(sha1), see
	// DigestID) whose sessions bypass every ACL check.
	SuperDigest string
	// TLS, when its files are set, makes members authenticate each other
	// with mutual TLS.
	TLS TLSFiles

	// Logger receives coord's and Dragonboat's messages; nil discards them.
	Logger *slog.Logger

	// transport replaces the Raft transport (tests inject faults with it).
	transport config.TransportFactory
	// raftFaults and treeFaults inject disk errors into the Raft log's and
	// the tree store's file systems (tests).
	raftFaults, treeFaults *faultfs.Injector
}

// TLSFiles names PEM files for mutual TLS between members. All three are
// required together.
type TLSFiles struct {
	CAFile   string // certificate authority that signs every member's certificate
	CertFile string // this member's certificate
	KeyFile  string // this member's private key
}

func (t TLSFiles) enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Defaults.
const (
	DefaultSessionTimeout    = 10 * time.Second
	DefaultMinSessionTimeout = 1 * time.Second
	DefaultMaxSessionTimeout = 60 * time.Second
	DefaultMaxDataSize       = 1 << 20
	maxMaxDataSize           = 16 << 20
)

// withDefaults returns o with every unset field given its default.
func (o Options) withDefaults() Options {
	if o.Addr == "" && o.Members != nil {
		o.Addr = o.Members[o.ID]
	}
	if o.ListenAddr == "" {
		o.ListenAddr = o.Addr
	}
	if o.Ensemble == "" {
		o.Ensemble = "coord"
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.MinSessionTimeout == 0 {
		o.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if o.MaxSessionTimeout == 0 {
		o.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = min(250*time.Millisecond, o.MinSessionTimeout/4)
	}
	if o.CleanupInterval == 0 {
		o.CleanupInterval = time.Second
	}
	if o.MaxWatcherEvents <= 0 {
		o.MaxWatcherEvents = 10000
	}
	if o.DigestInterval == 0 {
		o.DigestInterval = 10 * time.Second
	}
	if o.VerifyInterval == 0 {
		o.VerifyInterval = time.Hour
	}
	if o.TickInterval == 0 {
		o.TickInterval = 10 * time.Millisecond
	}
	if o.ElectionTicks == 0 {
		o.ElectionTicks = 15
	}
	if o.HeartbeatTicks == 0 {
		o.HeartbeatTicks = 2
	}
	if o.SnapshotEntries == 0 {
		o.SnapshotEntries = 10000
	}
	if o.CompactionOverhead == 0 {
		o.CompactionOverhead = 5000
	}
	if o.MaxDataSize == 0 {
		o.MaxDataSize = DefaultMaxDataSize
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.CacheSize == 0 {
		o.CacheSize = 16 << 20
	}
	return o
}

// OptionError reports an invalid Options field.
type OptionError struct {
	Field  string
	Reason string
}

func (e *OptionError) Error() string { return "coord: Options." + e.Field + ": " + e.Reason }

func optErr(field, format string, args ...any) error {
	return &OptionError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// validate checks options that withDefaults has filled in.
func (o *Options) validate() error {
	if o.ID == 0 {
		return optErr("ID", "must be > 0")
	}
	if o.DataDir == "" {
		return optErr("DataDir", "is empty")
	}
	if !o.Join {
		if len(o.Members) == 0 {
			return optErr("Members", "is empty; list the initial members, or set Join to join a running ensemble")
		}
		if _, ok := o.Members[o.ID]; !ok {
			return optErr("Members", "does not contain this member's ID %d", o.ID)
		}
		seen := make(map[string]uint64, len(o.Members))
		for id, addr := range o.Members {
			if id == 0 {
				return optErr("Members", "member id 0 is not allowed; ids are > 0")
			}
			if err := checkHostPort(addr); err != nil {
				return optErr("Members", "member %d: %v", id, err)
			}
			if other, dup := seen[addr]; dup {
				a, b := min(id, other), max(id, other)
				return optErr("Members", "members %d and %d share the address %s", a, b, addr)
			}
			seen[addr] = id
		}
		if o.Observer {
			return optErr("Observer", "an observer cannot form an ensemble; add it with AddObserver and start it with Join")
		}
	}
	if o.Addr == "" {
		return optErr("Addr", "is empty; set Addr (or list this member in Members)")
	}
	if err := checkHostPort(o.Addr); err != nil {
		return optErr("Addr", "%v", err)
	}
	if o.Members != nil && !o.Join {
		if m := o.Members[o.ID]; m != o.Addr {
			return optErr("Addr", "%s differs from Members[%d] = %s", o.Addr, o.ID, m)
		}
	}
	if err := checkHostPort(o.ListenAddr); err != nil {
		return optErr("ListenAddr", "%v", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"SessionTimeout", o.SessionTimeout}, {"MinSessionTimeout", o.MinSessionTimeout},
		{"MaxSessionTimeout", o.MaxSessionTimeout}, {"HeartbeatInterval", o.HeartbeatInterval},
		{"CleanupInterval", o.CleanupInterval}, {"TickInterval", o.TickInterval},
		{"RequestTimeout", o.RequestTimeout},
	} {
		if d.v < 0 {
			return optErr(d.name, "is negative (%v)", d.v)
		}
	}
	if o.TickInterval < time.Millisecond {
		return optErr("TickInterval", "%v is below 1ms", o.TickInterval)
	}
	if o.MinSessionTimeout > o.MaxSessionTimeout {
		return optErr("MinSessionTimeout", "%v exceeds MaxSessionTimeout %v", o.MinSessionTimeout, o.MaxSessionTimeout)
	}
	if o.MaxSessionTimeout > 24*time.Hour {
		return optErr("MaxSessionTimeout", "%v exceeds 24h", o.MaxSessionTimeout)
	}
	if o.HeartbeatInterval*2 > o.MinSessionTimeout {
		return optErr("HeartbeatInterval", "%v must be at most half of MinSessionTimeout %v", o.HeartbeatInterval, o.MinSessionTimeout)
	}
	if o.HeartbeatTicks < 1 {
		return optErr("HeartbeatTicks", "must be >= 1")
	}
	if o.ElectionTicks <= 2*o.HeartbeatTicks {
		return optErr("ElectionTicks", "%d must exceed twice HeartbeatTicks (%d)", o.ElectionTicks, o.HeartbeatTicks)
	}
	if o.MaxDataSize < 0 || o.MaxDataSize > maxMaxDataSize {
		return optErr("MaxDataSize", "%d is outside 0..%d", o.MaxDataSize, maxMaxDataSize)
	}
	if o.CacheSize < 0 {
		return optErr("CacheSize", "is negative")
	}
	if o.SuperDigest != "" {
		if _, err := toWireACL([]ACL{{Perms: PermAll, Scheme: "digest", ID: o.SuperDigest}}, nil); err != nil {
			return optErr("SuperDigest", "%q is not a digest id (user:base64(sha1)); make one with DigestID", o.SuperDigest)
		}
	}
	if o.TLS.enabled() && (o.TLS.CAFile == "" || o.TLS.CertFile == "" || o.TLS.KeyFile == "") {
		return optErr("TLS", "CAFile, CertFile and KeyFile are required together")
	}
	return nil
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q is not host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("address %q has an invalid port", addr)
	}
	return nil
}

// clampTimeout negotiates a session timeout into the allowed range.
func (o *Options) clampTimeout(d time.Duration) time.Duration {
	if d == 0 {
		d = o.SessionTimeout
	}
	return min(max(d, o.MinSessionTimeout), o.MaxSessionTimeout)
}

var errDataDirOwner = errors.New("coord: DataDir belongs to another member or ensemble")
