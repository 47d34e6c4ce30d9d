"""Training samples, checked up front, and the deterministic order they are visited in.

:func:`load_training_samples` reads a sample JSONL and checks **every** sample before any model is
loaded: a malformed line, an unknown task, a missing image, a sample without a trace (for SFT), a
trace written in another box convention than the model's. Each error names the file and the line.

:func:`epoch_plan` fixes the order of an epoch from ``(seed, epoch)`` alone, so a data position is just
``(epoch, step)`` and a resumed run sees exactly the batches the uninterrupted run would have seen.

>>> plan = epoch_plan(5, batch_size=2, accum=1, seed=0, epoch=0)
>>> sorted(i for step in plan for mb in step for i in mb)
[0, 1, 2, 3, 4]
>>> epoch_plan(5, batch_size=2, accum=1, seed=0, epoch=0) == plan
True
"""

from __future__ import annotations

from ..prompts import sample_prompt  # noqa: F401  (one prompt for eval and training)

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..data.schema import Sample, load_samples
from ..errors import DataError

__all__ = ["TrainingSet", "epoch_plan", "load_training_samples", "sample_prompt", "split_holdout", "steps_per_epoch"]


@dataclass(frozen=True)
class TrainingSet:
    """Checked samples of one JSONL file, with the line each came from."""

    path: Path
    samples: tuple[Sample, ...]
    lines: tuple[int, ...]
    classify_classes: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def where(self, i: int) -> str:
        """``file:line (id)`` of sample ``i``, for messages."""
        return f"{self.path}:{self.lines[i]} ({self.samples[i].name})"


def _line_numbers(path: Path) -> list[int]:
    with path.open(encoding="utf-8") as fh:
        return [n for n, line in enumerate(fh, 1) if line.strip()]


def load_training_samples(
    path: str | os.PathLike[str],
    *,
    need_trace: bool,
    box_convention: str | None = None,
    check_images: bool = True,
) -> TrainingSet:
    """Read and check every sample of ``path``; raise :class:`DataError` naming the first bad line.

    need_trace: every sample must carry a Geo-CoT ``trace`` (SFT). box_convention: the model's; a
    trace whose ``meta.box_convention`` differs would teach the model the wrong coordinates.
    check_images: every image must exist and open (its header is read, not its pixels).
    """
    p = Path(path)
    samples = load_samples(p)  # malformed JSON, unknown task, bad fields: DataError with the line
    if not samples:
        raise DataError(f"{p} holds no samples; write some with `geocot data synth` + `geocot data backfill`")
    lines = _line_numbers(p)
    opened: dict[Path, str | None] = {}
    for i, s in enumerate(samples):
        where = f"{p}:{lines[i]} ({s.name})"
        if need_trace and not (s.trace or "").strip():
            raise DataError(
                f"{where}: no trace to train on; SFT needs Geo-CoT traces: run `geocot data backfill` "
                "and train on its output (or its .nocot.jsonl for answer-only SFT)")
        conv = s.meta.get("box_convention") if isinstance(s.meta, dict) else None
        if need_trace and box_convention and conv and conv != box_convention:
            raise DataError(
                f"{where}: the trace writes boxes in {conv} but the model reads {box_convention}; backfill "
                f"again with --box-convention {box_convention} (or --target-model), or pass --box-convention {conv}")
        if check_images:
            img = Path(s.image)
            if img not in opened:
                opened[img] = _check_image(img)
            if opened[img] is not None:
                raise DataError(f"{where}: {opened[img]}")
    classes = sorted({s.cls or s.answer for s in samples if s.task == "classify"}) or None
    return TrainingSet(p, tuple(samples), tuple(lines), tuple(classes) if classes else None)


def _check_image(path: Path) -> str | None:
    """None if the image opens, else what is wrong (and how to fix it)."""
    if not path.is_file():
        return f"image {path} not found; fix the image path (relative paths are read from the JSONL's folder)"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return None
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    try:
        import rasterio

        with rasterio.open(path):
            return None
    except Exception:
        return f"image {path} cannot be read as an image or raster; replace the file"


def split_holdout(data: TrainingSet, fraction: float, seed: int) -> tuple[TrainingSet, TrainingSet | None]:
    """Hold out ``fraction`` of the samples (at least one) for evaluation, chosen by ``seed``.

    >>> from geocot_cli.data.schema import Sample
    >>> s = tuple(Sample(image=Path(f"/{i}.png"), task="count", count=i) for i in range(10))
    >>> train, held = split_holdout(TrainingSet(Path("d.jsonl"), s, tuple(range(1, 11))), 0.2, seed=0)
    >>> len(train), len(held)
    (8, 2)
    """
    if not fraction:
        return data, None
    n = len(data)
    k = max(1, round(n * fraction))
    if k >= n:
        raise DataError(f"eval_fraction {fraction} leaves no training sample of the {n} in {data.path}; lower it")
    held = sorted(random.Random(seed).sample(range(n), k))
    chosen = set(held)

    def subset(idx: list[int]) -> TrainingSet:
        return TrainingSet(data.path, tuple(data.samples[i] for i in idx), tuple(data.lines[i] for i in idx),
                           data.classify_classes)

    return subset([i for i in range(n) if i not in chosen]), subset(held)


def steps_per_epoch(n: int, *, batch_size: int, accum: int, world: int = 1) -> int:
    """Optimiser steps in one epoch of ``n`` samples (an incomplete last step still counts).

    >>> steps_per_epoch(10, batch_size=2, accum=2), steps_per_epoch(10, batch_size=2, accum=1, world=2)
    (3, 2)
    """
    micro = -(-n // batch_size)
    per_rank = micro // world if world > 1 else micro
    if per_rank < 1:
        raise DataError(f"{n} samples cannot give every one of {world} processes a batch of {batch_size}; "
                        "use fewer processes or a smaller --batch-size")
    return -(-per_rank // accum)


def epoch_plan(
    n: int, *, batch_size: int, accum: int, seed: int, epoch: int, world: int = 1, rank: int = 0
) -> list[list[list[int]]]:
    """This process's steps of one epoch: ``steps[i]`` is a list of micro-batches of sample indexes.

    The order is a permutation drawn from ``(seed, epoch)`` only. Micro-batches are dealt to the
    ``world`` processes in turn; a tail that cannot give every process a micro-batch is dropped, so
    all processes take the same number of steps.
    """
    order = list(range(n))
    random.Random(f"geocot-{seed}-{epoch}").shuffle(order)
    micro = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if world > 1:
        micro = micro[: len(micro) // world * world][rank::world]
    return [micro[i:i + accum] for i in range(0, len(micro), accum)]
