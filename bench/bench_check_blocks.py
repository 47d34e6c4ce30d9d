"""What reading a sparse sample of blocks before the model costs (``scene.check_blocks``).

On a dense ``size`` x ``size`` 3-band COG-layout GeoTIFF (512 px deflate blocks, overviews; built
once in the temp folder), times ``open_scene`` (which already reads a decimated overview for the
stretch), ``check_blocks`` (64 blocks at full resolution), and reading every block, which is what
the run itself does. Best of three, warm file cache (the file was just written or read).

Run: .venv/bin/python bench/bench_check_blocks.py [--size 20000] [--write-docs]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    import rasterio

    from _scenes import make_cog
    from geocot_cli.scene import CHECK_BLOCKS, check_blocks, open_scene

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--write-docs", action="store_true", help="write the table into docs/performance.md")
    args = ap.parse_args()
    path = make_cog(Path(tempfile.gettempdir()) / f"geocot-bench-dense-{args.size}.tif", args.size, sparse=False)
    scene = open_scene(path)
    t_open = best(lambda: open_scene(path))
    t_check = best(lambda: _uncached(check_blocks, scene))
    with rasterio.open(path) as ds:
        blocks = [w for _, w in ds.block_windows(1)]

        def read_all() -> None:
            for w in blocks:
                ds.read(window=w)

        t_all = best(read_all, repeats=1)
    n = min(CHECK_BLOCKS, len(blocks))
    print(f"scene {args.size} x {args.size} px, {len(blocks)} blocks of 512 px, {path.stat().st_size / 1e6:.0f} MB")
    print(f"open_scene (decimated stretch read): {t_open * 1000:.0f} ms")
    print(f"check_blocks ({n} blocks): {t_check * 1000:.0f} ms ({t_check / n * 1000:.1f} ms a block)")
    print(f"reading every block once: {t_all:.1f} s; the check costs {t_check / t_all:.1%} of that")
    if args.write_docs:
        from _figures import publish

        table = [
            "| what | figure |", "|---|---|",
            f"| `check_blocks` before the model: {n} of the {len(blocks)} blocks (512 px, deflate) of a dense "
            f"{args.size:,} x {args.size:,} px 3-band COG, full resolution, warm file cache | **{t_check * 1000:.0f} ms** "
            f"({t_check / n * 1000:.1f} ms a block) |",
            f"| reading every block once (what the run reads anyway) | {t_all:.1f} s: the check is "
            f"**{t_check / t_all:.1%}** of it |",
        ]
        publish("performance.md", "bench_check_blocks", "\n".join(table),
                command=f"python bench/bench_check_blocks.py --size {args.size}")


def _uncached(check, scene):
    """``check(scene)`` measured afresh: a file that passed is otherwise not read again."""
    import geocot_cli.scene as scene_mod

    scene_mod._CHECKED.clear()
    return check(scene)


if __name__ == "__main__":
    main()
