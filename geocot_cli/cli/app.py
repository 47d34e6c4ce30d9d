"""The ``geocot`` command: a thin skin over the library, one module per command group.

Exit codes: 0 ok, 2 bad input or usage (one line on stderr), 1 internal error.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import eval as eval_cmd
from . import data, export, model, scene_commands
from ._common import state

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


app.command("detect")(scene_commands.detect)
app.command("ask")(scene_commands.ask)
app.command("eval")(eval_cmd.eval_command)
app.command("export")(export.export)
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")


def main() -> None:
    """Console-script entry point."""
    app()
