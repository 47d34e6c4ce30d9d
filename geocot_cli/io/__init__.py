"""Readers and writers at the edge of geocot: vector layers (GeoPackage, GeoJSON) for GIS users.

Importing this package imports no geopandas or pyogrio; they load when a function is called.
"""

from __future__ import annotations

from .vector import COLUMNS, EXTENSIONS, features_to_frame, write_layers

__all__ = ["COLUMNS", "EXTENSIONS", "features_to_frame", "write_layers"]
