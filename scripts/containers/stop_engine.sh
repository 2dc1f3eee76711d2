#!/usr/bin/env bash
# Stop the podman API service started by setup_engine.sh (only the PID it recorded).
set -euo pipefail
STATE="${CROSSMODA_ENGINE_DIR:-/tmp/crossmoda-engine}"
PIDFILE="$STATE/podman.pid"
if [ -f "$PIDFILE" ]; then
  pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" && echo "[engine] stopped podman service PID $pid" >&2
  fi
  rm -f "$PIDFILE"
fi
