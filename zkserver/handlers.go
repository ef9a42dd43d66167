package zkserver

import (
	"errors"
	"strings"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
)

// handler is how one opcode is served.
type handler struct {
	serve func(*conn, *request) result
	raft  bool // it waits on Raft: it runs on the worker (see dispatch)
}

// handlerFor is the table of opcodes served. Unknown ones were refused by
// the decoder already; anything else decoded that is not served here is
// answered Unimplemented and the connection closes.
func handlerFor(op jute.OpCode) handler {
	switch op {
	case jute.OpPing:
		return handler{serve: (*conn).ping}
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return handler{serve: (*conn).create, raft: true}
	case jute.OpDelete:
		return handler{serve: (*conn).delete, raft: true}
	case jute.OpSetData:
		return handler{serve: (*conn).setData, raft: true}
	case jute.OpSetACL:
		return handler{serve: (*conn).setACL, raft: true}
	case jute.OpCheck:
		return handler{serve: (*conn).check, raft: true}
	case jute.OpMulti:
		return handler{serve: (*conn).multi, raft: true}
	case jute.OpSync:
		return handler{serve: (*conn).sync, raft: true}
	case jute.OpAuth:
		return handler{serve: (*conn).auth, raft: true}
	case jute.OpCloseSession:
		return handler{serve: (*conn).closeSession, raft: true}
	case jute.OpExists:
		return handler{serve: (*conn).exists}
	case jute.OpGetData:
		return handler{serve: (*conn).getData}
	case jute.OpGetChildren:
		return handler{serve: (*conn).getChildren}
	case jute.OpGetChildren2:
		return handler{serve: (*conn).getChildren2}
	case jute.OpGetACL:
		return handler{serve: (*conn).getACL}
	case jute.OpMultiRead:
		return handler{serve: (*conn).multiRead}
	case jute.OpGetAllChildrenNumber:
		return handler{serve: (*conn).getAllChildrenNumber}
	case jute.OpGetEphemerals:
		return handler{serve: (*conn).getEphemerals}
	case jute.OpWhoAmI:
		return handler{serve: (*conn).whoAmI}
	case jute.OpSetWatches:
		return handler{serve: (*conn).setWatches}
	case jute.OpSetWatches2:
		return handler{serve: (*conn).setWatches2}
	case jute.OpAddWatch:
		return handler{serve: (*conn).addWatch}
	case jute.OpRemoveWatches:
		return handler{serve: (*conn).removeWatches}
	case jute.OpCheckWatches:
		return handler{serve: (*conn).checkWatches}
	case jute.OpReconfig:
		return handler{serve: (*conn).reconfig}
	case jute.OpSASL:
		return handler{serve: (*conn).sasl}
	}
	return handler{serve: (*conn).unimplemented}
}

// run executes one decoded request.
func (c *conn) run(r *request) result { return handlerFor(r.op).serve(c, r) }

func ok(body jute.Record) result { return result{body: body} }

func fail(code jute.ErrCode) result { return result{code: code} }

// headerOnly answers a request whose success carries no body.
func (c *conn) headerOnly(err error) result {
	if err != nil {
		return c.failure(err)
	}
	return ok(nil)
}

func (c *conn) ping(*request) result { return ok(nil) }

func (c *conn) unimplemented(*request) result {
	return result{code: jute.CodeUnimplemented, after: closeAfter}
}

// ---- writes ----

// create serves create, create2, createContainer and createTTL.
func (c *conn) create(r *request) result {
	spec, code := createOp(r.op, r.body)
	if code != jute.CodeOK {
		return fail(code)
	}
	if r.op == jute.OpCreate {
		created, err := c.sess.Create(c.ctx, spec.path, spec.data, spec.mode, spec.acl...)
		if err != nil {
			return c.opFailure(err, r.body)
		}
		return ok(&jute.CreateResponse{Path: created})
	}
	res, err := c.sess.Multi(c.ctx, spec.op())
	if err != nil {
		return c.opFailure(err, r.body)
	}
	return ok(&jute.Create2Response{Path: res[0].Path, Stat: toStat(res[0].Stat)})
}

func (c *conn) delete(r *request) result {
	req := r.body.(*jute.DeleteRequest)
	if err := c.sess.Delete(c.ctx, req.Path, req.Version); err != nil {
		return c.opFailure(err, req)
	}
	return ok(nil)
}

func (c *conn) setData(r *request) result {
	req := r.body.(*jute.SetDataRequest)
	st, err := c.sess.Set(c.ctx, req.Path, req.Data, req.Version)
	if err != nil {
		return c.failure(err)
	}
	return ok(&jute.SetDataResponse{Stat: toStat(st)})
}

