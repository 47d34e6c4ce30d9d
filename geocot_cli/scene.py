"""Open any GDAL raster as a scene: CRS, transform, mask, RGB bands and one scene-level 8-bit stretch.

:func:`open_scene` checks the raster once (path, bands, dtype) and measures the stretch from a
decimated read, so every tile of the scene is mapped to 8 bits the same way. :class:`Scene` is a
frozen value: it keeps the path, not an open file, and opens the raster for each read (or uses a
dataset from :meth:`Scene.open` when many windows are read in a row, as the tiler does).

Masks follow GDAL: a nodata value, an alpha band, an internal mask, and for float rasters any
NaN or infinite value. As in GDAL's dataset mask, a pixel is valid when any chosen band is valid;
masked values are black (0) in the images a scene returns.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.coords import BoundingBox
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window
from shapely.geometry import Polygon

from .errors import BandError, ConfigError, SceneError

__all__ = [
    "CHECK_BLOCKS", "MASK_SOURCES", "NoCRSWarning", "STRETCHES", "Scene", "check_blocks", "open_scene", "sample_blocks",
    "stretch_band",
]

#: Accepted values of ``open_scene(..., stretch=...)``.
STRETCHES: tuple[str, ...] = ("auto", "percentile", "none")

#: Where a scene's validity mask comes from.
MASK_SOURCES: tuple[str, ...] = ("nodata", "alpha", "internal", "nan", "none")

#: Long side, in pixels, of the decimated read that measures the stretch.
STRETCH_SAMPLE = 1024

#: Long side, in pixels, of the decimated mask read behind :meth:`Scene.valid_fraction`.
VALID_SAMPLE = 128

#: Percentiles mapped to 0 and 255 by the percentile stretch.
PERCENTILES = (2.0, 98.0)


#: GDAL's block cache while reading a scene, in MB: bounded, so memory stays flat with scene size
#: (GDAL's own default is 5% of RAM). Tiles are read once each, so a large cache buys nothing.
GDAL_CACHE_MB = 128


class NoCRSWarning(UserWarning):
    """A raster without a CRS: results stay in its pixel (or file) coordinates."""


@dataclass(frozen=True)
class Scene:
    """A raster ready to be tiled: its georeferencing, the bands fed as RGB and their 8-bit stretch.

    ``bands`` are 1-based (one band is repeated to three channels). ``stretch`` holds one
    ``(lo, hi)`` per band, mapped linearly to 0-255; ``None`` means uint8 values pass unchanged.
    ``transform`` is the file's affine (the identity when it has none); ``georeferenced`` is
    False when the raster has no CRS. Build one with :func:`open_scene`.
    """

    path: str
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS | None
    transform: Affine
    nodata: float | None
    bands: tuple[int, ...]
    stretch: tuple[tuple[float, float], ...] | None
    mask_source: str
    georeferenced: bool

    @property
    def window(self) -> Window:
        """The window of the whole scene."""
        return Window(0, 0, self.width, self.height)

    @property
    def corners(self) -> tuple[tuple[float, float], ...]:
        """The four outer corners (top-left, top-right, bottom-right, bottom-left) in scene coordinates."""
        t, w, h = self.transform, self.width, self.height
        return tuple(t @ xy for xy in ((0, 0), (w, 0), (w, h), (0, h)))

    @property
    def bounds(self) -> BoundingBox:
        """``(left, bottom, right, top)`` of the footprint, whatever the rotation or flip."""
        xs, ys = zip(*self.corners)
        return BoundingBox(min(xs), min(ys), max(xs), max(ys))

    @property
    def footprint(self) -> Polygon:
        """The scene outline in its CRS (pixel coordinates without one), through the full affine."""
        return Polygon(self.corners)

    @contextmanager
    def open(self) -> Iterator[DatasetReader]:
        """The raster opened for reading; pass it as ``dataset=`` to read many windows in a row."""
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024):  # an int is bytes
            with _quiet():
                try:
                    dataset = rasterio.open(self.path)
                except RasterioError as exc:
                    raise SceneError(f"{self.path} can no longer be opened ({_gdal_message(exc)})") from exc
            with dataset:
                yield dataset

    def read(
        self, window: Window, *, dataset: DatasetReader | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The window as an 8-bit ``(h, w, 3)`` image and its ``(h, w)`` validity mask.

        The scene stretch is applied; masked pixels are 0. A block that cannot be decoded
        raises :class:`SceneError`.
        """
        if dataset is None:
            with self.open() as ds:
                return self.read(window, dataset=ds)
        h, w = int(window.height), int(window.width)
        try:
            data = dataset.read(list(self.bands), window=window)
            if _uint8_nodata(self.dtype, self.stretch, self.mask_source, self.nodata):
                valid, band_valid = _uint8_nodata_valid(data, int(self.nodata))
            else:
                valid, band_valid = _any_valid(self._band_valid(dataset, data, window=window), (h, w))
        except RasterioError as exc:
            raise self._read_error(window, exc) from exc
        bands = _to_uint8(data, self.stretch, band_valid)
        return _interleave(bands), valid

    def valid_fraction(self, window: Window, *, dataset: DatasetReader | None = None) -> float:
        """Estimated share of valid pixels in ``window``, from a mask read of at most 128 px a side.

        1.0 without any mask (nothing is read). The mask is read decimated (from overviews when
        the file has them), so nodata tiles are skipped without reading their pixels.
        """
        if self.mask_source == "none":
            return 1.0
        if dataset is None:
            with self.open() as ds:
                return self.valid_fraction(window, dataset=ds)
        out_shape = _decimated_shape(int(window.height), int(window.width), VALID_SAMPLE)
        if 0 in out_shape:
            return 0.0
        try:
            band_valid = self._band_valid(dataset, None, window=window, out_shape=out_shape)
        except RasterioError as exc:
            raise self._read_error(window, exc) from exc
        if band_valid is None:
            return 1.0
        return float(band_valid.any(axis=0).mean())

    def _band_valid(
        self,
        dataset: DatasetReader,
        data: np.ndarray | None,
        *,
        window: Window | None = None,
        out_shape: tuple[int, int] | None = None,
    ) -> np.ndarray | None:
        """Per-band validity ``(k, h, w)`` of ``data`` (read here when None), or None: all valid."""
        return _band_valid(
            dataset, self.bands, self.mask_source, self.nodata, self.dtype, data, window, out_shape
        )

    def _read_error(self, window: Window, exc: Exception) -> SceneError:
        row, col = int(window.row_off), int(window.col_off)
        return SceneError(
            f"{self.path}: pixels at rows {row}-{row + int(window.height) - 1}, columns "
            f"{col}-{col + int(window.width) - 1} cannot be read ({_gdal_message(exc)}); the file "
            f"is damaged: check it with `gdalinfo -checksum {self.path}` and re-create or re-download it"
        )


