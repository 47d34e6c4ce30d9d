"""Where things are in a scene, in the scene's own terms, and how large an area is.

A scene answer says "3 ships in the north-west", not "3 ships near pixel row 0": rows run south
only in a north-up raster. :class:`Compass` places a point of the scene's CRS on the scene's
footprint along geographic axes (east = +x and north = +y of the CRS, whatever the geotransform's
rotation or flip), so a south-up or rotated raster names its corners correctly. A raster without
a CRS has no north: its positions are named in image terms (``top-left``, ``bottom``, ...), from
pixel rows and columns.

Areas and lengths on the ground are :mod:`geocot_cli.measures`'.

>>> from affine import Affine
>>> south_up = Compass(Affine(1, 0, 0, 0, 1, 0), 100, 100, georeferenced=True)
>>> south_up.region(*(south_up.transform * (5, 5)))  # pixel row 5 is in the south of a south-up scene
'south-west'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from affine import Affine

__all__ = ["REGIONS", "Compass"]

#: Region names on a 3 x 3 split of the footprint, north row first; ``IMAGE_REGIONS`` without a CRS.
REGIONS: tuple[str, ...] = (
    "north-west", "north", "north-east", "west", "centre", "east", "south-west", "south", "south-east",
)
IMAGE_REGIONS: tuple[str, ...] = (
    "top-left", "top", "top-right", "left", "centre", "right", "bottom-left", "bottom", "bottom-right",
)
#: (u, v) target of each region name (u: west -> east, v: south -> north), for "the ship in the north".
_TARGETS = {
    name: ((i % 3) / 2, 1 - (i // 3) / 2) for names in (REGIONS, IMAGE_REGIONS) for i, name in enumerate(names)
}


@dataclass(frozen=True)
class Compass:
    """Positions on a scene's footprint along its geographic axes.

    ``transform`` maps scene pixels to scene coordinates; ``georeferenced`` says whether those are
    in a CRS (then east = +x, north = +y) or are file/pixel coordinates (then "north" is the top
    of the image: pixel row 0).

    >>> c = Compass(Affine(10, 0, 500000, 0, -10, 4000000), 300, 300, georeferenced=True)
    >>> c.region(500100, 3999900), c.region(502900, 3997100), c.region(501500, 3998500)
    ('north-west', 'south-east', 'centre')
    """

    transform: Affine
    width: int
    height: int
    georeferenced: bool

    @classmethod
    def of(cls, scene) -> Compass:
        """The compass of a :class:`~geocot_cli.scene.Scene`."""
        return cls(scene.transform, scene.width, scene.height, bool(scene.crs is not None))

    def east_north(self, x: float, y: float) -> tuple[float, float]:
        """A point of scene coordinates as (east, north): CRS axes, or (column, -row) without a CRS."""
        if self.georeferenced:
            return float(x), float(y)
        col, row = ~self.transform * (x, y)
        return float(col), -float(row)

    def _extent(self) -> tuple[float, float, float, float]:
        corners = [self.transform * xy for xy in ((0, 0), (self.width, 0), (self.width, self.height), (0, self.height))]
        en = [self.east_north(x, y) for x, y in corners]
        es, ns = zip(*en)
        return min(es), min(ns), max(es), max(ns)

    def position(self, x: float, y: float) -> tuple[float, float]:
        """(u, v) in [0, 1]: share of the footprint's extent to the west (u) and south (v) of the point."""
        e0, n0, e1, n1 = self._extent()
        e, n = self.east_north(x, y)
        u = (e - e0) / (e1 - e0) if e1 > e0 else 0.5
        v = (n - n0) / (n1 - n0) if n1 > n0 else 0.5
        return min(max(u, 0.0), 1.0), min(max(v, 0.0), 1.0)

    def region(self, x: float, y: float) -> str:
        """The ninth of the footprint the point lies in: ``north-west`` ... ``centre`` ... ``south-east``."""
        u, v = self.position(x, y)
        col = 0 if u < 1 / 3 else 2 if u > 2 / 3 else 1
        row = 0 if v > 2 / 3 else 2 if v < 1 / 3 else 1
        return (REGIONS if self.georeferenced else IMAGE_REGIONS)[row * 3 + col]

    def where(self, points: Iterable[tuple[float, float]]) -> str:
        """A phrase for where a set of points lies: ``in the north``, ``mostly in the east``, ``across the scene``.

        >>> c = Compass(Affine.identity(), 90, 90, georeferenced=False)
        >>> c.where([(5, 5), (10, 8)]), c.where([(5, 5), (6, 6), (80, 80)]), c.where([(5, 5), (80, 80)])
        ('in the top-left', 'mostly in the top-left', 'across the scene')
        """
        regions = Counter(self.region(x, y) for x, y in points)
        if not regions:
            return ""
        (best, n), total = regions.most_common(1)[0], sum(regions.values())
        if n == total:
            return f"in the {best}"
        if n / total >= 0.6:
            return f"mostly in the {best}"
        return "across the scene"

    def target(self, name: str) -> tuple[float, float] | None:
        """The (u, v) of a region name (``north-west``, ``top left``, ``centre``), or None."""
        key = name.lower().replace(" ", "-").replace("center", "centre").replace("middle", "centre")
        key = key.replace("upper", "top").replace("lower", "bottom")
        return _TARGETS.get(key)
