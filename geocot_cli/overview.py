"""Overview-first active perception: look at the whole scene decimated, then read at full
resolution only where the model saw something (``--strategy overview``).

1. **Glance.** The scene is read decimated into model-sized images (long side = the tile size;
   GDAL averages the pixels, or uses the file's overviews when it has them), with the scene's own
   8-bit stretch and mask (:func:`read_overview`). A scene up to ``tile x max_decimation`` pixels
   a side is one image; a larger one is cut into a few overlapping *glance windows*
   (:func:`glance_windows`) so that no image is decimated more than ``max_decimation`` times:
   an object must stay a few overview pixels wide to be seen at all. ``max_decimation=None``
   always looks at one image (the cheapest, and the blindest on large scenes).
2. **Ask.** The model answers the task's object prompt on each glance (:func:`overview_prompt`:
   the detect prompt for count and detect, the referring expression for ground, the question for
   vqa). Its boxes (grounded evidence and answer boxes), in glance pixels, are mapped to scene
   pixels and expanded by a margin (default: two overview pixels, the localisation error of a
   box drawn on a decimated image): :func:`overview_regions`.
3. **Look closer.** Only the tiles whose windows meet a region are read and run at full
   resolution (:func:`select_tiles`, :func:`selected_tiles`, passed to
   ``run_scene(tiles=...)``); the others are reported as skipped, ``"not selected by the
   overview"``.

The strategy trusts the glances: an object of ``k`` scene pixels is about ``k / decimation``
overview pixels, averaged with the ground around it, and one a few overview pixels wide is
invisible, so the tiles around it are never read. ``bench/bench_overview.py`` measures the tiles
saved and the recall lost. A glance the model did not answer (no ``<answer>``, or a failed call)
is not trusted: every tile under it is run, and a note says so. A glance answered with no box
selects no tile.

>>> overview_shape(8000, 2000, 800)
(800, 200)
>>> overview_regions([(10, 10, 12, 11)], Window(0, 0, 8000, 2000), (800, 200), 20.0, (8000, 2000))
((80.0, 80.0, 140.0, 130.0),)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from .config import TilingOptions
from .errors import ConfigError, GeocotError
from .pipeline import TileResult
from .prompts import build_prompt
from .scene import Scene, _band_valid, _interleave, _to_uint8
from .tiling import Tile, TileGrid, tile_spans
from .trace import Trace, parse_trace
from .types import PixelBox

__all__ = [
    "MAX_DECIMATION",
    "NOT_SELECTED",
    "OVERVIEW_ID",
    "OVERVIEW_TASKS",
    "STRATEGIES",
    "Glance",
    "Overview",
    "check_strategy",
    "glance_result",
    "glance_windows",
    "journal_glances",
    "look",
    "overview_prompt",
    "overview_regions",
    "overview_shape",
    "read_overview",
    "select_tiles",
    "selected_tiles",
    "unselected_results",
]

#: ``grid``: every tile; ``overview``: only tiles where a glance at the decimated scene shows something.
STRATEGIES: tuple[str, ...] = ("grid", "overview")
#: Tasks about objects, which an overview can narrow down (classify and caption need every tile).
OVERVIEW_TASKS: tuple[str, ...] = ("count", "detect", "ground", "vqa")
#: Default largest decimation of a glance (scene pixels per overview pixel): an 800 px tile then
#: glances at up to 3,200 px of scene, and an object of 16 px is still 4 overview pixels. On the
#: bench's sparse scenes it keeps every object 12 px and up, at 3.7-5x fewer model calls.
MAX_DECIMATION = 4.0
#: Journal id of the glances (``overview`` for one, ``overview:0``, ``overview:1``, ... for several).
OVERVIEW_ID = "overview"
#: ``TileResult.skipped`` of a tile the overview did not select.
NOT_SELECTED = "not selected by the overview"


@dataclass(frozen=True)
class Glance:
    """One decimated image of (part of) the scene and what the model said about it.

    ``window``: the part of the scene shown, in scene pixels; ``size``: (w, h) of the image as
    fed; ``failed``: why its answer cannot be used (then every tile under it is run).
    """

    id: str
    window: Window
    size: tuple[int, int]
    text: str | None
    trace: Trace | None
    failed: str | None = None

    @property
    def decimation(self) -> float:
        """Scene pixels per overview pixel (the larger of the two axes)."""
        return max(self.window.width / self.size[0], self.window.height / self.size[1])


@dataclass(frozen=True)
class Overview:
    """The glances at a scene, the regions they name and the tiles chosen for a closer look.

    ``regions`` are boxes in scene pixels (expanded by ``margin``), ``sources`` the glance id of
    each; ``tiles`` the ids of the chosen tiles, grid order, out of ``tiles_total``.
    """

    prompt: str
    glances: tuple[Glance, ...]
    regions: tuple[PixelBox, ...]
    sources: tuple[str, ...]
    tiles: tuple[str, ...]
    tiles_total: int
    margin: float

    @property
    def failed(self) -> tuple[Glance, ...]:
        """Glances whose answer could not be used."""
        return tuple(g for g in self.glances if g.failed)

    def as_dict(self) -> dict[str, Any]:
        """The overview as JSON-ready values (what ``--json`` prints under ``overview``)."""
        return {
            "margin": self.margin,
            "tiles_selected": list(self.tiles),
            "tiles_total": self.tiles_total,
            "regions_px": [[round(v, 2) for v in r] for r in self.regions],
            "glances": [
                {
                    "id": g.id,
                    "window": [int(g.window.col_off), int(g.window.row_off), int(g.window.width), int(g.window.height)],
                    "size": list(g.size),
                    "decimation": round(g.decimation, 3),
                    "failed": g.failed,
                    "answer": None if g.trace is None else g.trace.answer,
                    "trace": g.text,
                }
                for g in self.glances
            ],
        }


def check_strategy(strategy: str, task: str) -> None:
    """Refuse, before any work, a strategy that does not exist or cannot serve ``task``.

    >>> check_strategy("overview", "classify")
    Traceback (most recent call last):
    ...
    geocot_cli.errors.ConfigError: --strategy overview works for count, detect, ground, vqa, not classify (which needs every tile); use --strategy grid
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if strategy == "overview" and task not in OVERVIEW_TASKS:
        raise ConfigError(
            f"--strategy overview works for {', '.join(OVERVIEW_TASKS)}, not {task} "
            "(which needs every tile); use --strategy grid"
        )


