package chaos

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/go-zookeeper/zk"
)

// CheckResult is the verdict of one check.
type CheckResult struct {
	Name       string
	OK         bool // set by finish: no violations and no error
	Ops        int
	Unknown    int
	Violations []string
	Extra      []KV // further key=value pairs, in order
	Err        string
}

// KV is one key=value of a check line.
type KV struct {
	Key   string
	Value string
}

func (r *CheckResult) violation(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

func (r *CheckResult) kv(key string, value any) {
	var s string
	switch v := value.(type) {
	case float64:
		s = strconv.FormatFloat(v, 'f', 3, 64)
	case time.Duration:
		s = strconv.FormatFloat(v.Seconds(), 'f', 3, 64)
	default:
		s = fmt.Sprint(v)
	}
	r.Extra = append(r.Extra, KV{key, s})
}

// finish sets OK. A check with nothing to check fails: a workload that
// recorded no operation proves nothing.
func (r CheckResult) finish() CheckResult {
	if r.Ops == 0 && r.Err == "" {
		r.Err = "no operations to check"
	}
	r.OK = len(r.Violations) == 0 && r.Err == ""
	return r
}

// Line formats the check as one line:
// check=NAME ok=B ops=N unknown=N violations=N key=value... [problems="..."] [error="..."]
func (r CheckResult) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "check=%s ok=%t ops=%d unknown=%d violations=%d", r.Name, r.OK, r.Ops, r.Unknown, len(r.Violations))
	for _, kv := range r.Extra {
		fmt.Fprintf(&b, " %s=%s", kv.Key, quoteIfNeeded(kv.Value))
	}
	if len(r.Violations) > 0 {
		p := r.Violations
		more := ""
		if len(p) > 3 {
			p, more = p[:3], fmt.Sprintf("; ... %d more", len(r.Violations)-3)
		}
		fmt.Fprintf(&b, " problems=%q", strings.Join(p, "; ")+more)
	}
	if r.Err != "" {
		fmt.Fprintf(&b, " error=%q", r.Err)
	}
	return b.String()
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		return strconv.Quote(s)
	}
	return s
}

// ---- registers: linearizability with porcupine ----

type regState struct {
	value   string
	version int32
}

type regInput struct {
	kind    string
	value   string // set, cas
	version int32  // cas, check: the expected version
}

type regOutcome int

const (
	regOK regOutcome = iota
	regBadVersion
	regUnknown
)

type regOutput struct {
	outcome regOutcome
	value   string // sync-get
	version int32  // set, cas: the new version; sync-get: the version read
}

// registerModel is a register holding a value and ZooKeeper's data
// version. Writes with an unknown outcome may or may not have happened:
// the model is nondeterministic for them (and their return time is
// infinite, so they may take effect at any point after their call).
func registerModel() porcupine.NondeterministicModel {
	return porcupine.NondeterministicModel{
		Equal: func(a, b any) bool { return a.(regState) == b.(regState) },
		Init:  func() []any { return []any{regState{value: regInitValue}} },
		Step: func(state, input, output any) []any {
			s, in, out := state.(regState), input.(regInput), output.(regOutput)
			next := regState{value: in.value, version: s.version + 1}
			switch in.kind {
			case KindSet:
				switch out.outcome {
				case regOK:
					if out.version == next.version {
						return []any{next}
					}
				case regUnknown:
					return []any{s, next}
				}
			case KindCAS:
				match := s.version == in.version
				switch out.outcome {
				case regOK:
					if match && out.version == next.version {
						return []any{next}
					}
				case regBadVersion:
					if !match {
						return []any{s}
					}
				case regUnknown:
					if match {
						return []any{s, next}
					}
					return []any{s}
				}
			case KindCheck:
				match := s.version == in.version
				if (out.outcome == regOK) == match && out.outcome != regUnknown {
					return []any{s}
				}
			case KindSyncGet:
				if out.outcome == regOK && out.value == s.value && out.version == s.version {
					return []any{s}
				}
			}
			return nil
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(regInput), output.(regOutput)
			res := map[regOutcome]string{regOK: "ok", regBadVersion: "badversion", regUnknown: "unknown"}[out.outcome]
			switch in.kind {
			case KindSet:
				return fmt.Sprintf("set(%s) -> %s v%d", in.value, res, out.version)
			case KindCAS:
				return fmt.Sprintf("cas(v%d, %s) -> %s v%d", in.version, in.value, res, out.version)
			case KindCheck:
				return fmt.Sprintf("check(v%d) -> %s", in.version, res)
			}
			return fmt.Sprintf("sync-get -> %s v%d", out.value, out.version)
		},
		DescribeState: func(state any) string {
			s := state.(regState)
			return fmt.Sprintf("%s v%d", s.value, s.version)
		},
	}
}

