#!/usr/bin/env bash
# cluster-coord.sh - drive a 3-member coord ensemble serving ZooKeeper's
# client protocol (zkserver) on 127.0.0.1, for zkbench
# (its run-all.sh). Same subcommands and output formats as
# zkbench's cluster.sh (see its README, "Cluster script interface"):
#
#   start | stop | kill N | restart N | leader | pids | servers | dirs |
#   status | wipe | describe
#
# Each member is internal/bench/coordmember (built into $BASE/bin on start
# when missing or older than the sources), started with setsid like
# cluster.sh's JVMs. Ports do not collide with cluster.sh's: clients
# 21811-21813, Raft 21821-21823; state under /tmp/zkbench-coord/m{1,2,3}.
#
# Durability matches ZooKeeper's defaults: a write is acknowledged only once
# its Raft log entry is fsynced on a majority (Dragonboat's log store syncs
# every batch of entries before they count as persisted).
#
# COORDMEMBER_FLAGS adds flags to every member (e.g. -cpuprofile is set per
# member with COORD_CPUPROFILE=DIR: DIR/m1.prof ... written at stop).
set -euo pipefail

BASE=${ZKBENCH_COORD_BASE:-/tmp/zkbench-coord}
case "$BASE" in /tmp/zkbench-*) ;; *) echo "ZKBENCH_COORD_BASE must be under /tmp/zkbench-*" >&2; exit 2;; esac
HOST=127.0.0.1
CLIENT_PORTS=(21811 21812 21813)
RAFT_PORTS=(21821 21822 21823)
N_MEMBERS=3
START_TIMEOUT=${ZKBENCH_START_TIMEOUT:-90}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN="$BASE/bin/coordmember"
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

die() { echo "cluster-coord.sh: $*" >&2; exit 1; }

check_n() {
  [[ "${1:-}" =~ ^[1-3]$ ]] || die "member number must be 1..$N_MEMBERS (got '${1:-}')"
}

mdir() { echo "$BASE/m$1"; }

members_flag() {
  local s="" i
  for ((i = 1; i <= N_MEMBERS; i++)); do s+="${s:+,}$i=$HOST:${RAFT_PORTS[$((i - 1))]}"; done
  echo "$s"
}

