"""Stage I: supervised fine-tuning on Geo-CoT traces (``geocot train sft``).

The loss is the next-token cross-entropy on the assistant turn only (the trace and its end token):
prompt, image and padding tokens carry label ``-100`` (:mod:`geocot_cli.train.collate`). One
optimiser step accumulates ``grad_accum`` micro-batches of ``batch_size`` samples on each process,
and the loss is the mean over every answer token of the step on all processes (not a mean of
micro-batch means, which would over-weight short traces). With ``box_loss_weight`` w other than 1 each
token of a box ``[x1,y1,x2,y2]`` counts w times in that mean (a weighted mean: the sum of w x loss over
the sum of w), so the few box tokens of a long trace pull as hard as in a short answer; the held-out
``eval_loss`` stays the plain per-token mean, comparable across weights.

The run, in order: read and check every sample (a bad line stops here, before any model is loaded);
check the output folder; load the model; train for ``epochs`` (or ``max_steps``) with checkpoints
every ``save_every`` steps and an evaluation loss on the held-out split every ``eval_every`` steps;
save the final model with its processor and ``geocot.json``.

Example (not run: trains a model)::

    from geocot_cli.train import SFTOptions, train_sft
    result = train_sft(SFTOptions(model="tiny", data="sft.jsonl", out="runs/sft", max_steps=30))
    result.series("loss")[-1]
"""

from __future__ import annotations

import contextlib
import math
from functools import partial
from pathlib import Path
from typing import Any

from ..evaluate import load_image
from .checkpoint import TrainState, check_resumable, find_checkpoint, load_checkpoint, read_trainer_state, save_checkpoint
from .collate import IGNORE_INDEX, collate_sft, encode_sft
from .config import SFTOptions
from .dataset import TrainingSet, epoch_plan, load_training_samples, sample_prompt, split_holdout, steps_per_epoch
from .engine import (
    Progress, RunLog, Timer, TrainResult, build_optimizer, build_scheduler, end_step, load_model,
    make_accelerator, model_convention, model_device, prepare_output, save_final, write_recipe,
)

__all__ = ["SFTExamples", "answer_weight_sum", "train_sft", "weighted_token_loss"]


class SFTExamples:
    """A map-style dataset of encoded SFT examples (a torch ``DataLoader`` reads it, in workers if asked)."""

    def __init__(self, data: TrainingSet, processor: Any, max_length: int | None = None,
                 box_weight: float = 1.0) -> None:
        self.data, self.processor, self.max_length, self.box_weight = data, processor, max_length, box_weight

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = self.data.samples[i]
        image = load_image(Path(s.image))
        prompt = sample_prompt(s, self.data.classify_classes)
        return encode_sft(self.processor, image, prompt, s.trace or "", max_length=self.max_length,
                          box_weight=self.box_weight)


def _model_inputs(batch: dict[str, Any], device: Any) -> tuple[dict[str, Any], Any]:
    labels = batch["labels"].to(device)
    inputs = {k: v.to(device) for k, v in batch.items() if k not in ("labels", "truncated", "loss_weights")}
    return inputs, labels


def weighted_token_loss(logits: Any, labels: Any, weights: Any) -> Any:
    """Sum over the batch of ``weights[:, 1:]`` x next-token cross-entropy (float32; ``-100`` labels ignored).

    With all weights 1 this is the model's own causal-LM loss times the number of answer tokens.
    """
    import torch

    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)),
                                           shift_labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none")
    return (ce * weights[:, 1:].reshape(-1).to(ce.dtype)).sum()  # ignored labels have ce 0


def answer_weight_sum(batch: dict[str, Any]) -> float:
    """The sum of the weights of the predicted tokens (``labels[:, 1:]``, ignored ones left out) of a batch."""
    return float((batch["loss_weights"][:, 1:] * (batch["labels"][:, 1:] != IGNORE_INDEX)).sum())


def _load_sets(options: SFTOptions, convention: str) -> tuple[TrainingSet, TrainingSet | None]:
    data = load_training_samples(options.data, need_trace=True, box_convention=convention)
    if options.eval_data:
        held = load_training_samples(options.eval_data, need_trace=True, box_convention=convention)
        return data, held
    return split_holdout(data, options.eval_fraction, options.seed)


