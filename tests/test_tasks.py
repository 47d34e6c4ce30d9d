"""Scene-level assembly of the six tasks with scripted models: exact counts across seams, one
grounding feature, a classification grid without gaps or overlaps, directions from the
geotransform, open VQA synthesis, and the routing table."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from affine import Affine
from shapely.ops import unary_union

from geocot_cli.api import answer_scene, ask_scene, caption_scene, classify_scene, count_scene, detect_scene, ground_scene
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.boxes import format_box, format_boxes
from geocot_cli.config import TilingOptions
from geocot_cli.errors import ConfigError
from geocot_cli.pipeline import run_scene
from geocot_cli.scene import open_scene
from geocot_cli.questions import map_label, plan_question, polar_classes, question_classes, route_question
from geocot_cli.tasks import assemble_detect
from geocot_cli.tiling import TileGrid

from oracle import draw_scene, object_boxes, oracle_trace

NORTH_UP = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
SOUTH_UP = Affine(0.5, 0, 500000.0, 0, 0.5, 3999550.0)  # row 0 is the southern edge
ROTATED = Affine(0, 0.5, 500000.0, 0.5, 0, 3999400.0)  # 90 degrees: rows run east, columns north
TILING = TilingOptions(tile=400, overlap=80)  # on 1200 x 900: columns at 0, 320, 640, 800; rows at 0, 320, 500


def trace(grounded, answer, label="ship"):
    lines = "\n".join(f"{i}. {label} {format_box(b)}: a {label}." for i, b in enumerate(grounded, 1)) or "Nothing."
    return (f"<think>Planning: look.\nGrounding:\n{lines}\nSynthesis: done.</think>\n<answer>{answer}</answer>")


def scene_with(make_geotiff, objects, transform=NORTH_UP, name="s.tif", **kw):
    return make_geotiff(name, data=draw_scene(1200, 900, objects, **kw), transform=transform)


def rounded(features):
    return sorted(tuple(round(v) for v in f.scene_box) for f in features)


# ----------------------------------------------------------------------------------------- count
def random_objects(seed: int, n: int, max_side: int) -> list[tuple[int, int, int, int]]:
    rng = np.random.default_rng(seed)
    placed: list[tuple[int, int, int, int]] = []
    while len(placed) < n:
        w, h = rng.integers(4, max_side, size=2)
        x, y = rng.integers(0, 1200 - w), rng.integers(0, 900 - h)
        b = (int(x), int(y), int(x + w), int(y + h))
        if all(b[2] + 2 <= o[0] or o[2] + 2 <= b[0] or b[3] + 2 <= o[1] or o[3] + 2 <= b[1] for o in placed):
            placed.append(b)
    return placed


@pytest.mark.parametrize("seed, tiling", [(0, TilingOptions(400, 80)), (1, TilingOptions(300, 100)),
                                          (2, TilingOptions(256, 64)), (3, TilingOptions(800, 160))])
def test_count_is_exact_across_seams_and_corners(make_geotiff, seed, tiling):
    objects = random_objects(seed, 40, min(tiling.overlap, 60))  # every object fits whole in some tile
    path = scene_with(make_geotiff, objects)
    answer, _ = count_scene(path, "ship", backend=ScriptedBackend(oracle_trace), tiling=tiling)
    assert answer.value == len(objects) and answer.answer == str(len(objects))
    assert rounded(answer.evidence) == sorted(objects)
    tile_sum = sum(int(r.answer) for r in answer.tiles)
    assert tile_sum > len(objects)  # overlapping tiles saw objects twice: a sum would be wrong
    assert answer.flagged == () and answer.per_class == {"ship": len(objects)}


def test_count_objects_cut_by_tile_edges_and_at_a_four_tile_corner(make_geotiff):
    objects = [
        (380, 100, 420, 130),  # straddles c0's right edge (400): cut there, whole in c1
        (340, 340, 380, 380),  # in the overlap of four tiles (r0/r1 x c0/c1)
        (810, 510, 830, 540),  # in c2 and c3, r1 and r2: four copies
        (1150, 860, 1200, 900),  # touching the scene corner: one tile, never "cut"
    ]
    path = scene_with(make_geotiff, objects)
    answer, _ = count_scene(path, "ship", backend=ScriptedBackend(oracle_trace), tiling=TILING)
    assert answer.value == 4 and rounded(answer.evidence) == sorted(objects)
    by_box = {tuple(round(v) for v in f.scene_box): f for f in answer.evidence}
    assert len(by_box[objects[1]].merged_from) == 4 and len(by_box[objects[2]].merged_from) == 4
    assert by_box[objects[0]].tile_id == "r0c1"  # the whole copy was kept, not the cut one


def test_count_ignores_repeated_citations_and_flags_tiles_that_contradict_themselves(make_geotiff):
    objects = [(100, 20, 130, 40), (700, 600, 740, 640)]
    path = scene_with(make_geotiff, objects)

    def stutter(image, prompt):  # cites every box twice and answers the number of lines
        boxes = object_boxes(np.asarray(image))
        return trace(boxes + boxes, str(2 * len(boxes)))

    answer, _ = count_scene(path, "ship", backend=ScriptedBackend(stutter), tiling=TILING)
    assert answer.value == 2
    with_objects = {r.tile.id for r in answer.tiles if r.features}
    assert set(answer.flagged) == with_objects and with_objects
    assert all("answer says" in " ".join(r.audit.problems) for r in answer.tiles if r.tile.id in with_objects)


def test_count_keeps_only_the_asked_class(make_geotiff):
    path = scene_with(make_geotiff, [(100, 20, 130, 40), (700, 600, 740, 640)])

    def two_classes(image, prompt):  # the first object drawn (grey 200) is a ship, the second a tank
        arr = np.asarray(image)
        boxes = object_boxes(arr)
        lines = [f"{'ship' if arr[b[1], b[0], 0] == 200 else 'storage tank'} {format_box(b)}: seen." for b in boxes]
        return "<think>Planning: p\nGrounding:\n" + "\n".join(lines) + "\nSynthesis: s</think><answer>1</answer>"

    answer, _ = count_scene(path, "storage tanks", backend=ScriptedBackend(two_classes), tiling=TILING)
    assert answer.value == 1 and rounded(answer.evidence) == [(700, 600, 740, 640)]
    # every tile answers 1: right only where it grounds one tank; a tile that counted its ship is flagged
    tanks = {r.tile.id: sum(f.label == "storage tank" for f in r.features) for r in answer.tiles}
    assert set(answer.flagged) == {t for t, n in tanks.items() if n != 1}
    ship_only = [r for r in answer.tiles if r.features and all(f.label == "ship" for f in r.features)]
    assert ship_only and all(r.tile.id in answer.flagged and r.audit.off_class == 1 for r in ship_only)
    assert "0 distinct storage tank boxes are grounded (1 more of other classes: ship)" in ship_only[0].audit.problems[-1]


# ---------------------------------------------------------------------------------------- detect
def test_detect_per_class_summary_and_min_score(make_geotiff):
    objects = [(100, 20, 130, 40), (700, 600, 740, 640), (1000, 100, 1040, 120)]
    path = scene_with(make_geotiff, objects)

    def labelled(image, prompt):  # the second object drawn (grey 201) is a plane
        arr = np.asarray(image)
        boxes = object_boxes(arr)
        lines = [f"{'plane' if arr[b[1], b[0], 0] == 201 else 'ship'} {format_box(b)}: seen." for b in boxes]
        return "<think>Planning: p\nGrounding:\n" + "\n".join(lines) + f"\nSynthesis: s</think><answer>{format_boxes(boxes)}</answer>"

    answer, _ = detect_scene(path, backend=ScriptedBackend(labelled), tiling=TilingOptions(1200, 0))
    assert answer.per_class == {"ship": 2, "plane": 1} and answer.answer == "3 found: 2 ships, 1 plane"
    unscored, _ = detect_scene(path, backend=ScriptedBackend(labelled), tiling=TilingOptions(1200, 0), min_score=0.5)
    assert len(unscored.evidence) == 3 and "no score" in " ".join(unscored.notes)
    # a backend that scores its boxes: those below the threshold go
    scored = [dataclasses.replace(r, features=tuple(dataclasses.replace(f, score=0.9 if f.label == "ship" else 0.2)
                                                  for f in r.features)) for r in answer.tiles]
    kept = assemble_detect(scored, min_score=0.5)
    assert kept.per_class == {"ship": 2} and "1 boxes scored below" in " ".join(kept.notes)
    ships, _ = detect_scene(path, ["ships"], backend=ScriptedBackend(labelled), tiling=TilingOptions(1200, 0))
    assert ships.value == 2


# ---------------------------------------------------------------------------------------- ground
def topmost_responder(image, prompt):
    """Each tile answers the object nearest its own top (what a naive model calls northernmost)."""
    boxes = object_boxes(np.asarray(image))
    if not boxes:
        return trace([], "There is no such object.")
    return trace(boxes, format_box(min(boxes, key=lambda b: (b[1], b[0]))))


THREE = [(100, 50, 140, 80), (600, 400, 640, 430), (900, 820, 950, 860)]


@pytest.mark.parametrize("transform, expression, expected", [
    (NORTH_UP, "the northernmost ship", THREE[0]),
    (SOUTH_UP, "the northernmost ship", THREE[2]),  # row 0 is the south: rows do not say where north is
    (NORTH_UP, "the ship in the south-east", THREE[2]),
    (SOUTH_UP, "the ship in the south-west", THREE[0]),
    (SOUTH_UP, "the ship in the north-east", THREE[2]),
    (ROTATED, "the easternmost ship", THREE[2]),  # rows run east in this raster
])
def test_ground_gives_one_feature_using_geographic_direction(make_geotiff, transform, expression, expected):
    path = scene_with(make_geotiff, THREE, transform=transform)
    answer, _ = ground_scene(path, expression, backend=ScriptedBackend(topmost_responder), tiling=TILING)
    assert len(answer.evidence) == 1
    assert rounded(answer.evidence) == [expected]
    assert answer.value["found"] is True and answer.answer.startswith("found: ship")
    assert len(answer.value["candidates"]) >= 2  # the tiles disagreed; the scene settled it


def test_ground_largest_across_tiles(make_geotiff):
    objects = [(100, 50, 130, 70), (600, 400, 680, 460), (1000, 700, 1050, 760)]
    path = scene_with(make_geotiff, objects)

    def largest(image, prompt):
        boxes = object_boxes(np.asarray(image))
        if not boxes:
            return trace([], "none")
        return trace(boxes, format_box(max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))))

    answer, _ = ground_scene(path, "the largest ship", backend=ScriptedBackend(largest), tiling=TILING)
    assert rounded(answer.evidence) == [objects[1]]
    assert answer.evidence[0].claim == "a ship." and "<think>" in answer.evidence[0].trace


def test_ground_prefers_a_box_grounded_in_its_trace(make_geotiff):
    objects = [(100, 50, 140, 80), (1000, 800, 1040, 830)]
    path = scene_with(make_geotiff, objects)

    def mixed(image, prompt):
        boxes = object_boxes(np.asarray(image))
        if not boxes:
            return trace([], "none")
        if boxes[0] == objects[0]:  # this tile answers with a box it never grounded
            return trace([], format_box(boxes[0]))
        return trace(boxes, format_box(boxes[0]))

    answer, _ = ground_scene(path, "the ship", backend=ScriptedBackend(mixed), tiling=TILING)
    assert rounded(answer.evidence) == [objects[1]]
    ranked = answer.value["candidates"]
    assert [c["grounded"] for c in ranked] == [True, False]


def test_ground_none_found_is_said_plainly(make_geotiff):
    path = scene_with(make_geotiff, [(100, 50, 140, 80)])
    answer, _ = ground_scene(path, "the red car", backend=ScriptedBackend(trace([], "There is no red car.")),
                             tiling=TILING)
    assert answer.evidence == () and answer.value["found"] is False
    assert answer.answer.startswith("not found") and "the red car" in answer.answer
    with pytest.raises(ConfigError, match="empty"):
        ground_scene(path, "  ", backend=ScriptedBackend("x"))


# -------------------------------------------------------------------------------------- classify
def half_and_half(make_geotiff, transform=NORTH_UP, nodata_right=False, bright=120):
    data = np.full((3, 900, 1200), 40, dtype=np.uint8)
    data[:, :, 600:] = bright
    if nodata_right:
        data[:, :, 900:] = 0
    return make_geotiff("cls.tif", data=data, transform=transform, nodata=0 if nodata_right else None)


def by_brightness(image, prompt):
    mean = float(np.asarray(image)[..., 0].mean())
    return trace([], "Harbour." if mean < 80 else "bare land" if mean < 100 else "Farmland")


@pytest.mark.parametrize("transform", [NORTH_UP, ROTATED, Affine(0.3, 0.2, 500000, 0.2, -0.3, 4000000)])
def test_classify_cells_cover_the_footprint_exactly(make_geotiff, transform):
    path = half_and_half(make_geotiff, transform)
    answer, scene = classify_scene(path, ["harbor", "farmland", "airport"], backend=ScriptedBackend(by_brightness),
                                   tiling=TILING)
    cells = answer.cells
    assert len(cells) == len(TileGrid(scene, TILING)) == 12
    union = unary_union([c.geometry for c in cells])
    assert union.area == pytest.approx(scene.footprint.area, rel=1e-9)
    assert union.symmetric_difference(scene.footprint).area == pytest.approx(0, abs=1e-6)
    for a, b in itertools.combinations(cells, 2):
        assert a.geometry.intersection(b.geometry).area == pytest.approx(0, abs=1e-9)
    summary = answer.value["classes"]
    assert set(summary) <= {"harbor", "farmland", "unknown"}
    assert sum(v["fraction"] for v in summary.values()) == pytest.approx(1.0)
    # ground area: UTM metres are not ground metres (scale factor 0.9996 on the central meridian)
    assert sum(v["area"] for v in summary.values()) == pytest.approx(geodesic_area(scene.footprint, scene.crs),
                                                                     rel=1e-6)
    assert answer.value["area_method"] == "geodesic"


def geodesic_area(polygon, crs) -> float:
    """The ground area of a polygon of ``crs``, computed here with pyproj alone: edges cut into
    100 pieces, moved to longitude/latitude, measured on the WGS 84 ellipsoid."""
    import pyproj
    import shapely

    dense = shapely.segmentize(polygon, polygon.length / 400)
    to_lonlat = pyproj.Transformer.from_crs(crs.to_wkt(), "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(*np.asarray(dense.exterior.coords).T)
    area, _ = pyproj.Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)
    return abs(area)


def test_classify_closed_set_mapping_and_nodata(make_geotiff):
    path = half_and_half(make_geotiff, nodata_right=True, bright=200)
    answer, _ = classify_scene(path, ["harbor", "airport"], backend=ScriptedBackend(by_brightness),
                               tiling=TilingOptions(400, 80, min_valid=0.5))
    labels = {c.tile_id: c.label for c in answer.cells}
    assert labels["r0c0"] == "harbor"  # "Harbour." -> closest label
    assert labels["r0c3"] == "nodata"  # tile 800-1200 is mostly nodata: skipped, still a cell
    assert "unknown" in labels.values()  # "bare land" / "Farmland" are outside the set
    areas = answer.value["classes"]
    assert areas["harbor"]["area"] > 0 and answer.answer.startswith("harbor")
    # no --classes: the answers are mapped into the default scene classes (RESISC45, AID, ...)
    open_set, _ = classify_scene(path, backend=ScriptedBackend(by_brightness), tiling=TILING)
    assert {c.label for c in open_set.cells} >= {"harbor", "farmland", "bare land"}


@pytest.mark.parametrize("answer, classes, expected", [
    ("Harbor", ["harbor", "airport"], "harbor"),
    ("harbors.", ["harbor"], "harbor"),
    ("This is a dense_residential area", ["residential", "dense residential"], "dense residential"),
    ("tank", ["tank farm", "airport"], "tank farm"),
    ("tank", ["tank farm", "storage tank"], "unknown"),  # ambiguous
    ("Airprot", ["airport", "harbor"], "airport"),
    ("", ["airport"], "unknown"),
    ("Forest", None, "forest"),
])
def test_map_label(answer, classes, expected):
    assert map_label(answer, classes) == expected


# --------------------------------------------------------------------------------------- caption
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("transform, where", [(NORTH_UP, "north-west"), (SOUTH_UP, "south-west"),
                                              (ROTATED, "south-west"), (None, "top-left")])
def test_caption_names_places_from_the_geotransform(make_geotiff, transform, where):
    objects = [(40, 30, 80, 60), (150, 90, 190, 120), (260, 40, 300, 70)]  # the top-left ninth, in pixels
    kw = {"crs": None} if transform is None else {}
    path = make_geotiff("cap.tif", data=draw_scene(1200, 900, objects), transform=transform or Affine.identity(), **kw)

    def captioner(image, prompt):
        boxes = object_boxes(np.asarray(image))
        return trace(boxes, "Ships moored in a harbour." if boxes else "Open water.")

    with pytest.warns(UserWarning) if transform is None else _nothing():
        answer, _ = caption_scene(path, backend=ScriptedBackend(captioner), tiling=TILING)
    assert f"3 ships (in the {where})" in answer.answer
    assert answer.value["per_class"] == {"ship": 3} and answer.value["where"]["ship"] == f"in the {where}"
    assert "Open water" in answer.answer and "Ships moored" in answer.answer
    if transform is NORTH_UP:
        assert answer.answer.startswith("A 600 m × 450 m scene (EPSG:32618).")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ------------------------------------------------------------------------------------------- vqa
def test_vqa_yes_needs_grounded_evidence(make_geotiff):
    path = scene_with(make_geotiff, [(100, 50, 140, 80)])
    says_yes = ScriptedBackend(trace([], "Yes."))  # every tile says yes, none grounds anything
    answer, _ = ask_scene(path, "Is there a bridge?", backend=says_yes, tiling=TILING)
    assert answer.task == "vqa" and answer.answer == "no" and "without grounding" in answer.notes[0]

    def honest(image, prompt):
        boxes = object_boxes(np.asarray(image))
        return trace(boxes, "yes" if boxes else "no")

    answer, _ = ask_scene(path, "Is there a ship?", backend=ScriptedBackend(honest), tiling=TILING)
    assert answer.answer == "yes" and rounded(answer.evidence) == [(100, 50, 140, 80)]
    assert answer.value["tiles_yes"] == ["r0c0"]


def test_vqa_yes_no_is_answered_from_evidence_of_the_asked_class_only(make_geotiff):
    """The issue's case: "is there a bridge?" answered yes from ship, vehicle and tank boxes."""
    path = scene_with(make_geotiff, [(100, 50, 140, 80), (850, 600, 920, 640)])

    def others(image, prompt):  # says yes, and grounds what it sees: narrow ships and wide tanks
        boxes = object_boxes(np.asarray(image))
        if not boxes:
            return trace([], "No.")
        return trace(boxes, "Yes.", label="ship" if boxes[0][2] - boxes[0][0] < 55 else "tank")

    answer, _ = ask_scene(path, "Is there a bridge?", backend=ScriptedBackend(others), tiling=TILING)
    assert answer.task == "vqa" and answer.answer == "no" and answer.evidence == ()
    assert answer.value["tiles_yes"] == []
    note = next(n for n in answer.notes if "other classes" in n)
    assert "(ship, tank)" in note and "bridges" in note
    # the same tiles answer "is there a ship?" from the ship box only, not the tank
    answer, _ = ask_scene(path, "Are there any ships in the harbour?", backend=ScriptedBackend(others), tiling=TILING)
    assert answer.answer == "yes" and rounded(answer.evidence) == [(100, 50, 140, 80)]
    assert {f.label for f in answer.evidence} == {"ship"}
    # --classes wins over the class the question names
    answer, _ = ask_scene(path, "Is there a bridge?", classes=["tank"], backend=ScriptedBackend(others), tiling=TILING)
    assert answer.answer == "yes" and rounded(answer.evidence) == [(850, 600, 920, 640)]


