"""Which walls each agent must test this step, from the grid of :mod:`megastep_physics.walls`.

Agents are handled flat here: ``N = E * A`` agents, each with its env's geometry.
"""
from __future__ import annotations

import attrs
import torch

from .sweep import INF, wall_stop_times
from .walls import WallTable

CHUNK_ELEMENTS = 1 << 22
"""Agent-wall pairs examined at once; bounds the memory of the wall test at large batches."""

REACH_SLACK = 1e-4
"""Metres kept back from a cell list's reach, for rounding in locating an agent's cell."""


@attrs.define(eq=False)
class WallGroup:
    """Some agents and, for each, the walls it may touch.

    :ivar agents: ``(n,)`` int64 flat agent indices, or None for all ``N`` agents in order.
    :ivar index: ``(n, K)`` int64 indices into ``WallTable.walls``; -1 pads.
    :ivar ax, ay, ux, uy, length: ``(n, K)`` float32, those walls' numbers (see ``WallTable``).
    """

    agents: torch.Tensor | None
    index: torch.Tensor
    ax: torch.Tensor
    ay: torch.Tensor
    ux: torch.Tensor
    uy: torch.Tensor
    length: torch.Tensor

    @classmethod
    def gather(cls, walls: WallTable, agents: torch.Tensor | None, index: torch.Tensor) -> WallGroup:
        safe = index.clamp(min=0)
        data = walls.walls[safe]  # (n, K, 4)
        return cls(agents, index, data[..., 0], data[..., 1], data[..., 2], data[..., 3], walls.lengths[safe])


def candidate_walls(walls: WallTable, positions: torch.Tensor, geometry: torch.Tensor, reach: torch.Tensor):
    """The walls every agent must test: its grid cell's list, or all walls of its geometry.

    :param positions: ``(N, 2)`` metres, where each agent starts.
    :param geometry: ``(N,)`` int64, each agent's geometry index.
    :param reach: ``(N,)`` metres, how far from its start each agent may touch a wall.
    :returns: a list of :class:`WallGroup`, each agent in exactly one.
    """
    n = len(positions)
    device = positions.device
    if walls.has_grid:
        origin = walls.grid_origins[geometry]
        shape = walls.grid_shapes[geometry]
        ij = torch.floor((positions - origin) / walls.cell).long()
        inside = ((ij >= 0) & (ij < shape)).all(-1)
        near = reach <= walls.reach - REACH_SLACK
        cell = walls.grid_starts[geometry] + ij[:, 1].clamp(min=0) * shape[:, 0] + ij[:, 0].clamp(min=0)
        cell = cell.masked_fill_(~inside, 0)
        start = walls.cell_starts[cell]
        # outside the grid an agent is farther than the grid's reach from every wall: no candidates
        count = (walls.cell_starts[cell + 1] - start).masked_fill_(~(inside & near), 0)
        longest, n_far = torch.stack([count.max(), (~near).sum()]).tolist()
    else:
        near = torch.zeros(n, dtype=torch.bool, device=device)
        longest, n_far = 0, n

    groups = []
    if n_far < n:
        slot = torch.arange(max(longest, 1), device=device)
        entries = (start[:, None] + slot).clamp(max=len(walls.cell_walls) - 1)
        index = walls.cell_walls[entries].masked_fill_(slot >= count[:, None], -1)
        agents = None if n_far == 0 else torch.nonzero(near).flatten()
        groups += _chunks(walls, agents, index if agents is None else index[agents])
    if n_far > 0:
        agents = None if n_far == n else torch.nonzero(~near).flatten()
        own = geometry if agents is None else geometry[agents]
        slot = torch.arange(walls.max_walls, device=device)
        first, last = walls.geometry_starts[own], walls.geometry_starts[own + 1]
        index = first[:, None] + slot
        index = index.masked_fill_(index >= last[:, None], -1)
        groups += _chunks(walls, agents, index)
    return groups


def _chunks(walls: WallTable, agents: torch.Tensor | None, index: torch.Tensor) -> list[WallGroup]:
    size = max(1, CHUNK_ELEMENTS // index.shape[1])
    if len(index) <= size:
        return [WallGroup.gather(walls, agents, index)]
    if agents is None:
        agents = torch.arange(len(index), device=index.device)
    return [WallGroup.gather(walls, agents[i : i + size], index[i : i + size]) for i in range(0, len(index), size)]


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
