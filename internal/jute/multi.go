package jute

import (
	"errors"
	"fmt"
)

// ErrBadMulti is wrapped by errors about the structure of a multi or
// multiRead request or response (unknown op types, mixed read and write
// ops). ZooKeeper answers such a request with CodeMarshallingError.
var ErrBadMulti = errors.New("jute: malformed multi")

// MultiOp is one operation of a multi or multiRead request.
//
// Op holds the decoded body, by Type:
//
//	OpCreate, OpCreate2, OpCreateContainer  *CreateRequest
//	OpCreateTTL                             *CreateTTLRequest
//	OpDelete                                *DeleteRequest
//	OpSetData                               *SetDataRequest
//	OpCheck                                 *CheckVersionRequest
//	OpGetChildren (multiRead only)          *GetChildrenRequest
//	OpGetData (multiRead only)              *GetDataRequest
//
// The Java client sends creates as OpCreate (or OpCreateContainer /
// OpCreateTTL for those modes); ZooKeeper's own decoder turns an OpCreate2
// back into a create, so the result type of a create is OpCreate unless the
// op was a container or TTL create (see MultiResult).
type MultiOp struct {
	Type OpCode
	Op   Record
}

// decodeMultiOp decodes the body of an op of type t allowed inside a multi
// (read == false) or a multiRead (read == true). It returns a nil Record and
// a nil error when t is not allowed there.
func decodeMultiOp(d *Decoder, t OpCode, read bool) (Record, error) {
	switch t {
	case OpGetChildren, OpGetData:
		if !read {
			return nil, nil
		}
	case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL, OpDelete, OpSetData, OpCheck:
		if read {
			return nil, nil
		}
	default:
		return nil, nil
	}
	return DecodeRequest(d, t)
}

// MultiRequest is the body of multi (a transaction of write ops, applied
// all or nothing) and of multiRead (independent reads). On the wire each op
// is a MultiHeader{Type, false, -1} followed by its body, and the list ends
// with MultiHeader{-1, true, -1}.
//
// Read, when decoding, selects which op types are accepted: false (multi)
// accepts only the write ops, true (multiRead) only getChildren and getData,
// mirroring ZooKeeper, which refuses to mix the two kinds. DecodeRequest
// sets it from the request's opcode. Encode ignores it.
type MultiRequest struct {
	Read bool
	Ops  []MultiOp
}

// Decode implements Record. Errors name the op they stopped at.
func (r *MultiRequest) Decode(d *Decoder) error {
	r.Ops = r.Ops[:0]
	for {
		var h MultiHeader
		if err := h.Decode(d); err != nil {
			return err
		}
		if h.Done {
			if len(r.Ops) == 0 {
				r.Ops = nil
			}
			return nil
		}
		body, err := decodeMultiOp(d, h.Type, r.Read)
		if err != nil {
			return fmt.Errorf("multi op %d (%v): %w", len(r.Ops), h.Type, err)
		}
		if body == nil {
			kind := "multi"
			if r.Read {
				kind = "multiRead"
			}
			d.fail(fmt.Errorf("%w: op %d has type %v, which is not allowed in %s", ErrBadMulti, len(r.Ops), h.Type, kind))
			return d.Err()
		}
		r.Ops = append(r.Ops, MultiOp{Type: h.Type, Op: body})
	}
}

// Encode implements Record.
func (r *MultiRequest) Encode(e *Encoder) {
	for i := range r.Ops {
		h := MultiHeader{Type: r.Ops[i].Type, Done: false, Err: -1}
		h.Encode(e)
		if r.Ops[i].Op != nil {
			r.Ops[i].Op.Encode(e)
		}
	}
	done := MultiHeader{Type: -1, Done: true, Err: -1}
	done.Encode(e)
}

// MultiResult is the outcome of one op in a multi or multiRead response.
// Type selects the fields that are encoded after the result's MultiHeader:
//
//	OpCreate                  Path            (CreateResponse)
//	OpCreate2                 Path, Stat      (Create2Response)
//	OpDelete, OpCheck         nothing
//	OpSetData                 Stat            (SetDataResponse)
//	OpGetChildren             Children        (GetChildrenResponse)
//	OpGetData                 Data, Stat      (GetDataResponse)
//	OpError                   Err             (ErrorResponse)
//
// ZooKeeper reports a successful create as OpCreate, but container and TTL
// creates as OpCreate2 with the Stat (an OpCreate2 op inside a multi is
// reported as OpCreate: ZooKeeper decodes it as a plain create). The header's
// Err is Err for OpError results and 0 otherwise.
type MultiResult struct {
	Type     OpCode
	Err      ErrCode
	Path     string
	Stat     Stat
	Data     []byte
	Children []string
}

