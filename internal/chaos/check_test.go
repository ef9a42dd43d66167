package chaos

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// Each checker is fed a correct history (it must pass) and a deliberately
// broken one (it must fail), so that a green run means something.

const key = "/chaos/t/reg/e0000k0"

func regOp(client int, kind string, call, ret int64, st Status) Op {
	return Op{Client: client, Kind: kind, Key: key, Invoke: call, Return: ret, Status: st}
}

func set(client int, call, ret int64, value string, newVersion int32, st Status) Op {
	op := regOp(client, KindSet, call, ret, st)
	op.InValue, op.InVersion, op.Version = value, -1, newVersion
	return op
}

func cas(client int, call, ret int64, expect int32, value string, st Status, err error) Op {
	op := regOp(client, KindCAS, call, ret, st)
	op.InValue, op.InVersion = value, expect
	if st == OK {
		op.Version = expect + 1
	}
	if err != nil {
		op.Err = err.Error()
	}
	return op
}

func syncGet(client int, call, ret int64, value string, version int32) Op {
	op := regOp(client, KindSyncGet, call, ret, OK)
	op.Value, op.Version = value, version
	return op
}

func check(client int, call, ret int64, version int32, ok bool) Op {
	op := regOp(client, KindCheck, call, ret, OK)
	op.InVersion = version
	if !ok {
		op.Status, op.Err = Fail, zk.ErrBadVersion.Error()
	}
	return op
}

func TestRegistersChecker(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
		ops  []Op
	}{
		{"sequential", true, []Op{
			set(0, 0, 10, "a", 1, OK),
			syncGet(1, 20, 30, "a", 1),
			cas(0, 40, 50, 1, "b", OK, nil),
			check(1, 60, 70, 2, true),
			check(1, 80, 90, 1, false),
			syncGet(1, 100, 110, "b", 2),
		}},
		{"concurrent writes either order", true, []Op{
			set(0, 0, 100, "a", 2, OK),
			set(1, 0, 100, "b", 1, OK),
			syncGet(2, 110, 120, "a", 2),
		}},
		{"unknown write applied late", true, []Op{
			set(0, 0, 10, "a", 0, Unknown),
			syncGet(1, 20, 30, regInitValue, 0),
			syncGet(1, 40, 50, "a", 1),
		}},
		{"unknown write never applied", true, []Op{
			set(0, 0, 10, "a", 0, Unknown),
			set(1, 20, 30, "b", 1, OK),
			syncGet(1, 40, 50, "b", 1),
		}},
		{"stale sync-get", false, []Op{
			set(0, 0, 10, "a", 1, OK),
			set(0, 20, 30, "b", 2, OK),
			syncGet(1, 40, 50, "a", 1),
		}},
		{"lost acknowledged write", false, []Op{
			set(0, 0, 10, "a", 1, OK),
			syncGet(1, 40, 50, regInitValue, 0),
		}},
		{"cas succeeded on a wrong version", false, []Op{
			set(0, 0, 10, "a", 1, OK),
			cas(1, 20, 30, 0, "b", OK, nil),
		}},
		{"cas refused on the right version", false, []Op{
			set(0, 0, 10, "a", 1, OK),
			cas(1, 20, 30, 1, "b", Fail, zk.ErrBadVersion),
		}},
		{"check contradicts the version", false, []Op{
			set(0, 0, 10, "a", 1, OK),
			check(1, 20, 30, 1, false),
		}},
		{"unknown write cannot explain a value read before it was invoked", false, []Op{
			syncGet(1, 0, 10, "a", 1),
			set(0, 20, 30, "a", 0, Unknown),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := checkRegisters(tc.ops, 5*time.Second, 10*time.Second, t.TempDir()).finish()
			if res.OK != tc.ok {
				t.Fatalf("ok=%v, want %v: %s", res.OK, tc.ok, res.Line())
			}
		})
	}
}

