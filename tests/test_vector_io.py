"""GeoPackage and GeoJSON output: schema, CRS, attribute round-trip, atomic and refused writes."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess

import pandas as pd
import pyogrio
import pyogrio.errors
import pyproj
import pytest
from affine import Affine

from geocot_cli.errors import OutputError
from geocot_cli.georef import Feature, box_polygon
from geocot_cli.io import COLUMNS, features_to_frame, write_layers

UTM = Affine(0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0)
NASTY = (
    'Grounding:\n1. ship [1,2,3,4]: a "moored" ship, it\'s 50% in shadow;'
    " ☃ 船 🚢\r\n\tend \\ ,"
)


def feat(box=(740.0, 840.0, 790.0, 900.0), *, transform=UTM, trace=NASTY, **kw) -> Feature:
    fields = dict(
        geometry=box_polygon(box, transform), scene_box=box, label="ship", claim="a ship, moored",
        score=None, tile_id="r1c1", task="detect", answer="[[1,2,3,4]]", trace=trace,
        edge_margin=100.0, merged_from=("r1c1",),
    )
    fields.update(kw)
    return Feature(**fields)


def sample_features() -> list[Feature]:
    return [
        feat(),
        feat((10.0, 20.0, 30.0, 40.0), score=0.75, answer=None, edge_margin=math.inf,
             merged_from=("r0c0", "r0c1"), tile_id="r0c1", claim="NUL\x00here",
             label="storage tank"),
        feat((100.0, 100.0, 101.0, 102.0), trace="x" * 200_000 + "\u00e9\ud800", claim=""),
    ]


@pytest.fixture
def frames():
    evidence = features_to_frame(sample_features(), "EPSG:32618")
    tiles = features_to_frame([feat((0.0, 0.0, 800.0, 800.0))], "EPSG:32618")
    tiles = tiles[["tile_id", "geometry"]]
    return {"evidence": evidence, "tiles": tiles}


# --- frames ---------------------------------------------------------------------------------


def test_frame_columns_and_values():
    frame = features_to_frame(sample_features(), "EPSG:32618")
    assert list(frame.columns) == [*COLUMNS, "geometry"]
    assert frame.crs == pyproj.CRS("EPSG:32618")
    row = frame.iloc[1]
    assert (row.merged_from, row.n_merged, row.tile_id, row.score) == ("r0c0,r0c1", 2, "r0c1", 0.75)
    assert row.answer is None and math.isnan(row.edge_margin)  # inf margin -> null
    assert row.claim == "NULhere"
    assert (row.x1, row.y1, row.x2, row.y2) == (10.0, 20.0, 30.0, 40.0)
    assert math.isnan(frame.iloc[0].score) and frame.iloc[0].n_merged == 1


def test_frame_accepts_rasterio_crs():
    from rasterio.crs import CRS

    frame = features_to_frame([feat()], CRS.from_epsg(32618))
    assert frame.crs.to_epsg() == 32618


def test_empty_frame_keeps_schema():
    frame = features_to_frame([], None)
    assert list(frame.columns) == [*COLUMNS, "geometry"] and len(frame) == 0
    assert str(frame["n_merged"].dtype) == "int64" and str(frame["score"].dtype) == "float64"


# --- GeoPackage -----------------------------------------------------------------------------


def test_gpkg_round_trip(tmp_path, frames):
    out = write_layers(tmp_path / "out.gpkg", frames)
    assert out == tmp_path / "out.gpkg"
    layers = [tuple(x) for x in pyogrio.list_layers(out)]
    assert layers == [("evidence", "Polygon"), ("tiles", "Polygon")]
    info = pyogrio.read_info(out, layer="evidence")
    assert pyproj.CRS(info["crs"]) == pyproj.CRS("EPSG:32618")
    assert list(info["fields"]) == list(COLUMNS)
    back = pyogrio.read_dataframe(out, layer="evidence")
    assert back.crs == pyproj.CRS("EPSG:32618")
    assert back.loc[0, "trace"] == NASTY
    assert back.loc[1, "claim"] == "NULhere"
    assert back.loc[2, "trace"] == "x" * 200_000 + "\u00e9\ufffd"
    assert back.loc[1, "merged_from"] == "r0c0,r0c1" and back.loc[1, "n_merged"] == 2
    assert back.loc[1, "score"] == 0.75 and math.isnan(back.loc[0, "score"])
    assert pd.isna(back.loc[1, "answer"]) and back.loc[0, "answer"] == "[[1,2,3,4]]"
    assert math.isnan(back.loc[1, "edge_margin"]) and back.loc[0, "edge_margin"] == 100.0
    assert back.loc[1, "label"] == "storage tank" and back.loc[0, "claim"] == "a ship, moored"
    assert back.geometry[0].equals_exact(frames["evidence"].geometry[0], 1e-9)
    assert sorted(back.geometry[0].exterior.coords)[0] == (500370.0, 3999550.0)
    assert (tmp_path / "out.gpkg").is_file() and os.listdir(tmp_path) == ["out.gpkg"]


def test_ogrinfo_lists_layer_with_crs(tmp_path, frames):
    ogrinfo = shutil.which("ogrinfo") or "/usr/bin/ogrinfo"
    if not os.path.exists(ogrinfo):
        pytest.skip("GDAL ogrinfo not installed")
    out = write_layers(tmp_path / "out.gpkg", frames)
    text = subprocess.run([ogrinfo, "-so", str(out), "evidence"], capture_output=True, text=True,
                          check=True).stdout
    assert "Layer name: evidence" in text
    assert "Geometry: Polygon" in text and "Feature Count: 3" in text
    assert "WGS 84 / UTM zone 18N" in text and 'ID["EPSG",32618]' in text
    assert "trace: String" in text


def test_empty_layer_written_with_schema(tmp_path):
    out = write_layers(tmp_path / "empty.gpkg", {"evidence": features_to_frame([], "EPSG:32618")})
    info = pyogrio.read_info(out, layer="evidence")
    assert info["features"] == 0 and info["geometry_type"] == "Polygon"
    assert list(info["fields"]) == list(COLUMNS)
    assert pyproj.CRS(info["crs"]) == pyproj.CRS("EPSG:32618")


def test_gpkg_without_crs_keeps_pixel_coordinates(tmp_path):
    frame = features_to_frame([feat((10.0, 20.0, 30.0, 40.0), transform=Affine.identity())], None)
    out = write_layers(tmp_path / "px.gpkg", {"evidence": frame})
    back = pyogrio.read_dataframe(out, layer="evidence")
    assert back.crs is None
    assert back.geometry[0].bounds == (10.0, 20.0, 30.0, 40.0)


# --- GeoJSON --------------------------------------------------------------------------------


def test_geojson_is_rfc7946_lon_lat(tmp_path, frames):
    out = write_layers(tmp_path / "out.geojson", frames)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and doc["name"] == "evidence"
    assert "crs" not in doc  # RFC 7946: WGS 84 implied
    assert len(doc["features"]) == 3  # the evidence layer only; "tiles" left out
    to_wgs84 = pyproj.Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True)
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    lon, lat = to_wgs84.transform(500370.0, 3999550.0)
    assert -76 < lon < -74 and 35 < lat < 37  # lon first, lat second
    assert any(abs(x - lon) < 1e-6 and abs(y - lat) < 1e-6 for x, y in ring)
    props = doc["features"][0]["properties"]
    assert props["trace"] == NASTY and props["merged_from"] == "r1c1" and props["score"] is None
    assert doc["features"][1]["properties"]["answer"] is None


def test_geojson_without_crs_refused(tmp_path):
    frame = features_to_frame([feat()], None)
    with pytest.raises(OutputError, match=r"scene has no CRS; write a \.gpkg"):
        write_layers(tmp_path / "out.geojson", {"evidence": frame})
    assert os.listdir(tmp_path) == []


def test_json_extension_and_empty_layer(tmp_path):
    out = write_layers(tmp_path / "out.json", {"evidence": features_to_frame([], "EPSG:32618")})
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection" and doc["features"] == []


# --- refusals and atomicity -----------------------------------------------------------------


def test_existing_output_needs_overwrite(tmp_path, frames):
    out = tmp_path / "out.gpkg"
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="out.gpkg exists; pass --overwrite"):
        write_layers(out, frames)
    assert out.read_bytes() == b"old"
    write_layers(out, frames, overwrite=True)
    assert [x[0] for x in pyogrio.list_layers(out)] == ["evidence", "tiles"]


def test_unknown_extension_lists_known_ones(tmp_path, frames):
    with pytest.raises(OutputError, match=r"'\.shp'.*write \.gpkg .* or \.geojson .*ogr2ogr .*out\.shp .*out\.gpkg"):
        write_layers(tmp_path / "out.shp", frames)
    with pytest.raises(OutputError, match="none"):
        write_layers(tmp_path / "out", frames)


def test_missing_folder(tmp_path, frames):
    with pytest.raises(OutputError, match="does not exist"):
        write_layers(tmp_path / "nope" / "out.gpkg", frames)


def test_output_path_is_a_folder(tmp_path, frames):
    (tmp_path / "dir.gpkg").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        write_layers(tmp_path / "dir.gpkg", frames, overwrite=True)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder(tmp_path, frames):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            write_layers(folder / "out.gpkg", frames)
    finally:
        folder.chmod(0o700)


def test_unwritable_folder_message(tmp_path, frames, monkeypatch):
    import geocot_cli.io.vector as vector

    monkeypatch.setattr(vector.os, "access", lambda *a, **k: False)
    with pytest.raises(OutputError, match=f"output folder {tmp_path} is not writable"):
        write_layers(tmp_path / "out.gpkg", frames)


def test_no_layers(tmp_path):
    with pytest.raises(OutputError, match="no layers"):
        write_layers(tmp_path / "out.gpkg", {})


@pytest.mark.parametrize("error", [pyogrio.errors.DataLayerError("disk full"), RuntimeError("bug")])
def test_failure_mid_write_keeps_old_file_and_no_temp(tmp_path, frames, monkeypatch, error):
    out = write_layers(tmp_path / "out.gpkg", {"evidence": frames["evidence"]})
    before = out.read_bytes()
    real = pyogrio.write_dataframe
    calls = []

    def flaky(df, path, **kw):
        calls.append(path)
        if len(calls) == 2:  # the first layer is on disk in the temp file; the second fails
            raise error
        return real(df, path, **kw)

    monkeypatch.setattr(pyogrio, "write_dataframe", flaky)
    expected = OutputError if isinstance(error, pyogrio.errors.DataLayerError) else RuntimeError
    with pytest.raises(expected) as info:
        write_layers(out, frames, overwrite=True)
    if expected is OutputError:
        assert "could not write" in str(info.value) and "\n" not in str(info.value)
    assert os.listdir(tmp_path) == ["out.gpkg"]
    assert out.read_bytes() == before
    assert str(calls[0].parent) != str(tmp_path)  # written in a temporary folder, not in place