func (c *conn) setACL(r *request) result {
	req := r.body.(*jute.SetACLRequest)
	st, err := c.sess.SetACL(c.ctx, req.Path, fromACL(req.ACL), req.Version)
	if err != nil {
		return c.failure(err)
	}
	return ok(&jute.SetACLResponse{Stat: toStat(st)})
}

// check is a standalone check: ZooKeeper answers it with the node's Stat.
func (c *conn) check(r *request) result {
	req := r.body.(*jute.CheckVersionRequest)
	if _, err := c.sess.Multi(c.ctx, coord.CheckOp(req.Path, req.Version)); err != nil {
		return c.failure(err)
	}
	_, st, err := c.sess.Exists(c.ctx, req.Path)
	if err != nil {
		return c.failure(err)
	}
	return ok(&jute.SetDataResponse{Stat: toStat(st)})
}

func (c *conn) sync(r *request) result {
	req := r.body.(*jute.SyncRequest)
	// ZooKeeper syncs whatever the path; it only echoes it.
	if err := c.sess.Sync(c.ctx, "/"); err != nil {
		return c.failure(err)
	}
	return ok(&jute.SyncResponse{Path: req.Path})
}

// ---- reads ----

func (c *conn) exists(r *request) result {
	req := r.body.(*jute.ExistsRequest)
	p, valid := readPath(req.Path)
	if !valid {
		if strings.IndexByte(req.Path, 0) >= 0 {
			return fail(jute.CodeBadArguments)
		}
		return fail(jute.CodeNoNode)
	}
	var (
		found bool
		st    *coord.Stat
		err   error
	)
	if req.Watch {
		found, st, _, err = c.sess.ExistsW(c.ctx, p)
	} else {
		found, st, err = c.sess.Exists(c.ctx, p)
	}
	if err != nil {
		return c.failure(err)
	}
	if !found {
		return fail(jute.CodeNoNode)
	}
	return ok(&jute.ExistsResponse{Stat: toStat(st)})
}

func (c *conn) getData(r *request) result {
	req := r.body.(*jute.GetDataRequest)
	data, st, err := c.get(req.Path, req.Watch)
	if err != nil {
		return c.failure(err)
	}
	return ok(&jute.GetDataResponse{Data: data, Stat: toStat(st)})
}

func (c *conn) getChildren(r *request) result {
	req := r.body.(*jute.GetChildrenRequest)
	names, _, err := c.children(req.Path, req.Watch)
	if err != nil {
		return c.failure(err)
	}
	return ok(&jute.GetChildrenResponse{Children: names})
}

func (c *conn) getChildren2(r *request) result {
	req := r.body.(*jute.GetChildren2Request)
	names, st, err := c.children(req.Path, req.Watch)
	if err != nil {
		return c.failure(err)
	}
	return ok(&jute.GetChildren2Response{Children: names, Stat: toStat(st)})
}

// get reads a node for getData and multiRead, setting a data watch if
// asked.
func (c *conn) get(path string, watch bool) ([]byte, *coord.Stat, error) {
	p, err := lookupPath(path)
	if err != nil {
		return nil, nil, err
	}
	if watch {
		data, st, _, err := c.sess.GetW(c.ctx, p)
		return data, st, err
	}
	return c.sess.Get(c.ctx, p)
}

// children lists a node's children for getChildren, getChildren2 and
// multiRead, setting a child watch if asked.
func (c *conn) children(path string, watch bool) ([]string, *coord.Stat, error) {
	p, err := lookupPath(path)
	if err != nil {
		return nil, nil, err
	}
	if watch {
		names, st, _, err := c.sess.ChildrenW(c.ctx, p)
		return names, st, err
	}
	return c.sess.Children(c.ctx, p)
}

func (c *conn) getACL(r *request) result {
	req := r.body.(*jute.GetACLRequest)
	p, err := lookupPath(req.Path)
	if err != nil {
		return c.failure(err)
	}
	acl, st, err := c.sess.GetACL(c.ctx, p)
	if err != nil {
		return c.failure(err)
	}
	return ok(&jute.GetACLResponse{ACL: toACL(acl), Stat: toStat(st)})
}

func (c *conn) getAllChildrenNumber(r *request) result {
	req := r.body.(*jute.GetAllChildrenNumberRequest)
	if validPath(req.Path) != nil {
		return fail(jute.CodeNoNode)
	}
	n, err := c.sess.AllChildrenNumber(c.ctx, req.Path)
	if err != nil {
		return c.failure(err)
	}
	return ok(&jute.GetAllChildrenNumberResponse{TotalNumber: int32(n)})
}

