"""The torch renderer's shortcuts (culling, chunking, per-layout baking) change nothing: it
agrees exactly with brute force over every (ray, line) and (texel, light, wall)."""
from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from render_scenes import bench_homes, box, scene

from megastep_core import Camera
from megastep_core.testing import devices
from megastep_render import chunks, lighting, raycast
from megastep_render.lighting import cross
from megastep_render.renderer import TorchRenderer

CAMERAS = [Camera(pixels=48, fov=70), Camera(pixels=48, fov=130, offset=150)]


def brute_force_cast(scenery, agents, cameras):
    """Every ray against every line of its env, with the same float32 operations as :func:`raycast.cast`."""
    view = raycast.views(agents, cameras)
    indices, distances = [], []
    m = scenery.body_lines
    for v in range(len(view.env)):
        env, agent = int(view.env[v]), int(view.agent[v])
        lines = scenery.lines[env]
        ax, ay = lines[:, 0, 0] - view.origins[v, 0], lines[:, 0, 1] - view.origins[v, 1]
        ex, ey = lines[:, 1, 0] - lines[:, 0, 0], lines[:, 1, 1] - lines[:, 0, 1]
        dx, dy = view.directions[v, :, 0:1], view.directions[v, :, 1:2]
        denom = cross(dx, dy, ex, ey)
        t = cross(ax, ay, ex, ey) / denom
        s = cross(ax, ay, dx, dy) / denom
        own = torch.zeros(len(lines), dtype=torch.bool, device=lines.device)
        own[agent * m : (agent + 1) * m] = True
        t = t.masked_fill((s < 0) | (s > 1) | (t <= scenery.agent_radius) | own, torch.inf)
        best = t.min(1, keepdim=True).values
        line = torch.arange(len(lines), device=lines.device).expand_as(t)
        index = torch.where(t == best, line, len(lines)).min(1).values
        missed = best[:, 0] == torch.inf
        indices.append(index.masked_fill(missed, -1))
        distances.append(best[:, 0])
    return torch.cat(indices), torch.cat(distances)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("n_agents", [1, 3])
def test_culled_cast_is_exactly_brute_force_in_homes(device, n_agents):
    scenery, agents = scene(bench_homes(5), n_agents=n_agents, device=device, seed=n_agents)
    _, indices, distances = raycast.cast(scenery, agents, CAMERAS)
    expected_indices, expected_distances = brute_force_cast(scenery, agents, CAMERAS)
    assert (expected_indices >= 0).float().mean() > 0.9  # the homes are closed: nearly every ray hits
    assert torch.equal(indices, expected_indices)
    assert torch.equal(distances, expected_distances)


@pytest.mark.parametrize("budget", [1, 97, 5000])
def test_chunking_changes_nothing(budget):
    scenery, agents = scene(bench_homes(3), n_agents=2, seed=5)
    reference = TorchRenderer().render(scenery, agents, CAMERAS)
    chunked = TorchRenderer(budget=budget).render(scenery, agents, CAMERAS)
    for field in ("indices", "locations", "dots", "distances", "screen"):
        assert torch.equal(getattr(chunked, field), getattr(reference, field)), field


def test_memory_stays_bounded(monkeypatch):
    """No intermediate holds more (ray, line) pairs than the budget, whatever the number of envs."""
    largest = []
    original = torch.repeat_interleave

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        largest.append(out.shape[0])
        return out

    monkeypatch.setattr(torch, "repeat_interleave", recording)
    homes = bench_homes(4) * 16
    scenery, agents = scene(homes, n_agents=1, seed=2)
    budget = 4096
    TorchRenderer(budget=budget).render(scenery, agents, [Camera(pixels=256, fov=130)])
    every_pair = len(homes) * 256 * int(scenery.lines.widths.min())
    assert max(largest) <= budget < every_pair // 100


