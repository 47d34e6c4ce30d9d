"""Training options: one frozen dataclass per trainer, the same names as CLI flags and recipe keys.

``learning_rate`` is ``--learning-rate`` on the command line, ``learning_rate:`` in a recipe YAML and
``SFTOptions(learning_rate=...)`` in Python. Every field carries its help text (``field.metadata``),
from which the CLI builds its flags, so the three can never drift apart. Options are checked once,
when built; a bad value raises :class:`~geocot_cli.errors.ConfigError` naming the fix.

A recipe (``--config recipe.yaml``) names options as flat keys; a file may also hold ``sft:`` and
``grpo:`` sections, whose keys override the flat ones for that stage. Flags given on the command
line override the recipe. Every run writes its resolved options to ``<out>/recipe.yaml``, so the
run can be repeated from that one file.

>>> o = SFTOptions(model="tiny", data="sft.jsonl", out="run", learning_rate=1e-4)
>>> o.learning_rate, o.batch_size, o.lr_schedule
(0.0001, 1, 'cosine')
>>> SFTOptions(model="tiny", data="sft.jsonl", out="run", lr_schedule="exp")
Traceback (most recent call last):
...
geocot_cli.errors.ConfigError: lr_schedule 'exp' is unknown; use constant, linear or cosine (--lr-schedule cosine)
>>> options_from_mapping(GRPOOptions, {"model": "m", "data": "d", "out": "o", "beta": 0, "caption_mix": [1, 0, 0, 0]}).caption_mix
(1.0, 0.0, 0.0, 0.0)
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..boxes import check_convention
from ..errors import ConfigError

__all__ = [
    "GRPOOptions",
    "SFTOptions",
    "TrainOptions",
    "field_help",
    "load_options",
    "options_from_mapping",
    "options_to_dict",
    "read_recipe",
    "recipe_yaml",
]

O = TypeVar("O", bound="TrainOptions")

LR_SCHEDULES = ("constant", "linear", "cosine")
MIXED_PRECISION = ("no", "fp16", "bf16")
DTYPES = ("auto", "float32", "bfloat16", "float16")
LOSS_TYPES = ("grpo", "token")
#: What part (b) of the GRPO faithfulness reward pays for: ``precision`` (the share of cited boxes that
#: are real) or ``f1`` (that, and the share of real objects cited; citing fewer boxes no longer pays).
FAITHFULNESS_EVIDENCE = ("precision", "f1")


def _opt(default: Any, help: str, panel: str = "Training") -> Any:
    """A dataclass field with its CLI help text and help panel."""
    return field(default=default, metadata={"help": help, "panel": panel})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class TrainOptions:
    """What SFT and GRPO share: model, data, output, optimiser, precision, LoRA, checkpoints."""

    # -- data and model
    model: str = _opt("", "Model to train: a folder written by save_pretrained or a hub id.", "Data and model")
    data: str = _opt("", "Training samples (JSONL, the geocot sample schema).", "Data and model")
    out: str = _opt("", "Output folder: the final model, log.jsonl, recipe.yaml, checkpoints/.", "Data and model")
    eval_data: str | None = _opt(None, "Held-out samples (JSONL) evaluated every --eval-every steps.", "Data and model")
    eval_fraction: float = _opt(
        0.0, "Hold out this fraction of --data for evaluation (when no --eval-data).", "Data and model")
    box_convention: str | None = _opt(
        None, "How the model writes boxes: pixel, norm1000, norm100, norm1 (default: from the model folder).",
        "Data and model")
    trust_remote_code: bool = _opt(False, "Allow the model folder's own Python code to run.", "Data and model")
    # -- schedule
    epochs: int = _opt(1, "Passes over the training data (ignored when --max-steps is given).")
    max_steps: int | None = _opt(None, "Stop after this many optimiser steps (overrides --epochs).")
    batch_size: int = _opt(1, "Samples per device per micro-batch.")
    learning_rate: float = _opt(1e-5, "Peak learning rate (AdamW).")
    lr_schedule: str = _opt("cosine", "Learning-rate schedule after warm-up: constant, linear or cosine.")
    warmup_ratio: float = _opt(0.03, "Fraction of the steps spent warming the learning rate up from 0.")
    weight_decay: float = _opt(0.0, "AdamW weight decay.")
    max_grad_norm: float = _opt(1.0, "Clip the gradient norm to this value (0: no clipping).")
    seed: int = _opt(0, "Random seed: data order, sampling, LoRA init.")
    # -- hardware
    mixed_precision: str = _opt("no", "Mixed precision: no, fp16 or bf16 (accelerate autocast).", "Hardware")
    dtype: str = _opt(
        "float32", "Dtype the weights are loaded in: float32 (master weights for mixed precision), "
        "bfloat16 (half the memory), float16 or auto.", "Hardware")
    gradient_checkpointing: bool = _opt(False, "Recompute activations in the backward pass (less memory).", "Hardware")
    cpu: bool = _opt(False, "Train on the CPU even when a GPU is present.", "Hardware")
    num_workers: int = _opt(0, "DataLoader worker processes that load and encode images.", "Hardware")
    # -- model parts
    freeze_vision: bool = _opt(False, "Train the language model only; keep the vision tower frozen.", "LoRA")
    lora: bool = _opt(False, "Train LoRA adapters (peft) instead of all weights.", "LoRA")
    lora_r: int = _opt(16, "LoRA rank.", "LoRA")
    lora_alpha: int = _opt(32, "LoRA alpha (scale = alpha / r).", "LoRA")
    lora_dropout: float = _opt(0.05, "LoRA dropout.", "LoRA")
    lora_targets: str = _opt(
        "q_proj,k_proj,v_proj,o_proj,gate_up_proj,down_proj",
        "Comma-separated module names that get adapters (the language model's linear layers).", "LoRA")
    # -- checkpoints and logs
    save_every: int = _opt(0, "Save a resumable checkpoint every N optimiser steps (0: none).", "Checkpoints and logs")
    save_total_limit: int | None = _opt(None, "Keep only the newest N checkpoints.", "Checkpoints and logs")
    eval_every: int = _opt(0, "Evaluate on the held-out split every N steps (0: only at the end).", "Checkpoints and logs")
    log_every: int = _opt(1, "Write a line to log.jsonl every N steps.", "Checkpoints and logs")
    resume: str | None = _opt(
        None, "Continue a run exactly: a checkpoint folder, or 'latest' (newest in --out/checkpoints).",
        "Checkpoints and logs")
    overwrite: bool = _opt(False, "Write into a non-empty --out (its old checkpoints and log are removed).",
                           "Checkpoints and logs")

    #: options that may differ between a checkpoint's run and the run that resumes it (paths may move;
    #: a longer run rebuilds its learning-rate schedule for the new length, so only a run of the same
    #: length continues *exactly*)
    RESUMABLE_CHANGES: typing.ClassVar[frozenset[str]] = frozenset({
        "out", "resume", "overwrite", "save_every", "save_total_limit", "eval_every", "log_every", "num_workers",
        "data", "eval_data", "model", "ref_model", "trust_remote_code", "max_steps", "epochs",
    })

    def __post_init__(self) -> None:
        for name, hint in (("model", "--model DIR"), ("data", "--data sft.jsonl"), ("out", "--out runs/sft")):
            if not str(getattr(self, name) or "").strip():
                raise ConfigError(f"{name} is required: pass {hint} or set {name}: in the recipe")
        _positive(self, "epochs", "batch_size")
        _at_least(self, 0, "save_every", "eval_every", "num_workers", "seed")
        _positive(self, "log_every", "lora_r", "lora_alpha")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps ({self.max_steps}) must be >= 1; leave it out to train for --epochs")
        if self.save_total_limit is not None and self.save_total_limit < 1:
            raise ConfigError(f"save_total_limit ({self.save_total_limit}) must be >= 1; leave it out to keep all")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate ({self.learning_rate}) must be > 0; try --learning-rate 1e-5")
        _choice(self, "lr_schedule", LR_SCHEDULES)
        _choice(self, "mixed_precision", MIXED_PRECISION)
        _choice(self, "dtype", DTYPES)
        _fraction(self, "warmup_ratio", "eval_fraction", "lora_dropout", upper_open=("eval_fraction", "lora_dropout"))
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay ({self.weight_decay}) must be >= 0; try --weight-decay 0")
        if self.max_grad_norm < 0:
            raise ConfigError(f"max_grad_norm ({self.max_grad_norm}) must be >= 0 (0: no clipping)")
        if self.box_convention is not None:
            check_convention(self.box_convention)
        if self.eval_data and self.eval_fraction:
            raise ConfigError("give either --eval-data or --eval-fraction, not both")
        if self.lora and not [t for t in self.lora_targets.split(",") if t.strip()]:
            raise ConfigError("lora_targets is empty; name the modules that get adapters, e.g. q_proj,v_proj")
        if self.dtype == "float16" and self.mixed_precision == "no":
            raise ConfigError("training float16 weights without a loss scaler diverges; use --dtype float32 "
                              "--mixed-precision fp16, or --dtype bfloat16")

    @property
    def stage(self) -> str:
        """``"sft"`` or ``"grpo"``."""
        return "train"

    def replace(self: O, **changes: Any) -> O:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class SFTOptions(TrainOptions):
    """Stage I: supervised fine-tuning on Geo-CoT traces (next-token loss on the assistant turn only)."""

    grad_accum: int = _opt(1, "Micro-batches per optimiser step (effective batch = batch_size x grad_accum x GPUs).")
    max_length: int | None = _opt(
        None, "Most tokens per sample (prompt + image + trace); longer traces are cut at the end and counted.")
    box_loss_weight: float = _opt(
        1.0, "Weight in the loss of the box tokens (each 4-number box list in the trace and answer) against 1 "
        "for the other answer tokens; above 1, a long Geo-CoT trace teaches localisation faster (1: plain cross-entropy).")

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "grad_accum")
        if isinstance(self.box_loss_weight, bool) or not 0 < self.box_loss_weight < float("inf"):
            raise ConfigError(f"box_loss_weight ({self.box_loss_weight}) must be a number > 0; "
                              "try --box-loss-weight 1 (plain cross-entropy)")
        if self.max_length is not None and self.max_length < 8:
            raise ConfigError(f"max_length ({self.max_length}) is too small; leave it out, or try --max-length 4096")

    @property
    def stage(self) -> str:
        return "sft"


@dataclass(frozen=True)
class GRPOOptions(TrainOptions):
    """Stage II: Group Relative Policy Optimization with the paper's task rewards."""

    batch_size: int = _opt(2, "Prompts per device per step (each gets --num-generations completions).")
    learning_rate: float = _opt(1e-6, "Peak learning rate (AdamW).")
    warmup_ratio: float = _opt(0.0, "Fraction of the updates spent warming the learning rate up from 0.")
    # -- sampling
    num_generations: int = _opt(8, "k: completions sampled per prompt (the group).", "GRPO")
    max_new_tokens: int = _opt(512, "Most tokens per completion.", "GRPO")
    temperature: float = _opt(1.0, "Sampling temperature (the log-probabilities use the same).", "GRPO")
    top_p: float = _opt(1.0, "Nucleus sampling threshold.", "GRPO")
    top_k: int = _opt(0, "Sample among the k most likely tokens (0: no limit).", "GRPO")
    # -- objective
    num_iterations: int = _opt(1, "PPO inner updates on each batch of completions (mu).", "GRPO")
    epsilon: float = _opt(0.2, "Clip range of the probability ratio: [1 - epsilon, 1 + epsilon_high].", "GRPO")
    epsilon_high: float | None = _opt(None, "Upper clip range (default: epsilon).", "GRPO")
    beta: float = _opt(
        0.04, "Weight of the KL penalty to the frozen reference model (k3 estimator). 0 turns it off and "
        "saves the reference model's memory, but the paper reports the format then collapses into repetition.",
        "GRPO")
    scale_rewards: bool = _opt(True, "Divide advantages by the group's reward std: (R - mean) / (std + eps).", "GRPO")
    loss_type: str = _opt(
        "grpo", "grpo: mean over each completion's tokens, then over completions; token: mean over all tokens.",
        "GRPO")
    ref_model: str | None = _opt(None, "Reference model for the KL term (default: --model, the SFT model).", "GRPO")
    log_completions: bool = _opt(
        False, "Write every sampled completion, its rewards and its advantage to <out>/completions.jsonl "
        "(one line each, with the step, the image and the question), to see what GRPO rewards.", "GRPO")
    mini_batch_size: int | None = _opt(
        None, "Completions per forward/backward pass in an update (default: all of a step's; lower to save memory).",
        "GRPO")
    # -- rewards
    vqa_weight: float = _opt(1.0, "Weight of the VQA reward (1.0 exact / 0.6 partial / 0.0).", "Rewards")
    classify_weight: float = _opt(1.0, "Weight of the classification reward (1.0 / 0.6 / 0.0).", "Rewards")
    ground_weight: float = _opt(1.0, "Weight of the grounding reward (IoU with the target box).", "Rewards")
    count_weight: float = _opt(1.0, "Weight of the counting reward 1 - a|n - gt| / max(n, gt).", "Rewards")
    detect_weight: float = _opt(1.0, "Weight of the detection reward (mAP@0.5 minus a redundancy penalty).", "Rewards")
    caption_weight: float = _opt(1.0, "Weight of the captioning reward (BLEU-4/METEOR/ROUGE-L/CIDEr mix).", "Rewards")
    format_weight: float = _opt(0.25, "Weight of the format reward (think/answer tags, three sections).", "Rewards")
    faithfulness_weight: float = _opt(
        0.25, "Weight of the faithfulness reward (answer agrees with the grounded boxes; cited boxes are real).",
        "Rewards")
    faithfulness_evidence: str = _opt(
        "precision", "What the faithfulness reward pays for in cited boxes: precision (the share that are real) "
        "or f1 (precision and recall; citing fewer boxes no longer pays).", "Rewards")
    count_alpha: float = _opt(1.0, "a in the counting reward 1 - a|n - gt| / max(n, gt) (clipped at 0).", "Rewards")
    detect_redundancy_penalty: float = _opt(
        0.5, "Detection reward = mAP@0.5 - p x (unmatched boxes / predicted boxes); p is this value.", "Rewards")
    caption_mix: tuple[float, float, float, float] = _opt(
        (0.25, 0.25, 0.25, 0.25), "Caption reward weights of BLEU-4, METEOR, ROUGE-L, CIDEr/10.", "Rewards")
    caption_meteor: bool = _opt(True, "Use METEOR in the caption reward (needs Java; off: faster).", "Rewards")

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "max_new_tokens", "num_iterations")
        if self.num_generations < 2:
            raise ConfigError(
                f"num_generations ({self.num_generations}) must be >= 2: advantages compare completions of one "
                "prompt; try --num-generations 8")
        if not self.temperature > 0:
            raise ConfigError(f"temperature ({self.temperature}) must be > 0; try --temperature 1.0")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p ({self.top_p}) must be in (0, 1]; try --top-p 1.0")
        _at_least(self, 0, "top_k")
        if not 0 < self.epsilon < 1:
            raise ConfigError(f"epsilon ({self.epsilon}) must be in (0, 1); try --epsilon 0.2")
        if self.epsilon_high is not None and not self.epsilon_high > 0:
            raise ConfigError(f"epsilon_high ({self.epsilon_high}) must be > 0; try --epsilon-high 0.28")
        if self.beta < 0:
            raise ConfigError(f"beta ({self.beta}) must be >= 0; try --beta 0.04")
        _choice(self, "loss_type", LOSS_TYPES)
        _choice(self, "faithfulness_evidence", FAITHFULNESS_EVIDENCE)
        if self.mini_batch_size is not None and self.mini_batch_size < 1:
            raise ConfigError(f"mini_batch_size ({self.mini_batch_size}) must be >= 1")
        for name in ("vqa_weight", "classify_weight", "ground_weight", "count_weight", "detect_weight",
                     "caption_weight", "format_weight", "faithfulness_weight", "count_alpha",
                     "detect_redundancy_penalty"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} ({getattr(self, name)}) must be >= 0; 0 turns it off")
        mix = tuple(float(v) for v in self.caption_mix)
        if len(mix) != 4 or any(v < 0 for v in mix) or not sum(mix) > 0:
            raise ConfigError(
                f"caption_mix {self.caption_mix!r} must be four weights >= 0 (BLEU-4, METEOR, ROUGE-L, CIDEr) "
                "with a positive sum, e.g. --caption-mix 0.25,0.25,0.25,0.25")
        object.__setattr__(self, "caption_mix", mix)

    @property
    def stage(self) -> str:
        return "grpo"

    @property
    def clip_high(self) -> float:
        """The upper clip range (``epsilon_high``, else ``epsilon``)."""
        return self.epsilon if self.epsilon_high is None else self.epsilon_high


