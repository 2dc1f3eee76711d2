#!/usr/bin/env bash
# Stop what scripts/slurm/setup_cluster.sh started (only the PIDs it recorded: slurmd, slurmctld,
# and munged when it started one). The state folder and logs stay for inspection.
set -euo pipefail
STATE="${CROSSMODA_SLURM_DIR:-/tmp/crossmoda-slurm}"
for name in slurmd slurmctld munged; do
  pidfile="$STATE/$name.pid"
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" && echo "[slurm] stopped $name PID $pid" >&2
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  rm -f "$pidfile"
done
