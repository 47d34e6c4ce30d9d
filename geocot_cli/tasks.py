"""Scene-level answers for the six tasks, assembled from the grounded evidence of every tile.

========  ========================================================================================
task      scene answer (evidence: features in the scene CRS, each with its claim and trace)
========  ========================================================================================
count     the number of distinct evidence boxes after seam de-duplication, never the sum of the
          tiles' answers; tiles whose answer disagrees with their own evidence are flagged
detect    the distinct evidence boxes, with a per-class summary; ``min_score`` drops scored boxes
          below it (a VLM box has no score: unscored boxes are kept and counted in ``notes``)
ground    exactly one feature, the best candidate across tiles (:func:`assemble_ground` gives the
          ranking rule), or none, said plainly
classify  one cell per tile core (the cores partition the scene), with class and trace; area and
          fraction per class; ``classes`` closes the label set (:func:`~geocot_cli.questions.map_label`)
caption   a description built from the evidence (count per class, where in the scene) and the
          tiles' captions, in the scene's own terms (north-west, ...; see :mod:`geocot_cli.compass`)
vqa       yes/no questions: yes iff some tile says yes *and* grounds a box of the class asked about
          (any box when none is named); questions that are a count in disguise: the distinct
          evidence; otherwise the most common tile answer
========  ========================================================================================

"Distinct" means: within one tile, a box of the same class with IoU >= 0.9 to an earlier one is the
same object cited twice (the audit's rule); across tiles, :func:`geocot_cli.georef.dedupe_seams`
merges the copies of an object seen by overlapping tiles.

The question a user asks is routed to a task, and its classes found, by :mod:`geocot_cli.questions`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rasterio.windows import Window
from shapely.geometry import Polygon

from .audit import DUPLICATE_IOU, distinct_boxes
from .compass import Compass
from .errors import ConfigError
from .georef import Feature, box_polygon, dedupe_seams, georeference
from .measures import area_measure, ground_lengths
from .metrics import normalize_answer
from .scene_classes import scene_class
from .questions import UNKNOWN, class_key, expression_key, label_matches, plural, route_question
from .pipeline import NOT_RUN, TileResult, has_area
from .trace import Evidence
from .types import TASKS

__all__ = [
    "CUT_MARGIN",
    "UNLABELLED",
    "Cell",
    "SceneAnswer",
    "assemble",
    "assemble_caption",
    "assemble_classify",
    "assemble_count",
    "assemble_detect",
    "assemble_ground",
    "assemble_vqa",
    "distinct_objects",
    "label_matches",
    "route_question",
]

#: Scene pixels between a box and an inner tile edge below which the object counts as cut.
CUT_MARGIN = 1.0


@dataclass(frozen=True)
class Cell:
    """One classification cell: a tile's core (cores partition the scene), its class and trace.

    ``label`` is the class (mapped into the closed set when one was given), ``unknown``, or
    ``nodata`` for a tile skipped as nodata; ``answer`` is the tile's own words; ``area`` is in
    the unit of :attr:`SceneAnswer.value` ``["unit"]``.
    """

    tile_id: str
    window: Window
    geometry: Polygon
    label: str
    answer: str | None
    area: float
    trace: str | None
    skipped: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class SceneAnswer:
    """One answer for a whole scene, with the evidence behind it and what happened on each tile.

    ``value`` is the machine-readable answer (an int for count and detect, a dict for the other
    tasks); ``notes`` are sentences a person should read (dropped or unscored boxes, tiles that
    said yes without evidence, a fallback); ``cells`` is the classification grid; ``overview`` is
    the :class:`~geocot_cli.overview.Overview` of an overview-strategy run; ``provenance`` says
    what produced the answer (:func:`geocot_cli.io.provenance.run_provenance`; set by
    :func:`geocot_cli.api.answer_scene`).
    """

    task: str
    question: str | None
    answer: str
    evidence: tuple[Feature, ...]
    tiles: tuple[TileResult, ...] = field(repr=False, default=())
    flagged: tuple[str, ...] = ()
    per_class: dict[str, int] = field(default_factory=dict)
    value: object = None
    cells: tuple[Cell, ...] = field(repr=False, default=())
    notes: tuple[str, ...] = ()
    overview: Any = field(repr=False, default=None)
    provenance: dict[str, Any] | None = field(repr=False, default=None)

    @property
    def tiles_total(self) -> int:
        return len(self.tiles)

    @property
    def tiles_processed(self) -> int:
        return sum(1 for t in self.tiles if t.skipped is None and t.error is None)

    @property
    def tiles_failed(self) -> int:
        return sum(1 for t in self.tiles if t.error is not None)

    @property
    def tiles_skipped(self) -> int:
        """Tiles not sent to the model on purpose (nodata; not chosen by the overview)."""
        return sum(1 for t in self.tiles if t.skipped is not None and t.skipped != NOT_RUN)

    @property
    def tiles_not_run(self) -> int:
        """Tiles a stopped run never reached (an answer rebuilt from its journal by ``geocot export``)."""
        return sum(1 for t in self.tiles if t.skipped == NOT_RUN)


# ----------------------------------------------------------------------------------------- evidence
#: The label of a box the model cited without naming it, when no single class was asked about.
UNLABELLED = "object"


def _with_label(features: Iterable[Feature], classes: Sequence[str] | None) -> list[Feature]:
    """Keep features of the asked classes; every one labelled: an unlabelled box takes the class
    when only one was asked, else :data:`UNLABELLED` (kept only when no class was asked)."""
    out = []
    for f in features:
        if not f.label.strip():
            f = dataclasses.replace(f, label=classes[0] if classes and len(classes) == 1 else UNLABELLED)
        if label_matches(f.label, classes):
            out.append(f)
    return out


def _distinct_in_tile(features: Sequence[Feature]) -> list[Feature]:
    """Drop a box cited again by the same tile (same class, IoU >= 0.9 with an earlier one)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, f in enumerate(features):
        groups.setdefault((f.tile_id, class_key(f.label)), []).append(i)
    keep: set[int] = set()
    for idx in groups.values():
        kept, _ = distinct_boxes([features[i].scene_box for i in idx], DUPLICATE_IOU)
        k = 0
        for i in idx:  # kept boxes are a subsequence of the group, in order
            if k < len(kept) and tuple(float(v) for v in features[i].scene_box) == kept[k]:
                keep.add(i)
                k += 1
    return [f for i, f in enumerate(features) if i in keep]


