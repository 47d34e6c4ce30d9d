"""Provenance: what produced an output, recorded in the output itself.

Every answer of a run carries one provenance record (:func:`run_provenance`): the geocot version
and the time; the model (its id or folder, a hash of its weights and configuration, whether it is
the bundled demo model), its profile and box convention; the prompt sent for the task (and the
overview glance prompt); the decoding and tiling settings; the scene. It is written:

- in ``--json`` and in a GeoJSON file as the top-level member ``geocot`` (RFC 7946 allows foreign
  members);
- in a GeoPackage twice, for two kinds of reader: a ``provenance`` attribute table (``key``,
  ``value``: one row per item), which QGIS lists among the file's layers and opens as a table, and
  which ``ogrinfo -al out.gpkg provenance`` prints; and the same items as GDAL metadata
  (``GEOCOT_*``) of the answer's layer, which ``ogrinfo -so out.gpkg evidence`` prints under the
  layer's name (GeoPackage metadata extension).

The model hash (:func:`model_hash`) is exact and cheap for a hub model in the Hugging Face cache
(the cache names each weight file by its sha256) and for a model folder of at most
:data:`FULL_HASH_BYTES`: the sha256 of every file. A larger folder gets a sampled hash (its
small files whole; of each weight file its size, its first 64 KiB, which hold a safetensors header
with every tensor's name, shape and offset, and 16 spread 1 MiB pieces): it changes whenever a
file is replaced by another, in a fraction of a second (``bench/bench_model_hash.py`` measures
both). ``hash_method`` says which was used.

>>> flat = flatten({"model": {"id": "m", "hash": None}, "tiling": {"tile": 64, "bands": [1, 2, 3]}})
>>> flat
[('model.id', 'm'), ('model.hash', ''), ('tiling.tile', '64'), ('tiling.bands', '[1, 2, 3]')]
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FULL_HASH_BYTES", "flatten", "model_hash", "model_record", "run_provenance"]

#: Model folders up to this many bytes are hashed whole (sha256 of every file); larger ones sampled.
FULL_HASH_BYTES = 1 << 30

_CHUNK = 1 << 20
_HEAD = 64 << 10
_SAMPLES = 16
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".msgpack", ".h5")
_SKIP = (".git", ".cache")


def _files(folder: Path) -> list[Path]:
    """The files of a model folder that decide what it answers (weights, configs, tokenizer, template)."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part in _SKIP or part.startswith(".") for part in rel.parts):
            if p.suffix in _WEIGHT_SUFFIXES or p.suffix in (".json", ".jinja", ".txt", ".model", ".py"):
                out.append(p)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sampled(path: Path, size: int) -> str:
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(_HEAD))
        for k in range(_SAMPLES):
            fh.seek(max(0, (size - _CHUNK) * k // max(1, _SAMPLES - 1)))
            h.update(fh.read(_CHUNK))
    return h.hexdigest()


def _blob_sha256(path: Path) -> str | None:
    """The sha256 a Hugging Face cache names a weight file's blob by, if it is one (free and exact)."""
    if not path.is_symlink():
        return None
    name = Path(os.readlink(path)).name
    return name if len(name) == 64 and all(c in "0123456789abcdef" for c in name) else None


def _combined(digests: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for name, digest in sorted(digests.items()):
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=16)
def _folder_hash(folder: str, stamp: tuple) -> dict[str, Any]:
    root = Path(folder)
    files = _files(root)
    total = sum(p.stat().st_size for p in files)
    digests: dict[str, str] = {}
    exact = True
    from_cache = False
    for p in files:
        rel = p.relative_to(root).as_posix()
        blob = _blob_sha256(p) if p.suffix in _WEIGHT_SUFFIXES else None
        if blob is not None:
            digests[rel], from_cache = blob, True
        elif total <= FULL_HASH_BYTES or p.suffix not in _WEIGHT_SUFFIXES:
            digests[rel] = _sha256(p)
        else:
            digests[rel], exact = "sampled:" + _sampled(p, p.stat().st_size), False
    if exact:
        method = "sha256 of every file" + (" (weights: the sha256 the Hugging Face cache names them by)"
                                           if from_cache else "")
    else:
        method = (f"sampled sha256 (a folder over {FULL_HASH_BYTES >> 20} MiB: small files whole; of each "
                  f"weight file its size, its first {_HEAD >> 10} KiB and {_SAMPLES} pieces of 1 MiB)")
    weights = {k: v for k, v in digests.items() if Path(k).suffix in _WEIGHT_SUFFIXES}
    return {"hash": "sha256:" + _combined(digests), "hash_method": method, "files": len(files), "bytes": total,
            "weights_sha256": {k: v for k, v in weights.items() if not v.startswith("sampled:")} or None}


def model_hash(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The hash of a model folder: ``{"hash": "sha256:...", "hash_method", "files", "bytes", "weights_sha256"}``.

    ``hash`` is the sha256 of the sorted ``name, sha256`` lines of its files (weights, configs,
    tokenizer, chat template, ``geocot.json``); ``weights_sha256`` gives each weight file's own
    sha256 when it was computed whole (compare it with the one a model hub lists). Cached per
    folder while no file changes (size and modification time).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "config.json").write_text("{}"); _ = (d / "model.safetensors").write_bytes(b"x" * 10)
    >>> h = model_hash(d)
    >>> h["hash"][:7], h["files"], h["weights_sha256"]["model.safetensors"][:12]
    ('sha256:', 2, 'fc11d6f28e59')
    """
    root = Path(folder).resolve()
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in _files(root))
    return dict(_folder_hash(str(root), stamp))


def _hub_folder(model_id: str) -> tuple[Path, str] | None:
    """The cached snapshot folder of a hub model and its revision (commit), if it is in the cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # a light install without the hub client
        return None
    found = try_to_load_from_cache(model_id, "config.json")
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    return folder, folder.name


def _shown_url(url: str | None) -> str | None:
    """A server URL as it can be written down: any ``user:password@`` removed."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query="", fragment=""))


def model_record(backend) -> dict[str, Any]:
    """Who answered: the model's id or folder, its hash, the backend, whether it is the demo model."""
    from ..models.demo import is_demo_model

    model_id = getattr(backend, "model_id", None) or getattr(backend, "model", None)
    if model_id is not None and not isinstance(model_id, str):  # the HF backend's ``model`` is the network
        model_id = getattr(backend, "model_id", None)
    local = getattr(backend, "local_path", None)
    record: dict[str, Any] = {
        "name": getattr(backend, "name", None) or type(backend).__name__,
        "id": model_id,
        "path": str(Path(local).resolve()) if local else None,
        "server": _shown_url(getattr(backend, "base_url", None)),
        "revision": None,
        "demo": bool(local and is_demo_model(local)),
        "hash": None,
        "hash_method": None,
    }
    folder = Path(local) if local else None
    if folder is None and model_id and record["server"] is None:
        hub = _hub_folder(str(model_id))
        if hub is not None:
            folder, record["revision"] = hub
    if folder is not None and folder.is_dir():
        record.update(model_hash(folder))
    elif record["server"] is not None:
        record["hash_method"] = "none: the weights are on the server"
    return record


def _decoding(backend) -> dict[str, Any] | None:
    generation = getattr(backend, "generation", None)
    if generation is None:
        return None
    out = {k: getattr(generation, k) for k in ("max_new_tokens", "do_sample", "temperature", "top_p",
                                              "repetition_penalty", "batch_size") if hasattr(generation, k)}
    resolved = getattr(backend, "repetition_penalty", None)
    if isinstance(resolved, (int, float)):
        out["repetition_penalty"] = float(resolved)  # the value decoded with (geocot.json or 1.1 when not given)
    return out


def run_provenance(
    backend,
    *,
    task: str,
    question: str | None,
    classes: Sequence[str] | None,
    tiling,
    prompt: str,
    scene: str | os.PathLike[str] | None = None,
    strategy: str = "grid",
    overview_prompt: str | None = None,
    nms_iou: float | None = None,
    min_score: float | None = None,
) -> dict[str, Any]:
    """The provenance record of a run (see the module doc); JSON-ready."""
    from .. import __version__

    profile = getattr(backend, "profile", None)
    prompts = {task: prompt}
    if overview_prompt is not None:
        prompts["overview"] = overview_prompt
    return {
        "geocot_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "scene": None if scene is None else str(Path(scene).resolve()),
        "task": task,
        "question": question,
        "classes": list(classes) if classes else None,
        "model": model_record(backend),
        "profile": getattr(profile, "name", None) if profile is not None else None,
        "box_convention": getattr(backend, "box_convention", None),
        "prompts": prompts,
        "decoding": _decoding(backend),
        "tiling": {"tile": tiling.tile, "overlap": tiling.overlap,
                   "bands": list(tiling.bands) if tiling.bands else None, "min_valid": tiling.min_valid},
        "strategy": strategy,
        "nms_iou": nms_iou,
        "min_score": min_score,
    }


def flatten(record: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, text)`` pairs of a nested record: None is ``''``, lists and numbers are JSON."""
    out: list[tuple[str, str]] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(flatten(value, name + "."))
        elif value is None:
            out.append((name, ""))
        elif isinstance(value, str):
            out.append((name, value))
        else:
            out.append((name, json.dumps(value, ensure_ascii=False)))
    return out