def test_vqa_count_in_disguise_and_most_common_answer(make_geotiff):
    objects = [(380, 100, 420, 130), (700, 600, 740, 640)]
    path = scene_with(make_geotiff, objects)
    answer, _ = answer_scene(path, "vqa", question="What is the number of ships?",
                             backend=ScriptedBackend(oracle_trace), tiling=TILING)
    assert answer.answer == "2"  # distinct evidence, not the sum of the tiles' numbers
    path = scene_with(make_geotiff, objects[:1], name="one.tif")  # 2 tiles see the ship, 10 see water

    def colour(image, prompt):
        boxes = object_boxes(np.asarray(image))
        return trace(boxes, "Grey." if boxes else "blue")

    answer, _ = ask_scene(path, "What colour is the water?", backend=ScriptedBackend(colour), tiling=TILING)
    assert answer.answer == "blue" and answer.value["answers"]["blue"] > answer.value["answers"]["grey"]


# --------------------------------------------------------------------------------------- routing
@pytest.mark.parametrize("question, task", [
    ("How many ships are in the harbour?", "count"),
    ("What is the number of storage tanks?", "count"),
    ("Count the planes.", "count"),
    ("Where are the ships?", "detect"),
    ("Detect all vehicles.", "detect"),
    ("Find all bridges", "detect"),
    ("Where is the largest ship?", "ground"),
    ("Locate the red car near the roundabout.", "ground"),
    ("Find the tallest building", "ground"),
    ("What type of area is this?", "classify"),
    ("Classify this scene.", "classify"),
    ("What is the land use here?", "classify"),
    ("Describe the scene.", "caption"),
    ("Summarize this image", "caption"),
    ("Is there a bridge over the river?", "vqa"),
    ("What colour is the roof?", "vqa"),
    ("Are the ships moving?", "vqa"),
])
def test_routing_table(question, task):
    assert route_question(question) == task


