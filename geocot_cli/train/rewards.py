"""GRPO rewards: one plain function per task, ``(completions, **ground_truth) -> list[float | None]``.

The signature is TRL's (``GRPOTrainer(reward_funcs=[count_reward, ...])`` accepts them as they are):
``completions`` is a list of model outputs (strings, or TRL's conversational ``[{"role": "assistant",
"content": ...}]``) and every other argument is a column of the dataset, one value per completion,
named as in the sample JSONL: ``task``, ``answer``, ``count``, ``target_box``, ``boxes``, ``labels``,
``class``, ``captions``, ``question``, plus ``image_size`` (``[w, h]`` of the image as fed) and
``box_convention`` (how the model writes boxes; default ``pixel``); the question tells the audit
which class a count or detect answer is about. A reward returns ``None`` for a completion whose
``task`` it does not score, so the rewards of a mixed batch add up without interfering.

Each completion is read exactly as ``geocot eval`` reads it (:func:`geocot_cli.evaluate.score_one`:
``parse_trace``, the answer of the task, the faithfulness audit), and scored with the evaluation
metrics of :mod:`geocot_cli.metrics`, so a reward is the per-sample value of the metric reported.

============== =========================================================================================
reward          value (in [0, 1])
============== =========================================================================================
vqa, classify   1.0 exact / 0.6 partial / 0.0 wrong (:func:`geocot_cli.metrics.answer_score`)
ground          IoU of the answer box with ``target_box`` (0 without a box)
count           ``max(0, 1 - a |n - gt| / max(|n|, |gt|))``, 1 when both are 0, 0 without a number;
                ``a`` (``count_alpha``, default 1) sets how fast it falls: with a = 1 answering 3 for
                4 scores 0.75, with a = 2 it scores 0.5
detect          ``max(0, AP50 - p * unmatched / predicted)``: COCO AP at IoU 0.5 of the answer boxes
                (pycocotools, as ``geocot eval``), minus a penalty for boxes that match no ground-truth
                box one-to-one (duplicates and inventions; mAP alone is gamed by listing extra boxes
                after the right ones). ``p`` = ``detect_redundancy_penalty`` (default 0.5). No ground
                truth: 1.0 for ``[]``, else 0.
caption         weighted mix of BLEU-4, METEOR, ROUGE-L and CIDEr-D / 10 (clipped at 1) of the answer
                against the reference captions (:class:`CaptionReward`)
format          1.0 for a full Geo-CoT trace (``<think>`` with Planning, Grounding, Synthesis, then
                ``<answer>``, nothing fatal); 0.5 when both blocks are there and closed but a section is
                missing or the trace repeats itself; else 0.0
faithfulness    mean of (a) the answer agrees with the grounded boxes (count = number of distinct boxes,
                detect = the same boxes, ground = a grounded box; for count and detect only the boxes
                labelled with the class the ``question`` asks about; audit of :mod:`geocot_cli.audit`) and
                (b) the fraction of cited boxes that are real objects (IoU >= 0.5 with a ground-truth box;
                citing nothing scores 1 only when there is nothing; with ``faithfulness_evidence: f1``,
                the F1 of cited boxes against the ground truth, which also pays for recall), times
                ``1 / (1 + duplicates + boxes outside the image + invalid boxes)``; None when neither (a)
                nor (b) applies
============== =========================================================================================

>>> count_reward(["<answer>3</answer>", "<answer>4</answer>", "no idea"], count=[4, 4, 4])
[0.75, 1.0, 0.0]
>>> vqa_reward(["<answer>Yes.</answer>", "<answer>yes there is</answer>"], answer=["yes", "yes"])
[1.0, 0.6]
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import metrics as M
from .config import FAITHFULNESS_EVIDENCE

__all__ = [
    "FAITHFULNESS_EVIDENCE",
    "CaptionReward",
    "RewardFunc",
    "WeightedReward",
    "caption_reward",
    "cider_d",
    "classify_reward",
    "count_reward",
    "default_rewards",
    "detect_reward",
    "faithfulness_reward",
    "format_reward",
    "ground_reward",
    "score_completions",
    "vqa_reward",
]

#: ``(completions, **columns) -> one reward per completion (None: not applicable)``
RewardFunc = Callable[..., list]

_TAG_PROBLEMS = ("missing <think>", "unclosed <think>", "missing <answer>", "unclosed <answer>")


# ------------------------------------------------------------------------------------------ helpers
def _text(c: Any) -> str:
    """A completion as text: a string, or TRL's conversational list of messages."""
    if isinstance(c, str):
        return c
    if isinstance(c, Sequence) and c and isinstance(c[-1], Mapping):
        content = c[-1].get("content", "")
        if isinstance(content, list):  # [{"type": "text", "text": ...}]
            return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
        return str(content)
    return "" if c is None else str(c)


