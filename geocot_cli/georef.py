"""From boxes in tile pixels to polygons on the map, and one polygon per object across tile seams.

A model cites boxes in pixels of the tile image as it was fed. :func:`tile_box_to_scene` moves such
a box into scene pixels (undoing any resize of the tile), :func:`box_polygon` sends its four corners
through the scene's full affine transform (so rotated and south-up rasters give the right polygon),
and :func:`georeference` wraps one piece of evidence into a :class:`Feature` that carries the
model's words with it. Neighbouring tiles overlap, so an object near a seam is often cited twice;
:func:`dedupe_seams` keeps one copy per object, the one least cut by a tile edge.

A raster without a CRS has an identity-like transform: its features stay in scene pixel
coordinates (x right, y down), still computed through the transform.

:func:`georeference_all` defers the polygons: a feature builds its tile's polygons (all at once,
vectorised) the first time its ``geometry`` is read, and :func:`feature_polygons` builds those of
many features in one pass. Seam de-duplication works on ``scene_box`` alone, so the polygons of
copies it drops are never built. The coordinates are the same either way.

>>> from affine import Affine
>>> box_polygon((0, 0, 2, 1), Affine(10, 0, 500000, 0, -10, 4000000)).bounds
(500000.0, 3999990.0, 500020.0, 4000000.0)
"""

from __future__ import annotations

import gc
import math
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, compress, repeat
from typing import Any

import numpy as np
from affine import Affine
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

from .errors import ConfigError
from .types import PixelBox

__all__ = [
    "Feature", "box_polygon", "box_polygons", "dedupe_seams", "feature_polygons", "georeference",
    "georeference_all", "tile_box_to_scene",
]


@dataclass(frozen=True)
class Feature:
    """One grounded claim of the model, placed on the map.

    geometry: polygon in the scene CRS (scene pixel coordinates when the scene has no CRS).
    scene_box: the box in scene pixels ``(x1, y1, x2, y2)``. edge_margin: scene pixels between the
    box and the nearest edge of its tile that lies inside the scene (``inf`` when the tile has no
    such edge); a small margin means the object may be cut by the tile. merged_from: ids of every
    tile that cited this object (after :func:`dedupe_seams`), sorted; ``(tile_id,)`` for one copy.

    A feature made by :func:`georeference_all` builds its polygon when ``geometry`` is first read
    (see :class:`_GeometryField`); to the caller it is an ordinary attribute.
    """

    geometry: Polygon
    scene_box: PixelBox
    label: str
    claim: str
    score: float | None
    tile_id: str
    task: str
    answer: str | None
    trace: str
    edge_margin: float
    merged_from: tuple[str, ...]


class _TilePolygons:
    """The polygons of one tile's scene boxes, built together the first time one is asked for."""

    __slots__ = ("boxes", "transform", "built")

    def __init__(self, boxes: np.ndarray, transform: Affine) -> None:
        self.boxes, self.transform, self.built = boxes, transform, None

    def __getitem__(self, row: int) -> Polygon:
        if self.built is None:
            self.built = box_polygons(self.boxes, self.transform)
        return self.built[row]


class _GeometryField:
    """``Feature.geometry``: a stored polygon, or one deferred by :func:`georeference_all`.

    A deferred feature stores its tile's :class:`_TilePolygons` under ``geometry`` and its row
    under ``_row``; the first read swaps in the polygon (``_row`` stays: two threads may read at
    once). Frozen-ness is kept by the dataclass's ``__setattr__``; ``__set__`` is only reached by
    ``__init__`` (through ``object.__setattr__``).
    """

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        geometry = d["geometry"]
        if geometry.__class__ is _TilePolygons:
            geometry = d["geometry"] = geometry[d["_row"]]
        return geometry

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__["geometry"] = value


Feature.geometry = _GeometryField()  # type: ignore[assignment]  # after @dataclass: no default


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while many small objects are made (nothing here makes cycles).

    Collections triggered in between would walk the caller's features again and again: with the
    GC on, making a million features takes about three times as long.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _window(tile: Any) -> tuple[float, float, float, float]:
    w = tile.window
    return float(w.col_off), float(w.row_off), float(w.width), float(w.height)