def open_scene(
    path: str | os.PathLike[str], bands: Sequence[int] | None = None, stretch: str = "auto"
) -> Scene:
    """Open a GDAL raster as a :class:`Scene`, choosing RGB bands and measuring the 8-bit stretch.

    ``bands`` are 1-based, one or three of them. Without them: the bands whose colour
    interpretation is red, green and blue, else the first three that are not alpha, else the
    only (non-alpha) band. ``stretch``: ``auto`` (uint8 unchanged, other types percentile),
    ``percentile`` (2nd-98th percentile per band, from a decimated read of valid pixels) or
    ``none`` (values clipped to 0-255). Raises :class:`SceneError` or :class:`BandError`.
    """
    if stretch not in STRETCHES:
        raise ConfigError(f"stretch {stretch!r} is not one of {', '.join(STRETCHES)}; try --stretch auto")
    name = os.fspath(path)
    _check_path(name)
    with _quiet():
        try:
            dataset = rasterio.open(name)
        except RasterioError as exc:
            raise _open_error(name, exc) from exc
    with dataset as ds:
        if ds.width <= 0 or ds.height <= 0:
            raise SceneError(f"{name} is {ds.width} x {ds.height} pixels; pass a raster with pixels in it")
        if ds.count == 0:
            raise SceneError(_no_band_message(name, ds))
        chosen = _choose_bands(name, ds, bands)
        dtypes = {ds.dtypes[b - 1] for b in chosen}
        if any(np.dtype(d).kind == "c" for d in dtypes):
            raise BandError(
                f"{name} bands {_fmt(chosen)} hold complex values; convert them to amplitude first "
                f"(e.g. gdal_translate -ot Float32) or pick other --bands"
            )
        dtype = str(np.result_type(*sorted(dtypes)))
        nodata = None if ds.nodata is None else float(ds.nodata)
        mask_source = _mask_source(ds, chosen, nodata, dtype)
        crs = ds.crs if ds.crs else None
        if crs is None:
            _warn_no_crs(name, ds)
        try:
            lohi = _measure_stretch(ds, chosen, stretch, mask_source, nodata, dtype)
        except RasterioError as exc:
            raise SceneError(
                f"{name}: pixels cannot be read ({_gdal_message(exc)}); the file is damaged: check it "
                f"with `gdalinfo -checksum {name}` and re-create or re-download it"
            ) from exc
        return Scene(
            path=name,
            width=ds.width,
            height=ds.height,
            count=ds.count,
            dtype=dtype,
            crs=crs,
            transform=ds.transform,
            nodata=nodata,
            bands=chosen,
            stretch=lohi,
            mask_source=mask_source,
            georeferenced=crs is not None,
        )


