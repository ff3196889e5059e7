"""The batched state of a World: agents, scenery, cameras and what they see.

Every tensor lives on the world's device and has the env as its first
dimension: ``E`` envs, ``A`` agents per env, ``C`` cameras per agent, ``R``
pixels (rays) per camera. Lengths are metres, angles degrees, times seconds.
"""
from __future__ import annotations

import attrs
import torch

from .ragged import Ragged


@attrs.define(eq=False)
class Agents:
    """Where every agent is and how it moves.

    :ivar positions: ``(E, A, 2)`` metres.
    :ivar angles: ``(E, A)`` degrees, counter-clockwise from +x, in [-180, 180).
    :ivar velocity: ``(E, A, 2)`` metres per second, in the world frame.
    :ivar angvelocity: ``(E, A)`` degrees per second.
    """

    positions: torch.Tensor
    angles: torch.Tensor
    velocity: torch.Tensor
    angvelocity: torch.Tensor

    @classmethod
    def zeros(cls, n_envs: int, n_agents: int, device="cpu") -> Agents:
        return cls(
            positions=torch.zeros(n_envs, n_agents, 2, device=device),
            angles=torch.zeros(n_envs, n_agents, device=device),
            velocity=torch.zeros(n_envs, n_agents, 2, device=device),
            angvelocity=torch.zeros(n_envs, n_agents, device=device),
        )

    @property
    def n_envs(self) -> int:
        return self.positions.shape[0]

    @property
    def n_agents(self) -> int:
        return self.positions.shape[1]

    def clone(self) -> Agents:
        return Agents(*(t.clone() for t in attrs.astuple(self, recurse=False)))


@attrs.define(frozen=True)
class Camera:
    """One camera on every agent.

    :ivar pixels: ``R``, the number of rays cast across the field of view.
    :ivar fov: the field of view, in degrees (0 < fov < 180).
    :ivar offset: the camera's direction relative to the agent's heading, in
        degrees; 180 looks backwards.
    """

    pixels: int = attrs.field(converter=int)
    fov: float = attrs.field(converter=float)
    offset: float = attrs.field(default=0.0, converter=float)

    @pixels.validator
    def _check_pixels(self, attribute, value):
        if value < 1:
            raise ValueError(f"Camera pixels must be at least 1, got {value}")

    @fov.validator
    def _check_fov(self, attribute, value):
        if not 0 < value < 180:
            raise ValueError(f"Camera fov must be in (0, 180) degrees, got {value}")

    def ray_angles(self, device="cpu") -> torch.Tensor:
        """``(R,)`` each ray's angle relative to the agent's heading, in degrees.

        Rays are spaced evenly in angle across the field of view, left to right
        (angles grow counter-clockwise), each at the centre of its pixel:
        pixel ``r`` looks at ``offset + fov / 2 - (r + 0.5) * fov / R``.
        """
        pixel = torch.arange(self.pixels, dtype=torch.float64)
        angles = self.offset + self.fov / 2 - (pixel + 0.5) * self.fov / self.pixels
        return angles.float().to(device)


@attrs.define(eq=False)
class Scenery:
    """Everything an env's renderer and physics need to know about its world.

    The first ``A * M`` lines of each env are the bodies of its agents (``M``
    lines per agent, agent 0's first), redrawn every step by
    :func:`megastep_core.scenery.draw_bodies`; the rest are static walls.

    :ivar lines: ragged ``(E -> L_e, 2, 2)`` metres.
    :ivar lights: ragged ``(E -> K_e, 3)``: ``(x, y)`` metres and intensity.
    :ivar textures: ragged over all lines ``(sum L_e -> T_l, 3)``: each line's
        texels, one per 5 cm (:attr:`texel_size`) from its first end point to
        its second, linear RGB in [0, 1].
    :ivar baked: ragged like ``textures``, ``(sum L_e -> T_l,)``: the static light
        falling on each texel, filled by the renderer's ``bake``.
    :ivar geometry_ids: ``(E,)`` int64: envs with equal ids were built from the
        same geometry, so their walls, lights, textures and baked light are
        equal; backends may use it to bake or index once per layout.
    :ivar n_agents: ``A``.
    :ivar body_lines: ``M``, lines per agent body.
    :ivar agent_radius: metres; agents are discs of this radius.
    :ivar texel_size: metres per texel.
    """

    lines: Ragged
    lights: Ragged
    textures: Ragged
    baked: Ragged
    geometry_ids: torch.Tensor
    n_agents: int
    body_lines: int
    agent_radius: float
    texel_size: float = 0.05

    @property
    def n_envs(self) -> int:
        return len(self.lines)

    @property
    def device(self) -> torch.device:
        return self.lines.vals.device

    @property
    def n_body_lines(self) -> int:
        """``A * M``, the lines at the start of each env that are agent bodies."""
        return self.n_agents * self.body_lines


@attrs.define(eq=False)
class Render:
    """What every camera of every agent sees: one hit per ray.

    :ivar indices: ``(E, A, C, R)`` int64: the hit line's index within its env
        (``scenery.lines[e]``), or -1 for a miss.
    :ivar locations: ``(E, A, C, R)`` float: where along the line it was hit,
        0 at its first end point and 1 at its second.
    :ivar dots: ``(E, A, C, R)`` float: the dot product of the unit ray and the
        unit line direction; +-1 means seen side-on.
    :ivar distances: ``(E, A, C, R)`` metres from the agent's centre, ``inf`` on a miss.
    :ivar screen: ``(E, A, C, R, 3)`` linear RGB in [0, 1]; black on a miss.
    """

    indices: torch.Tensor
    locations: torch.Tensor
    dots: torch.Tensor
    distances: torch.Tensor
    screen: torch.Tensor
