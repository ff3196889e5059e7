"""Independent checks of physics steps, in float64: crossings, penetrations, overlaps.

Written apart from the physics code, so that a shared mistake cannot hide. A
step's motion is checked leg by leg: the straight move from start to end for
the stopping physics, and each straight stretch of the recorded path for the
sliding ones (whose start-to-end chord may pass through a wall the agent went
around). Runs on the device of the scenery, in chunks of envs.
"""
from __future__ import annotations

import torch

from megastep_core import Scenery

CHUNK_PAIRS = 1 << 24
"""(leg, wall) pairs looked at at once."""


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _point_segment_distance(p, a, b):
    d = b - a
    along = (((p - a) * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-300)).clamp(0, 1)
    return torch.linalg.vector_norm(p - (a + along[..., None] * d), dim=-1)


def legs_of(before: torch.Tensor, after: torch.Tensor, paths: torch.Tensor | None = None) -> torch.Tensor:
    """``(E, A, L, 2, 2)`` float64: the straight legs each agent moved along.

    :param paths: ``(E, A, P, 2)`` corners of each agent's path, or None for a straight move.
    :raises AssertionError: a path that does not run from ``before`` to ``after``.
    """
    before, after = before.double(), after.double()
    if paths is None:
        return torch.stack([before, after], -2)[:, :, None]
    paths = paths.double()
    assert (paths[:, :, 0] - before).abs().max() <= 1e-6, "a recorded path does not start where the agent was"
    assert (paths[:, :, -1] - after).abs().max() <= 1e-6, "a recorded path does not end where the agent is"
    return torch.stack([paths[:, :, :-1], paths[:, :, 1:]], -2)


class Checker:
    """Counts what must never happen, for the static walls of one scenery."""

    def __init__(self, scenery: Scenery):
        lines = scenery.lines
        walls = lines.widths - scenery.n_body_lines
        most = int(walls.max())
        slot = torch.arange(most, device=scenery.device)
        self.valid = slot < walls[:, None]  # (E, W)
        index = torch.where(self.valid, lines.starts[:, None] + scenery.n_body_lines + slot, 0)
        self.walls = lines.vals[index].double()  # (E, W, 2, 2)
        self.radius = scenery.agent_radius

    def _pairs(self, legs: torch.Tensor):
        """Every (leg, wall) pair whose bounding boxes come within twice the radius, in chunks of envs.

        Yields the flat agent index of each pair, its leg's ends and its wall's ends.
        """
        n_envs, n_agents, n_legs = legs.shape[:3]
        reach = 2 * self.radius
        chunk = max(1, CHUNK_PAIRS // (n_agents * n_legs * self.walls.shape[1]))
        for first in range(0, n_envs, chunk):
            part = legs[first : first + chunk]
            walls, valid = self.walls[first : first + chunk], self.valid[first : first + chunk]
            leg_low, leg_high = part.amin(-2), part.amax(-2)  # (e, A, L, 2)
            wall_low, wall_high = walls.amin(-2), walls.amax(-2)  # (e, W, 2)
            near = valid[:, None, None, :] & (
                (leg_low[:, :, :, None] - reach <= wall_high[:, None, None])
                & (leg_high[:, :, :, None] + reach >= wall_low[:, None, None])
            ).all(-1)  # (e, A, L, W)
            env, agent, leg, wall = torch.nonzero(near, as_tuple=True)
            yield (env + first) * n_agents + agent, part[env, agent, leg], walls[env, wall]

    def crossings(self, legs: torch.Tensor) -> int:
        """How many agents' centres crossed a wall on some leg."""
        crossed = torch.zeros(legs.shape[0] * legs.shape[1], dtype=torch.bool, device=legs.device)
        for agent, leg, wall in self._pairs(legs):
            p0, p1, w0, w1 = leg[:, 0], leg[:, 1], wall[:, 0], wall[:, 1]
            r, s = p1 - p0, w1 - w0
            denominator = _cross(r, s)
            safe = torch.where(denominator == 0, 1.0, denominator)
            t = _cross(w0 - p0, s) / safe
            u = _cross(w0 - p0, r) / safe
            meets = (denominator != 0) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
            crossed[agent[meets]] = True
        return int(crossed.sum())

    def closest(self, legs: torch.Tensor) -> torch.Tensor:
        """``(E, A)`` metres: how close each agent's centre came to a wall along its legs.

        Exact up to twice the agent radius, inf beyond; for legs that do not cross walls.
        """
        out = torch.full((legs.shape[0] * legs.shape[1],), torch.inf, dtype=torch.float64, device=legs.device)
        for agent, leg, wall in self._pairs(legs):
            p0, p1, w0, w1 = leg[:, 0], leg[:, 1], wall[:, 0], wall[:, 1]
            # two segments that do not cross are closest at an end point of one of them
            distance = torch.stack([
                _point_segment_distance(p0, w0, w1), _point_segment_distance(p1, w0, w1),
                _point_segment_distance(w0, p0, p1), _point_segment_distance(w1, p0, p1),
            ]).amin(0)
            out.scatter_reduce_(0, agent, distance, "amin")
        return out.reshape(legs.shape[:2])

    def penetrations(self, legs: torch.Tensor) -> int:
        """How many agents came closer than their radius to a wall along their legs."""
        return int((self.closest(legs) < self.radius).sum())

    def overlaps(self, positions: torch.Tensor) -> int:
        """How many pairs of agents end closer than twice the radius, centre to centre."""
        return int((agent_gaps(positions) < 2 * self.radius).sum()) // 2


def agent_gaps(positions: torch.Tensor) -> torch.Tensor:
    """``(E, A, A)`` metres between agents' centres, inf on the diagonal."""
    p = positions.double()
    gaps = torch.linalg.vector_norm(p[:, :, None] - p[:, None, :], dim=-1)
    return gaps + torch.diag(torch.full((p.shape[1],), torch.inf, dtype=torch.float64, device=p.device))


def poison(physics) -> None:
    """Makes a CUDA physics start its outputs as NaN, so that any element its kernel fails to write shows."""
    physics._output = lambda *shape, device: torch.full(shape, torch.nan, device=device)
