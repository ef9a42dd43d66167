package logdb

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunk encodes one full-record chunk of tan's format.
func chunk(payload []byte) []byte {
	c := make([]byte, tanHeaderSize, tanHeaderSize+len(payload))
	binary.LittleEndian.PutUint16(c[4:6], uint16(len(payload)))
	c[6] = tanFull
	c = append(c, payload...)
	binary.LittleEndian.PutUint32(c[0:4], uint32(xxhash.Sum64(c[6:])))
	return c
}

func TestTornTailIsZeroedAndOnlyIt(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	good := append(chunk([]byte("one")), chunk([]byte("two"))...)
	torn := chunk([]byte("three, half of it lost"))
	clear(torn[tanHeaderSize+5:]) // the size reached the disk, the data did not

	p := write("000001.log", append(append(append([]byte(nil), good...), torn...), make([]byte, 100)...))
	repaired, err := repairTornTails(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{p}, repaired)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, good, b[:len(good)])
	assert.Equal(t, make([]byte, len(b)-len(good)), b[len(good):], "the torn record is zeroed")

	// Damage followed by good records is not a torn write: left for tan.
	mid := append(append(append([]byte(nil), torn...), good...), make([]byte, 10)...)
	q := write("000002.log", mid)
	ok, err := repairTornTail(q)
	require.NoError(t, err)
	assert.False(t, ok)
	// A log that has its index is complete: not touched.
	r := write("000003.log", append(append([]byte(nil), good...), torn...))
	write("000003.index", nil)
	repaired, err = repairTornTails(dir)
	require.NoError(t, err)
	assert.NotContains(t, repaired, r)
}
