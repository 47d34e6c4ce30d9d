"""``geocot eval``: score a model on a benchmark, or re-score saved predictions, per task.

``geocot eval --model M --data bench.jsonl --out preds.jsonl`` runs the model and writes every
prediction with its raw trace as it goes (``--resume`` continues a stopped run);
``geocot eval --preds preds.jsonl`` re-scores that file without a model and prints the same figures.
A table per task goes to stdout (or one JSON document with ``--json``); progress goes to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ._common import _load, console, print_json, state, user_errors
from ._options import (
    ApiKeyEnv, BackendOpt, BaseUrl, BatchSize, BoxConventionOpt, Concurrency, Device, Dtype, JsonOpt,
    MaxNewTokens, ModelOpt, Overwrite, RepetitionPenalty, Threads, TrustRemoteCode,
)

__all__ = ["eval_command", "render_report"]

DataOpt = Annotated[Optional[Path], typer.Option("--data", "-d", help="Benchmark sample JSONL to run the model on.")]
PredsOpt = Annotated[Optional[Path], typer.Option("--preds", help="Re-score this predictions file (written by --out) without a model.")]
PredsOut = Annotated[Optional[Path], typer.Option("--out", "-o", help="Predictions file (JSONL) written as the run goes.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue a stopped run: keep the predictions already in --out.")]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", help="Evaluate only the first N samples (a quick run).")]
MeteorOpt = Annotated[bool, typer.Option("--meteor/--no-meteor", help="Compute caption METEOR (starts Java; a few seconds).")]


def eval_command(
    model: ModelOpt = None,
    data: DataOpt = None,
    out: PredsOut = None,
    preds: PredsOpt = None,
    json_out: JsonOpt = False,
    resume: ResumeOpt = False,
    overwrite: Overwrite = False,
    limit: LimitOpt = None,
    batch_size: BatchSize = 4,
    box_convention: BoxConventionOpt = None,
    meteor: MeteorOpt = True,
    backend: BackendOpt = "hf",
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    concurrency: Concurrency = 4,
    max_new_tokens: MaxNewTokens = 1024,
    repetition_penalty: RepetitionPenalty = None,
    device: Device = "auto",
    dtype: Dtype = "auto",
    trust_remote_code: TrustRemoteCode = False,
    threads: Threads = None,
) -> None:
    """Score a model on a benchmark (--data, --out), or re-score saved predictions (--preds)."""
    with user_errors():
        from ..errors import ConfigError

        if preds is not None:
            given = [
                flag for flag, value in (("--data", data), ("--out", out), ("--model", model), ("--resume", resume),
                                         ("--overwrite", overwrite), ("--limit", limit)) if value
            ]
            if given:
                raise ConfigError(
                    f"--preds re-scores a saved file without a model; drop {', '.join(given)} "
                    "(or drop --preds to run a model)"
                )
            from ..evaluate import score_predictions

            report = score_predictions(preds, meteor=meteor)
        else:
            if data is None:
                raise ConfigError("pass --data bench.jsonl --out preds.jsonl to run a model, or --preds preds.jsonl to re-score")
            if out is None:
                raise ConfigError("pass --out preds.jsonl: every prediction is written there as the run goes")
            if limit is not None and limit <= 0:
                raise ConfigError(f"--limit {limit} must be > 0; leave it out to evaluate every sample")
            report = _run(
                data, out, limit=limit, resume=resume, overwrite=overwrite, meteor=meteor, threads=threads,
                backend_kw=dict(
                    model=model, backend=backend, base_url=base_url, api_key_env=api_key_env,
                    concurrency=concurrency, box_convention=box_convention, device=device, dtype=dtype,
                    trust_remote_code=trust_remote_code, batch_size=batch_size,
                    max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty,
                ),
            )
        if json_out:
            print_json(report.to_dict())
        else:
            render_report(report)


def _run(data: Path, out: Path, *, limit, resume, overwrite, meteor, backend_kw: dict[str, Any], threads=None):
    from ..config import BackendOptions, GenerationOptions
    from ..data.schema import load_samples
    from ..evaluate import check_output, evaluate

    gen = GenerationOptions(**{k: backend_kw.pop(k) for k in ("batch_size", "max_new_tokens", "repetition_penalty")})
    options = BackendOptions(generation=gen, **backend_kw)
    samples = load_samples(data)  # a bad benchmark fails before the model loads
    check_output(out, resume=resume, overwrite=overwrite)
    model = _load(options, threads)  # says so when it is the bundled demo model
    with _progress(f"eval {data.name}") as update:
        report = evaluate(
            model, samples, out_path=out, limit=limit, resume=resume, overwrite=overwrite,
            batch_size=gen.batch_size, meteor=meteor, progress=update,
        )
    console.print(f"{report.n} predictions in {out}; re-score with: geocot eval --preds {out}")
    return report


class _progress:
    """A progress bar on stderr driven by ``update(done, total)``; plain lines when stderr is no
    terminal; silent under --quiet."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar = None
        self.task = None

    def __enter__(self):
        self.lines, self.done = None, (0, None)
        if not state.quiet and console.is_terminal:
            from rich.progress import Progress

            self.bar = Progress(console=console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=None)
        elif not state.quiet:  # a log: plain lines (see _progress)
            from rich.markup import escape

            from ._progress import LinePacer

            self.lines = LinePacer(self.description, lambda line: console.print(escape(line), soft_wrap=True),
                                   unit="samples")
        return self.update

    def update(self, done: int, total: int) -> None:
        self.done = (done, total)
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)
        if self.lines is not None:
            self.lines.update(done, total)

    def __exit__(self, exc_type, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
        if self.lines is not None and exc_type is None:
            self.lines.finish(*self.done)


# ------------------------------------------------------------------------------------------ render
_PLAIN = {"mae", "cider"}  # shown as numbers; every other metric is a fraction shown as a percentage
_LABELS = {
    "score": "score (1 / 0.6 / 0)", "accuracy": "accuracy", "acc50": "Acc@0.5", "miou": "mean IoU",
    "mae": "MAE", "map50": "mAP@0.5", "bleu1": "BLEU-1", "bleu2": "BLEU-2", "bleu3": "BLEU-3",
    "bleu4": "BLEU-4", "meteor": "METEOR", "rouge_l": "ROUGE-L", "cider": "CIDEr",
}


def format_metric(name: str, value: float | None) -> str:
    """How a figure is printed: percentages with 2 decimals, MAE and CIDEr with 4; ``-`` when undefined.

    >>> format_metric("acc50", 0.904), format_metric("mae", 0.242), format_metric("map50", None)
    ('90.40%', '0.2420', '-')
    """
    if value is None:
        return "-"
    return f"{value:.4f}" if name in _PLAIN else f"{100 * value:.2f}%"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def render_report(report) -> None:
    """Print a rich table per task, then the faithfulness audit, on stdout."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    # a terminal's own width; a file or pipe gets room for every column (rich would assume 80)
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
    out = Console(file=sys.stdout, highlight=False, soft_wrap=True, width=width)
    if not report.tasks:
        out.print("no predictions to score")
        return
    for t in report.tasks:
        table = Table(title=f"{t.task}  (n={t.n}, unparsed {t.unparsed})", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in t.metrics.items():
            table.add_row(_LABELS.get(name, name), format_metric(name, value))
        out.print(table, markup=False)
        for note in t.notes:
            out.print(f"  note: {note}", markup=False)
    audit = Table(title=f"faithfulness audit  (n={report.n})", title_justify="left", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False, collapse_padding=True)
    for col in ("task", "format", "answer", "consistent", "precision", "cited", "dup", "outside", "invalid", "other"):
        audit.add_column(col, justify="left" if col == "task" else "right", no_wrap=True)
    rows = [(t.task, t.audit) for t in report.tasks] + [("all", report.audit)]
    for name, a in rows:
        audit.add_row(
            name, _pct(a.format_ok), _pct(a.answered),
            "-" if a.consistent is None else f"{_pct(a.consistent)} /{a.consistency_checked}",
            _pct(a.cited_precision), str(a.cited_boxes), str(a.duplicates), str(a.out_of_image),
            str(a.invalid_boxes), str(a.off_class),
        )
    out.print(audit)
    out.print(
        "  format: full Geo-CoT trace; answer: an answer could be read; consistent: answer equals the "
        "grounded evidence (of N checked); precision: distinct cited boxes matching ground truth at "
        "IoU >= 0.5, of 'cited'; dup / outside / invalid: cited boxes repeated, beyond the image, malformed; "
        "other: count/detect boxes labelled with a class other than the one asked (left out of 'consistent')",
        markup=False,
    )
