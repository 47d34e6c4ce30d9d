"""``geocot data``: make Geo-CoT training data (synthetic scenes, patches, backfilled traces).

Each command parses its options and calls one library function in :mod:`geocot_cli.data`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import console, print_json, state, user_errors
from ._options import BatchSize, BoxConventionOpt, ClassesOpt, JsonOpt, Overwrite

app = typer.Typer(help="Make Geo-CoT training data: synthetic scenes, patches, backfilled traces.",
                  no_args_is_help=True)

Format = Annotated[Optional[str], typer.Option(
    "--format", "-f", help="Dataset format: dota, voc, resisc, captions, vrsbench, coco or geocot (a sample JSONL).")]
Labels = Annotated[Optional[Path], typer.Option(
    "--labels", help="Annotations: a DOTA labelTxt folder, VOC XML folder, class-per-folder root, caption/COCO/VRSBench JSON, or a sample JSONL.")]
Images = Annotated[Optional[Path], typer.Option(
    "--images", help="Image folder (default: the format's usual place next to the labels).")]
Tasks = Annotated[Optional[str], typer.Option(
    "--tasks", help="Comma-separated tasks to make, e.g. detect,count (default: all the format gives).")]
SkipDifficult = Annotated[bool, typer.Option("--skip-difficult", help="Leave out objects flagged difficult (DOTA, VOC).")]


@contextlib.contextmanager
def _counter(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A progress callback drawing a bar on stderr (nothing with --quiet or off a terminal)."""
    if state.quiet or not console.is_terminal:
        yield lambda n: None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


PatchTile = Annotated[int, typer.Option("--tile", help="Tile (patch) side in pixels.")]
PatchOverlap = Annotated[int, typer.Option("--overlap", help="Pixels shared by neighbouring tiles (patches).")]


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Argument(help="Folder for scene_*.tif and ground_truth.jsonl.", show_default=False)],
    n: Annotated[int, typer.Option("--n", help="Number of scenes (each gives one sample per task).")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed writes the same bytes.")] = 0,
    size: Annotated[int, typer.Option("--size", help="Scene side in pixels (e.g. 2000 for scenes of several tiles).")] = 128,
    tile: PatchTile = 800,
    overlap: PatchOverlap = 160,
    gsd: Annotated[float, typer.Option("--gsd", help="Metres per pixel.")] = 0.5,
    epsg: Annotated[int, typer.Option("--epsg", help="Projected CRS of the scenes (UTM 33N by default).")] = 32633,
    object_scale: Annotated[float, typer.Option("--object-scale", help="Multiply object sizes.")] = 1.0,
    max_objects: Annotated[Optional[int], typer.Option("--max-objects", help="At most this many objects a scene (1: one-object scenes for a curriculum).", show_default=False)] = None,
    overwrite: Overwrite = False,
    json_: JsonOpt = False,
) -> None:
    """Draw synthetic georeferenced scenes (airplanes, ships, vehicles, storage tanks) with ground truth for all six tasks."""
    with user_errors():
        from ..data.synth import SynthOptions, synthesize

        opts = SynthOptions(n=n, seed=seed, size=size, tile=tile, overlap=overlap, gsd=gsd, epsg=epsg,
                            object_scale=object_scale, max_objects=max_objects)
        rep = synthesize(out, opts, overwrite=overwrite)
        if json_:
            print_json({"out": str(rep.out), "ground_truth": str(rep.ground_truth), "scenes": rep.scenes,
                        "samples": rep.samples, "objects": rep.objects})
        else:
            console.print(f"{rep.scenes} scenes, {rep.objects} objects, {rep.samples} samples -> {rep.ground_truth}",
                          soft_wrap=True)


@app.command("split")
def split(
    out: Annotated[Path, typer.Argument(help="Folder for images/ (the patches) and samples.jsonl.", show_default=False)],
    fmt: Format = None,
    labels: Labels = None,
    images: Images = None,
    tile: PatchTile = 800,
    overlap: PatchOverlap = 160,
    min_keep: Annotated[float, typer.Option("--min-keep", help="Keep a clipped box when at least this fraction of its area is inside the patch.")] = 0.5,
    tasks: Tasks = None,
    classes: ClassesOpt = None,
    skip_difficult: SkipDifficult = False,
    drop_empty: Annotated[bool, typer.Option("--drop-empty", help="Write no patch without objects (of an annotated image).")] = False,
    overwrite: Overwrite = False,
    json_: JsonOpt = False,
) -> None:
    """Cut large images into patches, clipping their boxes; GeoTIFF patches keep their georeferencing.

    With --format and --labels the patches come with task samples (dota, voc, coco, geocot); with
    --images only, the images are just cut.
    """
    with user_errors():
        from ..data.split import SplitOptions, split_dataset
        from ..data.tasks import OBJECT_TASKS

        opts = SplitOptions(tile=tile, overlap=overlap, min_keep=min_keep, tasks=tasks or OBJECT_TASKS,
                            keep_empty=not drop_empty)
        rep = split_dataset(out, fmt=fmt, labels=labels, images=images, options=opts, classes=classes,
                            skip_difficult=skip_difficult, overwrite=overwrite)
        if json_:
            print_json({k: (str(v) if isinstance(v, Path) else v) for k, v in rep.__dict__.items()})
        else:
            what = f", {rep.samples} samples -> {rep.samples_path}" if rep.samples_path else ""
            console.print(f"{rep.images} images -> {rep.patches} patches in {rep.out / 'images'}{what}; "
                          f"{rep.boxes_kept} boxes kept, {rep.boxes_dropped} clipped away", soft_wrap=True)


