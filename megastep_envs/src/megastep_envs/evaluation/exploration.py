"""Measuring a policy on Explorer: the fraction of its home's wall it has seen after fixed numbers of steps.

Coverage is the share of the home's wall texels (5 cm stretches of wall)
seen in the episode. The ``new_texels`` reward pays each texel once, as a
fraction of the image's pixels, so an episode's return so far gives its
coverage without reading the texels back: ``coverage = return * pixels /
scale / wall texels`` (what training logs as ``charts/coverage``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ..tasks.rewards import NewTexels
from .baselines import Policy


def coverage(env) -> torch.Tensor:
    """``(E,)``: the fraction of each env's wall texels seen so far this episode (its first agent's share)."""
    if not isinstance(env.reward, NewTexels) or env.reward.stamps is None:
        raise ValueError(f"coverage is read from the new_texels reward, and {type(env).__name__}'s reward is "
                         f"{type(env.reward).__name__}")
    pixels = sum(camera.pixels for camera in env.world.cameras)
    return env.returns.sum(-1) * pixels / env.reward.scale / env.reward.env_texels


def measure_explorer(env, policy: Policy, step_counts: Sequence[int]) -> dict[str, float]:
    """Runs ``policy`` on a fresh Explorer env for ``max(step_counts)`` steps, one episode per env.

    :param env: an :class:`~megastep_envs.tasks.explorer.Explorer` whose episodes outlast ``max(step_counts)`` steps
        (lifespan and patience beyond it: :func:`~.evaluate.env_for` makes it so).
    :param step_counts: the steps after which to read the coverage, ascending.
    :returns: ``coverage@T`` for each ``T`` of ``step_counts``, the mean over envs; ``return``, the mean return
        after the last.
    """
    counts = sorted(int(t) for t in step_counts)
    if not counts or counts[0] < 1:
        raise ValueError(f"step_counts must be positive numbers of steps, got {list(step_counts)}")
    env.reset()
    report: dict[str, float] = {}
    for t in range(1, counts[-1] + 1):
        step = env.step(policy(env))
        if bool(step.info["_episode"].any()):
            raise ValueError(f"an episode ended at step {t}, before the last step count {counts[-1]}: make the "
                             f"env's lifespan and patience longer")
        if t in counts:
            report[f"coverage@{t}"] = float(coverage(env).mean())
    report["return"] = float(env.returns.sum(-1).mean())
    report["episodes"] = float(env.n_envs)
    return report
