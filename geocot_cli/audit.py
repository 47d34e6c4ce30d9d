"""The faithfulness audit of a Geo-CoT trace: is its answer backed by the evidence it cites?

:func:`audit_trace` checks one parsed :class:`~geocot_cli.trace.Trace` for a task:

- **format**: the trace has ``<think>`` with Planning, Grounding and Synthesis, and ``<answer>``,
  with no fatal problem (``Trace.format_ok``);
- **consistency** (``None`` where it does not apply: vqa, caption, classify, or no answer):
  *count*: the number in the answer equals the number of distinct grounded boxes;
  *detect*: the answer boxes and the grounded boxes are the same set (one-to-one at IoU >= 0.9);
  *ground*: the answer box is one of the grounded boxes (IoU >= 0.9);
  for count and detect, given the ``classes`` the question asks about, only the grounded boxes
  labelled with one of them (or unlabelled) count: context boxes of other classes are allowed,
  but "how many ships?" answered 2 from two boxes labelled storage tank is inconsistent;
- **box hygiene**: duplicates (a grounded box identical to an earlier one, or with IoU >= 0.9 to
  an earlier distinct one: NMS in trace order, so a chain of overlaps is not one object),
  boxes outside the image, invalid boxes (malformed, non-finite or zero-area).

"Grounded boxes" are :attr:`Trace.grounded`: the boxes of the Grounding section, or every box
in ``<think>`` when the Grounding section cites none. :func:`cited_precision` scores the
distinct grounded boxes against ground truth.

>>> from geocot_cli.trace import parse_trace
>>> t = parse_trace("<think>Planning: count.\\nGrounding:\\n1. ship [0,0,10,10]: a ship.\\n"
...                 "2. ship [0,0,10,10]: the same ship.\\nSynthesis: 2 ships.</think><answer>2</answer>")
>>> a = audit_trace(t, "count", (800, 800))
>>> a.format_ok, a.consistent, a.duplicates, a.distinct
(True, False, 1, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .metrics import box_iou, greedy_matches
from .questions import class_key, label_matches
from .trace import Trace, parse_count
from .types import TASKS, ImageSize, PixelBox

__all__ = ["DUPLICATE_IOU", "Audit", "audit_trace", "cited_matches", "cited_precision", "distinct_boxes"]

#: IoU at or above which two boxes of one trace are taken to be the same object.
DUPLICATE_IOU = 0.9
_OUTSIDE_TOLERANCE = 0.5


@dataclass(frozen=True)
class Audit:
    """The audit of one trace.

    ``consistent`` is ``None`` when the task has no answer-evidence check or the trace has no
    answer; ``distinct`` is the number of distinct grounded boxes; ``off_class`` how many of them
    carry the label of a class the question did not ask about (0 when no classes were given);
    ``problems`` holds the trace's own problems followed by what the audit found.

    >>> Audit(format_ok=True, consistent=True, duplicates=0, out_of_image=0, invalid_boxes=0, problems=()).ok
    True
    """

    format_ok: bool
    consistent: bool | None
    duplicates: int
    out_of_image: int
    invalid_boxes: int
    problems: tuple[str, ...]
    distinct: int = 0
    off_class: int = 0

    @property
    def ok(self) -> bool:
        """Format valid, not inconsistent, and no duplicate, outside or invalid box."""
        return (
            self.format_ok
            and self.consistent is not False
            and self.duplicates == 0
            and self.out_of_image == 0
            and self.invalid_boxes == 0
        )


def distinct_boxes(boxes: Sequence[Sequence[float]], iou: float = DUPLICATE_IOU) -> tuple[list[PixelBox], int]:
    """Keep each box unless it is identical to an earlier box or has IoU >= ``iou`` with a kept one.

    Returns ``(kept, dropped)``. Like NMS in trace order: the kept boxes are pairwise below ``iou``.

    >>> distinct_boxes([(0, 0, 10, 10), (0, 0, 10, 9.5), (20, 20, 30, 30), (5, 5, 5, 5), (5, 5, 5, 5)])
    ([(0.0, 0.0, 10.0, 10.0), (20.0, 20.0, 30.0, 30.0), (5.0, 5.0, 5.0, 5.0)], 2)
    """
    seen: set[PixelBox] = set()
    keep: list[PixelBox] = []
    kept = np.empty((len(boxes), 4))
    dropped = 0
    for raw in boxes:
        b: PixelBox = tuple(float(v) for v in raw)  # type: ignore[assignment]
        if b in seen:
            dropped += 1
            continue
        seen.add(b)
        k = len(keep)
        if k < 32:
            dup = any(_iou(b, other) >= iou for other in keep)
        else:
            dup = _any_iou_at_least(b, kept[:k], iou)
        if dup:
            dropped += 1
            continue
        kept[k] = b
        keep.append(b)
    return keep, dropped


def _any_iou_at_least(b: PixelBox, others: np.ndarray, thr: float) -> bool:
    iw = np.minimum(others[:, 2], b[2]) - np.maximum(others[:, 0], b[0])
    ih = np.minimum(others[:, 3], b[3]) - np.maximum(others[:, 1], b[1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return bool(np.any((inter > 0) & (inter >= thr * union)))


def _iou(a: PixelBox, b: PixelBox) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _outside(box: PixelBox, size: ImageSize) -> bool:
    w, h = size
    t = _OUTSIDE_TOLERANCE
    return box[0] < -t or box[1] < -t or box[2] > w + t or box[3] > h + t


def _zero_area(box: PixelBox) -> bool:
    return not (box[2] - box[0] > 0 and box[3] - box[1] > 0)


def audit_trace(
    trace: Trace, task: str, image_size: ImageSize = (800, 800), classes: Sequence[str] | None = None
) -> Audit:
    """Audit ``trace`` as an answer to ``task`` on an image of ``image_size`` (w, h) pixels.

    A box counts as outside the image when the parser clipped it, or when it reaches beyond
    ``image_size`` by more than half a pixel (a trace parsed for another size). ``classes``: what
    a count or detect question asks about (:func:`~geocot_cli.questions.plan_question`); the
    answer is then checked against the grounded boxes of those classes only.

    >>> from geocot_cli.trace import parse_trace
    >>> t = parse_trace("<think>Planning: find it.\\nGrounding: a plane at [10,10,50,50].\\n"
    ...                 "Synthesis: one plane.</think><answer>[10,10,50,51]</answer>")
    >>> audit_trace(t, "ground", (800, 800)).consistent, audit_trace(t, "vqa", (800, 800)).consistent
    (True, None)
    >>> t = parse_trace("<think>Planning: count ships.\\nGrounding:\\n1. storage tank [0,0,9,9]: round.\\n"
    ...                 "2. storage tank [20,0,29,9]: round.\\nSynthesis: 2.</think><answer>2</answer>")
    >>> a = audit_trace(t, "count", (64, 64), classes=["ship"])
    >>> a.consistent, a.off_class, a.problems[-1]
    (False, 2, 'answer says 2 but 0 distinct ship boxes are grounded (2 more of other classes: storage tank)')
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    grounded = [e.box for e in trace.grounded]
    distinct, duplicates = distinct_boxes(grounded)
    out_of_image = sum(1 for e in trace.evidence if e.clipped or _outside(e.box, image_size))
    invalid = (
        len(trace.rejected)
        + sum(1 for e in trace.evidence if _zero_area(e.box))
        + sum(1 for b in trace.answer_boxes if _zero_area(b))
    )
    found: list[str] = []
    if duplicates:
        found.append(f"{duplicates} duplicate grounded box{'es' if duplicates > 1 else ''} (IoU >= {DUPLICATE_IOU})")
    on_class, others = distinct, []
    if classes and task in ("count", "detect"):
        asked = []
        for e in trace.grounded:  # an unlabelled box is taken to be of the asked class
            (asked if not e.label.strip() or label_matches(e.label, classes) else others).append(e)
        on_class, _ = distinct_boxes([e.box for e in asked])
    off = len(distinct_boxes([e.box for e in others])[0])
    consistent = _consistency(trace, task, on_class, found, _what(classes), off, [e.label for e in others])
    return Audit(
        format_ok=trace.format_ok,
        consistent=consistent,
        duplicates=duplicates,
        out_of_image=out_of_image,
        invalid_boxes=invalid,
        problems=tuple(trace.problems) + tuple(found),
        distinct=len(distinct),
        off_class=off,
    )


