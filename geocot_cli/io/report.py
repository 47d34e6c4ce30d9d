"""Scene answers as data: the JSON document on stdout and the layers of a GIS file.

``answer_document`` is what ``--json`` prints. ``write_answer`` writes, by task:

- count, detect, ground, caption, vqa: ``evidence`` (one polygon per distinct grounded box with
  its claim, the scene answer and the tile's full trace; ground: the one chosen feature);
- classify: ``cells`` (one polygon per tile core, the cores partitioning the scene, with class,
  the tile's answer, area and trace);
- and, in a GeoPackage, ``tiles`` (every tile's footprint with its answer, trace and audit) and,
  for an overview-strategy run, ``regions`` (where the overview saw something, with its trace).

A GeoJSON file holds one layer: ``evidence``, or ``cells`` for classify. Every output carries the
answer's provenance (:mod:`geocot_cli.io.provenance`): ``geocot`` in the JSON document and the
GeoJSON file, a ``provenance`` table and layer metadata in a GeoPackage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import mapping

from ..pipeline import NOT_RUN


__all__ = [
    "answer_document", "answer_layers", "cells_frame", "check_output", "check_output_crs", "regions_frame",
    "tile_status", "tiles_frame",
    "write_answer", "write_answers",
]


def check_output(path: str | Path | None, *, overwrite: bool = False) -> Path | None:
    """Refuse, before any work, an output that could not be written at the end.

    >>> check_output(None) is None
    True
    >>> check_output("out.tif")
    Traceback (most recent call last):
    ...
    geocot_cli.errors.OutputError: unknown output extension '.tif' in out.tif; write .gpkg (GeoPackage, scene CRS, every layer) or .geojson (EPSG:4326, one layer)
    """
    if path is None:
        return None
    from .vector import check_target

    check_target(Path(path), overwrite)
    return Path(path)


def check_output_crs(path: str | Path | None, scene) -> None:
    """Refuse, before any model time, an output the scene cannot fill: GeoJSON is always in
    longitude/latitude (RFC 7946), so a scene without a CRS cannot be written to it."""
    if path is None or scene.crs is not None:
        return
    from ..errors import OutputError
    from .vector import EXTENSIONS

    if EXTENSIONS.get(Path(path).suffix.lower()) == "GeoJSON":
        raise OutputError(
            f"{scene.path} has no CRS, and a GeoJSON file is in longitude/latitude (EPSG:4326): write a .gpkg "
            f"(scene pixel coordinates) instead, or give the raster a CRS (gdal_edit.py -a_srs EPSG:XXXX {scene.path})"
        )


def tile_status(r) -> str:
    """What happened to a tile: ``answered``, ``failed`` (the model raised), ``skipped`` (on purpose:
    nodata, or not chosen by the overview; ``skipped`` says why) or ``not run`` (a stopped run never
    reached it)."""
    if r.error is not None:
        return "failed"
    if r.skipped == NOT_RUN:
        return NOT_RUN
    if r.skipped is not None:
        return "skipped"
    return "answered"


def _problems(r) -> tuple[str, ...]:
    """A tile's problems: its trace's, then what the audit found (boxes dropped without area, ...)."""
    if r.audit is not None:
        return tuple(r.audit.problems)
    return tuple(r.trace.problems) if r.trace is not None else ()


def _feature_dict(f) -> dict[str, Any]:
    return {
        "label": f.label,
        "claim": f.claim,
        "score": f.score,
        "tile_id": f.tile_id,
        "box_px": [round(v, 2) for v in f.scene_box],
        "geometry": mapping(f.geometry),
        "merged_from": list(f.merged_from),
    }


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, list, dict)) else None


def answer_document(answer, scene) -> dict[str, Any]:
    """The one JSON document ``--json`` prints: answer, evidence in scene CRS, tiles, audit.

    Task-specific parts: ``value`` (count/detect: the number; ground: found, box and the ranked
    candidates; classify: area per class; caption: counts, places and tile captions; vqa: the
    tiles' answers), ``cells`` (classify), ``overview`` (the overview strategy), ``notes``.
    """
    tiles = []
    for r in answer.tiles:
        tiles.append(
            {
                "id": r.tile.id,
                "window": [int(r.tile.window.col_off), int(r.tile.window.row_off), int(r.tile.window.width), int(r.tile.window.height)],
                "status": tile_status(r),
                "skipped": None if r.skipped == NOT_RUN else r.skipped,
                "error": r.error,
                "answer": r.answer,
                "n_evidence": len(r.features),
                "consistent": None if r.audit is None else r.audit.consistent,
                "problems": list(_problems(r)),
                "trace": r.text,
            }
        )
    doc = {
        "scene": str(scene.path),
        "crs": scene.crs.to_string() if scene.crs else None,
        "task": answer.task,
        "question": answer.question,
        "strategy": "overview" if answer.overview is not None else "grid",
        "answer": answer.answer,
        "value": _jsonable(answer.value),
        "per_class": answer.per_class,
        "notes": list(answer.notes),
        "evidence": [_feature_dict(f) for f in answer.evidence],
        "flagged_tiles": list(answer.flagged),
        "tiles_total": answer.tiles_total,
        "tiles_processed": answer.tiles_processed,
        "tiles_skipped": answer.tiles_skipped,
        "tiles_not_run": answer.tiles_not_run,
        "tiles": tiles,
        "geocot": answer.provenance,
    }
    if answer.cells:
        doc["cells"] = [
            {
                "tile_id": c.tile_id,
                "core": [int(c.window.col_off), int(c.window.row_off), int(c.window.width), int(c.window.height)],
                "class": c.label,
                "answer": c.answer,
                "area": c.area,
                "skipped": c.skipped,
                "error": c.error,
                "geometry": mapping(c.geometry),
            }
            for c in answer.cells
        ]
    if answer.overview is not None:
        doc["overview"] = answer.overview.as_dict()
    return doc


def cells_frame(answer, scene):
    """The classification cells (tile cores) with class, answer, area and trace, as a GeoDataFrame."""
    import geopandas as gpd

    value = answer.value if isinstance(answer.value, dict) else {}
    unit, method = value.get("unit", ""), value.get("area_method", "")
    rows = [
        {
            "tile_id": c.tile_id, "class": c.label, "answer": c.answer or "", "area": c.area, "area_unit": unit,
            "area_method": method,
            "skipped": c.skipped or "", "error": c.error or "", "scene_answer": answer.answer, "trace": c.trace or "",
        }
        for c in answer.cells
    ]
    columns = ["tile_id", "class", "answer", "area", "area_unit", "area_method", "skipped", "error", "scene_answer", "trace"]
    geoms = gpd.GeoSeries([c.geometry for c in answer.cells], crs=scene.crs)
    frame = gpd.GeoDataFrame(rows, columns=columns, geometry=geoms, crs=scene.crs)
    frame.attrs["geometry_type"] = "Polygon"
    return frame


def regions_frame(answer, scene):
    """Where the overview's glances saw something (scene CRS), each with its glance's answer and trace."""
    import geopandas as gpd

    from ..georef import box_polygons

    ov = answer.overview
    by_id = {g.id: g for g in ov.glances}
    geoms = box_polygons(np.array(ov.regions, dtype=np.float64).reshape(-1, 4), scene.transform)
    rows = []
    for source in ov.sources:
        g = by_id[source]
        rows.append({"glance": g.id, "failed": g.failed or "", "decimation": g.decimation,
                     "answer": (g.trace.answer if g.trace else "") or "", "trace": g.text or ""})
    columns = ["glance", "failed", "decimation", "answer", "trace"]
    frame = gpd.GeoDataFrame(rows, columns=columns, geometry=gpd.GeoSeries(geoms, crs=scene.crs), crs=scene.crs)
    frame.attrs["geometry_type"] = "Polygon"
    return frame


def tiles_frame(answer, scene):
    """Every tile's footprint with its answer, trace and audit, as a GeoDataFrame."""
    import geopandas as gpd

    from ..georef import box_polygons

    rows, boxes = [], []
    for r in answer.tiles:
        w = r.tile.window
        boxes.append((w.col_off, w.row_off, w.col_off + w.width, w.row_off + w.height))
        rows.append(
            {
                "tile_id": r.tile.id,
                "task": answer.task,
                "status": tile_status(r),
                "skipped": "" if r.skipped in (None, NOT_RUN) else r.skipped,
                "error": r.error or "",
                "answer": r.answer or "",
                "consistent": "" if r.audit is None or r.audit.consistent is None else str(r.audit.consistent).lower(),
                "problems": "; ".join(_problems(r)),
                "n_evidence": len(r.features),
                "trace": r.text or "",
            }
        )
    columns = ["tile_id", "task", "status", "skipped", "error", "answer", "consistent", "problems", "n_evidence",
               "trace"]
    geoms = box_polygons(np.array(boxes, dtype=np.float64).reshape(-1, 4), scene.transform)  # all at once
    return gpd.GeoDataFrame(rows, columns=columns, geometry=gpd.GeoSeries(geoms, crs=scene.crs), crs=scene.crs)


def answer_layers(answer, scene, *, gpkg: bool = True) -> dict:
    """The layers of one scene's answer, by name: GeoJSON holds one layer (``evidence``, or
    ``cells`` for classify); a GeoPackage adds ``tiles`` and, after an overview, ``regions``."""
    from .vector import features_to_frame

    if answer.task == "classify":
        layers = {"cells": cells_frame(answer, scene)}
    else:
        evidence = features_to_frame(list(answer.evidence), scene.crs)
        evidence["scene_answer"] = answer.answer  # an empty frame keeps an empty column of that name
        layers = {"evidence": evidence}
    if not gpkg:
        return layers
    layers["tiles"] = tiles_frame(answer, scene)
    if answer.overview is not None and gpkg:
        layers["regions"] = regions_frame(answer, scene)
    return layers


def write_answer(path: str | Path, answer, scene, *, overwrite: bool = False) -> Path:
    """Write the answer's layers (see the module doc) to ``path`` (.gpkg, .geojson or .json)."""
    from .vector import write_layers

    layers = answer_layers(answer, scene, gpkg=Path(path).suffix.lower() == ".gpkg")
    return write_layers(Path(path), layers, overwrite=overwrite, provenance=answer.provenance)


def write_answers(path: str | Path, answers, *, overwrite: bool = False) -> Path:
    """Write the answers of several scenes, ``[(answer, scene), ...]``, into one file.

    Every feature gets a ``scene`` column (the raster's path). Scenes that share a CRS share each
    layer (``evidence``, ``tiles``, ...); in a GeoPackage, scenes in different CRSs keep their own
    CRS in layers named after the scene (``evidence_<stem>``); GeoJSON is EPSG:4326 in any case.
    """
    import geopandas as gpd
    import pandas as pd

    from .vector import write_layers

    gpkg = Path(path).suffix.lower() == ".gpkg"
    per_scene = []
    for answer, scene in answers:
        layers = answer_layers(answer, scene, gpkg=gpkg)
        for frame in layers.values():
            frame.insert(0, "scene", str(scene.path))
        per_scene.append((scene, layers))
    crss = {scene.crs.to_string() if scene.crs else None for scene, _ in per_scene}
    merged: dict = {}
    if len(crss) == 1 or not gpkg:
        target = per_scene[0][0].crs if len(crss) == 1 else "EPSG:4326"
        for _, layers in per_scene:
            for name, frame in layers.items():
                if len(crss) > 1:
                    frame = frame.to_crs(target)
                merged.setdefault(name, []).append(frame)
        out = {name: gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=target) for name, frames in merged.items()}
    else:
        out = {}
        for scene, layers in per_scene:
            stem = Path(str(scene.path)).stem
            for name, frame in layers.items():
                out[f"{name}_{stem}"] = frame
    return write_layers(Path(path), out, overwrite=overwrite, provenance=_scenes_provenance(answers))


def _scenes_provenance(answers) -> dict[str, Any] | None:
    """One provenance for many scenes run alike: the first scene's, naming every scene."""
    records = [a.provenance for a, _ in answers if a.provenance]
    if not records:
        return None
    out = dict(records[0])
    out["scene"] = None
    out["scenes"] = [r.get("scene") for r in records]
    return out