@pytest.mark.parametrize("device", devices())
def test_baking_per_layout_is_exactly_brute_force(device):
    homes = bench_homes(2)
    scenery, _ = scene([homes[0], homes[1], homes[0]], device=device)
    lighting.bake(scenery)
    generator = torch.Generator().manual_seed(0)
    for env in range(scenery.n_envs):
        first = int(scenery.lines.starts[env])
        walls = torch.arange(first + scenery.n_body_lines, first + int(scenery.lines.widths[env]), device=device)
        ends = scenery.lines.vals[walls]
        counts = scenery.textures.widths[walls]
        points = lighting.texel_points(ends[:, 0], ends[:, 1] - ends[:, 0], counts, scenery.texel_size)
        owner, _ = chunks.expand(counts)
        texel_first = int(scenery.textures.starts[walls[0]])
        baked = scenery.baked.vals[texel_first : texel_first + len(points)]
        # brute force over every wall is slow: check a sample of texels
        sample = torch.randperm(len(points), generator=generator)[:600].to(device)
        expected = lighting.light_points(scenery, points[sample], torch.full_like(sample, env), walls[owner[sample]])
        if device == "cpu":
            assert torch.equal(baked[sample], expected)
        else:  # CUDA's index_add_ adds the lights up in any order
            assert torch.allclose(baked[sample], expected, rtol=1e-6, atol=1e-7)
        assert (baked < 1).any() and (baked == lighting.AMBIENT).any()  # both shadows and light
        body = scenery.baked.vals[int(scenery.textures.starts[first]) : texel_first]
        assert torch.equal(body, torch.full_like(body, lighting.AMBIENT))
    # envs of one layout share their light
    for line in (9, 50, 100):
        assert torch.equal(
            scenery.baked[int(scenery.lines.starts[0]) + line], scenery.baked[int(scenery.lines.starts[2]) + line]
        )


def test_body_light_is_the_light_at_the_centre():
    scenery, agents = scene([box(lights=[(1.0, 1.5, 0.3), (3.0, 1.0, 2.0)])], n_agents=2,
                            positions=[[[1.0, 1.0], [2.5, 2.0]]], angles=[[30.0, 100.0]])
    centres = lighting.body_centres(scenery, torch.tensor([0, 0]), torch.tensor([0, 1]))
    assert torch.allclose(centres, agents.positions[0], atol=1e-6)
    light = lighting.light_bodies(scenery, torch.tensor([0, 0]), torch.tensor([0, 1]))
    expected = [
        min(lighting.AMBIENT + sum(2 * k / max(((c - torch.tensor([x, y])) ** 2).sum().item(), 1) for x, y, k in
                                   [(1.0, 1.5, 0.3), (3.0, 1.0, 2.0)]), 1.0)
        for c in agents.positions[0]
    ]
    assert light.tolist() == pytest.approx(expected, abs=1e-6)


coordinate = st.floats(-3, 3, allow_nan=False, width=32)
point = st.tuples(coordinate, coordinate)


@settings(max_examples=300, deadline=None)
@given(point, point, point, point, point, st.floats(0, 1), st.floats(0, 1))
def test_triangle_culling_never_drops_a_segment_that_meets_the_triangle(p, q, a, b, c, along, inside):
    """A point of the segment inside the triangle means they meet."""
    to = lambda xy: torch.tensor([xy], dtype=torch.float32)  # noqa: E731
    # a point on the segment, and a point of the triangle; move the segment so they coincide
    on_segment = to(p) + along * (to(q) - to(p))
    in_triangle = to(a) + inside * (to(b) - to(a))
    in_triangle = in_triangle + 0.5 * (to(c) - in_triangle)
    shift = in_triangle - on_segment
    meets = lighting.segment_meets_triangle(to(p) + shift, to(q) + shift, to(a), to(b), to(c), 1e-4)
    assert meets.item()


@settings(max_examples=300, deadline=None)
@given(point, point, point, point)
@example((0.0, 0.0), (0.3441174328327179, 2.5), (0.0, -6.103515625e-05), (0.3441174328327179, 2.5))  # meet at an end
def test_full_occluders_do_cross(u1, u2, p, q):
    to = lambda xy: torch.tensor([xy], dtype=torch.float64)  # noqa: E731
    if lighting.crosses_inside(to(u1).float(), to(u2).float(), to(p).float(), to(q).float(), 1e-3).item():
        # then the segments really cross, and in float64 the crossing lies inside both
        r, s, w = to(u2) - to(u1), to(q) - to(p), to(p) - to(u1)
        denom = r[0, 0] * s[0, 1] - r[0, 1] * s[0, 0]
        alpha = (w[0, 0] * s[0, 1] - w[0, 1] * s[0, 0]) / denom
        beta = (w[0, 0] * r[0, 1] - w[0, 1] * r[0, 0]) / denom
        assert 0 < alpha < 1 and 0 < beta < 1


def test_spans_cover_everything_within_budget():
    costs = torch.tensor([3, 0, 5, 2, 9, 1, 1, 4])
    pieces = list(chunks.spans(costs, 6))
    assert [p[:2] for p in pieces] == [(0, 2), (2, 3), (3, 4), (4, 5), (5, 8)]
    assert [p[2] for p in pieces] == [3, 5, 2, 9, 6]
    with pytest.raises(ValueError, match="budget"):
        list(chunks.spans(costs, 0))
