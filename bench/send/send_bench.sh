#!/usr/bin/env bash
# Durable-send benchmark for chatd: how many messages per second chatd acknowledges after the
# SQLite commit (native Socket.IO `message:send`, many concurrent senders, group commit), the
# send-to-deliver latency at half that rate, and beside them the raw batched-insert rate of SQLite
# on the same disk with the same synchronous mode (the reference). Goal: at least half the raw
# rate; p99 send-to-deliver under 5 ms at half load. Prints a markdown table; with --write it also
# replaces the generated block of the "Durable sends (SQLite, ack after commit)" section of
# docs/BENCHMARKS.md (the hand-written reading below the block is left alone).
#
#   ./bench/send/send_bench.sh [--write] [--quick] [--normal] [--synchronous "full normal"]
#       [--seconds S] [--warmup S] [--senders N] [--groups G] [--layouts "direct groups"]
#       [--windows "1 4 16"] [--batches "1 8 64 256 512"] [--raw-seconds S] [--content-bytes N]
#       [--data-root DIR] [--retries N] [--raw DIR] [--chatd-args "FLAGS"]
#
# For each synchronous mode (full by default; --normal adds normal):
#   1. Reference: bench/send/sqlite_raw.cpp inserts rows shaped like chatd's messages table into a
#      fresh WAL database in the same directory tree as chatd's data (so the same file system and
#      disk), from one thread, in transactions of B rows for each of --batches; the raw rate is the
#      best rows/s over those B (chatd commits up to --sqlite-max-batch writes together).
#   2. chatd (CHATD_BIN, default build/release/chatd) on a free port with a fresh --data-dir there,
#      --sqlite-synchronous MODE, cheap password hashing (--password-hash-ops 1
#      --password-hash-memory-kib 8: only the set-up hashes passwords), otherwise its defaults.
#      It must print `chatd listening on http://127.0.0.1:PORT` on stdout. The set-up
#      registers users and creates chats over REST (curl), one layout per --layouts:
#        direct: --senders users, each in a 1:1 chat with a receiver of its own (seq is assigned
#                per chat, so no two senders share a chat);
#        groups: the same number of senders spread over --groups group chats, each group with one
#                receiver more (every message then also goes to the group's other senders).
#   3. bench/send/send_load.cpp, one socket per user: throughput (closed loop, each sender keeps W
#      sends unacked, for each of --windows; the best acked sends/s counts), then latency (open
#      loop at half that best rate): ack latency, send-to-deliver latency at the receivers, and the
#      server's CPU time (utime+stime, /proc/PID/stat) per acked send. Every run checks that every
#      send was acked ok:true, that the acked seqs of each chat are gapless with no duplicate, and
#      that every other socket of the chat got every message exactly once.
# Each measured run waits for a quiet machine first; one during which other programs used more
# than 0.15 of a core in user mode is repeated up to --retries times (default 1).
# --quick: 3 s runs, W = 4 only, B = 1 64 512, no repeats. --data-root puts the temporary
# directory (both databases) elsewhere: default $TMPDIR or /tmp, which must be on a real disk, not
# a tmpfs. --raw DIR keeps every tool's output. --chatd-args adds flags to chatd's command line
# (e.g. "--sqlite-max-batch 256 --threads 1"). Both tools are built with g++ into build/bench/.
# Exit status: 0; 1 when something could not run (no chatd, set-up refused, the socket refused);
# 3 when a run failed its checks. Environment: CHATD_BIN.
set -euo pipefail

SELF=$(realpath "${BASH_SOURCE[0]}")
SEND_DIR=$(dirname "$SELF")
ROOT=$(cd "$SEND_DIR/../.." && pwd)
cd "$ROOT"

SENDERS=64
NGROUPS=4
LAYOUTS="direct groups"
WINDOWS="1 4 16"
SECS=10
WARMUP=2
DRAIN=10
BATCHES="1 8 64 256 512"
RAW_SECS=5
SYNCS="full"
CONTENT_BYTES=100
RETRIES=1
NOISE_MAX=0.15
WRITE=0
RAW_DIR=""
DATA_ROOT=${TMPDIR:-/tmp}
CHATD_BIN=${CHATD_BIN:-build/release/chatd}
CHATD_ARGS=""
ARGS_GIVEN=""  # the command line as typed, for the report
for a in "$@"; do
  if [[ $a == *' '* || -z $a ]]; then a="'$a'"; fi
  ARGS_GIVEN+=" $a"
