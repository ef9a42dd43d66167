package coord

import (
	"sync"
	"sync/atomic"
)

// sessionHost owns the sessions a member hosts: the Session values of this
// process, by id. It is the state machine's apply observer: each applied
// batch's changes go to the watch registry, and sessions the batch ended
// end here, with their watches. It also moves the hosted sessions between
// Connected and Suspended as the member keeps or loses its quorum.
type sessionHost struct {
	watches   *watchRegistry
	suspended atomic.Bool // the member lost its quorum; new sessions start Suspended

	mu       sync.Mutex
	closed   bool
	sessions map[int64]*Session
}

func newSessionHost(w *watchRegistry) *sessionHost {
	return &sessionHost{watches: w, sessions: make(map[int64]*Session)}
}

var _ applyObserver = (*sessionHost)(nil)

// applied implements applyObserver.
func (h *sessionHost) applied(changes []change, ended []endedSession) {
	h.watches.fire(changes)
	for _, e := range ended {
		st := Closed
		if e.expired {
			st = Expired
		}
		h.end(e.id, st)
	}
}

// recovered implements applyObserver: the state was replaced by a
// snapshot. Watches fire for what they missed, and hosted sessions the
// snapshot no longer has have expired meanwhile.
func (h *sessionHost) recovered(v view) {
	h.watches.recovered(v)
	h.mu.Lock()
	var gone []*Session
	for id, s := range h.sessions {
		if v.session(id) == nil {
			gone = append(gone, s)
			delete(h.sessions, id)
		}
	}
	h.mu.Unlock()
	for _, s := range gone {
		s.end(Expired)
	}
}

// add registers s; it reports false, and hosts nothing, once the member
// has closed.
func (h *sessionHost) add(s *Session) bool {
	if h.suspended.Load() {
		s.state = Suspended
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.sessions[s.id] = s
	return true
}

// lookup returns the hosted Session with id, or nil.
func (h *sessionHost) lookup(id int64) *Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[id]
}

// hosts reports whether a Session value stands for id here.
func (h *sessionHost) hosts(id int64) bool { return h.lookup(id) != nil }

// remove forgets id; the caller ends the Session value.
func (h *sessionHost) remove(id int64) {
	h.mu.Lock()
	delete(h.sessions, id)
	h.mu.Unlock()
}

// end ends session id in state st: an applied entry ended it.
func (h *sessionHost) end(id int64, st SessionState) {
	h.mu.Lock()
	s := h.sessions[id]
	delete(h.sessions, id)
	h.mu.Unlock()
	if s != nil {
		s.end(st)
		return
	}
	err := ErrClosed
	if st == Expired {
		err = ErrSessionExpired
	}
	h.watches.endSession(id, err)
}

// count returns how many sessions are hosted.
func (h *sessionHost) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// list returns the hosted sessions.
func (h *sessionHost) list() []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s)
	}
	return out
}

// setSuspended moves every hosted session to Suspended or back to
// Connected. It reports whether that changed anything.
func (h *sessionHost) setSuspended(suspended bool) bool {
	if h.suspended.Swap(suspended) == suspended {
		return false
	}
	st := Connected
	if suspended {
		st = Suspended
	}
	for _, s := range h.list() {
		s.setState(st)
	}
	return true
}

// close stops hosting new sessions and returns the ids of those hosted, for
// the member to close them.
func (h *sessionHost) close() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	ids := make([]int64, 0, len(h.sessions))
	for id := range h.sessions {
		ids = append(ids, id)
	}
	return ids
}

// isClosed reports whether close was called.
func (h *sessionHost) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// endAll ends every hosted Session value (Closed): the member stopped.
func (h *sessionHost) endAll() {
	h.mu.Lock()
	h.closed = true
	hosted := h.sessions
	h.sessions = make(map[int64]*Session)
	h.mu.Unlock()
	for _, s := range hosted {
		s.end(Closed)
	}
}
