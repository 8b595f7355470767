#!/usr/bin/env bash
# REST benchmark for chatd (issue 2): login, send and history, measured with wrk against the real
# Release binary. Prints a markdown table; with --write it also replaces the generated block of the
# "REST (issue 2)" section in docs/BENCHMARKS.md (the hand-written reading below it is left alone).
#
#   ./bench/rest_bench.sh [--write] [--duration S] [--warmup S] [--connections N] [--threads N]
#                         [--quick] [--only login|login-cheap|send|send-normal|history]
#                         [--retries N] [--raw DIR]
#
# A measured run that other programs disturbed (over 0.1 core of user-mode time besides chatd and
# wrk) is repeated up to --retries times (default 2). --raw DIR keeps wrk's full output per run.
# Environment: CHATD_BIN (default build/release/chatd), WRK (default wrk).
#
# Every workload gets a warm-up run (discarded), waits until the server is idle and the machine quiet,
# then a measured run with `wrk --latency`. Server CPU time per request comes from utime+stime in
# /proc/<pid>/stat (all threads) read just before and just after the measured run; on a 2-core box
# wrk competes with the server for CPU, so throughput alone understates what the server could do.
# Any non-2xx/3xx response or socket error (timeouts included) fails the run, as does a server that
# does not exit 0 on SIGTERM.
set -euo pipefail

SELF=$(realpath "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)
BENCH_DIR="$ROOT/bench"
cd "$ROOT"

DURATION=10
WARMUP=2
CONNECTIONS=32
THREADS=2
WRITE=0
ONLY=""
RAW_DIR=""
RETRIES=2
WRK=${WRK:-wrk}
WRK_TIMEOUT=10s
SEED_MESSAGES=1000
CHATD_BIN=${CHATD_BIN:-build/release/chatd}
ARGS_GIVEN="$*"

usage() { sed -n '2,11p' "$SELF" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --write) WRITE=1 ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --quick) DURATION=3; WARMUP=1 ;;
    --only) ONLY=$2; shift ;;
    --raw) RAW_DIR=$2; shift ;;
    --retries) RETRIES=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "rest_bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

die() { echo "rest_bench: FAIL: $*" >&2; exit 1; }
note() { echo "rest_bench: $*" >&2; }

case $ONLY in
  ""|login|login-cheap|send|send-normal|history) ;;
  *) die "--only takes login, login-cheap, send, send-normal or history" ;;
esac

# ---------------------------------------------------------------------------------------------
# Prerequisites
command -v "$WRK" >/dev/null || die "wrk not found (Debian package 'wrk'; 'make deps' installs it)"
command -v curl >/dev/null || die "curl not found"
[[ -x $CHATD_BIN ]] || die "no chatd binary at $CHATD_BIN (run 'make build' or set CHATD_BIN)"
CHATD_BIN=$(cd "$(dirname "$CHATD_BIN")" && pwd)/$(basename "$CHATD_BIN")
CLK_TCK=$(getconf CLK_TCK)

# Only the flags given below shape the server: drop CHATD_* settings from the environment.
while read -r v; do
  if [[ $v != CHATD_BIN ]]; then unset "$v"; fi
done < <(compgen -e | grep -E '^(CHATD_|JWT_SECRET$)' || true)

# The server's defaults, for the report (from --help: "--opt TYPE=default").
help_default() { "$CHATD_BIN" --help | sed -n "s/^ *--$1 [^=]*=\([^ ]*\).*/\1/p" | head -1; }
HASH_OPS=$(help_default password-hash-ops)
HASH_KIB=$(help_default password-hash-memory-kib)
HASH_THREADS=$(help_default password-hash-threads)
NET_THREADS=$(help_default threads)
SQLITE_READERS=$(help_default sqlite-readers)
SQLITE_BATCH=$(help_default sqlite-max-batch)
HASH_LABEL="Argon2id ops ${HASH_OPS:-?}, $(( ${HASH_KIB:-0} / 1024 )) MiB"

# Reads one top-level string/number field of a JSON object on stdin (jq, else python3, else node).
if command -v jq >/dev/null; then
  json_get() { jq -er --arg k "$1" '.[$k]'; }
