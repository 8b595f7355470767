#!/usr/bin/env bash
# Socket.IO benchmark for chatd (issue 3): the same workloads, in one run on the same machine,
# against examples/sio_conformance.cpp (chatd's socketio/ library; with --threads 1 and with its
# default threads) and against the reference Node server (npm socket.io, pinned in
# bench/sio/node-reference/package.json, doing the same relay). Prints a markdown table; with
# --write it also replaces the generated block of the "Socket.IO (issue 3)" section of
# docs/BENCHMARKS.md (the hand-written reading below the block is left alone).
#
#   ./bench/sio/sio_bench.sh [--write] [--quick] [--seconds S] [--warmup S] [--clients N]
#       [--room-size N] [--senders-per-room N] [--rates "R1 R2"] [--windows "W1 W2"]
#       [--idle "N1 N2"] [--hold S] [--servers "node chatd-1t chatd"] [--target-x X]
#       [--retries N] [--profile] [--raw DIR]
#
#   (a) room fan-out: --clients clients in rooms of --room-size; one sender per room (by default)
#       emits "to-room"; the server relays "room-message" to the other members. Open loop at each
#       of --rates (messages/s per sender; the last one should saturate Node), then closed loop
#       (as fast as the server goes, at most W messages per sender not yet delivered to the whole
#       room) for each of --windows, keeping the best. Node runs first: each chatd server then
#       also gets an open-loop run offering --target-x (default 10) times Node's best closed-loop
#       deliveries/s, the issue's goal, to see whether it delivers that and at what latency.
#       Deliveries/s, p50/p99/p99.9 latency, missing/duplicate deliveries, and the server's CPU
#       time per delivery (utime+stime from
#       /proc/PID/stat over the measured window: on a 2-core box the generator competes with the
#       server for CPU, so throughput alone understates what the server could do).
#   (b) idle memory: for each of --idle counts, a freshly started server, N connected Socket.IO
#       clients held --hold seconds; (VmRSS while connected - VmRSS before) / N.
#
# The server is pinned to CPU 1 and the generator to CPU 0 (taskset), except chatd with its
# default threads (one per core), which is left unpinned. A measured run that other programs
# disturbed (more than 0.15 of a core besides the server and the generator) is repeated up to
# --retries times (default 2). --profile also records where chatd (1 thread) spends its time in
# the closed-loop run (perf record) and prints the top functions.
# Environment: SIO_BIN (default build/release/sio-conformance), NODE (default node).
set -euo pipefail

SELF=$(realpath "${BASH_SOURCE[0]}")
SIO_DIR=$(dirname "$SELF")
ROOT=$(cd "$SIO_DIR/../.." && pwd)
cd "$ROOT"

CLIENTS=1000
ROOM_SIZE=100
SENDERS=1
SECS=10
WARMUP=2
DRAIN=10
RATES="20 150"
WINDOWS="16 64 256"
IDLE_COUNTS="10000 19000"
HOLD=5
SERVERS="node chatd-1t chatd"
TARGET_X=10
RETRIES=2
NOISE_MAX=0.15
PROFILE=0
WRITE=0
RAW_DIR=""
SIO_BIN=${SIO_BIN:-build/release/sio-conformance}
NODE=${NODE:-node}
ARGS_GIVEN="$*"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --write) WRITE=1 ;;
    --quick) SECS=3; WARMUP=1; WINDOWS="64"; IDLE_COUNTS="10000"; HOLD=2; RETRIES=0 ;;
    --seconds) SECS=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --clients) CLIENTS=$2; shift ;;
    --room-size) ROOM_SIZE=$2; shift ;;
    --senders-per-room) SENDERS=$2; shift ;;
    --rates) RATES=$2; shift ;;
    --windows) WINDOWS=$2; shift ;;
    --idle) IDLE_COUNTS=$2; shift ;;
    --hold) HOLD=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    --target-x) TARGET_X=$2; shift ;;
    --retries) RETRIES=$2; shift ;;
    --profile) PROFILE=1 ;;
    --raw) RAW_DIR=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "sio_bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

