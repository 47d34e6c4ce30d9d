"""Scenes for the benchmarks: tiled, compressed GeoTIFFs with overviews (cloud-optimised layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window


def make_cog(path: Path, size: int, *, sparse: bool, patch: int = 2048, seed: int = 0) -> Path:
    """A ``size`` x ``size`` 3-band uint8 GeoTIFF in UTM with 512 px blocks and overviews.

    ``sparse``: nodata (0) everywhere but four ``patch``-sized blocks of imagery, written sparsely
    (empty blocks are not stored), as large scenes with wide nodata collars are. Otherwise every
    pixel holds textured imagery.
    """
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    profile = dict(
        driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:32633",
        transform=Affine(0.5, 0, 300000.0, 0, -0.5, 4800000.0), nodata=0, tiled=True,
        blockxsize=512, blockysize=512, compress="deflate", sparse_ok=True, bigtiff="if_safer",
    )
    block = 2048
    texture = (rng.integers(30, 220, size=(3, block, block))).astype("uint8")
    with rasterio.open(path, "w", **profile) as dst:
        if sparse:
            for k in range(4):
                x = int((k * 0.23 + 0.1) * (size - patch))
                y = int((k * 0.21 + 0.15) * (size - patch))
                dst.write(texture[:, :patch, :patch], window=Window(x, y, patch, patch))
        else:
            for y in range(0, size, block):
                for x in range(0, size, block):
                    h, w = min(block, size - y), min(block, size - x)
                    dst.write(texture[:, :h, :w], window=Window(x, y, w, h))
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4, 8, 16, 32], Resampling.nearest)
    return path
