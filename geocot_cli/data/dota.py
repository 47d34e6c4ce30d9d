"""DOTA ``labelTxt`` reader: oriented quadrilaterals -> axis-aligned pixel boxes.

A DOTA label file (one per image, same stem) holds optional headers ``imagesource:GoogleEarth`` and
``gsd:0.2555`` (``gsd:null`` when unknown), then one object per line::

    x1 y1 x2 y2 x3 y3 x4 y4 class difficult

(``difficult`` is 0/1 and may be missing in some releases). Each quadrilateral becomes the
axis-aligned box around its four corners, clipped to the image. Classes are spoken as words
(``small-vehicle`` -> ``small vehicle``). A malformed line raises :class:`DataError` naming the file
and the line.

>>> parse_dota_line("1 2 9 2 9 8 1 8 small-vehicle 1", "x.txt", 3)
((1.0, 2.0, 9.0, 8.0), 'small vehicle', True)
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from ..errors import DataError
from ..types import PixelBox
from ._common import find_image, image_size
from .tasks import ImageObjects, label_words

__all__ = ["parse_dota_line", "read_dota"]


def parse_dota_line(line: str, file: str | Path, lineno: int) -> tuple[PixelBox, str, bool]:
    """One object line -> (axis-aligned box, class words, difficult); raises :class:`DataError`."""
    parts = line.split()
    if len(parts) not in (9, 10):
        raise DataError(
            f"{file}:{lineno}: expected 'x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]', got {line.strip()!r}"
        )
    try:
        xy = [float(v) for v in parts[:8]]
    except ValueError:
        raise DataError(f"{file}:{lineno}: corner coordinates must be numbers, got {' '.join(parts[:8])!r}") from None
    difficult = False
    if len(parts) == 10:
        if parts[9] not in ("0", "1"):
            raise DataError(f"{file}:{lineno}: difficult flag must be 0 or 1, got {parts[9]!r}")
        difficult = parts[9] == "1"
    xs, ys = xy[0::2], xy[1::2]
    return (min(xs), min(ys), max(xs), max(ys)), label_words(parts[8]), difficult


def _read_one(path: Path, images: Path, classes: Collection[str] | None, skip_difficult: bool) -> ImageObjects:
    meta: dict[str, object] = {"source": "dota", "label_file": path.name}
    boxes: list[PixelBox] = []
    labels: list[str] = []
    flags: list[bool] = []
    raw: list[tuple[PixelBox, str, bool]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text label file ({e.reason}); is it a DOTA labelTxt file?") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        low = s.lower()
        if low.startswith("imagesource:"):
            meta["imagesource"] = s.split(":", 1)[1].strip()
            continue
        if low.startswith("gsd:"):
            v = s.split(":", 1)[1].strip()
            try:
                meta["gsd"] = None if v.lower() in ("", "null", "none") else float(v)
            except ValueError:
                raise DataError(f"{path}:{lineno}: gsd must be a number or null, got {v!r}") from None
            continue
        raw.append(parse_dota_line(s, path, lineno))
    image = find_image(images, path.stem, label_file=path)
    w, h = image_size(image)
    for (x1, y1, x2, y2), label, diff in raw:
        if classes is not None and label not in classes:
            continue
        if skip_difficult and diff:
            continue
        box = (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue  # wholly outside the image
        boxes.append(box)
        labels.append(label)
        flags.append(diff)
    return ImageObjects(image, (w, h), tuple(boxes), tuple(labels), tuple(flags), meta)


def default_images(labels: Path) -> Path:
    """DOTA's layout: ``root/labelTxt/*.txt`` next to ``root/images/``."""
    folder = labels if labels.is_dir() else labels.parent
    return folder.parent / "images"


def read_dota(
    labels: Path,
    images: Path | None = None,
    *,
    classes: Collection[str] | None = None,
    skip_difficult: bool = False,
) -> list[ImageObjects]:
    """Read a ``labelTxt`` folder (or one ``.txt``) with its images (default ``../images``)."""
    labels = Path(labels)
    files = sorted(labels.glob("*.txt")) if labels.is_dir() else [labels]
    if not files or not files[0].is_file():
        raise DataError(f"no DOTA label files (*.txt) at {labels}; pass the labelTxt folder with --labels")
    images = Path(images) if images else default_images(labels)
    return [_read_one(f, images, classes, skip_difficult) for f in files]