func TestRegistersCheckerWritesVisualization(t *testing.T) {
	dir := t.TempDir()
	res := checkRegisters([]Op{set(0, 0, 10, "a", 1, OK), syncGet(1, 20, 30, regInitValue, 0)}, time.Second, time.Second, dir).finish()
	if res.OK || !strings.Contains(res.Line(), "porcupine-e0000k0.html") {
		t.Fatalf("want a failure naming the visualization: %s", res.Line())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "porcupine-*.html")); len(m) != 1 {
		t.Fatalf("visualizations: %v", m)
	}
}

func TestSessionOrderChecker(t *testing.T) {
	w := func(mz int64) Op { return Op{Client: 0, Kind: KindSet, Key: key, Session: 7, Status: OK, Mzxid: mz} }
	r := func(k string, mz int64) Op {
		return Op{Client: 0, Kind: KindGet, Key: k, Session: 7, Status: OK, Mzxid: mz}
	}
	other := func(k string, mz int64) Op {
		return Op{Client: 1, Kind: KindSet, Key: k, Session: 8, Status: OK, Mzxid: mz}
	}
	cases := []struct {
		name    string
		ok      bool
		clients [][]Op
	}{
		{"fine", true, [][]Op{{w(10), r(key, 10), w(12), r(key, 14)}, {other(key, 14)}}},
		{"writes out of order", false, [][]Op{{w(10), w(9)}}},
		{"read older than own write", false, [][]Op{{w(10), r(key, 5)}}},
		{"stale read after seeing a newer zxid", false, [][]Op{
			{r("/other", 20), r(key, 5)},
			{other(key, 5), other(key, 15), other("/other", 20)},
		}},
		{"different sessions are not ordered", true, [][]Op{{w(10), {Client: 0, Kind: KindSet, Key: key, Session: 9, Status: OK, Mzxid: 5}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if res := checkSessionOrder(tc.clients).finish(); res.OK != tc.ok {
				t.Fatalf("ok=%v, want %v: %s", res.OK, tc.ok, res.Line())
			}
		})
	}
}

func TestWriteOrderChecker(t *testing.T) {
	w := func(c int, call, ret, mz int64) Op {
		return Op{Client: c, Kind: KindSet, Key: key, Invoke: call, Return: ret, Status: OK, Mzxid: mz}
	}
	if res := checkWriteOrder([]Op{w(0, 0, 10, 5), w(1, 5, 20, 3), w(1, 30, 40, 6)}).finish(); !res.OK {
		t.Fatalf("concurrent writes may have any order: %s", res.Line())
	}
	if res := checkWriteOrder([]Op{w(0, 0, 10, 5), w(1, 20, 30, 4)}).finish(); res.OK {
		t.Fatalf("a write after an acknowledged one got a lower zxid, but the check passed: %s", res.Line())
	}
}

func TestDurableChecker(t *testing.T) {
	ops := []Op{
		{Kind: KindCreate, Key: "/d/a", Status: OK},
		{Kind: KindCreate, Key: "/d/b", Status: Unknown},
		{Kind: KindCreate, Key: "/d/c", Status: Fail, Err: zk.ErrNoServer.Error()},
	}
	nodes := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m["/d/"+n] = true
		}
		return m
	}
	good := []memberListing{{member: 1, nodes: nodes("a", "b")}, {member: 2, nodes: nodes("a", "b")}}
	if res := checkDurable(ops, good).finish(); !res.OK {
		t.Fatalf("good listing failed: %s", res.Line())
	}
	for name, l := range map[string][]memberListing{
		"acknowledged node missing on one member": {{member: 1, nodes: nodes("a")}, {member: 2, nodes: nodes("b")}},
		"failed create exists":                    {{member: 1, nodes: nodes("a", "c")}},
		"phantom node":                            {{member: 1, nodes: nodes("a", "zz")}},
		"members disagree":                        {{member: 1, nodes: nodes("a", "b")}, {member: 2, nodes: nodes("a")}},
		"member cannot list":                      {{member: 1, err: errors.New("no session")}},
	} {
		if res := checkDurable(ops, l).finish(); res.OK {
			t.Errorf("%s: check passed: %s", name, res.Line())
		}
	}
}

