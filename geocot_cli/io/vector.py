"""Vector output: features as a GeoDataFrame, written as a GeoPackage or an RFC 7946 GeoJSON.

:func:`features_to_frame` turns :class:`~geocot_cli.georef.Feature` objects into a GeoDataFrame
whose columns carry the model's words (label, claim, answer, full trace) next to each polygon.
:func:`write_layers` writes named frames, choosing the format by extension:

- ``.gpkg``: GeoPackage through pyogrio, every layer in its frame's CRS (the scene CRS), all layers
  in one file, written as GeoPackage :data:`GPKG_VERSION` (GDAL 3.9+ writes 1.4 by default, which
  GDAL 3.6-3.8 and the QGIS builds on them open with a warning). A frame without a CRS is written
  too (coordinates are scene pixels). With ``provenance``, a ``provenance`` attribute table (one
  ``key``/``value`` row per item) and the same items as GDAL metadata (``GEOCOT_*``) of the first
  layer (see :mod:`geocot_cli.io.provenance` for why both).
- ``.geojson`` (``.json`` is taken as the same): RFC 7946, reprojected to EPSG:4326 (lon, lat).
  GeoJSON holds one layer, so only the ``evidence`` layer is written (the first layer when there
  is none named so); the other layers are left out with a warning on the ``geocot`` logger. A frame
  without a CRS cannot be placed on the globe and raises :class:`~geocot_cli.errors.OutputError`.
  With ``provenance``, the collection has a ``geocot`` member holding it.

Writing is atomic: the file is built in a hidden temporary folder next to the output and moved into
place with :func:`os.replace`; on any failure the temporary folder is removed and an existing
output is left untouched. Model text may hold anything: NUL characters (which GDAL would cut the
text at) are removed and lone UTF-16 surrogates become U+FFFD; everything else round-trips.

Heavy imports (geopandas, pyogrio, pyproj) happen inside the functions.

>>> from pathlib import Path
>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "empty.gpkg"
>>> write_layers(out, {"evidence": features_to_frame([], "EPSG:32618")}).name
'empty.gpkg'
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OutputError

if TYPE_CHECKING:
    import geopandas

    from ..georef import Feature

__all__ = ["COLUMNS", "EXTENSIONS", "GPKG_VERSION", "check_target", "features_to_frame", "write_layers"]

log = logging.getLogger("geocot")

#: Attribute columns of an evidence layer, in order (the geometry column comes last).
COLUMNS: tuple[str, ...] = (
    "label", "claim", "score", "tile_id", "task", "answer", "trace", "edge_margin",
    "merged_from", "n_merged", "x1", "y1", "x2", "y2",
)

#: Output extensions and the GDAL driver each one selects (``.json`` is GeoJSON too).
EXTENSIONS: dict[str, str] = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}

#: The GeoPackage version written: read without a warning by GDAL 2.2+ (1.4 warns before GDAL 3.9).
GPKG_VERSION = "1.2"

#: Name of the GeoPackage table holding the provenance of the output.
PROVENANCE_LAYER = "provenance"

_TEXT = ("label", "claim", "tile_id", "task", "answer", "trace", "merged_from")
_FLOAT = ("score", "edge_margin", "x1", "y1", "x2", "y2")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(text: Any) -> Any:
    """Make a string safe for GDAL: drop NUL characters, replace lone surrogates with U+FFFD."""
    if not isinstance(text, str):
        return text
    if "\x00" in text:
        text = text.replace("\x00", "")
    if _SURROGATE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _crs(crs: Any) -> Any:
    if crs is None:
        return None
    import pyproj

    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise OutputError(
            f"cannot use CRS {crs!r} for output ({exc}); pass an EPSG code such as EPSG:32618"
        ) from exc


def features_to_frame(features: Sequence[Feature], crs: Any) -> geopandas.GeoDataFrame:
    """A GeoDataFrame with one row per feature, columns :data:`COLUMNS` plus ``geometry``.

    ``crs`` is the scene CRS (anything pyproj reads, a rasterio CRS included) or None for a scene
    without one. ``merged_from`` is comma-joined, ``score`` and ``answer`` may be null, and an
    ``edge_margin`` of infinity (no tile edge inside the scene) is written as null. An empty list
    still gives every column and a Polygon geometry type, so an empty layer keeps its schema.

    >>> frame = features_to_frame([], "EPSG:32618")
    >>> list(frame.columns)[:3], len(frame), frame.attrs["geometry_type"]
    (['label', 'claim', 'score'], 0, 'Polygon')
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    from ..georef import feature_polygons

    feats = list(features)
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for f in feats:
        x1, y1, x2, y2 = (float(v) for v in f.scene_box)
        margin = float(f.edge_margin)
        row = (
            _clean(f.label), _clean(f.claim), np.nan if f.score is None else float(f.score),
            _clean(f.tile_id), _clean(f.task), _clean(f.answer), _clean(f.trace),
            margin if math.isfinite(margin) else np.nan, _clean(",".join(f.merged_from)),
            len(f.merged_from), x1, y1, x2, y2,
        )
        for name, value in zip(COLUMNS, row):
            columns[name].append(value)
    data = {}
    for name, values in columns.items():
        if name in _TEXT:
            data[name] = pd.Series(values, dtype=object)
        elif name in _FLOAT:
            data[name] = pd.Series(values, dtype="float64")
        else:
            data[name] = pd.Series(values, dtype="int64")
    crs = _crs(crs)
    geometry = gpd.GeoSeries(feature_polygons(feats), crs=crs)  # deferred polygons: built at once
    frame = gpd.GeoDataFrame(data, geometry=geometry, crs=crs)
    frame.attrs["geometry_type"] = "Polygon"
    return frame


