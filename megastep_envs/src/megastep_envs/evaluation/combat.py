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

from ..rewards import centre_targets
from .policies import Sides


def measure_deathmatch(env, sides: Sides, steps: int) -> dict[str, float]:
    """Runs two sides on a fresh Deathmatch env for ``steps`` steps.

    :param env: a :class:`~megastep_envs.deathmatch.Deathmatch` whose episodes outlast ``steps`` (its render
        is then the one each step's hits were counted in).
    :param sides: the two policies.
    :returns: per agent of the first side and per 1,000 steps: ``hits_given`` to the other side,
        ``hits_taken`` from it, ``friendly_hits`` on its own side and ``deaths``; ``hit_ratio``, hits given per
        hit taken; ``opponent_hits_given``, per agent of the second side; ``win_rate`` of the first side over
        envs.
    """
    if len(sides.policies) != 2:
        raise ValueError(f"sides must hold two policies, got {len(sides.policies)}")
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    env.reset()
    owners = sides.owners(env.n_agents, env.device)
    given = torch.zeros(env.n_envs, env.n_agents, device=env.device)  # hits on the other side, by shooter
    taken = torch.zeros_like(given)  # hits from the other side, by target
    friendly = torch.zeros_like(given)  # hits on one's own side, by shooter
    agents = torch.arange(env.n_agents, device=env.device)
    for t in range(1, int(steps) + 1):
        step = env.step(sides(env))
        if bool(step.info["_episode"].any()):
            raise ValueError(f"an episode ended at step {t} of {steps}: make the env's lifespan longer")
        targets = centre_targets(env.world, env.last_render)  # (E, A): whom each agent hits, or -1
        hit = targets >= 0
        across = hit & (owners[targets.clamp_min(0)] != owners)
        given += across
        friendly += hit & ~across
        taken += ((targets[:, :, None] == agents) & across[:, :, None]).sum(1)
    ours = owners == 0
    per_agent = 1000.0 / (int(steps) * env.n_envs * int(ours.sum()))
    theirs_per_agent = 1000.0 / (int(steps) * env.n_envs * int((~ours).sum()))
    ours_given, theirs_given = given[:, ours].sum(-1), given[:, ~ours].sum(-1)  # (E,) per side
    wins = (ours_given > theirs_given).float() + 0.5 * (ours_given == theirs_given).float()
    hits_given = float(ours_given.sum()) * per_agent
    hits_taken = float(taken[:, ours].sum()) * per_agent
    return {
        "hits_given": hits_given,
        "hits_taken": hits_taken,
        # no hit taken: infinitely better where any was given, undefined where none was
        "hit_ratio": hits_given / hits_taken if hits_taken > 0 else float("inf") if hits_given > 0 else math.nan,
        "opponent_hits_given": float(theirs_given.sum()) * theirs_per_agent,
        "friendly_hits": float(friendly[:, ours].sum()) * per_agent,
        "win_rate": float(wins.mean()),
        "deaths": float(env.deaths[:, ours].sum()) * per_agent,
        "episodes": float(env.n_envs),
    }
