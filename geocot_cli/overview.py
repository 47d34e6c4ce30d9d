"""Overview-first active perception: look at the whole scene once, then read at full resolution
only where the model saw something (``--strategy overview``).

1. :func:`read_overview` reads the whole scene decimated to one model-sized image (long side =
   the tile size; GDAL averages the pixels, or uses the file's overviews when it has them), with
   the scene's own 8-bit stretch and mask.
2. The model answers the task's object prompt on it (:func:`overview_prompt`: the detect prompt for
   count and detect, the referring expression for ground, the question for vqa). Its boxes (the
   grounded evidence and the answer boxes), in overview pixels, are mapped to scene pixels and
   expanded by a margin (default: two overview pixels, the localisation error of a box drawn on
   a decimated image): :func:`overview_regions`.
3. Only the tiles whose windows intersect a region are read and run at full resolution
   (:func:`select_tiles`, :func:`selected_tiles`, passed to ``run_scene(tiles=...)``); the others
   are reported as skipped, ``"not selected by the overview"``.

The strategy trusts the overview: an object smaller than a few overview pixels (an object of
``k`` scene pixels is ``k / decimation`` overview pixels) is invisible to the model there, and the
tiles around it are never read. ``bench/bench_overview.py`` measures the tiles saved and the recall
lost. An overview the model did not answer (no ``<answer>``, or a failed call) falls back to the
full grid, with a note; an overview answered with no box selects no tile.

>>> overview_shape(8000, 2000, 800)
(800, 200)
>>> overview_regions([(10, 10, 12, 11)], (10.0, 10.0), 20.0, (8000, 2000))
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
from .scene import Scene, _band_valid, _to_uint8
from .tiling import Tile, TileGrid
from .trace import Trace, parse_trace
from .types import PixelBox

__all__ = [
    "NOT_SELECTED",
    "OVERVIEW_ID",
    "OVERVIEW_TASKS",
    "STRATEGIES",
    "Overview",
    "check_strategy",
    "look",
    "overview_prompt",
    "overview_regions",
    "overview_result",
    "overview_shape",
    "read_overview",
    "select_tiles",
    "selected_tiles",
    "unselected_results",
]

#: ``grid``: every tile; ``overview``: only tiles where the overview shows something.
STRATEGIES: tuple[str, ...] = ("grid", "overview")
#: Tasks about objects, which an overview can narrow down (classify and caption need every tile).
OVERVIEW_TASKS: tuple[str, ...] = ("count", "detect", "ground", "vqa")
#: Id of the overview in a run journal (tile ids are ``r{row}c{col}``).
OVERVIEW_ID = "overview"
#: ``TileResult.skipped`` of a tile the overview did not select.
NOT_SELECTED = "not selected by the overview"


@dataclass(frozen=True)
class Overview:
    """What the model saw on the decimated scene, and the tiles chosen for a closer look.

    ``size``: (w, h) of the overview image as fed; ``scale``: scene pixels per overview pixel
    (x, y); ``regions``: boxes in scene pixels (expanded by ``margin``); ``tiles``: ids of the
    chosen tiles, grid order; ``fallback``: why the whole grid is run instead (None normally).
    """

    size: tuple[int, int]
    scale: tuple[float, float]
    prompt: str
    text: str | None
    trace: Trace | None
    regions: tuple[PixelBox, ...]
    tiles: tuple[str, ...]
    tiles_total: int
    margin: float
    fallback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The overview as JSON-ready values (what ``--json`` prints under ``overview``)."""
        return {
            "size": list(self.size),
            "scale": [round(v, 4) for v in self.scale],
            "margin": self.margin,
            "regions_px": [[round(v, 2) for v in r] for r in self.regions],
            "tiles_selected": list(self.tiles),
            "tiles_total": self.tiles_total,
            "fallback": self.fallback,
            "answer": None if self.trace is None else self.trace.answer,
            "trace": self.text,
        }


def overview_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) of the overview: the scene scaled so its long side is ``size`` (never enlarged)."""
    scale = max(width, height) / size
    if scale <= 1:
        return width, height
    return max(1, round(width / scale)), max(1, round(height / scale))


def read_overview(scene: Scene, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole scene as one ``(h, w, 3)`` uint8 image of long side ``size``, and its validity mask.

    One decimated read (``out_shape``, average resampling): GDAL uses the file's overviews when it
    has them, and otherwise streams the full-resolution pixels once; memory is that of the overview.
    """
    w, h = overview_shape(scene.width, scene.height, size)
    k = len(scene.bands)
    with scene.open() as ds:
        data = ds.read(list(scene.bands), out_shape=(k, h, w), resampling=Resampling.average)
        band_valid = _band_valid(ds, scene.bands, scene.mask_source, scene.nodata, scene.dtype, data, None, (h, w))
    image = _to_uint8(data, scene.stretch, band_valid)
    if image.shape[0] == 1:
        image = np.repeat(image, 3, axis=0)
    valid = np.ones((h, w), dtype=bool) if band_valid is None else band_valid.any(axis=0)
    return np.ascontiguousarray(image.transpose(1, 2, 0)), valid


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