def overview_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) of a glance at a ``width`` x ``height`` window: long side ``size`` (never enlarged)."""
    scale = max(width, height) / size
    if scale <= 1:
        return int(width), int(height)
    return max(1, round(width / scale)), max(1, round(height / scale))


def glance_windows(width: int, height: int, tile: int, max_decimation: float | None) -> list[Window]:
    """The scene windows glanced at: one for the whole scene when it is at most ``tile x
    max_decimation`` a side, else a grid of such windows overlapping by a tenth.

    >>> glance_windows(8192, 3000, 800, 8)
    [Window(col_off=0, row_off=0, width=6400, height=3000), Window(col_off=1792, row_off=0, width=6400, height=3000)]
    >>> len(glance_windows(8192, 3000, 800, None))
    1
    """
    if max_decimation is None:
        return [Window(0, 0, width, height)]
    if max_decimation < 1:
        raise ConfigError(f"overview max_decimation ({max_decimation}) must be >= 1; try 8")
    side = max(int(tile * max_decimation), 1)
    overlap = side // 10
    cols = tile_spans(width, side, overlap)
    rows = tile_spans(height, side, overlap)
    return [Window(x, y, w, h) for y, h, _, _ in rows for x, w, _, _ in cols]


def read_overview(scene: Scene, size: int, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``window`` (default: the whole scene) as one ``(h, w, 3)`` uint8 image of long side ``size``,
    and its validity mask.

    One decimated read (``out_shape``, average resampling): GDAL uses the file's overviews when it
    has them, and otherwise streams the full-resolution pixels once; memory is that of the image.
    """
    window = window or scene.window
    w, h = overview_shape(int(window.width), int(window.height), size)
    k = len(scene.bands)
    with scene.open() as ds:
        data = ds.read(list(scene.bands), window=window, out_shape=(k, h, w), resampling=Resampling.average)
        band_valid = _band_valid(ds, scene.bands, scene.mask_source, scene.nodata, scene.dtype, data, window, (h, w))
    valid = np.ones((h, w), dtype=bool) if band_valid is None else band_valid.any(axis=0)
    return _interleave(_to_uint8(data, scene.stretch, band_valid)), valid


def overview_prompt(task: str, question: str | None = None, classes: Sequence[str] | None = None) -> str:
    """The prompt asked on a glance: the detect prompt for count/detect, the task's own otherwise.

    >>> overview_prompt("count", "How many ships?", ["ship"]).splitlines()[0]
    'Detect all ship in the image.'
    """
    check_strategy("overview", task)
    if task in ("count", "detect") or (task == "vqa" and classes):
        return build_prompt("detect", None, classes)
    return build_prompt(task, question, classes)


