"""The Python entry points behind the commands: one function per task, each returning a SceneAnswer.

=================  ===============================================================================
function           answer
=================  ===============================================================================
count_scene        distinct objects of one class across the scene (seam copies merged)
detect_scene       every distinct object, per class; ``min_score`` for backends that score boxes
ground_scene       exactly one feature for a referring expression, or none
classify_scene     a grid of cells (tile cores) with class and trace; area per class
caption_scene      a scene description from evidence and tile captions
ask_scene          a question routed to one of the above, or answered as open VQA
answer_scene       the engine under all of them (a task name and its inputs)
=================  ===============================================================================

Each takes a scene (path or :class:`~geocot_cli.scene.Scene`) and a ``backend`` (see
:func:`open_backend`), and the keyword options of :func:`answer_scene` (``tiling``,
``strategy``, ``out``, ``journal``, ``resume``, ...); each returns ``(SceneAnswer, Scene)``.

>>> from geocot_cli.api import count_scene  # doctest: +SKIP
>>> ans, scene = count_scene("scene.tif", "ship", backend=backend, out="ships.gpkg")  # doctest: +SKIP
>>> ans.answer, len(ans.evidence)  # doctest: +SKIP
('12', 12)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .config import BackendOptions, TilingOptions
from .errors import GeocotError
from .io.report import check_output, check_output_crs, write_answer
from .models.demo import resolve_model
from .overview import MAX_DECIMATION
from .pipeline import NOT_RUN, TileResult, run_scene
from .prompts import build_prompt
from .scene import Scene, check_blocks, open_scene
from .questions import plan_question
from .tasks import SceneAnswer, assemble
from .tiling import TileGrid

__all__ = [
    "answer_scene",
    "ask_scene",
    "caption_scene",
    "classify_scene",
    "count_scene",
    "detect_scene",
    "detect_scenes",
    "expand_scenes",
    "export_journal",
    "ground_scene",
    "model_tiling",
    "open_backend",
]

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


def model_tiling(backend, **given: Any) -> TilingOptions:
    """The tiling ``backend``'s model asks for in its ``geocot.json`` (800 / 160 when it says nothing).

    ``given`` (tile, overlap, bands, min_valid) takes precedence; see
    :meth:`~geocot_cli.config.TilingOptions.for_model`.
    """
    from .backends.base import read_geocot_json

    name = getattr(backend, "local_path", None) or getattr(backend, "model_id", None)
    return TilingOptions.for_model(read_geocot_json(name) if name else {}, **given)


def answer_scene(
    scene: str | Path | Scene,
    task: str,
    *,
    backend,
    question: str | None = None,
    classes: Sequence[str] | None = None,
    tiling: TilingOptions | None = None,
    batch_size: int = 4,
    nms_iou: float = 0.5,
    min_score: float | None = None,
    strategy: str = "grid",
    overview_margin: float | None = None,
    overview_max_decimation: float | None = MAX_DECIMATION,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    journal: str | Path | None = None,
    resume: bool = False,
) -> tuple[SceneAnswer, Scene]:
    """Tile ``scene``, ask ``backend`` on every tile, assemble one answer, optionally write ``out``.

    ``strategy="overview"`` first asks the model about a decimated view of the whole scene and runs
    only the tiles where it saw something (:mod:`geocot_cli.overview`; count, detect, ground, vqa);
    ``overview_margin`` (scene pixels) widens the regions it names, ``overview_max_decimation``
    bounds how far a glance is decimated (None: one glance at the whole scene). The output path and the
    strategy are checked before any tile is read, so a bad ``--out`` costs no model time.
    ``tiling`` None means the model's own (:func:`model_tiling`). With ``journal`` every finished
    tile (and the overview) is appended to that file as it lands; ``resume`` then skips what it
    holds (after a crash or Ctrl-C) and gives the same output as one clean run.
    """
    from .io.provenance import run_provenance
    from .overview import check_strategy

    check_strategy(strategy, task)
    check_output(out, overwrite=overwrite or resume)
    tiling = tiling or model_tiling(backend)
    if not isinstance(scene, Scene):
        scene = open_scene(scene, bands=tiling.bands)
    check_output_crs(out, scene)
    check_blocks(scene)
    grid = TileGrid(scene, tiling)
    provenance = run_provenance(
        backend, task=task, question=question, classes=classes, tiling=tiling, scene=scene.path,
        prompt=build_prompt(task, question, classes), strategy=strategy, nms_iou=nms_iou, min_score=min_score,
    )
    run = _Run(scene, task, question, classes, tiling, backend, journal, resume, overwrite,
               strategy=(strategy, overview_max_decimation, overview_margin), provenance=provenance)
    try:
        with run:
            answer, overview = _answer(run, scene, grid, task, backend, question, classes, tiling, batch_size,
                                       nms_iou, min_score, strategy, overview_margin, overview_max_decimation,
                                       progress)
            if overview is not None:
                provenance["prompts"]["overview"] = overview.prompt
                answer = _with_overview(answer, overview)
            answer = dataclasses.replace(answer, provenance=provenance)
            if out is not None:
                write_answer(out, answer, scene, overwrite=True if resume else overwrite)
    except GeocotError as exc:
        raise run.stopped(exc) from exc
    return answer, scene


def _answer(run, scene, grid, task, backend, question, classes, tiling, batch_size, nms_iou, min_score, strategy,
            overview_margin, overview_max_decimation, progress):
    """The run itself: the overview (if asked), every tile, the assembled answer; ``(answer, overview)``."""
    from .overview import glance_result, look, selected_tiles, unselected_results

    overview, tiles, total = None, None, len(grid)
    if strategy == "overview":
        overview = look(scene, backend, task=task, question=question, classes=classes, tiling=tiling,
                        margin=overview_margin, max_decimation=overview_max_decimation, replay=run.done,
                        convention=run.convention)
        for glance in overview.glances:  # journaled, so a resumed run chooses the same tiles
            if run.journal is not None and glance.id not in run.done and glance.text is not None:
                run.journal.record(glance_result(scene, glance, overview.prompt))
        tiles, total = selected_tiles(grid, overview.tiles, done=run.done), len(overview.tiles)
    results: Iterable[TileResult] = run.record(
        run_scene(
            scene, backend, task=task, question=question, classes=classes, tiling=tiling,
            batch_size=batch_size, tiles=tiles, done=run.done, convention=run.convention,
        )
    )
    if progress is not None:
        results = progress(results, total)
    results = list(results)
    if tiles is not None:
        results += unselected_results(grid, overview.tiles, build_prompt(task, question, classes))
        results.sort(key=lambda r: (r.tile.row, r.tile.col))
    answer = assemble(task, results, question=question, classes=classes, nms_iou=nms_iou, scene=scene,
                      min_score=min_score)
    return answer, overview


def _with_overview(answer: SceneAnswer, overview) -> SceneAnswer:
    glances = overview.glances
    notes = [
        f"overview strategy: {len(overview.tiles)} of {overview.tiles_total} tiles looked at closely "
        f"({len(overview.regions)} regions seen on {len(glances)} glance{'s' if len(glances) > 1 else ''} "
        f"decimated up to {max(g.decimation for g in glances):.1f}x)"
    ]
    notes += [f"overview glance {g.id} failed ({g.failed}); every tile under it was run" for g in overview.failed]
    return dataclasses.replace(answer, overview=overview, notes=answer.notes + tuple(notes))


def count_scene(scene: str | Path | Scene, cls: str, *, backend, **options: Any) -> tuple[SceneAnswer, Scene]:
    """How many objects of class ``cls`` the scene holds: distinct evidence after seam de-duplication.

    Tiles whose own answer disagrees with their own evidence are in ``answer.flagged``.
    ``options``: as :func:`answer_scene`.
    """
    return answer_scene(scene, "count", backend=backend, classes=[cls], **options)


def detect_scene(
    scene: str | Path | Scene, classes: Sequence[str] | None = None, *, backend, min_score: float | None = None,
    **options: Any,
) -> tuple[SceneAnswer, Scene]:
    """Every distinct object (of ``classes``, or of any class), with ``answer.per_class``.

    ``min_score`` drops boxes scored below it; boxes without a score (a VLM gives none) are kept
    and counted in ``answer.notes``. ``options``: as :func:`answer_scene`.
    """
    return answer_scene(scene, "detect", backend=backend, classes=classes, min_score=min_score, **options)


def ground_scene(scene: str | Path | Scene, expression: str, *, backend, **options: Any) -> tuple[SceneAnswer, Scene]:
    """The one object a referring expression names (``answer.evidence`` holds one feature, or none).

    The ranking of candidates across tiles is :func:`geocot_cli.tasks.assemble_ground`'s.
    ``options``: as :func:`answer_scene`.
    """
    from .errors import ConfigError

    if not expression or not expression.strip():
        raise ConfigError('the referring expression is empty; say what to find, e.g. "the largest ship"')
    return answer_scene(scene, "ground", backend=backend, question=expression.strip(), **options)


def classify_scene(
    scene: str | Path | Scene, classes: Sequence[str] | None = None, *, backend, **options: Any
) -> tuple[SceneAnswer, Scene]:
    """A class for every cell (tile core) of the scene, and the area of each class.

    ``classes`` closes the label set (answers outside it are mapped by
    :func:`geocot_cli.questions.map_label`). ``options``: as :func:`answer_scene`.
    """
    return answer_scene(scene, "classify", backend=backend, classes=classes, **options)


def caption_scene(scene: str | Path | Scene, *, backend, **options: Any) -> tuple[SceneAnswer, Scene]:
    """A description of the whole scene: objects per class and where they are, and the tiles' captions."""
    return answer_scene(scene, "caption", backend=backend, **options)


