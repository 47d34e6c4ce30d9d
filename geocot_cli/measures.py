"""Ground-true measures: areas and lengths on the Earth's ellipsoid, whatever the scene's CRS.

A projected CRS is not an equal-area CRS. Web Mercator (EPSG:3857) stretches both axes by
``1 / cos(latitude)``, so at 50 degrees north a square of 1 km of CRS units covers 0.41 km² of
ground; a UTM zone is off by up to a part in a thousand. So an area is computed as:

=====================  =================================================================  ============
CRS of the scene       area                                                               ``method``
=====================  =================================================================  ============
equal-area projection  planar area in CRS units, converted to m² (exact for that CRS)     ``planar``
(Albers, LAEA, EASE,
Mollweide, Equal Earth,
Sinusoidal, CEA, ...)
any other projection   the polygon, densified, moved to the CRS's own geographic CRS and  ``geodesic``
or geographic CRS      measured on its ellipsoid (pyproj ``Geod.geometry_area_perimeter``)
no CRS                 square pixels (of the file's coordinates)                          ``pixels``
=====================  =================================================================  ============

Lengths (a scene's width and height) are always geodesic: no projection keeps every length.

>>> m = area_measure("EPSG:3857")
>>> m.method, m.unit
('geodesic', 'm²')
>>> from shapely.geometry import box
>>> x0, y0 = 1113195.0, 6446276.0  # 10 E, 50 N in Web Mercator
>>> round(m(box(x0, y0, x0 + 1000, y0 + 1000)) / 1e6, 3)  # a 1 km CRS square is 0.41 km² of ground
0.414
>>> area_measure("EPSG:3035").method, area_measure(None).method
('planar', 'pixels')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["AreaMeasure", "area_measure", "equal_area_method", "ground_lengths"]

#: Projection methods (PROJ / EPSG names, lower case) that keep areas; any method whose name
#: says "equal area" (Albers, Lambert Azimuthal, Lambert Cylindrical: EASE-Grid, Behrmann) is one
#: too. A method missing here is measured geodesically, which is right for every CRS, only slower.
EQUAL_AREA_METHODS: frozenset[str] = frozenset({
    "mollweide", "sinusoidal", "equal earth", "goode homolosine", "interrupted goode homolosine",
    "eckert ii", "eckert iv", "eckert vi", "bonne", "bonne (south orientated)", "quartic authalic",
    "craster parabolic", "wagner iv", "flat polar quartic", "proj hammer", "proj collg",
})

#: Before a polygon is measured its edges are cut into pieces of at most 1/16 of the edge, and at
#: most :data:`MAX_STEP` long: a straight edge of the CRS (a parallel of a geographic CRS, a line
#: of a projection) is a curve on the ellipsoid, which a geodesic between far-apart vertices would
#: cut short (a 75-degree wide cell of a geographic raster measured with 16 pieces an edge is 0.8%
#: too large; with 0.01-degree pieces its error is below one part in a million).
DENSIFY = 16
#: Longest piece of an edge: in degrees for a geographic CRS, in CRS units (metres, feet) otherwise.
MAX_STEP = {"geographic": 0.01, "projected": 1000.0}


def _horizontal(crs: Any):
    """The pyproj CRS of ``crs`` (rasterio CRS, WKT, EPSG string, ...), bound and vertical parts dropped."""
    import pyproj

    proj = pyproj.CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    if proj.is_bound:
        proj = proj.source_crs
    if proj.is_compound:
        proj = next(c for c in proj.sub_crs_list if c.is_projected or c.is_geographic)
    return proj


def equal_area_method(crs: Any) -> str | None:
    """The name of ``crs``'s projection method when it keeps areas, else None.

    >>> equal_area_method("EPSG:6933"), equal_area_method("ESRI:54009"), equal_area_method("EPSG:3857")
    ('Lambert Cylindrical Equal Area', 'Mollweide', None)
    """
    if crs is None:
        return None
    proj = _horizontal(crs)
    op = proj.coordinate_operation if proj.is_projected else None
    name = (op.method_name if op is not None else "") or ""
    key = name.lower()
    return name if ("equal area" in key or key in EQUAL_AREA_METHODS) else None


@dataclass(frozen=True)
class AreaMeasure:
    """The area of a polygon of one CRS: call it with a shapely polygon.

    ``unit`` is ``m²`` (``px²`` without a CRS); ``method`` is ``geodesic``, ``planar`` (an
    equal-area CRS) or ``pixels``; ``detail`` says more (the ellipsoid, the projection method).
    """

    method: str
    unit: str
    detail: str
    _crs: Any = None
    _factor: float = 1.0

    def __call__(self, geometry) -> float:
        if self.method != "geodesic":
            return float(geometry.area) * self._factor * self._factor
        return geodesic_areas(self._crs, [geometry])[0]

    def many(self, geometries: Sequence[Any]) -> list[float]:
        """The areas of many polygons at once (one coordinate transformation for all)."""
        if self.method != "geodesic":
            return [float(g.area) * self._factor * self._factor for g in geometries]
        return geodesic_areas(self._crs, geometries)

    def as_dict(self) -> dict[str, str]:
        """``{"area_method": ..., "area_unit": ..., "area_detail": ...}`` for outputs."""
        return {"area_method": self.method, "area_unit": self.unit, "area_detail": self.detail}


def _unit_factor(proj) -> float:
    axis = proj.axis_info[0] if proj.axis_info else None
    return float(getattr(axis, "unit_conversion_factor", None) or 1.0)  # CRS unit -> metre


def area_measure(crs: Any) -> AreaMeasure:
    """How areas of polygons in ``crs`` are measured (see the module doc); None: no CRS.

    >>> from shapely.geometry import box
    >>> m = area_measure("EPSG:5070")  # NAD83 / Conus Albers: equal-area
    >>> m.method, m.detail
    ('planar', 'planar area in an equal-area CRS (Albers Equal Area)')
    >>> area_measure(None)(box(0, 0, 3, 3))
    9.0
    """
    if crs is None:
        return AreaMeasure("pixels", "px²", "square pixels: the raster has no CRS")
    proj = _horizontal(crs)
    method = equal_area_method(proj)
    if method is not None:
        return AreaMeasure("planar", "m²", f"planar area in an equal-area CRS ({method})", proj, _unit_factor(proj))
    ellipsoid = proj.ellipsoid.name if proj.ellipsoid is not None else "its ellipsoid"
    return AreaMeasure("geodesic", "m²", f"geodesic area on the {ellipsoid} ellipsoid", proj)


def _to_lonlat(proj, geometries: Sequence[Any]) -> list[Any]:
    """``geometries`` densified and moved to longitude/latitude of ``proj``'s own geographic CRS."""
    import numpy as np
    import pyproj
    import shapely

    geoms = np.asarray(list(geometries), dtype=object)
    if len(geoms) == 0:
        return []
    lengths = shapely.length(geoms)
    n_edges = np.maximum(shapely.get_num_coordinates(geoms) - 1, 1)
    step = np.minimum(lengths / n_edges / DENSIFY, MAX_STEP["projected" if proj.is_projected else "geographic"])
    geoms = shapely.segmentize(geoms, np.where(step > 0, step, 1.0))
    if proj.is_projected:
        to_geo = pyproj.Transformer.from_crs(proj, proj.geodetic_crs, always_xy=True)

        def move(xy):
            lon, lat = to_geo.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([lon, lat])

        geoms = shapely.transform(geoms, move)
    return list(geoms)


