"""Backfilled Geo-CoT traces cite exactly the ground truth; model-written traces are kept only if they verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geocot_cli.backends import ScriptedBackend
from geocot_cli.data.backfill import BackfillOptions, backfill, backfill_samples, writer_prompt
from geocot_cli.data.readers import read_dataset
from geocot_cli.data.schema import Sample, load_samples
from geocot_cli.data.synth import SynthOptions, synthesize
from geocot_cli.data.templates import evidence, template_trace
from geocot_cli.data.verify import match_count, verify_trace
from geocot_cli.errors import ConfigError, OutputError
from geocot_cli.trace import parse_count, parse_trace


@pytest.fixture(scope="module")
def dota_samples():
    real = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "dota" / "labelTxt"
    if not real.is_dir():
        pytest.skip("real DOTA sample data not found")
    return read_dataset("dota", real)


@pytest.fixture(scope="module")
def synth_samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, SynthOptions(n=12, seed=5))
    return load_samples(out / "ground_truth.jsonl")


def _sorted(boxes):
    return sorted(tuple(round(v) for v in b) for b in boxes)


def test_real_dota_traces_cite_exactly_the_ground_truth_boxes(dota_samples):
    ships = {s.id: s for s in dota_samples}["P0706/count/ship"]
    assert ships.count == 531
    for s in dota_samples:
        t = parse_trace(template_trace(s), "pixel", s.image_size)
        assert t.format_ok, (s.id, t.problems)
        cited = [e.box for e in t.grounded]
        assert _sorted(cited) == _sorted(s.boxes), s.id  # every true box, nothing else
        assert len({tuple(b) for b in cited}) == len(cited)
        if s.task == "count":
            assert parse_count(t.answer) == s.count == len(cited)
        if s.task == "detect":
            assert list(t.answer_boxes) == cited  # the answer lists the grounded boxes, in the same order
        if s.task == "vqa":
            assert t.answer == ("yes" if s.boxes else "no")


@pytest.mark.parametrize("convention", ["norm1000", "norm1"])
def test_real_dota_traces_in_normalised_conventions(dota_samples, convention):
    for s in dota_samples:
        if s.id.startswith("P0706") and s.task != "count":
            continue  # one dense trace per convention is enough
        t = parse_trace(template_trace(s, convention=convention), convention, s.image_size)
        cited = [e.box for e in t.grounded]
        assert len(cited) == len(s.boxes)
        assert match_count(cited, s.boxes, 0.5) == len(s.boxes), s.id
        tol = max(s.image_size) / 1000 + 0.01  # one step of the normalised grid
        for b in s.boxes:
            assert min(max(abs(x - y) for x, y in zip(a, b)) for a in cited) <= tol, s.id


def test_boxes_are_listed_top_to_bottom_then_left_to_right(dota_samples):
    s = {x.id: x for x in dota_samples}["P1888/detect/large-vehicle"]
    cited = [e.box for e in parse_trace(template_trace(s), "pixel", s.image_size).grounded]
    keys = [(b[1], b[0]) for b in cited]
    assert keys == sorted(keys)


def test_templates_are_deterministic_and_varied(synth_samples):
    counts = [s for s in synth_samples if s.task == "count"]
    assert [template_trace(s) for s in counts] == [template_trace(s) for s in counts]
    plans = {template_trace(s).split("\n")[0] for s in counts}
    assert len(plans) >= 2


def test_all_six_synthetic_tasks_verify(synth_samples):
    tasks = set()
    for s in synth_samples:
        for conv in ("pixel", "norm1000"):
            v = verify_trace(template_trace(s, convention=conv), s, convention=conv)
            assert v.ok, (s.id, conv, v.reasons)
        tasks.add(s.task)
    assert tasks == {"vqa", "caption", "classify", "ground", "count", "detect"}


def test_ground_trace_cites_the_candidates_and_answers_the_target(synth_samples):
    g = next(s for s in synth_samples if s.task == "ground" and len(s.boxes) > 1)
    t = parse_trace(template_trace(g), "pixel", g.image_size)
    assert _sorted(e.box for e in t.grounded) == _sorted(g.boxes)
    assert _sorted(t.answer_boxes) == _sorted([g.target_box])


def test_verify_rejects_invented_missed_and_wrong(synth_samples):
    s = next(x for x in synth_samples if x.task == "count" and x.count >= 2)
    good = template_trace(s)
    assert verify_trace(good, s).ok
    lines = good.split("\n")
    missed = "\n".join(l for l in lines if not l.startswith("1. "))
    assert "1 ground-truth object(s) not cited" in verify_trace(missed, s).reasons
    invented = good.replace("Synthesis:", "9. ship [0,0,3,3]: a ship.\nSynthesis:")
    assert "1 cited box(es) match no ground-truth object" in verify_trace(invented, s).reasons
    wrong = good.replace(f"<answer>{s.count}</answer>", f"<answer>{s.count + 1}</answer>")
    assert not verify_trace(wrong, s).ok
    assert not verify_trace("just text", s).ok


def test_backfill_writes_sft_nocot_and_rl(tmp_path, synth_samples):
    rep = backfill(tmp_path / "sft.jsonl", synth_samples, BackfillOptions(box_convention="norm1000"))
    assert rep.sft == rep.nocot == rep.rl == len(synth_samples) and rep.rejected == 0
    sft = load_samples(tmp_path / "sft.jsonl")
    nocot = load_samples(tmp_path / "sft.nocot.jsonl")
    rl = load_samples(tmp_path / "sft.rl.jsonl")
    assert all(s.trace.startswith("<think>Planning:") and s.meta["box_convention"] == "norm1000" for s in sft)
    assert all(s.trace.startswith("<answer>") and "<think>" not in s.trace for s in nocot)
    assert all(s.trace is None for s in rl)
    assert [s.id for s in sft] == [s.id for s in nocot] == [s.id for s in rl]
    d = next(s for s in nocot if s.task == "detect" and s.boxes)
    x1 = round(sorted(d.boxes, key=lambda b: (b[1], b[0]))[0][0] * 1000 / d.image_size[0])
    assert d.trace.startswith(f"<answer>[[{x1},")  # answers follow the target convention
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        backfill(tmp_path / "sft.jsonl", synth_samples)


def test_max_objects_drops_or_caps(dota_samples):
    res = backfill_samples(dota_samples, BackfillOptions(max_objects=100))
    assert res.dropped_max_objects == 3  # P0706 ship detect, count, vqa (531 ships)
    assert len(res.sft) == len(dota_samples) - 3
    res = backfill_samples(dota_samples, BackfillOptions(max_objects=100, over_max="cap"))
    assert res.dropped_max_objects == 2  # count and detect cannot be capped
    vqa = next(s for s in res.sft if s.id == "P0706/vqa/ship")
    t = parse_trace(vqa.trace, "pixel", vqa.image_size)
    assert len(t.grounded) == 100 and "431 more objects" in t.synthesis
    with pytest.raises(ConfigError, match="over_max"):
        BackfillOptions(over_max="trim")


def test_writer_model_traces_are_kept_only_when_they_verify(synth_samples):
    samples = [s for s in synth_samples if s.task in ("count", "detect")][:6]

    by_prompt = {writer_prompt(s, "norm1000", s.image_size, evidence(s)): s for s in samples}
    assert len(by_prompt) == len(samples)

    def honest_or_not(image, prompt):
        s = by_prompt[prompt]
        assert image.size == s.image_size
        text = template_trace(s, convention="norm1000")
        return text if s.task == "count" else text.replace("<answer>[", "<answer>[[1,1,2,2],")

    writer = ScriptedBackend(honest_or_not, box_convention="norm1000")
    res = backfill_samples(samples, BackfillOptions(box_convention="norm1000", batch_size=4), writer)
    n_count = sum(s.task == "count" for s in samples)
    n_detect = len(samples) - n_count
    assert len(writer.calls) == len(samples)
    assert res.rejected == n_detect and res.reasons == {"wrong answer": n_detect}
    assert len(res.sft) == n_count and all(s.meta["writer"] == "scripted" for s in res.sft)
    assert len(res.rl) == len(samples)
    res = backfill_samples(samples, BackfillOptions(box_convention="norm1000", fallback_template=True),
                           ScriptedBackend(honest_or_not, box_convention="norm1000"))
    assert len(res.sft) == len(samples)
    assert sorted(s.meta["writer"] for s in res.sft) == sorted(["scripted"] * n_count + ["template"] * n_detect)


def test_writer_prompt_carries_the_ground_truth(synth_samples):
    s = next(x for x in synth_samples if x.task == "count" and x.count)
    p = writer_prompt(s, "pixel", s.image_size, evidence(s))
    assert s.question in p and f"Correct answer: {s.count}" in p
    b = sorted(s.boxes, key=lambda b: (b[1], b[0]))[0]
    assert f"1. {s.labels[0]} [{','.join(str(int(v)) for v in b)}]" in p


def test_backfill_report_is_json_ready(tmp_path, synth_samples):
    rep = backfill(tmp_path / "o.jsonl", synth_samples[:6])
    doc = json.loads(json.dumps(rep.to_dict()))
    assert doc["sft"] == 6 and doc["nocot_path"].endswith("o.nocot.jsonl") and doc["writer"] == "template"


def test_classify_without_objects_grounds_nothing(tmp_path):
    s = Sample(image=tmp_path / "a.png", task="classify", question="Which class?", cls="forest", image_size=(64, 64))
    t = parse_trace(template_trace(s), "pixel", (64, 64))
    assert t.format_ok and t.evidence == () and t.answer == "forest"


def test_vqa_without_boxes_does_not_claim_absence(tmp_path):
    s = Sample(image=tmp_path / "a.png", task="vqa", question="How many ships are there?", answer="2", image_size=(64, 64))
    text = template_trace(s)
    assert "No ship is visible" not in text and "scene as a whole" in text and text.endswith("<answer>2</answer>")
    no = Sample(image=tmp_path / "a.png", task="vqa", question="Is there a ship in the image?", answer="no", image_size=(64, 64))
    assert "No ship is visible in the image." in template_trace(no)


def test_count_without_boxes_is_dropped_not_invented(tmp_path):
    s = Sample(image=tmp_path / "a.png", task="count", question="How many ships?", count=3, image_size=(64, 64))
    res = backfill_samples([s])
    assert res.dropped_unboxed == 1 and res.sft == [] and res.rl == []
