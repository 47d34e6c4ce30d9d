"""MkDocs hook: the CLI reference page (``cli.md``) is generated from the Typer app at build time,
so it can never drift from ``geocot --help``."""

from __future__ import annotations

from mkdocs.structure.files import File


def on_files(files, config):
    from geocot_cli.cli.reference import cli_reference

    files.append(File.generated(config, "cli.md", content=cli_reference()))
    return files
