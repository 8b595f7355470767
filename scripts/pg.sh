#!/usr/bin/env bash
# A throw-away PostgreSQL server for development and tests, in a directory of its own, on loopback.
#
#   scripts/pg.sh start DIR [PORT]   init DIR if needed, start the server on 127.0.0.1:PORT (the
#                                    port DIR used before, else a free one), create database chatd,
#                                    print postgresql://chatd@127.0.0.1:PORT/chatd on stdout.
#                                    A server already running in DIR: just print its URL.
#   scripts/pg.sh stop DIR           fast shutdown (exit 0 when nothing runs)
#   scripts/pg.sh url DIR            print the URL (exit 1 if DIR was never started)
#   scripts/pg.sh status DIR         print "running PID PORT" (exit 0) or "stopped" (exit 3)
#
# Environment: PG_BIN (default: the newest /usr/lib/postgresql/*/bin), PG_ROLE (superuser role,
# default chatd), PG_START_TIMEOUT (seconds, default 60).
#
# DIR holds data/ (the cluster), run/ (the Unix socket), postgres.log, pg_ctl.log and port. Only
# stdout carries the URL; every log goes to DIR. Commands on one DIR are serialized (a lock in
# DIR); different DIRs may run in parallel. As root, the server runs as the `postgres` user, which refuses root.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROG=pg.sh
PG_ROLE=${PG_ROLE:-chatd}
PG_START_TIMEOUT=${PG_START_TIMEOUT:-60}
# Directories created here must be traversable by the postgres user whatever the caller's umask.
umask 022

die() { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

usage() { sed -n '4,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

find_pg_bin() {
  if [[ -n ${PG_BIN:-} ]]; then echo "$PG_BIN"; return; fi
  local d
  d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $d && -x $d/initdb ]] || die "no PostgreSQL found under /usr/lib/postgresql (apt-get install postgresql, or set PG_BIN)"
  echo "$d"
}

# PostgreSQL will not run as root: as root, every server-side command runs as `postgres`.
as_pg() {
  if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}

