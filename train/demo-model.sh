#!/usr/bin/env bash
# Rebuild the bundled demo model from scratch with geocot's own pipeline (`make demo-model`):
#
#   model tiny -> data synth -> data backfill -> train sft (CoT) -> train grpo -> eval,
#   plus the ablation's other arms (the untrained base, SFT without CoT) on the same held-out set,
#
# then install the GRPO model into geocot_cli/assets/demo-model (INSTALL=0 to skip) and write the
# ablation table to $OUT/ablation/ablation.md. Runs on 2 CPU cores (times in README.md); every
# stage skips itself when its output is already there, so a stopped run continues where it was.
#
# Usage: train/demo-model.sh [OUT]   (default out/demo-model). Environment: GEOCOT (the geocot
# command), THREADS (torch threads per training process, default 1), SFT_STEPS, GRPO_STEPS.
set -euo pipefail
OUT=${1:-out/demo-model}
GEOCOT=${GEOCOT:-.venv/bin/geocot}
PY=${PY:-$(dirname "$GEOCOT")/python}
THREADS=${THREADS:-1}
SFT_STEPS=${SFT_STEPS:-3500}
GRPO_STEPS=${GRPO_STEPS:-150}
INSTALL=${INSTALL:-1}
ASSET=geocot_cli/assets/demo-model
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$THREADS
mkdir -p "$OUT"
stage() { printf '\n== %s  (%s)\n' "$1" "$(date +%H:%M:%S)" >&2; }

# 1. the architecture (train/demo-arch.sh): GLM-4.1V at 1.2M parameters, 64 px images in 64 patches,
#    a token per coordinate value, 64 px tiles recorded for inference.
source "$(dirname "$0")/demo-arch.sh"
if [ ! -f "$OUT/base/config.json" ]; then
  stage "model tiny"
  "$GEOCOT" model tiny "$OUT/base" "${DEMO_ARCH[@]}" --overwrite
fi

# 2. data: 4,000 synthetic 64 px scenes (seed 1) -> 23.5k samples of the six tasks, template Geo-CoT
#    traces written under ground-truth constraints; the held-out set is seed 999, never trained on.
if [ ! -f "$OUT/data/sft.jsonl" ]; then
  stage "data synth + backfill"
  "$GEOCOT" data synth "$OUT/data" --n 4000 --size 64 --seed 1 --overwrite
  "$GEOCOT" data backfill --format geocot --labels "$OUT/data/ground_truth.jsonl" --out "$OUT/data/sft.jsonl" --overwrite
fi
if [ ! -f "$OUT/heldout/ground_truth.jsonl" ]; then
  "$GEOCOT" data synth "$OUT/heldout" --n 100 --size 64 --seed 999 --overwrite
fi

# 3. SFT with CoT, and the no-CoT arm of the ablation (same samples, answer only), same schedule.
SFT=(--config train/demo.yaml --max-steps "$SFT_STEPS")
if [ ! -f "$OUT/sft/config.json" ]; then
  stage "train sft (CoT), $SFT_STEPS steps"
  "$GEOCOT" train sft "${SFT[@]}" --model "$OUT/base" --data "$OUT/data/sft.jsonl" --out "$OUT/sft" --overwrite
fi
if [ ! -f "$OUT/sft-nocot/config.json" ]; then
  stage "train sft (no CoT), $SFT_STEPS steps"
  "$GEOCOT" train sft "${SFT[@]}" --model "$OUT/base" --data "$OUT/data/sft.nocot.jsonl" --out "$OUT/sft-nocot" --overwrite
fi

# 4. GRPO on top of the CoT model, task rewards + format + faithfulness, KL to the SFT model.
if [ ! -f "$OUT/grpo/config.json" ]; then
  stage "train grpo, $GRPO_STEPS steps"
  "$GEOCOT" train grpo --config train/demo.yaml --max-steps "$GRPO_STEPS" --model "$OUT/sft" \
    --data "$OUT/data/sft.rl.jsonl" --out "$OUT/grpo" --overwrite
fi

# 5. the ablation on the held-out set
stage "ablation"
PATH="$(dirname "$GEOCOT"):$PATH" "$PY" train/ablation.py --data "$OUT/heldout/ground_truth.jsonl" --out "$OUT/ablation" \
  "base (untrained)=$OUT/base" "SFT, no CoT=$OUT/sft-nocot" "SFT, CoT=$OUT/sft" "SFT, CoT + GRPO=$OUT/grpo"

# 6. install
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
