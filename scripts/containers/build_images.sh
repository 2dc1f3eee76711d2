#!/usr/bin/env bash
# Build the crossmoda images with podman on this machine (no registry): local debootstrap base,
# the host CA bundle and the local CPU torch wheel mounted at build time only (docs/containers.md).
#
# Usage: bash scripts/containers/build_images.sh [TARGET ...]     (default: evaluation ranking algorithm)
#   TARGET: a Dockerfile target, or `algorithm-2023`: the algorithm target with the shipped
#   crossMoDA 2023 model as its default (--build-arg MODEL=adapted_2023), tagged <prefix>algorithm-2023
# Environment:
#   CROSSMODA_BASE_IMAGE  base for every target (default localhost/crossmoda-python-base:bookworm,
#                         made by setup_engine.sh)
#   TORCH_SPEC            torch requirement for algorithm/phantom (default torch==2.13.0+cpu)
#   IMAGE_PREFIX          image names are $IMAGE_PREFIX<target>:<version> (default crossmoda/)
#   NO_CACHE=1            rebuild every layer
#   BUILD_LOG_DIR         per-target build logs (default $CROSSMODA_ENGINE_DIR or /tmp/crossmoda-engine)
# Prints one line per target: `<target> <image> <seconds> <bytes>`.
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE="${CROSSMODA_ENGINE_DIR:-/tmp/crossmoda-engine}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$STATE/containers.conf}"
BASE="${CROSSMODA_BASE_IMAGE:-localhost/crossmoda-python-base:bookworm}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0+cpu}"
PREFIX="${IMAGE_PREFIX:-crossmoda/}"
LOGS="${BUILD_LOG_DIR:-$STATE}"
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -1)"
COMMIT="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(evaluation ranking algorithm)
mkdir -p "$LOGS"

args=(--network host --layers --build-arg "PYTHON_BASE=$BASE" --build-arg "TORCH_BASE=$BASE"
      --build-arg "TORCH_SPEC=$TORCH_SPEC" --build-arg "VERSION=$VERSION" --build-arg "GIT_COMMIT=$COMMIT"
      # Podman 4.3 (buildah 1.28) caches LABEL/ENV lines by their unexpanded text, so labels
      # made from build arguments go stale; --label/--env set them on the final image instead.
      --label "org.opencontainers.image.version=$VERSION" --label "org.opencontainers.image.revision=$COMMIT"
      --env "CROSSMODA_GIT_COMMIT=$COMMIT")
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
  args+=(-v "$(readlink -f "$PIP_CERT"):/etc/ssl/certs/ca-certificates.crt:ro"
         --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
fi
if [ -n "${PIP_FIND_LINKS:-}" ] && [ -d "$PIP_FIND_LINKS" ]; then
  args+=(-v "$PIP_FIND_LINKS:/wheels:ro" --build-arg PIP_FIND_LINKS=/wheels)
fi
[ "${NO_CACHE:-0}" = 1 ] && args+=(--no-cache)

for target in "${targets[@]}"; do
  image="$PREFIX$target:$VERSION"
  stage="$target"
  extra=()
  # The model's ENV is set with --env too (the stale-cache note above).
  case "$target" in
    algorithm) extra=(--build-arg MODEL=adapted --env CROSSMODA_DEFAULT_MODEL=adapted) ;;
    algorithm-2023)
      stage=algorithm
      extra=(--build-arg MODEL=adapted_2023 --env CROSSMODA_DEFAULT_MODEL=adapted_2023
             --label "org.opencontainers.image.description=crossMoDA 2023 algorithm: extra-/intra-meatal VS + cochlea segmentation from T2") ;;
  esac
  t0=$(date +%s.%N)
  if ! podman build "${args[@]}" ${extra[@]+"${extra[@]}"} --target "$stage" -t "$image" \
      -t "$PREFIX$target:latest" . >"$LOGS/build-$target.log" 2>&1; then
    echo "[build] $target failed; last lines of $LOGS/build-$target.log:" >&2
    tail -30 "$LOGS/build-$target.log" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  size="$(podman image inspect --format '{{.Size}}' "$image")"
  printf '%s %s %.1f %s\n' "$target" "$image" "$(echo "$t1 - $t0" | bc)" "$size"
done
