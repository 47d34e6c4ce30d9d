"""Stage II: Group Relative Policy Optimization (``geocot train grpo``), as one explicit loop.

Every step, on each process:

1. take ``batch_size`` prompts (sample JSONL with ground truth; traces are ignored);
2. **sample** ``k = num_generations`` completions per prompt from the current policy
   (``temperature``, ``top_p``, ``top_k``; no repetition penalty, so the log-probabilities below are
   those of the distribution sampled from);
3. **score** each completion with the task rewards (:mod:`geocot_cli.train.rewards`), weighted and
   summed: ``R = sum_f w_f r_f`` (a reward that does not apply to a sample's task adds nothing);
4. **advantages** ``A = (R - mean) / (std + eps)`` within each prompt's group
   (:func:`~geocot_cli.train.advantages.group_advantages`);
5. log-probabilities of the sampled tokens under the sampling policy (``old``) and the frozen
   reference model (``ref``: the SFT model, or the LoRA base with adapters off);
6. **update** ``num_iterations`` times: the PPO clipped surrogate plus ``beta`` x KL(policy || ref)
   (k3 estimator) (:func:`~geocot_cli.train.losses.grpo_loss`), one optimiser step each.

``beta = 0`` drops the reference model (and its memory), but the paper reports that without the KL
term the trace format collapses into repetition: keep it unless you watch the format reward.
Each step logs the mean reward, per reward function and per task, its spread, KL, the fraction of
clipped tokens, completion length and throughput to ``<out>/log.jsonl``; ``log_completions`` also
writes every sampled completion with its rewards and advantage to ``<out>/completions.jsonl``
(:func:`completion_rows`), to read what a run pays for.

Example (not run: trains a model)::

    from geocot_cli.train import GRPOOptions, train_grpo
    train_grpo(GRPOOptions(model="runs/sft", data="sft.rl.jsonl", out="runs/grpo", max_steps=50))
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends.base import model_repetition_penalty
from ..evaluate import load_image
from .advantages import group_advantages
from .checkpoint import TrainState, check_resumable, find_checkpoint, load_checkpoint, read_trainer_state, save_checkpoint
from .collate import encode_prompts
from .config import GRPOOptions
from .dataset import TrainingSet, epoch_plan, load_training_samples, sample_prompt, split_holdout, steps_per_epoch
from .engine import (
    COMPLETIONS_NAME, Progress, RunLog, Timer, TrainResult, build_optimizer, build_scheduler, end_step, load_model,
    make_accelerator, model_convention, model_device, prepare_output, save_final, write_recipe,
)
from .losses import grpo_loss, token_logprobs
from .rewards import WeightedReward, default_rewards

__all__ = ["Rollout", "completion_rows", "ground_truth_columns", "score_rollout", "train_grpo"]


def ground_truth_columns(samples: Sequence[Any], sizes: Sequence[tuple[int, int]], convention: str,
                         repeat: int = 1) -> dict[str, list[Any]]:
    """The reward functions' keyword columns for ``samples``, each value repeated ``repeat`` times.

    >>> from geocot_cli.data.schema import Sample
    >>> s = Sample(image=Path("/a.png"), task="count", question="How many ships?", count=2)
    >>> cols = ground_truth_columns([s], [(64, 64)], "pixel", 2)
    >>> cols["count"], cols["task"], cols["image_size"], cols["question"]
    ([2, 2], ['count', 'count'], [[64, 64], [64, 64]], ['How many ships?', 'How many ships?'])
    """
    cols: dict[str, list[Any]] = defaultdict(list)
    for s, size in zip(samples, sizes):
        row = {
            "task": s.task, "question": s.question or "", "answer": s.answer, "count": s.count, "class": s.cls,
            "captions": list(s.captions), "labels": list(s.labels),
            "boxes": [list(b) for b in s.boxes],
            "target_box": list(s.target_box) if s.target_box is not None else None,
            "image_size": [int(size[0]), int(size[1])], "box_convention": convention,
        }
        for key, value in row.items():
            cols[key].extend([value] * repeat)
    return dict(cols)


@dataclass(frozen=True)
class Rollout:
    """One step's completions, each one's task, its total reward and the value of every reward function."""

    completions: list[str]
    tasks: list[str]
    total: list[float]
    per_func: dict[str, list[float | None]]


def _number(v: Any) -> float | None:
    """A reward value as a float; None (and NaN) for a reward that does not apply."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def score_rollout(rewards: Sequence[WeightedReward], completions: list[str], prompts: list[str],
                  columns: dict[str, list[Any]]) -> Rollout:
    """Call every reward function once on the batch; ``R = sum of weight x reward`` (None adds nothing).

    >>> from geocot_cli.train.rewards import WeightedReward, count_reward, format_reward
    >>> r = score_rollout([WeightedReward("count", count_reward, 1.0), WeightedReward("format", format_reward, 0.5)],
    ...                   ["<answer>2</answer>", "<answer>1</answer>"], ["q", "q"],
    ...                   {"task": ["count", "count"], "count": [2, 2]})
    >>> r.total, r.per_func["count"]
    ([1.0, 0.5], [1.0, 0.5])
    """
    n = len(completions)
    per_func: dict[str, list[float | None]] = {}
    total = [0.0] * n
    for rw in rewards:
        values = list(rw.func(completions, prompts=prompts, **columns))
        if len(values) != n:
            raise ValueError(f"reward {rw.name} returned {len(values)} values for {n} completions")
        per_func[rw.name] = values
        for i, v in enumerate(values):
            value = _number(v)
            if value is not None:
                total[i] += rw.weight * value
    return Rollout(completions, list(columns.get("task", [""] * n)), total, per_func)


