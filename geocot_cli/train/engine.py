"""What the SFT and GRPO loops share: accelerate, model loading, optimiser, output folder, log, final save.

Both loops run on :mod:`accelerate`: one process on a CPU or GPU, or several through
``accelerate launch`` (DDP, or FSDP for SFT). Mixed precision is accelerate's autocast; weights stay
in ``options.dtype``. The final model is written with ``save_pretrained`` (safetensors) next to its
processor and ``geocot.json`` (box convention kept), so ``geocot ask --model OUT`` loads it as is.

Torch, transformers, accelerate and peft are imported inside the functions.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.base import GEOCOT_JSON, read_geocot_json, resolve_box_convention
from ..errors import BackendError, ConfigError, ModelNotFoundError, OutputError
from .config import TrainOptions, recipe_yaml

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "COMPLETIONS_NAME",
    "LOG_NAME",
    "RECIPE_NAME",
    "Progress",
    "RunLog",
    "TrainResult",
    "build_optimizer",
    "build_scheduler",
    "end_step",
    "load_model",
    "make_accelerator",
    "model_convention",
    "model_device",
    "prepare_output",
    "save_final",
]

LOG_NAME = "log.jsonl"
COMPLETIONS_NAME = "completions.jsonl"  # GRPO's sampled completions, with --log-completions
RECIPE_NAME = "recipe.yaml"

#: ``progress(step, total_steps, record)``: called on the main process after every optimiser step.
Progress = Callable[[int, int, Mapping[str, Any]], None]


@dataclass(frozen=True)
class TrainResult:
    """What a finished run leaves: the model folder, the steps taken and every logged record."""

    out: Path
    steps: int
    history: tuple[dict[str, Any], ...] = field(default=(), hash=False)
    resumed_from: Path | None = None

    def series(self, key: str) -> list[float]:
        """The logged values of ``key`` in step order (records without it are skipped)."""
        return [r[key] for r in self.history if key in r and r[key] is not None]


# ------------------------------------------------------------------------------------------- setup
def model_convention(options: TrainOptions) -> str:
    """The box convention of the model being trained: flag > geocot.json > known ids (else BackendError)."""
    return resolve_box_convention(options.model, options.box_convention)


def prepare_output(options: TrainOptions) -> Path:
    """Check (and create) the output folder before any model time is spent."""
    out = Path(options.out).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; pass a folder for the model, log and checkpoints")
    if Path(options.model).expanduser().resolve() == out.resolve():
        raise OutputError(f"--out {out} is the model being trained; write the trained model to another folder")
    if out.is_dir() and any(out.iterdir()) and not options.resume:
        if not options.overwrite:
            raise OutputError(
                f"{out} is not empty; pass --resume latest to continue its run, --overwrite to start again, "
                "or choose another --out")
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
        for name in (LOG_NAME, COMPLETIONS_NAME):
            (out / name).unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc.strerror or exc}; choose a writable --out") from None
    return out


def make_accelerator(options: TrainOptions):
    """An :class:`accelerate.Accelerator` for ``options`` (a fresh state in a single process)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    if AcceleratorState._shared_state and PartialState().num_processes == 1:
        # a second run in one process (tests, notebooks) may ask for another precision or device
        AcceleratorState._reset_state(reset_partial_state=True)
    acc = Accelerator(cpu=options.cpu, mixed_precision=options.mixed_precision, step_scheduler_with_optimizer=False)
    if acc.distributed_type == DistributedType.DEEPSPEED:
        raise ConfigError(
            "geocot's training loops do their own gradient accumulation and cannot run under DeepSpeed; "
            "launch with train/accelerate/fsdp.yaml (sft) or ddp.yaml instead")
    if options.stage == "grpo" and acc.distributed_type == DistributedType.FSDP:
        raise ConfigError(
            "geocot train grpo samples from the policy between updates and cannot do so under FSDP; launch with "
            "train/accelerate/ddp.yaml (add --lora for a 9B model) or single_gpu.yaml")
    return acc


def model_device(accelerator: Any) -> Any:
    """Where to put the model before ``accelerator.prepare``: its device, or None under FSDP (it shards)."""
    from accelerate.utils import DistributedType

    return None if accelerator.distributed_type == DistributedType.FSDP else accelerator.device


def _torch_dtype(name: str, device_type: str):
    import torch

    if name == "auto":
        if device_type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _source_dtype(source: str) -> str | None:
    """The dtype the source checkpoint was saved in (``config.json``), to save the result the same way."""
    path = Path(source).expanduser() / "config.json"
    if not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = cfg.get("dtype") or cfg.get("torch_dtype")
    return value if value in ("float32", "bfloat16", "float16") else None