def ask_scene(
    scene: str | Path | Scene, question: str, *, backend, task: str | None = None,
    classes: Sequence[str] | None = None, **options: Any,
) -> tuple[SceneAnswer, Scene]:
    """Answer ``question``: routed to a task by :func:`geocot_cli.questions.route_question` (``task``
    forces one), the classes it names found by :func:`geocot_cli.questions.plan_question`."""
    plan = plan_question(question, task, classes)
    return answer_scene(scene, plan.task, backend=backend, question=plan.question,
                        classes=list(plan.classes) if plan.classes else None, **options)


class _Run:
    """The journal side of a run: what is done already, and appending what finishes.

    A run that stops on a :class:`GeocotError` after some tiles were answered leaves its journal,
    marked with why (:meth:`~geocot_cli.io.journal.Journal.stop`), and :meth:`stopped` adds to the
    error what to do with it.
    """

    def __init__(self, scene, task, question, classes, tiling, backend, journal, resume, overwrite, strategy,
                 provenance=None):
        from .io.journal import Journal, JournalHeader

        self.done: dict = {}
        self.convention = backend.box_convention
        self.journal = None
        self._kept = 0
        if journal is None:
            return
        header = JournalHeader(
            scene=str(Path(scene.path).resolve()), task=task, question=question,
            classes=tuple(classes) if classes else None, tile=tiling.tile, overlap=tiling.overlap,
            bands=tuple(scene.bands), min_valid=tiling.min_valid, model=getattr(backend, "name", "?"),
            box_convention=backend.box_convention, strategy=strategy[0],
            overview_max_decimation=strategy[1] if strategy[0] == "overview" else None,
            overview_margin=strategy[2] if strategy[0] == "overview" else None, provenance=provenance,
        )
        self.journal = Journal(journal, header, resume=resume, overwrite=overwrite)
        # a tile the model failed on is run again on resume; everything else is replayed
        self.done = {k: v for k, v in self.journal.done.items() if v.get("error") is None}

    def record(self, results: Iterable[TileResult]) -> Iterable[TileResult]:
        for r in results:
            if self.journal is not None and r.tile.id not in self.done:
                self.journal.record(r)
            yield r

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.journal is not None:
            if isinstance(exc, GeocotError) and self.journal.answered:
                self.journal.stop(str(exc))
                self._kept = self.journal.answered
            self.journal.close()

    def stopped(self, exc: GeocotError) -> GeocotError:
        """``exc``, saying what happens to the tiles answered before it (when a journal kept them)."""
        if not self._kept or self.journal is None:
            return exc
        j = self.journal.path
        try:
            return type(exc)(
                f"{exc}; the {self._kept} tiles answered before it are kept in {j}: once this is fixed, the same "
                f"command continues from them (as with --resume), and `geocot export {j} --out partial.gpkg` "
                "writes what they found now"
            )
        except TypeError:  # an error class with its own arguments: keep it as it is
            return exc


