"""``geocot detect`` and ``geocot ask``: a question about a whole scene, answered from tile evidence."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ._common import run_scene_task
from ._options import (
    ApiKeyEnv, BackendOpt, BandsOpt, BaseUrl, BatchSize, BoxConventionOpt, ClassesOpt, Concurrency,
    Device, Dtype, JsonOpt, MaxNewTokens, MinValid, ModelOpt, NmsIou, Out, Overlap, Overwrite,
    RepetitionPenalty, ScenePath, TileSize, TrustRemoteCode, JournalOpt, Resume,
)

__all__ = ["ask", "detect"]


def detect(
    scene: ScenePath,
    out: Out = None,
    classes: ClassesOpt = None,
    overwrite: Overwrite = False,
    json_out: JsonOpt = False,
    tile: TileSize = 800,
    overlap: Overlap = 160,
    bands: BandsOpt = None,
    min_valid: MinValid = 0.05,
    nms_iou: NmsIou = 0.5,
    model: ModelOpt = None,
    backend: BackendOpt = "hf",
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    concurrency: Concurrency = 4,
    box_convention: BoxConventionOpt = None,
    batch_size: BatchSize = 4,
    max_new_tokens: MaxNewTokens = 1024,
    repetition_penalty: RepetitionPenalty = 1.1,
    device: Device = "auto",
    dtype: Dtype = "auto",
    trust_remote_code: TrustRemoteCode = False,
    resume: Resume = False,
    journal: JournalOpt = None,
) -> None:
    """Detect objects over a whole scene; every grounded box becomes a georeferenced polygon."""
    run_scene_task(
        scene, "detect", question=None, classes=classes, out=out, overwrite=overwrite, json_out=json_out,
        tile=tile, overlap=overlap, bands=bands, min_valid=min_valid, nms_iou=nms_iou,
        backend_kw=dict(model=model, backend=backend, base_url=base_url, api_key_env=api_key_env,
                        concurrency=concurrency, box_convention=box_convention, device=device, dtype=dtype,
                        trust_remote_code=trust_remote_code, batch_size=batch_size,
                        max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty),
        resume=resume, journal=journal,
    )


def ask(
    scene: ScenePath,
    question: Annotated[str, typer.Argument(help='The question, e.g. "how many bridges?".', show_default=False)],
    task: Annotated[Optional[str], typer.Option("--task", help="Force a task: vqa, caption, classify, ground, count, detect (default: routed from the question).")] = None,
    out: Out = None,
    classes: ClassesOpt = None,
    overwrite: Overwrite = False,
    json_out: JsonOpt = False,
    tile: TileSize = 800,
    overlap: Overlap = 160,
    bands: BandsOpt = None,
    min_valid: MinValid = 0.05,
    nms_iou: NmsIou = 0.5,
    model: ModelOpt = None,
    backend: BackendOpt = "hf",
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    concurrency: Concurrency = 4,
    box_convention: BoxConventionOpt = None,
    batch_size: BatchSize = 4,
    max_new_tokens: MaxNewTokens = 1024,
    repetition_penalty: RepetitionPenalty = 1.1,
    device: Device = "auto",
    dtype: Dtype = "auto",
    trust_remote_code: TrustRemoteCode = False,
    resume: Resume = False,
    journal: JournalOpt = None,
) -> None:
    """Ask a question about a whole scene; the answer comes with the evidence behind it."""
    from ..tasks import route_question

    run_scene_task(
        scene, task or route_question(question), question=question, classes=classes, out=out,
        overwrite=overwrite, json_out=json_out, tile=tile, overlap=overlap, bands=bands,
        min_valid=min_valid, nms_iou=nms_iou,
        backend_kw=dict(model=model, backend=backend, base_url=base_url, api_key_env=api_key_env,
                        concurrency=concurrency, box_convention=box_convention, device=device, dtype=dtype,
                        trust_remote_code=trust_remote_code, batch_size=batch_size,
                        max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty),
        resume=resume, journal=journal,
    )
