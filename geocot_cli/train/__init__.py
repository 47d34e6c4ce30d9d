"""Alignment: the paper's two-stage recipe, SFT on Geo-CoT traces then GRPO with task rewards.

- :func:`train_sft` (:mod:`.sft`): next-token loss on the assistant turn only;
- :func:`train_grpo` (:mod:`.grpo`): an explicit GRPO loop, readable in one module;
- :mod:`.rewards`: one plain function per task, ``(completions, **ground_truth) -> list[float]``;
- :func:`group_advantages` (:mod:`.advantages`) and :func:`grpo_loss` (:mod:`.losses`): the maths;
- :class:`SFTOptions` / :class:`GRPOOptions` (:mod:`.config`): every option, same names as the CLI
  flags and recipe keys.

Importing this package imports no torch: the training functions import it when called.

>>> from geocot_cli.train import SFTOptions
>>> SFTOptions(model="m", data="d.jsonl", out="run").grad_accum
1
"""

from __future__ import annotations

from typing import Any

from .advantages import group_advantages
from .config import GRPOOptions, SFTOptions, TrainOptions, load_options, recipe_yaml
from .losses import grpo_loss, k3_kl

#: names imported on first use, so ``import geocot_cli.train`` (and ``geocot --help``) stays light
_LAZY = {
    "train_sft": "sft", "train_grpo": "grpo", "TrainResult": "engine",
    "CaptionReward": "rewards", "WeightedReward": "rewards", "caption_reward": "rewards",
    "classify_reward": "rewards", "count_reward": "rewards", "default_rewards": "rewards",
    "detect_reward": "rewards", "faithfulness_reward": "rewards", "format_reward": "rewards",
    "ground_reward": "rewards", "vqa_reward": "rewards",
}

__all__ = [
    "CaptionReward",
    "GRPOOptions",
    "SFTOptions",
    "TrainOptions",
    "TrainResult",
    "WeightedReward",
    "caption_reward",
    "classify_reward",
    "count_reward",
    "default_rewards",
    "detect_reward",
    "faithfulness_reward",
    "format_reward",
    "ground_reward",
    "group_advantages",
    "grpo_loss",
    "k3_kl",
    "load_options",
    "recipe_yaml",
    "train_grpo",
    "train_sft",
    "vqa_reward",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
