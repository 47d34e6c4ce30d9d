"""``geocot data synth|split|backfill`` through the Typer app: exit codes, files, one-line errors."""

from __future__ import annotations

import json

import pytest

from geocot_cli.cli.data import app
from geocot_cli.data.schema import load_samples
from geocot_cli.trace import parse_trace


def test_synth_then_backfill_then_split(tmp_path, runner):
    out = tmp_path / "synth"
    r = runner.invoke(app, ["synth", str(out), "--n", "8", "--seed", "2", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["scenes"] == 8 and doc["samples"] == len(load_samples(out / "ground_truth.jsonl"))
    assert len(list(out.glob("scene_*.tif"))) == 8

    sft = tmp_path / "sft.jsonl"
    r = runner.invoke(app, ["backfill", "--format", "geocot", "--labels", str(out / "ground_truth.jsonl"),
                            "--out", str(sft), "--box-convention", "norm1000", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["sft"] == doc["samples"] and rep["box_convention"] == "norm1000"
    assert (tmp_path / "sft.nocot.jsonl").is_file() and (tmp_path / "sft.rl.jsonl").is_file()
    s = next(x for x in load_samples(sft) if x.task == "count")
    assert parse_trace(s.trace, "norm1000", s.image_size).format_ok

    r = runner.invoke(app, ["split", str(tmp_path / "patches"), "--format", "geocot", "--labels",
                            str(out / "ground_truth.jsonl"), "--tile", "64", "--overlap", "16"])
    assert r.exit_code == 0, r.output
    assert "8 images -> 72 patches" in r.stderr
    assert (tmp_path / "patches" / "samples.jsonl").is_file()


def test_backfill_real_dota_with_max_objects(tmp_path, runner, real_data):
    r = runner.invoke(app, ["backfill", "--format", "dota", "--labels", str(real_data / "dota" / "labelTxt"),
                            "--out", str(tmp_path / "d.jsonl"), "--max-objects", "100"])
    assert r.exit_code == 0, r.output
    assert "3 dropped by --max-objects" in r.stderr
    assert len(load_samples(tmp_path / "d.jsonl")) == 11


def test_bad_input_is_one_line_and_exit_2(tmp_path, runner):
    bad = tmp_path / "labelTxt"
    bad.mkdir()
    (tmp_path / "images").mkdir()
    (bad / "P1.txt").write_text("gsd:0.3\n1 2 3 4 5 6 7 8 ship 0\n1 2 3 four 5 6 7 8 ship 0\n")
    r = runner.invoke(app, ["backfill", "--format", "dota", "--labels", str(bad), "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2
    assert "P1.txt:3: corner coordinates must be numbers" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
    r = runner.invoke(app, ["backfill", "--format", "yolo", "--labels", str(bad), "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "unknown dataset format 'yolo'" in r.stderr
    r = runner.invoke(app, ["backfill", "--labels", str(bad), "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "needs --format and --labels" in r.stderr
    r = runner.invoke(app, ["synth", str(tmp_path / "s"), "--n", "0"])
    assert r.exit_code == 2 and "n (0) must be at least 1" in r.stderr
    r = runner.invoke(app, ["split", str(tmp_path / "p")])
    assert r.exit_code == 2 and "nothing to split" in r.stderr


@pytest.mark.slow
def test_writer_model_through_the_cli(tmp_path, runner):
    """A real (tiny, random) model as --writer-model: its traces cannot verify, so all are rejected and counted."""
    from geocot_cli.models.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "glm4v")
    runner.invoke(app, ["synth", str(tmp_path / "s"), "--n", "1"])
    r = runner.invoke(app, ["backfill", "--format", "geocot", "--labels", str(tmp_path / "s" / "ground_truth.jsonl"),
                            "--out", str(tmp_path / "sft.jsonl"), "--writer-model", str(model), "--tasks", "count,vqa",
                            "--writer-max-new-tokens", "16", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["writer"].startswith("hf:") and doc["rejected"] == 2 and doc["sft"] == 0 and doc["rl"] == 2
    r = runner.invoke(app, ["backfill", "--format", "geocot", "--labels", str(tmp_path / "s" / "ground_truth.jsonl"),
                            "--out", str(tmp_path / "fb.jsonl"), "--writer-model", str(model), "--tasks", "count",
                            "--writer-max-new-tokens", "16", "--fallback-template", "--json"])
    assert json.loads(r.stdout)["sft"] == 1
