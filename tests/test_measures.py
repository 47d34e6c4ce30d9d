"""Ground-true measures: classify areas and caption sizes are ground areas and lengths, not CRS units.

Every expected value here is computed independently with pyproj (a ``Geod`` on longitude/latitude
corners), never with geocot's own measure.
"""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from shapely.geometry import box

from geocot_cli.api import caption_scene, classify_scene
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.config import TilingOptions
from geocot_cli.measures import area_measure, equal_area_method, ground_lengths

GEOD = pyproj.Geod(ellps="WGS84")


def answer(text):
    return ScriptedBackend(lambda image, prompt: f"<think>Planning: look.\nGrounding: none.\nSynthesis: {text}."
                                                 f"</think><answer>{text}</answer>")


def lonlat(crs, xs, ys):
    return pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)


def geodesic_area_of_box(crs, x1, y1, x2, y2, n=200) -> float:
    """The area of a CRS-aligned box on the WGS 84 ellipsoid, edges cut into ``n`` pieces."""
    t = np.linspace(0, 1, n, endpoint=False)
    xs = np.concatenate([x1 + (x2 - x1) * t, np.full(n, x2), x2 - (x2 - x1) * t, np.full(n, x1)])
    ys = np.concatenate([np.full(n, y1), y1 + (y2 - y1) * t, np.full(n, y2), y2 - (y2 - y1) * t])
    lon, lat = lonlat(crs, xs, ys)
    area, _ = GEOD.polygon_area_perimeter(lon, lat)
    return abs(area)


def crop(src, dst, window: Window):
    with rasterio.open(src) as ds:
        profile = ds.profile | {"width": int(window.width), "height": int(window.height),
                                "transform": ds.window_transform(window), "driver": "GTiff"}
        for key in ("blockxsize", "blockysize", "tiled", "compress", "interleave", "photometric"):
            profile.pop(key, None)
        data = ds.read(window=window)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data)
    return dst


def test_classify_area_of_a_web_mercator_crop_is_geodesic(real_data, tmp_path):
    """The issue's case: a 256 px crop of cogeo.tif (EPSG:3857, 0.6 m CRS pixels at 37.6 N)
    was reported as 23,370 m²; its ground area is about 14,617 m²."""
    path = crop(real_data / "rasterio/cogeo.tif", tmp_path / "crop.tif", Window(0, 0, 256, 256))
    ans, scene = classify_scene(path, backend=answer("forest"), tiling=TilingOptions(tile=256, overlap=0))
    (x1, y1, x2, y2) = scene.bounds
    expected = geodesic_area_of_box("EPSG:3857", x1, y1, x2, y2)
    assert expected == pytest.approx(14_617, rel=0.01)  # the figure
    assert ans.value["area_method"] == "geodesic" and ans.value["unit"] == "m²"
    assert ans.value["total_area"] == pytest.approx(expected, rel=1e-6)
    assert ans.value["classes"]["forest"]["area"] == pytest.approx(expected, rel=1e-6)
    assert (x2 - x1) * (y2 - y1) == pytest.approx(23_370, rel=0.01)  # what was reported before: CRS units
    assert "15,0" not in ans.answer and "14,6" in ans.answer  # "forest 100% (14,6xx m²)"


def test_caption_size_of_a_web_mercator_scene_is_ground_length(real_data):
    """rgb1_fake_nir_epsg3857.tif is 135 x 136 km of Web Mercator units, about 123 x 123 km of ground."""
    path = real_data / "rasterio/rgb1_fake_nir_epsg3857.tif"
    ans, scene = caption_scene(path, backend=answer("a coast"), tiling=TilingOptions(tile=400, overlap=80))
    t, w, h = scene.transform, scene.width, scene.height
    # middle row: a parallel; its length is the parallel's radius times the longitude span
    (lon0, lon1), (lat, _) = lonlat("EPSG:3857", [t.c, t.c + w * t.a], [t.f + h / 2 * t.e] * 2)
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    phi = math.radians(lat)
    parallel_radius = a * math.cos(phi) / math.sqrt(1 - e2 * math.sin(phi) ** 2)
    width = parallel_radius * math.radians(lon1 - lon0)
    # middle column: a meridian; its length is Geod's distance between its ends
    lons, lats = lonlat("EPSG:3857", [t.c + w / 2 * t.a] * 2, [t.f, t.f + h * t.e])
    _, _, height = GEOD.inv(lons[0], lats[0], lons[1], lats[1])
    assert ans.value["size"] == pytest.approx([width, height], rel=1e-5)
    assert ans.value["size_method"] == "geodesic"
    assert width == pytest.approx(123_000, rel=0.01) and height == pytest.approx(123_000, rel=0.01)
    assert ans.answer.startswith(f"A {width / 1000:.3g} km × {height / 1000:.3g} km scene")


