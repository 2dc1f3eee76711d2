#!/usr/bin/env bash
# The README's main job: make a small synthetic test set, run the algorithm (and the
# no-adaptation baseline as a second team), evaluate both, rank them, print the report's path.
# `--edition 2023`: 2023 data, the shipped crossMoDA 2023 model (`adapted_2023`; `--model NAME_OR_FOLDER`
# for another) as one team and the reference labels eroded (src/crossmoda/demo_teams.py) as the
# other, 2023 evaluation and ranking presets.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
exec "$VENV/bin/python" -m crossmoda.demo "$@"