die() { echo "sio_bench: FAIL: $*" >&2; exit 1; }
note() { echo "sio_bench: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Prerequisites: the server binaries, the generator (built here), node_modules.
[[ -x $SIO_BIN ]] || die "no sio-conformance binary at $SIO_BIN (build the Release tree or set SIO_BIN)"
SIO_BIN=$(cd "$(dirname "$SIO_BIN")" && pwd)/$(basename "$SIO_BIN")
command -v "$NODE" >/dev/null || die "node not found (Debian package 'nodejs')"
command -v npm >/dev/null || die "npm not found (Debian package 'npm')"
CLK_TCK=$(getconf CLK_TCK)

BUILD_DIR="$SIO_DIR/.build"
LOAD="$BUILD_DIR/sio_load"
mkdir -p "$BUILD_DIR"
if [[ ! -x $LOAD || $SIO_DIR/sio_load.cpp -nt $LOAD || $ROOT/bench/common/sio_client.h -nt $LOAD ]]; then
  note "building the load generator"
  g++ -O2 -std=c++20 -Wall -Wextra "$SIO_DIR/sio_load.cpp" -o "$LOAD.tmp" -pthread
  mv "$LOAD.tmp" "$LOAD"
fi

NODE_DIR="$SIO_DIR/node-reference"
if [[ ! -f $NODE_DIR/node_modules/socket.io/package.json ||
      $NODE_DIR/package-lock.json -nt $NODE_DIR/node_modules/.package-lock.json ]]; then
  note "npm ci in $NODE_DIR"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
SOCKETIO_VERSION=$("$NODE" -p "require('$NODE_DIR/node_modules/socket.io/package.json').version")

# File descriptors: as many as the hard limit allows (each idle client costs one on each side).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
IDLE_LIST=""
for n in $IDLE_COUNTS; do
  if ((n + 200 > FD_LIMIT)); then
    note "idle count $n does not fit the open-file limit $FD_LIMIT; using $((FD_LIMIT - 200))"
    n=$((FD_LIMIT - 200))
  fi
  IDLE_LIST="$IDLE_LIST $n"
done

HAVE_TASKSET=0
if command -v taskset >/dev/null && (($(nproc) >= 2)); then HAVE_TASKSET=1; fi
# Command prefixes that pin to CPU 0 (the generator) and CPU 1 (a server): taskset execs the
# command, so $! of a backgrounded "${PIN1[@]}" server is the server's own PID.
PIN0=()
PIN1=()
if ((HAVE_TASKSET)); then PIN0=(taskset -c 0); PIN1=(taskset -c 1); fi

WORK=$(mktemp -d /tmp/sio-bench.XXXXXX)
RESULTS="$WORK/results"
: >"$RESULTS"
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
# One build for the whole run (and symbols for perf), even if the tree is rebuilt meanwhile.
SIO_BUILD="$(date -u -r "$SIO_BIN" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$SIO_BIN" | cut -c1-12)"
cp "$SIO_BIN" "$WORK/sio-conformance"
SIO_BIN="$WORK/sio-conformance"
SERVER_PID=""
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -z $RAW_DIR ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
if [[ -n $RAW_DIR ]]; then mkdir -p "$RAW_DIR"; fi

machine_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }

# Waits (up to 1 min) until the machine is quiet: less than 0.15 of a core busy over one second.
QUIET_TIMEOUTS=0
wait_quiet() {
  local deadline=$((SECONDS + 60)) a b warned=0
  while :; do
    a=$(machine_busy_ticks); sleep 1; b=$(machine_busy_ticks)
    if (((b - a) * 100 < 15 * CLK_TCK)); then return 0; fi
    if ((SECONDS >= deadline)); then
      note "warning: the machine is still busy with other work; measuring anyway"
      QUIET_TIMEOUTS=$((QUIET_TIMEOUTS + 1))
      return 0
    fi
    if ((!warned)); then note "the machine is busy with other processes; waiting for it to be quiet"; warned=1; fi
  done
}

