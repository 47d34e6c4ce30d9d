"""--overlay: the scene with every cited box drawn where the evidence says, and refused paths."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from PIL import Image

import geocot_cli.api
from geocot_cli.api import detect_scene
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.cli.app import app
from geocot_cli.config import TilingOptions
from geocot_cli.errors import OutputError
from geocot_cli.io.overlay import PALETTE, check_overlay, draw_overlay, overlay_image, place_labels

from geocot_cli.boxes import format_box, format_boxes

from oracle import draw_scene, object_boxes, oracle_trace

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
OBJECTS = [(100, 20, 130, 40), (420, 450, 470, 480), (700, 300, 760, 340)]


@pytest.fixture
def scene_path(make_geotiff):
    return make_geotiff("harbour.tif", data=draw_scene(900, 600, OBJECTS), transform=TRANSFORM)


def _answer(scene_path, tile=400, overlap=80, respond=oracle_trace, classes=("ship",)):
    backend = ScriptedBackend(respond)
    return detect_scene(scene_path, backend=backend, classes=classes, tiling=TilingOptions(tile=tile, overlap=overlap))


def _strip_height(image: Image.Image) -> int:
    """Rows of the dark header strip above the scene (the scene's top-left pixel is background 60)."""
    arr = np.asarray(image)
    rows = np.nonzero((np.abs(arr[:, 0, :].astype(int) - 60) <= 1).all(axis=1))[0]
    return int(rows[0])


def test_boxes_are_drawn_on_the_cited_objects(scene_path, tmp_path):
    answer, scene = _answer(scene_path)
    assert len(answer.evidence) == len(OBJECTS)
    path = draw_overlay(tmp_path / "o.png", answer, scene)
    image = Image.open(path).convert("RGB")
    top = _strip_height(image)
    arr = np.asarray(image)
    assert image.width == 900 and image.height == 600 + top  # no decimation below max_side
    red = np.array(PALETTE[0])
    for x1, y1, x2, y2 in OBJECTS:
        # the box outline: left edge, mid-height, in the class colour; the object's centre untouched
        assert (arr[top + (y1 + y2) // 2, x1] == red).all()
        assert (arr[top + (y1 + y2) // 2, x2 - 1] == red).all()
        assert (arr[top + (y1 + y2) // 2, (x1 + x2) // 2] == 200 + OBJECTS.index((x1, y1, x2, y2))).all()
    # background far from any object stays as read
    assert (arr[top + 200, 300] == 60).all()


def test_large_scene_is_decimated_and_small_scene_enlarged(scene_path, make_geotiff, tmp_path):
    answer, scene = _answer(scene_path)
    small = overlay_image(answer, scene, max_side=300)
    assert small.width == 300 and small.height - _strip_height(small) == 200

    tiny = make_geotiff("tiny.tif", data=draw_scene(64, 48, [(10, 10, 20, 18)]), transform=TRANSFORM)
    a, s = _answer(tiny, tile=64, overlap=16)
    big = overlay_image(a, s, min_side=512)
    assert big.width == 64 * 8  # nearest-neighbour, a whole factor
    arr = np.asarray(big)
    top = _strip_height(big)
    assert (arr[top + 14 * 8, 10 * 8] == PALETTE[0]).all()


def test_classes_get_distinct_colours(scene_path, tmp_path):
    def two_classes(image, prompt):
        text = oracle_trace(image, prompt)
        return text.replace("1. ship", "1. harbor", 1)

    answer, scene = _answer(scene_path, respond=two_classes, classes=None)
    assert {f.label for f in answer.evidence} == {"ship", "harbor"}
    arr = np.asarray(overlay_image(answer, scene))
    colours = {tuple(c) for c in PALETTE[:2]}
    seen = {tuple(px) for px in arr.reshape(-1, 3)[::7] if tuple(px) in colours}
    assert seen == colours


def test_failed_tiles_are_outlined_and_counted(scene_path):
    def flaky(image, prompt):
        if (np.asarray(image)[..., 0] == 201).any():  # the tiles holding the second object
            raise RuntimeError("boom")
        return oracle_trace(image, prompt)

    answer, scene = _answer(scene_path, respond=flaky)
    failed = [t for t in answer.tiles if t.error is not None]
    assert failed
    image = overlay_image(answer, scene)
    arr = np.asarray(image)
    top = _strip_height(image)
    w = failed[0].tile.window
    assert (arr[top + int(w.row_off) + int(w.height) // 2, int(w.col_off)] == (255, 0, 0)).all()


@pytest.mark.parametrize(
    "name, needle",
    [("o.tif", "must end in .png"), ("missing/o.png", "does not exist"), ("exists.png", "exists; pass --overwrite")],
)
def test_bad_paths_are_refused(tmp_path, name, needle):
    (tmp_path / "exists.png").write_bytes(b"x")
    with pytest.raises(OutputError, match=needle):
        check_overlay(tmp_path / name)


def test_write_is_atomic(scene_path, tmp_path, monkeypatch):
    answer, scene = _answer(scene_path)
    target = tmp_path / "o.png"
    target.write_bytes(b"old picture")

    def broken_save(self, fp, format=None, **kw):
        fp.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        draw_overlay(target, answer, scene, overwrite=True)
    assert target.read_bytes() == b"old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["harbour.tif", "o.png"]


def test_cli_overlay(runner, scene_path, tmp_path, monkeypatch):
    backend = ScriptedBackend(oracle_trace)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)
    out = tmp_path / "o.png"
    r = runner.invoke(app, ["detect", str(scene_path), "--model", "m", "--tile", "400", "--overlap", "80",
                            "--overlay", str(out), "--out", str(tmp_path / "o.gpkg")])
    assert r.exit_code == 0, r.output
    assert Image.open(out).format == "PNG"
    assert "overlay drawn to" in r.stderr

    calls = len(backend.calls)
    r = runner.invoke(app, ["detect", str(scene_path), "--model", "m", "--overlay", str(tmp_path / "o.bmp")])
    assert r.exit_code != 0
    assert "must end in .png" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert len(backend.calls) == calls  # refused before any model time


def test_cli_overlay_many_scenes(runner, scene_path, make_geotiff, tmp_path, monkeypatch):
    second = make_geotiff("second.tif", data=draw_scene(500, 400, [(50, 60, 90, 80)]), transform=TRANSFORM)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: ScriptedBackend(oracle_trace))
    r = runner.invoke(app, ["detect", str(scene_path), str(second), "--model", "m", "--tile", "400",
                            "--overlap", "80", "--overlay", str(tmp_path / "o.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.000-harbour.png").is_file() and (tmp_path / "o.001-second.png").is_file()


def test_cli_many_scenes_refuses_an_existing_overlay_before_any_model_time(runner, scene_path, make_geotiff,
                                                                          tmp_path, monkeypatch):
    second = make_geotiff("second.tif", data=draw_scene(500, 400, [(50, 60, 90, 80)]), transform=TRANSFORM)
    backend = ScriptedBackend(oracle_trace)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)
    (tmp_path / "o.001-second.png").write_bytes(b"an earlier picture")
    r = runner.invoke(app, ["detect", str(scene_path), str(second), "--model", "m", "--overlay", str(tmp_path / "o.png"),
                            "--out", str(tmp_path / "o.gpkg")])
    assert r.exit_code == 2
    assert "o.001-second.png exists; pass --overwrite" in r.stderr
    assert backend.calls == [] and not (tmp_path / "o.gpkg").exists()
    assert (tmp_path / "o.001-second.png").read_bytes() == b"an earlier picture"


def test_labels_go_only_where_they_fit():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 480, size=(300, 2))
    boxes = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(xy, rng.uniform(4, 30, size=(300, 2)))]
    sizes = [(40.0, 12.0)] * len(boxes)
    spots = place_labels(boxes, sizes, 500, 500)
    placed = [s for s in spots if s is not None]
    assert 5 < len(placed) < len(boxes)  # a dense scene: some labels, not all
    for i, a in enumerate(placed):
        assert 0 <= a[0] and a[2] <= 500 and 0 <= a[1] and a[3] <= 500
        for b in placed[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    for box, spot in zip(boxes, spots):
        if spot is not None:  # beside its own box: above or below it
            assert spot[1] in (box[1] - 12, box[3]) and spot[0] == min(max(0, box[0]), 460)
    # no label covers a box (its own included): the objects stay visible
    for spot in placed:
        for b in boxes:
            assert not (spot[0] < b[2] and b[0] < spot[2] and spot[1] < b[3] and b[1] < spot[3])


def test_dense_scene_overlay_has_a_legend(make_geotiff):
    objects = [(10 + 26 * c, 10 + 16 * r, 30 + 26 * c, 22 + 16 * r) for r in range(5) for c in range(10)]
    path = make_geotiff("dense.tif", data=draw_scene(280, 100, objects), transform=TRANSFORM)

    def two_classes(image, prompt):  # ships in even columns of the grid, tanks in odd ones
        boxes = object_boxes(np.asarray(image))
        lines = "\n".join(f"{i}. {'ship' if (b[0] - 10) // 26 % 2 == 0 else 'tank'} {format_box(b)}: one."
                          for i, b in enumerate(boxes, 1))
        return f"<think>Planning: look.\nGrounding:\n{lines}\nSynthesis: done.</think><answer>{format_boxes(boxes)}</answer>"

    answer, scene = _answer(path, tile=280, overlap=0, classes=None, respond=two_classes)
    assert len(answer.evidence) == len(objects) and answer.per_class == {"ship": 25, "tank": 25}
    image = overlay_image(answer, scene)
    top = _strip_height(image)
    strip, picture = np.asarray(image)[:top], np.asarray(image)[top:]
    for colour in PALETTE[:2]:  # one swatch per class in the legend, and boxes of both colours
        assert (strip == np.array(colour)).all(axis=2).sum() > 20
        assert (picture == np.array(colour)).all(axis=2).any()
    # labels only where they fit: some, not all 50 (26 px per grid column, 16 per row)
    shown, total = image.info["labels"]
    assert total == 50 and 0 < shown < 50
