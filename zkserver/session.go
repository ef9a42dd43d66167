package zkserver

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
)

// handshake reads the ConnectRequest (or a four-letter word) and opens or
// resumes the session. It returns false when the connection is done.
func (c *conn) handshake() bool {
	srv := c.srv
	c.nc.SetReadDeadline(time.Now().Add(srv.cfg.handshakeTimeout))
	head, err := c.br.Peek(4)
	if err != nil {
		return false
	}
	if w, ok := jute.FourLetterWord(int32(binary.BigEndian.Uint32(head))); ok {
		_, _ = c.br.Discard(4) // cannot fail: Peek just buffered these four bytes
		c.recv.Add(1)
		c.fourLetter(w)
		return false
	}
	frame, err := jute.ReadFrame(c.br, nil, srv.cfg.maxFrame)
	if err != nil {
		srv.log.Debug("no connect request", "remote", c.remote, "err", err)
		return false
	}
	c.recv.Add(1)
	c.bytesIn.Add(int64(len(frame)) + 4)
	var req jute.ConnectRequest
	if err := jute.Unmarshal(frame, &req); err != nil {
		srv.log.Debug("malformed connect request", "remote", c.remote, "err", err)
		return false
	}
	if _, ok := srv.c.Leader(); !ok {
		// Not serving: like a ZooKeeper server without a quorum, let the
		// client try another member.
		return false
	}
	timeout := srv.negotiate(req.TimeOut)
	ctx, cancel := context.WithTimeout(c.ctx, max(timeout, 2*time.Second))
	defer cancel()
	if req.LastZxidSeen > srv.c.LastZxid() {
		// The client has seen a newer state than this member has applied.
		// ZooKeeper refuses it; catch up first, and refuse only if that
		// does not suffice.
		if err := srv.c.Session().Sync(ctx, "/"); err != nil {
			srv.log.Debug("cannot catch up for a client that has seen a newer zxid", "remote", c.remote, "err", err)
		}
		if last := srv.c.LastZxid(); req.LastZxidSeen > last {
			srv.log.Info("refusing a client that has seen a newer zxid", "remote", c.remote,
				"client_zxid", req.LastZxidSeen, "last_zxid", last)
			return false
		}
	}
	sess, err := c.open(ctx, &req, timeout)
	if err != nil {
		if errors.Is(err, coord.ErrSessionExpired) || errors.Is(err, coord.ErrAuthFailed) {
			// ZooKeeper's answer to an expired or unknown session and to a
			// wrong password: timeout 0, session 0, then close.
			srv.log.Debug("refusing session", "remote", c.remote, "session", sidString(req.SessionID), "err", err)
			c.writeNow(&jute.ConnectResponse{Passwd: make([]byte, jute.SessionPasswdLen), OmitReadOnly: req.OmitReadOnly})
			return false
		}
		srv.log.Debug("cannot open session", "remote", c.remote, "err", err)
		return false
	}
	c.out.start(&jute.ConnectResponse{
		TimeOut:      int32(sess.Timeout().Milliseconds()),
		SessionID:    sess.ID(),
		Passwd:       sess.Password(),
		OmitReadOnly: req.OmitReadOnly,
	}, sess.Timeout())
	return true
}

// open opens the session a ConnectRequest asks for with the negotiated
// timeout, or resumes it, and makes c its holder.
func (c *conn) open(ctx context.Context, req *jute.ConnectRequest, timeout time.Duration) (*coord.Session, error) {
	srv := c.srv
	opts := []coord.SessionOption{coord.WithSessionTimeout(timeout), coord.WithWatchFunc(c.onEvent)}
	if c.ip.IsValid() {
		opts = append(opts, coord.WithClientIP(c.ip))
	}
	if req.SessionID != 0 {
		return srv.reattach(ctx, c, req.SessionID, req.Passwd, opts)
	}
	sess, err := srv.c.NewSession(ctx, opts...)
	if err != nil {
		return nil, err
	}
	c.setSession(sess)
	srv.mu.Lock()
	srv.sessions[sess.ID()] = c
	srv.mu.Unlock()
	return sess, nil
}

// setSession makes sess the connection's session.
func (c *conn) setSession(sess *coord.Session) {
	c.sess = sess
	c.attached.Store(sess)
}

// writeNow writes one record frame directly (before the writer runs).
func (c *conn) writeNow(r jute.Record) {
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	// Only refusals are written this way, and the connection closes next:
	// a client that cannot be told is refused all the same.
	_, _ = c.nc.Write(jute.AppendRecordFrame(nil, r))
}

// reattach resumes session id on this member for c. A connection of this
// server that still holds the session is closed first, as ZooKeeper closes
// the old connection of a session that reconnects.
func (s *Server) reattach(ctx context.Context, c *conn, id int64, passwd []byte, opts []coord.SessionOption) (*coord.Session, error) {
	unlock := s.lockSession(id)
	defer unlock()
	s.mu.Lock()
	old := s.sessions[id]
	s.mu.Unlock()
	if old != nil {
		if subtle.ConstantTimeCompare(old.sess.Password(), passwd) != 1 {
			return nil, coord.ErrAuthFailed
		}
		s.mu.Lock()
		delete(s.sessions, id)
		s.mu.Unlock()
		old.kill()
		// Ends the old connection's Session value and its watches; the
		// client sets them again on this connection.
		if err := old.sess.Detach(ctx); err != nil && !errors.Is(err, coord.ErrClosed) {
			s.mu.Lock()
			if s.sessions[id] == nil {
				s.sessions[id] = old
			}
			s.mu.Unlock()
			return nil, err
		}
	}
	sess, err := s.c.AttachSession(ctx, id, passwd, opts...)
	if errors.Is(err, coord.ErrSessionExpired) {
		// This member may not have applied the session's creation yet:
		// catch up with the leader before calling it unknown.
		if serr := s.c.Session().Sync(ctx, "/"); serr == nil {
			sess, err = s.c.AttachSession(ctx, id, passwd, opts...)
		}
	}
	if err != nil {
		return nil, err
	}
	c.setSession(sess)
	s.mu.Lock()
	s.sessions[id] = c
	s.mu.Unlock()
	return sess, nil
}

// release unregisters c as its session's holder, unless another
// connection has taken the session over.
func (s *Server) release(c *conn) {
	s.mu.Lock()
	if id := c.sess.ID(); s.sessions[id] == c {
		delete(s.sessions, id)
	}
	s.mu.Unlock()
}

// holds reports whether c is registered as its session's holder.
func (s *Server) holds(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[c.sess.ID()] == c
}

// detach detaches the session of a connection whose client went away
// without closing it: the session expires after its timeout unless the
// client reconnects, here or to another member. Until the detach commits
// (the member may have lost its quorum) the member keeps renewing the
// session, so it is retried; the connection stays registered as the
// session's meanwhile, so a reconnect here takes over from it.
func (c *conn) detach() {
	sid := sidString(c.sess.ID())
	for {
		unlock := c.srv.lockSession(c.sess.ID())
		if !c.srv.holds(c) {
			unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.sess.Detach(ctx)
		cancel()
		if err == nil || errors.Is(err, coord.ErrClosed) || c.ctx.Err() != nil {
			c.srv.release(c)
			unlock()
			if err != nil && !errors.Is(err, coord.ErrClosed) {
				c.srv.log.Warn("session not detached; this member keeps it alive", "session", sid, "err", err)
			}
			return
		}
		unlock()
		c.srv.log.Info("detaching a session failed; retrying", "session", sid, "err", err)
		select {
		case <-time.After(time.Second):
		case <-c.ctx.Done():
		}
	}
}
