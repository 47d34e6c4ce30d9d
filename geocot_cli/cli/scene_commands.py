"""The scene commands: ``count``, ``detect``, ``ground``, ``classify``, ``caption`` and ``ask``.

Each parses its own arguments and calls one library function of :mod:`geocot_cli.api`. The ~20
options they share (output, tiling, model, journal) are declared once, in :data:`SHARED`, and
added to every command by :func:`scene_command`, which hands them to the command as one
:class:`SceneArgs` value: the command's own signature lists only what is its own.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import run_many_scenes, run_scene_task
from ._options import (
    ApiKeyEnv, BackendOpt, BandsOpt, BaseUrl, BatchSize, BoxConventionOpt, ClassesOpt, Concurrency, Device,
    Dtype, JournalOpt, JsonOpt, MaxNewTokens, MinValid, ModelOpt, NmsIou, Out, Overlap, OverlayOpt, Overwrite,
    RepetitionPenalty, Resume, ScenePath, Strict, Threads, TileSize, TrustRemoteCode, parse_classes,
)

__all__ = ["SHARED", "SceneArgs", "ask", "caption", "classify", "count", "detect", "ground", "scene_command"]

StrategyOpt = Annotated[str, typer.Option(
    "--strategy",
    help="grid: run every tile. overview: look at a decimated overview first and run only the tiles where "
         "the model saw something (count, detect, ground, vqa; faster on sparse scenes, may miss objects "
         "smaller than a few overview pixels).",
)]
OverviewDecimation = Annotated[float, typer.Option(
    "--overview-decimation", min=1.0,
    help="With --strategy overview: the most scene pixels per overview pixel; larger scenes get several glances. "
         "An object must be a few overview pixels wide to be seen: about a quarter of the smallest object's size.",
)]
MinScore = Annotated[Optional[float], typer.Option(
    "--min-score", min=0.0, max=1.0,
    help="Drop boxes scored below this. VLM boxes carry no score: those are kept, and a note says so.",
)]

#: The options every scene command takes: (name, annotation, default), in --help order.
SHARED: tuple[tuple[str, object, object], ...] = (
    ("out", Out, None), ("overlay", OverlayOpt, None), ("overwrite", Overwrite, False), ("json_out", JsonOpt, False),
    ("tile", TileSize, None), ("overlap", Overlap, None), ("bands", BandsOpt, None), ("min_valid", MinValid, 0.05),
    ("nms_iou", NmsIou, 0.5), ("model", ModelOpt, None), ("backend", BackendOpt, "hf"), ("base_url", BaseUrl, None),
    ("api_key_env", ApiKeyEnv, "OPENAI_API_KEY"), ("concurrency", Concurrency, 4),
    ("box_convention", BoxConventionOpt, None), ("batch_size", BatchSize, 4), ("max_new_tokens", MaxNewTokens, 1024),
    ("repetition_penalty", RepetitionPenalty, None), ("device", Device, "auto"), ("dtype", Dtype, "auto"),
    ("trust_remote_code", TrustRemoteCode, False), ("threads", Threads, None), ("resume", Resume, False),
    ("journal", JournalOpt, None), ("strict", Strict, False),
)


@dataclass(frozen=True)
class SceneArgs:
    """The shared options of a scene command, as parsed (names as in :data:`SHARED`)."""

    out: Path | None = None
    overlay: Path | None = None
    overwrite: bool = False
    json_out: bool = False
    tile: int | None = None
    overlap: int | None = None
    bands: str | None = None
    min_valid: float = 0.05
    nms_iou: float = 0.5
    model: str | None = None
    backend: str = "hf"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    box_convention: str | None = None
    batch_size: int = 4
    max_new_tokens: int = 1024
    repetition_penalty: float | None = None
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    threads: int | None = None
    resume: bool = False
    journal: Path | None = None
    strict: bool = False


def scene_command(func):
    """Add the :data:`SHARED` options to a command ``func(..., args: SceneArgs)``.

    Typer reads a command's options from its signature; the wrapper's signature is ``func``'s own
    parameters followed by the shared ones, and it gathers the shared values into ``args``.
    """
    own = [p for name, p in inspect.signature(func, eval_str=True).parameters.items() if name != "args"]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        for name, annotation, default in SHARED
    ]

    @functools.wraps(func)
    def command(*a, **kw):
        values = {name: kw.pop(name) for name, _, _ in SHARED if name in kw}
        return func(*a, args=SceneArgs(**values), **kw)

    command.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]
    return command


@scene_command
def count(
    scene: ScenePath,
    cls: Annotated[str, typer.Argument(metavar="CLASS", help="The object class to count, e.g. ship.", show_default=False)],
    strategy: StrategyOpt = "grid",
    overview_decimation: OverviewDecimation = 4.0,
    *,
    args: SceneArgs,
) -> None:
    """Count objects of CLASS over a whole scene: distinct grounded boxes, seam copies merged."""
    from ..api import count_scene

    run_scene_task(scene, "count", args, functools.partial(count_scene, cls=cls), strategy=strategy,
                   overview_decimation=overview_decimation)


@scene_command
def detect(
    scenes: Annotated[list[Path], typer.Argument(
        help="One or more rasters, folders of rasters, or quoted glob patterns ('tiles/*.tif').",
        show_default=False)],
    classes: ClassesOpt = None,
    min_score: MinScore = None,
    strategy: StrategyOpt = "grid",
    overview_decimation: OverviewDecimation = 4.0,
    *,
    args: SceneArgs,
) -> None:
    """Detect objects over whole scenes; every grounded box becomes a georeferenced polygon.

    Several scenes (files, folders, patterns) go into one output with a scene column, and a
    summary table per scene.
    """
    from ..api import detect_scene

    if len(scenes) > 1 or scenes[0].is_dir() or any(c in str(scenes[0]) for c in "*?["):
        run_many_scenes(scenes, args, classes=parse_classes(classes), min_score=min_score, strategy=strategy,
                        overview_decimation=overview_decimation)
        return
    call = functools.partial(detect_scene, classes=parse_classes(classes), min_score=min_score)
    run_scene_task(scenes[0], "detect", args, call, strategy=strategy, overview_decimation=overview_decimation)


@scene_command
def ground(
    scene: ScenePath,
    expression: Annotated[str, typer.Argument(help='What to find, e.g. "the largest ship".', show_default=False)],
    strategy: StrategyOpt = "grid",
    overview_decimation: OverviewDecimation = 4.0,
    *,
    args: SceneArgs,
) -> None:
    """Find the one object a referring expression names (or say plainly that none was found)."""
    from ..api import ground_scene

    run_scene_task(scene, "ground", args, functools.partial(ground_scene, expression=expression), strategy=strategy,
                   overview_decimation=overview_decimation)


@scene_command
def classify(
    scene: ScenePath,
    classes: Annotated[Optional[str], typer.Option(
        "--classes", help="Comma-separated closed label set, e.g. harbor,airport,forest (answers outside it "
                          "map to the closest label, or unknown).")] = None,
    *,
    args: SceneArgs,
) -> None:
    """Classify a scene cell by cell (the tile cores, which cover it exactly); area per class."""
    from ..api import classify_scene

    run_scene_task(scene, "classify", args, functools.partial(classify_scene, classes=parse_classes(classes)))


@scene_command
def caption(scene: ScenePath, *, args: SceneArgs) -> None:
    """Describe a whole scene: what was grounded, where (north-west, ...), and what the tiles show."""
    from ..api import caption_scene

    run_scene_task(scene, "caption", args, caption_scene)


@scene_command
def ask(
    scene: ScenePath,
    question: Annotated[str, typer.Argument(help='The question, e.g. "how many bridges?".', show_default=False)],
    task: Annotated[Optional[str], typer.Option("--task", help="Force a task: vqa, caption, classify, ground, count, detect (default: routed from the question; see docs/tasks.md).")] = None,
    classes: ClassesOpt = None,
    strategy: StrategyOpt = "grid",
    overview_decimation: OverviewDecimation = 4.0,
    *,
    args: SceneArgs,
) -> None:
    """Ask a question about a whole scene; it is routed to count, detect, ground, classify, caption or VQA."""
    from ..api import ask_scene
    from ..questions import plan_question
    from ._common import user_errors

    with user_errors():
        plan = plan_question(question, task, parse_classes(classes))
    call = functools.partial(ask_scene, question=question, task=plan.task, classes=plan.classes)
    run_scene_task(scene, plan.task, args, call, strategy=strategy, overview_decimation=overview_decimation)
