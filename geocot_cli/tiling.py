"""Cut a scene into overlapping, model-sized tiles that carry their own georeferencing.

Tiles are square (``options.tile`` pixels) and step by ``options.stride``; the last row and column
are shifted back to end at the scene edge, so every pixel is in some tile and every tile is full
size (a scene smaller than one tile gives one tile of the scene's size). Each tile also has a
*core*: its share of the overlaps, split at their middle, so the cores partition the scene.

:class:`TileGrid` knows its length before reading anything, and streams: iterating reads the tiles
in order (one at a time, or a few ahead in reader threads with their own open file), and skips (``image=None``)
tiles whose valid fraction is below ``options.min_valid``.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Collection, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from .config import TilingOptions
from .errors import ConfigError
from .scene import Scene

__all__ = ["READ_WORKERS", "Tile", "TileGrid", "tile_spans"]

#: Reader threads the pipeline asks :meth:`TileGrid.tiles` for. GDAL releases the GIL while it
#: reads and decodes, so two readers keep the producer ahead of a single plain read loop; with
#: fewer than 4 cores they would take CPU from the model (and cost more CPU per tile), so none.
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
READ_WORKERS = 2 if _CORES >= 4 else 1


@dataclass(frozen=True)
class Tile:
    """One tile: where it is in the scene, its affine and CRS, and its 8-bit RGB image.

    ``transform`` maps tile pixels to scene coordinates (``rasterio.windows.transform(window,
    scene.transform)``, computed with ``@`` so that affine >= 3 raises no deprecation warning).
    ``image`` is ``(h, w, 3)`` uint8, or None when the tile was skipped as mostly nodata.
    ``core`` is the part of ``window`` this tile owns alone (cores partition the scene).
    """

    id: str
    row: int
    col: int
    window: Window
    transform: Affine
    crs: CRS | None
    image: np.ndarray | None = field(repr=False, compare=False)
    valid_fraction: float
    core: Window

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the image as fed to the model."""
        if self.image is not None:
            return int(self.image.shape[1]), int(self.image.shape[0])
        return int(self.window.width), int(self.window.height)

    @property
    def skipped(self) -> bool:
        """True when the tile was not read (too little valid data)."""
        return self.image is None


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis as ``(offset, size, core_start, core_stop)``.

    Offsets step by ``tile - overlap``; the last tile ends at ``length``. Overlaps are split at
    their middle, so the cores ``[core_start, core_stop)`` partition ``[0, length)``.

    >>> tile_spans(250, 100, 20)
    [(0, 100, 0, 90), (80, 100, 90, 165), (150, 100, 165, 250)]
    >>> tile_spans(60, 100, 20)
    [(0, 60, 0, 60)]
    """
    if length <= tile:
        return [(0, length, 0, length)]
    stride = tile - overlap
    n = -(-(length - tile) // stride) + 1
    offsets = [min(i * stride, length - tile) for i in range(n)]
    cuts = [0] + [(nxt + cur + tile) // 2 for cur, nxt in zip(offsets, offsets[1:])] + [length]
    return [(off, tile, cuts[i], cuts[i + 1]) for i, off in enumerate(offsets)]


class TileGrid:
    """The tiles of a scene, in row-major order; ``len()`` is known before anything is read.

    >>> from affine import Affine
    >>> scene = Scene("s.tif", 2000, 1000, 3, "uint8", None, Affine.identity(), None, (1, 2, 3),
    ...               None, "none", False)
    >>> grid = TileGrid(scene, TilingOptions(tile=800, overlap=160))
    >>> len(grid), grid.shape
    (6, (2, 3))
    >>> row, col, window, core = grid.windows()[-1]
    >>> window
    Window(col_off=1200, row_off=200, width=800, height=800)
    >>> core
    Window(col_off=1320, row_off=500, width=680, height=500)
    """

    def __init__(self, scene: Scene, options: TilingOptions | None = None) -> None:
        options = options or TilingOptions()
        if options.bands is not None and tuple(options.bands) != scene.bands:
            raise ConfigError(
                f"bands {','.join(map(str, options.bands))} differ from the scene's bands "
                f"{','.join(map(str, scene.bands))}; open the scene with "
                "open_scene(path, bands=options.bands)"
            )
        self.scene = scene
        self.options = options
        self._rows = tile_spans(scene.height, options.tile, options.overlap)
        self._cols = tile_spans(scene.width, options.tile, options.overlap)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of tiles."""
        return len(self._rows), len(self._cols)

    def __len__(self) -> int:
        return len(self._rows) * len(self._cols)

    def __repr__(self) -> str:
        rows, cols = self.shape
        return (
            f"TileGrid({self.scene.path!r}, {rows}x{cols} tiles of {self.options.tile} px, "
            f"overlap {self.options.overlap})"
        )

    def windows(self) -> list[tuple[int, int, Window, Window]]:
        """``(row, col, window, core)`` of every tile, row-major, without reading pixels."""
        out = []
        for r, (y, h, cy0, cy1) in enumerate(self._rows):
            for c, (x, w, cx0, cx1) in enumerate(self._cols):
                out.append((r, c, Window(x, y, w, h), Window(cx0, cy0, cx1 - cx0, cy1 - cy0)))
        return out

    def __iter__(self) -> Iterator[Tile]:
        return self.tiles()

    def tiles(self, done: Collection[str] = (), workers: int = 1) -> Iterator[Tile]:
        """Stream the tiles in row-major order.

        Tiles whose id is in ``done`` (finished in an earlier, interrupted run) are yielded without
        reading any pixel: ``image`` is None and ``valid_fraction`` is NaN. ``workers`` threads read
        ahead, each with its own open dataset, at most ``2 * workers`` tiles ahead of the consumer;
        ``workers=1`` (the default) reads in the calling thread, one tile at a time. Either way the tiles, and
        the :class:`~geocot_cli.errors.SceneError` of a block that cannot be read (raised at that
        tile), are the same. Closing the iterator stops the readers and closes their files.
        """
        if workers < 1:
            raise ConfigError(f"workers ({workers}) must be >= 1; try workers=1 (no reader thread)")
        if workers == 1:
            yield from self._tiles_sequential(done)
        else:
            yield from self._tiles_threaded(done, workers)

    def _tile(
        self, row: int, col: int, window: Window, core: Window, image: np.ndarray | None, fraction: float
    ) -> Tile:
        scene = self.scene
        return Tile(
            id=f"r{row}c{col}",
            row=row,
            col=col,
            window=window,
            transform=scene.transform @ Affine.translation(window.col_off, window.row_off),
            crs=scene.crs,
            image=image,
            valid_fraction=fraction,
            core=core,
        )

    def _tiles_sequential(self, done: Collection[str]) -> Iterator[Tile]:
        with self.scene.open() as dataset:
            for row, col, window, core in self.windows():
                image, fraction = None, float("nan")
                if f"r{row}c{col}" not in done:
                    image, fraction = _read_tile(self.scene, window, dataset, self.options.min_valid)
                yield self._tile(row, col, window, core, image, fraction)

    def _tiles_threaded(self, done: Collection[str], workers: int) -> Iterator[Tile]:
        scene, min_valid = self.scene, self.options.min_valid
        # one queue per reader, fed the same columns in every row: each file handle has its own
        # block cache, and a tile shares the blocks of its overlap with the tile below it
        queues: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(workers)]
        stop = threading.Event()

        def reader(opened: Future, tasks: queue.SimpleQueue) -> None:
            # scene.open() in this thread: its GDAL env (the block cache limit) is per thread
            try:
                with scene.open() as dataset:
                    opened.set_result(None)
                    while (task := tasks.get()) is not None and not stop.is_set():
                        window, future = task
                        if future.set_running_or_notify_cancel():
                            try:
                                future.set_result(_read_tile(scene, window, dataset, min_valid))
                            except BaseException as exc:  # raised to the consumer at this tile
                                future.set_exception(exc)
            except BaseException as exc:
                if not opened.done():
                    opened.set_exception(exc)
                else:
                    raise

        opened = [Future() for _ in range(workers)]
        threads = [
            threading.Thread(target=reader, args=(o, q), name=f"geocot-read-{i}", daemon=True)
            for i, (o, q) in enumerate(zip(opened, queues))
        ]
        for t in threads:
            t.start()
        ahead: deque[tuple[int, int, Window, Window, Future | None]] = deque()
        in_flight = 0  # futures in ``ahead``: bounded, so memory stays flat
        try:
            for o in opened:
                o.result()  # a file that can no longer be opened fails here, as without threads
            for row, col, window, core in self.windows():
                future = None
                if f"r{row}c{col}" not in done:
                    future = Future()
                    queues[col % workers].put((window, future))
                    in_flight += 1
                ahead.append((row, col, window, core, future))
                while in_flight >= 2 * workers or (ahead and ahead[0][4] is None):
                    tile, in_flight = self._next_ready(ahead, in_flight)
                    yield tile
            while ahead:
                tile, in_flight = self._next_ready(ahead, in_flight)
                yield tile
        finally:
            stop.set()
            for _, _, _, _, future in ahead:
                if future is not None:
                    future.cancel()
            for q in queues:
                q.put(None)
            for t in threads:
                t.join()

    def _next_ready(self, ahead: deque, in_flight: int) -> tuple[Tile, int]:
        """The first tile of ``ahead``, waiting for its read (which raises its error here)."""
        row, col, window, core, future = ahead.popleft()
        image, fraction = None, float("nan")
        if future is not None:
            in_flight -= 1
            image, fraction = future.result()
        return self._tile(row, col, window, core, image, fraction), in_flight


def _read_tile(scene: Scene, window: Window, dataset, min_valid: float) -> tuple[np.ndarray | None, float]:
    """``(image, valid fraction)`` of one tile; the image is None when the tile is skipped."""
    # the decimated mask read can only skip a tile when there is a threshold
    fraction = scene.valid_fraction(window, dataset=dataset) if min_valid > 0 else 1.0
    if fraction < min_valid:
        return None, fraction
    image, valid = scene.read(window, dataset=dataset)
    return image, np.count_nonzero(valid) / valid.size  # == valid.mean(), faster
