"""The :class:`Geometry` of one world: its walls, lights and free space.

A geometry is host-side data (numpy), built once and turned into batched
device tensors by :func:`megastep_core.scenery.build_scenery`. Builders of
geometries (procedural homes, toys, floor-plan import) live in
``megastep_geometry``; this module holds only the type and its validation, so
that a plugin can be written against ``megastep-core`` alone.
"""
from __future__ import annotations

import attrs
import numpy as np

from .errors import GeometryError


def _float32(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def _optional_float32(x):
    return None if x is None else _float32(x)


@attrs.define(eq=False)
class Geometry:
    """One world's static layout.

    :ivar walls: ``(W, 2, 2)`` float32 metres: wall ``w`` runs from
        ``walls[w, 0]`` to ``walls[w, 1]``, each an ``(x, y)`` point.
    :ivar lights: ``(K, 3)`` float32: ``(x, y)`` in metres and an intensity
        (1 lights a wall 1.4 m away fully).
    :ivar mask: ``(H, W)`` bool occupancy grid: ``True`` where a cell is free
        space an agent may stand in. Cell ``[i, j]`` covers
        ``x in [origin[0] + j * resolution, origin[0] + (j + 1) * resolution)`` and
        ``y in [origin[1] + i * resolution, origin[1] + (i + 1) * resolution)``.
    :ivar resolution: the side of one mask cell, in metres.
    :ivar origin: ``(2,)`` metres, the corner of mask cell ``[0, 0]``.
    :ivar spawns: optional ``(S, 2)`` float32 metres, points known to be safe to
        spawn an agent at; spawner plugins use them when present.
    :ivar name: what error messages and plots call this geometry.
    """

    walls: np.ndarray = attrs.field(converter=_float32)
    lights: np.ndarray = attrs.field(converter=_float32)
    mask: np.ndarray = attrs.field(converter=lambda m: np.ascontiguousarray(np.asarray(m, dtype=bool)))
    resolution: float = attrs.field(converter=float)
    origin: np.ndarray = attrs.field(factory=lambda: np.zeros(2, np.float32), converter=_float32)
    spawns: np.ndarray | None = attrs.field(default=None, converter=_optional_float32)
    name: str = ""

    def validate(self) -> Geometry:
        """Checks that this geometry can be simulated and returns it.

        :raises GeometryError: naming the geometry and what is wrong with it.
        """
        name = repr(self.name) if self.name else "(unnamed)"

        def fail(problem: str):
            raise GeometryError(f"geometry {name}: {problem}")

        if self.walls.ndim != 3 or self.walls.shape[1:] != (2, 2):
            fail(f"walls must have shape (W, 2, 2), got {self.walls.shape}")
        if len(self.walls) == 0:
            fail("has no walls; a world needs at least one wall")
        if not np.isfinite(self.walls).all():
            bad = np.flatnonzero(~np.isfinite(self.walls).all(axis=(1, 2)))
            fail(f"walls {bad[:5].tolist()} have NaN or infinite coordinates")
        lengths = np.linalg.norm(self.walls[:, 1] - self.walls[:, 0], axis=-1)
        if (lengths < 1e-6).any():
            bad = np.flatnonzero(lengths < 1e-6)
            fail(f"walls {bad[:5].tolist()} have zero length; remove them")
        if self.lights.ndim != 2 or self.lights.shape[1] != 3:
            fail(f"lights must have shape (K, 3) as (x, y, intensity), got {self.lights.shape}")
        if not np.isfinite(self.lights).all():
            fail("lights have NaN or infinite values")
        lo, hi = self.walls.reshape(-1, 2).min(0), self.walls.reshape(-1, 2).max(0)
        outside = ((self.lights[:, :2] < lo - 1e-3) | (self.lights[:, :2] > hi + 1e-3)).any(1)
        if outside.any():
            fail(
                f"lights {np.flatnonzero(outside)[:5].tolist()} lie outside the walls' extent "
                f"x in [{lo[0]:.2f}, {hi[0]:.2f}], y in [{lo[1]:.2f}, {hi[1]:.2f}] m"
            )
        if self.mask.ndim != 2:
            fail(f"mask must be 2D (H, W), got shape {self.mask.shape}")
        if not self.mask.any():
            fail("has no free space: its mask is False everywhere")
        if not (np.isfinite(self.resolution) and self.resolution > 0):
            fail(f"resolution must be a positive number of metres, got {self.resolution}")
        if self.spawns is not None and (self.spawns.ndim != 2 or self.spawns.shape[1] != 2):
            fail(f"spawns must have shape (S, 2), got {self.spawns.shape}")
        return self

    def cell_centres(self, cells: np.ndarray) -> np.ndarray:
        """``(N, 2)`` integer ``(i, j)`` mask cells to ``(N, 2)`` ``(x, y)`` metres at their centres."""
        cells = np.asarray(cells)
        return (cells[..., ::-1] + 0.5) * self.resolution + self.origin

    def cells_of(self, points: np.ndarray) -> np.ndarray:
        """``(N, 2)`` ``(x, y)`` metres to the ``(N, 2)`` integer ``(i, j)`` mask cells holding them."""
        points = np.asarray(points, dtype=np.float64)
        return np.floor((points - self.origin) / self.resolution).astype(np.int64)[..., ::-1]

    @property
    def extent(self) -> tuple[np.ndarray, np.ndarray]:
        """The lowest and highest ``(x, y)`` corner of the walls, in metres."""
        points = self.walls.reshape(-1, 2)
        return points.min(0), points.max(0)