def test_equal_area_crs_is_measured_in_the_plane(make_geotiff):
    # EASE-Grid 2.0 (Lambert Cylindrical Equal Area): planar areas are ground areas
    path = make_geotiff("ease.tif", width=64, height=64, crs="EPSG:6933", origin=(1_000_000.0, 5_000_000.0), res=100.0)
    ans, _ = classify_scene(path, backend=answer("lake"), tiling=TilingOptions(tile=32, overlap=0))
    assert ans.value["area_method"] == "planar" and "Lambert Cylindrical Equal Area" in ans.value["area_detail"]
    assert ans.value["total_area"] == pytest.approx(6400.0 ** 2)
    # and the geodesic area of the same footprint agrees: the CRS keeps areas
    assert geodesic_area_of_box("EPSG:6933", 1e6, 5e6 - 6400, 1e6 + 6400, 5e6) == pytest.approx(6400.0 ** 2, rel=1e-4)


def test_geographic_and_pixel_scenes(make_geotiff):
    path = make_geotiff("geo.tif", width=40, height=20, crs="EPSG:4326", origin=(10.0, 50.0), res=0.01)
    ans, _ = classify_scene(path, backend=answer("forest"), tiling=TilingOptions(tile=20, overlap=0))
    assert ans.value["area_method"] == "geodesic"
    assert ans.value["total_area"] == pytest.approx(geodesic_area_of_box("EPSG:4326", 10.0, 49.8, 10.4, 50.0), rel=1e-6)
    bare = make_geotiff("bare.tif", width=40, height=20, crs=None, transform=Affine.identity())
    with pytest.warns(UserWarning, match="no CRS"):
        ans, _ = classify_scene(bare, backend=answer("forest"), tiling=TilingOptions(tile=20, overlap=0))
    assert (ans.value["area_method"], ans.value["unit"], ans.value["total_area"]) == ("pixels", "px²", 800.0)


@pytest.mark.parametrize("crs, equal_area", [
    ("EPSG:3035", True), ("EPSG:5070", True), ("EPSG:6933", True), ("EPSG:3410", True), ("ESRI:54009", True),
    ("EPSG:8857", True), ("ESRI:54008", True), ("+proj=sinu +R=6371007.181", True), ("ESRI:54052", True),
    ("EPSG:3857", False), ("EPSG:32618", False), ("EPSG:4326", False), ("EPSG:2154", False), ("+proj=robin", False),
])
def test_equal_area_crs_table(crs, equal_area):
    assert (equal_area_method(crs) is not None) == equal_area
    assert area_measure(crs).method == ("planar" if equal_area else "geodesic")


def test_utm_area_differs_from_planar_by_the_scale_factor():
    # on the central meridian of a UTM zone the scale factor is 0.9996: ground = planar / 0.9996²
    m = area_measure("EPSG:32631")
    planar = box(499_000, 5_000_000, 501_000, 5_002_000)
    assert m(planar) == pytest.approx(planar.area / 0.9996 ** 2, rel=2e-5)


def test_ground_lengths_of_the_whole_world():
    w, h, unit = ground_lengths("EPSG:4326", Affine(0.125, 0, -180, 0, -0.125, 90), 2880, 1440)
    assert unit == "m"
    assert w == pytest.approx(2 * math.pi * 6378137.0, rel=1e-6)  # the equator
    assert h == pytest.approx(20_003_931, rel=1e-6)  # pole to pole on WGS 84


def test_a_geographic_cell_is_bounded_by_parallels(make_geotiff):
    """A 75-degree wide cell of a geographic raster is bounded by parallels, not by geodesics between
    its corners: its area is the ellipsoidal zone's (exact formula here, not pyproj)."""
    path = make_geotiff("zone.tif", width=360, height=150, count=1, crs="EPSG:4326", origin=(-180.0, 75.0), res=1.0)
    ans, _ = classify_scene(path, backend=answer("sea ice"), tiling=TilingOptions(tile=150, overlap=0))
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    e = math.sqrt(e2)

    def q(lat):  # the authalic latitude function
        s = math.sin(math.radians(lat))
        return (1 - e2) * (s / (1 - e2 * s * s) - math.log((1 - e * s) / (1 + e * s)) / (2 * e))

    zone = math.pi * a * a * (q(75) - q(-75))  # 2 pi a^2 / 2 * (q2 - q1)
    assert ans.value["total_area"] == pytest.approx(zone, rel=1e-6)
    assert ans.value["classes"]["sea ice"]["area"] == pytest.approx(zone, rel=1e-6)
