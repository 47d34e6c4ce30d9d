"""The CLI as a user meets it: exit codes, one-line errors, outputs on disk, JSON on stdout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from affine import Affine

import geocot_cli.api
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.cli.app import app

from oracle import draw_scene, oracle_trace

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
OBJECTS = [(100, 20, 130, 40), (420, 450, 470, 480)]


@pytest.fixture
def scene_path(make_geotiff):
    return make_geotiff("harbour.tif", data=draw_scene(1200, 900, OBJECTS), transform=TRANSFORM)


@pytest.fixture
def scripted(monkeypatch):
    backend = ScriptedBackend(oracle_trace)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)
    return backend


def test_help_is_fast_and_imports_no_torch():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "geocot_cli", "--help"], capture_output=True, text=True, check=True
    )
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "detect" in out.stdout
    assert not {m for m in imported if m.split(".")[0] in ("torch", "transformers", "rasterio", "geopandas")}


def test_detect_writes_gpkg_with_scene_crs_and_traces(runner, scene_path, scripted, tmp_path):
    import pyogrio

    out = tmp_path / "ships.gpkg"
    res = runner.invoke(app, ["detect", str(scene_path), "--out", str(out), "--classes", "ship"])
    assert res.exit_code == 0, res.output
    assert out.exists()
    layers = [name for name, _ in pyogrio.list_layers(out)]
    assert "evidence" in layers and "tiles" in layers
    gdf = pyogrio.read_dataframe(out, layer="evidence")
    assert gdf.crs.to_epsg() == 32618 and len(gdf) == 2
    assert all("<think>" in t for t in gdf["trace"]) and all(gdf["label"] == "ship")


def test_ask_json_is_one_document_on_stdout(runner, scene_path, scripted):
    res = runner.invoke(app, ["ask", str(scene_path), "how many ships?", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["task"] == "count" and doc["answer"] == "2"
    assert len(doc["evidence"]) == 2 and doc["crs"] == "EPSG:32618"
    assert all(e["geometry"]["type"] == "Polygon" and e["claim"] for e in doc["evidence"])


def test_geojson_is_wgs84(runner, scene_path, scripted, tmp_path):
    out = tmp_path / "ships.geojson"
    res = runner.invoke(app, ["detect", str(scene_path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert -76 < lon < -74 and 36 < lat < 37  # UTM 18N easting 500 km, northing 4000 km


@pytest.mark.parametrize(
    "args, needle",
    [
        (["detect", "{missing}"], "does not exist"),
        (["detect", "{notraster}"], "not a raster"),
        (["detect", "{scene}", "--out", "{tmp}/x.shp"], "unknown output extension"),
        (["detect", "{scene}", "--out", "{existing}"], "--overwrite"),
        (["detect", "{scene}", "--out", "{tmp}/nope/x.gpkg"], "does not exist"),
        (["detect", "{scene}", "--tile", "0"], "tile"),
        (["detect", "{scene}", "--overlap", "900"], "overlap"),
        (["detect", "{scene}", "--bands", "1,2,9"], "band"),
        (["ask", "{scene}", "what?", "--task", "nonsense"], "unknown task"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner, scene_path, scripted, tmp_path, args, needle):
    notraster = tmp_path / "notes.tif"
    notraster.write_text("not an image")
    existing = tmp_path / "old.gpkg"
    existing.write_bytes(b"keep me")
    subs = dict(missing=str(tmp_path / "missing.tif"), notraster=str(notraster), scene=str(scene_path),
                tmp=str(tmp_path), existing=str(existing))
    res = runner.invoke(app, [a.format(**subs) for a in args])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0].lower(), res.stderr
    assert "Traceback" not in res.output
    assert existing.read_bytes() == b"keep me"
    assert not scripted.calls
