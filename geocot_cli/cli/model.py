"""``geocot model``: build and inspect models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import console, user_errors
from ._options import BoxConventionOpt, Overwrite

app = typer.Typer(help="Build and inspect models.", no_args_is_help=True)


@app.command("tiny")
def tiny(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the model to.", show_default=False)],
    seed: Annotated[int, typer.Option(help="Random seed of the initial weights.")] = 0,
    box_convention: BoxConventionOpt = "pixel",
    overwrite: Overwrite = False,
) -> None:
    """Build a tiny, randomly initialised Glm4v model (the real architecture) for tests and demos."""
    with user_errors():
        from ..models.tiny import build_tiny_model

        path = build_tiny_model(out_dir, seed=seed, box_convention=box_convention or "pixel", overwrite=overwrite)
        console.print(f"tiny model written to {path} (load it with --model {path})")
