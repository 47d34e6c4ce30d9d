"""The eval runner with a scripted model: run == re-score, resume == one run, audit figures by hand.

Every sample's image carries its position in the benchmark in the red value of its pixels, so the
scripted model knows which sample it is looking at and answers it from a fixed script (right,
wrong, partial, unparseable, duplicated or outside-the-image evidence).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import typer
from PIL import Image

import geocot_cli.api
import geocot_cli.cli._common
from geocot_cli import metrics
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.cli.eval import eval_command, format_metric
from geocot_cli.errors import DataError, OutputError
from geocot_cli.evaluate import (
    Prediction, asked_classes, evaluate, load_image, read_predictions, score_one, score_predictions,
)

W, H = 64, 48


def trace(items, answer, *, planning="Planning: look at the image.", synthesis="Synthesis: done."):
    """A canonical Geo-CoT trace grounding ``items`` = [(label, box)], answering ``answer``."""
    lines = [f"{k}. {label} [{','.join(str(v) for v in box)}]: a {label} in the image." for k, (label, box) in
             enumerate(items, 1)]
    return f"<think>{planning}\nGrounding:\n" + "\n".join(lines) + f"\n{synthesis}</think>\n<answer>{answer}</answer>"


# (sample fields, model output): the script the fake model follows, one entry per sample
SCRIPT = [
    # count: right and consistent / wrong with a duplicated citation / unparseable
    ({"task": "count", "question": "How many ships?", "count": 2, "boxes": [[5, 5, 15, 15], [30, 10, 40, 20]],
      "labels": ["ship", "ship"]},
     trace([("ship", (5, 5, 15, 15)), ("ship", (30, 10, 40, 20))], "2")),
    ({"task": "count", "question": "How many ships?", "count": 1, "boxes": [[10, 10, 20, 20]], "labels": ["ship"]},
     trace([("ship", (10, 10, 20, 20)), ("ship", (10, 10, 20, 20))], "2")),
    ({"task": "count", "question": "How many planes?", "count": 3}, "I cannot tell."),
    # ground: IoU 1 / IoU exactly 0.5 / a box reaching outside the 64x48 image (clipped)
    ({"task": "ground", "question": "the ship on the left", "target_box": [10, 10, 30, 30]},
     trace([("ship", (10, 10, 30, 30))], "[10,10,30,30]")),
    ({"task": "ground", "question": "the big tank", "target_box": [0, 0, 20, 20]},
     trace([("storage tank", (0, 0, 20, 10))], "[0,0,20,10]")),
    ({"task": "ground", "question": "the plane", "target_box": [40, 20, 60, 40]},
     trace([("plane", (50, 30, 80, 60))], "[50,30,80,60]")),
    # detect: all found / false positive on an empty image / nothing found
    ({"task": "detect", "question": "Detect all ships.", "boxes": [[5, 5, 15, 15], [30, 10, 40, 20]],
      "labels": ["ship", "ship"]},
     trace([("ship", (5, 5, 15, 15)), ("ship", (30, 10, 40, 20))], "[[5,5,15,15],[30,10,40,20]]")),
    ({"task": "detect", "question": "Detect all ships.", "boxes": [], "class": "ship"},
     trace([("ship", (1, 1, 5, 5))], "[[1,1,5,5]]")),
    ({"task": "detect", "question": "Detect all ships.", "boxes": [[20, 20, 30, 30]], "labels": ["ship"]},
     trace([], "[]")),
    # vqa: right / wrong / partial
    ({"task": "vqa", "question": "Is there a ship?", "answer": "yes"}, trace([("ship", (5, 5, 15, 15))], "Yes.")),
    ({"task": "vqa", "question": "Is there a plane?", "answer": "no"}, trace([], "yes")),
    ({"task": "vqa", "question": "What is the round object?", "answer": "storage tank"}, trace([], "tank")),
    # classify: right / partial
    ({"task": "classify", "class": "harbor"}, trace([], "harbor")),
    ({"task": "classify", "class": "dense_residential"}, trace([], "residential")),
    # caption: a sentence / empty output
    ({"task": "caption", "captions": ["A ship is docked at the pier.", "Two boats near a harbour."]},
     trace([("ship", (5, 5, 15, 15))], "A ship docked at a pier.")),
    ({"task": "caption", "captions": ["A river crosses farmland."]}, ""),
]


def responder(image: Image.Image, prompt: str) -> str:
    return SCRIPT[image.getpixel((0, 0))[0]][1]


@pytest.fixture
def bench(tmp_path):
    """The benchmark JSONL with one 64x48 PNG per sample."""
    (tmp_path / "img").mkdir()
    lines = []
    for i, (fields, _) in enumerate(SCRIPT):
        Image.new("RGB", (W, H), (i, 90, 40)).save(tmp_path / "img" / f"{i:02d}.png")
        lines.append(json.dumps({"image": f"img/{i:02d}.png", "id": f"s{i:02d}", **fields}))
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def check_run_and_rescore_agree(bench, tmp_path, meteor: bool):
    out = tmp_path / "preds.jsonl"
    report = evaluate(ScriptedBackend(responder), bench, out_path=out, batch_size=3, meteor=meteor)
    rescored = score_predictions(out, meteor=meteor)
    assert report.to_dict() == rescored.to_dict()
    assert report.n == len(SCRIPT) and [t.task for t in report.tasks] == [
        "vqa", "caption", "classify", "ground", "count", "detect"]
    if meteor:
        assert report.task("caption").metrics["meteor"] > 0
    else:
        assert report.task("caption").metrics["meteor"] is None
    # the stored records are complete: raw trace, size as fed, convention, ground truth, per-answer audit
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == [f"s{i:02d}" for i in range(len(SCRIPT))]
    assert records[1]["trace"] == SCRIPT[1][1] and records[1]["image_size"] == [W, H]
    assert records[1]["result"]["duplicates"] == 1 and records[1]["result"]["consistent"] is False
    assert records[0]["truth"]["count"] == 2 and records[0]["prompt"].startswith("How many ships?")


def test_run_and_rescore_agree_on_every_figure(bench, tmp_path):
    check_run_and_rescore_agree(bench, tmp_path, meteor=False)


@pytest.mark.slow
def test_run_and_rescore_agree_with_meteor(bench, tmp_path):
    """The same with METEOR (starts a Java process: ~15 s)."""
    if not metrics.java_available():
        pytest.skip("METEOR needs Java")
    check_run_and_rescore_agree(bench, tmp_path, meteor=True)


def test_figures_by_hand(bench, tmp_path):
    r = evaluate(ScriptedBackend(responder), bench, out_path=tmp_path / "p.jsonl", batch_size=4, meteor=False)
    count = r.task("count")
    assert count.metrics["accuracy"] == pytest.approx(1 / 3)
    assert count.metrics["mae"] == pytest.approx((0 + 1 + 3) / 3)  # no count for gt 3 costs 3
    assert count.unparsed == 1
    ground = r.task("ground")
    clipped_iou = 100 / (400 + 14 * 18 - 100)  # [50,30,80,60] clipped to [50,30,64,48] vs [40,20,60,40]
    assert ground.metrics["acc50"] == pytest.approx(2 / 3)  # IoU 0.5 counts
    assert ground.metrics["miou"] == pytest.approx((1 + 0.5 + clipped_iou) / 3)
    detect = r.task("detect")
    expected = metrics.detection_map50(
        [[(5, 5, 15, 15), (30, 10, 40, 20)], [(1, 1, 5, 5)], []],
        [[(5, 5, 15, 15), (30, 10, 40, 20)], [], [(20, 20, 30, 30)]],
    )
    assert detect.metrics["map50"] == pytest.approx(expected.map50, abs=1e-9)
    assert 0 < detect.metrics["map50"] < 1
    assert r.task("vqa").metrics == {"score": pytest.approx(1.6 / 3), "accuracy": pytest.approx(1 / 3)}
    assert r.task("classify").metrics == {"score": pytest.approx(0.8), "accuracy": pytest.approx(0.5)}
    caption = r.task("caption")
    direct = metrics.caption_scores(
        ["A ship docked at a pier.", None],
        [["A ship is docked at the pier.", "Two boats near a harbour."], ["A river crosses farmland."]],
        meteor=False,
    )
    assert caption.metrics["bleu4"] == direct.bleu4 and caption.metrics["cider"] == direct.cider
    assert caption.metrics["meteor"] is None and caption.unparsed == 1

    # the audit, summed
    a = r.audit
    assert a.n == 16 and a.duplicates == 1 and a.out_of_image == 1
    assert a.format_ok == pytest.approx(14 / 16)  # "I cannot tell." and the empty output are not Geo-CoT
    assert a.answered == pytest.approx(15 / 16)  # plain text is taken as the answer; empty output is not
    assert count.audit.consistent == pytest.approx(1 / 3) and count.audit.consistency_checked == 3
    # cited precision on count/detect/ground: s00 2/2, s01 1/1 (duplicate dropped), s03 1/1, s04 1/1
    # (IoU .5), s05 0/1, s06 2/2, s07 0/1 (no GT) -> 7 of 9; vqa s09 cites a box but has no GT boxes
    assert a.cited_boxes == 9 and a.cited_precision == pytest.approx(7 / 9)
    assert r.task("vqa").audit.cited_precision is None


class Crashing:
    """Answers like the scripted model, then dies on its ``fail_on``-th batch (a lost GPU)."""

    def __init__(self, fail_on: int):
        self.inner, self.fail_on, self.batches = ScriptedBackend(responder), fail_on, 0
        self.name, self.box_convention = "scripted", "pixel"

    def generate(self, images, prompts):
        self.batches += 1
        if self.batches == self.fail_on:
            raise RuntimeError("CUDA error: device lost")
        return self.inner.generate(images, prompts)


def test_predictions_are_written_as_they_go_and_resume_gives_the_same_report(bench, tmp_path):
    full = evaluate(ScriptedBackend(responder), bench, out_path=tmp_path / "full.jsonl", batch_size=3, meteor=False)

    out = tmp_path / "preds.jsonl"
    with pytest.raises(RuntimeError, match="device lost"):
        evaluate(Crashing(fail_on=3), bench, out_path=out, batch_size=3, meteor=False)
    assert len(out.read_text().splitlines()) == 6  # two whole batches survived the crash
    with out.open("a") as fh:
        fh.write('{"id": "s06", "index": 6, "task": "det')  # a line torn by the kill

    with pytest.raises(OutputError, match="--resume"):
        evaluate(ScriptedBackend(responder), bench, out_path=out, batch_size=3)
    backend = ScriptedBackend(responder)
    seen = []
    resumed = evaluate(backend, bench, out_path=out, batch_size=3, resume=True, meteor=False,
                       progress=lambda done, total: seen.append((done, total)))
    assert len(backend.calls) == len(SCRIPT) - 6  # only the samples not done yet
    assert seen[0] == (6, 16) and seen[-1] == (16, 16)
    assert resumed.to_dict()["tasks"] == full.to_dict()["tasks"]
    assert resumed.audit == full.audit
    assert [p.id for p in read_predictions(out)] == [f"s{i:02d}" for i in range(len(SCRIPT))]

    # resuming a finished run calls the model no more
    again = ScriptedBackend(responder)
    evaluate(again, bench, out_path=out, resume=True, meteor=False)
    assert again.calls == []


def test_limit_overwrite_and_refusals(bench, tmp_path):
    out = tmp_path / "preds.jsonl"
    r = evaluate(ScriptedBackend(responder), bench, out_path=out, limit=4, meteor=False)
    assert r.n == 4 and [t.task for t in r.tasks] == ["ground", "count"]
    r = evaluate(ScriptedBackend(responder), bench, out_path=out, limit=2, overwrite=True, meteor=False)
    assert r.n == 2 and len(out.read_text().splitlines()) == 2

    other = ScriptedBackend(responder)
    other.name = "hf:another-model"
    with pytest.raises(DataError, match="written by model 'scripted'"):
        evaluate(other, bench, out_path=out, resume=True)
    stray = tmp_path / "stray.jsonl"
    record = json.loads(out.read_text().splitlines()[0]) | {"id": "not-in-bench"}
    stray.write_text(json.dumps(record) + "\n")
    with pytest.raises(DataError, match="not in this benchmark"):
        evaluate(ScriptedBackend(responder), bench, out_path=stray, resume=True)
    with pytest.raises(OutputError, match="does not exist"):
        evaluate(ScriptedBackend(responder), bench, out_path=tmp_path / "no" / "p.jsonl")

    dup = tmp_path / "dup.jsonl"
    line = bench.read_text().splitlines()[0]
    dup.write_text(line + "\n" + line + "\n")
    with pytest.raises(DataError, match="share the id 's00'"):
        evaluate(ScriptedBackend(responder), dup, out_path=tmp_path / "d.jsonl")


def test_any_model_text_round_trips_through_the_file(bench, tmp_path):
    odd = ["<answer>yes \ud800 \x00 é 港口</answer>", "", "\n" * 3, "<think>" + "ship [1,2,3,4] " * 500]
    out = tmp_path / "odd.jsonl"
    report = evaluate(ScriptedBackend(odd), bench, out_path=out, limit=8, meteor=False)
    assert [p.trace for p in read_predictions(out)] == (odd * 2)[:8]
    assert score_predictions(out, meteor=False).to_dict() == report.to_dict()


def test_bad_prediction_files_name_the_line(tmp_path):
    p = tmp_path / "preds.jsonl"
    p.write_text('{"id": "a", "index": 0, "task": "vqa", "trace": "yes", "image_size": [8, 8]}\n{"id": "b"}\n')
    with pytest.raises(DataError, match=r"preds.jsonl:2: not a geocot prediction"):
        score_predictions(p)
    p.write_text('{"id": "a", "index": 0, "task": "ground", "trace": "", "image_size": [8, 8], "truth": {}}\n')
    with pytest.raises(DataError, match=r":1: .*needs truth.target_box"):
        score_predictions(p)
    p.write_text("not json\n")
    with pytest.raises(DataError, match=r":1: not valid JSON"):
        score_predictions(p)
    with pytest.raises(DataError, match="not found"):
        score_predictions(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("text", ["", "\x00\x01garbage", "<answer>", "<think>" * 50, "[[1,2,3]]", "🙂" * 100])
def test_unparseable_traces_count_as_wrong_and_never_crash(text):
    preds = [
        Prediction(id=f"{t}", index=k, task=t, trace=text, image_size=(W, H), truth=truth)
        for k, (t, truth) in enumerate([
            ("vqa", {"answer": "yes"}), ("classify", {"class": "harbor"}), ("ground", {"target_box": [0, 0, 9, 9]}),
            ("count", {"count": 2}), ("detect", {"boxes": [[0, 0, 9, 9]]}), ("caption", {"captions": ["a ship"]}),
        ])
    ]
    r = score_predictions(preds, meteor=False)
    assert r.task("vqa").metrics["score"] == 0.0 and r.task("classify").metrics["score"] == 0.0
    assert r.task("ground").metrics["miou"] == 0.0 and r.task("count").metrics["accuracy"] == 0.0
    assert r.task("count").metrics["mae"] == 2.0 and r.task("detect").metrics["map50"] == 0.0
    assert r.task("caption").metrics["bleu1"] < 1e-6 and r.audit.format_ok == 0.0


def test_the_audit_checks_count_and_detect_answers_against_the_class_asked():
    # asked for ships, the model grounds two vehicles, labels them so, and answers 2
    text = ("<think>Planning: p\nGrounding:\n1. vehicle [0,0,4,4]: a car.\n2. vehicle [8,8,12,12]: a car.\n"
            "Synthesis: 2.</think><answer>2</answer>")
    asked = Prediction(id="a", index=0, task="count", trace=text, image_size=(W, H), truth={"count": 0},
                       question="How many ships are there?")
    s = score_one(asked)
    assert s.audit.consistent is False and s.audit.off_class == 2 and s.summary()["off_class_boxes"] == 2
    # the same trace answering "how many vehicles" is consistent; the truth's class stands in for a bare question
    assert score_one(dataclasses.replace(asked, question="How many vehicles are there?")).audit.consistent
    assert score_one(dataclasses.replace(asked, question="", truth={"count": 0, "class": "vehicle"})).audit.consistent
    assert score_one(dataclasses.replace(asked, question="")).audit.consistent  # nothing says which class
    assert asked_classes("detect", "Detect all storage tanks in the image.") == ["storage tank"]
    assert asked_classes("ground", "Where is the ship?") is None


def test_load_image_reads_a_16bit_geotiff(make_geotiff):
    data = np.stack([np.full((20, 30), v, dtype="uint16") for v in (100, 2000, 4000)])
    data[:, :, 15:] += 1000
    im = load_image(make_geotiff("s16.tif", data=data))
    assert im.mode == "RGB" and im.size == (30, 20)
    assert np.asarray(im).max() > 0  # stretched to 8 bit, not black


# --------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def cli():
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("noop")(lambda: None)  # keep "eval" a sub-command, as in the real app
    return app


def test_cli_run_then_rescore_print_the_same(runner, cli, bench, tmp_path, monkeypatch):
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: ScriptedBackend(responder))
    out = tmp_path / "preds.jsonl"
    res = runner.invoke(cli, ["eval", "--data", str(bench), "--out", str(out), "--json", "--no-meteor"])
    assert res.exit_code == 0, res.output
    run_doc = json.loads(res.stdout)  # stdout holds the document only
    assert "re-score with" in res.stderr
    res = runner.invoke(cli, ["eval", "--preds", str(out), "--json", "--no-meteor"])
    assert res.exit_code == 0, res.output
    rescore_doc = json.loads(res.stdout)
    assert rescore_doc["tasks"] == run_doc["tasks"] and rescore_doc["audit"] == run_doc["audit"]
    assert run_doc["tasks"]["count"]["metrics"]["mae"] == pytest.approx(4 / 3)

    table_run = runner.invoke(cli, ["eval", "--preds", str(out), "--no-meteor"])
    assert table_run.exit_code == 0
    for needle in ("count  (n=3, unparsed 1)", "MAE", "1.3333", "Acc@0.5", "66.67%", "mAP@0.5",
                   "faithfulness audit", "CIDEr", "77.8% /9"):
        assert needle in table_run.stdout


def test_cli_eval_writes_progress_lines_into_a_log(runner, cli, bench, tmp_path, monkeypatch):
    import geocot_cli.cli._progress as prog

    monkeypatch.setattr(prog, "EVERY_S", 0.0)
    monkeypatch.setattr(prog, "MIN_GAP_S", 0.0)
    monkeypatch.setattr(geocot_cli.cli._common.state, "quiet", False)  # this app has no root --quiet
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: ScriptedBackend(responder))
    res = runner.invoke(cli, ["eval", "--data", str(bench), "--out", str(tmp_path / "p.jsonl"), "--json",
                              "--no-meteor", "--batch-size", "3"])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("eval bench.jsonl: ")]
    n = len(SCRIPT)
    assert lines[0] == f"eval bench.jsonl: 3/{n} samples ({3 / n:.0%})"  # the first batch: no rate yet
    assert lines[1].startswith(f"eval bench.jsonl: 6/{n} samples (") and "samples/s" in lines[1]
    assert lines[-1].startswith(f"eval bench.jsonl: {n}/{n} samples in ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "pass --data bench.jsonl --out preds.jsonl"),
        (["--data", "{bench}"], "pass --out preds.jsonl"),
        (["--preds", "{preds}", "--data", "{bench}"], "drop --data"),
        (["--preds", "{preds}", "--limit", "3"], "drop --limit"),
        (["--data", "{bench}", "--out", "{preds}", "--limit", "0"], "--limit 0 must be > 0"),
        (["--data", "{bench}", "--out", "{exists}"], "pass --resume"),
        (["--data", "{tmp}/nope.jsonl", "--out", "{preds}"], "not found"),
        (["--preds", "{bench}"], "not a geocot prediction"),
        (["--data", "{bench}", "--out", "{preds}", "--box-convention", "norm7"], "unknown box convention"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(runner, cli, bench, tmp_path, monkeypatch, args, needle):
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: pytest.fail("model loaded on bad input"))
    exists = tmp_path / "exists.jsonl"
    exists.write_text("{}\n")
    subs = {"{bench}": str(bench), "{preds}": str(tmp_path / "p.jsonl"), "{exists}": str(exists), "{tmp}": str(tmp_path)}
    argv = ["eval"] + [subs.get(a, a.replace("{tmp}", str(tmp_path))) for a in args]
    res = runner.invoke(cli, argv)
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1


def test_format_metric():
    assert format_metric("miou", 0.87701) == "87.70%"
    assert format_metric("cider", 1.23456) == "1.2346"


def test_public_names_exist():
    import geocot_cli.cli.eval as cli_eval
    import geocot_cli.evaluate as ev

    for module in (metrics, ev, cli_eval):
        assert module.__all__ and all(hasattr(module, name) for name in module.__all__)