def _truth(sample: Any) -> dict[str, Any]:
    """What a sample's rewards compare against, in brief (a detection's boxes as their number)."""
    row = {"answer": sample.answer, "count": sample.count, "class": sample.cls,
           "target_box": list(sample.target_box) if sample.target_box is not None else None,
           "objects": len(sample.boxes) if sample.boxes else None}
    return {k: v for k, v in row.items() if v not in (None, "")}


def completion_rows(step: int, samples: Sequence[Any], rollout: Rollout, advantages: Sequence[float],
                    group_size: int, *, first_prompt: int = 0) -> list[dict[str, Any]]:
    """One row per sampled completion: its prompt, what it is scored against, its rewards and advantage.

    What ``--log-completions`` writes to ``completions.jsonl``; ``advantages`` are those the update
    used; ``first_prompt`` numbers the prompts of another process after this one's.

    >>> from geocot_cli.data.schema import Sample
    >>> s = Sample(image=Path("a.png"), task="count", question="How many ships?", count=0)
    >>> ro = Rollout(["<answer>0</answer>", "<answer>1</answer>"], ["count", "count"], [1.0, 0.0],
    ...              {"count": [1.0, 0.0]})
    >>> rows = completion_rows(3, [s], ro, group_advantages(ro.total, 2).tolist(), 2)
    >>> [(r["step"], r["prompt"], r["truth"], r["reward"], round(r["advantage"], 2)) for r in rows]
    [(3, 0, {'answer': '0', 'count': 0}, 1.0, 0.71), (3, 0, {'answer': '0', 'count': 0}, 0.0, -0.71)]
    """
    rows = []
    for i, text in enumerate(rollout.completions):
        s = samples[i // group_size]
        rows.append({
            "step": step, "prompt": first_prompt + i // group_size, "image": str(s.image), "task": s.task,
            "question": s.question or "", "truth": _truth(s), "completion": text,
            "reward": rollout.total[i], "rewards": {name: _number(v[i]) for name, v in rollout.per_func.items()},
            "advantage": float(advantages[i]),
        })
    return rows


def _as_rewards(funcs: Sequence[WeightedReward | Callable[..., list]] | None, options: GRPOOptions,
                train: TrainingSet) -> list[WeightedReward]:
    if funcs is None:
        corpus = [list(s.captions) or [s.answer] for s in train.samples if s.task == "caption"]
        return default_rewards(options, corpus or None)
    out = []
    for f in funcs:
        out.append(f if isinstance(f, WeightedReward) else WeightedReward(getattr(f, "__name__", "reward"), f, 1.0))
    if not out:
        from ..errors import ConfigError

        raise ConfigError("GRPO needs at least one reward with a weight > 0")
    return out


def _completion_mask(ids: Any, eos_ids: Sequence[int]) -> Any:
    """1 on every token up to and including the first end token of each row, 0 after it."""
    import torch

    is_eos = torch.isin(ids, torch.tensor(list(eos_ids), device=ids.device))
    c = ids.shape[1]
    first = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1), torch.full_like(ids[:, 0], c))
    return (torch.arange(c, device=ids.device)[None, :] <= first[:, None]).long()


