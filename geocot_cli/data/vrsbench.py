"""VRSBench reader: per-image annotation JSON (``Annotations_train/``, ``Annotations_val/``) and the
flat evaluation lists (``VRSBench_EVAL_referring.json``, ``_vqa.json``, ``_Cap.json``).

Per-image annotation (one file per image; layout as written by the VRSBench authors' generation
script)::

    {"image": "P0003_0002.png", "caption": "The image shows ...",
     "objects": [{"obj_id": 0, "obj_cls": "ship", "referring_sentence": "the ship at the top",
                  "obj_coord": [0.12, 0.30, 0.25, 0.41], "is_unique": false, ...}],
     "qa_pairs": [{"ques_id": 1, "question": "How many ships ...?", "answer": "2", "type": "quantity"}]}

gives one ``caption`` sample, one ``ground`` sample per object with a referring sentence, and one
``vqa`` sample per question. ``obj_coord`` is ``[x1,y1,x2,y2]`` normalised to 0-1 of the image
(VRSBench rounds it to two decimals) and is turned into pixels with the image's size.

Evaluation list: ``[{"image_id": "P0003_0002.png", "question": "...", "ground_truth": "...",
"question_id": 7, "type": "..."}, ...]``. A ``ground_truth`` written ``{<x1><y1><x2><y2>}`` is a
referring box on a 0-100 scale (a ``ground`` sample); an entry with a ``type`` is a ``vqa``
sample; any other entry is a ``caption`` sample with ``ground_truth`` as its caption.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from ..boxes import to_pixels
from ..errors import DataError
from ..prompts import default_question
from ._common import find_image, image_size, load_json
from .schema import Sample
from .tasks import label_words

__all__ = ["VRSBENCH_TASKS", "read_vrsbench"]

VRSBENCH_TASKS: tuple[str, ...] = ("caption", "ground", "vqa")
_BOX_TOKENS = re.compile(r"^\s*\{\s*<\s*([\d.]+)\s*>\s*<\s*([\d.]+)\s*>\s*<\s*([\d.]+)\s*>\s*<\s*([\d.]+)\s*>\s*\}\s*$")


def _pixel_box(norm: Any, size: tuple[int, int], scale: str, where: str) -> tuple[float, ...]:
    if (not isinstance(norm, (list, tuple)) or len(norm) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in norm)):
        raise DataError(f"{where}: box must be [x1,y1,x2,y2], got {norm!r}")
    x1, y1, x2, y2 = to_pixels(norm, scale, size)
    w, h = size
    box = (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise DataError(f"{where}: box {list(norm)!r} has no area")
    return box


def _from_annotation(d: Mapping[str, Any], path: Path, images: Path, tasks: Collection[str],
                     classes: Collection[str] | None) -> list[Sample]:
    name = d.get("image")
    if not isinstance(name, str):
        raise DataError(f"{path}: needs 'image' (the image file name)")
    image = find_image(images, name, label_file=path).resolve()
    size = image_size(image)
    stem = Path(name).stem
    meta = {"source": "vrsbench"}
    out: list[Sample] = []
    cap = d.get("caption")
    if "caption" in tasks and isinstance(cap, str) and cap.strip():
        out.append(Sample(image=image, task="caption", question=default_question("caption"),
                          captions=(" ".join(cap.split()),), image_size=size, id=f"{stem}/caption", meta=meta))
    objects = d.get("objects") or []
    if not isinstance(objects, list):
        raise DataError(f"{path}: 'objects' must be a list")
    if "ground" in tasks:
        for i, o in enumerate(objects):
            if not isinstance(o, dict):
                raise DataError(f"{path}: objects[{i}] must be an object")
            ref = o.get("referring_sentence")
            if not isinstance(ref, str) or not ref.strip():
                continue
            label = label_words(str(o.get("obj_cls") or "object"))
            if classes is not None and label not in classes:
                continue
            box = _pixel_box(o.get("obj_coord"), size, "norm1", f"{path}: objects[{i}].obj_coord")
            out.append(Sample(image=image, task="ground", question=" ".join(ref.split()), target_box=box,
                              boxes=(box,), labels=(label,), image_size=size,
                              id=f"{stem}/ground/{o.get('obj_id', i)}",
                              meta={**meta, "is_unique": bool(o.get("is_unique", False))}))
    qa = d.get("qa_pairs") or []
    if not isinstance(qa, list):
        raise DataError(f"{path}: 'qa_pairs' must be a list")
    if "vqa" in tasks:
        for i, q in enumerate(qa):
            if not isinstance(q, dict) or not isinstance(q.get("question"), str) or q.get("answer") in (None, ""):
                raise DataError(f"{path}: qa_pairs[{i}] needs 'question' and 'answer'")
            out.append(Sample(image=image, task="vqa", question=q["question"].strip(), answer=str(q["answer"]).strip(),
                              image_size=size, id=f"{stem}/vqa/{q.get('ques_id', i)}",
                              meta={**meta, "type": str(q.get("type", ""))}))
    return out


def _from_eval_list(rows: list[Any], path: Path, images: Path, tasks: Collection[str]) -> list[Sample]:
    out: list[Sample] = []
    sizes: dict[Path, tuple[int, int]] = {}
    for i, r in enumerate(rows):
        where = f"{path}: [{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("image_id"), str):
            raise DataError(f"{where}: needs 'image_id'")
        image = find_image(images, r["image_id"], label_file=path).resolve()
        gt = r.get("ground_truth")
        if gt is None:
            raise DataError(f"{where}: needs 'ground_truth'")
        qid = r.get("question_id", i)
        stem = Path(r["image_id"]).stem
        m = _BOX_TOKENS.match(gt) if isinstance(gt, str) else None
        if m:
            task = "ground"
        elif "type" in r:
            task = "vqa"
        else:
            task = "caption"
        if task not in tasks:
            continue
        size = sizes.get(image) or sizes.setdefault(image, image_size(image))
        meta = {"source": "vrsbench", "question_id": qid}
        if task == "ground":
            if not isinstance(r.get("question"), str):
                raise DataError(f"{where}: a referring entry needs 'question'")
            box = _pixel_box([float(v) for v in m.groups()], size, "norm100", where)  # type: ignore[union-attr]
            out.append(Sample(image=image, task="ground", question=r["question"].strip(), target_box=box,
                              boxes=(box,), labels=(label_words(str(r.get("obj_cls") or "object")),),
                              image_size=size, id=f"{stem}/ground/{qid}", meta=meta))
        elif task == "vqa":
            if not isinstance(r.get("question"), str):
                raise DataError(f"{where}: a vqa entry needs 'question'")
            out.append(Sample(image=image, task="vqa", question=r["question"].strip(), answer=str(gt).strip(),
                              image_size=size, id=f"{stem}/vqa/{qid}", meta={**meta, "type": str(r["type"])}))
        else:
            out.append(Sample(image=image, task="caption", question=default_question("caption"),
                              captions=(" ".join(str(gt).split()),), image_size=size,
                              id=f"{stem}/caption/{qid}", meta=meta))
    return out


def read_vrsbench(
    labels: Path,
    images: Path | None = None,
    *,
    tasks: Collection[str] = VRSBENCH_TASKS,
    classes: Collection[str] | None = None,
) -> list[Sample]:
    """Read VRSBench annotations: a folder of per-image JSON files, one such file, or an EVAL list.

    Images default to ``Images_train``/``Images_val`` beside ``Annotations_train``/``Annotations_val``,
    else the labels' folder.
    """
    labels = Path(labels)
    if labels.is_dir():
        files = sorted(labels.glob("*.json"))
        if not files:
            raise DataError(f"no VRSBench annotation files (*.json) in {labels}")
    elif labels.is_file():
        files = [labels]
    else:
        raise DataError(f"VRSBench labels {labels} not found; pass an Annotations_* folder or an EVAL json")
    if images is None:
        folder = labels if labels.is_dir() else labels.parent
        twin = folder.parent / folder.name.replace("Annotations", "Images")
        images = twin if folder.name.startswith("Annotations") and twin.is_dir() else folder
    out: list[Sample] = []
    for f in files:
        d = load_json(f, "VRSBench")
        if isinstance(d, list):
            out.extend(_from_eval_list(d, f, Path(images), tasks))
        elif isinstance(d, dict):
            out.extend(_from_annotation(d, f, Path(images), tasks, classes))
        else:
            raise DataError(f"{f}: expected a per-image annotation object or an evaluation list")
    return out
