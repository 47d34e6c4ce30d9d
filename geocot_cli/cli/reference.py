"""The command-line reference as Markdown, generated from the Typer app itself.

The docs site renders it as ``cli.md`` (``docs/_hooks.py``), so every command, argument, option and
default in the docs is what ``geocot ... --help`` says.

>>> text = cli_reference()
>>> text.startswith("# Command-line reference")
True
>>> "## `geocot detect`" in text
True
"""

from __future__ import annotations

__all__ = ["cli_reference"]


def cli_reference() -> str:
    """Markdown for every ``geocot`` command, group by group, from the live Typer app."""
    import typer
    from typer.cli import get_docs_for_click

    from .app import app

    command = typer.main.get_command(app)
    with typer.Context(command) as ctx:
        body = get_docs_for_click(obj=command, ctx=ctx, name="geocot", title="Command-line reference")
    intro = (
        "Generated from the Typer app at build time (`geocot_cli.cli.reference`): the same text as\n"
        "`geocot COMMAND --help`. Exit codes: 0 done, 1 internal error, 2 bad input or usage,\n"
        "3 `--strict` and a tile failed, 130 interrupted.\n\n"
    )
    title, _, rest = body.partition("\n\n")
    return f"{title}\n\n{intro}{rest.strip()}\n"
