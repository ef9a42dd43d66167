// Package transport carries Raft messages between members over TCP,
// optionally with mutual TLS, as a Dragonboat transport module.
//
// It differs from Dragonboat's own TCP module in one respect that matters
// to coord: a connection to a peer that is down never reports failure.
// Dragonboat puts a circuit breaker in front of failing peers that keeps
// them unreachable for up to a second after they come back, which would
// delay every restarted member's return by that much. Here a message to an
// unreachable peer is dropped, as Raft allows, and the connection dials
// again on the next message, at most every redialInterval.
//
// Snapshot streams are different: they must arrive whole, so their
// connections report every failure.
package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

const (
	// redialInterval is the shortest time between two dials to one peer.
	redialInterval = 20 * time.Millisecond
	dialTimeout    = time.Second
	writeTimeout   = 5 * time.Second
	// maxFrame bounds one message batch or snapshot chunk.
	maxFrame = 256 << 20
)

// magic starts every connection, followed by a stream kind byte.
var magic = []byte("coordraft1")

const (
	kindMessages byte = 1
	kindChunks   byte = 2
)

// Factory creates the transport for a NodeHost.
type Factory struct {
	// Peers, when set, records what the transport hears from and sends to
	// each peer.
	Peers *Peers
}

// Create implements config.TransportFactory.
func (f Factory) Create(cfg config.NodeHostConfig, h raftio.MessageHandler, ch raftio.ChunkHandler) raftio.ITransport {
	return &Transport{cfg: cfg, handler: h, chunks: ch, peers: f.Peers, conns: make(map[net.Conn]struct{}), stop: make(chan struct{})}
}

// Validate implements config.TransportFactory: addresses are host:port.
func (Factory) Validate(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	return err == nil && host != "" && port != ""
}

// Transport is one member's endpoint.
type Transport struct {
	cfg     config.NodeHostConfig
	handler raftio.MessageHandler
	chunks  raftio.ChunkHandler
	peers   *Peers // nil: not recorded

	ln   net.Listener
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // accepted, to close on Close
	closed bool
}

var _ raftio.ITransport = (*Transport)(nil)

// Name implements raftio.ITransport.
func (t *Transport) Name() string { return "coord-tcp" }

// Start listens for peers.
func (t *Transport) Start() error {
	addr := t.cfg.ListenAddress
	if addr == "" {
		addr = t.cfg.RaftAddress
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if t.cfg.MutualTLS {
		tc, err := t.cfg.GetServerTLSConfig()
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, tc)
	}
	t.ln = ln
	t.wg.Add(1)
	go t.accept()
	return nil
}

// Close stops listening, closes every connection and waits for them.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.stop)
	if t.ln != nil {
		t.ln.Close()
	}
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

func (t *Transport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serve(c)
	}
}

// serve reads one peer connection until it fails.
func (t *Transport) serve(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		c.Close()
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
	}()
	if tc, ok := c.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(dialTimeout))
		if err := tc.Handshake(); err != nil {
			return // not a member this CA vouches for
		}
		tc.SetDeadline(time.Time{})
	}
	r := bufio.NewReaderSize(c, 64<<10)
	head := make([]byte, len(magic)+1)
	if _, err := io.ReadFull(r, head); err != nil || string(head[:len(magic)]) != string(magic) {
		return
	}
	kind := head[len(magic)]
	if kind != kindMessages && kind != kindChunks {
		return
	}
	var buf []byte
	for {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > maxFrame {
			return
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		if kind == kindChunks {
			var chunk pb.Chunk
			if chunk.Unmarshal(buf) != nil || !t.chunks(chunk) {
				return
			}
			continue
		}
		var batch pb.MessageBatch
		if batch.Unmarshal(buf) != nil {
			return
		}
		t.peers.heard(batch.SourceAddress, time.Now())
		t.handler(batch)
	}
}

