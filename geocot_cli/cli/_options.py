"""Options declared once and reused by name in every command (``Overlap``, ``Out``, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = [
    "ApiKeyEnv", "BandsOpt", "BaseUrl", "BackendOpt", "BatchSize", "BoxConventionOpt", "ClassesOpt",
    "Concurrency", "Device", "JournalOpt", "Resume", "Dtype", "JsonOpt", "MaxNewTokens", "MinValid", "ModelOpt", "NmsIou",
    "Out", "Overlap", "Overwrite", "RepetitionPenalty", "ScenePath", "Strict", "Threads", "TileSize", "TrustRemoteCode",
    "parse_bands", "parse_classes",
]

ScenePath = Annotated[Path, typer.Argument(help="A GDAL-readable raster (GeoTIFF, COG, ...).", show_default=False)]
Out = Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the answer, its evidence and its provenance to .gpkg (scene CRS, every layer) or .geojson (EPSG:4326, one layer; .json is taken as .geojson).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")]
OverlayOpt = Annotated[Optional[Path], typer.Option("--overlay", help="Also draw the scene with every cited box and its label to this .png/.jpg (one per scene, named after it, with several scenes).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]

TileSize = Annotated[Optional[int], typer.Option("--tile", help="Tile side in scene pixels (default: the model's own, from its geocot.json, else 800).", show_default=False)]
Overlap = Annotated[Optional[int], typer.Option("--overlap", help="Pixels shared by neighbouring tiles (default: the model's own, else a fifth of --tile).", show_default=False)]
BandsOpt = Annotated[Optional[str], typer.Option("--bands", help="1-based bands fed as RGB, e.g. 1,2,3 or 4 (default: first three).")]
MinValid = Annotated[float, typer.Option("--min-valid", help="Skip tiles with a smaller fraction of valid (non-nodata) pixels.")]

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Model folder or hub id (default: the bundled demo model).")]
BackendOpt = Annotated[str, typer.Option("--backend", help="hf (transformers, local) or openai (an OpenAI-compatible server: vLLM, SGLang, TGI).")]
BaseUrl = Annotated[Optional[str], typer.Option("--base-url", help="Server URL for --backend openai, e.g. http://localhost:8000/v1.")]
ApiKeyEnv = Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the API key for --backend openai.")]
Concurrency = Annotated[int, typer.Option("--concurrency", help="Requests in flight for --backend openai.")]
BoxConventionOpt = Annotated[Optional[str], typer.Option("--box-convention", help="How the model writes boxes: pixel, norm1000, norm100 or norm1 (default: read from the model folder).")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Tiles per model call.")]
MaxNewTokens = Annotated[int, typer.Option("--max-new-tokens", help="Most tokens the model may write per tile.")]
RepetitionPenalty = Annotated[Optional[float], typer.Option("--repetition-penalty", help="Decoding repetition penalty (default: the model's own, from its geocot.json, else 1.1 as the paper's chat script).", show_default=False)]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:1, mps.")]
Dtype = Annotated[str, typer.Option("--dtype", help="auto, float32, bfloat16 or float16.")]
TrustRemoteCode = Annotated[bool, typer.Option("--trust-remote-code", help="Allow a model folder's own Python code to run (off by default).")]
ClassesOpt = Annotated[Optional[str], typer.Option("--classes", help="Comma-separated object classes, e.g. ship,plane.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its journal (<out>.journal.jsonl).")]
JournalOpt = Annotated[Optional[Path], typer.Option("--journal", help="Journal file (default: <out>.journal.jsonl beside --out; none without --out).")]


def _check_nms_iou(value: float) -> float:
    """Reject a bad --nms-iou while parsing, before any model time is spent."""
    if not 0.0 < value <= 1.0:
        raise typer.BadParameter(f"{value} must be in (0, 1]; try 0.5")
    return value


NmsIou = Annotated[float, typer.Option("--nms-iou", callback=_check_nms_iou, help="IoU above which boxes from overlapping tiles are one object.")]
Threads = Annotated[Optional[int], typer.Option(
    "--threads", min=1, show_default=False,
    help="Threads for the model (torch) and for GDAL's block decoding (GDAL_NUM_THREADS) (default: torch's "
         "own, all cores; GDAL's, one).")]
Strict = Annotated[bool, typer.Option("--strict", help="Exit 3 when the model failed on any tile (the output is still written without those tiles).")]


def parse_bands(text: str | None) -> tuple[int, ...] | None:
    """``"1,2,3"`` -> ``(1, 2, 3)``; a ConfigError names a value that is not a band number.

    >>> parse_bands("4,3,2"), parse_bands(None)
    ((4, 3, 2), None)
    """
    from ..errors import ConfigError

    if text is None or not text.strip():
        return None
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise ConfigError(f"--bands {text!r} must be 1-based band numbers separated by commas, e.g. 1,2,3") from None


def parse_classes(text: str | None) -> list[str] | None:
    """``"ship, plane"`` -> ``['ship', 'plane']``.

    >>> parse_classes(" ship, storage tank ,")
    ['ship', 'storage tank']
    """
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    return names or None
