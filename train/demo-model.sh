#!/usr/bin/env bash
# Rebuild the bundled demo model from scratch with geocot's own pipeline (`make demo-model`):
#
#   model tiny -> data synth -> data backfill -> train sft (localisation warm-up: one-object scenes,
#   answer only) -> train sft (CoT) -> train grpo -> eval, plus the ablation's other arms (the
#   untrained base, the warm-up alone, SFT without CoT) on the same held-out set,
#
# then install the GRPO model into geocot_cli/assets/demo-model (INSTALL=0 to skip) and write the
# ablation table to $OUT/ablation/ablation.md. Runs on 2 CPU cores (times in README.md); every
# stage skips itself when its output is already there, so a stopped run continues where it was.
#
# Usage: train/demo-model.sh [OUT]   (default out/demo-model). Environment: GEOCOT (the geocot
# command), THREADS (torch threads per training process, default 1), WARMUP_STEPS, SFT_STEPS,
# GRPO_STEPS, SCENES and ONE_SCENES (scenes in the main and the warm-up training sets).
set -euo pipefail
OUT=${1:-out/demo-model}
GEOCOT=${GEOCOT:-.venv/bin/geocot}
PY=${PY:-$(dirname "$GEOCOT")/python}
THREADS=${THREADS:-1}
WARMUP_STEPS=${WARMUP_STEPS:-3000}
SFT_STEPS=${SFT_STEPS:-3500}
SCENES=${SCENES:-12000}
ONE_SCENES=${ONE_SCENES:-12000}
GRPO_STEPS=${GRPO_STEPS:-150}
INSTALL=${INSTALL:-1}
ASSET=geocot_cli/assets/demo-model
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$THREADS
mkdir -p "$OUT"
stage() { printf '\n== %s  (%s)\n' "$1" "$(date +%H:%M:%S)" >&2; }

# 1. the architecture: GLM-4.1V (Glm4vForConditionalGeneration) at 1.2M parameters. 64 px images,
#    8 px patches with no 2x2 merge (64 image tokens, one per 8x8 patch), a token per coordinate
#    value 0..64 (sinusoidal start), patch positions readable from the start (--spatial-positions),
#    and 64 px tiles (32 px overlap) recorded for inference.
if [ ! -f "$OUT/base/config.json" ]; then
  stage "model tiny"
  "$GEOCOT" model tiny "$OUT/base" --seed 0 --image-size 64 --patch-size 8 --merge-size 1 \
    --hidden-size 128 --layers 4 --heads 4 --kv-heads 2 --intermediate-size 384 \
    --vision-hidden-size 64 --vision-layers 2 --vision-heads 4 --vision-intermediate-size 128 \
    --coordinate-tokens 64 --spatial-positions --native-tiling --overwrite
fi

# 2. data: 12,000 synthetic 64 px scenes (seed 1) -> 70k samples of the six tasks, template Geo-CoT
#    traces written under ground-truth constraints; for the warm-up, 12,000 scenes of at most one
#    object (seed 7) -> 22.5k detect/ground samples, answer only. The held-out set is seed 999.
if [ ! -f "$OUT/data/sft.jsonl" ]; then
  stage "data synth + backfill"
  "$GEOCOT" data synth "$OUT/data" --n "$SCENES" --size 64 --seed 1 --overwrite
  "$GEOCOT" data backfill --format geocot --labels "$OUT/data/ground_truth.jsonl" --out "$OUT/data/sft.jsonl" --overwrite
fi
if [ ! -f "$OUT/one/one.nocot.jsonl" ]; then
  "$GEOCOT" data synth "$OUT/one" --n "$ONE_SCENES" --size 64 --seed 7 --max-objects 1 --overwrite
  "$GEOCOT" data backfill --format geocot --labels "$OUT/one/ground_truth.jsonl" --out "$OUT/one/one.jsonl" \
    --tasks detect,ground --overwrite
fi
if [ ! -f "$OUT/heldout/ground_truth.jsonl" ]; then
  "$GEOCOT" data synth "$OUT/heldout" --n 100 --size 64 --seed 999 --overwrite
fi

# 3. the localisation warm-up: answer-only boxes of single objects, where nothing but the image
#    says where the object is (a model trained on the full mix first learns to count and name, and
#    barely looks where things are).
if [ ! -f "$OUT/warmup/config.json" ]; then
  stage "train sft (localisation warm-up), $WARMUP_STEPS steps"
  "$GEOCOT" train sft --config train/demo.yaml --max-steps "$WARMUP_STEPS" --model "$OUT/base" \
    --data "$OUT/one/one.nocot.jsonl" --out "$OUT/warmup" --overwrite
fi

# 4. SFT with CoT, and the no-CoT arm of the ablation (same samples, answer only), same schedule,
#    both from the warm-up. Two processes side by side when THREADS=1 (2 cores).
SFT=(--config train/demo.yaml --max-steps "$SFT_STEPS" --model "$OUT/warmup")
if [ ! -f "$OUT/sft-nocot/config.json" ]; then
  stage "train sft (no CoT), $SFT_STEPS steps, in the background"
  "$GEOCOT" train sft "${SFT[@]}" --data "$OUT/data/sft.nocot.jsonl" --out "$OUT/sft-nocot" --overwrite \
    > "$OUT/sft-nocot.log" 2>&1 &
  NOCOT=$!
  trap 'kill "$NOCOT" 2>/dev/null || true' EXIT
fi
if [ ! -f "$OUT/sft/config.json" ]; then
  stage "train sft (CoT), $SFT_STEPS steps"
  "$GEOCOT" train sft "${SFT[@]}" --data "$OUT/data/sft.jsonl" --out "$OUT/sft" --overwrite
fi

# 5. GRPO on top of the CoT model, task rewards + format + faithfulness, KL to the SFT model.
if [ ! -f "$OUT/grpo/config.json" ]; then
  stage "train grpo, $GRPO_STEPS steps"
  "$GEOCOT" train grpo --config train/demo.yaml --max-steps "$GRPO_STEPS" --model "$OUT/sft" \
    --data "$OUT/data/sft.rl.jsonl" --out "$OUT/grpo" --overwrite
fi

# 6. the ablation on the held-out set
if [ -n "${NOCOT:-}" ]; then
  wait "$NOCOT" || { echo "train sft (no CoT) failed; see $OUT/sft-nocot.log" >&2; exit 1; }
fi
stage "ablation"
PATH="$(dirname "$GEOCOT"):$PATH" "$PY" train/ablation.py --data "$OUT/heldout/ground_truth.jsonl" --out "$OUT/ablation" \
  "base (untrained)=$OUT/base" "warm-up only=$OUT/warmup" "SFT, no CoT=$OUT/sft-nocot" "SFT, CoT=$OUT/sft" "SFT, CoT + GRPO=$OUT/grpo"

# 7. install
if [ "$INSTALL" = 1 ]; then
  stage "install into $ASSET"
  rm -rf "$ASSET.tmp" && mkdir -p "$ASSET.tmp"
  for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json \
           chat_template.jinja processor_config.json geocot.json; do
    [ -f "$OUT/grpo/$f" ] && cp "$OUT/grpo/$f" "$ASSET.tmp/"
  done
  chmod 644 "$ASSET.tmp"/*
  rm -rf "$ASSET" && mv "$ASSET.tmp" "$ASSET"
  du -sh "$ASSET" >&2
fi
stage "done"
