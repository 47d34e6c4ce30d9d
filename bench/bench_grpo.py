"""GRPO speed: geocot's own loop against TRL's ``GRPOTrainer``, same tiny model, data and rewards, one run.

Run: ``.venv/bin/python bench/bench_grpo.py [--steps 6] [--prompts 2] [--generations 4] [--tokens 32]``.
TRL is a bench dependency only (``pip install trl``); without it the geocot figures are printed and
the TRL side says why it was skipped.

Both trainers get the tiny random GLM-4.1V model (``build_tiny_model``), the same synthetic samples
(``geocot data synth``), the same reward functions (geocot's, which have TRL's signature), ``k``
completions for each of ``--prompts`` prompts per step, at most ``--tokens`` new tokens, one update
per step (``num_iterations`` 1), beta 0.04, on the CPU with the same number of torch threads. The
first step of each (warm-up) is not timed; the trainers run in alternating rounds (``--rounds``) and
the median step time is reported. Printed: seconds per step, completions per second (k x
prompts / step time), generated tokens per second, mean completion length, and the ratios
geocot / TRL (> 1: geocot is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _rewards():
    from geocot_cli.train.rewards import count_reward, format_reward, vqa_reward

    return [count_reward, vqa_reward, format_reward]


def _data(folder: Path, scenes: int) -> Path:
    """Count and vqa samples of synthetic scenes (the tasks whose rewards both trainers get)."""
    from geocot_cli.data.schema import load_samples, write_samples
    from geocot_cli.data.synth import SynthOptions, synthesize

    rep = synthesize(folder, SynthOptions(n=scenes, size=64, seed=0))
    keep = [s for s in load_samples(rep.ground_truth) if s.task in ("count", "vqa")]
    path = folder / "rl.jsonl"
    write_samples(path, keep)
    return path


def run_geocot(model: Path, data: Path, out: Path, args) -> dict:
    from geocot_cli.train.config import GRPOOptions
    from geocot_cli.train.grpo import train_grpo
    from geocot_cli.train.rewards import WeightedReward

    stamps: list[float] = []
    opts = GRPOOptions(model=str(model), data=str(data), out=str(out), cpu=True, max_steps=args.steps,
                       batch_size=args.prompts, num_generations=args.generations, max_new_tokens=args.tokens,
                       learning_rate=1e-5, lr_schedule="constant", beta=0.04, num_iterations=1, seed=0)
    rewards = [WeightedReward(f.__name__, f, 1.0) for f in _rewards()]
    result = train_grpo(opts, reward_funcs=rewards, progress=lambda s, t, r: stamps.append(time.perf_counter()))
    steps = [r for r in result.history if not r.get("final")]
    times = [b - a for a, b in zip(stamps, stamps[1:])]  # step 1 (warm-up) is not timed
    return {"step_s": statistics.median(times), "length": statistics.mean(r["completion_length"] for r in steps[1:]),
            "gen_share": statistics.mean(r["gen_time"] / r["step_time"] for r in steps[1:])}


def run_trl(model: Path, data: Path, out: Path, args) -> dict:
    import torch
    from datasets import Dataset
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor, PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from geocot_cli.data.schema import load_samples
    from geocot_cli.train.dataset import sample_prompt

    rows = []
    for s in load_samples(data):
        with Image.open(s.image) as im:
            image = im.convert("RGB")
        rows.append({
            "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": sample_prompt(s)}]}],
            "image": image, "task": s.task, "answer": s.answer, "count": s.count,
            "image_size": list(image.size), "box_convention": "pixel",
        })
    dataset = Dataset.from_list(rows)
    processor = AutoProcessor.from_pretrained(model)
    policy = AutoModelForImageTextToText.from_pretrained(model, dtype=torch.float32)
    stamps: list[float] = []
    lengths: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            stamps.append(time.perf_counter())

        def on_log(self, _args, _state, _control, logs=None, **k):
            if logs and "completions/mean_length" in logs:
                lengths.append(float(logs["completions/mean_length"]))

    config = GRPOConfig(
        output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.prompts * args.generations,
        num_generations=args.generations, max_completion_length=args.tokens, learning_rate=1e-5,
        lr_scheduler_type="constant", beta=0.04, num_iterations=1, temperature=1.0, use_cpu=True, bf16=False,
        logging_steps=1, save_strategy="no", report_to="none", seed=0, gradient_accumulation_steps=1,
        dataloader_num_workers=0, disable_tqdm=True, remove_unused_columns=False,
        gradient_checkpointing=False,  # TRL turns it on by default; geocot's loop runs without it
    )
    trainer = GRPOTrainer(model=policy, reward_funcs=_rewards(), args=config, train_dataset=dataset,
                          processing_class=processor, callbacks=[Clock()])
    trainer.remove_callback(PrinterCallback)  # keep stdout for the figures
    trainer.train()
    times = [b - a for a, b in zip(stamps, stamps[1:])]
    return {"step_s": statistics.median(times),
            "length": statistics.mean(lengths[1:]) if len(lengths) > 1 else float("nan")}


def _params(model: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(model / "model.safetensors"), "pt") as f:
        return sum(f.get_slice(k).get_shape().numel() if hasattr(f.get_slice(k).get_shape(), "numel")
                   else _prod(f.get_slice(k).get_shape()) for k in f.keys())


def _prod(shape) -> int:
    n = 1
    for v in shape:
        n *= int(v)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6, help="GRPO steps per trainer (the first is warm-up)")
    ap.add_argument("--prompts", type=int, default=2, help="prompts per step")
    ap.add_argument("--generations", type=int, default=4, help="completions per prompt (k)")
    ap.add_argument("--tokens", type=int, default=32, help="most new tokens per completion")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (both trainers)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs of each trainer (median taken)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    ap.add_argument("--write-docs", action="store_true", help="write the figures into docs/performance.md")
    args = ap.parse_args()
    import warnings

    import torch
    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore", category=FutureWarning)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    from geocot_cli.models.tiny import build_tiny_model

    rows = args.prompts * args.generations
    runs: dict[str, list[dict]] = {"geocot": [], "trl": []}
    trl_error = None
    with tempfile.TemporaryDirectory(prefix="geocot-bench-grpo-") as tmp:
        root = Path(tmp)
        model = build_tiny_model(root / "model")
        data = _data(root / "data", scenes=max(4, args.steps * args.prompts))
        print(f"GRPO bench: tiny GLM-4.1V ({_params(model) / 1e6:.2f}M parameters), {args.steps} steps x "
              f"{args.prompts} prompts x k={args.generations} completions, <= {args.tokens} new tokens, CPU, "
              f"{args.threads} torch thread(s), {args.rounds} alternating round(s); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
        try:
            import trl
        except ImportError:
            trl, trl_error = None, "TRL is not installed (pip install trl): TRL side skipped"
        for r in range(args.rounds):  # alternate, so a busy machine slows both alike
            runs["geocot"].append(run_geocot(model, data, root / f"geocot{r}", args))
            if trl is not None and trl_error is None:
                try:
                    runs["trl"].append(run_trl(model, data, root / f"trl{r}", args))
                except Exception as exc:  # say precisely why TRL could not drive this model
                    trl_error = f"TRL {trl.__version__} GRPOTrainer failed on this VLM: {type(exc).__name__}: {exc}"
    figures = {name: {"step_s": statistics.median(x["step_s"] for x in rs),
                      "length": statistics.mean(x["length"] for x in rs),
                      **({"gen_share": statistics.mean(x["gen_share"] for x in rs)} if "gen_share" in rs[0] else {})}
               for name, rs in runs.items() if rs}
    for name, f in figures.items():
        cps = rows / f["step_s"]
        f["completions_per_s"] = cps
        f["tokens_per_s"] = cps * f["length"]
        extra = f", generation {100 * f['gen_share']:.0f}% of a step" if "gen_share" in f else ""
        print(f"{name:7s} {f['step_s']:.3f} s/step  {cps:.1f} completions/s  {f['tokens_per_s']:.0f} tokens/s  "
              f"mean completion {f['length']:.1f} tokens{extra}")
    if "trl" in figures:
        g, t = figures["geocot"], figures["trl"]
        print(f"ratio geocot/TRL: {t['step_s'] / g['step_s']:.2f}x steps/s, "
              f"{g['completions_per_s'] / t['completions_per_s']:.2f}x completions/s, "
              f"{g['tokens_per_s'] / t['tokens_per_s']:.2f}x tokens/s (> 1: geocot faster)")
    else:
        print(trl_error)
    if args.json:
        print(json.dumps({"figures": figures, "trl_error": None if "trl" in figures else trl_error}))
    if args.write_docs:
        from _figures import publish

        g = figures["geocot"]
        if "trl" in figures:
            t = figures["trl"]
            figure = (f"{g['step_s']:.2f} vs {t['step_s']:.2f} s/step: **{g['completions_per_s'] / t['completions_per_s']:.2f}x** "
                      f"completions/s ({g['completions_per_s']:.1f} vs {t['completions_per_s']:.1f})")
            against = f"geocot's loop vs TRL {trl.__version__} `GRPOTrainer`"
        else:
            figure = f"{g['step_s']:.2f} s/step, {g['completions_per_s']:.1f} completions/s (TRL side: {trl_error})"
            against = "geocot's loop"
        publish("performance.md", "bench_grpo", "\n".join([
            "| what | figure |",
            "|---|---|",
            f"| GRPO step, {against} (tiny model, same rewards, k={args.generations}, {args.prompts} prompts, "
            f"<= {args.tokens} tokens, {args.threads} torch thread(s)) | {figure} |",
        ]), command=f"python bench/bench_grpo.py --steps {args.steps} --rounds {args.rounds} (needs pip install trl)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
