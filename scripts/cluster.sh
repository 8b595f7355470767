#!/usr/bin/env bash
# A local chatd cluster on loopback: PostgreSQL, Redis, N chatd nodes and HAProxy in front, every
# process in the background, every file in CLUSTER_DIR (docs: README.md, "Cluster").
#
#   scripts/cluster.sh up           start what is not running, wait until HAProxy answers /healthz
#                                   through to a node, print the URL (http://127.0.0.1:CLUSTER_PORT)
#   scripts/cluster.sh down         stop everything (haproxy, nodes, redis, postgres)
#   scripts/cluster.sh status       one line per process: name pid port running|dead [check];
#                                   exit 0 when all run, 3 otherwise
#   scripts/cluster.sh kill NAME    SIGKILL one process (a crash)
#   scripts/cluster.sh stop NAME    stop one process gracefully
#   scripts/cluster.sh start NAME   start one process again, on the same port as before
#
# NAME: postgres, redis, node1..nodeN, haproxy.
# Environment (read by `up` when nothing runs, then kept in CLUSTER_DIR/cluster.env, so later
# commands, `start` included, use what the cluster was made with):
#   CLUSTER_DIR (./cluster-data)  CLUSTER_NODES (3)  CLUSTER_PORT (5000, HAProxy's port)
#   CHATD_BIN (build/release/chatd)  CHATD_ARGS (extra chatd arguments, split on blanks)
#   CLUSTER_READY_TIMEOUT (seconds a process gets to become ready, 30)
# CLUSTER_NODES=0 runs PostgreSQL, Redis and HAProxy alone (HAProxy answers 503), e.g. to run a
# node by hand or under a debugger against them.
#
# $CLUSTER_DIR/processes lists the running processes as "<name> <pid> <port>", rewritten after
# every command. Progress and errors go to stderr; stdout carries only what a command prints
# (the URL for `up`, the table for `status`).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
shopt -s extglob

