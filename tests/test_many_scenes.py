"""``geocot detect A.tif B.tif DIR 'glob'``: many scenes, one model, one output with a scene column."""

from __future__ import annotations

import json

import pyogrio
import pytest
from affine import Affine

import geocot_cli.api
from geocot_cli.api import detect_scenes, expand_scenes, scene_journal
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.cli.app import app
from geocot_cli.errors import SceneError

from oracle import draw_scene, oracle_trace

UTM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)


@pytest.fixture
def scenes(make_geotiff):
    a = make_geotiff("a.tif", data=draw_scene(300, 200, [(10, 10, 30, 30), (100, 50, 140, 70)]), transform=UTM)
    b = make_geotiff("b.tif", data=draw_scene(300, 200, [(50, 50, 80, 90)]), transform=UTM)
    c = make_geotiff("c.tif", data=draw_scene(300, 200, [(5, 5, 25, 25)]), crs="EPSG:3857",
                     transform=Affine(1, 0, 1000.0, 0, -1, 5000.0))
    return a, b, c


@pytest.fixture
def scripted(monkeypatch):
    backend = ScriptedBackend(oracle_trace)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)
    return backend


def test_folders_and_patterns_expand_to_sorted_rasters(scenes, tmp_path):
    a, b, c = scenes
    (tmp_path / "notes.txt").write_text("not a raster")
    assert expand_scenes([tmp_path]) == [a, b, c]
    assert expand_scenes([str(tmp_path / "[ab].tif")]) == [a, b]
    assert expand_scenes([a, a, b]) == [a, b]  # a scene named twice runs once
    with pytest.raises(SceneError, match="no file matches"):
        expand_scenes([str(tmp_path / "*.jp2")])


def test_same_crs_scenes_share_layers_with_a_scene_column(scenes, tmp_path):
    a, b, _ = scenes
    out = tmp_path / "all.gpkg"
    answers = detect_scenes([a, b], backend=ScriptedBackend(oracle_trace), out=out)
    assert [len(ans.evidence) for ans, _ in answers] == [2, 1]
    assert sorted(name for name, _ in pyogrio.list_layers(out)) == ["evidence", "provenance", "tiles"]
    ev = pyogrio.read_dataframe(out, layer="evidence")
    assert ev.crs.to_epsg() == 32618
    assert sorted(ev["scene"].value_counts().items()) == [(str(a), 2), (str(b), 1)]
    assert scene_journal(out, 0, a).exists() and scene_journal(out, 1, b).exists()


def test_mixed_crs_scenes_keep_their_own_crs_in_a_geopackage(scenes, tmp_path):
    out = tmp_path / "mixed.gpkg"
    detect_scenes(list(scenes), backend=ScriptedBackend(oracle_trace), out=out)
    layers = dict(pyogrio.list_layers(out))
    assert {"evidence_a", "evidence_b", "evidence_c", "tiles_c"} <= set(layers)
    assert pyogrio.read_dataframe(out, layer="evidence_c").crs.to_epsg() == 3857
    assert pyogrio.read_dataframe(out, layer="evidence_a").crs.to_epsg() == 32618


def test_mixed_crs_geojson_is_one_wgs84_layer(scenes, tmp_path):
    out = tmp_path / "mixed.geojson"
    detect_scenes(list(scenes), backend=ScriptedBackend(oracle_trace), out=out)
    doc = json.loads(out.read_text())
    assert len(doc["features"]) == 4
    assert {f["properties"]["scene"].rsplit("/", 1)[-1] for f in doc["features"]} == {"a.tif", "b.tif", "c.tif"}


def test_cli_many_scenes_summary_and_json(runner, scenes, scripted, tmp_path):
    a, b, c = scenes
    res = runner.invoke(app, ["detect", str(a), str(b), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [len(s["evidence"]) for s in doc["scenes"]] == [2, 1] and doc["total_objects"] == 3
    res = runner.invoke(app, ["detect", str(tmp_path), "--out", str(tmp_path / "all.gpkg")])
    assert res.exit_code == 0, res.output
    assert [line.split("\t")[0] for line in res.stdout.splitlines()] == [str(a), str(b), str(c)]
    assert "objects" in res.stderr and "scene column" in res.stderr


def test_a_bad_scene_stops_before_any_model_time(runner, scenes, scripted, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_text("nope")
    res = runner.invoke(app, ["detect", str(scenes[0]), str(bad)])
    assert res.exit_code == 2 and "bad.tif" in res.stderr
    assert not scripted.calls


def test_resume_many_scenes_reuses_every_journal(scenes, tmp_path):
    a, b, _ = scenes
    out = tmp_path / "all.gpkg"
    detect_scenes([a, b], backend=ScriptedBackend(oracle_trace), out=out)
    again = ScriptedBackend(oracle_trace)
    answers = detect_scenes([a, b], backend=again, out=out, resume=True)
    assert not again.calls and [len(ans.evidence) for ans, _ in answers] == [2, 1]
