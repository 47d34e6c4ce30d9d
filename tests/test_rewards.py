"""GRPO rewards against hand-worked cases, one table per reward."""

from __future__ import annotations

import pytest

from geocot_cli.train.rewards import (
    CaptionReward,
    cider_d,
    classify_reward,
    count_reward,
    default_rewards,
    detect_reward,
    faithfulness_reward,
    format_reward,
    ground_reward,
    vqa_reward,
)

THINK = "<think>Planning: look.\nGrounding:\n{g}\nSynthesis: done.</think>"


def trace(answer: str, grounding: str = "1. ship [0,0,10,10]: a ship.") -> str:
    return THINK.format(g=grounding) + f"<answer>{answer}</answer>"


# ------------------------------------------------------------------------------------ vqa / classify
@pytest.mark.parametrize("completion, gt, expected", [
    ("<answer>yes</answer>", "yes", 1.0),
    ("<answer>Yes.</answer>", "yes", 1.0),                      # normalised: case, full stop
    ("<answer>yes, there is one</answer>", "yes", 0.6),         # gt words inside the answer: partial
    ("<answer>no</answer>", "yes", 0.0),
    ("<answer>three</answer>", "3", 1.0),                       # number words are digits
    (trace("yes"), "yes", 1.0),                                 # a full trace: the <answer> is read
    ("", "yes", 0.0),
])
def test_vqa_reward(completion, gt, expected):
    assert vqa_reward([completion], answer=[gt]) == [expected]


@pytest.mark.parametrize("completion, cls, expected", [
    ("<answer>harbor</answer>", "harbor", 1.0),
    ("<answer>Tank_Farm</answer>", "tank farm", 1.0),
    ("<answer>farm</answer>", "tank farm", 0.6),
    ("<answer>airport</answer>", "harbor", 0.0),
])
def test_classify_reward(completion, cls, expected):
    assert classify_reward([completion], **{"class": [cls]}) == [expected]


def test_classify_reward_falls_back_to_answer():
    assert classify_reward(["<answer>harbor</answer>"], answer=["harbor"]) == [1.0]


def test_rewards_skip_other_tasks_and_accept_conversational_completions():
    completions = [[{"role": "assistant", "content": "<answer>yes</answer>"}], "<answer>2</answer>"]
    assert vqa_reward(completions, answer=["yes", "2"], task=["vqa", "count"]) == [1.0, None]
    assert count_reward(completions, count=[None, 2], task=["vqa", "count"]) == [None, 1.0]


# ----------------------------------------------------------------------------------------- grounding
@pytest.mark.parametrize("answer, expected", [
    ("[0,0,10,10]", 1.0),
    ("[5,0,15,10]", 50 / 150),           # overlap 5x10 = 50; union 100 + 100 - 50 = 150
    ("[0,0,20,10]", 100 / 200),
    ("[20,20,30,30]", 0.0),
    ("no box", 0.0),
])
def test_ground_reward(answer, expected):
    got = ground_reward([f"<answer>{answer}</answer>"], target_box=[[0, 0, 10, 10]], image_size=[[64, 64]])
    assert got == [pytest.approx(expected)]


def test_ground_reward_converts_the_models_box_convention():
    # norm1000 on a 200x100 image: [0,0,50,100] -> pixels [0,0,10,10]
    got = ground_reward(["<answer>[0,0,50,100]</answer>"], target_box=[[0, 0, 10, 10]],
                        image_size=[[200, 100]], box_convention=["norm1000"])
    assert got == [pytest.approx(1.0)]


# ------------------------------------------------------------------------------------------ counting
@pytest.mark.parametrize("answer, gt, alpha, expected", [
    ("4", 4, 1.0, 1.0),
    ("3", 4, 1.0, 0.75),       # 1 - 1/4
    ("5", 4, 1.0, 0.8),        # 1 - 1/5
    ("3", 4, 2.0, 0.5),        # 1 - 2/4
    ("1", 4, 2.0, 0.0),        # 1 - 2*3/4 < 0: clipped
    ("0", 0, 1.0, 1.0),        # both zero: exact
    ("2", 0, 1.0, 0.0),        # 1 - 2/2
    ("two", 2, 1.0, 1.0),
    ("many", 2, 1.0, 0.0),     # no number: 0
])
def test_count_reward(answer, gt, alpha, expected):
    assert count_reward([f"<answer>{answer}</answer>"], count=[gt], alpha=alpha) == [pytest.approx(expected)]