// dial opens a stream of the given kind to target.
func (t *Transport) dial(ctx context.Context, target string, kind byte) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout, LocalAddr: t.localAddr()}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil && d.LocalAddr != nil {
		d.LocalAddr = nil // the address cannot be bound for this target
		c, err = d.DialContext(ctx, "tcp", target)
	}
	if err != nil {
		return nil, err
	}
	if t.cfg.MutualTLS {
		tc, err := t.cfg.GetClientTLSConfig(target)
		if err != nil {
			c.Close()
			return nil, err
		}
		conn := tls.Client(c, tc)
		conn.SetDeadline(time.Now().Add(dialTimeout))
		if err := conn.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		conn.SetDeadline(time.Time{})
		c = conn
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		tcp.SetNoDelay(true)
	}
	head := append(append([]byte{}, magic...), kind)
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.Write(head); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// localAddr is the address peers' connections come from: the host this
// member listens on, when that is one specific IP. A member on one address
// of a multi-homed host then reaches its peers from that address, which is
// also what lets firewall rules (and tests) cut one member off by address.
func (t *Transport) localAddr() net.Addr {
	addr := t.cfg.ListenAddress
	if addr == "" {
		addr = t.cfg.RaftAddress
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: ip.AsSlice()}
}

// GetConnection returns a connection to target that dials on demand and
// drops messages while the peer cannot be reached.
func (t *Transport) GetConnection(ctx context.Context, target string) (raftio.IConnection, error) {
	return &peer{t: t, target: target}, nil
}

// peer is a message stream to one target.
type peer struct {
	t        *Transport
	target   string
	conn     net.Conn
	w        *bufio.Writer
	lastDial time.Time
	buf      []byte
}

func (p *peer) Close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// SendMessageBatch sends b, or drops it if the peer cannot be reached now.
func (p *peer) SendMessageBatch(b pb.MessageBatch) error {
	select {
	case <-p.t.stop:
		return errors.New("transport: closed")
	default:
	}
	if p.conn == nil {
		if time.Since(p.lastDial) < redialInterval {
			return nil // dropped; Raft sends again
		}
		p.lastDial = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		c, err := p.t.dial(ctx, p.target, kindMessages)
		cancel()
		if err != nil {
			p.t.peers.failed(p.target, err, time.Now())
			return nil
		}
		p.conn, p.w = c, bufio.NewWriterSize(c, 64<<10)
	}
	var err error
	if p.buf, err = appendFrame(p.buf[:0], &b); err != nil {
		return err
	}
	p.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err = p.w.Write(p.buf)
	if err == nil {
		err = p.w.Flush()
	}
	if err == nil {
		p.t.peers.sent(p.target, time.Now())
		return nil
	}
	p.t.peers.failed(p.target, err, time.Now())
	p.Close() // dropped; the next batch dials again
	return nil
}

type marshaler interface {
	Size() int
	MarshalTo([]byte) (int, error)
}

func appendFrame(b []byte, m marshaler) ([]byte, error) {
	n := m.Size()
	if n > maxFrame {
		return b, fmt.Errorf("transport: message of %d bytes exceeds %d", n, maxFrame)
	}
	b = binary.AppendUvarint(b, uint64(n))
	start := len(b)
	b = append(b, make([]byte, n)...)
	if _, err := m.MarshalTo(b[start:]); err != nil {
		return b, err
	}
	return b, nil
}

// GetSnapshotConnection dials a snapshot stream to target; its failures
// are reported.
func (t *Transport) GetSnapshotConnection(ctx context.Context, target string) (raftio.ISnapshotConnection, error) {
	c, err := t.dial(ctx, target, kindChunks)
	if err != nil {
		return nil, err
	}
	return &chunkStream{conn: c, w: bufio.NewWriterSize(c, 256<<10)}, nil
}

type chunkStream struct {
	conn net.Conn
	w    *bufio.Writer
	buf  []byte
}

func (s *chunkStream) Close() {
	s.w.Flush()
	s.conn.Close()
}

func (s *chunkStream) SendChunk(c pb.Chunk) error {
	var err error
	if s.buf, err = appendFrame(s.buf[:0], &c); err != nil {
		return err
	}
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	return s.w.Flush()
}
