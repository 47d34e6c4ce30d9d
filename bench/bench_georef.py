"""Georeference and de-duplicate a million evidence boxes (target < 10 s).

A 50k x 20k px scene in 800 px tiles with 160 px overlap (2,573 tiles); every tile cites its
objects (about 250 per tile on average) in tile pixels, so objects in the overlaps are cited by
two or four tiles. Measured: the pipeline's per-tile georeferencing (tile pixels -> scene pixels
-> polygons in the scene CRS, edge margins) for all tiles, then seam de-duplication of the whole
scene.

Run: .venv/bin/python bench/bench_georef.py [--boxes 1000000]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
from affine import Affine


def main() -> None:
    from geocot_cli.config import TilingOptions
    from geocot_cli.georef import dedupe_seams, georeference_all
    from geocot_cli.tiling import tile_spans

    ap = argparse.ArgumentParser()
    ap.add_argument("--boxes", type=int, default=1_000_000)
    args = ap.parse_args()
    width, height = 50_000, 20_000
    opts = TilingOptions(800, 160)
    rows, cols = tile_spans(height, 800, 160), tile_spans(width, 800, 160)
    transform = Affine(0.5, 0, 300000.0, 0, -0.5, 4800000.0)
    rng = np.random.default_rng(0)
    # Objects (12-40 px) scattered over the scene; each tile cites those wholly inside it.
    n_obj = int(args.boxes / 1.45)  # about 1.45 citations per object with this overlap
    xy = rng.uniform(0, [width - 40, height - 40], size=(n_obj, 2))
    wh = rng.uniform(12, 40, size=(n_obj, 2))
    objs = np.concatenate([xy, xy + wh], axis=1)
    order = np.argsort(objs[:, 0])
    objs = objs[order]
    tiles = []
    for r, (y, h, _, _) in enumerate(rows):
        for c, (x, w, _, _) in enumerate(cols):
            lo, hi = np.searchsorted(objs[:, 0], [x, x + w])
            cand = objs[lo:hi]
            inside = cand[(cand[:, 2] <= x + w) & (cand[:, 1] >= y) & (cand[:, 3] <= y + h)]
            tile = SimpleNamespace(id=f"r{r}c{c}", window=SimpleNamespace(col_off=x, row_off=y, width=w, height=h),
                                   size=(w, h), transform=transform @ Affine.translation(x, y))
            ev = [SimpleNamespace(label="vehicle", claim="a vehicle", box=tuple(b - [x, y, x, y])) for b in inside]
            tiles.append((tile, ev))
    n_boxes = sum(len(ev) for _, ev in tiles)
    print(f"{width} x {height} px scene, {len(tiles)} tiles, {n_obj} objects, {n_boxes} cited boxes")

    t0 = time.perf_counter()
    features = []
    for tile, ev in tiles:
        features.extend(georeference_all(ev, tile, scene_size=(width, height), task="detect", answer=None,
                                         trace_text="", scene_transform=transform))
    t1 = time.perf_counter()
    kept = dedupe_seams(features, 0.5)
    t2 = time.perf_counter()
    print(f"  georeference : {t1 - t0:6.2f} s")
    print(f"  de-duplicate : {t2 - t1:6.2f} s   ({len(features)} -> {len(kept)} features; {n_obj} objects drawn)")
    print(f"  total        : {t2 - t0:6.2f} s   (target < 10 s for 1M boxes)")


if __name__ == "__main__":
    main()
