package coord

import (
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/coordkit/coord/internal/store"
	"github.com/coordkit/coord/internal/wire"
)

func BenchmarkFSMApplySet(b *testing.B) {
	f := newFSM(b.TempDir(), store.Options{}, nil, 1)
	if _, err := f.Open(nil); err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	idx := uint64(1)
	apply := func(cmds ...*wire.Command) {
		ents := make([]sm.Entry, len(cmds))
		for i, c := range cmds {
			ents[i] = sm.Entry{Index: idx, Cmd: wire.AppendCommand(nil, c)}
			idx++
		}
		if _, err := f.Update(ents); err != nil {
			b.Fatal(err)
		}
	}
	apply(&wire.Command{Kind: wire.KindCreateSession, Incarnation: 1, Timeout: 10000})
	sid := int64(1)
	open := []wire.ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}
	apply(&wire.Command{Kind: wire.KindCreate, Session: sid, Incarnation: 1, Ops: []wire.Op{{Kind: wire.KindCreate, Path: "/x", ACL: open}}})
	data := make([]byte, 64)
	b.ResetTimer()
	const batch = 8
	for i := 0; i < b.N; i += batch {
		cmds := make([]*wire.Command, batch)
		for j := range cmds {
			cmds[j] = &wire.Command{Kind: wire.KindSetData, Time: time.Now().UnixMilli(), Session: sid, Incarnation: 1,
				Ops: []wire.Op{{Kind: wire.KindSetData, Path: "/x", Data: data, Version: -1}}}
		}
		apply(cmds...)
	}
}
