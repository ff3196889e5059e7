"""The ``torch`` renderer: the reference every faster renderer is tested against."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from megastep_core import Agents, Camera, Render, Scenery

from . import lighting
from .raycast import CAST_BUDGET, cast
from .shading import shade
from .validation import check_render_arguments


class TorchRenderer:
    """Light baking, ray casting and shading in plain PyTorch, on any device.

    :param device: where it runs (taken from the scenery; kept for the hook's options).
    :param budget: the most (ray, line) pairs tested at once; bounds memory.
    """

    def __init__(self, device=None, budget: int = CAST_BUDGET):
        if int(budget) < 1:
            raise ValueError(f"budget must be a positive number of (ray, line) pairs, got {budget}")
        self.device = torch.device(device) if device is not None else None
        self.budget = int(budget)

    @torch.no_grad()
    def bake(self, scenery: Scenery) -> None:
        """Fills ``scenery.baked`` with the static light on every wall texel, once per layout."""
        lighting.bake(scenery)

    @torch.no_grad()
    def render(self, scenery: Scenery, agents: Agents, cameras: Sequence[Camera]) -> Render:
        """What every camera sees, as a :class:`Render` of ``(E, A, C, R)``."""
        cameras = check_render_arguments(scenery, agents, cameras)
        view, indices, distances = cast(scenery, agents, cameras, self.budget)
        return shade(scenery, view, indices, distances)

    def __repr__(self) -> str:
        return f"TorchRenderer(budget={self.budget})"
