"""The Python entry points behind the commands: open a backend, answer a question about a scene.

>>> from geocot_cli.api import answer_scene  # doctest: +SKIP
>>> ans = answer_scene("scene.tif", "count", classes=["ship"], backend=backend)  # doctest: +SKIP
>>> ans.answer, len(ans.evidence)  # doctest: +SKIP
('12', 12)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .config import BackendOptions, TilingOptions
from .io.report import check_output, write_answer
from .models.demo import resolve_model
from .pipeline import TileResult, run_scene
from .scene import Scene, open_scene
from .tasks import SceneAnswer, assemble
from .tiling import TileGrid

__all__ = ["answer_scene", "export_journal", "open_backend"]

Progress = Callable[[Iterable[TileResult], int], Iterable[TileResult]]


def open_backend(options: BackendOptions = BackendOptions()):
    """Load the model that ``options`` names (the bundled demo model when none is named)."""
    from .backends import load_backend

    model = resolve_model(options.model, options.backend)
    if options.backend == "openai":
        return load_backend(
            model, backend="openai", base_url=options.base_url, api_key_env=options.api_key_env,
            concurrency=options.concurrency, generation=options.generation,
            box_convention=options.box_convention,
        )
    return load_backend(
        model, backend="hf", device=options.device, dtype=options.dtype, generation=options.generation,
        box_convention=options.box_convention, trust_remote_code=options.trust_remote_code,
    )


def answer_scene(
    scene: str | Path | Scene,
    task: str,
    *,
    backend,
    question: str | None = None,
    classes: Sequence[str] | None = None,
    tiling: TilingOptions = TilingOptions(),
    batch_size: int = 4,
    nms_iou: float = 0.5,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    journal: str | Path | None = None,
    resume: bool = False,
) -> tuple[SceneAnswer, Scene]:
    """Tile ``scene``, ask ``backend`` on every tile, assemble one answer, optionally write ``out``.

    The output path is checked before any tile is read, so a bad ``--out`` costs no model time.
    With ``journal`` every finished tile is appended to that file as it lands; ``resume`` then
    skips the tiles it holds (after a crash or Ctrl-C) and gives the same output as one clean run.
    """
    check_output(out, overwrite=overwrite or resume)
    if not isinstance(scene, Scene):
        scene = open_scene(scene, bands=tiling.bands)
    grid = TileGrid(scene, tiling)
    run = _Run(scene, task, question, classes, tiling, backend, journal, resume, overwrite)
    with run:
        results: Iterable[TileResult] = run.record(
            run_scene(
                scene, backend, task=task, question=question, classes=classes, tiling=tiling,
                batch_size=batch_size, done=run.done, convention=run.convention,
            )
        )
        if progress is not None:
            results = progress(results, len(grid))
        answer = assemble(task, results, question=question, classes=classes, nms_iou=nms_iou)
    if out is not None:
        write_answer(out, answer, scene, overwrite=True if resume else overwrite)
    return answer, scene


class _Run:
    """The journal side of a run: what is done already, and appending what finishes."""

    def __init__(self, scene, task, question, classes, tiling, backend, journal, resume, overwrite):
        from .io.journal import Journal, JournalHeader

        self.done: dict = {}
        self.convention = backend.box_convention
        self.journal = None
        if journal is None:
            return
        header = JournalHeader(
            scene=str(Path(scene.path).resolve()), task=task, question=question,
            classes=tuple(classes) if classes else None, tile=tiling.tile, overlap=tiling.overlap,
            bands=tuple(scene.bands), min_valid=tiling.min_valid, model=getattr(backend, "name", "?"),
            box_convention=backend.box_convention,
        )
        self.journal = Journal(journal, header, resume=resume, overwrite=overwrite)
        self.done = dict(self.journal.done)

    def record(self, results: Iterable[TileResult]) -> Iterable[TileResult]:
        for r in results:
            if self.journal is not None and r.tile.id not in self.done:
                self.journal.record(r)
            yield r

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, *exc) -> None:
        if self.journal is not None:
            self.journal.close()


def export_journal(
    journal: str | Path, *, out: str | Path | None = None, overwrite: bool = False, nms_iou: float = 0.5
) -> tuple[SceneAnswer, Scene]:
    """Rebuild a run's answer (and ``out``) from its journal alone: no model, no pixel read.

    Tiles the journal does not hold (a run stopped early) are reported as ``skipped="not run"``.
    """
    from .io.journal import read_journal

    check_output(out, overwrite=overwrite)
    header, done = read_journal(journal)
    tiling = TilingOptions(tile=header.tile, overlap=header.overlap, bands=header.bands, min_valid=header.min_valid)
    scene = open_scene(header.scene, bands=header.bands)
    grid = TileGrid(scene, tiling)
    records = {f"r{r}c{c}": done.get(f"r{r}c{c}", {"skipped": "not run"}) for r, c, _, _ in grid.windows()}
    results = run_scene(
        scene, None, task=header.task, question=header.question, classes=header.classes, tiling=tiling,
        done=records, convention=header.box_convention, prefetch_depth=0,
    )
    answer = assemble(header.task, results, question=header.question, classes=header.classes, nms_iou=nms_iou)
    if out is not None:
        write_answer(out, answer, scene, overwrite=overwrite)
    return answer, scene
