"""Measuring a policy on PointGoal: success rate and SPL over a fixed set of episodes.

Every env runs a fixed quota of episodes, and the measure is taken over
exactly those: counting whichever episodes happen to finish within some
number of steps would favour the short ones, which on PointGoal are the
successes (an episode ends early only by reaching its goal; see
:func:`measure_pointgoal`). The same seed gives every policy the same
episodes: the starts, goals and lifespans of an env's ``k``-th episode are
drawn from counters of that env alone (:mod:`megastep_core.random`), however
long its earlier episodes lasted.
"""
from __future__ import annotations

import math

import torch

from ..modules.occupancy import OccupancyGrid
from .baselines import Policy
from .spl import spl


class ShortestPaths:
    """The geodesic distance from each episode's start to its goal, remembered by ``(env, episode)`` so that
    several policies run on the same episodes compute each once.

    Uses the env's own distance fields where it holds them (``env.has_geodesic``); else builds a field for each
    new episode's goal (which waits for the device: fine between evaluation steps, not inside a training step).
    """

    def __init__(self):
        self.known: dict[tuple[int, int], float] = {}
        self._grid: OccupancyGrid | None = None
        self._grid_env = None

    def __call__(self, env, started: torch.Tensor, episode: torch.Tensor) -> torch.Tensor:
        """``(E,)`` metres from each agent to its goal, for the envs where ``started`` is True (their episode
        number ``episode`` ``(E,)`` just began); NaN elsewhere."""
        envs = started.nonzero()[:, 0].tolist()
        numbers = episode.tolist()
        missing = [e for e in envs if (e, numbers[e]) not in self.known]
        if missing:
            index = torch.tensor(missing, device=env.device)
            if getattr(env, "has_geodesic", False):
                fresh = env.geodesic_to_goal()[index, 0]
            else:
                if self._grid_env is not env:
                    clearance = getattr(env, "path_clearance", 0.0)
                    self._grid, self._grid_env = OccupancyGrid(env.world.geometries, env.device, clearance), env
                grid = self._grid
                fields = grid.geodesic_fields(env.goals[index, 0], index)
                ids = torch.zeros(env.n_envs, dtype=torch.int64, device=env.device)
                ids[index] = torch.arange(len(index), device=env.device)
                fresh = grid.geodesic_lookup(fields, ids, env.world.agents.positions, env.goals[:, 0])[index, 0]
            for e, value in zip(missing, fresh.tolist()):
                self.known[(e, numbers[e])] = value
        out = torch.full((env.n_envs,), math.nan)
        for e in envs:
            out[e] = self.known[(e, numbers[e])]
        return out


def measure_pointgoal(env, policy: Policy, quota: torch.Tensor, shortest: ShortestPaths | None = None
                      ) -> dict[str, float]:
    """Runs ``policy`` on a fresh PointGoal env until each env ``e`` has finished ``quota[e]`` episodes.

    :param env: a :class:`~megastep_envs.tasks.pointgoal.PointGoal`, not yet reset.
    :param quota: ``(E,)`` int, episodes to count per env (the first ones it plays).
    :param shortest: shared between policies run on the same episodes, to compute each shortest path once.
    :returns: ``episodes``; ``success_rate``; ``spl`` over the episodes whose goal can be reached (``unreachable``
        counts the others); the mean ``return``, ``length`` (steps) and ``travelled`` (metres) of the episodes.
    """
    shortest = ShortestPaths() if shortest is None else shortest
    quota = torch.as_tensor(quota, dtype=torch.int64)
    env.reset()
    episode = torch.zeros(env.n_envs, dtype=torch.int64)  # each env's current episode number
    start_distance = shortest(env, torch.ones(env.n_envs, dtype=torch.bool), episode)
    travelled = torch.zeros(env.n_envs)
    before = env.world.agents.positions[:, 0].cpu().clone()
    records: dict[str, list[float]] = {key: [] for key in ("success", "shortest", "travelled", "return", "length")}
    while bool((episode < quota).any()):
        step = env.step(policy(env))
        # where the agents stood when the step ended, before an ended episode's agent was spawned anew
        ended_at = env.final_positions[:, 0].cpu()
        travelled += (ended_at - before).norm(dim=-1)
        done = step.info["_episode"].cpu()
        counted = done & (episode < quota)
        if bool(counted.any()):
            records["success"] += step.terminated.cpu()[counted].float().tolist()
            records["shortest"] += start_distance[counted].tolist()
            records["travelled"] += travelled[counted].tolist()
            records["return"] += step.info["episode"]["r"].cpu()[counted].float().tolist()
            records["length"] += step.info["episode"]["l"].cpu()[counted].float().tolist()
        episode += done
        if bool(done.any()):
            travelled[done] = 0.0
            start_distance = torch.where(done, shortest(env, done & (episode < quota), episode), start_distance)
        before = env.world.agents.positions[:, 0].cpu().clone()
    columns = {key: torch.tensor(values) for key, values in records.items()}
    reachable = columns["shortest"].isfinite()
    mean = lambda values: float(values.mean()) if len(values) else math.nan
    return {
        "episodes": float(len(columns["success"])),
        "success_rate": mean(columns["success"]),
        "spl": spl(columns["success"][reachable], columns["shortest"][reachable], columns["travelled"][reachable])
        if bool(reachable.any()) else math.nan,
        "unreachable": float((~reachable).sum()),
        "return": mean(columns["return"]),
        "length": mean(columns["length"]),
        "travelled": mean(columns["travelled"]),
    }
