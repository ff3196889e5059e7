"""Comparing a kernel backend with its torch reference, step by step, on the same inputs."""
from __future__ import annotations

import math

import numpy as np
import torch
from physics_scenes import room
from soak_common import momentum_actions, soak_world

from megastep_core import Agents, build_scenery

POSITION_TOLERANCE = 1e-5
"""Metres: kernel and reference positions must agree this closely."""


def random_scene(rng: np.random.Generator, n_envs: int, n_agents: int, device) -> tuple:
    """``n_envs`` rooms of random walls (distinct geometries) with agents at rest, clear of walls and each other."""
    geometries, positions = [], []
    for e in range(n_envs):
        corners = np.array([[0, 0], [4, 0], [4, 3], [0, 3]], np.float32)
        walls = [np.stack([corners, np.roll(corners, -1, 0)], 1)]
        zigzag = rng.uniform([0.1, 0.1], [3.9, 2.9], size=(rng.integers(2, 7), 2))
        walls.append(np.stack([zigzag[:-1], zigzag[1:]], 1))
        walls = np.concatenate(walls).astype(np.float32)
        walls = walls[np.linalg.norm(walls[:, 1] - walls[:, 0], axis=-1) > 0.02]
        geometries.append(room(walls, name=f"random {e}"))
        chosen = []
        while len(chosen) < n_agents:
            p = rng.uniform([0.2, 0.2], [3.8, 2.8])
            a, d = walls[:, 0], walls[:, 1] - walls[:, 0]
            along = np.clip(((p - a) * d).sum(-1) / (d * d).sum(-1), 0, 1)
            clear = np.linalg.norm(p - (a + along[:, None] * d), axis=-1).min() > 0.11
            if clear and all(np.linalg.norm(p - q) > 0.22 for q in chosen):
                chosen.append(p)
        positions.append(chosen)
    scenery = build_scenery(geometries, n_agents, device=device)
    agents = Agents.zeros(n_envs, n_agents, device)
    agents.positions.copy_(torch.tensor(np.array(positions), dtype=torch.float32))
    agents.angles.uniform_(-180, 180)
    return scenery, agents


def random_velocities(agents: Agents, generator: torch.Generator) -> None:
    """Speeds from 1 cm/s to 100 m/s in any direction; some agents at rest."""
    shape = agents.angles.shape
    device = agents.positions.device
    speed = 10 ** (torch.rand(shape, generator=generator, device=device) * 4 - 2)
    speed = torch.where(torch.rand(shape, generator=generator, device=device) < 0.1, 0.0, speed)
    heading = torch.rand(shape, generator=generator, device=device) * 2 * math.pi
    agents.velocity.copy_(torch.stack([speed * heading.cos(), speed * heading.sin()], -1))
    agents.angvelocity.copy_(torch.randn(shape, generator=generator, device=device) * 200)


def compare(reference, kernel, scenery, agents: Agents, steps: int, drive, dt: float = 0.1) -> dict:
    """Steps both backends from the same state ``steps`` times and compares every output.

    :param drive: ``drive(agents, generator)`` sets the velocities before each step.
    :returns: the largest difference seen in each output.
    """
    generator = torch.Generator(agents.positions.device).manual_seed(1)
    worst = {}
    for _ in range(steps):
        drive(agents, generator)
        mine = agents.clone()
        expected = reference.step(scenery, agents, dt)
        got = kernel.step(scenery, mine, dt)
        outputs = {
            "progress": (got, expected), "positions": (mine.positions, agents.positions),
            "velocity": (mine.velocity, agents.velocity), "angles": (mine.angles, agents.angles),
            "angvelocity": (mine.angvelocity, agents.angvelocity),
        }
        if getattr(kernel, "paths", None) is not None:
            outputs["paths"] = (kernel.paths, reference.paths)
        for name, (a, b) in outputs.items():
            assert not torch.isnan(a).any(), f"the kernel left {name} unwritten (NaN)"
            difference = (a - b).abs()
            if name == "angles":  # -180 and 180 are the same heading
                difference = torch.minimum(difference, 360 - difference)
            worst[name] = max(worst.get(name, 0.0), float(difference.max()))
    return worst


def assert_close(worst: dict) -> None:
    assert worst["positions"] <= POSITION_TOLERANCE, worst
    assert worst.get("paths", 0.0) <= POSITION_TOLERANCE, worst
    assert worst["progress"] <= 1e-4, worst
    assert worst["velocity"] <= 1e-3, worst
    assert worst["angles"] <= 1e-3 and worst["angvelocity"] <= 1e-3, worst


def home_scene(homes, n_envs: int, n_agents: int, device):
    return soak_world(homes, n_envs, n_agents, device, seed=3)


def momentum(agents: Agents, generator: torch.Generator) -> None:
    momentum_actions(agents, 0.1, generator)
