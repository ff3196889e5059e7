"""The benchmark configurations of the project's protocol (``DESIGN.md``), one table for every benchmark.

``megastep bench`` times the whole step in them, ``python -m megastep_physics.bench`` the physics alone and
``python -m megastep_render.bench`` the render alone; all three read this table.
"""
from __future__ import annotations

import attrs

from .state import Camera


@attrs.define(frozen=True)
class Config:
    """One benchmark configuration: ``agents`` per env, each with one camera of ``pixels`` rays over ``fov``
    degrees, timed at each number of envs in ``sizes``."""

    agents: int
    pixels: int
    fov: float
    sizes: tuple[int, ...]

    @property
    def camera(self) -> Camera:
        return Camera(pixels=self.pixels, fov=self.fov)


CONFIGS = {
    "explorer-like": Config(1, 256, 130.0, (1024, 4096, 16384, 65536)),
    "deathmatch-like": Config(4, 512, 70.0, (256, 1024, 4096, 16384)),
    "minimal-like": Config(1, 64, 130.0, (1024, 4096, 16384, 65536)),
}
"""The configurations by name, as the protocol's table lists them."""
