package coord

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/coordkit/coord/internal/wire"
)

// Perm is a set of ZooKeeper permission bits.
type Perm int32

// Permission bits, with ZooKeeper's values.
const (
	PermRead   Perm = 1 << 0
	PermWrite  Perm = 1 << 1
	PermCreate Perm = 1 << 2
	PermDelete Perm = 1 << 3
	PermAdmin  Perm = 1 << 4
	PermAll    Perm = PermRead | PermWrite | PermCreate | PermDelete | PermAdmin
)

func (p Perm) String() string {
	if p == 0 {
		return "none"
	}
	var b strings.Builder
	for _, x := range []struct {
		bit  Perm
		name byte
	}{{PermCreate, 'c'}, {PermDelete, 'd'}, {PermRead, 'r'}, {PermWrite, 'w'}, {PermAdmin, 'a'}} {
		if p&x.bit != 0 {
			b.WriteByte(x.name)
		}
	}
	if rest := p &^ PermAll; rest != 0 {
		fmt.Fprintf(&b, "+0x%x", int32(rest))
	}
	return b.String()
}

// ACL grants Perms to the identities that ID names under Scheme:
//
//	world  anyone               everybody
//	auth   (ignored)            every identity the creating session has proven
//	digest user:base64(sha1)    sessions that called AddAuth("digest", "user:password")
//	ip     addr or addr/bits    sessions whose client address is in the range
type ACL struct {
	Perms  Perm
	Scheme string
	ID     string
}

func (a ACL) String() string { return a.Scheme + ":" + a.ID + ":" + a.Perms.String() }

// OpenACL lets anyone do anything (world:anyone, all permissions). Do not
// modify it.
var OpenACL = []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}}

// ReadACL lets anyone read and nobody change (world:anyone, read). Do not
// modify it.
var ReadACL = []ACL{{Perms: PermRead, Scheme: "world", ID: "anyone"}}

// CreatorAllACL gives all permissions to the identities the creating
// session has proven (auth scheme). Do not modify it.
var CreatorAllACL = []ACL{{Perms: PermAll, Scheme: "auth", ID: ""}}

// WorldACL grants perms to everybody.
func WorldACL(perms Perm) []ACL { return []ACL{{Perms: perms, Scheme: "world", ID: "anyone"}} }

// DigestACL grants perms to whoever authenticates as user with password.
func DigestACL(perms Perm, user, password string) ACL {
	return ACL{Perms: perms, Scheme: "digest", ID: DigestID(user + ":" + password)}
}

// IPACL grants perms to sessions whose client address is in cidr (an address
// or address/prefix-length).
func IPACL(perms Perm, cidr string) ACL { return ACL{Perms: perms, Scheme: "ip", ID: cidr} }

// DigestID returns the id ZooKeeper's digest scheme derives from
// "user:password": the user, a colon, and base64(sha1("user:password")).
// Ids made by ZooKeeper's DigestAuthenticationProvider are identical.
func DigestID(userPassword string) string {
	user, _, _ := strings.Cut(userPassword, ":")
	sum := sha1.Sum([]byte(userPassword))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// superID is the identity that bypasses every ACL check.
var superID = wire.AuthID{Scheme: "super", ID: ""}

// authIdentities returns the identity AddAuth(scheme, cred) proves, and
// whether it is the super user given the configured super digest.
func authIdentity(scheme string, cred []byte, superDigest string) ([]wire.AuthID, error) {
	switch scheme {
	case "digest":
		// As in ZooKeeper, credentials without a colon are a user with an
		// empty password part: the whole string is digested.
		id := wire.AuthID{Scheme: "digest", ID: DigestID(string(cred))}
		if superDigest != "" && id.ID == superDigest {
			return []wire.AuthID{id, superID}, nil
		}
		return []wire.AuthID{id}, nil
	case "ip":
		// A client's address is established by the transport that accepted
		// it, never by what it claims.
		return nil, fmt.Errorf("%w: ip identities come from the connection, not AddAuth", ErrAuthFailed)
	}
	return nil, fmt.Errorf("%w: unknown auth scheme %q", ErrAuthFailed, scheme)
}

// toWireACL validates acl for storage on behalf of a session with the given
// proven identities and returns it in stored form: "auth" entries replaced
// by the session's identities, duplicates dropped. It is ZooKeeper's
// fixupACL.
func toWireACL(acl []ACL, ids []wire.AuthID) ([]wire.ACL, error) {
	if len(acl) == 0 {
		return nil, fmt.Errorf("%w: empty ACL list", ErrInvalidACL)
	}
	out := make([]wire.ACL, 0, len(acl))
	add := func(a wire.ACL) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, a := range acl {
		if a.Perms&^PermAll != 0 {
			return nil, fmt.Errorf("%w: %s: perms 0x%x outside the permission bits (0x1f)", ErrInvalidACL, a, int32(a.Perms))
		}
		switch a.Scheme {
		case "world":
			if a.ID != "anyone" {
				return nil, fmt.Errorf("%w: world scheme id must be \"anyone\", not %q", ErrInvalidACL, a.ID)
			}
		case "auth":
			n := 0
			for _, id := range ids {
				if id.Scheme == "digest" {
					add(wire.ACL{Perms: int32(a.Perms), Scheme: id.Scheme, ID: id.ID})
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("%w: auth scheme but the session has no authenticated identity", ErrInvalidACL)
			}
			continue
		case "digest":
			user, digest, ok := strings.Cut(a.ID, ":")
			if !ok || user == "" || strings.Contains(digest, ":") || !validDigest(digest) {
				return nil, fmt.Errorf("%w: digest id %q is not user:base64(sha1)", ErrInvalidACL, a.ID)
			}
		case "ip":
			if _, err := parseIPRange(a.ID); err != nil {
				return nil, fmt.Errorf("%w: ip id %q: %v", ErrInvalidACL, a.ID, err)
			}
		case "super":
			return nil, fmt.Errorf("%w: the super identity cannot be granted by an ACL", ErrInvalidACL)
		default:
			return nil, fmt.Errorf("%w: unknown scheme %q", ErrInvalidACL, a.Scheme)
		}
		add(wire.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, ID: a.ID})
	}
	return out, nil
}

func validDigest(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == sha1.Size
}

// parseIPRange parses an ip ACL id: an IPv4 or IPv6 address, optionally
// followed by /prefix-length.
func parseIPRange(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("malformed CIDR range")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("malformed address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// fromWireACL converts a stored ACL for callers.
func fromWireACL(acl []wire.ACL) []ACL {
	out := make([]ACL, len(acl))
	for i, a := range acl {
		out[i] = ACL{Perms: Perm(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

// allowed reports whether a session with the given identities holds perm on
// a node with the given ACL. An empty ACL allows everything, as in ZooKeeper.
func allowed(acl []wire.ACL, perm Perm, ids []wire.AuthID) bool {
	if len(acl) == 0 {
		return true
	}
	for _, id := range ids {
		if id == superID {
			return true
		}
	}
	for _, a := range acl {
		if Perm(a.Perms)&perm == 0 {
			continue
		}
		switch a.Scheme {
		case "world":
			if a.ID == "anyone" {
				return true
			}
		case "ip":
			r, err := parseIPRange(a.ID)
			if err != nil {
				continue
			}
			for _, id := range ids {
				if id.Scheme != "ip" {
					continue
				}
				if addr, err := netip.ParseAddr(id.ID); err == nil && r.Contains(addr.Unmap()) {
					return true
				}
			}
		default:
			for _, id := range ids {
				if id.Scheme == a.Scheme && id.ID == a.ID {
					return true
				}
			}
		}
	}
	return false
}