def _image_size(tile: Any) -> tuple[float, float]:
    size = getattr(tile, "size", None)
    if size is None:
        _, _, ww, wh = _window(tile)
        return ww, wh
    return float(size[0]), float(size[1])


def tile_box_to_scene(
    box: Sequence[float], tile: Any, scene_size: tuple[int, int] | None = None
) -> PixelBox:
    """Move a box from pixels of the tile image as fed to scene pixels.

    When the image was resized relative to its window, coordinates are scaled by window size /
    image size. The result is clipped to the tile window (the model saw nothing beyond it) and,
    when ``scene_size`` (w, h) is given, to the scene.

    >>> from types import SimpleNamespace
    >>> from rasterio.windows import Window
    >>> tile = SimpleNamespace(window=Window(640, 0, 800, 800), size=(400, 400))
    >>> tile_box_to_scene((10, 20, 30, 40), tile)
    (660.0, 40.0, 700.0, 80.0)
    """
    col, row, ww, wh = _window(tile)
    iw, ih = _image_size(tile)
    sx = ww / iw if iw > 0 else 1.0
    sy = wh / ih if ih > 0 else 1.0
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    lo_x, lo_y, hi_x, hi_y = col, row, col + ww, row + wh
    if scene_size is not None:
        lo_x, lo_y = max(lo_x, 0.0), max(lo_y, 0.0)
        hi_x, hi_y = min(hi_x, float(scene_size[0])), min(hi_y, float(scene_size[1]))

    def clip(v: float, lo: float, hi: float) -> float:
        return min(max(v, lo), hi)

    return (
        clip(col + x1 * sx, lo_x, hi_x),
        clip(row + y1 * sy, lo_y, hi_y),
        clip(col + x2 * sx, lo_x, hi_x),
        clip(row + y2 * sy, lo_y, hi_y),
    )