func TestLockChecker(t *testing.T) {
	inc := func(c int, v string, st Status) Op {
		return Op{Client: c, Kind: KindCounterSet, Key: "/c", InValue: v, Value: v, Status: st}
	}
	bad := func(disturbed bool) Op {
		return Op{Client: 3, Kind: KindCounterSet, Key: "/c", Status: Fail, Err: zk.ErrBadVersion.Error(), Disturbed: disturbed}
	}
	final := func(v string) []memberValue { return []memberValue{{member: 1, value: v}, {member: 2, value: v}} }
	ok := []Op{inc(0, "1", OK), inc(1, "2", OK), inc(2, "3", Unknown), bad(true)}
	for _, f := range []string{"2", "3"} {
		if res := checkLock(ok, final(f)).finish(); !res.OK {
			t.Fatalf("final %s: %s", f, res.Line())
		}
	}
	for name, tc := range map[string]struct {
		ops   []Op
		final []memberValue
	}{
		"duplicate counter value":   {[]Op{inc(0, "1", OK), inc(1, "1", OK)}, final("2")},
		"overlap of two holders":    {[]Op{inc(0, "1", OK), bad(false)}, final("1")},
		"final below acknowledged":  {[]Op{inc(0, "1", OK), inc(1, "2", OK)}, final("1")},
		"final above acked+unknown": {[]Op{inc(0, "1", OK)}, final("2")},
		"members disagree":          {[]Op{inc(0, "1", OK)}, []memberValue{{member: 1, value: "1"}, {member: 2, value: "0"}}},
	} {
		if res := checkLock(tc.ops, tc.final).finish(); res.OK {
			t.Errorf("%s: check passed: %s", name, res.Line())
		}
	}
}

func TestEphemeralsChecker(t *testing.T) {
	start := time.Now().Add(-time.Minute)
	live := &ephSession{client: 1, sid: 0x11, fate: fateKept, timeout: 6 * time.Second,
		nodes: map[string]Status{"/e/l0": OK, "/e/l1": Unknown}}
	gone := &ephSession{client: 2, sid: 0x22, fate: fateAbandoned, timeout: 6 * time.Second, end: int64(10 * time.Second),
		nodes: map[string]Status{"/e/a0": OK}}
	fresh := &ephSession{client: 3, sid: 0x33, fate: fateAbandoned, timeout: 6 * time.Second, end: int64(59 * time.Second),
		nodes: map[string]Status{"/e/f0": OK}}
	x := expectations([]*ephSession{live, gone, fresh}, start, 0, 5*time.Second)
	now := time.Now()
	list := func(owners map[string]int64) []ephListing { return []ephListing{{member: 1, owners: owners}} }

	if p, pending := ephProblems(x, list(map[string]int64{"/e/l0": 0x11, "/e/f0": 0x33}), now); len(p) > 0 || pending != 1 {
		t.Fatalf("good listing: problems %v, pending %d (want 1: the fresh abandoned session's node)", p, pending)
	}
	for name, owners := range map[string]map[string]int64{
		"live node missing":          {},
		"live node owned by another": {"/e/l0": 0x99},
		"expired session's node":     {"/e/l0": 0x11, "/e/a0": 0x22},
		"node nobody created":        {"/e/l0": 0x11, "/e/zz": 0x11},
	} {
		if p, _ := ephProblems(x, list(owners), now); len(p) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
	// Once the fresh session's deadline has passed, its node is a problem.
	if p, _ := ephProblems(x, list(map[string]int64{"/e/l0": 0x11, "/e/f0": 0x33}), now.Add(time.Minute)); len(p) != 1 {
		t.Fatalf("after the deadline: problems %v, want 1", p)
	}
}

func TestLongestGap(t *testing.T) {
	s := int64(time.Second)
	g := longestGap([]int64{1 * s, 2 * s, 6 * s, 7 * s}, 0, 8*s)
	if g.longest != 4*time.Second || g.from != 2*s || g.to != 6*s || g.acked != 4 {
		t.Fatalf("got %+v", g)
	}
	if g := longestGap(nil, 0, 3*s); g.longest != 3*time.Second {
		t.Fatalf("no acks: %+v", g)
	}
	a := computeAvailability([]Op{
		{Kind: KindSet, Status: OK, Return: 1 * s, Server: "a"},
		{Kind: KindGet, Status: OK, Return: 2 * s, Server: "a"}, // a read does not count
		{Kind: KindCreate, Status: OK, Return: 5 * s, Server: "b"},
	}, []string{"a", "b"}, 0, 6*s)
	if a.all.longest != 4*time.Second || a.perMember[0].longest != 5*time.Second {
		t.Fatalf("got %+v", a)
	}
	if res := a.check(3 * time.Second).finish(); res.OK {
		t.Fatalf("4s gap passed a 3s limit: %s", res.Line())
	}
}

func TestClassify(t *testing.T) {
	for err, want := range map[error]Status{
		nil:                                     OK,
		zk.ErrBadVersion:                        Fail,
		zk.ErrNodeExists:                        Fail,
		zk.ErrNoServer:                          Fail,
		zk.ErrConnectionClosed:                  Unknown,
		zk.ErrSessionExpired:                    Unknown,
		zk.ErrClosing:                           Unknown,
		errOpTimeout:                            Unknown,
		fmt.Errorf("wrapped: %w", zk.ErrNoNode): Fail,
	} {
		if got := classify(err); got != want {
			t.Errorf("classify(%v) = %s, want %s", err, got, want)
		}
	}
}

func TestHistoryRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	ops := []Op{set(0, 1, 2, "a", 1, OK), syncGet(1, 3, 4, "a", 1)}
	if err := writeHistory(path, ops); err != nil {
		t.Fatal(err)
	}
	got, err := readHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != ops[0] || got[1] != ops[1] {
		t.Fatalf("got %+v", got)
	}
}

