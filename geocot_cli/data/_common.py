"""Helpers shared by the dataset readers: find an image, read its size cheaply, decode JSON labels."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "find_image", "image_size", "load_json", "within"]

#: Extensions tried, in order, when a label file names an image by its stem only.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".PNG", ".JPG", ".TIF")


def within(root: Path | str, path: Path | str, *, follow_links: bool = True) -> bool:
    """True when ``path`` lies inside ``root`` as written (no ``..`` out) and, with ``follow_links``,
    also once symbolic links are followed.

    >>> within("/data", "/data/img/a.png"), within("/data", "/data/../etc/passwd")
    (True, False)
    """
    if "\x00" in str(root) or "\x00" in str(path):
        return False
    for norm in (os.path.abspath, os.path.realpath) if follow_links else (os.path.abspath,):
        top, full = norm(root), norm(path)
        if full != top and not full.startswith(top.rstrip(os.sep) + os.sep):
            return False
    return True


def find_image(images: Path, name: str, *, label_file: Path | str | None = None) -> Path:
    """The image called ``name`` (a file name, or a stem tried with :data:`IMAGE_EXTENSIONS`) in ``images``.

    A name that leads out of ``images`` (``..``, an absolute path) or a file there that is a
    symbolic link to somewhere outside it is refused: label files cannot point at other files.
    """
    where = f" (named by {label_file})" if label_file else ""
    if not within(images, images / name, follow_links=False):
        raise DataError(
            f"image {name!r}{where} leads out of the image folder {images}; "
            "image names in label files must stay inside it"
        )

    def confined(p: Path) -> Path:
        if not within(images, p):
            raise DataError(
                f"image {p.name!r}{where} is a link to {os.path.realpath(p)}, outside the image folder "
                f"{images}; copy the image in, or pass its real folder with --images"
            )
        return p

    direct = images / name
    if direct.suffix and direct.is_file():
        return confined(direct)
    stem = Path(name).stem if Path(name).suffix.lower() in {e.lower() for e in IMAGE_EXTENSIONS} else name
    for ext in IMAGE_EXTENSIONS:
        p = images / f"{stem}{ext}"
        if p.is_file():
            return confined(p)
    raise DataError(
        f"image {name!r}{where} not found in {images}; pass the image folder with --images"
    )


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image from its header (PIL, else rasterio for GeoTIFFs)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except FileNotFoundError:
        raise DataError(f"image {path} not found; check the image folder (--images)") from None
    except Exception:
        pass
    try:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                return int(ds.width), int(ds.height)
    except Exception as e:
        raise DataError(f"cannot read the size of image {path}: {e}; is it an image?") from None


def load_json(path: Path, what: str) -> object:
    """Decode a JSON label file; a syntax error -> :class:`DataError` naming the file and line."""
    import json

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{what} file {path} not found; pass it with --labels") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; pass the {what} JSON file with --labels") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
