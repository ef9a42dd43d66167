package jute

import (
	"errors"
	"fmt"
)

// ErrUnsupportedOp is wrapped by DecodeRequest and NewRequest for opcodes
// that are not client requests framed with a RequestHeader: unknown codes,
// OpNotification, OpError, OpCreateSession (that is the ConnectRequest,
// sent without header) and OpDeleteContainer (issued by ZooKeeper's own
// container reaper with a raw, non-jute body; accepting it from clients
// would let them delete containers without an ACL check). ZooKeeper
// answers unknown request types with CodeUnimplemented.
var ErrUnsupportedOp = errors.New("jute: unsupported request opcode")

func unsupported(op OpCode) error {
	return fmt.Errorf("%w: %v", ErrUnsupportedOp, op)
}

// NewRequest returns a new zero request body for op, ready for Decode:
//
//	OpCreate, OpCreate2, OpCreateContainer   *CreateRequest
//	OpCreateTTL                              *CreateTTLRequest
//	OpDelete                                 *DeleteRequest
//	OpExists                                 *ExistsRequest
//	OpGetData                                *GetDataRequest
//	OpSetData                                *SetDataRequest
//	OpGetACL                                 *GetACLRequest
//	OpSetACL                                 *SetACLRequest
//	OpGetChildren                            *GetChildrenRequest
//	OpGetChildren2                           *GetChildren2Request
//	OpSync                                   *SyncRequest
//	OpCheck                                  *CheckVersionRequest
//	OpMulti, OpMultiRead                     *MultiRequest (Read set for OpMultiRead)
//	OpReconfig                               *ReconfigRequest
//	OpCheckWatches                           *CheckWatchesRequest
//	OpRemoveWatches                          *RemoveWatchesRequest
//	OpAuth                                   *AuthPacket
//	OpSetWatches                             *SetWatches
//	OpSetWatches2                            *SetWatches2
//	OpSASL                                   *GetSASLRequest
//	OpGetEphemerals                          *GetEphemeralsRequest
//	OpGetAllChildrenNumber                   *GetAllChildrenNumberRequest
//	OpAddWatch                               *AddWatchRequest
//	OpPing, OpCloseSession, OpWhoAmI         *Empty
//
// Other opcodes yield an error wrapping ErrUnsupportedOp.
func NewRequest(op OpCode) (Record, error) {
	switch op {
	case OpCreate, OpCreate2, OpCreateContainer:
		return new(CreateRequest), nil
	case OpCreateTTL:
		return new(CreateTTLRequest), nil
	case OpDelete:
		return new(DeleteRequest), nil
	case OpExists:
		return new(ExistsRequest), nil
	case OpGetData:
		return new(GetDataRequest), nil
	case OpSetData:
		return new(SetDataRequest), nil
	case OpGetACL:
		return new(GetACLRequest), nil
	case OpSetACL:
		return new(SetACLRequest), nil
	case OpGetChildren:
		return new(GetChildrenRequest), nil
	case OpGetChildren2:
		return new(GetChildren2Request), nil
	case OpSync:
		return new(SyncRequest), nil
	case OpCheck:
		return new(CheckVersionRequest), nil
	case OpMulti:
		return new(MultiRequest), nil
	case OpMultiRead:
		return &MultiRequest{Read: true}, nil
	case OpReconfig:
		return new(ReconfigRequest), nil
	case OpCheckWatches:
		return new(CheckWatchesRequest), nil
	case OpRemoveWatches:
		return new(RemoveWatchesRequest), nil
	case OpAuth:
		return new(AuthPacket), nil
	case OpSetWatches:
		return new(SetWatches), nil
	case OpSetWatches2:
		return new(SetWatches2), nil
	case OpSASL:
		return new(GetSASLRequest), nil
	case OpGetEphemerals:
		return new(GetEphemeralsRequest), nil
	case OpGetAllChildrenNumber:
		return new(GetAllChildrenNumberRequest), nil
	case OpAddWatch:
		return new(AddWatchRequest), nil
	case OpPing, OpCloseSession, OpWhoAmI:
		return new(Empty), nil
	}
	return nil, unsupported(op)
}