# --------------------------------------------------------------------------------------- checks
def _positive(o: Any, *names: str) -> None:
    for n in names:
        v = getattr(o, n)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{n} ({v!r}) must be a whole number >= 1; try {_flag(n)} 1")


def _at_least(o: Any, low: int, *names: str) -> None:
    for n in names:
        v = getattr(o, n)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ConfigError(f"{n} ({v!r}) must be a whole number >= {low}")


def _choice(o: Any, name: str, choices: tuple[str, ...]) -> None:
    v = getattr(o, name)
    if v not in choices:
        allowed = ", ".join(choices[:-1]) + " or " + choices[-1]
        raise ConfigError(f"{name} {v!r} is unknown; use {allowed} ({_flag(name)} {choices[-1]})")


def _fraction(o: Any, *names: str, upper_open: tuple[str, ...] = ()) -> None:
    for n in names:
        v = getattr(o, n)
        if not (0.0 <= v < 1.0 if n in upper_open else 0.0 <= v <= 1.0):
            raise ConfigError(f"{n} ({v}) must be between 0 and 1")


# ----------------------------------------------------------------------------------- recipes
def field_help(cls: type[TrainOptions]) -> dict[str, tuple[Any, str, str]]:
    """``{name: (type, help, panel)}`` for every option of ``cls``, in declaration order.

    >>> field_help(SFTOptions)["learning_rate"][1]
    'Peak learning rate (AdamW).'
    """
    hints = typing.get_type_hints(cls)
    return {
        f.name: (hints[f.name], f.metadata.get("help", ""), f.metadata.get("panel", "Training"))
        for f in dataclasses.fields(cls)
    }