def _col(kw: Mapping[str, Any], name: str, n: int, default: Any = None) -> list[Any]:
    v = kw.get(name)
    if v is None:
        return [default] * n
    if len(v) != n:
        raise ValueError(f"column {name!r} has {len(v)} values for {n} completions; pass one per completion")
    return list(v)


def _size(v: Any) -> tuple[int, int]:
    if v is None:
        return (800, 800)
    w, h = v
    return (int(w), int(h))


@functools.lru_cache(maxsize=8192)
def _parsed(text: str, convention: str, size: tuple[int, int]):
    from ..trace import parse_trace

    return parse_trace(text, convention, size)


@functools.lru_cache(maxsize=8192)
def _scored_cached(text: str, task: str, size: tuple[int, int], convention: str, truth_json: str, question: str = ""):
    from ..evaluate import Prediction, score_one

    truth = json.loads(truth_json)
    return score_one(Prediction(id="", index=0, task=task, trace=text, image_size=size,
                                box_convention=convention, truth=truth, question=question))


def _truth(task: str, row: Mapping[str, Any]) -> dict[str, Any]:
    t: dict[str, Any] = {}
    for key in ("answer", "count", "class", "captions", "labels"):
        if row.get(key) is not None:
            t[key] = row[key]
    if row.get("boxes"):
        t["boxes"] = [[float(v) for v in b] for b in row["boxes"]]
    if row.get("target_box") is not None:
        t["target_box"] = [float(v) for v in row["target_box"]]
    if task == "count" and not isinstance(t.get("count"), int):
        t["count"] = 0
    return t


def score_completions(completions: Sequence[Any], *, as_task: str | None = None,
                      rows: Sequence[bool] | None = None, **kw: Any) -> list[Any]:
    """``score_one`` of every completion (cached): its answer value, audit and cited-box precision.

    as_task: read every completion as an answer to this task (default: the ``task`` column, else vqa).
    rows: score only where True (None elsewhere).
    """
    n = len(completions)
    tasks = [as_task] * n if as_task else _col(kw, "task", n)
    sizes = _col(kw, "image_size", n)
    convs = _col(kw, "box_convention", n, "pixel")
    questions = _col(kw, "question", n, "")
    cols = {k: _col(kw, k, n) for k in ("answer", "count", "class", "captions", "labels", "boxes", "target_box")}
    out: list[Any] = []
    for i, c in enumerate(completions):
        if rows is not None and not rows[i]:
            out.append(None)
            continue
        t = tasks[i] or "vqa"
        truth = json.dumps(_truth(t, {k: v[i] for k, v in cols.items()}), sort_keys=True)
        out.append(_scored_cached(_text(c), t, _size(sizes[i]), convs[i] or "pixel", truth, str(questions[i] or "")))
    return out


def _applies(kw: Mapping[str, Any], n: int, task: str) -> list[bool]:
    tasks = _col(kw, "task", n)
    return [t is None or t == task for t in tasks]


# ------------------------------------------------------------------------------------- task rewards
def vqa_reward(completions: Sequence[Any], answer: Sequence[str], **kw: Any) -> list[float | None]:
    """VQA: 1.0 exact / 0.6 partial / 0.0 wrong against ``answer`` (None where ``task`` is not vqa).

    >>> vqa_reward(["<answer>no</answer>", "<answer>3</answer>"], answer=["yes", "3"], task=["vqa", "count"])
    [0.0, None]
    """
    return _answer_reward(completions, answer, "vqa", kw)


