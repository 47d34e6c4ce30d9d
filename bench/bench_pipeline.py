"""Generation and pipeline figures with the tiny Glm4v model on the CPU.

1. Batched generation against sequential tiles (the same tiles, the same model, greedy decoding
   of a fixed number of new tokens): tiles/s and the ratio (target >= 3x).
2. Pipeline overhead: a detect run on a multi-tile scene, wall time against the time spent inside
   the model call (``backend.generate``, the processor included); overhead = everything else
   (tile reads, prompt, parsing, audit, georeferencing, seam de-duplication, assembly, journal,
   GeoPackage) as a share of wall time (target <= 5%). A one-tile run first pays the one-time
   costs of a process (importing geopandas and pyogrio, GDAL driver set-up), printed on their own.

Run: .venv/bin/python bench/bench_pipeline.py [--write-docs]
(``--write-docs`` also writes the figures into ``docs/performance.md``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))


class Timed:
    """Wraps a backend and adds up the seconds spent inside ``generate``."""

    def __init__(self, inner):
        self.inner, self.seconds, self.calls = inner, 0.0, 0
        self.box_convention, self.name = inner.box_convention, inner.name

    def generate(self, images, prompts):
        t = time.perf_counter()
        try:
            return self.inner.generate(images, prompts)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


def main() -> None:
    import numpy as np
    import torch
    from PIL import Image

    from geocot_cli.api import answer_scene
    from geocot_cli.backends.hf import HFBackend
    from geocot_cli.config import GenerationOptions, TilingOptions
    from geocot_cli.models.tiny import build_tiny_model

    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="geocot-bench-"))
    model = build_tiny_model(tmp / "tiny")
    n_tiles, new_tokens = 32, 32
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)) for _ in range(n_tiles)]
    prompt = "How many ships are in the image?"
    print(f"tiny Glm4v ({model}), {n_tiles} tiles of 64 px, {new_tokens} new tokens each, torch threads {torch.get_num_threads()}")

    rates = {}
    for batch in (1, 8, 32):
        gen = GenerationOptions(max_new_tokens=new_tokens, batch_size=batch)
        backend = HFBackend(model, device="cpu", generation=gen)
        backend.model.generation_config.min_new_tokens = new_tokens  # same work whatever the text
        backend.generate(images[:batch], [prompt] * batch)  # warm-up
        t = time.perf_counter()
        backend.generate(images, [prompt] * n_tiles)
        rates[batch] = n_tiles / (time.perf_counter() - t)
        print(f"  batch {batch:3d}: {rates[batch]:7.1f} tiles/s")
    print(f"  batched (32) / sequential     : {rates[32] / rates[1]:7.2f}x   (target >= 3x)")

    from _scenes import make_cog

    scene = make_cog(tmp / "scene.tif", 2400, sparse=False)
    backend = Timed(HFBackend(model, device="cpu", generation=GenerationOptions(max_new_tokens=new_tokens, batch_size=8)))
    backend.inner.model.generation_config.min_new_tokens = new_tokens

    def run(path: Path, name: str) -> tuple[float, float, int]:
        """Wall seconds of one detect run writing a journal and a GeoPackage, seconds inside the
        model call, tiles."""
        backend.seconds = 0.0
        t = time.perf_counter()
        answer, _ = answer_scene(path, "detect", backend=backend, tiling=TilingOptions(400, 80), batch_size=8,
                                 out=tmp / f"{name}.gpkg", journal=tmp / f"{name}.journal.jsonl")
        return time.perf_counter() - t, backend.seconds, answer.tiles_total

    # The first run in a process also imports the GIS writers (geopandas, pandas, pyproj, pyogrio)
    # and sets GDAL's drivers up: paid once per process, reported on its own line.
    small = make_cog(tmp / "small.tif", 400, sparse=False)
    wall, inside, _ = run(small, "first")
    first_overhead = wall - inside
    wall, inside, n = run(scene, "out")
    overhead = wall - inside
    print(f"pipeline, 2400 px scene, {n} tiles of 400 px, batch 8, journal + GeoPackage written:")
    print(f"  first run in the process (1 tile): {first_overhead:5.2f} s outside the model (one-time imports)")
    print(f"  wall {wall:6.2f} s, inside the model {inside:6.2f} s, everything else {overhead:5.2f} s")
    print(f"  overhead share                : {100 * overhead / wall:6.1f} %   (target <= 5%)")
    if "--write-docs" in sys.argv[1:]:
        from _figures import publish

        share = 100 * overhead / wall
        publish("performance.md", "bench_pipeline", "\n".join([
            "| what | figure | target |",
            "|---|---|---|",
            f"| batched generation vs sequential tiles (tiny Glm4v, CPU, {n_tiles} tiles of 64 px, {new_tokens} new "
            f"tokens) | {rates[32]:.1f} vs {rates[1]:.1f} tiles/s = **{rates[32] / rates[1]:.1f}x**"
            f"{'' if rates[32] / rates[1] >= 3 else ' (missed)'} | >= 3x |",
            f"| pipeline overhead (everything but the model call), tiny Glm4v, {n} tiles of 400 px, journal + "
            f"GeoPackage | {overhead:.2f} s of {wall:.2f} s = **{share:.1f}%**{'' if share <= 5 else ' (missed)'} in "
            f"steady state, plus {first_overhead:.2f} s of one-time imports in a fresh process, printed apart | <= 5% |",
        ]), command="python bench/bench_pipeline.py")


if __name__ == "__main__":
    main()
