#!/usr/bin/env bash
# Copy finished `crossmoda-train all` runs into the package as the shipped models:
#   bash scripts/ship_models.sh RUN_ADAPTED [RUN_BASELINE]
# -> src/crossmoda/algorithm/models/{adapted,no_adaptation}/ (model.json, segmenter.pt,
#    template_hrT2.npy, koos_model.json). Refuses a run without a complete model folder.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -ge 1 ] && [ "$#" -le 2 ] || { echo "usage: $0 RUN_ADAPTED [RUN_BASELINE]" >&2; exit 2; }
DEST=src/crossmoda/algorithm/models
pairs=("adapted:$1")
[ "$#" -eq 2 ] && pairs+=("no_adaptation:$2")
for pair in "${pairs[@]}"; do
  name="${pair%%:*}"; run="${pair#*:}"
  for f in model.json segmenter.pt template_hrT2.npy koos_model.json; do
    [ -f "$run/model/$f" ] || { echo "$run/model/$f missing: is the run finished?" >&2; exit 1; }
  done
  rm -rf "${DEST:?}/$name"; mkdir -p "$DEST/$name"
  cp "$run"/model/{model.json,segmenter.pt,template_hrT2.npy,koos_model.json} "$DEST/$name/"
  cp "$run/summary.json" "$DEST/$name/training_summary.json"
  echo "$name <- $run ($(du -sh "$DEST/$name" | cut -f1))"
done
