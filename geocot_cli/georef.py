"""From boxes in tile pixels to polygons on the map, and one polygon per object across tile seams.

A model cites boxes in pixels of the tile image as it was fed. :func:`tile_box_to_scene` moves such
a box into scene pixels (undoing any resize of the tile), :func:`box_polygon` sends its four corners
through the scene's full affine transform (so rotated and south-up rasters give the right polygon),
and :func:`georeference` wraps one piece of evidence into a :class:`Feature` that carries the
model's words with it. Neighbouring tiles overlap, so an object near a seam is often cited twice;
:func:`dedupe_seams` keeps one copy per object, the one least cut by a tile edge.

A raster without a CRS has an identity-like transform: its features stay in scene pixel
coordinates (x right, y down), still computed through the transform.

>>> from affine import Affine
>>> box_polygon((0, 0, 2, 1), Affine(10, 0, 500000, 0, -10, 4000000)).bounds
(500000.0, 3999990.0, 500020.0, 4000000.0)
"""

from __future__ import annotations

import gc
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

from .errors import ConfigError
from .types import PixelBox

__all__ = [
    "Feature", "box_polygon", "box_polygons", "dedupe_seams", "georeference", "georeference_all", "tile_box_to_scene",
]


@dataclass(frozen=True)
class Feature:
    """One grounded claim of the model, placed on the map.

    geometry: polygon in the scene CRS (scene pixel coordinates when the scene has no CRS).
    scene_box: the box in scene pixels ``(x1, y1, x2, y2)``. edge_margin: scene pixels between the
    box and the nearest edge of its tile that lies inside the scene (``inf`` when the tile has no
    such edge); a small margin means the object may be cut by the tile. merged_from: ids of every
    tile that cited this object (after :func:`dedupe_seams`), sorted; ``(tile_id,)`` for one copy.
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
    x = np.stack([b[:, 0], b[:, 2], b[:, 2], b[:, 0]], axis=1)
    y = np.stack([b[:, 1], b[:, 1], b[:, 3], b[:, 3]], axis=1)
    t = transform
    gx, gy = t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f
    if t.a * t.e - t.b * t.d < 0:  # the affine mirrors: reverse the ring to keep it counter-clockwise
        gx, gy = gx[:, [0, 3, 2, 1]], gy[:, [0, 3, 2, 1]]  # same start vertex as shapely's orient()
    return shapely.polygons(np.stack([gx, gy], axis=2))


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
    fraction of the cost: the scene's boxes, margins and polygons are computed as arrays.
    """
    if not evidence:
        return []
    if scene_transform is None:
        col, row, _, _ = _window(tile)
        scene_transform = tile.transform @ Affine.translation(-col, -row)
    col, row, ww, wh = _window(tile)
    iw, ih = _image_size(tile)
    sw, sh = float(scene_size[0]), float(scene_size[1])
    b = np.array([ev.box for ev in evidence], dtype=np.float64).reshape(-1, 4)
    b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
    scale = np.array([ww / iw if iw > 0 else 1.0, wh / ih if ih > 0 else 1.0] * 2)
    lo = np.array([max(col, 0.0), max(row, 0.0)] * 2)
    hi = np.array([min(col + ww, sw), min(row + wh, sh)] * 2)
    boxes = np.clip(b * scale + np.array([col, row, col, row]), lo, hi)
    inner = [(col > 0, boxes[:, 0] - col), (row > 0, boxes[:, 1] - row),
             (col + ww < sw, col + ww - boxes[:, 2]), (row + wh < sh, row + wh - boxes[:, 3])]
    sides = [m for present, m in inner if present]
    margins = np.maximum(np.minimum.reduce(sides), 0.0) if sides else np.full(len(b), math.inf)
    polygons = box_polygons(boxes, scene_transform)
    tile_id = str(tile.id)
    shared = {"score": None, "tile_id": tile_id, "task": task, "answer": answer, "trace": trace_text,
              "merged_from": (tile_id,)}
    out = []
    for ev, box, margin, poly in zip(evidence, boxes.tolist(), margins.tolist(), polygons):
        f = object.__new__(Feature)  # a frozen dataclass, built without its per-field checks (hot path)
        f.__dict__.update(shared, geometry=poly, scene_box=tuple(box), label=str(ev.label),
                          claim=str(ev.claim), edge_margin=float(margin))
        out.append(f)
    return out


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
    """Every pair ``i < j`` of boxes in the same group whose interiors intersect.

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
    i: list[int], j: list[int], iou: list[float], rank: list[int], tiles: list[int]
) -> list[list[int]]:
    """NMS over a duplicate graph: the best alive copy absorbs one duplicate per other tile.

    Components are independent, so one pass in global rank order equals a pass per component.
    """
    neighbours: dict[int, list[tuple[float, int, int]]] = {}
    for a, b, w in zip(i, j, iou):
        neighbours.setdefault(a, []).append((-w, rank[b], b))
        neighbours.setdefault(b, []).append((-w, rank[a], a))
    alive = set(neighbours)
    groups = []
    for keeper in sorted(neighbours, key=rank.__getitem__):
        if keeper not in alive:
            continue
        alive.discard(keeper)
        group, used = [keeper], {tiles[keeper]}
        for _, _, other in sorted(neighbours[keeper]):
            if other in alive and tiles[other] not in used:
                group.append(other)
                used.add(tiles[other])
                alive.discard(other)
        if len(group) > 1:
            groups.append(group)
    return groups


def _with_merged(feature: Feature, merged_from: tuple[str, ...]) -> Feature:
    """``dataclasses.replace(feature, merged_from=...)`` without its per-field cost (hot path)."""
    new = object.__new__(Feature)
    new.__dict__.update(feature.__dict__)
    new.__dict__["merged_from"] = merged_from
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
    of every copy. Features come back in input order. Only boxes that share a grid cell are
    compared (no all-pairs pass over the scene): 100k boxes take well under a second.

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
    # Millions of small objects are allocated here; pausing the cyclic GC (nothing here makes
    # cycles) avoids repeated full collections over the caller's features.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _dedupe(feats, iou, min_cover)
    finally:
        if enabled:
            gc.enable()


def _dedupe(feats: list[Feature], iou: float, min_cover: float) -> list[Feature]:
    n = len(feats)
    get = operator.attrgetter
    boxes = np.array(list(map(get("scene_box"), feats)), dtype=np.float64).reshape(n, 4)
    boxes = np.concatenate(
        [np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], axis=1
    )
    labels, _ = _codes(list(map(get("label"), feats)), key=_label_key)
    tile_ids = list(map(get("tile_id"), feats))
    tiles, tile_names = _codes(tile_ids)

    finite = np.flatnonzero(np.isfinite(boxes).all(axis=1))  # a box with NaN matches nothing
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
    margin = np.array([feats[k].edge_margin for k in nodes.tolist()], dtype=np.float64)
    score = np.array(
        [-math.inf if (v := feats[k].score) is None else v for k in nodes.tolist()],
        dtype=np.float64,
    )
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
    single = np.fromiter(
        (merged[k] == (tile_ids[k],) for k in nodes.tolist()), dtype=bool, count=nodes.size
    )
    simple = n_edges == size * (size - 1) // 2
    simple[comp[nodes[~single]]] = False

    members = nodes[simple[comp[nodes]]]
    members = members[np.lexsort((rank[members], comp[members]))]
    first = np.ones(members.size, dtype=bool)
    first[1:] = comp[members[1:]] != comp[members[:-1]]
    keepers = members[first].tolist()
    starts = np.flatnonzero(first).tolist() + [members.size]
    by_tile = members[np.lexsort((tiles[members], comp[members]))]
    names = [tile_names[t] for t in tiles[by_tile].tolist()]
    results = [(k, tuple(names[a:b])) for k, a, b in zip(keepers, starts[:-1], starts[1:])]
    out: list[Feature | None] = list(feats)
    for m in members[~first].tolist():
        out[m] = None

    # Everything else (dense clusters, chains): greedy, one copy per tile.
    rest = ~simple[comp[i]]
    for group in _greedy_groups(
        i[rest].tolist(), j[rest].tolist(), pair_iou[rest].tolist(), rank.tolist(), tiles.tolist()
    ):
        ids = set(merged[group[0]]).union(*[merged[m] for m in group[1:]])
        results.append((group[0], tuple(sorted(ids))))
        for m in group[1:]:
            out[m] = None

    for k, ids in results:
        out[k] = _with_merged(feats[k], ids)
    return [f for f in out if f is not None]