def _what(classes: Sequence[str] | None) -> str:
    """How a message names the boxes checked: ``'ship '``, ``'ship or plane '``, ``''`` (no classes)."""
    return " or ".join(dict.fromkeys(class_key(str(c)) for c in classes)) + " " if classes else ""


def _consistency(
    trace: Trace, task: str, distinct: list[PixelBox], found: list[str],
    what: str = "", off: int = 0, off_labels: Sequence[str] = (),
) -> bool | None:
    if task not in ("count", "detect", "ground") or trace.answer is None:
        return None
    others = ""
    if off:
        names = ", ".join(dict.fromkeys(class_key(lab) for lab in off_labels))
        others = f" ({off} more of other classes: {names})"
    if task == "count":
        n = parse_count(trace.answer)
        if n is None:
            found.append(f"count answer {trace.answer[:40]!r} states no number")
            return False
        if n != len(distinct):
            found.append(f"answer says {n} but {len(distinct)} distinct {what}boxes are grounded{others}")
            return False
        return True
    if task == "detect":
        answer, _ = distinct_boxes(trace.answer_boxes)
        matched = greedy_matches(answer, distinct, DUPLICATE_IOU)
        if matched == len(answer) == len(distinct):
            return True
        found.append(
            f"answer has {len(answer)} distinct boxes, grounding has {len(distinct)}{' ' + what + 'boxes' if what else ''}{others}; "
            f"{matched} match at IoU >= {DUPLICATE_IOU}"
        )
        return False
    if not trace.answer_boxes:
        found.append("grounding answer has no box")
        return False
    if len(trace.answer_boxes) > 1:
        found.append(f"grounding answer has {len(trace.answer_boxes)} boxes; the first is checked")
    if distinct and bool((box_iou(trace.answer_boxes[:1], distinct) >= DUPLICATE_IOU).any()):
        return True
    found.append("the answer box is not among the grounded boxes")
    return False


