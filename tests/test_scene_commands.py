"""The scene commands as a user meets them: count, detect, ground, classify, caption, ask.

Scripted models make the answers exact; the tiny random Glm4v model proves every command runs
the real model path end to end on a real GeoTIFF.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pyogrio
import pytest
from affine import Affine
from shapely.ops import unary_union

import geocot_cli.api
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.boxes import format_box
from geocot_cli.cli import scene_commands
from geocot_cli.cli.app import app
from geocot_cli.io.journal import journal_path, read_journal

from test_measures import geodesic_area_of_box
from oracle import draw_scene, object_boxes, oracle_trace

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
OBJECTS = [(100, 20, 130, 40), (380, 300, 420, 330), (700, 600, 740, 640)]
SMALL = ["--tile", "400", "--overlap", "80"]  # 1200 x 900 -> 12 tiles
COMMANDS = ("count", "detect", "ground", "classify", "caption", "ask")


def responder(image, prompt):
    """An oracle that answers in the shape each task's prompt asks for."""
    boxes = object_boxes(np.asarray(image))
    lines = "\n".join(f"{i}. ship {format_box(b)}: a ship." for i, b in enumerate(boxes, 1)) or "No ship."
    first = prompt.splitlines()[1]
    if "single number" in first:
        answer = str(len(boxes))
    elif "box [x1,y1,x2,y2] of the object" in first:
        answer = format_box(max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))) if boxes else "none"
    elif "scene class" in first:
        answer = "Harbour" if boxes else "open water"
    elif "describing" in first:
        answer = "Ships at a quay." if boxes else "Calm water."
    elif "Answer briefly" in first:
        answer = "yes" if boxes else "no"
    else:
        return oracle_trace(image, prompt)
    return f"<think>Planning: look.\nGrounding:\n{lines}\nSynthesis: done.</think><answer>{answer}</answer>"


@pytest.fixture
def scene_path(make_geotiff):
    return make_geotiff("harbour.tif", data=draw_scene(1200, 900, OBJECTS), transform=TRANSFORM)


@pytest.fixture
def scripted(monkeypatch):
    backend = ScriptedBackend(responder)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)
    return backend


