"""Every metric against its reference implementation on the same inputs, plus the edge cases.

References: ``torchvision.ops.box_iou`` (IoU), a direct pycocotools ``COCOeval`` run with its default
parameters (mAP@0.5), direct pycocoevalcap ``PTBTokenizer`` + ``Bleu``/``Meteor``/``Rouge``/``Cider``
calls (captions), hand-worked tables (counting, answer scores).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from geocot_cli import metrics
from geocot_cli.metrics import (
    answer_score,
    answer_scores,
    box_iou,
    caption_scores,
    count_error,
    count_scores,
    detection_map50,
    grounding_scores,
    iou,
    normalize_answer,
    tokenize_captions,
)

TOL = 1e-6


def random_boxes(rng: np.random.Generator, n: int, size: float = 100.0) -> np.ndarray:
    xy = rng.uniform(0, size, size=(n, 2))
    wh = rng.uniform(1, size / 2, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


# ------------------------------------------------------------------------------------------- IoU
def test_box_iou_matches_torchvision():
    torch = pytest.importorskip("torch")
    from torchvision.ops import box_iou as tv_box_iou

    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 40), random_boxes(rng, 30)
    b[:5] = a[:5]  # identical pairs
    b[5] = a[6] + np.array([3, 0, 3, 0])  # shifted copy
    ref = tv_box_iou(torch.tensor(a), torch.tensor(b)).numpy()
    ours = box_iou(a, b)
    assert ours.shape == (40, 30)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)
    assert (ref > 0).sum() > 20  # the random sets overlap enough for the check to mean something


def test_box_iou_zero_area_is_zero_not_nan():
    # torchvision gives NaN for two empty boxes (0 / 0); a metric must not.
    assert box_iou([(5, 5, 5, 5)], [(5, 5, 5, 5)]).tolist() == [[0.0]]
    assert box_iou(np.zeros((0, 4)), [(0, 0, 1, 1)]).shape == (0, 1)
    assert iou(None, (0, 0, 1, 1)) == 0.0 and iou((0, 0, 1, 1), None) == 0.0


def test_grounding_matches_torchvision_diagonal():
    torch = pytest.importorskip("torch")
    from torchvision.ops import box_iou as tv_box_iou

    rng = np.random.default_rng(1)
    targets = random_boxes(rng, 50)
    preds = targets + rng.normal(0, 8, size=targets.shape)
    preds = np.concatenate([np.minimum(preds[:, :2], preds[:, 2:]), np.maximum(preds[:, :2], preds[:, 2:])], 1)
    ref_iou = torch.diagonal(tv_box_iou(torch.tensor(preds), torch.tensor(targets))).numpy()
    s = grounding_scores([tuple(p) for p in preds], [tuple(t) for t in targets])
    assert s.n == 50 and s.missing == 0
    assert s.miou == pytest.approx(float(ref_iou.mean()), abs=TOL)
    assert s.acc50 == pytest.approx(float((ref_iou >= 0.5).mean()), abs=TOL)
    assert 0.0 < s.acc50 < 1.0  # both sides of the threshold are exercised


def test_grounding_missing_boxes_score_zero_and_threshold_is_inclusive():
    # IoU exactly 0.5: [0,0,10,10] vs [0,0,10,5] -> 50/100
    s = grounding_scores([(0, 0, 10, 5), None, (100, 100, 110, 110)], [(0, 0, 10, 10)] * 3)
    assert s.acc50 == pytest.approx(1 / 3)
    assert s.miou == pytest.approx(0.5 / 3)
    assert s.missing == 1
    empty = grounding_scores([], [])
    assert (empty.n, empty.acc50, empty.miou) == (0, None, None)
    with pytest.raises(ValueError, match="2 predictions for 1 targets"):
        grounding_scores([None, None], [(0, 0, 1, 1)])


# ------------------------------------------------------------------------------------------ counts
@pytest.mark.parametrize(
    ("pred", "gt", "error"),
    [(3, 3, 0), (0, 4, 4), (7, 2, 5), (None, 5, 5), (None, 0, 1), (2, 0, 2)],
)
def test_count_error_table(pred, gt, error):
    assert count_error(pred, gt) == error


def test_count_scores_hand_worked():
    # preds 2,5,None,0 vs gt 2,3,0,0 -> exact: yes,no,no,yes ; errors 0,2,1,0
    s = count_scores([2, 5, None, 0], [2, 3, 0, 0])
    assert s.accuracy == pytest.approx(0.5)
    assert s.mae == pytest.approx(3 / 4)
    assert s.missing == 1
    assert count_scores([], []).mae is None


# --------------------------------------------------------------------------------------- detection
def reference_map50(preds, gts, classes) -> float:
    """Direct pycocotools run, default COCOeval parameters, AP@0.5 from summarize() (stats[1])."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = sorted(set(classes))
    images, anns, dets = [], [], []
    for i, (gt, p, c) in enumerate(zip(gts, preds, classes)):
        images.append({"id": 100 + i, "width": 200, "height": 200})
        for x1, y1, x2, y2 in gt:
            anns.append({"id": 1 + len(anns), "image_id": 100 + i, "category_id": 7 + names.index(c),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        for x1, y1, x2, y2 in p or ():
            dets.append({"image_id": 100 + i, "category_id": 7 + names.index(c),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "score": 1.0})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": 7 + k, "name": n} for k, n in enumerate(names)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[1])


def detection_case(seed: int):
    """Two classes; an image with no GT, an image with no prediction, duplicates, misses, jitter."""
    rng = np.random.default_rng(seed)
    gts, preds, classes = [], [], []
    for i in range(12):
        gt = [tuple(b) for b in random_boxes(rng, int(rng.integers(1, 6)), 180)]
        if i == 3:
            gt = []  # no ground-truth object: every prediction is a false positive
        pred = []
        for b in gt:
            r = rng.random()
            if r < 0.6:
                pred.append(tuple(np.asarray(b) + rng.normal(0, 3, 4)))
            elif r < 0.8:
                pred.append(tuple(np.asarray(b) + rng.normal(0, 25, 4)))
            if r < 0.2:
                pred.append(pred[-1])  # duplicate box
        pred += [tuple(b) for b in random_boxes(rng, int(rng.integers(0, 2)), 180)]  # stray boxes
        if i == 5:
            pred = []  # the model found nothing
        pred = [(min(a, c), min(b, d), max(a, c), max(b, d)) for a, b, c, d in pred]
        gts.append(gt)
        preds.append(pred)
        classes.append("ship" if i % 3 else "storage tank")
    return preds, gts, classes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detection_map50_matches_pycocotools(seed):
    preds, gts, classes = detection_case(seed)
    ours = detection_map50(preds, gts, classes)
    ref = reference_map50(preds, gts, classes)
    assert ours.map50 == pytest.approx(ref, abs=TOL)
    assert 0.05 < ours.map50 < 0.99  # neither trivial extreme
    assert ours.ground_truth == sum(map(len, gts)) and ours.predicted == sum(map(len, preds))
    assert {c for c, _ in ours.per_class} == {"ship", "storage tank"}


def test_detection_unparsed_answer_is_no_detection():
    preds, gts, classes = detection_case(0)
    with_none = [None if i == 2 else p for i, p in enumerate(preds)]
    as_empty = [[] if i == 2 else p for i, p in enumerate(preds)]
    a, b = detection_map50(with_none, gts, classes), detection_map50(as_empty, gts, classes)
    assert a.map50 == b.map50 and a.missing == 1 and b.missing == 0


def test_detection_duplicates_are_false_positives():
    gt = [[(0, 0, 10, 10)], [(50, 50, 60, 60)]]
    clean = detection_map50([[(0, 0, 10, 10)], [(50, 50, 60, 60)]], gt)
    # image 0 answers the true box twice before image 1's hit: the duplicate ranks above a TP
    dup = detection_map50([[(0, 0, 10, 10), (0, 0, 10, 10)], [(50, 50, 60, 60)]], gt)
    assert clean.map50 == pytest.approx(1.0)
    assert dup.map50 == pytest.approx(reference_map50(
        [[(0, 0, 10, 10), (0, 0, 10, 10)], [(50, 50, 60, 60)]], gt, ["object", "object"]), abs=TOL)
    assert dup.map50 < clean.map50


def test_detection_edge_cases():
    # no predictions anywhere: 0.0, not a pycocotools crash on an empty result list
    s = detection_map50([[], None], [[(0, 0, 5, 5)], []])
    assert s.map50 == 0.0 and s.ground_truth == 1 and s.predicted == 0 and s.missing == 1
    # no ground truth anywhere: undefined, reported as None
    s = detection_map50([[(0, 0, 5, 5)]], [[]])
    assert s.map50 is None and s.predicted == 1
    # predictions only in images without GT of a class with GT elsewhere -> AP 0
    s = detection_map50([[], [(0, 0, 5, 5)]], [[(0, 0, 5, 5)], []])
    assert s.map50 == pytest.approx(0.0)
    # more than pycocotools' default 100 boxes on one image: none dropped
    many = [(i * 3.0, 0.0, i * 3.0 + 2, 2.0) for i in range(150)]
    s = detection_map50([many], [many])
    assert s.map50 == pytest.approx(1.0)
    assert detection_map50([], []).map50 is None


# ----------------------------------------------------------------------------- vqa / classification
@pytest.mark.parametrize(
    ("pred", "gt", "score"),
    [
        ("yes", "yes", 1.0),
        ("Yes.", "yes", 1.0),
        ("  The Airport ", "airport", 1.0),
        ("dense_residential", "dense residential", 1.0),
        ("three", "3", 1.0),
        ("Storage-Tank", "storage tank", 1.0),
        ("tank", "storage tank", 0.6),
        ("dense residential area", "dense residential", 0.6),
        ("yes, there is a ship", "yes", 0.6),
        ("no", "yes", 0.0),
        ("ship", "shipyard", 0.0),  # whole words only
        ("", "yes", 0.0),
        (None, "yes", 0.0),
        ("2.5", "2.5", 1.0),
    ],
)
def test_answer_score_table(pred, gt, score):
    assert answer_score(pred, gt) == score


def test_answer_scores_aggregate():
    s = answer_scores(["yes", "tank", None, "harbor"], ["yes", "storage tank", "no", "airport"])
    assert s.score == pytest.approx((1 + 0.6 + 0 + 0) / 4)
    assert s.exact == 0.25 and s.partial == 0.25 and s.missing == 1
    assert normalize_answer(None) == ""


# ------------------------------------------------------------------------------------------ captions
CAPTION_PREDS = [
    "A large ship is docked at the pier.",
    "many cars (parked) in a lot; it's busy",
    None,  # unparseable trace: scored as the empty caption
    "",
    "an airport with three planes and a runway",
    "harbour",
]
CAPTION_REFS = [
    ["A ship is docked at the pier.", "Two boats near the harbour's edge."],
    ["Many cars are parked in a parking lot.", "A busy car park (seen from above)."],
    ["A river crosses farmland."],
    ["Dense residential buildings along a road."],
    ["An airport with three planes.", "Three airplanes parked near a runway.", "a runway"],
    ["A harbour with several boats."],
]


@pytest.fixture(scope="module")
def caption_reference():
    """pycocoevalcap called directly, as its own eval script does.

    METEOR runs in the one pycocoevalcap ``Meteor`` Java process that geocot keeps per Python
    process (``metrics._METEOR`` only starts it and calls its ``compute_score``): a second JVM
    would cost ~15 s of test time and check nothing more.
    """
    if not metrics.java_available():
        pytest.skip("Java is needed for the PTB tokenizer and METEOR reference")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    gts = {i: [{"caption": r} for r in refs] for i, refs in enumerate(CAPTION_REFS)}
    res = {i: [{"caption": p or ""}] for i, p in enumerate(CAPTION_PREDS)}
    tok = PTBTokenizer()
    g, r = tok.tokenize(gts), tok.tokenize(res)
    with contextlib.redirect_stdout(io.StringIO()):
        bleu, _ = Bleu(4).compute_score(g, r, verbose=0)
    out = {
        "bleu": bleu,
        "meteor": metrics._METEOR.score(g, r),
        "rouge_l": Rouge().compute_score(g, r)[0],
        "cider": Cider().compute_score(g, r)[0],
        "tokens": (g, r),
    }
    return out


def test_caption_scores_match_pycocoevalcap(caption_reference):
    s = caption_scores(CAPTION_PREDS, CAPTION_REFS)
    ref = caption_reference
    assert s.n == 6 and s.missing == 1 and s.tokenizer == "ptb" and s.note is None
    for name, k in (("bleu1", 0), ("bleu2", 1), ("bleu3", 2), ("bleu4", 3)):
        assert getattr(s, name) == pytest.approx(ref["bleu"][k], abs=TOL)
    assert s.meteor == pytest.approx(ref["meteor"], abs=TOL)
    assert s.rouge_l == pytest.approx(ref["rouge_l"], abs=TOL)
    assert s.cider == pytest.approx(ref["cider"], abs=TOL)
    assert 0 < s.bleu4 < s.bleu1 < 1 and s.meteor > 0 and s.cider > 0


def test_our_ptb_tokenizer_matches_pycocoevalcap(caption_reference):
    g, r = caption_reference["tokens"]
    flat = [p or "" for p in CAPTION_PREDS] + [c for refs in CAPTION_REFS for c in refs]
    expected = [r[i][0] for i in range(len(CAPTION_PREDS))] + [c for i in range(len(CAPTION_REFS)) for c in g[i]]
    tokens, name = tokenize_captions(flat)
    assert name == "ptb" and tokens == expected
    assert "-lrb- parked -rrb-" in tokens[1]  # PTB keeps bracket tokens after lower-casing, as the reference


def test_caption_line_breaks_do_not_shift_captions():
    tokens, _ = tokenize_captions(["a\rb", "second\ncaption", "third"])
    assert tokens == ["a b", "second caption", "third"]


def test_caption_edge_cases():
    s = caption_scores(["a ship", "x"], [[], ["  "]], meteor=False)
    assert s.n == 0 and s.bleu4 is None and "without reference" in s.note
    s = caption_scores([None], [["a ship at the pier"]], meteor=False)
    assert s.n == 1 and s.bleu1 == 0.0 and s.cider == 0.0 and s.rouge_l == 0.0 and s.meteor is None


def test_captions_without_java(monkeypatch):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)
    s = caption_scores(CAPTION_PREDS, CAPTION_REFS)
    assert s.meteor is None and s.tokenizer == "simple"
    assert "Java" in s.note and "default-jre" in s.note
    assert 0 < s.bleu4 < s.bleu1 < 1


def test_simple_tokenizer_agrees_with_ptb_on_ordinary_captions():
    if not metrics.java_available():
        pytest.skip("needs Java for the PTB reference")
    texts = [c for refs in CAPTION_REFS for c in refs] + [p for p in CAPTION_PREDS if p]
    texts += ["It isn't a 3.5 m-wide road, is it?", "Boats: two; cars -- five!"]
    ptb, _ = tokenize_captions(texts)
    assert [metrics.simple_tokenize(t) for t in texts] == ptb


def test_captions_without_pycocoevalcap(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pycocoevalcap", None)  # import fails as if not installed
    s = caption_scores(["a ship"], [["a ship at sea"]])
    assert s.n == 1 and s.bleu4 is None and s.cider is None and "pip install pycocoevalcap" in s.note
