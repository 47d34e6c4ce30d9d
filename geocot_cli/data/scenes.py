"""Readers for image-level datasets: class-per-folder classification (NWPU-RESISC45) and caption JSON
(RSICD / UCM-captions / Sydney-captions).

Class per folder: ``root/<class>/<image>`` -> one ``classify`` sample per image; the class is the
folder name as words (``storage_tank`` -> ``storage tank``), the question lists every class.

Caption JSON: ``{"images": [{"filename": "00001.jpg", "split": "train", "sentences": [{"raw":
"many planes are parked ..."}, ...]}, ...]}`` -> one ``caption`` sample per image with all its
sentences as ``captions`` (the first is the answer); ``split`` is kept in ``meta``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from ..errors import DataError
from ..prompts import default_question
from ._common import IMAGE_EXTENSIONS, find_image, load_json
from .schema import Sample
from .tasks import label_words

__all__ = ["read_captions", "read_class_folders"]

_EXTS = {e.lower() for e in IMAGE_EXTENSIONS}


def read_class_folders(root: Path, *, classes: Collection[str] | None = None) -> list[Sample]:
    """One ``classify`` sample per image of ``root/<class>/``, classes sorted, images sorted."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; pass the dataset root (one sub-folder per class) with --labels")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(f"{root} has no class sub-folders; expected root/<class>/<image>, as NWPU-RESISC45")
    names = [label_words(p.name) for p in folders]
    question = default_question("classify", names)
    out: list[Sample] = []
    for folder, name in zip(folders, names):
        if classes is not None and name not in classes:
            continue
        for img in sorted(p for p in folder.iterdir() if p.suffix.lower() in _EXTS):
            out.append(Sample(image=img.resolve(), task="classify", question=question, cls=name,
                              id=f"{folder.name}/{img.stem}", meta={"source": "class-folders"}))
    if not out:
        raise DataError(f"no images found under {root}/<class>/; supported: {', '.join(sorted(_EXTS))}")
    return out


def read_captions(labels: Path, images: Path | None = None) -> list[Sample]:
    """Caption samples from an RSICD/UCM-style JSON; images in ``images`` (default: the JSON's folder,
    then its ``images/`` sub-folder)."""
    labels = Path(labels)
    d = load_json(labels, "caption")
    if not isinstance(d, dict) or not isinstance(d.get("images"), list):
        raise DataError(f"{labels}: expected {{\"images\": [{{\"filename\": ..., \"sentences\": [...]}}]}}")
    folder = Path(images) if images else (
        labels.parent / "images" if (labels.parent / "images").is_dir() else labels.parent
    )
    out: list[Sample] = []
    for i, e in enumerate(d["images"]):
        where = f"{labels}: images[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("filename"), str):
            raise DataError(f"{where}: needs a 'filename'")
        sents = e.get("sentences")
        if not isinstance(sents, list) or not sents:
            raise DataError(f"{where}: needs a non-empty 'sentences' list")
        caps = []
        for j, s in enumerate(sents):
            raw = s.get("raw") if isinstance(s, dict) else s
            if not isinstance(raw, str) or not raw.strip():
                raise DataError(f"{where}: sentences[{j}] needs text in 'raw'")
            caps.append(" ".join(raw.split()))
        image = find_image(folder, e["filename"], label_file=labels)
        meta = {"source": "captions"}
        if isinstance(e.get("split"), str):
            meta["split"] = e["split"]
        out.append(Sample(image=image.resolve(), task="caption", question=default_question("caption"),
                          captions=tuple(caps), id=f"{Path(e['filename']).stem}/caption", meta=meta))
    return out
