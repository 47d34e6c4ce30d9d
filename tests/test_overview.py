"""The overview strategy: glance at the decimated scene, run only the tiles where something was seen.

The scripted model (``oracle.sight_trace``) has limited sight: it cites bright regions of at least
4 pixels, so an object that is a pixel or two on the overview is really missed there.
"""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.windows import Window

from geocot_cli.api import count_scene, detect_scene, export_journal, ground_scene
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.config import TilingOptions
from geocot_cli.errors import ConfigError
from geocot_cli.io.journal import journal_path, read_journal
from geocot_cli.overview import (
    NOT_SELECTED, check_strategy, glance_windows, overview_regions, read_overview, select_tiles,
)
from geocot_cli.scene import open_scene
from geocot_cli.tiling import TileGrid

from oracle import draw_scene, sight_trace

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
TILING = TilingOptions(tile=400, overlap=80)  # 3200 x 2400 -> 10 x 8 = 80 tiles; one glance is decimated 8x
BIG = [(200, 300, 260, 340), (1210, 1500, 1300, 1550), (2600, 200, 2648, 280), (3000, 2200, 3060, 2250)]
SMALL = (1800, 1000, 1806, 1006)  # 6 px: under one overview pixel


@pytest.fixture
def scene_path(make_geotiff):
    return make_geotiff("sparse.tif", data=draw_scene(3200, 2400, BIG + [SMALL])[:1], transform=TRANSFORM)


def boxes(answer):
    return sorted(tuple(round(v) for v in f.scene_box) for f in answer.evidence)


def test_overview_runs_few_tiles_and_really_misses_what_it_cannot_see(scene_path):
    grid_backend, ovw_backend = ScriptedBackend(sight_trace), ScriptedBackend(sight_trace)
    grid, _ = count_scene(scene_path, "ship", backend=grid_backend, tiling=TILING)
    ovw, _ = count_scene(scene_path, "ship", backend=ovw_backend, tiling=TILING, strategy="overview",
                         overview_max_decimation=None)
    assert grid.value == 5 and boxes(grid) == sorted(BIG + [SMALL])
    assert boxes(ovw) == sorted(BIG)  # the 6 px object was invisible on the overview
    glance = ovw.overview.glances[0]
    assert len(ovw.overview.glances) == 1 and glance.size == (400, 300) and glance.decimation == 8
    assert ovw.tiles_processed == len(ovw.overview.tiles) <= 10 and grid.tiles_processed == 80
    assert len(ovw_backend.calls) == ovw.tiles_processed + 1  # the tiles plus the glance
    assert ovw_backend.calls[0][0] == (400, 300)
    assert ovw.tiles_total == 80 and {r.skipped for r in ovw.tiles if r.skipped} == {NOT_SELECTED}
    assert "overview strategy: " in ovw.notes[-1]


def test_bounded_decimation_glances_at_parts_and_sees_small_objects(scene_path):
    backend = ScriptedBackend(sight_trace)
    answer, scene = count_scene(scene_path, "ship", backend=backend, tiling=TILING, strategy="overview",
                                overview_max_decimation=2)
    glances = answer.overview.glances
    assert len(glances) > 1 and max(g.decimation for g in glances) <= 2
    assert [g.id for g in glances] == [f"overview:{k}" for k in range(len(glances))]
    assert answer.value == 5 and boxes(answer) == sorted(BIG + [SMALL])
    assert answer.tiles_processed < len(TileGrid(scene, TILING)) / 3


def test_glance_windows_cover_the_scene():
    wins = glance_windows(3200, 2400, 400, 2)
    covered = np.zeros((2400, 3200), dtype=bool)
    for w in wins:
        assert w.width <= 800 and w.height <= 800
        covered[w.row_off: w.row_off + w.height, w.col_off: w.col_off + w.width] = True
    assert covered.all()
    assert glance_windows(3200, 2400, 400, 8) == [Window(0, 0, 3200, 2400)]
    with pytest.raises(ConfigError, match="max_decimation"):
        glance_windows(100, 100, 400, 0.5)


