// Package chaos is a multi-process nemesis (Jepsen-style) test suite for
// ZooKeeper-protocol ensembles: it runs client workloads against a
// three-member ensemble while a nemesis kills, pauses and partitions
// members, then heals everything and checks the recorded histories.
//
// It talks to the ensemble only through the ZooKeeper client protocol
// (github.com/go-zookeeper/zk), so the same suite runs against coord
// (zkserver) and against Apache ZooKeeper 3.8, and controls members only
// through the small Cluster interface:
//
//   - ScriptCluster drives any script with zkbench's cluster-script
//     interface (start|stop|kill N|restart N|leader|pids|servers|describe),
//     such as zkbench's cluster.sh (ZooKeeper) and
//     internal/bench/cluster-coord.sh. It partitions only if the script
//     also answers "isolate N" and "heal" (probed once at Start).
//   - ProcCluster runs three internal/bench/coordmember processes itself:
//     client ports on 127.0.0.1, Raft on 127.0.0.11-13 (one IP per member;
//     coord's transport dials from its listen IP), data in a temporary
//     directory, each member's output in mN.log. As root it partitions with
//     iptables: a chain of its own (COORDCHAOS<pid>-<suffix>) jumped to from
//     OUTPUT; Isolate(n) drops traffic from and to member n's Raft IP (client
//     traffic on 127.0.0.1 is not touched); Heal flushes the chain; Stop
//     removes it. Chains left by a killed process are removed by the next run.
//
// # Faults
//
// The schedule comes from a seed (math/rand/v2; the seed is printed). After
// a quiet start of 2 s there is one fault at a time, a new one every 5-8 s
// (start to start), the previous one always healed first and at least 1 s
// before the next:
//
//	kill-leader, kill-follower      SIGKILL, restart after 2-4 s (the restart waits until the member serves)
//	pause-leader, pause-follower    SIGSTOP for 3-6 s, then SIGCONT
//	isolate-leader, isolate-follower cut off for 3-6 s (only if the cluster can partition)
//
// The leader is asked for (Cluster.Leader) at the moment of the fault; if it
// is unknown a random member is picked and the log line says
// leader=unknown. A fault still active at the end of the fault period is
// healed then (cut=end-of-period). At the end the nemesis resumes every
// member, heals partitions and restarts dead members; then every member must
// answer a sync and a write on a session of its own within 30 s (the
// harness check).
//
// # Workloads
//
// Clients run during the whole fault period, each with its own session
// (6 s requested, all servers given so that it can move), a client id and a
// history of every operation: invoke and return time, input, output, and
// the outcome ok, fail (the server refused, or the request was never sent)
// or unknown (connection loss, session expiry, no answer within 10 s: a
// write may or may not have been applied). go-zookeeper has no request
// deadline, so an operation that does not return in time has its
// connection closed and the client opens a new session.
//
//  1. registers (9 clients): keys rotate in epochs (5 new keys every 5 s).
//     Ops: set (unique value, returns the new version), cas (get, then
//     setData with that version: ok or BadVersion), check (a multi with one
//     CheckVersion: a linearizable read of the version through the log),
//     sync-get (sync then getData) and plain get (only sequentially
//     consistent in ZooKeeper, so used only by the session-order check).
//  2. durable (3 clients): persistent creates with unique names.
//  3. lock (6 clients): ZooKeeper's lock recipe written here
//     (ephemeral-sequential child, getChildren, exists-watch of the
//     predecessor, delete to release). The holder reads a counter and
//     writes value+1 with the version it read. A client whose session is
//     disconnected or expires while it holds the lock gives up the round;
//     any trouble with its session makes it close the session.
//  4. ephemerals (6 clients, 2 of them keep one session for the whole run):
//     sessions in turn, each creating 3 ephemerals, then closed (Close),
//     abandoned (TCP connection cut by a dialer that is then switched off,
//     so the servers must expire the session) or kept to the end.
//
// # Checks
//
// Each check prints one line
//
//	check=NAME ok=true|false ops=N unknown=N violations=N key=value... [problems="..."] [error="..."]
//
// and the run ends with "chaos: P passed, F failed".
//
//   - registers: each key's set/cas/check/sync-get history is linearizable
//     (porcupine) for a register holding (value, version); unknown writes may
//     take effect at any time after their call, or never. Proves writes are
//     linearizable, compare-and-set and version checks see the latest
//     version and sync+read is not stale. The check time is bounded;
//     timeouts= counts keys not decided in time.
//   - session-order: per session, acknowledged writes return strictly
//     increasing Mzxid (FIFO), a plain get returns at least the session's
//     own last write of the key (read-your-writes), and never a value older
//     than what the session had already seen (no stale read after a move).
//   - write-order: across all clients, a write invoked after another write
//     was acknowledged gets a higher zxid (the zxid order agrees with real
//     time).
//   - durable: every acknowledged create exists on every member (each
//     listed after a sync on a session to that member alone); creates that
//     certainly failed and names no client created exist nowhere; members
//     agree.
//   - lock: acknowledged increments produce distinct values; the final
//     counter, on every member, lies between the acknowledged increments and
//     those plus the unknown ones; a BadVersion while holding the lock (two
//     holders overlapped) is allowed only if the holder's session was
//     disconnected or expired during the hold (counted as allowed_overlaps).
//   - ephemerals: on every member after a sync, the nodes of closed and
//     abandoned sessions are gone once the session's negotiated timeout plus
//     slack has passed (from the later of the session's end and the last
//     heal, since a new leader grants sessions a fresh timeout; the check
//     waits for this, bounded), the nodes of kept sessions still exist and
//     belong to them, and no other ephemeral exists. An observer session
//     watches one node of each abandoned session and times its expiry
//     (expiry_min_s, expiry_med_s, expiry_max_s after the cut); a session
//     whose connection had never been disturbed must not expire sooner than
//     two thirds of its timeout after the cut (it was last heard of at most
//     a ping interval, a third of the timeout, before), less 0.5 s.
//   - availability: the longest stretch of the fault period without any
//     acknowledged write (all workloads) must not exceed -max-gap (10 s).
//   - harness: every member serves within 30 s after the final heal.
//
// Besides, the report prints
//
//	# availability: acked_writes=N writes_per_s=X longest_gap_s=Y gap_from_t=A gap_to_t=B
//
// and the same per member (by the server the client was connected to when
// its write returned). The longest gap is the headline liveness figure.
//
// # Output
//
// The report goes to standard output (nemesis lines as they happen:
// "nemesis t=3.721s wall=HH:MM:SS.mmm kind=pause-follower member=3
// pid=21060 action=stop for=4.4s"). The output directory holds
// history.jsonl (every operation, one JSON object a line, times in ns since
// the start), faults.log (the nemesis lines), timeline.txt (acknowledged
// writes per 0.5 s, per member, with the faults interleaved), summary.txt
// (header, availability and check lines, every violation), clients.log
// (go-zookeeper's connection log per client), porcupine-KEY.html for a key
// that is not linearizable, and for ProcCluster members/m1.log...m3.log.
//
// # Running
//
// Short (ProcCluster, 25 s of faults, about 45 s with the build; skipped
// with -short):
//
//	go test -run TestChaos -v ./internal/chaos/
//	go test -run TestChaos -v ./internal/chaos/ -chaos.duration=2m -chaos.seed=7 -chaos.out=/tmp/chaos
//
// Long, against any cluster script or a ProcCluster (exit status 1 if a
// check fails):
//
//	go run ./internal/chaos/cmd/chaos -cluster internal/bench/cluster-coord.sh -duration 10m -seed 7 -out /tmp/x
//	go run ./internal/chaos/cmd/chaos -cluster "$ZKBENCH/cluster.sh" -duration 60s # $ZKBENCH: a zkbench checkout
//	go run ./internal/chaos/cmd/chaos -proc -duration 10m
package chaos
