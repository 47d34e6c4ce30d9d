"""Box conventions: the one place where model coordinates become pixels and back.

A model writes ``[x1,y1,x2,y2]`` in its own convention (see :data:`geocot_cli.types.BOX_CONVENTIONS`):
pixels of the image as fed, or values normalised to 0-1000, 0-100 or 0-1 of the image's width and
height. Everything inside geocot works in pixels of the image as fed; conversion happens here only.

>>> to_pixels((100, 200, 500, 1000), "norm1000", (800, 400))
(80.0, 80.0, 400.0, 400.0)
>>> from_pixels((80, 80, 400, 400), "norm1000", (800, 400))
(100, 200, 500, 1000)
>>> format_box((12.4, 7.6, 30.0, 41.2))
'[12,8,30,41]'
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ConfigError
from .types import BOX_CONVENTIONS, ImageSize, PixelBox

__all__ = ["check_convention", "format_box", "format_boxes", "from_pixels", "to_pixels"]

_SCALE = {"norm1000": 1000.0, "norm100": 100.0, "norm1": 1.0}


def check_convention(convention: str) -> str:
    """Return ``convention`` if it is known, else raise :class:`ConfigError`.

    >>> check_convention("pixel")
    'pixel'
    """
    if convention not in BOX_CONVENTIONS:
        raise ConfigError(
            f"unknown box convention {convention!r}; use one of {', '.join(BOX_CONVENTIONS)}"
        )
    return convention


def to_pixels(box: Sequence[float], convention: str, image_size: ImageSize) -> PixelBox:
    """Convert a box written in ``convention`` to pixels of an image of ``image_size`` (w, h)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if check_convention(convention) == "pixel":
        return (x1, y1, x2, y2)
    s = _SCALE[convention]
    w, h = image_size
    return (x1 * w / s, y1 * h / s, x2 * w / s, y2 * h / s)


def from_pixels(box: Sequence[float], convention: str, image_size: ImageSize) -> tuple:
    """Convert a pixel box to ``convention``: integers for pixel / 0-1000 / 0-100, 3 decimals for 0-1."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if check_convention(convention) == "pixel":
        return tuple(int(round(v)) for v in (x1, y1, x2, y2))
    s = _SCALE[convention]
    w, h = image_size
    vals = (x1 * s / w, y1 * s / h, x2 * s / w, y2 * s / h)
    if convention == "norm1":
        return tuple(round(v, 3) for v in vals)
    return tuple(int(round(v)) for v in vals)


def format_box(box: Sequence[float]) -> str:
    """Write a box as the model does, ``[x1,y1,x2,y2]``; integers unless a value is fractional in (0, 1)."""
    vals = [float(v) for v in box]
    if all(0.0 <= v <= 1.0 for v in vals) and any(v != int(v) for v in vals):
        return "[" + ",".join(f"{v:.3f}".rstrip("0").rstrip(".") or "0" for v in vals) + "]"
    return "[" + ",".join(str(int(round(v))) for v in vals) + "]"


def format_boxes(boxes: Sequence[Sequence[float]]) -> str:
    """Write a detection answer ``[[x1,y1,x2,y2], ...]``.

    >>> format_boxes([(1, 2, 3, 4), (5, 6, 7, 8)])
    '[[1,2,3,4],[5,6,7,8]]'
    >>> format_boxes([])
    '[]'
    """
    return "[" + ",".join(format_box(b) for b in boxes) + "]"
