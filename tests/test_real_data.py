"""The real path on real rasters: the tiny Glm4v model through the CLI, outputs read back by GDAL.

The rasters are the rasterio project's CC0 test files and two DOTA images in ../shared/data/real.
The tiny model is untrained, so these tests check the plumbing (tiling, CRS, masks, layers, exit
codes), not the answers.
"""

from __future__ import annotations

import shutil
import subprocess

import pyogrio
import pytest

from geocot_cli.cli.app import app

FAST = ["--max-new-tokens", "8", "--batch-size", "4", "--tile", "400", "--overlap", "80"]


@pytest.mark.parametrize(
    "name, epsg",
    [
        ("rasterio/RGB.byte.tif", 32618),
        ("rasterio/RGBA.uint16.tif", 32612),
        ("rasterio/rgb1_fake_nir_epsg3857.tif", 3857),
        ("rasterio/rotated.tif", None),
        ("rasterio/float_nan.tif", None),
        ("dota/images/P1888.png", None),
    ],
)
def test_detect_runs_end_to_end_with_the_tiny_model(runner, real_data, tiny_model, tmp_path, name, epsg):
    out = tmp_path / "out.gpkg"
    res = runner.invoke(app, ["detect", str(real_data / name), "--model", str(tiny_model), "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    tiles = pyogrio.read_dataframe(out, layer="tiles")
    evidence = pyogrio.read_dataframe(out, layer="evidence")
    assert len(tiles) >= 1 and "trace" in evidence.columns
    assert (tiles.crs.to_epsg() if tiles.crs else None) == epsg
    processed = tiles[tiles["skipped"] == ""]
    assert len(processed) >= 1 and all(isinstance(t, str) for t in processed["trace"])


def test_all_nodata_scene_never_calls_the_model(runner, real_data, tiny_model, tmp_path):
    out = tmp_path / "out.gpkg"
    res = runner.invoke(app, ["detect", str(real_data / "rasterio/all-nodata.tif"), "--model", str(tiny_model),
                              "--out", str(out), "--json", *FAST])
    assert res.exit_code == 0, res.output
    import json

    doc = json.loads(res.stdout)
    assert doc["tiles_processed"] == 0 and doc["tiles_skipped"] == doc["tiles_total"] > 0
    assert all(t["trace"] is None for t in doc["tiles"])


def test_rotated_scene_gives_rotated_tile_polygons(runner, real_data, tiny_model, tmp_path):
    out = tmp_path / "out.gpkg"
    res = runner.invoke(app, ["detect", str(real_data / "rasterio/rotated.tif"), "--model", str(tiny_model),
                              "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    tile = pyogrio.read_dataframe(out, layer="tiles").geometry.iloc[0]
    xs = sorted({round(x, 6) for x, _ in tile.exterior.coords})
    ys = sorted({round(y, 6) for _, y in tile.exterior.coords})
    assert len(xs) == 4 and len(ys) == 4  # a rotated rectangle: four distinct x and y values


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools not installed")
def test_gdal_reads_the_evidence_layer_in_the_scene_crs(runner, real_data, tiny_model, tmp_path):
    out = tmp_path / "landsat.gpkg"
    res = runner.invoke(app, ["detect", str(real_data / "rasterio/RGB.byte.tif"), "--model", str(tiny_model),
                              "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    info = subprocess.run(["ogrinfo", "-so", str(out), "evidence"], capture_output=True, text=True, check=True).stdout
    assert "Layer name: evidence" in info and "Polygon" in info
    assert "UTM zone 18N" in info and "Feature Count:" in info


def test_corrupt_raster_stops_with_one_line(runner, real_data, tiny_model, tmp_path):
    out = tmp_path / "out.gpkg"
    res = runner.invoke(app, ["detect", str(real_data / "rasterio/corrupt.tif"), "--model", str(tiny_model),
                              "--out", str(out), *FAST])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "corrupt.tif" in lines[0] and "Traceback" not in res.output
    assert not out.exists()
