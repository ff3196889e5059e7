"""Explorer: one agent per home, paid for every stretch of wall it sees for the first time.

The agent glides with momentum (:class:`~megastep_envs.movement.MomentumMovement`)
through a procedural home and sees colour, depth and its own motion (an IMU).
The ``new_texels`` reward pays each 5 cm texel of wall the first time it comes
into view, so the agent is paid for exploring: for going through doors into
rooms it has not seen. An episode terminates when the agent has found no new
wall for ``patience`` steps, and is truncated at its random lifespan.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from megastep_core import Camera, Geometry, Render

from .base import Env
from .fusion import fused
from .movement import MomentumMovement
from .observations import IMU, RGB, Depth
from .rewards import NewTexels

MAX_HOMES = 1024
"""Distinct homes built by default; larger batches repeat them in turn."""


def sample_homes(n_envs: int, split: str, seed: int) -> list[Geometry]:
    """``min(n_envs, MAX_HOMES)`` procedural homes of a split (envs beyond that repeat them)."""
    from megastep_geometry import homes

    if isinstance(n_envs, bool) or int(n_envs) != n_envs or n_envs < 1:
        raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}")
    return homes.sample(min(int(n_envs), MAX_HOMES), split=split, seed=seed)


class Explorer(Env):
    """One agent per procedural home, paid for seeing new wall.

    Observations: ``rgb`` ``(E, 1, 3, W)``, ``depth`` ``(E, 1, W)``, ``imu`` ``(E, 3)``.
    Actions ``(E,)``: :data:`~megastep_envs.movement.ACTIONS`. Reward ``(E,)``.

    :param n_envs: ``E``.
    :param geometries: layouts, repeated in turn; procedural homes by default.
    :param split: which homes (``"training"`` or ``"test"``) when ``geometries`` is None.
    :param patience: steps without new wall after which the episode terminates.
    :param pixels: rays per camera (observations have ``pixels / subsample``).
    :param fov: degrees.
    :param max_depth: metres where depth reads 0.
    :param options: anything :class:`~megastep_envs.base.Env` takes.
    """

    name = "explorer"

    def __init__(
        self,
        n_envs: int = 64,
        *,
        geometries: Sequence[Geometry] | None = None,
        split: str = "training",
        patience: int = 200,
        pixels: int = 256,
        fov: float = 130.0,
        subsample: int = 4,
        max_depth: float = 10.0,
        **options,
    ):
        if isinstance(patience, bool) or int(patience) != patience or patience < 1:
            raise ValueError(f"patience must be a positive number of steps, got {patience!r}")
        options.setdefault("reward", "new_texels")
        options.setdefault("lifespan", (768, 1280))
        if geometries is None:
            geometries = sample_homes(n_envs, split, int(options.get("seed", 0)))
        super().__init__(geometries, n_envs, cameras=[Camera(pixels, fov)], **options)
        self.patience = int(patience)
        # steps since the agent last earned anything, across episodes: the episode's own length bounds it
        self.unpaid = torch.zeros(self.n_envs, dtype=torch.int64, device=self.device)
        self.movement = MomentumMovement(self.world)
        self.observations = {
            "rgb": RGB(self.world, subsample),
            "depth": Depth(self.world, subsample, max_depth),
            "imu": IMU(self.world),
        }

    @fused
    def update(self, render: Render, reward: torch.Tensor) -> torch.Tensor:
        """Terminates the episodes of ``patience`` steps without earning anything.

        Those are counted from the later of the agent's last earnings and its episode's start. The latter
        is the episode's length, which the env restarts itself: so there is nothing to reset, and no
        ``reset_task`` kernel on a step's chain.
        """
        self.unpaid.add_(1).masked_fill_(reward[:, 0] > 0, 0)  # one agent per env: no sum to launch
        return self.stale() >= self.patience

    def stale(self, steps_counted: int = 1) -> torch.Tensor:
        """``(E,)`` int64: steps this episode since the agent last earned anything, ``steps_counted`` of them
        (the step being taken: 1 in an update, 0 after it) not yet in the episode's length."""
        return torch.minimum(self.unpaid, self.lengths + steps_counted)

    def task_state(self, e: int) -> dict[str, Any]:
        """``stale`` steps, and ``seen`` ``(N, 2)``: the centres of the wall texels seen this episode (metres)."""
        state: dict[str, Any] = {"stale": int(self.stale(0)[e])}
        if isinstance(self.reward, NewTexels) and self.reward.stamps is not None:
            state["seen"] = seen_texel_centres(self.world, self.reward, e)
        return state


def seen_texel_centres(world, reward: NewTexels, e: int) -> np.ndarray:
    """``(N, 2)`` metres: the centre of every wall texel of env ``e`` that ``reward`` has marked seen."""
    scenery = world.scenery
    first, last = int(scenery.lines.starts[e]), int(scenery.lines.ends[e])
    lines = scenery.lines.vals[first:last].cpu()
    widths = scenery.textures.widths[first:last].cpu()
    seen = reward.seen(e).cpu()
    line = torch.repeat_interleave(torch.arange(len(widths)), widths)
    local = torch.arange(len(line)) - (widths.cumsum(0) - widths)[line]
    direction = lines[:, 1] - lines[:, 0]
    length = direction.norm(dim=-1, keepdim=True)
    along = ((local + 0.5) * scenery.texel_size).clamp(max=length[line, 0])
    centres = lines[line, 0] + along[:, None] * (direction / length)[line]
    return centres[seen].numpy()