def distinct_objects(
    results: Iterable[TileResult], classes: Sequence[str] | None = None, nms_iou: float = 0.5
) -> list[Feature]:
    """The distinct evidence of a set of tiles: asked classes only, in-tile repeats and seam copies merged."""
    raw = [f for r in results for f in r.features]
    return dedupe_seams(_distinct_in_tile(_with_label(raw, classes)), iou=nms_iou)


def _flagged(tiles: Sequence[TileResult], *, boxed_only: bool = False) -> tuple[str, ...]:
    """Tiles whose answer disagrees with their own evidence (the audit's consistency check).

    ``boxed_only`` (ground): only tiles that answered with a box; a tile that says the target is
    not there is not contradicting itself.
    """
    return tuple(
        r.tile.id for r in tiles
        if r.audit is not None and r.audit.consistent is False
        and (not boxed_only or (r.trace is not None and r.trace.answer_boxes))
    )


def _per_class(features: Iterable[Feature]) -> dict[str, int]:
    counts = Counter(class_key(f.label) or "object" for f in features)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _summary(per_class: dict[str, int]) -> str:
    return ", ".join(f"{n} {lab if n == 1 else plural(lab)}" for lab, n in per_class.items())


def _classes_text(classes: Sequence[str] | None) -> str:
    return ", ".join(plural(class_key(c)) for c in classes) if classes else "objects"


