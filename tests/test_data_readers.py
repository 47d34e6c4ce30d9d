"""Dataset readers: small fixtures written in each format, and the real DOTA files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from geocot_cli.data.readers import FORMATS, read_dataset, read_objects
from geocot_cli.errors import ConfigError, DataError


def _png(path: Path, size=(100, 80)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 60)).save(path)
    return path


# ------------------------------------------------------------------------------------------ DOTA
@pytest.fixture
def dota(tmp_path):
    root = tmp_path / "dota"
    _png(root / "images" / "P1.png")
    _png(root / "images" / "P2.png")
    (root / "labelTxt").mkdir()
    (root / "labelTxt" / "P1.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.5\n"
        "10 10 30 12 28 20 8 18 ship 0\n"          # oriented quad
        "50 5 60 5 60 25 50 25 small-vehicle 1\n"  # difficult
        "90 70 110 70 110 90 90 90 ship 0\n"       # half outside the 100x80 image
    )
    (root / "labelTxt" / "P2.txt").write_text("imagesource:GoogleEarth\ngsd:null\n")
    return root


def test_dota_quads_become_clipped_axis_aligned_boxes(dota):
    objs, names = read_objects("dota", dota / "labelTxt")
    p1, p2 = objs
    assert p1.size == (100, 80) and p1.meta["gsd"] == 0.5 and p2.meta["gsd"] is None
    assert p1.boxes == ((8.0, 10.0, 30.0, 20.0), (50.0, 5.0, 60.0, 25.0), (90.0, 70.0, 100.0, 80.0))
    assert p1.labels == ("ship", "small vehicle", "ship") and p1.difficult == (False, True, False)
    assert names == ("ship", "small vehicle") and p2.boxes == ()


def test_dota_samples_category_filter_and_difficult(dota):
    samples = read_dataset("dota", dota / "labelTxt")
    by_id = {s.id: s for s in samples}
    assert by_id["P1/count/ship"].count == 2
    assert by_id["P1/detect/small-vehicle"].boxes == ((50.0, 5.0, 60.0, 25.0),)
    (absent,) = [s for s in samples if s.image.stem == "P2"]  # no objects: one "is there ...? no"
    assert absent.task == "vqa" and absent.answer == "no" and absent.boxes == ()
    only_ships = read_dataset("dota", dota / "labelTxt", classes="ship", tasks="count")
    assert [(s.id, s.count) for s in only_ships] == [("P1/count/ship", 2)]
    no_difficult = read_dataset("dota", dota / "labelTxt", skip_difficult=True, tasks="count")
    assert [s.id for s in no_difficult] == ["P1/count/ship"]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("10 10 30 12 28 20 8 18 ship", None),
        ("10 10 30 12 ship 0", "expected 'x1 y1"),
        ("10 10 30 12 28 20 8 x18 ship 0", "corner coordinates must be numbers"),
        ("10 10 30 12 28 20 8 18 ship 2", "difficult flag must be 0 or 1"),
    ],
)
def test_dota_corrupt_line_names_file_and_line(dota, line, words):
    f = dota / "labelTxt" / "P1.txt"
    f.write_text("imagesource:GoogleEarth\ngsd:0.5\n10 10 30 12 28 20 8 18 ship 0\n" + line + "\n")
    if words is None:  # a 9-field line (no difficult flag) is valid DOTA
        assert read_objects("dota", f)[0][0].labels == ("ship", "ship")
        return
    with pytest.raises(DataError, match=rf"P1\.txt:4: {words}"):
        read_dataset("dota", dota / "labelTxt")


def test_dota_missing_image_says_where_it_looked(dota):
    (dota / "images" / "P2.png").unlink()
    with pytest.raises(DataError, match="image 'P2'.*not found in .*images; pass the image folder with --images"):
        read_dataset("dota", dota / "labelTxt")


def test_real_dota_counts(real_data):
    objs, names = read_objects("dota", real_data / "dota" / "labelTxt")
    p0706, p1888 = objs
    assert p0706.labels.count("ship") == 531 and p0706.labels.count("harbor") == 5
    assert sum(p0706.difficult) == 6
    assert p1888.labels.count("large vehicle") == 50 and p1888.labels.count("small vehicle") == 14
    assert p0706.size == (1111, 1182) and p0706.meta["imagesource"] == "GoogleEarth"
    assert all(0 <= b[0] < b[2] <= 1111 and 0 <= b[1] < b[3] <= 1182 for b in p0706.boxes)
    easy = read_dataset("dota", real_data / "dota" / "labelTxt", skip_difficult=True, classes="ship", tasks="count")
    assert [s.count for s in easy] == [525]


# ------------------------------------------------------------------------------------------- VOC
_VOC = """<annotation>
  <filename>{name}</filename>
  <size><width>100</width><height>80</height><depth>3</depth></size>
  {objects}