def overview_prompt(task: str, question: str | None = None, classes: Sequence[str] | None = None) -> str:
    """The prompt asked on the overview: the detect prompt for count/detect, the task's own otherwise.

    >>> overview_prompt("count", "How many ships?", ["ship"]).splitlines()[0]
    'Detect all ship in the image.'
    """
    check_strategy("overview", task)
    if task in ("count", "detect"):
        return build_prompt("detect", None, classes)
    if task == "vqa" and classes:
        return build_prompt("detect", None, classes)
    return build_prompt(task, question, classes)


def overview_regions(
    boxes: Sequence[Sequence[float]], scale: tuple[float, float], margin: float, scene_size: tuple[int, int]
) -> tuple[PixelBox, ...]:
    """Boxes in overview pixels -> scene pixels, expanded by ``margin`` scene pixels, clipped to the scene."""
    sx, sy = scale
    w, h = scene_size
    out = []
    for b in boxes:
        x1, y1, x2, y2 = (float(v) for v in b)
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
        r = (max(0.0, x1 * sx - margin), max(0.0, y1 * sy - margin), min(float(w), x2 * sx + margin),
             min(float(h), y2 * sy + margin))
        if r[2] > r[0] and r[3] > r[1]:
            out.append(r)
    return tuple(out)


def select_tiles(windows: Sequence[tuple[int, int, Window, Window]], regions: Sequence[PixelBox]) -> tuple[str, ...]:
    """Ids of the tiles (``TileGrid.windows()`` rows) whose window's interior meets a region's.

    >>> from rasterio.windows import Window
    >>> wins = [(0, 0, Window(0, 0, 100, 100), None), (0, 1, Window(80, 0, 100, 100), None)]
    >>> select_tiles(wins, [(10, 10, 20, 20)]), select_tiles(wins, [(85, 10, 90, 20)]), select_tiles(wins, [])
    (('r0c0',), ('r0c0', 'r0c1'), ())
    """
    if not regions or not windows:
        return ()
    reg = np.asarray(regions, dtype=np.float64).reshape(-1, 4)
    win = np.array([(w.col_off, w.row_off, w.col_off + w.width, w.row_off + w.height) for _, _, w, _ in windows],
                   dtype=np.float64)
    hit = (
        (reg[None, :, 0] < win[:, None, 2]) & (reg[None, :, 2] > win[:, None, 0])
        & (reg[None, :, 1] < win[:, None, 3]) & (reg[None, :, 3] > win[:, None, 1])
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
    replay: Mapping[str, Any] | None = None,
    convention: str | None = None,
) -> Overview:
    """Ask ``backend`` about the decimated scene and choose the tiles worth a closer look.

    ``replay``: the journal record of an earlier run's overview; its text is parsed again instead
    of calling the model (so a resumed run chooses the same tiles).
    """
    prompt = overview_prompt(task, question, classes)
    grid = TileGrid(scene, tiling)
    size = overview_shape(scene.width, scene.height, tiling.tile)
    scale = (scene.width / size[0], scene.height / size[1])
    margin = float(math.ceil(2 * max(scale))) if margin is None else float(margin)
    if margin < 0:
        raise ConfigError(f"overview margin ({margin}) must be >= 0 scene pixels")
    convention = convention or backend.box_convention
    fallback = None
    text: str | None = None
    if replay is not None:  # rebuilt from a journal: no pixel read, no model call
        text = replay.get("text")
        size = tuple(replay.get("image_size") or size)  # type: ignore[assignment]
        if text is None:
            fallback = replay.get("error") or "the overview has no text; every tile was run"
    else:
        from PIL import Image

        image, _ = read_overview(scene, tiling.tile)
        size = (image.shape[1], image.shape[0])
        try:
            text = backend.generate([Image.fromarray(image)], [prompt])[0]
        except GeocotError:
            raise
        except Exception as exc:  # the model failed on the overview: look everywhere instead
            fallback = f"the model failed on the overview ({type(exc).__name__}: {exc}); every tile was run"
    trace = None if text is None else parse_trace(text, convention, size)
    regions: tuple[PixelBox, ...] = ()
    chosen: tuple[str, ...] = ()
    if trace is not None:
        if trace.answer is None:
            fallback = "the overview trace has no <answer>; every tile was run"
        else:
            boxes = [e.box for e in trace.evidence] + list(trace.answer_boxes)
            regions = overview_regions(boxes, scale, margin, (scene.width, scene.height))
            chosen = select_tiles(grid.windows(), regions)
    if fallback is not None:
        chosen = tuple(f"r{r}c{c}" for r, c, _, _ in grid.windows())
    return Overview(size, scale, prompt, text, trace, regions, chosen, len(grid), margin, fallback)


def _bare_tile(scene: Scene, row: int, col: int, window: Window, core: Window, tile_id: str | None = None) -> Tile:
    return Tile(
        id=tile_id or f"r{row}c{col}", row=row, col=col, window=window,
        transform=scene.transform @ Affine.translation(window.col_off, window.row_off), crs=scene.crs,
        image=None, valid_fraction=float("nan"), core=core,
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


def overview_result(scene: Scene, overview: Overview) -> TileResult:
    """The overview as a journal record: a pseudo-tile ``overview`` covering the scene."""
    tile = _bare_tile(scene, -1, -1, scene.window, scene.window, OVERVIEW_ID)
    return TileResult(tile=tile, prompt=overview.prompt, text=overview.text, trace=overview.trace,
                      image_size=tuple(overview.size), error=overview.fallback if overview.text is None else None)