# ------------------------------------------------------------------------------------ count, detect
def assemble_count(
    tiles: Sequence[TileResult], *, classes: Sequence[str] | None = None, question: str | None = None, nms_iou: float = 0.5
) -> SceneAnswer:
    """The scene count: distinct evidence boxes after seam de-duplication (see the module doc)."""
    evidence = tuple(distinct_objects(tiles, classes, nms_iou))
    per_class = _per_class(evidence)
    return SceneAnswer("count", question, str(len(evidence)), evidence, tuple(tiles), _flagged(tiles), per_class,
                       value=len(evidence))


def assemble_detect(
    tiles: Sequence[TileResult],
    *,
    classes: Sequence[str] | None = None,
    question: str | None = None,
    nms_iou: float = 0.5,
    min_score: float | None = None,
) -> SceneAnswer:
    """Every distinct object, with a per-class summary.

    ``min_score``: boxes whose score is below it are dropped. A VLM writes boxes without a
    confidence score; such boxes are *kept* (a box the model grounded is a claim it committed to,
    the way mAP scoring treats it as score 1.0) and counted in a note, so a ``--min-score`` that
    cannot act says so instead of silently emptying the output.
    """
    evidence = distinct_objects(tiles, classes, nms_iou)
    notes: list[str] = []
    if min_score is not None and min_score > 0:
        scored = [f for f in evidence if f.score is not None]
        dropped = sum(1 for f in scored if f.score < min_score)
        unscored = len(evidence) - len(scored)
        evidence = [f for f in evidence if f.score is None or f.score >= min_score]
        if dropped:
            notes.append(f"{dropped} boxes scored below --min-score {min_score:g} were dropped")
        if unscored:
            notes.append(
                f"{unscored} boxes carry no score (the model gives none) and were kept; "
                f"--min-score {min_score:g} filters scored boxes only"
            )
    per_class = _per_class(evidence)
    n = len(evidence)
    answer = f"{n} found: {_summary(per_class)}" if n else f"none found ({_classes_text(classes)})"
    return SceneAnswer("detect", question, answer, tuple(evidence), tuple(tiles), _flagged(tiles), per_class,
                       value=n, notes=tuple(notes))


# -------------------------------------------------------------------------------------------- ground
def _tile_order(tile_id: str) -> tuple[int, int]:
    m = re.fullmatch(r"r(\d+)c(\d+)", tile_id)
    return (int(m.group(1)), int(m.group(2))) if m else (1 << 30, 1 << 30)


