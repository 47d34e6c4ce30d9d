#!/usr/bin/env bash
# geocot in a GIS shell workflow: JSON on stdout for jq, GeoPackages for GDAL/OGR and QGIS.
# Usage: examples/gis_workflow.sh SCENES_DIR OUT_DIR [MODEL]
set -euo pipefail
SCENES=${1:?folder of GeoTIFFs}
OUT=${2:?output folder}
MODEL=${3:+--model $3}
mkdir -p "$OUT"

# 1. One count per scene, as CSV (stdout carries only data; progress goes to stderr).
for f in "$SCENES"/*.tif; do
  geocot count "$f" ship $MODEL --json | jq -r '[.scene, .answer, (.flagged_tiles | length)] | @csv'
done > "$OUT/ship_counts.csv"

# 2. Every ship of every scene in one GeoPackage (a `scene` column tells them apart); a stopped
#    run continues with --resume. (Scenes in different CRSs get layers named evidence_<scene>.)
geocot detect "$SCENES" --classes ship $MODEL --out "$OUT/ships.gpkg" --overwrite

# 3. Audit: the tiles whose answer disagrees with their own grounded evidence.
ogr2ogr -f GPKG "$OUT/flagged_tiles.gpkg" "$OUT/ships.gpkg" -sql "SELECT * FROM tiles WHERE consistent = 'false'"

# 4. For older tools: the evidence as a shapefile in WGS84 (long text columns are truncated there;
#    the GeoPackage keeps the full claims and traces).
ogr2ogr -f "ESRI Shapefile" -t_srs EPSG:4326 "$OUT/ships_shp" "$OUT/ships.gpkg" evidence
