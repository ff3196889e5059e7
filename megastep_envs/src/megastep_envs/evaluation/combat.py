"""Measuring policies on Deathmatch: hits given and taken, and who wins head to head.

Two sides share every env's agents (:class:`~.policies.Sides`: the even agents
against the odd ones). A hit is a step an agent holds another at the centre
pixel of its view (the ``hits`` reward's rule, whatever reward the env pays).
Hits on the other side's agents are counted every step, per agent and per
1,000 steps so that runs of different lengths compare (hits on one's own side
apart). In each env the side that gave the other more hits wins it (a tie is
half a win each).
"""
from __future__ import annotations

import math

import torch

from ..tasks.common import centre_targets
from .policies import Sides


def play(env, act, sides: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Runs ``act`` on a fresh Deathmatch env for ``steps`` steps, counting hits between sides.

    :param act: ``act(env) -> (E, A)`` actions of every agent.
    :param sides: ``(E, A)`` int64, the side each agent plays for.
    :returns: ``(E, A)`` each: hits given to the other side (by shooter), taken from it (by target), and given to
        one's own side (by shooter).
    """
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    env.reset()
    given = torch.zeros(env.n_envs, env.n_agents, device=env.device)
    taken = torch.zeros_like(given)
    friendly = torch.zeros_like(given)
    agents = torch.arange(env.n_agents, device=env.device)
    for t in range(1, int(steps) + 1):
        step = env.step(act(env))
        if bool(step.info["_episode"].any()):
            raise ValueError(f"an episode ended at step {t} of {steps}: make the env's lifespan longer")
        targets = centre_targets(env.world, env.last_render)  # (E, A): whom each agent hits, or -1
        hit = targets >= 0
        across = hit & (sides.gather(1, targets.clamp_min(0)) != sides)
        given += across
        friendly += hit & ~across
        taken += ((targets[:, :, None] == agents) & across[:, :, None]).sum(1)
    return given, taken, friendly


def env_wins(given: torch.Tensor, sides: torch.Tensor) -> torch.Tensor:
    """``(E,)`` side 0's score in each env: 1 where it gave the other side more hits than it took, 0.5 a tie."""
    ours = (given * (sides == 0)).sum(-1)
    theirs = (given * (sides == 1)).sum(-1)
    return (ours > theirs).float() + 0.5 * (ours == theirs).float()


def measure_deathmatch(env, sides: Sides, steps: int) -> dict[str, float]:
    """Runs two sides on a fresh Deathmatch env for ``steps`` steps.

    :param env: a :class:`~megastep_envs.tasks.deathmatch.Deathmatch` whose episodes outlast ``steps`` (its render
        is then the one each step's hits were counted in).
    :param sides: the two policies.
    :returns: per agent of the first side and per 1,000 steps: ``hits_given`` to the other side,
        ``hits_taken`` from it, ``friendly_hits`` on its own side and ``deaths``; ``hit_ratio``, hits given per
        hit taken; ``opponent_hits_given``, per agent of the second side; ``win_rate`` of the first side over
        envs.
    """
    if len(sides.policies) != 2:
        raise ValueError(f"sides must hold two policies, got {len(sides.policies)}")
    owners = sides.owners(env.n_agents, env.device)
    given, taken, friendly = play(env, sides, owners.expand(env.n_envs, -1), steps)
    ours = owners == 0
    per_agent = 1000.0 / (int(steps) * env.n_envs * int(ours.sum()))
    theirs_per_agent = 1000.0 / (int(steps) * env.n_envs * int((~ours).sum()))
    hits_given = float(given[:, ours].sum()) * per_agent
    hits_taken = float(taken[:, ours].sum()) * per_agent
    return {
        "hits_given": hits_given,
        "hits_taken": hits_taken,
        # no hit taken: infinitely better where any was given, undefined where none was
        "hit_ratio": hits_given / hits_taken if hits_taken > 0 else float("inf") if hits_given > 0 else math.nan,
        "opponent_hits_given": float(given[:, ~ours].sum()) * theirs_per_agent,
        "friendly_hits": float(friendly[:, ours].sum()) * per_agent,
        "win_rate": float(env_wins(given, owners.expand(env.n_envs, -1)).mean()),
        "deaths": float(env.deaths[:, ours].sum()) * per_agent,
        "episodes": float(env.n_envs),
    }
