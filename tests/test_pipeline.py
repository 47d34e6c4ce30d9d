"""The vertical slice with a scripted model: exact polygons, seam de-duplication, traces attached."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from geocot_cli.api import answer_scene
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.config import TilingOptions
from geocot_cli.pipeline import run_scene
from geocot_cli.scene import open_scene

from oracle import draw_scene, oracle_trace

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
# 1200 x 900 scene, 800 px tiles with 160 overlap: columns start at 0 and 400, rows at 0 and 100.
OBJECTS = [
    (420, 450, 470, 480),  # inside all four tiles: seen four times, must become one feature
    (780, 200, 820, 230),  # cut by the right edge of the first column of tiles (x=800)
    (100, 20, 130, 40),    # only in the top-left tile
]


@pytest.fixture
def scene_path(make_geotiff):
    return make_geotiff("harbour.tif", data=draw_scene(1200, 900, OBJECTS), transform=TRANSFORM)


@pytest.fixture
def oracle():
    return ScriptedBackend(oracle_trace, box_convention="pixel")


def test_every_tile_reaches_the_model_once(scene_path, oracle):
    scene = open_scene(scene_path)
    results = list(run_scene(scene, oracle, task="detect", classes=["ship"], tiling=TilingOptions(800, 160)))
    from geocot_cli.tiling import TileGrid

    assert [r.tile.id for r in results] == [t.id for t in TileGrid(scene, TilingOptions(800, 160))]
    assert len(results) == 4 and len(oracle.calls) == 4
    assert all(r.skipped is None and r.trace is not None and r.trace.format_ok for r in results)


def test_detect_gives_exact_polygons_after_seam_dedupe(scene_path, oracle):
    answer, scene = answer_scene(scene_path, "detect", backend=oracle, classes=["ship"])
    boxes = sorted(tuple(round(v) for v in f.scene_box) for f in answer.evidence)
    assert boxes == sorted(OBJECTS)
    for f in answer.evidence:
        x1, y1, x2, y2 = f.scene_box
        minx, maxy = TRANSFORM * (x1, y1)
        maxx, miny = TRANSFORM * (x2, y2)
        assert f.geometry.bounds == pytest.approx((minx, miny, maxx, maxy))
        assert f.label == "ship"
        assert "<think>" in f.trace and f.claim
    by_box = {tuple(round(v) for v in f.scene_box): f for f in answer.evidence}
    assert len(by_box[OBJECTS[0]].merged_from) == 4  # one object, four tiles
    assert len(by_box[OBJECTS[1]].merged_from) >= 2  # the truncated copy was merged, the whole kept
    assert answer.value == 3 and answer.per_class == {"ship": 3}


def test_count_is_distinct_evidence_not_sum_of_tiles(scene_path, oracle):
    answer, _ = answer_scene(scene_path, "count", backend=oracle, question="How many ships?", classes=["ship"])
    tile_sum = sum(int(r.answer) for r in answer.tiles)
    assert answer.answer == "3" and tile_sum > 3


def test_nodata_tiles_never_reach_the_model(make_geotiff, oracle):
    data = draw_scene(1200, 900, OBJECTS[2:])
    data[:, :, 380:] = 0  # the right part of the scene is nodata: the tiles starting at x=400 are empty
    path = make_geotiff("half.tif", data=data, transform=TRANSFORM, nodata=0)
    answer, _ = answer_scene(path, "detect", backend=oracle, tiling=TilingOptions(800, 160, min_valid=0.2))
    skipped = [r.tile.id for r in answer.tiles if r.skipped]
    assert skipped and len(oracle.calls) == answer.tiles_total - len(skipped)
    assert [tuple(round(v) for v in f.scene_box) for f in answer.evidence] == [OBJECTS[2]]


def test_batches_do_not_change_results(scene_path):
    one = ScriptedBackend(oracle_trace)
    many = ScriptedBackend(oracle_trace)
    a, _ = answer_scene(scene_path, "detect", backend=one, batch_size=1)
    b, _ = answer_scene(scene_path, "detect", backend=many, batch_size=3)
    assert [f.scene_box for f in a.evidence] == [f.scene_box for f in b.evidence]


def test_tiles_are_encoded_in_the_prefetch_thread_and_reach_the_model_unchanged(scene_path, monkeypatch):
    import threading

    import geocot_cli.pipeline as pipeline

    seen = {}

    def respond(image, prompt):
        seen[len(seen)] = np.asarray(image)
        return oracle_trace(image, prompt)

    threads = []
    real = pipeline._encode

    def spy(tile):
        threads.append(threading.current_thread().name)
        return real(tile)

    monkeypatch.setattr(pipeline, "_encode", spy)
    scene = open_scene(scene_path)
    results = list(run_scene(scene, ScriptedBackend(respond), task="detect", tiling=TilingOptions(800, 160), batch_size=3))
    assert threads == ["geocot-tiles"] * 4  # off the main thread: overlaps the model's previous batch
    assert [r.image_size for r in results] == [(800, 800)] * 4
    for i, r in enumerate(results):
        np.testing.assert_array_equal(seen[i], r.tile.image)
