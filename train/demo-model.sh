#!/usr/bin/env bash
# Rebuild the bundled demo model from scratch with geocot's own pipeline (`make demo-model`):
#
#   model tiny -> data synth -> data backfill -> train sft (a curriculum: one object, then up to 3,
#   then 0-8) -> train grpo -> eval,
#
# plus the ablation's other arms (the untrained base, SFT without CoT on the same curriculum) on the
# same held-out set, then install the GRPO model into geocot_cli/assets/demo-model (ASSET; INSTALL=0
# to skip) and write the ablation table to $OUT/ablation/ablation.md. Runs on 2 CPU cores (times in
# README.md; about 7.5 hours); every stage skips itself when its output is already there, so a
# stopped run continues where it was (a stage cut in the middle goes on from its newest checkpoint:
# SFT saves every 500 steps, GRPO every 40).
#
# Usage: train/demo-model.sh [OUT]   (default out/demo-model). Environment: GEOCOT (the geocot
# command), THREADS (torch threads per training process, default 1), BOX_WEIGHT (--box-loss-weight
# of the multi-object stages, default 5), GRPO_STEPS (150), STEP_SCALE (multiplies every SFT
# stage's steps, default 1; e.g. 0.01 for a smoke run), NOCOT (1: train the no-CoT ablation arm too),
# REPETITION_PENALTY (what the installed model decodes with, written into its geocot.json; 1.0: GRPO
# samples without a penalty, and the answer repeats the trace's boxes and conclusion).
set -euo pipefail
OUT=${1:-out/demo-model}
GEOCOT=${GEOCOT:-.venv/bin/geocot}
PY=${PY:-$(dirname "$GEOCOT")/python}
THREADS=${THREADS:-1}
BOX_WEIGHT=${BOX_WEIGHT:-5}
GRPO_STEPS=${GRPO_STEPS:-150}
STEP_SCALE=${STEP_SCALE:-1}
NOCOT=${NOCOT:-1}
INSTALL=${INSTALL:-1}
REPETITION_PENALTY=${REPETITION_PENALTY:-1.0}
ASSET=${ASSET:-geocot_cli/assets/demo-model}
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$THREADS
mkdir -p "$OUT"
stage() { printf '\n== %s  (%s)\n' "$1" "$(date +%H:%M:%S)" >&2; }

# 1. the architecture (train/demo-arch.sh): GLM-4.1V at 1.2M parameters, 64 px images in 64 patches,
#    a token per coordinate value, 64 px tiles recorded for inference; --spatial-positions gives the
#    language model's rotary frequencies to image rows and columns (README: what made it localise).
source "$(dirname "$0")/demo-arch.sh"
if [ ! -f "$OUT/base/config.json" ]; then
  stage "model tiny"
  "$GEOCOT" model tiny "$OUT/base" "${DEMO_ARCH[@]}" --spatial-positions --overwrite
fi

# 2. data, three curricula stages and a held-out set never trained on (seed 999):
#    one/  12,000 scenes of at most one object (seed 7), detect + ground traces (22.5k samples)
#    few/   4,000 scenes of at most 3 objects (seed 11), all six tasks (23.5k)
#    data/  4,000 scenes of 0-8 objects (seed 1), all six tasks (23.5k; also the GRPO prompts)
synth() {  # DIR N SEED TASKS [synth flags...]
  local dir=$1 n=$2 seed=$3 tasks=$4; shift 4
  if [ ! -f "$OUT/$dir/sft.jsonl" ]; then
    stage "data synth + backfill: $dir"
    "$GEOCOT" data synth "$OUT/$dir" --n "$n" --size 64 --seed "$seed" "$@" --overwrite
    "$GEOCOT" data backfill --format geocot --labels "$OUT/$dir/ground_truth.jsonl" --out "$OUT/$dir/sft.jsonl" \
      ${tasks:+--tasks "$tasks"} --overwrite
  fi
}
synth one 12000 7 detect,ground --max-objects 1
synth few 4000 11 "" --max-objects 3
synth data 4000 1 ""
if [ ! -f "$OUT/heldout/ground_truth.jsonl" ]; then
  "$GEOCOT" data synth "$OUT/heldout" --n 100 --size 64 --seed 999 --overwrite
fi