def overview_regions(
    boxes: Sequence[Sequence[float]],
    window: Window,
    size: tuple[int, int],
    margin: float,
    scene_size: tuple[int, int],
) -> tuple[PixelBox, ...]:
    """Boxes in pixels of a glance (``size``) at ``window`` -> scene pixels, expanded by ``margin``
    scene pixels, clipped to the scene."""
    sx, sy = window.width / size[0], window.height / size[1]
    ox, oy = float(window.col_off), float(window.row_off)
    w, h = scene_size
    out = []
    for b in boxes:
        x1, y1, x2, y2 = (float(v) for v in b)
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
        r = (max(0.0, ox + x1 * sx - margin), max(0.0, oy + y1 * sy - margin),
             min(float(w), ox + x2 * sx + margin), min(float(h), oy + y2 * sy + margin))
        if r[2] > r[0] and r[3] > r[1]:
            out.append(r)
    return tuple(out)


def select_tiles(windows: Sequence[tuple[int, int, Window, Window]], regions: Sequence[PixelBox]) -> tuple[str, ...]:
    """Ids of the tiles (``TileGrid.windows()`` rows) whose window's interior meets a region's.

    >>> wins = [(0, 0, Window(0, 0, 100, 100), None), (0, 1, Window(80, 0, 100, 100), None)]
    >>> select_tiles(wins, [(10, 10, 20, 20)]), select_tiles(wins, [(85, 10, 90, 20)]), select_tiles(wins, [])
    (('r0c0',), ('r0c0', 'r0c1'), ())
    """
    if not regions or not windows:
        return ()
    reg = np.asarray(regions, dtype=np.float64).reshape(-1, 4)
    win = np.array([(w.col_off, w.row_off, w.col_off + w.width, w.row_off + w.height) for _, _, w, _ in windows],
                   dtype=np.float64)
    hit = np.zeros(len(win), dtype=bool)
    for start in range(0, len(reg), 256):  # bounded memory for many regions x many tiles
        r = reg[start: start + 256]
        hit |= (
            (r[None, :, 0] < win[:, None, 2]) & (r[None, :, 2] > win[:, None, 0])
            & (r[None, :, 1] < win[:, None, 3]) & (r[None, :, 3] > win[:, None, 1])
        ).any(axis=1)
    return tuple(f"r{r}c{c}" for (r, c, _, _), h in zip(windows, hit) if h)


def look(
    scene: Scene,
    backend,
    *,
    task: str,
    question: str | None = None,
    classes: Sequence[str] | None = None,
    tiling: TilingOptions = TilingOptions(),
    margin: float | None = None,
    max_decimation: float | None = MAX_DECIMATION,
    replay: Mapping[str, Mapping[str, Any]] | None = None,
    convention: str | None = None,
    windows: Mapping[str, Window] | None = None,
) -> Overview:
    """Glance at the decimated scene with ``backend`` and choose the tiles worth a closer look.

    ``replay``: journal records of an earlier run, by id; a glance found there is parsed again
    from its saved text instead of being read and asked (so a resumed run chooses the same
    tiles). With ``backend=None`` a glance missing from ``replay`` counts as failed. ``windows``
    (glance id -> window) replaces the glance windows, as :func:`journal_glances` reads them back.
    """
    prompt = overview_prompt(task, question, classes)
    if windows is None:
        wins = glance_windows(scene.width, scene.height, tiling.tile, max_decimation)
        windows = dict(zip([OVERVIEW_ID] if len(wins) == 1 else [f"{OVERVIEW_ID}:{k}" for k in range(len(wins))], wins))
    ids, windows = list(windows), list(windows.values())
    convention = convention or getattr(backend, "box_convention", None) or "pixel"
    replay = replay or {}
    glances = []
    for gid, window in zip(ids, windows):
        glances.append(_glance(scene, backend, gid, window, prompt, tiling.tile, convention, replay.get(gid)))
    decimation = max(g.decimation for g in glances)
    margin = float(math.ceil(2 * decimation)) if margin is None else float(margin)
    if margin < 0:
        raise ConfigError(f"overview margin ({margin}) must be >= 0 scene pixels")
    regions: list[PixelBox] = []
    sources: list[str] = []
    for g in glances:
        if g.failed:  # not trusted: look at everything under it
            w = g.window
            found: tuple[PixelBox, ...] = ((float(w.col_off), float(w.row_off), float(w.col_off + w.width),
                                            float(w.row_off + w.height)),)
        else:
            boxes = [e.box for e in g.trace.evidence] + list(g.trace.answer_boxes)
            found = overview_regions(boxes, g.window, g.size, margin, (scene.width, scene.height))
        regions.extend(found)
        sources.extend([g.id] * len(found))
    grid = TileGrid(scene, tiling)
    chosen = select_tiles(grid.windows(), regions)
    return Overview(prompt, tuple(glances), tuple(regions), tuple(sources), chosen, len(grid), margin)


