"""TileGrid and Tile: coverage, cores that partition the scene, tile affines, streaming and skipping."""

from __future__ import annotations

import threading
import types
import warnings

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio import windows
from rasterio.windows import Window

from geocot_cli.config import TilingOptions
from geocot_cli.errors import ConfigError, SceneError
from geocot_cli.scene import NoCRSWarning, Scene, open_scene
from geocot_cli.tiling import Tile, TileGrid, tile_spans


@pytest.fixture
def rio(real_data):
    """The folder of rasterio's sample rasters."""
    return real_data / "rasterio"


@pytest.fixture
def reads(monkeypatch):
    """The windows ``Scene.read`` is called with, in order (it still reads)."""
    seen = []
    real = Scene.read

    def spy(self, window, **kw):
        seen.append(window)
        return real(self, window, **kw)

    monkeypatch.setattr(Scene, "read", spy)
    return seen


def fake_scene(width: int, height: int, transform: Affine = Affine(1, 0, 0, 0, -1, 0)) -> Scene:
    """A Scene value with no file behind it: enough for windows() and len()."""
    return Scene("fake.tif", width, height, 3, "uint8", None, transform, None, (1, 2, 3), None, "none", False)


def rio_window_transform(window: Window, transform: Affine) -> Affine:
    """rasterio's own tile affine (it still uses ``*`` on affine 3, hence the filter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return windows.transform(window, transform)


def coverage(grid: TileGrid, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """How many tile windows, and how many cores, cover each scene pixel."""
    tiles = np.zeros((height, width), dtype=np.int32)
    cores = np.zeros((height, width), dtype=np.int32)
    for _, _, w, c in grid.windows():
        tiles[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
        cores[c.row_off : c.row_off + c.height, c.col_off : c.col_off + c.width] += 1
    return tiles, cores


# --- geometry of the grid ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(length=st.integers(1, 5000), tile=st.integers(1, 1200), data=st.data())
def test_spans_cover_the_axis_and_cores_partition_it(length, tile, data):
    overlap = data.draw(st.integers(0, tile - 1))
    spans = tile_spans(length, tile, overlap)
    offsets = [s[0] for s in spans]
    assert offsets == sorted(set(offsets))  # strictly increasing
    assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == length  # starts at 0, ends at the edge
    for off, size, c0, c1 in spans:
        assert size == min(tile, length)  # full-size tiles unless the scene is smaller
        assert 0 <= off and off + size <= length
        assert off <= c0 < c1 <= off + size  # a non-empty core inside its tile
    assert [s[2] for s in spans[1:]] == [s[3] for s in spans[:-1]]  # cores are contiguous
    assert spans[0][2] == 0 and spans[-1][3] == length
    for (a, size, _, _), (b, _, _, _) in zip(spans, spans[1:]):
        assert a + size - b >= overlap  # neighbours share at least the overlap asked for


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 700),
    height=st.integers(1, 700),
    tile=st.integers(8, 256),
    data=st.data(),
)
def test_grid_covers_every_pixel_and_cores_partition_the_scene(width, height, tile, data):
    overlap = data.draw(st.integers(0, tile - 1))
    grid = TileGrid(fake_scene(width, height), TilingOptions(tile=tile, overlap=overlap, min_valid=0.0))
    tiles, cores = coverage(grid, width, height)
    assert tiles.min() >= 1
    assert (cores == 1).all()
    rows, cols = grid.shape
    assert len(grid) == rows * cols == len(grid.windows())
    for _, _, w, _ in grid.windows():
        assert (w.width, w.height) == (min(tile, width), min(tile, height))


@pytest.mark.parametrize(
    ("width", "height", "tile", "overlap", "shape"),
    [
        (2000, 1000, 800, 160, (2, 3)),
        (800, 800, 800, 160, (1, 1)),
        (801, 800, 800, 160, (1, 2)),
        (1440, 640, 800, 160, (1, 2)),
        (1441, 640, 800, 160, (1, 3)),
        (100, 50, 800, 160, (1, 1)),
    ],
)
def test_grid_shape(width, height, tile, overlap, shape):
    grid = TileGrid(fake_scene(width, height), TilingOptions(tile=tile, overlap=overlap))
    assert grid.shape == shape and len(grid) == shape[0] * shape[1]


def test_last_tiles_shift_back_to_the_edge():
    grid = TileGrid(fake_scene(1000, 900), TilingOptions(tile=400, overlap=100))
    wins = {(r, c): w for r, c, w, _ in grid.windows()}
    assert wins[(0, 0)] == Window(0, 0, 400, 400)
    assert wins[(0, 1)] == Window(300, 0, 400, 400)
    assert wins[(2, 2)] == Window(600, 500, 400, 400)  # ends exactly at 1000 x 900


def test_scene_smaller_than_a_tile_is_one_tile(make_geotiff):
    scene = open_scene(make_geotiff(width=50, height=30))
    tiles = list(TileGrid(scene, TilingOptions(tile=800, overlap=160)))
    assert len(tiles) == 1
    (tile,) = tiles
    assert tile.window == Window(0, 0, 50, 30) == tile.core
    assert tile.image.shape == (30, 50, 3) and tile.size == (50, 30)
    assert tile.id == "r0c0"


# --- tiles read from real rasters ----------------------------------------------------------------


@pytest.mark.parametrize(
    "transform",
    [
        Affine(0.5, 0, 500000, 0, -0.5, 4000000),  # north-up
        Affine(2, 0, 100, 0, 3, 50),  # south-up
        Affine(17.32, 5, 100, 10, -8.66, 200),  # rotated
    ],
)
def test_tile_transform_places_tile_pixels_in_the_scene(make_geotiff, transform):
    scene = open_scene(make_geotiff(width=90, height=70, transform=transform))
    for tile in TileGrid(scene, TilingOptions(tile=32, overlap=8)):
        assert tile.transform.almost_equals(rio_window_transform(tile.window, scene.transform))
        for px in [(0, 0), (5, 7), (32, 32)]:
            scene_px = (px[0] + tile.window.col_off, px[1] + tile.window.row_off)
            assert np.allclose(tile.transform @ px, scene.transform @ scene_px)
        assert tile.crs == scene.crs


def test_rotated_real_scene_tiles(rio):
    with pytest.warns(NoCRSWarning):
        scene = open_scene(rio / "rotated.tif")
    tiles = list(TileGrid(scene, TilingOptions(tile=8, overlap=2, min_valid=0.0)))
    assert len(tiles) == 2 * 3
    for tile in tiles:
        assert tile.crs is None
        assert tile.transform.almost_equals(rio_window_transform(tile.window, scene.transform))


def test_tile_images_are_the_scene_reads(rio):
    scene = open_scene(rio / "RGB.byte.tif")
    grid = TileGrid(scene, TilingOptions(tile=256, overlap=64, min_valid=0.0))
    tiles = list(grid)
    assert [t.id for t in tiles] == [f"r{r}c{c}" for r, c, _, _ in grid.windows()]
    _, cores = coverage(grid, scene.width, scene.height)
    assert (cores == 1).all()
    for tile in tiles[::5]:
        image, valid = scene.read(tile.window)
        np.testing.assert_array_equal(tile.image, image)
        assert tile.valid_fraction == valid.mean()  # exactly the share of valid pixels
        assert tile.crs.to_epsg() == 32618


def test_uint16_tiles_share_one_stretch(make_geotiff):
    # the same column pattern everywhere, but the right half is much brighter
    ramp = np.tile(np.arange(1000, 1000 + 64 * 40, 40, dtype="uint16"), (64, 2))  # 64 x 128
    ramp[:, 64:] += 2000
    scene = open_scene(make_geotiff(data=np.stack([ramp] * 3)))
    left, right = list(TileGrid(scene, TilingOptions(tile=64, overlap=0)))
    assert left.image.mean() > 20 and right.image.mean() > left.image.mean()
    # a value present in both tiles maps to the same 8-bit value (no per-tile stretch)
    shared = np.intersect1d(ramp[:, :64], ramp[:, 64:])
    assert shared.size > 5
    for v in shared:
        lv = np.unique(left.image[..., 0][ramp[:, :64] == v])
        rv = np.unique(right.image[..., 0][ramp[:, 64:] == v])
        assert lv.tolist() == rv.tolist() and lv.size == 1


def test_nodata_tiles_are_skipped_and_masked_pixels_are_black(make_geotiff):
    data = np.full((3, 64, 192), 120, dtype="uint8")
    data[:, :, :64] = 0  # left tile all nodata
    data[:, :10, 64:128] = 0  # a nodata strip in the middle tile
    scene = open_scene(make_geotiff(data=data, nodata=0))
    left, middle, right = list(TileGrid(scene, TilingOptions(tile=64, overlap=0, min_valid=0.05)))
    assert left.skipped and left.image is None and left.valid_fraction == 0.0
    assert left.size == (64, 64)
    assert not middle.skipped and middle.valid_fraction == pytest.approx(54 / 64)
    assert not middle.image[:10].any() and (middle.image[10:] == 120).all()
    assert right.valid_fraction == 1.0


def test_without_a_threshold_no_mask_is_read_before_the_pixels(make_geotiff, monkeypatch):
    data = np.full((3, 64, 128), 120, dtype="uint8")
    data[:, :, :64] = 0  # left tile all nodata: read anyway, as min_valid=0 asks
    scene = open_scene(make_geotiff(data=data, nodata=0))
    monkeypatch.setattr(Scene, "valid_fraction", lambda *a, **k: pytest.fail("a decimated mask was read"))
    left, right = list(TileGrid(scene, TilingOptions(tile=64, overlap=0, min_valid=0.0)))
    assert not left.skipped and left.valid_fraction == 0.0 and not left.image.any()
    assert right.valid_fraction == 1.0 and (right.image == 120).all()


def test_all_nodata_scene_reads_no_tile(rio, monkeypatch):
    scene = open_scene(rio / "all-nodata.tif")
    monkeypatch.setattr(Scene, "read", lambda *a, **k: pytest.fail("an all-nodata tile was read"))
    tiles = list(TileGrid(scene, TilingOptions(tile=256, overlap=32)))
    assert len(tiles) == 11
    assert all(t.skipped and t.valid_fraction == 0.0 for t in tiles)


def test_iteration_streams_one_tile_at_a_time(make_geotiff, reads):
    scene = open_scene(make_geotiff(width=200, height=100))
    grid = TileGrid(scene, TilingOptions(tile=50, overlap=10))
    it = iter(grid)
    assert isinstance(it, types.GeneratorType) and reads == []
    first = next(it)
    assert len(reads) == 1 and first.id == "r0c0"
    second = next(it)
    assert len(reads) == 2 and second.id == "r0c1"
    assert len(list(it)) == len(grid) - 2


def test_tile_is_a_frozen_value(make_geotiff):
    scene = open_scene(make_geotiff(width=40, height=40))
    tile = next(iter(TileGrid(scene, TilingOptions(tile=32, overlap=8))))
    assert isinstance(tile, Tile)
    with pytest.raises(AttributeError):
        tile.row = 3  # type: ignore[misc]
    assert tile == tile and hash(tile) == hash(tile)  # the image does not take part


def test_options_bands_must_match_the_scene(make_geotiff):
    path = make_geotiff(count=4)
    scene = open_scene(path, bands=(4,))
    assert len(TileGrid(scene, TilingOptions(tile=16, overlap=0, bands=(4,)))) > 0
    with pytest.raises(ConfigError, match=r"open_scene\(path, bands=options.bands\)"):
        TileGrid(scene, TilingOptions(tile=16, overlap=0, bands=(1, 2, 3)))


def test_no_warning_while_tiling(make_geotiff):
    scene = open_scene(make_geotiff(width=70, height=70))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(TileGrid(scene, TilingOptions(tile=32, overlap=8)))) == 9


# --- reader threads ------------------------------------------------------------------------------


def tile_record(tile: Tile) -> tuple:
    """Everything a tile holds, the image included, in a form ``==`` compares (NaN as a string)."""
    fraction = "nan" if np.isnan(tile.valid_fraction) else tile.valid_fraction
    image = None if tile.image is None else (tile.image.shape, tile.image.dtype.str, tile.image.tobytes())
    return tile.id, (tile.row, tile.col, tile.crs), tile.window, tile.core, tile.transform, fraction, image


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_reader_threads_yield_the_sequential_tiles(make_geotiff, workers):
    data = np.random.default_rng(1).integers(1, 255, size=(3, 150, 230), dtype=np.uint8)
    data[:, :70, :90] = 0  # a nodata corner: skipped tiles
    data[1, 100:, 150:] = 0  # one band's nodata: valid pixels with a black band
    data[:, 120:, :40] = 0
    scene = open_scene(make_geotiff(data=data, nodata=0))
    grid = TileGrid(scene, TilingOptions(tile=48, overlap=12, min_valid=0.3))
    done = {"r0c2", "r1c1", "r3c4", "r4c6"}
    sequential = [tile_record(t) for t in grid.tiles(done=done)]
    threaded = [tile_record(t) for t in grid.tiles(done=done, workers=workers)]
    assert threaded == sequential
    assert [t[0] for t in sequential] == [f"r{r}c{c}" for r, c, _, _ in grid.windows()]
    kinds = {("done" if t[0] in done else "skipped" if t[6] is None else "read") for t in sequential}
    assert kinds == {"done", "skipped", "read"}  # every path was compared
    assert any(t[6] is not None and 0 < t[5] < 1 for t in sequential)  # partly valid, read


def test_reader_threads_raise_at_the_damaged_tile(rio):
    scene = open_scene(rio / "corrupt.tif")  # blocks of 512 px; the one at rows/columns 512- is damaged
    grid = TileGrid(scene, TilingOptions(tile=256, overlap=0, min_valid=0.0))
    results = {}
    for workers in (1, 2, 4):
        tiles, it = [], grid.tiles(workers=workers)
        with pytest.raises(SceneError, match=r"corrupt\.tif: pixels at rows 512-767, columns 512-767") as exc:
            for tile in it:
                tiles.append(tile_record(tile))
        results[workers] = (tiles, str(exc.value))
    assert len(results[1][0]) == 10  # r2c2 is the first tile in the damaged block
    assert results[2] == results[1] and results[4] == results[1]


def test_reader_threads_stop_when_the_consumer_does(make_geotiff, reads):
    scene = open_scene(make_geotiff(width=300, height=300))
    grid = TileGrid(scene, TilingOptions(tile=40, overlap=0))  # 64 tiles
    before = threading.active_count()
    it = grid.tiles(workers=3)
    assert next(it).id == "r0c0" and next(it).id == "r0c1"
    assert threading.active_count() == before + 3
    assert len(reads) <= 2 + 2 * 3  # bounded look-ahead, never the whole grid
    it.close()
    assert threading.active_count() == before
    assert len(reads) <= 2 + 2 * 3
    assert len(list(grid.tiles(workers=3))) == 64 and threading.active_count() == before


def test_reader_threads_report_a_file_that_cannot_be_opened(make_geotiff):
    path = make_geotiff(width=64, height=64)
    scene = open_scene(path)
    path.unlink()
    before = threading.active_count()
    for workers in (1, 2):
        with pytest.raises(SceneError, match="can no longer be opened"):
            next(TileGrid(scene, TilingOptions(tile=32, overlap=0)).tiles(done={"r0c0"}, workers=workers))
    assert threading.active_count() == before
    with pytest.raises(ConfigError, match=r"workers \(0\) must be >= 1"):
        next(TileGrid(scene, TilingOptions(tile=32, overlap=0)).tiles(workers=0))