def assemble_ground(
    tiles: Sequence[TileResult], expression: str, scene, *, nms_iou: float = 0.5
) -> SceneAnswer:
    """Exactly one feature for a referring expression: the best candidate across tiles, or none.

    Every tile whose answer holds a box gives a candidate (its first answer box, georeferenced);
    copies of one object from overlapping tiles are merged first (:func:`dedupe_seams`), and the
    number of tiles that chose it is its *agreement*. Candidates are ranked by, in order:

    1. **grounded**: the tile's answer box is one of the boxes its own trace grounded (the audit's
       consistency check) before a box written only in the answer;
    2. **whole**: not cut by an inner tile edge (``edge_margin`` >= :data:`CUT_MARGIN` scene px);
    3. **what the expression asks**: a superlative (largest/biggest/longest -> larger box;
       smallest -> smaller; northernmost/southernmost/easternmost/westernmost, topmost ... ->
       further that way, from the geotransform) or a place ("in the north-west", "top left",
       "centre" -> nearer that part of the footprint); tile-local superlatives are thereby
       settled at scene scale;
    4. **agreement**: more tiles chose it;
    5. a score, when the backend gives one (higher first);
    6. the largest ``edge_margin`` (most central in its tile), then grid order (deterministic).

    The winner is the only feature of the answer; ``value["candidates"]`` lists all, ranked.
    """
    compass = Compass.of(scene)
    by_tile: dict[str, tuple[Feature, bool]] = {}  # one candidate per tile: its first answer box
    for r in tiles:
        if r.trace is None or not r.trace.answer_boxes or not has_area(r.trace.answer_boxes[0]):
            continue  # no box, or one without area (no polygon: see pipeline.has_area)
        ev = Evidence("", "", r.trace.answer_boxes[0], tuple(r.trace.answer_boxes[0]), "answer")
        f = georeference(ev, r.tile, scene_size=(scene.width, scene.height), scene_transform=scene.transform,
                         task="ground", answer=r.answer, trace_text=r.text or "")
        match = _matching(f, r.features)
        if match is not None:
            f = dataclasses.replace(f, label=match.label, claim=match.claim)
        by_tile[f.tile_id] = (f, bool(r.audit is not None and r.audit.consistent))
    # merge copies of one object (label-blind), then represent each object by its best copy
    merged = dedupe_seams([dataclasses.replace(f, label="target") for f, _ in by_tile.values()], iou=nms_iou)
    wish = expression_key(expression, compass)
    objects = []
    for m in merged:
        copies = [by_tile[t] for t in m.merged_from]
        f, grounded = min(copies, key=lambda c: (not c[1], c[0].edge_margin < CUT_MARGIN, -c[0].edge_margin,
                                                 _tile_order(c[0].tile_id)))
        objects.append((dataclasses.replace(f, merged_from=m.merged_from), grounded))

    def key(item: tuple[Feature, bool]):
        f, grounded = item
        return (
            0 if grounded else 1,
            0 if f.edge_margin >= CUT_MARGIN else 1,
            wish(f) if wish is not None else 0.0,
            -len(f.merged_from),
            -(f.score if f.score is not None else -math.inf),
            -min(f.edge_margin, 1e12),
            _tile_order(f.tile_id),
        )

    objects.sort(key=key)
    candidates = [
        {
            "tile_id": f.tile_id,
            "merged_from": list(f.merged_from),
            "box_px": [round(v, 2) for v in f.scene_box],
            "label": f.label,
            "grounded": grounded,
            "cut": f.edge_margin < CUT_MARGIN,
            "agreement": len(f.merged_from),
            "where": compass.region(f.geometry.centroid.x, f.geometry.centroid.y),
        }
        for f, grounded in objects
    ]
    asked = sum(1 for r in tiles if r.trace is not None)
    if not objects:
        answer = f"not found: none of the {asked} tiles asked answered with a box for {expression!r}"
        value = {"found": False, "expression": expression, "candidates": []}
        return SceneAnswer("ground", expression, answer, (), tuple(tiles), _flagged(tiles, boxed_only=True), {}, value=value)
    best, info = objects[0][0], candidates[0]
    if not best.label:
        best = dataclasses.replace(best, label="target")
    box = ", ".join(f"{v:.0f}" for v in best.scene_box)
    answer = (
        f"found: {best.label} in the {info['where']} of the scene, box [{box}] px (tile {best.tile_id}; "
        f"{info['agreement']} of {len(by_tile)} tiles with a box chose it"
        + ("" if info["grounded"] else "; its box is not grounded in the trace")
        + ")"
    )
    value = {"found": True, "expression": expression, "box_px": info["box_px"], "tile_id": best.tile_id,
             "where": info["where"], "candidates": candidates}
    return SceneAnswer("ground", expression, answer, (best,), tuple(tiles), _flagged(tiles, boxed_only=True), {best.label: 1},
                       value=value)


def _matching(candidate: Feature, features: Sequence[Feature]) -> Feature | None:
    """The tile feature citing the candidate's box (same tile, IoU >= 0.9), if any."""
    best, best_iou = None, DUPLICATE_IOU
    for f in features:
        if f.tile_id != candidate.tile_id:
            continue
        v = _iou(candidate.scene_box, f.scene_box)
        if v >= best_iou and f.label:
            best, best_iou = f, v
    return best


