"""parse_trace, parse_count, parse_answer_boxes: the formats models write, every way they break."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geocot_cli.boxes import format_box, format_boxes, from_pixels, to_pixels
from geocot_cli.errors import ConfigError, TraceError
from geocot_cli.trace import Evidence, Trace, parse_answer_boxes, parse_count, parse_trace

CANONICAL = """<think>Planning: The question asks how many ships are in the image. I will locate each ship.
Grounding:
1. ship [120,40,180,90]: a ship moored along the pier.
2. ship [300,310,350,380]: a ship in open water.
Synthesis: I grounded 2 ships, so the answer is 2.</think>
<answer>2</answer>"""


def _trace(grounding: str, answer: str = "2", planning: str = "Find them.", synthesis: str = "Done.") -> str:
    return (
        f"<think>Planning: {planning}\nGrounding:\n{grounding}\nSynthesis: {synthesis}</think>"
        f"<answer>{answer}</answer>"
    )


# ------------------------------------------------------------------------------------ well-formed
def test_canonical_trace_parses_completely():
    t = parse_trace(CANONICAL)
    assert t.format_ok
    assert t.problems == ()
    assert t.text == CANONICAL
    assert t.planning == "The question asks how many ships are in the image. I will locate each ship."
    assert t.grounding.splitlines()[0] == "1. ship [120,40,180,90]: a ship moored along the pier."
    assert t.synthesis == "I grounded 2 ships, so the answer is 2."
    assert t.answer == "2"
    assert t.answer_boxes == ()
    b1, b2 = (120.0, 40.0, 180.0, 90.0), (300.0, 310.0, 350.0, 380.0)
    assert t.evidence == (
        Evidence("ship", "a ship moored along the pier.", b1, b1, "grounding"),
        Evidence("ship", "a ship in open water.", b2, b2, "grounding"),
    )
    assert t.rejected == ()


@pytest.mark.parametrize(
    "line, label, claim",
    [
        ("1. ship [10,10,20,20]: a ship.", "ship", "a ship."),
        ("- storage tank [10,10,20,20]: a white tank.", "storage tank", "a white tank."),
        ("2) Small-Vehicle [10,10,20,20]: parked.", "small-vehicle", "parked."),
        ("* **large vehicle** [10,10,20,20]: a truck.", "large vehicle", "a truck."),
        ("I see a ship at [10,10,20,20] near the pier.", "ship", "I see a ship at [10,10,20,20] near the pier."),
        ("There is a harbor located at [10,10,20,20].", "harbor", "There is a harbor located at [10,10,20,20]."),
        ("The plane in [10,10,20,20] is parked.", "plane", "The plane in [10,10,20,20] is parked."),
        ("Ship 3 at [10,10,20,20] is moving. Another one.", "ship", "Ship 3 at [10,10,20,20] is moving."),
        ("Swimming pool #2 ([10,10,20,20]) is blue.", "swimming pool", "Swimming pool #2 ([10,10,20,20]) is blue."),
        ("ship:[10,10,20,20]", "ship", "ship:[10,10,20,20]"),
        ("[10,10,20,20]: something bright.", "", "something bright."),
        ("A tennis court with box [10,10,20,20].", "tennis court", "A tennis court with box [10,10,20,20]."),
    ],
)
def test_labels_and_claims(line, label, claim):
    t = parse_trace(_trace(line, "1"))
    assert t.format_ok, t.problems
    (ev,) = t.evidence
    assert (ev.label, ev.claim, ev.box, ev.section) == (label, claim, (10.0, 10.0, 20.0, 20.0), "grounding")


def test_two_boxes_in_one_sentence_share_the_label():
    t = parse_trace(_trace("Two ships: [1,1,5,5] and [6,6,9,9]."))
    assert [e.label for e in t.evidence] == ["ships", "ships"]
    assert [e.box for e in t.evidence] == [(1.0, 1.0, 5.0, 5.0), (6.0, 6.0, 9.0, 9.0)]
    assert t.evidence[0].claim == "Two ships: [1,1,5,5] and [6,6,9,9]."


def test_prose_trace_with_inline_headers():
    text = (
        "<think>planning - I will look for the plane. grounding: I see a plane at [100, 200, 300.5, 400] "
        "near the runway. Synthesis: it is the only one.</think><answer>[100,200,300.5,400]</answer>"
    )
    t = parse_trace(text)
    assert t.format_ok, t.problems
    assert t.planning == "I will look for the plane."
    assert t.synthesis == "it is the only one."
    (ev,) = t.evidence
    assert ev.label == "plane"
    assert ev.claim == "I see a plane at [100, 200, 300.5, 400] near the runway."
    assert ev.box == (100.0, 200.0, 300.5, 400.0)
    assert t.answer_boxes == ((100.0, 200.0, 300.5, 400.0),)


@pytest.mark.parametrize(
    "planning, grounding, synthesis",
    [
        ("Planning:", "Grounding:", "Synthesis:"),
        ("PLANNING:", "GROUNDING:", "SYNTHESIS:"),
        ("**Planning:**", "**Grounding:**", "**Synthesis:**"),
        ("**Planning**:", "**Grounding**", "**Synthesis**"),
        ("## Planning", "## Grounding", "## Synthesis"),
        ("Planning", "Grounding", "Synthesis"),
        ("1. Planning:", "2. Grounding:", "3. Synthesis:"),
        ("Step 1: Planning", "Step 2: Grounding", "Step 3: Synthesis"),
        ("Planning stage:", "Grounding phase:", "Synthesis -"),
    ],
)
def test_section_header_styles(planning, grounding, synthesis):
    text = (
        f"<think>{planning}\nlook.\n{grounding}\nship [1,2,3,4]: a ship.\n{synthesis}\none ship.</think>"
        "<answer>1</answer>"
    )
    t = parse_trace(text)
    assert t.format_ok, t.problems
    assert (t.planning, t.grounding, t.synthesis) == ("look.", "ship [1,2,3,4]: a ship.", "one ship.")
    assert t.evidence[0].section == "grounding"


def test_words_that_are_not_headers():
    t = parse_trace(
        "<think>Planning: do planning, grounding and synthesis in order.\nGrounding the ships first is key\n"
        "Grounding: ship [1,2,3,4]\nSynthesis: so one.</think><answer>1</answer>"
    )
    assert t.planning == "do planning, grounding and synthesis in order.\nGrounding the ships first is key"
    assert t.grounding == "ship [1,2,3,4]"
    assert t.problems == ()


def test_section_of_each_box():
    t = parse_trace(
        "<think>Look at [0,0,400,400] first.\nPlanning: the area [0,0,100,100].\nGrounding: ship [1,2,3,4]\n"
        "Synthesis: the ship [1,2,3,4] is alone.</think><answer>1</answer>"
    )
    assert [e.section for e in t.evidence] == ["think", "planning", "grounding", "synthesis"]
    assert t.grounded == (t.evidence[2],)
    assert parse_trace("<think>ship [1,2,3,4]</think><answer>1</answer>").grounded[0].section == "think"


@pytest.mark.parametrize(
    "convention, size, raw, pixels",
    [
        ("pixel", (800, 800), "[120,40,180,90]", (120.0, 40.0, 180.0, 90.0)),
        ("norm1000", (800, 400), "[100,200,500,1000]", (80.0, 80.0, 400.0, 400.0)),
        ("norm1000", (1024, 768), "[0,0,1000,1000]", (0.0, 0.0, 1024.0, 768.0)),
        ("norm100", (800, 600), "[10, 50, 25.5, 100]", (80.0, 300.0, 204.0, 600.0)),
        ("norm1", (200, 100), "[0.1,0.25,0.5,1]", (20.0, 25.0, 100.0, 100.0)),
    ],
)
def test_box_conventions(convention, size, raw, pixels):
    t = parse_trace(_trace(f"1. ship {raw}: a ship.", answer=raw), convention, size)
    assert t.format_ok, t.problems
    assert t.evidence[0].box == pytest.approx(pixels)
    assert t.answer_boxes[0] == pytest.approx(pixels)
    assert t.evidence[0].raw == tuple(float(v) for v in raw.strip("[]").split(","))


def test_conversion_goes_through_boxes_to_pixels(monkeypatch):
    import geocot_cli.trace as trace_mod

    calls = []

    def spy(box, convention, size):
        calls.append((tuple(box), convention, tuple(size)))
        return to_pixels(box, convention, size)

    monkeypatch.setattr(trace_mod, "to_pixels", spy)
    parse_trace(_trace("ship [1,2,3,4]", answer="[5,6,7,8]"), "norm100", (50, 60))
    assert calls == [((1.0, 2.0, 3.0, 4.0), "norm100", (50.0, 60.0)), ((5.0, 6.0, 7.0, 8.0), "norm100", (50.0, 60.0))]


@pytest.mark.parametrize(
    "answer, boxes",
    [
        ("[[1,2,3,4],[5,6,7,8]]", [(1, 2, 3, 4), (5, 6, 7, 8)]),
        ("ship: [[1,2,3,4], [5, 6, 7, 8]]", [(1, 2, 3, 4), (5, 6, 7, 8)]),
        ("storage tank [[1.5,2,3,4]]", [(1.5, 2, 3, 4)]),
        ("[ 10 , 20 , 30 , 40 ]", [(10, 20, 30, 40)]),
        ("[]", []),
        ("[[]]", []),
        ("no ships", []),
        ("[[1,2,3,4],[5,6,7]]", [(1, 2, 3, 4)]),
        ("[[1,2,3,4],[5,6,", [(1, 2, 3, 4)]),
        ("[[nan,2,3,4],[5,6,7,8]]", [(5, 6, 7, 8)]),
        ("[1e2,2E1,3.,.4]", [(100, 20, 3, 0.4)]),
        ("[1,2,3,4,]", [(1, 2, 3, 4)]),
        ("<|begin_of_box|>[1,2,3,4]<|end_of_box|>", [(1, 2, 3, 4)]),
    ],
)
def test_parse_answer_boxes(answer, boxes):
    assert parse_answer_boxes(answer) == [tuple(float(v) for v in b) for b in boxes]


def test_parse_answer_boxes_non_text():
    assert parse_answer_boxes(None) == []


def test_detection_answer_in_trace_and_glm_box_tokens():
    answer = "<|begin_of_box|>ship: [[1,2,3,4],[5,6,7,8]]<|end_of_box|>"
    t = parse_trace(_trace("ship [1,2,3,4]\nship [5,6,7,8]", answer=answer))
    assert t.format_ok, t.problems
    assert t.answer == "ship: [[1,2,3,4],[5,6,7,8]]"
    assert t.answer_boxes == ((1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0))


@pytest.mark.parametrize(
    "answer, count",
    [
        ("2", 2), (" 17 ", 17), ("There are 3 ships.", 3), ("3 ships", 3), ("The answer is 12.", 12),
        ("zero", 0), ("one", 1), ("Seven", 7), ("twelve ships", 12), ("twenty", 20), ("twenty-one", 21),
        ("thirty five", 35), ("one hundred and five", 105), ("a single ship", 1),
        ("no ships", 0), ("No ships.", 0), ("none", 0), ("None.", 0), ("There are no ships in the image.", 0),
        ("3.0", 3), ("1,234", 1234), ("There are 4 ships: [[1,2,3,4]]", 4),
        ("2.5", None), ("-3", None), ("many", None), ("", None), (None, None), ("yes", None),
        ("9" * 40, None),
    ],
)
def test_parse_count(answer, count):
    assert parse_count(answer) == count


# ------------------------------------------------------------------------------------ malformed
def _has(problems, fragment):
    return any(fragment in p for p in problems)


@pytest.mark.parametrize(
    "text, fragment, n_evidence, rejected",
    [
        ("", "empty output", 0, 0),
        ("   \n\t ", "empty output", 0, 0),
        ("<answer>2</answer>", "missing <think> block", 0, 0),
        ("<think>Planning: a\nGrounding: ship [1,2,3,4]\nSynthesis: b</think>", "missing <answer>", 1, 0),
        ("<think>Planning: a\nGrounding: ship [1,2,3,4]\nSynthesis: b", "unclosed <think>", 1, 0),
        ("<think>Planning: a\nGrounding: ship [1,2,3,4]\nSynthesis: b<answer>1</answer>", "unclosed <think>", 1, 0),
        ("<think>Planning: a\nGrounding: ship [1,2,3,4]\nSynthesis: b</think><answer>1", "unclosed <answer>", 1, 0),
        ("Planning: a\nGrounding: ship [1,2,3,4]\nSynthesis: b</think><answer>1</answer>", "missing <think> op", 1, 0),
        ("<think>Planning: a\nGrounding: ship [1,2,3,4]\nSynthesis: b</think>1</answer>", "missing <answer> op", 1, 0),
        ("<think>Planning: a\nSynthesis: b</think><answer>1</answer>", "missing Grounding section", 0, 0),
        ("<think>Grounding: ship [1,2,3,4]\nSynthesis: b</think><answer>1</answer>", "missing Planning section", 1, 0),
        ("<think>Planning: a\nGrounding: ship [1,2,3,4]</think><answer>1</answer>", "missing Synthesis section", 1, 0),
        ("<think>Planning: a\nGrounding:\n1. ship [12,30,", "incomplete box", 0, 1),
        (_trace("ship [12,30,40"), "incomplete box", 0, 1),
        (_trace("ship [1,2,3]"), "3 numbers", 0, 1),
        (_trace("ship [1,2,3,4,5]"), "5 numbers", 0, 1),
        (_trace("ship [nan,2,3,4]"), "non-finite", 0, 1),
        (_trace("ship [1,2,inf,4]"), "non-finite", 0, 1),
        (_trace("ship [1e400,2,3,4]"), "non-finite", 0, 1),
        (_trace("ship [" + "9" * 330 + ",2,3,4]"), "non-finite", 0, 1),
        (_trace("ship [5,5,5,9]"), "zero-area box", 1, 0),
        (_trace("ship [\x00\x01]") + "\x02\ufffd", "binary junk", 0, 0),
    ],
)
def test_malformed(text, fragment, n_evidence, rejected):
    t = parse_trace(text)
    assert _has(t.problems, fragment), t.problems
    assert len(t.evidence) == n_evidence
    assert len(t.rejected) == rejected
    if fragment not in ("zero-area box", "3 numbers", "5 numbers", "incomplete box", "non-finite"):
        assert not t.format_ok
    else:
        assert t.format_ok == ("<think>" in text and "</answer>" in text and "Synthesis" in text), t.problems


def test_answer_without_think_keeps_the_answer():
    t = parse_trace("<answer>ship: [[1,2,3,4]]</answer>")
    assert (t.think, t.answer, t.evidence) == (None, "ship: [[1,2,3,4]]", ())
    assert t.answer_boxes == ((1.0, 2.0, 3.0, 4.0),)
    assert not t.format_ok


def test_no_tags_at_all_takes_whole_output_as_answer():
    t = parse_trace("There are 3 ships.")
    assert t.answer == "There are 3 ships." and t.think is None
    assert _has(t.problems, "whole output is taken as the answer")
    assert not t.format_ok


def test_text_after_think_without_answer_tags():
    t = parse_trace("<think>Planning: a\nGrounding: b\nSynthesis: c</think>\nThe answer is 4")
    assert t.answer == "The answer is 4"
    assert not t.format_ok


def test_reversed_corners_are_reordered_and_raw_kept():
    t = parse_trace(_trace("ship [180,90,120,40]: a ship."))
    assert t.format_ok
    assert t.evidence[0].box == (120.0, 40.0, 180.0, 90.0)
    assert t.evidence[0].raw == (180.0, 90.0, 120.0, 40.0)
    assert _has(t.problems, "reversed corners in [180,90,120,40]; reordered")


def test_boxes_outside_the_image_are_clipped_and_flagged():
    t = parse_trace(
        _trace("ship [700,-20,900,100]: a ship.\nship [900,900,950,990]: far away.\nship [0,0,800.4,800]: edge.")
    )
    part, far, edge = t.evidence
    assert part.box == (700.0, 0.0, 800.0, 100.0) and part.clipped and part.raw == (700.0, -20.0, 900.0, 100.0)
    assert far.box == (800.0, 800.0, 800.0, 800.0) and far.clipped and far.area == 0
    assert edge.box == (0.0, 0.0, 800.0, 800.0) and not edge.clipped  # within half a pixel
    assert _has(t.problems, "extends outside the 800x800 image; clipped")
    assert _has(t.problems, "lies outside the 800x800 image; clipped to zero area")
    assert t.format_ok  # box problems are not format problems


def test_huge_finite_numbers_are_clipped():
    t = parse_trace(_trace("ship [1e300,1,2e300,5]"))
    assert t.evidence[0].box == (800.0, 1.0, 800.0, 5.0)
    assert t.evidence[0].clipped


def test_norm1000_overflow_is_rejected():
    t = parse_trace(_trace("ship [1e307,1,1.5e308,5]"), "norm1000", (2000, 2000))
    assert t.evidence == () and len(t.rejected) == 1
    assert _has(t.problems, "overflows")


@pytest.mark.parametrize(
    "text",
    [
        _trace("ship [1,2,3,4]: the ship is big. " + "the ship is big. " * 60),
        "<think>Planning: a\nGrounding:\n" + "1. ship [1,2,3,4]: a ship.\n" * 6,
        "<think>Planning: look\nGrounding: " + "ship ship ship " * 200,
        _trace("ship [1,2,3,4]", answer="[[1,2,3,4]" + ",[1,2,3,4]" * 40 + "]"),
        "<think>" + "!" * 100,
    ],
)
def test_repetition_is_detected(text):
    t = parse_trace(text)
    assert _has(t.problems, "repetition"), t.problems
    assert not t.format_ok


def test_many_distinct_lines_are_not_repetition():
    lines = "\n".join(f"{i}. ship [{i},{i},{i + 5},{i + 7}]: a ship in open water." for i in range(1, 60))
    t = parse_trace(_trace(lines, answer="59"))
    assert t.problems == ()
    assert len(t.evidence) == 59


def test_placeholders_and_citations_are_not_boxes():
    t = parse_trace(_trace("I will write boxes as [x1,y1,x2,y2] as in [1]. ship [1,2,3,4]"))
    assert [e.box for e in t.evidence] == [(1.0, 2.0, 3.0, 4.0)]
    assert t.problems == () and t.rejected == ()


def test_non_fatal_problems_keep_format_ok():
    t = parse_trace("noise <think>Planning: a\nGrounding: b\nSynthesis: c</think><answer></answer> tail")
    assert t.format_ok
    assert _has(t.problems, "text before <think>")
    assert _has(t.problems, "text outside")
    assert _has(t.problems, "empty <answer>")


def test_too_many_boxes_are_capped():
    from geocot_cli.trace import MAX_BOXES

    t = parse_trace(_trace("ship [1,2,3,4] " * (MAX_BOXES + 5)))
    assert len(t.evidence) == MAX_BOXES
    assert _has(t.problems, f"more than {MAX_BOXES} box-like lists")


def test_many_bad_boxes_give_a_bounded_problem_list():
    t = parse_trace(_trace("ship [1,2,3] " * 500))
    assert len(t.rejected) == 500
    assert len(t.problems) <= 45
    assert t.problems[-1] == "... and 460 more box problems"


def test_bytes_are_decoded_and_other_types_rejected():
    assert parse_trace(CANONICAL.encode()).evidence == parse_trace(CANONICAL).evidence
    assert _has(parse_trace(b"\xff\xfe<think>").problems, "binary junk")
    with pytest.raises(TraceError, match="got int"):
        parse_trace(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [(0, 10), (10, -1), (float("nan"), 3), "big", (1, 2, 3)])
def test_bad_image_size(size):
    with pytest.raises(ConfigError, match="image_size"):
        parse_trace(CANONICAL, "pixel", size)


def test_bad_convention():
    with pytest.raises(ConfigError, match="norm1000"):
        parse_trace(CANONICAL, "normalised")


def test_trace_default_format_ok_false_and_frozen():
    t = Trace(text="x", think="a", answer="1", planning="", grounding="", synthesis="")
    assert t.format_ok
    looped = Trace(text="x", think="a", answer="1", planning="", grounding="", synthesis="", problems=("repetition: x",))
    assert not looped.format_ok
    with pytest.raises(AttributeError):
        t.answer = "2"  # type: ignore[misc]


# ------------------------------------------------------------------------------------ speed
_N = 100_000


@pytest.mark.parametrize(
    "text",
    [
        "[" * _N,
        "[1," * (_N // 3),
        "<think>" * (_N // 7),
        "planning:" * (_N // 9),
        "Planning\n" * (_N // 9),
        " " * _N + "grounding",
        "grounding" + "\t" * _N + "x",
        "<" * _N,
        "[" + "1" * _N,
        "1." * (_N // 2),
        "<think>Grounding: " + "ship [1,2,3,4] " * (_N // 15),
        "<think>Grounding:\n"
        + "".join(f"{i}. ship [{i % 700},{i % 500},{i % 700 + 5},{i % 500 + 9}]: a ship.\n" for i in range(_N // 36)),
        "<think>" + "ab" * (_N // 2),
        "".join(chr(c % 0x2FF) for c in range(_N)),
    ],
    ids=lambda s: repr(s[:12]),
)
def test_100kb_parses_fast(text):
    start = time.perf_counter()
    t = parse_trace(text)
    elapsed = time.perf_counter() - start
    assert isinstance(t, Trace)
    assert elapsed < 1.0, f"{elapsed:.2f} s"


# ------------------------------------------------------------------------------------ properties
CLASSES = ["ship", "storage tank", "small vehicle", "harbor", "plane", "ground track field", "swimming pool", "bridge"]


@st.composite
def pixel_boxes(draw, w: int = 800, h: int = 800):
    x1 = draw(st.integers(0, w - 2))
    y1 = draw(st.integers(0, h - 2))
    x2 = draw(st.integers(x1 + 1, w))
    y2 = draw(st.integers(y1 + 1, h))
    return (x1, y1, x2, y2)


@st.composite
def valid_traces(draw):
    convention = draw(st.sampled_from(["pixel", "norm1000", "norm100"]))
    size = (draw(st.integers(50, 1500)), draw(st.integers(50, 1500)))
    scale = {"pixel": None, "norm1000": 1000, "norm100": 100}[convention]
    lim = size if scale is None else (scale, scale)
    raws = draw(st.lists(pixel_boxes(*lim), max_size=12, unique=True))  # 4 identical lines are a repetition loop
    labels = draw(st.lists(st.sampled_from(CLASSES), min_size=len(raws), max_size=len(raws)))
    style = draw(st.sampled_from(["canonical", "prose", "dash"]))
    lines = []
    for i, (raw, label) in enumerate(zip(raws, labels), 1):
        box = format_box(raw)
        if style == "canonical":
            lines.append(f"{i}. {label} {box}: a {label} near the dock.")
        elif style == "prose":
            lines.append(f"I see a {label} at {box} near the dock.")
        else:
            lines.append(f"- {label} {box}: seen clearly.")
    n = len(raws)
    text = (
        f"<think>Planning: I will find every object.\nGrounding:\n" + "\n".join(lines)
        + f"\nSynthesis: I grounded {n} objects.</think>\n<answer>{format_boxes(raws) if n % 2 else n}</answer>"
    )
    return text, convention, size, raws, labels


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_traces())
def test_round_trip_of_generated_traces(case):
    text, convention, size, raws, labels = case
    t = parse_trace(text, convention, size)
    assert t.format_ok and t.problems == (), t.problems
    assert [e.raw for e in t.evidence] == [tuple(float(v) for v in r) for r in raws]
    assert [e.box for e in t.evidence] == [to_pixels(r, convention, size) for r in raws]
    assert [e.label for e in t.evidence] == labels
    assert all(e.section == "grounding" and not e.clipped for e in t.evidence)
    if len(raws) % 2:
        assert list(t.answer_boxes) == [to_pixels(r, convention, size) for r in raws]
    else:
        assert parse_count(t.answer) == len(raws)
    # and back: pixels -> the model's convention gives the numbers written
    assert [from_pixels(e.box, convention, size) for e in t.evidence] == [tuple(r) for r in raws]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_on_arbitrary_text(text):
    t = parse_trace(text)
    assert isinstance(t.problems, tuple) and all(isinstance(p, str) and p for p in t.problems)
    assert all(math.isfinite(v) for e in t.evidence for v in e.box)
    assert all(e.box[0] <= e.box[2] and e.box[1] <= e.box[3] for e in t.evidence)
    if not text.strip():
        assert not t.format_ok


_TOKENS = ["<think>", "</think>", "<answer>", "</answer>", "Planning:", "Grounding:", "Synthesis:", "nan", "inf"]
_ALPHABET = st.sampled_from(list("[],.:0123456789-e \n<>/*#") + _TOKENS)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=80).map("".join), st.sampled_from(["pixel", "norm1000", "norm1"]))
def test_never_raises_on_trace_like_junk(text, convention):
    t = parse_trace(text, convention, (640, 480))
    for e in t.evidence:
        assert 0 <= e.box[0] <= e.box[2] <= 640 and 0 <= e.box[1] <= e.box[3] <= 480
    for b in t.answer_boxes:
        assert 0 <= b[0] <= b[2] <= 640 and 0 <= b[1] <= b[3] <= 480


@settings(max_examples=120, deadline=None)
@given(valid_traces(), st.data())
def test_truncation_never_raises_and_never_invents_boxes(case, data):
    text, convention, size, raws, _ = case
    cut = data.draw(st.integers(0, len(text)))
    t = parse_trace(text[:cut], convention, size)
    full = {to_pixels(r, convention, size) for r in raws}
    assert {e.box for e in t.evidence} <= full
    if cut < len(text):
        assert not t.format_ok


@settings(max_examples=120, deadline=None)
@given(valid_traces(), st.data())
def test_inserted_junk_never_raises(case, data):
    text, convention, size, _, _ = case
    at = data.draw(st.integers(0, len(text)))
    latin = st.binary(max_size=60).map(lambda b: b.decode("latin-1"))
    junk = data.draw(st.one_of(st.text(max_size=60), latin, _ALPHABET))
    t = parse_trace(text[:at] + junk + text[at:], convention, size)
    assert isinstance(t, Trace)
    assert all(e.box[0] <= e.box[2] and e.box[1] <= e.box[3] for e in t.evidence)
