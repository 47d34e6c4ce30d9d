"""The vectorised per-tile georeferencing gives exactly what the one-box function gives.

Including the deferred polygons: built on first read, in bulk by feature_polygons, after dedupe.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from affine import Affine
from rasterio.windows import Window

from geocot_cli.georef import (
    box_polygon, box_polygons, dedupe_seams, feature_polygons, georeference, georeference_all,
)


@pytest.mark.parametrize(
    "transform",
    [Affine(0.5, 0, 500000, 0, -0.5, 4000000), Affine(0.3, 0.2, 10, 0.2, -0.3, 50), Affine(2, 0, 0, 0, 2, 0)],
)
@pytest.mark.parametrize("window, size", [(Window(640, 0, 800, 800), (800, 800)), (Window(0, 640, 800, 800), (400, 400))])
def test_batch_equals_one_by_one(transform, window, size):
    rng = np.random.default_rng(3)
    tile = SimpleNamespace(id="r1c1", window=window, size=size,
                           transform=transform @ Affine.translation(window.col_off, window.row_off))
    boxes = rng.uniform(-20, max(size) + 20, size=(40, 4))  # some reversed, some outside the tile
    evidence = [SimpleNamespace(label=f"ship {i % 3}", claim=f"claim {i}", box=tuple(b)) for i, b in enumerate(boxes)]
    kw = dict(scene_size=(1600, 1500), task="detect", answer="3", trace_text="<think>t</think>", scene_transform=transform)
    batch = georeference_all(evidence, tile, **kw)
    single = [georeference(ev, tile, **kw) for ev in evidence]
    assert len(batch) == len(single) == 40
    for a, b in zip(batch, single):
        assert a.scene_box == pytest.approx(b.scene_box)
        assert a.edge_margin == pytest.approx(b.edge_margin)
        assert a.geometry.equals_exact(b.geometry, 1e-9)
        assert a.geometry.exterior.is_ccw == b.geometry.exterior.is_ccw
        assert (a.label, a.claim, a.tile_id, a.merged_from, a.trace, a.answer, a.score) == (
            b.label, b.claim, b.tile_id, b.merged_from, b.trace, b.answer, b.score)


def test_no_evidence_gives_no_features():
    tile = SimpleNamespace(id="r0c0", window=Window(0, 0, 10, 10), size=(10, 10), transform=Affine.identity())
    assert georeference_all([], tile, scene_size=(10, 10), task="detect", answer=None, trace_text="") == []


TRANSFORMS = [
    Affine(0.5, 0, 500000, 0, -0.5, 4000000),  # north-up
    Affine(0.3, 0.2, 10, 0.2, -0.3, 50),  # rotated
    Affine(2, 0, 0, 0, 2, 0),  # south-up
    Affine(-0.3, 0.2, 10, 0.2, 0.3, 50),  # rotated, mirrored the other way
]


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_box_polygons_equal_box_polygon_exactly(transform):
    rng = np.random.default_rng(5)
    boxes = np.sort(rng.uniform(-100, 900, (200, 2, 2)), axis=1).reshape(-1, 4)  # x1 < x2, y1 < y2
    polys = box_polygons(boxes, transform)
    assert len(polys) == len(boxes)
    for box, poly in zip(boxes.tolist(), polys):
        one = box_polygon(box, transform)
        assert list(poly.exterior.coords) == list(one.exterior.coords)  # same vertices, same order
    assert box_polygons(np.empty((0, 4)), transform).size == 0


def _two_tiles(transform):
    rng = np.random.default_rng(9)
    out = []
    for k, window in enumerate([Window(0, 0, 800, 800), Window(640, 0, 800, 800)]):
        tile = SimpleNamespace(id=f"r0c{k}", window=window, size=(400, 400),
                               transform=transform @ Affine.translation(window.col_off, window.row_off))
        ev = [SimpleNamespace(label="ship", claim="", box=tuple(b)) for b in rng.uniform(0, 400, (30, 4))]
        out.append((tile, ev))
    return out


def test_feature_polygons_equal_the_one_box_path():
    kw = dict(scene_size=(1440, 800), task="detect", answer=None, trace_text="")
    batch, single = [], []
    for transform in TRANSFORMS[:2]:  # two scene transforms in one call
        for tile, ev in _two_tiles(transform):
            batch += georeference_all(ev, tile, scene_transform=transform, **kw)
            single += [georeference(e, tile, scene_transform=transform, **kw) for e in ev]
    batch[3].geometry  # one already built (its tile's polygons too), one stored outright
    batch[100] = single[100]
    polys = feature_polygons(batch)
    assert len(polys) == len(single) == 120
    for f, poly, one in zip(batch, polys, single):
        assert list(poly.exterior.coords) == list(one.geometry.exterior.coords)
        assert f.geometry is poly  # built once, kept on the feature
    assert feature_polygons([]) == []


def test_deferred_geometry_survives_dedupe_copy_pickle_and_replace():
    transform = TRANSFORMS[1]
    kw = dict(scene_size=(1440, 800), task="detect", answer=None, trace_text="", scene_transform=transform)
    (left, ev_left), (right, _) = _two_tiles(transform)
    # The same objects seen from the right-hand tile (fed at half size: 640 scene px = 320 px).
    ev_right = [SimpleNamespace(label="ship", claim="", box=(x1 - 320, y1, x2 - 320, y2))
                for x1, y1, x2, y2 in (e.box for e in ev_left)]
    feats = georeference_all(ev_left, left, **kw) + georeference_all(ev_right, right, **kw)
    kept = dedupe_seams(feats)
    merged = [f for f in kept if len(f.merged_from) > 1]
    assert merged and len(kept) < len(feats)
    for f in [*kept, *feats]:
        assert list(f.geometry.exterior.coords) == list(box_polygon(f.scene_box, transform).exterior.coords)
    fresh = georeference_all(ev_left, left, **kw)[0]
    for twin in (copy.copy(fresh), copy.deepcopy(fresh), pickle.loads(pickle.dumps(fresh)),
                 dataclasses.replace(fresh, label="boat")):
        assert twin.geometry.equals_exact(fresh.geometry, 0.0)
    assert pickle.loads(pickle.dumps(fresh)) == fresh
    with pytest.raises(dataclasses.FrozenInstanceError):
        fresh.geometry = None
