package transport

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Peers records what a member's transport last heard from and sent to each
// peer, so that a member that cannot find its ensemble can say which peers
// it reached. The zero value is ready to use.
type Peers struct {
	mu    sync.Mutex
	peers map[string]*peerRecord
}

type peerRecord struct {
	heard, sent time.Time
	err         error // the last dial or write failure, cleared by a success
	errAt       time.Time
}

// PeerStatus is what is known of one peer address.
type PeerStatus struct {
	Addr  string
	Heard time.Time // the last message batch received from it; zero: never
	Sent  time.Time // the last batch written to it; zero: never
	Err   error     // the last dial or write error since then
}

func (p *Peers) record(addr string) *peerRecord {
	if p.peers == nil {
		p.peers = make(map[string]*peerRecord)
	}
	r := p.peers[addr]
	if r == nil {
		r = &peerRecord{}
		p.peers[addr] = r
	}
	return r
}

func (p *Peers) heard(addr string, at time.Time) {
	if p == nil || addr == "" {
		return
	}
	p.mu.Lock()
	p.record(addr).heard = at
	p.mu.Unlock()
}

func (p *Peers) sent(addr string, at time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	r := p.record(addr)
	r.sent, r.err = at, nil
	p.mu.Unlock()
}

func (p *Peers) failed(addr string, err error, at time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	r := p.record(addr)
	r.err, r.errAt = err, at
	p.mu.Unlock()
}

// Status returns what is known of addr.
func (p *Peers) Status(addr string) PeerStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PeerStatus{Addr: addr}
	if r := p.peers[addr]; r != nil {
		st.Heard, st.Sent, st.Err = r.heard, r.sent, r.err
	}
	return st
}

// Report describes the peers at addrs as of now, one clause each, for an
// error message: "127.0.0.1:7002 heard 15ms ago", "127.0.0.1:7003 never
// heard from (dial tcp ...: connection refused)".
func (p *Peers) Report(addrs []string, now time.Time) string {
	sorted := append([]string(nil), addrs...)
	sort.Strings(sorted)
	var parts []string
	for _, a := range sorted {
		st := p.Status(a)
		var b strings.Builder
		b.WriteString(a)
		if st.Heard.IsZero() {
			b.WriteString(" never heard from")
		} else {
			fmt.Fprintf(&b, " heard %v ago", now.Sub(st.Heard).Round(time.Millisecond))
		}
		if st.Err != nil {
			fmt.Fprintf(&b, " (%v)", st.Err)
		} else if st.Sent.IsZero() {
			b.WriteString(", nothing sent")
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "; ")
}
