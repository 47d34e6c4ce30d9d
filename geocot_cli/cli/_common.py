"""What every command shares: the stderr console, the one error handler, progress on stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import typer
from rich.console import Console

__all__ = ["console", "print_json", "progress", "state", "user_errors"]

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
    return " ".join(str(exc).split()) or type(exc).__name__


def progress(items: Iterable[T], total: int | None, description: str) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr (hidden with --quiet or when stderr is no terminal)."""
    if state.quiet or not console.is_terminal:
        yield from items
        return
    from rich.progress import track

    yield from track(items, total=total, description=description, console=console, transient=True)


def print_json(doc: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def run_scene_task(
    scene_path,
    task: str,
    *,
    question: str | None,
    classes: str | None,
    out,
    overwrite: bool,
    json_out: bool,
    tile: int,
    overlap: int,
    bands: str | None,
    min_valid: float,
    nms_iou: float,
    backend_kw: dict,
    resume: bool = False,
    journal=None,
) -> None:
    """The body every scene command shares: build options, call the library, render the answer."""
    from ..api import answer_scene, open_backend
    from ..config import BackendOptions, GenerationOptions, TilingOptions
    from ..io.journal import journal_path
    from ..io.report import check_output
    from ._options import parse_bands, parse_classes

    with user_errors():
        from ..errors import ConfigError
        from ..types import TASKS

        if task not in TASKS:
            raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
        check_output(out, overwrite=overwrite)
        tiling = TilingOptions(tile=tile, overlap=overlap, bands=parse_bands(bands), min_valid=min_valid)
        gen_kw = {k: backend_kw.pop(k) for k in ("batch_size", "max_new_tokens", "repetition_penalty")}
        options = BackendOptions(generation=GenerationOptions(**gen_kw), **backend_kw)
        from ..scene import open_scene

        scene = open_scene(scene_path, bands=tiling.bands)  # a bad scene fails before the model loads
        with console.status("loading model", spinner="dots") if console.is_terminal else contextlib.nullcontext():
            backend = open_backend(options)
        if journal is None and out is not None:
            journal = journal_path(out)
        if resume and journal is None:
            raise ConfigError("--resume needs the journal of the earlier run: give the same --out, or --journal")
        try:
            answer, scene = answer_scene(
                scene, task, backend=backend, question=question, classes=parse_classes(classes),
                tiling=tiling, batch_size=gen_kw["batch_size"], nms_iou=nms_iou, out=out, overwrite=overwrite,
                progress=lambda it, total: progress(it, total, f"{task} {scene.path}"),
                journal=journal, resume=resume,
            )
        except KeyboardInterrupt:
            if journal is not None:
                console.print(
                    f"[yellow]interrupted:[/yellow] finished tiles are saved in {journal}; "
                    "run the same command with --resume to continue"
                )
                raise typer.Exit(130) from None
            raise
        render_answer(answer, scene, json_out=json_out, out=out)


def render_answer(answer, scene, *, json_out: bool, out) -> None:
    """``--json``: one document on stdout. Otherwise: the answer on stdout, a summary on stderr."""
    from ..io.report import answer_document

    if json_out:
        print_json(answer_document(answer, scene))
        return
    sys.stdout.write(f"{answer.answer}\n")
    console.print(
        f"{len(answer.evidence)} evidence boxes from {answer.tiles_processed} tiles "
        + (f"({answer.tiles_failed} failed) " if answer.tiles_failed else "")
        + f"({answer.tiles_skipped} skipped as nodata)"
        + (f"; {len(answer.flagged)} tiles whose answer disagrees with their evidence" if answer.flagged else "")
        + (f"; written to {out}" if out else "")
    )
