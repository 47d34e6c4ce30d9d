"""The GRPO objective as pure functions of per-token log-probabilities.

For completion token ``t`` of completion ``i`` with advantage ``A_i``, policy log-probability
``logp``, the log-probability ``old`` under the policy that sampled it and ``ref`` under the frozen
reference model:

- ratio ``r = exp(logp - old)``; clipped surrogate ``min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)``
  (PPO), to be maximised;
- KL to the reference, the k3 estimator ``exp(ref - logp) - (ref - logp) - 1`` (unbiased,
  always >= 0), weighted by ``beta``;
- the per-token loss ``-(surrogate) + beta * KL``, averaged over each completion's tokens and then
  over completions (``loss_type="grpo"``, the GRPO paper), or over all tokens at once (``"token"``).

>>> import torch
>>> round(float(k3_kl(torch.tensor([0.0]), torch.log(torch.tensor([2.0])))), 4)
0.3069
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["LossStats", "grpo_loss", "k3_kl", "token_logprobs"]

def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(policy || reference), k3 estimator: ``exp(ref - logp) - (ref - logp) - 1``."""
    d = ref_logp - logp
    return d.exp() - d - 1.0


@dataclass(frozen=True)
class LossStats:
    """Token-weighted means over a batch: ``kl``, ``clip_fraction`` (tokens whose ratio was clipped), ``ratio``."""

    kl: float
    clip_fraction: float
    ratio: float
    tokens: int


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logp: torch.Tensor | None = None,
    beta: float = 0.04,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    loss_type: str = "grpo",
) -> tuple[torch.Tensor, LossStats]:
    """The GRPO loss of a batch of completions (rows) and its statistics.

    ``logp``, ``old_logp``, ``ref_logp``, ``mask``: (rows, tokens); ``advantages``: (rows,).
    With ``logp == old_logp`` (the first update on fresh samples) the ratio is 1 and the gradient is
    the policy gradient ``-A * grad(logp)``.

    >>> import torch
    >>> lp = torch.zeros(2, 3, requires_grad=True)
    >>> loss, st = grpo_loss(lp, lp.detach(), torch.tensor([1.0, -1.0]), torch.ones(2, 3), beta=0.0)
    >>> float(loss.detach()), st.clip_fraction
    (0.0, 0.0)
    """
    import torch

    high = epsilon if epsilon_high is None else epsilon_high
    mask = mask.to(logp.dtype)
    ratio = torch.exp(logp - old_logp)
    a = advantages.to(logp.dtype).unsqueeze(1)
    unclipped = ratio * a
    clipped = torch.clamp(ratio, 1.0 - epsilon, 1.0 + high) * a
    per_token = -torch.min(unclipped, clipped)
    kl = None
    if ref_logp is not None and beta:
        kl = k3_kl(logp, ref_logp)
        per_token = per_token + beta * kl
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).mean()
    elif loss_type == "token":
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    else:
        raise ValueError(f"unknown loss_type {loss_type!r}; use grpo or token")
    with torch.no_grad():
        n = mask.sum().clamp(min=1.0)
        was_clipped = ((ratio < 1.0 - epsilon) & (a < 0)) | ((ratio > 1.0 + high) & (a > 0))
        stats = LossStats(
            kl=float((kl * mask).sum() / n) if kl is not None else 0.0,
            clip_fraction=float((was_clipped.to(mask.dtype) * mask).sum() / n),
            ratio=float((ratio * mask).sum() / n),
            tokens=int(mask.sum()),
        )
    return loss, stats


def token_logprobs(model: Any, inputs: dict[str, Any], completion_ids: torch.Tensor, *,
                   temperature: float = 1.0) -> torch.Tensor:
    """Log-probabilities (rows, C) of ``completion_ids`` (the last C tokens of ``inputs["input_ids"]``).

    Only the last ``C + 1`` positions are projected to the vocabulary (``logits_to_keep``), and the
    log-softmax is taken one row at a time, so a 150k-token vocabulary does not blow up memory.
    Logits are divided by ``temperature``, the distribution the completions were sampled from.
    """
    import torch

    c = completion_ids.shape[1]
    logits = model(**inputs, logits_to_keep=c + 1).logits[:, :-1, :]
    out = []
    for row_logits, row_ids in zip(logits, completion_ids):
        row = row_logits.float() / temperature
        out.append(row.gather(-1, row_ids.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(row, dim=-1))
    return torch.stack(out)