#: Blocks :func:`check_blocks` reads by default (spread over the scene; all of them in a smaller file).
CHECK_BLOCKS = 64
#: Most pixels a side :func:`check_blocks` reads of one block (a striped file's block is a whole strip).
CHECK_SIDE = 1024


def sample_blocks(rows: int, cols: int, most: int = CHECK_BLOCKS) -> list[tuple[int, int]]:
    """``(block row, block col)`` of a sparse sample of a ``rows`` x ``cols`` block grid: every block
    when there are at most ``most``, else ``most`` blocks evenly spaced in row-major order from the
    first to the last (every part of the scene, and every column of a narrow one, gets some).

    >>> sample_blocks(2, 2)
    [(0, 0), (0, 1), (1, 0), (1, 1)]
    >>> s = sample_blocks(40, 40, 16); len(s), s[:3], s[-1]
    (16, [(0, 0), (2, 27), (5, 13)], (39, 39))
    """
    n = rows * cols
    if n <= most:
        return [(r, c) for r in range(rows) for c in range(cols)]
    picks = sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})
    return [divmod(k, cols) for k in picks]


def check_blocks(scene: Scene, most: int = CHECK_BLOCKS) -> int:
    """Read a sparse sample of the scene's blocks at full resolution before any model time is spent.

    A damaged file usually fails on many blocks (or on one in a small file, where every block is
    read); the error is the one a tile read would raise later, naming the pixels and
    ``gdalinfo -checksum``. Returns the number of blocks read. A block the sample misses can still
    fail during the run: the run then stops at that tile, keeping its journal (see
    :func:`geocot_cli.api.answer_scene`). ``bench/bench_check_blocks.py`` measures the cost. A file
    that passed is not read again in the same process while its size and time stamp stay the same.
    """
    try:
        st = os.stat(scene.path)
        stamp: tuple | None = (scene.path, st.st_size, st.st_mtime_ns, scene.bands, most)
    except OSError:  # not a local file (/vsicurl/...): no stamp, checked every time
        stamp = None
    if stamp is not None and stamp in _CHECKED:
        return _CHECKED[stamp]
    n = _check_blocks(scene, most)
    if stamp is not None:
        _CHECKED[stamp] = n
    return n


_CHECKED: dict[tuple, int] = {}  # files checked in this process, by path, size, mtime, bands