elif command -v python3 >/dev/null; then
  json_get() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
elif command -v node >/dev/null; then
  json_get() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[process.argv[1]]))' "$1"; }
else
  die "need jq, python3 or node to read JSON responses"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chatd-rest-bench.XXXXXX")
SERVER_PID=""
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Server lifecycle: a fresh data directory per server, port 0, wait for "listening on".
SERVER_N=0
LISTEN_LINE_MISSING=0

# Port of a TCP socket in LISTEN state (st 0A) owned by PID, from /proc/net/tcp{,6}; empty if none.
listening_port() {
  local inodes
  inodes=$(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | sed 's/socket:\[\([0-9]*\)\]/\1/' | tr '\n' ' ')
  [[ -n $inodes ]] || return 0
  local hex
  hex=$(awk -v inodes=" $inodes" '
    FNR > 1 && $4 == "0A" && index(inodes, " " $10 " ") { split($2, a, ":"); print a[2]; exit }
  ' /proc/net/tcp /proc/net/tcp6 2>/dev/null || true)
  if [[ -n $hex ]]; then echo $((16#$hex)); fi
}

start_server() {
  SERVER_N=$((SERVER_N + 1))
  SERVER_DIR="$WORK/server$SERVER_N"
  mkdir -p "$SERVER_DIR/data"
  SERVER_ARGS="--host 127.0.0.1 --port 0 --data-dir <tmp> --log-level warn $*"
  # Rate limits off: wrk from one address goes far beyond what a person does.
  "$CHATD_BIN" --host 127.0.0.1 --port 0 --data-dir "$SERVER_DIR/data" --log-level warn \
    --rate-login-ip off --rate-login-account off --rate-login-known-ip off \
    --rate-register-ip off --rate-rest-ip off --rate-send-user off "$@" \
    >"$SERVER_DIR/stdout.log" 2>"$SERVER_DIR/stderr.log" &
  SERVER_PID=$!
  local deadline=$((SECONDS + 20)) line="" port=""
  while :; do
    line=$(grep -ho 'listening on http://127\.0\.0\.1:[0-9]*' "$SERVER_DIR/stdout.log" "$SERVER_DIR/stderr.log" 2>/dev/null | head -1 || true)
    if [[ -n $line ]]; then port=${line##*:}; break; fi
    # Fallback: the "listening on" line is logged at info level, which --log-level warn hides.
    # Find the listening TCP socket among the process's file descriptors instead.
    port=$(listening_port "$SERVER_PID")
    if [[ -n $port ]]; then
      LISTEN_LINE_MISSING=1
      # the line is printed right after listen(); give it a moment before falling back for good
      sleep 0.5
      line=$(grep -ho 'listening on http://127\.0\.0\.1:[0-9]*' "$SERVER_DIR/stdout.log" "$SERVER_DIR/stderr.log" 2>/dev/null | head -1 || true)
      if [[ -n $line ]]; then port=${line##*:}; LISTEN_LINE_MISSING=0; fi
      break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$SERVER_DIR/stdout.log" "$SERVER_DIR/stderr.log" >&2 || true
      die "chatd exited during start-up: $CHATD_BIN $SERVER_ARGS"
    fi
    ((SECONDS < deadline)) || die "chatd did not log 'listening on' within 20 s: $CHATD_BIN $SERVER_ARGS"
    sleep 0.05
  done
  if ((LISTEN_LINE_MISSING)); then
    note "warning: chatd did not log 'listening on' (with --log-level warn); found port $port in /proc"
  fi
  PORT=$port
  BASE="http://127.0.0.1:$PORT"
  note "server $SERVER_N (pid $SERVER_PID) on $BASE: $*"
}

stop_server() {
  local pid=$SERVER_PID rc=0
  kill -TERM "$pid"
  local deadline=$((SECONDS + 15))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      die "chatd (pid $pid) did not stop within 15 s of SIGTERM"
    fi
    sleep 0.05
  done
  wait "$pid" || rc=$?
  SERVER_PID=""
  if ((rc != 0)); then
    tail -n 40 "$SERVER_DIR/stdout.log" "$SERVER_DIR/stderr.log" >&2 || true
    die "chatd exited with status $rc after SIGTERM (expected 0)"
  fi
}

# utime + stime (clock ticks) of the whole process, all threads. Field 2 (comm) may hold spaces, so
# cut everything up to its closing parenthesis first; utime and stime are then fields 12 and 13.
server_stat() {
  if [[ ! -r /proc/$SERVER_PID/stat ]] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
    tail -n 40 "$SERVER_DIR/stdout.log" "$SERVER_DIR/stderr.log" >&2 || true
    die "chatd (pid $SERVER_PID) is gone: it crashed or exited during the benchmark (logs above)"
  fi
  cat "/proc/$SERVER_PID/stat"
}
cpu_ticks() {
  local stat
  stat=$(server_stat)
  stat=${stat##*) }
  awk '{ print $12 + $13 }' <<<"$stat"
}

# Waits until the server burns less than 2 ticks in 300 ms (in-flight work from a warm-up done).
wait_idle() {
  local deadline=$((SECONDS + 60)) a b
  a=$(cpu_ticks)
  while ((SECONDS < deadline)); do
    sleep 0.3
    b=$(cpu_ticks)
    if ((b - a < 2)); then return 0; fi
    a=$b
  done
  note "warning: server still busy 60 s after the warm-up"
}

# Busy ticks of the whole machine (all cores) from /proc/stat: user nice system irq softirq steal.
machine_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# User-mode ticks of the whole machine (user + nice). Kernel threads that work for the benchmark
# (jbd2 committing fsyncs, kworkers, softirq for loopback TCP) run in kernel mode, so the user-mode
# time left over after chatd and wrk is other programs: the disturbance check uses it.
machine_user_ticks() { awk '/^cpu / { print $2 + $3; exit }' /proc/stat; }
server_user_ticks() {
  local stat
  stat=$(server_stat)
  stat=${stat##*) }
  awk '{ print $12 }' <<<"$stat"
}

# Sets CHILD_TICKS (user+system) and CHILD_UTICKS (user) to the CPU time of this shell's finished
# children (the second line of `times`).
# Not to be called in $(...): a subshell has children times of its own.
read_children_ticks() {
  times >"$WORK/times"
  read -r CHILD_TICKS CHILD_UTICKS < <(awk -v hz="$CLK_TCK" 'NR == 2 {
    for (i = 1; i <= 2; i++) { split($i, a, "m"); sub(/s$/, "", a[2]); t[i] = a[1] * 60 + a[2] }
    printf "%d %d\n", (t[1] + t[2]) * hz + 0.5, t[1] * hz + 0.5 }' "$WORK/times")
}

# Waits (up to 5 min) until the machine is quiet: less than 0.15 of a core busy over one second
# (the server is idle by now, so whatever runs is something else: a compiler, another benchmark).
QUIET_TIMEOUTS=0
OTHER_LOAD=0
wait_quiet() {
  local deadline=$((SECONDS + 300)) a b warned=0
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

# api METHOD PATH TOKEN [BODY] -> response body on stdout; any status but 2xx is fatal.
api() {
  local method=$1 path=$2 token=$3 body=${4-} code
  local args=(-sS -X "$method" -o "$WORK/resp" -w '%{http_code}' -H 'Content-Type: application/json')
  if [[ -n $token ]]; then args+=(-H "Authorization: Bearer $token"); fi
  if [[ -n $body ]]; then args+=(--data-binary "$body"); fi
  code=$(curl "${args[@]}" "$BASE$path") || die "curl $method $path failed"
  if [[ $code != 2?? ]]; then
    die "set-up request $method $path returned $code: $(head -c 500 "$WORK/resp")"
  fi
  cat "$WORK/resp"
}

PASSWORD='correct horse battery staple'
register() {  # name -> sets U_ID, U_TOKEN, U_EMAIL
  U_EMAIL="bench-$1@example.com"
  api POST /api/user "" "{\"name\":\"$1\",\"email\":\"$U_EMAIL\",\"password\":\"$PASSWORD\"}" >"$WORK/user.json"
  U_ID=$(json_get _id <"$WORK/user.json")
  U_TOKEN=$(json_get token <"$WORK/user.json")
}

create_chat() {  # token other-user-id -> chat id on stdout
  api POST /api/chat "$1" "{\"userId\":\"$2\"}" | json_get _id
}

# Seeds N messages into a chat with one curl process (connection reuse, 8 transfers in parallel).
seed_messages() {  # token chat-id count
  local token=$1 chat=$2 n=$3 cfg="$WORK/seed.cfg" i
  : >"$cfg"
  for ((i = 1; i <= n; i++)); do
    printf 'url = "%s/api/message"\nrequest = "POST"\nheader = "Content-Type: application/json"\nheader = "Authorization: Bearer %s"\ndata-binary = "{\\"content\\":\\"history seed message %d of %d\\",\\"chatId\\":\\"%s\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
      "$BASE" "$token" "$i" "$n" "$chat" >>"$cfg"
    if ((i < n)); then echo next >>"$cfg"; fi
  done
  local ok
  ok=$(curl -sS --parallel --parallel-max 8 -K "$cfg" | grep -c '^200$' || true)
  ((ok == n)) || die "seeding: only $ok of $n POST /api/message returned 200"
}

# ---------------------------------------------------------------------------------------------
# wrk runs
ROWS=()
# to_ms VALUE-WITH-UNIT (wrk prints us, ms, s or m)
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.6f", n }'
}
fmt_ms() {
  awk -v n="$1" 'BEGIN {
    if (n < 1) printf "%.0f µs", n * 1000; else if (n < 100) printf "%.2f ms", n; else printf "%.0f ms", n }'
}

check_wrk_output() {  # file what repro-command
  local out=$1 what=$2 repro=$3 non2xx sockerr
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  sockerr=$(grep 'Socket errors:' "$out" | sed 's/^ *//' || true)
  if [[ -n $non2xx && $non2xx != 0 ]] || [[ -n $sockerr ]]; then
    cat "$out" >&2
    echo "--- one request of the same kind, by curl:" >&2
    bash -c "$repro" >&2 || true
    echo >&2
    die "$what: ${non2xx:-0} non-2xx/3xx responses${sockerr:+; $sockerr}"
  fi
}

# run_workload LABEL SETTINGS CONNS SCRIPT PATH REPRO: warm-up, then a measured run; a run that
# other programs disturbed is measured again, up to RETRIES times (the last attempt is kept).
run_workload() {
  local label=$1 settings=$2 conns=$3 script=$4 path=$5 repro=$6
  local threads=$THREADS
  if ((threads > conns)); then threads=$conns; fi
  local out="$WORK/wrk.out"
  local wrk_args=(-t"$threads" -c"$conns" --timeout "$WRK_TIMEOUT" -s "$BENCH_DIR/$script")
  note "$label, $settings, $conns conn: warm-up ${WARMUP}s"
  "$WRK" "${wrk_args[@]}" -d"${WARMUP}s" "$BASE$path" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
  check_wrk_output "$out" "$label warm-up" "$repro"
  local attempt
  for ((attempt = 0; attempt <= RETRIES; attempt++)); do
    measure_once "$@"
    ((DISTURBED)) || break
    if ((attempt < RETRIES)); then note "measuring again (attempt $((attempt + 2)) of $((RETRIES + 1)))"; fi
  done
  if ((DISTURBED)); then OTHER_LOAD=1; fi
  ROWS+=("$ROW")
  echo "$ROW" >&2
}

# One measured run; sets ROW (a markdown table row) and DISTURBED.
measure_once() {
  local label=$1 settings=$2 conns=$3 script=$4 path=$5 repro=$6
  local threads=$THREADS
  if ((threads > conns)); then threads=$conns; fi
  local out="$WORK/wrk.out"
  local wrk_args=(-t"$threads" -c"$conns" --timeout "$WRK_TIMEOUT" -s "$BENCH_DIR/$script")
  wait_idle
  wait_quiet
  note "$label, $settings, $conns conn: measuring ${DURATION}s"
  local t0 t1 w0 w1 mu0 mu1 su0 su1 wu0 wu1
  read_children_ticks; w0=$CHILD_TICKS; wu0=$CHILD_UTICKS
  mu0=$(machine_user_ticks); su0=$(server_user_ticks); t0=$(cpu_ticks)
  "$WRK" "${wrk_args[@]}" -d"${DURATION}s" --latency "$BASE$path" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
  t1=$(cpu_ticks); su1=$(server_user_ticks); mu1=$(machine_user_ticks)
  read_children_ticks; w1=$CHILD_TICKS; wu1=$CHILD_UTICKS
  check_wrk_output "$out" "$label" "$repro"
  if [[ -n $RAW_DIR ]]; then
    mkdir -p "$RAW_DIR"
    cp "$out" "$RAW_DIR/wrk-$(echo "$label-$settings-c$conns" | tr -c 'A-Za-z0-9=.-' '_').txt"
  fi

  local requests rps secs p50 p99 pmax
  requests=$(awk '/ requests in / { print $1; exit }' "$out")
  secs=$(awk '/ requests in / { s = $4; sub(/,$/, "", s); print s; exit }' "$out")
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p50=$(awk '/Latency Distribution/ { f = 1 } f && $1 == "50%" { print $2; exit }' "$out")
  p99=$(awk '/Latency Distribution/ { f = 1 } f && $1 == "99%" { print $2; exit }' "$out")
  pmax=$(awk '$1 == "Latency" && NF >= 4 { print $4; exit }' "$out")
  [[ -n $requests && -n $rps && -n $p50 && -n $p99 && -n $pmax ]] || { cat "$out" >&2; die "could not parse wrk output"; }
  ((requests > 0)) || { cat "$out" >&2; die "$label: no request completed"; }
  local ticks=$((t1 - t0))
  local cpu_us cores
  cpu_us=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v r="$requests" 'BEGIN { printf "%.1f", t / hz / r * 1e6 }')
  cores=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v s="$secs" 'BEGIN { s += 0; printf "%.2f", (s > 0 ? t / hz / s : 0) }')
  # What else ran during the measured run: user-mode time of the machine minus that of chatd and wrk.
  local wrk_cores other_cores flag=""
  wrk_cores=$(awk -v t="$((w1 - w0))" -v hz="$CLK_TCK" -v s="$secs" 'BEGIN { s += 0; printf "%.2f", (s > 0 ? t / hz / s : 0) }')
  other_cores=$(awk -v t="$((mu1 - mu0 - (su1 - su0) - (wu1 - wu0)))" -v hz="$CLK_TCK" -v s="$secs" 'BEGIN { s += 0; printf "%.2f", (s > 0 ? t / hz / s : 0) }')
  DISTURBED=0
  if awk -v o="$other_cores" 'BEGIN { exit !(o > 0.1) }'; then
    flag=" (!)"
    DISTURBED=1
    note "warning: other programs used $other_cores cores (user mode) during this run"
  fi
  local cpu_fmt
  cpu_fmt=$(awk -v u="$cpu_us" 'BEGIN { if (u >= 10000) printf "%.1f ms", u / 1000; else if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%.0f µs", u }')
  ROW=$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$label$flag" "$settings" "$conns" \
    "$(awk -v r="$rps" 'BEGIN { printf (r >= 100 ? "%.0f" : "%.1f"), r }')" \
    "$(fmt_ms "$(to_ms "$p50")")" "$(fmt_ms "$(to_ms "$p99")")" "$(fmt_ms "$(to_ms "$pmax")")" \
    "$cpu_fmt" "$cores" "$wrk_cores" "$requests")
}

want() { [[ -z $ONLY || $ONLY == "$1" ]]; }

# ---------------------------------------------------------------------------------------------
# 1. Server with production settings (default Argon2id cost, synchronous=FULL): login, history, send.
if want login || want history || want send; then
  start_server
  register alice; A_TOKEN=$U_TOKEN; A_EMAIL=$U_EMAIL
  register bob; B_ID=$U_ID
  register carol; C_ID=$U_ID
  SEND_CHAT=$(create_chat "$A_TOKEN" "$B_ID")
  HIST_CHAT=$(create_chat "$A_TOKEN" "$C_ID")

  if want login; then
    export BENCH_BODY="{\"email\":\"$A_EMAIL\",\"password\":\"$PASSWORD\"}"
    repro="curl -sS -i -X POST -H 'Content-Type: application/json' --data-binary '$BENCH_BODY' $BASE/api/user/login"
    for c in "$CONNECTIONS" 1; do
      run_workload login "$HASH_LABEL" "$c" login.lua /api/user/login "$repro"
    done
  fi

  if want history; then
    note "seeding $SEED_MESSAGES messages into the history chat"
    seed_messages "$A_TOKEN" "$HIST_CHAT" "$SEED_MESSAGES"
    export BENCH_TOKEN=$A_TOKEN BENCH_PATH="/api/message/$HIST_CHAT?limit=50"
    HIST_BYTES=$(curl -sS -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $A_TOKEN" "$BASE$BENCH_PATH")
    repro="curl -sS -i -H 'Authorization: Bearer $A_TOKEN' '$BASE$BENCH_PATH' | head -c 2000"
    for c in "$CONNECTIONS" 1; do
      run_workload history "limit=50 of $SEED_MESSAGES" "$c" history.lua "$BENCH_PATH" "$repro"
    done
  fi

  if want send; then
    export BENCH_TOKEN=$A_TOKEN BENCH_BODY="{\"content\":\"benchmark message\",\"chatId\":\"$SEND_CHAT\"}"
    repro="curl -sS -i -X POST -H 'Content-Type: application/json' -H 'Authorization: Bearer $A_TOKEN' --data-binary '$BENCH_BODY' $BASE/api/message | head -c 2000"
    for c in "$CONNECTIONS" 1; do
      run_workload send "synchronous=FULL" "$c" send.lua /api/message "$repro"
    done
  fi
  stop_server
fi

# 2. Cheap hashing, to show what login costs without Argon2id's deliberate price.
if want login-cheap; then
  start_server --password-hash-ops 1 --password-hash-memory-kib 8
  register alice
  export BENCH_BODY="{\"email\":\"$U_EMAIL\",\"password\":\"$PASSWORD\"}"
  repro="curl -sS -i -X POST -H 'Content-Type: application/json' --data-binary '$BENCH_BODY' $BASE/api/user/login"
  for c in "$CONNECTIONS" 1; do
    run_workload "login (cheap hash)" "Argon2id ops 1, 8 KiB" "$c" login.lua /api/user/login "$repro"
  done
  stop_server
fi

# 3. send with synchronous=NORMAL (WAL: no fsync per commit), to show what the FULL fsync costs.
if want send-normal; then
  start_server --sqlite-synchronous normal
  register alice; A_TOKEN=$U_TOKEN
  register bob; B_ID=$U_ID
  SEND_CHAT=$(create_chat "$A_TOKEN" "$B_ID")
  export BENCH_TOKEN=$A_TOKEN BENCH_BODY="{\"content\":\"benchmark message\",\"chatId\":\"$SEND_CHAT\"}"
  repro="curl -sS -i -X POST -H 'Content-Type: application/json' -H 'Authorization: Bearer $A_TOKEN' --data-binary '$BENCH_BODY' $BASE/api/message | head -c 2000"
  run_workload send "synchronous=NORMAL" "$CONNECTIONS" send.lua /api/message "$repro"
  stop_server
fi

# ---------------------------------------------------------------------------------------------
# Report
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$CHATD_BIN")/CMakeCache.txt" 2>/dev/null || true)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit yet")
dirty=""
if git -C "$ROOT" status --porcelain 2>/dev/null | grep -q .; then dirty=" + uncommitted changes"; fi
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
wrk_version=$("$WRK" -v 2>&1 | head -1 | awk '{ print $2 }' || true)

REPORT="$WORK/report.md"
{
  echo "Command: \`./bench/rest_bench.sh${ARGS_GIVEN:+ $ARGS_GIVEN}\` (from the repository root; \`make bench\` builds, then runs it)"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) cores ($model), $mem RAM, kernel $(uname -r); wrk runs on the same machine"
  echo "- chatd: \`$(realpath --relative-to="$ROOT" "$CHATD_BIN" 2>/dev/null || echo "$CHATD_BIN")\`, CMake build type ${build_type:-unknown}, commit $commit$dirty"
  echo "- Server: \`chatd --host 127.0.0.1 --port 0 --data-dir <fresh tmp dir> --log-level warn\` plus the flags in the table;"
  echo "  a fresh server and data directory per group of rows; otherwise the defaults: network threads ${NET_THREADS:-?} (0 = one per core),"
  echo "  SQLite synchronous=FULL, ${SQLITE_READERS:-?} reader threads, group commit of up to ${SQLITE_BATCH:-?} writes,"
  echo "  Argon2id ops ${HASH_OPS:-?} and ${HASH_KIB:-?} KiB on ${HASH_THREADS:-?} hashing threads"
  echo "- Load: wrk $wrk_version, ${CONNECTIONS} connections on $THREADS threads (and 1 connection on 1 thread), keep-alive,"
  echo "  ${WARMUP} s warm-up (discarded), then ${DURATION} s measured with \`--latency\`; timeout $WRK_TIMEOUT; zero non-2xx and zero socket errors required"
  echo "- login: POST /api/user/login for one user; the default cost is libsodium's interactive Argon2id level;"
  echo "  the cheap row runs a server with \`--password-hash-ops 1 --password-hash-memory-kib 8\` (for comparison only)"
  echo "- send: POST /api/message {content, chatId} into a 1:1 chat, Bearer token, no clientMsgId (every request a new message,"
  echo "  acked after the SQLite commit)"
  echo "- history: GET /api/message/:chatId?limit=50 in a 1:1 chat seeded with $SEED_MESSAGES messages${HIST_BYTES:+ (response: $HIST_BYTES bytes)}"
  echo "- p50/p99: wrk's \"Latency Distribution\" (wrk 4 corrects it for coordinated omission by adding synthetic samples for"
  echo "  responses slower than the mean interval, so a rare stall weighs more in p99 than the raw count says); max: the slowest response"
  echo "- server CPU/req: (utime+stime of the chatd process, all threads, over the measured run) / requests completed;"
  echo "  server cores and wrk cores: CPU time / run time (the box has $(nproc) cores, shared by both); each run starts with the"
  echo "  server idle and the machine quiet; a run during which other programs used over 0.1 of a core (user mode) is measured"
  echo "  again (up to $RETRIES times) and marked (!) if it never ran undisturbed"
  echo
  echo "| workload | settings | conns | req/s | p50 | p99 | max | server CPU/req | server cores | wrk cores | requests |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  if ((OTHER_LOAD)); then
    echo
    echo "(!) Other programs used more than 0.1 of a core (user mode) during every attempt at this row: its figures are"
    echo "disturbed; run again on a quiet machine."
  fi
  if ((QUIET_TIMEOUTS)); then
    echo
    echo "The machine was still busy with other work after waiting 5 minutes before $QUIET_TIMEOUTS measured run(s)."
  fi
} >"$REPORT"

echo
cat "$REPORT"

if ((WRITE)); then
  DOC="$ROOT/docs/BENCHMARKS.md"
  BEGIN='<!-- BEGIN generated by bench/rest_bench.sh --write -->'
  END='<!-- END generated by bench/rest_bench.sh -->'
  mkdir -p "$(dirname "$DOC")"
  [[ -f $DOC ]] || printf '# chatd benchmarks\n' >"$DOC"
  if grep -qF "$BEGIN" "$DOC"; then
    awk -v b="$BEGIN" -v e="$END" -v rep="$REPORT" '
      $0 == b { print; while ((getline l < rep) > 0) print l; skip = 1; next }
      $0 == e { skip = 0 }
      !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  else
    { echo; echo "## REST (issue 2)"; echo; echo "$BEGIN"; cat "$REPORT"; echo "$END"; } >>"$DOC"
  fi
  note "wrote the results into $DOC"
fi
