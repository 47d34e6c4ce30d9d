"""Evaluation metrics for the six Geo-CoT tasks, as pure functions (the GRPO rewards reuse them).

Every function takes plain Python values (pixel boxes, integers, strings; ``None`` where a trace
gave no usable answer) and never raises on a missing answer: an answer that could not be parsed
is scored as wrong. Each is checked in the test suite against a reference implementation.

========== ======================================================================================
task        metrics
========== ======================================================================================
ground      ``acc50``: fraction of samples with IoU(pred, target) >= 0.5; ``miou``: mean IoU.
            No box counts as IoU 0. IoU is the plain area ratio (no +1 pixel), as in
            ``torchvision.ops.box_iou`` and pycocotools.
count       ``accuracy``: exact integer match; ``mae``: mean absolute error. No count is wrong:
            accuracy 0 and absolute error ``max(gt, 1)`` (the error of answering 0, but never 0,
            so a missing answer can never look exact).
detect      ``map50``: COCO mAP at IoU 0.5 (pycocotools ``COCOeval``, 101-point interpolation,
            area "all", every predicted box kept), averaged over the classes that have ground truth.
            Each sample is one image; its ground truth and predicted boxes share the sample's
            class (``Sample.class``, else its single label, else ``"object"``). A VLM box has no
            score: every box gets 1.0, and pycocotools' stable sort breaks the ties in sample
            order, then in the order the model wrote the boxes. Duplicates are false positives.
            A sample with no ground truth contributes only false positives; a benchmark with no
            ground-truth box at all has ``map50 = None``; no predicted box at all gives 0.0.
vqa /       ``score``: mean of the paper's 1.0 / 0.6 / 0.0 scale; ``exact``: fraction exact.
classify    Answers are normalised (lower case, ``_``/``-`` as spaces, punctuation and the
            articles a/an/the dropped, number words zero-twenty as digits). Exact: equal after
            normalisation. Partial: both non-empty and the words of one appear as a contiguous run
            in the other (``"tank"`` vs ``"storage tank"``, ``"yes"`` vs ``"yes there is"``).
caption     BLEU-1..4, METEOR, ROUGE-L, CIDEr: the standard COCO caption metrics from
            pycocoevalcap on PTB-tokenised, lower-cased text with punctuation removed, exactly as
            its ``PTBTokenizer``. BLEU is corpus BLEU over word tokens; CIDEr is pycocoevalcap's
            (CIDEr-D), whose IDF comes from the references of the samples scored, so a subset
            scores differently. METEOR needs Java (without it METEOR is ``None`` and a note says
            why, and a Python tokenizer that approximates PTB is used).
========== ======================================================================================

>>> round(iou((0, 0, 10, 10), (5, 0, 15, 10)), 4)
0.3333
>>> grounding_scores([(0, 0, 10, 10), None], [(0, 0, 10, 10), (0, 0, 5, 5)]).acc50
0.5
>>> answer_score("Storage tank", "storage_tank"), answer_score("tank", "storage tank")
(1.0, 0.6)
"""

from __future__ import annotations

import atexit
import contextlib
import io
import math
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "AnswerScores",
    "CaptionScores",
    "CountScores",
    "DetectionScores",
    "GroundingScores",
    "IOU_THRESHOLD",
    "PARTIAL_CREDIT",
    "answer_score",
    "answer_scores",
    "box_iou",
    "caption_scores",
    "coco_detection_json",
    "count_error",
    "count_scores",
    "detection_map50",
    "greedy_matches",
    "grounding_scores",
    "iou",
    "java_available",
    "meteor_score",
    "normalize_answer",
    "simple_tokenize",
    "tokenize_captions",
]

#: The paper's score for a partially right VQA / classification answer.
PARTIAL_CREDIT = 0.6
#: IoU at which a box counts as found (grounding Acc@0.5, detection mAP@0.5).
IOU_THRESHOLD = 0.5


