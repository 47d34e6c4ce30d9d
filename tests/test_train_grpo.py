"""Stage II (GRPO) on the tiny GLM-4.1V model: it runs, it moves the weights, it logs, it resumes exactly."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import pytest

from geocot_cli.errors import ConfigError, DataError
from geocot_cli.train.config import GRPOOptions


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def rl_data(tmp_path_factory) -> Path:
    """A few synthetic scenes and their ground truth for all six tasks (no traces: GRPO needs none)."""
    from geocot_cli.data.synth import SynthOptions, synthesize

    rep = synthesize(tmp_path_factory.mktemp("rl"), SynthOptions(n=2, size=32, seed=3))
    return rep.ground_truth


def length_reward(completions, **kw):
    """A reward every random completion differs on: its length (so advantages are never all zero)."""
    return [len(c) / 100 for c in completions]


def opts(model: Path, data: Path, out: Path, **kw) -> GRPOOptions:
    base = dict(model=str(model), data=str(data), out=str(out), cpu=True, batch_size=2, num_generations=2,
                max_new_tokens=6, learning_rate=1e-3, lr_schedule="constant", caption_meteor=False)
    return GRPOOptions(**{**base, **kw})


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_grpo_steps_move_the_weights_and_log_the_metrics(tiny_model, rl_data, tmp_path):
    from geocot_cli.train.grpo import train_grpo
    from geocot_cli.train.rewards import WeightedReward, count_reward, format_reward

    seen = []
    out = tmp_path / "run"
    result = train_grpo(
        opts(tiny_model, rl_data, out, max_steps=2, num_iterations=2, eval_fraction=0.2),
        reward_funcs=[WeightedReward("length", length_reward, 1.0), WeightedReward("count", count_reward, 1.0),
                      WeightedReward("format", format_reward, 0.5)],
        progress=lambda step, total, rec: seen.append((step, total)))
    assert result.steps == 2 and seen == [(1, 2), (2, 2)]
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in logged if not r.get("final")]
    for key in ("reward", "reward_std", "reward/length", "reward/format", "kl", "clip_fraction",
                "completion_length", "completions_per_s", "step_time", "loss", "lr", "grad_norm"):
        assert all(key in r for r in steps), key
    assert all(0 < r["completion_length"] <= 6 for r in steps)
    assert any(k.startswith("reward_task/") for k in steps[0])
    assert steps[1]["kl"] >= 0.0  # the policy has moved away from the reference after one step
    assert "eval_reward" in logged[-1] and logged[-1]["final"]
    before, after = weights(tiny_model), weights(out)
    assert max(float((after[k] - before[k]).abs().max()) for k in before) > 0
    info = json.loads((out / "geocot.json").read_text())
    assert info["training"]["stage"] == "grpo" and info["box_convention"] == "pixel"
    assert info["training"]["rewards"] == {"length": 1.0, "count": 1.0, "format": 0.5}


def test_grpo_resume_matches_an_uninterrupted_run(tiny_model, rl_data, tmp_path):
    from geocot_cli.train.grpo import train_grpo

    base = dict(max_steps=3, save_every=1, num_iterations=2, beta=0.04, seed=7)
    full = train_grpo(opts(tiny_model, rl_data, tmp_path / "full", **base), reward_funcs=[length_reward])
    ckpt = tmp_path / "full" / "checkpoints" / "checkpoint-000001"
    resumed = train_grpo(opts(tiny_model, rl_data, tmp_path / "resumed", **base, resume=str(ckpt)),
                         reward_funcs=[length_reward])
    # the same completions were sampled after the resume (random states restored) ...
    assert resumed.series("reward") == pytest.approx(full.series("reward")[1:], abs=1e-6)
    assert resumed.series("completion_length") == full.series("completion_length")[1:]
    # ... and the same updates made
    a, b = weights(tmp_path / "full"), weights(tmp_path / "resumed")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6


def test_grpo_logs_every_completion_with_its_rewards_and_advantage(tiny_model, rl_data, tmp_path, capsys):
    from geocot_cli.train.grpo import train_grpo
    from geocot_cli.train.rewards import WeightedReward, format_reward

    out = tmp_path / "run"
    funcs = [WeightedReward("length", length_reward, 1.0), WeightedReward("format", format_reward, 0.5)]
    train_grpo(opts(tiny_model, rl_data, out, max_steps=2, save_every=1, log_completions=True, seed=5),
               reward_funcs=funcs)
    rows = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1] * 4 + [2] * 4  # 2 prompts x 2 completions a step
    for r in rows:
        assert r["reward"] == pytest.approx(len(r["completion"]) / 100 + 0.5 * r["rewards"]["format"], abs=1e-6)
        assert r["task"] in {"vqa", "caption", "classify", "ground", "count", "detect"} and r["question"]
        assert Path(r["image"]).is_file()
    for step in (1, 2):
        for prompt in (0, 1):
            group = [r for r in rows if r["step"] == step and r["prompt"] == prompt]
            assert len({r["image"] for r in group}) == 1
            # advantages are the group's rewards, centred and scaled
            a, b = group
            if a["reward"] != b["reward"]:
                assert a["advantage"] == pytest.approx(-b["advantage"], abs=1e-5) and a["advantage"] != 0
                assert (a["advantage"] > 0) == (a["reward"] > b["reward"])
    assert all(r["truth"] for r in rows if r["task"] != "caption")  # what each was scored against
    # train/rollouts.py reads it back: every prompt and completion of the run, by task
    rollouts = runpy.run_path(str(Path(__file__).parents[1] / "train" / "rollouts.py"))
    rollouts["main"]([str(out / "completions.jsonl")])
    lines = capsys.readouterr().out.splitlines()
    found = [re.match(r"(\w+): (\d+) prompts, (\d+) completions", line) for line in lines]
    tasks = {m[1]: (int(m[2]), int(m[3])) for m in found if m}
    assert sum(p for p, _ in tasks.values()) == 4 and sum(c for _, c in tasks.values()) == 8
    assert set(tasks) == {r["task"] for r in rows}
    # a resumed run keeps the rows up to its checkpoint and writes the rest again
    train_grpo(opts(tiny_model, rl_data, out, max_steps=2, save_every=1, log_completions=True, seed=5,
                    resume=str(out / "checkpoints" / "checkpoint-000001")), reward_funcs=funcs)
    again = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert again == rows
    # without the flag, a fresh run over the same folder leaves no stale completions behind
    train_grpo(opts(tiny_model, rl_data, out, max_steps=1, overwrite=True), reward_funcs=funcs)
    assert not (out / "completions.jsonl").exists()


def test_grpo_default_rewards_on_every_task(tiny_model, rl_data, tmp_path):
    from geocot_cli.train.grpo import train_grpo

    result = train_grpo(opts(tiny_model, rl_data, tmp_path / "run", max_steps=1, batch_size=6, beta=0.0))
    rec = result.history[0]
    names = {k.split("/", 1)[1] for k in rec if k.startswith("reward/")}
    # the six task rewards score only their own task; format and faithfulness score all
    assert {"format"} <= names and names <= {"vqa", "classify", "ground", "count", "detect", "caption", "format",
                                             "faithfulness"}
    assert rec["kl"] == 0.0  # beta = 0: no reference model, no KL


def test_grpo_checks_the_data_first(tiny_model, tmp_path, monkeypatch):
    import geocot_cli.train.grpo as grpo

    monkeypatch.setattr(grpo, "load_model", lambda *a, **k: pytest.fail("model loaded before the data was checked"))
    bad = tmp_path / "rl.jsonl"
    bad.write_text('{"image": "nowhere.png", "task": "count", "count": 1}\n')
    with pytest.raises(DataError, match=r"rl.jsonl:1 \(nowhere.png/count\): image .* not found"):
        grpo.train_grpo(opts(tiny_model, bad, tmp_path / "run", max_steps=1))


@pytest.mark.parametrize("kind, stage, message", [
    ("FSDP", "grpo", "cannot do so under FSDP; launch with train/accelerate/ddp.yaml"),
    ("DEEPSPEED", "sft", "cannot run under DeepSpeed; launch with train/accelerate/fsdp.yaml"),
])
def test_unsupported_launchers_are_refused_with_the_fix(monkeypatch, kind, stage, message):
    import accelerate
    from accelerate.utils import DistributedType

    from geocot_cli.train.config import SFTOptions
    from geocot_cli.train.engine import make_accelerator

    class FakeAccelerator:
        def __init__(self, **kw):
            self.distributed_type = getattr(DistributedType, kind)

    monkeypatch.setattr(accelerate, "Accelerator", FakeAccelerator)
    cls = GRPOOptions if stage == "grpo" else SFTOptions
    with pytest.raises(ConfigError, match=message):
        make_accelerator(cls(model="m", data="d", out="o", cpu=True))


@pytest.mark.parametrize("content", [None, '{"step": 1}\n', "not json\n"])
def test_rollouts_script_refuses_bad_input_in_one_line(tmp_path, capsys, content):
    path = tmp_path / "completions.jsonl"
    if content is not None:
        path.write_text(content)
    rollouts = runpy.run_path(str(Path(__file__).parents[1] / "train" / "rollouts.py"))
    with pytest.raises(SystemExit) as exit_info:
        rollouts["main"]([str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert ("not found" if content is None else "line 1 is not a completions.jsonl row") in err
