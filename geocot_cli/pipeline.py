"""The tile loop: tiles in, model traces out, evidence georeferenced. Never prints.

``run_scene`` streams :class:`TileResult` values in grid order: one per tile, skipped tiles
included (so a progress bar and a journal see every tile). Tiles are sent to the backend in
batches; a tile whose valid fraction is below ``TilingOptions.min_valid`` never reaches the model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .audit import Audit, audit_trace
from .config import TilingOptions
from .georef import Feature, georeference
from .prompts import build_prompt
from .scene import Scene
from .tiling import Tile, TileGrid
from .trace import Trace, parse_trace

__all__ = ["TileResult", "run_scene", "tile_features"]


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

    @property
    def answer(self) -> str | None:
        """The tile's own ``<answer>`` text, if the model gave one."""
        return None if self.trace is None else self.trace.answer


def tile_features(scene: Scene, tile: Tile, trace: Trace, task: str) -> tuple[Feature, ...]:
    """Georeference the boxes a trace cites on a tile.

    The evidence is the boxes grounded in ``<think>``; a model that answers with boxes but cites
    none (a no-CoT model) contributes its answer boxes, with an empty claim.
    """
    evidence = list(trace.evidence)
    if not evidence and trace.answer_boxes:
        from .trace import Evidence

        evidence = [
            Evidence(label="", claim="", box=b, raw=tuple(b), section="answer") for b in trace.answer_boxes
        ]
    return tuple(
        georeference(
            ev,
            tile,
            scene_transform=scene.transform,
            scene_size=(scene.width, scene.height),
            task=task,
            answer=trace.answer,
            trace_text=trace.text,
        )
        for ev in evidence
    )


def _infer(scene: Scene, backend, tiles: Sequence[Tile], prompt: str, task: str) -> list[TileResult]:
    from PIL import Image

    images = [Image.fromarray(t.image) for t in tiles]
    texts = backend.generate(images, [prompt] * len(images))
    results = []
    for tile, image, text in zip(tiles, images, texts):
        trace = parse_trace(text, backend.box_convention, image.size)
        results.append(
            TileResult(
                tile=tile,
                prompt=prompt,
                text=text,
                trace=trace,
                audit=audit_trace(trace, task, image.size),
                features=tile_features(scene, tile, trace, task),
            )
        )
    return results


def run_scene(
    scene: Scene,
    backend,
    *,
    task: str,
    question: str | None = None,
    classes: Sequence[str] | None = None,
    tiling: TilingOptions = TilingOptions(),
    batch_size: int = 4,
    tiles: Sequence[Tile] | None = None,
) -> Iterator[TileResult]:
    """Run ``backend`` on every tile of ``scene``; yield one :class:`TileResult` per tile, in order.

    ``tiles`` replaces the regular grid (the overview strategy passes only the tiles it chose).
    """
    prompt = build_prompt(task, question, classes)
    source = tiles if tiles is not None else TileGrid(scene, tiling)
    pending: list[Tile] = []

    def flush() -> list[TileResult]:
        runnable = [t for t in pending if not t.skipped]
        done = {t.id: r for t, r in zip(runnable, _infer(scene, backend, runnable, prompt, task))} if runnable else {}
        out = [done.get(t.id) or TileResult(tile=t, prompt=prompt, skipped="nodata") for t in pending]
        pending.clear()
        return out

    for tile in source:
        pending.append(tile)
        if sum(not t.skipped for t in pending) >= batch_size:
            yield from flush()
    if pending:
        yield from flush()