@app.command("backfill")
def backfill(
    out: Annotated[Path, typer.Option("--out", "-o", help="SFT output JSONL; <stem>.nocot.jsonl and <stem>.rl.jsonl are written beside it.", show_default=False)],
    fmt: Format = None,
    labels: Labels = None,
    images: Images = None,
    box_convention: BoxConventionOpt = None,
    target_model: Annotated[Optional[str], typer.Option("--target-model", help="Model to be trained: its box convention is read from its folder (geocot.json) or the known-model table.")] = None,
    tasks: Tasks = None,
    classes: ClassesOpt = None,
    skip_difficult: SkipDifficult = False,
    max_objects: Annotated[Optional[int], typer.Option("--max-objects", help="Most objects a trace may list (dense images: P0706 has 531 ships).")] = None,
    over_max: Annotated[str, typer.Option("--over-max", help="Beyond --max-objects: drop the sample, or cap the list (vqa/caption/classify/ground; count and detect are always dropped).")] = "drop",
    writer_model: Annotated[Optional[str], typer.Option("--writer-model", help="Write traces with this model (kept only when they verify against the ground truth).")] = None,
    writer_backend: Annotated[str, typer.Option("--writer-backend", help="Backend of --writer-model: hf or openai.")] = "hf",
    writer_base_url: Annotated[Optional[str], typer.Option("--writer-base-url", help="Server URL for --writer-backend openai, e.g. http://localhost:8000/v1.")] = None,
    writer_max_new_tokens: Annotated[int, typer.Option("--writer-max-new-tokens", help="Most tokens the writer model may write per trace (dense images need long traces).")] = 2048,
    fallback_template: Annotated[bool, typer.Option("--fallback-template", help="Give samples whose model trace was rejected the template trace instead of dropping them.")] = False,
    batch_size: BatchSize = 4,
    nocot_out: Annotated[Optional[Path], typer.Option("--nocot-out", help="No-CoT output (default <stem>.nocot.jsonl).")] = None,
    rl_out: Annotated[Optional[Path], typer.Option("--rl-out", help="RL output (default <stem>.rl.jsonl).")] = None,
    overwrite: Overwrite = False,
    json_: JsonOpt = False,
) -> None:
    """Write Geo-CoT traces from ground truth (SFT set), plus the no-CoT and RL sets."""
    with user_errors():
        from ..backends import load_backend, resolve_box_convention
        from ..data.backfill import BackfillOptions
        from ..data.backfill import backfill as run_backfill
        from ..data.readers import read_dataset
        from ..errors import ConfigError

        if fmt is None or labels is None:
            raise ConfigError("backfill needs --format and --labels, e.g. --format dota --labels DOTA/labelTxt")
        conv = resolve_box_convention(target_model, box_convention) if (target_model or box_convention) else "pixel"
        opts = BackfillOptions(box_convention=conv, max_objects=max_objects, over_max=over_max,
                               batch_size=batch_size, fallback_template=fallback_template)
        samples = read_dataset(fmt, labels, images, tasks=tasks, classes=classes, skip_difficult=skip_difficult)
        writer = None
        if writer_model:
            from ..config import GenerationOptions

            kw = {"base_url": writer_base_url} if writer_base_url else {}
            gen = GenerationOptions(max_new_tokens=writer_max_new_tokens, batch_size=batch_size)
            writer = load_backend(writer_model, backend=writer_backend, box_convention=conv, generation=gen, **kw)
        with _counter(len(samples), "backfilling") as tick:
            rep = run_backfill(out, samples, opts, writer, nocot_out=nocot_out, rl_out=rl_out,
                               overwrite=overwrite, progress=tick)
        if json_:
            print_json(rep.to_dict())
        else:
            extra = ""
            if rep.dropped_max_objects:
                extra += f"; {rep.dropped_max_objects} dropped by --max-objects"
            if rep.dropped_unboxed:
                extra += f"; {rep.dropped_unboxed} count samples without boxes dropped"
            if writer is not None:
                why = ", ".join(f"{k}: {v}" for k, v in rep.reasons.items())
                extra += f"; {rep.rejected} model traces rejected" + (f" ({why})" if why else "")
            console.print(f"{rep.sft} traces ({rep.writer}, boxes {rep.box_convention}) -> {rep.sft_path}; "
                          f"no-CoT -> {rep.nocot_path}; RL ({rep.rl}) -> {rep.rl_path}{extra}", soft_wrap=True)
