#!/usr/bin/env bash
# Copy finished `crossmoda-train all` runs into the package as the shipped models:
#   bash scripts/ship_models.sh RUN_ADAPTED [RUN_BASELINE]      (crossMoDA 2022 runs)
#   bash scripts/ship_models.sh --adapted-2023 RUN               (a crossMoDA 2023 run)
# -> src/crossmoda/algorithm/models/{adapted,no_adaptation,adapted_2023}/ (model.json,
#    segmenter.pt, template_hrT2.npy, training_summary.json; koos_model.json for 2022 models, the
#    2023 task has no Koos grade). Refuses a run without a complete model folder or whose label map
#    does not match the name.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: $0 RUN_ADAPTED [RUN_BASELINE] | $0 --adapted-2023 RUN" >&2; exit 2; }
DEST=src/crossmoda/algorithm/models
pairs=()
if [ "${1:-}" = "--adapted-2023" ]; then
  [ "$#" -eq 2 ] || usage
  pairs=("adapted_2023:$2")
else
  [ "$#" -ge 1 ] && [ "$#" -le 2 ] || usage
  pairs=("adapted:$1")
  [ "$#" -eq 2 ] && pairs+=("no_adaptation:$2")
fi
for pair in "${pairs[@]}"; do
  name="${pair%%:*}"; run="${pair#*:}"
  files=(model.json segmenter.pt template_hrT2.npy)
  want=crossmoda2022
  if [ "$name" = adapted_2023 ]; then want=crossmoda2023; else files+=(koos_model.json); fi
  for f in "${files[@]}" ../summary.json; do
    [ -f "$run/model/$f" ] || { echo "$run/model/$f missing: is the run finished?" >&2; exit 1; }
  done
  got=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["label_map"]["name"])' \
    "$run/model/model.json")
  [ "$got" = "$want" ] || { echo "$run/model/model.json: label map $got, not $want" >&2; exit 1; }
  rm -rf "${DEST:?}/$name"; mkdir -p "$DEST/$name"
  for f in "${files[@]}"; do cp "$run/model/$f" "$DEST/$name/"; done
  cp "$run/summary.json" "$DEST/$name/training_summary.json"
  echo "$name <- $run ($(du -sh "$DEST/$name" | cut -f1))"
done