def check_target(path: Path, overwrite: bool) -> str:
    """The driver for ``path``, or an OutputError saying why it cannot be written."""
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        hint = f"; convert afterwards if needed: ogr2ogr {path} {path.with_suffix('.gpkg')}" if ext == ".shp" else ""
        raise OutputError(
            f"unknown output extension {ext or '(none)'!r} in {path}; write .gpkg (GeoPackage, scene CRS, "
            f"every layer) or .geojson (EPSG:4326, one layer){hint}"
        )
    check_writable(path, overwrite)
    return EXTENSIONS[ext]


def check_writable(path: Path, overwrite: bool) -> None:
    """An OutputError unless a file can be written at ``path`` (its folder exists and is writable;
    ``path`` is not a folder, and exists only when ``overwrite``)."""
    parent = path.parent
    if not parent.exists():
        raise OutputError(
            f"output folder {parent} does not exist; create it or choose another path"
        )
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} is not a folder; choose another path")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name ending in {path.suffix}")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass --overwrite")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {parent} is not writable; choose another folder")


def _prepared(frame: geopandas.GeoDataFrame) -> geopandas.GeoDataFrame:
    """A copy of ``frame`` with every text cell made safe for GDAL."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        if name != out.geometry.name and (
            out[name].dtype == object or pd.api.types.is_string_dtype(out[name].dtype)
        ):
            out[name] = out[name].map(_clean)
    return out


def _geometry_type(frame: geopandas.GeoDataFrame) -> str | None:
    kind = frame.attrs.get("geometry_type")
    if kind is None and len(frame) == 0:
        return "Unknown"
    return kind


def write_layers(
    path: str | os.PathLike[str],
    layers: Mapping[str, geopandas.GeoDataFrame],
    *,
    overwrite: bool = False,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write named GeoDataFrames to ``path`` (``.gpkg``, ``.geojson`` or ``.json``) atomically.

    See the module docstring for what each format holds. Returns the path written. Raises
    :class:`~geocot_cli.errors.OutputError` (one line, saying what to do) for an existing output
    without ``overwrite``, an unknown extension, a missing or read-only folder, a GeoJSON of a
    frame without a CRS, or a write that fails.
    """
    import geopandas as gpd
    import pyogrio
    import pyogrio.errors

    path = Path(path)
    driver = check_target(path, overwrite)
    if not layers:
        raise OutputError(f"no layers to write to {path}; pass at least the evidence layer")
    plan: list[tuple[str, geopandas.GeoDataFrame, dict[str, str]]] = []
    if driver == "GeoJSON":
        name = "evidence" if "evidence" in layers else next(iter(layers))
        frame = layers[name]
        if frame.crs is None:
            raise OutputError(
                "scene has no CRS; write a .gpkg (pixel coordinates) or georeference the raster"
            )
        skipped = [other for other in layers if other != name]
        if skipped:
            log.warning("GeoJSON holds one layer: wrote %r, left out %s", name, ", ".join(skipped))
        wgs84 = frame.to_crs("EPSG:4326")
        wgs84.attrs = dict(frame.attrs)
        options = {"RFC7946": "YES"}
        if provenance is not None:  # a foreign member of the FeatureCollection (GDAL 2.1+)
            options["NATIVE_DATA"] = json.dumps({"geocot": provenance}, ensure_ascii=False, default=str)
            options["NATIVE_MEDIA_TYPE"] = "application/vnd.geo+json"
        plan.append((name, wgs84, options))
    else:
        plan = [(name, frame, {}) for name, frame in layers.items()]
    metadata = None
    if provenance is not None and driver == "GPKG":
        from .provenance import flatten

        items = flatten(provenance)
        metadata = {f"GEOCOT_{k.upper().replace('.', '_')}": _clean(v) for k, v in items}
        import pandas as pd

        table = pd.DataFrame({"key": [k for k, _ in items], "value": [_clean(v) for _, v in items]},
                             dtype=object)
        plan.append((PROVENANCE_LAYER, table, {}))

    workdir = None
    try:
        workdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        target = workdir / path.name
        for i, (name, frame, options) in enumerate(plan):
            spatial = isinstance(frame, gpd.GeoDataFrame)
            extra: dict[str, Any] = {}
            if driver == "GPKG" and i == 0:
                extra["dataset_options"] = {"VERSION": GPKG_VERSION}
            if metadata is not None and i == 0:
                extra["layer_metadata"] = metadata
            with warnings.catch_warnings():  # a frame without CRS is written on purpose (pixels)
                warnings.filterwarnings("ignore", message="'crs' was not provided")
                pyogrio.write_dataframe(
                    _prepared(frame) if spatial else frame, target, layer=name, driver=driver,
                    geometry_type=_geometry_type(frame) if spatial else None, layer_options=options or None,
                    **extra,
                )
        os.replace(target, path)
    except (OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        if isinstance(exc, OutputError):
            raise
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise OutputError(
            f"could not write {path}: {reason}; check the folder and free space"
        ) from exc
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return path
