"""The paper's ablation in miniature: evaluate several models on one held-out set, print one table.

    python train/ablation.py --data out/demo-model/heldout/ground_truth.jsonl --out out/demo-model/ablation \
        base=out/demo-model/base "SFT, no CoT=out/demo-model/sft-nocot" \
        "SFT, CoT=out/demo-model/sft" "SFT, CoT + GRPO=out/demo-model/grpo"

Each ``LABEL=MODEL`` is run with ``geocot eval`` (its predictions are kept in ``--out``, so
``--resume`` continues and ``geocot eval --preds`` re-scores them); the table (markdown) goes to
stdout and to ``--out/ablation.md``, the raw figures to ``--out/ablation.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

COLUMNS = (
    ("count acc.", lambda d: _metric(d, "count", "accuracy")),
    ("ground Acc@0.5", lambda d: _metric(d, "ground", "acc50")),
    ("detect mAP@0.5", lambda d: _metric(d, "detect", "map50")),
    ("cited-box precision", lambda d: d["audit"].get("cited_precision")),
    ("classify acc.", lambda d: _metric(d, "classify", "accuracy")),
    ("VQA acc.", lambda d: _metric(d, "vqa", "accuracy")),
    ("caption CIDEr", lambda d: _metric(d, "caption", "cider", percent=False)),
    ("format valid", lambda d: d["audit"].get("format_ok")),
    ("answer-evidence consistent", lambda d: d["audit"].get("consistent")),
)


def _metric(doc: dict, task: str, name: str, percent: bool = True):
    metrics = doc["tasks"].get(task, {}).get("metrics", {})
    value = metrics.get(name)
    if value is None and name == "map50":
        value = next((v for k, v in metrics.items() if k.lower().startswith("map")), None)
    return value if percent or value is None else ("raw", value)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return f"{value[1]:.2f}"
    return f"{100 * value:.1f}%"


def evaluate(label: str, model: str, data: Path, out: Path, extra: list[str]) -> dict:
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    preds = out / f"{slug}.preds.jsonl"
    cmd = ["geocot", "eval", "--model", model, "--data", str(data), "--out", str(preds), "--json", *extra]
    cmd += ["--resume"] if preds.exists() else []
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"geocot eval failed for {label} ({model}): {done.stderr.strip().splitlines()[-1:]}")
    doc = json.loads(done.stdout)
    doc["seconds"] = round(time.monotonic() - start, 1)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="LABEL=MODEL pairs, in table order")
    parser.add_argument("--data", required=True, type=Path, help="held-out samples (JSONL)")
    parser.add_argument("--out", required=True, type=Path, help="folder for predictions and the table")
    parser.add_argument("--max-new-tokens", default="320")
    parser.add_argument("--batch-size", default="16")
    parser.add_argument("--repetition-penalty", default=None,
                        help="decode every arm with this (default: each model's own, else 1.1)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    extra = ["--max-new-tokens", args.max_new_tokens, "--batch-size", args.batch_size, "--no-meteor"]
    if args.repetition_penalty is not None:
        extra += ["--repetition-penalty", args.repetition_penalty]
    rows, raw = [], {}
    for item in args.models:
        label, _, model = item.partition("=")
        if not model:
            sys.exit(f"{item!r} is not LABEL=MODEL")
        doc = evaluate(label, model, args.data, args.out, extra)
        raw[label] = doc
        rows.append([label, *(_cell(f(doc)) for _, f in COLUMNS)])
        print(f"{label}: {doc['n']} samples in {doc['seconds']} s", file=sys.stderr)
    header = ["model", *(name for name, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines) + "\n"
    n = next(iter(raw.values()))["n"]
    table += f"\n{n} held-out samples ({args.data}), greedy decoding, max {args.max_new_tokens} new tokens"
    table += ".\n" if args.repetition_penalty is None else f", repetition penalty {args.repetition_penalty}.\n"
    sys.stdout.write(table)
    (args.out / "ablation.md").write_text(table, encoding="utf-8")
    (args.out / "ablation.json").write_text(json.dumps(raw, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
