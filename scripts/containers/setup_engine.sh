#!/usr/bin/env bash
# Set up a Docker-compatible container engine on a machine without a Docker daemon or registry
# (docs/containers.md): Podman with the runc runtime behind a Docker API socket, plus local base
# images made with debootstrap. Idempotent: every step is skipped when already done.
#
# Usage:  source <(bash scripts/containers/setup_engine.sh)     # prints `export ...` lines
#    or:  bash scripts/containers/setup_engine.sh && source "$CROSSMODA_ENGINE_DIR/env.sh"
#
# Environment:
#   CROSSMODA_ENGINE_DIR  state folder (containers.conf, service PID and log, env.sh);
#                         default /tmp/crossmoda-engine
#   CROSSMODA_SOCKET      Docker API socket path; default /run/podman/crossmoda.sock
#   CROSSMODA_BASE_IMAGE  local Python base image tag; default localhost/crossmoda-python-base:bookworm
#   DEBIAN_MIRROR         mirror for debootstrap; default: the one in /etc/apt/sources.list.d/debian.sources
# Stop the service with scripts/containers/stop_engine.sh (kills only the recorded PID).
set -euo pipefail
STATE="${CROSSMODA_ENGINE_DIR:-/tmp/crossmoda-engine}"
SOCK="${CROSSMODA_SOCKET:-/run/podman/crossmoda.sock}"
BASE_IMAGE="${CROSSMODA_BASE_IMAGE:-localhost/crossmoda-python-base:bookworm}"
log() { echo "[engine] $*" >&2; }
mkdir -p "$STATE"

# 1. packages
missing=()
for cmd in podman runc debootstrap; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { log "need root to apt-get install ${missing[*]}"; exit 1; }
  log "installing ${missing[*]} (apt)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >&2
fi

# 2. containers.conf: no default ulimits (setrlimit is not permitted here), runc not crun
CONF="$STATE/containers.conf"
cat > "$CONF" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$CONF"

# 3. Docker API service on a socket (start only when nothing answers there)
mkdir -p "$(dirname "$SOCK")"
if curl -fsS --max-time 3 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
  log "Docker API already answering on $SOCK"
else
  rm -f "$SOCK"
  nohup podman --runtime runc system service --time=0 "unix://$SOCK" >"$STATE/service.log" 2>&1 &
  echo $! > "$STATE/podman.pid"
  for _ in $(seq 1 60); do
    curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fsS --max-time 3 --unix-socket "$SOCK" http://d/_ping >/dev/null \
    || { log "service did not come up; see $STATE/service.log"; exit 1; }
  log "podman system service PID $(cat "$STATE/podman.pid") on $SOCK"
fi

# 4. local Python 3.11 base image (Debian bookworm) made with debootstrap; cached
if podman image exists "$BASE_IMAGE"; then
  log "base image $BASE_IMAGE exists"
else
  mirror="${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  rootfs="$(mktemp -d /tmp/crossmoda-rootfs.XXXXXX)"
  log "debootstrap bookworm into $rootfs from $mirror"
  t0=$(date +%s)
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
    || { log "debootstrap failed; see $STATE/debootstrap.log"; rm -rf "$rootfs"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >&2
  rm -rf "$rootfs"
  log "built $BASE_IMAGE in $(( $(date +%s) - t0 )) s"
fi

cat > "$STATE/env.sh" <<ENV
export CONTAINERS_CONF="$CONF"
export DOCKER_HOST="unix://$SOCK"
export CROSSMODA_BASE_IMAGE="$BASE_IMAGE"
export CROSSMODA_ENGINE_DIR="$STATE"
ENV
cat "$STATE/env.sh"
