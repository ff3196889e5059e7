import math

import numpy as np
import pytest
import torch
from conftest import box_geometry

from megastep_core import Agents, build_scenery, draw_bodies
from megastep_core.scenery import BODY_LINES, TEXEL_SIZE, body_lines, texel_counts


def test_shapes_and_counts():
    geometries = [box_geometry(4, 3), box_geometry(2, 2)]
    scenery = build_scenery(geometries, n_agents=3, agent_radius=0.1)
    assert scenery.n_envs == 2
    assert scenery.n_body_lines == 3 * BODY_LINES
    assert scenery.lines.widths.tolist() == [12 + 4, 12 + 4]
    assert scenery.lights.widths.tolist() == [1, 1]
    # texels: one per 5 cm of every line, bodies included
    body = math.ceil(0.1 * math.sqrt(2) / TEXEL_SIZE)
    walls = [80, 60, 80, 60, 40, 40, 40, 40]
    expected = [body] * 12 + walls[:4] + [body] * 12 + walls[4:]
    assert scenery.textures.widths.tolist() == expected
    assert scenery.textures.vals.shape == (sum(expected), 3)
    assert scenery.baked.vals.shape == (sum(expected),)
    assert ((scenery.textures.vals >= 0) & (scenery.textures.vals <= 1)).all()
    assert (scenery.lines.local >= scenery.n_body_lines).tolist() == ([False] * 12 + [True] * 4) * 2
    assert scenery.geometry_ids.tolist() == [0, 1]


def test_shared_geometries_share_ids_and_textures():
    box = box_geometry()
    scenery = build_scenery([box, box_geometry(), box], n_agents=1)
    assert scenery.geometry_ids.tolist() == [0, 1, 0]
    first, third = scenery.textures[BODY_LINES], scenery.textures[2 * (BODY_LINES + 4) + BODY_LINES]
    assert torch.equal(first, third)


def test_deterministic_for_a_seed_and_varies_across_seeds():
    geometries = [box_geometry(), box_geometry(5, 5)]
    a = build_scenery(geometries, 2, seed=3)
    b = build_scenery(geometries, 2, seed=3)
    c = build_scenery(geometries, 2, seed=4)
    assert torch.equal(a.textures.vals, b.textures.vals)
    assert torch.equal(a.lines.vals, b.lines.vals)
    assert not torch.equal(a.textures.vals, c.textures.vals)


def test_wall_pattern_has_stripes():
    scenery = build_scenery([box_geometry(4, 3)], 1)
    wall = scenery.textures[BODY_LINES]  # the first wall, 4 m long: 80 texels
    brightness = wall.mean(-1)
    per_stripe = int(0.25 / TEXEL_SIZE)
    light, dark = brightness[:per_stripe].mean(), brightness[per_stripe : 2 * per_stripe].mean()
    assert light > 1.3 * dark


def test_texel_counts():
    assert texel_counts(np.array([0.05, 0.051, 0.001, 1.0])).tolist() == [1, 2, 1, 20]


def test_bodies_follow_agents():
    scenery = build_scenery([box_geometry(), box_geometry()], n_agents=2, agent_radius=0.2)
    agents = Agents.zeros(2, 2)
    agents.positions[1, 1] = torch.tensor([1.0, 2.0])
    agents.angles[1, 1] = 90.0
    draw_bodies(scenery, agents)
    lines = scenery.lines[1][BODY_LINES : 2 * BODY_LINES]
    # every corner lies on the disc's edge, and the front face is ahead of the agent
    corners = lines[:, 0]
    assert torch.allclose((corners - torch.tensor([1.0, 2.0])).norm(dim=-1), torch.full((4,), 0.2), atol=1e-6)
    front_middle = lines[0].mean(0)
    assert torch.allclose(front_middle, torch.tensor([1.0, 2.0 + 0.2 / math.sqrt(2)]), atol=1e-6)
    # the walls were not touched
    assert torch.equal(scenery.lines[1][2 * BODY_LINES :], torch.from_numpy(box_geometry().walls))
    assert body_lines(agents, 0.2).shape == (2, 2 * BODY_LINES, 2, 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one geometry"):
        build_scenery([], 1)
    with pytest.raises(ValueError, match="n_agents"):
        build_scenery([box_geometry()], 0)
    with pytest.raises(ValueError, match="agent_radius"):
        build_scenery([box_geometry()], 1, agent_radius=-1)
