package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// durable is workload 2: clients create persistent nodes with unique
// names; at the end every acknowledged create must exist on every member.
// Nodes are spread over a few directories so that no listing gets large.
type durable struct {
	e     *env
	dirs  int
	think time.Duration
}

func (d *durable) dir(i int) string { return fmt.Sprintf("%s/dur/d%02d", d.e.root, i) }

func (d *durable) setup(conn *zk.Conn) error {
	paths := []string{d.e.root + "/dur"}
	for i := 0; i < d.dirs; i++ {
		paths = append(paths, d.dir(i))
	}
	return createAll(conn, paths)
}

func (d *durable) run(ctx context.Context, c *client) {
	for seq := 0; ctx.Err() == nil; seq++ {
		if !c.ensure(ctx) {
			c.pause(ctx, time.Second)
			continue
		}
		path := fmt.Sprintf("%s/c%d-%07d", d.dir(seq%d.dirs), c.id, seq)
		op := Op{Kind: KindCreate, Key: path}
		_ = c.do(&op, func(conn *zk.Conn) error { // the outcome is in op (Status, Err)
			_, err := conn.Create(path, []byte("x"), 0, zk.WorldACL(zk.PermAll))
			return err
		})
		c.record(op)
		c.pause(ctx, d.think)
	}
}

// memberListing is what one member lists under the workload's directories
// after a sync, or why it could not.
type memberListing struct {
	member int
	addr   string
	nodes  map[string]bool
	err    error
}

// checkDurable checks the durable history against every member's listing:
// acknowledged creates exist everywhere, certainly failed ones and names
// never created exist nowhere, and the members agree.
func checkDurable(ops []Op, listings []memberListing) CheckResult {
	res := CheckResult{Name: "durable"}
	status := map[string]Op{}
	for _, op := range ops {
		if op.Kind != KindCreate {
			continue
		}
		res.Ops++
		status[op.Key] = op
		switch op.Status {
		case Unknown:
			res.Unknown++
		case Fail:
			if strings.Contains(op.Err, zk.ErrNodeExists.Error()) {
				res.violation("create of a fresh name %s answered node exists (t=%.3fs)", op.Key, secs(op.Return))
			}
		}
	}
	acked := 0
	for _, op := range status {
		if op.Status == OK {
			acked++
		}
	}
	res.kv("acked", acked)
	var ref *memberListing
	for i := range listings {
		l := &listings[i]
		if l.err != nil {
			res.violation("member %d (%s): cannot list: %v", l.member, l.addr, l.err)
			continue
		}
		missing, extra := 0, 0
		for path, op := range status {
			if op.Status == OK && !l.nodes[path] {
				missing++
				res.violation("member %d (%s) lost acknowledged create %s (acked t=%.3fs)", l.member, l.addr, path, secs(op.Return))
			}
		}
		for _, path := range sortedKeys(l.nodes) {
			op, ok := status[path]
			switch {
			case !ok:
				extra++
				res.violation("member %d (%s) has %s, which no client created", l.member, l.addr, path)
			case op.Status == Fail:
				extra++
				res.violation("member %d (%s) has %s, whose create certainly failed (%s)", l.member, l.addr, path, op.Err)
			}
		}
		res.kv(fmt.Sprintf("m%d_nodes", l.member), len(l.nodes))
		if ref == nil {
			ref = l
			continue
		}
		if d := diffSets(ref.nodes, l.nodes); d != "" {
			res.violation("members %d and %d list different nodes after sync: %s", ref.member, l.member, d)
		}
	}
	return res
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diffSets describes the difference of two sets ("" if equal).
func diffSets(a, b map[string]bool) string {
	var onlyA, onlyB []string
	for k := range a {
		if !b[k] {
			onlyA = append(onlyA, k)
		}
	}
	for k := range b {
		if !a[k] {
			onlyB = append(onlyB, k)
		}
	}
	if len(onlyA)+len(onlyB) == 0 {
		return ""
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return fmt.Sprintf("only in first %d %s, only in second %d %s", len(onlyA), firstN(onlyA, 3), len(onlyB), firstN(onlyB, 3))
}

func firstN(s []string, n int) string {
	if len(s) > n {
		return "[" + strings.Join(s[:n], " ") + " ...]"
	}
	return "[" + strings.Join(s, " ") + "]"
}
