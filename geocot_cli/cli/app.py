"""The ``geocot`` command: a thin skin over the library, one module per command group.

Exit codes: 0 ok, 2 bad input or usage (one line on stderr), 1 internal error.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from . import eval as eval_cmd
from . import data, export, model, scene_commands
from . import train as train_cmd
from ._common import console, state


class _Group(TyperGroup):
    """The root group: a usage error (missing argument, bad number, unknown option) is one line on
    stderr and exit 2, like every other bad input, instead of Typer's multi-line panel."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's UsageError family
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
                ctx = getattr(exc, "ctx", None)
                hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
                message = " ".join(exc.format_message().split()).rstrip(".")
                console.print(f"[red]error:[/red] {escape(message + hint)}", soft_wrap=True)
            sys.exit(getattr(exc, "exit_code", 2))
        except typer.Abort:
            console.print("[yellow]aborted[/yellow]")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _flags_take_no_value() -> None:
    """Typer's rich help writes a type after every flag (``--json <bool>``), as if it took a value;
    a flag takes none, so its type column is left empty."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_geocot", False):
        return

    def display_type_rich(self, ctx):
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return shown(self, ctx)

    display_type_rich._geocot = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich


_flags_take_no_value()

app = typer.Typer(
    cls=_Group,
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
    console.print(f"[yellow]warning:[/yellow] {escape(' '.join(str(message).split()))}", soft_wrap=True)


app.command("detect")(scene_commands.detect)
app.command("ask")(scene_commands.ask)
app.command("count")(scene_commands.count)
app.command("ground")(scene_commands.ground)
app.command("classify")(scene_commands.classify)
app.command("caption")(scene_commands.caption)
app.command("eval")(eval_cmd.eval_command)
app.command("export")(export.export)
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")
app.add_typer(train_cmd.app, name="train")


def main(args: Sequence[str] | None = None) -> None:
    """Console-script entry point (``args`` default to ``sys.argv[1:]``)."""
    app(args=args, prog_name="geocot")