def classify_reward(completions: Sequence[Any], **kw: Any) -> list[float | None]:
    """Classification: 1.0 / 0.6 / 0.0 against ``class`` (else ``answer``).

    >>> classify_reward(["<answer>Harbor</answer>", "<answer>tank farm</answer>"], **{"class": ["harbor", "farm"]})
    [1.0, 0.6]
    """
    n = len(completions)
    gt = [c if c else a for c, a in zip(_col(kw, "class", n), _col(kw, "answer", n))]
    return _answer_reward(completions, gt, "classify", kw)


def _answer_reward(completions: Sequence[Any], gt: Sequence[Any], task: str, kw: dict[str, Any]) -> list[float | None]:
    n = len(completions)
    ok = _applies(kw, n, task)
    scored = score_completions(completions, as_task=task, rows=ok, **kw)
    return [M.answer_score(s.value, str(g or "")) if use else None for s, g, use in zip(scored, gt, ok)]


def ground_reward(completions: Sequence[Any], target_box: Sequence[Sequence[float]], **kw: Any) -> list[float | None]:
    """Grounding: IoU of the answer box with ``target_box`` (pixels of the image as fed).

    >>> ground_reward(["<answer>[0,0,10,10]</answer>", "<answer>[5,0,15,10]</answer>", "<answer>none</answer>"],
    ...               target_box=[[0, 0, 10, 10]] * 3, image_size=[[64, 64]] * 3)
    [1.0, 0.3333333333333333, 0.0]
    """
    n = len(completions)
    ok = _applies(kw, n, "ground")
    scored = score_completions(completions, as_task="ground", rows=ok, target_box=target_box, **kw)
    return [M.iou(s.value, t) if use and t is not None else (0.0 if use else None)
            for s, t, use in zip(scored, target_box, ok)]


def count_reward(completions: Sequence[Any], count: Sequence[int], *, alpha: float = 1.0,
                 **kw: Any) -> list[float | None]:
    """Counting: ``max(0, 1 - alpha |n - gt| / max(|n|, |gt|))``; 1 when both are 0; 0 without a number.

    >>> count_reward(["<answer>0</answer>", "<answer>2</answer>", "<answer>2</answer>"], count=[0, 0, 4], alpha=2.0)
    [1.0, 0.0, 0.0]
    """
    n = len(completions)
    ok = _applies(kw, n, "count")
    scored = score_completions(completions, as_task="count", rows=ok, count=count, **kw)
    out: list[float | None] = []
    for s, gt, use in zip(scored, count, ok):
        if not use:
            out.append(None)
        elif s.value is None or gt is None:
            out.append(0.0)
        else:
            p, g = int(s.value), int(gt)
            denom = max(abs(p), abs(g))
            out.append(1.0 if denom == 0 else max(0.0, 1.0 - alpha * abs(p - g) / denom))
    return out


def detect_reward(completions: Sequence[Any], boxes: Sequence[Sequence[Sequence[float]]], *,
                  redundancy_penalty: float = 0.5, **kw: Any) -> list[float | None]:
    """Detection: ``max(0, AP50 - penalty * unmatched / predicted)`` of the answer boxes against ``boxes``.

    >>> gt = [[0, 0, 10, 10], [20, 20, 30, 30]]
    >>> detect_reward(["<answer>[[0,0,10,10],[20,20,30,30]]</answer>",
    ...                "<answer>[[0,0,10,10],[20,20,30,30],[0,0,10,10],[40,40,50,50]]</answer>",
    ...                "<answer>[]</answer>"], boxes=[gt] * 3, image_size=[[64, 64]] * 3)
    [1.0, 0.75, 0.0]
    """
    n = len(completions)
    ok = _applies(kw, n, "detect")
    scored = score_completions(completions, as_task="detect", rows=ok, boxes=boxes, **kw)
    out: list[float | None] = []
    for s, gt, use in zip(scored, boxes, ok):
        if not use:
            out.append(None)
            continue
        pred = list(s.value) if s.value is not None else None
        gt = [tuple(float(v) for v in b) for b in (gt or ())]
        if pred is None:
            out.append(0.0)
        elif not gt:
            out.append(1.0 if not pred else 0.0)
        elif not pred:
            out.append(0.0)
        else:
            ap = M.detection_map50([pred], [gt]).map50 or 0.0
            unmatched = len(pred) - M.greedy_matches(pred, gt, M.IOU_THRESHOLD)
            out.append(max(0.0, ap - redundancy_penalty * unmatched / len(pred)))
    return out


