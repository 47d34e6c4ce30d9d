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

__all__ = ["answer_scene", "open_backend"]

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
) -> tuple[SceneAnswer, Scene]:
    """Tile ``scene``, ask ``backend`` on every tile, assemble one answer, optionally write ``out``.

    The output path is checked before any tile is read, so a bad ``--out`` costs no model time.
    """
    check_output(out, overwrite=overwrite)
    if not isinstance(scene, Scene):
        scene = open_scene(scene, bands=tiling.bands)
    results: Iterable[TileResult] = run_scene(
        scene, backend, task=task, question=question, classes=classes, tiling=tiling, batch_size=batch_size
    )
    if progress is not None:
        results = progress(results, len(TileGrid(scene, tiling)))
    answer = assemble(task, results, question=question, classes=classes, nms_iou=nms_iou)
    if out is not None:
        write_answer(out, answer, scene, overwrite=overwrite)
    return answer, scene
