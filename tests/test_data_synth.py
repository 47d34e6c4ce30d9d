"""Synthetic scenes: deterministic bytes, a real projected CRS, consistent ground truth for all six tasks."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import rasterio

from geocot_cli.data.schema import load_samples
from geocot_cli.data.synth import OBJECT_CLASSES, SCENE_CLASSES, SynthOptions, render_scene, synthesize
from geocot_cli.errors import ConfigError, OutputError


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    rep = synthesize(out, SynthOptions(n=40, seed=7))
    return rep, load_samples(rep.ground_truth)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = synthesize(tmp_path / "a", SynthOptions(n=6, seed=11))
    b = synthesize(tmp_path / "b", SynthOptions(n=6, seed=11))
    c = synthesize(tmp_path / "c", SynthOptions(n=6, seed=12))
    assert _digest(a.out) == _digest(b.out) != _digest(c.out)


def test_scenes_are_georeferenced_in_a_projected_crs(dataset):
    rep, samples = dataset
    with rasterio.open(samples[0].image) as ds:
        assert ds.crs.to_epsg() == 32633 and ds.crs.is_projected
        assert ds.res == (0.5, 0.5) and ds.transform.e < 0  # north-up, 0.5 m pixels
        assert 300_000 <= ds.transform.c <= 700_000 and 4_000_000 <= ds.transform.f <= 6_000_000
        assert (ds.count, ds.dtypes[0], ds.width, ds.height) == (3, "uint8", 128, 128)


def test_ground_truth_covers_all_six_tasks_and_agrees_with_itself(dataset):
    rep, samples = dataset
    assert rep.samples == len(samples) and rep.scenes == 40
    assert {s.task for s in samples} == {"vqa", "caption", "classify", "ground", "count", "detect"}
    scenes = {}
    for s in samples:
        scenes.setdefault(s.image, []).append(s)
    classes_seen, counts_seen = set(), set()
    for image, group in scenes.items():
        cls = next(s for s in group if s.task == "classify")
        objects = list(zip(cls.boxes, cls.labels))
        classes_seen.add(cls.cls)
        if not objects:
            assert cls.cls == "empty"
        else:
            tally = {c: cls.labels.count(c) for c in OBJECT_CLASSES}
            dominant = {"airplane": "airport", "ship": "harbor", "vehicle": "parking lot", "storage tank": "tank farm"}
            assert cls.cls in {dominant[c] for c, n in tally.items() if n == max(tally.values())}
        for s in group:
            assert all(0 <= b[0] < b[2] <= 128 and 0 <= b[1] < b[3] <= 128 for b in s.boxes)
            if s.task in ("count", "detect", "vqa"):
                want = s.meta["class"]
                assert s.boxes == tuple(b for b, l in objects if l == want)
            if s.task == "count":
                assert s.count == len(s.boxes)
                counts_seen.add(s.count)
            if s.task == "vqa":
                assert s.answer == ("yes" if s.boxes else "no")
            if s.task == "ground":
                assert s.target_box in s.boxes and set(s.labels) == {s.meta["class"]}
        for i, (a, _) in enumerate(objects):  # objects never overlap
            for b, _ in objects[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    assert classes_seen == set(SCENE_CLASSES)
    assert 0 in counts_seen and max(counts_seen) >= 4


def test_objects_are_drawn_where_their_boxes_are(dataset):
    _, samples = dataset
    cls = [s for s in samples if s.task == "classify" and s.boxes][:5]
    for s in cls:
        with rasterio.open(s.image) as ds:
            img = ds.read().astype(int)
        for (x1, y1, x2, y2), label in zip(s.boxes, s.labels):
            inner = img[:, int(y1):int(y2), int(x1):int(x2)]
            if label in ("airplane", "storage tank"):
                assert inner.min(axis=0).max() >= 200  # bright white/grey object pixels
            assert inner.std() > 5  # not flat background


def test_ground_expressions_pick_one_object(dataset):
    _, samples = dataset
    grounds = [s for s in samples if s.task == "ground"]
    assert len(grounds) >= 30
    for g in grounds:
        area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
        if g.question.startswith("the largest"):
            assert area(g.target_box) == max(area(b) for b in g.boxes)
        if g.question.startswith("the northernmost"):
            assert g.target_box[1] + g.target_box[3] == min(b[1] + b[3] for b in g.boxes)


def test_large_scenes_put_objects_on_tile_seams():
    opts = SynthOptions(n=1, seed=3, size=600, tile=256, overlap=64)
    seams = (192, 256, 344, 448)  # tile edges of the 256/64 grid on 600 px: starts 0, 192, 344
    placed = crossing = 0
    for i in range(4):
        scene = render_scene(i, opts)
        assert scene.image.shape == (600, 600, 3)
        placed += scene.near_seam
        crossing += sum(any(x1 < s < x2 or y1 < s < y2 for s in seams) for x1, y1, x2, y2 in scene.boxes)
    assert placed >= 3 and crossing >= placed
    assert render_scene(0, SynthOptions(size=128)).near_seam == 0  # one tile: no seams


def test_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="n \\(0\\) must be at least 1"):
        SynthOptions(n=0)
    with pytest.raises(ConfigError, match="size"):
        SynthOptions(size=8)
    with pytest.raises(ConfigError, match="not a projected CRS"):
        synthesize(tmp_path / "x", SynthOptions(n=1, epsg=4326))
    synthesize(tmp_path / "y", SynthOptions(n=1))
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        synthesize(tmp_path / "y", SynthOptions(n=1))
    assert synthesize(tmp_path / "y", SynthOptions(n=2), overwrite=True).scenes == 2


def test_render_is_a_pure_function_of_seed_and_index():
    a = render_scene(5, SynthOptions(seed=1))
    b = render_scene(5, SynthOptions(seed=1, n=999))
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes


def test_max_objects_caps_every_scene_and_leaves_uncapped_scenes_alone(tmp_path):
    capped = [render_scene(i, SynthOptions(seed=3, size=128, max_objects=1)) for i in range(30)]
    assert all(len(s.boxes) <= 1 for s in capped)
    assert sum(len(s.boxes) == 1 for s in capped) >= 20  # only empty scenes hold none
    for s in capped:
        assert s.scene_class == ("empty" if not s.labels else {"airplane": "airport", "ship": "harbor",
                                 "vehicle": "parking lot", "storage tank": "tank farm"}[s.labels[0]])
    free = [render_scene(i, SynthOptions(seed=3, size=128)) for i in range(30)]
    assert max(len(s.boxes) for s in free) > 1
    # a scene the cap does not touch is drawn exactly as without it
    for a, b in zip(free, [render_scene(i, SynthOptions(seed=3, size=128, max_objects=99)) for i in range(30)]):
        assert np.array_equal(a.image, b.image) and a.boxes == b.boxes
    with pytest.raises(ConfigError, match="max_objects"):
        SynthOptions(max_objects=0)
