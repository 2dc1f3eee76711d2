#!/usr/bin/env bash
# Create ./.venv (or $VENV) and install crossmoda with every extra.
# On a machine without an NVIDIA GPU the CPU build of torch is installed first, so pip never
# pulls the multi-GB CUDA build: torch==2.13.0+cpu from a local wheel folder ($PIP_FIND_LINKS)
# when one is there, else from the PyTorch CPU index.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"
EXTRAS="${CROSSMODA_EXTRAS:-all}"
STAMP="$VENV/.crossmoda-installed"
if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip
if [[ ",$EXTRAS," == *",all,"* || ",$EXTRAS," == *",algorithm,"* ]]; then
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      echo "[setup] NVIDIA GPU found: installing the default (CUDA) torch build"
      "${PIP[@]}" install -q "torch>=2.4"
    elif "${PIP[@]}" install -q "torch==2.13.0+cpu" 2>/dev/null; then
      echo "[setup] installed torch 2.13.0+cpu"
    else
      echo "[setup] installing CPU torch from the PyTorch CPU index"
      "${PIP[@]}" install -q torch --index-url https://download.pytorch.org/whl/cpu
    fi
  fi
fi
echo "[setup] installing crossmoda[$EXTRAS] into $VENV"
"${PIP[@]}" install -q -e ".[$EXTRAS]"
touch "$STAMP"