def _coerce(name: str, tp: Any, value: Any) -> Any:
    """Turn a YAML / CLI value into the field's type, or raise a ConfigError naming the key."""
    args = typing.get_args(tp)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), tp) if optional else tp
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} cannot be empty; give a value or leave the key out")
    origin = typing.get_origin(base)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list such as [0.25, 0.25, 0.25, 0.25], got {value!r}")
        item = typing.get_args(base)[0]
        return tuple(_coerce(name, item, v) for v in value)
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if base is int:
        if isinstance(value, bool) or not (isinstance(value, int) or isinstance(value, float) and value.is_integer()):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
            raise ConfigError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    if base is float:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if base is str:
        if isinstance(value, (dict, list, tuple, bool)):
            raise ConfigError(f"{name} must be text, got {value!r}")
        return str(value)
    return value  # pragma: no cover


def options_from_mapping(cls: type[O], values: Mapping[str, Any]) -> O:
    """Build ``cls`` from plain values (YAML / CLI), rejecting unknown keys with the nearest known one."""
    known = field_help(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            near = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"unknown {cls.__name__[:-7].lower() or 'train'} option {key!r}{hint}")
        kwargs[name] = _coerce(name, known[name][0], value)
    return cls(**kwargs)


def read_recipe(path: str | os.PathLike[str], stage: str) -> dict[str, Any]:
    """The options a recipe YAML sets for ``stage`` (``sft`` or ``grpo``): flat keys, then its section.

    Raises :class:`ConfigError` for a missing file, invalid YAML, or a file that is not a mapping.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"recipe {p} not found; pass an existing YAML file to --config")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"recipe {p} is not valid YAML{line}; fix the file") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"recipe {p} must be a mapping of option: value")
    flat = {k: v for k, v in doc.items() if k not in ("sft", "grpo")}
    section = doc.get(stage) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"recipe {p}: the {stage}: section must be a mapping of option: value")
    return {**flat, **section}


def load_options(
    cls: type[O], config: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> O:
    """Options for ``cls``: the recipe ``config`` (if any), then ``overrides`` (CLI flags given; None = unset)."""
    stage = "grpo" if issubclass(cls, GRPOOptions) else "sft"
    values: dict[str, Any] = read_recipe(config, stage) if config is not None else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return options_from_mapping(cls, values)


def options_to_dict(options: TrainOptions) -> dict[str, Any]:
    """Plain values of every option (tuples as lists), in declaration order.

    >>> options_to_dict(SFTOptions(model="m", data="d", out="o"))["grad_accum"]
    1
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(options):
        v = getattr(options, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def recipe_yaml(options: TrainOptions, *, comments: bool = True) -> str:
    """The YAML recipe that reproduces ``options``, one key per option, with its help as a comment.

    >>> "learning_rate: 1.0e-05" in recipe_yaml(SFTOptions(model="m", data="d", out="o"))
    True
    """
    import yaml

    helps = field_help(type(options))
    lines = [f"# geocot train {options.stage} recipe: every option, as resolved for this run."]
    panel = None
    for name, value in options_to_dict(options).items():
        if name == "resume":
            value = None  # a recipe starts a run; resuming is a flag of the run
        _, text, section = helps[name]
        if comments and section != panel:
            lines.append(f"\n# -- {section}")
            panel = section
        if comments:
            lines.append(f"# {text}")
        dumped = yaml.safe_dump({name: value}, default_flow_style=True, sort_keys=False, width=1000).strip()
        lines.append(dumped[1:-1] if dumped.startswith("{") else dumped)
    return "\n".join(lines) + "\n"
