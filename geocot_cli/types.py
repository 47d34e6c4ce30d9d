"""The small vocabulary shared by every module.

>>> TASKS
('vqa', 'caption', 'classify', 'ground', 'count', 'detect')
>>> BOX_CONVENTIONS
('pixel', 'norm1000', 'norm100', 'norm1')
"""

from __future__ import annotations

from typing import Literal

__all__ = ["BOX_CONVENTIONS", "TASKS", "BoxConvention", "ImageSize", "PixelBox", "TaskName"]

#: An axis-aligned box ``(x1, y1, x2, y2)`` in pixels (x right, y down), x1 <= x2, y1 <= y2.
PixelBox = tuple[float, float, float, float]

#: ``(width, height)`` in pixels of an image as fed to a model.
ImageSize = tuple[int, int]

#: The six tasks of the paper.
TaskName = Literal["vqa", "caption", "classify", "ground", "count", "detect"]
TASKS: tuple[str, ...] = ("vqa", "caption", "classify", "ground", "count", "detect")

#: How a model writes box coordinates: pixels of the image as fed, or normalised to 0-1000,
#: 0-100 or 0-1 of its width and height. A per-model setting, never a guess.
BoxConvention = Literal["pixel", "norm1000", "norm100", "norm1"]
BOX_CONVENTIONS: tuple[str, ...] = ("pixel", "norm1000", "norm100", "norm1")
