"""Outputs an analyst can trust: provenance, valid geometry, labelled features, checks before model
time, "not run" tiles, progress lines in a log, and a GeoPackage that GDAL's ogrinfo reads back.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from affine import Affine

import geocot_cli.api
import geocot_cli.cli._common
import geocot_cli.scene
from geocot_cli.api import answer_scene, detect_scene, export_journal
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.cli.app import app
from geocot_cli.config import TilingOptions
from geocot_cli.errors import OutputError
from geocot_cli.io.provenance import model_hash
from geocot_cli.prompts import build_prompt

from oracle import draw_scene, oracle_trace

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
SMALL = ["--tile", "400", "--overlap", "80"]  # 1200 x 900 -> 12 tiles

#: A trace citing two boxes without area, one unlabelled box and one ship.
FLAT = ("<think>Planning: look.\nGrounding:\n1. ship [10,10,10,30]: a line.\n2. ship [5,5,20,5]: another line.\n"
        "3. [30,30,40,40]: something.\n4. ship [50,50,70,60]: a ship.\nSynthesis: done.</think>"
        "<answer>[[30,30,40,40],[50,50,70,60]]</answer>")


@pytest.fixture
def scene_path(make_geotiff):
    return make_geotiff("harbour.tif", data=draw_scene(1200, 900, [(100, 20, 130, 40), (700, 600, 740, 640)]),
                        transform=TRANSFORM)


@pytest.fixture
def use(monkeypatch):
    """``use(backend)``: the CLI's scene commands get ``backend`` instead of loading a model."""
    loads = []

    def install(backend):
        def open_backend(options):
            loads.append(options)
            return backend
        monkeypatch.setattr(geocot_cli.api, "open_backend", open_backend)
        return loads

    return install


def all_layers(path: Path) -> dict:
    return {name: pyogrio.read_dataframe(path, layer=name) for name, _ in pyogrio.list_layers(path)}


# ------------------------------------------------------------------------------- valid geometry
def test_boxes_without_area_are_dropped_said_and_every_feature_is_valid_and_labelled(make_geotiff, tmp_path):
    path = make_geotiff("s.tif", width=100, height=80)
    gpkg, geojson = tmp_path / "out.gpkg", tmp_path / "out.geojson"
    tiling = TilingOptions(tile=100, overlap=0)
    answer, scene = detect_scene(path, backend=ScriptedBackend(FLAT), tiling=tiling, out=gpkg)
    detect_scene(path, backend=ScriptedBackend(FLAT), tiling=tiling, out=geojson)
    # the two boxes without width or height are gone; the unlabelled box is an "object"
    assert sorted(f.label for f in answer.evidence) == ["object", "ship"]
    assert all(f.geometry.is_valid and f.geometry.area > 0 for f in answer.evidence)
    problems = answer.tiles[0].audit.problems
    assert "2 boxes with zero width or height dropped from the evidence (no area to map)" in problems
    for out in (gpkg, geojson):
        evidence = pyogrio.read_dataframe(out, layer="evidence")
        assert len(evidence) == 2 and shapely.is_valid(evidence.geometry.values).all()
        assert (shapely.area(evidence.geometry.values) > 0).all()
        assert set(evidence["label"]) == {"object", "ship"}
    for name, frame in all_layers(gpkg).items():
        if name != "provenance":
            assert shapely.is_valid(frame.geometry.values).all(), name
    tiles = pyogrio.read_dataframe(gpkg, layer="tiles")
    assert "2 boxes with zero width or height dropped" in tiles["problems"][0]


def test_an_unlabelled_box_takes_the_one_asked_class(make_geotiff):
    path = make_geotiff("s.tif", width=100, height=80)
    answer, _ = detect_scene(path, ["ship"], backend=ScriptedBackend(FLAT), tiling=TilingOptions(100, 0))
    assert [f.label for f in answer.evidence] == ["ship", "ship"]
    # with two classes asked, an unlabelled box belongs to neither, and is not counted
    answer, _ = detect_scene(path, ["ship", "plane"], backend=ScriptedBackend(FLAT), tiling=TilingOptions(100, 0))
    assert [f.label for f in answer.evidence] == ["ship"]


