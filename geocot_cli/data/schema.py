"""The one sample schema every geocot dataset is written in (JSON Lines), with its validation.

A sample is one image, one task and its ground truth. Readers of the field's formats turn a dataset
into samples; ``geocot data backfill`` adds a Geo-CoT ``trace``; training and evaluation read them
back with :func:`load_samples`. One JSON object per line::

    {"image": "scene_00001.tif", "task": "count", "question": "How many ships are in the image?",
     "answer": "2", "count": 2, "boxes": [[12,40,30,52],[60,8,71,30]], "labels": ["ship","ship"],
     "image_size": [128,128], "id": "scene_00001/count"}

Fields: ``image`` (path relative to the JSONL file, or absolute), ``task`` (one of
:data:`geocot_cli.types.TASKS`), ``question``, ``answer`` (text), ``boxes`` (pixel ``[x1,y1,x2,y2]``
of the image, x right, y down) with ``labels``, ``count``, ``class``, ``captions``, ``target_box``,
``trace`` (optional Geo-CoT text), ``id``, ``meta`` (free dict) and ``image_size`` ``[w,h]``.
What each task needs: vqa ``answer``; caption ``captions`` or ``answer``; classify ``class``; ground
``question`` (the referring expression) and ``target_box``; count ``count``; detect ``boxes`` (may be
empty). On every task ``boxes``/``labels`` are the objects a trace must ground (its evidence).

>>> s = Sample(image=Path("/data/a.png"), task="count", question="How many ships?", count=2,
...            boxes=((0, 0, 4, 4), (5, 5, 9, 9)), labels=("ship", "ship"))
>>> s.answer
'2'
>>> sample_to_dict(s, base=Path("/data"))["image"]
'a.png'
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..boxes import format_boxes
from ..errors import DataError, OutputError
from ..types import TASKS, PixelBox
from ._common import within

__all__ = [
    "Sample",
    "load_samples",
    "resolve_image",
    "sample_from_dict",
    "sample_to_dict",
    "write_samples",
]

_KNOWN_KEYS = (
    "image", "task", "question", "answer", "boxes", "labels", "count", "class", "captions",
    "target_box", "trace", "id", "meta", "image_size",
)


@dataclass(frozen=True)
class Sample:
    """One image, one task, its ground truth and (optionally) its Geo-CoT trace.

    ``image`` is an absolute path once loaded. ``answer`` is filled from the structured ground
    truth when left empty (count -> ``"2"``, classify -> the class, caption -> the first caption,
    ground -> ``[x1,y1,x2,y2]`` and detect -> ``[[...], ...]`` in pixels). ``cls`` is the JSON key
    ``class``.
    """

    image: Path
    task: str
    question: str = ""
    answer: str = ""
    boxes: tuple[PixelBox, ...] = ()
    labels: tuple[str, ...] = ()
    count: int | None = None
    cls: str | None = None
    captions: tuple[str, ...] = ()
    target_box: PixelBox | None = None
    trace: str | None = None
    id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)
    image_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", Path(self.image))
        object.__setattr__(
            self, "boxes", tuple(_floats(b, f"boxes[{i}]") for i, b in enumerate(self.boxes))
        )
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "captions", tuple(self.captions))
        if self.target_box is not None:
            object.__setattr__(self, "target_box", _floats(self.target_box, "target_box"))
        if self.image_size is not None:
            object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        _check(self)
        if not self.answer:
            object.__setattr__(self, "answer", _derived_answer(self))

    def with_trace(self, trace: str | None, **meta: Any) -> Sample:
        """A copy with ``trace`` set (and ``meta`` updated).

        >>> Sample(image=Path("/a.png"), task="classify", cls="harbor").with_trace("<answer>harbor</answer>").trace
        '<answer>harbor</answer>'
        """
        return replace(self, trace=trace, meta={**self.meta, **meta})

    @property
    def name(self) -> str:
        """A short name for messages: the id, else the image file name and task."""
        return self.id or f"{self.image.name}/{self.task}"


def _floats(b: Sequence[float], name: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in b)
    except (TypeError, ValueError, OverflowError):
        raise _FieldError(name, f"{name} must be four numbers [x1,y1,x2,y2], got {b!r}") from None


def _derived_answer(s: Sample) -> str:
    if s.task == "count" and s.count is not None:
        return str(s.count)
    if s.task == "classify" and s.cls:
        return s.cls
    if s.task == "caption" and s.captions:
        return s.captions[0]
    if s.task == "ground" and s.target_box is not None:
        return format_boxes([s.target_box])[1:-1]
    if s.task == "detect":
        return format_boxes(s.boxes)
    return ""


def _check(s: Sample) -> None:
    """Raise a :class:`DataError` naming the field for a sample that its task cannot use."""
    if s.task not in TASKS:
        raise _FieldError("task", f"unknown task {s.task!r}; use one of {', '.join(TASKS)}")
    if s.labels and len(s.labels) != len(s.boxes):
        raise _FieldError(
            "labels", f"{len(s.labels)} labels for {len(s.boxes)} boxes; give one label per box"
        )
    for i, b in enumerate(s.boxes):
        _check_box(b, f"boxes[{i}]")
    if s.target_box is not None:
        _check_box(s.target_box, "target_box")
    if s.count is not None and (isinstance(s.count, bool) or not isinstance(s.count, int) or s.count < 0):
        raise _FieldError("count", f"count must be a whole number >= 0, got {s.count!r}")
    if s.image_size is not None and (len(s.image_size) != 2 or min(s.image_size) <= 0):
        raise _FieldError("image_size", f"image_size must be [width, height] > 0, got {s.image_size!r}")
    need = {
        "vqa": ("answer", bool(s.answer), "a vqa sample needs an answer"),
        "caption": ("captions", bool(s.captions or s.answer), "a caption sample needs captions or an answer"),
        "classify": ("class", bool(s.cls or s.answer), "a classify sample needs a class"),
        "ground": ("target_box", s.target_box is not None, "a ground sample needs target_box [x1,y1,x2,y2]"),
        "count": ("count", s.count is not None, "a count sample needs count"),
        "detect": ("boxes", True, ""),
    }[s.task]
    if not need[1]:
        raise _FieldError(need[0], need[2])
    if s.task in ("vqa", "ground") and not s.question.strip():
        raise _FieldError("question", f"a {s.task} sample needs a question")
    if s.task == "count" and s.boxes and len(s.boxes) != s.count:
        raise _FieldError(
            "count", f"count is {s.count} but {len(s.boxes)} boxes are given; a count sample's boxes "
            "are the objects counted"
        )


def _check_box(b: Sequence[float], name: str) -> None:
    if len(b) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in b):
        raise _FieldError(name, f"{name} must be four finite numbers [x1,y1,x2,y2], got {list(b)!r}")
    if not (b[2] > b[0] and b[3] > b[1]):
        raise _FieldError(name, f"{name} {list(b)!r} is empty or reversed; need x1 < x2 and y1 < y2")


class _FieldError(DataError):
    """A :class:`DataError` that knows which field is bad (``.field``)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"field {field_name!r}: {message}")
        self.field = field_name
        self.detail = message