# --------------------------------------------------------------------------------------------- boxes
def box_iou(boxes1: Sequence[Sequence[float]] | np.ndarray, boxes2: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of two sets of ``(x1, y1, x2, y2)`` pixel boxes, as ``torchvision.ops.box_iou``.

    Boxes with no area give IoU 0 (never NaN).

    >>> box_iou([(0, 0, 2, 2)], [(1, 1, 3, 3), (0, 0, 2, 2)]).round(4).tolist()
    [[0.1429, 1.0]]
    """
    a = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def greedy_matches(boxes1: Sequence[Sequence[float]] | np.ndarray, boxes2: Sequence[Sequence[float]] | np.ndarray,
                   threshold: float = IOU_THRESHOLD) -> int:
    """Size of a greedy one-to-one matching of ``boxes1`` to ``boxes2`` at IoU >= ``threshold``.

    Pairs are taken best IoU first; equal IoUs go to the earlier box of ``boxes1``, then of ``boxes2``.
    The trace audit and the detection reward both count matches with it.

    >>> greedy_matches([(0, 0, 2, 2), (0, 0, 2, 2)], [(0, 0, 2, 2)]), greedy_matches([], [(0, 0, 1, 1)])
    (1, 0)
    """
    a = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return 0
    m = box_iou(a, b)
    ii, jj = np.nonzero(m >= threshold)
    order = np.argsort(-m[ii, jj], kind="stable")  # np.nonzero is row-major: ties keep (i, j) order
    used_a: set[int] = set()
    used_b: set[int] = set()
    for k in order:
        i, j = int(ii[k]), int(jj[k])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(used_a)


def iou(a: Sequence[float] | None, b: Sequence[float] | None) -> float:
    """IoU of two pixel boxes; 0.0 when either is missing.

    >>> iou((0, 0, 4, 4), (0, 0, 4, 4)), iou(None, (0, 0, 1, 1))
    (1.0, 0.0)
    """
    if a is None or b is None:
        return 0.0
    return float(box_iou([a], [b])[0, 0])


@dataclass(frozen=True)
class GroundingScores:
    """Visual grounding: ``acc50`` (IoU >= 0.5) and ``miou`` over ``n`` samples; ``missing`` had no box."""

    n: int
    acc50: float | None
    miou: float | None
    missing: int = 0


def grounding_scores(
    predictions: Sequence[Sequence[float] | None],
    targets: Sequence[Sequence[float]],
    *,
    threshold: float = IOU_THRESHOLD,
) -> GroundingScores:
    """Grounding Acc@0.5 and mean IoU; a missing prediction scores IoU 0.

    >>> s = grounding_scores([(0, 0, 10, 10), (0, 0, 10, 4)], [(0, 0, 10, 10), (0, 0, 10, 10)])
    >>> s.acc50, round(s.miou, 2)
    (0.5, 0.7)
    """
    _same_length(predictions, targets)
    if not targets:
        return GroundingScores(n=0, acc50=None, miou=None)
    ious = [iou(p, t) for p, t in zip(predictions, targets)]
    return GroundingScores(
        n=len(ious),
        acc50=sum(v >= threshold for v in ious) / len(ious),
        miou=float(sum(ious) / len(ious)),
        missing=sum(p is None for p in predictions),
    )


# -------------------------------------------------------------------------------------------- counts
def count_error(prediction: int | None, target: int) -> int:
    """Absolute counting error; a missing count costs ``max(target, 1)``.

    >>> count_error(3, 5), count_error(None, 4), count_error(None, 0)
    (2, 4, 1)
    """
    if prediction is None:
        return max(int(target), 1)
    return abs(int(prediction) - int(target))


@dataclass(frozen=True)
class CountScores:
    """Counting: exact-match ``accuracy`` and ``mae`` over ``n`` samples; ``missing`` had no count."""

    n: int
    accuracy: float | None
    mae: float | None
    missing: int = 0


def count_scores(predictions: Sequence[int | None], targets: Sequence[int]) -> CountScores:
    """Counting accuracy (exact match) and mean absolute error.

    >>> count_scores([2, 5, None], [2, 3, 1])
    CountScores(n=3, accuracy=0.3333333333333333, mae=1.0, missing=1)
    """
    _same_length(predictions, targets)
    if not targets:
        return CountScores(n=0, accuracy=None, mae=None)
    errors = [count_error(p, t) for p, t in zip(predictions, targets)]
    exact = [p is not None and int(p) == int(t) for p, t in zip(predictions, targets)]
    return CountScores(
        n=len(errors),
        accuracy=sum(exact) / len(exact),
        mae=sum(errors) / len(errors),
        missing=sum(p is None for p in predictions),
    )


# ------------------------------------------------------------------------------------------ detection
@dataclass(frozen=True)
class DetectionScores:
    """Detection: COCO ``map50`` over ``n`` samples, with box totals and per-class AP@0.5."""

    n: int
    map50: float | None
    predicted: int = 0
    ground_truth: int = 0
    missing: int = 0
    per_class: tuple[tuple[str, float], ...] = ()


def detection_map50(
    predictions: Sequence[Sequence[Sequence[float]] | None],
    targets: Sequence[Sequence[Sequence[float]]],
    classes: Sequence[str] | None = None,
) -> DetectionScores:
    """COCO mAP at IoU 0.5 with pycocotools; one list of pixel boxes per sample (``None``: no answer).

    ``classes`` gives each sample's class (ground truth and predictions of a sample share it);
    without it every sample is class ``"object"``. Every predicted box has score 1.0.

    >>> round(detection_map50([[(0, 0, 10, 10)], []], [[(0, 0, 10, 10)], [(5, 5, 9, 9)]]).map50, 4)
    0.505
    >>> round(detection_map50([[(0, 0, 10, 10), (0, 0, 10, 10)]], [[(0, 0, 10, 10)]]).map50, 6)
    1.0
    >>> detection_map50([[]], [[]]).map50 is None
    True
    """
    _same_length(predictions, targets)
    if classes is None:
        classes = ["object"] * len(targets)
    _same_length(classes, targets)
    n = len(targets)
    n_pred = sum(len(p or ()) for p in predictions)
    n_gt = sum(len(t) for t in targets)
    missing = sum(p is None for p in predictions)
    if n_gt == 0:
        return DetectionScores(n=n, map50=None, predicted=n_pred, ground_truth=0, missing=missing)
    cat_names = sorted(set(classes))
    gt_classes = sorted({c for c, t in zip(classes, targets) if len(t)})
    if n_pred == 0:
        return DetectionScores(
            n=n, map50=0.0, predicted=0, ground_truth=n_gt, missing=missing,
            per_class=tuple((c, 0.0) for c in gt_classes),
        )
    gt_json, dt_json = coco_detection_json(predictions, targets, classes)
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress to stdout
        coco_gt = COCO()
        coco_gt.dataset = gt_json
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dt_json)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.iouThrs = np.array([IOU_THRESHOLD])
        ev.params.areaRng = [[0.0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        most = max(len(p or ()) for p in predictions)
        ev.params.maxDets = [max(100, most)]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, -1]  # (recall thresholds, classes)
    per_class = []
    for k, cid in enumerate(ev.params.catIds):
        col = precision[:, k]
        if (col > -1).any():
            per_class.append((cat_names[cid - 1], float(col[col > -1].mean())))
    ap = [v for _, v in per_class]
    return DetectionScores(
        n=n, map50=float(np.mean(ap)) if ap else None, predicted=n_pred, ground_truth=n_gt,
        missing=missing, per_class=tuple(per_class),
    )


def coco_detection_json(
    predictions: Sequence[Sequence[Sequence[float]] | None],
    targets: Sequence[Sequence[Sequence[float]]],
    classes: Sequence[str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The COCO ground-truth dataset and result list that :func:`detection_map50` evaluates.

    Image ids are sample positions + 1; annotation ids start at 1 (pycocotools treats id 0 as
    "unmatched"); boxes become ``[x, y, w, h]``; every result has score 1.0.

    >>> gt, dt = coco_detection_json([[(1, 2, 4, 6)]], [[(0, 0, 2, 2)]], ["ship"])
    >>> gt["annotations"][0]["bbox"], dt[0]["bbox"], dt[0]["score"]
    ([0.0, 0.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0], 1.0)
    """
    cat_names = sorted(set(classes))
    cat_id = {c: i + 1 for i, c in enumerate(cat_names)}
    images = [{"id": i + 1} for i in range(len(targets))]
    annotations = []
    results = []
    for i, (boxes, cls) in enumerate(zip(targets, classes)):
        for b in boxes:
            x, y, w, h = _xywh(b)
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1, "category_id": cat_id[cls],
                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
            })
    for i, (boxes, cls) in enumerate(zip(predictions, classes)):
        for b in boxes or ():
            results.append({
                "image_id": i + 1, "category_id": cat_id[cls], "bbox": list(_xywh(b)), "score": 1.0,
            })
    gt = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": cat_id[c], "name": c} for c in cat_names],
    }
    return gt, results


