"""Shared fixtures: a GeoTIFF factory, the real sample data, and a CLI runner.

Nothing here touches a model hub: HF_HUB_OFFLINE is set before any test imports transformers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests run two at a time (pytest -n 2) on small machines: one math thread each.
os.environ.setdefault("OMP_NUM_THREADS", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL = SHARED / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real sample rasters and DOTA images (``../shared/data/real``)."""
    if not REAL.is_dir():
        pytest.skip(f"real sample data not found at {REAL}")
    return REAL


@pytest.fixture
def make_geotiff(tmp_path):
    """Build exactly the GeoTIFF a test needs.

    ``make_geotiff(name="s.tif", width=64, height=48, count=3, dtype="uint8", crs="EPSG:32618",
    transform=None, nodata=None, data=None, origin=(500000.0, 4000000.0), res=1.0)``: ``data`` is a
    (count, height, width) array; without it a seeded gradient plus noise is written. The default
    transform is north-up with its top-left corner at ``origin`` and square pixels of ``res``.
    """
    from affine import Affine
    import rasterio

    def factory(
        name: str = "scene.tif",
        width: int = 64,
        height: int = 48,
        count: int = 3,
        dtype: str = "uint8",
        crs: str | None = "EPSG:32618",
        transform=None,
        nodata=None,
        data: np.ndarray | None = None,
        origin: tuple[float, float] = (500000.0, 4000000.0),
        res: float = 1.0,
        **profile,
    ) -> Path:
        if data is None:
            rng = np.random.default_rng(0)
            yy, xx = np.mgrid[0:height, 0:width]
            base = (xx * 3 + yy * 2) % 200
            data = np.stack([base + rng.integers(0, 50, size=base.shape) for _ in range(count)])
            data = data.astype(dtype)
        else:
            count, height, width = data.shape
        if transform is None:
            transform = Affine(res, 0, origin[0], 0, -res, origin[1])
        path = tmp_path / name
        with rasterio.open(
            path, "w", driver="GTiff", width=width, height=height, count=count, dtype=data.dtype,
            crs=crs, transform=transform, nodata=nodata, **profile,
        ) as dst:
            dst.write(data)
        return path

    return factory


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny matrices: one torch thread is several times faster than two on a busy shared CPU.
    Use it per module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``); restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Glm4v model folder (the real architecture), built once per test session."""
    from geocot_cli.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "glm4v")


@pytest.fixture
def runner():
    """A Typer CLI runner whose result keeps stdout and stderr apart."""
    from typer.testing import CliRunner

    return CliRunner()
