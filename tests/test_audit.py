"""audit_trace and cited_precision: is the answer backed by the boxes the trace cites?"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geocot_cli.audit import DUPLICATE_IOU, Audit, audit_trace, cited_precision, distinct_boxes
from geocot_cli.boxes import format_box, format_boxes
from geocot_cli.errors import ConfigError
from geocot_cli.trace import parse_trace

SIZE = (800, 800)


def trace(boxes, answer, *, labels=None, synthesis="Done.", convention="pixel", size=SIZE, extra=""):
    """A canonical trace citing ``boxes`` (written as given) and answering ``answer``."""
    labels = labels or ["ship"] * len(boxes)
    lines = "\n".join(f"{i}. {lab} {format_box(b)}: a {lab}." for i, (b, lab) in enumerate(zip(boxes, labels), 1))
    text = (
        f"<think>Planning: find every ship.\nGrounding:\n{lines}{extra}\nSynthesis: {synthesis}</think>"
        f"<answer>{answer}</answer>"
    )
    return parse_trace(text, convention, size)


A, B, C = (10, 10, 50, 50), (100, 100, 140, 160), (300, 300, 320, 330)


# ------------------------------------------------------------------------------------ count
@pytest.mark.parametrize(
    "boxes, answer, consistent, duplicates, distinct",
    [
        ([A, B], "2", True, 0, 2),
        ([A, B], "two", True, 0, 2),
        ([A, B], "There are 2 ships.", True, 0, 2),
        ([A, B], "3", False, 0, 2),
        ([A, B, C], "3", True, 0, 3),
        ([A, A], "2", False, 1, 1),  # the same box cited twice is one ship
        ([A, A], "1", True, 1, 1),
        ([A, (10, 10, 50, 48)], "1", True, 1, 1),  # IoU 0.95: a duplicate
        ([A, (10, 10, 50, 45)], "2", True, 0, 2),  # IoU 0.875: two objects
        ([], "0", True, 0, 0),
        ([], "no ships", True, 0, 0),
        ([A], "many", False, 0, 1),
    ],
)
def test_count_consistency(boxes, answer, consistent, duplicates, distinct):
    a = audit_trace(trace(boxes, answer), "count", SIZE)
    assert (a.consistent, a.duplicates, a.distinct) == (consistent, duplicates, distinct)
    assert a.format_ok
    assert a.ok == (consistent and duplicates == 0)


def test_count_problem_messages():
    a = audit_trace(trace([A, A, B], "3"), "count", SIZE)
    assert "answer says 3 but 2 distinct boxes are grounded" in a.problems
    assert "1 duplicate grounded box (IoU >= 0.9)" in a.problems
    a = audit_trace(trace([A], "lots"), "count", SIZE)
    assert "count answer 'lots' states no number" in a.problems


# ------------------------------------------------------------------- the class the question asks
@pytest.mark.parametrize(
    "boxes, labels, answer, classes, consistent, off",
    [
        # asked for ships, grounds two tanks and counts them: the answer is not about ships
        ([A, B], ["storage tank", "storage tank"], "2", ["ship"], False, 2),
        ([A, B], ["storage tank", "storage tank"], "2", None, True, 0),  # no class known: as before
        ([A, B], ["storage tank", "storage tank"], "0", ["ship"], True, 2),  # context boxes, right count
        ([A, B, C], ["ship", "ship", "storage tank"], "2", ["ship"], True, 1),
        ([A, B, C], ["ship", "ship", "storage tank"], "3", ["ship"], False, 1),
        ([A, B], ["Ships", "ship"], "2", ["ship"], True, 0),  # plural and case
        ([A, B], ["storage_tank", "ship"], "1", ["storage tank"], True, 1),  # underscores
        ([A, B], ["large vehicle", "vehicle"], "2", ["vehicle"], True, 0),  # a kind of the class
        ([A, B], ["ship", "plane"], "2", ["ship", "plane"], True, 0),  # several classes asked
    ],
)
def test_count_checks_the_boxes_of_the_asked_class(boxes, labels, answer, classes, consistent, off):
    a = audit_trace(trace(boxes, answer, labels=labels), "count", SIZE, classes)
    assert (a.consistent, a.off_class, a.distinct) == (consistent, off, len(boxes))


def test_off_class_boxes_are_counted_on_their_own():
    # a tank cited on top of each of two ships (IoU >= 0.9 with both, the ships < 0.9 with each other)
    ship1, ship2, tank = (0, 0, 100, 100), (0, 0, 100, 120), (0, 0, 100, 110)
    a = audit_trace(trace([tank, ship1, ship2], "2", labels=["storage tank", "ship", "ship"]), "count", SIZE, ["ship"])
    assert (a.consistent, a.off_class, a.distinct) == (True, 1, 1)


def test_unlabelled_boxes_count_for_the_asked_class():
    t = parse_trace("<think>Planning: p\nGrounding: one at [10,10,50,50] and one at [100,100,140,160].\n"
                    "Synthesis: two.</think><answer>2</answer>", "pixel", SIZE)
    a = audit_trace(t, "count", SIZE, ["ship"])
    assert a.consistent and a.off_class == 0


def test_off_class_problem_message_names_the_classes():
    a = audit_trace(trace([A, B, C], "3", labels=["storage tank", "Storage tanks", "plane"]), "count", SIZE, ["ship"])
    assert a.problems[-1] == "answer says 3 but 0 distinct ship boxes are grounded (3 more of other classes: storage tank, plane)"
    assert not a.ok


def test_detect_checks_the_boxes_of_the_asked_class():
    labels = ["ship", "ship", "plane"]
    only_ships = audit_trace(trace([A, B, C], format_boxes([A, B]), labels=labels), "detect", SIZE, ["ship"])
    assert only_ships.consistent and only_ships.off_class == 1
    everything = audit_trace(trace([A, B, C], format_boxes([A, B, C]), labels=labels), "detect", SIZE, ["ship"])
    assert everything.consistent is False
    assert "grounding has 2 ship boxes (1 more of other classes: plane)" in everything.problems[-1]
    # without the question's class, the answer must hold every grounded box
    assert audit_trace(trace([A, B, C], format_boxes([A, B]), labels=labels), "detect", SIZE).consistent is False


@pytest.mark.parametrize("task", ["ground", "vqa", "classify", "caption"])
def test_classes_change_nothing_for_other_tasks(task):
    t = trace([A], "[10,10,50,50]", labels=["storage tank"])
    assert audit_trace(t, task, SIZE, ["ship"]) == audit_trace(t, task, SIZE)


def test_restated_boxes_in_synthesis_are_not_duplicates():
    t = trace([A, B], "2", synthesis=f"the ships at {format_box(A)} and {format_box(B)}.")
    assert len(t.evidence) == 4
    a = audit_trace(t, "count", SIZE)
    assert (a.consistent, a.duplicates, a.distinct) == (True, 0, 2)


def test_boxes_outside_a_grounding_section_count_when_it_has_none():
    t = parse_trace("<think>I see a ship at [10,10,50,50] and a ship at [100,100,140,160].</think><answer>2</answer>")
    a = audit_trace(t, "count", SIZE)
    assert (a.format_ok, a.consistent, a.distinct) == (False, True, 2)


@pytest.mark.parametrize("task", ["vqa", "caption", "classify"])
def test_not_applicable_tasks(task):
    assert audit_trace(trace([A], "yes"), task, SIZE).consistent is None


def test_no_answer_is_not_applicable():
    t = parse_trace("<think>Planning: a\nGrounding: ship [1,2,3,4]\nSynthesis: b</think>")
    a = audit_trace(t, "count", SIZE)
    assert a.consistent is None and not a.format_ok and not a.ok


def test_unknown_task():
    with pytest.raises(ConfigError, match="'counting'"):
        audit_trace(trace([A], "1"), "counting", SIZE)


# ------------------------------------------------------------------------------------ detect
@pytest.mark.parametrize(
    "grounded, answer, consistent",
    [
        ([A, B], format_boxes([A, B]), True),
        ([A, B], format_boxes([B, A]), True),  # order does not matter
        ([A, B], "ship: " + format_boxes([A, B]), True),
        ([A, B], format_boxes([(11, 10, 50, 50), B]), True),  # IoU 0.975
        ([A, B], format_boxes([A, B, A]), True),  # as sets
        ([A, A, B], format_boxes([A, B]), True),
        ([A, B], format_boxes([A]), False),
        ([A], format_boxes([A, B]), False),
        ([A, B], format_boxes([A, C]), False),
        ([A], format_boxes([(10, 10, 50, 40)]), False),  # IoU 0.75
        ([], "[]", True),
        ([], "none", True),
        ([A], "[]", False),
    ],
)
def test_detect_consistency(grounded, answer, consistent):
    a = audit_trace(trace(grounded, answer), "detect", SIZE)
    assert a.consistent is consistent, a.problems


def test_detect_problem_message():
    a = audit_trace(trace([A, B], format_boxes([A, C])), "detect", SIZE)
    assert "answer has 2 distinct boxes, grounding has 2; 1 match at IoU >= 0.9" in a.problems


def test_detect_in_norm1000():
    size = (1024, 512)
    t = trace([(100, 100, 200, 300)], "[[100,100,200,300]]", convention="norm1000", size=size)
    assert t.evidence[0].box == pytest.approx((102.4, 51.2, 204.8, 153.6))
    assert audit_trace(t, "detect", size).consistent is True


# ------------------------------------------------------------------------------------ ground
@pytest.mark.parametrize(
    "grounded, answer, consistent, message",
    [
        ([A], format_box(A), True, None),
        ([B, A], format_box(A), True, None),
        ([A], format_box((10, 10, 50, 49)), True, None),
        ([A], format_box(B), False, "the answer box is not among the grounded boxes"),
        ([], format_box(A), False, "the answer box is not among the grounded boxes"),
        ([A], "the ship near the pier", False, "grounding answer has no box"),
        ([A], format_boxes([A, B]), True, "grounding answer has 2 boxes; the first is checked"),
    ],
)
def test_ground_consistency(grounded, answer, consistent, message):
    a = audit_trace(trace(grounded, answer), "ground", SIZE)
    assert a.consistent is consistent
    if message:
        assert message in a.problems


# ------------------------------------------------------------------------------------ box hygiene
def test_out_of_image_and_invalid_boxes():
    t = parse_trace(
        "<think>Planning: a\nGrounding:\nship [700,700,900,900]: partly out.\nship [900,900,950,950]: out.\n"
        "ship [5,5,5,40]: flat.\nship [1,2,3]: short.\nship [nan,1,2,3]: nan.\nship [1,2,\nSynthesis: b</think>"
        "<answer>[[1,1,1,1],[700,700,800,800]]</answer>"
    )
    a = audit_trace(t, "detect", SIZE)
    assert a.out_of_image == 2
    # [1,2,3], [nan,..], [1,2, are rejected; [900,..] clipped to zero area, [5,5,5,40] flat, [1,1,1,1] answer
    assert a.invalid_boxes == 6
    assert a.format_ok and not a.ok
    assert all(p in a.problems for p in t.problems)


def test_out_of_image_for_a_smaller_image_than_parsed():
    t = trace([A, (700, 700, 790, 790)], "2")
    assert audit_trace(t, "count", SIZE).out_of_image == 0
    assert audit_trace(t, "count", (400, 400)).out_of_image == 1


def test_duplicates_are_nms_in_trace_order():
    # X overlaps Y at IoU >= 0.9 and Y overlaps Z, but X and Z are apart: Y is dropped, Z kept.
    x, y, z = (0, 0, 100, 100), (0, 0, 100, 105), (0, 0, 100, 112)
    kept, dropped = distinct_boxes([x, y, z])
    assert kept == [x, z] and dropped == 1
    assert distinct_boxes([])[0] == [] and distinct_boxes([(5, 5, 5, 5)] * 3) == ([(5, 5, 5, 5)], 2)


def test_distinct_boxes_against_pairwise_reference():
    import numpy as np

    from geocot_cli.metrics import box_iou

    rng = np.random.default_rng(1)
    base = rng.uniform(0, 700, (200, 2))
    boxes = np.hstack([base, base + rng.uniform(2, 60, (200, 2))])
    boxes = np.vstack([boxes, boxes[:80] + rng.uniform(-1.5, 1.5, (80, 4))])
    kept, dropped = distinct_boxes(boxes)
    ref = []
    for i, b in enumerate(boxes):
        if not ref or (box_iou([b], boxes[ref]) < DUPLICATE_IOU).all():
            ref.append(i)
    assert [tuple(boxes[i]) for i in ref] == kept
    assert dropped == len(boxes) - len(ref)
    assert (box_iou(kept, kept)[~np.eye(len(kept), dtype=bool)] < DUPLICATE_IOU).all()


def test_audit_of_a_degenerate_trace_is_fast():
    text = "<think>Grounding:\n" + "".join(
        f"{i}. ship [{i % 700},{i % 500},{i % 700 + 5},{i % 500 + 9}]: a ship.\n" for i in range(3000)
    ) + "</think><answer>3000</answer>"
    t = parse_trace(text)
    start = time.perf_counter()
    a = audit_trace(t, "count", SIZE)
    assert time.perf_counter() - start < 2.0
    assert a.distinct + a.duplicates == len(t.evidence)


def test_audit_is_frozen():
    a = Audit(format_ok=True, consistent=None, duplicates=0, out_of_image=0, invalid_boxes=0, problems=())
    assert a.ok
    with pytest.raises(AttributeError):
        a.duplicates = 1  # type: ignore[misc]


# ------------------------------------------------------------------------------------ precision
@pytest.mark.parametrize(
    "cited, gt, precision",
    [
        ([A, B], [A, B], 1.0),
        ([A, B], [A], 0.5),
        ([A, B], [], 0.0),
        ([A, B], [(12, 12, 52, 52), (600, 600, 610, 610)], 0.5),
        ([A, (12, 12, 52, 52)], [A], 0.5),  # one-to-one: two cited boxes cannot share one object
        ([A, A, B], [A, B], 1.0),  # duplicates are cited once
        ([A], [(30, 30, 70, 70)], 0.0),  # IoU 0.14
        ([], [A], None),
    ],
)
def test_cited_precision(cited, gt, precision):
    assert cited_precision(trace(cited, str(len(cited))), gt) == precision


def test_cited_precision_threshold():
    t = trace([A], "1")
    assert cited_precision(t, [(10, 10, 50, 30)], iou=0.5) == 1.0
    assert cited_precision(t, [(10, 10, 50, 30)], iou=0.6) == 0.0


# ------------------------------------------------------------------------------------ properties
@st.composite
def box_sets(draw):
    n = draw(st.integers(0, 10))
    boxes = []
    for _ in range(n):
        x1, y1 = draw(st.integers(0, 780)), draw(st.integers(0, 780))
        boxes.append((x1, y1, draw(st.integers(x1 + 1, 800)), draw(st.integers(y1 + 1, 800))))
    return distinct_boxes(boxes)[0]


@settings(max_examples=80, deadline=None)
@given(box_sets(), st.data())
def test_generated_count_traces(boxes, data):
    n = len(boxes)
    assert audit_trace(trace(boxes, str(n)), "count", SIZE).consistent is True
    wrong = data.draw(st.integers(0, 50).filter(lambda k: k != n))
    assert audit_trace(trace(boxes, str(wrong)), "count", SIZE).consistent is False
    if boxes:
        dup = boxes + [boxes[data.draw(st.integers(0, n - 1))]]
        a = audit_trace(trace(dup, str(n)), "count", SIZE)
        assert (a.consistent, a.duplicates, a.distinct) == (True, 1, n)
        assert cited_precision(trace(dup, str(n)), boxes) == 1.0


@settings(max_examples=60, deadline=None)
@given(box_sets(), st.randoms(use_true_random=False))
def test_generated_detect_traces(boxes, rnd):
    shuffled = list(boxes)
    rnd.shuffle(shuffled)
    assert audit_trace(trace(boxes, format_boxes(shuffled)), "detect", SIZE).consistent is True
    if boxes:
        assert audit_trace(trace(boxes, format_boxes(shuffled[1:])), "detect", SIZE).consistent is False


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["vqa", "caption", "classify", "ground", "count", "detect"]))
def test_audit_never_raises_on_any_parse(text, task):
    a = audit_trace(parse_trace(text), task, SIZE)
    assert a.duplicates >= 0 and a.invalid_boxes >= 0 and a.out_of_image >= 0
    assert a.consistent in (None, True, False)
