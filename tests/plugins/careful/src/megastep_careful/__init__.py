"""The `careful` physics: an agent takes its whole move or, where the move would bring it near a wall or
another agent, stays where it is. Written against megastep-core alone (docs/tutorials/physics_plugin.rst)."""
import weakref

import torch

from megastep_core import BackendInfo, hookimpl
from megastep_core.walls import WallCache

MARGIN = 1e-3
"""Metres kept between an agent and any wall or other agent."""


def segment_distance(p, d, a, u, length):
    """Metres from the move ``p -> p + d`` (``(..., 2)``) to the wall that starts at ``a`` and runs ``length``
    metres along the unit vector ``u``: the least of the four end-point distances, or 0 where they cross."""
    def point_to_segment(q, start, direction, span):
        along = ((q - start) * direction).sum(-1).clamp(min=0).minimum(span)
        return torch.linalg.vector_norm(q - start - along[..., None] * direction, dim=-1)

    move_length = torch.linalg.vector_norm(d, dim=-1)
    move_direction = d / move_length.clamp(min=1e-12)[..., None]
    b = a + length[..., None] * u
    distance = torch.stack([
        point_to_segment(p, a, u, length), point_to_segment(p + d, a, u, length),
        point_to_segment(a, p, move_direction, move_length), point_to_segment(b, p, move_direction, move_length),
    ]).amin(0)

    def side(q):  # which side of the move's line q is on
        return d[..., 0] * (q[..., 1] - p[..., 1]) - d[..., 1] * (q[..., 0] - p[..., 0])

    def wall_side(q):
        return u[..., 0] * (q[..., 1] - a[..., 1]) - u[..., 1] * (q[..., 0] - a[..., 0])

    crosses = (side(a) * side(b) < 0) & (wall_side(p) * wall_side(p + d) < 0)
    return distance.masked_fill(crosses, 0.0)


class CarefulPhysics:
    """Every agent takes its whole move or none of it; see the module docstring."""

    def __init__(self, margin: float = MARGIN):
        self.margin = float(margin)
        self.walls = WallCache()
        self._padded = weakref.WeakKeyDictionary()

    def _walls_of_each_env(self, scenery):
        """``(E, W)`` indices into the wall table of each env's walls, -1 past its last; built once per table."""
        table = self.walls(scenery)
        found = self._padded.get(table)
        if found is None:
            slot = torch.arange(table.max_walls, device=scenery.device)
            first = table.geometry_starts[table.env_geometry]
            last = table.geometry_starts[table.env_geometry + 1]
            index = first[:, None] + slot
            found = index.masked_fill(index >= last[:, None], -1)
            self._padded[table] = found
        return table, found

    def step(self, scenery, agents, dt):
        table, index = self._walls_of_each_env(scenery)
        move = agents.velocity * dt  # (E, A, 2)
        walls = table.walls[index.clamp(min=0)]  # (E, W, 4)
        lengths = table.lengths[index.clamp(min=0)]
        p, d = agents.positions[:, :, None, :], move[:, :, None, :]
        distance = segment_distance(p, d, walls[:, None, :, :2], walls[:, None, :, 2:], lengths[:, None, :])
        distance = distance.masked_fill(index[:, None, :] < 0, float("inf"))  # (E, A, W)
        clear = distance.amin(-1) > scenery.agent_radius + self.margin
        # agents: nobody may end nearer another than two radii, wherever the other ends up (it may stay put)
        ends = agents.positions + move
        others = torch.eye(ends.shape[1], device=ends.device) * 1e9
        apart = torch.minimum(torch.cdist(ends, ends), torch.cdist(ends, agents.positions)) + others
        clear = clear & (apart.amin(-1) > 2 * scenery.agent_radius + self.margin)
        agents.positions.add_(move * clear[..., None])
        turned = agents.angles + agents.angvelocity * dt
        agents.angles.copy_(torch.remainder(turned + 180.0, 360.0) - 180.0)
        agents.velocity.mul_(clear[..., None])
        still = (move == 0).all(-1)
        return (clear | still).float()  # the fraction of the intended move achieved


@hookimpl
def megastep_backends():
    return [BackendInfo("physics", "careful:torch", implementation="torch",
                        description="agents take their whole move or stay put")]


@hookimpl
def megastep_physics(name, options):
    if name not in ("careful", "careful:torch"):
        return None
    return CarefulPhysics(**{k: v for k, v in options.items() if k != "device"})
