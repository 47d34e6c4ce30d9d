"""Group-normalised advantages: the heart of GRPO, as one pure function.

Each prompt gets ``k`` sampled completions (a group). A completion's advantage is how much better
its reward is than its group's mean, in units of the group's standard deviation:

    A_i = (R_i - mean(R_group)) / (std(R_group) + eps)

so no value network is needed. A group whose completions all score the same carries no signal
(every advantage is 0). ``std`` is the sample standard deviation (``n - 1``), as TRL computes it.
With ``scale=False`` the advantage is ``R_i - mean`` (no division; Dr. GRPO's variant).

>>> [round(a, 4) for a in group_advantages([1.0, 0.0, 0.0, 1.0, 0.5, 0.5], 3, eps=0.0).tolist()]
[1.1547, -0.5774, -0.5774, 1.1547, -0.5774, -0.5774]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["group_advantages"]


def group_advantages(
    rewards: torch.Tensor | Sequence[float], group_size: int, *, eps: float = 1e-4, scale: bool = True
) -> torch.Tensor:
    """``(R - mean) / (std + eps)`` within each run of ``group_size`` consecutive rewards.

    >>> group_advantages([2.0, 2.0], 2).tolist()
    [0.0, 0.0]
    """
    import torch

    r = torch.as_tensor(rewards, dtype=torch.float32)
    if group_size < 2 or r.numel() % group_size:
        raise ValueError(f"{r.numel()} rewards do not split into groups of {group_size} (need >= 2 per group)")
    groups = r.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (groups.std(dim=1, keepdim=True) + eps)
    return centred.reshape(-1)