def _xywh(box: Sequence[float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = min(x1, x2), max(x1, x2)
    y1, y2 = min(y1, y2), max(y1, y2)
    return (x1, y1, x2 - x1, y2 - y1)


# ---------------------------------------------------------------------------- vqa and classification
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_ARTICLES = {"a", "an", "the"}


def normalize_answer(text: str | None) -> str:
    """Normalise a short answer for comparison.

    >>> normalize_answer("  The Dense_Residential area. ")
    'dense residential area'
    >>> normalize_answer("Three!")
    '3'
    """
    if text is None:
        return ""
    s = str(text).lower().replace("_", " ").replace("-", " ")
    s = re.sub(r"[^\w\s.]", " ", s)
    s = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", s)  # keep decimal points, drop full stops
    words = [_NUMBER_WORDS.get(w, w) for w in s.split() if w not in _ARTICLES]
    return " ".join(words)


def _contains(haystack: list[str], needle: list[str]) -> bool:
    k = len(needle)
    return any(haystack[i : i + k] == needle for i in range(len(haystack) - k + 1))


def answer_score(prediction: str | None, target: str) -> float:
    """The paper's VQA / classification score: 1.0 exact, 0.6 partial, 0.0 wrong (see module doc).

    >>> answer_score("Yes.", "yes"), answer_score("yes there is", "yes"), answer_score("no", "yes")
    (1.0, 0.6, 0.0)
    >>> answer_score(None, "airport")
    0.0
    """
    p, t = normalize_answer(prediction).split(), normalize_answer(target).split()
    if not p or not t:
        return 1.0 if p == t and prediction is not None else 0.0
    if p == t:
        return 1.0
    if _contains(p, t) or _contains(t, p):
        return PARTIAL_CREDIT
    return 0.0


@dataclass(frozen=True)
class AnswerScores:
    """VQA / classification: mean ``score`` (1.0 / 0.6 / 0.0), ``exact`` and ``partial`` fractions."""

    n: int
    score: float | None
    exact: float | None
    partial: float | None
    missing: int = 0


def answer_scores(predictions: Sequence[str | None], targets: Sequence[str]) -> AnswerScores:
    """Mean answer score over samples.

    >>> answer_scores(["yes", "tank", None], ["yes", "storage tank", "no"]).score
    0.5333333333333333
    """
    _same_length(predictions, targets)
    if not targets:
        return AnswerScores(n=0, score=None, exact=None, partial=None)
    scores = [answer_score(p, t) for p, t in zip(predictions, targets)]
    n = len(scores)
    return AnswerScores(
        n=n,
        score=sum(scores) / n,
        exact=sum(s == 1.0 for s in scores) / n,
        partial=sum(s == PARTIAL_CREDIT for s in scores) / n,
        missing=sum(p is None for p in predictions),
    )


# -------------------------------------------------------------------------------------------- captions
# the punctuation tokens pycocoevalcap's PTBTokenizer drops after tokenising
_PTB_PUNCTUATIONS = {
    "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";",
}
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
JAVA_HINT = "install a Java runtime (e.g. `apt-get install default-jre`) and make `java` findable on PATH"


def java_available() -> bool:
    """Whether a ``java`` executable is on PATH (pycocoevalcap's PTB tokenizer and METEOR need it)."""
    return shutil.which("java") is not None


def _pycocoevalcap_dir() -> Path:
    import pycocoevalcap.bleu as bleu_pkg

    return Path(bleu_pkg.__path__[0]).parent


def tokenize_captions(texts: Sequence[str]) -> tuple[list[str], str]:
    """Tokenise captions as pycocoevalcap's ``PTBTokenizer`` does; returns (tokens, tokenizer name).

    With Java: the Stanford PTB tokenizer bundled with pycocoevalcap, same flags
    (``-preserveLines -lowerCase``) and same punctuation removal, run on a temporary file outside
    the package folder. Without Java: a Python approximation (lower case, punctuation split off and
    dropped), named ``"simple"``.
    """
    clean = [_LINE_BREAKS.sub(" ", t or "") for t in texts]
    if not clean:
        return [], "ptb" if java_available() else "simple"
    if java_available():
        try:
            return _ptb_tokenize(clean), "ptb"
        except (OSError, subprocess.SubprocessError):
            pass
    return [simple_tokenize(t) for t in clean], "simple"


def _ptb_tokenize(texts: list[str]) -> list[str]:
    jar = _pycocoevalcap_dir() / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    with tempfile.TemporaryDirectory(prefix="geocot-ptb-") as tmp:
        src = Path(tmp) / "captions.txt"
        src.write_bytes("\n".join(texts).encode())
        proc = subprocess.run(
            ["java", "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer",
             "-preserveLines", "-lowerCase", str(src)],
            capture_output=True, check=True, timeout=600,
        )
    lines = proc.stdout.decode().split("\n")
    lines += [""] * (len(texts) - len(lines))
    return [" ".join(w for w in line.rstrip().split(" ") if w not in _PTB_PUNCTUATIONS) for line in lines[: len(texts)]]


def simple_tokenize(text: str) -> str:
    """A pure-Python approximation of the PTB tokenizer COCO caption metrics use (no Java).

    >>> simple_tokenize("Two ships, moored at the pier.")
    'two ships moored at the pier'
    """
    text = text.lower().replace("(", " -lrb- ").replace(")", " -rrb- ")
    text = text.replace("{", " -lcb- ").replace("}", " -rcb- ")
    text = re.sub(r"(\w)('s|'re|'ve|'ll|'d|'m)\b", r"\1 \2", text)
    text = re.sub(r"(\w)n't\b", r"\1 n't", text)
    tokens = re.findall(r"-[lr][rc]b-|n't|'\w+|\w+(?:[-.']\w+)*|[^\w\s]", text)
    return " ".join(t for t in tokens if t not in _PTB_PUNCTUATIONS and not re.fullmatch(r"[^\w\s]", t))


@dataclass(frozen=True)
class CaptionScores:
    """Captioning: the standard COCO caption metrics over ``n`` samples (fractions; CIDEr 0-10)."""

    n: int
    bleu1: float | None
    bleu2: float | None
    bleu3: float | None
    bleu4: float | None
    meteor: float | None
    rouge_l: float | None
    cider: float | None
    tokenizer: str = "ptb"
    missing: int = 0
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON)."""
        return asdict(self)


class _MeteorPool:
    """One METEOR Java process per Python process (it takes seconds to start), closed at exit."""

    def __init__(self) -> None:
        self._scorer: Any = None
        self._lock = threading.Lock()

    def score(self, gts: dict, res: dict) -> float:
        with self._lock:
            if self._scorer is None:
                from pycocoevalcap.meteor.meteor import Meteor

                self._scorer = Meteor()
            try:
                score, _ = self._scorer.compute_score(gts, res)
            except Exception:
                self.close()
                raise
            return float(score)

    def close(self) -> None:
        scorer, self._scorer = self._scorer, None
        if scorer is not None:
            with contextlib.suppress(Exception):
                scorer.meteor_p.stdin.close()
                scorer.meteor_p.kill()
                scorer.meteor_p.wait()
            scorer.__class__ = _Closed  # its __del__ would lock and kill again


class _Closed:
    pass


_METEOR = _MeteorPool()
atexit.register(_METEOR.close)


def meteor_score(references: Sequence[str], prediction: str) -> float:
    """METEOR of one (tokenised) prediction against its (tokenised) references; needs Java."""
    return _METEOR.score({0: list(references)}, {0: [prediction]})


def caption_scores(
    predictions: Sequence[str | None],
    references: Sequence[Sequence[str]],
    *,
    meteor: bool = True,
) -> CaptionScores:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr (pycocoevalcap) of one caption per sample.

    ``references`` holds each sample's reference captions; samples with none are skipped. A
    missing prediction is scored as the empty caption. ``meteor=False`` (or no Java) leaves
    METEOR as ``None``; ``note`` then says why.
    """
    _same_length(predictions, references)
    keep = [i for i, refs in enumerate(references) if any((r or "").strip() for r in refs)]
    missing = sum(predictions[i] is None for i in keep)
    note = None
    if len(keep) < len(references):
        note = f"{len(references) - len(keep)} sample(s) without reference captions skipped"
    if not keep:
        return CaptionScores(0, None, None, None, None, None, None, None, missing=0, note=note)
    try:
        import pycocoevalcap  # noqa: F401
    except ImportError:
        return CaptionScores(
            len(keep), None, None, None, None, None, None, None, tokenizer="none", missing=missing,
            note="caption metrics need pycocoevalcap: pip install pycocoevalcap",
        )
    flat: list[str] = []
    for i in keep:
        flat.append(predictions[i] or "")
        flat.extend(r for r in references[i] if (r or "").strip())
    tokens, tokenizer = tokenize_captions(flat)
    gts: dict[int, list[str]] = {}
    res: dict[int, list[str]] = {}
    pos = 0
    for k, i in enumerate(keep):
        res[k] = [tokens[pos]]
        n_ref = sum(1 for r in references[i] if (r or "").strip())
        gts[k] = tokens[pos + 1 : pos + 1 + n_ref]
        pos += 1 + n_ref

    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    with contextlib.redirect_stdout(io.StringIO()):
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    meteor_value = None
    notes = [note] if note else []
    if tokenizer != "ptb":
        notes.append(f"Java not found: captions tokenised by a Python approximation of PTB; {JAVA_HINT}")
    if meteor and java_available():
        try:
            meteor_value = _METEOR.score(gts, res)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            notes.append(f"METEOR failed ({exc}); it needs a working Java runtime with 2 GB of heap")
    elif meteor:
        notes.append(f"METEOR not computed: it needs Java; {JAVA_HINT}")
    return CaptionScores(
        n=len(keep),
        bleu1=_finite(bleu[0]), bleu2=_finite(bleu[1]), bleu3=_finite(bleu[2]), bleu4=_finite(bleu[3]),
        meteor=meteor_value, rouge_l=_finite(rouge), cider=_finite(cider),
        tokenizer=tokenizer, missing=missing, note="; ".join(notes) or None,
    )


# ------------------------------------------------------------------------------------------- helpers
def _finite(v: Any) -> float:
    v = float(v)
    return v if math.isfinite(v) else 0.0


def _same_length(a: Sequence[Any], b: Sequence[Any]) -> None:
    if len(a) != len(b):
        raise ValueError(f"got {len(a)} predictions for {len(b)} targets; pass one per sample")