def test_question_classes_and_plan():
    assert question_classes("How many small vehicles are parked?") == ["small vehicle"]
    assert question_classes("Where are the storage tanks?") == ["storage tank"]
    assert question_classes("Count the ferries.") == ["ferry"]
    assert question_classes("Is there a bridge?") is None
    assert polar_classes("Is there a bridge?") == ["bridge"] and polar_classes("Is the ship moving?") is None
    assert plan_question("is there a bridge?").classes == ("bridge",)
    plan = plan_question("How many ships?", classes=["boat"])
    assert plan.task == "count" and plan.classes == ("boat",)
    assert plan_question("Is there a ship?", task="ground").task == "ground"
    with pytest.raises(ConfigError, match="unknown task"):
        plan_question("x", task="segment")


def test_ask_forwards_the_routed_task(make_geotiff):
    path = scene_with(make_geotiff, [(100, 50, 140, 80), (700, 600, 740, 640)])
    answer, _ = ask_scene(path, "How many ships are there?", backend=ScriptedBackend(oracle_trace), tiling=TILING)
    assert answer.task == "count" and answer.answer == "2"
    forced, _ = ask_scene(path, "How many ships are there?", task="detect", backend=ScriptedBackend(oracle_trace),
                          tiling=TILING)
    assert forced.task == "detect" and forced.value == 2


def test_export_rebuilds_a_ground_answer(make_geotiff, tmp_path):
    from geocot_cli.api import export_journal
    from geocot_cli.io.journal import journal_path

    path = scene_with(make_geotiff, THREE)
    out = tmp_path / "g.gpkg"
    first, _ = ground_scene(path, "the northernmost ship", backend=ScriptedBackend(topmost_responder), tiling=TILING,
                            out=out, journal=journal_path(out))
    again, _ = export_journal(journal_path(out))
    assert again.answer == first.answer and rounded(again.evidence) == rounded(first.evidence)


def test_run_scene_results_feed_every_assembler(make_geotiff):
    path = scene_with(make_geotiff, THREE)
    scene = open_scene(path)
    results = list(run_scene(scene, ScriptedBackend(oracle_trace), task="detect", tiling=TILING))
    from geocot_cli.tasks import assemble

    for task in ("count", "detect", "ground", "classify", "caption", "vqa"):
        ans = assemble(task, results, question="the ship", scene=scene)
        assert ans.task == task and len(ans.tiles) == 12
    with pytest.raises(ConfigError, match="needs the scene"):
        assemble("classify", results)
