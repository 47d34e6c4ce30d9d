"""Resumable checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is ``<out>/checkpoints/checkpoint-000040/``: accelerate's ``save_state`` (model weights
as safetensors, optimiser, learning-rate scheduler, the random states of python, numpy and torch of
every process) plus the data position (:class:`TrainState`: step, epoch, step within the epoch) and
``trainer_state.json`` (the options and the data size the run was made with). The data order is a
function of ``(seed, epoch)`` only (:func:`geocot_cli.train.dataset.epoch_plan`), so the position is
enough to replay the exact batches. ``--resume latest`` picks the newest checkpoint in ``--out``.

>>> s = TrainState(global_step=3, epoch=1, step_in_epoch=1)
>>> TrainState.from_dict(s.state_dict()) == s
True
>>> checkpoint_name(40)
'checkpoint-000040'
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .config import TrainOptions, options_to_dict

__all__ = [
    "CHECKPOINTS",
    "TRAINER_STATE",
    "TrainState",
    "check_resumable",
    "checkpoint_name",
    "find_checkpoint",
    "load_checkpoint",
    "read_trainer_state",
    "save_checkpoint",
]

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainState:
    """Where a run is: optimiser steps done, and the next step's place in the data (mutable)."""

    global_step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0

    def state_dict(self) -> dict[str, int]:
        return asdict(self)

    def load_state_dict(self, d: dict[str, int]) -> None:
        self.global_step, self.epoch, self.step_in_epoch = int(d["global_step"]), int(d["epoch"]), int(d["step_in_epoch"])

    @classmethod
    def from_dict(cls, d: dict[str, int]) -> TrainState:
        s = cls()
        s.load_state_dict(d)
        return s

    def advance(self, steps_in_epoch: int) -> None:
        """Count one finished step; roll over to the next epoch after its last step."""
        self.global_step += 1
        self.step_in_epoch += 1
        if self.step_in_epoch >= steps_in_epoch:
            self.epoch += 1
            self.step_in_epoch = 0


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint after ``step`` optimiser steps."""
    return f"checkpoint-{step:06d}"


def _checkpoints(out: Path) -> list[tuple[int, Path]]:
    root = out / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _NAME.match(p.name)
        if m and (p / TRAINER_STATE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def find_checkpoint(spec: str, out: str | Path) -> Path:
    """The checkpoint folder ``spec`` names: ``latest`` (newest in ``out/checkpoints``) or a path."""
    out = Path(out)
    if spec == "latest":
        found = _checkpoints(out)
        if not found:
            raise ConfigError(f"--resume latest: no checkpoint in {out / CHECKPOINTS}; start without --resume, "
                              "or pass a checkpoint folder")
        return found[-1][1]
    p = Path(spec).expanduser()
    if not (p / TRAINER_STATE).is_file():
        raise ConfigError(f"--resume {spec}: not a checkpoint folder (no {TRAINER_STATE}); pass "
                          f"{out / CHECKPOINTS}/checkpoint-NNNNNN or 'latest'")
    return p


def read_trainer_state(path: Path) -> dict[str, Any]:
    """The ``trainer_state.json`` of a checkpoint."""
    try:
        return json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path / TRAINER_STATE}: {exc}; the checkpoint is damaged") from None


def check_resumable(info: dict[str, Any], options: TrainOptions, *, n_train: int, world: int) -> None:
    """Refuse to resume a checkpoint made with options, data or processes that change the trajectory."""
    if info.get("stage") != options.stage:
        raise ConfigError(f"the checkpoint is from `geocot train {info.get('stage')}`, not {options.stage}")
    then = info.get("options", {})
    now = options_to_dict(options)
    for key, value in now.items():
        if key in options.RESUMABLE_CHANGES or key not in then:
            continue
        if then[key] != value:
            raise ConfigError(
                f"the checkpoint was made with {key}={then[key]!r} but this run has {key}={value!r}; resume with "
                f"the run's own recipe (--config <out>/recipe.yaml) or start a new run")
    if info.get("n_train") != n_train:
        raise ConfigError(f"the checkpoint was trained on {info.get('n_train')} samples but --data now holds "
                          f"{n_train}; resume on the same data")
    if info.get("world") != world:
        raise ConfigError(f"the checkpoint was made by {info.get('world')} process(es), this run has {world}; "
                          "launch with the same number of processes")


def save_checkpoint(accelerator: Any, out: Path, state: TrainState, options: TrainOptions, *, n_train: int,
                    extra: dict[str, Any] | None = None) -> Path:
    """Save a resumable checkpoint after ``state.global_step`` steps; prune to ``save_total_limit``."""
    path = out / CHECKPOINTS / checkpoint_name(state.global_step)
    tmp = path.with_name(path.name + ".part")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        info = {"stage": options.stage, "state": state.state_dict(), "options": options_to_dict(options),
                "n_train": n_train, "world": accelerator.num_processes, **(extra or {})}
        (tmp / TRAINER_STATE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
        if options.save_total_limit is not None:
            for _, old in _checkpoints(out)[: -options.save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def load_checkpoint(accelerator: Any, path: Path, state: TrainState) -> dict[str, Any]:
    """Restore the registered model, optimiser, scheduler and random states, and ``state``; returns the info."""
    info = read_trainer_state(path)
    accelerator.load_state(str(path))
    state.load_state_dict(info["state"])
    return info
