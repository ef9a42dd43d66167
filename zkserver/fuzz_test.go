package zkserver

import (
	"bytes"
	"testing"
	"time"

	"github.com/coordkit/coord/internal/jute"
)

// FuzzServeConnection feeds arbitrary bytes to a member's ZooKeeper port as
// one client connection and checks that the server answers with well-formed
// frames, closes the connection once the client is done, and keeps serving.
// Seeds are valid conversations; go test runs them, and
// go test -fuzz=FuzzServeConnection ./zkserver/ mutates them.
func FuzzServeConnection(f *testing.F) {
	acl := []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	conv := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	f.Add([]byte("ruok"))
	f.Add([]byte("stat"))
	f.Add(connectFrame(4000))
	f.Add(conv(connectFrame(4000),
		requestFrame(1, jute.OpCreate, &jute.CreateRequest{Path: "/f", Data: []byte("x"), ACL: acl}),
		requestFrame(2, jute.OpGetData, &jute.GetDataRequest{Path: "/f", Watch: true}),
		requestFrame(3, jute.OpSetData, &jute.SetDataRequest{Path: "/f", Data: []byte("y"), Version: -1}),
		requestFrame(4, jute.OpGetChildren2, &jute.GetChildren2Request{Path: "/", Watch: true}),
		requestFrame(5, jute.OpDelete, &jute.DeleteRequest{Path: "/f", Version: -1}),
		requestFrame(-2, jute.OpPing, nil),
		requestFrame(6, jute.OpCloseSession, nil)))
	f.Add(conv(connectFrame(4000),
		requestFrame(1, jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
			{Type: jute.OpCreate, Op: &jute.CreateRequest{Path: "/fm", ACL: acl, Flags: jute.ModeEphemeralSequential}},
			{Type: jute.OpCheck, Op: &jute.CheckVersionRequest{Path: "/", Version: -1}},
			{Type: jute.OpCreateTTL, Op: &jute.CreateTTLRequest{Path: "/ft", ACL: acl, Flags: jute.ModePersistentWithTTL, TTL: 1000}},
		}}),
		requestFrame(2, jute.OpMultiRead, &jute.MultiRequest{Read: true, Ops: []jute.MultiOp{
			{Type: jute.OpGetData, Op: &jute.GetDataRequest{Path: "/"}},
			{Type: jute.OpGetChildren, Op: &jute.GetChildrenRequest{Path: "/"}},
		}}),
		requestFrame(3, jute.OpSetWatches2, &jute.SetWatches2{RelativeZxid: 1, DataWatches: []string{"/"},
			ExistWatches: []string{"/nope"}, ChildWatches: []string{"/"}, PersistentWatches: []string{"/p"}, PersistentRecursiveWatches: []string{"/"}}),
		requestFrame(4, jute.OpAddWatch, &jute.AddWatchRequest{Path: "/", Mode: jute.AddWatchModePersistentRecursive}),
		requestFrame(5, jute.OpRemoveWatches, &jute.RemoveWatchesRequest{Path: "/", Type: jute.WatcherTypeAny}),
		requestFrame(6, jute.OpCheckWatches, &jute.CheckWatchesRequest{Path: "/", Type: jute.WatcherTypeData}),
		requestFrame(7, jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte("u:p")}),
		requestFrame(8, jute.OpWhoAmI, nil),
		requestFrame(9, jute.OpGetEphemerals, &jute.GetEphemeralsRequest{PrefixPath: "/"}),
		requestFrame(10, jute.OpGetAllChildrenNumber, &jute.GetAllChildrenNumberRequest{Path: "/"}),
		requestFrame(11, jute.OpSync, &jute.SyncRequest{Path: "/"}),
		requestFrame(12, jute.OpGetACL, &jute.GetACLRequest{Path: "/"}),
		requestFrame(13, jute.OpSetACL, &jute.SetACLRequest{Path: "/", ACL: acl, Version: -1}),
		requestFrame(14, jute.OpExists, &jute.ExistsRequest{Path: "/nope", Watch: true})))
	f.Add(conv(jute.AppendRecordFrame(nil, &jute.ConnectRequest{TimeOut: 4000, SessionID: 12345, Passwd: make([]byte, 16), ReadOnly: true}),
		requestFrame(1, jute.OpPing, nil)))
	f.Add(conv(connectFrame(4000), []byte{0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 99}))

	e := newEnsemble(f, 1, WithHandshakeTimeout(500*time.Millisecond))
	addr := e.member(1).addr
	f.Fuzz(func(t *testing.T, in []byte) {
		out, closed := exchange(t, addr, in, 10*time.Second)
		if !closed {
			t.Fatalf("the connection stayed open after the client finished")
		}
		if len(in) >= 4 {
			if _, ok := jute.FourLetterWord(int32(uint32(in[0])<<24 | uint32(in[1])<<16 | uint32(in[2])<<8 | uint32(in[3]))); ok {
				return // a text answer
			}
		}
		r := bytes.NewReader(out)
		for i := 0; r.Len() > 0; i++ {
			frame, err := jute.ReadFrame(r, nil, 64<<20)
			if err != nil {
				t.Fatalf("frame %d of the answer: %v", i, err)
			}
			if i == 0 {
				var resp jute.ConnectResponse
				if err := jute.Unmarshal(frame, &resp); err != nil {
					t.Fatalf("connect response: %v", err)
				}
				continue
			}
			var h jute.ReplyHeader
			if err := jute.Unmarshal(frame, &h); err != nil {
				t.Fatalf("reply %d: %v", i, err)
			}
		}
		if got := fourLetter(t, addr, "ruok"); got != "imok" {
			t.Fatalf("member stopped serving: ruok answered %q", got)
		}
	})
}
