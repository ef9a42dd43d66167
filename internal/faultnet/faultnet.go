// Package faultnet is an in-process Raft transport for tests that can cut
// links between members: partitions, isolated members, one-way loss. All
// members of one Network run in one process; messages are marshalled and
// delivered in order per connection, as over TCP.
package faultnet

import (
	"context"
	"errors"
	"sync"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// ErrUnreachable is returned when a link is cut or the target is down.
var ErrUnreachable = errors.New("faultnet: unreachable")

// Network connects the transports created by its Factory.
type Network struct {
	mu        sync.Mutex
	endpoints map[string]*transport
	cut       map[[2]string]bool // from -> to links that drop everything
}

// New returns a network where every link works.
func New() *Network {
	return &Network{endpoints: make(map[string]*transport), cut: make(map[[2]string]bool)}
}

// Factory returns the Dragonboat transport factory of the network.
func (n *Network) Factory() config.TransportFactory { return factory{n} }

// Cut drops every message from one address to another (one way).
func (n *Network) Cut(from, to string) {
	n.mu.Lock()
	n.cut[[2]string{from, to}] = true
	n.mu.Unlock()
	n.breakConns(from, to)
}

// Isolate cuts every link to and from addr.
func (n *Network) Isolate(addr string) {
	n.mu.Lock()
	var peers []string
	for a := range n.endpoints {
		if a != addr {
			peers = append(peers, a)
		}
	}
	n.mu.Unlock()
	for _, p := range peers {
		n.Cut(addr, p)
		n.Cut(p, addr)
	}
}

// Partition splits the network: members in different groups cannot talk.
// Members not named in any group are cut off from everyone.
func (n *Network) Partition(groups ...[]string) {
	group := make(map[string]int)
	for i, g := range groups {
		for _, a := range g {
			group[a] = i + 1
		}
	}
	n.mu.Lock()
	var all []string
	for a := range n.endpoints {
		all = append(all, a)
	}
	n.mu.Unlock()
	for _, a := range all {
		for _, b := range all {
			if a != b && (group[a] == 0 || group[a] != group[b]) {
				n.Cut(a, b)
			}
		}
	}
}

// Heal restores every link.
func (n *Network) Heal() {
	n.mu.Lock()
	n.cut = make(map[[2]string]bool)
	n.mu.Unlock()
}

func (n *Network) reachable(from, to string) (*transport, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut[[2]string{from, to}] {
		return nil, false
	}
	t, ok := n.endpoints[to]
	return t, ok
}

// breakConns closes open connections from one address to another so that
// senders notice at once, as with a reset TCP connection.
func (n *Network) breakConns(from, to string) {
	n.mu.Lock()
	t := n.endpoints[to]
	n.mu.Unlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		if c.from == from {
			c.breakOnce()
		}
	}
}

type factory struct{ n *Network }

func (f factory) Create(cfg config.NodeHostConfig, h raftio.MessageHandler, ch raftio.ChunkHandler) raftio.ITransport {
	return &transport{n: f.n, addr: cfg.RaftAddress, handler: h, chunks: ch, conns: make(map[*conn]struct{})}
}

func (f factory) Validate(addr string) bool { return addr != "" }

type transport struct {
	n       *Network
	addr    string
	handler raftio.MessageHandler
	chunks  raftio.ChunkHandler

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (t *transport) Name() string { return "faultnet" }

func (t *transport) Start() error {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	t.n.endpoints[t.addr] = t
	return nil
}

func (t *transport) Close() error {
	t.n.mu.Lock()
	if t.n.endpoints[t.addr] == t {
		delete(t.n.endpoints, t.addr)
	}
	t.n.mu.Unlock()
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		c.breakOnce()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

// conn is one connection from a sender to this transport.
type conn struct {
	from     string
	to       *transport
	data     chan []byte
	snapshot bool
	broken   chan struct{} // closed when the link fails: drop what is queued
	done     chan struct{} // closed when the sender is done: deliver what is queued
	breakO   sync.Once
	doneO    sync.Once
}

func (c *conn) breakOnce() { c.breakO.Do(func() { close(c.broken) }) }
func (c *conn) closeSend() { c.doneO.Do(func() { close(c.done) }) }

func (t *transport) dial(to string, snapshot bool) (*conn, error) {
	dst, ok := t.n.reachable(t.addr, to)
	if !ok {
		return nil, ErrUnreachable
	}
	c := &conn{from: t.addr, to: dst, data: make(chan []byte, 64), snapshot: snapshot,
		broken: make(chan struct{}), done: make(chan struct{})}
	dst.mu.Lock()
	if dst.closed {
		dst.mu.Unlock()
		return nil, ErrUnreachable
	}
	dst.conns[c] = struct{}{}
	dst.wg.Add(1)
	dst.mu.Unlock()
	go dst.serve(c)
	return c, nil
}

func (t *transport) serve(c *conn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
	}()
	for {
		select {
		case <-c.broken:
			return
		case b := <-c.data:
			if !t.deliver(c, b) {
				return
			}
		case <-c.done:
			for {
				select {
				case b := <-c.data:
					if !t.deliver(c, b) {
						return
					}
				default:
					return
				}
			}
		}
	}
}

// deliver hands one message or chunk to Dragonboat; false ends the
// connection.
func (t *transport) deliver(c *conn, b []byte) bool {
	if _, ok := t.n.reachable(c.from, t.addr); !ok {
		c.breakOnce()
		return false
	}
	if c.snapshot {
		var chunk pb.Chunk
		if chunk.Unmarshal(b) != nil || !t.chunks(chunk) {
			c.breakOnce()
			return false
		}
		return true
	}
	var batch pb.MessageBatch
	if batch.Unmarshal(b) != nil {
		c.breakOnce()
		return false
	}
	t.handler(batch)
	return true
}

func (c *conn) send(b []byte) error {
	if _, ok := c.to.n.reachable(c.from, c.to.addr); !ok {
		c.breakOnce()
		return ErrUnreachable
	}
	select {
	case <-c.broken:
		return ErrUnreachable
	case <-c.done:
		return ErrUnreachable
	case c.data <- b:
		return nil
	}
}

func (t *transport) GetConnection(ctx context.Context, target string) (raftio.IConnection, error) {
	c, err := t.dial(target, false)
	if err != nil {
		return nil, err
	}
	return msgConn{c}, nil
}

func (t *transport) GetSnapshotConnection(ctx context.Context, target string) (raftio.ISnapshotConnection, error) {
	c, err := t.dial(target, true)
	if err != nil {
		return nil, err
	}
	return chunkConn{c}, nil
}

type msgConn struct{ c *conn }

func (m msgConn) Close() { m.c.closeSend() }
func (m msgConn) SendMessageBatch(b pb.MessageBatch) error {
	data, err := b.Marshal()
	if err != nil {
		return err
	}
	return m.c.send(data)
}

type chunkConn struct{ c *conn }

func (s chunkConn) Close() { s.c.closeSend() }

func (s chunkConn) SendChunk(ch pb.Chunk) error {
	data, err := ch.Marshal()
	if err != nil {
		return err
	}
	return s.c.send(data)
}