// ErrorResult returns the result of a failed (or rolled back) op.
func ErrorResult(code ErrCode) MultiResult { return MultiResult{Type: OpError, Err: code} }

// FailedMultiResults builds the results of a multi transaction whose op at
// index failed with code, the way ZooKeeper reports it: every op before
// the failing one gets ErrorResult(CodeOK) (it was rolled back), the failing
// one gets code, and every later one CodeRuntimeInconsistency (it was never
// tried). The ReplyHeader of such a reply still carries CodeOK; clients
// find the failure in the results. failed is clamped to [0, n).
func FailedMultiResults(n, failed int, code ErrCode) []MultiResult {
	if n <= 0 {
		return nil
	}
	failed = max(0, min(failed, n-1))
	res := make([]MultiResult, n)
	for i := range res {
		switch {
		case i < failed:
			res[i] = ErrorResult(CodeOK)
		case i == failed:
			res[i] = ErrorResult(code)
		default:
			res[i] = ErrorResult(CodeRuntimeInconsistency)
		}
	}
	return res
}

// decodeBody reads the body that follows a result's MultiHeader. Results of
// a type a multi response cannot hold are an error wrapping ErrBadMulti.
// The decoder's error is sticky, so the nested Stat decodes need no check
// of their own: d.Err() at the end reports the first failure.
func (r *MultiResult) decodeBody(d *Decoder) error {
	switch r.Type {
	case OpCreate:
		d.String(&r.Path)
	case OpCreate2:
		d.String(&r.Path)
		_ = r.Stat.Decode(d)
	case OpDelete, OpCheck:
	case OpSetData:
		_ = r.Stat.Decode(d)
	case OpGetChildren:
		d.StringVector(&r.Children)
	case OpGetData:
		d.Buffer(&r.Data)
		_ = r.Stat.Decode(d)
	case OpError:
		d.Int32((*int32)(&r.Err))
	default:
		d.fail(fmt.Errorf("%w: result type %v", ErrBadMulti, r.Type))
	}
	return d.Err()
}

func (r *MultiResult) encode(e *Encoder) {
	var herr ErrCode
	if r.Type == OpError {
		herr = r.Err
	}
	h := MultiHeader{Type: r.Type, Done: false, Err: herr}
	h.Encode(e)
	switch r.Type {
	case OpCreate:
		e.WriteString(r.Path)
	case OpCreate2:
		e.WriteString(r.Path)
		r.Stat.Encode(e)
	case OpSetData:
		r.Stat.Encode(e)
	case OpGetChildren:
		e.WriteStringVector(r.Children)
	case OpGetData:
		e.WriteBuffer(r.Data)
		r.Stat.Encode(e)
	case OpError:
		e.WriteInt32(int32(r.Err))
	}
}

// MultiResponse is the reply body of multi and multiRead: one MultiResult
// per op, in request order, closed by MultiHeader{-1, true, -1}.
type MultiResponse struct {
	Results []MultiResult
}

// Decode implements Record.
func (r *MultiResponse) Decode(d *Decoder) error {
	r.Results = r.Results[:0]
	for {
		var h MultiHeader
		if err := h.Decode(d); err != nil {
			return err
		}
		if h.Done {
			if len(r.Results) == 0 {
				r.Results = nil
			}
			return nil
		}
		res := MultiResult{Type: h.Type}
		if err := res.decodeBody(d); err != nil {
			return fmt.Errorf("multi result %d: %w", len(r.Results), err)
		}
		r.Results = append(r.Results, res)
	}
}

// Encode implements Record. A result with a Type outside the table of
// MultiResult is written as its header alone.
func (r *MultiResponse) Encode(e *Encoder) {
	for i := range r.Results {
		r.Results[i].encode(e)
	}
	done := MultiHeader{Type: -1, Done: true, Err: -1}
	done.Encode(e)
}
