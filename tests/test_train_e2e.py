"""The whole recipe through the command line: data synth -> backfill -> train sft -> train grpo -> ask / eval."""

from __future__ import annotations

import json

import pytest


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_synth_backfill_sft_grpo_ask_eval(tiny_model, tmp_path, runner):
    from geocot_cli.cli.app import app as main_app
    from geocot_cli.cli.data import app as data_app
    from geocot_cli.cli.train import app as train_app

    data = tmp_path / "data"
    res = runner.invoke(data_app, ["synth", str(data), "--n", "2", "--size", "32", "--seed", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(data_app, ["backfill", "--format", "geocot", "--labels", str(data / "ground_truth.jsonl"),
                                   "--out", str(data / "sft.jsonl"), "--target-model", str(tiny_model)])
    assert res.exit_code == 0, res.output

    sft = tmp_path / "sft"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"cpu: true\nlr_schedule: constant\nwarmup_ratio: 0.0\n"
        f"sft:\n  model: {tiny_model}\n  data: {data / 'sft.jsonl'}\n  out: {sft}\n  max_steps: 2\n"
        f"  batch_size: 2\n  learning_rate: 1.0e-3\n"
        f"grpo:\n  model: {sft}\n  data: {data / 'sft.rl.jsonl'}\n  max_steps: 1\n  batch_size: 2\n"
        f"  num_generations: 2\n  max_new_tokens: 8\n  learning_rate: 1.0e-4\n  caption_meteor: false\n")
    res = runner.invoke(train_app, ["sft", "--config", str(recipe), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["steps"] == 2 and summary["out"] == str(sft) and summary["last"]["loss"] > 0
    assert "model saved to" in res.stderr

    grpo = tmp_path / "grpo"
    res = runner.invoke(train_app, ["grpo", "--config", str(recipe), "--out", str(grpo), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["steps"] == 1 and "reward" in summary["last"] and "kl" in summary["last"]
    # the run is reproducible from its own recipe
    assert "num_generations: 2" in (grpo / "recipe.yaml").read_text()

    scene = sorted(data.glob("scene_*.tif"))[0]
    res = runner.invoke(main_app, ["ask", str(scene), "how many ships are there?", "--model", str(grpo),
                                   "--tile", "32", "--overlap", "0", "--max-new-tokens", "12", "--device", "cpu",
                                   "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["task"] == "count" and doc["tiles_processed"] >= 1
    assert all(t["trace"] is not None for t in doc["tiles"] if not t["skipped"])  # the trained model answered

    preds = tmp_path / "preds.jsonl"
    res = runner.invoke(main_app, ["eval", "--model", str(grpo), "--data", str(data / "sft.rl.jsonl"), "--out",
                                   str(preds), "--limit", "2", "--max-new-tokens", "8", "--no-meteor", "--device",
                                   "cpu", "--json"])
    assert res.exit_code == 0, res.output
    assert len(preds.read_text().splitlines()) == 2


def test_demo_model_script_resumes_a_stopped_stage_from_its_newest_checkpoint(tmp_path):
    """`make demo-model` reruns a stage cut in the middle with --resume latest, and a fresh one with --overwrite."""
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "train" / "demo-model.sh"
    helper = "\n".join(_function(script.read_text(), "again"))
    stage = tmp_path / "sft-one-1"

    def again() -> str:
        return subprocess.run(["bash", "-c", helper + '\nagain "$1"', "again", str(stage)],
                              capture_output=True, text=True, check=True).stdout.strip()

    assert again() == "--overwrite"                      # never started
    (stage / "checkpoints").mkdir(parents=True)
    assert again() == "--overwrite"                      # started, no checkpoint yet
    (stage / "checkpoints" / "checkpoint-000500").mkdir()
    assert again() == "--resume latest"


def _function(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}() {{"))
    end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    return lines[start:end + 1]
