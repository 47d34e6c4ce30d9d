#!/usr/bin/env bash
# Rebuild the bundled example scene (examples/harbour.tif) and its ground truth from geocot's own
# synthetic-scene generator: scene 6 of seed 11 at 1024 px is a harbour with 15 ships.
set -euo pipefail
GEOCOT=${GEOCOT:-.venv/bin/geocot}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$GEOCOT" data synth "$tmp" --n 7 --seed 11 --size 1024 >/dev/null
cp "$tmp/scene_00006.tif" examples/harbour.tif
grep scene_00006 "$tmp/ground_truth.jsonl" | sed 's/"image": "scene_00006.tif"/"image": "harbour.tif"/' > examples/harbour.ground_truth.jsonl
echo "examples/harbour.tif rebuilt"
