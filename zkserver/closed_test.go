package zkserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/jute"
)

// TestMemberClosedUnderServer: the application closes its member while the
// server still runs. Clients are disconnected and new ones refused; nothing
// panics, and the server stops cleanly afterwards.
func TestMemberClosedUnderServer(t *testing.T) {
	e := newEnsemble(t, 1)
	m := e.member(1)
	r := dialRaw(t, m.addr, 4000)
	require.Equal(t, jute.CodeOK, r.call(jute.OpExists, &jute.ExistsRequest{Path: "/", Watch: true}, nil))
	require.NoError(t, m.c.Close())
	assert.True(t, r.closed(5*time.Second), "connection kept after the member closed")
	_, resp, err := tryRaw(t, m.addr, jute.ConnectRequest{TimeOut: 4000, Passwd: make([]byte, 16)})
	assert.True(t, err != nil || resp.SessionID == 0, "session opened on a closed member")
	for _, w := range []string{"ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "isro", "envi"} {
		fourLetter(t, m.addr, w)
	}
}
