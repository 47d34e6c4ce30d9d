#!/usr/bin/env bash
# The main job on the bundled example scene: detect ships into a GeoPackage, then ask a question
# and print the scene-level answer as JSON. Usage: examples/demo.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-out/demo}
BIN=${BIN:-.venv/bin}
SCENE=examples/harbour.tif
mkdir -p "$OUT"

MODEL_ARGS=()
if ! "$BIN/python" -c "from geocot_cli.models.demo import default_model; default_model()" 2>/dev/null; then
  echo "note: no bundled demo model is installed yet; using a tiny UNTRAINED model of the same" >&2
  echo "      architecture, so the pipeline runs end to end but the answers are not meaningful." >&2
  "$BIN/geocot" model tiny "$OUT/tiny-model" --overwrite
  MODEL_ARGS=(--model "$OUT/tiny-model" --max-new-tokens 256)
fi

echo "== geocot detect $SCENE --classes ship --out $OUT/ships.gpkg" >&2
"$BIN/geocot" detect "$SCENE" --classes ship --out "$OUT/ships.gpkg" --overwrite "${MODEL_ARGS[@]}"

echo "== geocot ask $SCENE \"how many ships are there?\" --json" >&2
"$BIN/geocot" ask "$SCENE" "how many ships are there?" --json --out "$OUT/answer.geojson" --overwrite \
  "${MODEL_ARGS[@]}" > "$OUT/answer.json"
"$BIN/python" -c "import json,sys; d=json.load(open(sys.argv[1])); print('answer:', d['answer'], '| evidence boxes:', len(d['evidence']), '| tiles:', d['tiles_processed'])" "$OUT/answer.json"

if command -v ogrinfo >/dev/null 2>&1; then
  ogrinfo -so "$OUT/ships.gpkg" evidence 2>/dev/null | grep -E "^(Layer name|Feature Count|PROJCRS)"
fi
echo "outputs in $OUT: ships.gpkg (layers evidence, tiles), answer.geojson, answer.json" >&2