def cited_matches(trace: Trace, gt_boxes: Sequence[Sequence[float]], iou: float = 0.5) -> int | None:
    """How many distinct grounded boxes match a ground-truth pixel box at IoU >= ``iou``.

    Matching is greedy and one-to-one (highest IoU first); ``None`` when the trace cites no box.

    >>> from geocot_cli.trace import parse_trace
    >>> t = parse_trace("<think>Grounding: ship [0,0,10,10], ship [50,50,60,60]</think><answer>2</answer>")
    >>> cited_matches(t, [(1, 1, 10, 10)])
    1
    """
    cited = _cited(trace, gt_boxes, iou)
    return None if cited is None else cited[0]


def cited_precision(trace: Trace, gt_boxes: Sequence[Sequence[float]], iou: float = 0.5) -> float | None:
    """Fraction of distinct grounded boxes that match a ground-truth pixel box at IoU >= ``iou``.

    Matching is greedy and one-to-one (highest IoU first); ``None`` when the trace cites no box.

    >>> from geocot_cli.trace import parse_trace
    >>> t = parse_trace("<think>Grounding: ship [0,0,10,10], ship [50,50,60,60]</think><answer>2</answer>")
    >>> cited_precision(t, [(1, 1, 10, 10)])
    0.5
    """
    cited = _cited(trace, gt_boxes, iou)
    return None if cited is None else cited[0] / cited[1]


def _cited(trace: Trace, gt_boxes: Sequence[Sequence[float]], iou: float) -> tuple[int, int] | None:
    """(matched, distinct) grounded boxes against ``gt_boxes``; None when the trace cites no box."""
    distinct, _ = distinct_boxes([e.box for e in trace.grounded])
    if not distinct:
        return None
    gt = [tuple(float(v) for v in b) for b in gt_boxes]
    return greedy_matches(distinct, gt, iou), len(distinct)  # type: ignore[arg-type]
