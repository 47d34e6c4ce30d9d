#!/usr/bin/env bash
# Rebuild the bundled example scene (examples/harbour.tif) and its ground truth from geocot's own
# synthetic-scene generator: scene 14 of seed 11 at 512 px (0.5 m pixels, UTM 33N) is a harbour
# with 17 ships on the water and 3 airplanes, a vehicle and a storage tank on land.
set -euo pipefail
GEOCOT=${GEOCOT:-.venv/bin/geocot}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$GEOCOT" data synth "$tmp" --n 15 --seed 11 --size 512 >/dev/null
cp "$tmp/scene_00014.tif" examples/harbour.tif
grep scene_00014 "$tmp/ground_truth.jsonl" | sed 's/"image": "scene_00014.tif"/"image": "harbour.tif"/' > examples/harbour.ground_truth.jsonl
echo "examples/harbour.tif rebuilt"