# ------------------------------------------------------------------------------------------ captions
def _ngrams(tokens: str, n: int = 4) -> Counter:
    from pycocoevalcap.cider.cider_scorer import precook

    return Counter(precook(tokens, n))


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]],
            corpus: Sequence[Sequence[str]] | None = None, *, sigma: float = 6.0) -> list[float]:
    """Per-candidate CIDEr-D (pycocoevalcap's formula) with document frequencies from ``corpus``.

    Inputs are tokenised captions (space-separated, lower case). ``corpus`` is a list of reference
    sets (one per image) that gives the n-gram document frequencies; by default ``references`` itself,
    which makes the scores those of ``pycocoevalcap.cider.Cider`` on the same inputs. With a single
    reference set every n-gram has document frequency 1 and CIDEr-D is 0 for every caption: give a
    corpus (the training set's captions, as in self-critical training).

    >>> [round(v, 3) for v in cider_d(["a ship at sea", "a red car"], [["a ship at sea"], ["a blue car"]])]
    [10.0, 1.25]
    """
    import numpy as np

    corpus = list(references) if corpus is None else list(corpus)
    df: Counter = Counter()
    for refs in corpus:
        df.update({g for r in refs for g in _ngrams(r)})
    ref_len = math.log(float(len(corpus))) if corpus else 0.0

    def vec(counts: Counter) -> tuple[list[dict], list[float], int]:
        v: list[dict] = [{} for _ in range(4)]
        norm = [0.0] * 4
        length = 0
        for g, tf in counts.items():
            k = len(g) - 1
            v[k][g] = float(tf) * (ref_len - math.log(max(1.0, df[g])))
            norm[k] += v[k][g] ** 2
            if k == 1:
                length += tf
        return v, [math.sqrt(x) for x in norm], length

    out = []
    for cand, refs in zip(candidates, references):
        vc, nc, lc = vec(_ngrams(cand))
        score = np.zeros(4)
        for r in refs:
            vr, nr, lr = vec(_ngrams(r))
            delta = float(lc - lr)
            for k in range(4):
                val = sum(min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, w in vc[k].items())
                if nc[k] != 0 and nr[k] != 0:
                    val /= nc[k] * nr[k]
                score[k] += val * math.exp(-(delta ** 2) / (2 * sigma ** 2))
        out.append(float(np.mean(score)) / max(len(refs), 1) * 10.0)
    return out


