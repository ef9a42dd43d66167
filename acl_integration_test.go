package coord

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// aclOps are the operations whose permission checks the matrix exercises,
// with the permission bits each needs (any of them).
type aclOp struct {
	name string
	need Perm // 0: needs nothing
	do   func(ctx context.Context, s *Session, p string) error
}

// aclOpsFor returns the operations; admin reads the ACL that setACL writes
// back.
func aclOpsFor(admin *Session) []aclOp {
	return []aclOp{
		{"exists", 0, func(ctx context.Context, s *Session, p string) error { _, _, err := s.Exists(ctx, p); return err }},
		{"get", PermRead, func(ctx context.Context, s *Session, p string) error { _, _, err := s.Get(ctx, p); return err }},
		{"getW", PermRead, func(ctx context.Context, s *Session, p string) error { _, _, _, err := s.GetW(ctx, p); return err }},
		{"children", PermRead, func(ctx context.Context, s *Session, p string) error { _, _, err := s.Children(ctx, p); return err }},
		{"getACL", PermRead | PermAdmin, func(ctx context.Context, s *Session, p string) error { _, _, err := s.GetACL(ctx, p); return err }},
		{"set", PermWrite, func(ctx context.Context, s *Session, p string) error {
			_, err := s.Set(ctx, p, []byte("x"), -1)
			return err
		}},
		{"create child", PermCreate, func(ctx context.Context, s *Session, p string) error {
			_, err := s.Create(ctx, p+"/new", nil, Persistent)
			return err
		}},
		{"delete child", PermDelete, func(ctx context.Context, s *Session, p string) error { return s.Delete(ctx, p+"/old", -1) }},
		{"setACL", PermAdmin, func(ctx context.Context, s *Session, p string) error {
			acl, _, err := admin.GetACL(ctx, p)
			if err != nil {
				return err
			}
			_, err = s.SetACL(ctx, p, acl, -1)
			return err
		}},
		{"multi check", PermRead, func(ctx context.Context, s *Session, p string) error {
			_, err := s.Multi(ctx, CheckOp(p, -1))
			return err
		}},
		{"multi create", PermCreate, func(ctx context.Context, s *Session, p string) error {
			_, err := s.Multi(ctx, CreateOp(p+"/m", nil, Persistent))
			return err
		}},
	}
}