done

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --write) WRITE=1 ;;
    --quick) SECS=3; WARMUP=1; WINDOWS="4"; BATCHES="1 64 512"; RAW_SECS=2; RETRIES=0 ;;
    --normal) SYNCS="full normal" ;;
    --synchronous) SYNCS=$2; shift ;;
    --seconds) SECS=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --senders) SENDERS=$2; shift ;;
    --groups) NGROUPS=$2; shift ;;
    --layouts) LAYOUTS=$2; shift ;;
    --windows) WINDOWS=$2; shift ;;
    --batches) BATCHES=$2; shift ;;
    --raw-seconds) RAW_SECS=$2; shift ;;
    --content-bytes) CONTENT_BYTES=$2; shift ;;
    --data-root) DATA_ROOT=$2; shift ;;
    --retries) RETRIES=$2; shift ;;
    --raw) RAW_DIR=$2; shift ;;
    --chatd-args) CHATD_ARGS=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "send_bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

die() { echo "send_bench: FAIL: $*" >&2; exit 1; }
note() { echo "send_bench: $*" >&2; }

for s in $SYNCS; do [[ $s == full || $s == normal ]] || die "--synchronous takes full and/or normal"; done
for l in $LAYOUTS; do [[ $l == direct || $l == groups ]] || die "--layouts takes direct and/or groups"; done
if [[ " $LAYOUTS " == *" groups "* ]] && ((SENDERS < 2 * NGROUPS)); then
  die "--groups $NGROUPS needs at least $((2 * NGROUPS)) senders (a group has 2 members besides its creator)"
fi

# ---------------------------------------------------------------------------------------------
# Prerequisites: chatd, curl, jq, and the two tools (built here, into build/bench/).
[[ -x $CHATD_BIN ]] || die "no chatd binary at $CHATD_BIN (build the Release tree or set CHATD_BIN)"
CHATD_BIN=$(cd "$(dirname "$CHATD_BIN")" && pwd)/$(basename "$CHATD_BIN")
command -v curl >/dev/null || die "curl not found"
command -v jq >/dev/null || die "jq not found (Debian package 'jq')"
command -v g++ >/dev/null || die "g++ not found"

BUILD_DIR="$ROOT/build/bench"
mkdir -p "$BUILD_DIR"
LOAD="$BUILD_DIR/send_load"
RAWTOOL="$BUILD_DIR/sqlite_raw"
build_tool() {  # build_tool OUTPUT SOURCE [DEPENDENCY...] -- FLAGS...
  local out=$1 src=$2 stale=0; shift 2
  [[ -x $out ]] || stale=1
  while [[ $# -gt 0 && $1 != -- ]]; do
    [[ $1 -nt $out ]] && stale=1
    shift
  done
  shift
  [[ $src -nt $out ]] && stale=1
  if ((stale)); then
    note "building $(basename "$out")"
    g++ -O2 -std=c++20 -Wall -Wextra "$src" -o "$out.tmp" "$@" || die "could not build $src"
    mv "$out.tmp" "$out"
  fi
}
build_tool "$LOAD" "$SEND_DIR/send_load.cpp" "$ROOT/bench/common/sio_client.h" -- -pthread
build_tool "$RAWTOOL" "$SEND_DIR/sqlite_raw.cpp" -- -lsqlite3

# Only the flags given below shape the server: no CHATD_* settings from the environment.
while read -r v; do
  [[ $v == CHATD_BIN ]] || unset "$v"
done < <(compgen -e | grep -E '^(CHATD_|JWT_SECRET$)' || true)

# The server's defaults, for the report (from --help: "--opt TYPE=default").
help_default() { "$CHATD_BIN" --help 2>/dev/null | sed -n "s/^ *--$1 [^=]*=\([^ ]*\).*/\1/p" | head -1; }
NET_THREADS=$(help_default threads)
SQLITE_READERS=$(help_default sqlite-readers)
SQLITE_BATCH=$(help_default sqlite-max-batch)

mkdir -p "$DATA_ROOT"
WORK=$(mktemp -d "$(cd "$DATA_ROOT" && pwd)/chatd-send-bench.XXXXXX")
RESULTS="$WORK/results"
: >"$RESULTS"
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CHATD_BUILD="$(date -u -r "$CHATD_BIN" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$CHATD_BIN" | cut -c1-12)"
SERVER_PID=""
on_exit() {  # a server still running (after a failure) is stopped; the temporary files go
  [[ -z $SERVER_PID ]] || { kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; } || true
  rm -rf "$WORK"
}
trap on_exit EXIT
if [[ -n $RAW_DIR ]]; then mkdir -p "$RAW_DIR"; fi
keep_raw() { if [[ -n $RAW_DIR ]]; then cp "$1" "$RAW_DIR/"; fi; }

# Where the data lives: the reference database and chatd's data directory share $WORK.
STORAGE_SOURCE=$(findmnt -no SOURCE -T "$WORK" 2>/dev/null || df --output=source "$WORK" | tail -1)
STORAGE_FS=$(df --output=fstype "$WORK" | tail -1 | tr -d ' ')
STORAGE_OPTS=$(findmnt -no OPTIONS -T "$WORK" 2>/dev/null || echo "?")
STORAGE_MOUNT=$(findmnt -no TARGET -T "$WORK" 2>/dev/null || df --output=target "$WORK" | tail -1)
storage_disk() {  # the block device under the file system: name, model, rotational
  local dev=${STORAGE_SOURCE#/dev/} base parent
  [[ -e /sys/class/block/$dev ]] || { echo "$STORAGE_SOURCE"; return; }
  base=$dev
  parent=$(basename "$(dirname "$(readlink -f "/sys/class/block/$dev")")")
  [[ -e /sys/block/$parent ]] && base=$parent
  local model rot
  model=""
  if [[ -r /sys/block/$base/device/model ]]; then model=$(tr -s ' ' <"/sys/block/$base/device/model" | sed 's/ *$//'); fi
  rot=$(cat "/sys/block/$base/queue/rotational" 2>/dev/null || echo "?")
  case $rot in
    0) rot="non-rotational as the kernel reports it" ;;
    1) rot="rotational as the kernel reports it" ;;
    *) rot="rotational or not: unknown" ;;
  esac
  echo "/dev/$base${model:+ ($model)}, $rot"
}
STORAGE_DISK=$(storage_disk)
case $STORAGE_FS in
  tmpfs|ramfs) note "warning: $WORK is on $STORAGE_FS (memory): fsync costs nothing there; use --data-root on a disk" ;;