# ---------------------------------------------------------------------------------------------
# Servers.
server_label() {
  case $1 in
    chatd-1t) echo "chatd, 1 thread" ;;
    chatd) echo "chatd, $(nproc) threads" ;;
    node) echo "Node socket.io $SOCKETIO_VERSION" ;;
  esac
}

STARTS=0
start_server() {  # start_server NAME -> SERVER_PID, SERVER_PORT, SERVER_LOG
  local name=$1 log i port=""
  STARTS=$((STARTS + 1))
  log="$WORK/$name.$STARTS.log"
  SERVER_LOG=$log
  local sio_flags=(--host 127.0.0.1 --port 0 --ping-interval-ms 25000 --ping-timeout-ms 20000 --log-level warn)
  case $name in
    chatd-1t) "${PIN1[@]}" "$SIO_BIN" "${sio_flags[@]}" --threads 1 >"$log" 2>&1 & ;;
    chatd) "$SIO_BIN" "${sio_flags[@]}" >"$log" 2>&1 & ;;
    node) "${PIN1[@]}" "$NODE" --max-old-space-size=8192 "$NODE_DIR/server.mjs" 0 \
            --ping-interval-ms 25000 --ping-timeout-ms 20000 >"$log" 2>&1 & ;;
    *) die "unknown server $name" ;;
  esac
  SERVER_PID=$!
  for ((i = 0; i < 200; i++)); do
    port=$(grep -oE 'listening on (http://[^ ]*:)?[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)
    [[ -n $port ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; die "$name exited at start"; }
    sleep 0.05
  done
  [[ -n $port ]] || die "$name did not print its port"
  SERVER_PORT=$port
  sleep 1  # let it settle (Node finishes loading modules)
}

stop_server() {
  local name=$1 i
  [[ -n $SERVER_PID ]] || return 0
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    note "$name had exited before the end (log: $SERVER_LOG)"
    tail -20 "$SERVER_LOG" >&2 || true
    SERVER_PID=""
    return 0
  fi
  kill -TERM "$SERVER_PID"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    note "$name ignored SIGTERM; killing it"
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# get KEY "RESULT line" -> value
get() { grep -oE "(^| )$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2; }

# run_load SERVER LABEL ARGS... : one generator run with retries on a disturbed machine; appends
# "SERVER LABEL RESULT ..." (the least disturbed attempt) to $RESULTS.
run_load() {
  local server=$1 label=$2; shift 2
  local attempt best="" best_other=999 out line other rc
  for ((attempt = 0; attempt <= RETRIES; attempt++)); do
    wait_quiet
    out="$WORK/$server.$label.$attempt.out"
    rc=0
    "${PIN0[@]}" "$LOAD" "$@" --url "127.0.0.1:$SERVER_PORT" --server-pid "$SERVER_PID" >"$out" 2>&1 || rc=$?
    line=$(grep '^RESULT ' "$out" | tail -1 || true)
    if [[ -z $line ]]; then
      note "$server $label: the generator failed (exit $rc):"
      tail -5 "$out" >&2
      line="RESULT ok=0 error=generator"
    fi
    grep -E '^sio_load: (fanout|idle|first error)' "$out" | sed "s/^sio_load:/  $server $label:/" >&2 || true
    if [[ -n $RAW_DIR ]]; then cp "$out" "$RAW_DIR/"; fi
    other=$(get other_cores "$line"); other=${other:-0}
    if awk -v o="$other" -v b="$best_other" 'BEGIN { exit !(o < b) }'; then best=$line; best_other=$other; fi
    if awk -v o="$other" -v m="$NOISE_MAX" 'BEGIN { exit !(o <= m) }'; then break; fi
    ((attempt < RETRIES)) && note "$server $label: other programs used $other cores; repeating"
  done
  echo "$server $label $best" >>"$RESULTS"
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    note "$server died during $label"
    tail -20 "$SERVER_LOG" >&2 || true
    return 1
  fi
}

FANOUT_ARGS=(fanout --clients "$CLIENTS" --room-size "$ROOM_SIZE" --senders-per-room "$SENDERS"
             --seconds "$SECS" --warmup "$WARMUP" --drain "$DRAIN")
PERF_REPORT="$WORK/perf.txt"
: >"$PERF_REPORT"

ROOMS=$(((CLIENTS + ROOM_SIZE - 1) / ROOM_SIZE))
TARGET_RATE=""
for server in $SERVERS; do
  note "=== $(server_label "$server")"
  start_server "$server"
  alive=1
  for r in $RATES; do
    ((alive)) || break
    run_load "$server" "open$r" "${FANOUT_ARGS[@]}" --rate "$r" || alive=0
  done
  if [[ $server != node && -n $TARGET_RATE ]] && ((alive)); then
    run_load "$server" target "${FANOUT_ARGS[@]}" --rate "$TARGET_RATE" || alive=0
  fi
  for w in $WINDOWS; do
    ((alive)) || break
    if ((PROFILE)) && [[ $server == chatd-1t ]] && [[ $w == "${WINDOWS##* }" ]] && command -v perf >/dev/null; then
      # Profile the last closed-loop run: perf record over the measured window.
      (sleep $((WARMUP + 2)); perf record -F 1999 -g -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep "$SECS" \
         >/dev/null 2>&1) &
      perf_job=$!
      run_load "$server" "closed$w" "${FANOUT_ARGS[@]}" --rate 0 --window "$w" || alive=0
      wait "$perf_job" || true
      # Self time by binary, then the top symbols (template arguments elided).
      {
        perf report -i "$WORK/perf.data" --stdio --no-children -g none --sort dso --percent-limit 1 2>/dev/null \
          | grep -E '^ +[0-9.]+%' | sed 's/[[:space:]]*$//'
        echo
        perf report -i "$WORK/perf.data" --stdio --no-children -g none --sort symbol --percent-limit 0.7 2>/dev/null \
          | grep -E '^ +[0-9.]+%' | perl -pe '1 while s/<[^<>]*>//g; s/\s+-\s+-\s*$//; s/\s+$//; $_ .= "\n"' | head -30
      } >"$PERF_REPORT" || true
    else
      run_load "$server" "closed$w" "${FANOUT_ARGS[@]}" --rate 0 --window "$w" || alive=0
    fi
  done
  if [[ $server == node ]] && awk -v x="$TARGET_X" 'BEGIN { exit !(x > 0) }'; then
    # X times Node's best closed-loop deliveries/s, as a rate per sender.
    TARGET_RATE=$(awk -v s=node -v x="$TARGET_X" -v d="$((ROOMS * SENDERS * (ROOM_SIZE - 1)))" '
      $1 == s && $2 ~ /^closed/ { for (i = 3; i <= NF; i++) { split($i, kv, "=");
          if (kv[1] == "deliveries_per_s" && kv[2] + 0 > best) best = kv[2] + 0 } }
      END { if (best > 0) printf "%d", (x * best + d - 1) / d }' "$RESULTS")
    [[ -n $TARGET_RATE ]] && note "target for chatd: $TARGET_RATE msg/s per sender ($TARGET_X x Node's best)"
  fi
  stop_server "$server"
  for n in $IDLE_LIST; do
    start_server "$server"   # a fresh process: no heap left over from earlier runs
    run_load "$server" "idle$n" idle --clients "$n" --hold-seconds "$HOLD" || true
    stop_server "$server"
  done
done

# ---------------------------------------------------------------------------------------------
# The report.
val() {  # val SERVER LABEL KEY
  awk -v s="$1" -v l="$2" -v k="$3" '$1 == s && $2 == l {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      if (k == "deliveries_per_core") {  # deliveries per second of server CPU time
        if (f["server_cores"] + 0 > 0) print f["deliveries_per_s"] / f["server_cores"]; else print -1
      } else if (k in f) print f[k]
      exit }' "$RESULTS"
}
# Best closed-loop window of a server (highest deliveries/s).
best_closed() {
  awk -v s="$1" '$1 == s && $2 ~ /^closed/ {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "deliveries_per_s" && kv[2] + 0 > best) { best = kv[2] + 0; l = $2 } } }
      END { print l }' "$RESULTS"
}
num() {  # num VALUE FORMAT: formats, or "n/a"
  awk -v v="$1" -v f="$2" 'BEGIN { if (v == "" || v + 0 < 0) print "n/a"; else printf f, v }'
}
kfmt() {  # thousands separators
  awk -v v="$1" 'BEGIN { if (v == "" || v + 0 < 0) { print "n/a"; exit } v = sprintf("%.0f", v); s = "";
    while (length(v) > 3) { s = "," substr(v, length(v) - 2) s; v = substr(v, 1, length(v) - 3) } print v s }'
}
ratio() {  # ratio A B -> A/B
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a + 0 <= 0 || b + 0 <= 0) print "n/a"; else printf "%.2f", a / b }'
}
ms() { awk -v v="$1" 'BEGIN { if (v == "" || v + 0 < 0) print "n/a"; else if (v >= 100000) printf "%.0f", v / 1000; else if (v >= 10000) printf "%.1f", v / 1000; else printf "%.2f", v / 1000 }'; }
mark() {  # a dagger when the run was disturbed or incorrect
  local s=$1 l=$2 m="" o ok
  o=$(val "$s" "$l" other_cores); ok=$(val "$s" "$l" ok)
  if awk -v o="${o:-0}" -v m="$NOISE_MAX" 'BEGIN { exit !(o > m) }'; then m="†"; fi
  if [[ $ok != 1 ]]; then m="$m‡"; fi
  echo "$m"
}

