"""Synthetic georeferenced scenes with drawn objects, and their ground truth for all six tasks.

``geocot data synth OUT --n N --seed S`` writes ``OUT/scene_00000.tif`` ... (3-band uint8 GeoTIFF,
north-up, in a projected CRS (UTM, EPSG:32633 by default) with ``gsd``-metre pixels at a plausible
UTM origin) and ``OUT/ground_truth.jsonl`` (the sample schema of :mod:`geocot_cli.data.schema`).

Each scene is one of :data:`SCENE_CLASSES`. A background (textured soil, fields, roads, and the
class's setting: water and a quay for a harbor, a runway and apron for an airport, an asphalt lot
for a parking lot, sandy ground for a tank farm) carries objects of :data:`OBJECT_CLASSES`, each a
distinct shape and colour: airplane (a cross: fuselage, wings, tail), ship (an elongated hull with a
pointed bow), vehicle (a small rectangle with a windscreen), storage tank (a circle with a roof ring).
Sizes, angles and counts vary (0 to many); objects never overlap. The scene class is the class of the
dominant object (airplane -> airport, ship -> harbor, vehicle -> parking lot, storage tank -> tank
farm; no object -> empty). When the scene is larger than ``tile`` some objects straddle the seams of
the ``tile``/``overlap`` grid geocot uses at inference, so seam de-duplication can be tested.

Per scene, one sample per task: detect / count / vqa ("is there a ...?") about one class (usually a
present one, sometimes an absent one), a templated caption, the scene class, and a referring
expression ("the largest ship", "the northernmost vehicle", "the storage tank in the south-east")
that picks out exactly one object (skipped for a scene with no object). Boxes are the tight pixel
extent of each drawn object. Everything derives from ``numpy.random.default_rng([seed, scene])``, so
the same seed gives the same bytes.

>>> SCENE_CLASSES
('airport', 'harbor', 'parking lot', 'tank farm', 'empty')
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, OutputError
from ..prompts import default_question
from ..types import PixelBox
from .schema import Sample, write_samples
from .tasks import plural

__all__ = [
    "OBJECT_CLASSES",
    "SCENE_CLASSES",
    "SynthOptions",
    "SynthReport",
    "Scene",
    "render_scene",
    "scene_samples",
    "synthesize",
]

OBJECT_CLASSES: tuple[str, ...] = ("airplane", "ship", "vehicle", "storage tank")
SCENE_CLASSES: tuple[str, ...] = ("airport", "harbor", "parking lot", "tank farm", "empty")
_SCENE_OF = {"airplane": "airport", "ship": "harbor", "vehicle": "parking lot", "storage tank": "tank farm"}
_OBJECT_OF = {v: k for k, v in _SCENE_OF.items()}
# object length in pixels (min, max) at object_scale 1
_LENGTH = {"airplane": (16, 34), "ship": (14, 36), "vehicle": (6, 10), "storage tank": (8, 22)}
_CAR_COLOURS = np.array([[200, 35, 30], [35, 70, 200], [238, 238, 238], [230, 200, 45], [150, 150, 160], [40, 150, 60]])


@dataclass(frozen=True)
class SynthOptions:
    """What ``geocot data synth`` draws.

    n: number of scenes (each gives up to six samples, one per task). seed: same seed, same bytes.
    size: scene side in pixels (small by default so a demo model trains fast; any size works, e.g.
    2000 for scenes of several 800 px tiles). tile, overlap: the inference grid whose seams some
    objects straddle (only when size > tile). gsd: metres per pixel. epsg: projected CRS code.
    object_scale: multiplies object sizes. max_objects: at most this many objects in a scene (None:
    no cap), e.g. 1 for the one-object scenes a curriculum starts from; scenes stay reproducible.
    """

    n: int = 100
    seed: int = 0
    size: int = 128
    tile: int = 800
    overlap: int = 160
    gsd: float = 0.5
    epsg: int = 32633
    object_scale: float = 1.0
    max_objects: int | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n ({self.n}) must be at least 1 scene; try --n 100")
        if self.size < 32:
            raise ConfigError(f"size ({self.size}) must be at least 32 pixels; try --size 128")
        if self.tile <= 0 or not 0 <= self.overlap < self.tile:
            raise ConfigError(f"tile ({self.tile}) must be > overlap ({self.overlap}) >= 0; try --tile 800 --overlap 160")
        if self.gsd <= 0:
            raise ConfigError(f"gsd ({self.gsd}) must be > 0 metres per pixel")
        if not 0.25 <= self.object_scale <= 8:
            raise ConfigError(f"object_scale ({self.object_scale}) must be between 0.25 and 8")
        if self.max_objects is not None and self.max_objects < 1:
            raise ConfigError(f"max_objects ({self.max_objects}) must be at least 1; leave it out for no cap")


@dataclass(frozen=True)
class Scene:
    """One drawn scene: the image (h, w, 3 uint8), its objects and its class and georeferencing."""

    index: int
    image: np.ndarray
    boxes: tuple[PixelBox, ...]
    labels: tuple[str, ...]
    scene_class: str
    origin: tuple[float, float]
    near_seam: int


@dataclass(frozen=True)
class SynthReport:
    """What :func:`synthesize` wrote."""

    out: Path
    ground_truth: Path
    scenes: int
    samples: int
    objects: int


# ------------------------------------------------------------------------------------ the drawing


def _lerp_matrix(n: int, cell: int, m: int) -> np.ndarray:
    """(n, m) linear-interpolation weights from m grid nodes spaced ``cell`` pixels apart."""
    pos = np.arange(n, dtype=np.float32) / cell
    i0 = pos.astype(np.int64)
    f = pos - i0
    w = np.zeros((n, m), np.float32)
    w[np.arange(n), i0] = 1 - f
    w[np.arange(n), i0 + 1] = f
    return w


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Bilinear-upsampled random field in [0, 1), shape (h, w), float32."""
    gh, gw = h // cell + 2, w // cell + 2
    g = rng.random((gh, gw), dtype=np.float32)
    return _lerp_matrix(h, cell, gh) @ g @ _lerp_matrix(w, cell, gw).T