def load_model(source: str, options: TrainOptions, *, device: Any = None, trainable: bool = True):
    """Load ``(model, processor)`` from ``source`` for training (or, ``trainable=False``, as a frozen reference).

    A trainable model gets gradient checkpointing, a frozen vision tower and LoRA adapters as
    ``options`` ask. Raises :class:`ModelNotFoundError` / :class:`BackendError` with the fix.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = Path(source).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        raise ModelNotFoundError(f"model folder {source} holds no config.json; pass a folder written by save_pretrained")
    dtype = _torch_dtype(options.dtype, getattr(device, "type", "cpu"))
    try:
        processor = AutoProcessor.from_pretrained(source, trust_remote_code=options.trust_remote_code)
        model = AutoModelForImageTextToText.from_pretrained(
            source, dtype=dtype, trust_remote_code=options.trust_remote_code, use_safetensors=True)
    except OSError as exc:
        raise ModelNotFoundError(
            f"cannot load model {source}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
            "pass a folder written by save_pretrained or a hub id that is downloaded") from None
    except (ValueError, KeyError, ImportError) as exc:
        raise BackendError(
            f"transformers cannot load {source} as an image-text-to-text model: {exc}; check the model, or pass "
            "--trust-remote-code if its card asks for it") from None
    if getattr(processor, "tokenizer", None) is None or not getattr(processor, "chat_template", None):
        raise BackendError(f"model {source} has no tokenizer or chat template; training needs both")
    if processor.tokenizer.pad_token_id is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    if device is not None:
        model.to(device)
    if not trainable:
        model.requires_grad_(False)
        model.eval()
        return model, processor
    _set_use_cache(model, False)
    if options.gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None)  # transformers >= 5 name
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:  # pragma: no cover - older transformers
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if options.freeze_vision:
        tower = _vision_tower(model)
        if tower is None:
            raise ConfigError(f"--freeze-vision: no vision tower found in {type(model).__name__}")
        tower.requires_grad_(False)
    if options.lora:
        model = _add_lora(model, options)
    model.train()
    return model, processor


def _set_use_cache(model: Any, value: bool) -> None:
    """Turn the KV cache off for training (on for the saved model), in the config and its text config."""
    model.config.use_cache = value
    text = model.config.get_text_config() if hasattr(model.config, "get_text_config") else None
    if text is not None and text is not model.config:
        text.use_cache = value


def _fix_config_dtype(path: Path, dtype: str) -> None:
    """Write ``dtype`` wherever config.json records one (save_pretrained writes the training dtype)."""
    def fix(d: Any) -> Any:
        if isinstance(d, dict):
            return {k: (dtype if k in ("dtype", "torch_dtype") and isinstance(v, str) else fix(v)) for k, v in d.items()}
        return d

    cfg = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(fix(cfg), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _vision_tower(model: Any) -> Any:
    for name, module in model.named_modules():
        if name.split(".")[-1] in ("visual", "vision_tower", "vision_model"):
            return module
    return None


def _add_lora(model: Any, options: TrainOptions) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError("--lora needs peft: pip install 'geocot[lora]' (or pip install peft)") from None
    names = [t.strip() for t in options.lora_targets.split(",") if t.strip()]
    # adapters on the language model only: the vision tower reuses some of these names
    pattern = r"^(?!.*(?:visual|vision)).*\.(?:" + "|".join(map(_re_escape, names)) + r")$"
    config = LoraConfig(r=options.lora_r, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
                        target_modules=pattern)
    try:
        model = get_peft_model(model, config)
    except ValueError as exc:
        raise ConfigError(f"--lora-targets {options.lora_targets!r} matches no layer of the model ({exc}); "
                          "name its linear layers, e.g. q_proj,v_proj") from None
    if options.freeze_vision:
        tower = _vision_tower(model)
        if tower is not None:
            tower.requires_grad_(False)
    return model


def _re_escape(s: str) -> str:
    import re

    return re.escape(s)


def build_optimizer(model: Any, options: TrainOptions):
    """AdamW over the trainable parameters; no weight decay on biases and norms."""
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    if not decay and not no_decay:
        raise ConfigError("the model has no trainable parameter; check --freeze-vision / --lora-targets")
    groups = [{"params": decay, "weight_decay": options.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=options.learning_rate)


def build_scheduler(optimizer: Any, options: TrainOptions, total: int):
    """The learning-rate schedule over ``total`` optimiser updates (transformers' ``get_scheduler``)."""
    from transformers import get_scheduler

    name = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[options.lr_schedule]
    warmup = int(round(options.warmup_ratio * total))
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total)