SELF=$(realpath "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)
PG_SH=$ROOT/scripts/pg.sh
PROG=cluster.sh

CLUSTER_DIR=$(realpath -m "${CLUSTER_DIR:-./cluster-data}")
READY_TIMEOUT=${CLUSTER_READY_TIMEOUT:-30}
ALL_NAMES=()
NODE_NAMES=()
umask 022

die() { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }
usage() { sed -n '5,25p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

# --- processes -----------------------------------------------------------------------------------

# The start time (clock ticks since boot) of a live, non-zombie process. Recorded beside each pid,
# it tells our process from a later one that reused the pid. Zombies count as dead: killed
# orphans wait for PID 1 to reap them, which can take seconds.
proc_start() {
  local s f
  s=$(cat /proc/"$1"/stat 2>/dev/null) || return 1
  s=${s##*) }
  read -ra f <<<"$s"
  [[ ${f[0]} != [ZX] ]] || return 1
  echo "${f[19]}"
}

# Runs a program in the background in a session of its own (so a Ctrl-C or hang-up aimed at the
# caller's terminal does not reach it), logs to LOG, records "pid start-time" in DIR/pid.
# setsid and env exec in place: the pid recorded is the program's.
spawn() {
  local dir=$1 log=$2 pid start
  shift 2
  # The command goes to the log, but no secret does.
  local line=${*//CHATD_JWT_SECRET=+([^ ])/CHATD_JWT_SECRET=(hidden)}
  echo "=== $(date -u +%FT%TZ) ${line//CHATD_SECRET_KEY=+([^ ])/CHATD_SECRET_KEY=(hidden)}" >>"$log"
  (close_fds; exec setsid "$@" </dev/null >>"$log" 2>&1) &
  pid=$!
  start=$(proc_start "$pid") || start=0
  echo "$pid $start" >"$dir/pid"
}

# The pid of NAME if it runs.
pid_of() {
  local name=$1 pid start now
  if [[ $name == postgres ]]; then
    # The postmaster's pid file, read directly: this runs often, and `pg.sh status` is slower.
    pid=$(head -n 1 "$CLUSTER_DIR/postgres/data/postmaster.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && proc_start "$pid" >/dev/null || return 1
    [[ $(cat /proc/"$pid"/comm 2>/dev/null) == postgres* ]] || return 1
    echo "$pid"
    return 0
  fi
  [[ -f $CLUSTER_DIR/$name/pid ]] || return 1
  read -r pid start <"$CLUSTER_DIR/$name/pid"
  now=$(proc_start "$pid") || return 1
  [[ $now == "$start" ]] || return 1
  echo "$pid"
}

port_of() { cat "$CLUSTER_DIR/$1/port" 2>/dev/null; }

# A port of the kernel's ephemeral range that no TCP socket uses now and that no other process of
# this cluster was given. It may still be taken before our process binds it: see retry_elsewhere.
free_port() {
  local lo hi p i n taken=" "
  for n in "${ALL_NAMES[@]}"; do taken+="$(port_of "$n" || true) "; done
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  for ((i = 0; i < 500; i++)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
    [[ $taken == *" $p "* ]] && continue
    if [[ -z $(ss -Htan "sport = :$p") ]]; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

port_busy() { [[ -n $(ss -Htln "sport = :$1") ]]; }

# Prints the status line and the body of GET PATH from 127.0.0.1:PORT ("" if nothing answers).
# Bash's /dev/tcp keeps the scripts free of curl; HTTP/1.0 gets a plain body (never chunked) and a
# closed connection; `timeout` bounds a server that never answers.
http_get() {
  # shellcheck disable=SC2016 # $0 and $1 belong to the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3
    cat <&3' "$1" "$2" 2>/dev/null | tr -d '\r' | sed -n '1p;/^$/,$p' | sed '/^$/d' | head -c 300 || true
}

# The HTTP status of GET PATH, or 000.
http_status() {
  local r
  r=$(http_get "$1" "$2" | head -n 1)
  [[ $r =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]] && echo "${BASH_REMATCH[1]}" || echo 000
}

redis_ping() {
  # shellcheck disable=SC2016 # $0 belongs to the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "PING\r\n" >&3; read -r line <&3; [[ $line == "+PONG"* ]]' "$1" 2>/dev/null
}

# shellcheck disable=SC2016 # $0 belongs to the inner bash
tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

# --- settings ------------------------------------------------------------------------------------

# Written by `up` when nothing runs; every other command uses what the cluster was made with.
save_settings() {
  local bin=${CHATD_BIN:-build/release/chatd}
  [[ $bin == /* ]] || bin=$ROOT/$bin
  [[ ${CLUSTER_NODES:-3} =~ ^[0-9]+$ ]] || die "CLUSTER_NODES must be a number: $CLUSTER_NODES"
  local lb=${CLUSTER_PORT:-5000}
  if ! [[ $lb =~ ^[0-9]+$ ]] || ((lb < 1 || lb > 65535)); then
    die "CLUSTER_PORT must be a port number: $lb"
  fi
  {
    printf 'NODES=%q\n' "${CLUSTER_NODES:-3}"
    printf 'LB_PORT=%q\n' "${CLUSTER_PORT:-5000}"
    printf 'BIN=%q\n' "$bin"
    printf 'ARGS=%q\n' "${CHATD_ARGS:-}"
  } >"$CLUSTER_DIR/cluster.env"
}

load_settings() {
  local k
  NODES=0 LB_PORT=${CLUSTER_PORT:-5000} BIN='' ARGS=''
  # shellcheck source=/dev/null
  [[ -f $CLUSTER_DIR/cluster.env ]] && source "$CLUSTER_DIR/cluster.env"
  NODE_NAMES=()
  for ((k = 1; k <= NODES; k++)); do NODE_NAMES+=("node$k"); done
  # Start order; stop order is the reverse.
  ALL_NAMES=(postgres redis "${NODE_NAMES[@]}" haproxy)
}

# Tells the user when the environment asks for something else than the running cluster has.
warn_settings_differ() {
  local want_bin=${CHATD_BIN:-build/release/chatd}
  [[ $want_bin == /* ]] || want_bin=$ROOT/$want_bin
  [[ ${CLUSTER_NODES:-$NODES} == "$NODES" && ${CLUSTER_PORT:-$LB_PORT} == "$LB_PORT" &&
    $want_bin == "$BIN" && ${CHATD_ARGS-$ARGS} == "$ARGS" ]] && return 0
  note "the cluster runs with its own settings (CLUSTER_DIR/cluster.env: $NODES nodes, port $LB_PORT);" \
    "run 'down' first to change them"
}

known_name() {
  local n
  for n in "${ALL_NAMES[@]}"; do [[ $n == "$1" ]] && return 0; done
  return 1
}

# A secret every node shares (32 random bytes, hex), kept in $CLUSTER_DIR/<name>.
secret() {
  local file=$CLUSTER_DIR/$1
  [[ -s $file ]] || (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$file")
  cat "$file"
}

pg_url() { "$PG_SH" url "$CLUSTER_DIR/postgres"; }
redis_url() { echo "redis://127.0.0.1:$(port_of redis)"; }
lb_url() { echo "http://127.0.0.1:$LB_PORT"; }

# --- configuration files -------------------------------------------------------------------------

write_redis_conf() {
  cat >"$CLUSTER_DIR/redis/redis.conf" <<EOF
# Written by scripts/cluster.sh at every start of redis; edits are lost.
bind 127.0.0.1
port $1
protected-mode yes
daemonize no
dir $CLUSTER_DIR/redis
logfile ""
# Pub/sub, presence and counters only: Redis down means latency, never loss (PostgreSQL is the
# truth), so nothing is persisted.
save ""
appendonly no
maxclients 10000
EOF
}

# One HAProxy backend of every node, checked with GET PATH (200 means in rotation).
lb_backend() {
  cat <<EOF
backend $1
    balance roundrobin
    option httpchk GET $2
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
EOF
  local name
  for name in "${NODE_NAMES[@]}"; do
    echo "    server $name 127.0.0.1:$(port_of "$name") check"
  done
}

# Connection handling, for both Engine.IO transports and without stickiness:
# - The default http-keep-alive mode (and not http-server-close, which closes every server
#   connection after one response): each request of a kept-alive client connection is balanced
#   on its own (roundrobin, no prefer-last-server), and idle server connections are reused.
# - WebSocket: a 101 answer to an Upgrade turns the connection into a tunnel, which lives under
#   `timeout tunnel` (1 h), not under the client/server timeouts.
# - Long-polling: a GET waits up to the ping interval (25 s) for data, so `timeout server` (and
#   `timeout client`, kept equal) must be well above 30 s.
# - A connection a node refuses (it was killed) is retried on another node (redispatch) rather
#   than answered 503; health checks take the node out of rotation within about 2 s (fall 2,
#   inter 1 s). Requests that were in flight on it fail, as they would in production.
write_haproxy_conf() {
  local dir=$CLUSTER_DIR/haproxy name sock maxconn=10000 nofile
  sock=$dir/admin.sock
  # Two descriptors per proxied connection, plus a few: HAProxy refuses to start when the hard
  # limit on open files (which not even root may raise in a container) is below what it needs.
  nofile=$(ulimit -Hn)
  [[ $nofile == unlimited ]] || ((maxconn = (nofile - 100) / 2 < maxconn ? (nofile - 100) / 2 : maxconn))
  {
    cat <<EOF
# Written by scripts/cluster.sh at every start of haproxy; edits are lost.
global
    log stdout format raw local0 info
    maxconn $maxconn
    # A graceful stop (SIGUSR1) waits for open connections; WebSockets would hold it for an hour.
    hard-stop-after 5s
EOF
    # The admin socket (e.g. "show servers state") only where the path fits a Unix socket.
    ((${#sock} < 100)) && echo "    stats socket $sock mode 600 level admin"
    cat <<EOF

defaults
    mode http
    log global
    option httplog
    option dontlognull
    option dontlog-normal
    option forwardfor
    option http-keep-alive
    option redispatch
    retries 2
    maxconn $maxconn
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 15s
    timeout http-keep-alive 30s
    timeout queue 10s
    timeout tunnel 1h
    timeout client-fin 10s
    timeout server-fin 10s

# Ready nodes (/readyz: store and Redis reachable) take the traffic. When none is ready, e.g.
# while Redis is down everywhere, the live ones (/healthz) still serve: PostgreSQL is the truth,
# so sends are still acked, and fan-out catches up from it.
frontend chatd
    bind 127.0.0.1:$LB_PORT
    use_backend nodes if { nbsrv(nodes) gt 0 }
    default_backend live_nodes

EOF
    lb_backend nodes /readyz
    echo
    lb_backend live_nodes /healthz
  } >"$dir/haproxy.cfg"
}

# --- starting one process ------------------------------------------------------------------------

# Starts NAME on the port in CLUSTER_DIR/NAME/port (postgres: the one pg.sh keeps) and returns at
# once, except for postgres, which pg.sh starts to readiness. await_ready waits for the others.
begin() {
  local name=$1 dir=$CLUSTER_DIR/$1 port
  mkdir -p "$dir"
  if [[ $name == postgres ]]; then
    "$PG_SH" start "$dir" >/dev/null || { note "postgres did not start"; return 1; }
    return 0
  fi
  port=$(port_of "$name")
  # Where this start's lines begin in the log: a failure shows only those.
  echo $(($(stat -c %s "$dir/$name.log" 2>/dev/null || echo 0) + 1)) >"$dir/log_from"
  case $name in
    redis)
      write_redis_conf "$port"
      spawn "$dir" "$dir/$name.log" redis-server "$dir/redis.conf"
      ;;
    haproxy)
      write_haproxy_conf
      haproxy -c -q -f "$dir/haproxy.cfg" >>"$dir/$name.log" 2>&1 ||
        { fail_log "$name" "haproxy rejects $dir/haproxy.cfg"; return 1; }
      spawn "$dir" "$dir/$name.log" haproxy -db -f "$dir/haproxy.cfg"
      ;;
    node*)
      local extra=()
      read -ra extra <<<"$ARGS"
      mkdir -p "$dir/data"
      # Attachment bytes are in one directory every node reads and writes (the shared file
      # system of a real deployment).
      # The secrets go by environment, out of `ps`; JWT_SECRET is dropped so no other wins.
      # HAProxy and the other nodes (which forward polling requests) are on loopback: their
      # X-Forwarded-For names the client.
      spawn "$dir" "$dir/$name.log" env -u JWT_SECRET CHATD_JWT_SECRET="$(secret jwt_secret)" \
        CHATD_SECRET_KEY="$(secret secret_key)" "$BIN" \
        --host 127.0.0.1 --port "$port" --data-dir "$dir/data" --database-url "$(pg_url)" \
        --redis-url "$(redis_url)" --node-id "$name" --trusted-proxy 127.0.0.1 \
        --attachment-dir "$CLUSTER_DIR/attachments" "${extra[@]}"
      ;;
  esac
}

ready() {
  case $1 in
    postgres) return 0 ;;
    redis) redis_ping "$2" ;;
    haproxy) tcp_open "$2" ;;
    node*) [[ $(http_status "$2" /readyz) == 200 ]] ;;
  esac
}

# Waits until NAME answers (redis: PING, node: /readyz 200, haproxy: its port). Returns 1, with
# its log tail on stderr, if it exited or was not ready within READY_TIMEOUT.
await_ready() {
  local name=$1 port pid code deadline=$((SECONDS + READY_TIMEOUT))
  [[ $name == postgres ]] && return 0
  port=$(port_of "$name")
  read -r pid _ <"$CLUSTER_DIR/$name/pid"
  while ! ready "$name" "$port"; do
    if ! pid_of "$name" >/dev/null; then
      code=0
      wait "$pid" 2>/dev/null || code=$?
      fail_log "$name" "$name exited (status $code) while starting on port $port"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      fail_log "$name" "$name (pid $pid) was not ready on port $port after ${READY_TIMEOUT}s: killed"
      # A process that never became ready is no member of the cluster (and must free its port).
      kill_proc "$name"
      return 1
    fi
    sleep 0.1
  done
}

launch() { begin "$1" && await_ready "$1"; }

fail_log() {
  local name=$1 log=$CLUSTER_DIR/$1/$1.log from=1
  [[ -f $CLUSTER_DIR/$name/log_from ]] && from=$(cat "$CLUSTER_DIR/$name/log_from")
  note "$2"
  echo "--- tail of $log:" >&2
  tail -c +"$from" "$log" 2>/dev/null | tail -n 25 >&2
  echo "---" >&2
}

# Gives NAME a port during a fresh `up`: the one it had if still free, else a fresh one.
assign_port() {
  local name=$1 port
  [[ $name == postgres ]] && return 0
  [[ $name == haproxy ]] && { echo "$LB_PORT" >"$CLUSTER_DIR/haproxy/port"; return 0; }
  port=$(port_of "$name" || true)
  [[ -n $port ]] && ! port_busy "$port" && return 0
  free_port >"$CLUSTER_DIR/$name/port"
}

# After a failed start in a fresh `up`: when another program took the port we picked (between our
# check and the bind), NAME gets another port and one more try, up to three times. Never for
# `start` or for a partly running cluster: HAProxy knows the node ports by then.
retry_elsewhere() {
  local name=$1 attempt
  [[ $name != postgres && $name != haproxy ]] || return 1
  for ((attempt = 1; attempt <= 3; attempt++)); do
    port_busy "$(port_of "$name")" || return 1
    note "port $(port_of "$name") was taken by another program; $name tries another"
    free_port >"$CLUSTER_DIR/$name/port"
    launch "$name" && return 0
  done
  return 1
}

# --- stopping one process ------------------------------------------------------------------------

wait_gone() {
  local name=$1 pid=$2 deadline=$((SECONDS + $3))
  while pid_of "$name" >/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

stop_proc() {
  local name=$1 pid sig=TERM
  pid=$(pid_of "$name") || return 0
  if [[ $name == postgres ]]; then
    "$PG_SH" stop "$CLUSTER_DIR/postgres"
    return 0
  fi
  # HAProxy's graceful stop is SIGUSR1 (finish open connections, bounded by hard-stop-after).
  [[ $name == haproxy ]] && sig=USR1
  kill -s "$sig" "$pid" 2>/dev/null || true
  # chatd drains for up to --shutdown-grace-ms (10 s by default) before it exits.
  if ! wait_gone "$name" "$pid" 25; then
    note "$name (pid $pid) did not stop within 25 s: SIGKILL"
    kill_proc "$name"
  fi
  reap "$pid"
}

kill_proc() {
  local name=$1 pid
  pid=$(pid_of "$name") || return 0
  kill -s KILL "$pid" 2>/dev/null || true
  wait_gone "$name" "$pid" 10 || die "$name (pid $pid) survived SIGKILL"
  reap "$pid"
}

# A process this shell started is reaped here, where bash's "Killed" notice can be silenced
# (for any other pid, wait fails at once).
reap() { { wait "$1"; } 2>/dev/null || true; }

# --- state ---------------------------------------------------------------------------------------

# $CLUSTER_DIR/processes: "<name> <pid> <port>" per running process, replaced atomically.
write_processes() {
  [[ -d $CLUSTER_DIR ]] || return 0
  local name pid tmp=$CLUSTER_DIR/.processes.$$
  for name in "${ALL_NAMES[@]}"; do
    pid=$(pid_of "$name") && echo "$name $pid $(port_of "$name")"
  done >"$tmp"
  mv -f "$tmp" "$CLUSTER_DIR/processes"
}

running_names() {
  local name
  for name in "${ALL_NAMES[@]}"; do pid_of "$name" >/dev/null && echo "$name"; done
  return 0
}

# One command at a time per cluster; the processes file is rewritten whatever way we exit.
lock_cluster() {
  mkdir -p "$CLUSTER_DIR"
  exec {LOCK_FD}>>"$CLUSTER_DIR/.lock"
  flock -w 300 "$LOCK_FD" || die "another cluster.sh has held $CLUSTER_DIR for 300 s"
  trap write_processes EXIT
}

# --- commands ------------------------------------------------------------------------------------

# Everything `up` needs, checked before anything starts, so a missing piece is named at once.
preflight() {
  command -v redis-server >/dev/null || die "redis-server is not installed (make deps)"
  command -v haproxy >/dev/null || die "haproxy is not installed (make deps)"
  port_busy "$LB_PORT" && die "port $LB_PORT (CLUSTER_PORT) is in use by another program"
  ((NODES > 0)) || return 0
  [[ -x $BIN ]] || die "no chatd binary at $BIN (make build, or set CHATD_BIN)"
  local help flag missing=()
  help=$("$BIN" --help 2>&1 || true)
  # An option is a help line that starts with it (other lines may mention it in prose).
  for flag in --database-url --redis-url --node-id; do
    grep -Eq -- "^[[:space:]]*(-[[:alnum:]],)?$flag([ =,]|\$)" <<<"$help" || missing+=("$flag")
  done
  ((${#missing[@]} == 0)) ||
    die "$BIN has no ${missing[*]}: it cannot run as a cluster node (build a chatd with the" \
      "cluster options, or use CLUSTER_NODES=0 for PostgreSQL, Redis and HAProxy alone)"
}

# Waits until a request through HAProxy reaches a node that answers /healthz with 200.
await_lb() {
  local deadline=$((SECONDS + READY_TIMEOUT))
  until [[ $(http_status "$LB_PORT" /healthz) == 200 ]]; do
    ((SECONDS < deadline)) || {
      fail_log haproxy "HAProxy on port $LB_PORT did not answer /healthz with 200 within ${READY_TIMEOUT}s"
      return 1
    }
    sleep 0.1
  done
}

# Nodes are begun together and awaited after: their start-ups (connecting, migrations) overlap.
cmd_up() {
  local name fresh=0 begun=() started=()
  lock_cluster
  load_settings
  if [[ -z $(running_names) ]]; then
    fresh=1
    save_settings
    load_settings
    preflight
  else
    warn_settings_differ
  fi
  for name in "${ALL_NAMES[@]}"; do
    pid_of "$name" >/dev/null && continue
    # What is not a node needs what came before it ready (HAProxy: the nodes).
    if [[ $name != node* ]]; then
      await_begun "$fresh" "${begun[@]}"
      begun=()
    fi
    mkdir -p "$CLUSTER_DIR/$name"
    ((fresh)) && assign_port "$name"
    note "starting $name"
    begin "$name" || up_failed "$name" "$fresh"
    started+=("$name")
    if [[ $name == node* ]]; then begun+=("$name"); else await_begun "$fresh" "$name"; fi
  done
  await_begun "$fresh" "${begun[@]}"
  ((${#started[@]} > 0)) || note "the cluster in $CLUSTER_DIR is already up"
  if ((NODES > 0)); then
    await_lb || die "the cluster is not serving through HAProxy"
  else
    note "CLUSTER_NODES=0: no chatd node; HAProxy answers 503"
  fi
  note "postgres $(pg_url), redis $(redis_url), logs in $CLUSTER_DIR/*/*.log"
  lb_url
}

await_begun() {
  local fresh=$1 name
  shift
  for name in "$@"; do
    await_ready "$name" || { ((fresh)) && retry_elsewhere "$name"; } || up_failed "$name" "$fresh"
  done
}

# A fresh `up` leaves nothing half-started behind; one that completed a partly running cluster
# leaves what ran before.
up_failed() {
  if (($2)); then
    note "stopping what this 'up' started"
    stop_all
  fi
  die "$1 did not start; the cluster is not up"
}

stop_all() {
  local i
  for ((i = ${#ALL_NAMES[@]} - 1; i >= 0; i--)); do stop_proc "${ALL_NAMES[i]}"; done
}

cmd_down() {
  [[ -d $CLUSTER_DIR ]] || { note "no cluster in $CLUSTER_DIR"; return 0; }
  lock_cluster
  load_settings
  stop_all
  [[ -z $(running_names) ]] || die "still running: $(running_names | tr '\n' ' ')"
}

cmd_status() {
  [[ -f $CLUSTER_DIR/cluster.env ]] || { note "no cluster in $CLUSTER_DIR"; return 3; }
  lock_cluster
  load_settings
  local name pid port state check all=0
  for name in "${ALL_NAMES[@]}"; do
    port=$(port_of "$name" || echo -)
    check=''
    if pid=$(pid_of "$name"); then
      state=running
      case $name in
        node*) check="readyz: $(http_get "$port" /readyz | tr '\n' ' ')" ;;
        haproxy) ((NODES > 0)) && check="healthz via haproxy: $(http_get "$port" /healthz | tr '\n' ' ')" ;;
        redis) redis_ping "$port" && check="PING: PONG" || check="PING: no answer" ;;
        postgres) check=$(pg_url) ;;
      esac
    else
      pid=- state=dead all=3
    fi
    printf '%-9s %-8s %-6s %-8s %s\n' "$name" "$pid" "$port" "$state" "$check"
  done
  return "$all"
}

cmd_one() {
  local verb=$1 name=$2
  [[ -f $CLUSTER_DIR/cluster.env ]] || die "no cluster in $CLUSTER_DIR (run 'up' first)"
  lock_cluster
  load_settings
  known_name "$name" || die "unknown process '$name' (one of: ${ALL_NAMES[*]})"
  case $verb in
    kill) pid_of "$name" >/dev/null || note "$name is not running"; kill_proc "$name" ;;
    stop) pid_of "$name" >/dev/null || note "$name is not running"; stop_proc "$name" ;;
    start)
      if pid_of "$name" >/dev/null; then
        note "$name is already running"
        return 0
      fi
      [[ $name == postgres || -n $(port_of "$name") ]] || die "$name has never run (use 'up')"
      launch "$name" || die "$name did not start"
      ;;
  esac
}

main() {
  (($# >= 1)) || usage
  case $1 in
    up) (($# == 1)) || usage; cmd_up ;;
    down) (($# == 1)) || usage; cmd_down ;;
    status) (($# == 1)) || usage; cmd_status ;;
    kill | stop | start) (($# == 2)) || usage; cmd_one "$1" "$2" ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
  esac
}

main "$@"
