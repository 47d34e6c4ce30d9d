"""Group-normalised advantages and the GRPO loss, against hand-worked values."""

from __future__ import annotations

import math

import pytest
import torch

from geocot_cli.train.advantages import group_advantages
from geocot_cli.train.losses import grpo_loss, k3_kl


@pytest.mark.parametrize("rewards, k, scale, expected", [
    # mean 0.5, sample std sqrt(1/3): +-0.5 / 0.57735 = +-0.8660
    ([1.0, 0.0, 0.0, 1.0], 4, True, [0.8660, -0.8660, -0.8660, 0.8660]),
    # two groups of two: each (1, 0) -> +-0.5 / 0.7071 = +-0.7071; groups do not mix
    ([1.0, 0.0, 5.0, 4.0], 2, True, [0.7071, -0.7071, 0.7071, -0.7071]),
    # all equal: no signal
    ([0.3, 0.3, 0.3], 3, True, [0.0, 0.0, 0.0]),
    # scale=False: R - mean only
    ([1.0, 0.0, 5.0, 4.0], 2, False, [0.5, -0.5, 0.5, -0.5]),
])
def test_group_advantages(rewards, k, scale, expected):
    got = group_advantages(rewards, k, scale=scale, eps=0.0 if scale and len(set(rewards)) > 1 else 1e-4)
    assert got.tolist() == pytest.approx(expected, abs=1e-4)


def test_group_advantages_rejects_broken_groups():
    with pytest.raises(ValueError, match="groups of 3"):
        group_advantages([1.0, 2.0, 3.0, 4.0], 3)


def test_k3_kl_is_zero_at_the_reference_and_positive_elsewhere():
    logp = torch.tensor([0.0, -1.0, -2.0])
    assert k3_kl(logp, logp).tolist() == [0.0, 0.0, 0.0]
    # ref - logp = log 2: 2 - log 2 - 1
    assert float(k3_kl(torch.tensor([0.0]), torch.tensor([math.log(2.0)]))) == pytest.approx(1 - math.log(2.0))
    assert float(k3_kl(torch.tensor([0.0]), torch.tensor([-3.0]))) > 0


def test_first_update_is_the_policy_gradient():
    # ratio 1: loss = -mean_i(A_i); d loss / d logp_it = -A_i / (T_i * rows)
    logp = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv = torch.tensor([1.0, -2.0])
    loss, stats = grpo_loss(logp, logp.detach(), adv, mask, beta=0.0)
    assert float(loss.detach()) == pytest.approx(-(1.0 - 2.0) / 2)
    loss.backward()
    assert logp.grad.flatten().tolist() == pytest.approx([-1 / 6] * 3 + [1 / 2, 1 / 2, 0.0])
    assert stats.clip_fraction == 0.0 and stats.ratio == pytest.approx(1.0) and stats.tokens == 5


def test_token_loss_weights_every_token_equally():
    logp = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    loss, _ = grpo_loss(logp, logp.detach(), torch.tensor([1.0, -1.0]), mask, beta=0.0, loss_type="token")
    assert float(loss.detach()) == pytest.approx(-(3 * 1.0 - 1.0) / 4)


def test_clipping_stops_the_gradient_beyond_the_trust_region():
    old = torch.zeros(1, 2)
    # token 0: ratio e^0.5 = 1.65 > 1.2 with A > 0 -> clipped, no gradient; token 1: ratio 1
    logp = torch.tensor([[0.5, 0.0]], requires_grad=True)
    loss, stats = grpo_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 2), beta=0.0, epsilon=0.2)
    loss.backward()
    assert logp.grad[0, 0] == 0.0 and logp.grad[0, 1] != 0.0
    assert stats.clip_fraction == pytest.approx(0.5)
    # with A < 0 the same ratio is not clipped (the min keeps the unclipped, worse term)
    logp2 = torch.tensor([[0.5, 0.0]], requires_grad=True)
    _, stats2 = grpo_loss(logp2, old, torch.tensor([-1.0]), torch.ones(1, 2), beta=0.0, epsilon=0.2)
    assert stats2.clip_fraction == 0.0


def test_kl_term_adds_beta_times_k3():
    logp = torch.zeros(1, 2, requires_grad=True)
    ref = torch.full((1, 2), math.log(2.0))
    loss, stats = grpo_loss(logp, logp.detach(), torch.tensor([0.0]), torch.ones(1, 2), ref_logp=ref, beta=0.1)
    assert float(loss.detach()) == pytest.approx(0.1 * (1 - math.log(2.0)))
    assert stats.kl == pytest.approx(1 - math.log(2.0))