esac
note "data in $WORK: $STORAGE_SOURCE ($STORAGE_FS, $STORAGE_OPTS) mounted on $STORAGE_MOUNT; disk $STORAGE_DISK"

# ---------------------------------------------------------------------------------------------
# A quiet machine before every measured run: under 0.15 of a core busy over one second.
CLK_TCK=$(getconf CLK_TCK)
QUIET_TIMEOUTS=0
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
wait_quiet() {
  local give_up=$((SECONDS + 120)) t0 t1 said=0
  while :; do
    t0=$(busy_ticks); sleep 1; t1=$(busy_ticks)
    (((t1 - t0) * 100 < 15 * CLK_TCK)) && return 0
    if ((SECONDS >= give_up)); then
      note "warning: still busy with other work after 2 minutes; measuring anyway"
      QUIET_TIMEOUTS=$((QUIET_TIMEOUTS + 1))
      return 0
    fi
    ((said)) || { note "waiting for other programs to leave the machine quiet"; said=1; }
  done
}
disturbed() { awk -v o="${1:-0}" -v m="$NOISE_MAX" 'BEGIN { exit !(o > m) }'; }
# field KEY "RESULT line" -> value
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1; }

# ---------------------------------------------------------------------------------------------
# The reference: SQLite alone. Appends "raw SYNC B RESULT ..." lines to $RESULTS.
run_raw() {
  local sync=$1 out b line attempt
  mkdir -p "$WORK/raw"
  for b in $BATCHES; do
    out="$WORK/sqlite_raw.$sync.B$b.out"
    for ((attempt = 0; attempt <= RETRIES; attempt++)); do
      wait_quiet
      "$RAWTOOL" --dir "$WORK/raw" --synchronous "$sync" --batches "$b" --seconds "$RAW_SECS" \
        --warmup 1 --content-bytes "$CONTENT_BYTES" >"$out" 2>&1 || { cat "$out" >&2; die "sqlite_raw failed"; }
      line=$(grep '^RESULT ' "$out" | tail -1)
      grep '^sqlite_raw:' "$out" | sed 's/^sqlite_raw:/ /' >&2 || true
      disturbed "$(field other_user_cores "$line")" || break
      ((attempt < RETRIES)) && note "other programs were busy during that run; repeating it"
    done
    keep_raw "$out"
    echo "raw $sync $b $line" >>"$RESULTS"
  done
}

