#!/usr/bin/env bash
# Set everything up (./.venv) and run the test suite. Extra arguments go to pytest.
# Fails when any test fails and when no test ran (pytest exit code 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
VENV="${VENV:-.venv}"
set +e
"$VENV/bin/python" -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[test] pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