func TestCheckLine(t *testing.T) {
	r := CheckResult{Name: "x", Ops: 3}
	r.kv("gap_s", 1500*time.Millisecond)
	r.kv("note", "two words")
	r.violation("bad thing")
	got := r.finish().Line()
	want := `check=x ok=false ops=3 unknown=0 violations=1 gap_s=1.500 note="two words" problems="bad thing"`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestExpiryChecker(t *testing.T) {
	s := int64(time.Second)
	x := func(cut, deleted int64, undisturbed bool) expiryWatch {
		return expiryWatch{sid: 1, cut: cut, deleted: deleted, timeout: 6 * time.Second, undisturbed: undisturbed}
	}
	ok := CheckResult{Ops: 1}
	checkExpiry(&ok, []expiryWatch{x(10*s, 16*s, true), x(10*s, 19*s, true), x(10*s, 0, true)})
	if ok = ok.finish(); !ok.OK || !strings.Contains(ok.Line(), "expiry_med_s=9.000") {
		t.Fatalf("on-time expiries: %s", ok.Line())
	}
	early := CheckResult{Ops: 1}
	checkExpiry(&early, []expiryWatch{x(10*s, 12*s, true)})
	if early.finish().OK {
		t.Fatalf("expiry 2s after the cut of a 6s session passed: %s", early.finish().Line())
	}
	disturbed := CheckResult{Ops: 1}
	checkExpiry(&disturbed, []expiryWatch{x(10*s, 12*s, false)})
	if !disturbed.finish().OK {
		t.Fatalf("a session disconnected before the cut may expire early: %s", disturbed.finish().Line())
	}
}

func TestEmptyCheckFails(t *testing.T) {
	if res := checkDurable(nil, nil).finish(); res.OK || !strings.Contains(res.Line(), `error="no operations to check"`) {
		t.Fatalf("an empty history passed: %s", res.Line())
	}
}
