#!/usr/bin/env bash
# Can the demo architecture localise? The measurement behind `geocot model tiny --spatial-positions`
# (README, "The bundled demo model"): two models of the demo model's size, one with GLM-4.1V's
# rotary split as is and one with --spatial-positions, trained answer-only on scenes of at most one
# object, then scored by `geocot eval` on one-object scenes of a seed never trained on.
#
# Usage: train/localisation-probe.sh [OUT]   (default out/localisation-probe). Environment: GEOCOT,
# THREADS (torch threads per process, default 1; the arms train side by side), STEPS (3000),
# SCENES (12000), TRACES (answer: answer-only targets; cot: the Geo-CoT traces), ARMS (any of
# glm4v-rotary, spatial-positions, spatial-half = --spatial-positions --rotary-fraction 0.5,
# spatial-boxweight = --spatial-positions trained with --box-loss-weight $BOX_WEIGHT (default 5);
# default the first two). About 25 minutes on 2 CPU cores answer-only, 50 with CoT traces.
set -euo pipefail
OUT=${1:-out/localisation-probe}
GEOCOT=${GEOCOT:-.venv/bin/geocot}
THREADS=${THREADS:-1}
STEPS=${STEPS:-3000}
SCENES=${SCENES:-12000}
TRACES=${TRACES:-answer}
ARMS=${ARMS:-glm4v-rotary spatial-positions}
BOX_WEIGHT=${BOX_WEIGHT:-5}
case "$TRACES" in answer) TRAIN=one.nocot.jsonl ;; cot) TRAIN=one.jsonl ;;
  *) echo "TRACES must be answer or cot, not $TRACES" >&2; exit 2 ;; esac
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$THREADS
mkdir -p "$OUT"

if [ ! -f "$OUT/train/one.nocot.jsonl" ]; then
  "$GEOCOT" data synth "$OUT/train" --n "$SCENES" --size 64 --seed 7 --max-objects 1 --overwrite
  "$GEOCOT" data backfill --format geocot --labels "$OUT/train/ground_truth.jsonl" --out "$OUT/train/one.jsonl" \
    --tasks detect,ground --overwrite
fi
if [ ! -f "$OUT/heldout/one.jsonl" ]; then
  "$GEOCOT" data synth "$OUT/heldout" --n 150 --size 64 --seed 998 --max-objects 1 --overwrite
  "$GEOCOT" data backfill --format geocot --labels "$OUT/heldout/ground_truth.jsonl" --out "$OUT/heldout/one.jsonl" \
    --tasks detect,ground --overwrite
fi

source "$(dirname "$0")/demo-arch.sh"
pids=()
for arm in $ARMS; do
  case "$arm" in
    glm4v-rotary) flag=(); train=() ;;
    spatial-positions) flag=(--spatial-positions); train=() ;;
    spatial-half) flag=(--spatial-positions --rotary-fraction 0.5); train=() ;;
    spatial-boxweight) flag=(--spatial-positions); train=(--box-loss-weight "$BOX_WEIGHT") ;;
    *) echo "unknown arm $arm (glm4v-rotary, spatial-positions, spatial-half, spatial-boxweight)" >&2; exit 2 ;;
  esac
  if [ ! -f "$OUT/$arm/config.json" ]; then
    "$GEOCOT" model tiny "$OUT/$arm-base" "${DEMO_ARCH[@]}" "${flag[@]}" --overwrite > /dev/null
    "$GEOCOT" train sft --config train/demo.yaml --max-steps "$STEPS" --model "$OUT/$arm-base" \
      --data "$OUT/train/$TRAIN" --out "$OUT/$arm" "${train[@]}" --overwrite > "$OUT/$arm.log" 2>&1 &
    pids+=($!)
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
for arm in $ARMS; do
  printf '\n== %s, %s steps\n' "$arm" "$STEPS"
  "$GEOCOT" eval --model "$OUT/$arm" --data "$OUT/heldout/one.nocot.jsonl" --out "$OUT/$arm.preds.jsonl" --overwrite \
    --batch-size 32 --no-meteor
done