# A port of the kernel's ephemeral range that no TCP socket uses now. Someone may still take it
# before the server binds, so start_server retries with another one on a bind failure.
free_port() {
  local lo hi p i
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  for ((i = 0; i < 500; i++)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
    if [[ -z $(ss -Htan "sport = :$p") ]]; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

port_busy() { [[ -n $(ss -Htln "sport = :$1") ]]; }

url_for() { echo "postgresql://$PG_ROLE@127.0.0.1:$1/chatd"; }

# --- DIR preparation ---------------------------------------------------------------------------

# The postgres user must reach DIR: DIR itself is handed to it, and a parent it cannot traverse
# is opened for traversal (o+x, not listing) only when it lies under the temporary directory and
# belongs to us, e.g. a `mktemp -d` (mode 0700) that DIR was made in. Anything else is refused
# with a message rather than loosening permissions outside /tmp.
prepare_dir() {
  mkdir -p "$DIR"
  ((EUID == 0)) || return 0
  chown postgres:postgres "$DIR"
  runuser -u postgres -- test -x "$DIR" -a -w "$DIR" && return 0
  local tmp a
  tmp=$(realpath -m "${TMPDIR:-/tmp}")
  a=$DIR
  while [[ $a != / ]]; do
    a=$(dirname "$a")
    runuser -u postgres -- test -x "$a" && continue
    if [[ $a == "$tmp"/* && $(stat -c %u "$a") == 0 ]]; then
      note "letting postgres traverse $a (chmod o+x)"
      chmod o+x "$a"
    else
      die "the postgres user cannot traverse $a, a parent of $DIR: choose another DIR or chmod o+x it"
    fi
  done
  runuser -u postgres -- test -x "$DIR" -a -w "$DIR" || die "the postgres user cannot use $DIR"
}

# One command at a time per DIR: two `start`s must not both run initdb.
lock_dir() {
  exec {LOCK_FD}>>"$DIR/.lock"
  flock -w 120 "$LOCK_FD" || die "$DIR is locked by another pg.sh for over 120 s"
}

# --- server ------------------------------------------------------------------------------------

# A process that exists and is not a zombie. A SIGKILLed postmaster is reparented to PID 1, which
# may take seconds to reap it; until then pg_ctl, which only probes the pid, calls it running.
alive() {
  local s
  s=$(cat /proc/"$1"/stat 2>/dev/null) || return 1
  s=${s##*) }
  [[ ${s:0:1} != [ZX] ]]
}

running_pid() {
  local pid
  [[ -f $DIR/data/PG_VERSION ]] || return 1
  as_pg "$PG/pg_ctl" status -D "$DIR/data" >/dev/null 2>&1 || return 1
  pid=$(head -n 1 "$DIR/data/postmaster.pid" 2>/dev/null) && alive "$pid" || return 1
  echo "$pid"
}

stored_port() { [[ -f $DIR/port ]] && cat "$DIR/port"; }

init_cluster() {
  local ctype=C l
  # Byte-order collation (fast, deterministic) with Unicode-aware lower()/upper() when available.
  for l in $(locale -a 2>/dev/null); do
    [[ ${l,,} == c.utf8 || ${l,,} == c.utf-8 ]] && ctype=C.UTF-8
  done
  as_pg mkdir -p "$DIR/run"
  as_pg chmod 0700 "$DIR/run"
  as_pg "$PG/initdb" -D "$DIR/data" -U "$PG_ROLE" --auth=trust -E UTF8 --locale=C \
    --lc-ctype="$ctype" >>"$DIR/initdb.log" 2>&1 ||
    { tail -n 20 "$DIR/initdb.log" >&2; die "initdb failed (log: $DIR/initdb.log)"; }
  # Trust only on the socket in DIR and on 127.0.0.1: no other line, so nothing else gets in.
  as_pg tee "$DIR/data/pg_hba.conf" >/dev/null <<'EOF'
# scripts/pg.sh: trust on loopback only.
local all all              trust
host  all all 127.0.0.1/32 trust
EOF
  echo "include 'chatd.conf'" | as_pg tee -a "$DIR/data/postgresql.conf" >/dev/null
}

# Rewritten at every start: the port may change and DIR may have moved.
write_conf() {
  as_pg tee "$DIR/data/chatd.conf" >/dev/null <<EOF
# Written by scripts/pg.sh at every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$DIR/run'
max_connections = 200
shared_buffers = 128MB
# Durability matters even on a dev box: an acknowledged commit must survive a crash.
fsync = on
synchronous_commit = on
full_page_writes = on
# After a crash, make everything durable with one syncfs() instead of an fsync per file, which
# took seconds even for a small cluster (tests SIGKILL it). Same guarantee on Linux >= 5.8.
recovery_init_sync_method = syncfs
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

# A SIGKILLed postmaster stays a zombie until PID 1 reaps it, which takes seconds in some
# containers, and postgres refuses to start while its lock file names a pid that kill(0) finds.
# A lock file whose pid is gone or a zombie is stale: postgres itself removes one whose pid is
# gone. (Its orphaned backends, if any, are still caught by the shared memory check.)
clear_stale_lock() {
  local lock=$DIR/data/postmaster.pid pid
  pid=$(head -n 1 "$lock" 2>/dev/null) || return 0
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && return 0
  as_pg rm -f "$lock"
}

# pg_ctl -w returns once the server accepts connections. Retries cover a port someone took since
# we picked it (only when we picked it), and what a SIGKILLed server leaves for a few seconds: its
# lock file naming a zombie not yet reaped, its shared memory held by orphaned backends.
start_server() {
  local port=$1 fresh=$2 from log deadline=$((SECONDS + 20))
  while ((SECONDS < deadline)); do
    clear_stale_lock
    write_conf "$port"
    from=$(($(stat -c %s "$DIR/postgres.log" 2>/dev/null || echo 0) + 1))
    if (close_fds; as_pg "$PG/pg_ctl" start -s -w -t "$PG_START_TIMEOUT" -D "$DIR/data" \
      -l "$DIR/postgres.log" </dev/null >/dev/null 2>>"$DIR/pg_ctl.log"); then
      echo "$port" >"$DIR/port"
      return 0
    fi
    if [[ $fresh == 1 ]] && port_busy "$port"; then
      port=$(free_port)
      continue
    fi
    log=$(tail -c +"$from" "$DIR/postgres.log")
    if [[ $log == *"shared memory block"*"still in use"* || $log == *'lock file "postmaster.pid" already exists'* ]]; then
      sleep 0.3
    else
      break
    fi
  done
  echo "--- tail of $DIR/pg_ctl.log:" >&2
  tail -n 5 "$DIR/pg_ctl.log" >&2
  echo "--- tail of $DIR/postgres.log:" >&2
  tail -c +"$from" "$DIR/postgres.log" | tail -n 20 >&2
  die "PostgreSQL did not start on 127.0.0.1:$port"
}

ensure_database() {
  local psql=("$PG/psql" -X -h 127.0.0.1 -p "$1" -U "$PG_ROLE" -d postgres -v ON_ERROR_STOP=1 -Atq)
  if [[ -z $(as_pg "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'chatd'") ]]; then
    as_pg "${psql[@]}" -c 'CREATE DATABASE chatd' >/dev/null
  fi
}

cmd_start() {
  local want=${1:-} port fresh=0 pid
  [[ -z $want || $want =~ ^[0-9]+$ ]] || die "PORT must be a number: $want"
  prepare_dir
  lock_dir
  if pid=$(running_pid); then
    port=$(stored_port)
    [[ -z $want || $want == "$port" ]] || note "already running on port $port (pid $pid), not $want"
    url_for "$port"
    return 0
  fi
  [[ -f $DIR/data/PG_VERSION ]] || init_cluster
  port=${want:-$(stored_port || true)}
  [[ -n $port ]] || { port=$(free_port); fresh=1; }
  start_server "$port" "$fresh"
  port=$(stored_port)
  ensure_database "$port"
  url_for "$port"
}

cmd_stop() {
  [[ -d $DIR ]] || return 0
  lock_dir
  running_pid >/dev/null || return 0
  # Fast: roll back open transactions and shut down cleanly; immediate only if that hangs.
  as_pg "$PG/pg_ctl" stop -s -w -t 30 -m fast -D "$DIR/data" ||
    as_pg "$PG/pg_ctl" stop -s -w -t 30 -m immediate -D "$DIR/data"
}

cmd_url() {
  local port
  port=$(stored_port) || die "no server was ever started in $DIR"
  url_for "$port"
}

cmd_status() {
  local pid
  if [[ -d $DIR ]] && pid=$(running_pid); then
    echo "running $pid $(stored_port)"
  else
    echo stopped
    return 3
  fi
}

main() {
  [[ ${1:-} == -h || ${1:-} == --help ]] && usage 0
  (($# >= 2)) || usage
  local cmd=$1
  DIR=$(realpath -m "$2")
  shift 2
  PG=$(find_pg_bin)
  # Server-side tools complain when they cannot enter the caller's directory (e.g. /root).
  cd /
  case $cmd in
    start) (($# <= 1)) || usage; cmd_start "$@" ;;
    stop) (($# == 0)) || usage; cmd_stop ;;
    url) (($# == 0)) || usage; cmd_url ;;
    status) (($# == 0)) || usage; cmd_status ;;
    *) usage ;;
  esac
}

main "$@"
