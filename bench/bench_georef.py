"""Georeference and de-duplicate a million evidence boxes (target < 10 s).

A 50k x 20k px scene in 800 px tiles with 160 px overlap (2,418 tiles); every tile cites its
objects (about 414 per tile on average) in tile pixels, so objects in the overlaps are cited by
two or four tiles. Measured: the pipeline's per-tile georeferencing (tile pixels -> scene pixels,
edge margins; polygons deferred) for all tiles, seam de-duplication of the whole scene, then the
polygons (scene CRS) of the features kept, as a writer would ask for them. Total = the three.

Baseline, measured in the same run on a sample of tiles: the one-box path (:func:`georeference` on
every box, polygon built at once) against :func:`georeference_all` + :func:`feature_polygons` on
the same boxes. Wall-clock seconds are printed with the process's CPU seconds (on a busy machine
the CPU figure is the steadier one).

Run: .venv/bin/python bench/bench_georef.py [--boxes 1000000] [--sample-every 25] [--write-docs]
(``--write-docs`` also writes the figures into ``docs/performance.md``).
"""

from __future__ import annotations

import argparse
import gc
import time
from types import SimpleNamespace

import numpy as np
from affine import Affine


class _Clock:
    """Wall and CPU seconds since the last lap."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def main() -> None:
    from geocot_cli.georef import dedupe_seams, feature_polygons, georeference, georeference_all
    from geocot_cli.tiling import tile_spans

    ap = argparse.ArgumentParser()
    ap.add_argument("--boxes", type=int, default=1_000_000)
    ap.add_argument("--sample-every", type=int, default=25, help="baseline on every n-th tile")
    ap.add_argument("--write-docs", action="store_true", help="write the figures into docs/performance.md")
    args = ap.parse_args()
    width, height = 50_000, 20_000
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
    kw = dict(scene_size=(width, height), task="detect", answer=None, trace_text="",
              scene_transform=transform)

    clock = _Clock()
    features = []
    for tile, ev in tiles:
        features.extend(georeference_all(ev, tile, **kw))
    geo = clock.lap()
    kept = dedupe_seams(features, 0.5)
    dedupe = clock.lap()
    polygons = feature_polygons(kept)
    build = clock.lap()
    assert len(polygons) == len(kept)

    # The objects made above (with the GC paused) are collected later, in bulk; a collection now
    # keeps that work out of the baseline's figures.
    gc.collect()
    sample = tiles[:: max(args.sample_every, 1)]
    n_sample = sum(len(ev) for _, ev in sample)
    clock.lap()
    for tile, ev in sample:
        for e in ev:
            georeference(e, tile, **kw)
    one_box = clock.lap()
    for tile, ev in sample:
        feature_polygons(georeference_all(ev, tile, **kw))
    batched = clock.lap()

    total = tuple(a + b + c for a, b, c in zip(geo, dedupe, build))
    print(f"  georeference : {geo[0]:6.2f} s   (CPU {geo[1]:5.2f} s)")
    print(f"  de-duplicate : {dedupe[0]:6.2f} s   (CPU {dedupe[1]:5.2f} s; "
          f"{len(features)} -> {len(kept)} features; {n_obj} objects drawn)")
    print(f"  polygons     : {build[0]:6.2f} s   (CPU {build[1]:5.2f} s; of the {len(kept)} features kept)")
    print(f"  total        : {total[0]:6.2f} s   (CPU {total[1]:5.2f} s; target < 10 s for 1M boxes)")
    print(f"  baseline     : one-box georeference() {one_box[0] / n_sample * 1e6:.1f} us/box vs "
          f"georeference_all + feature_polygons {batched[0] / n_sample * 1e6:.1f} us/box "
          f"on {len(sample)} tiles ({n_sample} boxes): {one_box[0] / batched[0]:.1f}x "
          f"(CPU {one_box[1] / batched[1]:.1f}x)")
    if args.write_docs:
        from _figures import publish

        publish("performance.md", "bench_georef", "\n".join([
            "| what | figure | target |",
            "|---|---|---|",
            f"| {n_boxes:,} evidence boxes georeferenced and de-duplicated ({width:,} x {height:,} px scene, "
            f"{len(tiles):,} tiles), polygons built for the {len(kept):,} kept | {geo[0]:.1f} s + {dedupe[0]:.1f} s + "
            f"{build[0]:.1f} s = **{total[0]:.1f} s**{'' if total[0] < 10 else ' (missed)'}; batched path "
            f"{one_box[0] / batched[0]:.0f}x the one-box `georeference()` per box | < 10 s |",
        ]), command=f"python bench/bench_georef.py --boxes {args.boxes} --sample-every {args.sample_every}")


if __name__ == "__main__":
    main()