// registerOps turns one key's history into porcupine operations; reads and
// checks without an answer, and writes that certainly failed without
// reaching the server, say nothing and are left out.
func registerOps(ops []Op) []porcupine.Operation {
	var out []porcupine.Operation
	badVersion := zk.ErrBadVersion.Error()
	for _, op := range ops {
		in := regInput{kind: op.Kind, value: op.InValue, version: op.InVersion}
		var o regOutput
		ret := op.Return
		switch op.Kind {
		case KindSet, KindCAS:
			switch {
			case op.Status == OK:
				o = regOutput{outcome: regOK, version: op.Version}
			case op.Status == Unknown:
				o, ret = regOutput{outcome: regUnknown}, math.MaxInt64
			case op.Kind == KindCAS && op.Err == badVersion:
				o = regOutput{outcome: regBadVersion}
			default:
				continue
			}
		case KindCheck:
			switch {
			case op.Status == OK:
				o = regOutput{outcome: regOK}
			case op.Err == badVersion:
				o = regOutput{outcome: regBadVersion}
			default:
				continue
			}
		case KindSyncGet:
			if op.Status != OK {
				continue
			}
			o = regOutput{outcome: regOK, value: op.Value, version: op.Version}
		default:
			continue
		}
		out = append(out, porcupine.Operation{ClientId: op.Client, Input: in, Call: op.Invoke, Output: o, Return: ret})
	}
	return out
}