# ---------------------------------------------------------------------------------------------
# chatd.
start_chatd() {  # start_chatd SYNC -> SERVER_PID, BASE, SERVER_LOG
  local sync=$1 dir="$WORK/chatd-$1" port="" line i
  mkdir -p "$dir/data"
  SERVER_LOG="$dir/stdout.log"
  SERVER_FLAGS=(--host 127.0.0.1 --port 0 --log-level warn --sqlite-synchronous "$sync"
                --password-hash-ops 1 --password-hash-memory-kib 8
                # rate limits off: one generator drives far more than a person
                --rate-login-ip off --rate-login-account off --rate-login-known-ip off --rate-register-ip off --rate-otp-account off --rate-send-user off --rate-rest-ip off --rate-socket-connect-ip off --rate-socket-events off)
  # shellcheck disable=SC2206  # word splitting wanted: separate flags
  [[ -z $CHATD_ARGS ]] || SERVER_FLAGS+=($CHATD_ARGS)
  "$CHATD_BIN" "${SERVER_FLAGS[@]}" --data-dir "$dir/data" >"$SERVER_LOG" 2>"$dir/stderr.log" &
  SERVER_PID=$!
  for ((i = 0; i < 400; i++)); do
    line=$(grep -o 'chatd listening on http://127\.0\.0\.1:[0-9]*' "$SERVER_LOG" 2>/dev/null | head -1 || true)
    if [[ -n $line ]]; then port=${line##*:}; break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$SERVER_LOG" "$dir/stderr.log" >&2 || true
      die "chatd exited during start-up: $CHATD_BIN ${SERVER_FLAGS[*]} --data-dir $dir/data"
    fi
    sleep 0.05
  done
  [[ -n $port ]] || die "chatd did not print 'chatd listening on http://127.0.0.1:PORT' within 20 s"
  BASE="http://127.0.0.1:$port"
  note "chatd (pid $SERVER_PID, synchronous=$sync) on $BASE"
}

stop_chatd() {
  local rc=0 i
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    note "chatd ignored SIGTERM for 15 s; killing it"
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  ((rc == 0)) || note "warning: chatd exited with status $rc after SIGTERM (expected 0)"
}

server_alive() {
  kill -0 "$SERVER_PID" 2>/dev/null && return 0
  tail -n 30 "$SERVER_LOG" "$(dirname "$SERVER_LOG")/stderr.log" >&2 || true
  die "chatd (pid $SERVER_PID) is gone: it crashed or exited during the benchmark (logs above)"
}

# REST in bulk: requests read from stdin as "KEY METHOD PATH TOKEN BODY" (TOKEN "-" for none; the
# body is the rest of the line), sent by one curl process, 8 at a time over reused connections.
# The response of KEY goes to $WORK/api/KEY.json; any status but 2xx is fatal.
rest_batch() {
  local dir="$WORK/api" cfg="$WORK/api.cfg" key method path token body n=0
  mkdir -p "$dir"
  : >"$cfg"
  while read -r key method path token body; do
    ((n > 0)) && echo next >>"$cfg"
    n=$((n + 1))
    {
      echo "url = \"$BASE$path\""
      echo "request = \"$method\""
      echo "header = \"Content-Type: application/json\""
      [[ $token == - ]] || echo "header = \"Authorization: Bearer $token\""
      if [[ -n $body ]]; then
        printf '%s' "$body" >"$dir/$key.body"
        echo "data-binary = \"@$dir/$key.body\""
      fi
      echo "output = \"$dir/$key.json\""
      printf 'write-out = "%%{http_code} %s\\n"\n' "$key"
    } >>"$cfg"
  done
  ((n > 0)) || return 0
  curl -sS --no-progress-meter --parallel --parallel-max 8 -K "$cfg" >"$WORK/api.codes" || die "curl failed during the set-up (see above)"
  local bad
  bad=$(awk '$1 !~ /^2/ { print $2 " (HTTP " $1 ")" }' "$WORK/api.codes" | head -3)
  if [[ -n $bad ]]; then
    key=$(head -1 <<<"$bad" | cut -d' ' -f1)
    die "set-up request failed: $bad: $(head -c 300 "$dir/$key.json" 2>/dev/null)"
  fi
  (($(wc -l <"$WORK/api.codes") == n)) || die "set-up: $n requests sent, $(wc -l <"$WORK/api.codes") answered"
}
api_get() { jq -er ".$2" "$WORK/api/$1.json" || die "set-up: no $2 in the response to $1: $(head -c 300 "$WORK/api/$1.json")"; }

# Users and chats of every layout (a fresh server, so fresh names). Fills the arrays below.
declare -A UID_OF TOKEN_OF CHAT_OF
setup() {
  local i g names=()
  for ((i = 0; i < SENDERS; i++)); do
    [[ " $LAYOUTS " == *" direct "* ]] && names+=("ds$i" "dr$i")
    [[ " $LAYOUTS " == *" groups "* ]] && names+=("gs$i")
  done
  if [[ " $LAYOUTS " == *" groups "* ]]; then
    for ((g = 0; g < NGROUPS; g++)); do names+=("gr$g"); done
  fi
  note "set-up: registering ${#names[@]} users"
  for n in "${names[@]}"; do
    echo "user-$n POST /api/user - {\"name\":\"bench $n\",\"email\":\"$n@send-bench.example\",\"password\":\"correct horse battery staple\"}"
  done | rest_batch
  for n in "${names[@]}"; do
    UID_OF[$n]=$(api_get "user-$n" _id)
    TOKEN_OF[$n]=$(api_get "user-$n" token)
  done
  {
    if [[ " $LAYOUTS " == *" direct "* ]]; then
      for ((i = 0; i < SENDERS; i++)); do
        echo "chat-direct-$i POST /api/chat ${TOKEN_OF[ds$i]} {\"userId\":\"${UID_OF[dr$i]}\"}"
      done
    fi
    if [[ " $LAYOUTS " == *" groups "* ]]; then
      for ((g = 0; g < NGROUPS; g++)); do
        local members=""
        for ((i = g; i < SENDERS; i += NGROUPS)); do members+="${members:+,}\"${UID_OF[gs$i]}\""; done
        echo "chat-groups-$g POST /api/chat/group ${TOKEN_OF[gr$g]} {\"name\":\"send bench $g\",\"users\":[$members]}"
      done
    fi
  } | rest_batch
  if [[ " $LAYOUTS " == *" direct "* ]]; then
    for ((i = 0; i < SENDERS; i++)); do CHAT_OF[direct-$i]=$(api_get "chat-direct-$i" _id); done
  fi
  if [[ " $LAYOUTS " == *" groups "* ]]; then
    for ((g = 0; g < NGROUPS; g++)); do CHAT_OF[groups-$g]=$(api_get "chat-groups-$g" _id); done
  fi
  note "set-up done"
}

# write_plan LAYOUT FILE: the sockets of a layout, with each chat's current last seq (the acked
# seqs of the next run must continue from it).
write_plan() {
  local layout=$1 file=$2 chats i g reader
  if [[ $layout == direct ]]; then chats=$SENDERS; else chats=$NGROUPS; fi
  for ((i = 0; i < chats; i++)); do
    if [[ $layout == direct ]]; then reader=dr$i; else reader=gr$i; fi
    echo "seq-$layout-$i GET /api/message/${CHAT_OF[$layout-$i]}?limit=1 ${TOKEN_OF[$reader]}"
  done | rest_batch
  {
    echo "# $layout layout, written by send_bench.sh"
    for ((i = 0; i < chats; i++)); do
      echo "chat $i ${CHAT_OF[$layout-$i]} $(jq -r 'if length == 0 then 0 else .[-1].seq end' "$WORK/api/seq-$layout-$i.json")"
    done
    if [[ $layout == direct ]]; then
      for ((i = 0; i < SENDERS; i++)); do
        echo "sender $i ${UID_OF[ds$i]} ${TOKEN_OF[ds$i]}"
        echo "receiver $i ${UID_OF[dr$i]} ${TOKEN_OF[dr$i]}"
      done
    else
      for ((i = 0; i < SENDERS; i++)); do echo "sender $((i % NGROUPS)) ${UID_OF[gs$i]} ${TOKEN_OF[gs$i]}"; done
      for ((g = 0; g < NGROUPS; g++)); do echo "receiver $g ${UID_OF[gr$g]} ${TOKEN_OF[gr$g]}"; done
    fi
  } >"$file"
  grep -q ' null$' "$file" && die "set-up: a chat's last seq is not a number (GET /api/message/:chatId?limit=1)"
  return 0
}

# run_load SYNC LAYOUT LABEL ARGS...: one send_load run (repeated on a disturbed machine); appends
# "chatd SYNC LAYOUT LABEL RESULT ..." to $RESULTS. Dies when the run could not be made at all.
run_load() {
  local sync=$1 layout=$2 label=$3; shift 3
  local attempt out plan line rc
  for ((attempt = 0; attempt <= RETRIES; attempt++)); do
    plan="$WORK/plan.$layout"
    write_plan "$layout" "$plan"
    wait_quiet
    out="$WORK/send_load.$sync.$layout.$label.$attempt.out"
    rc=0
    "$LOAD" "$@" --url "${BASE#http://}" --plan "$plan" --seconds "$SECS" --warmup "$WARMUP" \
      --drain "$DRAIN" --content-bytes "$CONTENT_BYTES" --server-pid "$SERVER_PID" >"$out" 2>&1 || rc=$?
    keep_raw "$out"
    line=$(grep '^RESULT ' "$out" | tail -1 || true)
    if ((rc == 1)) || [[ -z $line ]]; then
      tail -5 "$out" >&2
      server_alive
      die "send_load could not run against chatd ($sync, $layout, $label; exit $rc): $(grep -m1 -E 'error' "$out" || tail -1 "$out")"
    fi
    grep -E '^send_load: (throughput|latency|closed|open|first error)' "$out" | sed "s/^send_load:/  $sync $layout $label:/" >&2 || true
    server_alive
    disturbed "$(field other_user_cores "$line")" || break
    ((attempt < RETRIES)) && note "other programs were busy during that run; repeating it"
  done
  echo "chatd $sync $layout $label $line" >>"$RESULTS"
}

# ---------------------------------------------------------------------------------------------
# The runs.
for sync in $SYNCS; do
  note "=== synchronous=$sync: the SQLite reference"
  run_raw "$sync"
  note "=== synchronous=$sync: chatd"
  start_chatd "$sync"
  setup
  for layout in $LAYOUTS; do
    best=0
    for w in $WINDOWS; do
      run_load "$sync" "$layout" "closed$w" throughput --window "$w"
      r=$(awk -v s="$sync" -v l="$layout" -v lab="closed$w" '$1 == "chatd" && $2 == s && $3 == l && $4 == lab {
            for (i = 5; i <= NF; i++) if ($i ~ /^acked_per_s=/) { sub(/^acked_per_s=/, "", $i); v = $i } } END { print v + 0 }' "$RESULTS")
      best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
    done
    half=$(awk -v b="$best" 'BEGIN { printf "%d", b / 2 }')
    if ((half > 0)); then
      run_load "$sync" "$layout" latency latency --rate "$half"
    else
      note "no throughput measured for $layout: skipping its latency run"
    fi
  done
  stop_chatd
done

# ---------------------------------------------------------------------------------------------
# The report.
# val KIND SYNC X Y KEY: a field of the line "KIND SYNC X Y RESULT ..." (raw: X = batch; chatd:
# X = layout, Y = label; for raw lines Y is unused).
val() {
  awk -v k="$1" -v s="$2" -v x="$3" -v y="$4" -v key="$5" '
    $1 == k && $2 == s && $3 == x && (k == "raw" || $4 == y) {
      for (i = 4; i <= NF; i++) { n = index($i, "="); if (n && substr($i, 1, n - 1) == key) { print substr($i, n + 1); exit } } }' "$RESULTS"
}
best_raw() {  # best_raw SYNC -> "rows_per_s batch"
  awk -v s="$1" '$1 == "raw" && $2 == s { for (i = 4; i <= NF; i++) if ($i ~ /^rows_per_s=/) { v = substr($i, 12) + 0; if (v > best) { best = v; b = $3 } } }
    END { printf "%.0f %s\n", best, b }' "$RESULTS"
}
best_closed() {  # best_closed SYNC LAYOUT -> label
  awk -v s="$1" -v l="$2" '$1 == "chatd" && $2 == s && $3 == l && $4 ~ /^closed/ {
      for (i = 5; i <= NF; i++) if ($i ~ /^acked_per_s=/) { v = substr($i, 13) + 0; if (v > best || lab == "") { best = v; lab = $4 } } }
    END { print lab }' "$RESULTS"
}
kfmt() {
  awk -v v="$1" 'BEGIN { if (v == "" || v + 0 < 0) { print "n/a"; exit } v = sprintf("%.0f", v); s = "";
    while (length(v) > 3) { s = "," substr(v, length(v) - 2) s; v = substr(v, 1, length(v) - 3) } print v s }'
}
msfmt() { awk -v v="$1" 'BEGIN { if (v == "" || v + 0 < 0) print "n/a"; else if (v >= 100000) printf "%.0f", v / 1000; else if (v >= 10000) printf "%.1f", v / 1000; else printf "%.2f", v / 1000 }'; }
num() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "" || v + 0 < 0) print "n/a"; else printf f, v }'; }
layout_text() {
  if [[ $1 == direct ]]; then
    echo "$SENDERS senders, each in a 1:1 chat with its own receiver ($SENDERS chats, $((2 * SENDERS)) sockets)"
  else
    local lo=$((SENDERS / NGROUPS)) hi=$(((SENDERS + NGROUPS - 1) / NGROUPS)) size
    size=$lo; ((hi == lo)) || size="$lo-$hi"
    echo "$SENDERS senders in $NGROUPS group chats of $size senders + 1 receiver each ($NGROUPS chats, $((SENDERS + NGROUPS)) sockets; each message goes to the group's $size other sockets)"
  fi
}

