#!/usr/bin/env bash
# The main job on the bundled example scene with the bundled demo model: detect every object into a
# GeoPackage, then ask a question; each run also draws an overlay PNG of the boxes it cites.
# Usage: examples/demo.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-out/demo}
BIN=${BIN:-.venv/bin}
SCENE=examples/harbour.tif
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1

MODEL_ARGS=()
if ! "$BIN/python" -c "from geocot_cli.models.demo import default_model; default_model()" 2>/dev/null; then
  echo "note: no bundled demo model is installed (make demo-model builds it); using a tiny UNTRAINED" >&2
  echo "      model of the same architecture, so the pipeline runs but the answers mean nothing." >&2
  "$BIN/geocot" model tiny "$OUT/tiny-model" --native-tiling --overwrite
  MODEL_ARGS=(--model "$OUT/tiny-model" --max-new-tokens 128)
fi

echo "== geocot detect $SCENE --out $OUT/objects.gpkg --overlay $OUT/objects.png" >&2
"$BIN/geocot" detect "$SCENE" --out "$OUT/objects.gpkg" --overlay "$OUT/objects.png" --batch-size 16 \
  --overwrite "${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"}"

echo "== geocot ask $SCENE \"how many ships are there?\" --json --overlay $OUT/ships.png" >&2
"$BIN/geocot" ask "$SCENE" "how many ships are there?" --json --out "$OUT/answer.geojson" \
  --overlay "$OUT/ships.png" --batch-size 16 --overwrite "${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"}" > "$OUT/answer.json"
"$BIN/python" -c "import json,sys; d=json.load(open(sys.argv[1])); print('answer:', d['answer'], '| evidence boxes:', len(d['evidence']), '| tiles:', d['tiles_processed'])" "$OUT/answer.json"
"$BIN/python" -c "import json,sys; gt=[json.loads(l) for l in open(sys.argv[1])]; c=[g for g in gt if g['task']=='classify'][0]; labs=c['labels']; print('ground truth:', ', '.join(f'{labs.count(k)} {k}' for k in sorted(set(labs))))" examples/harbour.ground_truth.jsonl

if command -v ogrinfo >/dev/null 2>&1; then
  ogrinfo -so "$OUT/objects.gpkg" evidence 2>/dev/null | grep -E "^(Layer name|Feature Count|PROJCRS)"
fi
echo "outputs in $OUT: objects.gpkg (layers evidence, tiles), objects.png, answer.geojson, answer.json, ships.png" >&2
