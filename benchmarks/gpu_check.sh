#!/usr/bin/env bash
# One prepared device check: algorithm inference and training throughput on a GPU machine that
# has Python and PyTorch but none of this package's other dependencies.
#
#   bash benchmarks/gpu_check.sh --prepare          # here, once: fill .gpu_wheels/ (git-ignored)
#   bash benchmarks/gpu_check.sh [gpu_check.py options, e.g. --output DIR]   # on the GPU machine
#   bash benchmarks/gpu_check.sh --device cpu ...   # the CPU fallback (tiny shapes)
#
# .gpu_wheels/ holds what the GPU machine lacks: the pure-Python wheels of MONAI and nibabel, the
# contents of the SimpleITK wheel recompressed with xz (the wheel itself, ~53 MB, does not fit the
# 64 MiB a device call can carry together with the working tree; xz brings it to ~28 MB), and
# deepmriprep's two template files the phantom generator reads (the `full` test cases are
# generated on the machine). Without .gpu_wheels/ the script runs on the current environment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$ROOT/.gpu_wheels"
PY="${PYTHON:-python3}"
MONAI_VERSION=1.6.1
NIBABEL_VERSION=5.4.2
SIMPLEITK_VERSION=2.5.7
PY_TARGET=3.12

if [[ "${1:-}" == "--prepare" ]]; then
  PREP_PY="${PREP_PYTHON:-$ROOT/.venv/bin/python}"
  [[ -x "$PREP_PY" ]] || PREP_PY=python3
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  rm -rf "$WHEELS" && mkdir -p "$WHEELS"
  "$PREP_PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_TARGET" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$tmp" \
    "monai==$MONAI_VERSION" "nibabel==$NIBABEL_VERSION" "SimpleITK==$SIMPLEITK_VERSION"
  mv "$tmp"/monai-*.whl "$tmp"/nibabel-*.whl "$WHEELS/"
  mkdir -p "$tmp/sitk"
  "$PREP_PY" -m zipfile -e "$tmp"/simpleitk-*.whl "$tmp/sitk"
  XZ_OPT="-9 -T2" tar -C "$tmp/sitk" -cJf "$WHEELS/simpleitk-$SIMPLEITK_VERSION.tar.xz" .
  templates="$("$PREP_PY" -c 'import importlib.util as u, pathlib as p; s = u.find_spec("deepmriprep"); print(p.Path(list(s.submodule_search_locations)[0]))')"
  mkdir -p "$WHEELS/site/deepmriprep/data/templates"
  : > "$WHEELS/site/deepmriprep/__init__.py"
  for f in Template_05mm_bet.nii.gz neuromorphometrics.nii.gz neuromorphometrics.csv; do
    cp "$templates/data/templates/$f" "$WHEELS/site/deepmriprep/data/templates/"
  done
  cp "$(dirname "$templates")"/deepmriprep-*.dist-info/LICENSE "$WHEELS/site/deepmriprep/LICENSE" 2>/dev/null || true
  du -sh "$WHEELS"/* "$WHEELS"
  tree_bytes="$(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)"
  carry_bytes="$(du -sb "$WHEELS" | cut -f1)"
  total=$((tree_bytes + carry_bytes))
  echo "working tree $((tree_bytes / 1048576)) MiB + .gpu_wheels $((carry_bytes / 1048576)) MiB = $((total / 1048576)) MiB (device limit 64 MiB)"
  [[ $total -le $((64 * 1048576)) ]] || { echo "too large for one device call" >&2; exit 1; }
  exit 0
fi

if [[ -d "$WHEELS" ]]; then
  SITE="${GPU_CHECK_SITE:-/tmp/gpu_check_site}"
  if [[ ! -f "$SITE/.complete" ]]; then
    rm -rf "$SITE" && mkdir -p "$SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl
    tar -C "$SITE" -xJf "$WHEELS"/simpleitk-*.tar.xz
    cp -r "$WHEELS/site/." "$SITE/"
    touch "$SITE/.complete"
  fi
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$ROOT/src:$ROOT/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PY" "$ROOT/benchmarks/gpu_check.py" "$@"
