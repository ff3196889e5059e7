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
    :ivar masks: ``(G, H, W)`` bool, True where a cell is free; padding is False.
    :ivar origins: ``(G, 2)`` metres, the corner of each mask's cell ``[0, 0]``.
    :ivar resolutions: ``(G,)`` metres per cell.
    :ivar env_geometry: ``(E,)`` int64, which mask each env uses.
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
        masks = np.zeros((len(unique), height, width), dtype=bool)
        for g, geometry in enumerate(unique):
            masks[g, : geometry.mask.shape[0], : geometry.mask.shape[1]] = geometry.mask
        self.masks = torch.as_tensor(masks, device=device)
        self.shapes = torch.as_tensor([g.mask.shape for g in unique], dtype=torch.int64, device=device)
        self.origins = torch.as_tensor(np.stack([g.origin for g in unique]), dtype=torch.float32, device=device)
        self.resolutions = torch.as_tensor([g.resolution for g in unique], dtype=torch.float32, device=device)
        self.env_geometry = torch.as_tensor([index[id(g)] for g in geometries], dtype=torch.int64, device=device)

    def free(self, points: torch.Tensor) -> torch.Tensor:
        """``(E, ..., 2)`` metres to ``(E, ...)`` bool: True where a point lies in a free cell of its env's mask."""
        extra = points.dim() - 2
        geometry = self.env_geometry.view(-1, *([1] * extra)).expand(points.shape[:-1])
        cells = torch.floor((points - self.origins[geometry]) / self.resolutions[geometry][..., None]).long()
        column, row = cells.unbind(-1)
        shape = self.shapes[geometry]
        inside = (row >= 0) & (column >= 0) & (row < shape[..., 0]) & (column < shape[..., 1])
        row = row.clamp(0, self.masks.shape[1] - 1)
        column = column.clamp(0, self.masks.shape[2] - 1)
        return inside & self.masks[geometry, row, column]
