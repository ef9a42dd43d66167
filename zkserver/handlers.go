package zkserver

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
)

func ok(body jute.Record) result { return result{body: body} }

func fail(code jute.ErrCode) result { return result{code: code} }

// failure turns an error from coord into ZooKeeper's answer. A write whose
// outcome is unknown (no quorum before the deadline, member closing) is not
// answered: the connection closes and the client sees a lost connection,
// which tells it the outcome is unknown, as ZooKeeper's clients expect. An
// ended session closes the connection after the reply.
func (c *conn) failure(err error) result {
	switch {
	case errors.Is(err, coord.ErrNoQuorum), errors.Is(err, coord.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return result{after: dropNow}
	case errors.Is(err, coord.ErrSessionExpired), errors.Is(err, coord.ErrSessionMoved):
		return result{code: jute.ErrCode(coord.ErrorCode(err)), after: closeAfter}
	}
	return fail(jute.ErrCode(coord.ErrorCode(err)))
}

// run executes one decoded request.
func (c *conn) run(r *request) result {
	ctx := c.ctx
	s := c.sess
	switch r.op {
	case jute.OpPing:
		return ok(nil)

	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return c.create(ctx, r)

	case jute.OpDelete:
		req := r.body.(*jute.DeleteRequest)
		if err := s.Delete(ctx, req.Path, req.Version); err != nil {
			res := c.failure(err)
			if res.code == jute.CodeBadArguments {
				res.code = deletePathCode(req.Path)
			}
			return res
		}
		return ok(nil)

	case jute.OpSetData:
		req := r.body.(*jute.SetDataRequest)
		st, err := s.Set(ctx, req.Path, req.Data, req.Version)
		if err != nil {
			return c.failure(err)
		}
		return ok(&jute.SetDataResponse{Stat: toStat(st)})

	case jute.OpSetACL:
		req := r.body.(*jute.SetACLRequest)
		st, err := s.SetACL(ctx, req.Path, fromACL(req.ACL), req.Version)
		if err != nil {
			return c.failure(err)
		}
		return ok(&jute.SetACLResponse{Stat: toStat(st)})

	case jute.OpExists:
		req := r.body.(*jute.ExistsRequest)
		p, valid := readPath(req.Path)
		if !valid {
			if strings.IndexByte(req.Path, 0) >= 0 {
				return fail(jute.CodeBadArguments)
			}
			return fail(jute.CodeNoNode)
		}
		var found bool
		var st *coord.Stat
		var err error
		if req.Watch {
			found, st, _, err = s.ExistsW(ctx, p)
		} else {
			found, st, err = s.Exists(ctx, p)
		}
		if err != nil {
			return c.failure(err)
		}
		if !found {
			return fail(jute.CodeNoNode)
		}
		return ok(&jute.ExistsResponse{Stat: toStat(st)})

	case jute.OpGetData:
		req := r.body.(*jute.GetDataRequest)
		p, valid := readPath(req.Path)
		if !valid {
			return fail(jute.CodeNoNode)
		}
		var data []byte
		var st *coord.Stat
		var err error
		if req.Watch {
			data, st, _, err = s.GetW(ctx, p)
		} else {
			data, st, err = s.Get(ctx, p)
		}
		if err != nil {
			return c.failure(err)
		}
		return ok(&jute.GetDataResponse{Data: data, Stat: toStat(st)})

	case jute.OpGetChildren, jute.OpGetChildren2:
		var path string
		var watch bool
		if req, isV1 := r.body.(*jute.GetChildrenRequest); isV1 {
			path, watch = req.Path, req.Watch
		} else {
			req := r.body.(*jute.GetChildren2Request)
			path, watch = req.Path, req.Watch
		}
		p, valid := readPath(path)
		if !valid {
			return fail(jute.CodeNoNode)
		}
		var names []string
		var st *coord.Stat
		var err error
		if watch {
			names, st, _, err = s.ChildrenW(ctx, p)
		} else {
			names, st, err = s.Children(ctx, p)
		}
		if err != nil {
			return c.failure(err)
		}
		if r.op == jute.OpGetChildren {
			return ok(&jute.GetChildrenResponse{Children: names})
		}
		return ok(&jute.GetChildren2Response{Children: names, Stat: toStat(st)})

	case jute.OpGetACL:
		req := r.body.(*jute.GetACLRequest)
		p, valid := readPath(req.Path)
		if !valid {
			return fail(jute.CodeNoNode)
		}
		acl, st, err := s.GetACL(ctx, p)
		if err != nil {
			return c.failure(err)
		}
		return ok(&jute.GetACLResponse{ACL: toACL(acl), Stat: toStat(st)})

	case jute.OpSync:
		req := r.body.(*jute.SyncRequest)
		// ZooKeeper syncs whatever the path; it only echoes it.
		if err := s.Sync(ctx, "/"); err != nil {
			return c.failure(err)
		}
		return ok(&jute.SyncResponse{Path: req.Path})

	case jute.OpMulti:
		return c.multi(ctx, r.body.(*jute.MultiRequest))

	case jute.OpMultiRead:
		return c.multiRead(ctx, r.body.(*jute.MultiRequest))

	case jute.OpCheck:
		req := r.body.(*jute.CheckVersionRequest)
		if _, err := s.Multi(ctx, coord.CheckOp(req.Path, req.Version)); err != nil {
			return c.failure(err)
		}
		_, st, err := s.Exists(ctx, req.Path)
		if err != nil {
			return c.failure(err)
		}
		return ok(&jute.SetDataResponse{Stat: toStat(st)})

	case jute.OpGetAllChildrenNumber:
		req := r.body.(*jute.GetAllChildrenNumberRequest)
		if validPath(req.Path) != nil {
			return fail(jute.CodeNoNode)
		}
		n, err := s.AllChildrenNumber(ctx, req.Path)
		if err != nil {
			return c.failure(err)
		}
		return ok(&jute.GetAllChildrenNumberResponse{TotalNumber: int32(n)})

	case jute.OpGetEphemerals:
		req := r.body.(*jute.GetEphemeralsRequest)
		prefix := req.PrefixPath
		if prefix == "" || strings.TrimSpace(prefix) == "/" {
			prefix = "/"
		}
		if prefix[0] != '/' {
			return ok(&jute.GetEphemeralsResponse{}) // matches no path
		}
		paths, err := s.Ephemerals(ctx, prefix)
		if err != nil {
			return c.failure(err)
		}
		return ok(&jute.GetEphemeralsResponse{Ephemerals: paths})

	case jute.OpWhoAmI:
		ids := s.Identities()
		infos := make([]jute.ClientInfo, 0, len(ids))
		// ZooKeeper lists the newest identity first; digest ids show the
		// user name alone.
		for i := len(ids) - 1; i >= 0; i-- {
			id := ids[i]
			if id.Scheme == "super" && id.ID == "" {
				continue
			}
			user := id.ID
			if id.Scheme == "digest" {
				user, _, _ = strings.Cut(user, ":")
			}
			infos = append(infos, jute.ClientInfo{AuthScheme: id.Scheme, User: user})
		}
		return ok(&jute.WhoAmIResponse{ClientInfo: infos})

	case jute.OpAuth:
		return c.auth(ctx, r.body.(*jute.AuthPacket))

	case jute.OpSetWatches:
		req := r.body.(*jute.SetWatches)
		if err := s.RestoreWatches(ctx, req.RelativeZxid, req.DataWatches, req.ExistWatches, req.ChildWatches, nil, nil); err != nil {
			return c.failure(err)
		}
		return ok(nil)

	case jute.OpSetWatches2:
		req := r.body.(*jute.SetWatches2)
		if err := s.RestoreWatches(ctx, req.RelativeZxid, req.DataWatches, req.ExistWatches, req.ChildWatches,
			req.PersistentWatches, req.PersistentRecursiveWatches); err != nil {
			return c.failure(err)
		}
		return ok(nil)

	case jute.OpAddWatch:
		req := r.body.(*jute.AddWatchRequest)
		if req.Mode != jute.AddWatchModePersistent && req.Mode != jute.AddWatchModePersistentRecursive {
			return fail(jute.CodeMarshallingError)
		}
		if validPath(req.Path) != nil {
			return ok(&jute.ErrorResponse{}) // ZooKeeper accepts it; it can never fire
		}
		if _, err := s.AddWatch(ctx, req.Path, req.Mode == jute.AddWatchModePersistentRecursive); err != nil {
			return c.failure(err)
		}
		return ok(&jute.ErrorResponse{})

	case jute.OpRemoveWatches, jute.OpCheckWatches:
		var path string
		var typ jute.WatcherType
		if req, isRemove := r.body.(*jute.RemoveWatchesRequest); isRemove {
			path, typ = req.Path, req.Type
		} else {
			req := r.body.(*jute.CheckWatchesRequest)
			path, typ = req.Path, req.Type
		}
		if typ < jute.WatcherTypeChildren || typ > jute.WatcherTypeAny {
			return fail(jute.CodeMarshallingError)
		}
		if validPath(path) != nil {
			return fail(jute.CodeNoWatcher)
		}
		if r.op == jute.OpCheckWatches {
			if !s.HasWatches(path, coord.WatcherType(typ)) {
				return fail(jute.CodeNoWatcher)
			}
			return ok(nil)
		}
		if err := s.RemoveWatches(ctx, path, coord.WatcherType(typ)); err != nil {
			return c.failure(err)
		}
		return ok(nil)

	case jute.OpCloseSession:
		return c.closeSession()

	case jute.OpReconfig:
		return fail(jute.CodeReconfigDisabled)

	case jute.OpSASL:
		c.srv.authFailed.Add(1)
		return result{code: jute.CodeAuthFailed, after: closeAfter}
	}
	return result{code: jute.CodeUnimplemented, after: closeAfter}
}

// create serves create, create2, createContainer and createTTL.
func (c *conn) create(ctx context.Context, r *request) result {
	var (
		path  string
		data  []byte
		acl   []jute.ACL
		flags jute.CreateMode
		ttl   int64 = -1
	)
	switch req := r.body.(type) {
	case *jute.CreateRequest:
		path, data, acl, flags = req.Path, req.Data, req.ACL, req.Flags
	case *jute.CreateTTLRequest:
		path, data, acl, flags, ttl = req.Path, req.Data, req.ACL, req.Flags, req.TTL
	}
	op, code := createOp(r.op, path, data, acl, flags, ttl)
	if code != jute.CodeOK {
		return fail(code)
	}
	if r.op == jute.OpCreate {
		created, err := c.sess.Create(ctx, path, data, op.mode, op.acl...)
		if err != nil {
			return c.createFailure(ctx, err, path, flags)
		}
		return ok(&jute.CreateResponse{Path: created})
	}
	res, err := c.sess.Multi(ctx, op.op)
	if err != nil {
		return c.createFailure(ctx, err, path, flags)
	}
	return ok(&jute.Create2Response{Path: res[0].Path, Stat: toStat(res[0].Stat)})
}

func (c *conn) createFailure(ctx context.Context, err error, path string, flags jute.CreateMode) result {
	res := c.failure(err)
	if res.code == jute.CodeBadArguments {
		res.code = c.createPathCode(ctx, path, flags.IsSequential())
	}
	return res
}

type createSpec struct {
	op   coord.Op
	mode coord.CreateMode
	acl  []coord.ACL
}

// createOp maps a create of any kind to a coord Op, as ZooKeeper
// interprets the opcode and flags: createContainer makes a container and
// createTTL a TTL node whatever the flags say, provided they are valid for
// the opcode; create and create2 with the container flag make an ordinary
// persistent node.
func createOp(op jute.OpCode, path string, data []byte, acl []jute.ACL, flags jute.CreateMode, ttl int64) (createSpec, jute.ErrCode) {
	if !flags.Valid() {
		return createSpec{}, jute.CodeBadArguments
	}
	mode := coord.CreateMode(flags)
	switch op {
	case jute.OpCreateTTL:
		if !flags.IsTTL() || ttl <= 0 || ttl > coord.MaxTTL {
			return createSpec{}, jute.CodeBadArguments
		}
	case jute.OpCreateContainer:
		if flags.IsTTL() {
			return createSpec{}, jute.CodeBadArguments
		}
		mode = coord.Container
	default:
		if flags.IsTTL() {
			return createSpec{}, jute.CodeBadArguments
		}
		if flags.IsContainer() {
			mode = coord.Persistent
		}
	}
	cacl := fromACL(acl)
	if len(cacl) == 0 {
		// coord would give an empty list OpenACL; ZooKeeper refuses it.
		return createSpec{}, jute.CodeInvalidACL
	}
	spec := createSpec{mode: mode, acl: cacl}
	if op == jute.OpCreateTTL {
		spec.op = coord.CreateTTLOp(path, data, mode, time.Duration(ttl)*time.Millisecond, cacl...)
	} else {
		spec.op = coord.CreateOp(path, data, mode, cacl...)
	}
	return spec, jute.CodeOK
}

// multi runs a transaction.
func (c *conn) multi(ctx context.Context, req *jute.MultiRequest) result {
	n := len(req.Ops)
	ops := make([]coord.Op, n)
	kinds := make([]jute.OpCode, n) // result type of each op
	for i, mop := range req.Ops {
		switch b := mop.Op.(type) {
		case *jute.CreateRequest:
			spec, code := createOp(mop.Type, b.Path, b.Data, b.ACL, b.Flags, -1)
			if code != jute.CodeOK {
				return ok(&jute.MultiResponse{Results: jute.FailedMultiResults(n, i, code)})
			}
			ops[i], kinds[i] = spec.op, jute.OpCreate
			if mop.Type == jute.OpCreateContainer {
				kinds[i] = jute.OpCreate2
			}
		case *jute.CreateTTLRequest:
			spec, code := createOp(mop.Type, b.Path, b.Data, b.ACL, b.Flags, b.TTL)
			if code != jute.CodeOK {
				return ok(&jute.MultiResponse{Results: jute.FailedMultiResults(n, i, code)})
			}
			ops[i], kinds[i] = spec.op, jute.OpCreate2
		case *jute.DeleteRequest:
			ops[i], kinds[i] = coord.DeleteOp(b.Path, b.Version), jute.OpDelete
		case *jute.SetDataRequest:
			ops[i], kinds[i] = coord.SetOp(b.Path, b.Data, b.Version), jute.OpSetData
		case *jute.CheckVersionRequest:
			ops[i], kinds[i] = coord.CheckOp(b.Path, b.Version), jute.OpCheck
		default:
			return fail(jute.CodeMarshallingError)
		}
	}
	res, err := c.sess.Multi(ctx, ops...)
	if err != nil && len(res) != n {
		return c.failure(err)
	}
	if err != nil {
		failed := 0
		for i := range res {
			if res[i].Err != nil && !errors.Is(res[i].Err, coord.ErrRuntimeInconsistency) {
				failed = i
				break
			}
		}
		fr := c.failure(res[failed].Err)
		if fr.after != keepOpen {
			return fr
		}
		code := fr.code
		if code == jute.CodeBadArguments {
			switch b := req.Ops[failed].Op.(type) {
			case *jute.CreateRequest:
				code = c.createPathCode(ctx, b.Path, b.Flags.IsSequential())
			case *jute.CreateTTLRequest:
				code = c.createPathCode(ctx, b.Path, b.Flags.IsSequential())
			case *jute.DeleteRequest:
				code = deletePathCode(b.Path)
			}
		}
		return ok(&jute.MultiResponse{Results: jute.FailedMultiResults(n, failed, code)})
	}
	out := make([]jute.MultiResult, n)
	for i := range res {
		out[i] = jute.MultiResult{Type: kinds[i], Path: res[i].Path}
		if (kinds[i] == jute.OpCreate2 || kinds[i] == jute.OpSetData) && res[i].Stat != nil {
			out[i].Stat = toStat(res[i].Stat)
		}
	}
	return ok(&jute.MultiResponse{Results: out})
}

// multiRead runs reads that succeed or fail each on its own.
func (c *conn) multiRead(ctx context.Context, req *jute.MultiRequest) result {
	out := make([]jute.MultiResult, len(req.Ops))
	for i, mop := range req.Ops {
		var path string
		switch b := mop.Op.(type) {
		case *jute.GetChildrenRequest:
			path = b.Path
		case *jute.GetDataRequest:
			path = b.Path
		default:
			return fail(jute.CodeMarshallingError)
		}
		p, valid := readPath(path)
		if !valid {
			out[i] = jute.ErrorResult(jute.CodeNoNode)
			continue
		}
		var err error
		if mop.Type == jute.OpGetChildren {
			var names []string
			if names, _, err = c.sess.Children(ctx, p); err == nil {
				out[i] = jute.MultiResult{Type: jute.OpGetChildren, Children: names}
			}
		} else {
			var data []byte
			var st *coord.Stat
			if data, st, err = c.sess.Get(ctx, p); err == nil {
				out[i] = jute.MultiResult{Type: jute.OpGetData, Data: data, Stat: toStat(st)}
			}
		}
		if err != nil {
			fr := c.failure(err)
			if fr.after != keepOpen {
				return fr
			}
			out[i] = jute.ErrorResult(fr.code)
		}
	}
	return ok(&jute.MultiResponse{Results: out})
}

// auth adds an identity. ZooKeeper answers auth with zxid 0, and a failed
// one with AuthFailed before closing the connection.
func (c *conn) auth(ctx context.Context, a *jute.AuthPacket) result {
	var err error
	switch a.Scheme {
	case "ip":
		// ZooKeeper's ip provider ignores what the client claims; the
		// connection's address is already the session's ip identity.
	default:
		err = c.sess.AddAuth(ctx, a.Scheme, a.Auth)
	}
	switch {
	case err == nil:
		return result{zset: true}
	case errors.Is(err, coord.ErrAuthFailed):
		c.srv.authFailed.Add(1)
		return result{code: jute.CodeAuthFailed, zset: true, after: closeAfter}
	}
	res := c.failure(err)
	res.zset = true
	return res
}

// closeSession closes the session: its ephemerals go, and the events that
// causes reach watchers (this session's own included) before the reply.
func (c *conn) closeSession() result {
	c.outMu.Lock()
	c.closingSession = true
	c.outMu.Unlock()
	if err := c.sess.Close(); err != nil {
		return result{after: dropNow}
	}
	c.sessionClosed = true
	c.srv.mu.Lock()
	if c.srv.sessions[c.sid] == c {
		delete(c.srv.sessions, c.sid)
	}
	c.srv.mu.Unlock()
	return result{after: closeAfter}
}

func toStat(s *coord.Stat) jute.Stat {
	if s == nil {
		return jute.Stat{}
	}
	return jute.Stat{
		Czxid: s.Czxid, Mzxid: s.Mzxid, Ctime: s.Ctime, Mtime: s.Mtime,
		Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion,
		EphemeralOwner: s.EphemeralOwner, DataLength: s.DataLength,
		NumChildren: s.NumChildren, Pzxid: s.Pzxid,
	}
}

func fromACL(acl []jute.ACL) []coord.ACL {
	out := make([]coord.ACL, len(acl))
	for i, a := range acl {
		out[i] = coord.ACL{Perms: coord.Perm(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

func toACL(acl []coord.ACL) []jute.ACL {
	out := make([]jute.ACL, len(acl))
	for i, a := range acl {
		out[i] = jute.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

// batchable reports whether r is a write that can share a Raft entry with
// the writes next to it, and its size.
func batchable(r *request) (int, bool) {
	if r.code != jute.CodeOK {
		return 0, false
	}
	switch b := r.body.(type) {
	case *jute.CreateRequest:
		return len(b.Path) + len(b.Data) + 64*len(b.ACL), true
	case *jute.CreateTTLRequest:
		return len(b.Path) + len(b.Data) + 64*len(b.ACL), true
	case *jute.DeleteRequest:
		return len(b.Path), r.op == jute.OpDelete
	case *jute.SetDataRequest:
		return len(b.Path) + len(b.Data), r.op == jute.OpSetData
	}
	return 0, false
}

// runBatch runs writes that a client pipelined (they queued up behind a
// write in flight) as one coord Multi: one Raft entry instead of one each,
// which is what lets a connection with many writes outstanding go faster
// than one round of consensus per write. The writes still apply in request
// order and nothing else comes between their replies. Applying them
// together is one of the orders sequential execution allows; the
// difference a client can see is that they share one zxid, as the ops of a
// ZooKeeper multi do. If one of them fails, the Multi applies nothing: the
// writes before it go again as one batch, the failing one alone (so it gets
// its own outcome) and those after it as another batch.
func (c *conn) runBatch(batch []*request) {
	ops := make([]coord.Op, 0, len(batch))
	for i, r := range batch {
		var op coord.Op
		switch b := r.body.(type) {
		case *jute.CreateRequest:
			spec, code := createOp(r.op, b.Path, b.Data, b.ACL, b.Flags, -1)
			if code != jute.CodeOK {
				c.runBatch1(batch[:i], ops)
				c.runEach(batch[i:])
				return
			}
			op = spec.op
		case *jute.CreateTTLRequest:
			spec, code := createOp(r.op, b.Path, b.Data, b.ACL, b.Flags, b.TTL)
			if code != jute.CodeOK {
				c.runBatch1(batch[:i], ops)
				c.runEach(batch[i:])
				return
			}
			op = spec.op
		case *jute.DeleteRequest:
			op = coord.DeleteOp(b.Path, b.Version)
		case *jute.SetDataRequest:
			op = coord.SetOp(b.Path, b.Data, b.Version)
		}
		ops = append(ops, op)
	}
	c.runBatch1(batch, ops)
}

func (c *conn) runEach(batch []*request) {
	for _, r := range batch {
		c.execute(r)
	}
}

// runBatch1 runs batch (with its ops) as one Multi.
func (c *conn) runBatch1(batch []*request, ops []coord.Op) {
	if len(batch) <= 1 {
		c.runEach(batch)
		return
	}
	res, err := c.sess.Multi(c.ctx, ops...)
	c.srv.batches.Add(1)
	c.srv.batched.Add(int64(len(ops)))
	if err != nil {
		if len(res) == len(ops) {
			// An op failed and nothing applied: run the ops before it
			// together again, it alone, and the rest together.
			f := 0
			for f < len(res) && (res[f].Err == nil || errors.Is(res[f].Err, coord.ErrRuntimeInconsistency)) {
				f++
			}
			if f == len(res) {
				c.runEach(batch)
				return
			}
			c.runBatch1(batch[:f], ops[:f])
			c.execute(batch[f])
			c.runBatch1(batch[f+1:], ops[f+1:])
			return
		}
		fr := c.failure(err)
		for _, r := range batch {
			c.reply(r, &fr)
			if fr.after == dropNow {
				return
			}
		}
		return
	}
	for i, r := range batch {
		var body jute.Record
		switch r.op {
		case jute.OpCreate:
			body = &jute.CreateResponse{Path: res[i].Path}
		case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
			body = &jute.Create2Response{Path: res[i].Path, Stat: toStat(res[i].Stat)}
		case jute.OpSetData:
			body = &jute.SetDataResponse{Stat: toStat(res[i].Stat)}
		}
		c.reply(r, &result{body: body})
	}
}
