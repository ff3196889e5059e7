"""What agents observe, computed from one shared :class:`~megastep_core.Render` per step.

An env renders once per step and hands the same render to every observation
module, so adding depth to an RGB env costs no second render. Each module has
a ``space`` (per-agent shape, see :mod:`megastep_core.spaces`) and is called
with the render; it returns ``(E, A, ...)`` tensors.

The renderer casts ``R`` rays per camera; observations average groups of
``subsample`` neighbouring rays into one pixel (``W = R / subsample``), which
anti-aliases the thin stripes of distant walls.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from megastep_core import Render, World
from megastep_core.spaces import Box


def _pixels(world: World, subsample: int) -> int:
    """``W``, observed pixels per camera, checking that ``subsample`` divides every camera's rays."""
    if int(subsample) != subsample or subsample < 1:
        raise ValueError(f"subsample must be a positive integer, got {subsample!r}")
    rays = {camera.pixels for camera in world.cameras}
    if len(rays) != 1:
        raise ValueError(f"every camera must cast the same number of rays to be observed together, got {sorted(rays)}")
    (rays,) = rays
    if rays % subsample:
        raise ValueError(f"subsample {subsample} must divide the cameras' {rays} rays")
    return rays // int(subsample)


def downsample(values: torch.Tensor, subsample: int, dim: int) -> torch.Tensor:
    """Averages groups of ``subsample`` neighbours along ``dim``, shrinking it by that factor."""
    if subsample == 1:
        return values
    dim = dim % values.ndim
    shape = values.shape[:dim] + (values.shape[dim] // subsample, subsample) + values.shape[dim + 1 :]
    return values.reshape(shape).mean(dim + 1)


class RGB:
    """The colour each camera sees: ``(E, A, C, 3, W)`` linear RGB in [0, 1], channels before pixels.

    :param world: the world whose render is observed.
    :param subsample: rays averaged into one pixel.
    """

    def __init__(self, world: World, subsample: int = 4):
        self.subsample = int(subsample)
        self.space = Box((len(world.cameras), 3, _pixels(world, subsample)), 0.0, 1.0)

    def __call__(self, render: Render) -> torch.Tensor:
        rgb = downsample(render.screen, self.subsample, dim=-2)
        # without subsampling that is the render itself, which a step may render into again
        return (rgb.clone() if rgb is render.screen else rgb).transpose(-1, -2)


class Depth:
    """How near the hit of each pixel is: ``(E, A, C, W)``, 1 at the near plane falling linearly to 0 at ``max_depth``.

    The near plane is the agent's radius (no wall can be nearer); anything
    beyond ``max_depth``, and a miss, reads 0.

    :param world: the world whose render is observed.
    :param subsample: rays averaged into one pixel.
    :param max_depth: metres at which depth reaches 0.
    """

    def __init__(self, world: World, subsample: int = 4, max_depth: float = 10.0):
        max_depth = float(max_depth)
        if not (math.isfinite(max_depth) and max_depth > world.agent_radius):
            raise ValueError(
                f"max_depth must be finite metres beyond the agent radius {world.agent_radius}, got {max_depth}"
            )
        self.subsample = int(subsample)
        self.near = world.agent_radius
        self.max_depth = max_depth
        self.space = Box((len(world.cameras), _pixels(world, subsample)), 0.0, 1.0)

    def __call__(self, render: Render) -> torch.Tensor:
        # depth is linear in the clamped distance, so the mean is taken first, on 1/subsample the values;
        # a miss is +inf metres away, which clamps to max_depth and reads 0
        distance = downsample(render.distances.clamp(self.near, self.max_depth), self.subsample, dim=-1)
        return (self.max_depth - distance) / (self.max_depth - self.near)


def to_agent_frame(vectors: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """World-frame ``(..., 2)`` vectors to ``(forward, leftward)`` in the frame of agents facing ``angles`` degrees."""
    radians = torch.deg2rad(angles)
    cos, sin = radians.cos(), radians.sin()
    x, y = vectors.unbind(-1)
    return torch.stack([x * cos + y * sin, -x * sin + y * cos], -1)


class IMU:
    """What an inertial sensor would tell: ``(E, A, 3)`` of angular velocity (radians per second,
    counter-clockwise) and the velocity in the agent's own frame (forward, leftward; metres per second).

    Read after the physics step, so an agent that hit a wall reads the velocity the physics left it.
    """

    space = Box((3,))

    def __init__(self, world: World):
        self.world = world

    def __call__(self, render: Render | None = None) -> torch.Tensor:
        agents = self.world.agents
        local = to_agent_frame(agents.velocity, agents.angles)
        return torch.cat([torch.deg2rad(agents.angvelocity)[..., None], local], -1)


class Computed:
    """An observation an env computes itself, like PointGoal's goal vector.

    :param space: its per-agent space.
    :param compute: called with the render, returns ``(E, A, *space.shape)``.
    """

    def __init__(self, space, compute: Callable[[Render], torch.Tensor]):
        self.space = space
        self.compute = compute

    def __call__(self, render: Render) -> torch.Tensor:
        return self.compute(render)