def _check_blocks(scene: Scene, most: int) -> int:
    with scene.open() as ds:
        bh, bw = ds.block_shapes[scene.bands[0] - 1]
        bh, bw = max(1, min(bh, scene.height)), max(1, min(bw, scene.width))
        rows, cols = -(-scene.height // bh), -(-scene.width // bw)
        picked = sample_blocks(rows, cols, most)
        for r, c in picked:
            window = Window(c * bw, r * bh, min(bw, scene.width - c * bw), min(bh, scene.height - r * bh))
            # a block of a whole strip or image is decoded by GDAL all the same; the array read stays small
            window = Window(window.col_off, window.row_off, min(window.width, CHECK_SIDE),
                            min(window.height, CHECK_SIDE))
            try:
                ds.read(list(scene.bands), window=window)
            except RasterioError as exc:
                raise scene._read_error(window, exc) from exc
    return len(picked)


def stretch_band(values: np.ndarray, lohi: tuple[float, float]) -> np.ndarray:
    """Map ``values`` linearly from ``lo..hi`` to 0..255 (uint8), clipping outside values.

    A flat band (``lo == hi``) maps lo to 128; NaN maps to 0.

    >>> stretch_band(np.array([0, 500, 1000, 2000]), (0.0, 1000.0)).tolist()
    [0, 128, 255, 255]
    >>> stretch_band(np.array([9, 10, 11]), (10.0, 10.0)).tolist()
    [0, 128, 255]
    """
    lo, hi = lohi
    x = np.asarray(values, dtype=np.float64)
    if hi > lo:
        y = np.clip((x - lo) * (255.0 / (hi - lo)), 0.0, 255.0)
    else:
        y = np.where(x < lo, 0.0, np.where(x > hi, 255.0, 128.0))
    return np.rint(np.nan_to_num(y, nan=0.0)).astype(np.uint8)


# --- helpers -------------------------------------------------------------------------------------


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence rasterio's own warning for rasters without a geotransform (we warn once, ourselves)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


def _fmt(bands: Sequence[int]) -> str:
    return ",".join(str(b) for b in bands)


def _gdal_message(exc: BaseException) -> str:
    """GDAL's own words for a failure (rasterio often chains them as the cause)."""
    cause = exc.__cause__ or exc.__context__
    text = str(cause if cause is not None and str(cause) else exc)
    return text.strip().rstrip(".")


def _check_path(name: str) -> None:
    remote = name.startswith("/vsi") or "://" in name or re.match(r"^[A-Za-z0-9_]{2,}:", name)
    if remote:
        return
    p = Path(name)
    if p.is_dir():
        raise SceneError(
            f"{name} is a directory, not a raster; pass a GeoTIFF (or other GDAL raster) inside it"
        )
    if not p.exists():
        raise SceneError(f"{name} does not exist; check the path (a GeoTIFF or other GDAL raster)")


def _open_error(name: str, exc: RasterioError) -> SceneError:
    msg = _gdal_message(exc)
    if "dimensions" in msg.lower():
        return SceneError(f"{name} has no pixels ({msg}); pass a raster with a non-zero width and height")
    if "not recognized" in msg or "not recognised" in msg:
        return SceneError(
            f"{name} is not a raster GDAL can read; pass a GeoTIFF, COG, JPEG2000, PNG or another GDAL raster"
        )
    return SceneError(
        f"{name} cannot be opened as a raster ({msg}); check it with `gdalinfo {name}` "
        "and re-create or re-download it"
    )


def _no_band_message(name: str, ds: DatasetReader) -> str:
    subs = list(ds.subdatasets)
    if subs:
        return (
            f"{name} holds {len(subs)} subdatasets and no bands of its own; "
            f"open one of them instead, e.g. {subs[0]}"
        )
    return f"{name} has no raster bands; pass a raster with at least one band"


def _choose_bands(name: str, ds: DatasetReader, bands: Sequence[int] | None) -> tuple[int, ...]:
    count = ds.count
    if bands is not None:
        chosen = tuple(int(b) for b in bands)
        example = "1,2,3" if count >= 3 else "1"
        if len(chosen) not in (1, 3):
            raise BandError(
                f"bands {_fmt(chosen)} must be one or three band indexes; {name} has {count} "
                f"band(s), e.g. --bands {example}"
            )
        for b in chosen:
            if not 1 <= b <= count:
                raise BandError(
                    f"band {b} is out of range: {name} has {count} band(s), numbered 1 to {count}; "
                    f"try --bands {example}"
                )
        return chosen
    interp = list(ds.colorinterp)
    usable = [i + 1 for i, ci in enumerate(interp) if ci != ColorInterp.alpha]
    if not usable:
        raise BandError(f"{name} has only an alpha band and no image band; pass a raster with image bands")
    if len(usable) >= 3:
        colours = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        rgb = [interp.index(c) + 1 for c in colours if c in interp]
        if len(rgb) == 3:
            return tuple(rgb)
        return tuple(usable[:3])
    return (usable[0],)


def _mask_source(ds: DatasetReader, bands: tuple[int, ...], nodata: float | None, dtype: str) -> str:
    flags = {f for b in bands for f in ds.mask_flag_enums[b - 1]}
    is_float = np.dtype(dtype).kind == "f"
    if MaskFlags.alpha in flags:
        return "alpha"
    if MaskFlags.per_dataset in flags:
        return "internal"
    if MaskFlags.nodata in flags:
        return "nan" if nodata is not None and math.isnan(nodata) else "nodata"
    return "nan" if is_float else "none"


def _band_valid(
    ds: DatasetReader,
    bands: tuple[int, ...],
    mask_source: str,
    nodata: float | None,
    dtype: str,
    data: np.ndarray | None,
    window: Window | None,
    out_shape: tuple[int, int] | None,
) -> np.ndarray | None:
    """Per-band validity ``(k, h, w)``: GDAL's mask (alpha, internal, nodata) and, for floats, finiteness."""
    if mask_source == "none":
        return None
    k = len(bands)
    valid: np.ndarray | None = None
    uses_gdal_mask = mask_source in ("alpha", "internal", "nodata") or (
        mask_source == "nan" and nodata is not None
    )
    if mask_source == "nodata" and nodata is not None and not np.isnan(nodata):
        # Compare with the nodata value: free when the pixels are in hand, and a decimated data
        # read uses the overviews (GDAL's nodata mask band would decode full-resolution blocks).
        if data is None:
            shape = None if out_shape is None else (k, *out_shape)
            data = ds.read(list(bands), window=window, out_shape=shape)
        valid = data != np.asarray(nodata, dtype=data.dtype)
    elif uses_gdal_mask:
        # alpha and internal masks are per dataset: one band's mask is every band's mask
        idx = list(bands[:1]) if mask_source in ("alpha", "internal") else list(bands)
        shape = None if out_shape is None else (len(idx), *out_shape)
        masks = ds.read_masks(idx, window=window, out_shape=shape)
        valid = np.broadcast_to(masks > 0, (k, *masks.shape[1:]))
    if np.dtype(dtype).kind == "f":
        if data is None:
            shape = None if out_shape is None else (k, *out_shape)
            data = ds.read(list(bands), window=window, out_shape=shape)
        finite = np.isfinite(data)
        valid = finite if valid is None else valid & finite
    return valid


def _to_uint8(
    data: np.ndarray, stretch: tuple[tuple[float, float], ...] | None, band_valid: np.ndarray | None
) -> np.ndarray:
    """8-bit bands with masked pixels set to 0 (``data`` is a fresh read and may be reused)."""
    if stretch is None:
        out = data if data.dtype == np.uint8 else data.astype(np.uint8)
    else:
        out = np.stack([stretch_band(band, lohi) for band, lohi in zip(data, stretch)])
    if band_valid is not None:
        np.multiply(out, band_valid, out=out, casting="unsafe")
    return out


def _uint8_nodata(dtype: str, stretch: object, mask_source: str, nodata: float | None) -> bool:
    """True when uint8 bands pass unchanged and the mask is an integer nodata value (the fast path)."""
    return (
        dtype == "uint8"
        and stretch is None
        and mask_source == "nodata"
        and nodata is not None
        and float(nodata).is_integer()
        and 0 <= nodata <= 255
    )


def _uint8_nodata_valid(data: np.ndarray, nodata: int) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`_any_valid` of :func:`_band_valid` for uint8 ``(k, h, w)`` bands whose nodata value
    is ``nodata``, without a ``(k, h, w)`` mask: the ``(h, w)`` mask and the per-band validity left
    to blank (None: nothing to blank).

    >>> data = np.array([[[0, 5, 0]], [[0, 0, 7]], [[0, 0, 0]]], dtype=np.uint8)
    >>> valid, band_valid = _uint8_nodata_valid(data, 0)
    >>> valid.tolist(), band_valid
    ([[False, True, True]], None)
    """
    if nodata == 0:
        # Masked values are already 0, so there is nothing to blank: a pixel is valid when any
        # band is non-zero. One pass over the bytes settles the usual tile, without any zero.
        if data.all():
            return np.ones(data.shape[1:], dtype=bool), None
        anyband = data[0].copy()
        for band in data[1:]:
            anyband |= band
        return anyband.astype(bool), None
    equal = data == np.uint8(nodata)
    if not equal.any():
        return np.ones(data.shape[1:], dtype=bool), None
    return ~np.logical_and.reduce(equal, axis=0), ~equal


def _any_valid(band_valid: np.ndarray | None, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``(h, w)`` mask (a pixel is valid when any band is: GDAL's rule) and the per-band
    validity left to blank (None when every value of every band is valid)."""
    if band_valid is None:
        return np.ones(shape, dtype=bool), None
    valid = np.logical_or.reduce(band_valid, axis=0)
    if band_valid.all():
        return valid, None  # nothing to blank
    return valid, band_valid


def _interleave(bands: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` from one or three ``(h, w)`` uint8 bands, band by band: several times faster
    than a transposed copy (``np.moveaxis`` + ``np.ascontiguousarray``).

    >>> _interleave(np.arange(6, dtype=np.uint8).reshape(3, 1, 2)).tolist()
    [[[0, 2, 4], [1, 3, 5]]]
    """
    image = np.empty((*bands.shape[1:], 3), dtype=np.uint8)
    for i in range(3):
        image[..., i] = bands[i if len(bands) == 3 else 0]
    return image


def _decimated_shape(height: int, width: int, limit: int) -> tuple[int, int]:
    """A read shape at most ``limit`` a side, decimated by a power of two.

    Power-of-two factors match the overview levels GDAL builds, so the read is served from an
    overview; an odd factor (800 -> 64 is 12.5) makes GDAL decode full-resolution blocks instead.
    """
    scale = max(height, width) / limit
    if scale <= 1:
        return height, width
    factor = 2 ** math.ceil(math.log2(scale))
    return max(1, math.ceil(height / factor)), max(1, math.ceil(width / factor))


def _measure_stretch(
    ds: DatasetReader,
    bands: tuple[int, ...],
    stretch: str,
    mask_source: str,
    nodata: float | None,
    dtype: str,
) -> tuple[tuple[float, float], ...] | None:
    """Per-band (lo, hi) from one decimated read (GDAL uses overviews when the file has them)."""
    is_uint8 = np.dtype(dtype) == np.uint8
    if stretch == "none" or (stretch == "auto" and is_uint8):
        return None if is_uint8 else tuple((0.0, 255.0) for _ in bands)
    out_shape = _decimated_shape(ds.height, ds.width, STRETCH_SAMPLE)
    data = ds.read(list(bands), out_shape=(len(bands), *out_shape))
    valid = _band_valid(ds, bands, mask_source, nodata, dtype, data, None, out_shape)
    result = []
    for i, band in enumerate(data):
        values = band if valid is None else band[valid[i]]
        if values.size:
            lo, hi = np.percentile(values.astype(np.float64), PERCENTILES)
            result.append((float(lo), float(hi)))
        elif np.dtype(dtype).kind in "iu":
            info = np.iinfo(dtype)
            result.append((float(info.min), float(info.max)))
        else:
            result.append((0.0, 1.0))
    return tuple(result)


def _warn_no_crs(name: str, ds: DatasetReader) -> None:
    gcps, _ = ds.gcps
    if gcps or ds.rpcs:
        advice = f"it has only GCPs/RPCs: warp it first, e.g. `gdalwarp {name} warped.tif`"
    elif ds.transform.is_identity:
        advice = (
            "results stay in pixel coordinates; georeference it "
            "(e.g. gdal_edit.py -a_srs/-a_ullr) for map output"
        )
    else:
        advice = (
            f"results stay in its file coordinates with no CRS; assign one with "
            f"`gdal_edit.py -a_srs EPSG:XXXX {name}`"
        )
    warnings.warn(f"{name} has no CRS; {advice}", NoCRSWarning, stacklevel=3)