def test_regions_map_to_scene_pixels_with_margin_and_select_meeting_tiles(scene_path):
    scene = open_scene(scene_path)
    regions = overview_regions([(10, 20, 12, 21)], Window(1600, 800, 1600, 1200), (400, 300), 4.0, (3200, 2400))
    assert regions == ((1636.0, 876.0, 1652.0, 888.0),)  # (10*4+1600-4, 20*4+800-4, ...)
    windows = TileGrid(scene, TILING).windows()
    chosen = select_tiles(windows, regions)
    expected = {f"r{r}c{c}" for r, c, w, _ in windows
                if w.col_off < 1652 and w.col_off + w.width > 1636 and w.row_off < 888 and w.row_off + w.height > 876}
    assert set(chosen) == expected == {"r2c4", "r2c5"}  # the region lies in the overlap of two tiles
    assert overview_regions([(0, 0, 0, 0)], Window(0, 0, 10, 10), (10, 10), 0.0, (10, 10)) == ()


def test_a_glance_without_answer_is_not_trusted(scene_path):
    calls = []

    def first_fails(image, prompt):
        calls.append(image.size)
        return "I cannot tell." if len(calls) == 1 else sight_trace(image, prompt)

    answer, _ = count_scene(scene_path, "ship", backend=ScriptedBackend(first_fails), tiling=TILING,
                            strategy="overview", overview_max_decimation=None)
    assert answer.tiles_processed == 80 and answer.value == 5
    assert any("failed" in n and "every tile under it was run" in n for n in answer.notes)


def test_a_glance_whose_call_fails_is_not_trusted(scene_path):
    state = {"n": 0}

    def crash_first(image, prompt):
        state["n"] += 1
        if state["n"] == 1:
            raise RuntimeError("CUDA out of memory")
        return sight_trace(image, prompt)

    answer, _ = detect_scene(scene_path, backend=ScriptedBackend(crash_first), tiling=TILING, strategy="overview",
                             overview_max_decimation=None)
    assert answer.tiles_processed == 80 and "CUDA out of memory" in answer.overview.glances[0].failed


def test_resume_and_export_replay_the_glances(scene_path, tmp_path):
    out = tmp_path / "ships.gpkg"
    first, _ = count_scene(scene_path, "ship", backend=ScriptedBackend(sight_trace), tiling=TILING,
                           strategy="overview", overview_max_decimation=4, out=out, journal=journal_path(out))
    _, done = read_journal(journal_path(out))
    assert {k for k in done if k.startswith("overview")} == {g.id for g in first.overview.glances}
    again = ScriptedBackend(sight_trace)
    resumed, _ = count_scene(scene_path, "ship", backend=again, tiling=TILING, strategy="overview",
                             overview_max_decimation=4, out=out, journal=journal_path(out), resume=True)
    assert again.calls == [] and boxes(resumed) == boxes(first)
    exported, _ = export_journal(journal_path(out))
    assert boxes(exported) == boxes(first) and exported.overview is not None
    assert sum(r.skipped == NOT_SELECTED for r in exported.tiles) == 80 - first.tiles_processed

    import pyogrio

    layers = [name for name, _ in pyogrio.list_layers(out)]
    assert layers == ["evidence", "tiles", "regions", "provenance"]
    regions = pyogrio.read_dataframe(out, layer="regions")
    assert len(regions) == len(first.overview.regions) and all(regions["trace"].str.contains("<think>"))


def test_ground_with_overview_and_unsupported_tasks(scene_path):
    def largest(image, prompt):
        from oracle import bright_boxes
        from geocot_cli.boxes import format_box

        found = bright_boxes(image)
        if not found:
            return "<think>Planning: p\nGrounding: none\nSynthesis: s</think><answer>none</answer>"
        best = max(found, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        return (f"<think>Planning: p\nGrounding:\nship {format_box(best)}: big.\nSynthesis: s</think>"
                f"<answer>{format_box(best)}</answer>")

    answer, _ = ground_scene(scene_path, "the largest ship", backend=ScriptedBackend(largest), tiling=TILING,
                             strategy="overview", overview_max_decimation=None)
    assert boxes(answer) == [BIG[1]] and answer.tiles_processed < 10
    for task in ("classify", "caption"):
        with pytest.raises(ConfigError, match="--strategy grid"):
            check_strategy("overview", task)
    with pytest.raises(ConfigError, match="unknown strategy"):
        check_strategy("pyramid", "count")


def test_read_overview_honours_the_mask(make_geotiff):
    data = draw_scene(800, 600, [(100, 100, 200, 160)])
    data[:, :, 400:] = 0
    path = make_geotiff("half.tif", data=data, transform=TRANSFORM, nodata=0)
    image, valid = read_overview(open_scene(path), 200)
    assert image.shape == (150, 200, 3) and valid.shape == (150, 200)
    assert valid[:, :95].all() and not valid[:, 105:].any()
    assert (image[~valid] == 0).all() and image[30, 35, 0] > 150  # the object, averaged, still bright