def box_polygon(scene_box: Sequence[float], transform: Affine) -> Polygon:
    """Send the four corners of a scene-pixel box through the full affine ``transform``.

    Rotation and shear terms are kept, so a rotated geotransform gives a rotated polygon and a
    south-up raster a correctly placed one. The exterior ring is counter-clockwise.

    >>> list(box_polygon((0, 0, 1, 1), Affine.identity()).exterior.coords)
    [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
    """
    x1, y1, x2, y2 = (float(v) for v in scene_box)
    corners = [transform @ (x, y) for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
    return orient(Polygon(corners), sign=1.0)


def _edge_margin(scene_box: PixelBox, tile: Any, scene_size: tuple[int, int]) -> float:
    col, row, ww, wh = _window(tile)
    sw, sh = float(scene_size[0]), float(scene_size[1])
    x1, y1, x2, y2 = scene_box
    margins = []
    if col > 0:
        margins.append(x1 - col)
    if row > 0:
        margins.append(y1 - row)
    if col + ww < sw:
        margins.append(col + ww - x2)
    if row + wh < sh:
        margins.append(row + wh - y2)
    return float(max(min(margins), 0.0)) if margins else math.inf


def georeference(
    evidence: Any,
    tile: Any,
    *,
    scene_size: tuple[int, int],
    task: str,
    answer: str | None,
    trace_text: str,
    scene_transform: Affine | None = None,
    score: float | None = None,
) -> Feature:
    """Turn one piece of evidence into a Feature placed in the scene.

    ``evidence`` has ``.label``, ``.claim`` and ``.box`` (pixels of the tile image as fed).

    ``scene_size`` is the scene's (width, height): tile edges on the scene border do not count
    towards ``edge_margin`` (an object there is not cut by tiling). ``scene_transform`` defaults to
    the one implied by ``tile.transform`` and ``tile.window``.

    >>> from types import SimpleNamespace
    >>> from rasterio.windows import Window
    >>> t = SimpleNamespace(id="r0c1", window=Window(80, 0, 100, 100), size=(100, 100),
    ...                     transform=Affine(1, 0, 80, 0, -1, 0))
    >>> ev = SimpleNamespace(label="ship", claim="a ship", box=(10, 30, 20, 40))
    >>> f = georeference(ev, t, scene_size=(180, 100), task="detect", answer="1", trace_text="")
    >>> f.scene_box, f.edge_margin, f.geometry.bounds
    ((90.0, 30.0, 100.0, 40.0), 10.0, (90.0, -40.0, 100.0, -30.0))
    """
    if scene_transform is None:
        col, row, _, _ = _window(tile)
        scene_transform = tile.transform @ Affine.translation(-col, -row)
    scene_box = tile_box_to_scene(evidence.box, tile, scene_size)
    return Feature(
        geometry=box_polygon(scene_box, scene_transform),
        scene_box=scene_box,
        label=str(evidence.label),
        claim=str(evidence.claim),
        score=None if score is None else float(score),
        tile_id=str(tile.id),
        task=task,
        answer=answer,
        trace=trace_text,
        edge_margin=_edge_margin(scene_box, tile, scene_size),
        merged_from=(str(tile.id),),
    )


def box_polygons(scene_boxes: np.ndarray, transform: Affine) -> np.ndarray:
    """:func:`box_polygon` for many boxes at once (an ``(n, 4)`` array), as an array of polygons.

    >>> polys = box_polygons(np.array([[0, 0, 1, 1], [2, 2, 4, 3]]), Affine(1, 0, 0, 0, -1, 0))
    >>> [p.bounds for p in polys]
    [(0.0, -1.0, 1.0, 0.0), (2.0, -3.0, 4.0, -2.0)]
    >>> all(p.exterior.is_ccw for p in polys)
    True
    """
    import shapely

    b = np.asarray(scene_boxes, dtype=np.float64).reshape(-1, 4)
    n = len(b)
    ring = [0, 2, 2, 0, 0], [1, 1, 3, 3, 1]  # closed ring: (x1, y1) (x2, y1) (x2, y2) (x1, y2) (x1, y1)
    if transform.a * transform.e - transform.b * transform.d < 0:
        # the affine mirrors: reverse the ring to keep it counter-clockwise, from the same start
        # vertex as shapely's orient()
        ring = [0, 0, 2, 2, 0], [1, 3, 3, 1, 1]
    x, y = b[:, ring[0]], b[:, ring[1]]
    t = transform
    coords = np.empty((n, 5, 2))
    coords[:, :, 0] = t.a * x + t.b * y + t.c
    coords[:, :, 1] = t.d * x + t.e * y + t.f
    # from_ragged_array builds rings and polygons in one pass (twice as fast as shapely.polygons)
    offsets = (np.arange(0, 5 * n + 1, 5), np.arange(n + 1))
    return shapely.from_ragged_array(shapely.GeometryType.POLYGON, coords.reshape(-1, 2), offsets)


def georeference_all(
    evidence: Sequence[Any],
    tile: Any,
    *,
    scene_size: tuple[int, int],
    task: str,
    answer: str | None,
    trace_text: str,
    scene_transform: Affine | None = None,
) -> list[Feature]:
    """:func:`georeference` for every piece of evidence of one tile, vectorised over the boxes.

    Gives exactly what calling :func:`georeference` on each would (a test checks it), at a
    fraction of the cost: the scene's boxes and margins are computed as arrays, and the polygons
    are deferred until a feature's ``geometry`` is first read (then the tile's are built at once).

    >>> from types import SimpleNamespace
    >>> from rasterio.windows import Window
    >>> t = SimpleNamespace(id="r0c1", window=Window(80, 0, 100, 100), size=(100, 100),
    ...                     transform=Affine(1, 0, 80, 0, -1, 0))
    >>> ev = SimpleNamespace(label="ship", claim="a ship", box=(10, 30, 20, 40))
    >>> [f] = georeference_all([ev], t, scene_size=(180, 100), task="detect", answer="1", trace_text="")
    >>> f.scene_box, f.edge_margin, f.geometry.bounds
    ((90.0, 30.0, 100.0, 40.0), 10.0, (90.0, -40.0, 100.0, -30.0))
    """
    if not evidence:
        return []
    if scene_transform is None:
        col, row, _, _ = _window(tile)
        scene_transform = tile.transform @ Affine.translation(-col, -row)
    col, row, ww, wh = _window(tile)
    iw, ih = _image_size(tile)
    sw, sh = float(scene_size[0]), float(scene_size[1])
    n = len(evidence)
    get = operator.attrgetter
    b = np.fromiter(chain.from_iterable(map(get("box"), evidence)), np.float64, 4 * n).reshape(n, 4)
    b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
    scale = np.array([ww / iw if iw > 0 else 1.0, wh / ih if ih > 0 else 1.0] * 2)
    lo = np.array([max(col, 0.0), max(row, 0.0)] * 2)
    hi = np.array([min(col + ww, sw), min(row + wh, sh)] * 2)
    boxes = np.clip(b * scale + np.array([col, row, col, row]), lo, hi)
    inner = [(col > 0, boxes[:, 0] - col), (row > 0, boxes[:, 1] - row),
             (col + ww < sw, col + ww - boxes[:, 2]), (row + wh < sh, row + wh - boxes[:, 3])]
    sides = [m for present, m in inner if present]
    margins = np.maximum(np.minimum.reduce(sides), 0.0) if sides else np.full(n, math.inf)
    polygons = _TilePolygons(boxes, scene_transform)
    tile_id = str(tile.id)
    merged_from = (tile_id,)
    new, set_dict = object.__new__, object.__setattr__

    def make(k: int, box: PixelBox, label: str, claim: str, margin: float) -> Feature:
        # A frozen dataclass, built without its per-field checks (hot path: a million per scene).
        f = new(Feature)
        set_dict(f, "__dict__", {
            "geometry": polygons, "scene_box": box, "label": label, "claim": claim, "score": None,
            "tile_id": tile_id, "task": task, "answer": answer, "trace": trace_text,
            "edge_margin": margin, "merged_from": merged_from, "_row": k,
        })
        return f

    with _gc_paused():
        return list(map(
            make, range(n), zip(*boxes.T.tolist()), map(str, map(get("label"), evidence)),
            map(str, map(get("claim"), evidence)), margins.tolist(),
        ))


def feature_polygons(features: Sequence[Feature]) -> list[Polygon]:
    """``[f.geometry for f in features]``, building deferred polygons in one vectorised pass.

    Features from :func:`georeference_all` build their polygons when first read; for many features
    at once (writing a layer) this builds only those of ``features``, one array call per scene
    transform, and keeps them on the features. The polygons are the ones ``geometry`` would give.

    >>> from types import SimpleNamespace
    >>> from rasterio.windows import Window
    >>> t = SimpleNamespace(id="r0c0", window=Window(0, 0, 100, 100), size=(100, 100),
    ...                     transform=Affine(1, 0, 0, 0, -1, 0))
    >>> evs = [SimpleNamespace(label="ship", claim="", box=(10 * i, 0, 10 * i + 5, 5)) for i in range(3)]
    >>> feats = georeference_all(evs, t, scene_size=(100, 100), task="detect", answer=None, trace_text="")
    >>> [p.bounds[0] for p in feature_polygons(feats)]
    [0.0, 10.0, 20.0]
    """
    dicts = [f.__dict__ for f in features]
    with _gc_paused():
        pending: dict[_TilePolygons, list[int]] = {}
        for k, d in enumerate(dicts):
            geometry = d["geometry"]
            if geometry.__class__ is _TilePolygons:
                if geometry.built is None:
                    pending.setdefault(geometry, []).append(k)
                else:
                    d["geometry"] = geometry.built[d["_row"]]
        by_transform: dict[Affine, list[int]] = {}
        for tile_polygons, ks in pending.items():
            by_transform.setdefault(tile_polygons.transform, []).extend(ks)
        for transform, ks in by_transform.items():
            boxes = np.fromiter(
                chain.from_iterable(dicts[k]["scene_box"] for k in ks), np.float64, 4 * len(ks)
            ).reshape(-1, 4)
            for k, polygon in zip(ks, box_polygons(boxes, transform).tolist()):
                dicts[k]["geometry"] = polygon
        return [d["geometry"] for d in dicts]


# --- seam de-duplication --------------------------------------------------------------------


def _codes(
    values: list[str], key: Callable[[str], str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Integer codes of ``values`` (after ``key``) in the sorted order of the keys; the keys."""
    keyed = {v: (key(v) if key else v) for v in set(values)}
    names = sorted(set(keyed.values()))
    order = {k: c for c, k in enumerate(names)}
    table = {v: order[k] for v, k in keyed.items()}
    return np.fromiter(map(table.__getitem__, values), dtype=np.int64, count=len(values)), names


def _label_key(label: str) -> str:
    return " ".join(label.split()).casefold()


def _candidate_pairs(boxes: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``i < j`` of (finite, ordered) boxes in the same group whose interiors intersect.

    A band sweep (:func:`_sweep_pairs`) when the boxes are of similar sizes, else (a few huge boxes
    among small ones) uniform-grid hashing (:func:`_grid_pairs`). Same pairs either way; their
    order is unspecified.
    """
    if len(boxes) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = _sweep_pairs(boxes, groups)
    return pairs if pairs is not None else _grid_pairs(boxes, groups)


def _runs(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each k, ``counts[k]`` entries: (k, starts[k]), (k, starts[k] + 1), ...; flattened.

    >>> [a.tolist() for a in _runs(np.array([5, 0, 9]), np.array([2, 0, 3]))]
    [[0, 0, 2, 2, 2], [5, 6, 9, 10, 11]]
    """
    offset = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return np.repeat(np.arange(counts.size), counts), offset + np.arange(offset.size)


def _sweep_pairs(
    boxes: np.ndarray, groups: np.ndarray, budget: int | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_candidate_pairs` by a sweep over horizontal bands; None when it would cost too much.

    Bands are a little taller than the largest box side (``reach``), and a box belongs to the band
    of its top edge, so it can only meet boxes of its own band or of the next one. With the boxes
    sorted by (group, band, x1), those are two runs of the sorted order: the later boxes of its
    own band that start before it ends, and the boxes of the next band that start less than
    ``reach`` before it. Runs are found with ``searchsorted`` on one float key per box (band +
    x1 scaled into [0, 1)); rounding of that key is monotonic, so the runs miss no pair, and the
    exact intersection test on the original coordinates decides. Gives None when the runs hold
    more than ``budget`` pairs (default ``32 n + 4096``: a huge box makes every band tall) or when
    the coordinates are too large for the key's precision; :func:`_grid_pairs` is used then.
    """
    n = len(boxes)
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    lo_x, lo_y = float(x1.min()), float(y1.min())
    extent = max(float(x2.max()) - lo_x, float(y2.max()) - lo_y, 1.0)
    reach = max(float(np.max(np.maximum(x2 - x1, y2 - y1))), extent / 4096.0)
    side = reach * 1.001  # band height and search margin: rounding cannot push a pair two bands apart
    band = np.floor((y1 - lo_y) / side).astype(np.int64)
    seg = groups.astype(np.int64) * (int(band.max()) + 2) + band  # same group, next band: seg + 1
    span = extent + 4.0 * side
    size = max(abs(lo_x), abs(lo_y), extent)
    if (float(seg.max()) + 2.0) * span * 2.0**-48 + size * 2.0**-48 > 1e-4 * reach:
        return None  # the float key could not tell boxes apart finely enough
    key = seg + (x1 - lo_x) / span
    order = np.argsort(key, kind="stable")
    key, seg = key[order], seg[order]
    x1, y1, x2, y2 = x1[order], y1[order], x2[order], y2[order]
    pos = np.arange(n)
    same_end = np.searchsorted(key, seg + (x2 - lo_x) / span, "right")
    nxt = seg + 1
    next_start = np.maximum(
        np.searchsorted(key, nxt + (x1 - side - lo_x) / span, "left"),
        np.searchsorted(key, nxt.astype(np.float64), "left"),
    )
    next_end = np.searchsorted(key, nxt + (x2 - lo_x) / span, "right")
    n_same = same_end - pos - 1
    n_next = np.maximum(next_end - next_start, 0)
    ends = np.cumsum(n_same + n_next)
    if int(ends[-1]) > (32 * n + 4096 if budget is None else budget):
        return None
    found_i, found_j = [], []
    start, done = 0, 0
    while start < n:  # about a million comparisons at a time: the temporaries stay small
        stop = min(max(int(np.searchsorted(ends, done + (1 << 20), "right")), start + 1), n)
        p1, q1 = _runs(pos[start:stop] + 1, n_same[start:stop])
        p2, q2 = _runs(next_start[start:stop], n_next[start:stop])
        p, q = np.concatenate([p1, p2]) + start, np.concatenate([q1, q2])
        keep = (np.minimum(x2[p], x2[q]) > np.maximum(x1[p], x1[q])) & (
            np.minimum(y2[p], y2[q]) > np.maximum(y1[p], y1[q])
        )
        i, j = order[p[keep]], order[q[keep]]
        found_i.append(np.minimum(i, j))
        found_j.append(np.maximum(i, j))
        start, done = stop, int(ends[stop - 1])
    return np.concatenate(found_i), np.concatenate(found_j)


def _grid_pairs(boxes: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_candidate_pairs` by uniform-grid hashing, whatever the box sizes.

    Uniform-grid hashing: each box is entered in the cells it covers (cells about the size of a
    large box, so most boxes cover 1-4 cells) and only boxes sharing a cell are compared; a pair
    is reported once, in the cell holding the top-left corner of the intersection. Cost grows with
    the number of boxes and of nearby pairs, not with the square of the scene's box count.
    """
    n = len(boxes)
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    side = np.maximum(x2 - x1, y2 - y1)
    extent = max(float(x2.max() - x1.min()), float(y2.max() - y1.min()), 1.0)
    cell = max(float(np.quantile(side, 0.95)), extent / 4096.0, 1e-9)
    while True:  # a few huge boxes among tiny ones: grow cells until entries stay ~O(n)
        cx1 = np.floor(x1 / cell).astype(np.int64)
        cy1 = np.floor(y1 / cell).astype(np.int64)
        cxmin, cymin = int(cx1.min()), int(cy1.min())
        cx1 -= cxmin
        cy1 -= cymin
        ncx = np.floor(x2 / cell).astype(np.int64) - cxmin - cx1 + 1
        ncy = np.floor(y2 / cell).astype(np.int64) - cymin - cy1 + 1
        m = ncx * ncy
        if int(m.sum()) <= 16 * n or cell >= extent:
            break
        cell *= 2.0
    idx = np.repeat(np.arange(n, dtype=np.int64), m)
    k = np.arange(idx.size, dtype=np.int64) - np.repeat(np.cumsum(m) - m, m)
    cx = cx1[idx] + k % ncx[idx]
    cy = cy1[idx] + k // ncx[idx]
    width, height = int(cx.max()) + 1, int(cy.max()) + 1
    key = (groups[idx] * height + cy) * width + cx
    order = np.argsort(key, kind="stable")
    key, idx, cx, cy = key[order], idx[order], cx[order], cy[order]

    new = np.empty(key.size, dtype=bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    start = np.flatnonzero(new)
    size = np.diff(np.append(start, key.size))
    group = np.cumsum(new) - 1
    rank = np.arange(key.size) - start[group]
    after = size[group] - rank - 1
    first = np.repeat(np.arange(key.size), after)
    second = first + 1 + (np.arange(first.size) - np.repeat(np.cumsum(after) - after, after))
    i, j = idx[first], idx[second]

    ix1, iy1 = np.maximum(x1[i], x1[j]), np.maximum(y1[i], y1[j])
    ix2, iy2 = np.minimum(x2[i], x2[j]), np.minimum(y2[i], y2[j])
    home = (np.floor(ix1 / cell).astype(np.int64) - cxmin == cx[first]) & (
        np.floor(iy1 / cell).astype(np.int64) - cymin == cy[first]
    )
    keep = (ix2 > ix1) & (iy2 > iy1) & home
    i, j = i[keep], j[keep]
    return np.minimum(i, j), np.maximum(i, j)


def _pair_overlap(boxes: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU and intersection / smaller area of the box pairs ``(i[k], j[k])``."""
    a, b = boxes[i], boxes[j]
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(inter > 0, inter / (area_a + area_b - inter), 0.0)
        cover = np.where(inter > 0, inter / np.minimum(area_a, area_b), 0.0)
    return iou, cover


def _components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected-component label (smallest member index) of each of ``n`` nodes."""
    label = np.arange(n, dtype=np.int64)
    while True:
        low = np.minimum(label[i], label[j])
        new = label.copy()
        np.minimum.at(new, i, low)
        np.minimum.at(new, j, low)
        new = new[new]
        if np.array_equal(new, label):
            return label
        label = new


def _greedy_groups(
    i: np.ndarray, j: np.ndarray, iou: np.ndarray, rank: np.ndarray, tiles: np.ndarray
) -> list[list[int]]:
    """NMS over a duplicate graph: the best alive copy absorbs one duplicate per other tile.

    ``rank`` (0 = best) is distinct over the copies in pairs. A keeper looks at its duplicates by
    decreasing IoU, then rank. Components are independent, so one pass in global rank order
    equals a pass per component.

    >>> _greedy_groups(np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([0.9, 0.6, 0.7]),
    ...                np.array([0, 1, 2]), np.array([5, 6, 6]))
    [[0, 1]]
    """
    a, b, w = np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([iou, iou])
    order = np.lexsort((rank[b], -w, rank[a]))  # keeper by keeper in rank order, its duplicates in turn
    a, others = a[order], b[order].tolist()
    first = np.ones(a.size, dtype=bool)
    first[1:] = a[1:] != a[:-1]
    starts = np.flatnonzero(first)
    keepers = a[starts].tolist()
    bounds = starts.tolist() + [a.size]
    tile = dict(zip(keepers, tiles[a[starts]].tolist()))
    alive = set(keepers)
    groups = []
    for keeper, lo, hi in zip(keepers, bounds[:-1], bounds[1:]):
        if keeper not in alive:
            continue
        alive.discard(keeper)
        group, used = [keeper], {tile[keeper]}
        for other in others[lo:hi]:
            if other in alive and tile[other] not in used:
                group.append(other)
                used.add(tile[other])
                alive.discard(other)
        if len(group) > 1:
            groups.append(group)
    return groups


def _with_merged(feature: Feature, merged_from: tuple[str, ...]) -> Feature:
    """``dataclasses.replace(feature, merged_from=...)`` without its per-field cost (hot path).

    A deferred polygon stays deferred (the copy shares the tile's :class:`_TilePolygons`).
    """
    new = object.__new__(Feature)
    d = feature.__dict__.copy()
    d["merged_from"] = merged_from
    object.__setattr__(new, "__dict__", d)
    return new


def dedupe_seams(
    features: Sequence[Feature], iou: float = 0.5, *, min_cover: float = 0.8
) -> list[Feature]:
    """Keep one feature per object seen by several overlapping tiles.

    Two features are copies of one object when they have the same label (case and spacing
    ignored), come from DIFFERENT tiles and overlap in scene pixels with IoU >= ``iou`` or with
    intersection / smaller area >= ``min_cover`` (a copy truncated by a tile edge). Features of the
    same tile are never merged: they are the model's own evidence. Copies are grouped NMS-style:
    the best copy (largest ``edge_margin``, then highest score, then smallest tile id, then box)
    absorbs at most one copy per other tile; the kept feature's ``merged_from`` lists the tile ids
    of every copy. Features come back in input order. Only boxes near each other are compared
    (no all-pairs pass over the scene): a million boxes take a few seconds.

    torchvision's ``box_iou`` is all-pairs and ``nms`` knows only IoU, so pair overlaps are
    computed here element-wise on the candidate pairs instead.

    >>> from affine import Affine
    >>> def feat(tile, box, margin):
    ...     return Feature(box_polygon(box, Affine.identity()), box, "ship", "", None, tile,
    ...                    "detect", None, "", margin, (tile,))
    >>> cut, whole = feat("r0c0", (90, 0, 100, 10), 0.0), feat("r0c1", (90, 0, 101, 10), 10.0)
    >>> kept = dedupe_seams([cut, whole])
    >>> [(f.tile_id, f.merged_from) for f in kept]
    [('r0c1', ('r0c0', 'r0c1'))]
    """
    if not 0.0 < iou <= 1.0:
        raise ConfigError(f"iou ({iou}) must be in (0, 1]; try --nms-iou 0.5")
    if not 0.0 < min_cover <= 1.0:
        raise ConfigError(f"min_cover ({min_cover}) must be in (0, 1]; try 0.8")
    feats = list(features)
    if len(feats) < 2:
        return feats
    with _gc_paused():
        return _dedupe(feats, iou, min_cover)


def _dedupe(feats: list[Feature], iou: float, min_cover: float) -> list[Feature]:
    n = len(feats)
    get = operator.attrgetter
    boxes = np.fromiter(chain.from_iterable(map(get("scene_box"), feats)), np.float64, 4 * n)
    boxes = boxes.reshape(n, 4)
    low = np.minimum(boxes[:, :2], boxes[:, 2:])
    np.maximum(boxes[:, :2], boxes[:, 2:], out=boxes[:, 2:])
    boxes[:, :2] = low
    labels, _ = _codes(list(map(get("label"), feats)), key=_label_key)
    tile_ids = list(map(get("tile_id"), feats))
    tiles, tile_names = _codes(tile_ids)

    finite = np.isfinite(boxes).all(axis=1)  # a box with NaN matches nothing
    if finite.all():
        i, j = _candidate_pairs(boxes, labels)
    else:
        finite = np.flatnonzero(finite)
        i, j = _candidate_pairs(boxes[finite], labels[finite])
        i, j = finite[i], finite[j]
    diff = tiles[i] != tiles[j]
    i, j = i[diff], j[diff]
    pair_iou, cover = _pair_overlap(boxes, i, j)
    dup = (pair_iou >= iou) | (cover >= min_cover)
    i, j, pair_iou = i[dup], j[dup], pair_iou[dup]
    if i.size == 0:
        return feats

    # Rank (0 = best copy) of every feature that has a duplicate; the others keep rank n.
    involved = np.zeros(n, dtype=bool)
    involved[i] = True
    involved[j] = True
    nodes = np.flatnonzero(involved)
    copies = list(map(feats.__getitem__, nodes.tolist()))
    margin = np.fromiter(map(get("edge_margin"), copies), np.float64, nodes.size)
    scores = list(map(get("score"), copies))
    no_score = np.fromiter(map(operator.is_, scores, repeat(None)), bool, nodes.size)
    score = np.where(no_score, -math.inf, np.array(scores, dtype=np.float64))
    nb = boxes[nodes]
    order = np.lexsort((nb[:, 3], nb[:, 2], nb[:, 1], nb[:, 0], tiles[nodes], -score, -margin))
    rank = np.full(n, n, dtype=np.int64)
    rank[nodes[order]] = np.arange(nodes.size)

    # The usual case, vectorised: a component whose copies are all duplicates of each other (two
    # tiles at a seam, up to four at a corner) is one object; pairs only join different tiles, so
    # its copies come from different tiles and the greedy pass would keep them all together.
    comp = _components(n, i, j)
    size = np.bincount(comp[nodes], minlength=n)
    n_edges = np.bincount(comp[i], minlength=n)
    merged = list(map(get("merged_from"), feats))
    own = np.fromiter(map(operator.eq, merged, zip(tile_ids)), bool, n)  # merged_from == (tile_id,)
    simple = n_edges == size * (size - 1) // 2
    simple[comp[nodes[~own[nodes]]]] = False

    members = nodes[simple[comp[nodes]]]
    members = members[np.lexsort((rank[members], comp[members]))]
    first = np.ones(members.size, dtype=bool)
    first[1:] = comp[members[1:]] != comp[members[:-1]]
    keepers = members[first].tolist()
    starts = np.flatnonzero(first).tolist() + [members.size]
    by_tile = members[np.lexsort((tiles[members], comp[members]))]
    names = list(map(tile_names.__getitem__, tiles[by_tile].tolist()))
    drop = np.zeros(n, dtype=bool)
    drop[members[~first]] = True
    out = list(feats)
    for k, a, b in zip(keepers, starts[:-1], starts[1:]):
        out[k] = _with_merged(feats[k], tuple(names[a:b]))

    # Everything else (dense clusters, chains): greedy, one copy per tile.
    rest = ~simple[comp[i]]
    absorbed: list[int] = []
    for group in _greedy_groups(i[rest], j[rest], pair_iou[rest], rank, tiles):
        k = group[0]
        ids = set(merged[k]).union(*[merged[m] for m in group[1:]])
        out[k] = _with_merged(feats[k], tuple(sorted(ids)))
        absorbed += group[1:]
    drop[np.array(absorbed, dtype=np.int64)] = True

    return list(compress(out, np.logical_not(drop).tolist()))
