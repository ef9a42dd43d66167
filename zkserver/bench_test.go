package zkserver

import (
	"context"
	"testing"
	"time"

	"github.com/coordkit/coord"
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

// BenchmarkSeqSet compares one client's sequential writes (64 B setData on
// the leader) in-process with the same through the protocol, to show what
// the front end adds to coord's own write latency.
func BenchmarkSeqSet(b *testing.B) {
	e := newEnsemble(b, 3)
	leader, _ := e.member(1).c.Leader()
	m := e.member(leader)
	ctx := context.Background()
	if _, err := m.c.Session().Create(ctx, "/seq", nil, coord.Persistent); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64)
	b.Run("InProcess", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := m.c.Session().Set(ctx, "/seq", data, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GoZookeeper", func(b *testing.B) {
		c, _ := connect(b, []string{m.addr}, 10*time.Second)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := c.Set("/seq", data, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