// checkRegisters checks each key's history for linearizability, spending at
// most perKey on one key and budget in all; keys not decided in time count
// as timeouts. Illegal keys get a porcupine visualization in outDir (if set).
func checkRegisters(ops []Op, perKey, budget time.Duration, outDir string) CheckResult {
	res := CheckResult{Name: "registers"}
	byKey := map[string][]Op{}
	for _, op := range ops {
		switch op.Kind {
		case KindSet, KindCAS, KindCheck, KindSyncGet:
		default:
			continue
		}
		res.Ops++
		if op.Status == Unknown {
			res.Unknown++
		}
		byKey[op.Key] = append(byKey[op.Key], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	nm := registerModel()
	model := nm.ToModel()
	deadline := time.Now().Add(budget)
	timeouts, checked := 0, 0
	start := time.Now()
	for _, k := range keys {
		left := time.Until(deadline)
		if left <= 0 {
			timeouts++
			continue
		}
		hist := registerOps(byKey[k])
		verdict, info := porcupine.CheckOperationsVerbose(model, hist, min(perKey, left))
		checked++
		switch verdict {
		case porcupine.Unknown:
			timeouts++
		case porcupine.Illegal:
			msg := fmt.Sprintf("key %s: history of %d ops is not linearizable", k, len(hist))
			if outDir != "" {
				f := filepath.Join(outDir, "porcupine-"+filepath.Base(k)+".html")
				if err := porcupine.VisualizePath(model, info, f); err == nil {
					msg += " (see " + filepath.Base(f) + ")"
				}
			}
			res.violation("%s", msg)
		}
	}
	res.kv("keys", len(keys))
	res.kv("timeouts", timeouts)
	res.kv("check_s", time.Since(start))
	return res
}

// ---- per-session order ----

// checkSessionOrder checks, from each client's own history (program order),
// ZooKeeper's per-session guarantees:
//   - FIFO writes: a session's acknowledged writes return strictly
//     increasing Mzxid;
//   - read-your-writes: a plain get of a key returns an Mzxid at least the
//     session's last own write of that key;
//   - no stale reads: once a session has seen zxid Z (any Mzxid it got
//     back), a read of a key returns at least the latest acknowledged write
//     of that key with Mzxid <= Z (ZooKeeper clients send the last zxid
//     seen when they move, and servers behind it refuse them).
//
// Operations during which the session changed are left out.
func checkSessionOrder(clients [][]Op) CheckResult {
	res := CheckResult{Name: "session-order"}
	// every acknowledged write's Mzxid per key, sorted
	writes := map[string][]int64{}
	for _, ops := range clients {
		for _, op := range ops {
			if op.Status == OK && op.Mzxid != 0 && (op.Kind == KindSet || op.Kind == KindCAS || op.Kind == KindCounterSet) {
				writes[op.Key] = append(writes[op.Key], op.Mzxid)
			}
		}
	}
	for _, w := range writes {
		sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	}
	// latest known write of key with Mzxid <= z
	latest := func(key string, z int64) int64 {
		w := writes[key]
		i := sort.Search(len(w), func(i int) bool { return w[i] > z })
		if i == 0 {
			return 0
		}
		return w[i-1]
	}
	sessions, reads := 0, 0
	for _, ops := range clients {
		type sessState struct {
			lastWrite int64
			seen      int64
			own       map[string]int64
		}
		st := map[int64]*sessState{}
		for _, op := range ops {
			if op.Session == 0 || op.Status != OK || op.Mzxid == 0 {
				continue
			}
			s := st[op.Session]
			if s == nil {
				s = &sessState{own: map[string]int64{}}
				st[op.Session] = s
				sessions++
			}
			switch op.Kind {
			case KindSet, KindCAS, KindCounterSet:
				res.Ops++
				if op.Mzxid <= s.lastWrite {
					res.violation("client %d session %#x: write %s of %s at t=%.3fs returned mzxid %#x, not above its previous write's %#x",
						op.Client, op.Session, op.Kind, op.Key, secs(op.Invoke), op.Mzxid, s.lastWrite)
				}
				s.lastWrite = max(s.lastWrite, op.Mzxid)
				s.own[op.Key] = max(s.own[op.Key], op.Mzxid)
			case KindGet, KindSyncGet, KindCounterGet:
				res.Ops++
				reads++
				if own := s.own[op.Key]; op.Mzxid < own {
					res.violation("client %d session %#x: %s of %s at t=%.3fs returned mzxid %#x, older than its own write %#x (read-your-writes)",
						op.Client, op.Session, op.Kind, op.Key, secs(op.Invoke), op.Mzxid, own)
				} else if lb := latest(op.Key, s.seen); op.Mzxid < lb {
					res.violation("client %d session %#x: %s of %s at t=%.3fs returned mzxid %#x after the session had seen zxid %#x, when the key had mzxid %#x (stale read)",
						op.Client, op.Session, op.Kind, op.Key, secs(op.Invoke), op.Mzxid, s.seen, lb)
				}
			default:
				continue
			}
			s.seen = max(s.seen, op.Mzxid)
		}
	}
	res.kv("sessions", sessions)
	res.kv("reads", reads)
	return res
}

// ---- real-time order of writes ----

// checkWriteOrder checks that acknowledged writes are ordered by zxid
// consistently with real time: if write A returned before write B was
// invoked, A's Mzxid is below B's.
func checkWriteOrder(ops []Op) CheckResult {
	res := CheckResult{Name: "write-order"}
	var ws []Op
	for _, op := range ops {
		if op.Status == OK && op.Mzxid != 0 && (op.Kind == KindSet || op.Kind == KindCAS || op.Kind == KindCounterSet) {
			ws = append(ws, op)
		}
	}
	res.Ops = len(ws)
	byReturn := append([]Op(nil), ws...)
	sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
	sort.Slice(ws, func(i, j int) bool { return ws[i].Invoke < ws[j].Invoke })
	var maxZ int64
	var maxOp Op
	j := 0
	for _, b := range ws {
		for j < len(byReturn) && byReturn[j].Return < b.Invoke {
			if byReturn[j].Mzxid > maxZ {
				maxZ, maxOp = byReturn[j].Mzxid, byReturn[j]
			}
			j++
		}
		if b.Mzxid <= maxZ {
			res.violation("client %d %s of %s invoked t=%.6fs got mzxid %#x, but client %d's %s of %s, acknowledged before (t=%.6fs), has mzxid %#x",
				b.Client, b.Kind, b.Key, secs(b.Invoke), b.Mzxid, maxOp.Client, maxOp.Kind, maxOp.Key, secs(maxOp.Return), maxZ)
		}
	}
	return res
}

// writeFile writes s to dir/name (nothing if dir is empty).
func writeFile(dir, name, s string) error {
	if dir == "" {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644)
}
