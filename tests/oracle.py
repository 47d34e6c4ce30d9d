"""A scripted 'perfect' model for pipeline tests: it sees bright squares and cites each exactly.

Objects are drawn with a unique grey value each (>= 200) on a darker background, so the oracle
finds every object's pixel box in a tile without any image-processing library and writes the
canonical Geo-CoT trace for it. Tests then know the exact boxes a correct pipeline must produce.
"""

from __future__ import annotations

import numpy as np

from geocot_cli.boxes import format_box, format_boxes


def object_boxes(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Pixel-edge boxes (x1, y1, x2, y2) of every unique value >= 200 in band 0, sorted."""
    band = image[..., 0] if image.ndim == 3 else image
    boxes = []
    for value in sorted(np.unique(band[band >= 200])):
        ys, xs = np.nonzero(band == value)
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    return sorted(boxes, key=lambda b: (b[1], b[0]))


def oracle_trace(image, prompt: str, label: str = "ship") -> str:
    arr = np.asarray(image)
    boxes = object_boxes(arr)
    lines = [f"{i}. {label} {format_box(b)}: a bright {label} on dark water." for i, b in enumerate(boxes, 1)]
    if "how many" in prompt.lower():
        answer = str(len(boxes))
    else:
        answer = format_boxes(boxes)
    grounding = "\n".join(lines) if lines else "No ship is visible."
    return (
        f"<think>Planning: I will look for every {label} in the image.\nGrounding:\n{grounding}\n"
        f"Synthesis: I grounded {len(boxes)} {label}s.</think>\n<answer>{answer}</answer>"
    )


def draw_scene(width: int, height: int, objects: list[tuple[int, int, int, int]], background: int = 60) -> np.ndarray:
    """A (3, height, width) uint8 array with each object box filled with its own value (200, 201, ...)."""
    data = np.full((3, height, width), background, dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(objects):
        data[:, y1:y2, x1:x2] = 200 + i
    return data


def bright_boxes(image, threshold: int = 150, min_pixels: int = 4) -> list[tuple[int, int, int, int]]:
    """Pixel-edge boxes of the 8-connected regions of band 0 >= ``threshold`` holding >= ``min_pixels`` pixels.

    Unlike :func:`object_boxes` this needs no unique grey values, so it also works on a decimated
    (averaged) image: an object that averages below the threshold, or covers fewer than
    ``min_pixels`` bright pixels, is not seen, as a real model misses objects a few pixels wide.
    """
    from rasterio.features import shapes
    from shapely.geometry import shape

    arr = np.asarray(image)
    band = arr[..., 0] if arr.ndim == 3 else arr
    mask = band >= threshold
    if not mask.any():
        return []
    boxes = []
    for geom, _ in shapes(mask.astype(np.uint8), mask=mask, connectivity=8):
        poly = shape(geom)
        if poly.area >= min_pixels:
            x1, y1, x2, y2 = (int(round(v)) for v in poly.bounds)
            boxes.append((x1, y1, x2, y2))
    return sorted(boxes, key=lambda b: (b[1], b[0]))


def sight_trace(image, prompt: str, *, label: str = "ship", threshold: int = 150, min_pixels: int = 4) -> str:
    """A scripted model with limited sight: cites every bright region of at least ``min_pixels`` pixels."""
    boxes = bright_boxes(image, threshold, min_pixels)
    lines = [f"{i}. {label} {format_box(b)}: a bright {label}." for i, b in enumerate(boxes, 1)]
    answer = str(len(boxes)) if "how many" in prompt.lower() else format_boxes(boxes)
    grounding = "\n".join(lines) if lines else f"No {label} is visible."
    return (
        f"<think>Planning: I will look for every {label}.\nGrounding:\n{grounding}\n"
        f"Synthesis: I grounded {len(boxes)} {label}s.</think>\n<answer>{answer}</answer>"
    )


class Interrupt:
    """A scripted oracle that raises KeyboardInterrupt (Ctrl-C) once it has answered ``after`` tiles."""

    box_convention = "pixel"
    name = "scripted"

    def __init__(self, after: int):
        self.after, self.calls = after, 0

    def generate(self, images, prompts):
        if self.calls + len(images) > self.after:
            raise KeyboardInterrupt
        self.calls += len(images)
        return [oracle_trace(im, p) for im, p in zip(images, prompts)]