# ---------------------------------------------------------------------------------------------- log
class RunLog:
    """``<out>/log.jsonl``: one JSON object per logged step; a resumed run drops lines after its checkpoint.

    ``name`` writes another file the same way (``completions.jsonl``); ``hold=False`` keeps no
    records in memory (``records`` stays empty), for logs too large to hold.
    """

    def __init__(self, out: Path, *, keep_until: int | None, enabled: bool = True, name: str = LOG_NAME,
                 hold: bool = True) -> None:
        self.path = out / name
        self.enabled = enabled
        self.hold = hold
        self.records: list[dict[str, Any]] = []
        if not enabled:
            return
        kept: list[str] = []
        if keep_until is not None and self.path.is_file():
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue  # a line torn by a killed run
                    if isinstance(rec, dict) and rec.get("step", 0) <= keep_until:
                        kept.append(json.dumps(rec) + "\n")
                        if hold:
                            self.records.append(rec)
        self.path.write_text("".join(kept), encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        self.write_many([record])

    def write_many(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append ``records``, one line each."""
        recs = [{k: _plain(v) for k, v in r.items()} for r in records]
        if self.hold:
            self.records.extend(recs)
        if self.enabled and recs:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(r) + "\n" for r in recs))


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return round(v, 8)
    return v


def write_recipe(out: Path, options: TrainOptions, main: bool) -> None:
    """Write the resolved options to ``<out>/recipe.yaml`` (what ``--config`` reads back)."""
    if main:
        (out / RECIPE_NAME).write_text(recipe_yaml(options), encoding="utf-8")


class Timer:
    """Seconds since creation (or the last ``lap``)."""

    def __init__(self) -> None:
        self.t = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        dt, self.t = now - self.t, now
        return dt


# ------------------------------------------------------------------------------------------- saving
def save_final(accelerator: Any, model: Any, processor: Any, out: Path, options: TrainOptions, *,
               convention: str, info: Mapping[str, Any]) -> None:
    """Save the trained model (merged when LoRA), its processor and ``geocot.json`` into ``out``."""
    import torch

    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    state_dict = accelerator.get_state_dict(model)
    main = accelerator.is_main_process
    if hasattr(unwrapped, "merge_and_unload"):  # peft: keep the adapter, save merged weights
        if main:
            unwrapped.save_pretrained(out / "adapter")
        unwrapped = unwrapped.merge_and_unload()
        state_dict = unwrapped.state_dict()
    dtype_name = _source_dtype(options.model)
    if dtype_name is not None and state_dict is not None:
        target = getattr(torch, dtype_name)
        state_dict = {k: (v.detach().to("cpu", target) if v.is_floating_point() else v.detach().cpu())
                      for k, v in state_dict.items()}
    _set_use_cache(unwrapped, True)
    unwrapped.save_pretrained(out, state_dict=state_dict, is_main_process=main, save_function=accelerator.save)
    if main:
        if dtype_name is not None:
            _fix_config_dtype(out / "config.json", dtype_name)
        processor.save_pretrained(out)
        meta = dict(read_geocot_json(options.model))
        meta.update({"box_convention": convention, "trained": True, "training": dict(info)})
        (out / GEOCOT_JSON).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    accelerator.wait_for_everyone()


def gather_mean(accelerator: Any, value: float, weight: float = 1.0) -> float:
    """The weighted mean of ``value`` over processes."""
    import torch

    t = torch.tensor([value * weight, weight], dtype=torch.float64, device=accelerator.device)
    t = accelerator.reduce(t, reduction="sum")
    return float(t[0] / t[1]) if float(t[1]) else float("nan")


def end_step(
    *, options: TrainOptions, state: Any, total: int, record: dict[str, Any], log: Any, progress: Any, main: bool,
    evaluate: Callable[[], Mapping[str, Any] | None], checkpoint: Callable[[], None],
) -> bool:
    """After an optimiser step: evaluate every ``eval_every``, log every ``log_every``, report,
    checkpoint every ``save_every``. True when the last step is done."""
    step = state.global_step
    if options.eval_every and step % options.eval_every == 0 and step < total:
        record.update(evaluate() or {})
    if step % options.log_every == 0 or step == total:
        log.write(record)
    if progress is not None and main:
        progress(step, total, record)
    if options.save_every and step % options.save_every == 0 and step < total:
        checkpoint()
    return step >= total
