package zkserver

import (
	"time"

	"github.com/coordkit/coord/internal/jute"
)

// counters are a connection's (or the server's) request statistics, with
// ZooKeeper's meanings: latency from the arrival of a request to its reply
// being queued, pings excluded.
type counters struct {
	recv, bytesIn int64 // kept in atomics on live connections
	sent          int64 // packets sent: replies and notifications
	latCount      int64
	latSum        time.Duration
	latMin        time.Duration // -1: none yet
	latMax        time.Duration
	respMin       int64 // reply body sizes, -1: none yet
	respMax       int64
	respLast      int64
}

func (s *counters) reset() {
	*s = counters{latMin: -1, respMin: -1}
}

func (s *counters) latency(d time.Duration) {
	s.latCount++
	s.latSum += d
	if s.latMin < 0 || d < s.latMin {
		s.latMin = d
	}
	s.latMax = max(s.latMax, d)
}

func (s *counters) response(n int) {
	s.respLast = int64(n)
	if s.respMin < 0 || int64(n) < s.respMin {
		s.respMin = int64(n)
	}
	s.respMax = max(s.respMax, int64(n))
}

func (s *counters) add(o *counters) {
	s.recv += o.recv
	s.bytesIn += o.bytesIn
	s.sent += o.sent
	s.latCount += o.latCount
	s.latSum += o.latSum
	if o.latMin >= 0 && (s.latMin < 0 || o.latMin < s.latMin) {
		s.latMin = o.latMin
	}
	s.latMax = max(s.latMax, o.latMax)
	if o.respMin >= 0 && (s.respMin < 0 || o.respMin < s.respMin) {
		s.respMin = o.respMin
	}
	s.respMax = max(s.respMax, o.respMax)
	if o.respLast != 0 {
		s.respLast = o.respLast
	}
}

// ms returns ZooKeeper's latency figures in milliseconds: min and max as
// whole numbers, the average with a fraction.
func (s *counters) ms() (minMs, maxMs int64, avg float64) {
	if s.latCount == 0 {
		return 0, 0, 0
	}
	return s.latMin.Milliseconds(), s.latMax.Milliseconds(),
		float64(s.latSum) / float64(s.latCount) / float64(time.Millisecond)
}

// lastRequest is what cons shows of a connection's last request.
type lastRequest struct {
	op   jute.OpCode
	xid  int32
	zxid int64
	lat  time.Duration
	at   time.Time
}

// Stats are the server's figures, as the four-letter words report them.
type Stats struct {
	Connections  int           // open connections, four-letter ones included
	Outstanding  int64         // requests received and not yet answered
	Received     int64         // packets received
	Sent         int64         // packets sent (replies and notifications)
	BytesIn      int64         // bytes received
	MinLatency   time.Duration // request latency, pings excluded
	AvgLatency   time.Duration
	MaxLatency   time.Duration
	AuthFailures int64 // failed auth requests
	Rejected     int64 // connections refused for exceeding the per-address limit
	Batches      int64 // Raft entries that carried several pipelined writes
	Batched      int64 // writes that went in them
}

// Stats returns the server's figures since it started (or since srst).
func (s *Server) Stats() Stats {
	t := s.snapshot()
	st := Stats{
		Connections: t.conns, Outstanding: t.outstanding,
		Received: t.c.recv, Sent: t.c.sent, BytesIn: t.c.bytesIn,
		MaxLatency:   t.c.latMax,
		AuthFailures: s.authFailed.Load(), Rejected: s.rejected.Load(),
		Batches: s.batches.Load(), Batched: s.batched.Load(),
	}
	if t.c.latCount > 0 {
		st.MinLatency = t.c.latMin
		st.AvgLatency = t.c.latSum / time.Duration(t.c.latCount)
	}
	return st
}

type snapshot struct {
	c           counters
	conns       int
	outstanding int64
}

// snapshot sums the counters of closed connections and of the open ones.
func (s *Server) snapshot() snapshot {
	s.mu.Lock()
	t := snapshot{c: s.totals, conns: len(s.conns)}
	live := s.liveConnsLocked()
	s.mu.Unlock()
	for _, c := range live {
		st, _ := c.out.counters()
		t.c.add(&st)
		t.c.recv += c.recv.Load()
		t.c.bytesIn += c.bytesIn.Load()
		t.outstanding += max(0, c.outstanding.Load())
	}
	return t
}

// resetStats is srst: the server's latency and packet counters start again.
func (s *Server) resetStats() {
	s.mu.Lock()
	s.totals.reset()
	live := s.liveConnsLocked()
	s.mu.Unlock()
	for _, c := range live {
		c.out.resetStats()
		c.recv.Store(0)
		c.bytesIn.Store(0)
	}
}
