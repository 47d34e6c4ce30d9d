"""The tile loop: tiles in, model traces out, evidence georeferenced. Never prints.

``run_scene`` streams :class:`TileResult` values in grid order: one per tile, skipped tiles
included (so a progress bar and a journal see every tile). Tiles are read and encoded in a
background thread while the model works on the previous batch (a bounded queue keeps memory flat);
a tile whose valid fraction is below ``TilingOptions.min_valid`` never reaches the model. Tiles
finished in an earlier run (``done``, from a journal) are rebuilt from their saved text without
reading pixels or calling the model.
"""

from __future__ import annotations

import dataclasses
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .audit import Audit, audit_trace
from .config import TilingOptions
from .errors import GeocotError
from .georef import Feature, georeference_all
from .prompts import build_prompt
from .scene import Scene
from .tiling import READ_WORKERS, Tile, TileGrid
from .trace import Evidence, Trace, parse_trace

__all__ = ["NOT_RUN", "TileResult", "has_area", "prefetch", "result_from_text", "run_scene", "tile_features"]


#: ``TileResult.skipped`` of a tile that a stopped run never reached (see ``geocot export``).
NOT_RUN = "not run"


@dataclass(frozen=True)
class TileResult:
    """What happened on one tile: the raw text, the parsed trace, its audit and its evidence."""

    tile: Tile
    prompt: str
    text: str | None = None
    trace: Trace | None = None
    audit: Audit | None = None
    features: tuple[Feature, ...] = field(default_factory=tuple)
    skipped: str | None = None
    error: str | None = None
    image_size: tuple[int, int] | None = None

    @property
    def answer(self) -> str | None:
        """The tile's own ``<answer>`` text, if the model gave one."""
        return None if self.trace is None else self.trace.answer


def has_area(box) -> bool:
    """True when a box has a width and a height: a box without one cannot be drawn as a valid polygon.

    >>> has_area((0, 0, 5, 5)), has_area((3, 0, 3, 9)), has_area((0, 4, 9, 4))
    (True, False, False)
    """
    return box[2] > box[0] and box[3] > box[1]


def _cited(trace: Trace) -> list[Evidence]:
    evidence = list(trace.grounded)
    if not evidence and trace.answer_boxes:
        evidence = [Evidence(label="", claim="", box=b, raw=tuple(b), section="answer") for b in trace.answer_boxes]
    return evidence


def tile_features(scene: Scene, tile: Tile, trace: Trace, task: str) -> tuple[Feature, ...]:
    """Georeference the boxes a trace cites on a tile.

    The evidence is the boxes grounded in ``<think>``; a model that answers with boxes but cites
    none (a no-CoT model) contributes its answer boxes, with an empty claim. A box with zero width
    or height (no area: the model wrote ``[x,y,x,y2]``, or a box outside the image was clipped to
    an edge) is dropped, and :func:`result_from_text` says so in the tile's problems.
    """
    evidence = _cited(trace)
    evidence = [e for e in evidence if has_area(e.box)]
    return tuple(
        georeference_all(
            evidence,
            tile,
            scene_transform=scene.transform,
            scene_size=(scene.width, scene.height),
            task=task,
            answer=trace.answer,
            trace_text=trace.text,
        )
    )


def result_from_text(
    scene: Scene, tile: Tile, text: str, *, prompt: str, task: str, convention: str, image_size: tuple[int, int],
    classes: Sequence[str] | None = None,
) -> TileResult:
    """Parse, audit and georeference one tile's model text (also how a journal is replayed).

    ``classes``: what the question asks about; the audit checks a count or detect answer against
    the boxes of those classes.
    """
    trace = parse_trace(text, convention, image_size)
    audit = audit_trace(trace, task, image_size, classes)
    flat = sum(1 for e in _cited(trace) if not has_area(e.box))
    if flat:
        audit = dataclasses.replace(audit, problems=audit.problems + (
            f"{flat} box{'es' if flat > 1 else ''} with zero width or height dropped from the evidence (no area to map)",))
    return TileResult(
        tile=tile,
        prompt=prompt,
        text=text,
        trace=trace,
        audit=audit,
        features=tile_features(scene, tile, trace, task),
        image_size=tuple(image_size),
    )


def _generate(backend, images: list, prompts: list[str]) -> list[str | BaseException]:
    """One batch; if it fails for a reason that is not the user's, retry tile by tile so one bad
    tile costs only itself (its error is returned in its place)."""
    try:
        return list(backend.generate(images, prompts))
    except GeocotError:
        raise
    except Exception as exc:
        if len(images) == 1:
            return [exc]  # recorded on the tile, as in a bigger batch; the run goes on
    out: list[str | BaseException] = []
    for image, prompt in zip(images, prompts):
        try:
            out.extend(backend.generate([image], [prompt]))
        except GeocotError:
            raise
        except Exception as exc:  # recorded on the tile; the run goes on
            out.append(exc)
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(text: str) -> str:
    """Model text that UTF-8 files can hold: lone UTF-16 surrogates (a server's escaped ``ud800``)
    become U+FFFD, as the vector writers do, so journal, JSON and GIS outputs agree.

    >>> _valid_text("ship " + chr(0xD800)) == "ship " + chr(0xFFFD)
    True
    """
    if not isinstance(text, str) or not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _encode(tile: Tile):
    """The PIL image a backend is given for ``tile`` (None when the tile is not run).

    Called in the prefetch thread, so the conversion overlaps the model's work on the previous batch.
    """
    if tile.image is None:
        return None
    from PIL import Image

    return Image.fromarray(tile.image)


