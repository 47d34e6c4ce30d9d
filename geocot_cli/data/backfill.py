"""Backfill Geo-CoT traces from ground truth, the way the paper built Geo-CoT380k.

The reasoning is written *under ground-truth constraints*: the writer is given the true objects and
answer and only explains them, so a trace cannot invent an object. Two writers:

- the default **template writer** (:func:`geocot_cli.data.templates.template_trace`): deterministic,
  varied wording, cites exactly the ground-truth boxes;
- a **model writer** (any :class:`geocot_cli.backends.Backend`, e.g. ``--writer-model``), prompted with
  the question and the ground truth. Its trace is kept only if it verifies
  (:func:`geocot_cli.data.verify.verify_trace`); rejected traces are counted, with their reasons.
  With ``fallback_template`` a rejected sample gets the template trace instead of being dropped.

Three outputs, for the paper's ablation: the SFT set (samples with ``trace``), the no-CoT set (the same
samples, ``trace`` = ``<answer>...</answer>`` only) and the RL set (every usable sample, no trace:
prompt + ground truth for GRPO). Boxes in traces and answers are in ``box_convention`` (the target
model's); the structured ground truth (``boxes``, ``target_box``) stays in pixels, and
``meta.box_convention`` records the convention of the trace.

A count sample with a non-zero count but no boxes is left out (``dropped_unboxed``): a Geo-CoT trace
grounds every counted object, and there is nothing to ground.

``max_objects`` bounds the objects a trace lists (a dense DOTA image such as P0706 has 531 ships):
with ``over_max="drop"`` such samples are left out (counted); with ``"cap"`` vqa, caption, classify and
ground traces list the first ``max_objects`` (in reading order, the grounding target always kept) and
say how many more there are, while count and detect samples are still dropped (their answer must agree
with every grounded box).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..boxes import check_convention, format_box, from_pixels
from ..errors import ConfigError, OutputError
from ..prompts import build_prompt
from ..types import ImageSize
from .schema import Sample, write_samples
from .templates import answer_text, cap_evidence, evidence, nocot_trace, template_trace
from .verify import verify_trace

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..backends.base import Backend

__all__ = [
    "BackfillOptions",
    "BackfillReport",
    "BackfillResult",
    "backfill",
    "backfill_samples",
    "writer_prompt",
]


@dataclass(frozen=True)
class BackfillOptions:
    """How traces are written.

    box_convention: the target model's box convention (pixel, norm1000, norm100, norm1).
    max_objects / over_max: see the module docstring (None: no limit). iou: match threshold for
    verifying a model writer's boxes. batch_size: images per writer-model call. fallback_template:
    give a rejected sample the template trace instead of dropping it from the SFT and no-CoT sets.
    """

    box_convention: str = "pixel"
    max_objects: int | None = None
    over_max: str = "drop"
    iou: float = 0.5
    batch_size: int = 4
    fallback_template: bool = False

    def __post_init__(self) -> None:
        check_convention(self.box_convention)
        if self.max_objects is not None and self.max_objects < 1:
            raise ConfigError(f"max_objects ({self.max_objects}) must be >= 1; try --max-objects 100")
        if self.over_max not in ("drop", "cap"):
            raise ConfigError(f"over_max {self.over_max!r} must be 'drop' or 'cap'")
        if not 0.0 < self.iou <= 1.0:
            raise ConfigError(f"iou ({self.iou}) must be in (0, 1]; try --iou 0.5")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size ({self.batch_size}) must be >= 1")


@dataclass(frozen=True)
class BackfillResult:
    """The three sample sets and what happened on the way."""

    sft: list[Sample]
    nocot: list[Sample]
    rl: list[Sample]
    dropped_max_objects: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    writer: str = "template"
    dropped_unboxed: int = 0


@dataclass(frozen=True)
class BackfillReport:
    """What :func:`backfill` wrote (``to_dict`` for ``--json``)."""

    samples_in: int
    sft: int
    nocot: int
    rl: int
    dropped_max_objects: int
    dropped_unboxed: int
    rejected: int
    reasons: dict[str, int]
    by_task: dict[str, int]
    writer: str
    box_convention: str
    sft_path: Path
    nocot_path: Path
    rl_path: Path

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready values."""
        d = dict(self.__dict__)
        for k in ("sft_path", "nocot_path", "rl_path"):
            d[k] = str(d[k])
        return d


def writer_prompt(sample: Sample, convention: str, image_size: ImageSize,
                  items: Sequence[tuple[tuple[float, ...], str]]) -> str:
    """The prompt a writer model gets: the task prompt, then the ground truth it must explain."""
    q = build_prompt(sample.task, sample.question or None, [items[0][1]] if items else None)
    lines = [f"{i + 1}. {l} {format_box(from_pixels(b, convention, image_size))}" for i, (b, l) in enumerate(items)]
    objects = "\n".join(lines) if lines else "(none: no object of interest is in the image)"
    return (
        f"{q}\n\nYou are writing the reasoning for a training example whose ground truth is known.\n"
        f"Objects (cite exactly these boxes in Grounding, one line each, in this order, and no others):\n"
        f"{objects}\nCorrect answer: {answer_text(sample, convention, image_size)}\n"
        "Write the full trace that reaches this answer from these objects, with the answer in <answer></answer>."
    )


