"""``geocot model``: build and inspect models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import console, user_errors
from ._options import Overwrite

app = typer.Typer(help="Build and inspect models.", no_args_is_help=True)


def _arch(help: str, **kw):
    return typer.Option(help=help, rich_help_panel="Architecture", **kw)


@app.command("tiny")
def tiny(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the model to.", show_default=False)],
    seed: Annotated[int, typer.Option(help="Random seed of the initial weights.")] = 0,
    box_convention: Annotated[str, typer.Option(
        "--box-convention", help="How the model will write boxes (kept in its geocot.json): pixel, norm1000, norm100 "
                                 "or norm1.")] = "pixel",
    image_size: Annotated[int, _arch("Side in pixels of the images the model sees.")] = 64,
    patch_size: Annotated[int, _arch("Vision patch side in pixels.")] = 8,
    merge_size: Annotated[int, _arch("Patches merged per side into one language-model token (1: none).")] = 2,
    hidden_size: Annotated[int, _arch("Language-model width.")] = 64,
    layers: Annotated[int, _arch("Language-model layers.")] = 2,
    heads: Annotated[int, _arch("Attention heads.")] = 4,
    kv_heads: Annotated[int, _arch("Key/value heads (grouped-query attention).")] = 2,
    intermediate_size: Annotated[int, _arch("MLP width of the language model.")] = 128,
    vision_hidden_size: Annotated[int, _arch("Vision-tower width.")] = 32,
    vision_layers: Annotated[int, _arch("Vision-tower layers.")] = 1,
    vision_heads: Annotated[int, _arch("Vision-tower attention heads.")] = 2,
    vision_intermediate_size: Annotated[int, _arch("Vision-tower MLP width.")] = 64,
    coordinate_tokens: Annotated[int, _arch(
        "Give every integer 0..N its own token (N = the largest coordinate the model writes: image size "
        "for pixel boxes); 0: numbers are split into digits.")] = 0,
    spatial_positions: Annotated[bool, _arch(
        "Make patch positions readable from the start: a 2-D sinusoidal vision position table and the "
        "language model's rotary frequencies given to image rows and columns (a small model trained from "
        "scratch then learns where single objects are: docs/demo-model.md).")] = False,
    rotary_fraction: Annotated[Optional[float], _arch(
        "Share of each attention head the rotary rotates; the rest carries no position, so the model can "
        "attend to an object's patch from any distance (default: 0.5 as GLM-4.1V, 1.0 with "
        "--spatial-positions).", show_default=False)] = None,
    native_tiling: Annotated[bool, _arch(
        "Record in geocot.json that scenes are cut into --image-size tiles at full resolution (a model "
        "trained on small scenes), so --tile defaults to it.")] = False,
    overwrite: Overwrite = False,
) -> None:
    """Build a tiny, randomly initialised Glm4v model (the real architecture) for tests and demos.

    The defaults make a model that runs in milliseconds; the bundled demo model's recipe
    (train/demo-model.sh) passes a wider one.
    """
    with user_errors():
        from ..models.tiny import build_tiny_model

        path = build_tiny_model(
            out_dir, seed=seed, box_convention=box_convention or "pixel", image_size=image_size,
            patch_size=patch_size, merge_size=merge_size, hidden_size=hidden_size, num_layers=layers,
            num_heads=heads, num_kv_heads=kv_heads, intermediate_size=intermediate_size,
            vision_hidden_size=vision_hidden_size, vision_layers=vision_layers, vision_heads=vision_heads,
            vision_intermediate_size=vision_intermediate_size, coordinate_tokens=coordinate_tokens,
            spatial_positions=spatial_positions, rotary_fraction=rotary_fraction, native_tiling=native_tiling,
            overwrite=overwrite,
        )
        console.print(f"tiny model written to {path} (load it with --model {path})")
