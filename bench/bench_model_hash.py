"""What the model hash in every output's provenance costs (``io.provenance.model_hash``).

Times the hash of the bundled demo model (hashed whole), and of a fake model folder with one
``--gb`` GB weight file (random bytes; written once in the temp folder): hashed whole (sha256 of
every byte: what a folder up to ``FULL_HASH_BYTES`` gets) and sampled (what a larger one gets).
Warm file cache; a cold read is bounded by the disk instead (a 20 GB model at 500 MB/s: 40 s),
which is why large folders are sampled.

Run: .venv/bin/python bench/bench_model_hash.py [--gb 2] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    import geocot_cli.io.provenance as prov
    from geocot_cli.models.demo import DEMO_MODEL_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--write-docs", action="store_true", help="write the table into docs/performance.md")
    args = ap.parse_args()
    size = int(args.gb * 1e9)
    folder = Path(tempfile.gettempdir()) / f"geocot-bench-model-{args.gb:g}gb"
    folder.mkdir(exist_ok=True)
    weights = folder / "model.safetensors"
    if not weights.exists() or weights.stat().st_size != size:
        with open(weights, "wb") as fh:
            for start in range(0, size, 1 << 26):
                fh.write(os.urandom(min(1 << 26, size - start)))
        (folder / "config.json").write_text('{"model_type": "fake"}')
    demo_s, demo = timed(lambda: prov.model_hash(DEMO_MODEL_DIR))
    print(f"demo model ({demo['bytes'] / 1e6:.1f} MB, {demo['files']} files): {demo_s * 1000:.0f} ms, {demo['hash_method']}")
    prov._folder_hash.cache_clear()
    old = prov.FULL_HASH_BYTES
    prov.FULL_HASH_BYTES = 1 << 62  # hash it whole
    whole_s, _ = timed(lambda: prov.model_hash(folder))
    prov.FULL_HASH_BYTES = old
    prov._folder_hash.cache_clear()
    sampled_s, sampled = timed(lambda: prov.model_hash(folder))
    print(f"{args.gb:g} GB weights hashed whole: {whole_s:.2f} s ({size / whole_s / 1e6:.0f} MB/s)")
    print(f"{args.gb:g} GB weights sampled: {sampled_s * 1000:.1f} ms ({sampled['hash_method']})")
    print(f"a folder over {prov.FULL_HASH_BYTES >> 20} MiB is sampled; up to it, at most "
          f"{prov.FULL_HASH_BYTES / (size / whole_s):.1f} s whole")
    if args.write_docs:
        from _figures import publish

        table = [
            "| what | figure |", "|---|---|",
            f"| the bundled demo model ({demo['bytes'] / 1e6:.1f} MB, {demo['files']} files), sha256 of every file | "
            f"**{demo_s * 1000:.0f} ms** |",
            f"| a {args.gb:g} GB weight file, sha256 of every byte (warm file cache) | {whole_s:.2f} s "
            f"({size / whole_s / 1e6:.0f} MB/s) |",
            f"| the same file sampled (a folder over {prov.FULL_HASH_BYTES >> 20} MiB) | **{sampled_s * 1000:.1f} ms** |",
        ]
        publish("performance.md", "bench_model_hash", "\n".join(table),
                command=f"python bench/bench_model_hash.py --gb {args.gb:g}")


if __name__ == "__main__":
    main()