func (c *conn) getEphemerals(r *request) result {
	prefix := r.body.(*jute.GetEphemeralsRequest).PrefixPath
	if prefix == "" || strings.TrimSpace(prefix) == "/" {
		prefix = "/"
	}
	if prefix[0] != '/' {
		return ok(&jute.GetEphemeralsResponse{}) // matches no path
	}
	paths, err := c.sess.Ephemerals(c.ctx, prefix)
	if err != nil {
		return c.failure(err)
	}
	return ok(&jute.GetEphemeralsResponse{Ephemerals: paths})
}

// multiRead runs reads that succeed or fail each on its own.
func (c *conn) multiRead(r *request) result {
	req := r.body.(*jute.MultiRequest)
	out := make([]jute.MultiResult, len(req.Ops))
	for i, mop := range req.Ops {
		var err error
		switch b := mop.Op.(type) {
		case *jute.GetChildrenRequest:
			var names []string
			if names, _, err = c.children(b.Path, false); err == nil {
				out[i] = jute.MultiResult{Type: jute.OpGetChildren, Children: names}
			}
		case *jute.GetDataRequest:
			var data []byte
			var st *coord.Stat
			if data, st, err = c.get(b.Path, false); err == nil {
				out[i] = jute.MultiResult{Type: jute.OpGetData, Data: data, Stat: toStat(st)}
			}
		default:
			return fail(jute.CodeMarshallingError)
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

// ---- watches ----

func (c *conn) setWatches(r *request) result {
	req := r.body.(*jute.SetWatches)
	return c.headerOnly(c.sess.RestoreWatches(c.ctx, req.RelativeZxid,
		req.DataWatches, req.ExistWatches, req.ChildWatches, nil, nil))
}

func (c *conn) setWatches2(r *request) result {
	req := r.body.(*jute.SetWatches2)
	return c.headerOnly(c.sess.RestoreWatches(c.ctx, req.RelativeZxid,
		req.DataWatches, req.ExistWatches, req.ChildWatches, req.PersistentWatches, req.PersistentRecursiveWatches))
}

// addWatch is answered with an ErrorResponse body, as ZooKeeper does.
func (c *conn) addWatch(r *request) result {
	req := r.body.(*jute.AddWatchRequest)
	if req.Mode != jute.AddWatchModePersistent && req.Mode != jute.AddWatchModePersistentRecursive {
		return fail(jute.CodeMarshallingError)
	}
	if validPath(req.Path) != nil {
		return ok(&jute.ErrorResponse{}) // ZooKeeper accepts it; it can never fire
	}
	if _, err := c.sess.AddWatch(c.ctx, req.Path, req.Mode == jute.AddWatchModePersistentRecursive); err != nil {
		return c.failure(err)
	}
	return ok(&jute.ErrorResponse{})
}

func (c *conn) removeWatches(r *request) result {
	req := r.body.(*jute.RemoveWatchesRequest)
	if code := watchesArgsCode(req.Path, req.Type); code != jute.CodeOK {
		return fail(code)
	}
	return c.headerOnly(c.sess.RemoveWatches(c.ctx, req.Path, coord.WatcherType(req.Type)))
}

func (c *conn) checkWatches(r *request) result {
	req := r.body.(*jute.CheckWatchesRequest)
	if code := watchesArgsCode(req.Path, req.Type); code != jute.CodeOK {
		return fail(code)
	}
	if !c.sess.HasWatches(req.Path, coord.WatcherType(req.Type)) {
		return fail(jute.CodeNoWatcher)
	}
	return ok(nil)
}

// ---- session ----

func (c *conn) whoAmI(*request) result {
	ids := c.sess.Identities()
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
}

// auth adds an identity. ZooKeeper answers auth with zxid 0, and a failed
// one with AuthFailed before closing the connection.
func (c *conn) auth(r *request) result {
	a := r.body.(*jute.AuthPacket)
	var err error
	switch a.Scheme {
	case "ip":
		// ZooKeeper's ip provider ignores what the client claims; the
		// connection's address is already the session's ip identity.
	default:
		err = c.sess.AddAuth(c.ctx, a.Scheme, a.Auth)
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

// sasl is refused: coord has no SASL, and ZooKeeper closes the connection
// of a client whose SASL authentication fails.
func (c *conn) sasl(*request) result {
	c.srv.authFailed.Add(1)
	return result{code: jute.CodeAuthFailed, after: closeAfter}
}

// reconfig gets ZooKeeper's answer when dynamic reconfiguration is off.
func (c *conn) reconfig(*request) result { return fail(jute.CodeReconfigDisabled) }

// closeSession closes the session: its ephemerals go, and the events that
// causes reach watchers (this session's own included) before the reply.
func (c *conn) closeSession(*request) result {
	c.out.expectSessionEnd()
	if err := c.sess.Close(); err != nil {
		return result{after: dropNow}
	}
	c.sessionClosed = true
	c.srv.release(c)
	return result{after: closeAfter}
}

// ---- conversions ----

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