def _select(inputs: dict[str, Any], start: int, stop: int) -> dict[str, Any]:
    """Rows ``start:stop`` of a batch (one image per row: its patches are sliced with it)."""
    out = {k: v[start:stop] for k, v in inputs.items() if k not in ("pixel_values", "image_grid_thw")}
    if "image_grid_thw" in inputs:
        grid = inputs["image_grid_thw"]
        offsets = [0, *grid.prod(dim=-1).cumsum(0).tolist()]
        out["image_grid_thw"] = grid[start:stop]
        out["pixel_values"] = inputs["pixel_values"][offsets[start]:offsets[stop]]
    return out


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    return [int(i) for i in (eos if isinstance(eos, (list, tuple)) else [eos])]


def _placeholder_ids(model: Any) -> list[int]:
    """Token ids that stand for image or video features (never to be generated)."""
    cfg = model.config
    ids = [getattr(cfg, name, None) for name in ("image_token_id", "video_token_id", "image_token_index",
                                                   "video_token_index")]
    return sorted({int(i) for i in ids if isinstance(i, int) and i >= 0})


def _generation_config(model: Any, options: GRPOOptions, pad_id: int, *, sample: bool, eval_penalty: float):
    """Sampling for rollouts (no repetition penalty, so log-probabilities match), else greedy at ``eval_penalty``."""
    import copy

    cfg = copy.deepcopy(model.generation_config)
    cfg.max_new_tokens = options.max_new_tokens
    cfg.num_beams = 1
    cfg.use_cache = True
    cfg.pad_token_id = pad_id
    # a sampled image placeholder would ask for image features that do not exist
    cfg.suppress_tokens = _placeholder_ids(model) or None
    if sample:
        cfg.do_sample, cfg.temperature, cfg.top_p = True, options.temperature, options.top_p
        cfg.top_k = options.top_k or None
        cfg.repetition_penalty = 1.0
    else:  # evaluation decodes as `geocot ask` does: greedy, the model's repetition penalty
        cfg.do_sample, cfg.temperature, cfg.top_p, cfg.top_k = False, None, None, None
        cfg.repetition_penalty = eval_penalty
    return cfg


def _generate(accelerator: Any, model: Any, processor: Any, images: list[Any], prompts: list[str],
              options: GRPOOptions, *, sample: bool, eval_penalty: float) -> tuple[dict[str, Any], Any]:
    """Prompt inputs (left-padded) and the generated token ids (rows x new tokens)."""
    import torch

    unwrapped = accelerator.unwrap_model(model)
    inputs = {k: v.to(accelerator.device) for k, v in encode_prompts(processor, images, prompts).items()}
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(unwrapped.dtype)
    was_training = unwrapped.training
    unwrapped.eval()
    cfg = _generation_config(unwrapped, options, processor.tokenizer.pad_token_id, sample=sample,
                             eval_penalty=eval_penalty)
    with torch.no_grad(), accelerator.autocast():
        seqs = unwrapped.generate(**inputs, generation_config=cfg)
    if was_training:
        unwrapped.train()
    return inputs, seqs[:, inputs["input_ids"].shape[1]:]


