"""One entry point for every dataset format geocot reads: ``read_dataset(format, labels, images)``.

=========  =============================================  ==========================================
format     ``labels`` (``images`` default)                 samples
=========  =============================================  ==========================================
dota       ``labelTxt/`` folder or one ``.txt``            detect / count / vqa per class
           (``../images``)
voc        folder of VOC ``.xml`` (``../JPEGImages``)       detect / count / vqa; ground for DIOR-RSVG
resisc     dataset root, one folder per class               classify
captions   RSICD/UCM caption JSON (its folder)              caption
vrsbench   ``Annotations_*/`` folder, one file, or an       caption / ground / vqa
           EVAL list (``Images_*`` twin, else its folder)
coco       COCO JSON (its folder)                           detect / count / vqa per class
geocot     a sample JSONL (images relative to it)           whatever it holds
=========  =============================================  ==========================================

>>> FORMATS
('dota', 'voc', 'resisc', 'captions', 'vrsbench', 'coco', 'geocot')
>>> FORMAT_TASKS["resisc"]
('classify',)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, DataError
from ..types import TASKS
from .coco import read_coco
from .dota import read_dota
from .scenes import read_captions, read_class_folders
from .schema import Sample, load_samples
from .tasks import OBJECT_TASKS, ImageObjects, label_words, object_samples, parse_classes, parse_tasks
from .voc import read_voc
from .vrsbench import VRSBENCH_TASKS, read_vrsbench

__all__ = ["FORMATS", "FORMAT_TASKS", "OBJECT_FORMATS", "check_format", "read_dataset", "read_objects"]

FORMATS: tuple[str, ...] = ("dota", "voc", "resisc", "captions", "vrsbench", "coco", "geocot")

#: The tasks each format can give.
FORMAT_TASKS: dict[str, tuple[str, ...]] = {
    "dota": OBJECT_TASKS,
    "voc": OBJECT_TASKS + ("ground",),
    "resisc": ("classify",),
    "captions": ("caption",),
    "vrsbench": VRSBENCH_TASKS,
    "coco": OBJECT_TASKS,
    "geocot": TASKS,
}

#: Formats that annotate objects with boxes (what ``geocot data split`` can cut into patches).
OBJECT_FORMATS: tuple[str, ...] = ("dota", "voc", "coco", "geocot")


def check_format(fmt: str) -> str:
    """Return ``fmt`` if known, else raise :class:`ConfigError` listing the formats."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown dataset format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def read_objects(
    fmt: str,
    labels: Path,
    images: Path | None = None,
    *,
    classes: str | Sequence[str] | None = None,
    skip_difficult: bool = False,
) -> tuple[list[ImageObjects], tuple[str, ...]]:
    """The annotated objects of each image of an object dataset, and the dataset's class names.

    For ``geocot`` sample files the objects of an image are the boxes of its ``detect`` samples
    (a detect sample lists every object of its class); images without one are left out.
    """
    if check_format(fmt) not in OBJECT_FORMATS:
        raise ConfigError(f"format {fmt!r} has no object boxes; use one of {', '.join(OBJECT_FORMATS)}")
    keep = parse_classes(classes)
    if fmt == "dota":
        objs = read_dota(Path(labels), images, classes=keep, skip_difficult=skip_difficult)
        return objs, tuple(sorted({l for o in objs for l in o.labels}))
    if fmt == "voc":
        files = read_voc(Path(labels), images, classes=keep, skip_difficult=skip_difficult)
        objs = [f.objects for f in files if not f.referring]
        return objs, tuple(sorted({l for o in objs for l in o.labels}))
    if fmt == "coco":
        return read_coco(Path(labels), images, classes=keep, skip_difficult=skip_difficult)
    per: dict[Path, dict[tuple, None]] = {}
    sizes: dict[Path, tuple[int, int] | None] = {}
    for s in load_samples(labels):
        if s.task != "detect":
            continue
        slot = per.setdefault(s.image, {})
        sizes.setdefault(s.image, s.image_size)
        labs = s.labels or (label_words(s.meta.get("class", "object")),) * len(s.boxes)
        for b, l in zip(s.boxes, labs):
            if keep is None or l in keep:
                slot[(b, l)] = None
    out = []
    for image, items in per.items():
        size = sizes[image]
        if size is None:
            from ._common import image_size

            size = image_size(image)
        out.append(ImageObjects(image, size, tuple(b for b, _ in items), tuple(l for _, l in items),
                                (False,) * len(items), {"source": "geocot"}))
    return out, tuple(sorted({l for o in out for l in o.labels}))


def read_dataset(
    fmt: str,
    labels: Path,
    images: Path | None = None,
    *,
    tasks: str | Sequence[str] | None = None,
    classes: str | Sequence[str] | None = None,
    skip_difficult: bool = False,
) -> list[Sample]:
    """Read a dataset of format ``fmt`` into task samples (see the table in the module docstring).

    ``tasks`` picks among :data:`FORMAT_TASKS`; ``classes`` keeps only those object classes
    (``ship,small-vehicle``); ``skip_difficult`` drops objects flagged difficult (DOTA, VOC).
    """
    check_format(fmt)
    want = parse_tasks(tasks, FORMAT_TASKS[fmt])
    keep = parse_classes(classes)
    labels = Path(labels)
    if not labels.exists():
        raise DataError(f"labels {labels} not found; pass the {fmt} annotations with --labels")
    if fmt == "geocot":
        return [s for s in load_samples(labels) if s.task in want]
    if fmt == "resisc":
        return read_class_folders(labels, classes=keep)
    if fmt == "captions":
        return read_captions(labels, images)
    if fmt == "vrsbench":
        return read_vrsbench(labels, images, tasks=want, classes=keep)
    if fmt == "voc":
        files = read_voc(labels, images, classes=keep, skip_difficult=skip_difficult)
        names = sorted({l for f in files if not f.referring for l in f.objects.labels})
        out: list[Sample] = []
        for f in files:
            o = f.objects
            if not f.referring:
                out.extend(object_samples(o, tasks=want, all_classes=names))
                continue
            if "ground" not in want:
                continue
            for i, (box, label, desc) in enumerate(zip(o.boxes, o.labels, f.descriptions)):
                if desc:
                    out.append(Sample(image=o.image, task="ground", question=" ".join(desc.split()),
                                      target_box=box, boxes=(box,), labels=(label,), image_size=o.size,
                                      id=f"{o.image.stem}/ground/{i}", meta=dict(o.meta)))
        return out
    objs, names = read_objects(fmt, labels, images, classes=classes, skip_difficult=skip_difficult)
    out = []
    for o in objs:
        out.extend(object_samples(o, tasks=want, all_classes=names))
    return out