# --------------------------------------------------------------------------------------------- I/O


def _as_box(v: Any, name: str) -> PixelBox:
    if not isinstance(v, (list, tuple)) or len(v) != 4:
        raise _FieldError(name, f"{name} must be a list [x1,y1,x2,y2], got {v!r}")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise _FieldError(name, f"{name} must hold numbers, got {v!r}")
    try:
        return tuple(float(x) for x in v)  # type: ignore[return-value]
    except OverflowError:
        raise _FieldError(name, f"{name} holds a number too large for a pixel coordinate") from None


def _as_str(v: Any, name: str) -> str:
    if v is None:
        return ""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    if not isinstance(v, str):
        raise _FieldError(name, f"{name} must be text, got {type(v).__name__}")
    return v


def resolve_image(value: str, base: Path) -> Path:
    """Resolve an ``image`` field against the dataset folder ``base``.

    Relative paths must stay inside ``base``, also once symbolic links are followed; absolute
    paths are taken as written (an explicit choice, visible in the file).

    >>> resolve_image("img/a.png", Path("/data")).as_posix()
    '/data/img/a.png'
    >>> resolve_image("/elsewhere/a.png", Path("/data")).as_posix()
    '/elsewhere/a.png'
    """
    if "\x00" in value:
        raise _FieldError("image", f"image {value!r} holds a NUL character; write a file path")
    p = Path(value)
    if p.is_absolute():
        return p
    root = Path(os.path.normpath(os.path.abspath(base)))
    full = Path(os.path.normpath(root / p))
    if not within(root, full, follow_links=False):
        raise _FieldError(
            "image", f"image {value!r} leaves the dataset folder {root}; move the image inside it "
            "or write its absolute path"
        )
    if not within(root, full):
        raise _FieldError(
            "image", f"image {value!r} is a link to {os.path.realpath(full)}, outside the dataset folder "
            f"{root}; copy the image in or write its absolute path"
        )
    return full


