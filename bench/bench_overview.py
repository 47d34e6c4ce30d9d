"""``--strategy overview`` against ``--strategy grid``: tiles run and recall, on sparse synthetic scenes.

Run: ``.venv/bin/python bench/bench_overview.py [--seeds 3] [--quick]``.

Each scene is a single-band UTM GeoTIFF (0.5 m pixels) of textured dark ground with a few bright
objects ("ships"), most in a few clusters (harbours), some scattered, never touching. Every object
fits in the tile overlap (<= 150 px), so a perfect grid run finds all of them.

The model is a scripted oracle with limited sight (``tests/oracle.py: sight_trace``): it cites
every 8-connected region of pixels at or above a brightness threshold that holds at least 4
pixels. At full resolution it sees every object; on the overview (the whole scene averaged down
to one 800 px image, as ``read_overview`` reads it) an object of ``k`` pixels is ``k / decimation``
pixels, averaged with the ground around it, so small or thin objects vanish there, as they would
for a real model. The recall lost by the overview strategy is therefore measured, not assumed.

Every strategy runs the whole pipeline (``count_scene``: tiling, traces, georeferencing, seam
de-duplication). Printed per regime (object sizes x scene size) and strategy (grid; overview with
one glance at the whole scene; overview with glances decimated at most 8 times, and at most
``MAX_DECIMATION`` times, the default; for the vehicle regime also at most 2 times): tiles run at full resolution, glances (model calls on decimated images), the ratio
grid tiles / (tiles + glances), recall against the drawn objects (IoU >= 0.5), the recall lost
in points against the grid, and wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from oracle import sight_trace  # noqa: E402

from geocot_cli.api import count_scene  # noqa: E402
from geocot_cli.backends.scripted import ScriptedBackend  # noqa: E402
from geocot_cli.config import TilingOptions  # noqa: E402
from geocot_cli.metrics import box_iou  # noqa: E402
from geocot_cli.overview import MAX_DECIMATION  # noqa: E402

TILING = TilingOptions(tile=800, overlap=160)


@dataclass(frozen=True)
class Regime:
    name: str
    size: int  # scene side, px
    length: tuple[float, float]  # object length range, px (log-uniform)
    aspect: tuple[float, float]  # length / width range
    clusters: int
    per_cluster: tuple[int, int]
    scattered: int
    decimation: float | None = None  # one more overview variant, with this max decimation


REGIMES = (
    Regime("ships 40-150 px (20-75 m), 8k scene", 8192, (40, 150), (2.0, 4.0), 4, (6, 10), 8),
    Regime("ships 40-150 px, 12k scene", 12288, (40, 150), (2.0, 4.0), 5, (6, 10), 10),
    Regime("boats 12-150 px (6-75 m), 8k scene", 8192, (12, 150), (2.0, 4.0), 4, (6, 10), 8),
    Regime("vehicles 8-16 px (4-8 m), 8k scene", 8192, (8, 16), (1.5, 2.5), 4, (6, 10), 8, decimation=2.0),
)


def draw(regime: Regime, seed: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """One scene: (1, size, size) uint8 and the drawn object boxes."""
    from PIL import Image

    rng = np.random.default_rng([seed, regime.size])
    n = regime.size
    coarse = rng.uniform(45, 95, size=(24, 24)).astype(np.float32)
    ground = np.asarray(Image.fromarray(coarse, mode="F").resize((n, n), Image.BILINEAR))
    data = (ground + rng.integers(-12, 13, size=(n, n), dtype=np.int16)).clip(0, 255).astype(np.uint8)
    occupied = np.zeros((n // 8 + 1, n // 8 + 1), dtype=bool)  # 8 px cells: objects keep >= 8 px apart
    boxes: list[tuple[int, int, int, int]] = []
    centres = [rng.uniform(0.1 * n, 0.9 * n, size=2) for _ in range(regime.clusters)]
    wanted = [(c, 350.0) for c in centres for _ in range(rng.integers(*regime.per_cluster, endpoint=True))]
    wanted += [(rng.uniform(0.02 * n, 0.98 * n, size=2), 0.0) for _ in range(regime.scattered)]
    for centre, spread in wanted:
        for _ in range(50):  # tries
            length = float(np.exp(rng.uniform(*np.log(regime.length))))
            width = max(4.0, length / rng.uniform(*regime.aspect))
            w, h = (length, width) if rng.random() < 0.5 else (width, length)
            cx, cy = centre + rng.normal(0, spread, size=2) if spread else centre
            x1, y1 = int(cx - w / 2), int(cy - h / 2)
            x2, y2 = x1 + int(round(w)), y1 + int(round(h))
            if x1 < 0 or y1 < 0 or x2 > n or y2 > n:
                continue
            cells = occupied[max(0, y1 // 8 - 1): y2 // 8 + 2, max(0, x1 // 8 - 1): x2 // 8 + 2]
            if cells.any():
                continue
            occupied[y1 // 8: y2 // 8 + 1, x1 // 8: x2 // 8 + 1] = True
            data[y1:y2, x1:x2] = rng.integers(200, 250)
            boxes.append((x1, y1, x2, y2))
            break
    return data[None], boxes


def write(path: Path, data: np.ndarray) -> None:
    import rasterio
    from affine import Affine

    _, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=Affine(0.5, 0, 400000.0, 0, -0.5, 5000000.0), tiled=True, blockxsize=512,
                       blockysize=512) as dst:
        dst.write(data)


def recall(found, truth) -> float:
    if not truth:
        return 1.0
    if not found:
        return 0.0
    m = box_iou([f.scene_box for f in found], truth)
    hit, used = 0, set()
    for j in range(len(truth)):
        cands = [(m[i, j], i) for i in range(len(found)) if i not in used and m[i, j] >= 0.5]
        if cands:
            used.add(max(cands)[1])
            hit += 1
    return hit / len(truth)


def run(path: Path, truth, strategy: str, max_decimation: float | None = None) -> tuple[int, int, float, float]:
    """(tiles run, glances, recall, seconds) of one strategy on one scene."""
    backend = ScriptedBackend(sight_trace)
    t0 = time.perf_counter()
    answer, _ = count_scene(path, "ship", backend=backend, tiling=TILING, strategy=strategy, batch_size=8,
                            overview_max_decimation=max_decimation)
    dt = time.perf_counter() - t0
    tiles = answer.tiles_processed
    glances = 0 if answer.overview is None else len(answer.overview.glances)
    assert len(backend.calls) == tiles + glances, (len(backend.calls), tiles, glances)
    return tiles, glances, recall(answer.evidence, truth), dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="scenes per regime (default 3)")
    ap.add_argument("--quick", action="store_true", help="first regime only, one scene")
    ap.add_argument("--write-docs", action="store_true", help="write the table into docs/performance.md")
    args = ap.parse_args()
    table = ["| regime | strategy | tiles | glances | ratio | recall | loss (pts) |", "|---|---|---|---|---|---|---|"]
    regimes = REGIMES[:1] if args.quick else REGIMES
    seeds = 1 if args.quick else args.seeds
    print(f"overview vs grid: tile {TILING.tile}, overlap {TILING.overlap}, {seeds} scene(s) per regime, "
          f"{os.cpu_count()} CPU(s)")
    base = (("grid", "grid", None), ("overview, 1 glance", "overview", None),
            ("overview, decimation <= 8", "overview", 8.0),
            (f"overview, decimation <= {MAX_DECIMATION:g} (default)", "overview", MAX_DECIMATION))
    print(f"{'regime':38s} {'strategy':36s} {'objects':>7s} {'tiles':>6s} {'glances':>7s} {'ratio':>6s} "
          f"{'recall':>7s} {'loss pt':>7s} {'seconds':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for regime in regimes:
            variants = base + (((f"overview, decimation <= {regime.decimation:g}", "overview", regime.decimation),)
                               if regime.decimation else ())
            rows: dict[str, list] = {name: [] for name, _, _ in variants}
            objects = 0
            for seed in range(seeds):
                data, truth = draw(regime, seed)
                objects += len(truth)
                path = Path(tmp) / f"scene_{regime.size}_{seed}.tif"
                write(path, data)
                del data
                for name, strategy, dec in variants:
                    tiles, glances, rec, dt = run(path, truth, strategy, dec)
                    rows[name].append((len(truth), tiles, glances, rec, dt))
                path.unlink()
            grid_tiles = sum(r[1] for r in rows["grid"])
            grid_recall = sum(r[0] * r[3] for r in rows["grid"]) / objects  # pooled over objects
            for name, _, _ in variants:
                tiles = sum(r[1] for r in rows[name])
                glances = sum(r[2] for r in rows[name])
                rec = sum(r[0] * r[3] for r in rows[name]) / objects
                secs = sum(r[4] for r in rows[name])
                print(f"{regime.name:38s} {name:36s} {objects:7d} {tiles:6d} {glances:7d} "
                      f"{grid_tiles / (tiles + glances):5.1f}x {rec:7.1%} {100 * (grid_recall - rec):7.1f} {secs:7.1f}")
                table.append(f"| {regime.name if name == 'grid' else ''} | {name} | {tiles} | {glances} | "
                             f"{grid_tiles / (tiles + glances):.1f}x | {rec:.1%} | "
                             f"{'-' if name == 'grid' else f'{100 * (grid_recall - rec):.1f}'} |")
    print("ratio = grid tiles / (tiles + glances): every glance is one more model call on a tile-sized image; "
          "loss pt = grid recall - recall, in points; goal: ratio >= 3x with loss <= 2 points")
    if args.write_docs:
        from _figures import publish

        publish("performance.md", "bench_overview", "\n".join(table) + (
            f"\n\n{seeds} scene(s) per regime, tile {TILING.tile}, overlap {TILING.overlap}; ratio = grid tiles / "
            "(tiles + glances); loss = grid recall - recall, in points. Goal: ratio >= 3x with loss <= 2 points."),
            command=f"python bench/bench_overview.py --seeds {args.seeds}{' --quick' if args.quick else ''}")


if __name__ == "__main__":
    main()
