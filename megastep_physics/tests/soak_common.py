"""The soak: agents driven by random forward-biased momentum actions through the benchmark homes.

The real momentum movement belongs to megastep_envs; this is a small stand-in
that produces the same kind of motion: speeds of a few metres per second,
steady turning, and every so often a burst far faster than any agent walks.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from physics_checks import Checker, legs_of

from megastep_core import Agents, Geometry, build_scenery, make_backend

DT = 0.1
"""Seconds per step."""

FORWARD = torch.tensor([-1.0, 0.0, 1.0, 2.0, 3.0])
"""Forward accelerations to pick from, in units of ACCELERATION: mostly forwards."""

ACCELERATION = 4.0
"""Metres per second squared for one unit of action."""

DECAY = 0.9
"""Velocity kept from one step to the next."""


def spread_spawns(geometries: list[Geometry], n_agents: int, radius: float, rng: np.random.Generator):
    """``(E, A, 2)``: for each home, ``n_agents`` of its spawn points at least ``2 radius + 1 cm`` apart."""
    chosen = []
    for geometry in geometries:
        points = []
        for index in rng.permutation(len(geometry.spawns)):
            p = geometry.spawns[index]
            if all(np.linalg.norm(p - q) > 2 * radius + 0.01 for q in points):
                points.append(p)
            if len(points) == n_agents:
                break
        assert len(points) == n_agents, f"{geometry.name} has too few spread-out spawns"
        chosen.append(np.stack(points))
    return torch.from_numpy(np.stack(chosen)).float()


def soak_world(homes: list[Geometry], n_envs: int, n_agents: int, device, seed: int = 0):
    """A scenery of ``n_envs`` envs cycling through ``homes`` and agents at rest on spread-out spawns."""
    rng = np.random.default_rng(seed)
    geometries = [homes[i % len(homes)] for i in range(n_envs)]
    scenery = build_scenery(geometries, n_agents, device=device)
    agents = Agents.zeros(n_envs, n_agents, device)
    unique = spread_spawns(homes, n_agents, scenery.agent_radius, rng)
    agents.positions.copy_(unique[torch.arange(n_envs) % len(homes)].to(device))
    agents.angles.uniform_(-180, 180)
    return scenery, agents


def momentum_actions(agents: Agents, dt: float, generator: torch.Generator, burst_chance: float = 0.01) -> None:
    """One random forward-biased action per agent, applied to its velocities in place."""
    device = agents.positions.device
    shape = agents.angles.shape
    forward = FORWARD.to(device)[torch.randint(len(FORWARD), shape, device=device, generator=generator)]
    strafe = torch.randint(-1, 2, shape, device=device, generator=generator).float()
    turn = torch.randint(-1, 2, shape, device=device, generator=generator).float() * 180.0
    burst = torch.rand(shape, device=device, generator=generator) < burst_chance
    # now and then a burst of 20 to 200 m/s: far faster than a step's worth of any wall's thickness
    forward = torch.where(burst, forward.abs() * 50 + 50, forward)
    angle = torch.deg2rad(agents.angles)
    cos, sin = torch.cos(angle), torch.sin(angle)
    push = ACCELERATION * dt * torch.stack([forward * cos - strafe * sin, forward * sin + strafe * cos], -1)
    agents.velocity.mul_(DECAY).add_(push)
    agents.angvelocity.mul_(DECAY).add_(turn * dt * 10)
    # keep the bursts brief
    speed = torch.linalg.vector_norm(agents.velocity, dim=-1, keepdim=True)
    agents.velocity.mul_(torch.where(speed > 10, 0.5, 1.0))


def soak(homes, name, n_envs, n_agents, n_steps, device, options=None):
    """Runs the soak; returns the failures counted and the physics' share of the seconds."""
    scenery, agents = soak_world(homes, n_envs, n_agents, device)
    physics = make_backend("physics", name, device=torch.device(device), **(options or {}))
    check = Checker(scenery)
    generator = torch.Generator(device).manual_seed(0)
    failures = {"crossings": 0, "penetrations": 0, "overlaps": 0}
    physics_seconds = 0.0
    for _ in range(n_steps):
        momentum_actions(agents, DT, generator)
        before = agents.positions.clone()
        start = time.perf_counter()
        physics.step(scenery, agents, DT)
        if device != "cpu":
            torch.cuda.synchronize()
        physics_seconds += time.perf_counter() - start
        legs = legs_of(before, agents.positions, getattr(physics, "paths", None))
        failures["crossings"] += check.crossings(legs)
        failures["penetrations"] += check.penetrations(legs)
        failures["overlaps"] += check.overlaps(agents.positions)
    return failures, physics_seconds