def train_grpo(
    options: GRPOOptions,
    *,
    reward_funcs: Sequence[WeightedReward | Callable[..., list]] | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Run GRPO on ``options.data`` from ``options.model``; the model is saved in ``options.out``.

    reward_funcs: the rewards (default: :func:`~geocot_cli.train.rewards.default_rewards` of
    ``options``); plain functions get weight 1.
    """
    import torch
    from accelerate.utils import set_seed

    from ..backends.hf import decode_completions

    convention = model_convention(options)
    eval_penalty = model_repetition_penalty(options.model)  # a bad geocot.json fails before training
    data = load_training_samples(options.data, need_trace=False)  # every sample checked before loading
    if options.eval_data:
        train, held = data, load_training_samples(options.eval_data, need_trace=False)
    else:
        train, held = split_holdout(data, options.eval_fraction, options.seed)
    resume_path = find_checkpoint(options.resume, options.out) if options.resume else None
    out = prepare_output(options)

    accelerator = make_accelerator(options)
    main, world, rank = accelerator.is_main_process, accelerator.num_processes, accelerator.process_index
    per_epoch = steps_per_epoch(len(train), batch_size=options.batch_size, accum=1, world=world)
    total = options.max_steps or options.epochs * per_epoch
    if resume_path is not None:
        check_resumable(read_trainer_state(resume_path), options, n_train=len(train), world=world)
    rewards = _as_rewards(reward_funcs, options, train)

    set_seed(options.seed)
    model, processor = load_model(options.model, options, device=model_device(accelerator))
    ref = None
    if options.beta > 0 and not options.lora:
        ref, _ = load_model(options.ref_model or options.model, options, device=accelerator.device, trainable=False)
    model = accelerator.prepare(model)
    optimizer = accelerator.prepare(build_optimizer(model, options))
    scheduler = build_scheduler(optimizer, options, total * options.num_iterations)
    accelerator.register_for_checkpointing(scheduler)
    state = TrainState()
    if resume_path is not None:
        load_checkpoint(accelerator, resume_path, state)
    write_recipe(out, options, main)
    log = RunLog(out, keep_until=state.global_step if resume_path else None, enabled=main)
    completions_log = None
    if options.log_completions:
        completions_log = RunLog(out, keep_until=state.global_step if resume_path else None, enabled=main,
                                 name=COMPLETIONS_NAME, hold=False)
    tokenizer = processor.tokenizer
    eos_ids = _eos_ids(accelerator.unwrap_model(model), tokenizer)

    def run_rollout(samples: list[Any], *, sample: bool) -> tuple[dict[str, Any], Any, Rollout, float]:
        k = options.num_generations if sample else 1
        images = [load_image(Path(s.image)) for s in samples]
        prompts = [sample_prompt(s, train.classify_classes) for s in samples]
        rep_images = [im for im in images for _ in range(k)]
        rep_prompts = [p for p in prompts for _ in range(k)]
        timer = Timer()
        inputs, completion_ids = _generate(accelerator, model, processor, rep_images, rep_prompts, options,
                                           sample=sample, eval_penalty=eval_penalty)
        gen_time = timer.lap()
        texts = decode_completions(tokenizer, completion_ids.tolist(), eos_ids)
        columns = ground_truth_columns(samples, [im.size for im in images], convention, repeat=k)
        return inputs, completion_ids, score_rollout(rewards, texts, rep_prompts, columns), gen_time

    def evaluate() -> dict[str, float] | None:
        if held is None:
            return None
        mine = list(held.samples)[rank::world]
        totals: dict[str, list[float]] = defaultdict(list)
        for lo in range(0, len(mine), options.batch_size * options.num_generations):
            _, _, ro, _ = run_rollout(mine[lo:lo + options.batch_size * options.num_generations], sample=False)
            for t, r in zip(ro.tasks, ro.total):
                totals[t].append(r)
        from accelerate.utils import gather_object

        merged: dict[str, list[float]] = defaultdict(list)
        for part in gather_object([dict(totals)]):
            for t, v in part.items():
                merged[t].extend(v)
        every = [r for v in merged.values() for r in v]
        rec = {"eval_reward": sum(every) / len(every) if every else float("nan")}
        rec.update({f"eval_reward_task/{t}": sum(v) / len(v) for t, v in sorted(merged.items())})
        return rec

    timer = Timer()
    while state.global_step < total:
        plan = epoch_plan(len(train), batch_size=options.batch_size, accum=1, seed=options.seed,
                          epoch=state.epoch, world=world, rank=rank)
        for step in plan[state.step_in_epoch:]:
            samples = [train.samples[i] for i in step[0]]
            inputs, completion_ids, rollout, gen_time = run_rollout(samples, sample=True)
            advantages = group_advantages(rollout.total, options.num_generations, scale=options.scale_rewards)
            record = _grpo_update(accelerator, model, ref, optimizer, scheduler, options, inputs, completion_ids,
                                  rollout, advantages, eos_ids)
            epoch_at = state.epoch + (state.step_in_epoch + 1) / len(plan)
            state.advance(len(plan))
            if completions_log is not None:
                logged = completion_rows(state.global_step, samples, rollout, advantages.tolist(),
                                         options.num_generations, first_prompt=rank * options.batch_size)
                if world > 1:
                    from accelerate.utils import gather_object

                    logged = gather_object(logged)
                completions_log.write_many(logged)
            rows = completion_ids.shape[0]
            record = {"step": state.global_step, "epoch": round(epoch_at, 4), **record,
                      "gen_time": gen_time, "completions_per_s": rows * world / gen_time if gen_time else None,
                      "step_time": timer.lap()}
            if end_step(options=options, state=state, total=total, record=record, log=log, progress=progress,
                        main=main, evaluate=evaluate,
                        checkpoint=lambda: save_checkpoint(accelerator, out, state, options, n_train=len(train))):
                break

    final: dict[str, Any] = {"step": state.global_step, "final": True, **(evaluate() or {})}
    if options.save_every and state.global_step % options.save_every == 0:
        save_checkpoint(accelerator, out, state, options, n_train=len(train))
    log.write(final)
    info = {"stage": "grpo", "base_model": options.model, "data": str(options.data), "steps": state.global_step,
            "recipe": "recipe.yaml", "rewards": {r.name: r.weight for r in rewards}}
    del ref
    save_final(accelerator, model, processor, out, options, convention=convention, info=info)
    return TrainResult(out=out, steps=state.global_step, history=tuple(log.records), resumed_from=resume_path)


def _grpo_update(accelerator: Any, model: Any, ref: Any, optimizer: Any, scheduler: Any, options: GRPOOptions,
                 prompt_inputs: dict[str, Any], completion_ids: Any, rollout: Rollout, advantages: Any,
                 eos_ids: Sequence[int]) -> dict[str, Any]:
    """Old and reference log-probabilities, then ``num_iterations`` clipped-surrogate updates with
    ``advantages`` (:func:`~geocot_cli.train.advantages.group_advantages` of the rollout's rewards)."""
    import contextlib

    import torch

    device = accelerator.device
    k = options.num_generations
    rewards = torch.tensor(rollout.total, dtype=torch.float32, device=device)
    advantages = advantages.to(device)
    mask = _completion_mask(completion_ids, eos_ids)
    rows = completion_ids.shape[0]
    extra = {"mm_token_type_ids": 0, "token_type_ids": 0}
    inputs = dict(prompt_inputs)
    inputs["input_ids"] = torch.cat([prompt_inputs["input_ids"], completion_ids], dim=1)
    inputs["attention_mask"] = torch.cat([prompt_inputs["attention_mask"], mask], dim=1)
    for key, fill in extra.items():
        if key in prompt_inputs:
            inputs[key] = torch.cat([prompt_inputs[key], torch.full_like(completion_ids, fill)], dim=1)
    mb = options.mini_batch_size or rows
    chunks = [(lo, min(rows, lo + mb)) for lo in range(0, rows, mb)]

    def logprobs(m: Any, lo: int, hi: int) -> torch.Tensor:
        return token_logprobs(m, _select(inputs, lo, hi), completion_ids[lo:hi], temperature=options.temperature)

    old = ref_lp = None
    with torch.no_grad():
        if options.num_iterations > 1:
            old = torch.cat([logprobs(model, lo, hi) for lo, hi in chunks])
        if options.beta > 0:
            if ref is not None:
                ref_lp = torch.cat([logprobs(ref, lo, hi) for lo, hi in chunks])
            else:  # LoRA: the reference is the base model, adapters off
                unwrapped = accelerator.unwrap_model(model)
                with unwrapped.disable_adapter():
                    ref_lp = torch.cat([logprobs(unwrapped, lo, hi) for lo, hi in chunks])

    tokens_total = float(mask.sum().clamp(min=1))
    sums: dict[str, float] = defaultdict(float)
    grad_norm = None
    model.train()
    for _ in range(options.num_iterations):
        for c, (lo, hi) in enumerate(chunks):
            last = c == len(chunks) - 1
            with contextlib.nullcontext() if last else accelerator.no_sync(model):
                lp = logprobs(model, lo, hi)
                loss, st = grpo_loss(
                    lp, old[lo:hi] if old is not None else lp.detach(), advantages[lo:hi], mask[lo:hi],
                    ref_logp=ref_lp[lo:hi] if ref_lp is not None else None, beta=options.beta,
                    epsilon=options.epsilon, epsilon_high=options.epsilon_high, loss_type=options.loss_type)
                share = (hi - lo) / rows if options.loss_type == "grpo" else float(mask[lo:hi].sum()) / tokens_total
                accelerator.backward(loss * share)
            sums["loss"] += float(loss.detach()) * share
            sums["kl"] += st.kl * st.tokens
            sums["clip_fraction"] += st.clip_fraction * st.tokens
            sums["tokens"] += st.tokens
        if options.max_grad_norm > 0:
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), options.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    grouped = rewards.view(-1, k)
    lengths = mask.sum(dim=1).float()
    record: dict[str, Any] = {
        "loss": sums["loss"] / options.num_iterations,
        "reward": float(rewards.mean()),
        "reward_std": float(grouped.std(dim=1).mean()),
        "zero_std_groups": float((grouped.std(dim=1) == 0).float().mean()),
        "kl": sums["kl"] / max(sums["tokens"], 1.0),
        "clip_fraction": sums["clip_fraction"] / max(sums["tokens"], 1.0),
        "completion_length": float(lengths.mean()),
        "completion_length_max": int(lengths.max()),
        "lr": scheduler.get_last_lr()[0],
    }
    if grad_norm is not None:
        record["grad_norm"] = float(grad_norm)
    for name, values in rollout.per_func.items():
        vals = [float(v) for v in values if v is not None]
        if vals:
            record[f"reward/{name}"] = sum(vals) / len(vals)
    by_task: dict[str, list[float]] = defaultdict(list)
    for t, r in zip(rollout.tasks, rollout.total):
        by_task[t].append(r)
    for t, vals in sorted(by_task.items()):
        record[f"reward_task/{t}"] = sum(vals) / len(vals)
    if accelerator.num_processes > 1:
        from .engine import gather_mean

        for key in ("loss", "reward", "reward_std", "kl", "clip_fraction", "completion_length"):
            record[key] = gather_mean(accelerator, record[key])
    return record