</annotation>
"""
_OBJ = "<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox>{extra}</object>"


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / "dior"
    _png(root / "JPEGImages" / "00001.jpg")
    _png(root / "JPEGImages" / "00002.jpg")
    ann = root / "Annotations"
    ann.mkdir()
    objs = _OBJ.format(name="storagetank", b=(10, 10, 20, 20), extra="") + _OBJ.format(name="ship", b=(30, 30, 60, 40), extra="")
    (ann / "00001.xml").write_text(_VOC.format(name="00001.jpg", objects=objs))
    ref = _OBJ.format(name="ship", b=(5, 50, 25, 70), extra="<description>the ship at the bottom left</description>")
    (ann / "00002.xml").write_text(_VOC.format(name="00002.jpg", objects=ref))
    return root


def test_voc_detection_and_dior_rsvg_referring(voc):
    samples = read_dataset("voc", voc / "Annotations")
    by_id = {s.id: s for s in samples}
    assert by_id["00001/detect/storage-tank"].boxes == ((10.0, 10.0, 20.0, 20.0),)
    assert by_id["00001/count/ship"].count == 1
    g = by_id["00002/ground/0"]
    assert g.task == "ground" and g.question == "the ship at the bottom left"
    assert g.target_box == (5.0, 50.0, 25.0, 70.0)
    assert not any(s.id.startswith("00002/detect") for s in samples)  # referring files are not detection ground truth


def test_voc_malformed_xml_names_the_line(voc):
    (voc / "Annotations" / "00001.xml").write_text("<annotation>\n<filename>00001.jpg</filename>\n<object>\n</annotation>\n")
    with pytest.raises(DataError, match=r"00001\.xml:4: malformed XML"):
        read_dataset("voc", voc / "Annotations")


def test_voc_bad_number_names_the_line(voc):
    bad = _OBJ.format(name="ship", b=(10, "ten", 20, 20), extra="")
    (voc / "Annotations" / "00001.xml").write_text(_VOC.format(name="00001.jpg", objects="\n" + bad))
    with pytest.raises(DataError, match=r"00001\.xml:5: <ymin> must be a number, got 'ten'"):
        read_dataset("voc", voc / "Annotations")


# --------------------------------------------------------------------------------- class folders
def test_class_per_folder_gives_classify_samples(tmp_path):
    for cls, n in (("airplane", 2), ("storage_tank", 1)):
        for i in range(n):
            _png(tmp_path / "resisc" / cls / f"{cls}_{i:03d}.jpg", (32, 32))
    (tmp_path / "resisc" / "airplane" / "notes.txt").write_text("not an image")
    samples = read_dataset("resisc", tmp_path / "resisc")
    assert [(s.cls, s.image.name) for s in samples] == [
        ("airplane", "airplane_000.jpg"), ("airplane", "airplane_001.jpg"), ("storage tank", "storage_tank_000.jpg")]
    assert samples[0].question.endswith("Choose one of: airplane, storage tank.")


def test_class_folders_need_sub_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        read_dataset("resisc", tmp_path / "flat")


# -------------------------------------------------------------------------------------- captions
def test_caption_json(tmp_path):
    _png(tmp_path / "rsicd" / "images" / "airport_1.jpg")
    doc = {"images": [{"filename": "airport_1.jpg", "split": "train",
                       "sentences": [{"raw": "many planes are parked  near a terminal ."}, {"raw": "an airport."}]}]}
    (tmp_path / "rsicd" / "dataset_rsicd.json").write_text(json.dumps(doc))
    (s,) = read_dataset("captions", tmp_path / "rsicd" / "dataset_rsicd.json")
    assert s.task == "caption" and s.captions == ("many planes are parked near a terminal .", "an airport.")
    assert s.answer == s.captions[0] and s.meta["split"] == "train"


def test_caption_json_errors(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"images": [\n{"filename": "a.jpg",\n "sentences": [}\n]}')
    with pytest.raises(DataError, match=r"c\.json:3: not valid JSON"):
        read_dataset("captions", p)
    p.write_text(json.dumps({"images": [{"filename": "a.jpg", "sentences": []}]}))
    with pytest.raises(DataError, match=r"images\[0\]: needs a non-empty 'sentences'"):
        read_dataset("captions", p)


# -------------------------------------------------------------------------------------- VRSBench
def test_vrsbench_annotation_folder_and_eval_list(tmp_path):
    _png(tmp_path / "Images_val" / "P0003_0002.png", (200, 100))
    ann = tmp_path / "Annotations_val"
    ann.mkdir()
    (ann / "P0003_0002.json").write_text(json.dumps({
        "image": "P0003_0002.png", "caption": "Two ships  are moored.",
        "objects": [{"obj_id": 0, "obj_cls": "ship", "referring_sentence": "the ship at the top",
                     "obj_coord": [0.1, 0.2, 0.3, 0.5], "is_unique": False},
                    {"obj_id": 1, "obj_cls": "ship", "obj_coord": [0.5, 0.5, 0.6, 0.7]}],
        "qa_pairs": [{"ques_id": 1, "question": "How many ships are there?", "answer": "2", "type": "quantity"}],
    }))
    samples = read_dataset("vrsbench", ann)
    assert [s.task for s in samples] == ["caption", "ground", "vqa"]
    cap, ground, vqa = samples
    assert cap.captions == ("Two ships are moored.",)
    assert ground.target_box == pytest.approx((20.0, 20.0, 60.0, 50.0)) and ground.question == "the ship at the top"
    assert vqa.answer == "2" and vqa.meta["type"] == "quantity"
    ev = tmp_path / "VRSBench_EVAL_referring.json"
    ev.write_text(json.dumps([
        {"image_id": "P0003_0002.png", "question": "the ship at the top", "ground_truth": "{<10><20><30><50>}",
         "question_id": 7, "obj_cls": "ship"},
        {"image_id": "P0003_0002.png", "question": "Is there a ship?", "ground_truth": "yes", "question_id": 8,
         "type": "presence"},
    ]))
    g, q = read_dataset("vrsbench", ev, tmp_path / "Images_val")
    assert g.task == "ground" and g.target_box == pytest.approx((20.0, 20.0, 60.0, 50.0))
    assert q.task == "vqa" and q.answer == "yes"


# ------------------------------------------------------------------------------------------ COCO
def test_coco_json(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80}, {"id": 2, "file_name": "b.png"}],
        "categories": [{"id": 3, "name": "storage-tank"}, {"id": 4, "name": "plane"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 5, 5]},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [95, 70, 20, 20]},
            {"id": 3, "image_id": 1, "category_id": 4, "bbox": [40, 40, 20, 10], "iscrowd": 1},
        ],
    }
    p = tmp_path / "instances.json"
    p.write_text(json.dumps(doc))
    samples = read_dataset("coco", p)
    by_id = {s.id: s for s in samples}
    assert by_id["a/detect/storage-tank"].boxes == ((10.0, 10.0, 15.0, 15.0), (95.0, 70.0, 100.0, 80.0))
    assert "a/count/plane" not in by_id  # crowd annotations are skipped
    (absent,) = [s for s in samples if s.image.stem == "b"]
    assert absent.task == "vqa" and absent.answer == "no"
    doc["annotations"].append({"id": 4, "image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 2]})
    p.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"annotations\[3\]: category_id 9 is not in 'categories'"):
        read_dataset("coco", p)


# --------------------------------------------------------------------------------------- dispatch
def test_unknown_format_and_task_are_config_errors(tmp_path):
    assert "vrsbench" in FORMATS
    with pytest.raises(ConfigError, match="use one of dota, voc, resisc, captions, vrsbench, coco, geocot"):
        read_dataset("yolo", tmp_path)
    with pytest.raises(ConfigError, match="task caption cannot be made from this format; use some of detect, count, vqa"):
        read_dataset("dota", tmp_path, tasks="caption")