def geodesic_areas(proj, geometries: Sequence[Any]) -> list[float]:
    """The ground areas (m²) of polygons in ``proj`` (a pyproj CRS), on its ellipsoid."""
    geod = proj.get_geod()
    return [abs(float(geod.geometry_area_perimeter(g)[0])) for g in _to_lonlat(proj, geometries)]


def ground_lengths(crs: Any, transform, width: int, height: int) -> tuple[float, float, str]:
    """The ground width and height of a ``width`` x ``height`` px raster: ``(w, h, unit)``.

    Geodesic lengths (m) of the raster's middle row and middle column; pixel counts without a CRS.

    >>> from affine import Affine
    >>> w, h, unit = ground_lengths("EPSG:32631", Affine(10, 0, 500000, 0, -10, 5000000), 100, 50)
    >>> round(w), round(h), unit
    (1000, 500, 'm')
    >>> ground_lengths(None, Affine.identity(), 100, 50)
    (100.0, 50.0, 'px')
    """
    if crs is None:
        return float(width), float(height), "px"
    import numpy as np
    from shapely.geometry import LineString

    proj = _horizontal(crs)
    t = np.linspace(0.0, 1.0, 4 * DENSIFY + 1)
    rows = [(transform * (x * width, height / 2)) for x in t]
    cols = [(transform * (width / 2, y * height)) for y in t]
    geod = proj.get_geod()
    out = []
    for line in _to_lonlat(proj, [LineString(rows), LineString(cols)]):
        out.append(float(geod.geometry_length(line)) if math.isfinite(line.length) else float("nan"))
    return out[0], out[1], "m"
