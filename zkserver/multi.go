package zkserver

import (
	"errors"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/internal/jute"
)

// createSpec is a create of any kind as coord takes it.
type createSpec struct {
	path string
	data []byte
	mode coord.CreateMode
	acl  []coord.ACL
	ttl  time.Duration // > 0 only for createTTL
}

func (s *createSpec) op() coord.Op {
	if s.ttl > 0 {
		return coord.CreateTTLOp(s.path, s.data, s.mode, s.ttl, s.acl...)
	}
	return coord.CreateOp(s.path, s.data, s.mode, s.acl...)
}

// createOp maps a create of any kind (body a *jute.CreateRequest or
// *jute.CreateTTLRequest) to coord's terms, as ZooKeeper interprets the
// opcode and flags: createContainer makes a container and createTTL a TTL
// node whatever the flags say, provided they are valid for the opcode;
// create and create2 with the container flag make an ordinary persistent
// node.
func createOp(op jute.OpCode, body jute.Record) (createSpec, jute.ErrCode) {
	var (
		spec  createSpec
		acl   []jute.ACL
		flags jute.CreateMode
		ttl   int64 = -1
	)
	switch b := body.(type) {
	case *jute.CreateRequest:
		spec.path, spec.data, acl, flags = b.Path, b.Data, b.ACL, b.Flags
	case *jute.CreateTTLRequest:
		spec.path, spec.data, acl, flags, ttl = b.Path, b.Data, b.ACL, b.Flags, b.TTL
	}
	if !flags.Valid() {
		return createSpec{}, jute.CodeBadArguments
	}
	spec.mode = coord.CreateMode(flags)
	switch op {
	case jute.OpCreateTTL:
		if !flags.IsTTL() || ttl <= 0 || ttl > coord.MaxTTL {
			return createSpec{}, jute.CodeBadArguments
		}
		spec.ttl = time.Duration(ttl) * time.Millisecond
	case jute.OpCreateContainer:
		if flags.IsTTL() {
			return createSpec{}, jute.CodeBadArguments
		}
		spec.mode = coord.Container
	default:
		if flags.IsTTL() {
			return createSpec{}, jute.CodeBadArguments
		}
		if flags.IsContainer() {
			spec.mode = coord.Persistent
		}
	}
	if spec.acl = fromACL(acl); len(spec.acl) == 0 {
		// coord would give an empty list OpenACL; ZooKeeper refuses it.
		return createSpec{}, jute.CodeInvalidACL
	}
	return spec, jute.CodeOK
}

// firstFailed returns the index of the op that made a Multi fail (the
// others report ErrRuntimeInconsistency or nothing), or len(res).
func firstFailed(res []coord.OpResult) int {
	for i := range res {
		if res[i].Err != nil && !errors.Is(res[i].Err, coord.ErrRuntimeInconsistency) {
			return i
		}
	}
	return len(res)
}

// multi runs a transaction.
func (c *conn) multi(r *request) result {
	req := r.body.(*jute.MultiRequest)
	n := len(req.Ops)
	ops := make([]coord.Op, n)
	kinds := make([]jute.OpCode, n) // result type of each op
	for i, mop := range req.Ops {
		switch b := mop.Op.(type) {
		case *jute.CreateRequest, *jute.CreateTTLRequest:
			spec, code := createOp(mop.Type, b)
			if code != jute.CodeOK {
				return ok(&jute.MultiResponse{Results: jute.FailedMultiResults(n, i, code)})
			}
			ops[i], kinds[i] = spec.op(), jute.OpCreate
			if mop.Type == jute.OpCreateContainer || mop.Type == jute.OpCreateTTL {
				kinds[i] = jute.OpCreate2
			}
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
	res, err := c.sess.Multi(c.ctx, ops...)
	if err != nil {
		return c.multiFailed(req, res, err)
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

// multiFailed answers a transaction that applied nothing. When an op
// failed, ZooKeeper reports it inside a successful reply, with the code
// for that op (see FailedMultiResults); any other error answers the
// request as a whole.
func (c *conn) multiFailed(req *jute.MultiRequest, res []coord.OpResult, err error) result {
	if len(res) != len(req.Ops) {
		return c.failure(err)
	}
	failed := firstFailed(res)
	if failed == len(res) {
		failed = 0
	}
	fr := c.opFailure(res[failed].Err, req.Ops[failed].Op)
	if fr.after != keepOpen {
		return fr
	}
	return ok(&jute.MultiResponse{Results: jute.FailedMultiResults(len(res), failed, fr.code)})
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

// batchOp is the coord Op of a batchable write, or false for a create that
// fails validation (it runs alone, to get its own answer).
func batchOp(r *request) (coord.Op, bool) {
	switch b := r.body.(type) {
	case *jute.CreateRequest, *jute.CreateTTLRequest:
		spec, code := createOp(r.op, b)
		if code != jute.CodeOK {
			return coord.Op{}, false
		}
		return spec.op(), true
	case *jute.DeleteRequest:
		return coord.DeleteOp(b.Path, b.Version), true
	case *jute.SetDataRequest:
		return coord.SetOp(b.Path, b.Data, b.Version), true
	}
	return coord.Op{}, false
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
		op, ok := batchOp(r)
		if !ok {
			c.runBatch1(batch[:i], ops)
			c.runEach(batch[i:])
			return
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
	switch {
	case err == nil:
		for i, r := range batch {
			c.reply(r, &result{body: batchReply(r.op, &res[i])})
		}
	case len(res) == len(ops):
		// An op failed and nothing applied: run the ops before it together
		// again, it alone, and the rest together.
		f := firstFailed(res)
		if f == len(res) {
			c.runEach(batch)
			return
		}
		c.runBatch1(batch[:f], ops[:f])
		c.execute(batch[f])
		c.runBatch1(batch[f+1:], ops[f+1:])
	default:
		fr := c.failure(err)
		for _, r := range batch {
			c.reply(r, &fr)
			if fr.after == dropNow {
				return
			}
		}
	}
}

// batchReply is the reply body of a batched write of type op, as it would
// be had the write run alone.
func batchReply(op jute.OpCode, res *coord.OpResult) jute.Record {
	switch op {
	case jute.OpCreate:
		return &jute.CreateResponse{Path: res.Path}
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return &jute.Create2Response{Path: res.Path, Stat: toStat(res.Stat)}
	case jute.OpSetData:
		return &jute.SetDataResponse{Stat: toStat(res.Stat)}
	}
	return nil
}