raw_pragmas() {
  local line
  line=$(grep -m1 '^raw ' "$RESULTS" || true)
  echo "page_size $(field page_size "$line"), cache_size $(field cache_size "$line"), wal_autocheckpoint $(field wal_autocheckpoint "$line")"
}

REPORT="$WORK/report.md"
{
  echo "Generated by \`./bench/send/send_bench.sh$ARGS_GIVEN\`, started $START_DATE."
  echo
  echo "- Machine: $(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r); SQLite $(field sqlite "$(grep -m1 '^raw ' "$RESULTS" || true)")."
  echo "- Storage: the reference database and chatd's data directory both in \`$(dirname "$WORK")\`: $STORAGE_SOURCE, $STORAGE_FS ($STORAGE_OPTS) on $STORAGE_MOUNT; disk $STORAGE_DISK."
  echo "- chatd: \`$(realpath --relative-to="$ROOT" "$CHATD_BIN" 2>/dev/null || echo "$CHATD_BIN")\` built $CHATD_BUILD; \`chatd ${SERVER_FLAGS[*]:-} --data-dir <fresh>\`; otherwise its defaults: ${NET_THREADS:-?} network threads (0: one per core), group commit of up to ${SQLITE_BATCH:-?} writes, ${SQLITE_READERS:-?} reader threads. Not pinned; the generator (one thread) shares the $(nproc) cores with it."
  echo "- Reference (\`bench/send/sqlite_raw.cpp\`): one thread inserts rows shaped like chatd's \`messages\` (WITHOUT ROWID, primary key (chat_id, seq), unique id, partial unique (sender_id, client_msg_id), foreign keys on; 24-hex ids, ${CONTENT_BYTES}-byte content, spread over 64 chats) into a fresh WAL database with SQLite's default page settings, as chatd keeps them ($(raw_pragmas)), B rows per transaction, 1 s warm-up then ${RAW_SECS} s; the raw rate is the best over B = ${BATCHES// /, }."
  echo "- Sends (\`bench/send/send_load.cpp\`): Socket.IO over WebSocket, the native \`message:send\` with a unique clientMsgId and ${CONTENT_BYTES} bytes of content; the ack (with the message's seq) comes after the commit. Throughput: closed loop, every sender keeps W sends unacked (best of W = ${WINDOWS// /, }). Latency: open loop at half the best throughput of the same layout and synchronous mode, paced evenly over the senders; send-to-deliver = \`message:new\` at a receiver minus the send time (one process, steady clock). ${WARMUP} s warm-up, ${SECS} s measured."
  for l in $LAYOUTS; do echo "- Layout \`$l\`: $(layout_text "$l")."; done
  echo "- Server CPU per send: chatd's utime+stime (/proc/PID/stat, all threads) over the measured window / acks in it."
  echo
  echo "SQLite alone (the reference):"
  echo
  echo "| synchronous | rows per transaction | rows/s | commits/s | transaction p50 (ms) | transaction p99 (ms) | CPU per row (µs) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for s in $SYNCS; do
    for b in $BATCHES; do
      [[ -n $(val raw "$s" "$b" - rows_per_s) ]] || continue
      m=""; disturbed "$(val raw "$s" "$b" - other_user_cores)" && m="†"
      echo "| ${s^^} | $b | $(kfmt "$(val raw "$s" "$b" - rows_per_s)")$m | $(kfmt "$(val raw "$s" "$b" - commits_per_s)") | $(msfmt "$(val raw "$s" "$b" - txn_p50_us)") | $(msfmt "$(val raw "$s" "$b" - txn_p99_us)") | $(num "$(val raw "$s" "$b" - cpu_us_per_row)" "%.1f") |"
    done
  done
  echo
  echo "chatd:"
  echo
  echo "| synchronous | layout | run | acked sends/s | ÷ raw rate | ack p50 (ms) | ack p99 (ms) | deliver p50 (ms) | deliver p99 (ms) | deliver max (ms) | server CPU per send (µs) | server cores | checks |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for s in $SYNCS; do
    read -r raw_best raw_b < <(best_raw "$s")
    for l in $LAYOUTS; do
      bc=$(best_closed "$s" "$l")
      for lab in $(awk -v s="$s" -v l="$l" '$1 == "chatd" && $2 == s && $3 == l { print $4 }' "$RESULTS"); do
        v() { val chatd "$s" "$l" "$lab" "$1"; }
        case $lab in
          closed*) run="throughput, W=${lab#closed}"; [[ $lab == "$bc" ]] && run="**$run**" ;;
          latency) run="latency at $(kfmt "$(v rate)")/s offered" ;;
        esac
        m=""; disturbed "$(v other_user_cores)" && m="†"
        if [[ $(v ok) == 1 ]]; then chk="ok"; else
          chk="FAILED:"
          for k in acks_failed unacked seq_gaps seq_dups seq_base_errors missing dup_deliveries unknown_deliveries disconnects; do
            [[ $(v "$k") == 0 ]] || chk+=" $k=$(v "$k")"
          done
        fi
        [[ $(v reordered) == 0 ]] || chk+=" ($(v reordered) out of order)"
        ratio=$(awk -v a="$(v acked_per_s)" -v b="$raw_best" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
        [[ $lab == latency ]] && ratio=""
        echo "| ${s^^} | $l | $run | $(kfmt "$(v acked_per_s)")$m | $ratio | $(msfmt "$(v ack_p50_us)") | $(msfmt "$(v ack_p99_us)") | $(msfmt "$(v deliver_p50_us)") | $(msfmt "$(v deliver_p99_us)") | $(msfmt "$(v deliver_max_us)") | $(num "$(v server_us_per_send)" "%.1f") | $(num "$(v server_cores)" "%.2f") | $chk |"
      done
    done
  done
  echo
  echo "Goals (at least half the raw rate; p99 send-to-deliver under 5 ms at half load):"
  echo
  for s in $SYNCS; do
    read -r raw_best raw_b < <(best_raw "$s")
    for l in $LAYOUTS; do
      bc=$(best_closed "$s" "$l")
      [[ -n $bc ]] || continue
      thr=$(val chatd "$s" "$l" "$bc" acked_per_s)
      p99=$(val chatd "$s" "$l" latency deliver_p99_us)
      awk -v s="${s^^}" -v l="$l" -v t="$thr" -v r="$raw_best" -v b="$raw_b" -v p="${p99:--1}" -v h="$(kfmt "$(val chatd "$s" "$l" latency rate)")" -v tf="$(kfmt "$thr")" -v rf="$(kfmt "$raw_best")" 'BEGIN {
        x = (r > 0) ? t / r : 0
        printf "- %s, %s: %s acked sends/s = %.2f of the raw rate (%s rows/s at B=%s): %s; p99 send-to-deliver at %s/s: %s.\n",
          s, l, tf, x, rf, b, (x >= 0.5 ? "**met**" : "**not met**"), h,
          (p < 0 ? "not measured" : sprintf("%.2f ms: %s", p / 1000, (p < 5000 ? "**met**" : "**not met**"))) }'
    done
  done
  if awk -v m="$NOISE_MAX" '{ for (i = 1; i <= NF; i++) if ($i ~ /^other_user_cores=/ && substr($i, 18) + 0 > m) f = 1 } END { exit !f }' "$RESULTS"; then
    echo "- † other programs used more than $NOISE_MAX of a core (user mode) during that run, even after $RETRIES repeat(s): its figures are disturbed."
  fi
  if ((QUIET_TIMEOUTS)); then echo "- The machine was still busy with other work before $QUIET_TIMEOUTS run(s)."; fi
} >"$REPORT"

