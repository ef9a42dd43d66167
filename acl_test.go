package coord

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/wire"
)

// Tests of the pure ACL layer (acl.go). Expected ZooKeeper behaviour comes
// from ZooKeeper 3.8's documentation and source and from /tmp/zkref
// (ZooKeeper 3.8.0 measured on this machine).

func TestDigestID(t *testing.T) {
	// Ids computed by ZooKeeper 3.8's own DigestAuthenticationProvider.
	// generateDigest on this machine (/tmp/zkref/digest.txt, made by
	// /tmp/zkref/run-all.sh with java/Digest.java); alice and bob are also
	// what a ZooKeeper 3.8.0 server stored for an auth ACL after addAuth.
	// super:test is the example in ZooKeeper's Administrator's Guide.
	for in, want := range map[string]string{
		"super:secret":                     "super:lK75jTNcA+U9vtVEw5vB51mj/w4=",
		"alice:alice-pw":                   "alice:SQICbGEP3vUd4FffsXSLZ8/1XtI=",
		"bob:":                             "bob:tK1fpNO1hB0F++FhHpSq0Fa4tv0=",
		"user:pass:word":                   "user:yNMcEO4y6Bgll487yEAxpvnMYoo=",
		"\u00fcn\u00ef:p\u00e4ssw\u00f6rd": "\u00fcn\u00ef:L5pOwU2xJnfnGApvQUuv2R+aCzs=",
		"a:b":                              "a:3OptnM09ILoVSfbZtd3mB0IViII=",
		"super:test":                       "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
	} {
		assert.Equal(t, want, DigestID(in), in)
	}

	// Others computed independently here with ZooKeeper's formula
	// (DigestAuthenticationProvider.generateDigest): the user is the text
	// before the first colon, the digest is SHA-1 over the whole string.
	sum := func(s string) string {
		h := sha1.Sum([]byte(s))
		return base64.StdEncoding.EncodeToString(h[:])
	}
	for in, user := range map[string]string{
		"a:b:c":         "a", // later colons belong to the password
		"nocolon":       "nocolon",
		":pw":           "",
		"":              "",
		"jörg:pässwörd": "jörg",
		"u:":            "u",
		"u::":           "u",
	} {
		assert.Equal(t, user+":"+sum(in), DigestID(in), "%q", in)
	}
	assert.Len(t, DigestID("x:y"), len("x:")+28, "base64 of 20 bytes is 28 characters")
	assert.Equal(t, ACL{Perms: PermRead | PermAdmin, Scheme: "digest", ID: "alice:SQICbGEP3vUd4FffsXSLZ8/1XtI="},
		DigestACL(PermRead|PermAdmin, "alice", "alice-pw"))
}

func TestACLPredefined(t *testing.T) {
	assert.Equal(t, []ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}, OpenACL)
	assert.Equal(t, []ACL{{Perms: 1, Scheme: "world", ID: "anyone"}}, ReadACL)
	assert.Equal(t, []ACL{{Perms: 31, Scheme: "auth", ID: ""}}, CreatorAllACL)
	assert.Equal(t, []ACL{{Perms: PermCreate, Scheme: "world", ID: "anyone"}}, WorldACL(PermCreate))
	assert.Equal(t, ACL{Perms: PermAll, Scheme: "ip", ID: "10.0.0.0/8"}, IPACL(PermAll, "10.0.0.0/8"))
	// ZooKeeper's permission values.
	assert.Equal(t, []Perm{1, 2, 4, 8, 16, 31}, []Perm{PermRead, PermWrite, PermCreate, PermDelete, PermAdmin, PermAll})
}

func TestACLPermString(t *testing.T) {
	for p, s := range map[Perm]string{
		0: "none", PermRead: "r", PermWrite: "w", PermCreate: "c", PermDelete: "d", PermAdmin: "a",
		PermAll: "cdrwa", PermRead | PermWrite: "rw", PermCreate | PermAdmin: "ca",
		0x20: "+0x20", PermRead | 0x40: "r+0x40", -1: "cdrwa+0x-20",
	} {
		assert.Equal(t, s, p.String(), "%d", int32(p))
	}
	assert.Equal(t, "world:anyone:cdrwa", OpenACL[0].String())
	assert.Equal(t, "digest:u:x:r", ACL{Perms: PermRead, Scheme: "digest", ID: "u:x"}.String())
}

