#!/usr/bin/env bash
# The README's main job: make a small synthetic test set, run the algorithm (and the
# no-adaptation baseline as a second team), evaluate both, rank them, print the report's path.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
exec "$VENV/bin/python" -m crossmoda.demo "$@"
