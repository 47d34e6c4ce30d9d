"""A picture of an answer: the scene with every cited box drawn and labelled, for a glance.

:func:`draw_overlay` reads the scene once, decimated so its long side is at most ``max_side``
pixels (small scenes are enlarged with nearest-neighbour so a 64 px tile is still legible), draws
each evidence box of the answer in a colour per class with its label, outlines the tiles the
model failed on, and puts the question and the answer in a strip along the top. PNG or JPEG, by
the extension; written to a temporary file and renamed, so a failed run leaves no half picture.

>>> check_overlay("out.png")
PosixPath('out.png')
>>> check_overlay("out.tif")
Traceback (most recent call last):
...
geocot_cli.errors.OutputError: overlay out.tif must end in .png, .jpg or .jpeg
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OutputError

if TYPE_CHECKING:  # pragma: no cover
    from ..scene import Scene
    from ..tasks import SceneAnswer

__all__ = ["OVERLAY_FORMATS", "check_overlay", "draw_overlay", "overlay_image"]

#: Extension -> PIL format.
OVERLAY_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}

#: One colour per class, in the order classes first appear (then around again).
PALETTE = (
    (255, 59, 48), (0, 199, 190), (255, 204, 0), (175, 82, 222), (52, 199, 89),
    (255, 149, 0), (90, 200, 250), (255, 45, 85), (162, 132, 94), (0, 122, 255),
)


def check_overlay(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Refuse, before any model time, an overlay path that could not be written at the end."""
    from .vector import check_writable

    p = Path(path)
    if p.suffix.lower() not in OVERLAY_FORMATS:
        raise OutputError(f"overlay {p} must end in .png, .jpg or .jpeg")
    check_writable(p, overwrite)
    return p


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _colours(labels: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for label in labels:
        if label not in out:
            out[label] = PALETTE[len(out) % len(PALETTE)]
    return out


def _clip(text: str, font, width: float, draw) -> str:
    """``text`` on one line, cut with an ellipsis to fit ``width`` pixels."""
    text = " ".join(str(text).split())
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def overlay_image(answer: SceneAnswer, scene: Scene, *, max_side: int = 2048, min_side: int = 512,
                  show_tiles: bool = False):
    """The overlay as a PIL image (see the module docstring).

    ``show_tiles`` also outlines every tile of the run, thinly. Boxes are drawn from their scene
    pixel boxes, so rotated or south-up rasters show the image as stored.
    """
    from PIL import Image, ImageDraw

    from ..overview import read_overview

    if max_side < 64 or min_side < 1:
        raise OutputError(f"overlay sides must be positive (max_side >= 64); got {max_side}, {min_side}")
    long_side = max(scene.width, scene.height)
    pixels, _ = read_overview(scene, min(long_side, max_side))
    picture = Image.fromarray(pixels)
    min_side = min(min_side, max_side)
    if max(picture.size) < min_side:
        k = max(1, min_side // max(picture.size))
        picture = picture.resize((picture.width * k, picture.height * k), Image.Resampling.NEAREST)
    sx, sy = picture.width / scene.width, picture.height / scene.height
    side = max(picture.size)
    line = max(2, round(side / 400))
    font = _font(max(12, round(side / 55)))
    header_font = _font(max(13, round(side / 45)))

    draw = ImageDraw.Draw(picture)
    for t in answer.tiles:
        if t.error is None and not show_tiles:
            continue
        w = t.tile.window
        rect = [w.col_off * sx, w.row_off * sy, (w.col_off + w.width) * sx - 1, (w.row_off + w.height) * sy - 1]
        draw.rectangle(rect, outline=(255, 0, 0) if t.error is not None else (200, 200, 200),
                       width=line if t.error is not None else 1)

    colours = _colours([f.label or "object" for f in answer.evidence])
    for f in answer.evidence:
        label = f.label or "object"
        colour = colours[label]
        x1, y1, x2, y2 = f.scene_box
        rect = [x1 * sx, y1 * sy, max(x1 * sx + 1, x2 * sx - 1), max(y1 * sy + 1, y2 * sy - 1)]
        draw.rectangle(rect, outline=colour, width=line)
        tx, ty = rect[0], rect[1]
        box = draw.textbbox((0, 0), label, font=font)
        tw, th = box[2] - box[0] + 4, box[3] - box[1] + 4
        ty = ty - th if ty - th >= 0 else rect[3] + 1  # above the box, else below
        tx = min(max(0, tx), max(0, picture.width - tw))
        draw.rectangle([tx, ty, tx + tw, ty + th], fill=colour)
        draw.text((tx + 2, ty + 2 - box[1]), label, fill=(0, 0, 0), font=font)

    # the question and the answer, in a strip above the picture
    lines = [f"Q: {answer.question}" if answer.question else f"Task: {answer.task}", f"A: {answer.answer}",
             f"{len(answer.evidence)} cited boxes, {answer.tiles_processed} of {answer.tiles_total} tiles"
             + (f", {answer.tiles_failed} failed (red)" if answer.tiles_failed else "")]
    hb = draw.textbbox((0, 0), "Ag", font=header_font)
    lh = hb[3] - hb[1] + 6
    strip = Image.new("RGB", (picture.width, lh * len(lines) + 8), (20, 20, 20))
    sdraw = ImageDraw.Draw(strip)
    for i, text in enumerate(lines):
        sdraw.text((6, 4 + i * lh - hb[1]), _clip(text, header_font, picture.width - 12, sdraw),
                   fill=(240, 240, 240), font=header_font)
    out = Image.new("RGB", (picture.width, picture.height + strip.height))
    out.paste(strip, (0, 0))
    out.paste(picture, (0, strip.height))
    return out


def draw_overlay(path: str | os.PathLike[str], answer: SceneAnswer, scene: Scene, *, overwrite: bool = False,
                 max_side: int = 2048, min_side: int = 512, show_tiles: bool = False) -> Path:
    """Write the overlay of ``answer`` on ``scene`` to ``path`` (.png, .jpg); returns the path."""
    target = check_overlay(path, overwrite=overwrite)
    image = overlay_image(answer, scene, max_side=max_side, min_side=min_side, show_tiles=show_tiles)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            image.save(fh, format=OVERLAY_FORMATS[target.suffix.lower()])
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