def _background(rng: np.random.Generator, size: int, scene_class: str) -> tuple[np.ndarray, np.ndarray]:
    """Textured ground with fields and roads plus the class's setting; returns (image float, zone mask).

    The zone mask marks where the dominant objects of the class may stand (water for ships, apron for
    airplanes, the lot for vehicles, the sandy yard for tanks; everywhere for an empty scene).
    """
    h = w = size
    soil = np.array([110, 120, 80]) + rng.integers(-20, 20, 3)
    tex = _smooth_noise(rng, h, w, max(8, size // 6))[..., None]
    img = (soil.astype(np.float32) + (tex - 0.5) * 50) + (rng.random((h, w, 1), dtype=np.float32) - 0.5) * 20
    for _ in range(rng.integers(1, 5)):  # fields
        x0, y0 = rng.integers(0, w - 8), rng.integers(0, h - 8)
        fw, fh = rng.integers(w // 6, w // 2 + 1), rng.integers(h // 6, h // 2 + 1)
        colour = np.array([[95, 140, 60], [150, 140, 90], [80, 110, 55], [170, 155, 110]][rng.integers(0, 4)])
        img[y0:y0 + fh, x0:x0 + fw] = colour + (tex[y0:y0 + fh, x0:x0 + fw] - 0.5) * 30
    for _ in range(rng.integers(0, 3)):  # roads
        rw = int(rng.integers(3, 7))
        pos = int(rng.integers(0, size - rw))
        if rng.random() < 0.5:
            img[pos:pos + rw, :] = 120
        else:
            img[:, pos:pos + rw] = 120
    zone = np.ones((h, w), bool)
    frac = rng.uniform(0.45, 0.7)
    edge = int(size * frac)
    horizontal = rng.random() < 0.5
    region = (slice(0, edge), slice(None)) if horizontal else (slice(None), slice(0, edge))
    if scene_class != "empty":
        zone[:] = False
        zone[region] = True
    if scene_class == "harbor":
        img[region] = np.array([35, 70, 110]) + (tex[region] - 0.5) * 25
        if horizontal:
            img[edge:edge + 3, :] = 170
        else:
            img[:, edge:edge + 3] = 170
    elif scene_class == "airport":
        img[region] = 175 + (tex[region] - 0.5) * 12
        rw = max(6, size // 12)
        if horizontal:
            img[edge + 4:edge + 4 + rw, :] = 95
        else:
            img[:, edge + 4:edge + 4 + rw] = 95
    elif scene_class == "parking lot":
        img[region] = 78 + (tex[region] - 0.5) * 10
        step = 12
        if horizontal:
            img[:edge, ::step] = 205
        else:
            img[::step, :edge] = 205
    elif scene_class == "tank farm":
        img[region] = np.array([185, 170, 140]) + (tex[region] - 0.5) * 20
    return img, zone


def _inside_poly(u: np.ndarray, v: np.ndarray, pts: list[tuple[float, float]]) -> np.ndarray:
    """Point-in-convex-polygon (vertices counter-clockwise in (u, v))."""
    m = np.ones(u.shape, bool)
    for (u1, v1), (u2, v2) in zip(pts, pts[1:] + pts[:1]):
        m &= (u2 - u1) * (v - v1) - (v2 - v1) * (u - u1) >= 0
    return m


def _rect(u0: float, u1: float, hw: float) -> list[tuple[float, float]]:
    return [(u0, -hw), (u1, -hw), (u1, hw), (u0, hw)]


def _shape(cls: str, L: float, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(object mask, detail mask) in object coordinates u (along), v (across)."""
    if cls == "airplane":
        body = _inside_poly(u, v, _rect(-0.5 * L, 0.5 * L, 0.07 * L))
        wing = _inside_poly(u, v, _rect(-0.05 * L, 0.13 * L, 0.46 * L))
        tail = _inside_poly(u, v, _rect(-0.5 * L, -0.38 * L, 0.18 * L))
        return body | wing | tail, body & (u > 0.38 * L)
    if cls == "ship":
        hw = 0.5 * L * rng.uniform(0.22, 0.32)
        hull = _inside_poly(u, v, [(-0.5 * L, -hw), (0.28 * L, -hw), (0.5 * L, 0.0), (0.28 * L, hw), (-0.5 * L, hw)])
        cabin = _inside_poly(u, v, _rect(-0.42 * L, -0.18 * L, 0.6 * hw))
        return hull, cabin
    if cls == "vehicle":
        car = _inside_poly(u, v, _rect(-0.5 * L, 0.5 * L, 0.24 * L))
        glass = _inside_poly(u, v, _rect(0.12 * L, 0.3 * L, 0.18 * L))
        return car, glass
    r2 = u * u + v * v
    return r2 <= (0.5 * L) ** 2, (r2 <= (0.36 * L) ** 2) & (r2 >= (0.30 * L) ** 2)


def _colours(cls: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if cls == "airplane":
        c = np.full(3, rng.integers(222, 250))
        return c, c - 70
    if cls == "ship":
        c = np.array([rng.integers(190, 235)] * 3) + np.array([0, 0, rng.integers(0, 15)])
        return c, np.array([120, 60, 40])
    if cls == "vehicle":
        c = _CAR_COLOURS[rng.integers(0, len(_CAR_COLOURS))]
        return c, np.array([30, 35, 45])
    return np.full(3, rng.integers(225, 248)), np.array([160, 160, 165])


def _grid_seams(size: int, tile: int, overlap: int) -> list[int]:
    """Pixel positions of tile edges inside a scene (the grid of :mod:`geocot_cli.tiling`)."""
    if size <= tile:
        return []
    stride = tile - overlap
    origins = list(range(0, size - tile + 1, stride))
    if origins[-1] + tile < size:
        origins.append(size - tile)
    seams = {o for o in origins[1:]} | {o + tile for o in origins[:-1]}
    return sorted(s for s in seams if 0 < s < size)


def _place(rng: np.random.Generator, img: np.ndarray, zone: np.ndarray, cls: str, boxes: list[PixelBox],
           scale: float, seams: list[int]) -> tuple[PixelBox | None, bool]:
    """Try to draw one object of ``cls`` in ``zone`` without touching ``boxes``; returns its box."""
    size = img.shape[0]
    lo, hi = _LENGTH[cls]
    for _ in range(30):
        L = rng.uniform(lo, hi) * scale
        if cls == "vehicle":
            theta = rng.choice([0.0, math.pi / 2, math.pi, 1.5 * math.pi]) + rng.normal(0, 0.08)
        else:
            theta = rng.uniform(0, 2 * math.pi)
        R = 0.55 * L + 1
        if size < 2 * R + 4:
            return None, False
        cx, cy = rng.uniform(R + 1, size - R - 1, 2)
        seam = False
        if seams and rng.random() < 0.3:
            s = float(seams[rng.integers(0, len(seams))]) + rng.uniform(-L / 4, L / 4)
            if R + 1 < s < size - R - 1:
                if rng.random() < 0.5:
                    cx = s
                else:
                    cy = s
                seam = True
        if not zone[int(cy), int(cx)]:
            continue
        x0, y0 = int(cx - R), int(cy - R)
        x1, y1 = int(cx + R) + 1, int(cy + R) + 1
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dx, dy = xx + 0.5 - cx, yy + 0.5 - cy
        c, s_ = math.cos(theta), math.sin(theta)
        u, v = dx * c + dy * s_, -dx * s_ + dy * c
        mask, detail = _shape(cls, L, u, v, rng)
        ys, xs = np.nonzero(mask)
        if len(xs) < 4:
            continue
        box = (float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1), float(y0 + ys.max() + 1))
        if any(box[0] < b[2] + 2 and b[0] < box[2] + 2 and box[1] < b[3] + 2 and b[1] < box[3] + 2 for b in boxes):
            continue
        body, accent = _colours(cls, rng)
        patch = img[y0:y1, x0:x1]
        shadow = np.zeros_like(mask)
        shadow[2:, 2:] = mask[:-2, :-2]
        patch[shadow & ~mask] *= 0.55
        patch[mask] = body
        patch[mask & detail] = accent
        return box, seam
    return None, False


def render_scene(index: int, options: SynthOptions) -> Scene:
    """Draw scene ``index`` of a dataset (deterministic for ``options.seed``)."""
    rng = np.random.default_rng([options.seed, index])
    size = options.size
    scene_class = SCENE_CLASSES[rng.choice(5, p=[0.22, 0.22, 0.22, 0.22, 0.12])]
    img, zone = _background(rng, size, scene_class)
    seams = _grid_seams(size, options.tile, options.overlap)
    area = (size / 128.0) ** 2
    boxes: list[PixelBox] = []
    labels: list[str] = []
    near = 0
    if scene_class != "empty":
        dom = _OBJECT_OF[scene_class]
        top = max(2, round((6 if dom != "vehicle" else 12) * math.sqrt(area) / options.object_scale))
        if rng.random() < 0.1:
            top *= 3
        n_dom = int(rng.integers(1, top + 1))
        plan = [dom] * n_dom
        for other in OBJECT_CLASSES:
            if other != dom and n_dom > 1 and rng.random() < 0.35:
                plan += [other] * int(rng.integers(1, min(3, n_dom - 1) + 1))
        for cls in plan:
            if options.max_objects is not None and len(boxes) >= options.max_objects:
                break
            z = zone if cls == dom else (~zone if cls != "ship" else None)
            if z is None:
                continue  # ships only float on water
            box, seam = _place(rng, img, z, cls, boxes, options.object_scale, seams)
            if box is not None:
                boxes.append(box)
                labels.append(cls)
                near += seam
    counts = {c: labels.count(c) for c in OBJECT_CLASSES}
    if not labels:
        scene_class = "empty"
    else:
        best = max(counts.values())
        tied = [c for c in OBJECT_CLASSES if counts[c] == best]
        intended = _OBJECT_OF.get(scene_class)
        scene_class = _SCENE_OF[intended if intended in tied else tied[0]]
    image = np.clip(img, 0, 255).astype(np.uint8)
    ox = float(round(rng.uniform(300_000, 700_000) / options.gsd) * options.gsd)
    oy = float(round(rng.uniform(4_000_000, 6_000_000) / options.gsd) * options.gsd)
    return Scene(index, image, tuple(boxes), tuple(labels), scene_class, (ox, oy), near)


# ------------------------------------------------------------------------------------ the samples


def _referring(rng: np.random.Generator, boxes: list[PixelBox], cls: str, size: int) -> tuple[str, int] | None:
    """A referring expression that picks out exactly one of ``boxes`` (all of class ``cls``)."""
    if len(boxes) == 1:
        return (f"the {cls}" if rng.random() < 0.5 else f"the only {cls}"), 0
    areas = np.array([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes])
    cx = np.array([(b[0] + b[2]) / 2 for b in boxes])
    cy = np.array([(b[1] + b[3]) / 2 for b in boxes])
    options: list[tuple[str, int]] = []
    order = np.argsort(areas)
    if areas[order[-1]] >= 1.3 * areas[order[-2]]:
        options.append((f"the largest {cls}", int(order[-1])))
    if areas[order[0]] * 1.3 <= areas[order[1]]:
        options.append((f"the smallest {cls}", int(order[0])))
    for vals, lo, hi in ((cy, "northernmost", "southernmost"), (cx, "westernmost", "easternmost")):
        o = np.argsort(vals)
        if vals[o[1]] - vals[o[0]] >= 3:
            options.append((f"the {lo} {cls}", int(o[0])))
        if vals[o[-1]] - vals[o[-2]] >= 3:
            options.append((f"the {hi} {cls}", int(o[-1])))
    half = size / 2
    for name, sel in (("north-west", (cx < half) & (cy < half)), ("north-east", (cx >= half) & (cy < half)),
                      ("south-west", (cx < half) & (cy >= half)), ("south-east", (cx >= half) & (cy >= half))):
        if sel.sum() == 1:
            options.append((f"the {cls} in the {name}", int(np.flatnonzero(sel)[0])))
    if not options:
        return None
    return options[int(rng.integers(0, len(options)))]


def _caption(rng: np.random.Generator, scene: Scene) -> str:
    counts = {c: scene.labels.count(c) for c in OBJECT_CLASSES if c in scene.labels}
    where = {"ship": "on the water", "airplane": "on the apron", "vehicle": "parked in rows",
             "storage tank": "in the yard"}
    parts = [f"{n} {c if n == 1 else plural(c)}" for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    if not parts:
        return ["An aerial image of open land with fields and no notable objects.",
                "A rural area of fields and soil; no airplanes, ships, vehicles or storage tanks are visible."][int(rng.integers(0, 2))]
    listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    dom = max(counts, key=lambda c: (counts[c], c))
    forms = (f"An aerial image of a {scene.scene_class} with {listing}.",
             f"A {scene.scene_class} seen from above: {listing}, the {plural(dom) if counts[dom] > 1 else dom} {where[dom]}.",
             f"This {scene.scene_class} scene shows {listing}.")
    return forms[int(rng.integers(0, len(forms)))]


def scene_samples(scene: Scene, image: Path, options: SynthOptions) -> list[Sample]:
    """The samples of one scene (see the module docstring), in a fixed task order."""
    rng = np.random.default_rng([options.seed, scene.index, 1])
    size = (options.size, options.size)
    name = image.stem
    present = sorted(set(scene.labels))
    meta: dict[str, object] = {"scene_class": scene.scene_class}
    if options.size > options.tile:
        meta["objects_near_seams"] = scene.near_seam

    def pick() -> str:
        if present and rng.random() < 0.75:
            return present[int(rng.integers(0, len(present)))]
        return OBJECT_CLASSES[int(rng.integers(0, len(OBJECT_CLASSES)))]

    def of(cls: str) -> tuple[tuple[PixelBox, ...], tuple[str, ...]]:
        b = tuple(bx for bx, l in zip(scene.boxes, scene.labels) if l == cls)
        return b, (cls,) * len(b)

    out: list[Sample] = []
    c = pick()
    b, l = of(c)
    out.append(Sample(image=image, task="detect", question=f"Detect all {plural(c)} in the image.", boxes=b,
                      labels=l, image_size=size, id=f"{name}/detect", meta={**meta, "class": c}))
    c = pick()
    b, l = of(c)
    q = (f"How many {plural(c)} are in the image?", f"How many {plural(c)} can you see in this image?",
         f"How many {plural(c)} are there?")[int(rng.integers(0, 3))]
    out.append(Sample(image=image, task="count", question=q, count=len(b), boxes=b, labels=l, image_size=size,
                      id=f"{name}/count", meta={**meta, "class": c}))
    c = pick()
    b, l = of(c)
    art = "an" if c[0] in "aeiou" else "a"
    q = (f"Is there {art} {c} in the image?", f"Are there any {plural(c)} in this scene?",
         f"Is there {art} {c} in this image?")[int(rng.integers(0, 3))]
    out.append(Sample(image=image, task="vqa", question=q, answer="yes" if b else "no", boxes=b, labels=l,
                      image_size=size, id=f"{name}/vqa", meta={**meta, "class": c}))
    out.append(Sample(image=image, task="caption", question=default_question("caption"),
                      captions=(_caption(rng, scene),), boxes=scene.boxes, labels=scene.labels,
                      image_size=size, id=f"{name}/caption", meta=meta))
    out.append(Sample(image=image, task="classify", question=default_question("classify", SCENE_CLASSES),
                      cls=scene.scene_class, boxes=scene.boxes, labels=scene.labels, image_size=size,
                      id=f"{name}/classify", meta=meta))
    if present:
        counts = {p: scene.labels.count(p) for p in present}
        for cls in sorted(present, key=lambda p: (-counts[p], p)):
            b, l = of(cls)
            ref = _referring(rng, list(b), cls, options.size)
            if ref is not None:
                expr, k = ref
                out.append(Sample(image=image, task="ground", question=expr, target_box=b[k], boxes=b, labels=l,
                                  image_size=size, id=f"{name}/ground", meta={**meta, "class": cls}))
                break
    return out


def _write_geotiff(path: Path, scene: Scene, options: SynthOptions, crs: object) -> None:
    import rasterio
    from affine import Affine

    h, w = scene.image.shape[:2]
    transform = Affine(options.gsd, 0.0, scene.origin[0], 0.0, -options.gsd, scene.origin[1])
    profile = dict(driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs=crs, transform=transform,
                   photometric="RGB", interleave="pixel")
    if w >= 512:
        profile.update(tiled=True, blockxsize=256, blockysize=256, compress="deflate", zlevel=1)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(scene.image, 2, 0))


def iter_scenes(options: SynthOptions) -> Iterator[Scene]:
    """Scenes ``0 .. n-1`` in order."""
    for i in range(options.n):
        yield render_scene(i, options)


def synthesize(out: str | os.PathLike[str], options: SynthOptions | None = None, *,
               overwrite: bool = False) -> SynthReport:
    """Write ``options.n`` scenes and ``ground_truth.jsonl`` into the folder ``out``."""
    from rasterio.crs import CRS

    options = options or SynthOptions()
    folder = Path(out)
    gt = folder / "ground_truth.jsonl"
    if gt.exists() and not overwrite:
        raise OutputError(f"{gt} already exists; pass --overwrite or choose another folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {folder}: {e.strerror or e}") from None
    try:
        crs = CRS.from_epsg(options.epsg)
    except Exception:
        raise ConfigError(f"EPSG:{options.epsg} is not a known CRS; try --epsg 32633 (UTM 33N)") from None
    if not crs.is_projected:
        raise ConfigError(f"EPSG:{options.epsg} is not a projected CRS; use a UTM code such as 32633")
    samples: list[Sample] = []
    objects = 0
    for scene in iter_scenes(options):
        path = (folder / f"scene_{scene.index:05d}.tif").resolve()
        _write_geotiff(path, scene, options, crs)
        samples.extend(scene_samples(scene, path, options))
        objects += len(scene.boxes)
    write_samples(gt, samples)
    return SynthReport(folder, gt, options.n, len(samples), objects)