# ------------------------------------------------------------------------------------------ detection
GT = [[0, 0, 10, 10], [20, 20, 30, 30]]


@pytest.mark.parametrize("answer, gt, penalty, expected", [
    ("[[0,0,10,10],[20,20,30,30]]", GT, 0.5, 1.0),
    # recall 1/2 at precision 1: COCO's 101-point AP counts recall 0, 0.01, ..., 0.5 -> 51/101
    ("[[0,0,10,10]]", GT, 0.5, 51 / 101),
    # the right boxes first, then a duplicate and an invention: AP 1.0, but 2 of 4 unmatched
    ("[[0,0,10,10],[20,20,30,30],[0,0,10,10],[40,40,50,50]]", GT, 0.5, 1.0 - 0.5 * 2 / 4),
    ("[[0,0,10,10],[20,20,30,30],[0,0,10,10],[40,40,50,50]]", GT, 0.0, 1.0),  # mAP alone is gamed
    # an invention first: precisions 0, 1/2, 2/3 -> interpolated AP 2/3; 1 of 3 unmatched
    ("[[40,40,50,50],[0,0,10,10],[20,20,30,30]]", GT, 0.5, 2 / 3 - 0.5 / 3),
    ("[]", GT, 0.5, 0.0),
    ("[]", [], 0.5, 1.0),                                            # nothing there, nothing said
    ("[[0,0,10,10]]", [], 0.5, 0.0),
    ("I cannot tell", GT, 0.5, 0.0),
])
def test_detect_reward(answer, gt, penalty, expected):
    got = detect_reward([f"<answer>{answer}</answer>"], boxes=[gt], image_size=[[64, 64]],
                        redundancy_penalty=penalty)
    assert got == [pytest.approx(expected, abs=1e-3)]


# ------------------------------------------------------------------------------------------ captions
def test_cider_d_matches_pycocoevalcap():
    from pycocoevalcap.cider.cider import Cider

    cands = ["a harbor with two ships", "a parking lot with cars", "an airport"]
    refs = [["a harbor with two ships", "two ships in a harbor"], ["a parking lot full of cars"],
            ["an airport with three planes"]]
    _, expected = Cider().compute_score({i: r for i, r in enumerate(refs)}, {i: [c] for i, c in enumerate(cands)})
    assert cider_d(cands, refs) == pytest.approx(list(expected))


def test_cider_d_needs_a_corpus_for_one_image():
    assert cider_d(["a ship"], [["a ship"]]) == [0.0]  # one reference set: every idf is 0
    corpus = [["a ship at sea"], ["a car on a road"], ["a plane on the apron"]]
    assert cider_d(["a ship at sea"], [["a ship at sea"]], corpus)[0] == pytest.approx(10.0)


@pytest.mark.parametrize("mix, expected", [
    ((1.0, 0.0, 0.0, 0.0), 1.0),     # BLEU-4 of an identical caption
    ((0.0, 0.0, 1.0, 0.0), 1.0),     # ROUGE-L
    ((0.0, 0.0, 0.0, 1.0), 1.0),     # CIDEr-D 10 / 10
])
def test_caption_reward_identical_caption(mix, expected):
    corpus = [["a harbor with two ships"], ["a parking lot with cars"], ["an airport"]]
    r = CaptionReward(corpus, mix=mix, meteor=False)
    got = r(["<answer>A harbor with two ships.</answer>"], captions=[["A harbor with two ships."]])
    assert got == [pytest.approx(expected, abs=1e-6)]


