"""open_scene and Scene: georeferencing, band choice, masks, the scene-level stretch, and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp
from rasterio.io import DatasetReader
from rasterio.windows import Window

from geocot_cli.errors import BandError, ConfigError, SceneError
from geocot_cli.scene import NoCRSWarning, Scene, open_scene, stretch_band
from geocot_cli.scene import _any_valid, _band_valid, _to_uint8, _uint8_nodata_valid


@pytest.fixture
def rio(real_data):
    """The folder of rasterio's sample rasters."""
    return real_data / "rasterio"


def quiet_open(path, **kw) -> Scene:
    """open_scene with the no-CRS warning silenced (for tests about something else)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoCRSWarning)
        return open_scene(path, **kw)


def set_colorinterp(path, interp) -> None:
    with rasterio.open(path, "r+") as dst:
        dst.colorinterp = interp


# --- georeferencing ------------------------------------------------------------------------------


def test_rgb_byte_scene_matches_the_file(rio):
    scene = open_scene(rio / "RGB.byte.tif")
    with rasterio.open(rio / "RGB.byte.tif") as ds:
        assert (scene.width, scene.height, scene.count) == (ds.width, ds.height, 3)
        assert scene.crs == ds.crs and scene.crs.to_epsg() == 32618
        assert scene.transform == ds.transform
        assert scene.bounds == pytest.approx(tuple(ds.bounds))
        expected = ds.read(window=Window(100, 200, 64, 32))
        mask = ds.dataset_mask(window=Window(100, 200, 64, 32)) > 0
    assert scene.georeferenced and scene.nodata == 0.0
    assert scene.bands == (1, 2, 3) and scene.dtype == "uint8"
    assert scene.stretch is None and scene.mask_source == "nodata"
    assert scene.footprint.area == pytest.approx(scene.width * scene.height * abs(ds.transform.determinant))
    image, valid = scene.read(Window(100, 200, 64, 32))
    assert image.shape == (32, 64, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, expected.transpose(1, 2, 0))  # uint8 passes unchanged
    np.testing.assert_array_equal(valid, mask)


def test_rotated_scene_without_crs_warns_and_uses_full_affine(rio):
    with pytest.warns(NoCRSWarning, match="rotated.tif has no CRS"):
        scene = open_scene(rio / "rotated.tif")
    assert scene.crs is None and not scene.georeferenced
    t = scene.transform
    assert t.b != 0 and t.d != 0  # really rotated
    corners = list(scene.footprint.exterior.coords)[:4]
    expected = [t @ (0, 0), t @ (10, 0), t @ (10, 15), t @ (0, 15)]
    assert np.allclose(corners, expected)
    assert scene.footprint.area == pytest.approx(abs(t.determinant) * 10 * 15)
    xs, ys = zip(*expected)
    assert scene.bounds == pytest.approx((min(xs), min(ys), max(xs), max(ys)))


def test_south_up_transform_gives_ordered_bounds(make_geotiff):
    path = make_geotiff(width=20, height=10, transform=Affine(2, 0, 100, 0, 3, 50))  # y grows downwards
    scene = open_scene(path)
    assert scene.bounds == pytest.approx((100, 50, 140, 80))
    assert scene.footprint.bounds == pytest.approx((100, 50, 140, 80))


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # raised when writing it
def test_raster_without_geotransform_is_in_pixels(make_geotiff):
    path = make_geotiff(width=30, height=20, crs=None, transform=Affine.identity())
    with pytest.warns(NoCRSWarning, match="pixel coordinates"):
        scene = open_scene(path)
    assert scene.transform.is_identity and not scene.georeferenced
    assert scene.bounds == pytest.approx((0, 0, 30, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading tiles must not re-warn (ours or rasterio's)
        scene.read(Window(0, 0, 5, 5))
        scene.valid_fraction(Window(0, 0, 5, 5))


# --- band choice ---------------------------------------------------------------------------------


def test_alpha_band_is_skipped_and_becomes_the_mask(rio):
    scene = open_scene(rio / "alpha.tif")
    assert scene.bands == (1, 2, 3) and scene.mask_source == "alpha"
    window = Window(0, 0, scene.width, scene.height)
    image, valid = scene.read(window)
    with rasterio.open(rio / "alpha.tif") as ds:
        alpha = ds.read(4)
    np.testing.assert_array_equal(valid, alpha > 0)
    assert 0 < valid.mean() < 1
    assert not image[~valid].any()  # masked pixels are black


def test_colorinterp_orders_rgb_and_skips_alpha(rio):
    scene = open_scene(rio / "RGBA.uint16.tif")  # bands are blue, green, red, alpha
    assert scene.bands == (3, 2, 1) and scene.mask_source == "alpha"


def test_first_three_bands_without_colour_interpretation(make_geotiff):
    path = make_geotiff(count=5)
    set_colorinterp(path, [ColorInterp.undefined] * 5)
    assert open_scene(path).bands == (1, 2, 3)


def test_alpha_first_is_skipped(make_geotiff):
    path = make_geotiff(count=4)
    set_colorinterp(path, [ColorInterp.alpha, ColorInterp.gray, ColorInterp.undefined, ColorInterp.undefined])
    assert open_scene(path).bands == (2, 3, 4)


def test_single_and_two_band_rasters_use_one_band_repeated(make_geotiff, rio):
    one = open_scene(rio / "rgb1_fake_nir_epsg3857.tif")
    assert one.bands == (1,)
    image, _ = one.read(Window(300, 300, 20, 10))
    assert image.shape == (10, 20, 3)
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    assert image.any()
    two = open_scene(make_geotiff(count=2))
    assert two.bands == (1,)


def test_explicit_bands_are_one_based(make_geotiff):
    data = np.stack([np.full((8, 8), v, dtype="uint8") for v in (10, 20, 30, 40)])
    path = make_geotiff(data=data)
    image, _ = open_scene(path, bands=[4, 1, 2]).read(Window(0, 0, 8, 8))
    assert image[0, 0].tolist() == [40, 10, 20]
    image, _ = open_scene(path, bands=(3,)).read(Window(0, 0, 8, 8))
    assert image[0, 0].tolist() == [30, 30, 30]


@pytest.mark.parametrize("bands", [[5], [0], [1, 2, 9], [-1]])
def test_band_out_of_range_names_the_band_count(make_geotiff, bands):
    path = make_geotiff(count=4)
    with pytest.raises(BandError, match=r"has 4 band\(s\), numbered 1 to 4"):
        open_scene(path, bands=bands)


def test_two_bands_is_not_a_valid_selection(make_geotiff):
    with pytest.raises(BandError, match="one or three"):
        open_scene(make_geotiff(count=4), bands=[1, 2])


def test_only_an_alpha_band_is_no_usable_band(make_geotiff):
    path = make_geotiff(count=1)
    set_colorinterp(path, [ColorInterp.alpha])
    with pytest.raises(BandError, match="only an alpha band"):
        open_scene(path)


# --- masks ---------------------------------------------------------------------------------------


def test_all_nodata_scene_is_all_invalid_and_still_has_a_stretch(rio):
    scene = open_scene(rio / "all-nodata.tif")
    assert scene.mask_source == "nodata" and scene.dtype == "uint16"
    assert scene.stretch is not None
    assert all(np.isfinite(lo) and np.isfinite(hi) and hi > lo for lo, hi in scene.stretch)
    assert scene.valid_fraction(scene.window) == 0.0
    assert scene.valid_fraction(Window(0, 1000, 71, 200)) == 0.0
    image, valid = scene.read(Window(0, 0, 71, 300))
    assert not valid.any() and not image.any()


def test_float_nan_is_masked(rio):
    scene = quiet_open(rio / "float_nan.tif")
    assert scene.mask_source == "nan" and scene.dtype == "float32"
    image, valid = scene.read(scene.window)
    assert valid.tolist() == [[True, True, False], [True, True, True]]
    assert image[0, 2].tolist() == [0, 0, 0]
    assert scene.valid_fraction(scene.window) == pytest.approx(5 / 6)


def test_float_nan_without_nodata_value_is_masked(make_geotiff):
    data = np.linspace(0.0, 1.0, 2 * 40 * 30, dtype="float32").reshape(2, 30, 40)
    data[:, :, :10] = np.nan
    scene = open_scene(make_geotiff(data=data))
    assert scene.nodata is None and scene.mask_source == "nan"
    lo, hi = scene.stretch[0]
    assert np.isfinite(lo) and np.isfinite(hi)
    image, valid = scene.read(scene.window)
    assert valid.mean() == pytest.approx(0.75)
    assert not image[:, :10].any() and image[:, 10:].any()
    assert scene.valid_fraction(scene.window) == pytest.approx(0.75)


def test_internal_mask_is_honoured(tmp_path):
    path = tmp_path / "masked.tif"
    mask = np.zeros((30, 40), dtype="uint8")
    mask[:, :20] = 255
    with rasterio.Env(GDAL_TIF_INTERNAL_MASK=True):
        with rasterio.open(
            path, "w", driver="GTiff", width=40, height=30, count=3, dtype="uint8",
            crs="EPSG:32618", transform=Affine(1, 0, 500000, 0, -1, 4000000),
        ) as dst:
            dst.write(np.full((3, 30, 40), 200, dtype="uint8"))
            dst.write_mask(mask)
    scene = open_scene(path)
    assert scene.mask_source == "internal"
    image, valid = scene.read(scene.window)
    np.testing.assert_array_equal(valid, mask > 0)
    assert (image[:, :20] == 200).all() and not image[:, 20:].any()
    assert scene.valid_fraction(scene.window) == pytest.approx(0.5)


def test_nodata_pixels_are_black_even_when_nodata_is_bright(make_geotiff):
    data = np.full((1, 10, 10), 90, dtype="uint8")
    data[0, :5] = 255
    scene = open_scene(make_geotiff(data=data, nodata=255))
    image, valid = scene.read(scene.window)
    assert not valid[:5].any() and valid[5:].all()
    assert not image[:5].any() and (image[5:] == 90).all()


def test_no_mask_means_valid_fraction_one_without_reading(make_geotiff, monkeypatch):
    scene = open_scene(make_geotiff())
    assert scene.mask_source == "none"
    monkeypatch.setattr(rasterio, "open", lambda *a, **k: pytest.fail("valid_fraction opened the file"))
    assert scene.valid_fraction(scene.window) == 1.0


def test_valid_fraction_is_a_decimated_estimate(make_geotiff, monkeypatch):
    data = np.full((1, 600, 900), 7, dtype="uint16")
    data[0, :, :300] = 0  # a third is nodata
    scene = open_scene(make_geotiff(data=data, nodata=0))
    shapes = []
    real = DatasetReader.read_masks

    def spy(self, *args, **kwargs):
        shapes.append(kwargs.get("out_shape"))
        return real(self, *args, **kwargs)

    real_read = DatasetReader.read

    def spy_read(self, *args, **kwargs):
        shapes.append(kwargs.get("out_shape"))
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(DatasetReader, "read_masks", spy)
    monkeypatch.setattr(DatasetReader, "read", spy_read)
    fraction = scene.valid_fraction(scene.window)
    assert fraction == pytest.approx(2 / 3, abs=0.03)
    assert shapes and all(s is not None and max(s[-2:]) <= 128 for s in shapes)
    assert scene.valid_fraction(Window(0, 0, 300, 600)) == 0.0
    assert scene.valid_fraction(Window(300, 0, 600, 600)) == 1.0


def general_read(data: np.ndarray, nodata: float) -> tuple[np.ndarray, np.ndarray]:
    """The (k, h, w) 8-bit bands and (h, w) mask of the general path (any dtype, any mask)."""
    band_valid = _band_valid(None, tuple(range(1, len(data) + 1)), "nodata", nodata, "uint8", data, None, None)
    valid, band_valid = _any_valid(band_valid, data.shape[1:])
    return _to_uint8(data.copy(), None, band_valid), valid


@pytest.mark.parametrize("nodata", [0, 7, 255])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("share", [0.0, 0.02, 0.5, 1.0])
def test_uint8_nodata_fast_path_equals_the_general_path(nodata, k, share):
    rng = np.random.default_rng(nodata * 10 + k)
    data = rng.integers(0, 256, size=(k, 40, 50), dtype=np.uint8)
    data[rng.random(data.shape) < share] = nodata  # some bands of a pixel, or all of them
    data[:, :3, :3] = nodata  # whole nodata pixels, whatever the share
    expected_bands, expected_valid = general_read(data, float(nodata))
    fast = data.copy()
    valid, band_valid = _uint8_nodata_valid(fast, nodata)
    np.testing.assert_array_equal(valid, expected_valid)
    np.testing.assert_array_equal(_to_uint8(fast, None, band_valid), expected_bands)


def test_uint8_nodata_fast_path_without_any_nodata_value():
    data = np.full((3, 4, 5), 9, dtype=np.uint8)
    for nodata in (0, 7):
        valid, band_valid = _uint8_nodata_valid(data, nodata)
        assert valid.shape == (4, 5) and valid.all() and band_valid is None


@pytest.mark.parametrize("nodata", [0, 200])
def test_uint8_nodata_reads_match_gdal_dataset_mask(make_geotiff, nodata):
    rng = np.random.default_rng(3)
    data = rng.integers(0, 256, size=(3, 60, 70), dtype=np.uint8)
    data[rng.random(data.shape) < 0.3] = nodata
    data[:, 10:20, 30:50] = nodata
    path = make_geotiff(data=data, nodata=nodata)
    scene = open_scene(path)
    window = Window(5, 8, 60, 40)
    image, valid = scene.read(window)
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(valid, ds.dataset_mask(window=window) > 0)  # GDAL's own rule
    raw = data[:, 8:48, 5:65].transpose(1, 2, 0)
    np.testing.assert_array_equal(image, np.where(raw == nodata, 0, raw))  # nodata values are black


# --- stretch -------------------------------------------------------------------------------------


def uint16_scene(make_geotiff, **kw):
    rng = np.random.default_rng(1)
    data = rng.integers(1000, 5000, size=(3, 120, 160)).astype("uint16")
    return data, open_scene(make_geotiff(data=data, **kw))


def test_uint16_percentile_stretch_is_visible_and_scene_level(make_geotiff):
    data, scene = uint16_scene(make_geotiff)
    assert scene.stretch is not None and len(scene.stretch) == 3
    for (lo, hi), band in zip(scene.stretch, data):
        assert lo == pytest.approx(np.percentile(band, 2), rel=0.02)
        assert hi == pytest.approx(np.percentile(band, 98), rel=0.02)
    a, _ = scene.read(Window(0, 0, 80, 60))
    b, _ = scene.read(Window(80, 60, 80, 60))
    assert a.mean() > 60 and b.mean() > 60 and a.std() > 20  # not black, not flat
    # the same value gives the same 8-bit value in both tiles
    va, vb = data[0, :60, :80], data[0, 60:, 80:]
    common = np.intersect1d(va, vb)
    assert common.size > 10
    for v in common[:20]:
        assert np.unique(a[..., 0][va == v]).tolist() == np.unique(b[..., 0][vb == v]).tolist()


def test_stretch_ignores_nodata(make_geotiff):
    data = np.full((1, 50, 50), 0, dtype="uint16")
    data[0, 25:] = np.arange(25 * 50, dtype="uint16").reshape(25, 50) + 3000
    scene = open_scene(make_geotiff(data=data, nodata=0))
    lo, hi = scene.stretch[0]
    assert lo >= 3000  # the nodata zeros did not drag the low end down


def test_stretch_uses_a_decimated_read(make_geotiff, monkeypatch):
    path = make_geotiff(width=3000, height=500, count=1, dtype="uint16")
    shapes = []
    real = DatasetReader.read

    def spy(self, *args, **kwargs):
        shapes.append(kwargs.get("out_shape"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DatasetReader, "read", spy)
    open_scene(path)
    assert shapes and all(s is not None and max(s[-2:]) <= 1024 for s in shapes)


def test_flat_band_does_not_divide_by_zero(rio):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = open_scene(rio / "RGBA.uint16.tif")  # every image pixel is 10000
        image, valid = scene.read(scene.window)
    assert all(lo == hi == 10000 for lo, hi in scene.stretch)
    assert (image[valid] == 128).all() and not image[~valid].any()
    assert 0.3 < valid.mean() < 0.7


@pytest.mark.parametrize(
    ("values", "lohi", "expected"),
    [
        ([0, 250, 500], (0, 500), [0, 128, 255]),
        ([-5, 1000], (0, 500), [0, 255]),
        ([0.1, 0.5, np.nan], (0.1, 0.5), [0, 255, 0]),
        ([4, 5, 6], (5, 5), [0, 128, 255]),
    ],
)
def test_stretch_band_table(values, lohi, expected):
    assert stretch_band(np.array(values), lohi).tolist() == expected


def test_stretch_modes(make_geotiff):
    data, none = uint16_scene(make_geotiff, name="a.tif")
    assert none.stretch is not None
    clipped = open_scene(make_geotiff(data=data, name="b.tif"), stretch="none")
    assert clipped.stretch == ((0.0, 255.0),) * 3
    image, _ = clipped.read(Window(0, 0, 10, 10))
    assert (image == 255).all()  # 1000-5000 clipped to 8 bits
    byte = make_geotiff(name="c.tif")
    assert open_scene(byte).stretch is None
    assert open_scene(byte, stretch="none").stretch is None
    assert open_scene(byte, stretch="percentile").stretch is not None
    with pytest.raises(ConfigError, match="stretch 'log' is not one of"):
        open_scene(byte, stretch="log")


# --- errors --------------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(SceneError, match=r"nope\.tif does not exist; check the path"):
        open_scene(tmp_path / "nope.tif")


def test_directory(tmp_path):
    with pytest.raises(SceneError, match="is a directory, not a raster"):
        open_scene(tmp_path)


def test_not_a_raster(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("hello")
    with pytest.raises(SceneError, match=r"notes\.tif is not a raster GDAL can read; pass a GeoTIFF"):
        open_scene(path)


def test_zero_size_raster(tmp_path):
    path = tmp_path / "empty.vrt"
    path.write_text(
        '<VRTDataset rasterXSize="0" rasterYSize="10">'
        '<VRTRasterBand dataType="Byte" band="1"></VRTRasterBand></VRTDataset>'
    )
    with pytest.raises(SceneError, match=r"empty\.vrt has no pixels .*non-zero width and height"):
        open_scene(path)


def test_container_without_bands_points_at_its_subdatasets(tmp_path):
    path = tmp_path / "two.gpkg"
    for i, table in enumerate(["a", "b"]):
        with rasterio.open(
            path, "w", driver="GPKG", width=16, height=16, count=3, dtype="uint8", crs="EPSG:3857",
            transform=Affine(1, 0, 0, 0, -1, 16), RASTER_TABLE=table,
            APPEND_SUBDATASET="YES" if i else "NO",
        ) as dst:
            dst.write(np.ones((3, 16, 16), dtype="uint8"))
    with pytest.raises(SceneError, match=r"holds 2 subdatasets and no bands .* e\.g\. GPKG:"):
        open_scene(path)


def test_corrupt_tiles_fail_on_read_with_a_scene_error(rio):
    scene = open_scene(rio / "corrupt.tif")  # header and overviews are fine
    image, _ = scene.read(Window(0, 0, 256, 256))  # the first block decodes
    assert image.any()
    expected = r"corrupt\.tif: pixels at rows 600-699, .*`gdalinfo -checksum .*corrupt\.tif`"
    with pytest.raises(SceneError, match=expected):
        scene.read(Window(600, 600, 100, 100))


def test_open_cogeo_with_internal_mask(rio):
    scene = open_scene(rio / "cogeo.tif")
    assert scene.mask_source == "internal"
    assert scene.valid_fraction(scene.window) == 1.0
