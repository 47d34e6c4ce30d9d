"""What every command shares: the stderr console, the one error handler, progress on stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["check_tiles", "console", "print_json", "progress", "state", "user_errors"]

#: Exit code of a run that wrote its output but had tiles the model failed on, or answered none (--strict).
EXIT_FAILED_TILES = 3

T = TypeVar("T")

#: People read stderr; stdout is kept for data (``--json``).
console = Console(stderr=True, highlight=False)


class _State:
    debug: bool = False
    quiet: bool = False


state = _State()


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`GeocotError` into one red line and exit 2; any other exception into exit 1.

    Under ``geocot --debug`` an unexpected exception keeps its traceback.
    """
    from ..errors import GeocotError

    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except GeocotError as exc:
        console.print(f"[red]error:[/red] {_one_line(exc)}", soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: say so plainly
        if state.debug:
            raise
        console.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {_one_line(exc)} "
            "(rerun with geocot --debug ... for the traceback, and please report it)",
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def _one_line(exc: BaseException) -> str:
    """The message on one line, with rich markup escaped (messages quote ``[x1,y1,x2,y2]`` and paths)."""
    from rich.markup import escape

    return escape(" ".join(str(exc).split()) or type(exc).__name__)


def progress(items: Iterable[T], total: int | None, description: str) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr; plain lines when stderr is no terminal (a log:
    see :mod:`geocot_cli.cli._progress`); nothing with --quiet."""
    if state.quiet:
        yield from items
        return
    if not console.is_terminal:
        from ._progress import progress_lines

        def write(line: str) -> None:
            console.print(escape(line), soft_wrap=True, highlight=False)

        yield from progress_lines(items, total, description, write)
        return
    from rich.progress import track

    yield from track(items, total=total, description=description, console=console, transient=True)


def print_json(doc: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def run_scene_task(
    scene_path, task: str, args, call, *, strategy: str = "grid", overview_decimation: float | None = 4.0
) -> None:
    """The body every scene command shares: check the inputs, load the model, call the library, render.

    ``args`` holds the shared options (:class:`geocot_cli.cli.scene_commands.SceneArgs`); ``call``
    is the library function of the command, called as ``call(scene, backend=..., **options)``
    with the options of :func:`geocot_cli.api.answer_scene`. Everything that can be refused is
    refused before the model loads.
    """
    with user_errors():
        tiling, options, journal = _prepare(task, args, strategy)
        scene = open_checked(scene_path, tiling, args.out)  # a bad scene fails before the model loads
        backend = _load(options, getattr(args, "threads", None))
        tiling = _model_tiling(backend, args, tiling)
        try:
            answer, scene = call(
                scene, backend=backend, tiling=tiling, batch_size=args.batch_size, nms_iou=args.nms_iou,
                strategy=strategy, overview_max_decimation=overview_decimation, out=args.out, overwrite=args.overwrite,
                progress=lambda it, total: progress(it, total, f"{task} {scene.path}"),
                journal=journal, resume=args.resume,
            )
        except KeyboardInterrupt:
            if journal is not None and Path(journal).exists():
                console.print(
                    f"[yellow]interrupted:[/yellow] finished tiles are saved in {escape(str(journal))}; "
                    "run the same command with --resume to continue", soft_wrap=True,
                )
                raise typer.Exit(130) from None
            raise
        render_answer(answer, scene, json_out=args.json_out, out=args.out)
        if args.overlay is not None:
            _overlay(args.overlay, answer, scene, args)
    check_tiles(answer, getattr(args, "strict", False))


def open_checked(scene_path, tiling, out):
    """Open a scene and check what can be checked before the model loads: the output's needs (a
    GeoJSON needs a CRS) and a sparse sample of its blocks. The scene's warnings (no CRS, ...) are
    said only when it passes: bad input is one line."""
    import warnings

    from ..io.report import check_output_crs
    from ..scene import check_blocks, open_scene

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scene = open_scene(scene_path, bands=tiling.bands)
    check_output_crs(out, scene)
    check_blocks(scene)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return scene


def _overlay(path, answer, scene, args) -> None:
    from ..io.overlay import draw_overlay

    written = draw_overlay(path, answer, scene, overwrite=args.overwrite or args.resume)
    console.print(f"overlay drawn to {escape(str(written))}", soft_wrap=True)


def overlay_for(path: Path, index: int, scene_path) -> Path:
    """The overlay of scene ``index`` of a many-scene run: ``out.png`` -> ``out.000-sceneA.png``."""
    return path.with_name(f"{path.stem}.{index:03d}-{Path(scene_path).stem}{path.suffix}")


def _prepare(task: str, args, strategy: str):
    """Check everything that can be checked before the model loads; the run's options and journal."""
    from ..config import BackendOptions, GenerationOptions, TilingOptions
    from ..errors import ConfigError
    from ..io.journal import journal_path
    from ..io.overlay import check_overlay
    from ..io.report import check_output
    from ..overview import check_strategy
    from ..types import TASKS
    from ._options import parse_bands

    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    check_strategy(strategy, task)
    check_output(args.out, overwrite=args.overwrite or args.resume)
    if args.overlay is not None:
        check_overlay(args.overlay, overwrite=args.overwrite or args.resume)
    # checked now; the model's own tile size (geocot.json) fills what was not given once it is loaded
    tiling = TilingOptions.for_model({}, tile=args.tile, overlap=args.overlap, bands=parse_bands(args.bands),
                                     min_valid=args.min_valid)
    generation = GenerationOptions(batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                                   repetition_penalty=args.repetition_penalty)
    options = BackendOptions(
        model=args.model, backend=args.backend, base_url=args.base_url, api_key_env=args.api_key_env,
        concurrency=args.concurrency, box_convention=args.box_convention, device=args.device, dtype=args.dtype,
        trust_remote_code=args.trust_remote_code, generation=generation,
    )
    journal = args.journal
    if journal is None and args.out is not None:
        journal = journal_path(args.out)
    if args.resume and journal is None:
        raise ConfigError("--resume needs the journal of the earlier run: give the same --out, or --journal")
    return tiling, options, journal