class CaptionReward:
    """Captioning reward: ``mix`` of BLEU-4, METEOR, ROUGE-L and min(CIDEr-D / 10, 1), in [0, 1].

    corpus: reference sets (one list of captions per training image) for CIDEr-D's document
    frequencies; without it the references of each call are the corpus (and CIDEr is left out of a
    call that holds one image's references only). meteor: compute METEOR (pycocoevalcap's Java
    scorer, one process kept open); off, or without Java, its weight is spread over the others.
    ptb: tokenise with the Stanford PTB tokenizer as evaluation does (starts Java on every call);
    default a Python approximation of it (:func:`geocot_cli.metrics.tokenize_captions`), fast enough
    for a reward. Weights are renormalised over the metrics computed.

    >>> r = CaptionReward(meteor=False)
    >>> [round(v, 3) for v in r(["<answer>A harbor with two ships.</answer>", "<answer>Trees.</answer>"],
    ...                         captions=[["A harbor with two ships."], ["A forest."]])]
    [1.0, 0.0]
    """

    __name__ = "caption_reward"

    def __init__(self, corpus: Sequence[Sequence[str]] | None = None, *,
                 mix: Sequence[float] = (0.25, 0.25, 0.25, 0.25), meteor: bool = True, ptb: bool = False) -> None:
        if len(mix) != 4 or any(w < 0 for w in mix) or not sum(mix) > 0:
            raise ValueError(f"mix {mix!r} must be four weights >= 0 with a positive sum")
        self.mix = tuple(float(w) for w in mix)
        self.meteor = meteor
        self.ptb = ptb
        self._corpus_raw = [list(refs) for refs in corpus] if corpus else None
        self._corpus: list[list[str]] | None = None

    def _tokenize(self, texts: list[str]) -> list[str]:
        if self.ptb:
            return M.tokenize_captions(texts)[0]
        return [M.simple_tokenize(t) for t in texts]

    def __call__(self, completions: Sequence[Any], captions: Sequence[Sequence[str]] | None = None,
                 **kw: Any) -> list[float | None]:
        n = len(completions)
        ok = _applies(kw, n, "caption")
        answers = _col(kw, "answer", n)
        refs_raw = [list(c) if c else ([a] if a else []) for c, a in zip(_col({"captions": captions}, "captions", n),
                                                                         answers)]
        scored = score_completions(completions, as_task="caption", rows=ok, **kw)
        rows = [i for i in range(n) if ok[i] and scored[i].value and str(scored[i].value).strip() and refs_raw[i]]
        out: list[float | None] = [0.0 if ok[i] else None for i in range(n)]
        if not rows:
            return out
        flat: list[str] = []
        for i in rows:
            flat.append(str(scored[i].value))
            flat.extend(refs_raw[i])
        tokens = self._tokenize(flat)
        cands, refs, pos = [], [], 0
        for i in rows:
            cands.append(tokens[pos] or "")
            refs.append(tokens[pos + 1: pos + 1 + len(refs_raw[i])])
            pos += 1 + len(refs_raw[i])
        values = self._metrics(cands, refs)
        weights = self._weights(values)
        for k, i in enumerate(rows):
            out[i] = sum(w * values[name][k] for name, w in weights.items())
        return out

    def _metrics(self, cands: list[str], refs: list[list[str]]) -> dict[str, list[float]]:
        import contextlib
        import io

        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.rouge.rouge import Rouge

        gts = {k: r for k, r in enumerate(refs)}
        res = {k: [c if c.strip() else "."] for k, c in enumerate(cands)}
        with contextlib.redirect_stdout(io.StringIO()):
            _, bleu = Bleu(4).compute_score(gts, res, verbose=0)
        _, rouge = Rouge().compute_score(gts, res)
        values: dict[str, list[float]] = {"bleu4": [float(v) for v in bleu[3]], "rouge_l": [float(v) for v in rouge]}
        corpus = self._corpus_tokens()
        distinct = {tuple(r) for r in refs}
        if corpus is not None or len(distinct) > 1:
            cider = cider_d(cands, refs, corpus)
            values["cider"] = [min(1.0, max(0.0, v / 10.0)) for v in cider]
        if self.meteor and M.java_available():
            try:
                values["meteor"] = [M.meteor_score(r, c) for c, r in zip(cands, refs)]
            except Exception:  # METEOR needs a working Java; the reward goes on without it
                pass
        return values

    def _weights(self, values: Mapping[str, list[float]]) -> dict[str, float]:
        names = ("bleu4", "meteor", "rouge_l", "cider")
        w = {name: weight for name, weight in zip(names, self.mix) if name in values and weight > 0}
        total = sum(w.values())
        if not total:
            return {"bleu4": 0.5, "rouge_l": 0.5}
        return {k: v / total for k, v in w.items()}

    def _corpus_tokens(self) -> list[list[str]] | None:
        if self._corpus_raw is None:
            return None
        if self._corpus is None:
            flat = [c for refs in self._corpus_raw for c in refs]
            tokens = self._tokenize(flat)
            self._corpus, pos = [], 0
            for refs in self._corpus_raw:
                self._corpus.append(tokens[pos: pos + len(refs)])
                pos += len(refs)
        return self._corpus


#: The caption reward with default settings (no corpus: CIDEr-D from the references of each call).
caption_reward = CaptionReward(meteor=False)


