"""The soak: agents driven by random forward-biased momentum actions through the benchmark homes.

Every step of every agent is checked: its centre crosses no wall, comes no
closer than its radius to a wall along the way, and ends clear of the other
agents. The count of failures must be zero: at least 200,000 agent-steps on
the CPU, and 10 million on a GPU.
"""
import time

import pytest
import torch
from physics_checks import Checker, legs_of
from soak_common import momentum_actions, soak_world

from megastep_core import make_backend

DT = 0.1


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


@pytest.mark.slow
@pytest.mark.parametrize("name, options", [("torch", {}), ("slide", {"record_paths": True})])
def test_cpu_soak(homes, name, options):
    n_envs, n_agents, n_steps = 64, 4, 800  # 204,800 agent-steps
    failures, seconds = soak(homes, name, n_envs, n_agents, n_steps, "cpu", options)
    print(f"{name}: {n_envs * n_agents * n_steps} agent-steps, physics {seconds:.1f} s, {failures}")
    assert failures == {"crossings": 0, "penetrations": 0, "overlaps": 0}


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("name, options", [("torch", {}), ("slide", {"record_paths": True})])
def test_gpu_soak_torch_backends(homes, name, options):
    n_envs, n_agents, n_steps = 16384, 4, 153  # 10,027,008 agent-steps
    failures, seconds = soak(homes, name, n_envs, n_agents, n_steps, "cuda", options)
    print(f"{name} on cuda: {n_envs * n_agents * n_steps} agent-steps, physics {seconds:.1f} s, {failures}")
    assert failures == {"crossings": 0, "penetrations": 0, "overlaps": 0}