def run_json(runner, *args):
    res = runner.invoke(app, [*map(str, args), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_every_scene_command_takes_the_shared_options():
    for name in COMMANDS:
        params = inspect.signature(getattr(scene_commands, name)).parameters
        assert [n for n, _, _ in scene_commands.SHARED] == [n for n in params if n in {s[0] for s in scene_commands.SHARED}]
        assert "args" not in params


def test_cli_overview_default_is_the_library_default():
    from geocot_cli.overview import MAX_DECIMATION

    for name in ("count", "detect", "ground", "ask"):
        params = inspect.signature(getattr(scene_commands, name)).parameters
        assert params["overview_decimation"].default == MAX_DECIMATION


def test_count_cli_text_json_and_gpkg(runner, scene_path, scripted, tmp_path):
    res = runner.invoke(app, ["count", str(scene_path), "ship", *SMALL])
    assert res.exit_code == 0, res.output
    assert res.stdout == "3\n" and "ship" in res.stderr and "3 evidence boxes" in res.stderr
    doc = run_json(runner, "count", scene_path, "ship", *SMALL)
    assert doc["answer"] == "3" and doc["value"] == 3 and doc["per_class"] == {"ship": 3}
    assert doc["flagged_tiles"] == [] and doc["tiles_processed"] == 12 and doc["strategy"] == "grid"
    assert sum(int(t["answer"]) for t in doc["tiles"]) > 3
    out = tmp_path / "ships.gpkg"
    res = runner.invoke(app, ["count", str(scene_path), "ship", *SMALL, "--out", str(out)])
    assert res.exit_code == 0, res.output
    gdf = pyogrio.read_dataframe(out, layer="evidence")
    assert len(gdf) == 3 and set(gdf["scene_answer"]) == {"3"} and gdf.crs.to_epsg() == 32618


def test_count_flags_tiles_that_disagree_with_their_evidence(runner, scene_path, monkeypatch):
    def liar(image, prompt):
        boxes = object_boxes(np.asarray(image))
        lines = "\n".join(f"ship {format_box(b)}: a ship." for b in boxes) or "none"
        return f"<think>Planning: p\nGrounding:\n{lines}\nSynthesis: s</think><answer>{len(boxes) + 1}</answer>"

    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: ScriptedBackend(liar))
    doc = run_json(runner, "count", scene_path, "ship", *SMALL)
    assert doc["answer"] == "3" and len(doc["flagged_tiles"]) == 12
    assert all("answer says" in " ".join(t["problems"]) for t in doc["tiles"])
    res = runner.invoke(app, ["count", str(scene_path), "ship", *SMALL])
    assert "12 tiles whose answer disagrees" in res.stderr


def test_detect_min_score_note_and_per_class_table(runner, scene_path, scripted):
    res = runner.invoke(app, ["detect", str(scene_path), *SMALL, "--min-score", "0.5"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("3 found: 3 ships")
    assert "objects" in res.stderr and "no score" in res.stderr  # the table header, and the note
    doc = run_json(runner, "detect", scene_path, *SMALL, "--min-score", "0.5", "--classes", "ship")
    assert doc["per_class"] == {"ship": 3} and any("no score" in n for n in doc["notes"])
    res = runner.invoke(app, ["detect", str(scene_path), "--min-score", "2"])
    assert res.exit_code == 2


def test_ground_writes_exactly_one_feature_or_says_none(runner, scene_path, scripted, tmp_path, monkeypatch):
    out = tmp_path / "target.gpkg"
    res = runner.invoke(app, ["ground", str(scene_path), "the largest ship", *SMALL, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("found: ship")
    gdf = pyogrio.read_dataframe(out, layer="evidence")
    assert len(gdf) == 1 and (gdf["x1"][0], gdf["y1"][0]) == (700, 600) and "<think>" in gdf["trace"][0]

    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: ScriptedBackend(
        "<think>Planning: p\nGrounding: nothing like it.\nSynthesis: s</think><answer>none</answer>"))
    out2 = tmp_path / "none.gpkg"
    res = runner.invoke(app, ["ground", str(scene_path), "the red car", *SMALL, "--out", str(out2)])
    assert res.exit_code == 0 and res.stdout.startswith("not found") and "the red car" in res.stdout
    assert len(pyogrio.read_dataframe(out2, layer="evidence")) == 0
    doc = run_json(runner, "ground", scene_path, "the red car", *SMALL)
    assert doc["value"]["found"] is False and doc["evidence"] == []


def test_classify_grid_gpkg_and_geojson(runner, scene_path, scripted, tmp_path):
    out = tmp_path / "grid.gpkg"
    res = runner.invoke(app, ["classify", str(scene_path), *SMALL, "--classes", "harbor,water", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert [n for n, _ in pyogrio.list_layers(out)] == ["cells", "tiles", "provenance"]
    cells = pyogrio.read_dataframe(out, layer="cells")
    assert len(cells) == 12 and set(cells["class"]) == {"harbor", "water"}  # "open water" -> water
    union = unary_union(list(cells.geometry))
    assert union.area == pytest.approx(1200 * 900 * 0.25) and union.equals(union.envelope)
    x1, y1, x2, y2 = union.bounds  # ground area: UTM metres are not ground metres (scale factor 0.9996)
    assert sum(cells["area"]) == pytest.approx(geodesic_area_of_box("EPSG:32618", x1, y1, x2, y2), rel=1e-6)
    assert set(cells["area_unit"]) == {"m²"} and set(cells["area_method"]) == {"geodesic"}
    assert "area (m²)" in res.stderr and "areas: geodesic area on the WGS 84 ellipsoid" in res.stderr
    gj = tmp_path / "grid.geojson"
    assert runner.invoke(app, ["classify", str(scene_path), *SMALL, "--out", str(gj)]).exit_code == 0
    doc = json.loads(gj.read_text())
    assert len(doc["features"]) == 12 and doc["features"][0]["properties"]["class"]
    doc = run_json(runner, "classify", scene_path, *SMALL, "--classes", "harbor,water")
    assert len(doc["cells"]) == 12 and doc["value"]["unit"] == "m²"
    assert sum(c["fraction"] for c in doc["value"]["classes"].values()) == pytest.approx(1)


def test_caption_and_ask_routing(runner, scene_path, scripted):
    res = runner.invoke(app, ["caption", str(scene_path), *SMALL])
    assert res.exit_code == 0, res.output
    assert "3 ships" in res.stdout and "Tiles describe:" in res.stdout and "Calm water" in res.stdout
    cases = {
        "how many ships are there?": ("count", "3"),
        "Is there a ship?": ("vqa", "yes"),
        "Where is the largest ship?": ("ground", None),
        "What kind of scene is this?": ("classify", None),
    }
    for question, (task, answer) in cases.items():
        doc = run_json(runner, "ask", scene_path, question, *SMALL)
        assert doc["task"] == task, question
        if answer is not None:
            assert doc["answer"] == answer
    doc = run_json(runner, "ask", scene_path, "how many ships are there?", "--task", "detect", *SMALL)
    assert doc["task"] == "detect" and doc["value"] == 3


def test_overview_strategy_from_the_cli(runner, make_geotiff, scripted):
    path = make_geotiff("big.tif", data=draw_scene(3200, 2400, [(200, 300, 260, 340)])[:1], transform=TRANSFORM)
    doc = run_json(runner, "count", path, "ship", *SMALL, "--strategy", "overview", "--overview-decimation", "8")
    assert doc["strategy"] == "overview" and doc["answer"] == "1"
    assert doc["tiles_processed"] < 5 and doc["tiles_total"] == 80
    assert len(doc["overview"]["glances"]) == 1 and doc["overview"]["tiles_selected"]
    calls = len(scripted.calls)
    res = runner.invoke(app, ["ask", str(path), "what type of area is this?", "--strategy", "overview"])
    assert res.exit_code == 2 and "--strategy grid" in res.stderr and len(scripted.calls) == calls


@pytest.mark.parametrize("args, needle", [
    (["count", "{scene}", "ship", "--strategy", "nope"], "unknown strategy"),
    (["ground", "{scene}", "  "], "empty"),
    (["ask", "{scene}", "  "], "empty"),
    (["classify", "{scene}", "--out", "{tmp}/x.shp"], "unknown output extension"),
    (["caption", "{scene}", "--resume"], "--resume needs"),
])
def test_bad_input_is_one_line_and_exit_2(runner, scene_path, scripted, tmp_path, args, needle):
    res = runner.invoke(app, [a.format(scene=scene_path, tmp=tmp_path) for a in args])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not scripted.calls


def test_classify_resumes_from_its_journal(runner, scene_path, tmp_path, monkeypatch):
    class Interrupt:
        box_convention, name = "pixel", "scripted"

        def __init__(self):
            self.calls = 0

        def generate(self, images, prompts):
            if self.calls + len(images) > 4:
                raise KeyboardInterrupt
            self.calls += len(images)
            return [responder(i, p) for i, p in zip(images, prompts)]

    out = tmp_path / "grid.gpkg"
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: Interrupt())
    res = runner.invoke(app, ["classify", str(scene_path), *SMALL, "--out", str(out), "--batch-size", "2"])
    assert res.exit_code == 130 and "--resume" in res.stderr and not out.exists()
    assert len(read_journal(journal_path(out))[1]) == 4
    again = ScriptedBackend(responder)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: again)
    res = runner.invoke(app, ["classify", str(scene_path), *SMALL, "--out", str(out), "--resume"])
    assert res.exit_code == 0, res.output
    assert len(again.calls) == 8 and len(pyogrio.read_dataframe(out, layer="cells")) == 12
    res = runner.invoke(app, ["export", str(journal_path(out)), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["task"] == "classify"


# ---------------------------------------------------------------------------------- tiny model
@pytest.mark.parametrize("command", [
    ["count", "{scene}", "ship"],
    ["detect", "{scene}", "--classes", "ship,plane", "--min-score", "0.3"],
    ["ground", "{scene}", "the largest building"],
    ["classify", "{scene}", "--classes", "urban,forest,water", "--out", "{tmp}/grid.gpkg"],
    ["caption", "{scene}"],
    ["ask", "{scene}", "Is there a river?", "--out", "{tmp}/vqa.geojson"],
    ["count", "{scene}", "ship", "--strategy", "overview"],
])
def test_tiny_model_runs_every_command_on_a_real_geotiff(runner, real_data, tiny_model, tmp_path, command):
    scene = real_data / "rasterio" / "RGB.byte.tif"
    args = [a.format(scene=scene, tmp=tmp_path) for a in command]
    res = runner.invoke(app, [*args, "--model", str(tiny_model), "--device", "cpu", "--max-new-tokens", "16",
                              "--tile", "400", "--overlap", "40", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["crs"] == "EPSG:32618" and doc["task"] in ("count", "detect", "ground", "classify", "caption", "vqa")
    assert doc["tiles_total"] == 6 and all(t["trace"] is not None for t in doc["tiles"] if t["skipped"] is None)
    if "--out" in args:
        assert (tmp_path / args[args.index("--out") + 1].split("/")[-1]).exists()
    if command[0] == "classify":
        assert len(doc["cells"]) == 6 and {c["class"] for c in doc["cells"]} <= {"urban", "forest", "water", "unknown", "nodata"}
    if "overview" in command:
        assert doc["overview"]["glances"][0]["trace"] is not None


def test_tile_size_comes_from_the_model_unless_given(runner, make_geotiff, tmp_path, monkeypatch):
    """A model trained on 64 px scenes says so in geocot.json; scenes are cut into 64 px tiles for it."""
    import json

    import geocot_cli.api
    from geocot_cli.backends.scripted import ScriptedBackend
    from geocot_cli.cli.app import app
    from oracle import draw_scene, oracle_trace

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "geocot.json").write_text(json.dumps({"box_convention": "pixel", "tile": 64, "overlap": 16}))
    scene = make_geotiff("s.tif", data=draw_scene(160, 112, [(70, 40, 90, 52)]))

    def run(*extra):
        backend = ScriptedBackend(oracle_trace)
        backend.local_path = folder
        monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)
        r = runner.invoke(app, ["detect", str(scene), "--model", str(folder), "--json", *extra])
        assert r.exit_code == 0, r.output
        return backend, json.loads(r.stdout)

    backend, doc = run()
    assert {size for size, _ in backend.calls} == {(64, 64)}
    assert len(backend.calls) == 3 * 2  # stride 48: 3 columns over 160 px, 2 rows over 112 px
    assert doc["value"] == 1  # the object cited by two neighbouring tiles is one object
    backend, _ = run("--tile", "100")
    assert {size for size, _ in backend.calls} <= {(100, 100)} and len(backend.calls) == 2 * 2  # overlap 20
