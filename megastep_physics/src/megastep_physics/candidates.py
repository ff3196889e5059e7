"""The first wall each agent meets along its move, among the walls :func:`megastep_core.walls.walls_near` finds.

Agents are handled flat here: ``N = E * A`` agents, each with its env's geometry.
"""
from __future__ import annotations

import torch

from megastep_core.walls import REACH_SLACK, WallGroup, walls_near

from .sweep import INF, wall_stop_times

__all__ = ["REACH_SLACK", "WallGroup", "candidate_walls", "first_wall_contact"]

candidate_walls = walls_near
"""The walls every agent must test: :func:`megastep_core.walls.walls_near`."""


def first_wall_contact(
    groups: list[WallGroup], positions: torch.Tensor, moves: torch.Tensor, stop_radius: float, hit_radius: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each agent's earliest wall stop along a straight move.

    :param positions: ``(N, 2)`` metres.
    :param moves: ``(N, 2)`` metres.
    :returns: ``(N,)`` stop time in [0, 1] or inf, and ``(N,)`` int64 index into ``WallTable.walls``
        of the wall that stops it (-1 where none does).
    """
    times = positions.new_full((len(positions),), INF)
    walls = torch.full((len(positions),), -1, dtype=torch.long, device=positions.device)
    for group in groups:
        p = positions if group.agents is None else positions[group.agents]
        d = moves if group.agents is None else moves[group.agents]
        t = wall_stop_times(
            p[:, 0:1], p[:, 1:2], d[:, 0:1], d[:, 1:2], group.ax, group.ay, group.ux, group.uy, group.length,
            stop_radius, hit_radius,
        )
        time, k = t.masked_fill_(group.index < 0, INF).min(-1)
        wall = group.index.gather(1, k[:, None])[:, 0].masked_fill_(~(time <= 1), -1)
        if group.agents is None:
            return time, wall
        times[group.agents] = time
        walls[group.agents] = wall
    return times, walls
