"""``geocot export``: rebuild a run's outputs from its journal, without the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import render_answer, user_errors
from ._options import JsonOpt, NmsIou, Out, Overwrite


def export(
    journal: Annotated[Path, typer.Argument(help="A run journal (<out>.journal.jsonl).", show_default=False)],
    out: Out = None,
    overwrite: Overwrite = False,
    json_out: JsonOpt = False,
    nms_iou: NmsIou = 0.5,
) -> None:
    """Rebuild the answer and the GIS output of a run from its journal (no model, no pixels read)."""
    with user_errors():
        from ..api import export_journal

        answer, scene = export_journal(journal, out=out, overwrite=overwrite, nms_iou=nms_iou)
        render_answer(answer, scene, json_out=json_out, out=out)
