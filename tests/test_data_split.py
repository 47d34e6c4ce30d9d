"""Cutting large images into patches: full coverage, clipped boxes, georeferencing kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.windows import transform as window_transform

from geocot_cli.data.readers import read_objects
from geocot_cli.data.schema import Sample, load_samples, write_samples
from geocot_cli.data.split import SplitOptions, clip_box, patch_windows, split_dataset
from geocot_cli.errors import ConfigError, OutputError


@pytest.mark.parametrize(("w", "h", "tile", "overlap"), [(1000, 700, 800, 160), (2500, 1700, 800, 160), (50, 40, 64, 16), (300, 300, 100, 0)])
def test_patches_cover_every_pixel_and_are_full_size(w, h, tile, overlap):
    wins = patch_windows(w, h, tile, overlap)
    hits = np.zeros((h, w), int)
    for _, _, win in wins:
        assert (win.width, win.height) == (min(tile, w), min(tile, h))
        assert win.col_off + win.width <= w and win.row_off + win.height <= h
        hits[int(win.row_off):int(win.row_off + win.height), int(win.col_off):int(win.col_off + win.width)] += 1
    assert hits.min() >= 1


def test_clip_box_keeps_mostly_inside_boxes():
    assert clip_box((10, 10, 20, 20), 0, 0, 100, 100, 0.5) == (10, 10, 20, 20)
    assert clip_box((95, 10, 105, 20), 0, 0, 100, 100, 0.5) == (95, 10, 100, 20)  # exactly half inside
    assert clip_box((96, 10, 106, 20), 0, 0, 100, 100, 0.5) is None
    assert clip_box((96, 10, 106, 20), 0, 0, 100, 100, 0.3) == (96, 10, 100, 20)
    assert clip_box((150, 150, 160, 160), 100, 100, 100, 100, 0.5) == (50, 50, 60, 60)


def _labelled(tmp_path, image, boxes, labels):
    s = Sample(image=image, task="detect", question="Detect all ships.", boxes=boxes, labels=labels)
    path = tmp_path / "gt.jsonl"
    write_samples(path, [s])
    return path


def test_geotiff_patches_keep_crs_transform_dtype_and_clip_boxes(tmp_path, make_geotiff):
    data = (np.arange(3 * 100 * 120).reshape(3, 100, 120) % 4000).astype("uint16")
    src = make_geotiff("big.tif", data=data, nodata=0, crs="EPSG:32618", res=0.5)
    boxes = ((5, 5, 15, 15), (60, 10, 80, 20), (110, 90, 120, 100))
    gt = _labelled(tmp_path, src, boxes, ("ship", "ship", "storage tank"))
    rep = split_dataset(tmp_path / "out", fmt="geocot", labels=gt, options=SplitOptions(tile=64, overlap=16))
    assert rep.images == 1 and rep.patches == 6  # x starts 0, 48, 56; y starts 0, 36
    with rasterio.open(src) as s:
        src_transform = s.transform
        for _, _, win in patch_windows(120, 100, 64, 16):
            x0, y0 = int(win.col_off), int(win.row_off)
            with rasterio.open(tmp_path / "out" / "images" / f"big_x{x0}_y{y0}.tif") as p:
                assert p.crs.to_epsg() == 32618 and p.dtypes == ("uint16",) * 3 and p.nodata == 0
                assert p.transform == window_transform(win, src_transform)
                assert (p.read() == s.read(window=win)).all()
    samples = load_samples(rep.samples_path)
    det = {(s.image.name, s.labels[0]): s for s in samples if s.task == "detect"}
    assert det[("big_x0_y0.tif", "ship")].boxes == ((5.0, 5.0, 15.0, 15.0),)  # the other ship is 80 % outside
    assert det[("big_x48_y0.tif", "ship")].boxes == ((12.0, 10.0, 32.0, 20.0),)
    assert det[("big_x56_y36.tif", "storage tank")].boxes == ((54.0, 54.0, 64.0, 64.0),)
    assert all(s.image_size == (64, 64) for s in samples)


def test_min_keep_drops_boxes_mostly_outside(tmp_path, make_geotiff):
    src = make_geotiff("s.tif", width=100, height=50)
    gt = _labelled(tmp_path, src, ((40, 10, 60, 20),), ("ship",))  # straddles x=50
    rep = split_dataset(tmp_path / "a", fmt="geocot", labels=gt, options=SplitOptions(tile=50, overlap=0))
    det = [s for s in load_samples(rep.samples_path) if s.task == "detect"]
    assert sorted((s.image.name, s.boxes) for s in det) == [
        ("s_x0_y0.tif", ((40.0, 10.0, 50.0, 20.0),)), ("s_x50_y0.tif", ((0.0, 10.0, 10.0, 20.0),))]
    rep = split_dataset(tmp_path / "b", fmt="geocot", labels=gt, options=SplitOptions(tile=50, overlap=0, min_keep=0.6))
    assert rep.boxes_kept == 0 and rep.boxes_dropped == 2
    assert all(s.answer == "no" for s in load_samples(rep.samples_path))  # only "is there a ship?" -> no


def test_real_dota_png_split(tmp_path, real_data):
    rep = split_dataset(tmp_path / "o", fmt="dota", labels=real_data / "dota" / "labelTxt",
                        options=SplitOptions(tile=400, overlap=100), classes="large-vehicle,small-vehicle")
    samples = load_samples(rep.samples_path)
    assert all(s.image.suffix == ".png" and s.image.is_file() for s in samples)
    # every vehicle of P1888 lies wholly inside at least one 400 px patch (they are < 60 px long)
    objs, _ = read_objects("dota", real_data / "dota" / "labelTxt")
    p1888 = next(o for o in objs if o.image.stem == "P1888")
    restored = set()
    for s in samples:
        if s.image.name.startswith("P1888") and s.task == "detect":
            x0, y0 = (int(v) for v in s.meta["offset"])
            restored |= {((b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0), s.labels[0]) for b in s.boxes}
    originals = set(zip(p1888.boxes, p1888.labels))
    assert len(originals) == 64 and originals <= restored
    assert all(b[2] - b[0] < 400 for b, _ in restored)
    with rasterio.open(samples[0].image) as p:
        assert p.width <= 400 and p.height <= 400


def test_bare_images_are_just_cut(tmp_path, make_geotiff):
    make_geotiff("a.tif", width=90, height=70)
    rep = split_dataset(tmp_path / "o", images=tmp_path / "a.tif", options=SplitOptions(tile=64, overlap=16))
    assert rep.samples_path is None and rep.patches == 4
    assert sorted(p.name for p in (tmp_path / "o" / "images").iterdir()) == [
        "a_x0_y0.tif", "a_x0_y6.tif", "a_x26_y0.tif", "a_x26_y6.tif"]
    with pytest.raises(OutputError, match="already holds a split"):
        split_dataset(tmp_path / "o", images=tmp_path / "a.tif")


def test_split_options_are_checked():
    with pytest.raises(ConfigError, match="overlap"):
        SplitOptions(tile=64, overlap=64)
    with pytest.raises(ConfigError, match="min_keep"):
        SplitOptions(min_keep=0)
    with pytest.raises(ConfigError, match="task caption cannot be made"):
        SplitOptions(tasks=("caption",))
    assert json.dumps(SplitOptions(tasks="count").tasks) == '["count"]'
