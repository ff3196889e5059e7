"""Minimal: one agent in an empty room, paid for moving forward. The tutorial env.

The agent sees a strip of colour (:class:`~megastep_envs.observations.RGB`)
and moves without momentum (:class:`~megastep_envs.movement.SimpleMovement`):
each step it goes forward, back, sideways, turns, or stands still. The
``forward_progress`` reward pays the speed it achieved in the direction it
faces, so a good policy runs along the room and turns before each wall, which
it can judge from how wide the wall's stripes look.

Everything else (batching, spawns, lifespans, resets, statistics) comes from
:class:`~megastep_envs.base.Env`; this file holds only what makes the task.
"""
from __future__ import annotations

from collections.abc import Sequence

from megastep_core import Camera, Geometry

from .base import Env
from .movement import SimpleMovement
from .observations import RGB


def default_room() -> Geometry:
    """A 3 x 3 m empty room, lit by one light."""
    from megastep_geometry import toys

    return toys.box(3.0, 3.0)


class Minimal(Env):
    """One agent per env in a room, seeing RGB, moving without momentum.

    Observations: ``rgb`` ``(E, 1, 3, W)``. Actions: ``(E,)`` integers, one of
    :data:`~megastep_envs.movement.ACTIONS`. Reward ``(E,)``: metres per second
    moved forward. Episodes last ``lifespan`` steps and never terminate early.

    :param n_envs: ``E``.
    :param geometries: rooms, repeated in turn over the envs; a 3 x 3 m box by default.
    :param pixels: rays per camera; the observation has ``pixels / subsample``.
    :param fov: degrees.
    :param speed: metres per second.
    :param turn_speed: degrees per second.
    :param options: anything :class:`~megastep_envs.base.Env` takes (``device``,
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
