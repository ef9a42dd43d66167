package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// gap is the longest stretch without an acknowledged write.
type gap struct {
	acked    int
	longest  time.Duration
	from, to int64 // ns since the start
}

// longestGap finds the longest interval in [from, to] without one of the
// acknowledgement times (ns since start).
func longestGap(acks []int64, from, to int64) gap {
	ts := make([]int64, 0, len(acks))
	for _, t := range acks {
		if t >= from && t <= to {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	g := gap{acked: len(ts)}
	prev := from
	for _, t := range append(ts, to) {
		if d := time.Duration(t - prev); d > g.longest {
			g.longest, g.from, g.to = d, prev, t
		}
		prev = t
	}
	return g
}

// availability is the liveness summary over the fault period: every
// acknowledged write of every workload, overall and per member (by the
// server the client was connected to when the write returned).
type availability struct {
	from, to  int64
	all       gap
	perMember []gap
	servers   []string
	unknown   int
}

func computeAvailability(ops []Op, servers []string, from, to int64) availability {
	a := availability{from: from, to: to, servers: servers, perMember: make([]gap, len(servers))}
	var all []int64
	per := make([][]int64, len(servers))
	idx := map[string]int{}
	for i, s := range servers {
		idx[s] = i
	}
	for _, op := range ops {
		if !isWrite(op.Kind) {
			continue
		}
		switch op.Status {
		case OK:
			all = append(all, op.Return)
			if i, ok := idx[op.Server]; ok {
				per[i] = append(per[i], op.Return)
			}
		case Unknown:
			if op.Invoke >= from && op.Invoke <= to {
				a.unknown++
			}
		}
	}
	a.all = longestGap(all, from, to)
	for i := range servers {
		a.perMember[i] = longestGap(per[i], from, to)
	}
	return a
}

// lines are the report's "# availability" lines.
func (a availability) lines() []string {
	span := secs(a.to - a.from)
	rate := 0.0
	if span > 0 {
		rate = float64(a.all.acked) / span
	}
	out := []string{fmt.Sprintf("# availability: acked_writes=%d writes_per_s=%.1f longest_gap_s=%.3f gap_from_t=%.3f gap_to_t=%.3f",
		a.all.acked, rate, a.all.longest.Seconds(), secs(a.all.from), secs(a.all.to))}
	for i, g := range a.perMember {
		out = append(out, fmt.Sprintf("# availability member=%d server=%s acked_writes=%d longest_gap_s=%.3f gap_from_t=%.3f gap_to_t=%.3f",
			i+1, a.servers[i], g.acked, g.longest.Seconds(), secs(g.from), secs(g.to)))
	}
	return out
}

// check judges the overall gap against maxGap.
func (a availability) check(maxGap time.Duration) CheckResult {
	res := CheckResult{Name: "availability", Ops: a.all.acked, Unknown: a.unknown}
	res.kv("longest_gap_s", a.all.longest)
	res.kv("gap_from_t", secs(a.all.from))
	res.kv("gap_to_t", secs(a.all.to))
	res.kv("max_gap_s", maxGap)
	if a.all.acked == 0 {
		res.violation("no write was acknowledged during the fault period")
	} else if a.all.longest > maxGap {
		res.violation("no write was acknowledged for %.3fs (t=%.3fs..%.3fs), more than %v",
			a.all.longest.Seconds(), secs(a.all.from), secs(a.all.to), maxGap)
	}
	return res
}

// timeline renders acknowledged writes per bucket with the nemesis actions
// interleaved.
func timeline(ops []Op, servers []string, events []faultEvent, end int64, bucket time.Duration) string {
	n := int(end/int64(bucket)) + 1
	acks := make([]int, n)
	unknown := make([]int, n)
	per := make([][]int, len(servers))
	for i := range per {
		per[i] = make([]int, n)
	}
	idx := map[string]int{}
	for i, s := range servers {
		idx[s] = i
	}
	for _, op := range ops {
		if !isWrite(op.Kind) {
			continue
		}
		switch op.Status {
		case OK:
			b := int(op.Return / int64(bucket))
			if b < 0 || b >= n {
				continue
			}
			acks[b]++
			if i, ok := idx[op.Server]; ok {
				per[i][b]++
			}
		case Unknown:
			if b := int(op.Invoke / int64(bucket)); b >= 0 && b < n {
				unknown[b]++
			}
		}
	}
	peak := 1
	for _, a := range acks {
		peak = max(peak, a)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# acknowledged writes per %v (all workloads); mN = acks through member N; unk = writes invoked with unknown outcome\n", bucket)
	ev := 0
	for i := 0; i < n; i++ {
		lo := int64(i) * int64(bucket)
		for ev < len(events) && events[ev].t < lo+int64(bucket) {
			fmt.Fprintf(&b, "%s\n", events[ev].line)
			ev++
		}
		fmt.Fprintf(&b, "t=%7.1fs acks=%5d", secs(lo), acks[i])
		for m := range servers {
			fmt.Fprintf(&b, " m%d=%4d", m+1, per[m][i])
		}
		fmt.Fprintf(&b, " unk=%3d |%s\n", unknown[i], strings.Repeat("#", acks[i]*50/peak))
	}
	for ; ev < len(events); ev++ {
		fmt.Fprintf(&b, "%s\n", events[ev].line)
	}
	return b.String()
}