def _load(options, threads: int | None = None):
    """Load the model (with ``threads`` for torch and GDAL when given); say so when it is the demo model."""
    from ..api import open_backend
    from ..models.demo import DEMO_NOTE, is_demo_model

    set_threads(threads, torch=options.backend == "hf")
    with console.status("loading model", spinner="dots") if console.is_terminal else contextlib.nullcontext():
        backend = open_backend(options)
    local = getattr(backend, "local_path", None)
    if local is not None and is_demo_model(local):
        console.print(f"[yellow]note:[/yellow] {escape(DEMO_NOTE)}", soft_wrap=True)
    return backend


def set_threads(threads: int | None, *, torch: bool = True) -> None:
    """``--threads N``: N threads for GDAL's block decoding (``GDAL_NUM_THREADS``) and, for an
    in-process model, for torch (``torch.set_num_threads``). None leaves both libraries' defaults."""
    if threads is None:
        return
    import os

    os.environ["GDAL_NUM_THREADS"] = str(threads)  # read by GDAL at each read (a config option)
    if torch:
        import torch as _torch

        _torch.set_num_threads(threads)


def _model_tiling(backend, args, tiling):
    """The tiling to run: what the user gave, the rest from the loaded model's geocot.json."""
    from ..api import model_tiling

    return model_tiling(backend, tile=args.tile, overlap=args.overlap, bands=tiling.bands, min_valid=tiling.min_valid)


def run_many_scenes(scenes, args, *, classes, min_score, strategy: str, overview_decimation: float | None) -> None:
    """``geocot detect A.tif B.tif DIR 'tiles/*.tif'``: every scene with one model, one output, a summary."""
    from ..api import detect_scenes, expand_scenes
    from ..errors import ConfigError
    from ..io.overlay import check_overlay
    from ..io.report import answer_document

    with user_errors():
        if args.journal is not None:
            raise ConfigError("--journal names one file; with several scenes each keeps its own beside --out")
        tiling, options, _ = _prepare("detect", args, strategy)
        paths = expand_scenes(scenes)
        for i, p in enumerate(paths):
            open_checked(p, tiling, args.out)  # every scene checked before the model loads
            if args.overlay is not None:
                check_overlay(overlay_for(args.overlay, i, p), overwrite=args.overwrite or args.resume)
        backend = _load(options, getattr(args, "threads", None))
        tiling = _model_tiling(backend, args, tiling)
        answers = detect_scenes(
            paths, backend=backend, classes=classes, min_score=min_score, tiling=tiling,
            batch_size=args.batch_size, nms_iou=args.nms_iou, strategy=strategy,
            overview_max_decimation=overview_decimation, out=args.out, overwrite=args.overwrite,
            resume=args.resume, progress=lambda it, total: progress(it, total, "detect"),
        )
        if args.json_out:
            print_json({"scenes": [answer_document(a, s) for a, s in answers],
                        "total_objects": sum(len(a.evidence) for a, _ in answers)})
        else:
            for a, s in answers:
                sys.stdout.write(f"{s.path}\t{a.answer}\n")
            _table(["scene", "tiles", "processed", "skipped", "failed", "objects", "per class"],
                   [[escape(str(s.path)), str(a.tiles_total), str(a.tiles_processed), str(a.tiles_skipped),
                     str(a.tiles_failed), str(len(a.evidence)),
                     ", ".join(f"{n} {k}" for k, n in a.per_class.items()) or "-"] for a, s in answers])
            if args.out:
                console.print(f"written to {escape(str(args.out))} (a scene column on every layer)", soft_wrap=True)
        if args.overlay is not None:
            for i, (a, s) in enumerate(answers):
                _overlay(overlay_for(args.overlay, i, s.path), a, s, args)
    for a, _ in answers:
        check_tiles(a, getattr(args, "strict", False))