// DecodeRequest decodes the body of a request of type op from d (positioned
// just after the RequestHeader) into the record NewRequest(op) describes.
// Bytes after the body are left unread: ZooKeeper ignores them too. The
// only allocations are the returned record and its strings and slices.
func DecodeRequest(d *Decoder, op OpCode) (Record, error) {
	// The explicit switch calls each Decode method directly rather than
	// through the Record interface, so that d does not escape: a Decoder
	// living on the caller's stack stays there.
	switch op {
	case OpCreate, OpCreate2, OpCreateContainer:
		r := new(CreateRequest)
		return r, r.Decode(d)
	case OpCreateTTL:
		r := new(CreateTTLRequest)
		return r, r.Decode(d)
	case OpDelete:
		r := new(DeleteRequest)
		return r, r.Decode(d)
	case OpExists:
		r := new(ExistsRequest)
		return r, r.Decode(d)
	case OpGetData:
		r := new(GetDataRequest)
		return r, r.Decode(d)
	case OpSetData:
		r := new(SetDataRequest)
		return r, r.Decode(d)
	case OpGetACL:
		r := new(GetACLRequest)
		return r, r.Decode(d)
	case OpSetACL:
		r := new(SetACLRequest)
		return r, r.Decode(d)
	case OpGetChildren:
		r := new(GetChildrenRequest)
		return r, r.Decode(d)
	case OpGetChildren2:
		r := new(GetChildren2Request)
		return r, r.Decode(d)
	case OpSync:
		r := new(SyncRequest)
		return r, r.Decode(d)
	case OpCheck:
		r := new(CheckVersionRequest)
		return r, r.Decode(d)
	case OpMulti, OpMultiRead:
		r := &MultiRequest{Read: op == OpMultiRead}
		return r, r.Decode(d)
	case OpReconfig:
		r := new(ReconfigRequest)
		return r, r.Decode(d)
	case OpCheckWatches:
		r := new(CheckWatchesRequest)
		return r, r.Decode(d)
	case OpRemoveWatches:
		r := new(RemoveWatchesRequest)
		return r, r.Decode(d)
	case OpAuth:
		r := new(AuthPacket)
		return r, r.Decode(d)
	case OpSetWatches:
		r := new(SetWatches)
		return r, r.Decode(d)
	case OpSetWatches2:
		r := new(SetWatches2)
		return r, r.Decode(d)
	case OpSASL:
		r := new(GetSASLRequest)
		return r, r.Decode(d)
	case OpGetEphemerals:
		r := new(GetEphemeralsRequest)
		return r, r.Decode(d)
	case OpGetAllChildrenNumber:
		r := new(GetAllChildrenNumberRequest)
		return r, r.Decode(d)
	case OpAddWatch:
		r := new(AddWatchRequest)
		return r, r.Decode(d)
	case OpPing, OpCloseSession, OpWhoAmI:
		return new(Empty), nil
	}
	return nil, unsupported(op)
}

// ParseRequest decodes one request frame payload (as returned by ReadFrame,
// after the ConnectRequest): the RequestHeader and the body for its type.
// The header is returned even when the body fails to decode, so that the
// server can answer the xid with CodeMarshallingError (or CodeUnimplemented
// for ErrUnsupportedOp).
func ParseRequest(payload []byte) (RequestHeader, Record, error) {
	d := Decoder{buf: payload}
	var h RequestHeader
	if err := h.Decode(&d); err != nil {
		return h, nil, err
	}
	body, err := DecodeRequest(&d, h.Type)
	if err != nil {
		return h, nil, fmt.Errorf("%v request (xid %d): %w", h.Type, h.Xid, err)
	}
	return h, body, nil
}

// NewResponse returns a new zero body of a successful reply to op, or nil
// when that reply carries only the ReplyHeader:
//
//	OpCreate                                  *CreateResponse
//	OpCreate2, OpCreateContainer, OpCreateTTL *Create2Response
//	OpExists                                  *ExistsResponse
//	OpGetData, OpReconfig                     *GetDataResponse
//	OpSetData, OpCheck                        *SetDataResponse
//	OpGetACL                                  *GetACLResponse
//	OpSetACL                                  *SetACLResponse
//	OpGetChildren                             *GetChildrenResponse
//	OpGetChildren2                            *GetChildren2Response
//	OpSync                                    *SyncResponse
//	OpMulti, OpMultiRead                      *MultiResponse
//	OpSASL                                    *SetSASLResponse
//	OpGetEphemerals                           *GetEphemeralsResponse
//	OpGetAllChildrenNumber                    *GetAllChildrenNumberResponse
//	OpAddWatch                                *ErrorResponse (always CodeOK)
//	OpWhoAmI                                  *WhoAmIResponse
//	delete, ping, closeSession, auth, setWatches, setWatches2,
//	checkWatches, removeWatches, and any other   nil
//
// A reply whose ReplyHeader.Err is not CodeOK never has a body (multi
// replies report per-op failures inside a CodeOK reply).
func NewResponse(op OpCode) Record {
	switch op {
	case OpCreate:
		return new(CreateResponse)
	case OpCreate2, OpCreateContainer, OpCreateTTL:
		return new(Create2Response)
	case OpExists:
		return new(ExistsResponse)
	case OpGetData, OpReconfig:
		return new(GetDataResponse)
	case OpSetData, OpCheck:
		return new(SetDataResponse)
	case OpGetACL:
		return new(GetACLResponse)
	case OpSetACL:
		return new(SetACLResponse)
	case OpGetChildren:
		return new(GetChildrenResponse)
	case OpGetChildren2:
		return new(GetChildren2Response)
	case OpSync:
		return new(SyncResponse)
	case OpMulti, OpMultiRead:
		return new(MultiResponse)
	case OpSASL:
		return new(SetSASLResponse)
	case OpGetEphemerals:
		return new(GetEphemeralsResponse)
	case OpGetAllChildrenNumber:
		return new(GetAllChildrenNumberResponse)
	case OpAddWatch:
		return new(ErrorResponse)
	case OpWhoAmI:
		return new(WhoAmIResponse)
	}
	return nil
}
