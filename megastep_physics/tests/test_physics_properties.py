"""No tunnelling, ever: hypothesis drives random agents through random walls at any speed.

After every step: no centre crossed a wall, no agent is closer than its radius
to a wall, no two agents overlap, and progress lies in [0, 1].
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from physics_checks import Checker, agent_gaps, legs_of
from physics_scenes import box_walls, room

from megastep_core import Agents, build_scenery, make_backend

RADIUS = 0.106
MARGIN = 1e-3

OPTIONS = {"stop:torch": {}, "slide:torch": {"record_paths": True}}

coordinate = st.floats(0.05, 3.95, allow_nan=False)
point = st.tuples(coordinate, st.floats(0.05, 2.95, allow_nan=False))


@st.composite
def walls(draw):
    """The 4 x 3 m box, a few loose walls and a zig-zag with sharp corners."""
    loose = draw(st.lists(st.tuples(point, point), max_size=4))
    zigzag = draw(st.lists(point, max_size=6))
    segments = [*box_walls().tolist(), *[list(s) for s in loose], *[[a, b] for a, b in zip(zigzag, zigzag[1:])]]
    return np.array([s for s in segments if math.dist(*s) > 0.02], np.float32)


@st.composite
def velocities(draw, n_agents):
    """Speeds from 1 mm/s to 1 km/s, in any direction."""
    out = []
    for _ in range(n_agents):
        speed = 10 ** draw(st.floats(-3, 3))
        angle = draw(st.floats(-math.pi, math.pi))
        out.append([speed * math.cos(angle), speed * math.sin(angle)])
    return out


def place(scenery_walls: np.ndarray, n_agents: int, rng: np.random.Generator) -> np.ndarray | None:
    """Random agent positions clear of the walls and of each other, or None if none were found."""
    chosen = []
    for _ in range(200):
        p = rng.uniform([0.2, 0.2], [3.8, 2.8])
        a, d = scenery_walls[:, 0], scenery_walls[:, 1] - scenery_walls[:, 0]
        along = np.clip(((p - a) * d).sum(-1) / (d * d).sum(-1), 0, 1)
        if np.linalg.norm(p - (a + along[:, None] * d), axis=-1).min() < RADIUS + MARGIN:
            continue
        if all(np.linalg.norm(p - q) >= 2 * RADIUS + MARGIN for q in chosen):
            chosen.append(p)
        if len(chosen) == n_agents:
            return np.array(chosen, np.float32)
    return None


@pytest.mark.parametrize("name", ["stop:torch", "slide:torch"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), geometry_walls=walls(), n_agents=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_no_tunnelling_in_random_scenes(name, data, geometry_walls, n_agents, seed):
    start = place(geometry_walls, n_agents, np.random.default_rng(seed))
    if start is None:
        return  # the walls left no room; hypothesis moves on
    scenery = build_scenery([room(geometry_walls)], n_agents, RADIUS)
    agents = Agents.zeros(1, n_agents)
    agents.positions[0] = torch.from_numpy(start)
    physics = make_backend("physics", name, **OPTIONS[name])
    check = Checker(scenery)
    for _ in range(3):
        agents.velocity[0] = torch.tensor(data.draw(velocities(n_agents)))
        before = agents.positions.clone()
        progress = physics.step(scenery, agents, 0.1)
        legs = legs_of(before, agents.positions, getattr(physics, "paths", None))
        assert check.crossings(legs) == 0
        assert check.closest(legs).min() >= RADIUS
        assert agent_gaps(agents.positions).min() >= 2 * RADIUS
        assert ((progress >= 0) & (progress <= 1)).all()
        assert torch.isfinite(agents.positions).all()
