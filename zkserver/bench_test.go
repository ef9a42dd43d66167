package zkserver

import (
	"testing"

	"github.com/coordkit/coord/internal/jute"
)

// BenchmarkPipelinedGetData measures the server's cost per read: one
// connection keeps 64 getData requests outstanding.
func BenchmarkPipelinedGetData(b *testing.B) {
	e := newEnsemble(b, 1)
	r := dialRaw(b, e.member(1).addr, 10000)
	acl := []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	if code := r.call(jute.OpCreate, &jute.CreateRequest{Path: "/b", Data: make([]byte, 64), ACL: acl}, nil); code != jute.CodeOK {
		b.Fatal(code)
	}
	frame := requestFrame(0, jute.OpGetData, &jute.GetDataRequest{Path: "/b"})
	const depth = 64
	batch := make([]byte, 0, depth*len(frame))
	for i := 0; i < depth; i++ {
		batch = append(batch, frame...)
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += depth {
		if _, err := r.nc.Write(batch); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < depth; i++ {
			if _, err := jute.ReadFrame(r.br, nil, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPipelinedSetData measures pipelined writes on one connection
// (they go to Raft in batches).
func BenchmarkPipelinedSetData(b *testing.B) {
	e := newEnsemble(b, 3)
	r := dialRaw(b, e.member(1).addr, 10000)
	acl := []jute.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	if code := r.call(jute.OpCreate, &jute.CreateRequest{Path: "/b", ACL: acl}, nil); code != jute.CodeOK {
		b.Fatal(code)
	}
	frame := requestFrame(0, jute.OpSetData, &jute.SetDataRequest{Path: "/b", Data: make([]byte, 64), Version: -1})
	const depth = 64
	batch := make([]byte, 0, depth*len(frame))
	for i := 0; i < depth; i++ {
		batch = append(batch, frame...)
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += depth {
		if _, err := r.nc.Write(batch); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < depth; i++ {
			if _, err := jute.ReadFrame(r.br, nil, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
}