def test_caption_reward_orders_captions_and_skips_other_tasks():
    corpus = [["a harbor with two ships"], ["a parking lot with cars"], ["an airport"]]
    r = CaptionReward(corpus, meteor=False)
    refs = [["A harbor with two ships."]] * 4
    got = r(["<answer>A harbor with two ships.</answer>", "<answer>A harbor with ships.</answer>",
             "<answer>A parking lot.</answer>", "<answer>3</answer>"], captions=refs,
            task=["caption", "caption", "caption", "count"])
    assert got[0] == pytest.approx(1.0) and got[0] > got[1] > got[2] >= 0.0
    assert got[3] is None


@pytest.mark.slow  # METEOR's Java scorer takes ~30 s to start
def test_caption_reward_with_meteor():
    from geocot_cli.metrics import java_available

    if not java_available():
        pytest.skip("METEOR needs Java")
    r = CaptionReward([["a"], ["b"]], mix=(0.0, 1.0, 0.0, 0.0), meteor=True)
    same, other = r(["<answer>a harbor with two ships</answer>", "<answer>a forest</answer>"],
                    captions=[["a harbor with two ships"]] * 2)
    assert same > 0.9 and other < 0.3


# ------------------------------------------------------------------------------------- format
@pytest.mark.parametrize("completion, expected", [
    (trace("1"), 1.0),
    ("<think>Planning: p\nSynthesis: s</think><answer>1</answer>", 0.5),   # no Grounding section
    ("<think>Planning: p\nGrounding: g\nSynthesis: s</think>", 0.0),       # no answer block
    ("<think>Planning: p\nGrounding: g\nSynthesis: s<answer>1</answer>", 0.0),  # unclosed think
    ("<answer>1</answer>", 0.0),
    ("", 0.0),
])
def test_format_reward(completion, expected):
    assert format_reward([completion]) == [expected]


# -------------------------------------------------------------------------------- faithfulness
@pytest.mark.parametrize("task, grounding, answer, truth, expected", [
    # count: answer = number of grounded boxes (1/1), the box is real (precision 1)
    ("count", "1. ship [0,0,10,10]: a ship.", "1", {"count": 1, "boxes": [[0, 0, 10, 10]]}, 1.0),
    # says 2 but grounds 1: inconsistent (0), the box is real (1) -> 0.5
    ("count", "1. ship [0,0,10,10]: a ship.", "2", {"count": 2, "boxes": [[0, 0, 10, 10]]}, 0.5),
    # consistent (1), but the box is invented (0) -> 0.5
    ("count", "1. ship [40,40,50,50]: a ship.", "1", {"count": 1, "boxes": [[0, 0, 10, 10]]}, 0.5),
    # the same box twice: consistent with its 1 distinct box, precision 1, one duplicate: (1+1)/2 / 2
    ("count", "1. ship [0,0,10,10]: a ship.\n2. ship [0,0,10,10]: again.", "1",
     {"count": 1, "boxes": [[0, 0, 10, 10]]}, 0.5),
    # detect: same boxes in answer and grounding, half of them real
    ("detect", "1. ship [0,0,10,10]: a.\n2. ship [40,40,50,50]: b.", "[[0,0,10,10],[40,40,50,50]]",
     {"boxes": [[0, 0, 10, 10]]}, 0.75),
    # ground: the answer box is a grounded box, and it is the target
    ("ground", "1. ship [0,0,10,10]: the ship.", "[0,0,10,10]", {"target_box": [0, 0, 10, 10]}, 1.0),
    # vqa with known objects: only the precision of the cited boxes
    ("vqa", "1. ship [0,0,10,10]: a ship.", "yes", {"answer": "yes", "boxes": [[0, 0, 10, 10]]}, 1.0),
    # count of nothing, nothing cited: consistent, and citing nothing is right
    ("count", "Nothing to ground.", "0", {"count": 0}, 1.0),
])
def test_faithfulness_reward(task, grounding, answer, truth, expected):
    cols = {k: [v] for k, v in truth.items()}
    got = faithfulness_reward([trace(answer, grounding)], task=[task], image_size=[[64, 64]], **cols)
    assert got == [pytest.approx(expected)]