func TestACLToWire(t *testing.T) {
	alice := wire.AuthID{Scheme: "digest", ID: "alice:SQICbGEP3vUd4FffsXSLZ8/1XtI="}
	bob := wire.AuthID{Scheme: "digest", ID: "bob:tK1fpNO1hB0F++FhHpSq0Fa4tv0="}
	ip := wire.AuthID{Scheme: "ip", ID: "127.0.0.1"}
	world := func(p Perm) ACL { return ACL{Perms: p, Scheme: "world", ID: "anyone"} }
	wworld := func(p int32) wire.ACL { return wire.ACL{Perms: p, Scheme: "world", ID: "anyone"} }
	digest := func(p Perm, id string) ACL { return ACL{Perms: p, Scheme: "digest", ID: id} }
	ipACL := func(id string) ACL { return ACL{Perms: PermAll, Scheme: "ip", ID: id} }
	auth := ACL{Perms: PermAll, Scheme: "auth"}

	valid := []struct {
		name string
		acl  []ACL
		ids  []wire.AuthID
		want []wire.ACL
	}{
		{"world anyone", OpenACL, nil, []wire.ACL{wworld(31)}},
		{"world perms 0", []ACL{world(0)}, nil, []wire.ACL{wworld(0)}},
		{"each perm bit", []ACL{world(1), world(2), world(4), world(8), world(16)}, nil,
			[]wire.ACL{wworld(1), wworld(2), wworld(4), wworld(8), wworld(16)}},
		{"duplicates removed", []ACL{world(31), world(31)}, nil, []wire.ACL{wworld(31)}},
		{"same id, different perms kept", []ACL{world(1), world(2)}, nil, []wire.ACL{wworld(1), wworld(2)}},
		{"digest", []ACL{digest(PermRead, alice.ID)}, nil, []wire.ACL{{Perms: 1, Scheme: "digest", ID: alice.ID}}},
		{"digest user with odd characters", []ACL{digest(PermRead, "j ö@x:"+alice.ID[6:])}, nil,
			[]wire.ACL{{Perms: 1, Scheme: "digest", ID: "j ö@x:" + alice.ID[6:]}}},
		{"ip address", []ACL{ipACL("127.0.0.1")}, nil, []wire.ACL{{Perms: 31, Scheme: "ip", ID: "127.0.0.1"}}},
		{"ip /32", []ACL{ipACL("127.0.0.1/32")}, nil, []wire.ACL{{Perms: 31, Scheme: "ip", ID: "127.0.0.1/32"}}},
		{"ip /8", []ACL{ipACL("10.0.0.0/8")}, nil, []wire.ACL{{Perms: 31, Scheme: "ip", ID: "10.0.0.0/8"}}},
		{"ip /0", []ACL{ipACL("10.0.0.0/0")}, nil, []wire.ACL{{Perms: 31, Scheme: "ip", ID: "10.0.0.0/0"}}},
		{"ip range stored as written", []ACL{ipACL("10.1.2.3/8")}, nil, []wire.ACL{{Perms: 31, Scheme: "ip", ID: "10.1.2.3/8"}}},
		// ZooKeeper 3.8.0 refuses IPv6 ip ids (measured: "ip:::1",
		// "ip:2001:db8::/32" InvalidACL); coord accepts them.
		{"IPv6 address", []ACL{ipACL("::1")}, nil, []wire.ACL{{Perms: 31, Scheme: "ip", ID: "::1"}}},
		{"IPv6 range", []ACL{ipACL("2001:db8::/32")}, nil, []wire.ACL{{Perms: 31, Scheme: "ip", ID: "2001:db8::/32"}}},
		{"IPv4-mapped IPv6", []ACL{ipACL("::ffff:10.0.0.1")}, nil, []wire.ACL{{Perms: 31, Scheme: "ip", ID: "::ffff:10.0.0.1"}}},
		{"auth: the session's digest ids", []ACL{auth}, []wire.AuthID{ip, alice, bob, superID},
			[]wire.ACL{{Perms: 31, Scheme: "digest", ID: alice.ID}, {Perms: 31, Scheme: "digest", ID: bob.ID}}},
		{"auth keeps its perms, ignores its id", []ACL{{Perms: PermRead | PermCreate, Scheme: "auth", ID: "bob"}}, []wire.AuthID{alice},
			[]wire.ACL{{Perms: 5, Scheme: "digest", ID: alice.ID}}},
		{"auth and world", []ACL{auth, world(PermRead)}, []wire.AuthID{alice},
			[]wire.ACL{{Perms: 31, Scheme: "digest", ID: alice.ID}, wworld(1)}},
		{"auth twice and explicit digest: one entry", []ACL{auth, digest(PermAll, alice.ID), auth}, []wire.AuthID{alice, alice},
			[]wire.ACL{{Perms: 31, Scheme: "digest", ID: alice.ID}}},
	}
	for _, c := range valid {
		got, err := toWireACL(c.acl, c.ids)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, got, c.name)
	}

	invalid := []struct {
		name string
		acl  []ACL
		ids  []wire.AuthID
		msg  string
	}{
		{"nil list", nil, nil, "empty ACL list"},
		{"empty list", []ACL{}, []wire.AuthID{alice}, "empty ACL list"},
		{"unknown scheme", []ACL{{Perms: 31, Scheme: "foo", ID: "bar"}}, nil, `unknown scheme "foo"`},
		{"scheme case matters", []ACL{{Perms: 31, Scheme: "WORLD", ID: "anyone"}}, nil, "unknown scheme"},
		{"sasl", []ACL{{Perms: 31, Scheme: "sasl", ID: "foo"}}, nil, "unknown scheme"},
		{"x509", []ACL{{Perms: 31, Scheme: "x509", ID: "CN=foo"}}, nil, "unknown scheme"},
		{"empty scheme", []ACL{{Perms: 31}}, nil, "unknown scheme"},
		{"world someone", []ACL{{Perms: 31, Scheme: "world", ID: "someone"}}, nil, `"anyone", not "someone"`},
		{"world empty id", []ACL{{Perms: 31, Scheme: "world"}}, nil, "anyone"},
		{"world Anyone", []ACL{{Perms: 31, Scheme: "world", ID: "Anyone"}}, nil, "anyone"},
		{"digest without colon", []ACL{digest(31, "alice")}, nil, "not user:base64(sha1)"},
		{"digest empty hash", []ACL{digest(31, "alice:")}, nil, "not user:base64(sha1)"},
		// ZooKeeper 3.8.0 accepts these two (its isValid only splits on
		// colons); coord insists on a real SHA-1 digest and a user.
		{"digest not base64", []ACL{digest(31, "alice:notbase64!!")}, nil, "not user:base64(sha1)"},
		{"digest empty user", []ACL{digest(31, ":"+alice.ID[6:])}, nil, "not user:base64(sha1)"},
		{"digest three parts", []ACL{digest(31, "a:b:c")}, nil, "not user:base64(sha1)"},
		{"digest hash of the wrong size", []ACL{digest(31, "u:"+base64.StdEncoding.EncodeToString(make([]byte, 19)))}, nil, "not user:base64(sha1)"},
		{"digest hash unpadded", []ACL{digest(31, alice.ID[:len(alice.ID)-1])}, nil, "not user:base64(sha1)"},
		{"ip /33", []ACL{ipACL("127.0.0.1/33")}, nil, "malformed CIDR"},
		{"ip /-1", []ACL{ipACL("127.0.0.1/-1")}, nil, "malformed CIDR"},
		{"ip trailing slash", []ACL{ipACL("127.0.0.1/")}, nil, "malformed CIDR"},
		{"ip /x", []ACL{ipACL("127.0.0.1/x")}, nil, "malformed CIDR"},
		{"ip 300.1.1.1", []ACL{ipACL("300.1.1.1")}, nil, "malformed address"},
		{"ip three octets", []ACL{ipACL("1.2.3")}, nil, "malformed address"},
		{"ip name", []ACL{ipACL("localhost")}, nil, "malformed address"},
		{"ip garbage", []ACL{ipACL("not-an-ip")}, nil, "malformed address"},
		{"ip empty", []ACL{ipACL("")}, nil, "malformed address"},
		{"ip IPv6 /129", []ACL{ipACL("2001:db8::/129")}, nil, "malformed CIDR"},
		{"perms 32", []ACL{world(32)}, nil, "outside the permission bits"},
		{"perms 63", []ACL{world(63)}, nil, "outside the permission bits"},
		{"perms -1", []ACL{world(-1)}, nil, "outside the permission bits"},
		{"auth without any identity", []ACL{auth}, nil, "no authenticated identity"},
		{"auth with only an ip identity", []ACL{auth}, []wire.AuthID{ip}, "no authenticated identity"},
		{"auth with only the super identity", []ACL{auth}, []wire.AuthID{superID}, "no authenticated identity"},
		{"auth and world without identity", []ACL{auth, world(31)}, nil, "no authenticated identity"},
		{"super", []ACL{{Perms: 31, Scheme: "super", ID: "x"}}, []wire.AuthID{superID}, "super identity"},
		{"super empty id", []ACL{{Perms: 31, Scheme: "super"}}, nil, "super identity"},
		{"valid world, invalid ip", []ACL{world(31), ipACL("300.1.1.1")}, nil, "ip id"},
		{"bad perms after a valid entry", []ACL{world(31), digest(64, alice.ID)}, nil, "outside the permission bits"},
	}
	for _, c := range invalid {
		got, err := toWireACL(c.acl, c.ids)
		require.ErrorIs(t, err, ErrInvalidACL, c.name)
		assert.Nil(t, got, c.name)
		assert.Contains(t, err.Error(), c.msg, c.name)
	}
}