# 3. SFT, a curriculum of stages (each a fresh cosine schedule from the stage before), as measured:
#    name data steps learning-rate box-loss-weight
STAGES=(
  "one-1 one 3000 1e-3 1"
  "one-2 one 2500 5e-4 1"
  "one-3 one 1500 5e-4 1"
  "one-4 one 3000 5e-4 1"
  "few   few 1500 5e-4 $BOX_WEIGHT"
  "many-1 data 1200 5e-4 $BOX_WEIGHT"
  "many-2 data 2000 5e-4 $BOX_WEIGHT"
  "many-3 data 1000 3e-4 $BOX_WEIGHT"
  "many-4 data 2000 3e-4 $BOX_WEIGHT"
  "many-5 data 2000 3e-4 $BOX_WEIGHT"
)
again() {  # DIR -> how a stage that was stopped goes on: from its newest checkpoint, else from the start
  if compgen -G "$1/checkpoints/checkpoint-*" > /dev/null; then echo "--resume latest"; else echo "--overwrite"; fi
}
curriculum() {  # ARM (sft: Geo-CoT traces, sft-nocot: answer only)
  local arm=$1 suffix=""; [ "$arm" = sft-nocot ] && suffix=.nocot
  local prev="$OUT/base" name data steps lr bw
  for s in "${STAGES[@]}"; do
    read -r name data steps lr bw <<< "$s"
    steps=$("$PY" -c "print(max(1, round($steps * $STEP_SCALE)))")
    if [ ! -f "$OUT/$arm-$name/config.json" ]; then
      stage "train $arm, stage $name: $steps steps on $data$suffix, lr $lr, box weight $bw"
      "$GEOCOT" train sft --config train/demo.yaml --model "$prev" --data "$OUT/$data/sft$suffix.jsonl" \
        --out "$OUT/$arm-$name" --max-steps "$steps" --learning-rate "$lr" --box-loss-weight "$bw" \
        $(again "$OUT/$arm-$name")
    fi
    prev="$OUT/$arm-$name"
  done
  [ -f "$OUT/$arm/config.json" ] || { rm -rf "$OUT/$arm" && cp -r "$prev" "$OUT/$arm" && rm -rf "$OUT/$arm/checkpoints"; }
}
pids=()
if [ "$NOCOT" = 1 ]; then curriculum sft-nocot > "$OUT/sft-nocot.log" 2>&1 & pids+=($!); fi
curriculum sft
for pid in "${pids[@]}"; do wait "$pid" || { echo "the no-CoT arm failed: $OUT/sft-nocot.log" >&2; exit 1; }; done

# 4. GRPO on top of the CoT model, task rewards + format + faithfulness, KL to the SFT model.
if [ ! -f "$OUT/grpo/config.json" ]; then
  stage "train grpo, $GRPO_STEPS steps"
  "$GEOCOT" train grpo --config train/demo.yaml --max-steps "$GRPO_STEPS" --model "$OUT/sft" \
    --data "$OUT/data/sft.rl.jsonl" --out "$OUT/grpo" $(again "$OUT/grpo")
fi

# 5. the ablation on the held-out set
stage "ablation"
ARMS=("base (untrained)=$OUT/base")
[ "$NOCOT" = 1 ] && ARMS+=("SFT, no CoT=$OUT/sft-nocot")
ARMS+=("SFT, CoT=$OUT/sft" "SFT, CoT + GRPO=$OUT/grpo")
PATH="$(dirname "$GEOCOT"):$PATH" "$PY" train/ablation.py --data "$OUT/heldout/ground_truth.jsonl" --out "$OUT/ablation" \
  --repetition-penalty "$REPETITION_PENALTY" "${ARMS[@]}"

# 6. install
if [ "$INSTALL" = 1 ]; then
  stage "install into $ASSET"
  rm -rf "$ASSET.tmp" && mkdir -p "$ASSET.tmp"
  for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json \
           chat_template.jinja processor_config.json geocot.json; do
    [ -f "$OUT/grpo/$f" ] && cp "$OUT/grpo/$f" "$ASSET.tmp/"
  done
  "$PY" - "$ASSET.tmp" "$REPETITION_PENALTY" <<'PY'
import json, sys
folder, penalty = sys.argv[1], float(sys.argv[2])
for name in ("geocot.json", "generation_config.json"):  # geocot reads the first, plain transformers the second
    path = f"{folder}/{name}"
    info = json.load(open(path))
    info["repetition_penalty"] = penalty
    open(path, "w").write(json.dumps(info, indent=2) + "\n")
PY
  chmod 644 "$ASSET.tmp"/*
  rm -rf "$ASSET" && mv "$ASSET.tmp" "$ASSET"
  du -sh "$ASSET" >&2
fi
stage "done"
