"""The sample schema: round trips, image paths, and errors that name the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geocot_cli.data.schema import Sample, load_samples, sample_to_dict, write_samples
from geocot_cli.errors import DataError
from geocot_cli.types import TASKS


def _write(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def _one_of_each(img: Path) -> list[Sample]:
    return [
        Sample(image=img, task="vqa", question="Is there a ship?", answer="yes", boxes=((1, 2, 5, 6),), labels=("ship",)),
        Sample(image=img, task="caption", question="Describe the image.", captions=("a harbor.", "ships.")),
        Sample(image=img, task="classify", question="Which class?", cls="harbor"),
        Sample(image=img, task="ground", question="the ship on the left", target_box=(1, 2, 5, 6.5)),
        Sample(image=img, task="count", question="How many ships?", count=2, boxes=((1, 2, 5, 6), (7, 7, 9, 9))),
        Sample(image=img, task="detect", question="Detect all ships.", boxes=(), image_size=(64, 48),
               id="a/detect", meta={"class": "ship"}),
    ]


def test_round_trip_keeps_every_field_and_writes_relative_images(tmp_path):
    img = tmp_path / "imgs" / "a.png"
    samples = _one_of_each(img)
    out = tmp_path / "s.jsonl"
    assert write_samples(out, samples) == 6
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert {r["image"] for r in rows} == {"imgs/a.png"}
    assert rows[2]["class"] == "harbor" and "cls" not in rows[2]
    back = load_samples(out)
    assert back == samples
    assert [s.task for s in back] == list(TASKS)


def test_answers_are_derived_from_structured_ground_truth(tmp_path):
    s = _one_of_each(tmp_path / "a.png")
    assert [x.answer for x in s] == ["yes", "a harbor.", "harbor", "[1,2,5,6]", "2", "[]"]


def test_relative_image_resolves_against_the_jsonl_folder(tmp_path):
    sub = tmp_path / "data"
    sub.mkdir()
    p = _write(sub / "s.jsonl", [{"image": "x/a.png", "task": "classify", "class": "airport"},
                                 {"image": "/abs/b.png", "task": "classify", "class": "airport"}])
    a, b = load_samples(p)
    assert a.image == sub / "x" / "a.png"
    assert b.image == Path("/abs/b.png")


def test_an_image_outside_the_dataset_folder_is_refused(tmp_path):
    p = _write(tmp_path / "s.jsonl", [{"image": "../elsewhere/a.png", "task": "classify", "class": "airport"}])
    with pytest.raises(DataError, match=r"s\.jsonl:1: field 'image': .*leaves the dataset folder"):
        load_samples(p)


def test_an_image_outside_the_output_folder_is_written_absolute(tmp_path):
    s = Sample(image=Path("/data/a.png"), task="classify", cls="airport")
    assert sample_to_dict(s, tmp_path)["image"] == "/data/a.png"


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"image": "a.png", "task": "segment"}, "task", "vqa, caption, classify, ground, count, detect"),
        ({"image": "a.png", "task": "count"}, "count", "needs count"),
        ({"image": "a.png", "task": "count", "count": 2, "boxes": [[0, 0, 1, 1]]}, "count", "1 boxes"),
        ({"image": "a.png", "task": "count", "count": "two"}, "count", "whole number"),
        ({"image": "a.png", "task": "detect", "boxes": [[5, 5, 1, 1]]}, "boxes[0]", "reversed"),
        ({"image": "a.png", "task": "detect", "boxes": [[0, 0, 1]]}, "boxes[0]", "[x1,y1,x2,y2]"),
        ({"image": "a.png", "task": "detect", "boxes": [[0, 0, 1, 1]], "labels": ["a", "b"]}, "labels", "one label per box"),
        ({"image": "a.png", "task": "ground", "target_box": [0, 0, 1, 1]}, "question", "needs a question"),
        ({"image": "a.png", "task": "ground", "question": "the ship"}, "target_box", "needs target_box"),
        ({"image": "a.png", "task": "vqa", "question": "?"}, "answer", "needs an answer"),
        ({"task": "vqa"}, "image", "non-empty path"),
        ({"image": "a.png", "task": "classify", "class": "x", "colour": 1}, "colour", "unknown field"),
    ],
)
def test_bad_lines_name_the_line_and_the_field(tmp_path, row, field, words):
    good = {"image": "a.png", "task": "classify", "class": "airport"}
    p = _write(tmp_path / "s.jsonl", [good, "", row])
    with pytest.raises(DataError) as e:
        load_samples(p)
    msg = str(e.value)
    assert f"s.jsonl:3: field {field!r}" in msg
    assert words in msg


def test_broken_json_names_the_line(tmp_path):
    p = _write(tmp_path / "s.jsonl", [{"image": "a.png", "task": "classify", "class": "airport"}, '{"image": '])
    with pytest.raises(DataError, match=r"s\.jsonl:2: not valid JSON"):
        load_samples(p)


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(DataError, match="geocot data synth"):
        load_samples(tmp_path / "nope.jsonl")


def test_sample_built_in_python_is_validated_too():
    with pytest.raises(DataError, match="unknown task 'segment'; use one of vqa"):
        Sample(image=Path("/a.png"), task="segment")