func TestACLFromWire(t *testing.T) {
	w := []wire.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}, {Perms: 1, Scheme: "ip", ID: "10.0.0.0/8"}}
	assert.Equal(t, []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}, {Perms: PermRead, Scheme: "ip", ID: "10.0.0.0/8"}}, fromWireACL(w))
	assert.Equal(t, []ACL{}, fromWireACL(nil))
}

var allPerms = []Perm{PermRead, PermWrite, PermCreate, PermDelete, PermAdmin}

func TestAllowedPermBits(t *testing.T) {
	// For each single-permission ACL, exactly that permission is granted.
	for _, granted := range allPerms {
		acl := []wire.ACL{{Perms: int32(granted), Scheme: "world", ID: "anyone"}}
		for _, asked := range allPerms {
			assert.Equal(t, granted == asked, allowed(acl, asked, nil), "ACL %v, asking %v", granted, asked)
		}
	}
	for _, asked := range allPerms {
		assert.True(t, allowed([]wire.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}, asked, nil), "%v", asked)
		assert.False(t, allowed([]wire.ACL{{Perms: 0, Scheme: "world", ID: "anyone"}}, asked, nil), "%v", asked)
		assert.False(t, allowed([]wire.ACL{{Perms: int32(PermAll &^ asked), Scheme: "world", ID: "anyone"}}, asked, nil), "%v", asked)
		// An empty ACL allows everything, as in ZooKeeper.
		assert.True(t, allowed(nil, asked, nil), "%v", asked)
		assert.True(t, allowed([]wire.ACL{}, asked, nil), "%v", asked)
	}
}