def sample_from_dict(d: Mapping[str, Any], base: Path) -> Sample:
    """Build a :class:`Sample` from one decoded JSON line (raises ``ValueError`` with ``.field``)."""
    if not isinstance(d, Mapping):
        raise _FieldError("(line)", f"each line must be a JSON object, got {type(d).__name__}")
    unknown = sorted(set(d) - set(_KNOWN_KEYS))
    if unknown:
        raise _FieldError(unknown[0], f"unknown field {unknown[0]!r}; known fields: {', '.join(_KNOWN_KEYS)}")
    image = d.get("image")
    if not isinstance(image, str) or not image.strip():
        raise _FieldError("image", "image must be a non-empty path")
    task = d.get("task")
    if not isinstance(task, str):
        raise _FieldError("task", f"task is missing; use one of {', '.join(TASKS)}")
    boxes = d.get("boxes") or []
    if not isinstance(boxes, list):
        raise _FieldError("boxes", "boxes must be a list of [x1,y1,x2,y2]")
    labels = d.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise _FieldError("labels", "labels must be a list of class names")
    captions = d.get("captions") or []
    if not isinstance(captions, list) or not all(isinstance(x, str) for x in captions):
        raise _FieldError("captions", "captions must be a list of sentences")
    count = d.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        if isinstance(count, float) and count.is_integer():
            count = int(count)
        else:
            raise _FieldError("count", f"count must be a whole number, got {count!r}")
    size = d.get("image_size")
    if size is not None:
        if not isinstance(size, list) or len(size) != 2 or not all(isinstance(v, int) for v in size):
            raise _FieldError("image_size", f"image_size must be [width, height], got {size!r}")
        size = (size[0], size[1])
    meta = d.get("meta") or {}
    if not isinstance(meta, dict):
        raise _FieldError("meta", "meta must be a JSON object")
    trace = d.get("trace")
    if trace is not None and not isinstance(trace, str):
        raise _FieldError("trace", "trace must be text")
    tb = d.get("target_box")
    return Sample(
        image=resolve_image(image, base),
        task=task,
        question=_as_str(d.get("question"), "question"),
        answer=_as_str(d.get("answer"), "answer"),
        boxes=tuple(_as_box(b, f"boxes[{i}]") for i, b in enumerate(boxes)),
        labels=tuple(labels),
        count=count,
        cls=_as_str(d.get("class"), "class") or None,
        captions=tuple(captions),
        target_box=None if tb is None else _as_box(tb, "target_box"),
        trace=trace,
        id=_as_str(d.get("id"), "id") or None,
        meta=meta,
        image_size=size,
    )


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(float(v), 2)


def sample_to_dict(s: Sample, base: Path | None = None) -> dict[str, Any]:
    """The JSON object for ``s``; ``image`` relative to ``base`` when it lies inside it."""
    image = Path(s.image)
    if base is not None:
        root = os.path.abspath(base)
        full = os.path.abspath(image)
        if full.startswith(root + os.sep):
            image_str = Path(os.path.relpath(full, root)).as_posix()
        else:
            image_str = full
    else:
        image_str = str(image)
    d: dict[str, Any] = {"image": image_str, "task": s.task}
    if s.id:
        d["id"] = s.id
    if s.question:
        d["question"] = s.question
    d["answer"] = s.answer
    if s.boxes or s.task == "detect":
        d["boxes"] = [[_num(v) for v in b] for b in s.boxes]
    if s.labels:
        d["labels"] = list(s.labels)
    if s.count is not None:
        d["count"] = s.count
    if s.cls:
        d["class"] = s.cls
    if s.captions:
        d["captions"] = list(s.captions)
    if s.target_box is not None:
        d["target_box"] = [_num(v) for v in s.target_box]
    if s.image_size is not None:
        d["image_size"] = [int(s.image_size[0]), int(s.image_size[1])]
    if s.trace is not None:
        d["trace"] = s.trace
    if s.meta:
        d["meta"] = dict(s.meta)
    return d


def load_samples(path: str | os.PathLike[str]) -> list[Sample]:
    """Read a sample JSONL file; image paths resolve against the file's folder.

    Raises :class:`DataError` naming the file, the line and the field for any malformed line.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"sample file {p} not found; write one with `geocot data synth` or `geocot data backfill`")
    base = p.resolve().parent
    out: list[Sample] = []
    with p.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{p}:{lineno}: not UTF-8 text (byte {e.start + 1}); is this a sample JSONL file?") from None
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{p}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            except (ValueError, RecursionError) as e:  # a 5,000-digit number, arrays nested 10,000 deep
                raise DataError(f"{p}:{lineno}: JSON this reader refuses ({_reason(e)})") from None
            try:
                out.append(sample_from_dict(d, base))
            except _FieldError as e:
                raise DataError(f"{p}:{lineno}: field {e.field!r}: {e.detail}") from None
    return out


def _reason(e: BaseException) -> str:
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return " ".join(str(e).split())[:120]


def write_samples(path: str | os.PathLike[str], samples: Iterable[Sample]) -> int:
    """Write ``samples`` as JSONL (images relative to the file's folder when inside it); returns the count.

    Written to a temporary file and renamed, so a reader never sees half a file.
    """
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".part")
        n = 0
        base = p.resolve().parent
        with tmp.open("w", encoding="utf-8") as fh:
            for s in samples:
                fh.write(json.dumps(sample_to_dict(s, base), ensure_ascii=False) + "\n")
                n += 1
        tmp.replace(p)
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror or e}; choose a writable path") from None
    return n