def _iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 1.0 if tuple(a) == tuple(b) else 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ------------------------------------------------------------------------------------------ classify
def assemble_classify(
    tiles: Sequence[TileResult], scene, *, classes: Sequence[str] | None = None, question: str | None = None
) -> SceneAnswer:
    """One cell per tile core, with the tile's class; area and fraction per class.

    The cores of a tile grid partition the scene exactly, so the cells cover the footprint with no
    gap and no overlap. A tile skipped as nodata gives a ``nodata`` cell; a failed tile or an
    answer outside ``classes`` (without them: outside the scene classes of
    :mod:`geocot_cli.scene_classes`) gives ``unknown``. Areas are ground areas in m², geodesic
    unless the CRS is equal-area, and px² without a CRS (:func:`geocot_cli.measures.area_measure`;
    ``value["unit"]``, ``value["area_method"]``).
    """
    measure = area_measure(scene.crs)
    unit = measure.unit
    rows = []
    for r in tiles:
        c = r.tile.core
        box = (float(c.col_off), float(c.row_off), float(c.col_off + c.width), float(c.row_off + c.height))
        if r.skipped in ("nodata", NOT_RUN):
            label = r.skipped
        else:
            label = scene_class(r.answer, classes) if r.error is None else UNKNOWN
        rows.append((r, c, box_polygon(box, scene.transform), label))
    areas_m = measure.many([geom for _, _, geom, _ in rows])
    cells = [Cell(r.tile.id, c, geom, label, r.answer, area, r.text, r.skipped, r.error)
             for (r, c, geom, label), area in zip(rows, areas_m)]
    total = sum(c.area for c in cells) or 1.0
    areas: dict[str, float] = {}
    counts: Counter = Counter()
    for c in cells:
        areas[c.label] = areas.get(c.label, 0.0) + c.area
        counts[c.label] += 1
    order = sorted(areas, key=lambda k: (k in (UNKNOWN, "nodata", NOT_RUN), -areas[k], k))  # real classes first
    summary = {k: {"area": areas[k], "fraction": areas[k] / total, "cells": counts[k]} for k in order}
    answer = "; ".join(f"{k} {summary[k]['fraction']:.0%} ({_area_text(areas[k], unit)})" for k in order)
    value = {"classes": summary, "unit": unit, "total_area": total, "area_method": measure.method,
             "area_detail": measure.detail}
    evidence = tuple(distinct_objects(tiles))
    return SceneAnswer("classify", question, answer, evidence, tuple(tiles), _flagged(tiles),
                       {k: counts[k] for k in order}, value=value, cells=tuple(cells))


def _area_text(area: float, unit: str) -> str:
    """An area for people.

    >>> _area_text(81000, "m²"), _area_text(2.5e7, "m²"), _area_text(1234.5, "px²")
    ('81,000 m²', '25 km²', '1,234 px²')
    """
    if unit == "m²" and area >= 1e6:
        return f"{area / 1e6:,.3g} km²"
    return f"{area:,.0f} {unit}"


# ------------------------------------------------------------------------------------------- caption
def _length_text(length: float, unit: str) -> str:
    """A length for people.

    >>> _length_text(123456, "m"), _length_text(153.6, "m"), _length_text(640, "px")
    ('123 km', '154 m', '640 px')
    """
    if unit != "m":
        return f"{length:.0f} {unit}"
    return f"{length / 1000:.3g} km" if length >= 1000 else f"{length:.3g} m"