func TestAllowedMatrix(t *testing.T) {
	alice := wire.AuthID{Scheme: "digest", ID: DigestID("alice:alice-pw")}
	bob := wire.AuthID{Scheme: "digest", ID: DigestID("bob:pw")}
	ipID := func(a string) wire.AuthID { return wire.AuthID{Scheme: "ip", ID: a} }
	acl := func(scheme, id string, p Perm) []wire.ACL {
		return []wire.ACL{{Perms: int32(p), Scheme: scheme, ID: id}}
	}
	cases := []struct {
		name string
		acl  []wire.ACL
		ids  []wire.AuthID
		want bool
	}{
		{"world, no ids", acl("world", "anyone", PermAll), nil, true},
		{"world with another id is nobody", acl("world", "someone", PermAll), []wire.AuthID{{Scheme: "world", ID: "someone"}}, false},
		{"digest, right id", acl("digest", alice.ID, PermAll), []wire.AuthID{alice}, true},
		{"digest, among several ids", acl("digest", alice.ID, PermAll), []wire.AuthID{ipID("127.0.0.1"), bob, alice}, true},
		{"digest, wrong id", acl("digest", alice.ID, PermAll), []wire.AuthID{bob}, false},
		{"digest, no ids", acl("digest", alice.ID, PermAll), nil, false},
		{"digest id under another scheme", acl("digest", alice.ID, PermAll), []wire.AuthID{{Scheme: "ip", ID: alice.ID}}, false},
		{"digest, id differs in case", acl("digest", alice.ID, PermAll), []wire.AuthID{{Scheme: "digest", ID: "Alice" + alice.ID[5:]}}, false},
		{"ip exact", acl("ip", "127.0.0.1", PermAll), []wire.AuthID{ipID("127.0.0.1")}, true},
		{"ip exact, other address", acl("ip", "127.0.0.1", PermAll), []wire.AuthID{ipID("127.0.0.2")}, false},
		{"ip /32", acl("ip", "127.0.0.1/32", PermAll), []wire.AuthID{ipID("127.0.0.1")}, true},
		{"ip /8 inside", acl("ip", "10.0.0.0/8", PermAll), []wire.AuthID{ipID("10.255.1.2")}, true},
		{"ip /8 outside", acl("ip", "10.0.0.0/8", PermAll), []wire.AuthID{ipID("11.0.0.1")}, false},
		{"ip /8 written unmasked", acl("ip", "10.1.2.3/8", PermAll), []wire.AuthID{ipID("10.200.0.1")}, true},
		{"ip /0 matches every IPv4", acl("ip", "10.0.0.0/0", PermAll), []wire.AuthID{ipID("192.168.1.1")}, true},
		{"ip /0 does not match IPv6", acl("ip", "0.0.0.0/0", PermAll), []wire.AuthID{ipID("::1")}, false},
		{"ip /24 boundary", acl("ip", "192.168.1.0/24", PermAll), []wire.AuthID{ipID("192.168.2.0")}, false},
		{"IPv4-mapped client in IPv4 range", acl("ip", "10.0.0.0/8", PermAll), []wire.AuthID{ipID("::ffff:10.1.2.3")}, true},
		{"IPv4-mapped client, exact address", acl("ip", "127.0.0.1", PermAll), []wire.AuthID{ipID("::ffff:127.0.0.1")}, true},
		{"IPv6 exact", acl("ip", "::1", PermAll), []wire.AuthID{ipID("::1")}, true},
		{"IPv6 range inside", acl("ip", "2001:db8::/32", PermAll), []wire.AuthID{ipID("2001:db8:1::5")}, true},
		{"IPv6 range outside", acl("ip", "2001:db8::/32", PermAll), []wire.AuthID{ipID("2001:db9::1")}, false},
		{"IPv6 range, IPv4 client", acl("ip", "::/0", PermAll), []wire.AuthID{ipID("10.0.0.1")}, false},
		{"ip range, digest id with an address", acl("ip", "10.0.0.0/8", PermAll), []wire.AuthID{{Scheme: "digest", ID: "10.0.0.1"}}, false},
		{"ip, malformed client address", acl("ip", "10.0.0.0/8", PermAll), []wire.AuthID{ipID("not-an-ip")}, false},
		{"ip, malformed stored range is skipped", append(acl("ip", "garbage", PermAll), acl("ip", "10.0.0.0/8", PermAll)...),
			[]wire.AuthID{ipID("10.0.0.1")}, true},
		{"ip, malformed stored range alone", acl("ip", "garbage", PermAll), []wire.AuthID{ipID("10.0.0.1")}, false},
		{"ip, right address but no such perm", acl("ip", "10.0.0.0/8", PermAll&^PermRead), []wire.AuthID{ipID("10.0.0.1")}, false},
		{"second entry matches", append(acl("digest", bob.ID, PermAll), acl("digest", alice.ID, PermRead)...), []wire.AuthID{alice}, true},
		{"matching id without the perm, other entry with perm for someone else",
			append(acl("digest", alice.ID, PermWrite), acl("digest", bob.ID, PermRead)...), []wire.AuthID{alice}, false},
		{"super passes perms 0", acl("world", "anyone", 0), []wire.AuthID{superID}, true},
		{"super passes a digest ACL", acl("digest", alice.ID, PermAll), []wire.AuthID{bob, superID}, true},
		{"super is only {super, \"\"}", acl("digest", alice.ID, PermAll), []wire.AuthID{{Scheme: "super", ID: "x"}}, false},
		{"digest id super:... is not super", acl("world", "anyone", 0), []wire.AuthID{{Scheme: "digest", ID: DigestID("super:test")}}, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, allowed(c.acl, PermRead, c.ids), c.name)
	}

	// Every permission bit against digest and ip entries that grant one.
	for _, granted := range allPerms {
		for _, asked := range allPerms {
			want := granted == asked
			assert.Equal(t, want, allowed(acl("digest", alice.ID, granted), asked, []wire.AuthID{alice}), "digest %v asking %v", granted, asked)
			assert.Equal(t, want, allowed(acl("ip", "10.0.0.0/8", granted), asked, []wire.AuthID{ipID("10.0.0.1")}), "ip %v asking %v", granted, asked)
			assert.True(t, allowed(acl("digest", alice.ID, granted), asked, []wire.AuthID{superID}), "super %v asking %v", granted, asked)
		}
	}
}