echo
cat "$REPORT"

if ((WRITE)); then
  DOC="$ROOT/docs/BENCHMARKS.md"
  BEGIN='<!-- BEGIN generated by bench/send/send_bench.sh --write -->'
  END='<!-- END generated by bench/send/send_bench.sh -->'
  [[ -f $DOC ]] || printf '# chatd benchmarks\n' >"$DOC"
  if grep -qxF "$BEGIN" "$DOC"; then
    # Keep everything outside this section's markers; put the new report between them.
    awk -v first="$BEGIN" -v last="$END" -v report="$REPORT" '
      inside && $0 == last { inside = 0 }
      inside { next }
      { print }
      $0 == first && !done { while ((getline l < report) > 0) print l; inside = 1; done = 1 }' \
      "$DOC" >"$DOC.new"
    mv "$DOC.new" "$DOC"
  else
    {
      printf '\n## Durable sends (SQLite, ack after commit)\n\n'
      echo "Run \`./bench/send/send_bench.sh --write\` from the repository root to refresh the block below; the reading after it is written by hand."
      printf '\n%s\n' "$BEGIN"
      cat "$REPORT"
      echo "$END"
    } >>"$DOC"
  fi
  note "wrote the results into $DOC"
fi

if grep -q '^chatd .* ok=0' "$RESULTS"; then
  note "some runs failed their checks (see the table)"
  exit 3
fi
