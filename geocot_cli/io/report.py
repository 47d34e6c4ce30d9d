"""Scene answers as data: the JSON document on stdout and the layers of a GIS file.

``answer_document`` is what ``--json`` prints; ``write_answer`` writes the ``evidence`` layer (one
polygon per grounded box with its claim and the tile's trace) and, in a GeoPackage, a ``tiles``
layer (every tile's footprint with its answer, trace and audit) so each claim can be audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shapely.geometry import mapping


__all__ = ["answer_document", "check_output", "tiles_frame", "write_answer"]

def check_output(path: str | Path | None, *, overwrite: bool = False) -> Path | None:
    """Refuse, before any work, an output that could not be written at the end.

    >>> check_output(None) is None
    True
    >>> check_output("out.shp")
    Traceback (most recent call last):
    ...
    geocot_cli.errors.OutputError: unknown output extension '.shp' in out.shp; use one of .gpkg, .geojson, .json
    """
    if path is None:
        return None
    from .vector import check_target

    check_target(Path(path), overwrite)
    return Path(path)


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


def answer_document(answer, scene) -> dict[str, Any]:
    """The one JSON document ``--json`` prints: answer, evidence in scene CRS, tiles, audit."""
    tiles = []
    for r in answer.tiles:
        tiles.append(
            {
                "id": r.tile.id,
                "window": [int(r.tile.window.col_off), int(r.tile.window.row_off), int(r.tile.window.width), int(r.tile.window.height)],
                "skipped": r.skipped,
                "error": r.error,
                "answer": r.answer,
                "consistent": None if r.audit is None else r.audit.consistent,
                "problems": [] if r.trace is None else list(r.trace.problems),
                "trace": r.text,
            }
        )
    return {
        "scene": str(scene.path),
        "crs": scene.crs.to_string() if scene.crs else None,
        "task": answer.task,
        "question": answer.question,
        "answer": answer.answer,
        "value": answer.value if isinstance(answer.value, (int, float, str, list, dict)) else None,
        "per_class": answer.per_class,
        "evidence": [_feature_dict(f) for f in answer.evidence],
        "flagged_tiles": list(answer.flagged),
        "tiles_total": answer.tiles_total,
        "tiles_processed": answer.tiles_processed,
        "tiles_skipped": answer.tiles_skipped,
        "tiles": tiles,
    }


def tiles_frame(answer, scene):
    """Every tile's footprint with its answer, trace and audit, as a GeoDataFrame."""
    import geopandas as gpd

    from ..georef import box_polygon

    rows, geoms = [], []
    for r in answer.tiles:
        w = r.tile.window
        box = (float(w.col_off), float(w.row_off), float(w.col_off + w.width), float(w.row_off + w.height))
        geoms.append(box_polygon(box, scene.transform))
        rows.append(
            {
                "tile_id": r.tile.id,
                "task": answer.task,
                "skipped": r.skipped or "",
                "error": r.error or "",
                "answer": r.answer or "",
                "consistent": "" if r.audit is None or r.audit.consistent is None else str(r.audit.consistent).lower(),
                "problems": "; ".join(r.trace.problems) if r.trace is not None else "",
                "n_evidence": len(r.features),
                "trace": r.text or "",
            }
        )
    columns = ["tile_id", "task", "skipped", "error", "answer", "consistent", "problems", "n_evidence", "trace"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry=gpd.GeoSeries(geoms, crs=scene.crs), crs=scene.crs)


def write_answer(path: str | Path, answer, scene, *, overwrite: bool = False) -> Path:
    """Write the answer's ``evidence`` layer (and the ``tiles`` layer in a GeoPackage) to ``path``."""
    from .vector import features_to_frame, write_layers

    evidence = features_to_frame(list(answer.evidence), scene.crs)
    evidence["scene_answer"] = answer.answer  # an empty frame keeps an empty column of that name
    layers = {"evidence": evidence, "tiles": tiles_frame(answer, scene)}
    return write_layers(Path(path), layers, overwrite=overwrite)
