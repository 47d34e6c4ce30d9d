"""The ``geocot`` command: a thin skin over the library, one module per command group.

Exit codes: 0 ok, 2 bad input or usage (one line on stderr), 1 internal error.
"""

from __future__ import annotations

import os
import warnings
from typing import Annotated

import typer

from . import eval as eval_cmd
from . import data, export, model, scene_commands
from ._common import console, state

app = typer.Typer(
    name="geocot",
    help="Ask a vision-language model about large remote-sensing scenes; get auditable, georeferenced answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"geocot {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an internal error.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    state.debug = debug
    state.quiet = quiet
    # People read stderr: one line per warning, no library progress bars of their own.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.showwarning = _show_warning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    console.print(f"[yellow]warning:[/yellow] {' '.join(str(message).split())}", soft_wrap=True)


app.command("detect")(scene_commands.detect)
app.command("ask")(scene_commands.ask)
app.command("eval")(eval_cmd.eval_command)
app.command("export")(export.export)
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")


def main() -> None:
    """Console-script entry point."""
    app()