# ------------------------------------------------------------------------------- format, faithfulness
def format_reward(completions: Sequence[Any], **kw: Any) -> list[float]:
    """1.0 for a full Geo-CoT trace; 0.5 with both blocks closed but a section missing (or repetition); else 0.

    >>> format_reward(["<think>Planning: p\\nGrounding: g\\nSynthesis: s</think><answer>1</answer>",
    ...                "<think>just thinking</think><answer>1</answer>", "<answer>1</answer>"])
    [1.0, 0.5, 0.0]
    """
    n = len(completions)
    sizes = _col(kw, "image_size", n)
    convs = _col(kw, "box_convention", n, "pixel")
    out = []
    for c, size, conv in zip(completions, sizes, convs):
        t = _parsed(_text(c), conv or "pixel", _size(size))
        if t.format_ok:
            out.append(1.0)
        elif t.think is not None and t.answer is not None and not any(
                p.lower().startswith(_TAG_PROBLEMS) for p in t.problems):
            out.append(0.5)
        else:
            out.append(0.0)
    return out


def faithfulness_reward(completions: Sequence[Any], *, evidence: str = "precision",
                        **kw: Any) -> list[float | None]:
    """Is the answer backed by the evidence, and is the evidence real? (see the module table).

    ``evidence="f1"`` scores part (b) as the F1 of the cited boxes against the ground truth (one-to-one
    matches at IoU >= 0.5) instead of their precision, so a trace that cites one sure ship out of
    four no longer scores as well as one that cites all four.

    >>> trace = "<think>Planning: count.\\nGrounding:\\n1. ship [0,0,10,10]: a ship.\\nSynthesis: 1.</think>"
    >>> faithfulness_reward([trace + "<answer>1</answer>", trace + "<answer>2</answer>"],
    ...                     task=["count", "count"], count=[1, 1], boxes=[[[0, 0, 10, 10]]] * 2)
    [1.0, 0.5]
    >>> faithfulness_reward([trace + "<answer>1</answer>"], evidence="f1", task=["count"], count=[2],
    ...                     boxes=[[[0, 0, 10, 10], [50, 50, 60, 60]]])
    [0.8333333333333333]
    """
    if evidence not in FAITHFULNESS_EVIDENCE:
        raise ValueError(f"evidence {evidence!r} must be one of {', '.join(FAITHFULNESS_EVIDENCE)}")
    scored = score_completions(completions, **kw)
    out: list[float | None] = []
    for s in scored:
        parts = []
        if s.audit.consistent is not None:
            parts.append(1.0 if s.audit.consistent else 0.0)
        if s.gt_boxes is not None:
            if s.cited_matched is None:
                parts.append(0.0 if s.gt_boxes else 1.0)
            elif evidence == "precision":
                parts.append(float(s.cited_precision))
            else:
                parts.append(2.0 * s.cited_matched / (s.audit.distinct + len(s.gt_boxes)))
        if not parts:
            out.append(None)
            continue
        bad = s.audit.duplicates + s.audit.out_of_image + s.audit.invalid_boxes
        out.append(sum(parts) / len(parts) / (1 + bad))
    return out


# --------------------------------------------------------------------------------------- the set
@dataclass(frozen=True)
class WeightedReward:
    """A reward function, the name it is logged under, and its weight in the total reward."""

    name: str
    func: RewardFunc
    weight: float


def _named(func: Callable[..., Any], name: str, **kw: Any) -> RewardFunc:
    f = functools.partial(func, **kw)
    functools.update_wrapper(f, func)
    f.__name__ = name  # type: ignore[attr-defined]
    return f


def default_rewards(options: Any, caption_corpus: Sequence[Sequence[str]] | None = None) -> list[WeightedReward]:
    """The paper's task rewards plus format and faithfulness, weighted as ``options`` (a GRPOOptions) says.

    Rewards of weight 0 are left out.
    """
    table = [
        ("vqa", vqa_reward, options.vqa_weight),
        ("classify", classify_reward, options.classify_weight),
        ("ground", ground_reward, options.ground_weight),
        ("count", _named(count_reward, "count_reward", alpha=options.count_alpha), options.count_weight),
        ("detect", _named(detect_reward, "detect_reward", redundancy_penalty=options.detect_redundancy_penalty),
         options.detect_weight),
        ("caption", CaptionReward(caption_corpus, mix=options.caption_mix, meteor=options.caption_meteor),
         options.caption_weight),
        ("format", format_reward, options.format_weight),
        ("faithfulness", _named(faithfulness_reward, "faithfulness_reward",
                                evidence=options.faithfulness_evidence), options.faithfulness_weight),
    ]
    return [WeightedReward(name, func, float(w)) for name, func, w in table if w > 0]
