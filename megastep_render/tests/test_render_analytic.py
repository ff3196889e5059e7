"""Scenes with answers worked out by hand, for every renderer, on the CPU and on CUDA."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from render_scenes import box, room, scene

from megastep_core import Camera, make_backend
from megastep_core.testing import devices
from megastep_render.lighting import AMBIENT, GAIN

RENDERERS = ["raycast:torch", pytest.param("raycast:cuda", marks=pytest.mark.gpu)]
AHEAD = Camera(pixels=1, fov=10)  # one ray, straight along the agent's heading


def cases():
    """(renderer, device) pairs: torch on both devices, cuda on CUDA only."""
    torch_name = "raycast:torch"
    out = [pytest.param(torch_name, d) if isinstance(d, str) else pytest.param(torch_name, *d.values, marks=d.marks)
           for d in devices()]
    return out + [pytest.param("raycast:cuda", "cuda", marks=pytest.mark.gpu)]


def render(renderer, device, geometries, cameras, n_agents=1, **placement):
    scenery, agents = scene(geometries, n_agents=n_agents, device=device, **placement)
    backend = make_backend("renderer", renderer, device=torch.device(device))
    backend.bake(scenery)
    return scenery, agents, backend.render(scenery, agents, cameras)


def texel_colour(scenery, env, line, s):
    """The texture colour at location ``s`` of env-local ``line``, interpolated between texel centres."""
    global_line = int(scenery.lines.starts[env]) + line
    texels = scenery.textures[global_line].double().cpu()
    ends = scenery.lines.vals[global_line].double().cpu()
    u = s * float((ends[1] - ends[0]).norm()) / scenery.texel_size - 0.5
    k = min(max(math.floor(u), 0), len(texels) - 1)
    w = 0.0 if u < 0 or k >= len(texels) - 1 else u - k
    return texels[k] * (1 - w) + texels[min(k + 1, len(texels) - 1)] * w


def point_light(point, lights, shadowed=()):
    """Ambient plus every unshadowed light, clamped: the lighting rule, in float64."""
    total = AMBIENT
    for i, (x, y, intensity) in enumerate(lights):
        if i not in shadowed:
            total += GAIN * intensity / max((x - point[0]) ** 2 + (y - point[1]) ** 2, 1.0)
    return min(total, 1.0)


@pytest.mark.parametrize("renderer, device", cases())
def test_facing_a_wall(renderer, device):
    home = box()
    scenery, agents, out = render(renderer, device, [home], [AHEAD], positions=[[[1.0, 1.5]]], angles=[[0.0]])
    wall = scenery.n_body_lines + 1  # from (4, 0) to (4, 3)
    assert out.indices.shape == (1, 1, 1, 1) and out.screen.shape == (1, 1, 1, 1, 3)
    assert out.indices.item() == wall
    assert out.distances.item() == pytest.approx(3.0, abs=1e-5)
    assert out.locations.item() == pytest.approx(0.5, abs=1e-6)
    assert out.dots.item() == pytest.approx(0.0, abs=1e-6)
    # the hit lies halfway between texels 29 and 30, lit at 1.475 and 1.525 m along the wall
    light = np.mean([point_light((4.0, y), home.lights) for y in (1.475, 1.525)])
    expected = texel_colour(scenery, 0, wall, 0.5) * light
    assert torch.allclose(out.screen[0, 0, 0, 0].double().cpu(), expected, atol=1e-5)


@pytest.mark.parametrize("renderer, device", cases())
def test_a_nearer_wall_hides_a_farther_one(renderer, device):
    home = box(extra=[(2.5, 1.0, 2.5, 2.0)])
    scenery, agents, out = render(renderer, device, [home], [AHEAD], positions=[[[1.0, 1.25]]], angles=[[0.0]])
    assert out.indices.item() == scenery.n_body_lines + 4
    assert out.distances.item() == pytest.approx(1.5, abs=1e-5)
    assert out.locations.item() == pytest.approx(0.25, abs=1e-6)


@pytest.mark.parametrize("renderer, device", cases())
def test_another_agent_hides_the_wall_and_an_agent_never_sees_itself(renderer, device):
    home = box()
    scenery, agents, out = render(
        renderer, device, [home], [AHEAD], n_agents=2, positions=[[[1.0, 1.5], [2.5, 1.5]]], angles=[[0.0, 0.0]]
    )
    half_side = scenery.agent_radius / math.sqrt(2)
    # agent 0 sees the back face of agent 1 (its line 2, from the 135 to the 225 degree corner)
    assert out.indices[0, 0].item() == 1 * scenery.body_lines + 2
    assert out.distances[0, 0].item() == pytest.approx(1.5 - half_side, abs=1e-5)
    assert out.locations[0, 0].item() == pytest.approx(0.5, abs=1e-5)
    # bodies are lit at their centre: the light 0.5 m away lights agent 1 fully
    expected = texel_colour(scenery, 0, 1 * scenery.body_lines + 2, 0.5) * point_light((2.5, 1.5), home.lights)
    assert torch.allclose(out.screen[0, 0, 0, 0].double().cpu(), expected, atol=1e-5)
    # agent 1 looks through its own body at the wall 1.5 m ahead
    assert out.indices[0, 1].item() == scenery.n_body_lines + 1
    assert out.distances[0, 1].item() == pytest.approx(1.5, abs=1e-5)


@pytest.mark.parametrize("renderer, device", cases())
def test_a_shadowed_texel_gets_only_ambient_light(renderer, device):
    # the light at (1, 1.5) is hidden from the right-hand wall between y = 0.75 and 2.25 m by a wall at x = 2
    home = box(lights=[(1.0, 1.5, 1.0)], extra=[(2.0, 1.25, 2.0, 1.75)])
    scenery, agents, out = render(renderer, device, [home], [AHEAD], positions=[[[3.0, 1.5]]], angles=[[0.0]])
    wall = scenery.n_body_lines + 1
    assert out.indices.item() == wall
    global_line = int(scenery.lines.starts[0]) + wall
    baked = scenery.baked[global_line].cpu()
    texels = baked[29:31]  # lit at 1.475 and 1.525 m: both in the shadow
    assert torch.equal(texels, torch.full_like(texels, AMBIENT))
    # a texel near the wall's end sees the light past the short wall
    assert baked[2].item() == pytest.approx(point_light((4.0, 0.125), home.lights), abs=1e-6)
    expected = texel_colour(scenery, 0, wall, 0.5) * AMBIENT
    assert torch.allclose(out.screen[0, 0, 0, 0].double().cpu(), expected, atol=1e-6)


@pytest.mark.parametrize("renderer, device", cases())
def test_a_ray_that_hits_nothing_is_black_and_infinitely_far(renderer, device):
    open_plan = room([(0.0, 0.0, 0.0, 3.0)], [(0.0, 1.5, 1.0)])
    _, _, out = render(renderer, device, [open_plan], [AHEAD], positions=[[[1.0, 1.5]]], angles=[[0.0]])
    assert out.indices.item() == -1
    assert out.distances.item() == math.inf
    assert out.locations.item() == 0 and out.dots.item() == 0
    assert torch.equal(out.screen.cpu(), torch.zeros(1, 1, 1, 1, 3))


@pytest.mark.parametrize("renderer, device", cases())
def test_a_camera_turned_by_180_degrees_looks_backwards(renderer, device):
    behind = Camera(pixels=1, fov=10, offset=180)
    scenery, _, out = render(renderer, device, [box()], [AHEAD, behind], positions=[[[1.0, 1.2]]], angles=[[0.0]])
    assert out.indices.shape == (1, 1, 2, 1)
    assert out.indices[0, 0, 1, 0].item() == scenery.n_body_lines + 3  # from (0, 3) to (0, 0)
    assert out.distances[0, 0, 1, 0].item() == pytest.approx(1.0, abs=1e-5)
    assert out.locations[0, 0, 1, 0].item() == pytest.approx(0.6, abs=1e-5)
    assert out.dots[0, 0, 1, 0].item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("renderer, device", cases())
def test_an_agent_in_a_corner_sees_both_walls_at_their_distances(renderer, device):
    x0, y0 = 0.15, 0.12
    camera = Camera(pixels=33, fov=170)
    scenery, _, out = render(renderer, device, [box()], [camera], positions=[[[x0, y0]]], angles=[[-135.0]])
    angles = np.radians(-135.0 + camera.ray_angles().double().numpy())
    # the nearer of the wall y = 0 (line 0) and the wall x = 0 (line 3), ahead of the agent
    to_floor = np.where(np.sin(angles) < 0, y0 / -np.sin(angles), np.inf)
    to_side = np.where(np.cos(angles) < 0, x0 / -np.cos(angles), np.inf)
    distances = out.distances[0, 0, 0].double().cpu().numpy()
    indices = out.indices[0, 0, 0].cpu().numpy()
    expected = np.minimum(to_floor, to_side)
    far = expected > 3.0  # rays that run along a wall reach the far corner of the room instead
    assert np.allclose(distances[~far], expected[~far], rtol=1e-5)
    clear = np.abs(to_floor - to_side) > 1e-3
    nearest = np.where(to_floor < to_side, scenery.n_body_lines + 0, scenery.n_body_lines + 3)
    assert np.array_equal(indices[clear & ~far], nearest[clear & ~far])
    assert (distances > scenery.agent_radius).all()


@pytest.mark.parametrize("renderer, device", cases())
def test_shapes_with_many_envs_agents_and_cameras(renderer, device):
    cameras = [Camera(pixels=8, fov=90), Camera(pixels=8, fov=60, offset=90), Camera(pixels=8, fov=120, offset=-45)]
    geometries = [box(), box(width=5.0), box()]
    positions = [[[1.0, 1.0], [2.0, 2.0]], [[3.0, 1.0], [1.0, 2.0]], [[0.5, 0.5], [3.5, 2.5]]]
    _, _, out = render(renderer, device, geometries, cameras, n_agents=2, positions=positions, angles=np.zeros((3, 2)))
    assert out.indices.shape == out.distances.shape == out.locations.shape == out.dots.shape == (3, 2, 3, 8)
    assert out.screen.shape == (3, 2, 3, 8, 3)
    assert out.indices.dtype == torch.int64 and out.screen.dtype == torch.float32
    assert (out.indices >= 0).all()  # every ray in a closed room hits something
    assert ((out.screen >= 0) & (out.screen <= 1)).all()


@pytest.mark.parametrize("renderer, device", cases())
def test_walls_seen_side_on_are_dark(renderer, device):
    # looking along the bottom wall at a shallow angle: dot near 1, colour near 0
    scenery, _, out = render(renderer, device, [box()], [AHEAD], positions=[[[0.5, 0.2]]], angles=[[-5.0]])
    assert out.indices.item() == scenery.n_body_lines + 0
    dot = math.cos(math.radians(5.0))
    assert out.dots.item() == pytest.approx(dot, abs=1e-5)
    assert out.screen.max().item() <= (1 - dot * dot) + 1e-6