def check_tiles(answer, strict: bool) -> None:
    """After the answer is out: say so when the model answered no tile (every tile nodata), and
    with ``--strict`` exit 3 when any tile failed or none was answered."""
    failed = [t for t in answer.tiles if t.error is not None]
    if answer.tiles and all(t.skipped == "nodata" for t in answer.tiles):
        console.print(
            f"[yellow]note:[/yellow] all {len(answer.tiles)} tiles were skipped as nodata (fewer valid pixels than "
            "--min-valid), so the model was not asked: this answer means no data, not nothing found; check the "
            "raster's nodata value and --bands with gdalinfo, or lower --min-valid",
            soft_wrap=True,
        )
        if strict:
            console.print("[red]error:[/red] no tile was answered (--strict)")
            raise typer.Exit(EXIT_FAILED_TILES)
    if not strict or not failed:
        return
    first = escape(f"{failed[0].tile.id}: {failed[0].error}")
    console.print(
        f"[red]error:[/red] the model failed on {len(failed)} of {len(answer.tiles)} tiles "
        f"(first: {first}); the output holds the other tiles (--strict)",
        soft_wrap=True,
    )
    raise typer.Exit(EXIT_FAILED_TILES)


def render_answer(answer, scene, *, json_out: bool, out) -> None:
    """``--json``: one document on stdout. Otherwise: the answer on stdout; on stderr a summary, the
    per-class table (detect, count, caption, vqa) or the area table (classify), and any notes."""
    from ..io.report import answer_document

    if json_out:
        print_json(answer_document(answer, scene))
        return
    sys.stdout.write(f"{answer.answer}\n")
    sys.stdout.flush()
    if answer.task == "classify" and isinstance(answer.value, dict):
        _table(["class", "cells", f"area ({answer.value['unit']})", "share"],
               [[k, str(v["cells"]), f"{v['area']:.6g}", f"{v['fraction']:.1%}"]
                for k, v in answer.value["classes"].items()])
        if answer.value.get("area_detail"):
            console.print(f"areas: {escape(answer.value['area_detail'])}", soft_wrap=True)
    elif answer.per_class and answer.task != "ground":
        from ..questions import class_key

        tiles_of: dict[str, set[str]] = {}
        for f in answer.evidence:
            tiles_of.setdefault(class_key(f.label) or "object", set()).update(f.merged_from)
        _table(["class", "objects", "tiles citing"],
               [[k, str(n), str(len(tiles_of.get(k, ())))] for k, n in answer.per_class.items()])
    console.print(
        f"{len(answer.evidence)} evidence boxes from {answer.tiles_processed} of {answer.tiles_total} tiles "
        + (f"({answer.tiles_failed} failed) " if answer.tiles_failed else "")
        + f"({answer.tiles_skipped} skipped"
        + (f", {answer.tiles_not_run} not run)" if getattr(answer, "tiles_not_run", 0) else ")")
        + (f"; {len(answer.flagged)} tiles whose answer disagrees with their evidence: {', '.join(answer.flagged[:8])}"
           + ("..." if len(answer.flagged) > 8 else "") if answer.flagged else "")
        + (f"; written to {out}" if out else ""),
        soft_wrap=True,
    )
    for note in answer.notes:
        console.print(f"[yellow]note:[/yellow] {note}", soft_wrap=True)


def _table(columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(*columns, box=None, pad_edge=False, header_style="bold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
