package transport

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/config"
	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// endpoint is a transport that records what it receives.
type endpoint struct {
	*Transport
	batches chan pb.MessageBatch
	chunks  chan pb.Chunk
}

func start(t *testing.T, addr string) *endpoint { return startWith(t, addr, nil) }

func startWith(t *testing.T, addr string, peers *Peers) *endpoint {
	t.Helper()
	e := &endpoint{batches: make(chan pb.MessageBatch, 100), chunks: make(chan pb.Chunk, 100)}
	tr := Factory{Peers: peers}.Create(config.NodeHostConfig{RaftAddress: addr},
		func(b pb.MessageBatch) { e.batches <- b },
		func(c pb.Chunk) bool { e.chunks <- c; return true })
	e.Transport = tr.(*Transport)
	require.NoError(t, e.Start())
	t.Cleanup(func() { e.Close() })
	return e
}

// recvT receives one value, failing the test instead of hanging.
func recvT[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10s")
	}
	var zero T
	return zero
}

func batch(term uint64) pb.MessageBatch {
	return pb.MessageBatch{DeploymentId: 7, SourceAddress: "x", Requests: []pb.Message{{Type: pb.Heartbeat, Term: term, ShardID: 1, To: 2, From: 1}}}
}

func TestMessagesFlowAndReconnectQuickly(t *testing.T) {
	a, b := freeAddr(t), freeAddr(t)
	ea := start(t, a)
	eb := start(t, b)
	conn, err := ea.GetConnection(context.Background(), b)
	require.NoError(t, err)
	require.NoError(t, conn.SendMessageBatch(batch(1)))
	got := recvT(t, eb.batches)
	assert.Equal(t, uint64(1), got.Requests[0].Term)
	assert.Equal(t, uint64(7), got.DeploymentId)

	// The peer goes away: sends are dropped without error, so Dragonboat
	// does not put the peer behind its circuit breaker.
	eb.Close()
	for i := 0; i < 5; i++ {
		require.NoError(t, conn.SendMessageBatch(batch(2)))
		time.Sleep(5 * time.Millisecond)
	}
	// It comes back: messages flow again within a few redial intervals.
	eb2 := start(t, b)
	back := time.Now()
	deadline := time.After(2 * time.Second)
	for {
		require.NoError(t, conn.SendMessageBatch(batch(3)))
		select {
		case got := <-eb2.batches:
			assert.Equal(t, uint64(3), got.Requests[0].Term)
			t.Logf("delivered %v after the peer came back", time.Since(back))
			return
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatal("messages did not resume")
		}
	}
}

func TestSnapshotStreamReportsFailure(t *testing.T) {
	a, b := freeAddr(t), freeAddr(t)
	ea := start(t, a)
	_, err := ea.GetSnapshotConnection(context.Background(), b)
	require.Error(t, err, "no peer: the stream must fail")
	eb := start(t, b)
	sc, err := ea.GetSnapshotConnection(context.Background(), b)
	require.NoError(t, err)
	for i := uint64(0); i < 3; i++ {
		require.NoError(t, sc.SendChunk(pb.Chunk{ShardID: 1, ChunkId: i, ChunkCount: 3, Data: []byte{byte(i)}}))
	}
	sc.Close()
	for i := uint64(0); i < 3; i++ {
		c := recvT(t, eb.chunks)
		assert.Equal(t, i, c.ChunkId)
	}
}

func TestGarbageFromTheNetworkIsDropped(t *testing.T) {
	b := freeAddr(t)
	eb := start(t, b)
	for _, junk := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		append(append([]byte{}, magic...), 9),                                                  // unknown stream kind
		append(append(append([]byte{}, magic...), kindMessages), 0xff, 0xff, 0xff, 0xff, 0x7f), // huge frame
		append(append(append([]byte{}, magic...), kindMessages), 3, 1, 2, 3),                   // not a batch
	} {
		c, err := net.Dial("tcp", b)
		require.NoError(t, err)
		c.Write(junk)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 1))
		assert.Error(t, err, "the transport closes the connection")
		c.Close()
	}
	select {
	case got := <-eb.batches:
		t.Fatalf("garbage delivered as %+v", got)
	default:
	}
	// Real messages still flow.
	ea := start(t, freeAddr(t))
	conn, _ := ea.GetConnection(context.Background(), b)
	require.NoError(t, conn.SendMessageBatch(batch(4)))
	assert.Equal(t, uint64(4), recvT(t, eb.batches).Requests[0].Term)
}

func TestPeersRecordWhatWasHeardAndSent(t *testing.T) {
	a, b, gone := freeAddr(t), freeAddr(t), freeAddr(t)
	var peersA, peersB Peers
	ea := startWith(t, a, &peersA)
	eb := startWith(t, b, &peersB)
	conn, err := ea.GetConnection(context.Background(), b)
	require.NoError(t, err)
	m := batch(1)
	m.SourceAddress = a
	require.NoError(t, conn.SendMessageBatch(m))
	select {
	case <-eb.batches:
	case <-time.After(5 * time.Second):
		t.Fatal("no batch")
	}
	assert.False(t, peersA.Status(b).Sent.IsZero())
	assert.False(t, peersB.Status(a).Heard.IsZero())
	dead, err := ea.GetConnection(context.Background(), gone)
	require.NoError(t, err)
	require.NoError(t, dead.SendMessageBatch(m))
	report := peersA.Report([]string{gone}, time.Now())
	assert.Contains(t, report, gone+" never heard from")
	assert.Contains(t, report, "connection refused")
}

// The listen address's IP is where dials come from.
func TestDialsComeFromTheListenAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	src := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			src <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}
	}()
	lnB, err := net.Listen("tcp", "127.0.0.7:0")
	require.NoError(t, err)
	addr := lnB.Addr().String()
	lnB.Close()
	e := start(t, addr)
	conn, err := e.GetConnection(context.Background(), ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, conn.SendMessageBatch(batch(1)))
	select {
	case ip := <-src:
		assert.Equal(t, "127.0.0.7", ip)
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
}