# true if pid is gone for good (no /proc entry, or a zombie)
pid_gone() {
  local line rest
  read -r line 2>/dev/null <"/proc/$1/stat" || return 0
  rest=${line##*) }
  [[ "${rest%% *}" == Z ]]
}

# pid of member N if its process is alive, else empty (bash builtins only)
alive_pid() {
  local f pid args
  f="$(mdir "$1")/pid"
  [[ -f "$f" ]] || return 0
  read -r pid <"$f" || true
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  pid_gone "$pid" && return 0
  # make sure the pid was not recycled by something else
  mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || return 0
  ((${#args[@]} > 2)) && [[ "${args[0]}" == "$BIN" && "${args[2]}" == "$1" ]] || return 0
  echo "$pid"
}

# send a four-letter word to member N's client port; the answer goes to REPLY4
fourlw() {
  local port=${CLIENT_PORTS[$(($1 - 1))]} fd line
  REPLY4=""
  exec {fd}<>"/dev/tcp/$HOST/$port" 2>/dev/null || return 0
  printf '%s' "$2" >&"$fd" || true
  while IFS= read -r -t 2 -u "$fd" line; do REPLY4+="$line"$'\n'; done
  exec {fd}>&-
  return 0
}

get_mode() {
  MODE=""
  fourlw "$1" srvr 2>/dev/null
  if [[ "$REPLY4" =~ Mode:\ ([a-z]+) ]]; then MODE=${BASH_REMATCH[1]}; fi
}

build() {
  mkdir -p "$BASE/bin"
  if [[ -x "$BIN" ]] && [[ -z "$(find "$ROOT" -name '*.go' -newer "$BIN" -not -path '*/testdata/*' -print -quit)" ]]; then
    return 0
  fi
  (cd "$ROOT" && "$GO" build -o "$BIN.tmp" ./internal/bench/coordmember) >&2 || die "build failed"
  mv "$BIN.tmp" "$BIN"
}

launch() {
  local n=$1 d i
  d=$(mdir "$n")
  [[ -n "$(alive_pid "$n")" ]] && return 0
  mkdir -p "$d/data" "$d/log"
  local extra=()
  if [[ -n "${COORD_CPUPROFILE:-}" ]]; then extra+=(-cpuprofile "$COORD_CPUPROFILE/m$n.prof"); fi
  # shellcheck disable=SC2086
  setsid "$BIN" -id "$n" -members "$(members_flag)" -dir "$d/data" \
    -zk "$HOST:${CLIENT_PORTS[$((n - 1))]}" "${extra[@]}" ${COORDMEMBER_FLAGS:-} \
    </dev/null >>"$d/log/member.log" 2>&1 &
  echo "$!" >"$d/pid"
  for ((i = 0; i < 500; i++)); do
    [[ -n "$(alive_pid "$n")" ]] && return 0
    sleep 0.01
  done
  die "member $n did not start, see $d/log/member.log"
}

find_leader() {
  local n
  for ((n = 1; n <= N_MEMBERS; n++)); do
    [[ -n "$(alive_pid "$n")" ]] || continue
    get_mode "$n"
    if [[ "$MODE" == leader ]]; then echo "$n"; return 0; fi
  done
  return 0
}

wait_serving() {
  local deadline=$((SECONDS + START_TIMEOUT)) n ok
  while :; do
    ok=1
    for n in "$@"; do
      [[ -n "$(alive_pid "$n")" ]] || die "member $n died during startup, see $(mdir "$n")/log/member.log"
      get_mode "$n"
      [[ "$MODE" == leader || "$MODE" == follower ]] || { ok=0; break; }
    done
    if ((ok)) && [[ -n "$(find_leader)" ]]; then return 0; fi
    ((SECONDS < deadline)) || die "timeout waiting for members $* to serve"
    sleep 0.05
  done
}

wait_gone() { # pid timeout_s
  local pid=$1 deadline=$((SECONDS + $2))
  until pid_gone "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.005
  done
  return 0
}

stop_member() {
  local n=$1 pid
  pid=$(alive_pid "$n")
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 15; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 10 || die "member $n (pid $pid) does not die"
    fi
  fi
  rm -f "$(mdir "$n")/pid"
}

cmd=${1:-}
case "$cmd" in
  start)
    build
    for n in $(seq 1 $N_MEMBERS); do launch "$n"; done
    wait_serving $(seq 1 $N_MEMBERS)
    ;;
  stop)
    for n in $(seq 1 $N_MEMBERS); do
      pid=$(alive_pid "$n"); [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true
    done
    for n in $(seq 1 $N_MEMBERS); do stop_member "$n"; done
    ;;
  kill)
    check_n "${2:-}"
    pid=$(alive_pid "$2")
    [[ -n "$pid" ]] || die "member $2 is not running"
    t=$EPOCHREALTIME
    kill -KILL "$pid"
    echo "killed_at=$t"
    wait_gone "$pid" 10 || die "member $2 (pid $pid) does not die"
    rm -f "$(mdir "$2")/pid"
    ;;
  restart)
    check_n "${2:-}"
    build
    stop_member "$2"
    launch "$2"
    wait_serving "$2"
    ;;
  leader)
    l=$(find_leader)
    [[ -n "$l" ]] || exit 1
    echo "$l"
    ;;
  pids)
    for n in $(seq 1 $N_MEMBERS); do pid=$(alive_pid "$n"); echo "$n ${pid:-0}"; done
    ;;
  servers)
    s=""
    for n in $(seq 1 $N_MEMBERS); do s+="${s:+,}$HOST:${CLIENT_PORTS[$((n - 1))]}"; done
    echo "$s"
    ;;
  dirs)
    for n in $(seq 1 $N_MEMBERS); do echo "$n $(mdir "$n")/data"; done
    ;;
  status)
    for n in $(seq 1 $N_MEMBERS); do
      pid=$(alive_pid "$n"); get_mode "$n"
      echo "$n ${pid:-0} ${MODE:-down}"
    done
    ;;
  wipe)
    "$0" stop
    rm -rf "$BASE"
    ;;
  describe)
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
    dirty=$(git -C "$ROOT" status --porcelain -- . 2>/dev/null | head -c1)
    echo "coord ${rev}${dirty:+ (modified tree)} (github.com/coordkit/coord: Dragonboat v4 Raft + Pebble tree) serving ZooKeeper 3.8's protocol (zkserver), $("$GO" version | cut -d' ' -f3), 3 member processes on $HOST, Raft log fsynced before a write is acknowledged (as ZooKeeper's forceSync=yes), Raft tick 10 ms, election 15 ticks, session timeouts 4-40 s (tickTime 2000)"
    ;;
  *)
    echo "usage: $0 start|stop|kill N|restart N|leader|pids|servers|dirs|status|wipe|describe" >&2
    exit 2
    ;;
esac