def export_journal(
    journal: str | Path, *, out: str | Path | None = None, overwrite: bool = False, nms_iou: float = 0.5
) -> tuple[SceneAnswer, Scene]:
    """Rebuild a run's answer (and ``out``) from its journal alone: no model, no pixel read.

    Tiles the journal does not hold (a run stopped early) are *not run* (``skipped="not run"``,
    counted in ``answer.tiles_not_run`` and said in a note), not skipped; in an overview-strategy run,
    tiles the overview did not choose are ``"not selected by the overview"``. The provenance is the
    run's own (from the journal's header), with ``exported`` saying when and from where.
    """
    import datetime

    from .io.journal import read_journal
    from .overview import NOT_SELECTED, journal_glances, look

    check_output(out, overwrite=overwrite)
    header, done = read_journal(journal)
    tiling = TilingOptions(tile=header.tile, overlap=header.overlap, bands=header.bands, min_valid=header.min_valid)
    scene = open_scene(header.scene, bands=header.bands)
    check_output_crs(out, scene)
    grid = TileGrid(scene, tiling)
    overview = None
    glances = journal_glances(done)
    if glances:  # an overview-strategy run: tiles it did not choose were never meant to run
        overview = look(scene, None, task=header.task, question=header.question, classes=header.classes,
                        tiling=tiling, replay=done, convention=header.box_convention, windows=glances)
    chosen = set(overview.tiles) | set(done) if overview is not None else None

    def record(tile_id: str) -> dict:
        if chosen is not None and tile_id not in chosen:
            return {"skipped": NOT_SELECTED}
        return done.get(tile_id, {"skipped": NOT_RUN})

    records = {f"r{r}c{c}": record(f"r{r}c{c}") for r, c, _, _ in grid.windows()}
    results = run_scene(
        scene, None, task=header.task, question=header.question, classes=header.classes, tiling=tiling,
        done=records, convention=header.box_convention, prefetch_depth=0,
    )
    answer = assemble(header.task, results, question=header.question, classes=header.classes, nms_iou=nms_iou,
                      scene=scene)
    if overview is not None:
        answer = _with_overview(answer, overview)
    provenance = dict(header.provenance or {
        "task": header.task, "question": header.question, "classes": list(header.classes or []) or None,
        "model": {"name": header.model}, "box_convention": header.box_convention,
        "tiling": {"tile": header.tile, "overlap": header.overlap,
                   "bands": list(header.bands) if header.bands else None, "min_valid": header.min_valid},
    })
    provenance["nms_iou"] = nms_iou
    provenance["exported"] = {"from_journal": str(Path(journal).resolve()),
                              "at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                              "tiles_not_run": answer.tiles_not_run}
    notes = answer.notes
    if answer.tiles_not_run:
        notes += (f"{answer.tiles_not_run} of {answer.tiles_total} tiles were not run (the run stopped before them): "
                  "this answer covers only the tiles that ran; run the same command again to continue",)
    answer = dataclasses.replace(answer, provenance=provenance, notes=notes)
    if out is not None:
        write_answer(out, answer, scene, overwrite=overwrite)
    return answer, scene


#: File name endings taken as rasters when a folder is given as a scene.
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img", ".png", ".jpg", ".jpeg")


def expand_scenes(items: Sequence[str | Path]) -> list[Path]:
    """Scene paths from files, folders (their rasters, sorted) and glob patterns (``"tiles/*.tif"``).

    Errors name the item: a pattern or a folder that holds no raster is a SceneError.
    """
    import glob

    from .errors import SceneError

    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in RASTER_SUFFIXES)
            if not found:
                raise SceneError(f"folder {p} holds no raster ({', '.join(RASTER_SUFFIXES)}); pass the files or another folder")
            out.extend(found)
        elif not p.exists() and any(c in str(item) for c in "*?["):
            found = sorted(Path(f) for f in glob.glob(str(item)) if Path(f).is_file())
            if not found:
                raise SceneError(f"no file matches {item!r}; check the pattern")
            out.extend(found)
        else:
            out.append(p)
    seen: set[Path] = set()
    return [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]