def train_sft(options: SFTOptions, *, progress: Progress | None = None) -> TrainResult:
    """Fine-tune ``options.model`` on the traces of ``options.data``; the model is saved in ``options.out``."""
    import torch
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader

    convention = model_convention(options)
    train, held = _load_sets(options, convention)  # every sample checked before any model is loaded
    resume_path = find_checkpoint(options.resume, options.out) if options.resume else None
    out = prepare_output(options)

    accelerator = make_accelerator(options)
    main, world, rank = accelerator.is_main_process, accelerator.num_processes, accelerator.process_index
    per_epoch = steps_per_epoch(len(train), batch_size=options.batch_size, accum=options.grad_accum, world=world)
    total = options.max_steps or options.epochs * per_epoch
    if resume_path is not None:
        check_resumable(read_trainer_state(resume_path), options, n_train=len(train), world=world)

    set_seed(options.seed)
    model, processor = load_model(options.model, options, device=model_device(accelerator))
    model = accelerator.prepare(model)
    optimizer = accelerator.prepare(build_optimizer(model, options))
    scheduler = build_scheduler(optimizer, options, total)
    accelerator.register_for_checkpointing(scheduler)
    state = TrainState()
    if resume_path is not None:
        load_checkpoint(accelerator, resume_path, state)
    write_recipe(out, options, main)
    log = RunLog(out, keep_until=state.global_step if resume_path else None, enabled=main)
    pad_id = processor.tokenizer.pad_token_id
    examples = SFTExamples(train, processor, options.max_length, options.box_loss_weight)
    collate = partial(collate_sft, pad_id=pad_id)
    held_examples = SFTExamples(held, processor, options.max_length) if held is not None else None

    def evaluate() -> float | None:
        if held_examples is None:
            return None
        return _eval_loss(accelerator, model, held_examples, collate, options.batch_size)

    timer = Timer()
    while state.global_step < total:
        plan = epoch_plan(len(train), batch_size=options.batch_size, accum=options.grad_accum,
                          seed=options.seed, epoch=state.epoch, world=world, rank=rank)
        steps = plan[state.step_in_epoch:]
        loader = DataLoader(examples, batch_sampler=[mb for step in steps for mb in step], collate_fn=collate,
                            num_workers=options.num_workers)
        batches = iter(loader)
        for step in steps:
            micro = [next(batches) for _ in step]
            record = _sft_step(accelerator, model, optimizer, scheduler, micro, options)
            epoch_at = state.epoch + (state.step_in_epoch + 1) / len(plan)
            state.advance(len(plan))
            record = {"step": state.global_step, "epoch": round(epoch_at, 4), **record,
                      "step_time": timer.lap()}
            if end_step(options=options, state=state, total=total, record=record, log=log, progress=progress,
                        main=main, evaluate=lambda: {"eval_loss": evaluate()},
                        checkpoint=lambda: save_checkpoint(accelerator, out, state, options, n_train=len(train))):
                break
        del batches, loader

    final: dict[str, Any] = {"step": state.global_step, "final": True}
    eval_loss = evaluate()
    if eval_loss is not None:
        final["eval_loss"] = eval_loss
    if options.save_every and state.global_step % options.save_every == 0:
        save_checkpoint(accelerator, out, state, options, n_train=len(train))
    log.write(final)
    info = {"stage": "sft", "base_model": options.model, "data": str(options.data), "steps": state.global_step,
            "recipe": "recipe.yaml"}
    save_final(accelerator, model, processor, out, options, convention=convention, info=info)
    return TrainResult(out=out, steps=state.global_step, history=tuple(log.records), resumed_from=resume_path)


def _sft_step(accelerator: Any, model: Any, optimizer: Any, scheduler: Any, micro: list[dict[str, Any]],
              options: SFTOptions) -> dict[str, Any]:
    """One optimiser step over this process's micro-batches; the loss is a mean over all answer tokens."""
    import torch

    device = accelerator.device
    local = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in micro)
    tokens = accelerator.reduce(torch.tensor(local, device=device, dtype=torch.long), reduction="sum")
    denom = tokens.clamp(min=1)
    weighted = options.box_loss_weight != 1.0
    if weighted:  # the sum of the token weights of the step on all processes
        local_w = sum(answer_weight_sum(b) for b in micro)
        denom_w = accelerator.reduce(torch.tensor(local_w, device=device, dtype=torch.float32), reduction="sum")
        denom_w = denom_w.clamp(min=1e-8)
    world = accelerator.num_processes
    model.train()
    total = torch.zeros((), device=device)
    for i, batch in enumerate(micro):
        inputs, labels = _model_inputs(batch, device)
        sync = i == len(micro) - 1
        with contextlib.nullcontext() if sync else accelerator.no_sync(model):
            # the loss is (sum over this micro-batch) / (answer tokens, or their weights, of the step on all
            # processes); DDP averages gradients over processes, hence the factor `world`
            if weighted:
                logits = model(**inputs).logits
                loss = weighted_token_loss(logits, labels, batch["loss_weights"].to(device)) / denom_w
            else:
                loss = model(**inputs, labels=labels, num_items_in_batch=denom).loss
            accelerator.backward(loss * world)
        total += loss.detach()
    grad_norm = None
    if options.max_grad_norm > 0:
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), options.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    loss = float(accelerator.reduce(total, reduction="sum"))
    record: dict[str, Any] = {"loss": loss, "lr": scheduler.get_last_lr()[0], "tokens": int(tokens)}
    if grad_norm is not None:
        record["grad_norm"] = float(grad_norm)
    truncated = sum(int(b.get("truncated", 0)) for b in micro)
    if truncated:
        record["truncated"] = truncated
    return record


def _eval_loss(accelerator: Any, model: Any, examples: SFTExamples, collate: Any, batch_size: int) -> float:
    """Mean next-token loss per answer token on the held-out examples (all processes together)."""
    import torch
    from torch.utils.data import DataLoader

    idx = list(range(len(examples)))[accelerator.process_index::accelerator.num_processes]
    batches = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    loss_sum = torch.zeros((), dtype=torch.float64, device=accelerator.device)
    count = torch.zeros((), dtype=torch.float64, device=accelerator.device)
    model.eval()
    with torch.no_grad():
        for batch in DataLoader(examples, batch_sampler=batches, collate_fn=collate):
            inputs, labels = _model_inputs(batch, accelerator.device)
            n = int((labels[:, 1:] != IGNORE_INDEX).sum())
            out = model(**inputs, labels=labels, num_items_in_batch=torch.tensor(1, device=accelerator.device))
            loss_sum += out.loss.double()
            count += n
    model.train()
    loss_sum = accelerator.reduce(loss_sum, reduction="sum")
    count = accelerator.reduce(count, reduction="sum")
    return float(loss_sum / count) if float(count) else math.nan