def assemble_caption(tiles: Sequence[TileResult], scene, *, question: str | None = None, nms_iou: float = 0.5) -> SceneAnswer:
    """A scene description from the evidence and the tiles' captions, in the scene's own terms.

    Three parts: the scene's size on the ground (geodesic, :func:`geocot_cli.measures.ground_lengths`); the distinct objects grounded, counted per class, with where
    they lie (``in the north-west``, ``mostly in the east``, ``across the scene``: see
    :class:`~geocot_cli.compass.Compass`, from the geotransform, never from pixel rows); and the
    tiles' own captions, similar ones grouped (word overlap >= 0.5), the most common first, each
    with where its tiles lie.
    """
    compass = Compass.of(scene)
    evidence = distinct_objects(tiles, None, nms_iou)
    per_class = _per_class(evidence)
    w, h, unit = ground_lengths(scene.crs, scene.transform, scene.width, scene.height)
    parts = [f"A {_length_text(w, unit)} × {_length_text(h, unit)} scene"
             + (f" ({scene.crs.to_string()})" if scene.crs is not None else "") + "."]
    where: dict[str, str] = {}
    for label in per_class:
        pts = [(f.geometry.centroid.x, f.geometry.centroid.y) for f in evidence if (class_key(f.label) or "object") == label]
        where[label] = compass.where(pts)
    if per_class:
        items = [f"{n} {lab if n == 1 else plural(lab)} ({where[lab]})" for lab, n in per_class.items()]
        parts.append("Grounded objects: " + ", ".join(items) + ".")
    else:
        parts.append("No object was grounded.")
    groups = _caption_groups(tiles)
    captions = []
    for texts, members in groups[:3]:
        pts = [r.tile.transform * (r.tile.window.width / 2, r.tile.window.height / 2) for r in members]
        captions.append({"text": texts, "tiles": [r.tile.id for r in members], "where": compass.where(pts)})
    if captions:
        said = "; ".join(f"{c['text'].rstrip('.')} ({c['where']}, {len(c['tiles'])} of {len(tiles)} tiles)" for c in captions)
        parts.append(f"Tiles describe: {said}.")
    value = {"per_class": per_class, "where": where, "captions": captions, "size": [w, h], "size_unit": unit,
             "size_method": "geodesic" if unit == "m" else "pixels"}
    return SceneAnswer("caption", question, " ".join(parts), tuple(evidence), tuple(tiles), _flagged(tiles),
                       per_class, value=value)


def _caption_groups(tiles: Sequence[TileResult]) -> list[tuple[str, list[TileResult]]]:
    groups: list[tuple[set[str], str, list[TileResult]]] = []
    for r in tiles:
        text = (r.answer or "").strip()
        words = set(normalize_answer(text).split())
        if not words:
            continue
        for g_words, _, members in groups:
            if len(words & g_words) / len(words | g_words) >= 0.5:
                members.append(r)
                break
        else:
            groups.append((words, text, [r]))
    ranked = sorted(groups, key=lambda g: -len(g[2]))  # stable: grid order among equals
    return [(text, members) for _, text, members in ranked]


# ----------------------------------------------------------------------------------------------- vqa
_YESNO_Q = re.compile(r"^\s*(is|are|does|do|did|can|could|was|were|has|have|had|will|would|should)\b", re.I)
_COUNT_Q = re.compile(r"\b(how many|number of|count)\b", re.I)


def _yes_no(answer: str | None) -> str | None:
    words = normalize_answer(answer).split()
    return words[0] if words and words[0] in ("yes", "no") else None


