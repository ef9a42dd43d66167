package coord

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testCA is a certificate authority that issues member certificates for
// 127.0.0.1 into files.
type testCA struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	dir := t.TempDir()
	ca := &testCA{dir: dir, cert: cert, key: key, file: filepath.Join(dir, "ca.pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

// issue makes a certificate and key for a member and returns their files.
func (ca *testCA) issue(t *testing.T, name string) TLSFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	f := TLSFiles{CAFile: ca.file, CertFile: filepath.Join(ca.dir, name+".pem"), KeyFile: filepath.Join(ca.dir, name+"-key.pem")}
	writePEM(t, f.CertFile, "CERTIFICATE", der)
	writePEM(t, f.KeyFile, "EC PRIVATE KEY", kder)
	return f
}

// TestMutualTLS runs an ensemble whose members authenticate each other with
// certificates from one CA, then shows that members with a certificate from
// another CA, or without TLS, cannot join while the ensemble keeps serving.
func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "coord-test-ca")
	// One certificate for all members, issued once: issuing in the tweak
	// would rewrite the same two files from every options call, racing
	// members that are opening (a key that does not match the certificate).
	memberTLS := ca.issue(t, "member")
	tc := newTestCluster(t, 3, func(o *Options) { o.TLS = memberTLS })
	ctx := ctxT(t)
	s := tc.get(1).Session()
	_, err := s.Create(ctx, "/tls", []byte("secure"), Persistent)
	require.NoError(t, err)
	r := tc.get(3).Session()
	require.NoError(t, r.Sync(ctx, "/"))
	data, _, err := r.Get(ctx, "/tls")
	require.NoError(t, err)
	assert.Equal(t, "secure", string(data))

	rogueCA := newTestCA(t, "rogue-ca")
	for i, c := range []struct {
		name string
		tls  TLSFiles
	}{
		{"certificate from another CA", rogueCA.issue(t, "rogue")},
		{"no TLS at all", TLSFiles{}},
	} {
		id := uint64(4 + i) // a removed member's id cannot come back
		t.Run(c.name, func(t *testing.T) {
			addr := freeAddrs(t, 1)[0]
			require.NoError(t, tc.get(1).AddMember(ctx, id, addr))
			o := tc.options(id)
			o.Members, o.Addr, o.Join, o.TLS = nil, addr, true, c.tls
			octx, cancel := context.WithTimeout(ctx, 3*time.Second)
			rogue, err := Open(octx, o)
			cancel()
			if err == nil {
				rogue.Close()
			}
			require.Error(t, err, "a member the CA did not certify must not join")

			// The ensemble keeps serving with the rogue member listed.
			_, err = s.Set(ctx, "/tls", []byte(c.name), -1)
			require.NoError(t, err)
			require.NoError(t, tc.get(1).RemoveMember(ctx, id))
			members, err := tc.get(2).Members(ctx)
			require.NoError(t, err)
			assert.Len(t, members, 3)
		})
	}
}