def _encoded(tiles: Iterable[Tile], runs: Callable[[Tile], bool]) -> Iterator[tuple[Tile, Any]]:
    """``(tile, image)`` for each tile, the image from :func:`_encode` for the tiles that ``runs``.

    Closing this closes ``tiles`` too, in the thread that closes it (the prefetch thread).
    """
    it = iter(tiles)
    try:
        for tile in it:
            yield tile, _encode(tile) if runs(tile) else None
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def _infer(
    scene: Scene, backend, tiles: Sequence[tuple[Tile, Any]], prompt: str, task: str, classes: Sequence[str] | None = None
) -> list[TileResult]:
    """Run the model on ``(tile, image)`` pairs (images from :func:`_encode`); one result per tile."""
    images = [image for _, image in tiles]
    texts = [_valid_text(t) for t in _generate(backend, images, [prompt] * len(images))]
    results = []
    for (tile, image), text in zip(tiles, texts):
        if isinstance(text, BaseException):
            err = f"{type(text).__name__}: {' '.join(str(text).split())}"[:500]
            results.append(TileResult(tile=tile, prompt=prompt, error=err, image_size=image.size))
            continue
        results.append(
            result_from_text(scene, tile, text, prompt=prompt, task=task, convention=backend.box_convention,
                             image_size=image.size, classes=classes)
        )
    return results


def prefetch(items: Iterable[Any], depth: int) -> Iterator[Any]:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead (0: no thread).

    Exceptions raised by the producer surface in the consumer; stopping early stops the producer.
    """
    if depth <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((end, None))
        except BaseException as exc:  # handed to the consumer
            q.put((end, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:  # a generator's cleanup (open files, GDAL env) runs in its own thread
                close()

    thread = threading.Thread(target=produce, name="geocot-tiles", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is end:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def run_scene(
    scene: Scene,
    backend,
    *,
    task: str,
    question: str | None = None,
    classes: Sequence[str] | None = None,
    tiling: TilingOptions = TilingOptions(),
    batch_size: int = 4,
    tiles: Iterable[Tile] | None = None,
    done: Mapping[str, Mapping[str, Any]] | None = None,
    convention: str | None = None,
    prefetch_depth: int | None = None,
) -> Iterator[TileResult]:
    """Run ``backend`` on every tile of ``scene``; yield one :class:`TileResult` per tile, in order.

    ``tiles`` replaces the regular grid (the overview strategy passes only the tiles it chose).
    ``done`` maps tile ids to journal records of an earlier run: those tiles are rebuilt from their
    text (parsed with ``convention``, default the backend's) instead of being run again.
    """
    prompt = build_prompt(task, question, classes)
    done = done or {}
    convention = convention or backend.box_convention
    source = tiles
    if source is None:
        source = TileGrid(scene, tiling).tiles(done=frozenset(done), workers=READ_WORKERS)
    depth = 2 * batch_size if prefetch_depth is None else prefetch_depth
    pending: list[tuple[Tile, Any]] = []  # (tile, PIL image or None), in grid order
    to_run = 0  # tiles in pending that the model has to see

    def replay(tile: Tile) -> TileResult:
        rec = done[tile.id]
        if rec.get("text") is None:
            return TileResult(tile=tile, prompt=prompt, skipped=rec.get("skipped"), error=rec.get("error"))
        return result_from_text(
            scene, tile, rec["text"], prompt=prompt, task=task, convention=convention,
            image_size=tuple(rec["image_size"]), classes=classes,
        )

    def runs(tile: Tile) -> bool:
        return tile.id not in done and not tile.skipped

    def flush() -> list[TileResult]:
        runnable = [(t, image) for t, image in pending if runs(t)]
        ran = iter(_infer(scene, backend, runnable, prompt, task, classes) if runnable else ())
        out = []
        for t, _ in pending:
            if t.id in done:
                out.append(replay(t))
            elif runs(t):
                out.append(next(ran))  # _infer keeps the order of the runnable tiles
            else:
                out.append(TileResult(tile=t, prompt=prompt, skipped="nodata"))
        pending.clear()
        return out

    for tile, image in prefetch(_encoded(source, runs), depth):
        pending.append((tile, image))
        to_run += runs(tile)
        if to_run >= batch_size:
            yield from flush()
            to_run = 0
    if pending:
        yield from flush()
