# Shell functions shared by scripts/pg.sh and scripts/cluster.sh (sourced, not run).

# Closes every descriptor above stderr in this (sub)shell. Daemons started from it must not
# inherit ours: an inherited lock fd would stay held for their lifetime, and an inherited pipe
# would keep a caller (node's spawn) waiting for EOF forever.
close_fds() {
  local f fd
  for f in /proc/"$BASHPID"/fd/*; do
    fd=${f##*/}
    ((fd > 2)) && { exec {fd}>&-; } 2>/dev/null
  done
  return 0
}