func TestAllowedMappedIPv6Range(t *testing.T) {
	// allowed unmaps the client's address but not the stored range, so an
	// ACL written in IPv4-mapped form never matches.
	t.Skip("open question: ip:::ffff:10.0.0.0/104 does not match client 10.0.0.1 (ZooKeeper 3.8 refuses IPv6 ids altogether)")
	acl := []wire.ACL{{Perms: 31, Scheme: "ip", ID: "::ffff:10.0.0.0/104"}}
	assert.True(t, allowed(acl, PermRead, []wire.AuthID{{Scheme: "ip", ID: "10.0.0.1"}}))
}

func TestAuthIdentity(t *testing.T) {
	const superDigest = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=" // super:test
	alice := wire.AuthID{Scheme: "digest", ID: "alice:SQICbGEP3vUd4FffsXSLZ8/1XtI="}
	for _, c := range []struct {
		name   string
		scheme string
		cred   string
		super  string
		want   []wire.AuthID
	}{
		{"digest", "digest", "alice:alice-pw", "", []wire.AuthID{alice}},
		{"digest with a super digest configured", "digest", "alice:alice-pw", superDigest, []wire.AuthID{alice}},
		{"super", "digest", "super:test", superDigest, []wire.AuthID{{Scheme: "digest", ID: superDigest}, superID}},
		{"super without a super digest", "digest", "super:test", "", []wire.AuthID{{Scheme: "digest", ID: superDigest}}},
		{"super, wrong password", "digest", "super:tesT", superDigest, []wire.AuthID{{Scheme: "digest", ID: DigestID("super:tesT")}}},
		{"empty password", "digest", "bob:", "", []wire.AuthID{{Scheme: "digest", ID: "bob:tK1fpNO1hB0F++FhHpSq0Fa4tv0="}}},
		{"password with colons", "digest", "a:b:c", "", []wire.AuthID{{Scheme: "digest", ID: DigestID("a:b:c")}}},
		{"empty user", "digest", ":pw", "", []wire.AuthID{{Scheme: "digest", ID: DigestID(":pw")}}},
	} {
		got, err := authIdentity(c.scheme, []byte(c.cred), c.super)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, got, c.name)
	}

	for _, c := range []struct {
		name   string
		scheme string
		cred   string
		msg    string
	}{
		{"ip", "ip", "10.1.1.1", "come from the connection"},
		{"unknown scheme", "foo", "bar", `unknown auth scheme "foo"`},
		{"scheme case matters", "Digest", "alice:alice-pw", "unknown auth scheme"},
		{"empty scheme", "", "x:y", "unknown auth scheme"},
		{"world", "world", "anyone", "unknown auth scheme"},
		{"super", "super", "test", "unknown auth scheme"},
		{"auth", "auth", "", "unknown auth scheme"},
	} {
		got, err := authIdentity(c.scheme, []byte(c.cred), superDigest)
		require.ErrorIs(t, err, ErrAuthFailed, c.name)
		assert.Nil(t, got, c.name)
		assert.Contains(t, err.Error(), c.msg, c.name)
		assert.Equal(t, int32(-115), ErrorCode(err), c.name)
	}
}

func TestAuthIdentityDigestWithoutColon(t *testing.T) {
	// ZooKeeper's DigestAuthenticationProvider accepts credentials without
	// a colon (generateDigest("nocolon") = "nocolon:" + base64(sha1));
	// measured on 3.8.0: addAuth digest "nocolon" -> OK, whoAmI
	// [{digest nocolon}]. ZooKeeper also answers addAuth("ip", ...) with
	// OK and adds nothing, where coord fails with ErrAuthFailed (which on
	// ZooKeeper closes the session).
	got, err := authIdentity("digest", []byte("nocolon"), "")
	require.NoError(t, err)
	assert.Equal(t, []wire.AuthID{{Scheme: "digest", ID: DigestID("nocolon")}}, got)
}

func TestACLErrorsWrapSentinels(t *testing.T) {
	_, err := toWireACL(nil, nil)
	require.True(t, errors.Is(err, ErrInvalidACL))
	assert.Equal(t, int32(-114), ErrorCode(err))
	assert.Equal(t, fmt.Sprintf("%v: empty ACL list", ErrInvalidACL), err.Error())
}
