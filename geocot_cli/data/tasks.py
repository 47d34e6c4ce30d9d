"""From the objects annotated on one image to task samples (detect, count, vqa).

Detection datasets (DOTA, DIOR/VOC, COCO, patches cut by ``geocot data split``) annotate objects;
the paper trains on tasks. For each image :func:`object_samples` writes, per class present, a
detection sample ("Detect all ships in the image."), a counting sample and an existence question
answered "yes"; and one existence question about a class of the dataset that is absent, answered
"no" (the absent class is picked deterministically from the image name). Every sample carries the
boxes of its class as the evidence a Geo-CoT trace must ground.

>>> objs = ImageObjects(Path("/d/a.png"), (100, 80), ((1, 1, 9, 9), (20, 5, 30, 15)), ("ship", "ship"))
>>> [s.task for s in object_samples(objs, all_classes=("ship", "plane"))]
['detect', 'count', 'vqa', 'vqa']
>>> plural("storage tank"), plural("bus"), plural("ferry")
('storage tanks', 'buses', 'ferries')
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..questions import plural
from ..types import PixelBox
from .schema import Sample

__all__ = [
    "OBJECT_TASKS",
    "ImageObjects",
    "label_words",
    "object_samples",
    "parse_classes",
    "parse_tasks",
    "plural",
    "stable_index",
]

#: The tasks a set of object annotations can be turned into.
OBJECT_TASKS: tuple[str, ...] = ("detect", "count", "vqa")

# DIOR writes some class names as one word; the trace speaks them as words.
_COMPOUNDS = {
    "storagetank": "storage tank",
    "baseballfield": "baseball field",
    "basketballcourt": "basketball court",
    "groundtrackfield": "ground track field",
    "tenniscourt": "tennis court",
    "golffield": "golf field",
    "trainstation": "train station",
    "expressway-service-area": "expressway service area",
    "expressway-toll-station": "expressway toll station",
}


def label_words(label: str) -> str:
    """A class name as words: ``small-vehicle`` -> ``small vehicle``, ``storagetank`` -> ``storage tank``.

    >>> label_words("Small-Vehicle"), label_words("storage_tank"), label_words("storagetank")
    ('small vehicle', 'storage tank', 'storage tank')
    """
    key = label.strip().lower()
    if key in _COMPOUNDS:
        return _COMPOUNDS[key]
    return " ".join(key.replace("-", " ").replace("_", " ").split())


def stable_index(key: str, n: int) -> int:
    """A deterministic index in ``range(n)`` from a string (the same on every machine and run)."""
    return zlib.crc32(key.encode("utf-8")) % n if n > 0 else 0


def parse_tasks(value: str | Sequence[str] | None, allowed: Sequence[str]) -> tuple[str, ...]:
    """``"detect,count"`` -> ``("detect", "count")``, checked against ``allowed``.

    >>> parse_tasks("count, detect", OBJECT_TASKS)
    ('count', 'detect')
    """
    if value is None:
        return tuple(allowed)
    items = value.split(",") if isinstance(value, str) else list(value)
    tasks = tuple(t.strip() for t in items if t.strip())
    bad = [t for t in tasks if t not in allowed]
    if bad or not tasks:
        raise ConfigError(
            f"task {', '.join(bad) or '(none)'} cannot be made from this format; use some of {', '.join(allowed)}"
        )
    return tasks


def parse_classes(value: str | Sequence[str] | None) -> frozenset[str] | None:
    """A category filter as a set of class words (``None`` keeps every class).

    >>> sorted(parse_classes("ship,small-vehicle"))
    ['ship', 'small vehicle']
    """
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    out = frozenset(label_words(c) for c in items if c.strip())
    return out or None


@dataclass(frozen=True)
class ImageObjects:
    """The objects annotated on one image: pixel boxes, class words, difficult flags."""

    image: Path
    size: tuple[int, int]
    boxes: tuple[PixelBox, ...] = ()
    labels: tuple[str, ...] = ()
    difficult: tuple[bool, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def of_class(self, label: str) -> tuple[PixelBox, ...]:
        """The boxes of one class, in annotation order."""
        return tuple(b for b, l in zip(self.boxes, self.labels) if l == label)

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes present, sorted."""
        return tuple(sorted(set(self.labels)))


def object_samples(
    objs: ImageObjects,
    *,
    tasks: Sequence[str] = OBJECT_TASKS,
    all_classes: Iterable[str] = (),
    id_prefix: str | None = None,
) -> list[Sample]:
    """Task samples for one annotated image (see the module docstring); boxes stay in annotation order."""
    prefix = id_prefix or objs.image.stem
    out: list[Sample] = []
    meta = dict(objs.meta)
    for label in objs.classes:
        boxes = objs.of_class(label)
        labels = (label,) * len(boxes)
        common = dict(image=objs.image, boxes=boxes, labels=labels, image_size=objs.size, meta=meta)
        if "detect" in tasks:
            out.append(Sample(task="detect", question=f"Detect all {plural(label)} in the image.",
                              id=f"{prefix}/detect/{_slug(label)}", **common))
        if "count" in tasks:
            out.append(Sample(task="count", question=f"How many {plural(label)} are in the image?",
                              count=len(boxes), id=f"{prefix}/count/{_slug(label)}", **common))
        if "vqa" in tasks:
            out.append(Sample(task="vqa", question=f"Is there a {label} in the image?", answer="yes",
                              id=f"{prefix}/vqa/{_slug(label)}", **common))
    absent = sorted(set(label_words(c) for c in all_classes) - set(objs.labels))
    if "vqa" in tasks and absent:
        label = absent[stable_index(objs.image.name, len(absent))]
        out.append(Sample(image=objs.image, task="vqa", question=f"Is there a {label} in the image?",
                          answer="no", image_size=objs.size, meta=meta, id=f"{prefix}/vqa/{_slug(label)}"))
    return out


def _slug(label: str) -> str:
    return label.replace(" ", "-")
