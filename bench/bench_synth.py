"""Throughput of ``geocot data synth``: samples per second, against the target of 1,000 samples a minute.

Run: ``.venv/bin/python bench/bench_synth.py [--samples 1000] [--size 128] [--seed 0] [--write-docs]``.
It draws as many scenes as it takes to reach ``--samples`` samples (one scene gives up to six, one
per task) into a temporary folder, writing GeoTIFFs and ground_truth.jsonl exactly as the CLI does,
and prints the wall time, samples/s, and the ratio of the 60 s target to the time taken (>1 is
faster than the target). ``--write-docs`` also writes the figures into ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from geocot_cli.data.synth import SynthOptions, synthesize

TARGET_SECONDS = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000, help="samples to make (default 1000)")
    ap.add_argument("--size", type=int, default=128, help="scene side in pixels (default 128)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write-docs", action="store_true", help="write the figures into docs/performance.md")
    args = ap.parse_args()
    scenes = -(-args.samples * 10 // 58)  # about 5.8 samples per scene (an empty scene has no ground sample)
    with tempfile.TemporaryDirectory() as tmp:
        # a first scene warms the imports (rasterio, GDAL drivers) outside the timing
        synthesize(os.path.join(tmp, "warm"), SynthOptions(n=1, size=args.size, seed=args.seed))
        t0 = time.perf_counter()
        rep = synthesize(os.path.join(tmp, "run"), SynthOptions(n=scenes, size=args.size, seed=args.seed))
        dt = time.perf_counter() - t0
    rate = rep.samples / dt
    t1000 = 1000 / rate
    print(f"synth: {rep.scenes} scenes of {args.size} px, {rep.objects} objects, {rep.samples} samples "
          f"in {dt:.2f} s on {os.cpu_count()} CPU(s)")
    print(f"{rate:.0f} samples/s ({rep.scenes / dt:.1f} scenes/s); 1,000 samples in {t1000:.1f} s; "
          f"ratio to the 60 s target: {TARGET_SECONDS / t1000:.1f}x")
    if args.write_docs:
        from _figures import publish

        publish("performance.md", "bench_synth", "\n".join([
            "| what | figure | target |",
            "|---|---|---|",
            f"| synthetic samples (`data synth`, {args.size} px scenes) | **{rate:.0f} samples/s**: 1,000 samples in "
            f"{t1000:.1f} s ({rep.scenes} scenes, {rep.samples} samples in {dt:.2f} s) | 1,000 in < 60 s |",
        ]), command=f"python bench/bench_synth.py --samples {args.samples} --size {args.size} --seed {args.seed}")


if __name__ == "__main__":
    main()