def _glance(scene, backend, gid, window, prompt, size, convention, record) -> Glance:
    failed = None
    text: str | None = None
    shape = overview_shape(int(window.width), int(window.height), size)
    if record is not None:  # rebuilt from a journal: no pixel read, no model call
        text = record.get("text")
        shape = tuple(record.get("image_size") or shape)
        if text is None:
            failed = record.get("error") or "no text was recorded"
    elif backend is None:
        failed = "not in the journal"
    else:
        from PIL import Image

        image, _ = read_overview(scene, size, window)
        shape = (image.shape[1], image.shape[0])
        try:
            text = backend.generate([Image.fromarray(image)], [prompt])[0]
        except GeocotError:
            raise
        except Exception as exc:  # the model failed on this glance: every tile under it will run
            failed = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
    trace = None if text is None else parse_trace(text, convention, shape)
    if trace is not None and failed is None:
        failed = _unusable(trace)
    return Glance(gid, window, tuple(shape), text, trace, failed)


_UNUSABLE = ("empty output", "missing <answer>", "binary junk", "repetition")


def _unusable(trace: Trace) -> str | None:
    """Why a glance's trace cannot be trusted to say where objects are (None: it can).

    A trace with an ``<answer>`` is trusted even when it cites nothing (``[]`` means none); one
    without, or with junk or a repetition loop, is not.
    """
    if trace.answer is None:
        return "its output has no <answer>"
    for p in trace.problems:
        if p.lower().startswith(_UNUSABLE):
            return p
    return None


def journal_glances(done: Mapping[str, Mapping[str, Any]]) -> dict[str, Window]:
    """The glance windows recorded in a run journal's tiles (empty for a grid-strategy run).

    >>> journal_glances({"overview": {"window": [0, 0, 90, 60]}, "r0c0": {"window": [0, 0, 40, 40]}})
    {'overview': Window(col_off=0, row_off=0, width=90, height=60)}
    """
    return {
        k: Window(*rec["window"]) for k, rec in done.items()
        if (k == OVERVIEW_ID or k.startswith(OVERVIEW_ID + ":")) and rec.get("window")
    }


def _bare_tile(scene: Scene, row: int, col: int, window: Window, core: Window, tile_id: str | None = None) -> Tile:
    return Tile(
        id=tile_id or f"r{row}c{col}", row=row, col=col, window=window,
        transform=scene.transform @ Affine.translation(window.col_off, window.row_off), crs=scene.crs,
        image=None, valid_fraction=float("nan"), core=window if core is None else core,
    )


def selected_tiles(grid: TileGrid, ids: Collection[str], done: Collection[str] = ()) -> Iterator[Tile]:
    """Stream the chosen tiles of ``grid`` in grid order, reading only those (and not those in ``done``)."""
    ids = frozenset(ids)
    others = {f"r{r}c{c}" for r, c, _, _ in grid.windows()} - ids
    for tile in grid.tiles(done=others | set(done)):
        if tile.id in ids:
            yield tile


def unselected_results(grid: TileGrid, ids: Collection[str], prompt: str) -> list[TileResult]:
    """A skipped :class:`TileResult` (``NOT_SELECTED``) for every tile of ``grid`` not in ``ids``."""
    ids = frozenset(ids)
    return [
        TileResult(tile=_bare_tile(grid.scene, r, c, w, core), prompt=prompt, skipped=NOT_SELECTED)
        for r, c, w, core in grid.windows()
        if f"r{r}c{c}" not in ids
    ]


def glance_result(scene: Scene, glance: Glance, prompt: str) -> TileResult:
    """A glance as a journal record: a pseudo-tile named ``glance.id`` over its window."""
    tile = _bare_tile(scene, -1, -1, glance.window, None, glance.id)
    return TileResult(tile=tile, prompt=prompt, text=glance.text, trace=glance.trace, image_size=tuple(glance.size),
                      error=glance.failed if glance.text is None else None)
