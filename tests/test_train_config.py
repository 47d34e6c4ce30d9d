"""Training options, recipes and the `geocot train` command line (no model is loaded here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from geocot_cli.errors import ConfigError
from geocot_cli.train.config import (
    GRPOOptions, SFTOptions, field_help, load_options, options_from_mapping, read_recipe, recipe_yaml,
)

RECIPES = Path(__file__).resolve().parents[1] / "train"
REQUIRED = {"model": "m", "data": "d.jsonl", "out": "o"}


@pytest.mark.parametrize("cls, changes, message", [
    (SFTOptions, {"learning_rate": 0.0}, "learning_rate (0.0) must be > 0; try --learning-rate"),
    (SFTOptions, {"batch_size": 0}, "batch_size (0) must be a whole number >= 1"),
    (SFTOptions, {"lr_schedule": "step"}, "lr_schedule 'step' is unknown; use constant, linear or cosine"),
    (SFTOptions, {"mixed_precision": "fp8"}, "mixed_precision 'fp8' is unknown"),
    (SFTOptions, {"eval_fraction": 1.0}, "eval_fraction (1.0) must be between 0 and 1"),
    (SFTOptions, {"eval_data": "v.jsonl", "eval_fraction": 0.1}, "either --eval-data or --eval-fraction"),
    (SFTOptions, {"box_convention": "pixels"}, "unknown box convention 'pixels'"),
    (SFTOptions, {"model": ""}, "model is required: pass --model"),
    (GRPOOptions, {"num_generations": 1}, "num_generations (1) must be >= 2"),
    (GRPOOptions, {"beta": -0.1}, "beta (-0.1) must be >= 0"),
    (GRPOOptions, {"epsilon": 1.5}, "epsilon (1.5) must be in (0, 1)"),
    (GRPOOptions, {"loss_type": "dapo"}, "loss_type 'dapo' is unknown"),
    (GRPOOptions, {"faithfulness_evidence": "recall"}, "faithfulness_evidence 'recall' is unknown; use precision or f1"),
    (GRPOOptions, {"caption_mix": (1.0, 0.0)}, "caption_mix (1.0, 0.0) must be four weights"),
    (GRPOOptions, {"count_weight": -1.0}, "count_weight (-1.0) must be >= 0"),
])
def test_options_reject_bad_values_naming_the_fix(cls, changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls(**{**REQUIRED, **changes})


def test_options_are_frozen_and_beta_zero_is_allowed():
    o = GRPOOptions(**REQUIRED, beta=0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.beta = 0.1  # type: ignore[misc]
    assert o.beta == 0.0 and o.clip_high == 0.2


def test_every_option_has_help_text():
    for cls in (SFTOptions, GRPOOptions):
        missing = [name for name, (_, text, _) in field_help(cls).items() if not text]
        assert missing == []


def test_recipe_sections_flags_and_unknown_keys(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: base\nout: runs/x\nlearning_rate: 1.0e-4\nsft:\n  data: sft.jsonl\n  grad_accum: 4\n"
                      "grpo:\n  data: rl.jsonl\n  beta: 0.0\n  model: runs/sft\n")
    sft = load_options(SFTOptions, recipe, {"learning_rate": 2e-4, "epochs": None})
    assert (sft.model, sft.data, sft.grad_accum, sft.learning_rate, sft.epochs) == ("base", "sft.jsonl", 4, 2e-4, 1)
    grpo = load_options(GRPOOptions, recipe)
    assert (grpo.model, grpo.data, grpo.beta, grpo.learning_rate) == ("runs/sft", "rl.jsonl", 0.0, 1e-4)
    recipe.write_text("model: base\ndata: d\nout: o\nlearnig_rate: 1\n")
    with pytest.raises(ConfigError, match="unknown sft option 'learnig_rate'; did you mean 'learning_rate'"):
        load_options(SFTOptions, recipe)
    recipe.write_text("model: base\ndata: d\nout: o\nbatch_size: two\n")
    with pytest.raises(ConfigError, match="batch_size must be a whole number, got 'two'"):
        load_options(SFTOptions, recipe)
    recipe.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_options(SFTOptions, recipe)


@pytest.mark.parametrize("cls", [SFTOptions, GRPOOptions])
def test_recipe_yaml_round_trips(tmp_path, cls):
    o = cls(**REQUIRED, learning_rate=3e-4, eval_fraction=0.1, save_total_limit=2)
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe_yaml(o))
    assert load_options(cls, path) == o


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
@pytest.mark.parametrize("stage, cls", [("sft", SFTOptions), ("grpo", GRPOOptions)])
def test_bundled_recipes_name_valid_options(recipe, stage, cls):
    values = read_recipe(RECIPES / recipe, stage)
    o = options_from_mapping(cls, {**REQUIRED, **values})
    assert o.model and o.data and o.out


def test_bundled_launch_configs_are_accelerate_configs():
    import yaml

    kinds = {}
    for path in (RECIPES / "accelerate").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        kinds[path.stem] = doc["distributed_type"]
        assert doc["num_processes"] >= 1
    assert kinds == {"single_gpu": "NO", "ddp": "MULTI_GPU", "fsdp": "FSDP"}


def test_cli_flags_override_the_recipe_and_print_config(runner, tmp_path):
    from geocot_cli.cli.train import app

    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: base\ndata: d.jsonl\nout: o\nbeta: 0.02\nnum_generations: 4\n")
    res = runner.invoke(app, ["grpo", "--config", str(recipe), "--beta", "0", "--caption-mix", "1,0,0,0",
                              "--no-scale-rewards", "--print-config"])
    assert res.exit_code == 0, res.output
    import yaml

    doc = yaml.safe_load(res.stdout)
    assert doc["beta"] == 0.0 and doc["num_generations"] == 4 and doc["caption_mix"] == [1.0, 0.0, 0.0, 0.0]
    assert doc["scale_rewards"] is False and doc["model"] == "base"


def test_cli_reports_a_bad_option_value_on_one_line(runner):
    from geocot_cli.cli.train import app

    res = runner.invoke(app, ["sft", "--model", "m", "--data", "d", "--out", "o", "--lr-schedule", "exp"])
    assert res.exit_code == 2
    assert "lr_schedule 'exp' is unknown" in res.stderr


def test_cli_help_lists_every_option(runner):
    from geocot_cli.cli.train import app

    for stage, cls in (("sft", SFTOptions), ("grpo", GRPOOptions)):
        res = runner.invoke(app, [stage, "--help"], env={"COLUMNS": "250"})
        assert res.exit_code == 0
        for name in field_help(cls):
            assert "--" + name.replace("_", "-") in res.stdout, name
