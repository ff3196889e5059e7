"""Random episode lengths, so that thousands of envs do not all reset on the same step.

If every env of a batch started together and lived a fixed number of steps,
they would all reset on the same step, and the learner would see a batch made
entirely of first steps, then one made entirely of last steps. Drawing each
episode's length from a range spreads the resets out.
"""
from __future__ import annotations

import math

import torch

from megastep_core.random import CounterRandom


def check_range(name: str, low, high) -> tuple[int, int]:
    """``(low, high)`` as ints with ``1 <= low <= high``, or a ValueError naming ``name``."""
    try:
        low_f, high_f = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of step counts (low, high), got {(low, high)!r}") from None
    if not (math.isfinite(low_f) and math.isfinite(high_f)) or low_f != int(low_f) or high_f != int(high_f):
        raise ValueError(f"{name} must be whole numbers of steps, got {(low, high)!r}")
    if not 1 <= low_f <= high_f:
        raise ValueError(f"{name} must satisfy 1 <= low <= high steps, got {(low, high)!r}")
    return int(low_f), int(high_f)


class Lifespans:
    """Each env's episode length limit, drawn uniformly from ``[low, high]`` steps at every reset.

    The draws are counter-based (:class:`~megastep_core.random.CounterRandom`): the limit of an env's
    ``k``-th episode is a hash of the seed, the env and ``k``, so that the episode kernel of
    :class:`~megastep_envs.step.episodes.Episodes` draws it itself, with no torch generator for a CUDA graph
    to refill on every step.

    :param n_envs: ``E``.
    :param low: shortest episode, in steps.
    :param high: longest episode, in steps.
    :param device: where ``limits`` lives.
    :param seed: for reproducible draws.
    :ivar limits: ``(E,)`` int64, the steps the current episode of each env may last.
    :ivar random: the envs' counters of limits drawn.
    """

    def __init__(self, n_envs: int, low: int, high: int, device="cpu", seed: int = 0):
        self.low, self.high = check_range("lifespan", low, high)
        self.random = CounterRandom(seed, "lifespan", n_envs, device)
        self.limits = torch.zeros(n_envs, dtype=torch.int64, device=device)
        self.reset(torch.ones(n_envs, dtype=torch.bool, device=device))

    def reset(self, mask: torch.Tensor) -> None:
        """Draws new limits for the envs where ``mask`` (``(E,)`` bool) is True, without a host sync."""
        span = self.high - self.low + 1
        # float32 as the kernel computes it; below span, though u * span may round up to it
        drawn = (self.random.uniforms(1, mask)[:, 0] * span).long().clamp_max_(span - 1) + self.low
        torch.where(mask, drawn, self.limits, out=self.limits)

    def expired(self, lengths: torch.Tensor) -> torch.Tensor:
        """``(E,)`` bool: True where an episode of ``lengths`` steps (``(E,)`` int) has reached its limit."""
        return lengths >= self.limits