def _load_rgb(path: Path) -> Image.Image:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except Exception:
        import numpy as np
        import rasterio

        with rasterio.open(path) as ds:
            arr = ds.read(indexes=[1, 2, 3] if ds.count >= 3 else [1, 1, 1])
        if arr.dtype != np.uint8:
            lo, hi = np.percentile(arr, (2, 98))
            arr = np.clip((arr - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
        return Image.fromarray(np.moveaxis(arr, 0, 2))


def backfill_samples(
    samples: Sequence[Sample],
    options: BackfillOptions = BackfillOptions(),
    writer: Backend | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> BackfillResult:
    """Write traces for ``samples`` (see the module docstring); ``progress(n)`` after each ``n`` done."""
    from ._common import image_size as read_size

    conv = check_convention(options.box_convention)
    sizes: dict[Path, ImageSize] = {}
    todo: list[tuple[Sample, ImageSize, list, int | None]] = []
    dropped = 0
    unboxed = 0
    for s in samples:
        if s.task == "count" and s.count and not s.boxes:
            unboxed += 1  # a Geo-CoT trace grounds every counted object: nothing to ground
            if progress:
                progress(1)
            continue
        items = evidence(s)
        cap = None
        if options.max_objects is not None and len(items) > options.max_objects:
            if options.over_max == "drop" or s.task in ("count", "detect"):
                dropped += 1
                if progress:
                    progress(1)
                continue
            cap = options.max_objects
            items = cap_evidence(s, items, cap)
        size = s.image_size or sizes.get(s.image) or sizes.setdefault(s.image, read_size(s.image))
        todo.append((s, size, items, cap))
    sft: list[Sample] = []
    nocot: list[Sample] = []
    rl: list[Sample] = []
    reasons: Counter[str] = Counter()
    rejected = 0
    name = "template" if writer is None else getattr(writer, "name", "model")
    texts: list[str | None] = [None] * len(todo)
    if writer is not None:
        for start in range(0, len(todo), options.batch_size):
            chunk = todo[start:start + options.batch_size]
            images = [_load_rgb(s.image) for s, *_ in chunk]
            prompts = [writer_prompt(s, conv, size, items) for s, size, items, _ in chunk]
            texts[start:start + len(chunk)] = writer.generate(images, prompts)
            if progress:
                progress(len(chunk))
    for (s, size, items, cap), text in zip(todo, texts):
        meta = {"box_convention": conv}
        rl.append(s.with_trace(None, **meta))
        trace = None
        if text is not None:
            v = verify_trace(text, s, convention=conv, image_size=size, iou=options.iou,
                             gt_evidence=[b for b, _ in items])
            if v.ok:
                trace = text
                meta["writer"] = name
            else:
                rejected += 1
                reasons.update(r.split(":")[0] if r.startswith("format") else _reason_kind(r) for r in v.reasons)
        if trace is None and (text is None or options.fallback_template):
            trace = template_trace(s, convention=conv, image_size=size, max_objects=cap)
            meta["writer"] = "template"
        if trace is not None:
            sft.append(s.with_trace(trace, **meta))
            nocot.append(s.with_trace(nocot_trace(s, conv, size), box_convention=conv, variant="nocot"))
        if progress and writer is None:
            progress(1)
    return BackfillResult(sft, nocot, rl, dropped, rejected, dict(sorted(reasons.items())), name, unboxed)


def _reason_kind(reason: str) -> str:
    if "match no ground-truth" in reason:
        return "invented boxes"
    if "not cited" in reason:
        return "missed objects"
    if "empty caption" in reason:
        return "empty answer"
    return "wrong answer"


def _default_paths(out: Path) -> tuple[Path, Path]:
    stem = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.stem
    return out.with_name(f"{stem}.nocot.jsonl"), out.with_name(f"{stem}.rl.jsonl")


def backfill(
    out: str | os.PathLike[str],
    samples: Sequence[Sample],
    options: BackfillOptions = BackfillOptions(),
    writer: Backend | None = None,
    *,
    nocot_out: str | os.PathLike[str] | None = None,
    rl_out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BackfillReport:
    """Backfill ``samples`` and write ``out`` (SFT), ``<out>.nocot.jsonl`` and ``<out>.rl.jsonl``."""
    out = Path(out)
    d_nocot, d_rl = _default_paths(out)
    paths = (out, Path(nocot_out) if nocot_out else d_nocot, Path(rl_out) if rl_out else d_rl)
    if len(set(paths)) != 3:
        raise ConfigError("the SFT, no-CoT and RL outputs must be three different files")
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise OutputError(f"{existing[0]} already exists; pass --overwrite or choose another --out")
    res = backfill_samples(samples, options, writer, progress=progress)
    write_samples(paths[0], res.sft)
    write_samples(paths[1], res.nocot)
    write_samples(paths[2], res.rl)
    by_task = dict(sorted(Counter(s.task for s in res.sft).items()))
    return BackfillReport(len(samples), len(res.sft), len(res.nocot), len(res.rl), res.dropped_max_objects,
                          res.dropped_unboxed, res.rejected, res.reasons, by_task, res.writer, options.box_convention, *paths)