NODE_SERVER=""
CHATD_SERVERS=()
for s in $SERVERS; do
  if [[ $s == node ]]; then NODE_SERVER=node; else CHATD_SERVERS+=("$s"); fi
done
SHOWN="${CHATD_SERVERS[*]} $NODE_SERVER"   # column order: chatd first, Node last

REPORT="$WORK/report.md"
DISTURBED=0
{
  echo "Generated by \`./bench/sio/sio_bench.sh${ARGS_GIVEN:+ $ARGS_GIVEN}\`, started $START_DATE."
  echo
  echo "- Server under test: \`sio-conformance\` (examples/sio_conformance.cpp) built $SIO_BUILD; the reference: \`bench/sio/node-reference/server.mjs\`."
  echo "- Machine: $(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r); Node $("$NODE" --version), socket.io $SOCKETIO_VERSION."
  echo "- Pinning: $(if ((HAVE_TASKSET)); then echo "generator on CPU 0; Node and chatd (1 thread) on CPU 1; chatd ($(nproc) threads) unpinned"; else echo "none (no taskset)"; fi). Both servers: pingInterval 25 s, pingTimeout 20 s, WebSocket transport, no compression."
  echo "- Fan-out: $CLIENTS clients in rooms of $ROOM_SIZE ($(((CLIENTS + ROOM_SIZE - 1) / ROOM_SIZE)) rooms), $SENDERS sender(s) per room emitting \`to-room\`; each message reaches the $((ROOM_SIZE - 1)) other members as \`room-message\`. ${WARMUP} s warm-up, ${SECS} s measured. Open loop: a fixed rate per sender. Closed loop: as fast as the server goes with at most W messages per sender not yet delivered to the whole room (best of W = ${WINDOWS// /, })."
  echo "- Idle: a fresh server, N clients connected (Engine.IO + Socket.IO CONNECT, answering pings), held ${HOLD} s; (VmRSS then - VmRSS before connecting) / N."
  echo "- CPU per delivery: server utime+stime over the measured window / deliveries in it. Ratios are chatd ÷ Node (higher is better for deliveries/s; lower is better for latency, CPU and memory)."
  echo
  printf '| workload | metric |'
  for s in $SHOWN; do printf ' %s |' "$(server_label "$s")"; done
  if [[ -n $NODE_SERVER ]]; then for s in "${CHATD_SERVERS[@]}"; do printf ' %s ÷ Node |' "$(server_label "$s" | sed 's/, / /')"; done; fi
  echo
  printf '|---|---|'
  for s in $SHOWN; do printf -- '---:|'; done
  if [[ -n $NODE_SERVER ]]; then for s in "${CHATD_SERVERS[@]}"; do printf -- '---:|'; done; fi
  echo

  row() {  # row WORKLOAD METRIC KIND(label or "best") KEY FORMATTER [ratio]
    local workload=$1 metric=$2 kind=$3 key=$4 fmtr=$5 want_ratio=${6:-1} s l v m nodev
    printf '| %s | %s |' "$workload" "$metric"
    for s in $SHOWN; do
      l=$kind; [[ $kind == best ]] && l=$(best_closed "$s")
      if [[ -z $l ]] || ! awk -v s="$s" -v l="$l" '$1 == s && $2 == l { f = 1 } END { exit !f }' "$RESULTS"; then
        printf ' — |'
        continue
      fi
      v=$(val "$s" "$l" "$key")
      m=$(mark "$s" "$l")
      if [[ $m == *†* ]]; then DISTURBED=1; fi
      printf ' %s%s |' "$($fmtr "$v")" "$m"
    done
    if [[ -n $NODE_SERVER ]]; then
      l=$kind; [[ $kind == best ]] && l=$(best_closed node)
      nodev=$(val node "$l" "$key")
      for s in "${CHATD_SERVERS[@]}"; do
        l=$kind; [[ $kind == best ]] && l=$(best_closed "$s")
        if ((want_ratio)); then printf ' %s |' "$(ratio "$(val "$s" "$l" "$key")" "$nodev")"; else printf ' |'; fi
      done
    fi
    echo
  }
  us2() { num "$1" "%.2f"; }
  int() { num "$1" "%.0f"; }
  # rss_span BEFORE_KB: "before → end" of the idle run being printed (uses $s and $l from row).
  rss_span() {
    local e; e=$(val "$s" "$l" rss_end_kb)
    awk -v a="$1" -v b="$e" 'BEGIN { if (a == "" || b == "" || a + 0 < 0) print "n/a"; else printf "%.1f → %.1f", a / 1024, b / 1024 }'
  }
  cores() { num "$1" "%.2f"; }
  for r in $RATES; do
    offered=$((ROOMS * SENDERS * r * (ROOM_SIZE - 1)))
    w="open loop, $r msg/s per sender ($(kfmt "$offered") deliveries/s offered)"
    row "$w" "deliveries/s" "open$r" deliveries_per_s kfmt
    row "$w" "latency p50 (ms)" "open$r" p50_us ms
    row "$w" "latency p99 (ms)" "open$r" p99_us ms
    row "$w" "latency p99.9 (ms)" "open$r" p999_us ms
    row "$w" "server CPU per delivery (µs)" "open$r" server_us_per_delivery us2
    row "$w" "server cores" "open$r" server_cores cores 0
    row "$w" "generator cores" "open$r" gen_cores cores 0
  done
  if [[ -n $TARGET_RATE ]]; then
    offered=$((ROOMS * SENDERS * TARGET_RATE * (ROOM_SIZE - 1)))
    w="open loop at ${TARGET_X}× Node's best: $TARGET_RATE msg/s per sender ($(kfmt "$offered") deliveries/s offered)"
    row "$w" "deliveries/s" target deliveries_per_s kfmt 0
    row "$w" "latency p50 (ms)" target p50_us ms 0
    row "$w" "latency p99 (ms)" target p99_us ms 0
    row "$w" "latency p99.9 (ms)" target p999_us ms 0
    row "$w" "server CPU per delivery (µs)" target server_us_per_delivery us2 0
    row "$w" "server cores" target server_cores cores 0
    row "$w" "generator cores" target gen_cores cores 0
    row "$w" "backlog drained after the window (s)" target drain_s us2 0
  fi
  w="closed loop (max throughput)"
  row "$w" "deliveries/s" best deliveries_per_s kfmt
  row "$w" "window W (messages per sender)" best window int 0
  row "$w" "latency p50 (ms)" best p50_us ms
  row "$w" "latency p99 (ms)" best p99_us ms
  row "$w" "server CPU per delivery (µs)" best server_us_per_delivery us2
  row "$w" "deliveries per server CPU-second" best deliveries_per_core kfmt
  row "$w" "server cores" best server_cores cores 0
  row "$w" "generator cores" best gen_cores cores 0
  for n in $IDLE_LIST; do
    w="idle, $(kfmt "$n") connections"
    row "$w" "RSS per socket (bytes)" "idle$n" bytes_per_socket kfmt
    row "$w" "server RSS before → connected (MiB)" "idle$n" rss_before_kb rss_span 0
  done
  echo
  # Correctness over every fan-out run.
  for s in $SHOWN; do
    awk -v s="$s" -v name="$(server_label "$s")" '$1 == s && $2 !~ /^idle/ {
        for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        runs++; missing += f["missing"]; dups += f["dup_or_reorder"]; disc += f["disconnects"]; del += f["deliveries"]
        if (f["ok"] != 1) bad++ }
      $1 == s && $2 ~ /^idle/ { for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        if (f["ok"] != 1) { idlebad++; lost += f["lost"] } }
      END { printf "- %s: %d fan-out runs, %d deliveries checked: %d missing, %d duplicate or out of order, %d disconnects%s%s.\n",
              name, runs, del, missing, dups, disc, (bad ? sprintf(" (%d runs not clean)", bad) : ""),
              (idlebad ? sprintf("; %d idle runs not clean (%d connections lost)", idlebad, lost) : "") }' "$RESULTS"
  done
  if ((DISTURBED)); then
    echo "- † other programs used more than $NOISE_MAX of a core during that run, even after $RETRIES retries: its figures are disturbed."
  fi
  if ((QUIET_TIMEOUTS)); then echo "- The machine never became quiet before $QUIET_TIMEOUTS run(s)."; fi
  if [[ -s $PERF_REPORT ]]; then
    echo
    echo "Where chatd (1 thread) spends its CPU in the closed-loop run (\`perf record\` over the measured window; self time by binary, then by symbol, template arguments elided):"
    echo
    echo '```'
    cat "$PERF_REPORT"
    echo '```'
  fi
} >"$REPORT"

echo
cat "$REPORT"

if ((WRITE)); then
  DOC="$ROOT/docs/BENCHMARKS.md"
  BEGIN='<!-- BEGIN generated by bench/sio/sio_bench.sh --write -->'
  END='<!-- END generated by bench/sio/sio_bench.sh -->'
  mkdir -p "$(dirname "$DOC")"
  [[ -f $DOC ]] || printf '# chatd benchmarks\n' >"$DOC"
  if grep -qF "$BEGIN" "$DOC"; then
    awk -v b="$BEGIN" -v e="$END" -v rep="$REPORT" '
      $0 == b { print; while ((getline l < rep) > 0) print l; skip = 1; next }
      $0 == e { skip = 0 }
      !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  else
    { echo; echo "## Socket.IO (issue 3)"; echo;
      echo "Run \`./bench/sio/sio_bench.sh --write\` from the repository root to refresh the block below; the reading after it is written by hand."
      echo; echo "$BEGIN"; cat "$REPORT"; echo "$END"; } >>"$DOC"
  fi
  note "wrote the results into $DOC"
fi
