"""COCO JSON reader (``images``, ``annotations`` with ``bbox`` ``[x,y,w,h]``, ``categories``).

Boxes become pixel ``[x1,y1,x2,y2]`` clipped to the image; crowd annotations (``iscrowd: 1``) are
skipped; an image without annotations still yields its "is there a ...?" question answered "no".
Errors name the file and the entry (``annotations[12]``), or the line for broken JSON.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..types import PixelBox
from ._common import find_image, image_size, load_json
from .tasks import ImageObjects, label_words

__all__ = ["read_coco"]


def _entries(d: Mapping[str, Any], key: str, path: Path) -> list[Mapping[str, Any]]:
    v = d.get(key)
    if not isinstance(v, list):
        raise DataError(f"{path}: no {key!r} list; is it a COCO annotation file?")
    for i, e in enumerate(v):
        if not isinstance(e, dict):
            raise DataError(f"{path}: {key}[{i}] must be an object")
    return v


def read_coco(
    labels: Path,
    images: Path | None = None,
    *,
    classes: Collection[str] | None = None,
    skip_difficult: bool = False,
) -> tuple[list[ImageObjects], tuple[str, ...]]:
    """Read a COCO JSON file; returns the images' objects and every category name (as words).

    Images are looked up in ``images`` (default: the JSON file's folder) by ``file_name``.
    ``skip_difficult`` skips crowd annotations too (they are always skipped).
    """
    labels = Path(labels)
    d = load_json(labels, "COCO annotation")
    if not isinstance(d, dict):
        raise DataError(f"{labels}: top level must be an object with images/annotations/categories")
    folder = Path(images) if images else labels.parent
    cats: dict[Any, str] = {}
    for i, c in enumerate(_entries(d, "categories", labels)):
        if "id" not in c or not isinstance(c.get("name"), str):
            raise DataError(f"{labels}: categories[{i}] needs 'id' and 'name'")
        cats[c["id"]] = label_words(c["name"])
    imgs: dict[Any, tuple[Path, tuple[int, int]]] = {}
    order: list[Any] = []
    for i, im in enumerate(_entries(d, "images", labels)):
        if "id" not in im or not isinstance(im.get("file_name"), str):
            raise DataError(f"{labels}: images[{i}] needs 'id' and 'file_name'")
        path = find_image(folder, im["file_name"], label_file=labels)
        w, h = im.get("width"), im.get("height")
        size = (int(w), int(h)) if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0 else image_size(path)
        imgs[im["id"]] = (path, size)
        order.append(im["id"])
    per: dict[Any, list[tuple[PixelBox, str]]] = {k: [] for k in order}
    for i, a in enumerate(_entries(d, "annotations", labels)):
        where = f"{labels}: annotations[{i}]"
        if a.get("image_id") not in imgs:
            raise DataError(f"{where}: image_id {a.get('image_id')!r} is not in 'images'")
        if a.get("category_id") not in cats:
            raise DataError(f"{where}: category_id {a.get('category_id')!r} is not in 'categories'")
        bb = a.get("bbox")
        if (not isinstance(bb, list) or len(bb) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bb)):
            raise DataError(f"{where}: bbox must be [x, y, width, height], got {bb!r}")
        if bb[2] < 0 or bb[3] < 0:
            raise DataError(f"{where}: bbox {bb!r} has a negative width or height")
        if a.get("iscrowd", 0):
            continue
        label = cats[a["category_id"]]
        if classes is not None and label not in classes:
            continue
        _, (w, h) = imgs[a["image_id"]]
        x, y, bw, bh = (float(v) for v in bb)
        box = (max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh))
        if box[2] > box[0] and box[3] > box[1]:
            per[a["image_id"]].append((box, label))
    out = []
    for k in order:
        path, size = imgs[k]
        objs = per[k]
        out.append(ImageObjects(path, size, tuple(b for b, _ in objs), tuple(l for _, l in objs),
                                (False,) * len(objs), {"source": "coco", "image_id": k}))
    names = tuple(sorted(set(cats.values())))
    if classes is not None:
        names = tuple(n for n in names if n in classes)
    return out, names
