"""Cut large annotated images into model-sized patches (``geocot data split``), as the paper did with
DOTA (800 x 800 patches).

The patch grid is the one geocot tiles scenes with: windows of ``tile`` pixels every ``tile -
overlap`` pixels; the last row and column are shifted back to end at the image edge, so every pixel
lies in some patch and all patches are full size (an image smaller than a patch gives one patch, the
whole image). Each box is clipped to each patch; a clipped box is kept when at least ``min_keep`` of
its area is inside (DOTA's devkit uses 0.7 for its own split; 0.5 here by default), else dropped.
GeoTIFF sources give GeoTIFF patches that keep the CRS, dtype, nodata and the patch's own
geotransform (``rasterio.windows.transform``); other sources (PNG, JPEG, ...) give PNG patches.

Patches are named ``<stem>_x<col0>_y<row0>.<ext>`` (their pixel offset in the source) and written to
``OUT/images/``; their task samples (:func:`geocot_cli.data.tasks.object_samples`) go to
``OUT/samples.jsonl``, ready for ``geocot data backfill --format geocot``.

>>> [(w.col_off, w.row_off, w.width) for _, _, w in patch_windows(1000, 700, 800, 160)]
[(0, 0, 800), (200, 0, 800)]
>>> clip_box((780, 10, 840, 30), 640, 0, 800, 800, 0.5)
(140.0, 10.0, 200.0, 30.0)
>>> clip_box((790, 10, 840, 30), 0, 0, 800, 800, 0.5) is None
True
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from ..errors import ConfigError, DataError, OutputError
from ..types import PixelBox
from ._common import IMAGE_EXTENSIONS
from .readers import read_objects
from .schema import Sample, write_samples
from .tasks import OBJECT_TASKS, ImageObjects, object_samples, parse_tasks

__all__ = [
    "SplitOptions",
    "SplitReport",
    "clip_box",
    "patch_windows",
    "split_dataset",
    "split_image",
]

_TIFF = {".tif", ".tiff"}


@dataclass(frozen=True)
class SplitOptions:
    """How images are cut: ``tile`` side, ``overlap`` between neighbours, ``min_keep`` fraction of a
    box's area that must stay inside a patch, ``tasks`` written per patch, ``keep_empty`` patches
    without objects."""

    tile: int = 800
    overlap: int = 160
    min_keep: float = 0.5
    tasks: tuple[str, ...] = OBJECT_TASKS
    keep_empty: bool = True

    def __post_init__(self) -> None:
        if self.tile <= 0:
            raise ConfigError(f"tile ({self.tile}) must be a positive number of pixels; try --tile 800")
        if not 0 <= self.overlap < self.tile:
            raise ConfigError(f"overlap ({self.overlap}) must be >= 0 and smaller than tile ({self.tile}); try --overlap {self.tile // 5}")
        if not 0.0 < self.min_keep <= 1.0:
            raise ConfigError(f"min_keep ({self.min_keep}) must be in (0, 1]; try --min-keep 0.5")
        object.__setattr__(self, "tasks", parse_tasks(self.tasks, OBJECT_TASKS))


@dataclass(frozen=True)
class SplitReport:
    """What a split wrote."""

    out: Path
    samples_path: Path | None
    images: int
    patches: int
    samples: int
    boxes_kept: int
    boxes_dropped: int


def _starts(n: int, tile: int, stride: int) -> list[int]:
    if n <= tile:
        return [0]
    starts = list(range(0, n - tile + 1, stride))
    if starts[-1] + tile < n:
        starts.append(n - tile)
    return starts


def patch_windows(width: int, height: int, tile: int = 800, overlap: int = 160) -> list[tuple[int, int, Window]]:
    """``(row, col, Window)`` of every patch, row by row (see the module docstring)."""
    stride = tile - overlap
    out = []
    for r, y in enumerate(_starts(height, tile, stride)):
        for c, x in enumerate(_starts(width, tile, stride)):
            out.append((r, c, Window(x, y, min(tile, width - x), min(tile, height - y))))
    return out


def clip_box(box: Sequence[float], x0: float, y0: float, w: float, h: float, min_keep: float) -> PixelBox | None:
    """``box`` clipped to the patch at ``(x0, y0)`` of size ``w x h``, in patch pixels; ``None`` when
    less than ``min_keep`` of its area is inside."""
    bx1, by1, bx2, by2 = (float(v) for v in box)
    ix1, iy1 = max(bx1, x0), max(by1, y0)
    ix2, iy2 = min(bx2, x0 + w), min(by2, y0 + h)
    if ix2 <= ix1 or iy2 <= iy1:
        return None
    area = (bx2 - bx1) * (by2 - by1)
    if area <= 0 or (ix2 - ix1) * (iy2 - iy1) / area < min_keep:
        return None
    return (ix1 - x0, iy1 - y0, ix2 - x0, iy2 - y0)


def _write_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    if arr.dtype != np.uint8:
        raise DataError(f"{path.name}: only 8-bit images can be written as PNG patches; convert the source to GeoTIFF")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(arr.shape[0])
    if mode is None:
        raise DataError(f"{path.name}: {arr.shape[0]}-band image cannot be a PNG; use a GeoTIFF source")
    data = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, 2)
    Image.fromarray(np.ascontiguousarray(data), mode).save(path, compress_level=1)


def split_image(objs: ImageObjects | Path, out_dir: Path, options: SplitOptions = SplitOptions()
                ) -> tuple[list[ImageObjects], int]:
    """Cut one image into patches in ``out_dir``; returns the patches' objects and the boxes dropped.

    ``objs`` may be a bare image path (no annotations): the patches then carry no objects.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.windows import transform as window_transform

    if isinstance(objs, (str, os.PathLike)):
        objs = ImageObjects(Path(objs), (0, 0))
    src_path = Path(objs.image)
    tiff = src_path.suffix.lower() in _TIFF
    out: list[ImageObjects] = []
    dropped = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            ds = rasterio.open(src_path)
        except Exception as e:
            raise DataError(f"cannot open image {src_path}: {e}") from None
        with ds:
            whole = None if tiff else ds.read()
            profile = ds.profile.copy()
            profile.update(driver="GTiff", tiled=False)
            for k in ("blockxsize", "blockysize"):
                profile.pop(k, None)
            for _, _, win in patch_windows(ds.width, ds.height, options.tile, options.overlap):
                x0, y0, w, h = int(win.col_off), int(win.row_off), int(win.width), int(win.height)
                name = f"{src_path.stem}_x{x0}_y{y0}{'.tif' if tiff else '.png'}"
                boxes: list[PixelBox] = []
                labels: list[str] = []
                for b, l in zip(objs.boxes, objs.labels):
                    c = clip_box(b, x0, y0, w, h, options.min_keep)
                    inside = b[0] < x0 + w and b[2] > x0 and b[1] < y0 + h and b[3] > y0
                    if c is None:
                        dropped += inside
                        continue
                    boxes.append(c)
                    labels.append(l)
                if not boxes and objs.boxes and not options.keep_empty:
                    continue
                path = out_dir / name
                if tiff:
                    arr = ds.read(window=win)
                    profile.update(width=w, height=h, transform=window_transform(win, ds.transform))
                    with rasterio.open(path, "w", **profile) as dst:
                        dst.write(arr)
                else:
                    _write_png(path, whole[:, y0:y0 + h, x0:x0 + w])  # type: ignore[index]
                meta = {**objs.meta, "source_image": src_path.name, "offset": [x0, y0]}
                out.append(ImageObjects(path.resolve(), (w, h), tuple(boxes), tuple(labels),
                                        (False,) * len(boxes), meta))
    return out, dropped