def test_ground_never_chooses_a_box_without_area(make_geotiff):
    path = make_geotiff("s.tif", width=100, height=80)
    flat = "<think>Planning: find it.\nGrounding: a ship [10,10,10,30].\nSynthesis: it.</think><answer>[10,10,10,30]</answer>"
    answer, _ = answer_scene(path, "ground", question="the ship", backend=ScriptedBackend(flat),
                             tiling=TilingOptions(100, 0))
    assert answer.value["found"] is False and answer.evidence == ()


# --------------------------------------------------------------------------------- provenance
def test_provenance_in_json_geojson_and_geopackage(runner, scene_path, use, tmp_path):
    use(ScriptedBackend(oracle_trace))
    gpkg, geojson = tmp_path / "ships.gpkg", tmp_path / "ships.geojson"
    res = runner.invoke(app, ["detect", str(scene_path), "--classes", "ship", *SMALL, "--out", str(gpkg), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)["geocot"]
    prompt = build_prompt("detect", None, ["ship"])
    assert doc["model"]["name"] == "scripted" and doc["box_convention"] == "pixel" and doc["profile"] is None
    assert doc["prompts"] == {"detect": prompt} and doc["task"] == "detect" and doc["classes"] == ["ship"]
    assert doc["tiling"] == {"tile": 400, "overlap": 80, "bands": None, "min_valid": 0.05}
    assert doc["geocot_version"] == geocot_cli.__version__ and doc["created"].endswith("+00:00")
    assert doc["scene"] == str(scene_path.resolve()) and doc["nms_iou"] == 0.5
    # the GeoPackage: a provenance table, and the same items as metadata of the evidence layer
    table = pyogrio.read_dataframe(gpkg, layer="provenance")
    rows = dict(zip(table["key"], table["value"]))
    assert rows["prompts.detect"] == prompt and rows["model.name"] == "scripted" and rows["tiling.tile"] == "400"
    assert rows["geocot_version"] == geocot_cli.__version__ and rows["classes"] == '["ship"]'
    meta = pyogrio.read_info(gpkg, layer="evidence")["layer_metadata"]
    assert meta["GEOCOT_PROMPTS_DETECT"] == prompt and meta["GEOCOT_BOX_CONVENTION"] == "pixel"
    # GeoPackage 1.2: read by GDAL 3.6-3.8 without a version warning
    with sqlite3.connect(gpkg) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # 'GPKG'
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
    # GeoJSON: a 'geocot' member of the FeatureCollection
    res = runner.invoke(app, ["detect", str(scene_path), "--classes", "ship", *SMALL, "--out", str(geojson)])
    assert res.exit_code == 0, res.output
    member = json.loads(geojson.read_text())["geocot"]
    assert member["prompts"] == {"detect": prompt} and member["model"]["name"] == "scripted"


def test_provenance_names_the_model_and_its_hash(tiny_model, make_geotiff, tmp_path):
    from geocot_cli.api import open_backend
    from geocot_cli.config import BackendOptions, GenerationOptions

    backend = open_backend(BackendOptions(model=str(tiny_model), generation=GenerationOptions(max_new_tokens=4)))
    path = make_geotiff("s.tif", width=64, height=64)
    answer, _ = detect_scene(path, backend=backend, tiling=TilingOptions(64, 0))
    model = answer.provenance["model"]
    assert model["path"] == str(Path(tiny_model).resolve()) and model["demo"] is False
    assert answer.provenance["decoding"]["max_new_tokens"] == 4
    # the hash, computed here from the files with hashlib alone
    files = sorted(p for p in Path(tiny_model).rglob("*") if p.is_file() and p.suffix in
                   (".safetensors", ".json", ".jinja", ".txt", ".model", ".py"))
    lines = "".join(f"{p.relative_to(tiny_model).as_posix()}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n"
                    for p in files)
    assert model["hash"] == "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    assert model["hash_method"] == "sha256 of every file"
    weights = Path(tiny_model) / "model.safetensors"
    assert model["weights_sha256"]["model.safetensors"] == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_a_large_model_folder_is_hashed_by_samples(tmp_path, monkeypatch):
    import geocot_cli.io.provenance as prov

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    data = bytearray(np.random.default_rng(0).integers(0, 256, 5 << 20, dtype=np.uint8).tobytes())
    (folder / "model.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(prov, "FULL_HASH_BYTES", 1 << 20)
    first = model_hash(folder)
    assert first["hash_method"].startswith("sampled") and first["weights_sha256"] is None
    data[(5 << 20) // 2] ^= 1  # one byte in the middle of the file, inside a sampled piece
    (folder / "model.safetensors").write_bytes(bytes(data))
    assert model_hash(folder)["hash"] != first["hash"]


# ----------------------------------------------------------------------------- ogrinfo reads it
@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed")
def test_ogrinfo_reads_the_geopackage_and_its_provenance_without_warnings(scene_path, tmp_path):
    out = tmp_path / "ships.gpkg"
    detect_scene(scene_path, ["ship"], backend=ScriptedBackend(oracle_trace), tiling=TilingOptions(400, 80), out=out)
    listing = subprocess.run(["ogrinfo", str(out)], capture_output=True, text=True, check=True)
    assert "Warning" not in listing.stderr and "ERROR" not in listing.stderr, listing.stderr
    assert "evidence (Polygon)" in listing.stdout and "provenance (None)" in listing.stdout
    layer = subprocess.run(["ogrinfo", "-so", str(out), "evidence"], capture_output=True, text=True, check=True)
    assert "Warning" not in layer.stderr, layer.stderr
    assert "GEOCOT_MODEL_NAME=scripted" in layer.stdout and "GEOCOT_BOX_CONVENTION=pixel" in layer.stdout
    assert "Feature Count: 2" in layer.stdout
    table = subprocess.run(["ogrinfo", "-al", "-q", str(out), "provenance"], capture_output=True, text=True,
                           check=True)
    assert "key (String) = geocot_version" in table.stdout and "value (String) = scripted" in table.stdout


# --------------------------------------------------------------------- checks before model time
def test_geojson_of_a_scene_without_crs_fails_before_any_model_call(runner, make_geotiff, use, tmp_path):
    path = make_geotiff("nocrs.tif", width=200, height=100, crs=None, transform=Affine.identity())
    backend = ScriptedBackend(oracle_trace)
    loads = use(backend)
    res = runner.invoke(app, ["detect", str(path), "--out", str(tmp_path / "x.geojson"), "--tile", "100"])
    assert res.exit_code == 2 and not backend.calls and loads == []  # the model was not even loaded
    assert "has no CRS" in res.stderr and ".gpkg" in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr  # the error alone: no warning before it
    assert not list(tmp_path.glob("x.geojson*"))  # no output, no journal
    with pytest.warns(UserWarning, match="no CRS"), pytest.raises(OutputError, match="has no CRS"):
        answer_scene(path, "detect", backend=backend, out=tmp_path / "y.json", tiling=TilingOptions(100, 0))
    assert not backend.calls
    # a .gpkg of the same scene is fine (pixel coordinates)
    res = runner.invoke(app, ["detect", str(path), "--out", str(tmp_path / "x.gpkg"), "--tile", "100"])
    assert res.exit_code == 0, res.output


def test_a_damaged_raster_fails_before_any_model_call(runner, real_data, use, tmp_path):
    backend = ScriptedBackend(oracle_trace)
    loads = use(backend)
    out = tmp_path / "x.gpkg"
    res = runner.invoke(app, ["detect", str(real_data / "rasterio/corrupt.tif"), "--out", str(out), "--tile", "256"])
    assert res.exit_code == 2 and not backend.calls and loads == []
    assert "rows 512-1023, columns 512-1023 cannot be read" in res.stderr and "gdalinfo -checksum" in res.stderr
    assert not out.exists() and not Path(str(out) + ".journal.jsonl").exists()


def test_a_block_the_check_missed_stops_the_run_keeps_the_journal_and_a_rerun_continues(
    runner, real_data, use, tmp_path, monkeypatch
):
    """The sample misses the damaged block (here: no check at all): the run stops at the first tile
    that cannot be read, says how to go on, and neither a rerun nor an export is refused."""
    monkeypatch.setattr(geocot_cli.api, "check_blocks", lambda scene: 0)
    monkeypatch.setattr(geocot_cli.scene, "check_blocks", lambda scene: 0)
    backend = ScriptedBackend(oracle_trace)
    use(backend)
    out = tmp_path / "x.gpkg"
    journal = Path(str(out) + ".journal.jsonl")
    args = ["detect", str(real_data / "rasterio/corrupt.tif"), "--out", str(out), "--tile", "256", "--overlap", "0",
            "--batch-size", "1"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "cannot be read" in res.stderr
    first = len(backend.calls)
    assert 0 < first < 16 and journal.exists() and not out.exists()
    assert f"the {first} tiles answered before it are kept in {journal}" in " ".join(res.stderr.split())
    assert "geocot export" in res.stderr and "--resume" in res.stderr
    # the same command again: continued, not refused; no tile is asked twice
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "cannot be read" in res.stderr and "refuse" not in res.stderr
    assert f"continuing {journal} from its {first} finished tiles" in " ".join(res.stderr.split())
    assert len(backend.calls) == first, res.stderr
    # what they found, with the tiles never run called so
    res = runner.invoke(app, ["export", str(journal), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["tiles_not_run"] == 16 - first and doc["tiles_skipped"] == 0
    assert {t["status"] for t in doc["tiles"]} == {"answered", "not run"}
    assert all(t["skipped"] is None for t in doc["tiles"])
    assert any("not run" in n for n in doc["notes"])
    assert doc["geocot"]["exported"]["tiles_not_run"] == 16 - first and doc["geocot"]["model"]["name"] == "scripted"
    res = runner.invoke(app, ["export", str(journal)])
    assert res.exit_code == 0 and f"(0 skipped, {16 - first} not run)" in res.stderr
    assert f"{16 - first} of 16 tiles were not run" in " ".join(res.stderr.split())


def test_export_of_an_interrupted_run_says_not_run(make_geotiff, tmp_path):
    path = make_geotiff("s.tif", data=draw_scene(1200, 900, [(100, 20, 130, 40)]), transform=TRANSFORM)
    journal = tmp_path / "run.journal.jsonl"

    class Stop(ScriptedBackend):
        calls = 0

        def generate(self, images, prompts):
            Stop.calls += 1
            if Stop.calls > 2:
                raise KeyboardInterrupt
            return super().generate(images, prompts)

    with pytest.raises(KeyboardInterrupt):
        answer_scene(path, "count", classes=["ship"], backend=Stop(oracle_trace), tiling=TilingOptions(400, 80),
                     journal=journal, batch_size=1)
    answer, _ = export_journal(journal, out=tmp_path / "partial.gpkg")
    assert answer.tiles_not_run == 10 and answer.tiles_skipped == 0 and answer.tiles_processed == 2
    tiles = pyogrio.read_dataframe(tmp_path / "partial.gpkg", layer="tiles")
    assert sorted(tiles["status"]) == ["answered"] * 2 + ["not run"] * 10
    assert set(tiles["skipped"]) == {""}


# ------------------------------------------------------------------------------- progress lines
def test_progress_lines_when_stderr_is_not_a_terminal(runner, scene_path, use, monkeypatch):
    import geocot_cli.cli._progress as prog

    monkeypatch.setattr(prog, "EVERY_S", 0.0)  # a line after every tile
    monkeypatch.setattr(prog, "MIN_GAP_S", 0.0)
    use(ScriptedBackend(oracle_trace))
    res = runner.invoke(app, ["count", str(scene_path), "ship", *SMALL])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith(f"count {scene_path}")]
    assert lines[0] == f"count {scene_path}: 1/12 tiles (8%)"  # no rate from one tile: start-up is not work
    assert lines[1].startswith(f"count {scene_path}: 2/12 tiles (17%), ") and " tiles/s, " in lines[1]
    assert lines[1].endswith(" left") and lines[10].startswith(f"count {scene_path}: 11/12 tiles (92%), ")
    assert len(lines) == 12 and lines[-1].startswith(f"count {scene_path}: 12/12 tiles in ")
    # a run of a few seconds writes none (the default pacing): stderr is the summary alone
    monkeypatch.undo()
    use(ScriptedBackend(oracle_trace))
    res = runner.invoke(app, ["count", str(scene_path), "ship", *SMALL])
    assert res.exit_code == 0 and f"count {scene_path}:" not in res.stderr
    # --quiet: none (the flag sets the CLI's state for the process: put back after the test)
    monkeypatch.setattr(geocot_cli.cli._common.state, "quiet", False)
    res = runner.invoke(app, ["--quiet", "count", str(scene_path), "ship", *SMALL])
    assert res.exit_code == 0 and f"count {scene_path}:" not in res.stderr


def test_progress_lines_in_a_real_log_file(scene_path, tmp_path):
    """The installed command with stderr redirected to a file: start, progress and end lines."""
    import os
    import sys

    log = tmp_path / "run.log"
    code = (
        "import sys, geocot_cli.api, geocot_cli.cli._progress as p\n"
        "from geocot_cli.backends.scripted import ScriptedBackend\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from oracle import oracle_trace\n"
        "p.EVERY_S = 0.0; p.MIN_GAP_S = 0.0\n"
        "geocot_cli.api.open_backend = lambda options: ScriptedBackend(oracle_trace)\n"
        "from geocot_cli.cli.app import main\n"
        "main(sys.argv[2:])\n"
    )
    with open(log, "w") as err:
        proc = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), "count", str(scene_path),
                               "ship", *SMALL], stdout=subprocess.PIPE, stderr=err, text=True,
                              env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0 and proc.stdout.strip() == "2"
    text = log.read_text()
    assert f"count {scene_path}: 6/12 tiles (50%)" in text
    assert f"count {scene_path}: 12/12 tiles in " in text and "\x1b[" not in text  # no terminal codes


def test_threads_sets_gdal_and_torch(runner, scene_path, use, monkeypatch):
    import os

    import torch

    monkeypatch.delenv("GDAL_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    use(ScriptedBackend(oracle_trace))
    try:
        res = runner.invoke(app, ["count", str(scene_path), "ship", *SMALL, "--threads", "3"])
        assert res.exit_code == 0, res.output
        assert os.environ["GDAL_NUM_THREADS"] == "3" and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    res = runner.invoke(app, ["count", str(scene_path), "ship", *SMALL, "--threads", "0"])
    assert res.exit_code == 2 and "--threads" in res.stderr


# ---------------------------------------------------------------------------- the demo model
def test_the_demo_model_says_what_it_is(runner, make_geotiff, tmp_path):
    path = make_geotiff("s.tif", width=64, height=64)
    res = runner.invoke(app, ["detect", str(path), "--max-new-tokens", "8", "--json"])
    assert res.exit_code == 0, res.output
    notes = [line for line in res.stderr.splitlines() if "bundled demo model" in line]
    assert len(notes) == 1 and "1.2M-parameter" in notes[0] and "synthetic" in notes[0]
    assert "--model" in notes[0] and "mean nothing" in notes[0]
    model = json.loads(res.stdout)["geocot"]["model"]
    assert model["demo"] is True and model["hash"].startswith("sha256:")