@pytest.mark.parametrize("grounding, answer, truth, precision, f1", [
    # cites 1 of 4 real ships and says 1: consistent, precision 1 but recall 1/4 (F1 0.4)
    ("1. ship [0,0,10,10]: a ship.", "1",
     {"count": 4, "boxes": [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [0, 40, 10, 50]]},
     1.0, (1 + 0.4) / 2),
    # cites all 4 and says 4: both ways a perfect 1
    ("1. ship [0,0,10,10]: a.\n2. ship [20,0,30,10]: b.\n3. ship [40,0,50,10]: c.\n4. ship [0,40,10,50]: d.", "4",
     {"count": 4, "boxes": [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [0, 40, 10, 50]]}, 1.0, 1.0),
    # 2 cited, 1 real, 1 in the truth: precision 1/2, recall 1, F1 2/3
    ("1. ship [0,0,10,10]: a.\n2. ship [40,40,50,50]: b.", "2", {"count": 1, "boxes": [[0, 0, 10, 10]]},
     (1 + 0.5) / 2, (1 + 2 / 3) / 2),
    # cites nothing where there is something: 0 for the evidence both ways
    ("Nothing to ground.", "0", {"count": 2, "boxes": [[0, 0, 10, 10], [20, 0, 30, 10]]}, 0.5, 0.5),
])
def test_faithfulness_f1_pays_for_the_objects_left_out(grounding, answer, truth, precision, f1):
    cols = {k: [v] for k, v in truth.items()}
    c = [trace(answer, grounding)]
    assert faithfulness_reward(c, task=["count"], image_size=[[64, 64]], **cols) == [pytest.approx(precision)]
    got = faithfulness_reward(c, evidence="f1", task=["count"], image_size=[[64, 64]], **cols)
    assert got == [pytest.approx(f1)]


def test_faithfulness_checks_the_count_against_the_class_the_question_asks():
    # the boxes are on the two ships, but labelled storage tanks: "how many ships?" answered from them is
    # not backed by ship evidence; without the question the audit cannot tell
    c = [trace("2", "1. storage tank [0,0,10,10]: round.\n2. storage tank [20,0,30,10]: round.")]
    truth = {"task": ["count"], "image_size": [[64, 64]], "count": [2], "boxes": [[[0, 0, 10, 10], [20, 0, 30, 10]]]}
    assert faithfulness_reward(c, **truth) == [pytest.approx(1.0)]
    assert faithfulness_reward(c, question=["How many ships are there?"], **truth) == [pytest.approx(0.5)]
    assert faithfulness_reward(c, question=["How many storage tanks are there?"], **truth) == [pytest.approx(1.0)]


def test_faithfulness_evidence_must_be_known():
    with pytest.raises(ValueError, match="precision, f1"):
        faithfulness_reward([trace("1")], evidence="recall", task=["count"], count=[1])


def test_faithfulness_reward_is_none_without_anything_to_check():
    assert faithfulness_reward([trace("a harbor")], task=["caption"], captions=[["a harbor"]]) == [None]


# ------------------------------------------------------------------------------------ the set
def test_default_rewards_follow_the_options_weights():
    from geocot_cli.train.config import GRPOOptions

    opts = GRPOOptions(model="m", data="d", out="o", format_weight=0.0, count_alpha=2.0, caption_meteor=False)
    rewards = {r.name: r for r in default_rewards(opts)}
    assert "format" not in rewards and rewards["faithfulness"].weight == 0.25
    # the count reward carries alpha = 2 and keeps a name TRL can log
    assert rewards["count"].func(["<answer>3</answer>"], count=[4]) == [0.5]
    assert rewards["count"].func.__name__ == "count_reward"
    # faithfulness follows faithfulness_evidence
    f1 = {r.name: r for r in default_rewards(GRPOOptions(model="m", data="d", out="o", caption_meteor=False,
                                                         faithfulness_evidence="f1"))}["faithfulness"]
    under = trace("1", "1. ship [0,0,10,10]: a ship.")
    truth = {"task": ["count"], "count": [2], "boxes": [[[0, 0, 10, 10], [20, 0, 30, 10]]], "image_size": [[64, 64]]}
    assert rewards["faithfulness"].func([under], **truth) == [1.0]
    assert f1.func([under], **truth) == [pytest.approx((1 + 2 / 3) / 2)]
    assert f1.func.__name__ == "faithfulness_reward"