def scene_journal(out: str | Path, index: int, scene_path: str | Path) -> Path:
    """The journal of the ``index``-th scene of a many-scene run writing ``out``.

    >>> scene_journal("ships.gpkg", 2, "/data/a.tif").name
    'ships.gpkg.002-a.journal.jsonl'
    """
    from .io.journal import journal_path

    p = journal_path(out)
    return p.with_name(p.name.replace(".journal.jsonl", f".{index:03d}-{Path(scene_path).stem}.journal.jsonl"))


def detect_scenes(
    scenes: Sequence[str | Path],
    *,
    backend,
    classes: Sequence[str] | None = None,
    min_score: float | None = None,
    tiling: TilingOptions | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    **options: Any,
) -> list[tuple[SceneAnswer, Scene]]:
    """Detect over many scenes with one model; one output file with a ``scene`` column.

    ``scenes`` are files, folders or glob patterns (:func:`expand_scenes`). Every scene is opened
    (and so checked) before any model time is spent. With ``out``, each scene keeps its own journal
    beside it (:func:`scene_journal`), so ``resume`` continues a stopped run scene by scene.
    """
    from .io.report import write_answers

    check_output(out, overwrite=overwrite or resume)
    tiling = tiling or model_tiling(backend)
    opened = [open_scene(p, bands=tiling.bands) for p in expand_scenes(scenes)]
    for scene in opened:  # every scene checked before any model time
        check_output_crs(out, scene)
        check_blocks(scene)
    answers = []
    for i, scene in enumerate(opened):
        journal = None if out is None else scene_journal(out, i, scene.path)
        answers.append(
            answer_scene(scene, "detect", backend=backend, classes=classes, min_score=min_score, tiling=tiling,
                         journal=journal, resume=resume, overwrite=overwrite, **options)
        )
    if out is not None:
        write_answers(out, answers, overwrite=True if resume else overwrite)
    return answers
