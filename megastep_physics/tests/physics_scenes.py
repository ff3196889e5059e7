"""Scenes for the physics tests: hand-made rooms and the benchmark homes, built without megastep_geometry."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from megastep_core import Agents, Geometry, build_scenery

REPO = Path(__file__).resolve().parents[2]
LAYOUTS_VARIABLE = "MEGASTEP_BENCH_LAYOUTS"
RADIUS = 0.106
"""Metres, the default agent radius."""


def room(walls, name="room") -> Geometry:
    """A geometry of the given ``(W, 2, 2)`` walls, with one light and a trivial all-free mask.

    The physics reads only the walls; the mask and light just make the geometry valid.
    """
    walls = np.asarray(walls, np.float32)
    centre = walls.reshape(-1, 2).mean(0)
    return Geometry(walls, [[centre[0], centre[1], 1.0]], np.ones((1, 1), bool), 1.0, name=name)


def box_walls(width=4.0, height=3.0, x=0.0, y=0.0) -> np.ndarray:
    """``(4, 2, 2)`` the walls of a ``width`` x ``height`` metre box with its low corner at ``(x, y)``."""
    corners = np.array([[x, y], [x + width, y], [x + width, y + height], [x, y + height]], np.float32)
    return np.stack([corners, np.roll(corners, -1, 0)], 1)


def scene(positions, velocity, walls=None, angles=None, angvelocity=None, device="cpu"):
    """One env per row of ``positions`` (``(E, A, 2)``), in a 4 x 3 m box unless ``walls`` are given."""
    positions = torch.as_tensor(positions, dtype=torch.float32, device=device)
    n_envs, n_agents = positions.shape[:2]
    geometry = room(box_walls() if walls is None else walls)
    scenery = build_scenery([geometry] * n_envs, n_agents, RADIUS, device=device)
    agents = Agents.zeros(n_envs, n_agents, device)
    agents.positions.copy_(positions)
    agents.velocity.copy_(torch.as_tensor(velocity, dtype=torch.float32, device=device))
    if angles is not None:
        agents.angles.copy_(torch.as_tensor(angles, dtype=torch.float32, device=device))
    if angvelocity is not None:
        agents.angvelocity.copy_(torch.as_tensor(angvelocity, dtype=torch.float32, device=device))
    return scenery, agents


def layouts_path() -> Path | None:
    """The benchmark layouts: $MEGASTEP_BENCH_LAYOUTS, else ../shared/bench/ or .bench/ beside the repo root, else
    the repo's own copy in testdata/."""
    if os.environ.get(LAYOUTS_VARIABLE):
        return Path(os.environ[LAYOUTS_VARIABLE])
    for candidate in (REPO.parent / "shared" / "bench" / "layouts.npz", REPO / ".bench" / "layouts.npz",
                      REPO / "testdata" / "layouts.npz"):
        if candidate.exists():
            return candidate
    return None


def bench_geometries() -> list[Geometry]:
    """The 64 benchmark homes as geometries built straight from the npz; skips the test if it is missing."""
    path = layouts_path()
    if path is None or not path.exists():
        pytest.skip(
            f"benchmark layouts not found: set {LAYOUTS_VARIABLE} or put layouts.npz in "
            f"{REPO.parent / 'shared' / 'bench'} or {REPO / '.bench'}"
        )
    data = np.load(path)
    walls = np.split(data["walls"], np.cumsum(data["wall_counts"])[:-1])
    lights = np.split(data["lights"], np.cumsum(data["light_counts"])[:-1])
    return [
        Geometry(w, li, np.ones((1, 1), bool), 1.0, spawns=s, name=f"layout {i}")
        for i, (w, li, s) in enumerate(zip(walls, lights, data["spawns"]))
    ]
