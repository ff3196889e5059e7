"""Independent checks of a physics step, in float64 with numpy: crossings and penetrations.

Written apart from the physics code, so that a shared mistake cannot hide.
"""
from __future__ import annotations

import numpy as np
import torch

from megastep_core import Scenery


def static_walls(scenery: Scenery) -> list[np.ndarray]:
    """Each env's static walls, ``(W_e, 2, 2)`` float64 metres."""
    return [scenery.lines[e][scenery.n_body_lines :].cpu().double().numpy() for e in range(scenery.n_envs)]


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def crossings(walls: list[np.ndarray], before: torch.Tensor, after: torch.Tensor) -> int:
    """How many agents' centres moved across a wall: their segment ``before -> after`` meets a wall's."""
    before, after = before.cpu().double().numpy(), after.cpu().double().numpy()
    count = 0
    for e, w in enumerate(walls):
        p, r = before[e][:, None], (after[e] - before[e])[:, None]  # (A, 1, 2)
        q, s = w[None, :, 0], (w[:, 1] - w[:, 0])[None]  # (1, W, 2)
        denominator = _cross(r, s)
        safe = np.where(denominator == 0, 1.0, denominator)
        t = _cross(q - p, s) / safe
        u = _cross(q - p, r) / safe
        meets = (denominator != 0) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
        count += int(meets.any(1).sum())
    return count


def wall_distances(walls: list[np.ndarray], positions: torch.Tensor) -> np.ndarray:
    """``(E, A)`` metres from each agent's centre to its env's nearest wall."""
    positions = positions.cpu().double().numpy()
    out = np.empty(positions.shape[:2])
    for e, w in enumerate(walls):
        a, d = w[None, :, 0], (w[:, 1] - w[:, 0])[None]
        p = positions[e][:, None]
        along = np.clip(((p - a) * d).sum(-1) / (d * d).sum(-1), 0, 1)
        out[e] = np.linalg.norm(p - (a + along[..., None] * d), axis=-1).min(1)
    return out


def penetrations(walls: list[np.ndarray], positions: torch.Tensor, radius: float) -> int:
    """How many agents end closer than ``radius`` to a wall."""
    return int((wall_distances(walls, positions) < radius).sum())


def agent_gaps(positions: torch.Tensor) -> np.ndarray:
    """``(E, A, A)`` metres between agents' centres, inf on the diagonal."""
    p = positions.cpu().double().numpy()
    gaps = np.linalg.norm(p[:, :, None] - p[:, None, :], axis=-1)
    gaps[:, np.arange(p.shape[1]), np.arange(p.shape[1])] = np.inf
    return gaps


def overlaps(positions: torch.Tensor, radius: float) -> int:
    """How many pairs of agents end closer than ``2 * radius``, centre to centre."""
    return int((agent_gaps(positions) < 2 * radius).sum() // 2)