def _image_files(images: Path) -> list[Path]:
    if images.is_file():
        return [images]
    if not images.is_dir():
        raise DataError(f"images {images} not found; pass an image file or folder with --images")
    exts = {e.lower() for e in IMAGE_EXTENSIONS}
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in exts)
    if not files:
        raise DataError(f"no images in {images}; supported: {', '.join(sorted(exts))}")
    return files


def split_dataset(
    out: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    labels: Path | None = None,
    images: Path | None = None,
    options: SplitOptions = SplitOptions(),
    classes: str | Sequence[str] | None = None,
    skip_difficult: bool = False,
    overwrite: bool = False,
) -> SplitReport:
    """Split an annotated dataset (``fmt`` + ``labels``) or bare images (``images`` only) into ``out``."""
    folder = Path(out)
    img_dir = folder / "images"
    samples_path = folder / "samples.jsonl"
    if (samples_path.exists() or (img_dir.is_dir() and any(img_dir.iterdir()))) and not overwrite:
        raise OutputError(f"{folder} already holds a split; pass --overwrite or choose another folder")
    if labels is None and images is None:
        raise ConfigError("nothing to split: pass --format and --labels (annotated data) or --images (bare images)")
    if labels is not None and fmt is None:
        raise ConfigError("--labels needs --format (dota, voc, coco or geocot)")
    try:
        img_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {img_dir}: {e.strerror or e}") from None
    kept = dropped = patches = n_images = 0
    samples: list[Sample] = []
    if labels is None:
        for f in _image_files(Path(images)):  # type: ignore[arg-type]
            parts, _ = split_image(f, img_dir, options)
            patches += len(parts)
            n_images += 1
        return SplitReport(folder, None, n_images, patches, 0, 0, 0)
    objs, names = read_objects(fmt, Path(labels), images, classes=classes, skip_difficult=skip_difficult)  # type: ignore[arg-type]
    for o in objs:
        parts, d = split_image(o, img_dir, options)
        n_images += 1
        dropped += d
        patches += len(parts)
        for p in parts:
            kept += len(p.boxes)
            samples.extend(object_samples(p, tasks=options.tasks, all_classes=names))
    write_samples(samples_path, samples)
    return SplitReport(folder, samples_path, n_images, patches, len(samples), kept, dropped)
