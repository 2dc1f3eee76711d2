#!/usr/bin/env bash
# The README's main job: make a small synthetic test set, run the algorithm (and the
# no-adaptation baseline as a second team), evaluate both, rank them, print the report's path.
# `--edition 2023`: 2023 data, evaluation and ranking presets; no 2023 model ships, so the two
# "teams" are the reference labels perturbed (see src/crossmoda/demo_teams.py), named as such.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
exec "$VENV/bin/python" -m crossmoda.demo "$@"
