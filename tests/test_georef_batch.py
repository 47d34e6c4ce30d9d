"""The vectorised per-tile georeferencing gives exactly what the one-box function gives."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from affine import Affine
from rasterio.windows import Window

from geocot_cli.georef import georeference, georeference_all


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