// TestPermissionMatrix sets ACLs through member 1 and checks every
// operation through sessions on members 2 and 3, for world, digest, auth
// and ip identities and for every subset of the permission bits.
func TestPermissionMatrix(t *testing.T) {
	tc := newTestCluster(t, 3, func(o *Options) { o.SuperDigest = DigestID("super:admin") })
	ctx := ctxT(t)
	admin := tc.get(1).Session()
	require.NoError(t, admin.AddAuth(ctx, "digest", []byte("super:admin")))
	_, err := admin.Create(ctx, "/acl", nil, Persistent)
	require.NoError(t, err)

	alice, err := tc.get(2).NewSession(ctx, WithClientIP(netip.MustParseAddr("10.1.2.3")))
	require.NoError(t, err)
	require.NoError(t, alice.AddAuth(ctx, "digest", []byte("alice:secret")))
	mallory, err := tc.get(3).NewSession(ctx, WithClientIP(netip.MustParseAddr("192.168.7.7")))
	require.NoError(t, err)
	require.NoError(t, mallory.AddAuth(ctx, "digest", []byte("alice:wrong")))
	// The auth scheme resolves to the creating session's identities: a
	// session on member 1 authenticated as alice creates those nodes.
	aliceOn1, err := tc.get(1).NewSession(ctx)
	require.NoError(t, err)
	require.NoError(t, aliceOn1.AddAuth(ctx, "digest", []byte("alice:secret")))

	aclOps := aclOpsFor(admin)
	type identity struct {
		name    string
		acl     func(p Perm) ACL
		creator *Session
	}
	ids := []identity{
		{"world", func(p Perm) ACL { return ACL{Perms: p, Scheme: "world", ID: "anyone"} }, admin},
		{"digest", func(p Perm) ACL { return DigestACL(p, "alice", "secret") }, admin},
		{"auth", func(p Perm) ACL { return ACL{Perms: p, Scheme: "auth"} }, aliceOn1},
		{"ip", func(p Perm) ACL { return IPACL(p, "10.0.0.0/8") }, admin},
	}
	var subsets []Perm
	for p := Perm(0); p <= PermAll; p++ {
		subsets = append(subsets, p)
	}
	n := 0
	for _, id := range ids {
		for _, perms := range subsets {
			if id.name != "digest" && perms != 0 && perms&(perms-1) != 0 && perms != PermAll {
				continue // single bits, none and all for the other schemes
			}
			p := fmt.Sprintf("/acl/%s-%d", id.name, perms)
			_, err := id.creator.Create(ctx, p, nil, Persistent, OpenACL...)
			require.NoError(t, err)
			_, err = admin.Create(ctx, p+"/old", nil, Persistent)
			require.NoError(t, err)
			_, err = id.creator.SetACL(ctx, p, []ACL{id.acl(perms)}, -1)
			require.NoError(t, err)
			n++
			for _, who := range []struct {
				s       *Session
				granted bool
			}{{alice, true}, {mallory, id.name == "world"}} {
				require.NoError(t, who.s.Sync(ctx, "/"))
				for _, op := range aclOps {
					err := op.do(ctx, who.s, p)
					allowed := op.need == 0 || (who.granted && perms&op.need != 0)
					if allowed {
						assert.NoError(t, err, "%s %s by %s", op.name, p, map[bool]string{true: "alice", false: "mallory"}[who.s == alice])
					} else {
						assert.ErrorIs(t, err, ErrNoAuth, "%s %s", op.name, p)
					}
					// Undo what succeeded so the next op sees the same tree.
					if err == nil {
						switch op.name {
						case "create child":
							require.NoError(t, admin.Delete(ctx, p+"/new", -1))
						case "multi create":
							require.NoError(t, admin.Delete(ctx, p+"/m", -1))
						case "delete child":
							_, err := admin.Create(ctx, p+"/old", nil, Persistent)
							require.NoError(t, err)
						}
					}
				}
			}
		}
	}
	t.Logf("checked %d ACLs x %d operations x 2 sessions", n, len(aclOps))

	// The super user passes every check.
	_, _, err = admin.Get(ctx, "/acl/digest-0")
	require.NoError(t, err)
	// Without ADMIN, getACL hides digests.
	acl, _, err := alice.GetACL(ctx, "/acl/digest-1")
	require.NoError(t, err)
	assert.Equal(t, []ACL{{Perms: PermRead, Scheme: "digest", ID: "alice:x"}}, acl)
	acl, _, err = alice.GetACL(ctx, "/acl/digest-16")
	require.NoError(t, err)
	assert.Equal(t, []ACL{DigestACL(PermAdmin, "alice", "secret")}, acl)
	// An auth ACL is stored as the creator's digest.
	acl, _, err = admin.GetACL(ctx, "/acl/auth-31")
	require.NoError(t, err)
	assert.Equal(t, []ACL{DigestACL(PermAll, "alice", "secret")}, acl)
}

func TestInvalidACLsAreRefused(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	ctx := ctxT(t)
	s := tc.get(1).Session()
	_, err := s.Create(ctx, "/v", nil, Persistent)
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		acl  []ACL
		msg  string
	}{
		{"empty", []ACL{}, "empty ACL"},
		{"unknown scheme", []ACL{{PermAll, "x509", "CN=a"}}, "unknown scheme"},
		{"world id", []ACL{{PermAll, "world", "someone"}}, "anyone"},
		{"malformed digest", []ACL{{PermAll, "digest", "alice"}}, "not user:base64"},
		{"malformed cidr", []ACL{{PermAll, "ip", "10.0.0.0/40"}}, "CIDR"},
		{"bad address", []ACL{{PermAll, "ip", "300.1.1.1"}}, "address"},
		{"perms out of range", []ACL{{64, "world", "anyone"}}, "outside the permission bits"},
		{"auth without identity", []ACL{{PermAll, "auth", ""}}, "no authenticated identity"},
	} {
		_, err := s.SetACL(ctx, "/v", c.acl, -1)
		require.ErrorIs(t, err, ErrInvalidACL, c.name)
		assert.Contains(t, err.Error(), c.msg, c.name)
		if len(c.acl) > 0 {
			_, err = s.Create(ctx, "/v/"+c.name, nil, Persistent, c.acl...)
			require.ErrorIs(t, err, ErrInvalidACL, c.name)
		}
	}
	_, err = s.SetACL(ctx, "/v", ReadACL, 5)
	require.ErrorIs(t, err, ErrBadVersion, "SetACL checks the ACL version")
	st, err := s.SetACL(ctx, "/v", ReadACL, 0)
	require.NoError(t, err)
	assert.Equal(t, int32(1), st.Aversion)
	_, err = s.Set(ctx, "/v", nil, -1)
	require.ErrorIs(t, err, ErrNoAuth)
	require.True(t, errors.Is(s.AddAuth(ctx, "kerberos", []byte("x")), ErrAuthFailed))
}