def assemble_vqa(
    tiles: Sequence[TileResult], question: str, *, classes: Sequence[str] | None = None, nms_iou: float = 0.5
) -> SceneAnswer:
    """A scene-level answer to an open question, from the tiles' answers and their evidence.

    - **yes/no** (the question starts with is/are/does/can/..., or every tile answers yes or no):
      ``yes`` iff at least one tile says yes *and* grounds a box of the asked ``classes`` (any box
      when none are asked; "is there a bridge?" asks about bridges:
      :func:`~geocot_cli.questions.polar_classes`); its evidence supports it. Tiles that say yes
      without such a box (none at all, or only ships when bridges were asked about) are not
      believed, and are counted in a note.
    - **a count in disguise** (how many / number of / count): the number of distinct evidence
      boxes, as for ``count``.
    - **anything else**: the most common answer (after normalisation), ties broken by more
      evidence, then grid order; the evidence of the tiles that gave it supports it.
    """
    answered = [r for r in tiles if r.answer and r.answer.strip()]
    notes: list[str] = []
    if _COUNT_Q.search(question):
        evidence = distinct_objects(tiles, classes, nms_iou)
        return SceneAnswer("vqa", question, str(len(evidence)), tuple(evidence), tuple(tiles), _flagged(tiles),
                           _per_class(evidence), value=len(evidence))
    polar = [_yes_no(r.answer) for r in answered]
    if _YESNO_Q.search(question) or (answered and all(p is not None for p in polar)):
        says_yes = [r for r, p in zip(answered, polar) if p == "yes"]
        backed = [r for r in says_yes if _with_label(r.features, classes)]
        off_class = [r for r in says_yes if r.features and r not in backed]
        bare = len(says_yes) - len(backed) - len(off_class)
        if bare:
            notes.append(f"{bare} tiles said yes without grounding a box; not counted")
        if off_class:
            names = ", ".join(sorted({class_key(f.label) or "object" for r in off_class for f in r.features}))
            notes.append(f"{len(off_class)} tiles said yes citing only boxes of other classes ({names}), "
                         f"none of {_classes_text(classes)}; not counted")
        evidence = distinct_objects(backed, classes, nms_iou)
        answer = "yes" if evidence else "no"
        value = {"answer": answer, "tiles_yes": [r.tile.id for r in backed], "tiles_answered": len(answered)}
        return SceneAnswer("vqa", question, answer, tuple(evidence), tuple(tiles), _flagged(tiles),
                           _per_class(evidence), value=value, notes=tuple(notes))
    by_answer: dict[str, list[TileResult]] = {}
    for r in answered:
        by_answer.setdefault(normalize_answer(r.answer), []).append(r)
    if not by_answer:
        return SceneAnswer("vqa", question, "", (), tuple(tiles), _flagged(tiles), {}, value={"answers": {}})
    best = min(by_answer, key=lambda k: (-len(by_answer[k]), -sum(len(r.features) for r in by_answer[k])))
    support = by_answer[best]
    evidence = distinct_objects(support, classes, nms_iou)
    value = {"answers": {k: len(v) for k, v in by_answer.items()}, "tiles": [r.tile.id for r in support]}
    return SceneAnswer("vqa", question, support[0].answer.strip(), tuple(evidence), tuple(tiles), _flagged(tiles),
                       _per_class(evidence), value=value)


# ------------------------------------------------------------------------------------------ dispatch
def assemble(
    task: str,
    results: Iterable[TileResult],
    *,
    question: str | None = None,
    classes: Sequence[str] | None = None,
    nms_iou: float = 0.5,
    scene=None,
    min_score: float | None = None,
) -> SceneAnswer:
    """Build the scene-level answer for ``task`` from per-tile results (``scene`` is needed by
    ground, classify and caption, which place things on the footprint)."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    tiles = tuple(results)
    if task in ("ground", "classify", "caption") and scene is None:
        raise ConfigError(f"assembling a {task} answer needs the scene (pass scene=...)")
    if task == "count":
        return assemble_count(tiles, classes=classes, question=question, nms_iou=nms_iou)
    if task == "detect":
        return assemble_detect(tiles, classes=classes, question=question, nms_iou=nms_iou, min_score=min_score)
    if task == "ground":
        return assemble_ground(tiles, question or "", scene, nms_iou=nms_iou)
    if task == "classify":
        return assemble_classify(tiles, scene, classes=classes, question=question)
    if task == "caption":
        return assemble_caption(tiles, scene, question=question, nms_iou=nms_iou)
    return assemble_vqa(tiles, question or "", classes=classes, nms_iou=nms_iou)
