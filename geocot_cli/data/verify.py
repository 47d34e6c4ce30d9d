"""Check a Geo-CoT trace against a sample's ground truth (how backfill keeps only faithful traces).

A trace **verifies** when it has the full format, the boxes of its Grounding section match the
ground-truth evidence boxes one to one at IoU >= 0.5 (every cited box is a true object and every
true object is cited), and its answer equals the ground truth: the same count, the same class or
short answer (after :func:`geocot_cli.metrics.normalize_answer`), a grounding box at IoU >= 0.5 with
the target, detection boxes matching the true boxes one to one. A caption answer needs only to be
non-empty (free text cannot be "equal").

>>> from pathlib import Path
>>> from geocot_cli.data.schema import Sample
>>> s = Sample(image=Path("/a.png"), task="count", question="How many ships?", count=1,
...            boxes=((10, 10, 20, 20),), labels=("ship",), image_size=(100, 100))
>>> ok = "<think>Planning: count.\\nGrounding:\\n1. ship [10,10,20,21]: a ship.\\nSynthesis: 1.</think><answer>1</answer>"
>>> verify_trace(ok, s).ok
True
>>> verify_trace(ok.replace("<answer>1", "<answer>2"), s).reasons
('answer 2 is not the ground truth 1',)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..metrics import box_iou, normalize_answer
from ..types import ImageSize, PixelBox
from .schema import Sample
from .templates import evidence

__all__ = ["Verdict", "match_count", "verify_trace"]


@dataclass(frozen=True)
class Verdict:
    """Whether a trace verifies (``ok``), and why not (``reasons``, short sentences)."""

    ok: bool
    reasons: tuple[str, ...] = ()


def match_count(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], iou: float = 0.5) -> int:
    """Size of a maximum one-to-one matching between ``a`` and ``b`` with IoU >= ``iou``.

    >>> match_count([(0, 0, 10, 10), (20, 0, 30, 10)], [(1, 0, 10, 10), (0, 0, 9, 10)])
    1
    """
    if not len(a) or not len(b):
        return 0
    ok = box_iou(a, b) >= iou
    adj = [np.flatnonzero(row).tolist() for row in ok]
    owner = [-1] * len(b)

    def augment(i: int, seen: set[int]) -> bool:
        for j in adj[i]:
            if j not in seen:
                seen.add(j)
                if owner[j] == -1 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(1 for i in range(len(a)) if adj[i] and augment(i, set()))


def verify_trace(
    text: str,
    sample: Sample,
    *,
    convention: str = "pixel",
    image_size: ImageSize | None = None,
    iou: float = 0.5,
    gt_evidence: Sequence[PixelBox] | None = None,
) -> Verdict:
    """Verify ``text`` (a trace in ``convention``) against ``sample`` (see the module docstring).

    ``gt_evidence`` overrides the boxes that must be cited (backfill passes the capped list under
    ``--max-objects ... --over-max cap``).
    """
    from ..trace import parse_count, parse_trace

    size = image_size or sample.image_size or (800, 800)
    t = parse_trace(text, convention, size)
    reasons: list[str] = []
    if not t.format_ok:
        reasons.append("format: " + ("; ".join(t.problems[:3]) or "missing a section or tag"))
    cited = [e.box for e in t.grounded]
    gt = list(gt_evidence) if gt_evidence is not None else [b for b, _ in evidence(sample)]
    m = match_count(cited, gt, iou)
    if m < len(cited):
        reasons.append(f"{len(cited) - m} cited box(es) match no ground-truth object")
    if m < len(gt):
        reasons.append(f"{len(gt) - m} ground-truth object(s) not cited")
    ans = t.answer
    if sample.task == "count":
        got = parse_count(ans)
        if got != sample.count:
            reasons.append(f"answer {ans if got is None else got} is not the ground truth {sample.count}")
    elif sample.task == "detect":
        boxes = list(t.answer_boxes)
        if len(boxes) != len(sample.boxes) or match_count(boxes, sample.boxes, iou) != len(sample.boxes):
            reasons.append(f"answer boxes ({len(boxes)}) do not match the {len(sample.boxes)} ground-truth boxes")
    elif sample.task == "ground":
        boxes = list(t.answer_boxes)
        if len(boxes) != 1 or sample.target_box is None or box_iou(boxes, [sample.target_box])[0, 0] < iou:
            reasons.append("answer box is not the target (IoU < %.2f)" % iou)
    elif sample.task == "caption":
        if not (ans or "").strip():
            reasons.append("empty caption")
    else:
        if normalize_answer(ans) != normalize_answer(sample.answer):
            reasons.append(f"answer {ans!r} is not the ground truth {sample.answer!r}")
    return Verdict(not reasons, tuple(reasons))
