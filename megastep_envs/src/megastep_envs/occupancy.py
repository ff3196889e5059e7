"""Looking up, on the device, whether points lie in the free space of their env's geometry.

Every distinct geometry's occupancy mask is padded to the largest and stacked
once into a ``(G, H, W)`` tensor, so that a lookup for every agent of every env
is one gather, with no host sync.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from megastep_core import Geometry


class OccupancyGrid:
    """The free-space masks of a batch of geometries.

    :param geometries: one per env (repeats share one stored mask).
    :param device: where the tables live.
    :ivar masks: ``(G, H + 2, W + 2)`` bool, True where a cell is free: each mask with a border of
        occupied cells around it, padded with occupied cells to the largest.
    :ivar env_geometry: ``(E,)`` int64, which mask each env uses.
    :ivar env_origins: ``(E, 2)`` metres, the corner of each env's mask cell ``[0, 0]``.
    :ivar env_resolutions: ``(E,)`` metres per cell of each env's mask.
    """

    def __init__(self, geometries: Sequence[Geometry], device="cpu"):
        index: dict[int, int] = {}
        unique: list[Geometry] = []
        for geometry in geometries:
            if id(geometry) not in index:
                index[id(geometry)] = len(unique)
                unique.append(geometry)
        height = max(g.mask.shape[0] for g in unique)
        width = max(g.mask.shape[1] for g in unique)
        # a point off a mask clamps onto the border, which is occupied: no bounds to check per lookup
        masks = np.zeros((len(unique), height + 2, width + 2), dtype=bool)
        for g, geometry in enumerate(unique):
            masks[g, 1 : geometry.mask.shape[0] + 1, 1 : geometry.mask.shape[1] + 1] = geometry.mask
        self.masks = torch.as_tensor(masks, device=device)
        self.env_geometry = torch.as_tensor([index[id(g)] for g in geometries], dtype=torch.int64, device=device)
        self.env_origins = torch.as_tensor(np.stack([g.origin for g in geometries]), dtype=torch.float32,
                                           device=device)
        self.env_resolutions = torch.as_tensor([g.resolution for g in geometries], dtype=torch.float32,
                                               device=device)
        # the corner of each env's border cell [0, 0] of ``masks``, one cell before its mask's own
        self._env_corners = self.env_origins - self.env_resolutions[:, None]
        # (column, row) of the first and the far border cells: a point off its mask clamps onto the border
        self._cell_bounds = torch.tensor([[0.0, 0.0], [width + 1, height + 1]], device=device)

    def free(self, points: torch.Tensor) -> torch.Tensor:
        """``(E, ..., 2)`` metres to ``(E, ...)`` bool: True where a point lies in a free cell of its env's mask."""
        envs = (-1, *[1] * (points.dim() - 2))
        cells = ((points - self._env_corners.view(*envs, 2)) / self.env_resolutions.view(*envs, 1)).floor_()
        column, row = cells.clamp_(*self._cell_bounds).long().unbind(-1)  # clamped as floats: no overflow
        return self.masks[self.env_geometry.view(envs).expand(row.shape), row, column]
