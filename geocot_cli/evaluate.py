"""Run a model over a benchmark, keep every prediction, and score it: metrics per task plus the audit.

:func:`evaluate` sends the samples of a benchmark (:func:`geocot_cli.data.schema.load_samples`)
to a backend in batches and appends one JSON line per sample to ``preds.jsonl`` **as it goes**
(flushed after every batch), so a stopped run loses at most one batch and ``resume=True``
continues it. Each line holds the raw trace, the image size as fed, the box convention and the
ground truth, so :func:`score_predictions` re-scores a predictions file with no model and no
images, and the report :func:`evaluate` returns *is* ``score_predictions`` of the file it wrote:
the two print exactly the same figures.

Per task (:mod:`geocot_cli.metrics` documents each metric and its edge cases):
vqa and classify ``score`` (1.0 / 0.6 / 0.0) and ``accuracy`` (exact); ground ``acc50`` and
``miou``; count ``accuracy`` and ``mae``; detect ``map50``; caption ``bleu1``-``bleu4``, ``meteor``,
``rouge_l``, ``cider``. A trace with no usable answer is scored as wrong.

The faithfulness audit (:func:`geocot_cli.audit.audit_trace`) is kept per answer in the
predictions file and summed per task and overall: format validity, answer-evidence consistency
(count, detect, ground), precision of the distinct cited boxes against ground truth at IoU >= 0.5
(on count, detect and ground samples, and on any sample whose ground truth has boxes), duplicate
citations, boxes outside the image and invalid boxes.

>>> from geocot_cli.evaluate import Prediction, score_predictions
>>> p = Prediction(id="a", index=0, task="count", image_size=(100, 100), box_convention="pixel",
...                trace="<think>Planning: count.\\nGrounding:\\n1. ship [1,1,9,9]: a ship.\\n"
...                      "Synthesis: 1 ship.</think><answer>1</answer>", truth={"count": 1, "boxes": [[0, 0, 9, 9]]})
>>> r = score_predictions([p])
>>> r.task("count").metrics["accuracy"], r.audit.consistent, r.audit.cited_precision
(1.0, 1.0, 1.0)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import metrics as M
from .errors import BackendError, ConfigError, DataError, OutputError
from .types import TASKS, PixelBox

if TYPE_CHECKING:  # pragma: no cover
    from .audit import Audit

__all__ = [
    "TASK_METRICS",
    "AuditSummary",
    "Prediction",
    "Report",
    "Scored",
    "TaskReport",
    "asked_classes",
    "check_output",
    "evaluate",
    "load_image",
    "read_predictions",
    "sample_key",
    "score_one",
    "score_predictions",
    "summarize_audit",
]

#: Metric names per task, in display order.
TASK_METRICS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "vqa": ("score", "accuracy"),
    "classify": ("score", "accuracy"),
    "ground": ("acc50", "miou"),
    "count": ("accuracy", "mae"),
    "detect": ("map50",),
    "caption": ("bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge_l", "cider"),
})

#: Tasks whose empty ground-truth box list means "no object" (so every cited box is a false claim).
_BOX_TASKS = ("count", "detect", "ground")

Progress = Callable[[int, int], None]


# ------------------------------------------------------------------------------------- predictions
@dataclass(frozen=True)
class Prediction:
    """One line of ``preds.jsonl``: a sample's raw model output, with all that scoring needs.

    ``image_size`` is the (w, h) of the image as fed and ``box_convention`` how the model wrote
    boxes, so the trace parses to the same pixels on any machine. ``truth`` holds the sample's
    ground truth (``answer``, ``boxes``, ``labels``, ``count``, ``class``, ``captions``,
    ``target_box``). ``index`` is the sample's position in the benchmark; records are scored in
    that order.
    """

    id: str
    index: int
    task: str
    trace: str
    image_size: tuple[int, int]
    box_convention: str = "pixel"
    truth: Mapping[str, Any] = field(default_factory=dict, hash=False)
    question: str = ""
    prompt: str = ""
    image: str = ""
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to the predictions file (without the informational ``result``)."""
        return {
            "id": self.id, "index": self.index, "task": self.task, "image": self.image,
            "image_size": list(self.image_size), "box_convention": self.box_convention,
            "model": self.model, "question": self.question, "prompt": self.prompt,
            "trace": self.trace, "truth": dict(self.truth),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prediction:
        """Read one decoded JSON line; raises ``KeyError``/``TypeError``/``ValueError`` when malformed."""
        task = d["task"]
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        trace = d["trace"]
        if not isinstance(trace, str):
            raise TypeError("trace must be text")
        w, h = (int(v) for v in d["image_size"])
        truth = d.get("truth") or {}
        if not isinstance(truth, Mapping):
            raise TypeError("truth must be an object")
        _check_truth(task, truth)
        return cls(
            id=str(d["id"]), index=int(d["index"]), task=task, trace=trace, image_size=(w, h),
            box_convention=str(d.get("box_convention") or "pixel"), truth=dict(truth),
            question=str(d.get("question") or ""), prompt=str(d.get("prompt") or ""),
            image=str(d.get("image") or ""), model=str(d.get("model") or ""),
        )


def _check_truth(task: str, truth: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` when ``truth`` lacks what ``task`` is scored against."""
    def box(v: Any) -> bool:
        return isinstance(v, (list, tuple)) and len(v) == 4 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)

    if task == "ground" and not box(truth.get("target_box")):
        raise ValueError("a ground prediction needs truth.target_box [x1,y1,x2,y2]")
    if task == "count" and (isinstance(truth.get("count"), bool) or not isinstance(truth.get("count"), int)):
        raise ValueError("a count prediction needs an integer truth.count")
    if task == "detect" and not all(box(b) for b in truth.get("boxes") or ()):
        raise ValueError("truth.boxes must be a list of [x1,y1,x2,y2]")


def _truth(sample: Any) -> dict[str, Any]:
    t: dict[str, Any] = {"answer": sample.answer}
    if sample.boxes:
        t["boxes"] = [list(b) for b in sample.boxes]
    if sample.labels:
        t["labels"] = list(sample.labels)
    if sample.count is not None:
        t["count"] = sample.count
    if sample.cls:
        t["class"] = sample.cls
    if sample.captions:
        t["captions"] = list(sample.captions)
    if sample.target_box is not None:
        t["target_box"] = list(sample.target_box)
    return t


# ---------------------------------------------------------------------------------- one prediction
@dataclass(frozen=True)
class Scored:
    """What one prediction says once parsed: its answer, the value its metric reads, its audit."""

    answer: str | None
    value: Any
    audit: Audit
    #: distinct grounded boxes matching a ground-truth box one-to-one at IoU >= 0.5 (None: no ground-truth
    #: boxes, or nothing cited)
    cited_matched: int | None
    gt_boxes: tuple[PixelBox, ...] | None

    @property
    def cited_precision(self) -> float | None:
        """Share of the distinct grounded boxes that are real objects (None: nothing to check)."""
        return None if self.cited_matched is None else self.cited_matched / self.audit.distinct

    def summary(self) -> dict[str, Any]:
        """The per-answer audit written next to each prediction (for people; never re-read)."""
        a = self.audit
        return {
            "answer": self.answer, "format_ok": a.format_ok, "consistent": a.consistent,
            "distinct_boxes": a.distinct, "off_class_boxes": a.off_class, "duplicates": a.duplicates,
            "out_of_image": a.out_of_image, "invalid_boxes": a.invalid_boxes, "cited_precision": self.cited_precision,
            "problems": list(a.problems),
        }


def score_one(p: Prediction) -> Scored:
    """Parse ``p.trace`` and audit it; ``value`` is what the task's metric takes (None: no answer)."""
    from .audit import audit_trace, cited_matches
    from .trace import parse_count, parse_trace

    trace = parse_trace(p.trace, p.box_convention, p.image_size)
    audit = audit_trace(trace, p.task, p.image_size, asked_classes(p.task, p.question, p.truth))
    answer = trace.answer
    value: Any = None
    if answer is not None:
        if p.task in ("vqa", "classify", "caption"):
            value = answer
        elif p.task == "count":
            value = parse_count(answer)
        elif p.task == "ground":
            value = trace.answer_boxes[0] if trace.answer_boxes else None
        elif p.task == "detect":
            value = list(trace.answer_boxes)
    gt = _gt_boxes(p)
    matched = None if gt is None else cited_matches(trace, gt)
    return Scored(answer=answer, value=value, audit=audit, cited_matched=matched, gt_boxes=gt)


def asked_classes(task: str, question: str, truth: Mapping[str, Any] | None = None) -> list[str] | None:
    """The classes a count or detect question asks about, as ``ask`` finds them in the question
    (``truth["class"]`` when the question names none); None for other tasks or none found.

    >>> asked_classes("count", "How many storage tanks are there?"), asked_classes("detect", "", {"class": "ship"})
    (['storage tank'], ['ship'])
    >>> asked_classes("vqa", "How many ships?") is None
    True
    """
    from .questions import question_classes

    if task not in ("count", "detect"):
        return None
    found = question_classes(question) if question else None
    if not found and truth and truth.get("class"):
        found = [str(truth["class"])]
    return found or None


def _gt_boxes(p: Prediction) -> tuple[PixelBox, ...] | None:
    boxes = [tuple(float(v) for v in b) for b in p.truth.get("boxes") or ()]
    if p.truth.get("target_box") is not None:
        boxes.insert(0, tuple(float(v) for v in p.truth["target_box"]))
    if not boxes and p.task not in _BOX_TASKS:
        return None
    return tuple(boxes)  # type: ignore[arg-type]


def _detection_class(truth: Mapping[str, Any]) -> str:
    if truth.get("class"):
        return str(truth["class"])
    labels = set(truth.get("labels") or ())
    return labels.pop() if len(labels) == 1 else "object"


# ------------------------------------------------------------------------------------------ report
@dataclass(frozen=True)
class AuditSummary:
    """The faithfulness audit summed over ``n`` traces (fractions are of ``n`` unless said).

    ``format_ok``: full Geo-CoT format. ``answered``: an answer could be read. ``consistent``: of
    the ``consistency_checked`` traces (count / detect / ground with an answer), the fraction whose
    answer equals their grounded evidence. ``cited_precision``: of the ``cited_boxes`` distinct
    boxes cited where ground truth is known, the fraction matching a ground-truth box at IoU >= 0.5
    (one-to-one). ``duplicates``, ``out_of_image``, ``invalid_boxes``: box counts;
    ``with_duplicates``: fraction of traces citing a box twice. ``off_class``: distinct grounded boxes
    of count and detect traces labelled with a class other than the one the question asks about
    (context is allowed; the consistency check leaves them out).
    """

    n: int
    format_ok: float | None
    answered: float | None
    consistent: float | None
    consistency_checked: int
    cited_precision: float | None
    cited_boxes: int
    duplicates: int
    with_duplicates: float | None
    out_of_image: int
    invalid_boxes: int
    off_class: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return dict(self.__dict__)


def summarize_audit(scored: Sequence[Scored]) -> AuditSummary:
    """Sum per-trace audits into an :class:`AuditSummary`."""
    n = len(scored)
    frac = (lambda k: k / n) if n else (lambda k: None)
    checked = [s.audit.consistent for s in scored if s.audit.consistent is not None]
    cited = matched = 0
    for s in scored:
        if s.cited_matched is not None:
            cited += s.audit.distinct
            matched += s.cited_matched
    return AuditSummary(
        n=n,
        format_ok=frac(sum(s.audit.format_ok for s in scored)),
        answered=frac(sum(s.answer is not None for s in scored)),
        consistent=(sum(checked) / len(checked)) if checked else None,
        consistency_checked=len(checked),
        cited_precision=(matched / cited) if cited else None,
        cited_boxes=cited,
        duplicates=sum(s.audit.duplicates for s in scored),
        with_duplicates=frac(sum(s.audit.duplicates > 0 for s in scored)),
        out_of_image=sum(s.audit.out_of_image for s in scored),
        invalid_boxes=sum(s.audit.invalid_boxes for s in scored),
        off_class=sum(s.audit.off_class for s in scored),
    )


@dataclass(frozen=True)
class TaskReport:
    """One task's figures: ``metrics`` (name -> value, in :data:`TASK_METRICS` order; ``None`` where
    undefined); ``unparsed``: traces whose answer could not be read as this task's answer (no
    answer at all, no number for count, no box for ground), scored as wrong; the task's audit; notes."""

    task: str
    n: int
    metrics: Mapping[str, float | None]
    unparsed: int
    audit: AuditSummary
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "task": self.task, "n": self.n, "metrics": dict(self.metrics), "unparsed": self.unparsed,
            "audit": self.audit.to_dict(), "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Report:
    """The evaluation of a predictions file: one :class:`TaskReport` per task present, the overall audit."""

    n: int
    tasks: tuple[TaskReport, ...]
    audit: AuditSummary
    models: tuple[str, ...] = ()
    source: str | None = None

    def task(self, name: str) -> TaskReport:
        """The report of task ``name``; ``KeyError`` when the benchmark has none."""
        for t in self.tasks:
            if t.task == name:
                return t
        raise KeyError(f"no {name} samples were evaluated")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``geocot eval --json`` prints."""
        return {
            "n": self.n,
            "models": list(self.models),
            "predictions": self.source,
            "tasks": {t.task: t.to_dict() for t in self.tasks},
            "audit": self.audit.to_dict(),
        }


def _task_report(task: str, preds: Sequence[Prediction], scored: Sequence[Scored], meteor: bool) -> TaskReport:
    values = [s.value for s in scored]
    truths = [p.truth for p in preds]
    notes: list[str] = []
    figures: dict[str, float | None]
    if task in ("vqa", "classify"):
        key = "answer" if task == "vqa" else "class"
        targets = [str(t.get(key) or t.get("answer") or "") for t in truths]
        s = M.answer_scores(values, targets)
        figures = {"score": s.score, "accuracy": s.exact}
    elif task == "ground":
        g = M.grounding_scores(values, [tuple(t["target_box"]) for t in truths])
        figures = {"acc50": g.acc50, "miou": g.miou}
    elif task == "count":
        c = M.count_scores(values, [int(t["count"]) for t in truths])
        figures = {"accuracy": c.accuracy, "mae": c.mae}
    elif task == "detect":
        d = M.detection_map50(values, [t.get("boxes") or [] for t in truths], [_detection_class(t) for t in truths])
        figures = {"map50": d.map50}
        notes.append(f"{d.predicted} predicted boxes, {d.ground_truth} ground-truth boxes; every box scored 1.0")
        if d.map50 is None:
            notes.append("mAP undefined: no ground-truth box in these samples")
    else:
        refs = [list(t.get("captions") or ([t["answer"]] if t.get("answer") else [])) for t in truths]
        cs = M.caption_scores(values, refs, meteor=meteor)
        figures = {k: getattr(cs, k) for k in TASK_METRICS["caption"]}
        notes.append(f"standard COCO caption metrics (pycocoevalcap, {cs.tokenizer} tokenizer)")
        if cs.note:
            notes.append(cs.note)
    return TaskReport(
        task=task, n=len(preds), metrics=MappingProxyType(figures),
        unparsed=sum(v is None for v in values), audit=summarize_audit(scored), notes=tuple(notes),
    )


def score_predictions(
    predictions: Iterable[Prediction] | str | os.PathLike[str], *, meteor: bool = True
) -> Report:
    """Score saved predictions (a ``preds.jsonl`` path or :class:`Prediction` values) without a model.

    Records are scored in benchmark order (``index``), so the figures do not depend on the order
    in which a resumed run wrote them. ``meteor=False`` skips METEOR (it starts a Java process).
    """
    source = None
    if isinstance(predictions, (str, os.PathLike)):
        source = str(predictions)
        predictions = read_predictions(predictions)
    preds = sorted(predictions, key=lambda p: p.index)
    scored = [score_one(p) for p in preds]
    tasks = []
    for task in TASKS:
        idx = [i for i, p in enumerate(preds) if p.task == task]
        if idx:
            tasks.append(_task_report(task, [preds[i] for i in idx], [scored[i] for i in idx], meteor))
    return Report(
        n=len(preds), tasks=tuple(tasks), audit=summarize_audit(scored),
        models=tuple(sorted({p.model for p in preds if p.model})), source=source,
    )


def read_predictions(path: str | os.PathLike[str], *, allow_torn_tail: bool = False) -> list[Prediction]:
    """Read a predictions file; a malformed line is a :class:`DataError` naming it.

    With ``allow_torn_tail`` a last line cut off mid-write (a killed run) is dropped instead.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"predictions file {p} not found; write one with `geocot eval --data ... --out {p.name}`")
    lines = p.read_bytes().splitlines()
    out: list[Prediction] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            pred = Prediction.from_dict(json.loads(line.decode("utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            if allow_torn_tail and lineno == len(lines):
                break
            raise DataError(f"{p}:{lineno}: not valid JSON; is this a geocot predictions file?") from None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise DataError(
                f"{p}:{lineno}: not a geocot prediction ({type(exc).__name__}: {exc}); "
                "re-create it with `geocot eval --data ... --out`"
            ) from None
        if pred.id in seen:
            raise DataError(f"{p}:{lineno}: id {pred.id!r} already on line {seen[pred.id]}; one line per sample")
        seen[pred.id] = lineno
        out.append(pred)
    return out


# ---------------------------------------------------------------------------------------- the run
def sample_key(sample: Any, index: int) -> str:
    """The id a prediction is filed under: the sample's ``id``, else its image name, task and position.

    >>> from pathlib import Path
    >>> from geocot_cli.data.schema import Sample
    >>> sample_key(Sample(image=Path("/d/a.png"), task="count", count=1), 7)
    'a.png/count#7'
    """
    return sample.id or f"{sample.name}#{index}"


def load_image(path: Path):
    """The RGB image a model is fed for a benchmark sample (PIL; rasterio for other GeoTIFFs)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode in ("RGB", "L", "RGBA", "P", "LA", "CMYK", "YCbCr", "1"):
                return im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image {path} not found; check the benchmark's image paths") from None
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    from rasterio.windows import Window

    from .scene import open_scene

    scene = open_scene(path)
    image, _ = scene.read(Window(0, 0, scene.width, scene.height))
    return Image.fromarray(image)


def evaluate(
    backend: Any,
    samples: Sequence[Any] | str | os.PathLike[str],
    *,
    out_path: str | os.PathLike[str],
    limit: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    batch_size: int = 4,
    meteor: bool = True,
    progress: Progress | None = None,
) -> Report:
    """Run ``backend`` over ``samples`` (or a sample JSONL path), writing ``out_path`` as it goes.

    ``limit``: only the first ``limit`` samples. ``resume``: keep the predictions already in
    ``out_path`` (a last line torn by a killed run is dropped) and run only the samples not there.
    ``overwrite``: replace an existing ``out_path``; without either flag an existing file is an
    :class:`OutputError`. ``progress(done, total)`` is called after every batch. Returns
    ``score_predictions(out_path)``: the report covers every prediction in the file.
    """
    from .data.schema import load_samples
    from .prompts import sample_prompt

    if batch_size <= 0:
        raise ConfigError(f"batch_size ({batch_size}) must be > 0; try --batch-size 4")
    if limit is not None and limit <= 0:
        raise ConfigError(f"limit ({limit}) must be > 0; leave it out to evaluate every sample")
    if isinstance(samples, (str, os.PathLike)):
        samples = load_samples(samples)
    all_samples = list(samples)
    if not all_samples:
        raise DataError("the benchmark holds no samples; check the --data file")
    keys = [sample_key(s, i) for i, s in enumerate(all_samples)]
    _check_unique(keys)
    classify_classes = sorted({s.cls or s.answer for s in all_samples if s.task == "classify"}) or None
    chosen = list(range(len(all_samples)))[: limit or None]

    out = Path(out_path)
    done = _prepare_output(out, resume=resume, overwrite=overwrite, keys=set(keys), model=backend.name)
    todo = [i for i in chosen if keys[i] not in done]
    for i in todo:
        if not Path(all_samples[i].image).is_file():
            raise DataError(f"sample {keys[i]!r}: image {all_samples[i].image} not found; fix its image path")
    total, finished = len(chosen), len(chosen) - len(todo)
    if progress is not None:
        progress(finished, total)
    with out.open("a", encoding="utf-8") as fh:
        for lo in range(0, len(todo), batch_size):
            batch = todo[lo : lo + batch_size]
            images, prompts = [], []
            for i in batch:
                s = all_samples[i]
                images.append(load_image(Path(s.image)))
                prompts.append(sample_prompt(s, classify_classes))
            texts = backend.generate(images, prompts)
            if len(texts) != len(batch):
                raise BackendError(f"the model returned {len(texts)} answers for {len(batch)} images")
            for i, image, prompt, text in zip(batch, images, prompts, texts):
                s = all_samples[i]
                pred = Prediction(
                    id=keys[i], index=i, task=s.task, trace=text, image_size=tuple(image.size),
                    box_convention=backend.box_convention, truth=_truth(s), question=s.question,
                    prompt=prompt, image=str(s.image), model=backend.name,
                )
                fh.write(_line(pred) + "\n")
            fh.flush()
            finished += len(batch)
            if progress is not None:
                progress(finished, total)
    return score_predictions(out, meteor=meteor)


def _check_unique(keys: Sequence[str]) -> None:
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in first:
            raise DataError(
                f"samples {first[k] + 1} and {i + 1} share the id {k!r}; give every sample a unique id"
            )
        first[k] = i


def check_output(out: str | os.PathLike[str], *, resume: bool = False, overwrite: bool = False) -> Path:
    """Refuse, before any model time is spent, a predictions file that could not or must not be written.

    >>> check_output("/no/such/folder/preds.jsonl")
    Traceback (most recent call last):
    ...
    geocot_cli.errors.OutputError: /no/such/folder/preds.jsonl: folder /no/such/folder does not exist; create it or choose another --out
    """
    out = Path(out)
    if out.is_dir():
        raise OutputError(f"{out} is a directory; give a file name such as {out / 'preds.jsonl'}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{out}: folder {parent} does not exist; create it or choose another --out")
    if out.exists() and out.stat().st_size and not (resume or overwrite):
        raise OutputError(f"{out} exists; pass --resume to continue that run or --overwrite to start again")
    return out


def _prepare_output(out: Path, *, resume: bool, overwrite: bool, keys: set[str], model: str) -> set[str]:
    """Check ``out`` can be written; with ``resume`` return the ids it already holds (torn tail dropped)."""
    check_output(out, resume=resume, overwrite=overwrite)
    if not out.exists() or out.stat().st_size == 0:
        _touch(out)
        return set()
    if resume:
        preds = read_predictions(out, allow_torn_tail=True)
        stray = sorted(p.id for p in preds if p.id not in keys)
        if stray:
            raise DataError(
                f"{out} holds predictions for samples not in this benchmark (e.g. {stray[0]!r}); "
                "resume with the same --data, or choose another --out"
            )
        others = sorted({p.model for p in preds if p.model and p.model != model})
        if others:
            raise DataError(
                f"{out} was written by model {others[0]!r}, not {model!r}; resume with the same --model, "
                "or choose another --out"
            )
        _rewrite(out, [_line(p) for p in preds])
        return {p.id for p in preds}
    _touch(out, truncate=True)
    return set()


def _line(p: Prediction) -> str:
    """One JSON line: the prediction plus its per-answer ``result`` (UTF-8; escaped if it cannot be)."""
    record = p.to_dict()
    record["result"] = score_one(p).summary()
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates in model output: keep them, escaped
        line = json.dumps(record)
    return line


def _rewrite(out: Path, lines: list[str]) -> None:
    tmp = out.with_name(out.name + ".part")
    try:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}; choose a writable --out") from None


def _touch(out: Path, truncate: bool = False) -> None:
    try:
        with out.open("w" if truncate else "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}; choose a writable --out") from None
