"""Minimal: one agent in an empty room, paid for moving forward. The tutorial env.

The agent sees a strip of colour (:class:`~megastep_envs.modules.observations.RGB`)
and moves without momentum (:class:`~megastep_envs.modules.movement.SimpleMovement`):
each step it goes forward, back, sideways, turns, or stands still. The
``forward_progress`` reward pays the speed it achieved in the direction it
faces, so a good policy runs along the room and turns before each wall, which
it can judge from how wide the wall's stripes look.

Everything else (batching, spawns, lifespans, resets, statistics) comes from
:class:`~megastep_envs.step.env.Env`; this file holds only what makes the task.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from megastep_core import Camera, Geometry, Render

from ..modules.movement import SimpleMovement
from ..modules.observations import RGB, to_agent_frame
from ..step.compiling import compilable
from ..step.env import Env
from .common import float_option


def default_room() -> Geometry:
    """A 3 x 3 m empty room, lit by one light."""
    from megastep_geometry import toys

    return toys.box(3.0, 3.0)


class Minimal(Env):
    """One agent per env in a room, seeing RGB, moving without momentum.

    Observations: ``rgb`` ``(E, 1, 3, W)``. Actions: ``(E,)`` integers, one of
    :data:`~megastep_envs.modules.movement.ACTIONS`. Reward ``(E,)``: metres per second
    moved forward. Episodes last ``lifespan`` steps and never terminate early.

    :param n_envs: ``E``.
    :param geometries: rooms, repeated in turn over the envs; a 3 x 3 m box by default.
    :param pixels: rays per camera; the observation has ``pixels / subsample``.
    :param fov: degrees.
    :param speed: metres per second.
    :param turn_speed: degrees per second.
    :param options: anything :class:`~megastep_envs.step.env.Env` takes (``device``,
        ``physics``, ``renderer``, ``seed``, ``reward``, ``spawner``, ``lifespan``, ...).
    """

    name = "minimal"

    def __init__(
        self,
        n_envs: int = 64,
        *,
        geometries: Sequence[Geometry] | None = None,
        pixels: int = 64,
        fov: float = 130.0,
        subsample: int = 4,
        speed: float = 1.0,
        turn_speed: float = 90.0,
        **options,
    ):
        options.setdefault("reward", "forward_progress")
        options.setdefault("lifespan", (128, 256))
        geometries = [default_room()] if geometries is None else geometries
        super().__init__(geometries, n_envs, cameras=[Camera(pixels, fov)], **options)
        self.movement = SimpleMovement(self.world, speed, turn_speed)
        self.observations = {"rgb": RGB(self.world, subsample)}


class ForwardProgress:
    """Pays the speed at which each agent moved in the direction it faces, in metres per second.

    Options: ``scale`` (multiplies the reward, default 1).
    """

    reads = "agents"  # not the render: an env on a GPU pays it during the render

    def __init__(self, options: Mapping[str, Any]):
        self.scale = float_option(options, "scale", 1.0)
        self.previous: torch.Tensor | None = None

    def reset(self, env, mask: torch.Tensor) -> None:
        positions = env.world.agents.positions
        if self.previous is None or self.previous.shape != positions.shape:
            self.previous = positions.clone()
        self._start_from(positions, mask)

    @compilable
    def _start_from(self, positions: torch.Tensor, mask: torch.Tensor) -> None:
        self.previous.copy_(torch.where(mask[:, None, None], positions, self.previous))

    @compilable
    def __call__(self, env, render: Render | None) -> torch.Tensor:
        agents = env.world.agents
        forward = to_agent_frame(agents.positions - self.previous, agents.angles)[..., 0]
        self.previous.copy_(agents.positions)
        return forward * (self.scale / env.world.dt)
