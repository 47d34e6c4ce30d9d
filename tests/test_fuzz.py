"""Fuzzing the parsers of untrusted text: they return a value or raise their documented error, never another.

The trace parser reads whatever a model writes (documented: never raises on text; ``TraceError`` for
a value that is not text at all); the JSONL readers (samples, predictions, run journals) read files
from anywhere (documented: ``DataError`` naming the file and line). Random bytes, random JSON,
nesting 100,000 deep and numbers of 5,000 digits are thrown at each.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geocot_cli.data.schema import _KNOWN_KEYS, load_samples
from geocot_cli.errors import DataError, TraceError
from geocot_cli.evaluate import read_predictions
from geocot_cli.io.journal import read_journal
from geocot_cli.trace import parse_answer_boxes, parse_count, parse_trace
from geocot_cli.types import TASKS

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5_000
HUGE_NUMBERS = ["1e308", "1e309", "-1e309", HUGE_INT, "-" + HUGE_INT, "1" + "0" * 400, "1" + "0" * 400 + ".5", "0.1e-400"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
#: Sample-like objects: known field names with any values, so the checks behind each field are reached.
samples = st.fixed_dictionaries(
    {"image": st.sampled_from(["a.png", "img/b.png", "../c.png", "/abs/d.png", "", "\x00"]) | json_values,
     "task": st.sampled_from(TASKS) | json_values},
    optional={k: json_values for k in _KNOWN_KEYS if k not in ("image", "task")},
)
number_lines = st.sampled_from(HUGE_NUMBERS).map(lambda n: '{"image": "a.png", "task": "ground", "question": "q", '
                                                         f'"target_box": [0, 0, {n}, 5], "count": {n}}}')
lines = st.one_of(
    samples.map(lambda d: json.dumps(d, ensure_ascii=False)),
    json_values.map(json.dumps),
    number_lines,
    st.just(DEEP),
    st.text(max_size=60),
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# --- the trace parser --------------------------------------------------------------------------

_TAGS = st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "Planning:", "Grounding:", "Synthesis:",
                         "[", "]", ",", ": ", "\n", "1. ship ", *HUGE_NUMBERS, "nan", "inf", "-0", "\x00", "\ud800"])
trace_like = st.lists(_TAGS | st.text(max_size=6), max_size=60).map("".join)


@FUZZ
@given(st.binary(max_size=400) | st.text(max_size=400) | trace_like, st.sampled_from(["pixel", "norm1000", "norm1"]))
@example("<think>" * 20_000 + "<answer>" * 20_000, "pixel")
@example("<answer>[" + ",".join([HUGE_INT] * 4) + "]</answer>", "norm1000")
@example("<think>Grounding: 1. ship [" + "[" * 5000 + "1,2,3,4" + "]" * 5000 + ": x</think>", "pixel")
@example("<think>Grounding: 1. ship [1e308,1e309,-1e309,0.1e-400]: x</think><answer>[[-0,-0,1e400,1]]</answer>", "pixel")
def test_trace_parser_takes_any_text_or_bytes(text, convention):
    t = parse_trace(text, convention, (640, 480))
    assert isinstance(t.problems, tuple) and all(isinstance(p, str) for p in t.problems)
    for box in [e.box for e in t.evidence] + list(t.answer_boxes):
        assert all(math.isfinite(v) for v in box)
        assert 0 <= box[0] <= box[2] <= 640 and 0 <= box[1] <= box[3] <= 480
    assert all(math.isfinite(v) for b in parse_answer_boxes(t.answer) for v in b)
    count = parse_count(t.answer)
    assert count is None or (isinstance(count, int) and count >= 0)


@FUZZ
@given(json_values.filter(lambda v: not isinstance(v, str)))
def test_trace_parser_refuses_what_is_not_text_with_trace_error(value):
    with pytest.raises(TraceError):
        parse_trace(value)


# --- sample JSONL ------------------------------------------------------------------------------


def _only_data_errors(read, path):
    try:
        read(path)
    except DataError as exc:
        message = str(exc)
        assert message and "\n" not in message and str(path) in message
        return exc
    return None


@FUZZ
@given(st.binary(max_size=300))
@example(b"\xff\xfe\x00\x01")
@example(DEEP.encode())
@example(b'{"image": "a.png", "task": "count", "count": ' + HUGE_INT.encode() + b"}")
def test_sample_reader_on_random_bytes(scratch, data):
    path = scratch / "bytes.jsonl"
    path.write_bytes(data)
    _only_data_errors(load_samples, path)


@FUZZ
@given(st.lists(lines, min_size=1, max_size=4))
def test_sample_reader_on_random_lines_names_the_line(scratch, rows):
    path = scratch / "lines.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8", errors="surrogatepass")
    exc = _only_data_errors(load_samples, path)
    if exc is not None and f"{path}:" in str(exc):
        lineno = int(str(exc).split(f"{path}:", 1)[1].split(":", 1)[0])
        assert 1 <= lineno <= len(rows)


@FUZZ
@given(samples)
@example({"image": "a.png", "task": "ground", "question": "q", "target_box": [0, 0, 10**400, 5]})
@example({"image": "a.png", "task": "detect", "boxes": [[0, 0, 1, 1]] * 3, "labels": ["a"], "image_size": [10**40, 1]})
@example({"image": "img/" + "x" * 5000 + ".png", "task": "count", "count": 10**400, "meta": {"a": [[[[]]]]}})
def test_sample_fields_of_any_type_are_data_errors(scratch, sample):
    path = scratch / "fields.jsonl"
    path.write_text(json.dumps(sample) + "\n", encoding="utf-8")
    _only_data_errors(load_samples, path)


# --- predictions and journals ------------------------------------------------------------------

prediction_like = st.fixed_dictionaries(
    {"id": json_values, "task": st.sampled_from(TASKS) | json_values, "trace": json_values},
    optional={"image_size": json_values, "answer": json_values, "truth": json_values, "sample": json_values},
)


@FUZZ
@given(st.lists(st.binary(max_size=80) | lines.map(str.encode) | prediction_like.map(lambda d: json.dumps(d).encode()),
                min_size=1, max_size=4))
def test_prediction_reader_only_raises_data_error(scratch, rows):
    path = scratch / "preds.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    _only_data_errors(read_predictions, path)


HEADER = {"format": "geocot-journal/1", "scene": "/s.tif", "task": "detect", "question": None, "classes": None,
          "tile": 800, "overlap": 160, "bands": [1, 2, 3], "min_valid": 0.05, "model": "m", "box_convention": "pixel"}
tile_records = st.fixed_dictionaries(
    {"tile": st.sampled_from(["r0c0", "r0c1"]) | json_values},
    optional={k: json_values for k in ("window", "skipped", "error", "text", "image_size")},
)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(HEADER)), json_values, max_size=3),
       st.lists(tile_records.map(json.dumps) | lines | st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
                max_size=4))
def test_journal_reader_only_raises_data_error(scratch, header_changes, rows):
    path = scratch / "run.journal.jsonl"
    header = json.dumps({**HEADER, **header_changes})
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8", errors="surrogatepass")
    _only_data_errors(read_journal, path)


@FUZZ
@given(st.binary(max_size=200))
def test_journal_reader_on_random_bytes(scratch, data):
    path = scratch / "bytes.journal.jsonl"
    path.write_bytes(data)
    _only_data_errors(read_journal, path)


def test_a_journal_the_reader_accepts_can_be_replayed(scratch):
    """What passes read_journal is safe for --resume and export to rebuild (types checked)."""
    path = scratch / "ok.journal.jsonl"
    records = [{"tile": "r0c0", "text": "<answer>1</answer>", "image_size": [64, 64], "skipped": None, "error": None},
               {"tile": "r0c1", "text": None, "skipped": "nodata", "error": None}]
    path.write_text("\n".join(json.dumps(r) for r in [HEADER, *records]) + "\n")
    header, done = read_journal(path)
    assert header.tile == 800 and set(done) == {"r0c0", "r0c1"}
    bad = {**records[0], "image_size": None}
    path.write_text("\n".join(json.dumps(r) for r in [HEADER, bad, records[1]]) + "\n")
    with pytest.raises(DataError, match=":2: not a tile record"):
        read_journal(path)
