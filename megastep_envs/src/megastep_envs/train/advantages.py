"""Generalised advantage estimation (GAE, Schulman et al. 2016) over a whole rollout at once.

GAE is a backward recurrence over the ``T`` steps of a rollout::

    delta[t] = reward[t] + gamma * value[t + 1] * (1 - done[t]) - value[t]
    A[t]     = delta[t] + gamma * lambda * (1 - done[t]) * A[t + 1]

Run as written, it is ``T`` rounds of small element-wise kernels (:func:`gae_loop`, the
reference). Each step is an affine map ``A -> delta + c * A``, and composing
affine maps is associative, so :func:`gae` composes them by doubling: after
round ``k`` every step holds the composition of the ``2**k`` maps that follow
it, and ``log2(T)`` rounds of whole-rollout operations give every ``A[t]``.
The products of ``c`` it forms are at most 1, so nothing grows or cancels.
"""
from __future__ import annotations

import torch


def _deltas(rewards, values, dones, next_value, gamma):
    following = torch.cat([values[1:], next_value[None]])
    going_on = (~dones).to(values.dtype)
    return rewards + gamma * following * going_on - values, going_on


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and value targets of a rollout.

    :param rewards: ``(T, N)``, what each step paid.
    :param values: ``(T, N)``, the value estimates of the states the steps began in.
    :param dones: ``(T, N)`` bool, True where the episode ended after the step (nothing of it follows).
    :param next_value: ``(N,)``, the value of the state after the last step.
    :returns: advantages ``(T, N)`` and targets (advantages plus values) ``(T, N)``.
    """
    advantage, going_on = _deltas(rewards, values, dones, next_value, gamma)
    factor = gamma * lam * going_on  # A[t] = advantage[t] + factor[t] * A[t + 1], with A[T] = 0
    span = 1
    while span < len(advantage):
        # compose each step's map with the one span steps later; past the end there is nothing to add
        advantage = torch.cat([advantage[:-span] + factor[:-span] * advantage[span:], advantage[-span:]])
        factor = torch.cat([factor[:-span] * factor[span:], torch.zeros_like(factor[-span:])])
        span *= 2
    return advantage, advantage + values


def gae_loop(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor,
             gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`gae` one step at a time, as the recurrence is written: the reference it is tested against."""
    deltas, going_on = _deltas(rewards, values, dones, next_value, gamma)
    advantages = torch.zeros_like(deltas)
    running = torch.zeros_like(next_value)
    for t in reversed(range(len(deltas))):
        running = deltas[t] + gamma * lam * going_on[t] * running
        advantages[t] = running
    return advantages, advantages + values
